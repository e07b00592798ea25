#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit tests, QGIS tests (offscreen) and end-to-end tests.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO"
exec "$VENV/bin/python" -m pytest "$@"
