"""Map tools of the dock and reading a pixel's displacement time series.

- :class:`PointPickTool` picks the MintPy reference point (one click, then the previous
  tool comes back).
- :class:`PixelSeriesTool` stays active: each click charts another pixel.
- :func:`read_pixel_series` reads every band of the DISPLACEMENT GeoTIFF at a point (band
  description = ``YYYYMMDD``, values in mm) and :func:`fit_velocity` fits the linear rate.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProject,
    QgsRaster,
    QgsRasterLayer,
)
from qgis.gui import QgsMapToolEmitPoint
from qgis.PyQt.QtCore import pyqtSignal

from ..core.timeseries.pixels import pixel_reader
from .i18n import tr

_DATE = re.compile(r"(\d{8})")
_POINT = re.compile(r"^\s*([-\d.eE+]+)\s*,\s*([-\d.eE+]+)\s*\[(.+)\]\s*$")
DAYS_PER_YEAR = 365.25



class PointPickTool(QgsMapToolEmitPoint):
    """Emits ``picked(point, crs)`` for one click (map coordinates, canvas CRS)."""

    picked = pyqtSignal(QgsPointXY, QgsCoordinateReferenceSystem)

    def __init__(self, canvas: Any) -> None:
        super().__init__(canvas)
        self.canvas_ = canvas
        self.canvasClicked.connect(self._clicked)

    def _clicked(self, point: QgsPointXY, _button: Any) -> None:
        self.picked.emit(QgsPointXY(point), _canvas_crs(self.canvas_))


class PixelSeriesTool(PointPickTool):
    """The same, for charting pixels: stays active until another tool is chosen."""


def format_point(point: QgsPointXY, crs: QgsCoordinateReferenceSystem | None) -> str:
    """``x,y [AUTHID]`` as Processing's point parameter reads it (WGS 84 for a CRS without an id)."""
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    if crs is None or not crs.isValid():
        crs = wgs84
    elif not crs.authid():
        point = QgsCoordinateTransform(crs, wgs84, QgsProject.instance()).transform(point)
        crs = wgs84
    return f"{point.x():.10g},{point.y():.10g} [{crs.authid()}]"


def parse_point(text: str) -> tuple[QgsPointXY, QgsCoordinateReferenceSystem] | None:
    """The inverse of :func:`format_point` (None for anything else)."""
    match = _POINT.match(text or "")
    if not match:
        return None
    crs = QgsCoordinateReferenceSystem(match.group(3))
    if not crs.isValid():
        return None
    return QgsPointXY(float(match.group(1)), float(match.group(2))), crs


def _canvas_crs(canvas: Any) -> QgsCoordinateReferenceSystem:
    crs = canvas.mapSettings().destinationCrs()
    return crs if crs.isValid() else QgsCoordinateReferenceSystem("EPSG:4326")


@dataclass
class PixelSeries:
    """A pixel's displacement (mm) per date, where it was clicked, and its linear fit."""

    label: str
    x: float  # in ``crs``
    y: float
    crs: str
    dates: list[dt.date]
    values_mm: list[float]  # NaN where the pixel has no data
    velocity_mm_per_year: float | None = None
    intercept_mm: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fitted(self) -> list[float]:
        """The fit line at each date (NaN without a fit)."""
        if self.velocity_mm_per_year is None or self.intercept_mm is None:
            return [math.nan] * len(self.dates)
        origin = self.dates[0]
        return [
            self.intercept_mm + self.velocity_mm_per_year * (d - origin).days / DAYS_PER_YEAR
            for d in self.dates
        ]


def band_dates(layer: QgsRasterLayer) -> list[dt.date]:
    """The acquisition date of every band (band description ``YYYYMMDD``)."""
    descriptions: list[str] = []
    try:
        from osgeo import gdal

        dataset = gdal.Open(layer.source().split("|")[0])
        if dataset is not None:
            descriptions = [
                dataset.GetRasterBand(b).GetDescription() for b in range(1, dataset.RasterCount + 1)
            ]
    except ImportError:  # QGIS always has GDAL's Python bindings; the band names are a fallback
        descriptions = []
    if len(descriptions) != layer.bandCount() or not all(_DATE.search(d or "") for d in descriptions):
        descriptions = [layer.bandName(b) for b in range(1, layer.bandCount() + 1)]
    dates = []
    for band, text in enumerate(descriptions, start=1):
        match = _DATE.search(text or "")
        if not match:
            raise ValueError(
                tr(
                    "Band {band} of '{name}' has no date (description YYYYMMDD): choose the DISPLACEMENT "
                    "raster written by insarhub:runtimeseries."
                ).format(band=band, name=layer.name())
            )
        dates.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
    return dates


def _fast_series(layer: QgsRasterLayer, target: QgsPointXY) -> tuple[list[dt.date], dict[int, float]] | None:
    """Dates and ``{band: value}`` read from the file itself, kept open between clicks
    (core.timeseries.pixels); None for a layer that is not a dated GDAL raster file."""
    if layer.providerType() != "gdal":
        return None
    try:
        reader = pixel_reader(layer.source().split("|")[0])
        if reader.dates is None or reader.band_count != layer.bandCount():
            return None
        return reader.dates, dict(enumerate(reader.read_xy(target.x(), target.y()).tolist(), start=1))
    except ValueError:
        return None


def read_pixel_series(
    layer: QgsRasterLayer, point: QgsPointXY, crs: QgsCoordinateReferenceSystem, label: str = ""
) -> PixelSeries:
    """Every band's value at ``point`` (given in ``crs``); ValueError when outside the raster."""
    target = QgsPointXY(point)
    if crs.isValid() and layer.crs().isValid() and crs != layer.crs():
        target = QgsCoordinateTransform(crs, layer.crs(), QgsProject.instance()).transform(target)
    if not layer.extent().contains(target):
        raise ValueError(
            tr("The point {x}, {y} is outside '{name}'.").format(x=f"{point.x():.6g}", y=f"{point.y():.6g}", name=layer.name())
        )
    fast = _fast_series(layer, target)
    dates = fast[0] if fast else band_dates(layer)
    if fast:
        values = fast[1]
    else:
        result = layer.dataProvider().identify(target, QgsRaster.IdentifyFormat.IdentifyFormatValue)
        if not result.isValid():
            raise ValueError(
                tr("'{name}' could not be read at {x}, {y}.").format(name=layer.name(), x=f"{point.x():.6g}", y=f"{point.y():.6g}")
            )
        values = result.results()
    series = []
    for band in range(1, layer.bandCount() + 1):
        value = values.get(band)
        try:
            number = float(value) if value is not None else math.nan
        except (TypeError, ValueError):
            number = math.nan
        series.append(number)
    pixel = PixelSeries(
        label or f"{target.x():.1f}, {target.y():.1f}",
        target.x(),
        target.y(),
        layer.crs().authid(),
        dates,
        series,
    )
    pixel.velocity_mm_per_year, pixel.intercept_mm = fit_velocity(dates, series)
    return pixel


def fit_velocity(dates: Sequence[dt.date], values_mm: Sequence[float]) -> tuple[float | None, float | None]:
    """Least-squares line through the valid values: (mm/year, mm at the first date), or Nones."""
    import numpy as np

    if not dates:
        return None, None
    origin = dates[0]
    years = np.array([(d - origin).days / DAYS_PER_YEAR for d in dates], dtype="float64")
    values = np.array(values_mm, dtype="float64")
    valid = np.isfinite(values)
    if valid.sum() < 2 or np.ptp(years[valid]) == 0:
        return None, None
    slope, intercept = np.polyfit(years[valid], values[valid], 1)
    return float(slope), float(intercept)
