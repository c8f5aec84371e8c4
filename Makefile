# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs Shipyard, runs `shipyard demo`
#   make test   installs the test tools and runs the whole suite (CI runs this)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Byte-compile at install: the environment may forbid writing .pyc files later,
# and compiling MLflow & co. on every start costs seconds.
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test install dev clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

install: $(BIN)/uv
	$(BIN)/uv pip install --quiet -p $(BIN)/python -e .

dev: $(BIN)/uv
	$(BIN)/uv pip install --quiet -p $(BIN)/python -e '.[dev]'

demo: install
	$(BIN)/shipyard demo

test: dev
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests
	$(BIN)/pytest

clean:
	rm -rf $(VENV) shipyard-demo .pytest_cache
