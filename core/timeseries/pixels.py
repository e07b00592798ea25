"""Fast reads of one pixel's displacement time series from the DISPLACEMENT GeoTIFF.

A click on the map must chart a pixel at once, also on a whole frame (3,000 x 2,500 pixels, 150 dates).
:class:`PixelSeriesReader` opens the GeoTIFF once, reads the band dates (descriptions ``YYYYMMDD``), nodata
values and geotransform once, and then reads every band of one pixel with a single GDAL call (the file
:func:`~.export.export_results` writes is tiled in small blocks, so that call decodes one small block per
band). :func:`pixel_reader` keeps a few readers open, keyed by the file and its modification time and
size, so a rewritten file is opened afresh.

Plain GDAL and numpy (no ``qgis``): the dock's click tool and scripts use the same reader.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Tuple

import numpy as np

_DATE = re.compile(r"(\d{8})")
#: How many files :func:`pixel_reader` keeps open.
MAX_OPEN_READERS = 4


@contextmanager
def _gdal_exceptions() -> Iterator[None]:
    """GDAL raising Python exceptions within this block only (the QGIS process keeps its own setting)."""
    from osgeo import gdal

    had = bool(gdal.GetUseExceptions())
    gdal.UseExceptions()
    try:
        yield
    finally:
        if not had:
            gdal.DontUseExceptions()


def _dates_of(descriptions: List[str]) -> List[dt.date] | None:
    """The ``YYYYMMDD`` date in every band description, or None when a band has none."""
    dates = []
    for text in descriptions:
        match = _DATE.search(text or "")
        if not match:
            return None
        try:
            dates.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
        except ValueError:
            return None
    return dates


class PixelSeriesReader:
    """Every band of one raster file at one pixel, the file kept open.

    ``dates`` holds the date of every band (band description ``YYYYMMDD``, else the band's ``DATE``
    metadata item), or None when some band has none. Not thread-safe (one GDAL dataset): use it from one
    thread, as QGIS's map tools do.
    """

    def __init__(self, path: os.PathLike | str) -> None:
        from osgeo import gdal

        self.path = str(path)
        with _gdal_exceptions():
            try:
                dataset = gdal.OpenEx(self.path, gdal.OF_RASTER | gdal.OF_READONLY)
            except RuntimeError as exc:
                raise ValueError(f"'{self.path}' is not a readable raster: {exc}") from exc
        self._dataset = dataset
        self.width = dataset.RasterXSize
        self.height = dataset.RasterYSize
        self.band_count = dataset.RasterCount
        self.geotransform: Tuple[float, ...] = tuple(dataset.GetGeoTransform())
        self.crs_wkt = dataset.GetProjection() or ""
        bands = [dataset.GetRasterBand(b) for b in range(1, self.band_count + 1)]
        descriptions = [band.GetDescription() for band in bands]
        dates = _dates_of(descriptions)
        if dates is None:
            dates = _dates_of([band.GetMetadataItem("DATE") or "" for band in bands])
        self.dates: List[dt.date] | None = dates
        self.descriptions = descriptions
        nodata = [band.GetNoDataValue() for band in bands]
        # NaN nodata needs no mask (NaN stays NaN); other nodata values become NaN on read
        self._nodata = np.array(
            [np.nan if v is None or math.isnan(v) else v for v in nodata], dtype="float64"
        )
        self._has_nodata = bool(np.isfinite(self._nodata).any())
        x0, dx, rx, y0, ry, dy = self.geotransform
        if rx or ry:
            raise ValueError(f"'{self.path}' is rotated; only north-up rasters are supported.")
        stat = os.stat(self.path)
        self.signature = (stat.st_mtime_ns, stat.st_size)

    def rowcol(self, x: float, y: float) -> Tuple[int, int]:
        """``(row, column)`` of the pixel holding map coordinates ``(x, y)`` (the raster's CRS);
        ValueError outside the raster."""
        x0, dx, _, y0, _, dy = self.geotransform
        col = int(math.floor((x - x0) / dx))
        row = int(math.floor((y - y0) / dy))
        if not (0 <= row < self.height and 0 <= col < self.width):
            raise ValueError(f"The point {x:.6g}, {y:.6g} is outside '{Path(self.path).name}'.")
        return row, col

    def xy(self, row: int, col: int) -> Tuple[float, float]:
        """Map coordinates of the centre of pixel ``(row, col)``."""
        x0, dx, _, y0, _, dy = self.geotransform
        return (x0 + (col + 0.5) * dx, y0 + (row + 0.5) * dy)

    def read(self, row: int, col: int) -> np.ndarray:
        """Every band's value at pixel ``(row, col)``, float64, NaN where the band has no data."""
        from osgeo import gdal

        if not (0 <= row < self.height and 0 <= col < self.width):
            raise ValueError(f"Pixel ({row}, {col}) is outside the {self.height} x {self.width} raster.")
        with _gdal_exceptions():
            try:
                data = self._dataset.ReadRaster(col, row, 1, 1, buf_type=gdal.GDT_Float64)
            except RuntimeError as exc:
                raise ValueError(f"'{self.path}' could not be read at pixel ({row}, {col}): {exc}") from exc
        values = np.frombuffer(data, dtype="float64").copy()
        if self._has_nodata:
            values[values == self._nodata] = np.nan
        return values

    def read_xy(self, x: float, y: float) -> np.ndarray:
        """:meth:`read` at the pixel holding map coordinates ``(x, y)`` (the raster's CRS)."""
        return self.read(*self.rowcol(x, y))

    def close(self) -> None:
        """Close the file (the reader is unusable afterwards)."""
        self._dataset = None


_readers: OrderedDict[str, PixelSeriesReader] = OrderedDict()
_lock = threading.Lock()


def pixel_reader(path: os.PathLike | str) -> PixelSeriesReader:
    """A :class:`PixelSeriesReader` for ``path``, reused while the file is unchanged.

    Up to :data:`MAX_OPEN_READERS` files stay open (least recently used closed first); a file whose
    modification time or size changed since it was opened (a rerun of the time series) is opened again.
    ValueError when ``path`` is not a readable raster file.
    """
    key = os.path.realpath(os.fspath(path))
    try:
        stat = os.stat(key)
    except OSError as exc:
        raise ValueError(f"'{path}' is not a readable raster: {exc.strerror or exc}") from exc
    with _lock:
        reader = _readers.get(key)
        if reader is not None and reader.signature == (stat.st_mtime_ns, stat.st_size):
            _readers.move_to_end(key)
            return reader
        if reader is not None:
            reader.close()
            del _readers[key]
        reader = PixelSeriesReader(key)
        _readers[key] = reader
        while len(_readers) > MAX_OPEN_READERS:
            _, oldest = _readers.popitem(last=False)
            oldest.close()
        return reader


def forget_readers() -> None:
    """Close every reader :func:`pixel_reader` keeps (e.g. before a file is deleted on Windows)."""
    with _lock:
        for reader in _readers.values():
            reader.close()
        _readers.clear()
