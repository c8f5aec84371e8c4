# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs Shipyard, runs `shipyard demo`
#   make test   installs the test tools and runs the whole suite (CI runs this)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Byte-compile at install: the environment may forbid writing .pyc files later,
# and compiling MLflow & co. on every start costs seconds.
export UV_COMPILE_BYTECODE := 1

# Debian packages the tests drive for real, each as package=what-shows-it-is-there
# (a command on PATH, or a file pattern for PostgreSQL, whose binaries are not on PATH):
# wrk puts load on the live server; Chromium (driven by Playwright) opens the live
# dashboard; the tests start a throwaway PostgreSQL as a source and a prediction log.
SYSTEM_PACKAGES := wrk=wrk chromium=chromium postgresql=/usr/lib/postgresql/*/bin/initdb \
	prometheus=promtool
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install dev system clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

install: $(BIN)/uv
	$(BIN)/uv pip install --quiet -p $(BIN)/python -e .

dev: $(BIN)/uv
	$(BIN)/uv pip install --quiet -p $(BIN)/python -e '.[dev]'

demo: install
	$(BIN)/shipyard demo

system:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
		package=$${entry%%=*}; sign=$${entry#*=}; \
		case $$sign in \
			/*) set -- $$sign; [ -e "$$1" ] ;; \
			*) command -v $$sign >/dev/null ;; \
		esac || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get install -y -q $$missing || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; }; \
	fi

test: dev system
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests
	$(BIN)/pytest

clean:
	rm -rf $(VENV) shipyard-demo .pytest_cache
