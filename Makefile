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
	$(BIN)/python -m pip install --quiet -e ".[test,data,dev,browser,ray,optuna,pandas,tensorboard]"
	touch $(STAMP)

# The main job: the demo sweep (about 2 minutes on 2 cores) -> runs/demo.sqlite + runs/demo/*.png
# and runs/demo/index.html (the report page: open it in a browser)
run: $(STAMP)
	$(BIN)/jaxnet sweep experiments/sweeps/demo.toml --store runs/demo.sqlite --report runs/demo

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
	$(BIN)/python scripts/bench

clean:
	rm -rf $(VENV) runs build *.egg-info

# The README's "Reproduced results", one script each; every script prints its wall and CPU
# time and writes runs/published/<name>.json (the XOR figure also goes to docs/figures/).
REPRODUCTIONS := tutorial xor sklearn_digits mnist1d_paper

reproduce: $(STAMP)
	@for name in $(REPRODUCTIONS); do \
		echo "== python experiments/published/$$name.py"; \
		$(BIN)/python experiments/published/$$name.py || exit 1; \
	done
