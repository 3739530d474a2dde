# Tripline developer entry points. `make demo` and `make test` are the two
# commands the README promises work on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
SHARED ?= ../shared

.PHONY: install install-test demo test bench clean

# A stamp per extra set, rebuilt whenever pyproject.toml changes, so a plain
# `make test` after a dependency change reinstalls instead of failing later.
$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.stamp-base
install-test: $(VENV)/.stamp-test

demo: install
	$(PY) -m tripline.demo --shared $(SHARED) --workdir demo-out

test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) bench/hash_bench.py --shared $(SHARED)
	$(PY) bench/match_recall.py --shared $(SHARED)

clean:
	rm -rf $(VENV) demo-out build dist src/*.egg-info .pytest_cache .hypothesis
