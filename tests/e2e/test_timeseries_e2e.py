"""runtimeseries through ./scripts/qgis_process on a synthetic HyP3 stack with a known velocity:
southern hemisphere, 40 m pixels, mismatched extents, an unwrapping error, QGIS sidecars and a
broken product. The velocity must match the truth within 2 mm/yr median absolute error."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.products import Grid, gaussian_bowl, make_stack
from osgeo import gdal
from process_helpers import clean_env, run_algorithm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ts") / "products"
    grid = Grid(epsg=32719, pixel_size=40.0, origin_x=300000.0, origin_y=7400000.0, width=90, height=70)
    return make_stack(
        folder, n_dates=16, n_pairs=34, grid=grid, seed=11, sidecars=True, broken_products=1,
        velocity_mm_yr=gaussian_bowl(grid, amplitude_mm_yr=-35.0, center_frac=(0.4, 0.6)),
    )


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    out = tmp_path_factory.mktemp("ts-out")
    outputs = {name: out / f"{name.lower()}.tif" for name in ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")}
    done, results = run_algorithm(
        "insarhub:runtimeseries",
        {"PRODUCTS_FOLDER": stack.products[0].parent, "WORKDIR": out / "mintpy", **outputs, "POINTS": out / "points.gpkg"},
        env=clean_env(),
    )
    return done, results, outputs, out


def test_velocity_matches_the_truth(stack, run):
    done, results, outputs, _ = run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert results["INTERFEROGRAMS"] == len(stack.pairs)
    velocity = gdal.Open(str(outputs["VELOCITY"]))
    assert velocity.GetGeoTransform() == pytest.approx(stack.geotransform)
    assert velocity.RasterXSize == stack.truth_grid.width and velocity.RasterYSize == stack.truth_grid.height
    band = velocity.GetRasterBand(1)
    assert band.GetUnitType() == "mm/year"
    values = band.ReadAsArray()
    valid = np.isfinite(values) & stack.valid_mask
    assert valid.sum() > 0.5 * stack.valid_mask.sum()
    error = np.median(np.abs(values[valid] - stack.truth_velocity_mm_yr[valid]))
    assert error < 2.0, f"median absolute error {error:.2f} mm/yr"
    # Sign: where the truth moves away from the satellite (negative), so does the result.
    strong = valid & (stack.truth_velocity_mm_yr < -10)
    if strong.any():
        assert np.median(values[strong]) < -5


def test_displacement_bands_are_dates_in_mm(stack, run):
    done, _, outputs, _ = run
    assert done.returncode == 0
    displacement = gdal.Open(str(outputs["DISPLACEMENT"]))
    assert displacement.RasterCount == len(stack.dates)
    descriptions = [displacement.GetRasterBand(b).GetDescription() for b in range(1, displacement.RasterCount + 1)]
    assert descriptions == [d.strftime("%Y%m%d") for d in stack.dates]
    assert displacement.GetGeoTransform() == pytest.approx(stack.geotransform)
    first = displacement.GetRasterBand(1).ReadAsArray()
    assert np.nanmax(np.abs(first)) == 0  # relative to the first date


def test_broken_product_named_and_points_written(stack, run):
    done, results, _, out = run
    assert done.returncode == 0
    for broken in stack.broken:
        assert broken.path.name.split(".")[0] in done.stdout
    from osgeo import ogr

    dataset = ogr.Open(str(out / "points.gpkg"))  # keep it: its layer dies with it
    layer = dataset.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert "velocity" in names and "VEL" in names
    assert [n for n in names if n.startswith("D") and n[1:].isdigit()] == [f"D{d:%Y%m%d}" for d in stack.dates]
    assert layer.GetFeatureCount() > 100
    feature = layer.GetNextFeature()
    assert feature.GetField("velocity") == feature.GetField("VEL")


@pytest.mark.parametrize("case", ["empty", "single", "no-mintpy"])
def test_bad_inputs_are_explained(stack, tmp_path, case):
    folder = tmp_path / "p"
    folder.mkdir()
    env = clean_env()
    if case == "single":
        import shutil

        shutil.copy(stack.products[0], folder)
    if case == "no-mintpy":
        folder = stack.products[0].parent
        env["INSARHUB_MINTPY_PYTHON"] = "/usr/bin/python3"
    done, _ = run_algorithm("insarhub:runtimeseries", {"PRODUCTS_FOLDER": folder, "WORKDIR": tmp_path / "w", "VELOCITY": tmp_path / "v.tif"}, env=env)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    expected = {"empty": "no HyP3", "single": "at least 3", "no-mintpy": "/usr/bin/python3"}[case]
    assert expected.lower() in output.lower(), output[-3000:]
    assert not (tmp_path / "v.tif").exists()


def test_quality_tables_and_corrections_are_reported(stack, run):
    done, results, outputs, out = run
    assert done.returncode == 0
    import csv

    rows = list(csv.DictReader(open(results["QUALITY_INTERFEROGRAMS"], encoding="utf-8")))
    assert len([r for r in rows if r["excluded"] == "no"]) == len(stack.pairs)
    assert any(stack.broken[0].path.name.split(".")[0] == r["product"] for r in rows)  # skipped, with its reason
    fixed = {(r["reference_date"], r["secondary_date"]) for r in rows if r["closure_corrected_px"] not in ("", "0")}
    assert fixed == {(f"{a:%Y%m%d}", f"{b:%Y%m%d}") for a, b in stack.unwrap_error_pairs}
    dates = list(csv.DictReader(open(results["QUALITY_DATES"], encoding="utf-8")))
    assert len(dates) == len(stack.dates)
    assert "Topographic residual (DEM error) correction: on" in done.stdout
    assert "MintPy used all" in done.stdout or "MintPy left" in done.stdout
    velocity = gdal.Open(str(outputs["VELOCITY"]))
    assert velocity.GetMetadataItem("UNWRAP_ERROR_CORRECTION").startswith("phase closure")


def test_a_gamma_product_among_bursts_is_refused_by_name(tmp_path):
    folder = tmp_path / "products"
    grid = Grid(width=30, height=24)
    burst = make_stack(folder, n_dates=5, n_pairs=8, grid=grid, seed=2, job_type="INSAR_ISCE_BURST", unwrap_error_pairs=0)
    from fakes.products import make_product

    odd = make_product(folder, burst.dates[0], burst.dates[1], grid=grid, seed=9)  # INSAR_GAMMA, same pair
    done, _ = run_algorithm(
        "insarhub:runtimeseries",
        {"PRODUCTS_FOLDER": folder, "WORKDIR": tmp_path / "mintpy", "VELOCITY": tmp_path / "v.tif"},
        env=clean_env(),
    )
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert odd.stem in text.split("The odd ones out:")[1] and "PRODUCT_KIND" in text
    # and the kind asked for is used, the other named as skipped
    done, results = run_algorithm(
        "insarhub:runtimeseries",
        {
            "PRODUCTS_FOLDER": folder,
            "WORKDIR": tmp_path / "mintpy2",
            "PRODUCT_KIND": "INSAR_ISCE_BURST",
            "VELOCITY": tmp_path / "v2.tif",
        },
        env=clean_env(),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert results["INTERFEROGRAMS"] == 8 and odd.stem in done.stdout + done.stderr
