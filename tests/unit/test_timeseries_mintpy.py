"""The whole time-series chain with the real MintPy (as a subprocess): prepare -> config -> run -> export.

One synthetic stack (15 dates, 30 pairs, shifted extents, noise, one unwrapping error, QGIS sidecars, one
broken product) is processed once per module; the tests check what a user would look at in the results.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from fakes.products import make_stack
from insarhub_qgis.core.errors import CancelledError, MintpyNotFoundError
from insarhub_qgis.core.mintpy_env import find_mintpy_python
from insarhub_qgis.core.timeseries import (
    MintpyRunError,
    export_insar_explorer_points,
    export_results,
    prepare_products,
    run_segments,
    run_smallbaseline,
    write_config,
)
from insarhub_qgis.core.timeseries.config import read_cfg
from insarhub_qgis.core.timeseries.run import descendants, pid_exists
from osgeo import gdal, ogr, osr

pytestmark = pytest.mark.slow
gdal.UseExceptions()
OUTPUTS = ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")


@pytest.fixture(scope="module")
def result(tmp_path_factory, mintpy_python: str) -> Dict:
    tmp = tmp_path_factory.mktemp("mintpy")
    stack = make_stack(tmp / "download", n_dates=15, n_pairs=30, seed=0, broken_products=1, sidecars=True)
    work = tmp / "work"
    timings: Dict[str, float] = {}
    t0 = time.monotonic()
    prepared = prepare_products(tmp / "download", work, mintpy_python=mintpy_python)  # as runtimeseries does
    timings["prepare_s"] = time.monotonic() - t0
    cfg = write_config(prepared, work)
    steps: List[str] = []
    t0 = time.monotonic()
    run = run_segments(cfg, work, mintpy_python, progress=lambda i, n, s: steps.append(s))
    timings["mintpy_s"] = time.monotonic() - t0
    out = export_results(work, {k: tmp / "out" / f"{k.lower()}.tif" for k in OUTPUTS}, prepared)
    row, col = (int(v) for v in read_cfg(cfg)["mintpy.reference.yx"].split(","))
    return dict(
        stack=stack, prepared=prepared, work=work, cfg=cfg, run=run, out=out, steps=steps,
        reference_yx=(row, col), timings=timings, tmp=tmp,
    )  # fmt: skip


def _band(path: str, index: int = 1) -> np.ndarray:
    ds = gdal.Open(path)  # keep the dataset alive while its band is read
    return ds.GetRasterBand(index).ReadAsArray().astype(np.float64)


def test_run_reports_every_step(result, record_property) -> None:
    run = result["run"]
    assert run.returncode == 0 and result["steps"][0] == "load_data" and result["steps"][-1] == "hdfeos5"
    # every step but MintPy's quick_overview diagnostic, in two segments into one log
    assert run.steps == result["steps"] and len(run.steps) == 17 and "quick_overview" not in run.steps
    assert run.log_path.is_file() and "Normal end of smallbaselineApp" in run.log_path.read_text()
    for key, seconds in result["timings"].items():
        record_property(key, round(seconds, 1))
    print(f"timings: {result['timings']}")
    # the broken product was named and left out; 30 interferograms loaded
    prepared, stack = result["prepared"], result["stack"]
    assert [s.name for s in prepared.skipped] == [stack.broken[0].path.stem]
    assert "number of unwrapPhase     : 30" in run.log_path.read_text()


def test_velocity_matches_the_truth(result, record_property) -> None:
    stack = result["stack"]
    row, col = result["reference_yx"]
    assert stack.valid_mask[row, col] and not stack.unwrap_error_mask[row, col]
    velocity = _band(result["out"]["VELOCITY"])
    truth = stack.truth_velocity_mm_yr
    error = (velocity - velocity[row, col]) - (truth - truth[row, col])
    usable = stack.valid_mask & np.isfinite(velocity)
    assert usable.mean() > 0.9
    mae = float(np.median(np.abs(error[usable])))
    record_property("velocity_mae_mm_yr", round(mae, 3))
    print(f"median absolute velocity error {mae:.2f} mm/yr")
    assert mae < 2.0
    assert velocity[row, col] == pytest.approx(0.0, abs=1e-3)  # MintPy's reference pixel


def test_outputs_are_on_the_truth_grid(result) -> None:
    stack = result["stack"]
    for key in OUTPUTS:
        ds = gdal.Open(result["out"][key])
        assert ds.GetGeoTransform() == stack.geotransform, key
        assert (ds.RasterXSize, ds.RasterYSize) == (stack.truth_grid.width, stack.truth_grid.height)
        srs = osr.SpatialReference(wkt=ds.GetProjection())
        assert srs.GetAuthorityCode(None) == str(stack.epsg), key


def test_sign_and_units(result) -> None:
    stack = result["stack"]
    row, col = result["reference_yx"]
    ds = gdal.Open(result["out"]["VELOCITY"])
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Float32 and np.isnan(band.GetNoDataValue())
    assert band.GetUnitType() == "mm/year" and band.GetMetadataItem("UNITS") == "mm/year"
    assert "positive = towards the satellite" in band.GetMetadataItem("SIGN")
    assert ds.GetMetadataItem("REFERENCE_PIXEL_ROW_COL") == f"{row},{col}"
    velocity = band.ReadAsArray().astype(np.float64)
    truth = stack.truth_velocity_mm_yr
    bowl = np.unravel_index(np.argmin(truth), truth.shape)  # subsidence: away from the satellite
    assert velocity[bowl] - velocity[row, col] < -15.0
    assert velocity[bowl] - velocity[row, col] == pytest.approx(truth[bowl] - truth[row, col], abs=3.0)
    std_ds = gdal.Open(result["out"]["VELOCITY_STD"])
    std = std_ds.GetRasterBand(1)
    assert std.GetUnitType() == "mm/year"
    std_mm_yr = std.ReadAsArray()
    assert np.nanmedian(std_mm_yr) < 5.0 and np.nanmin(std_mm_yr) >= 0.0
    coherence = _band(result["out"]["TEMPORAL_COHERENCE"])
    assert np.nanmax(coherence) <= 1.0 and np.nanmedian(coherence) > 0.7


def test_displacement_bands(result) -> None:
    stack = result["stack"]
    row, col = result["reference_yx"]
    ds = gdal.Open(result["out"]["DISPLACEMENT"])
    dates = [f"{d:%Y%m%d}" for d in stack.dates]
    assert ds.RasterCount == len(dates) == 15
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)] == dates
    assert all(ds.GetRasterBand(i + 1).GetUnitType() == "mm" for i in range(ds.RasterCount))
    assert ds.GetMetadataItem("REFERENCE_DATE") == dates[0]
    first = ds.GetRasterBand(1).ReadAsArray()
    assert np.nanmax(np.abs(first)) == 0.0  # relative to the reference date
    last = ds.GetRasterBand(ds.RasterCount).ReadAsArray().astype(np.float64)
    assert last[row, col] == pytest.approx(0.0, abs=1e-3)
    truth = stack.truth_velocity_mm_yr
    years = (stack.dates[-1] - stack.dates[0]).days / 365.25
    bowl = np.unravel_index(np.argmin(truth), truth.shape)
    expected_mm = (truth[bowl] - truth[row, col]) * years
    assert expected_mm < -5.0 and last[bowl] == pytest.approx(expected_mm, abs=3.0)


def test_export_without_h5py_reads_the_same(result, tmp_path: Path) -> None:
    # QGIS's Python may lack h5py: GDAL's HDF5 driver reads MintPy's files instead
    out = export_results(
        result["work"],
        {"VELOCITY": tmp_path / "v.tif", "DISPLACEMENT": tmp_path / "d.tif"},
        result["prepared"],
        prefer_h5py=False,
    )
    for key in ("VELOCITY", "DISPLACEMENT"):
        a, b = gdal.Open(out[key]).ReadAsArray(), gdal.Open(result["out"][key]).ReadAsArray()
        assert np.array_equal(a, b, equal_nan=True), key
    assert out["TIMESERIES"] == result["out"]["TIMESERIES"]


def test_export_in_many_blocks_of_rows_writes_the_same_files(result, tmp_path: Path, monkeypatch) -> None:
    from insarhub_qgis.core.timeseries import export as export_module

    monkeypatch.setattr(export_module, "_EXPORT_BLOCK_BYTES", 1)  # 16 rows at a time
    out = export_results(result["work"], {k: tmp_path / f"{k.lower()}.tif" for k in OUTPUTS}, result["prepared"])
    for key in OUTPUTS:
        a, b = gdal.Open(result["out"][key]), gdal.Open(out[key])
        assert a.RasterCount == b.RasterCount and a.GetMetadata() == b.GetMetadata()
        for index in range(1, a.RasterCount + 1):
            values_a, values_b = a.GetRasterBand(index).ReadAsArray(), b.GetRasterBand(index).ReadAsArray()
            if key == "VELOCITY_STD":  # float32 matrix products over other block shapes
                np.testing.assert_allclose(values_b, values_a, rtol=1e-5, equal_nan=True)
            else:
                assert np.array_equal(values_a, values_b, equal_nan=True)


def test_timeseries_output_is_mintpys_final_file(result) -> None:
    path = Path(result["out"]["TIMESERIES"])
    # 15 dates, baselines spread by ~60 m: the topographic residual is corrected, its file is the final one
    assert path == result["work"] / "timeseries_demErr.h5" and path.is_file()


def test_insar_explorer_points(result) -> None:
    gpkg, count = export_insar_explorer_points(
        result["work"], result["tmp"] / "points.gpkg", result["prepared"]
    )
    ds = ogr.Open(str(gpkg))
    layer = ds.GetLayer(0)
    assert layer.GetFeatureCount() == count > 1000
    names = [
        layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())
    ]
    dates = [f"D{d:%Y%m%d}" for d in result["stack"].dates]
    assert names[:8] == ["CODE", "HEIGHT", "H_STDEV", "VEL", "V_STDEV", "COHERENCE", "velocity", "EFF_AREA"]
    assert names[8:] == dates
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "4326"
    minx, maxx, miny, maxy = layer.GetExtent()
    assert -118.0 < minx < maxx < -117.0 and 34.5 < miny < maxy < 35.5  # lon/lat of the UTM 11N scene
    feature = layer.GetNextFeature()
    assert feature.GetField(dates[0]) == 0.0 and feature.GetField("COHERENCE") >= 0.7


def test_rerun_reuses_finished_steps(result, mintpy_python: str) -> None:
    work = result["work"]
    # the costly steps are reused (MintPy 1.6.4 itself always redoes its DEM-error step, and what follows it)
    files = [work / "inputs" / "ifgramStack.h5", work / "timeseries.h5", work / "temporalCoherence.h5"]
    before = [f.stat().st_mtime_ns for f in files]
    prepared = prepare_products(result["tmp"] / "download", work)
    assert prepared.reused
    cfg = write_config(prepared, work)
    rerun = run_segments(cfg, work, mintpy_python)
    assert [f.stat().st_mtime_ns for f in files] == before
    log = rerun.log_path.read_text()
    assert "no need to re-load" in log and "run or skip: skip" in log


def test_failing_step_is_named_with_the_log(result, mintpy_python: str, tmp_path: Path) -> None:
    prepared = prepare_products(result["tmp"] / "download", tmp_path / "work")
    user = tmp_path / "bad.cfg"
    user.write_text("mintpy.reference.yx = 5000,5000\n")  # outside the data: reference_point fails
    cfg = write_config(prepared, tmp_path / "work", user_cfg_path=user)
    with pytest.raises(MintpyRunError) as err:
        run_segments(cfg, tmp_path / "work", mintpy_python)
    assert err.value.step == "reference_point"
    message = str(err.value)
    assert "step 'reference_point'" in message and "OUT of data coverage" in message
    assert str(tmp_path / "work" / "mintpy.log") in message and 5 <= len(err.value.log_tail) <= 20


def test_cancel_leaves_no_process_and_a_rerun_finishes(result, mintpy_python: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    prepared = prepare_products(result["tmp"] / "download", work)
    cfg = write_config(prepared, work, compute_cluster="local", workers=2)
    state: Dict = {}
    # Children this test process already had are not MintPy's (on Python 3.14 multiprocessing's
    # forkserver, started by an earlier test, lives as long as the session).
    before = set(descendants(os.getpid()))

    def log(line: str) -> None:
        if "Dask" in line:
            state["dask"] = True

    def cancel() -> bool:
        # Cancel while the dask workers run (how long the inversion takes varies with the load
        # on the machine, so wait for the workers themselves, not for a fixed time).
        if state.get("dask"):
            tree = [pid for pid in descendants(os.getpid()) if pid not in before]
            if len(tree) >= 2:  # smallbaselineApp and its dask worker(s)
                state["tree"] = tree
                return True
        return False

    with pytest.raises(CancelledError, match="cancelled during step 'invert_network'"):
        run_segments(cfg, work, mintpy_python, log=log, is_cancelled=cancel, poll_s=0.1)
    assert len(state["tree"]) >= 2  # smallbaselineApp and its dask workers
    alive = [pid for pid in state["tree"] if pid_exists(pid) and not _zombie(pid)]
    assert not alive, alive

    # the same work folder continues: the loaded stack is reused
    cfg = write_config(prepared, work, compute_cluster="none")
    done = run_segments(cfg, work, mintpy_python)
    assert "no need to re-load" in done.log_path.read_text() and (work / "velocity.h5").is_file()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_missing_mintpy(result, tmp_path: Path) -> None:
    with pytest.raises(MintpyNotFoundError, match="does not exist"):
        find_mintpy_python(setting=str(tmp_path / "no" / "python"), environ={})
    # an interpreter that runs but has no MintPy (site-packages disabled)
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    with pytest.raises(MintpyNotFoundError, match="has no MintPy"):
        run_smallbaseline(result["cfg"], tmp_path / "work", str(bare))


def test_displacement_is_laid_out_for_clicks_and_read_back_by_the_pixel_reader(result) -> None:
    """The exported displacement: band-interleaved small blocks, and a click reads exactly its values."""
    from insarhub_qgis.core.timeseries.export import DISPLACEMENT_BLOCK_PX
    from insarhub_qgis.core.timeseries.pixels import PixelSeriesReader

    path = result["out"]["DISPLACEMENT"]
    ds = gdal.Open(path)
    assert ds.GetMetadata("IMAGE_STRUCTURE")["INTERLEAVE"] == "BAND"
    assert ds.GetRasterBand(1).GetBlockSize() == [DISPLACEMENT_BLOCK_PX, DISPLACEMENT_BLOCK_PX]
    cube = ds.ReadAsArray().astype(np.float64)
    reader = PixelSeriesReader(path)
    assert [f"{d:%Y%m%d}" for d in reader.dates] == [f"{d:%Y%m%d}" for d in result["stack"].dates]
    rows, cols = cube.shape[1:]
    for row, col in [(0, 0), (rows // 2, cols // 3), (rows - 1, cols - 1), result["reference_yx"]]:
        assert np.array_equal(reader.read(row, col), cube[:, row, col], equal_nan=True)
