"""The sandbox also serves scene downloads: downloadscenes through qgis_process pointed at it."""

from __future__ import annotations

import sys

import pytest
from process_helpers import ROOT, clean_env, run_algorithm

sys.path.insert(0, str(ROOT))
from sandbox import Sandbox  # noqa: E402

pytestmark = pytest.mark.slow


def test_sandbox_scene_downloads(tmp_path):
    with Sandbox(workdir=tmp_path / "sandbox") as sandbox:
        env = clean_env(**sandbox.env)
        done, found = run_algorithm(
            "insarhub:searchscenes", {"EXTENT": "-148,-146,64.5,65.5 [EPSG:4326]", "OUTPUT": tmp_path / "f.gpkg"}, env=env
        )
        assert done.returncode == 0, done.stderr
        done, results = run_algorithm(
            "insarhub:downloadscenes", {"INPUT": tmp_path / "f.gpkg", "OUTPUT_FOLDER": tmp_path / "scenes"}, env=env
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert results["COUNT"] == found["COUNT"] > 0
        zips = sorted((tmp_path / "scenes").glob("P*/*.zip"))
        assert len(zips) == found["COUNT"]
