"""How a decomposition's rasters look on the map: their own group, the time series' diverging ramp."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from qgis.core import (
    Qgis,
    QgsDateTimeRange,
    QgsLayerTreeGroup,
    QgsLayerTreeLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtGui import QColor

from .raster_styling import _date, band_descriptions, diverging_renderer, follow_dates_per_band, robust_limit
from .styling import layer_group, move_into_group

NAMES = {
    "VERTICAL": "Vertical velocity (mm/yr, + up)",
    "EAST": "East velocity (mm/yr, + east)",
    "VERTICAL_STD": "Vertical velocity std (mm/yr)",
    "EAST_STD": "East velocity std (mm/yr)",
    "MASK": "Decomposition mask",
    "VERTICAL_DISPLACEMENT": "Vertical displacement (mm, + up; shown: last date)",
    "EAST_DISPLACEMENT": "East displacement (mm, + east; shown: last date)",
}
ORDER = tuple(NAMES)


def mask_renderer(layer: QgsRasterLayer) -> QgsPalettedRasterRenderer:
    """Grey where an input had no data, orange where the geometry is too weak, decomposed pixels clear."""
    classes = [
        QgsPalettedRasterRenderer.Class(0, QColor(120, 120, 120, 160), "0 no data in an input"),
        QgsPalettedRasterRenderer.Class(1, QColor(0, 0, 0, 0), "1 decomposed"),
        QgsPalettedRasterRenderer.Class(2, QColor(230, 120, 0, 200), "2 geometry too weak"),
    ]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


class DecompositionPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles and groups one output of ``insarhub:decompose``.

    Vertical and east share one symmetric limit (the larger of their robust 98th percentiles), so equal
    colours mean equal speeds on both maps.
    """

    _alive: list[DecompositionPostProcessor] = []

    def __init__(self, group_name: str, role: str, paths: Mapping[str, str]):
        super().__init__()
        self.group_name = group_name
        self.role = role
        self.paths = dict(paths)

    @classmethod
    def create(cls, group_name: str, role: str, paths: Mapping[str, str]) -> DecompositionPostProcessor:
        instance = cls(group_name, role, paths)
        cls._alive.append(instance)
        return instance

    def _shared_limit(self, roles: tuple[str, str], band: int = 1) -> float:
        return max(robust_limit(self.paths[r], band=band) for r in roles if self.paths.get(r))

    def postProcessLayer(self, layer: Any, context: QgsProcessingContext, feedback: Any) -> None:  # noqa: N802
        project = context.project() or QgsProject.instance()
        group = layer_group(project, self.group_name)
        layer.setName(NAMES.get(self.role, self.role))
        checked = self.role == "VERTICAL"
        if self.role in ("VERTICAL", "EAST"):
            layer.setRenderer(diverging_renderer(layer, 1, self._shared_limit(("VERTICAL", "EAST")), "mm/yr"))
        elif self.role == "MASK":
            layer.setRenderer(mask_renderer(layer))
        elif self.role in ("VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT"):
            count = layer.bandCount()
            limit = self._shared_limit(("VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT"), band=count)
            layer.setRenderer(diverging_renderer(layer, count, limit, "mm"))
            self._temporal_layers(layer, group, project, limit)
        move_into_group(group, layer, project, checked=checked)
        _sort_group(group)
        layer.triggerRepaint()

    def _temporal_layers(self, layer: Any, group: Any, project: QgsProject, limit: float) -> None:
        """The layer follows the Temporal Controller band by band (QGIS 3.38+); before, one layer per
        common date (a raster has one fixed time range there, not one per band)."""
        dates = band_descriptions(layer.source())
        if follow_dates_per_band(layer, dates):
            return
        component = "Vertical" if self.role.startswith("VERTICAL") else "East"
        subgroup = group.addGroup(f"{component} displacement by date (Temporal Controller)")
        subgroup.setItemVisibilityChecked(False)
        for band, date in enumerate(dates, start=1):
            view = QgsRasterLayer(layer.source(), f"{component} {date[:4]}-{date[4:6]}-{date[6:8]}", "gdal")
            view.setRenderer(diverging_renderer(view, band, limit, "mm"))
            try:
                start = _date(date)
                end = _date(dates[band]) if band < len(dates) else start.addDays(1)
            except ValueError:
                continue
            properties = view.temporalProperties()
            properties.setIsActive(True)
            properties.setMode(Qgis.RasterTemporalMode.FixedTemporalRange)
            properties.setFixedTemporalRange(QgsDateTimeRange(start, end, True, False))
            project.addMapLayer(view, False)
            subgroup.addLayer(view)


def _sort_group(group: Any) -> None:
    """The outputs in :data:`ORDER` (vertical first) whichever finished loading first; sub-groups last."""
    rank = {NAMES[role]: index for index, role in enumerate(ORDER)}
    layers = [c for c in group.children() if isinstance(c, QgsLayerTreeLayer) and c.name() in rank]
    subgroups = [c for c in group.children() if isinstance(c, QgsLayerTreeGroup)]
    for node in sorted(layers, key=lambda c: rank[c.name()]) + subgroups:
        clone = node.clone()
        group.addChildNode(clone)
        group.removeChildNode(node)


def style_decomposition_outputs(context: QgsProcessingContext, outputs: Mapping[str, Any]) -> str:
    """Attach the post-processors that group and style a decomposition's rasters; returns the group name."""
    group_name = "InSARHub vertical and east " + dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    paths = {role: str(outputs[role]) for role in ORDER if outputs.get(role)}
    for role, path in paths.items():
        if context.willLoadLayerOnCompletion(path):
            details = context.layerToLoadOnCompletionDetails(path)
            details.setPostProcessor(DecompositionPostProcessor.create(group_name, role, paths))
    return group_name
