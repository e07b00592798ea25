"""insarhub:decompose's core: ascending + descending LOS velocities of a known 3-D motion, with Sentinel-1
geometry (incidence 30-46 deg, headings -12 / -168 deg), decomposed with MintPy's asc_desc2horz_vert in
MintPy's own interpreter. What a user checks: vertical and east match the truth, the std matches the
scatter, inputs on other grids and UTM zones line up, wrong inputs are refused with what to do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from fakes.los import enu_to_los, motion_for_box, s1_geometry, utm_grid, write_los_result
from insarhub_qgis.core.decompose import Decomposition, decompose, match_dates, open_los_input
from insarhub_qgis.core.errors import InputError
from insarhub_qgis.core.mintpy_env import find_mintpy_python
from osgeo import gdal, osr

pytestmark = pytest.mark.slow
gdal.UseExceptions()

# A 60 x 48 km area at 400 m pixels in UTM 11N; each stack's swath spans 250 km, so its incidence goes
# from 30 to 46 deg across the whole swath and this area sees a realistic part of it.
EPSG = 32611
X0, Y0, PIXEL, WIDTH, HEIGHT = 400_000.0, 3_900_000.0, 400.0, 150, 120
SWATHS = {"ASCENDING": (300_000.0, 550_000.0), "DESCENDING": (330_000.0, 580_000.0)}
MOTION = motion_for_box(X0, Y0 - HEIGHT * PIXEL, X0 + WIDTH * PIXEL, Y0)


@pytest.fixture(scope="module")
def mintpy_python() -> str:
    return find_mintpy_python().python


def _truth(x, y):
    east, north, up = MOTION.enu(x, y)
    return east, north, up


def make_input(folder: Path, direction: str, *, epsg=EPSG, origin=(X0, Y0), pixel=PIXEL, size=(WIDTH, HEIGHT),
               noise_mm_yr=0.0, seed=0, offset_mm_yr=0.0, dates=(), geometry=True, std_mm_yr=None, orbit=None):
    """One stack's velocity as runtimeseries writes it, seeing MOTION (defined in EPSG:32611 coordinates)."""
    grid, x, y = utm_grid(epsg, origin[0], origin[1], pixel, *size)
    if epsg != EPSG:  # the truth lives in UTM 11N: look it up there
        src, dst = osr.SpatialReference(), osr.SpatialReference()
        src.ImportFromEPSG(epsg)
        dst.ImportFromEPSG(EPSG)
        for s in (src, dst):
            s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        points = osr.CoordinateTransformation(src, dst).TransformPoints(np.c_[x.ravel(), y.ravel()].tolist())
        tx = np.array([p[0] for p in points]).reshape(x.shape)
        ty = np.array([p[1] for p in points]).reshape(x.shape)
    else:
        tx, ty = x, y
    incidence, azimuth = s1_geometry(direction, tx, ty, SWATHS[direction])
    east, north, up = _truth(tx, ty)
    los = enu_to_los(east, north, up, incidence, azimuth) + offset_mm_yr
    rng = np.random.default_rng(seed)
    if noise_mm_yr:
        los = los + rng.normal(0.0, noise_mm_yr, los.shape)
    std = np.full(los.shape, noise_mm_yr if std_mm_yr is None else std_mm_yr)
    displacement = None
    if dates:
        years = np.array([(d - dates[0]).days / 365.25 for d in dates])
        displacement = (los - offset_mm_yr)[None] * years[:, None, None] + 7.0 * (years > 0)[:, None, None]
    folder.mkdir(parents=True, exist_ok=True)
    files = write_los_result(
        folder, grid, los, incidence, azimuth, direction, std_mm_yr=std, dates=dates, displacement_mm=displacement,
        relative_orbit=orbit or (64 if direction == "ASCENDING" else 71), geometry=geometry,
    )
    return files["VELOCITY"]


def outputs(folder: Path, *roles: str) -> dict:
    roles = roles or ("VERTICAL", "EAST", "VERTICAL_STD", "EAST_STD", "MASK")
    return {role: folder / f"{role.lower()}.tif" for role in roles}


def read(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ds = gdal.Open(str(path))
    data = ds.ReadAsArray().astype(np.float64)
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    cols, rows = np.meshgrid(np.arange(ds.RasterXSize), np.arange(ds.RasterYSize))
    return data, x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy


@pytest.fixture(scope="module")
def noise_free(tmp_path_factory, mintpy_python):
    root = tmp_path_factory.mktemp("noise-free")
    asc = make_input(root / "asc", "ASCENDING", offset_mm_yr=3.0)
    desc = make_input(root / "desc", "DESCENDING", offset_mm_yr=-4.0)
    out = outputs(root / "out")
    result = decompose([asc, desc], out, mintpy_python)
    return result, out


def test_noise_free_recovers_vertical_and_east(noise_free):
    result, out = noise_free
    vertical, x, y = read(out["VERTICAL"])
    east, _, _ = read(out["EAST"])
    true_east, _, true_up = _truth(x, y)
    valid = np.isfinite(vertical)
    assert valid.mean() > 0.95
    assert np.median(np.abs(vertical[valid] - true_up[valid])) < 1.0
    assert np.median(np.abs(east[valid] - true_east[valid])) < 1.0
    # the signal itself is there, with the right signs: the bowl sinks, the slope moves east
    bowl = true_up < -20
    assert np.median(vertical[bowl & valid]) < -18
    slope = true_east > 15
    assert np.median(east[slope & valid]) > 13
    # each stack's own reference offset (3 and -4 mm/yr) was removed by the stable-median reference
    assert result.reference_offsets_mm_yr == pytest.approx([3.0, -4.0], abs=0.5)
    assert result.median_condition < 2.0 and result.weak_pixels == 0


def test_outputs_say_units_sign_and_find_each_other(noise_free):
    result, out = noise_free
    ds = gdal.Open(str(out["VERTICAL"]))
    band = ds.GetRasterBand(1)
    assert band.GetUnitType() == "mm/year"
    assert "up" in band.GetMetadataItem("SIGN")
    east = gdal.Open(str(out["EAST"]))
    assert "east" in east.GetRasterBand(1).GetMetadataItem("SIGN")
    assert "MintPy" in ds.GetMetadataItem("SOURCE") and ds.GetMetadataItem("GEOMETRY_WINDOW_PX") == "5"
    mask = gdal.Open(str(out["MASK"])).ReadAsArray()
    assert set(np.unique(mask)) <= {0, 1, 2}
    # the dock's entry point: any output leads to all of them and reads a pixel
    decomposition = Decomposition.open(out["EAST_STD"])
    assert set(decomposition.files) == set(out)
    vertical, x, y = read(out["VERTICAL"])
    row, col = np.unravel_index(np.nanargmin(vertical), vertical.shape)
    pixel = decomposition.at(float(x[row, col]), float(y[row, col]), f"EPSG:{EPSG}")
    assert pixel.vertical_mm_yr == pytest.approx(vertical[row, col])
    assert pixel.mask == 1 and pixel.vertical_std_mm_yr == 0.0
    assert decomposition.at(0.0, 0.0, f"EPSG:{EPSG}") is None


def test_propagated_std_matches_the_scatter(tmp_path, mintpy_python):
    asc = make_input(tmp_path / "asc", "ASCENDING", noise_mm_yr=2.0, seed=1)
    desc = make_input(tmp_path / "desc", "DESCENDING", noise_mm_yr=3.0, seed=2)
    out = outputs(tmp_path / "out")
    decompose([asc, desc], out, mintpy_python, geometry_window=1)
    for role, std_role, component in (("VERTICAL", "VERTICAL_STD", 2), ("EAST", "EAST_STD", 0)):
        values, x, y = read(out[role])
        std, _, _ = read(out[std_role])
        truth = _truth(x, y)[component]
        valid = np.isfinite(values)
        scatter = np.std(values[valid] - truth[valid])
        predicted = np.sqrt(np.mean(std[valid] ** 2))
        # 18,000 pixels: the scatter estimates the std to ~1 %; the referencing adds a little
        assert scatter == pytest.approx(predicted, rel=0.08), (role, scatter, predicted)
    # east is the worse determined component (Sentinel-1 looks mostly sideways, but at 30-46 deg)
    assert np.nanmedian(read(out["EAST_STD"])[0]) > np.nanmedian(read(out["VERTICAL_STD"])[0])


def test_inputs_on_other_grids_and_utm_zones(tmp_path, mintpy_python):
    # ascending at 400 m in UTM 11N; descending at 250 m in UTM 12N over the same ground (the area lies
    # near the 11/12 border's west side, reprojected), offset and larger
    asc = make_input(tmp_path / "asc", "ASCENDING")
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(EPSG)
    dst.ImportFromEPSG(32612)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ox, oy, _ = osr.CoordinateTransformation(src, dst).TransformPoint(X0 - 4000.0, Y0 + 6000.0)
    desc = make_input(tmp_path / "desc", "DESCENDING", epsg=32612, origin=(round(ox, -2), round(oy, -2)), pixel=250.0,
                      size=(280, 230))
    out = outputs(tmp_path / "out", "VERTICAL", "EAST")
    result = decompose([asc, desc], out, mintpy_python)
    ds = gdal.Open(str(out["VERTICAL"]))
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    assert srs.GetAuthorityCode(None) == str(EPSG)  # the first input's CRS
    assert ds.GetGeoTransform()[1] == pytest.approx(250.0, rel=0.02)  # the finer pixel
    assert result.grid.width > 100
    vertical, x, y = read(out["VERTICAL"])
    east, _, _ = read(out["EAST"])
    true_east, _, true_up = _truth(x, y)
    valid = np.isfinite(vertical)
    assert valid.mean() > 0.9
    assert np.median(np.abs(vertical[valid] - true_up[valid])) < 1.0
    assert np.median(np.abs(east[valid] - true_east[valid])) < 1.0


def test_pixel_size_crs_aoi_and_reference_area(tmp_path, mintpy_python):
    asc = make_input(tmp_path / "asc", "ASCENDING", offset_mm_yr=5.0)
    desc = make_input(tmp_path / "desc", "DESCENDING", offset_mm_yr=-2.0)
    out = outputs(tmp_path / "out", "VERTICAL", "EAST")
    xmin, xmax = X0 + 10_000, X0 + 50_000
    ymin, ymax = Y0 - 40_000, Y0 - 5_000
    # the reference area: a stable corner of the area (the truth is ~0 there)
    reference = (X0 + 52_000, Y0 - 47_000, X0 + 59_000, Y0 - 40_000, f"EPSG:{EPSG}")
    result = decompose([asc, desc], out, mintpy_python, crs="EPSG:32611", pixel_size=1000.0,
                       extent=(xmin, ymin, xmax, ymax, f"EPSG:{EPSG}"), reference_area=None)
    assert result.grid.pixel_size_m == 1000.0
    x0, _, _, y0, _, _ = result.grid.geotransform
    assert xmin - 1 <= x0 and x0 + result.grid.width * 1000 <= xmax + 1
    out2 = outputs(tmp_path / "out2", "VERTICAL", "EAST")
    result = decompose([asc, desc], out2, mintpy_python, reference_area=reference)
    assert result.reference_offsets_mm_yr == pytest.approx([5.0, -2.0], abs=0.3)
    assert "reference area" in gdal.Open(str(out2["VERTICAL"])).GetMetadataItem("REFERENCE")
    with pytest.raises(InputError, match="reference area holds no pixel"):
        decompose([asc, desc], out2, mintpy_python, reference_area=(0, 0, 10, 10, "EPSG:32611"))


def test_single_direction_refused(tmp_path, mintpy_python):
    one = make_input(tmp_path / "a1", "ASCENDING")
    two = make_input(tmp_path / "a2", "ASCENDING", orbit=137)
    with pytest.raises(InputError, match="All 2 velocities are ascending.*descending stack"):
        decompose([one, two], outputs(tmp_path / "out"), mintpy_python)
    with pytest.raises(InputError, match="at least two"):
        decompose([one], outputs(tmp_path / "out"), mintpy_python)


def test_missing_geometry_refused_with_the_way_to_get_it(tmp_path, mintpy_python):
    asc = make_input(tmp_path / "asc", "ASCENDING", geometry=False)
    desc = make_input(tmp_path / "desc", "DESCENDING")
    with pytest.raises(InputError, match="line-of-sight geometry.*runtimeseries again.*INCLUDE_LOOK_VECTORS"):
        decompose([asc, desc], outputs(tmp_path / "out"), mintpy_python)
    (desc.with_name("velocity_los_geometry.tif")).unlink()
    with pytest.raises(InputError, match="is missing: keep it beside the velocity"):
        open_los_input(desc)
    with pytest.raises(InputError, match="not a LOS velocity"):
        open_los_input(desc.with_name("velocity_std.tif"))


def test_weak_geometry_is_masked(tmp_path, mintpy_python):
    # a descending track whose heading is almost the ascending one's mirror is fine; one looking from
    # nearly the same side as the ascending (a mislabelled track) is not: every pixel is masked
    asc = make_input(tmp_path / "asc", "ASCENDING")
    grid, x, y = utm_grid(EPSG, X0, Y0, PIXEL, WIDTH, HEIGHT)
    incidence, azimuth = s1_geometry("ASCENDING", x, y, SWATHS["ASCENDING"], incidence_range=(40.0, 44.0))
    east, north, up = _truth(x, y)
    write_los_result(tmp_path / "bad", grid, enu_to_los(east, north, up, incidence, azimuth), incidence, azimuth,
                     "DESCENDING", std_mm_yr=np.ones(x.shape))
    with pytest.raises(InputError, match="too weak everywhere"):
        decompose([asc, tmp_path / "bad" / "velocity.tif"], outputs(tmp_path / "out"), mintpy_python)


def test_displacement_at_common_dates(tmp_path, mintpy_python):
    asc_dates = [dt.date(2020, 1, 3) + dt.timedelta(days=12 * k) for k in range(10)]
    desc_dates = [dt.date(2020, 1, 8) + dt.timedelta(days=12 * k) for k in range(8)]
    asc = make_input(tmp_path / "asc", "ASCENDING", dates=asc_dates)
    desc = make_input(tmp_path / "desc", "DESCENDING", dates=desc_dates)
    out = outputs(tmp_path / "out", "VERTICAL", "EAST", "VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT")
    result = decompose([asc, desc], out, mintpy_python, displacement=True, date_tolerance_days=6)
    # the descending dates (fewer) anchor; each pairs with the ascending date 5 days earlier or 7 later
    assert result.common_dates == [d.strftime("%Y%m%d") for d in desc_dates]
    ds = gdal.Open(str(out["VERTICAL_DISPLACEMENT"]))
    assert ds.RasterCount == len(desc_dates)
    assert ds.GetRasterBand(3).GetDescription() == desc_dates[2].strftime("%Y%m%d")
    first = ds.GetRasterBand(1).ReadAsArray()
    assert np.nanmax(np.abs(first)) == 0  # relative to the first common date
    last, x, y = read(out["VERTICAL_DISPLACEMENT"])
    last = last[-1]
    _, _, up = _truth(x, y)
    # asc and desc dates differ by 5 days: the decomposed displacement is within that much motion
    span = (desc_dates[-1] - desc_dates[0]).days / 365.25
    valid = np.isfinite(last)
    assert np.median(np.abs(last[valid] - up[valid] * span)) < 1.0
    decomposition = Decomposition.open(out["VERTICAL"])
    pixel = decomposition.at(float(x[60, 60]), float(y[60, 60]))
    assert pixel.dates == result.common_dates and len(pixel.vertical_mm) == len(desc_dates)
    # too few common dates
    with pytest.raises(InputError, match="share 0 date"):
        decompose([asc, desc], out, mintpy_python, displacement=True, date_tolerance_days=1)


def test_match_dates_uses_each_date_once():
    a = [dt.date(2020, 1, 1), dt.date(2020, 1, 13), dt.date(2020, 1, 25)]
    b = [dt.date(2020, 1, 2), dt.date(2020, 1, 3)]
    matched = match_dates([a, b], 6)
    assert matched == [(dt.date(2020, 1, 2), [0, 0])]  # b anchors; its two dates both want a[0]
    assert match_dates([a, []], 6) == []


def test_runtimeseries_geometry_without_look_vectors(tmp_path, mintpy_python):
    """INSAR_GAMMA products submitted without INCLUDE_LOOK_VECTORS: the geometry is MintPy's constant
    incidence and azimuth from the orbit metadata of its geometryGeo.h5 (read by MintPy's own h5py: the
    file is LZF-compressed); the velocity records where it came from."""
    from fakes.products import make_stack
    from insarhub_qgis.core.timeseries import prepare_products, run_smallbaseline, write_config
    from insarhub_qgis.core.timeseries.export import _write_geotiff
    from insarhub_qgis.core.timeseries.geometry import record_los_geometry

    make_stack(tmp_path / "products", n_dates=8, n_pairs=14, seed=5, include_look_vectors=False,
               flight_direction="DESCENDING")
    work = tmp_path / "mintpy"
    prepared = prepare_products(tmp_path / "products", work)
    assert "lv_theta" not in prepared.geometry_suffixes
    # MintPy's load_data writes geometryGeo.h5: the only step the geometry needs
    run_smallbaseline(write_config(prepared, work), work, mintpy_python, extra_args=["--dostep", "load_data"])
    assert (work / "inputs" / "geometryGeo.h5").is_file()
    velocity = np.zeros(prepared.grid.shape)
    written = {
        "VELOCITY": str(_write_geotiff(tmp_path / "v.tif", [velocity], 1, prepared.grid, descriptions=["v"], units="mm/year",
                                       metadata={"QUANTITY": "velocity"})),
        "VELOCITY_STD": str(_write_geotiff(tmp_path / "s.tif", [velocity], 1, prepared.grid, descriptions=["s"], units="mm/year",
                                           metadata={"QUANTITY": "velocityStd"})),
    }
    warnings: list[str] = []
    geometry = record_los_geometry(work, prepared, written, python=mintpy_python, warn=warnings.append)
    assert geometry == tmp_path / "v_los_geometry.tif" and not warnings
    ds = gdal.Open(str(tmp_path / "v.tif"))
    assert ds.GetMetadataItem("FLIGHT_DIRECTION") == "DESCENDING"
    assert "heading" in ds.GetMetadataItem("LOS_GEOMETRY_SOURCE")
    incidence, azimuth = gdal.Open(str(geometry)).ReadAsArray()
    assert 25 < np.nanmedian(incidence) < 50
    assert np.nanmedian(azimuth) == pytest.approx(-102.9, abs=0.5)  # MintPy's heading2azimuth_angle(-167.09)
    # without MintPy's interpreter and without look vectors nothing is found: a warning says what to do
    warnings.clear()
    (work / "inputs" / "geometryGeo.h5").rename(work / "inputs" / "moved.h5")
    assert record_los_geometry(work, prepared, written, warn=warnings.append) is None
    assert "INCLUDE_LOOK_VECTORS" in warnings[0]
