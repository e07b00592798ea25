"""The DISPLACEMENT GeoTIFF's layout for per-pixel reads and the fast pixel reader the click tool uses.

What a user would check: a clicked pixel gives exactly the values the raster holds for every date, with the
dates of the bands; nodata is NaN; a rerun that rewrites the file is read afresh; the layout change keeps the
values, band descriptions and metadata of the file as they were, and is what it says (band-interleaved, small
blocks, overviews).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest
from insarhub_qgis.core.timeseries import pixels
from insarhub_qgis.core.timeseries.export import (
    DISPLACEMENT_BLOCK_PX,
    DISPLACEMENT_OVERVIEW_BLOCK_PX,
    _GeoTiff,
    _write_geotiff,
    displacement_layout,
)
from insarhub_qgis.core.timeseries.pixels import PixelSeriesReader, forget_readers, pixel_reader
from insarhub_qgis.core.timeseries.prepare import PreparedGrid
from osgeo import gdal, osr

osr.UseExceptions()
DATES = [dt.date(2020, 1, 2) + dt.timedelta(days=12 * k) for k in range(9)]
TEXTS = [f"{d:%Y%m%d}" for d in DATES]
X0, Y0, PIXEL = 500000.0, 4100000.0, 80.0


def _grid(width: int, height: int) -> PreparedGrid:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return PreparedGrid((X0, PIXEL, 0.0, Y0, 0.0, -PIXEL), srs.ExportToWkt(), 32633, width, height)


def _cube(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Displacement-like bands (mm): a trend per pixel plus noise, NaN in a masked patch."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    rate = -(rows + 2.0 * cols) / 10.0
    cube = np.stack([rate * k + rng.normal(0.0, 0.5, rate.shape) for k in range(len(DATES))])
    cube[0] = 0.0  # the reference date
    cube[:, 3:9, 5:12] = np.nan
    return cube.astype(np.float32)


def _write(path: Path, cube: np.ndarray, layout: bool) -> Path:
    count, height, width = cube.shape
    kwargs = displacement_layout(width, height) if layout else {}
    return _write_geotiff(
        path,
        iter(cube),
        count,
        _grid(width, height),
        descriptions=TEXTS,
        units="mm",
        band_metadata=[{"DATE": t, "SIGN": "towards"} for t in TEXTS],
        metadata={"REFERENCE_DATE": TEXTS[0], "DATES": ",".join(TEXTS), "QUANTITY": "displacement"},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture()
def layouts(tmp_path: Path):
    cube = _cube(700, 560)
    old = _write(tmp_path / "old.tif", cube, layout=False)
    new = _write(tmp_path / "new.tif", cube, layout=True)
    yield cube, old, new
    forget_readers()


def _describe(path: Path) -> dict:
    ds = gdal.Open(str(path))
    bands = [ds.GetRasterBand(b + 1) for b in range(ds.RasterCount)]
    return {
        "size": (ds.RasterXSize, ds.RasterYSize, ds.RasterCount),
        "geotransform": ds.GetGeoTransform(),
        "crs": ds.GetProjection(),
        "metadata": ds.GetMetadata(),
        "descriptions": [b.GetDescription() for b in bands],
        "band_metadata": [b.GetMetadata() for b in bands],
        "units": [b.GetUnitType() for b in bands],
        "nodata": [str(b.GetNoDataValue()) for b in bands],
        "type": [b.DataType for b in bands],
    }


def test_displacement_layout_keeps_values_dates_and_metadata(layouts) -> None:
    cube, old, new = layouts
    assert _describe(new) == _describe(old)
    new_ds, old_ds = gdal.Open(str(new)), gdal.Open(str(old))
    assert np.array_equal(new_ds.ReadAsArray(), old_ds.ReadAsArray(), equal_nan=True)
    assert np.array_equal(new_ds.ReadAsArray(), cube, equal_nan=True)
    assert _describe(new)["descriptions"] == TEXTS


def test_displacement_layout_is_band_interleaved_in_small_blocks_with_overviews(layouts) -> None:
    _, old, new = layouts
    ds = gdal.Open(str(new))
    assert ds.GetMetadata("IMAGE_STRUCTURE") == {"INTERLEAVE": "BAND"}  # not compressed: written fast
    band = ds.GetRasterBand(len(DATES))
    assert band.GetBlockSize() == [DISPLACEMENT_BLOCK_PX, DISPLACEMENT_BLOCK_PX]
    # 560 px: one overview (280 px); each band's overview in its own larger blocks, averaging valid pixels
    assert band.GetOverviewCount() == 1
    overview = band.GetOverview(0)
    assert (overview.XSize, overview.YSize) == (350, 280)
    assert overview.GetBlockSize() == [DISPLACEMENT_OVERVIEW_BLOCK_PX, DISPLACEMENT_OVERVIEW_BLOCK_PX]
    full = band.ReadAsArray().astype(np.float64)
    expected = np.nanmean(full[:2, :2])
    assert overview.ReadAsArray(0, 0, 1, 1)[0, 0] == pytest.approx(expected, rel=1e-5)
    # the layout before: every date of a 256 x 256 pixel square in one block
    before = gdal.Open(str(old))
    assert before.GetMetadata("IMAGE_STRUCTURE")["INTERLEAVE"] == "PIXEL"
    assert before.GetRasterBand(1).GetBlockSize() == [256, 256]


def test_displacement_blocks_that_are_all_nan_take_no_disk_and_read_as_nan(tmp_path: Path) -> None:
    cube = _cube(160, 96)
    cube[:, :, :64] = np.nan  # a lake, or outside the swath: 4 x 6 blocks of every date
    path = _write(tmp_path / "sparse.tif", cube, layout=True)
    full = _write(tmp_path / "full.tif", _cube(160, 96), layout=True)
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(2)
    assert not band.GetMetadataItem("BLOCK_OFFSET_0_0", "TIFF")  # not in the file
    assert band.GetMetadataItem("BLOCK_OFFSET_4_0", "TIFF")  # a block with values is
    assert np.array_equal(ds.ReadAsArray(), cube, equal_nan=True)
    saved = full.stat().st_size - path.stat().st_size
    assert saved >= 0.9 * len(DATES) * 96 * 64 * 4  # 64 of 160 columns of every date left out


@pytest.mark.parametrize("size, block", [((700, 560), 48), ((520, 555), 32)], ids=["even", "odd-last-row"])
def test_a_displacement_written_in_blocks_of_rows_is_the_one_written_band_by_band(tmp_path: Path, size, block) -> None:
    # export_results writes the displacement a block of rows of every date at a time (one read of MintPy's
    # time series); the file, overviews included, must be the one written a whole band at a time
    width, height = size
    cube = _cube(width, height, seed=2)
    whole = _write(tmp_path / "whole.tif", cube, layout=True)
    layout = displacement_layout(width, height)
    assert layout["overview_factors"] == [2]
    keywords = dict(
        descriptions=TEXTS,
        units="mm",
        band_metadata=[{"DATE": t, "SIGN": "towards"} for t in TEXTS],
        metadata={"REFERENCE_DATE": TEXTS[0], "DATES": ",".join(TEXTS), "QUANTITY": "displacement"},
        **layout,
    )
    out = _GeoTiff(tmp_path / "rows.tif", len(TEXTS), _grid(width, height), **keywords)  # type: ignore[arg-type]
    for r0 in range(0, height, block):  # the last block is shorter
        for i in range(len(TEXTS)):
            out.write(i, cube[i, r0 : r0 + block], r0)
    rows = out.close()
    assert _describe(rows) == _describe(whole)
    a, b = gdal.Open(str(whole)), gdal.Open(str(rows))
    for index in range(1, len(TEXTS) + 1):
        band_a, band_b = a.GetRasterBand(index), b.GetRasterBand(index)
        assert np.array_equal(band_a.ReadAsArray(), band_b.ReadAsArray(), equal_nan=True)
        assert band_b.GetOverviewCount() == 1
        assert np.array_equal(band_a.GetOverview(0).ReadAsArray(), band_b.GetOverview(0).ReadAsArray(), equal_nan=True)
    # rows that would split an overview's square are refused, and an unfinished file is left behind by no one
    broken = _GeoTiff(tmp_path / "broken.tif", len(TEXTS), _grid(width, height), **keywords)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot start at full-resolution row 3"):
        broken.write(0, cube[0, 3:10], 3)
    broken.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.tif", "whole.tif"]


def test_overview_levels_follow_the_grid_size() -> None:
    assert displacement_layout(3000, 2500)["overview_factors"] == [2, 4, 8]
    assert displacement_layout(511, 4000)["overview_factors"] == []
    assert displacement_layout(94, 114)["overview_factors"] == []


def test_reader_gives_every_band_of_the_clicked_pixel(layouts) -> None:
    cube, old, new = layouts
    for path in (new, old):  # the reader does not depend on the layout
        reader = PixelSeriesReader(path)
        assert reader.dates == DATES and reader.band_count == len(DATES)
        assert (reader.width, reader.height) == (700, 560)
        rng = np.random.default_rng(1)
        for row, col in zip(rng.integers(0, 560, 50), rng.integers(0, 700, 50)):
            values = reader.read(int(row), int(col))
            assert values.dtype == np.float64
            assert np.array_equal(values, cube[:, row, col].astype(np.float64), equal_nan=True)
        # map coordinates: the centre and a corner of pixel (10, 20) are that pixel
        x, y = reader.xy(10, 20)
        assert (x, y) == (X0 + 20.5 * PIXEL, Y0 - 10.5 * PIXEL)
        assert reader.rowcol(x, y) == (10, 20)
        assert reader.rowcol(X0 + 20 * PIXEL + 0.01, Y0 - 10 * PIXEL - 0.01) == (10, 20)
        assert np.array_equal(reader.read_xy(x, y), reader.read(10, 20))
        masked = reader.read(5, 6)
        assert masked.shape == (len(DATES),) and np.isnan(masked).all()
        for outside in ((X0 - 1.0, Y0 - 100.0), (X0 + 100.0, Y0 + 1.0), (X0 + 700 * PIXEL, Y0 - 100.0)):
            with pytest.raises(ValueError, match="outside"):
                reader.read_xy(*outside)
        with pytest.raises(ValueError, match="outside"):
            reader.read(560, 0)


def test_reader_turns_other_nodata_values_into_nan_and_finds_dates_in_metadata(tmp_path: Path) -> None:
    path = tmp_path / "int16.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 4, 3, 3, gdal.GDT_Int16)
    ds.SetGeoTransform((X0, PIXEL, 0.0, Y0, 0.0, -PIXEL))
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        band.SetNoDataValue(-9999)
        band.SetMetadataItem("DATE", TEXTS[b])  # no description: the DATE item names the band
        data = np.full((3, 4), 10 * (b + 1), dtype=np.int16)
        data[1, 2] = -9999 if b != 1 else 7
        band.WriteArray(data)
    ds = None
    reader = PixelSeriesReader(path)
    assert reader.dates == DATES[:3]
    assert reader.read(0, 0).tolist() == [10.0, 20.0, 30.0]
    values = reader.read(1, 2)
    assert np.isnan(values[0]) and values[1] == 7.0 and np.isnan(values[2])


def test_reader_without_dates_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "nodates.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 2, 2, 2, gdal.GDT_Float32)
    ds.GetRasterBand(1).SetDescription("20200102")
    ds.GetRasterBand(2).SetDescription("coherence")
    ds = None
    assert PixelSeriesReader(path).dates is None  # the caller says which raster to choose
    (tmp_path / "not.tif").write_text("not a raster")
    with pytest.raises(ValueError, match="not a readable raster"):
        pixel_reader(tmp_path / "not.tif")
    with pytest.raises(ValueError, match="not a readable raster"):
        pixel_reader(tmp_path / "missing.tif")


def test_pixel_reader_is_reused_until_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    path = _write(tmp_path / "d.tif", _cube(40, 30), layout=True)
    first = pixel_reader(path)
    assert pixel_reader(str(path)) is first
    assert pixel_reader(tmp_path / "." / "d.tif") is first  # the same file by another spelling
    before = first.read(20, 30)
    # a rerun rewrites the output: the reader opens the new file
    _write(path, _cube(40, 30, seed=5) + 100.0, layout=True)
    os.utime(path, ns=(first.signature[0] + 10**9, first.signature[0] + 10**9))
    second = pixel_reader(path)
    assert second is not first
    assert np.allclose(second.read(20, 30), before + 100.0, atol=3.0)
    # only a few files stay open
    monkeypatch.setattr(pixels, "MAX_OPEN_READERS", 2)
    others = [_write(tmp_path / f"o{k}.tif", _cube(20, 10), layout=False) for k in range(3)]
    readers = [pixel_reader(p) for p in others]
    assert len(pixels._readers) == 2 and pixel_reader(others[-1]) is readers[-1]
    assert pixel_reader(path) is not second  # closed as the least recently used
    forget_readers()
    assert not pixels._readers
