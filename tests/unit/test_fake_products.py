"""Tests of the synthetic HyP3 product maker (``tests/fakes/products.py``).

The fast tests check the products against the real HyP3 metadata files in ``tests/fixtures/hyp3`` and against
MintPy's own HyP3 parser; the slow test runs MintPy's ``smallbaselineApp.py`` on a synthetic stack (as a
subprocess) and compares the velocity it recovers with the truth.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from fakes.products import (
    JOB_TYPES,
    NAME_PATTERNS,
    TXT_KEYS,
    WAVELENGTH_M,
    Grid,
    absolute_orbit,
    build_network,
    common_overlap,
    decimal_year,
    gaussian_bowl,
    make_product,
    make_stack,
    parse_product_name,
    valid_swath_mask,
)
from osgeo import gdal, osr

gdal.UseExceptions()

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "hyp3"
FIXTURE_BY_JOB = {
    "INSAR_GAMMA": "S1AC_20251001T204513_20251007T204359_HHR006_INT40_G_ueF_1DBE.txt",
    "INSAR_ISCE_BURST": "S1_056072_IW2_20220814_20220907_VV_INT80_E09B.txt",
    "INSAR_ISCE_MULTI_BURST": "S1_044_000000s1n00-093117s2n01-093118s3n01_IW_20250718_20250730_VV_INT80_B4FA.txt",
}
# Files MintPy's HyP3 loader (and the plugin) reads from every product.
MINTPY_SUFFIXES = ["unw_phase", "corr", "dem", "lv_theta", "lv_phi", "water_mask"]


def _read_txt(path: Path) -> Dict[str, str]:
    meta: Dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, value = line.split(": ", 1)
        meta[key] = value
    return meta


def _unzip(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest / zip_path.stem


# ----------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_fixture_names_match_patterns(job_type: str) -> None:
    stem = Path(FIXTURE_BY_JOB[job_type]).stem
    assert re.match(NAME_PATTERNS[job_type], stem)
    assert parse_product_name(stem).job_type == job_type


@pytest.mark.parametrize("job_type", JOB_TYPES)
@pytest.mark.parametrize("pixel_size", [80.0, 40.0])
def test_product_name_parses_like_the_fixtures(tmp_path: Path, job_type: str, pixel_size: float) -> None:
    grid = Grid(pixel_size=pixel_size, width=20, height=16)
    path = make_product(tmp_path, "20200102", "20200126", job_type=job_type, grid=grid, seed=3)
    name = path.stem
    assert path.suffix == ".zip"
    m = re.match(NAME_PATTERNS[job_type], name)
    assert m, name
    parsed = parse_product_name(path.name)
    assert (parsed.job_type, parsed.reference_date, parsed.secondary_date) == (
        job_type,
        dt.date(2020, 1, 2),
        dt.date(2020, 1, 26),
    )
    assert parsed.pixel_size == int(pixel_size)
    assert f"_INT{int(pixel_size)}_" in name
    if job_type == "INSAR_GAMMA":
        assert name.startswith("S1AA_20200102T")
        assert m.group("days") == "024" and m.group("pol") == "VV" and m.group("orbit") == "P"
        assert name.split("_")[-2] == "ueF"

    # MintPy's own parser agrees (it matches from the start of any file name)
    prep_hyp3 = pytest.importorskip("mintpy.prep_hyp3")
    assert prep_hyp3._get_product_name_and_type(f"{name}_unw_phase_clip.tif") == (name, job_type)


def test_names_are_unique_per_seed(tmp_path: Path) -> None:
    grid = Grid(width=10, height=8)
    a = make_product(tmp_path / "a", "20200102", "20200114", grid=grid, seed=1)
    b = make_product(tmp_path / "b", "20200102", "20200114", grid=grid, seed=2)
    assert a.name != b.name


# -------------------------------------------------------------------------------------- metadata
@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_txt_has_the_fixture_keys_in_order(tmp_path: Path, job_type: str) -> None:
    fixture = FIXTURES / FIXTURE_BY_JOB[job_type]
    fixture_keys = [line.split(":", 1)[0] for line in fixture.read_text().splitlines()]
    assert TXT_KEYS[job_type] == fixture_keys

    folder = make_product(
        tmp_path,
        "20200102",
        "20200126",
        job_type=job_type,
        grid=Grid(width=20, height=16),
        perp_baseline_m=-73.25,
        as_zip=False,
    )
    txt = folder / f"{folder.name}.txt"
    text = txt.read_text()
    assert text.endswith("\n") and "\n\n" not in text
    lines = text.splitlines()
    assert all(": " in line for line in lines)
    assert [line.split(": ", 1)[0] for line in lines] == fixture_keys


@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_txt_values_are_consistent_with_the_product(tmp_path: Path, job_type: str) -> None:
    grid = Grid(epsg=32733, origin_x=300000.0, origin_y=8900000.0, width=20, height=16)  # southern hemisphere
    folder = make_product(
        tmp_path,
        dt.date(2021, 3, 5),
        dt.date(2021, 3, 29),
        job_type=job_type,
        grid=grid,
        perp_baseline_m=-73.25,
        relative_orbit=99,
        flight_direction="DESCENDING",
        as_zip=False,
    )
    meta = _read_txt(folder / f"{folder.name}.txt")
    assert float(meta["Baseline"]) == pytest.approx(-73.25, abs=1e-4)
    assert meta["Reference Pass Direction"] == meta["Secondary Pass Direction"] == "DESCENDING"
    assert abs(float(meta["Heading"])) > 90
    assert "20210305T" in meta["Reference Granule"] and "20210329T" in meta["Secondary Granule"]
    rlooks, alooks = int(meta["Range looks"]), int(meta["Azimuth looks"])
    assert (rlooks, alooks) == (20, 4)
    if job_type == "INSAR_GAMMA":
        ref = meta["Reference Granule"]
        assert re.match(
            r"^S1A_IW_SLC__1SDV_20210305T\d{6}_20210305T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}$", ref
        )
        assert int(meta["Resolution of output (m)"]) == 80
        # MintPy derives the relative orbit from the absolute one
        assert (int(meta["Reference Orbit Number"]) - 73) % 175 + 1 == 99
        x = float(meta["X coordinate of the reference point in the map projection"])
        y = float(meta["Y coordinate of the reference point in the map projection"])
        xmin, ymin, xmax, ymax = grid.bounds
        assert xmin < x < xmax and ymin < y < ymax
        assert float(meta["Latitude of the reference point (WGS84)"]) < 0  # zone 33S
    elif job_type == "INSAR_ISCE_BURST":
        assert meta["Reference Granule"].endswith("-BURST")
        assert meta["Radar sensing stop"].startswith("2021-03-05T")
    else:
        assert len(meta["Reference Granule"].split(", ")) == 2

    # MintPy's own reader turns it into the attributes it needs
    prep_hyp3 = pytest.importorskip("mintpy.prep_hyp3")
    readfile = pytest.importorskip("mintpy.utils.readfile")
    unw = folder / f"{folder.name}_unw_phase.tif"
    atr = prep_hyp3.add_hyp3_metadata(str(unw), readfile.read_gdal_vrt(str(unw)), is_ifg=True)
    assert atr["DATE12"] == "210305-210329"
    assert float(atr["P_BASELINE_TOP_HDR"]) == pytest.approx(-73.25, abs=1e-4)
    assert atr["ORBIT_DIRECTION"] == "DESCENDING"
    assert atr["UTM_ZONE"] == "33S" and str(atr["EPSG"]) == "32733"
    assert float(atr["WAVELENGTH"]) == pytest.approx(WAVELENGTH_M)
    if job_type == "INSAR_GAMMA":
        assert atr["relative_orbit"] == 99


def test_absolute_orbit_maps_back_to_relative_orbit() -> None:
    when = dt.datetime(2023, 7, 1, 5, 0, 0)
    for rel in (1, 64, 175):
        assert (absolute_orbit("A", when, rel) - 73) % 175 + 1 == rel
        assert (absolute_orbit("B", when, rel) - 202) % 175 + 1 == rel


# ------------------------------------------------------------------------------ zip and rasters
@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_zip_has_one_top_folder_named_like_the_zip(tmp_path: Path, job_type: str) -> None:
    path = make_product(tmp_path, "20200102", "20200114", job_type=job_type, grid=Grid(width=12, height=10))
    assert not (tmp_path / path.stem).exists()  # only the zip is left
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert {n.split("/")[0] for n in names} == {path.stem}
    files = {n.split("/", 1)[1] for n in names}
    for suffix in MINTPY_SUFFIXES + ["wrapped_phase"]:
        assert f"{path.stem}_{suffix}.tif" in files
    assert f"{path.stem}.txt" in files


def test_gamma_optional_files_follow_the_job_options(tmp_path: Path) -> None:
    folder = make_product(
        tmp_path,
        "20200102",
        "20200114",
        grid=Grid(width=12, height=10),
        include_dem=False,
        include_look_vectors=False,
        include_wrapped_phase=False,
        include_inc_map=True,
        apply_water_mask=True,
        as_zip=False,
    )
    suffixes = {p.name[len(folder.name) + 1 :] for p in folder.glob("*.tif")}
    assert suffixes == {"unw_phase.tif", "corr.tif", "water_mask.tif", "amp.tif", "inc_map.tif"}
    assert folder.name.split("_")[-2] == "weF"


def test_geotiffs_are_on_the_grid_with_hyp3_nodata(tmp_path: Path) -> None:
    grid = Grid(epsg=32632, pixel_size=40.0, origin_x=600000.0, origin_y=5100000.0, width=30, height=24)
    folder = make_product(tmp_path, "20200102", "20200114", grid=grid, as_zip=False, nodata_collar_px=3)
    valid = valid_swath_mask(grid, 3)
    assert not valid.all() and valid.mean() > 0.8
    for suffix in MINTPY_SUFFIXES + ["wrapped_phase", "amp"]:
        ds = gdal.Open(str(folder / f"{folder.name}_{suffix}.tif"))
        assert ds.GetGeoTransform() == pytest.approx(grid.geotransform)
        srs = osr.SpatialReference(wkt=ds.GetProjection())
        assert srs.GetAuthorityCode(None) == "32632"
        band = ds.GetRasterBand(1)
        data = band.ReadAsArray()
        if suffix == "water_mask":
            assert band.DataType == gdal.GDT_Byte
            assert set(np.unique(data)) <= {0, 1}
            continue
        assert band.DataType == gdal.GDT_Float32
        assert band.GetNoDataValue() == 0.0
        assert np.all(data[~valid] == 0.0)
        assert np.all(data[valid] != 0.0)
    corr = gdal.Open(str(folder / f"{folder.name}_corr.tif")).ReadAsArray()[valid]
    assert 0.3 <= corr.min() and corr.max() <= 0.95 and (corr < 0.4).mean() > 0.02
    theta = gdal.Open(str(folder / f"{folder.name}_lv_theta.tif")).ReadAsArray()[valid]
    assert np.degrees(theta).min() > 45 and np.degrees(theta).max() < 55  # incidence ~37-39 deg


@pytest.mark.parametrize("velocity", [10.0, -25.0])
def test_phase_sign_matches_mintpy(tmp_path: Path, velocity: float) -> None:
    """MintPy: displacement = -phase * wavelength / (4 pi), positive towards the satellite."""
    grid = Grid(width=12, height=10)
    folder = make_product(
        tmp_path, "20200102", "20200219", grid=grid, velocity_mm_yr=velocity, noise_rad=0.0, as_zip=False
    )
    phase = gdal.Open(str(folder / f"{folder.name}_unw_phase.tif")).ReadAsArray()
    valid = valid_swath_mask(grid, 2)
    disp_mm = -phase[valid] * WAVELENGTH_M / (4 * math.pi) * 1000
    years = decimal_year(dt.date(2020, 2, 19)) - decimal_year(dt.date(2020, 1, 2))
    assert np.allclose(disp_mm, velocity * years, atol=1e-4)
    wrapped = gdal.Open(str(folder / f"{folder.name}_wrapped_phase.tif")).ReadAsArray()[valid]
    assert np.allclose(np.exp(1j * wrapped), np.exp(1j * phase[valid]), atol=1e-4)


def test_unwrap_error_is_a_2pi_jump_in_a_patch(tmp_path: Path) -> None:
    grid = Grid(width=40, height=30)
    kw = dict(grid=grid, seed=7, as_zip=False)
    good = make_product(tmp_path / "good", "20200102", "20200114", **kw)
    bad = make_product(tmp_path / "bad", "20200102", "20200114", unwrap_error=True, **kw)
    a = gdal.Open(str(good / f"{good.name}_unw_phase.tif")).ReadAsArray()
    b = gdal.Open(str(bad / f"{bad.name}_unw_phase.tif")).ReadAsArray()
    jump = np.round((b - a) / (2 * math.pi), 3)
    assert set(np.unique(jump)) == {0.0, 1.0}
    assert 0.01 < (jump == 1).mean() < 0.1


def test_sidecars(tmp_path: Path) -> None:
    grid = Grid(width=12, height=10)
    qgis = make_product(tmp_path / "q", "20200102", "20200114", grid=grid, sidecars=True, as_zip=False)
    unw = qgis / f"{qgis.name}_unw_phase.tif"
    aux = unw.with_name(unw.name + ".aux.xml")
    assert "<PAMDataset>" in aux.read_text() and "STATISTICS_MEAN" in aux.read_text()
    assert not unw.with_name(unw.name + ".xml").exists()
    every = make_product(tmp_path / "a", "20200102", "20200114", grid=grid, sidecars="all")
    with zipfile.ZipFile(every) as zf:
        names = zf.namelist()
    assert any(n.endswith("_unw_phase.tif.xml") for n in names)
    assert any(n.endswith("_unw_phase.tif.aux.xml") for n in names)


# ------------------------------------------------------------------------------------ grids/stack
def test_common_overlap_of_shifted_grids() -> None:
    base = Grid(width=50, height=40)
    a = base.shifted(2, -1, 0, 3)
    b = base.shifted(-1, 2, -2, 0)
    overlap = common_overlap([base, a, b])
    assert overlap.origin_x == base.origin_x + 2 * base.pixel_size
    assert overlap.origin_y == base.origin_y - 2 * base.pixel_size
    assert overlap.bounds[2] == min(g.bounds[2] for g in (base, a, b))
    assert overlap.bounds[1] == max(g.bounds[1] for g in (base, a, b))
    for g in (base, a, b):
        rows, cols = overlap.window_in(g)
        assert rows.stop - rows.start == overlap.height and cols.stop - cols.start == overlap.width
    with pytest.raises(ValueError, match="lattice"):
        common_overlap([base, Grid(origin_x=base.origin_x + 10.0)])
    with pytest.raises(ValueError):
        Grid(epsg=4326)


def test_network_is_connected_with_two_or_three_neighbours() -> None:
    dates = [dt.date(2020, 1, 2) + dt.timedelta(days=12 * k) for k in range(15)]
    pairs = build_network(dates, 30)
    assert len(pairs) == len(set(pairs)) == 30
    assert all(a < b for a, b in pairs)
    for i, d in enumerate(dates[:-2]):
        later = sorted(b for a, b in pairs if a == d)
        assert later[:2] == dates[i + 1 : i + 3] and len(later) <= 3
    # connected: union-find over the dates
    parent = {d: d for d in dates}

    def find(d: dt.date) -> dt.date:
        while parent[d] != d:
            d = parent[d]
        return d

    for a, b in pairs:
        parent[find(a)] = find(b)
    assert len({find(d) for d in dates}) == 1


def _readable(product: Path) -> bool:
    """What a loader has to check before handing a product to MintPy."""
    try:
        if product.suffix == ".zip":
            with zipfile.ZipFile(product) as zf:
                if zf.testzip() is not None:
                    return False
                names = zf.namelist()
                tifs = {n.rsplit("/", 1)[-1]: zf.read(n) for n in names if n.endswith(".tif")}
        else:
            tifs = {p.name: p.read_bytes() for p in product.glob("*.tif")}
        if f"{product.stem}_unw_phase.tif" not in tifs:
            return False
        for name, data in tifs.items():
            vsi = f"/vsimem/check_{name}"
            gdal.FileFromMemBuffer(vsi, data)
            try:
                gdal.Open(vsi).ReadAsArray()
            finally:
                gdal.Unlink(vsi)
    except (zipfile.BadZipFile, RuntimeError, OSError):
        return False
    return True


def test_stack_products_grids_and_truth(tmp_path: Path) -> None:
    velocity = gaussian_bowl(Grid(width=40, height=30), amplitude_mm_yr=-20.0)
    stack = make_stack(
        tmp_path,
        n_dates=6,
        n_pairs=10,
        grid=Grid(width=40, height=30),
        velocity_mm_yr=velocity,
        seed=5,
        broken_products=3,
    )
    assert len(stack.products) == len(stack.pairs) == len(stack.product_grids) == 10
    assert len(stack.unwrap_error_pairs) == 1 and stack.unwrap_error_pairs[0] in stack.pairs
    assert [b.kind for b in stack.broken] == ["missing_unw", "truncated_tif", "truncated_zip"]
    assert not {b.pair for b in stack.broken} & set(stack.pairs)
    assert all(_readable(p) for p in stack.products)
    assert not any(_readable(b.path) for b in stack.broken)

    # products of different extents on one pixel lattice; the truth grid is their common overlap
    assert len({(g.origin_x, g.origin_y, g.width, g.height) for g in stack.product_grids}) > 1
    assert stack.truth_grid == common_overlap(stack.product_grids)
    assert stack.geotransform == stack.truth_grid.geotransform and stack.epsg == 32611
    x, y = stack.truth_grid.pixel_centers()
    assert np.allclose(stack.truth_velocity_mm_yr, velocity(x, y))
    assert stack.truth_velocity_mm_yr.min() < -15
    row, col = stack.reference_yx
    assert stack.valid_mask[row, col] and not stack.low_coherence_mask[row, col]
    assert stack.unwrap_error_mask.any() and not stack.unwrap_error_mask[row, col]
    assert 0.02 < stack.low_coherence_mask.mean() < 0.1
    assert stack.reference_xy == pytest.approx((x[row, col], y[row, col]))

    valid = np.ones(stack.truth_grid.shape, dtype=bool)
    for path, grid, (d1, d2) in zip(stack.products, stack.product_grids, stack.pairs):
        folder = _unzip(path, tmp_path / "unzipped")
        parsed = parse_product_name(folder.name)
        assert (parsed.reference_date, parsed.secondary_date) == (d1, d2)
        ds = gdal.Open(str(folder / f"{folder.name}_unw_phase.tif"))
        gt = ds.GetGeoTransform()
        assert gt == pytest.approx(grid.geotransform)
        for origin, ref in ((gt[0], stack.truth_grid.origin_x), (gt[3], stack.truth_grid.origin_y)):
            steps = (origin - ref) / stack.truth_grid.pixel_size
            assert steps == pytest.approx(round(steps))
        meta = _read_txt(folder / f"{folder.name}.txt")
        bperp = stack.perp_baselines_m[d2] - stack.perp_baselines_m[d1]
        assert float(meta["Baseline"]) == pytest.approx(bperp, abs=1e-4)
        # clipping to the truth grid
        clipped = gdal.Translate("/vsimem/clip.tif", ds, projWin=list(stack.truth_grid.proj_win))
        assert clipped.GetGeoTransform() == pytest.approx(stack.geotransform)
        valid &= clipped.ReadAsArray() != 0
        gdal.Unlink("/vsimem/clip.tif")
    assert np.array_equal(valid, stack.valid_mask)


# ----------------------------------------------------------------------------------- MintPy run
def _mintpy_python() -> str:
    env = os.environ.get("INSARHUB_MINTPY_PYTHON")
    venv = ROOT / ".venv" / "bin" / "python"
    return env or (str(venv) if venv.exists() else sys.executable)


@pytest.mark.slow
def test_synthetic_stack_loads_in_mintpy(tmp_path: Path, record_property) -> None:
    h5py = pytest.importorskip("h5py")
    stack = make_stack(tmp_path / "download", n_dates=15, n_pairs=30, seed=0, broken_products=1)

    # unpack what is usable (a loader must drop the broken product: here the zip lacks its unw_phase)
    products = tmp_path / "hyp3"
    good: List[Path] = []
    for path in stack.all_paths:
        if _readable(path):
            good.append(_unzip(path, products))
    assert len(good) == len(stack.products) == 30

    # clip every raster to the common overlap: MintPy drops (not aligns) products of another size
    for folder in good:
        for tif in sorted(folder.glob("*.tif")):
            out = tif.with_name(f"{tif.stem}_clip.tif")
            gdal.Translate(str(out), str(tif), projWin=list(stack.truth_grid.proj_win))

    work = tmp_path / "mintpy"
    work.mkdir()
    cfg = work / "smallbaselineApp.cfg"
    cfg.write_text(
        "\n".join(
            [
                "mintpy.compute.cluster = none",
                "mintpy.load.processor = hyp3",
                "mintpy.load.updateMode = no",
                # MintPy's automatic reference is a random coherent pixel: pin it for a reproducible run
                "mintpy.reference.yx = {},{}".format(*stack.reference_yx),
                f"mintpy.load.unwFile = {products}/*/*_unw_phase_clip.tif",
                f"mintpy.load.corFile = {products}/*/*_corr_clip.tif",
                f"mintpy.load.demFile = {products}/*/*_dem_clip.tif",
                f"mintpy.load.incAngleFile = {products}/*/*_lv_theta_clip.tif",
                f"mintpy.load.azAngleFile = {products}/*/*_lv_phi_clip.tif",
                f"mintpy.load.waterMaskFile = {products}/*/*_water_mask_clip.tif",
                "mintpy.troposphericDelay.method = no",
                "mintpy.deramp = no",
                "mintpy.topographicResidual = no",
                "mintpy.plot = no",
                "",
            ]
        )
    )
    env = {**os.environ, "MPLBACKEND": "Agg", "PROJ_DATA": os.environ.get("PROJ_DATA", "/usr/share/proj")}
    started = time.monotonic()
    run = subprocess.run(
        [_mintpy_python(), "-m", "mintpy.cli.smallbaselineApp", str(cfg)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - started
    record_property("mintpy_seconds", round(seconds, 1))
    print(f"smallbaselineApp.py took {seconds:.1f} s")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    with h5py.File(work / "inputs" / "ifgramStack.h5", "r") as f:
        assert f["unwrapPhase"].shape == (len(good), *stack.truth_grid.shape)
        loaded = {tuple(d.decode() for d in row) for row in f["date"][:]}
    assert loaded == {(f"{a:%Y%m%d}", f"{b:%Y%m%d}") for a, b in stack.pairs}

    with h5py.File(work / "velocity.h5", "r") as f:
        atr = dict(f.attrs)
        velocity_mm_yr = f["velocity"][:] * 1000.0  # MintPy writes m/year
    assert atr["UNIT"] == "m/year"
    assert float(atr["X_FIRST"]) == stack.truth_grid.origin_x
    assert float(atr["Y_FIRST"]) == stack.truth_grid.origin_y
    ref_y, ref_x = int(atr["REF_Y"]), int(atr["REF_X"])
    assert (ref_y, ref_x) == stack.reference_yx
    truth = stack.truth_velocity_mm_yr
    error = (velocity_mm_yr - velocity_mm_yr[ref_y, ref_x]) - (truth - truth[ref_y, ref_x])
    mae = float(np.median(np.abs(error[stack.valid_mask])))
    print(f"median absolute velocity error {mae:.2f} mm/yr")
    assert mae < 2.0
    # the bowl comes out with the right sign and size (subsidence = away from the satellite = negative)
    bowl = np.unravel_index(np.argmin(truth), truth.shape)
    assert velocity_mm_yr[bowl] - velocity_mm_yr[ref_y, ref_x] == pytest.approx(
        truth[bowl] - truth[ref_y, ref_x], abs=3.0
    )
