# The two commands a new user runs: `make demo` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: setup test test-fast demo package lint clean

setup:
	@./scripts/setup.sh

test: setup
	@./scripts/test.sh

# Unit tests only (no QGIS, no MintPy): seconds.
test-fast: setup
	@$(PY) -m pytest tests/unit -q -m "not slow" -p no:pytest_qgis

demo: setup
	@./scripts/demo.sh

package: setup
	@$(PY) scripts/package.py

lint: setup
	@.venv/bin/ruff check .

clean:
	rm -rf dist build .pytest_cache
