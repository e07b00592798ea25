"""Fast tests of ``core.timeseries``: preparing HyP3 products for MintPy, its configuration, and the
subprocess runner (against a stand-in interpreter; the real MintPy runs are in test_timeseries_mintpy.py).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from fakes.products import Grid, make_product, make_stack
from insarhub_qgis.core.errors import CancelledError, ConfigurationError, InputError, MintpyNotFoundError
from insarhub_qgis.core.timeseries import (
    CONFIG_NAME,
    MintpyRunError,
    choose_reference,
    load_prepared,
    parse_product_name,
    prepare_products,
    reference_from_point,
    run_smallbaseline,
    write_config,
)
from insarhub_qgis.core.timeseries.config import read_cfg
from insarhub_qgis.core.timeseries.export import final_timeseries_file
from insarhub_qgis.core.timeseries.prepare import find_products
from insarhub_qgis.core.timeseries.run import descendants, mintpy_environment, pid_exists
from osgeo import gdal, osr

gdal.UseExceptions()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hyp3"
SMALL = Grid(width=40, height=30)


def _read(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def _gt(path: Path) -> tuple:
    return tuple(gdal.Open(str(path)).GetGeoTransform())


def _small_stack(folder: Path, **kwargs):
    opts = dict(n_dates=6, n_pairs=10, grid=SMALL, seed=3, as_zip=False)
    opts.update(kwargs)
    return make_stack(folder, **opts)


# ------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize(
    "fixture, job_type, orbit",
    [
        ("S1AC_20251001T204513_20251007T204359_HHR006_INT40_G_ueF_1DBE.txt", "INSAR_GAMMA", None),
        ("S1_056072_IW2_20220814_20220907_VV_INT80_E09B.txt", "INSAR_ISCE_BURST", 27),
        (
            "S1_044_000000s1n00-093117s2n01-093118s3n01_IW_20250718_20250730_VV_INT80_B4FA.txt",
            "INSAR_ISCE_MULTI_BURST",
            44,
        ),
    ],
)
def test_parse_real_product_names(fixture: str, job_type: str, orbit) -> None:
    parsed = parse_product_name(Path(fixture).stem + "_unw_phase.tif")
    assert parsed.job_type == job_type and parsed.name == Path(fixture).stem
    assert parsed.relative_orbit == orbit  # GAMMA: from the .txt, like MintPy
    assert parsed.reference_date < parsed.secondary_date
    with pytest.raises(ValueError):
        parse_product_name("S1_something_else.zip")


# -------------------------------------------------------------------------------------- prepare
@pytest.mark.parametrize(
    "block_bytes, min_sample_px",
    [
        # 8 rows per block (the least), so 4 blocks; the first has too few pixels to be the sample of the
        # closure's constants: rows spread over the grid are read for it
        (1, 20_000),
        # 3 blocks of 10 rows; the first (and its halo) is the sample
        (10 * 40 * 9 * 10, 200),
    ],
    ids=["spread-sample", "first-block-sample"],
)
def test_a_stack_too_big_for_one_block_is_prepared_block_by_block_as_in_one(
    tmp_path: Path, monkeypatch, block_bytes: int, min_sample_px: int
) -> None:
    """A frame-sized stack does not fit in one block of rows: its windows are read, checked and corrected
    block by block (rows plus a halo for the closure's neighbourhood). The result must be the one block's."""
    from insarhub_qgis.core.timeseries import prepare as prepare_module

    _small_stack(tmp_path / "products", as_zip=True, max_offset_px=3)
    whole = prepare_products(tmp_path / "products", tmp_path / "whole")
    # 10 interferograms of 40 x 30 px (a little less on the common grid)
    monkeypatch.setitem(prepare_module._window_pass.__kwdefaults__, "block_bytes", block_bytes)
    monkeypatch.setitem(prepare_module._window_pass.__kwdefaults__, "min_sample_px", min_sample_px)
    blocks = prepare_products(tmp_path / "products", tmp_path / "blocks")

    assert blocks.grid == whole.grid and blocks.pairs == whole.pairs
    assert [p.closure_corrected_px for p in blocks.products] == [p.closure_corrected_px for p in whole.products]
    assert sum(p.closure_corrected_px for p in blocks.products) > 0  # the stack's unwrapping error was found
    for one, other in zip(blocks.products, whole.products):
        assert np.array_equal(_read(one.raster("unw_phase")), _read(other.raster("unw_phase")))
        assert one.mean_coherence == pytest.approx(other.mean_coherence, rel=1e-6)
        assert one.valid_fraction == pytest.approx(other.valid_fraction, rel=1e-9)


def test_a_network_without_triangles_is_prepared_uncorrected_block_by_block_as_in_one(
    tmp_path: Path, monkeypatch
) -> None:
    """A chain of pairs has no closed triangle: nothing can be checked by phase closure, the note says how
    to get it checked, and the windows read block by block (no halo then) give the one block's result."""
    from insarhub_qgis.core.timeseries import prepare as prepare_module

    _small_stack(tmp_path / "products", as_zip=True, max_offset_px=3, n_pairs=5)  # 6 dates, a chain
    whole = prepare_products(tmp_path / "products", tmp_path / "whole")
    monkeypatch.setitem(prepare_module._window_pass.__kwdefaults__, "block_bytes", 1)
    blocks = prepare_products(tmp_path / "products", tmp_path / "blocks")

    assert "no closed triangle" in whole.unwrap_correction and "NEIGHBOURS >= 2" in whole.unwrap_correction
    assert blocks.unwrap_correction == whole.unwrap_correction
    assert sum(p.closure_corrected_px for p in whole.products) == 0
    for one, other in zip(blocks.products, whole.products):
        assert np.array_equal(_read(one.raster("unw_phase")), _read(other.raster("unw_phase")))
        assert one.mean_coherence == pytest.approx(other.mean_coherence, rel=1e-6)
        assert one.valid_fraction == pytest.approx(other.valid_fraction, rel=1e-9)


def test_common_grid_keeps_the_pixel_lattice(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products", as_zip=True, max_offset_px=3)
    assert len({(g.origin_x, g.origin_y, g.width, g.height) for g in stack.product_grids}) > 1
    messages: List[str] = []
    percent: List[float] = []
    prepared = prepare_products(
        tmp_path / "products", tmp_path / "work", log=messages.append, progress=percent.append
    )

    assert prepared.grid.geotransform == pytest.approx(stack.geotransform, abs=0)
    assert prepared.grid.shape == stack.truth_grid.shape and prepared.grid.epsg == 32611
    assert len(prepared.products) == 10 and not prepared.skipped and not prepared.reused
    assert prepared.dates == stack.dates and prepared.pairs == sorted(stack.pairs)
    assert (prepared.flight_direction, prepared.relative_orbit) == ("ASCENDING", 64)
    assert percent[-1] == 100.0 and any("Common grid" in m for m in messages)

    # every raster window on the same grid; the geometry from one product only
    geometry = [p for p in prepared.products if p.name == prepared.geometry_product][0]
    assert set(geometry.suffixes) == {
        "unw_phase", "corr", "conncomp", "dem", "lv_theta", "lv_phi", "water_mask"
    }  # fmt: skip
    for product in prepared.products:
        assert product.folder == tmp_path / "work" / "inputs" / product.name
        assert product.conncomp_derived  # GAMMA products have no _conncomp.tif
        assert 0.5 < product.mean_coherence < 1.0 and 0.9 < product.valid_fraction <= 1.0
        for suffix in product.suffixes:
            ds = gdal.Open(str(product.raster(suffix)))
            assert (ds.RasterXSize, ds.RasterYSize) == (stack.truth_grid.width, stack.truth_grid.height)
            assert ds.GetGeoTransform() == stack.geotransform
        assert (product.folder / f"{product.name}.txt").is_file()
        assert not (product.folder / f"{product.name}.README.md.txt").exists()

    # no shift: a pixel keeps its value (same map position) before and after clipping
    valid = np.ones(stack.truth_grid.shape, dtype=bool)
    by_name = {p.name: p for p in prepared.products}
    for path, grid in zip(stack.products, stack.product_grids):
        name = path.stem
        with zipfile.ZipFile(path) as zf:
            zf.extract(f"{name}/{name}_unw_phase.tif", tmp_path / "orig")
        original = _read(tmp_path / "orig" / name / f"{name}_unw_phase.tif")[stack.truth_grid.window_in(grid)]
        clipped = _read(by_name[name].raster("unw_phase"))
        pair = by_name[name].pair
        if pair in stack.unwrap_error_masks:  # its 2 pi error was found by phase closure and taken off
            patch = stack.unwrap_error_masks[pair] & (original != 0)
            assert by_name[name].closure_corrected_px == patch.sum() > 0
            assert np.allclose(clipped[patch], original[patch] - 2 * np.pi, atol=1e-4)
            assert np.array_equal(clipped[~patch], original[~patch])
        else:
            assert np.array_equal(original, clipped) and by_name[name].closure_corrected_px == 0
        valid &= clipped != 0
        # the derived connected components: 1 where the phase is valid, 0 where it is nodata
        conncomp = _read(by_name[name].raster("conncomp"))
        assert conncomp.dtype == np.uint8 and np.array_equal(conncomp, (clipped != 0).astype(np.uint8))
    assert np.array_equal(valid, stack.valid_mask)

    assert "corrected" in prepared.unwrap_correction and len(prepared.closure_corrected) == 1

    # windows, not copies: kilobytes written, no raster file in the work folder but the cycles added to the
    # one corrected interferogram
    written = [f for f in (tmp_path / "work").rglob("*") if f.is_file()]
    assert [f.name for f in written if f.suffix == ".tif"] == [
        f"{prepared.closure_corrected[0].name}.unwrap_cycles.tif"
    ]
    assert sum(f.stat().st_size for f in written) == prepared.bytes_written < 200_000

    # the record of the preparation round-trips
    again = load_prepared(tmp_path / "work")
    assert (
        again.grid == prepared.grid and again.pairs == prepared.pairs and again.products == prepared.products
    )


def test_sidecars_never_reach_mintpy(tmp_path: Path) -> None:
    _small_stack(tmp_path / "products", sidecars="all", n_pairs=8)
    assert list((tmp_path / "products").rglob("*.aux.xml"))
    prepared = prepare_products(tmp_path / "products", tmp_path / "work")
    files = [f for f in (tmp_path / "work" / "inputs").rglob("*") if f.is_file()]
    assert files and all(f.suffix in (".vrt", ".txt") for f in files)
    # QGIS opening a prepared raster later writes a sidecar: the next preparation removes it
    tif = prepared.products[0].raster("unw_phase")
    aux = tif.with_name(tif.name + ".aux.xml")
    aux.write_text("<PAMDataset/>")
    warned: List[str] = []
    again = prepare_products(tmp_path / "products", tmp_path / "work", warn=warned.append)
    assert again.reused and not aux.exists() and any("sidecar" in w for w in warned)


def test_broken_products_are_skipped_and_named(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products", as_zip=True, broken_products=3)
    warned: List[str] = []
    prepared = prepare_products(tmp_path / "products", tmp_path / "work", warn=warned.append)
    broken = {b.path.stem: b.kind for b in stack.broken}
    assert {s.name for s in prepared.skipped} == set(broken)
    reasons = {s.name: s.reason for s in prepared.skipped}
    for name, kind in broken.items():
        assert any(name in w for w in warned)
        expected = {"missing_unw": "missing", "truncated_tif": "truncated", "truncated_zip": "zip"}[kind]
        assert expected in reasons[name], reasons[name]
    assert len(prepared.products) == len(stack.products)


def test_txt_lines_without_colon_are_dropped(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products", n_dates=4, n_pairs=5)
    txt = stack.products[0] / f"{stack.products[0].name}.txt"
    txt.write_text(txt.read_text() + "\n\nfree text without a colon\n")
    prepared = prepare_products(tmp_path / "products", tmp_path / "work")
    copied = prepared.products[0].folder / f"{prepared.products[0].name}.txt"
    assert all(":" in line for line in copied.read_text().splitlines())


def test_duplicates_keep_one_product_per_pair(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products", n_dates=4, n_pairs=5)
    d1, d2 = stack.pairs[0]
    newer = make_product(tmp_path / "products", d1, d2, grid=SMALL, seed=99, as_zip=False)
    os.utime(newer, (time.time() + 100, time.time() + 100))
    # the same product both zipped and unpacked is no duplicate: the unpacked copy is used
    zipped = make_product(tmp_path / "products" / "zips", d1, d2, grid=SMALL, seed=99, as_zip=True)
    assert zipped.stem == newer.name
    warned: List[str] = []
    prepared = prepare_products(tmp_path / "products", tmp_path / "work", warn=warned.append)
    assert len(prepared.products) == 5
    kept = [p for p in prepared.products if p.pair == (d1, d2)]
    assert [p.name for p in kept] == [newer.name] and kept[0].source == newer
    (dup,) = prepared.skipped
    assert dup.name == stack.products[0].name and "duplicate" in dup.reason
    assert any(stack.products[0].name in w and newer.name in w for w in warned)


def test_unsafe_zip_is_refused(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products", as_zip=True, n_dates=4, n_pairs=5)
    d1, d2 = stack.dates[0], stack.dates[3]
    good = make_product(tmp_path / "evil", d1, d2, grid=SMALL, seed=5)
    evil = tmp_path / "products" / good.name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(f"{good.stem}/../../escaped.txt", "x")
        link = zipfile.ZipInfo(f"{good.stem}/{good.stem}_link.tif")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        dst.writestr(link, "/etc/passwd")
    prepared = prepare_products(tmp_path / "products", tmp_path / "work")
    (skipped,) = prepared.skipped
    assert skipped.name == good.stem and "unsafe" in skipped.reason
    assert not (tmp_path / "escaped.txt").exists() and not list(tmp_path.rglob("escaped.txt"))


def test_mixed_utm_zones_are_resampled_to_the_majority(tmp_path: Path) -> None:
    # a scene at the eastern edge of zone 11 (~114.1 W); two products of it come in zone 12
    scene = Grid(epsg=32611, origin_x=760000.0, origin_y=3880000.0, width=40, height=30)
    stack = make_stack(
        tmp_path / "products",
        n_dates=6,
        n_pairs=9,
        grid=scene,
        velocity_mm_yr=10.0,
        noise_rad=0.0,
        unwrap_error_pairs=0,
        as_zip=False,
        seed=1,
    )
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32611)
    dst.ImportFromEPSG(32612)
    tr = osr.CoordinateTransformation(src, dst)
    xmin, ymin, xmax, ymax = scene.bounds
    corners = [tr.TransformPoint(x, y)[:2] for x in (xmin, xmax) for y in (ymin, ymax)]
    x0 = np.floor(min(c[0] for c in corners) / 80.0) * 80.0 - 240.0
    y1 = np.ceil(max(c[1] for c in corners) / 80.0) * 80.0 + 240.0
    width = int(np.ceil((max(c[0] for c in corners) - x0) / 80.0)) + 3
    height = int(np.ceil((y1 - min(c[1] for c in corners)) / 80.0)) + 3
    zone12 = Grid(epsg=32612, origin_x=x0, origin_y=y1, width=width, height=height)
    extra = [(stack.dates[0], stack.dates[3]), (stack.dates[1], stack.dates[4])]
    assert not set(extra) & set(stack.pairs)
    minority = [
        make_product(
            tmp_path / "products", a, b, grid=zone12, velocity_mm_yr=10.0, noise_rad=0.0, seed=7, as_zip=False
        )
        for a, b in extra
    ]
    warned: List[str] = []
    prepared = prepare_products(tmp_path / "products", tmp_path / "work", warn=warned.append)

    assert prepared.grid.epsg == 32611 and len(prepared.products) == 11
    gt = prepared.grid.geotransform
    assert ((gt[0] - scene.origin_x) / 80.0) % 1 == 0 and ((gt[3] - scene.origin_y) / 80.0) % 1 == 0
    assert any("resampled" in w and all(p.name in w for p in minority) for w in warned)
    for folder in minority:
        product = [p for p in prepared.products if p.name == folder.name][0]
        assert product.reprojected
        assert _gt(product.raster("unw_phase")) == gt
        source = _read(folder / f"{folder.name}_unw_phase.tif")
        warped = _read(product.raster("unw_phase"))
        assert (warped != 0).mean() > 0.8  # covers the common grid
        assert set(np.unique(warped[warped != 0])) <= set(np.unique(source[source != 0]))


def test_two_tracks_are_refused(tmp_path: Path) -> None:
    _small_stack(tmp_path / "products", n_dates=5, n_pairs=6)
    for a, b in (("20210105", "20210117"), ("20210117", "20210129")):
        make_product(
            tmp_path / "products",
            a,
            b,
            grid=SMALL,
            relative_orbit=93,
            flight_direction="DESCENDING",
            as_zip=False,
        )
    with pytest.raises(InputError) as err:
        prepare_products(tmp_path / "products", tmp_path / "work")
    message = str(err.value)
    assert "mixes 2 kinds of product" in message and "tracks" in message
    assert (
        "ascending track (relative orbit) 64" in message and "descending track (relative orbit) 93" in message
    )
    odd = message.split("The odd ones out:")[1]
    assert "S1AA_20210105T" in odd and "S1AA_20210117T" in odd and "PRODUCT_KIND" in odd


def test_one_gamma_product_among_bursts_is_refused_by_name(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products", job_type="INSAR_ISCE_BURST", n_dates=6, n_pairs=10)
    d1, d2 = stack.pairs[0]
    # the same pair, track and grid, but another job type: never a silent "duplicate"
    gamma = make_product(tmp_path / "products", d1, d2, grid=SMALL, seed=8, as_zip=True)
    os.utime(gamma, (time.time() + 100, time.time() + 100))  # newer than the burst product
    # and a burst product of another burst id
    other = make_product(
        tmp_path / "products",
        d1,
        d2,
        grid=SMALL,
        seed=9,
        job_type="INSAR_ISCE_BURST",
        burst_id=136999,
        as_zip=False,
    )
    with pytest.raises(InputError) as err:
        prepare_products(tmp_path / "products", tmp_path / "work")
    message = str(err.value)
    odd = message.split("The odd ones out:")[1]
    assert gamma.stem in odd and other.name in odd and stack.products[0].name not in odd
    assert "mixes 3 kinds" in message and "INSAR_GAMMA" in message and "burst 136999_IW2" in message
    assert not (tmp_path / "work" / "inputs").exists()  # nothing prepared

    # PRODUCT_KIND selects one kind: the others are named as skipped, never as duplicates
    warned: List[str] = []
    prepared = prepare_products(
        tmp_path / "products",
        tmp_path / "work",
        product_kind=stack.products[0].name[3:13],
        warn=warned.append,
    )
    assert len(prepared.products) == 10 and {p.job_type for p in prepared.products} == {"INSAR_ISCE_BURST"}
    assert (
        prepared.product_kind.startswith("INSAR_ISCE_BURST/") and "/ASC064/INT80/VV" in prepared.product_kind
    )
    reasons = {s.name: s.reason for s in prepared.skipped}
    assert set(reasons) == {gamma.stem, other.name}
    assert all("another kind" in r and "duplicate" not in r for r in reasons.values())
    assert any(gamma.stem in w and other.name in w for w in warned)
    with pytest.raises(InputError, match="Only 1 usable interferogram"):  # the GAMMA one alone
        prepare_products(tmp_path / "products", tmp_path / "w2", product_kind="insar_gamma")
    with pytest.raises(InputError, match="matches 2 of the kinds"):
        prepare_products(tmp_path / "products", tmp_path / "w3", product_kind="INSAR_ISCE_BURST")
    with pytest.raises(InputError, match="matches none of the kinds"):
        prepare_products(tmp_path / "products", tmp_path / "w3", product_kind="INSAR_ISCE_MULTI_BURST")


def test_empty_folder_single_product_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="No HyP3 InSAR products"):
        prepare_products(tmp_path / "empty", tmp_path / "work")
    with pytest.raises(InputError, match="does not exist"):
        prepare_products(tmp_path / "nowhere", tmp_path / "work")
    make_product(tmp_path / "one", "20200102", "20200114", grid=SMALL)
    with pytest.raises(InputError, match="Only 1 usable interferogram"):
        prepare_products(tmp_path / "one", tmp_path / "work")


def test_disconnected_network_is_refused(tmp_path: Path) -> None:
    day = dt.date(2020, 1, 2)
    for a, b in ((0, 1), (1, 2), (0, 2), (4, 5), (5, 6)):
        make_product(
            tmp_path / "products",
            day + dt.timedelta(12 * a),
            day + dt.timedelta(12 * b),
            grid=SMALL,
            seed=a * 10 + b,
        )
    with pytest.raises(InputError, match="falls apart into 2 groups") as err:
        prepare_products(tmp_path / "products", tmp_path / "work")
    assert "2020-01-02 to 2020-01-26" in str(err.value) and "2020-02-19 to 2020-03-14" in str(err.value)


def test_aoi_and_extent_clip_on_the_lattice(tmp_path: Path) -> None:
    stack = _small_stack(tmp_path / "products")
    truth = stack.truth_grid
    # an extent in the products' CRS on pixel edges: exactly those pixels
    x0, y0 = truth.origin_x + 5 * 80.0, truth.origin_y - 4 * 80.0
    extent = (x0, y0 - 10 * 80.0, x0 + 12 * 80.0, y0, "EPSG:32611")
    prepared = prepare_products(tmp_path / "products", tmp_path / "a", extent=extent)
    assert prepared.grid.geotransform == (x0, 80.0, 0.0, y0, 0.0, -80.0)
    assert prepared.grid.shape == (10, 12)
    product = prepared.products[0]
    full = prepare_products(tmp_path / "products", tmp_path / "full")
    ref = [p for p in full.products if p.name == product.name][0]
    assert np.array_equal(_read(ref.raster("unw_phase"))[4:14, 5:17], _read(product.raster("unw_phase")))

    # an AOI polygon in EPSG:4326: every pixel it touches, still on the lattice
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32611)
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    tr = osr.CoordinateTransformation(src, dst)
    ax0, ay0, ax1, ay1 = x0 + 30.0, y0 - 800.0 + 10.0, x0 + 600.0, y0 - 20.0
    ring = [
        tr.TransformPoint(x, y)[:2] for x, y in ((ax0, ay0), (ax1, ay0), (ax1, ay1), (ax0, ay1), (ax0, ay0))
    ]
    wkt = "POLYGON((" + ", ".join(f"{lon:.9f} {lat:.9f}" for lon, lat in ring) + "))"
    aoi = prepare_products(tmp_path / "products", tmp_path / "b", aoi_wkt_wgs84=wkt)
    xmin, ymin, xmax, ymax = aoi.grid.bounds
    assert xmin <= ax0 and ymin <= ay0 and xmax >= ax1 and ymax >= ay1
    assert xmax - xmin <= (ax1 - ax0) + 3 * 80.0 and ymax - ymin <= (ay1 - ay0) + 3 * 80.0
    assert ((xmin - truth.origin_x) / 80.0) % 1 == 0 and ((ymax - truth.origin_y) / 80.0) % 1 == 0
    for p in aoi.products:
        assert _gt(p.raster("unw_phase")) == aoi.grid.geotransform

    with pytest.raises(InputError, match="does not overlap"):
        prepare_products(tmp_path / "products", tmp_path / "c", extent=(0.0, 0.0, 1.0, 1.0, "EPSG:4326"))


@pytest.mark.parametrize("job_type", ["INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST"])
def test_isce_products(tmp_path: Path, job_type: str) -> None:
    stack = _small_stack(tmp_path / "products", job_type=job_type, n_dates=4, n_pairs=5, as_zip=True)
    prepared = prepare_products(tmp_path / "products", tmp_path / "work")
    assert len(prepared.products) == 5 and prepared.relative_orbit == 64
    assert prepared.grid.geotransform == stack.geotransform
    assert {p.job_type for p in prepared.products} == {job_type}


def test_rerun_reuses_or_replaces_the_clipped_products(tmp_path: Path) -> None:
    # the work folder inside the products folder is never searched
    products = tmp_path / "products"
    stack = _small_stack(products, n_dates=5, n_pairs=7)
    work = products / "work"
    first = prepare_products(products, work)
    tif = first.products[0].raster("unw_phase")
    mtime = tif.stat().st_mtime_ns
    second = prepare_products(products, work)
    assert second.reused and len(second.products) == 7 and tif.stat().st_mtime_ns == mtime
    assert second.fingerprint == first.fingerprint

    # MintPy loaded the old products; new products make that stack stale
    stale = work / "inputs" / "ifgramStack.h5"
    stale.write_bytes(b"old")
    make_product(products, stack.dates[0], stack.dates[4], grid=SMALL, seed=42, as_zip=False)
    third = prepare_products(products, work)
    assert not third.reused and len(third.products) == 8 and not stale.exists()

    # an AOI changes the grid: replaced too
    x0, y0 = stack.truth_grid.origin_x, stack.truth_grid.origin_y
    fourth = prepare_products(products, work, extent=(x0, y0 - 800.0, x0 + 800.0, y0, "EPSG:32611"))
    assert not fourth.reused and fourth.grid.shape == (10, 10)
    assert _gt(fourth.products[0].raster("corr")) == fourth.grid.geotransform


def test_cancel_stops_the_preparation(tmp_path: Path) -> None:
    _small_stack(tmp_path / "products", n_dates=4, n_pairs=5)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(CancelledError):
        prepare_products(tmp_path / "products", tmp_path / "work", is_cancelled=cancel)
    assert not (tmp_path / "work" / "insarhub_prepared.json").exists()


def test_find_products_layouts(tmp_path: Path) -> None:
    a = make_product(tmp_path / "in" / "stack1", "20200102", "20200114", grid=SMALL, as_zip=True)
    b = make_product(tmp_path / "in", "20200114", "20200126", grid=SMALL, as_zip=False)
    # loose files of a product in a shared folder
    c = make_product(tmp_path / "tmp", "20200126", "20200207", grid=SMALL, as_zip=False)
    (tmp_path / "in" / "flat").mkdir()
    for f in c.iterdir():
        f.rename(tmp_path / "in" / "flat" / f.name)
    found = {(cand.name, cand.is_zip) for cand in find_products(tmp_path / "in")}
    assert found == {(a.stem, True), (b.name, False), (c.name, False)}


# -------------------------------------------------------------------------------------- config
@pytest.fixture(scope="module")
def prepared_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cfg")
    stack = make_stack(
        tmp / "products", n_dates=6, n_pairs=10, grid=Grid(width=60, height=45), seed=4, as_zip=False
    )
    return stack, prepare_products(tmp / "products", tmp / "work")


def test_config_defaults(prepared_stack, tmp_path: Path) -> None:
    stack, prepared = prepared_stack
    path = write_config(prepared, tmp_path, reference_yx=stack.reference_yx)
    assert path == tmp_path / CONFIG_NAME
    cfg = read_cfg(path)
    assert cfg["mintpy.load.processor"] == "hyp3"
    assert cfg["mintpy.load.unwFile"] == "inputs/*/*_unw_phase.vrt"
    assert cfg["mintpy.load.corFile"] == "inputs/*/*_corr.vrt"
    # no bridging here (the derived components are one piece): MintPy need not load them
    assert cfg["mintpy.unwrapError.method"] == "no" and cfg["mintpy.load.connCompFile"] == "no"
    assert prepared.load_globs()["mintpy.load.connCompFile"] == "inputs/*/*_conncomp.vrt"
    assert cfg["mintpy.load.demFile"] == "inputs/*/*_dem.vrt"
    assert cfg["mintpy.load.incAngleFile"] == "inputs/*/*_lv_theta.vrt"
    assert cfg["mintpy.load.azAngleFile"] == "inputs/*/*_lv_phi.vrt"
    assert cfg["mintpy.load.waterMaskFile"] == "inputs/*/*_water_mask.vrt"
    for key in (
        "troposphericDelay.method",
        "deramp",
        "topographicResidual",
        "plot",
        "save.kmz",
        "save.hdfEos5",
    ):
        assert cfg[f"mintpy.{key}"] == "no", key
    assert cfg["mintpy.compute.cluster"] == "none" and "mintpy.compute.numWorker" not in cfg
    assert cfg["mintpy.reference.yx"] == "{},{}".format(*stack.reference_yx)


def _fake_prepared(prepared, n_dates: int, bperp, interval_days: int = 12):
    """``prepared`` with another network: ``n_dates`` dates, each linked to the next two, baselines
    ``bperp(k)`` (m) per date - only what :func:`decide` reads."""
    import dataclasses

    from insarhub_qgis.core.timeseries.prepare import PreparedProduct

    dates = [dt.date(2020, 1, 2) + dt.timedelta(days=interval_days * k) for k in range(n_dates)]
    template = prepared.products[0]
    products = [
        dataclasses.replace(
            template,
            name=f"P{i}_{j}",
            reference_date=dates[i],
            secondary_date=dates[j],
            perp_baseline_m=float(bperp(j) - bperp(i)),
        )
        for i in range(n_dates)
        for j in (i + 1, i + 2)
        if j < n_dates
    ]
    assert all(isinstance(p, PreparedProduct) for p in products)
    return dataclasses.replace(prepared, products=products, dates=dates, pairs=[q.pair for q in products])


def test_corrections_are_decided_from_the_stack(prepared_stack) -> None:
    from insarhub_qgis.core.timeseries.science import decide, science_config

    _, prepared = prepared_stack
    rng = np.random.default_rng(0)
    spread = {k: float(rng.normal(0, 50)) for k in range(40)}

    few = decide(prepared)  # 6 dates
    assert not few.dem_error and "only 6 dates" in few.notes["dem_error"]
    good = decide(_fake_prepared(prepared, 30, spread.get))
    assert good.dem_error and "on (30 dates" in good.notes["dem_error"]
    assert science_config(good)["mintpy.topographicResidual"] == "yes"
    narrow = decide(_fake_prepared(prepared, 30, lambda k: 0.1 * spread[k]))
    assert not narrow.dem_error and "spread by only" in narrow.notes["dem_error"]
    drifting = decide(_fake_prepared(prepared, 30, lambda k: 4.0 * k))
    assert not drifting.dem_error and "follow time" in drifting.notes["dem_error"]
    forced = decide(_fake_prepared(prepared, 30, lambda k: 4.0 * k), dem_error_correction="yes")
    assert (
        forced.dem_error
        and "as asked" in forced.notes["dem_error"]
        and "follow time" in forced.notes["dem_error"]
    )

    assert not good.annual and "spans 1.0 years" in good.notes["annual"]
    assert science_config(good)["mintpy.timeFunc.periodic"] == "no"
    long = decide(_fake_prepared(prepared, 34, spread.get, interval_days=24))
    assert long.annual and science_config(long)["mintpy.timeFunc.periodic"] == "1.0"
    assert decide(prepared, annual_term="yes").annual
    assert science_config(good)["mintpy.reference.date"] == "no"  # displacement starts at 0 on the first date

    memory = float(science_config(good)["mintpy.compute.maxMemory"])
    assert memory in (1, 2, 4, 8, 16, 32) and good.cores >= 1 and "GB" in good.notes["machine"]
    with pytest.raises(InputError, match="ANNUAL_TERM must be one of"):
        decide(prepared, annual_term="sometimes")


def test_unwrap_correction_without_connected_components_says_what_to_do(
    prepared_stack, tmp_path: Path
) -> None:
    _, prepared = prepared_stack
    user = tmp_path / "user.cfg"
    user.write_text("mintpy.load.connCompFile = no\nmintpy.unwrapError.method = bridging\n")
    with pytest.raises(InputError, match="needs MintPy's connectComponent dataset") as err:
        write_config(prepared, tmp_path, user_cfg_path=user)
    assert "mintpy.unwrapError.method = no" in str(err.value)
    # the user's own choices are what the GeoTIFF metadata reports
    user.write_text("mintpy.topographicResidual = no\n")
    write_config(prepared, tmp_path, user_cfg_path=user)
    from insarhub_qgis.core.timeseries.science import Science

    science = Science.load(tmp_path)
    assert (
        science is not None and not science.dem_error and "your configuration" in science.notes["dem_error"]
    )


def test_config_cluster_and_user_overrides(prepared_stack, tmp_path: Path) -> None:
    _, prepared = prepared_stack
    local = read_cfg(
        write_config(prepared, tmp_path, reference_yx=(3, 3), compute_cluster="local", workers=1)
    )
    assert local["mintpy.compute.cluster"] == "local" and local["mintpy.compute.numWorker"] == "1"
    messages: List[str] = []
    slurm = read_cfg(
        write_config(
            prepared, tmp_path, reference_yx=(3, 3), compute_cluster="SLURM", workers=12, log=messages.append
        )
    )
    assert slurm["mintpy.compute.cluster"] == "slurm" and slurm["mintpy.compute.numWorker"] == "12"
    assert slurm["mintpy.compute.config"] == "auto" and any("dask-jobqueue" in m for m in messages)
    pbs = read_cfg(
        write_config(prepared, tmp_path, reference_yx=(3, 3), compute_cluster="pbs", compute_config="mypbs")
    )
    assert pbs["mintpy.compute.config"] == "mypbs" and pbs["mintpy.compute.numWorker"] == "auto"
    with pytest.raises(InputError, match="COMPUTE_CLUSTER"):
        write_config(prepared, tmp_path, reference_yx=(3, 3), compute_cluster="lsf")
    with pytest.raises(InputError, match="WORKERS"):
        write_config(prepared, tmp_path, reference_yx=(3, 3), compute_cluster="local", workers=0)

    user = tmp_path / "mine.cfg"
    user.write_text(
        textwrap.dedent(
            """\
            # my settings
            mintpy.topographicResidual = yes   # DEM error correction
            mintpy.networkInversion.minTempCoh = 0.6
            mintpy.reference.lalo = 35.05, -117.6
            """
        )
    )
    messages.clear()
    cfg = read_cfg(write_config(prepared, tmp_path, user_cfg_path=user, log=messages.append))
    assert cfg["mintpy.topographicResidual"] == "yes"
    assert cfg["mintpy.networkInversion.minTempCoh"] == "0.6"
    assert cfg["mintpy.reference.lalo"] == "35.05, -117.6" and "mintpy.reference.yx" not in cfg
    assert any("mintpy.topographicResidual = yes (instead of no)" in m for m in messages)
    with pytest.raises(InputError, match="does not exist"):
        write_config(prepared, tmp_path, user_cfg_path=tmp_path / "missing.cfg")


def test_tropospheric_correction_needs_cds_credentials(prepared_stack, tmp_path: Path) -> None:
    _, prepared = prepared_stack
    with pytest.raises(ConfigurationError, match="cdsapirc"):
        write_config(
            prepared,
            tmp_path,
            reference_yx=(3, 3),
            tropospheric_correction=True,
            environ={"HOME": str(tmp_path)},
        )
    (tmp_path / ".cdsapirc").write_text("url: https://cds.climate.copernicus.eu/api\nkey: 0000\n")
    messages: List[str] = []
    cfg = read_cfg(
        write_config(
            prepared,
            tmp_path,
            reference_yx=(3, 3),
            tropospheric_correction=True,
            environ={"HOME": str(tmp_path)},
            log=messages.append,
        )
    )
    assert cfg["mintpy.troposphericDelay.method"] == "pyaps"
    assert cfg["mintpy.troposphericDelay.weatherModel"] == "ERA5"
    assert any("internet" in m for m in messages)


def test_reference_point_conversion(prepared_stack, tmp_path: Path) -> None:
    stack, prepared = prepared_stack
    x, y = stack.reference_xy
    assert reference_from_point(prepared, x, y, "EPSG:32611") == stack.reference_yx
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32611)
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lon, lat = osr.CoordinateTransformation(src, dst).TransformPoint(x, y)[:2]
    assert reference_from_point(prepared, lon, lat, "EPSG:4326") == stack.reference_yx
    cfg = read_cfg(write_config(prepared, tmp_path, reference_point=(lon, lat, "EPSG:4326")))
    assert cfg["mintpy.reference.yx"] == "{},{}".format(*stack.reference_yx)
    with pytest.raises(InputError, match="outside the processed area"):
        reference_from_point(prepared, 10.0, 50.0, "EPSG:4326")
    # the nodata corner of the swath
    corner_x, corner_y = prepared.grid.xy_of(prepared.grid.height - 1, 0)
    with pytest.raises(InputError, match="no data"):
        reference_from_point(prepared, corner_x, corner_y, "EPSG:32611")


def test_choose_reference_is_deterministic_and_coherent(prepared_stack) -> None:
    stack, prepared = prepared_stack
    messages: List[str] = []
    row, col = choose_reference(prepared, log=messages.append)
    assert (row, col) == choose_reference(prepared)
    rows, cols = prepared.grid.shape
    assert 2 <= row < rows - 2 and 2 <= col < cols - 2
    assert stack.valid_mask[row, col] and not stack.low_coherence_mask[row, col]
    # on stable ground: outside the subsidence bowl, among the slowest half of the scene
    speed = np.abs(stack.truth_velocity_mm_yr)
    assert speed[row, col] <= np.percentile(speed[stack.valid_mask], 50)
    for product in prepared.products:
        assert _read(product.raster("unw_phase"))[row, col] != 0
    assert messages and f"row {row}, column {col}" in messages[0]


# ------------------------------------------------------------------------------------------ run
FAKE_APP = """\
import os, subprocess, sys, time
mode = os.environ["FAKE_MODE"]
if mode == "nomintpy":
    print("/usr/bin/python: Error while finding module specification for 'mintpy.cli.smallbaselineApp' "
          "(ModuleNotFoundError: No module named 'mintpy')", file=sys.stderr)
    sys.exit(1)
steps = ["load_data", "modify_network", "reference_point", "invert_network", "velocity"]
print("Run routine processing with smallbaselineApp.py on steps: " + repr(steps), flush=True)
for step in steps:
    print("\\n\\n******************** step - " + step + " ********************", flush=True)
    print("working on " + step, flush=True)
    if step == "invert_network":
        for pct in (10, 50, 100):
            sys.stdout.write("\\r[====      " + str(pct) + "%      ] 3/30 ifgrams")
            sys.stdout.flush()
        print(" ")
        if mode == "fail":
            print("Traceback (most recent call last):", file=sys.stderr)
            print('  File "ifgram_inversion.py", line 1, in <module>', file=sys.stderr)
            print("ValueError: input reference point is OUT of data coverage!", file=sys.stderr, flush=True)
            sys.exit(1)
        if mode == "hang":
            # a dask-like worker tree: a child that starts its own child
            subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                              "time.sleep(120)"])
            open(os.environ["FAKE_READY"], "w").write("ready")
            time.sleep(120)
print("Normal end of smallbaselineApp processing!", flush=True)
"""


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """An 'interpreter' that plays smallbaselineApp whatever its arguments."""
    script = tmp_path / "fake_app.py"
    script.write_text(FAKE_APP)
    exe = tmp_path / "fakepython"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    exe.chmod(0o755)
    return exe


def _run(fake_python: Path, tmp_path: Path, mode: str, **kwargs):
    cfg = tmp_path / CONFIG_NAME
    cfg.write_text("mintpy.load.processor = hyp3\n")
    env = {**os.environ, "FAKE_MODE": mode, "FAKE_READY": str(tmp_path / "ready")}
    return run_smallbaseline(cfg, tmp_path / "work", str(fake_python), env=env, poll_s=0.05, **kwargs)


def test_run_reports_steps_and_writes_the_log(fake_python: Path, tmp_path: Path) -> None:
    steps: List[tuple] = []
    lines: List[str] = []
    percent: List[float] = []
    result = _run(
        fake_python,
        tmp_path,
        "ok",
        log=lines.append,
        progress=lambda i, n, s: steps.append((i, n, s)),
        progress_percent=percent.append,
    )
    assert steps == [
        (0, 5, "load_data"),
        (1, 5, "modify_network"),
        (2, 5, "reference_point"),
        (3, 5, "invert_network"),
        (4, 5, "velocity"),
    ]
    assert result.steps == [s for _, _, s in steps] and result.returncode == 0
    assert "working on velocity" in lines and all(line.strip() for line in lines)
    assert len([line for line in lines if "%" in line]) == 1  # a progress bar's final state only
    assert 60.0 < max(p for p in percent if p < 100.0) <= 80.0 and percent[-1] == 100.0  # bar in step 4 of 5
    log_text = result.log_path.read_text()
    assert result.log_path == tmp_path / "work" / "mintpy.log" and "Normal end" in log_text
    _run(fake_python, tmp_path, "ok")
    assert (tmp_path / "work" / "mintpy.log.1").is_file()


def test_run_failure_names_the_step_and_quotes_the_log(fake_python: Path, tmp_path: Path) -> None:
    with pytest.raises(MintpyRunError) as err:
        _run(fake_python, tmp_path, "fail")
    assert err.value.step == "invert_network" and err.value.returncode == 1
    message = str(err.value)
    assert "step 'invert_network'" in message and "OUT of data coverage" in message
    assert "mintpy.log" in message and "working on invert_network" in message
    assert len(err.value.log_tail) <= 20


def test_run_without_mintpy(fake_python: Path, tmp_path: Path) -> None:
    with pytest.raises(MintpyNotFoundError, match="has no MintPy"):
        _run(fake_python, tmp_path, "nomintpy")
    with pytest.raises(MintpyNotFoundError, match="does not exist"):
        run_smallbaseline(tmp_path / "x.cfg", tmp_path, str(tmp_path / "no-python"))


def test_cancel_kills_the_whole_tree(fake_python: Path, tmp_path: Path) -> None:
    seen: Dict[str, List[int]] = {}
    # Children this test process already had are not MintPy's (on Python 3.14 multiprocessing's
    # forkserver, started by an earlier test, lives as long as the session).
    before = set(descendants(os.getpid()))

    def cancel() -> bool:
        if (tmp_path / "ready").exists():
            time.sleep(0.3)  # let the grandchild start
            seen["tree"] = [pid for pid in descendants(os.getpid()) if pid not in before]
            return True
        return False

    started = time.monotonic()
    with pytest.raises(CancelledError, match="invert_network"):
        _run(fake_python, tmp_path, "hang", is_cancelled=cancel)
    assert time.monotonic() - started < 30
    assert len(seen["tree"]) >= 3  # the app, its worker and the worker's child
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(pid) for pid in seen["tree"]):
        time.sleep(0.1)
    assert not [pid for pid in seen["tree"] if _running(pid)]


def _running(pid: int) -> bool:
    if not pid_exists(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_mintpy_environment_drops_the_callers_python() -> None:
    env = mintpy_environment(
        sys.executable, {"PYTHONPATH": "/qgis/python", "PYTHONHOME": "/qgis", "PATH": "/bin"}
    )
    assert "PYTHONPATH" not in env and "PYTHONHOME" not in env
    assert env["MPLBACKEND"] == "Agg" and env["PATH"] == "/bin" and env["PYTHONUNBUFFERED"] == "1"


# --------------------------------------------------------------------------------------- export
@pytest.mark.parametrize(
    "cfg, expected",
    [
        ("mintpy.topographicResidual = no\nmintpy.troposphericDelay.method = no\n", "timeseries.h5"),
        ("mintpy.topographicResidual = auto\nmintpy.troposphericDelay.method = no\n", "timeseries_demErr.h5"),
        (
            "mintpy.troposphericDelay.method = auto\nmintpy.deramp = linear\n",
            "timeseries_ERA5_ramp_demErr.h5",
        ),
        (
            "mintpy.troposphericDelay.method = height_correlation\nmintpy.topographicResidual = no\n",
            "timeseries_tropHgt.h5",
        ),
    ],
)
def test_final_timeseries_follows_the_enabled_corrections(tmp_path: Path, cfg: str, expected: str) -> None:
    (tmp_path / "smallbaselineApp.cfg").write_text(cfg)
    for name in ("timeseries.h5", expected):
        (tmp_path / name).write_bytes(b"")
    assert final_timeseries_file(tmp_path) == tmp_path / expected
