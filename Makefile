# The two commands of the README: `make serve` and `make test` (both install first).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install serve test bench lock

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(VENV)/bin/switchyard serve $(ARGS)

test: install
	$(PY) -m pytest $(ARGS)

bench: install
	$(PY) -m bench.run $(ARGS)

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^switchyard' > requirements.lock
