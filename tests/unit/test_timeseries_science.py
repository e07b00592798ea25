"""What the time series does beyond plain MintPy, with the real MintPy, on realistic synthetic stacks.

A burst stack with atmosphere, DEM error, seasonal motion, a lake, a forest and six interferograms with 2 pi
unwrapping errors in two patches that the unwrapper's connected components do NOT separate (so MintPy's own
bridging cannot see them), and a two-year GAMMA stack with a seasonal signal. The tests check what a user
would: the errors are found and taken off where they are, the velocity inside the patches is as good as
elsewhere, coverage stays, the standard deviation covers the error, the quality tables and the GeoTIFF
metadata say what was done.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from fakes.products import Grid, realistic_stack
from insarhub_qgis.core.timeseries import export_results, prepare_products, run_segments, write_config
from insarhub_qgis.core.timeseries.export import write_quality_tables
from osgeo import gdal

pytestmark = pytest.mark.slow
gdal.UseExceptions()


def _run(folder: Path, stack, python: str) -> Dict:
    logs: List[str] = []
    work = folder / "work"
    prepared = prepare_products(folder / "products", work, log=logs.append)
    cfg = write_config(prepared, work, log=logs.append)
    run_segments(cfg, work, python)
    out = export_results(
        work, {"VELOCITY": folder / "velocity.tif", "VELOCITY_STD": folder / "std.tif"}, prepared
    )
    tables = write_quality_tables(work, prepared, log=logs.append)
    ds = gdal.Open(out["VELOCITY"])
    velocity = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
    metadata = ds.GetMetadata()
    std = gdal.Open(out["VELOCITY_STD"]).ReadAsArray().astype(np.float64)
    land = stack.coherent_land_mask
    used = land & np.isfinite(velocity)
    error = velocity - stack.truth_velocity_mm_yr
    error = np.abs(error - np.median(error[used]))  # each result is relative to its own reference point
    return dict(
        stack=stack, prepared=prepared, work=work, logs=logs, tables=tables, velocity=velocity, std=std,
        metadata=metadata, used=used, error=error, land=land,
    )  # fmt: skip


BURST = dict(
    grid=Grid(width=96, height=72),
    n_dates=24,
    n_pairs=60,
    seed=5,
    atmosphere_mm=3.0,
    stratified_mm_per_km=5.0,
    unwrap_error_regions=2,
    unwrap_error_conncomp="same",  # invisible to connected components
    as_zip=True,
)


@pytest.fixture(scope="module")
def burst(tmp_path_factory, mintpy_python: str) -> Dict:
    folder = tmp_path_factory.mktemp("burst")
    return _run(folder, realistic_stack(folder / "products", **BURST), mintpy_python)


@pytest.fixture(scope="module")
def control(tmp_path_factory, mintpy_python: str) -> Dict:
    """The very same stack without its unwrapping errors."""
    folder = tmp_path_factory.mktemp("control")
    return _run(
        folder, realistic_stack(folder / "products", apply_unwrap_errors=False, **BURST), mintpy_python
    )


@pytest.fixture(scope="module")
def two_years(tmp_path_factory, mintpy_python: str) -> Dict:
    folder = tmp_path_factory.mktemp("gamma")
    stack = realistic_stack(
        folder / "products",
        job_type="INSAR_GAMMA",
        grid=Grid(width=80, height=60),
        n_dates=32,
        n_pairs=75,
        interval_days=24,
        seed=8,
        atmosphere_mm=2.0,
        stratified_mm_per_km=4.0,
        unwrap_error_pairs=2,
        unwrap_error_regions=1,
        as_zip=False,
    )
    return _run(folder, stack, mintpy_python)


def test_unwrapping_errors_are_found_where_they_are(burst) -> None:
    stack, prepared = burst["stack"], burst["prepared"]
    corrected = {p.pair: p for p in prepared.closure_corrected}
    assert set(corrected) == set(stack.unwrap_error_pairs) and len(corrected) == 6
    for pair, product in corrected.items():
        cycles = gdal.Open(str(product.folder / f"{product.name}.unwrap_cycles.tif")).ReadAsArray()
        # every pixel of the patch on coherent ground (not where coherence is too low to judge a triangle)
        patch = stack.unwrap_error_masks[pair] & stack.coherent_land_mask
        hit = cycles[patch] == -stack.unwrap_error_cycles[pair]
        assert hit.mean() > 0.99, (product.name, hit.mean())
        assert np.count_nonzero(cycles[~stack.unwrap_error_masks[pair]]) == 0
    assert any("corrected" in line and "6 of 60 interferograms" in line for line in burst["logs"])


def test_velocity_inside_the_patches_is_as_good_as_elsewhere(burst, control, record_property) -> None:
    stack, used = burst["stack"], burst["used"] & control["used"]
    inside = used & stack.unwrap_error_mask
    outside = used & ~stack.unwrap_error_mask
    assert inside.sum() > 200
    # the corrected velocity is the one the same stack gives without its unwrapping errors
    change = np.abs(burst["velocity"] - control["velocity"])
    print(
        f"|corrected - without errors| inside the patches: median {np.median(change[inside]):.4f}, max {change[inside].max():.3f}"
    )
    assert np.median(change[inside]) < 0.05 and np.percentile(change[inside], 95) < 0.5
    # so the error inside the patches is at the level elsewhere, as in the stack without errors
    excess = float(np.median(burst["error"][inside]) - np.median(burst["error"][outside]))
    excess_control = float(np.median(control["error"][inside]) - np.median(control["error"][outside]))
    record_property("median_excess_inside_mm_yr", round(excess, 2))
    print(
        f"median |error| inside minus outside: {excess:.2f} (without unwrapping errors {excess_control:.2f}) mm/yr"
    )
    assert excess <= excess_control + 0.3
    coverage = burst["used"].sum() / burst["land"].sum()
    assert coverage > 0.9, coverage


def test_velocity_std_covers_the_error(burst) -> None:
    used, error, std = burst["used"], burst["error"], burst["std"]
    within = float(np.mean(error[used] <= 2.0 * std[used]))
    print(f"|error| <= 2 sd on {within:.0%} of the pixels")
    assert 0.85 <= within <= 0.995
    ds = gdal.Open(str(burst["work"].parent / "std.tif"))  # kept: its band dies with it
    assert "autocorrelation" in ds.GetRasterBand(1).GetMetadataItem("STD_METHOD")


def test_quality_tables(burst) -> None:
    stack, prepared = burst["stack"], burst["prepared"]
    ifg_path, date_path = burst["tables"]
    rows = list(csv.DictReader(open(ifg_path, encoding="utf-8")))
    assert len(rows) == len(prepared.products) == 60
    fixed = {(r["reference_date"], r["secondary_date"]) for r in rows if int(r["closure_corrected_px"]) > 0}
    assert fixed == {(f"{a:%Y%m%d}", f"{b:%Y%m%d}") for a, b in stack.unwrap_error_pairs}
    assert all(r["excluded"] in ("yes", "no") and float(r["residual_rms_mm"]) >= 0 for r in rows)
    assert all(0.0 < float(r["mean_coherence"]) < 1.0 for r in rows)
    dates = list(csv.DictReader(open(date_path, encoding="utf-8")))
    assert [d["date"] for d in dates] == [f"{d:%Y%m%d}" for d in stack.dates]
    assert all(d["excluded"] in ("yes", "no") and float(d["residual_rms_mm"]) > 0 for d in dates)
    assert any("dates" in line and "velocity" in line for line in burst["logs"])  # excluded dates named


def test_quality_tables_from_sampled_rows_agree_with_the_whole_grid(burst, tmp_path, monkeypatch) -> None:
    # On a frame the residuals come from a few whole HDF5 chunk rows spread over the grid, one of them holding
    # the reference pixel; a sample of this small stack must give about the same residuals as all its rows.
    from insarhub_qgis.core.timeseries import export as export_module

    whole = {(r["reference_date"], r["secondary_date"]): r for r in csv.DictReader(open(burst["tables"][0]))}
    work = tmp_path / "work"
    shutil.copytree(burst["work"], work)
    monkeypatch.setattr(export_module, "_SAMPLE_ROWS", 24)
    ifg_path, _ = export_module.write_quality_tables(work, burst["prepared"], prefer_h5py=True)
    sampled = list(csv.DictReader(open(ifg_path)))
    height = int(sampled[0]["sampled_rows"])
    assert 0 < height <= 24 < int(whole[next(iter(whole))]["sampled_rows"])
    ratios = [
        float(r["residual_rms_rad"]) / float(whole[(r["reference_date"], r["secondary_date"])]["residual_rms_rad"])
        for r in sampled
        if r["residual_rms_rad"]
    ]
    assert len(ratios) == 60 and 0.7 < float(np.median(ratios)) < 1.3


def test_metadata_says_what_was_done(burst) -> None:
    meta = burst["metadata"]
    assert meta["UNWRAP_ERROR_CORRECTION"].startswith("phase closure")
    assert meta["UNWRAP_ERROR_CORRECTED_INTERFEROGRAMS"] == "6"
    assert meta["DEM_ERROR_CORRECTION"] == "yes"
    assert meta["ANNUAL_TERM"] == "not fitted" and float(meta["TIME_SPAN_YEARS"]) < 1.0
    assert "EXCLUDED_DATES" in meta and "Topographic residual" in meta["CORRECTIONS"]


def test_two_years_fit_the_annual_term_and_the_velocity_is_free_of_it(two_years) -> None:
    stack, used, error, meta = (
        two_years["stack"],
        two_years["used"],
        two_years["error"],
        two_years["metadata"],
    )
    assert meta["ANNUAL_TERM"].startswith("fitted") and float(meta["TIME_SPAN_YEARS"]) >= 2.0
    assert any("Annual (seasonal) term: fitted" in line for line in two_years["logs"])
    basin = used & (stack.seasonal_amplitude_mm > 5.0)
    rest = used & (stack.seasonal_amplitude_mm < 3.0)
    print(
        f"two years: median |error| in the seasonal basin {np.median(error[basin]):.2f}, elsewhere {np.median(error[rest]):.2f}"
    )
    assert basin.sum() > 100 and np.median(error[basin]) <= 1.5 * np.median(error[rest]) + 0.5
    assert np.median(error[used]) < 2.0
    # GAMMA: no connected components of its own; the phase closure found its errors all the same
    assert {p.pair for p in two_years["prepared"].closure_corrected} == set(stack.unwrap_error_pairs)


def test_bridging_is_left_out_where_mintpy_would_stop_on_it(tmp_path, mintpy_python: str) -> None:
    """Most interferograms one connected component over the whole area, a few with patches of their own:
    MintPy 1.6.4's bridging stops with an IndexError on the whole-area ones (it finds no boundary), so the
    run must go on without it, say why, and still correct the patches by phase closure."""
    stack = realistic_stack(
        tmp_path / "products",
        grid=Grid(width=64, height=48),
        n_dates=12,
        n_pairs=24,
        seed=3,
        water=False,
        forest=False,
        unwrap_error_pairs=3,
        unwrap_error_regions=1,
        unwrap_error_conncomp="separate",
        as_zip=True,
    )
    result = _run(tmp_path, stack, mintpy_python)
    prepared = result["prepared"]
    whole = [p.name for p in prepared.products if p.conncomp_whole]
    several = [p.name for p in prepared.products if p.conncomp_labels > 1]
    assert whole and several  # the case MintPy's bridging cannot take
    log = "\n".join(result["logs"])
    assert "(MintPy's bridging): off" in log and "one component over the whole area" in log, log
    methods = [
        line.split("=", 1)[1].split("#")[0].strip()
        for line in (result["work"] / "insarhub.cfg").read_text().splitlines()
        if line.strip().startswith("mintpy.unwrapError.method")
    ]
    assert methods in ([], ["no"], ["auto"]), methods
    assert sum(p.closure_corrected_px for p in prepared.products) > 0
    assert np.isfinite(result["velocity"]).mean() > 0.9
