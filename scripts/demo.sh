#!/usr/bin/env bash
# The offline sandbox demo (make demo): the workflow steps delivered so far, end to end through
# ./scripts/qgis_process, against a local stand-in of ASF's catalogue. Nothing leaves this machine.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO"
exec "$VENV/bin/python" scripts/demo.py "$@"
