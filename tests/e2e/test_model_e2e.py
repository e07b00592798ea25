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


TWO_STACKS = "insarhub:InSAR vertical and east from two stacks"


def test_two_stack_model_runs_from_aoi_to_vertical_and_east(tmp_path):
    """The second model: the real descending stack and the sandbox's synthetic ascending one over the
    same ground, each to its velocity, then the decomposition - checked against the sandbox's 3-D motion."""
    from sandbox.ascending import ASCENDING_STACK

    with Sandbox(workdir=tmp_path / "sandbox") as sandbox:
        burst = next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == "174_372326_IW3")
        lon, lat = burst["asf_properties"]["centerLon"], burst["asf_properties"]["centerLat"]
        aoi = tmp_path / "aoi.geojson"
        ring = [[lon - 0.05, lat - 0.03], [lon + 0.05, lat - 0.03], [lon + 0.05, lat + 0.03], [lon - 0.05, lat + 0.03], [lon - 0.05, lat - 0.03]]
        aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
        vertical, east = tmp_path / "vertical.tif", tmp_path / "east.tif"
        done, results = run_algorithm(
            TWO_STACKS,
            {
                "AOI": aoi, "START": "2021-03-01", "END": "2021-10-31", "PROCESSING_LEVEL": "BURST",
                "ASCENDING_STACK": ASCENDING_STACK, "DESCENDING_STACK": "174_372326_IW3",
                "JOB_TYPE": "INSAR_ISCE_BURST", "PROJECT_NAME": "model_test", "POLL_INTERVAL": 0.2,
                "decompose:Vertical velocity": vertical, "decompose:East velocity": east,
                "decompose:Vertical displacement": tmp_path / "vertical_displacement.tif",
                "decompose:East displacement": tmp_path / "east_displacement.tif",
                "decompose:Vertical velocity std": tmp_path / "vertical_std.tif",
                "decompose:East velocity std": tmp_path / "east_std.tif", "decompose:Mask": tmp_path / "mask.tif",
                "search:Footprints": tmp_path / "footprints.gpkg",
                "submit_asc:Jobs file (ascending)": tmp_path / "jobs_asc.json",
                "submit_desc:Jobs file (descending)": tmp_path / "jobs_desc.json",
                "timeseries_asc:LOS velocity (ascending)": tmp_path / "asc_velocity.tif",
                "timeseries_desc:LOS velocity (descending)": tmp_path / "desc_velocity.tif",
            },
            env=clean_env(**sandbox.env),
        )
        assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
        # the first input (ascending) gives the grid; the truth is the area's motion in that scene's CRS
        scene = sandbox.scenes[ASCENDING_STACK]
        up_ds, east_ds = gdal.Open(str(vertical)), gdal.Open(str(east))
        up_values, east_values = up_ds.GetRasterBand(1).ReadAsArray(), east_ds.GetRasterBand(1).ReadAsArray()
        x0, dx, _, y0, _, dy = up_ds.GetGeoTransform()
        rows, cols = np.indices(up_values.shape)
        true_east, _, true_up = scene.motion_enu(x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy)
        valid = np.isfinite(up_values)
        assert valid.mean() > 0.6
        assert np.median(np.abs(up_values[valid] - true_up[valid])) < 2.0
        assert np.median(np.abs(east_values[valid] - true_east[valid])) < 2.0
        assert gdal.Open(str(tmp_path / "vertical_displacement.tif")).RasterCount > 5
        assert (tmp_path / "asc_velocity_los_geometry.tif").is_file()
