# The two commands a new user runs: `make demo` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: setup test test-fast test-platforms demo package lint clean

setup:
	@./scripts/setup.sh

test: setup
	@./scripts/test.sh

# The same suite in Debian trixie (QGIS 3.40 LTR) and forky (QGIS 3.44) chroots (root or sudo;
# the chroots are built once per machine, outside the repository). ARGS=... limits it, e.g.
# `make test-platforms ARGS="-- tests/unit -q"`.
test-platforms:
	@./scripts/test_platforms.sh $(ARGS)

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
