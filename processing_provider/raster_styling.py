"""How the time-series rasters look on the map (attached as post-processors, like the search's)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Sequence

from qgis.core import (
    Qgis,
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsDateTimeRange,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime

from .qt_compat import qgis_enum
from .styling import ROLE_PROPERTY, layer_group, move_into_group, unique_group_name

ROBUST_PERCENTILE = 98.0


def robust_limit(path: str, band: int = 1, percentile: float = ROBUST_PERCENTILE) -> float:
    """The ``percentile`` of |value| over valid pixels (NaN and nodata ignored); 1.0 when none."""
    import numpy as np
    from osgeo import gdal

    dataset = gdal.Open(path)
    if dataset is None:
        return 1.0
    raster = dataset.GetRasterBand(band)
    values = raster.ReadAsArray().astype("float64")
    nodata = raster.GetNoDataValue()
    valid = np.isfinite(values)
    if nodata is not None and not math.isnan(nodata):
        valid &= values != nodata
    if not valid.any():
        return 1.0
    limit = float(np.percentile(np.abs(values[valid]), percentile))
    return limit if limit > 0 else 1.0


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^n that is at least ``value`` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return float(candidate)
    return float(10 ** (exponent + 1))


def diverging_renderer(layer: QgsRasterLayer, band: int, limit: float, unit: str) -> QgsSingleBandPseudoColorRenderer:
    """A red-white-blue ramp symmetric about zero, clipped at ±``limit``; legend labelled in ``unit``.

    Negative (away from the satellite, e.g. subsidence) is red, positive blue.
    """
    ramp = QgsStyle.defaultStyle().colorRamp("RdBu")
    # A legend with round numbers: the limit goes up to the next round value.
    limit = nice_ceiling(limit)
    shader_function = QgsColorRampShader(-limit, limit)
    shader_function.setColorRampType(
        qgis_enum("Qgis.ShaderInterpolationMethod.Linear", "QgsColorRampShader.Type.Interpolated")
    )
    shader_function.setClip(False)
    items = []
    steps = 5
    for index in range(steps):
        fraction = index / (steps - 1)
        value = -limit + 2 * limit * fraction
        colour = ramp.color(fraction)
        label = f"{value:+g} {unit}" if value else f"0 {unit}"
        items.append(QgsColorRampShader.ColorRampItem(value, colour, label))
    shader_function.setColorRampItemList(items)
    shader_function.setSourceColorRamp(ramp)
    legend = QgsColorRampLegendNodeSettings()
    legend.setUseContinuousLegend(False)  # the labelled steps, with their unit
    shader_function.setLegendSettings(legend)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(-limit)
    renderer.setClassificationMax(limit)
    return renderer


def band_descriptions(path: str) -> list[str]:
    """The band descriptions of a raster (``YYYYMMDD`` for the displacement), read with GDAL."""
    from osgeo import gdal

    dataset = gdal.Open(path)
    if dataset is None:
        return []
    return [dataset.GetRasterBand(b).GetDescription() for b in range(1, dataset.RasterCount + 1)]


def _date(text: str) -> QDateTime:
    day = dt.datetime.strptime(text, "%Y%m%d").date()
    return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0), Qt.TimeSpec.UTC)


TIMESERIES_ROLE = "timeseries"
BY_DATE_GROUP = "Displacement by date (Temporal Controller)"
# Order of a run's layers in its group, top first: the velocity on top (and the only one shown).
LAYER_ORDER = ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")
LAYER_NAMES = {
    "VELOCITY": "Velocity (mm/yr, + towards satellite)",
    "VELOCITY_STD": "Velocity std (mm/yr)",
    "TEMPORAL_COHERENCE": "Temporal coherence",
    "DISPLACEMENT": "Displacement (mm; shown: last date)",
}


class TimeSeriesPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles velocity and displacement and puts a run's rasters in one group.

    The group: velocity on top and shown; its standard deviation, the temporal coherence and the
    displacement below it, off. The displacement follows the Temporal Controller band by band (QGIS
    3.38+); before 3.38, the displacement by date (one layer per acquisition) is in one folded
    sub-group, off. The dock switches the velocity off and the dates on while the Temporal Controller
    animates.
    """

    _alive: list[TimeSeriesPostProcessor] = []

    def __init__(self, group_name: str, role: str, dates: Sequence[str], shared: dict | None = None):
        super().__init__()
        self.group_name = group_name
        self.role = role
        self.dates = list(dates)
        # Shared by the run's post-processors: the group, made unique on the main thread.
        self.shared = shared if shared is not None else {"group": group_name}

    @classmethod
    def create(
        cls, group_name: str, role: str, dates: Sequence[str], shared: dict | None = None
    ) -> TimeSeriesPostProcessor:
        instance = cls(group_name, role, dates, shared)
        cls._alive.append(instance)
        return instance

    def postProcessLayer(self, layer: Any, context: QgsProcessingContext, feedback: Any) -> None:  # noqa: N802
        project = context.project() or QgsProject.instance()
        if not self.shared.get("group"):
            self.shared["group"] = unique_group_name(project, self.group_name)
        self.group_name = self.shared["group"]
        group = layer_group(project, self.group_name, TIMESERIES_ROLE)
        if self.dates:
            group.setCustomProperty("insarhub/dates", ",".join(self.dates))
        layer.setName(LAYER_NAMES.get(self.role, layer.name()))
        if self.role in ("VELOCITY", "VELOCITY_STD"):
            limit = robust_limit(layer.source())
            if self.role == "VELOCITY":
                layer.setRenderer(diverging_renderer(layer, 1, limit, "mm/yr"))
        elif self.role == "DISPLACEMENT":
            count = layer.bandCount()
            layer.setRenderer(diverging_renderer(layer, count, robust_limit(layer.source(), band=count), "mm"))
        layer.setCustomProperty(ROLE_PROPERTY, self.role)
        move_into_group(group, layer, project, checked=self.role == "VELOCITY", index=self._index(group))
        if self.role == "DISPLACEMENT":
            self._temporal_layers(layer, group, project)
        layer.triggerRepaint()

    def _index(self, group: Any) -> int:
        """Where this role goes among the run's layers already in the group (the order of LAYER_ORDER)."""
        mine = LAYER_ORDER.index(self.role) if self.role in LAYER_ORDER else len(LAYER_ORDER)
        index = 0
        for child in group.children():
            layer = child.layer() if hasattr(child, "layer") else None
            role = layer.customProperty(ROLE_PROPERTY) if layer is not None else None
            if role in LAYER_ORDER and LAYER_ORDER.index(role) < mine:
                index += 1
        return index

    def _temporal_layers(self, layer: Any, group: Any, project: QgsProject) -> None:
        """Make the displacement step through its dates with the Temporal Controller.

        QGIS 3.38+: the layer itself, one time range per band (:func:`follow_dates_per_band`); nothing
        else is loaded, so animating 150 dates switches bands of one layer. Before 3.38 a raster layer has
        one fixed temporal range, not one per band: one layer per date on the same file, each active for its
        own date, in a folded sub-group.
        """
        dates = self.dates
        count = layer.bandCount()
        if count != len(dates):
            dates = band_descriptions(layer.source())
        existing = group.findGroup(BY_DATE_GROUP)
        if existing is not None:
            group.removeChildNode(existing)
        if follow_dates_per_band(layer, dates):
            return
        limit = robust_limit(layer.source(), band=count)
        subgroup = group.addGroup(BY_DATE_GROUP)
        subgroup.setCustomProperty(ROLE_PROPERTY, "displacement_by_date")
        fixed_range = qgis_enum(
            "Qgis.RasterTemporalMode.FixedTemporalRange",
            "QgsRasterLayerTemporalProperties.TemporalMode.ModeFixedTemporalRange",
        )
        for band, date in enumerate(dates, start=1):
            view = QgsRasterLayer(layer.source(), f"{date[:4]}-{date[4:6]}-{date[6:8]}", "gdal")
            view.setRenderer(diverging_renderer(view, band, limit, "mm"))
            try:
                start = _date(date)
                end = _date(dates[band]) if band < len(dates) else start.addDays(1)
            except ValueError:
                continue
            properties = view.temporalProperties()
            properties.setIsActive(True)
            properties.setMode(fixed_range)
            properties.setFixedTemporalRange(QgsDateTimeRange(start, end, True, False))
            view.setCustomProperty(ROLE_PROPERTY, "displacement_date")
            project.addMapLayer(view, False)
            subgroup.addLayer(view)
        subgroup.setItemVisibilityChecked(False)
        subgroup.setExpanded(False)


def timeseries_group_name(run_name: str, date_texts: Sequence[str]) -> str:
    """A short group name readable in the layers panel: the run and its dates."""
    span = ""
    if date_texts:
        first, last = min(date_texts), max(date_texts)
        span = f" · {first[:4]}-{first[4:6]}–{last[:4]}-{last[4:6]}"
    return f"Time series {run_name}{span}".strip()


#: Whether this QGIS gives a raster layer one time range per band (``FixedRangePerBand``, QGIS 3.38+).
PER_BAND_TIME_RANGES = hasattr(getattr(Qgis, "RasterTemporalMode", None), "FixedRangePerBand")


def follow_dates_per_band(layer: QgsRasterLayer, dates: Sequence[str]) -> bool:
    """Make ``layer`` show, at each moment of the Temporal Controller, the band of that date (band ``k`` from
    ``dates[k-1]`` until the next date): QGIS 3.38+'s ``FixedRangePerBand`` mode, which switches the
    renderer's band itself (also when an animation is exported), with no layer per date.

    Returns False, changing nothing, where QGIS lacks that mode (before 3.38) or a date is not ``YYYYMMDD``.
    Issue 17 measured both designs (bench/bench_chart.py): one layer per date costs the loading of every
    layer (seconds at 150 dates) and a layer-tree entry per date; the frames themselves take about as long.
    """
    properties = layer.temporalProperties()
    if not PER_BAND_TIME_RANGES or not hasattr(properties, "setFixedRangePerBand") or len(dates) != layer.bandCount():
        return False
    mode = Qgis.RasterTemporalMode.FixedRangePerBand
    try:
        starts = [_date(text) for text in dates]
    except ValueError:
        return False
    ranges = {}
    for band, start in enumerate(starts, start=1):
        end = starts[band] if band < len(starts) else start.addDays(1)
        ranges[band] = QgsDateTimeRange(start, end, True, False)
    properties.setFixedRangePerBand(ranges)
    properties.setMode(mode)
    properties.setIsActive(True)
    return True


def style_timeseries_outputs(context: QgsProcessingContext, outputs: dict, dates: Sequence[Any], run_name: str) -> None:
    """Attach the post-processors that group and style a run's rasters when they are loaded."""
    date_texts = [d.strftime("%Y%m%d") if hasattr(d, "strftime") else str(d).replace("-", "") for d in dates]
    shared: dict = {"group": None}
    group_name = timeseries_group_name(run_name, date_texts)
    for role in LAYER_ORDER:
        path = outputs.get(role)
        if path and context.willLoadLayerOnCompletion(path):
            details = context.layerToLoadOnCompletionDetails(path)
            details.setPostProcessor(TimeSeriesPostProcessor.create(group_name, role, date_texts, shared))
