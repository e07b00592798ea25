"""The shipped graphical model, end to end through ./scripts/qgis_process against the sandbox."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from osgeo import gdal
from process_helpers import ROOT, clean_env, run_algorithm

sys.path.insert(0, str(ROOT))
from sandbox import Sandbox  # noqa: E402

pytestmark = pytest.mark.slow
MODEL = "insarhub:InSAR time series from an AOI"


def test_model_runs_from_aoi_to_velocity(tmp_path):
    with Sandbox(workdir=tmp_path / "sandbox") as sandbox:
        burst = next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == "174_372326_IW3")
        lon, lat = burst["asf_properties"]["centerLon"], burst["asf_properties"]["centerLat"]
        aoi = tmp_path / "aoi.geojson"
        ring = [[lon - 0.05, lat - 0.03], [lon + 0.05, lat - 0.03], [lon + 0.05, lat + 0.03], [lon - 0.05, lat + 0.03], [lon - 0.05, lat - 0.03]]
        aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
        velocity = tmp_path / "velocity.tif"
        done, results = run_algorithm(
            MODEL,
            {
                "AOI": aoi, "START": "2021-03-01", "END": "2021-10-31", "PROCESSING_LEVEL": "BURST", "STACK": "174_372326_IW3",
                "JOB_TYPE": "INSAR_ISCE_BURST", "PROJECT_NAME": "model_test", "POLL_INTERVAL": 0.2,
                "timeseries:Velocity": velocity, "timeseries:Displacement": tmp_path / "displacement.tif",
                "submit:Jobs file": tmp_path / "jobs.json", "download:Products folder": tmp_path / "products",
                "search:Footprints": tmp_path / "footprints.gpkg", "pairs:Pairs": tmp_path / "pairs.gpkg",
            },
            env=clean_env(**sandbox.env),
        )
        assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
        scene = sandbox.scenes["174_372326_IW3"]
        dataset = gdal.Open(str(velocity))
        values = dataset.GetRasterBand(1).ReadAsArray()
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        rows, cols = np.indices(values.shape)
        valid = np.isfinite(values)
        truth = scene.velocity_mm_yr(x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy)
        assert np.median(np.abs(values[valid] - truth[valid])) < 2.0
        jobs = json.loads((tmp_path / "jobs.json").read_text())
        assert all(p["status"] == "SUCCEEDED" for p in jobs["pairs"])
