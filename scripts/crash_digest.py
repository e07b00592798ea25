#!/usr/bin/env python3
"""Print a short digest of every crash in test logs, for the end of CI's output.

CI's output is long and only its beginning and end are read; a segfault's thread dump sits in the
middle. The digest says which test file was running; the crashed thread's native stack when the
suite ran under gdb (scripts/under_gdb.sh: "received signal SIGSEGV" and the stack after it); the
crashed thread's Python stack (faulthandler's "Current thread", or "not a Python thread" when a
thread of QGIS's own crashed, e.g. a map render thread) and the innermost frame of every other
Python thread.

Usage: crash_digest.py LOG [LOG ...]   (a line prefix such as "[trixie] " is kept as the label)
Exit status 0 always: the digest informs, the suite's own status decides.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PREFIX = re.compile(r"^(\[[a-z0-9-]+\] )?")
TEST_FILE = re.compile(r"(tests/\S+\.py)")
FRAME = re.compile(r'^\s+File "')
NOISE = ("/_pytest/", "/pluggy/", "<frozen ", "/pytest/__main__")  # the test runner's own frames
OURS = ("insarhub_qgis", "/tests/")  # the project's frames: the telling ones in a thread's stack
GDB_FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(.+?)\s*\((.*?)(?: from (\S+))?$")


def running_test(lines: list[str], i: int) -> str:
    """The test file pytest was running at line ``i``: the last progress line ("tests/... ..") up to it."""
    match = TEST_FILE.search(lines[i])
    if match:
        return match.group(1)
    for back in reversed(lines[:i]):
        if back.startswith("tests/"):
            match = TEST_FILE.match(back)
            if match:
                return match.group(1)
    return "an unknown test"


def gdb_digest(lines: list[str], label: str) -> list[str]:
    """The crashed thread's native stack from scripts/crash.gdb's output, one short line per frame."""
    out: list[str] = []
    for i, line in enumerate(lines):
        if "received signal SIG" not in line:
            continue
        out.append(f"{label}gdb: {line.strip()}  (while {running_test(lines, i)} ran)")
        start = next((j for j in range(i, min(i + 40, len(lines))) if lines[j].startswith("== gdb: the crashed thread")), None)
        if start is None:
            continue
        for text in lines[start + 1 : start + 41]:
            match = GDB_FRAME.match(text.strip())
            if not match:
                if text.startswith("== gdb:"):
                    break
                continue
            number, name, _, library = match.groups()
            where = f" ({Path(library).name})" if library else ""
            out.append(f"{label}    #{number} {name}{where}")
    return out


def digest(lines: list[str], label: str) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(lines):
        if "Fatal Python error" not in line:
            continue
        out.append(f"{label}{line.strip()}  (while {running_test(lines, i)} ran)")
        current: list[str] = []
        others: list[list[str]] = []
        block = None
        for text in lines[i + 1 : i + 400]:
            if text.startswith("Current thread"):
                block = current
                continue
            if text.startswith("Thread 0x"):
                block = "other"
                others.append([])
                continue
            if FRAME.match(text):
                if block is current:
                    if not any(n in text for n in NOISE):
                        current.append(text.strip())
                elif block == "other":
                    others[-1].append(text.strip())
            elif text.startswith("Extension modules") or (text.strip() == "" and block is current and current):
                break
        if current:
            out.append(f"{label}  crashed thread (innermost first):")
            out += [f"{label}    {frame}" for frame in current[:12]]
        else:
            out.append(f"{label}  the crashed thread runs no Python (a QGIS or Qt thread, e.g. a map render)")
        if others:
            out.append(f"{label}  other Python threads, innermost frame (and innermost of the project's):")
            for frames in others:
                ours = next((f for f in frames if any(o in f for o in OURS)), None)
                if frames:
                    out.append(f"{label}    {frames[0]}" + (f"  <- {ours}" if ours and ours != frames[0] else ""))
    return out


def main(paths: list[str]) -> int:
    for path in paths:
        try:
            raw = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
        label = ""
        lines = []
        for line in raw:
            match = PREFIX.match(line)
            label = label or (match.group(1) or "")
            lines.append(line[match.end() :])
        report = gdb_digest(lines, label) + digest(lines, label)
        if report:
            print(f"== crash digest of {path}")
            print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
