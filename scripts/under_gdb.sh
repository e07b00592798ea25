#!/usr/bin/env bash
# Run a command under gdb so that a crash of any thread prints native stacks (CI sets
# INSARHUB_TEST_GDB=1; scripts/test.sh then runs the suite through this). Python's faulthandler
# shows only threads that run Python: when QGIS's own threads (map renders, tasks) crash, it
# cannot say where. gdb stops at the fatal signal, prints the crashed thread's stack and every
# thread's (scripts/crash.gdb), then ends the process.
# Exit status: the command's own; 255 when it crashed (gdb's -return-child-result).
# Usage: scripts/under_gdb.sh COMMAND [ARGS...]
set -uo pipefail
exec gdb -q -batch -nx -return-child-result -x "$(dirname "${BASH_SOURCE[0]}")/crash.gdb" --args "$@"
