"""Run QGIS's own PyQt5 -> PyQt6 migration checker on the code the plugin ships.

QGIS 4 (and the Qt6 builds of QGIS 3.x) run plugins on PyQt6, which drops the unscoped enum
aliases (``Qt.AlignLeft``), ``exec_()`` and a few classes. QGIS 4 cannot be installed here, so
this is the check that keeps the shipped code ready for it: QGIS's migration script
(``pyqt5_to_pyqt6.py``, published on PyPI as ``qgis-pyqt5to6``) rewrites a *copy* of the
plugin's files (the same list ``scripts/package.py`` zips), and every change it wants is a
failure, printed as a diff.

The checker needs PyQt6, PyQt6-QScintilla, astpretty and tokenize-rt in a Python *without*
QGIS (a Qt5 QGIS and PyQt6 must never share a process), so it runs in a tool venv of its own,
``.venv/tools/pyqt5to6``, which ``make setup`` builds (``--ensure`` builds it here).

Usage: .venv/bin/python scripts/qt6_check.py [--ensure | --ensure-only]
(exit status 1 when changes are wanted; --ensure-only builds the tool venv and checks nothing)
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL_VENV = ROOT / ".venv" / "tools" / "pyqt5to6"
# The checker's release on PyPI says Python >= 3.12 but runs on Debian 12's 3.11 (checked: same
# result as on 3.13); the wheel is installed without that check there.
CHECKER = "qgis-pyqt5to6==0.0.0.dev0"
CHECKER_DEPS = ["PyQt6", "PyQt6-QScintilla", "astpretty", "tokenize-rt"]

sys.path.insert(0, str(ROOT / "scripts"))
from package import plugin_files  # noqa: E402


def tool_python() -> Path:
    return TOOL_VENV / "bin" / "python"


def checker_script() -> Path | None:
    found = list(TOOL_VENV.glob("lib/python3*/site-packages/pyqt5to6/pyqt5to6.py"))
    return found[0] if found else None


def ensure_tool_venv(system_python: str = "/usr/bin/python3") -> None:
    """Build the checker's own venv (no system site packages: no QGIS, no PyQt5) when missing."""
    if tool_python().exists() and checker_script() is not None:
        return
    python = system_python if os.path.exists(system_python) else sys.executable
    subprocess.run([python, "-m", "venv", "--clear", str(TOOL_VENV)], check=True)
    pip = [str(tool_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *CHECKER_DEPS], check=True)
    subprocess.run([*pip, "--no-deps", "--pre", "--ignore-requires-python", CHECKER], check=True)


def run_checker(root: Path = ROOT) -> dict[str, str]:
    """The unified diff of every shipped Python file the checker wants to change, by path."""
    script = checker_script()
    if script is None:
        raise RuntimeError(
            f"QGIS's PyQt6 migration checker is not installed in {TOOL_VENV}: run `make setup` "
            "(or `.venv/bin/python scripts/qt6_check.py --ensure`)."
        )
    files = [p for p in plugin_files(root) if p.suffix == ".py"]
    with tempfile.TemporaryDirectory(prefix="insarhub-qt6-") as tmp:
        copy = Path(tmp) / "insarhub_qgis"
        for relative in files:
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, copy / relative)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["QT_QPA_PLATFORM"] = "offscreen"
        done = subprocess.run(
            [str(tool_python()), str(script), str(copy)], capture_output=True, text=True, env=env, timeout=600
        )
        # 1 means it changed something (the diffs below say what), unless it crashed half-way.
        if done.returncode not in (0, 1) or "Traceback (most recent call last)" in done.stderr:
            raise RuntimeError(f"The PyQt6 migration checker failed to run:\n{done.stdout}\n{done.stderr}")
        diffs = {}
        for relative in files:
            before = (root / relative).read_text(encoding="utf-8").splitlines(keepends=True)
            after = (copy / relative).read_text(encoding="utf-8").splitlines(keepends=True)
            if before != after:
                diffs[relative.as_posix()] = "".join(
                    difflib.unified_diff(before, after, f"a/{relative.as_posix()}", f"b/{relative.as_posix()}")
                )
        return diffs


def main(argv: list[str]) -> int:
    if "--ensure" in argv or "--ensure-only" in argv:
        ensure_tool_venv()
    if "--ensure-only" in argv:
        return 0
    diffs = run_checker()
    for diff in diffs.values():
        sys.stdout.write(diff)
    if diffs:
        print(f"\nQGIS's PyQt6 migration checker wants changes in {len(diffs)} shipped file(s): {', '.join(diffs)}")
        return 1
    print("QGIS's PyQt6 migration checker wants no change in the shipped code.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
