"""As a user would: an ascending and a descending stack of HyP3 products that see one known 3-D motion
(a subsidence bowl and a slope sliding east) through their own look geometry, each run through
insarhub:runtimeseries, then insarhub:decompose - all through ./scripts/qgis_process. Vertical and east
must match the truth within 2 mm/yr (median absolute error), with sensible uncertainties and mask."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from fakes.los import los_velocity_field, motion_for_box, set_product_geometry
from fakes.products import Grid, make_stack
from osgeo import gdal
from process_helpers import clean_env, run_algorithm, run_wrapper

pytestmark = pytest.mark.slow

SCENE = Grid(epsg=32606, pixel_size=80.0, origin_x=480000.0, origin_y=6330000.0, width=90, height=70)
MOTION = motion_for_box(*SCENE.bounds, sigma_m=700.0)
# where each swath lies (map x, west to east): the scene sees incidence ~36 (asc) and ~42 deg (desc)
SWATHS = {"ASCENDING": (400000.0, 650000.0), "DESCENDING": (330000.0, 580000.0)}


def _stack(folder, direction, seed, job_type, orbit):
    stack = make_stack(
        folder, n_dates=12, n_pairs=24, grid=SCENE, seed=seed, as_zip=False, job_type=job_type,
        velocity_mm_yr=los_velocity_field(MOTION, direction, SWATHS[direction]), flight_direction=direction,
        relative_orbit=orbit, start_date=dt.date(2020, 1, 3) if direction == "ASCENDING" else dt.date(2020, 1, 8),
    )
    for product in stack.products:
        set_product_geometry(product, direction, SWATHS[direction])
    return stack


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("decompose-e2e")
    velocities = {}
    for direction, seed, job_type, orbit in (("ASCENDING", 3, "INSAR_GAMMA", 64), ("DESCENDING", 4, "INSAR_ISCE_BURST", 71)):
        stack = _stack(root / direction.lower() / "products", direction, seed, job_type, orbit)
        out = root / direction.lower()
        done, results = run_algorithm(
            "insarhub:runtimeseries",
            {"PRODUCTS_FOLDER": stack.products[0].parent, "WORKDIR": out / "mintpy", "VELOCITY": out / "velocity.tif",
             "VELOCITY_STD": out / "velocity_std.tif", "DISPLACEMENT": out / "displacement.tif",
             "TEMPORAL_COHERENCE": out / "coherence.tif"},
            env=clean_env(),
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        velocities[direction] = (out / "velocity.tif", results)
    out = root / "decomposed"
    names = ("VERTICAL", "EAST", "VERTICAL_STD", "EAST_STD", "MASK", "VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT")
    paths = {name: out / f"{name.lower()}.tif" for name in names}
    args = ["--json", "run", "insarhub:decompose", "--",
            f"INPUTS={velocities['ASCENDING'][0]}", f"INPUTS={velocities['DESCENDING'][0]}", "DISPLACEMENT=true"]
    args += [f"{name}={path}" for name, path in paths.items()]
    done = run_wrapper(*args, env=clean_env())
    return velocities, done, paths


def _read(path, band=1):
    ds = gdal.Open(str(path))
    data = ds.GetRasterBand(band).ReadAsArray().astype(np.float64)
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    cols, rows = np.meshgrid(np.arange(ds.RasterXSize), np.arange(ds.RasterYSize))
    return data, x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy


def test_runtimeseries_records_the_look_geometry(runs):
    velocities, _, _ = runs
    for direction, (velocity, results) in velocities.items():
        geometry = velocity.with_name("velocity_los_geometry.tif")
        assert results["LOS_GEOMETRY"] == str(geometry)
        ds = gdal.Open(str(velocity))
        assert ds.GetMetadataItem("FLIGHT_DIRECTION") == direction
        assert ds.GetMetadataItem("LOS_GEOMETRY_FILE") == geometry.name
        assert ds.GetMetadataItem("VELOCITY_STD_FILE") == "velocity_std.tif"
        assert "lv_theta/lv_phi" in ds.GetMetadataItem("LOS_GEOMETRY_SOURCE")
        incidence, _, _ = _read(geometry, 1)
        azimuth, _, _ = _read(geometry, 2)
        expected = 102.0 if direction == "ASCENDING" else -102.0  # MintPy: ground->satellite, from north, anticlockwise
        assert np.nanmedian(azimuth) == pytest.approx(expected, abs=1.0)
        assert 30 < np.nanmedian(incidence) < 46


def test_vertical_and_east_match_the_truth(runs):
    _, done, paths = runs
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "asc_desc2horz_vert" in done.stdout
    vertical, x, y = _read(paths["VERTICAL"])
    east, _, _ = _read(paths["EAST"])
    true_east, _, true_up = MOTION.enu(x, y)
    valid = np.isfinite(vertical)
    assert valid.mean() > 0.6
    error_up = np.median(np.abs(vertical[valid] - true_up[valid]))
    error_east = np.median(np.abs(east[valid] - true_east[valid]))
    assert error_up < 2.0 and error_east < 2.0, (error_up, error_east)
    assert np.median(vertical[valid & (true_up < -20)]) < -15  # the bowl sinks
    assert np.median(east[valid & (true_east > 12)]) > 8  # the slope slides east
    # sensible uncertainties: positive, a few mm/yr at most, east the less certain
    up_std, _, _ = _read(paths["VERTICAL_STD"])
    east_std, _, _ = _read(paths["EAST_STD"])
    assert 0 < np.nanmedian(up_std) < 5 and 0 < np.nanmedian(east_std) < 8
    assert np.nanmedian(east_std) > np.nanmedian(up_std)
    mask, _, _ = _read(paths["MASK"])
    assert np.array_equal(mask == 1, valid)


def test_displacement_series_at_common_dates(runs):
    _, done, paths = runs
    assert done.returncode == 0
    ds = gdal.Open(str(paths["VERTICAL_DISPLACEMENT"]))
    assert ds.RasterCount == 12
    dates = [ds.GetRasterBand(b).GetDescription() for b in range(1, 13)]
    assert dates[0] == "20200103" or dates[0] == "20200108"
    last, x, y = _read(paths["VERTICAL_DISPLACEMENT"], 12)
    _, _, true_up = MOTION.enu(x, y)
    span = 11 * 12 / 365.25
    valid = np.isfinite(last)
    assert np.median(np.abs(last[valid] - true_up[valid] * span)) < 2.0
