# Two commands on a fresh machine: `make run` and `make test`. Both build .venv when missing,
# each installing only what it needs: `make run` jaxnet and its datasets (the `data` extra),
# `make test` also the test, browser, Ray, Optuna, pandas and TensorBoard extras the tests use.
# Add an extra by hand with `.venv/bin/pip install -e ".[ray]"` (or browser, dev, cuda, ...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test test-slow test-all lint format bench reproduce clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes; the install is editable, so code edits need none.
# What the main job and the reproductions need: jaxnet and its datasets.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[data]"
	touch $(RUN_STAMP)

# What the tests need: pytest, hypothesis and TensorBoard (its reader checks exports),
# scikit-learn, Selenium (the report page's browser tests), Ray (the Ray engine's tests), and
# Optuna, pandas and tensorboardX (the search, results and export extras).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,data,browser,ray,optuna,pandas,tensorboard]"
	touch $(STAMP) $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

# The main job: the demo sweep (about 2 minutes on 2 cores) -> runs/demo.sqlite + runs/demo/*.png
# and runs/demo/index.html (the report page: open it in a browser)
run: $(RUN_STAMP)
	$(BIN)/jaxnet sweep experiments/sweeps/demo.toml --store runs/demo.sqlite --report runs/demo

# One worker a core (a small net's training keeps about one core busy); each file on one worker.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: $(DEV_STAMP)
	$(BIN)/ruff check jaxnet tests scripts experiments
	$(BIN)/ruff format --check jaxnet tests scripts experiments

format: $(DEV_STAMP)
	$(BIN)/ruff format jaxnet tests scripts experiments
	$(BIN)/ruff check --fix jaxnet tests scripts experiments

bench: $(STAMP)
	$(BIN)/python scripts/bench

clean:
	rm -rf $(VENV) runs build *.egg-info

# The README's "Reproduced results", one script each; every script prints its wall and CPU
# time and writes runs/published/<name>.json (the XOR figure also goes to docs/figures/).
REPRODUCTIONS := tutorial xor sklearn_digits mnist1d_paper

reproduce: $(RUN_STAMP)
	@for name in $(REPRODUCTIONS); do \
		echo "== python experiments/published/$$name.py"; \
		$(BIN)/python experiments/published/$$name.py || exit 1; \
	done
