#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit tests, QGIS tests (offscreen) and end-to-end tests.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO"
if [ -n "${INSARHUB_TEST_GDB:-}" ]; then
    # CI: under gdb, so a crash in a thread of QGIS's own prints where (scripts/under_gdb.sh)
    if ! command -v gdb >/dev/null && [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdb >/dev/null 2>&1 \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdb >/dev/null 2>&1; } || true
    fi
    if command -v gdb >/dev/null; then
        exec "$REPO/scripts/under_gdb.sh" "$VENV/bin/python" -m pytest "$@"
    fi
    echo "test: INSARHUB_TEST_GDB is set but gdb is not installed; running without it" >&2
fi
exec "$VENV/bin/python" -m pytest "$@"
