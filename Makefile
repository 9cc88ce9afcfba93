# Two commands on a fresh machine: `make run` and `make test`. Both build .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-slow test-all lint format bench reproduce clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes; the install is editable, so code edits need none.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,data,dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jaxnet tutorial

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check jaxnet tests scripts experiments
	$(BIN)/ruff format --check jaxnet tests scripts experiments

format: $(STAMP)
	$(BIN)/ruff format jaxnet tests scripts experiments
	$(BIN)/ruff check --fix jaxnet tests scripts experiments

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) runs build *.egg-info
