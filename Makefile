# The two commands in the README: `make demo` and `make test`. Both work on a fresh
# machine with Python 3.11: they create .venv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_DEV  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest docs bench clean cli-docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	rm -f demo.duckdb demo.duckdb.wal
	$(BIN)/resq --db duckdb:///demo.duckdb demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP_DEV)
	$(BIN)/mypy src/resq

pytest: $(STAMP_DEV)
	$(BIN)/python -m pytest

docs: $(STAMP_DEV)
	$(BIN)/mkdocs build --strict --site-dir site

test: lint typecheck pytest docs

bench: $(STAMP_BASE)
	$(BIN)/python benchmarks/core_throughput.py

cli-docs: $(STAMP_BASE)
	$(BIN)/python scripts/gen_cli_docs.py

clean:
	rm -rf $(VENV) site build dist .pytest_cache .mypy_cache .ruff_cache demo.duckdb*
