# The two commands in the README: `make demo` and `make test`. Both work on a fresh
# machine with Python 3.11: they create .venv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_DEV  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest docs bench clean cli-docs chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# stockpyl (the replay's oracle) without its declared dependencies: see pyproject.toml.
STOCKPYL := stockpyl==1.0.2

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps '$(STOCKPYL)'
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	rm -f demo.duckdb demo.duckdb.wal
	$(BIN)/resq --db duckdb:///demo.duckdb demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP_DEV)
	$(BIN)/mypy src/resq

# The dashboard's browser test drives Debian's chromium. Installed here when missing and
# running as root (CI); otherwise that test fails and prints the command that installs it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the dashboard browser test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "warning: chromium is missing, so the dashboard browser test will fail;" \
	      "install it with: sudo apt-get update && sudo apt-get install -y chromium" >&2; \
	  fi; }

# One worker per core; each test file stays on one worker, so its module fixtures are built
# once. `make pytest WORKERS=0` runs everything in this process.
WORKERS ?= auto
pytest: $(STAMP_DEV) chromium
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile

docs: $(STAMP_DEV)
	$(BIN)/mkdocs build --strict --site-dir site

test: lint typecheck pytest docs

bench: $(STAMP_BASE)
	$(BIN)/python benchmarks/core_throughput.py

cli-docs: $(STAMP_BASE)
	$(BIN)/python scripts/gen_cli_docs.py

clean:
	rm -rf $(VENV) site build dist .pytest_cache .mypy_cache .ruff_cache demo.duckdb*
