"""The README's first command, run as CI would: the whole chain against the sandbox, and its
velocity against the sandbox's known signal."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from process_helpers import ROOT, clean_env

pytestmark = pytest.mark.slow


def _tracked_changes() -> str:
    """`git status` of the tracked files ('' outside a git checkout, e.g. the platform chroots' copies)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return ""
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout


def test_demo_produces_the_project_the_map_and_the_known_velocity(tmp_path):
    out = tmp_path / "demo"
    before = _tracked_changes()
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo.sh"), "--output", str(out)],
        capture_output=True, text=True, env=clean_env(), timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for name in ("insarhub_demo.qgz", "velocity_map.png", "velocity.tif", "displacement.tif", "pairs.gpkg", "jobs.json"):
        assert (out / name).stat().st_size > 0, name
    error = float(re.search(r"median absolute error ([0-9.]+) mm/yr", done.stdout).group(1))
    assert error < 2.0
    assert "Time per step" in done.stdout and "total" in done.stdout
    assert "| **total** |" in (out / "timings.md").read_text()
    # The demo leaves the clone as it was: nothing tracked is rewritten.
    assert _tracked_changes() == before
    # The project holds the grouped layers (a .qgz is a zip with the .qgs inside).
    import zipfile

    qgs = next(n for n in zipfile.ZipFile(out / "insarhub_demo.qgz").namelist() if n.endswith(".qgs"))
    text = zipfile.ZipFile(out / "insarhub_demo.qgz").read(qgs).decode()
    assert "InSARHub search (sandbox)" in text and "InSARHub time series (sandbox)" in text
    # the displacement steps through the dates: its own bands (QGIS 3.38+) or one layer per date
    assert "Displacement by date (Temporal Controller)" in text or 'mode="3"' in text
