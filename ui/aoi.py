"""The area of interest of the dock: where it comes from, the parameters it becomes, and its
outline on the map.

Four sources, as the user picks them: the (selected) features of a polygon layer, the map
canvas extent, a rectangle drawn on the map, or a vector file. They become the ``AOI`` or
``EXTENT`` parameter of the algorithms (the algorithms reproject; nothing is converted here).
"""

from __future__ import annotations

import re
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsMapToolExtent, QgsRubberBand
from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtGui import QColor

from ..processing_provider.qt_compat import layer_filter, qgis_enum
from .i18n import tr

LAYER, CANVAS, DRAWN, FILE = range(4)
MODE_NAMES = ("layer", "canvas", "drawn", "file")
MAX_OUTLINE_FEATURES = 2000  # beyond that the outline is the layer's extent (drawing stays fast)
_EXTENT_TEXT = re.compile(r"^\s*([-\d.eE+]+),([-\d.eE+]+),([-\d.eE+]+),([-\d.eE+]+)\s*\[(.+)\]\s*$")


POLYGON = qgis_enum("Qgis.GeometryType.Polygon", "QgsWkbTypes.GeometryType.PolygonGeometry")



def extent_text(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> str:
    """``xmin,xmax,ymin,ymax [AUTHID]``, as Processing's extent parameter reads it."""
    return f"{rect.xMinimum():.8g},{rect.xMaximum():.8g},{rect.yMinimum():.8g},{rect.yMaximum():.8g} [{crs.authid()}]"


def parse_extent_text(text: str) -> QgsReferencedRectangle | None:
    """The inverse of :func:`extent_text` (None for anything else)."""
    match = _EXTENT_TEXT.match(text or "")
    if not match:
        return None
    xmin, xmax, ymin, ymax = (float(v) for v in match.groups()[:4])
    crs = QgsCoordinateReferenceSystem(match.group(5))
    if not crs.isValid():
        return None
    return QgsReferencedRectangle(QgsRectangle(xmin, ymin, xmax, ymax), crs)


class AoiController(QObject):
    """Ties the AOI widgets of the dock to the map canvas."""

    changed = pyqtSignal()

    def __init__(self, dock: Any, canvas: Any) -> None:
        super().__init__(dock)
        self.dock = dock
        self.canvas = canvas
        self.canvas_extent: QgsReferencedRectangle | None = None
        self.drawn_extent: QgsReferencedRectangle | None = None
        self._watched_layer: QgsVectorLayer | None = None
        self._previous_tool = None
        self.extent_tool = QgsMapToolExtent(canvas)
        self.extent_tool.extentChanged.connect(self._rectangle_drawn)
        self.extent_tool.deactivated.connect(lambda: dock.aoiDraw.setChecked(False))
        self.rubber_band = QgsRubberBand(canvas, POLYGON)
        self.rubber_band.setStrokeColor(QColor(230, 80, 20, 220))
        self.rubber_band.setFillColor(QColor(230, 80, 20, 35))
        self.rubber_band.setWidth(2)
        self.visible = True

        dock.aoiLayer.setFilters(layer_filter("PolygonLayer"))
        dock.aoiLayer.setAllowEmptyLayer(True)
        dock.aoiFile.setFilter(
            "Vector files (*.gpkg *.shp *.geojson *.json *.kml *.kmz *.gml *.fgb *.sqlite);;All files (*)"
        )
        dock.aoiMode.currentIndexChanged.connect(self._mode_changed)
        dock.aoiLayer.layerChanged.connect(self._layer_changed)
        dock.aoiSelectedOnly.toggled.connect(self.refresh)
        dock.aoiUseCanvas.clicked.connect(self.use_canvas_extent)
        dock.aoiDraw.toggled.connect(self._draw_toggled)
        dock.aoiFile.fileChanged.connect(self.refresh)
        self._layer_changed(dock.aoiLayer.currentLayer())

    # ---- state -----------------------------------------------------------------------------

    @property
    def mode(self) -> int:
        return self.dock.aoiMode.currentIndex()

    def set_mode(self, mode: int) -> None:
        self.dock.aoiMode.setCurrentIndex(mode)

    def state(self) -> dict[str, Any]:
        """What to persist: the mode, the extents, the layer (by id and source) and the file."""
        layer = self.dock.aoiLayer.currentLayer()
        return {
            "mode": MODE_NAMES[self.mode],
            "aoi_canvas_extent": extent_text(self.canvas_extent, self.canvas_extent.crs())
            if self.canvas_extent
            else "",
            "aoi_drawn_extent": extent_text(self.drawn_extent, self.drawn_extent.crs())
            if self.drawn_extent
            else "",
            "layer_id": layer.id() if layer is not None else "",
            "layer_source": layer.source() if layer is not None else "",
            "selected_only": self.dock.aoiSelectedOnly.isChecked(),
            "file": self.dock.aoiFile.filePath(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`state` returned (missing keys keep the current choice)."""
        if state.get("aoi_canvas_extent"):
            self.canvas_extent = parse_extent_text(str(state.get("aoi_canvas_extent") or ""))
        if state.get("aoi_drawn_extent"):
            self.drawn_extent = parse_extent_text(str(state.get("aoi_drawn_extent") or ""))
        project = QgsProject.instance()
        layer = project.mapLayer(str(state.get("layer_id") or ""))
        if layer is None and state.get("layer_source"):
            from .workspace import find_layer

            layer = find_layer(str(state["layer_source"]), subset=None)
        if isinstance(layer, QgsVectorLayer):
            self.dock.aoiLayer.setLayer(layer)
        if "selected_only" in state:
            value = state["selected_only"]
            self.dock.aoiSelectedOnly.setChecked(value is True or str(value).lower() in ("true", "1"))
        if state.get("file"):
            self.dock.aoiFile.setFilePath(str(state["file"]))
        if state.get("mode") in MODE_NAMES:
            self.set_mode(MODE_NAMES.index(state["mode"]))
        self.dock.aoiStack.setCurrentIndex(self.mode)
        self.refresh()

    def has_area(self) -> bool:
        """True when the current choice gives an area of interest."""
        try:
            found = self.geometry()
        except RuntimeError:
            return False
        return found is not None and not found[0].isEmpty()

    def selection_offer(self) -> QgsVectorLayer | None:
        """The active polygon layer when it has selected features that are not the AOI already."""
        iface = getattr(self.dock, "iface", None)
        layer = None
        if iface is not None:
            try:
                layer = iface.activeLayer()
            except Exception:  # noqa: BLE001 — a stub iface in tests
                layer = None
        if not (isinstance(layer, QgsVectorLayer) and layer.geometryType() == POLYGON):
            return None
        if layer.selectedFeatureCount() == 0:
            return None
        if self.mode == LAYER and self.dock.aoiLayer.currentLayer() is layer and self.dock.aoiSelectedOnly.isChecked():
            return None
        return layer

    def use_selection(self, layer: QgsVectorLayer | None = None) -> None:
        """Make the selected features of ``layer`` (default: the active layer) the area of interest."""
        layer = layer or self.selection_offer()
        if layer is None:
            return
        self.dock.aoiLayer.setLayer(layer)
        self.dock.aoiSelectedOnly.setChecked(True)
        self.set_mode(LAYER)
        self.refresh()

    def choose_default(self) -> None:
        """With no area of interest yet, the selected features of the active polygon layer.

        An area already chosen is never replaced silently: the page offers the selection instead.
        """
        if not self.has_area() and self.selection_offer() is not None:
            self.use_selection()
        self.refresh()

    def label(self) -> str:
        """A short name of the area for a group name: the layer or file name, else where it is."""
        mode = self.mode
        if mode == LAYER:
            layer = self.dock.aoiLayer.currentLayer()
            if layer is not None:
                return layer.name()
        if mode == FILE and self.dock.aoiFile.filePath():
            from pathlib import Path

            return Path(self.dock.aoiFile.filePath()).stem
        found = None
        try:
            found = self.geometry()
        except RuntimeError:
            found = None
        if found is None or found[0].isEmpty():
            return tr("Area")
        geometry, crs = found
        centre = QgsPointXY(geometry.centroid().asPoint())
        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        if crs.isValid() and crs != wgs84:
            centre = QgsCoordinateTransform(crs, wgs84, QgsProject.instance()).transform(centre)
        lat = f"{abs(centre.y()):.2f}°{'N' if centre.y() >= 0 else 'S'}"
        lon = f"{abs(centre.x()):.2f}°{'E' if centre.x() >= 0 else 'W'}"
        return f"{lat} {lon}"

    # ---- parameters ------------------------------------------------------------------------

    def parameters(self) -> dict[str, Any]:
        """``{"AOI": ...}`` or ``{"EXTENT": ...}``; ValueError with advice when there is none."""
        mode = self.mode
        if mode == LAYER:
            layer = self.dock.aoiLayer.currentLayer()
            if layer is None:
                raise ValueError(tr("Choose a polygon layer for the area of interest (or another AOI source)."))
            if self.dock.aoiSelectedOnly.isChecked():
                if layer.selectedFeatureCount() == 0:
                    raise ValueError(
                        tr(
                            "No feature of '{name}' is selected: select the area of interest on the map, "
                            "or untick 'Selected features only' to use all its features."
                        ).format(name=layer.name())
                    )
                return {"AOI": QgsProcessingFeatureSourceDefinition(layer.id(), selectedFeaturesOnly=True)}
            return {"AOI": layer.id()}
        if mode == CANVAS:
            if self.canvas_extent is None:
                self.use_canvas_extent()
            return {"EXTENT": QgsReferencedRectangle(self.canvas_extent, self.canvas_extent.crs())}
        if mode == DRAWN:
            if self.drawn_extent is None:
                raise ValueError(tr("Draw a rectangle on the map first (press 'Draw a rectangle on the map')."))
            return {"EXTENT": QgsReferencedRectangle(self.drawn_extent, self.drawn_extent.crs())}
        path = self.dock.aoiFile.filePath()
        if not path:
            raise ValueError(tr("Choose a vector file for the area of interest."))
        return {"AOI": path}

    def geometry(self) -> tuple[QgsGeometry, QgsCoordinateReferenceSystem] | None:
        """The AOI as a geometry in its own CRS (for the outline), or None."""
        mode = self.mode
        if mode in (CANVAS, DRAWN):
            extent = self.canvas_extent if mode == CANVAS else self.drawn_extent
            if extent is None:
                return None
            return QgsGeometry.fromRect(extent), extent.crs()
        if mode == LAYER:
            layer = self.dock.aoiLayer.currentLayer()
            if layer is None:
                return None
            selected = self.dock.aoiSelectedOnly.isChecked()
            return _layer_outline(layer, selected), layer.crs()
        path = self.dock.aoiFile.filePath()
        if not path:
            return None
        layer = QgsVectorLayer(path, "aoi", "ogr")
        if not layer.isValid():
            return None
        return _layer_outline(layer, False), layer.crs()

    def describe(self) -> str:
        mode = self.mode
        if mode == LAYER:
            layer = self.dock.aoiLayer.currentLayer()
            if layer is None:
                return tr("No polygon layer chosen.")
            if self.dock.aoiSelectedOnly.isChecked():
                return tr("{count} selected feature(s) of '{name}'.").format(
                    count=layer.selectedFeatureCount(), name=layer.name()
                )
            return tr("All {count} feature(s) of '{name}'.").format(count=layer.featureCount(), name=layer.name())
        if mode in (CANVAS, DRAWN):
            extent = self.canvas_extent if mode == CANVAS else self.drawn_extent
            if extent is None:
                return tr("Press the button to set the extent.") if mode == CANVAS else tr("No rectangle drawn yet.")
            return extent_text(extent, extent.crs())
        path = self.dock.aoiFile.filePath()
        return tr("Features of {path}.").format(path=path) if path else tr("No file chosen.")

    # ---- canvas ----------------------------------------------------------------------------

    def use_canvas_extent(self) -> None:
        settings = self.canvas.mapSettings()
        crs = settings.destinationCrs()
        if not crs.isValid():
            crs = QgsCoordinateReferenceSystem("EPSG:4326")
        self.canvas_extent = QgsReferencedRectangle(self.canvas.extent(), crs)
        self.set_mode(CANVAS)
        self.refresh()

    def _draw_toggled(self, checked: bool) -> None:
        if checked:
            current = self.canvas.mapTool()
            self._previous_tool = current if current is not self.extent_tool else None
            self.canvas.setMapTool(self.extent_tool)
        elif self.canvas.mapTool() is self.extent_tool:
            self._restore_tool()

    def _restore_tool(self) -> None:
        previous, self._previous_tool = self._previous_tool, None
        if previous is not None:
            self.canvas.setMapTool(previous)
        else:
            self.canvas.unsetMapTool(self.extent_tool)

    def _rectangle_drawn(self, rect: QgsRectangle) -> None:
        if rect.isNull() or rect.isEmpty():
            return
        crs = self.canvas.mapSettings().destinationCrs()
        if not crs.isValid():
            crs = QgsCoordinateReferenceSystem("EPSG:4326")
        self.drawn_extent = QgsReferencedRectangle(rect, crs)
        self.extent_tool.clearRubberBand()
        self._restore_tool()
        self.dock.aoiDraw.setChecked(False)
        self.set_mode(DRAWN)
        self.refresh()

    def set_drawn_extent(self, rect: QgsRectangle) -> None:
        """What drawing a rectangle does (also for scripts and tests)."""
        self._rectangle_drawn(rect)

    def _mode_changed(self, index: int) -> None:
        self.dock.aoiStack.setCurrentIndex(index)
        self.refresh()

    def _layer_changed(self, layer: Any) -> None:
        if self._watched_layer is not None:
            try:
                self._watched_layer.selectionChanged.disconnect(self.refresh)
            except (TypeError, RuntimeError):
                pass
        self._watched_layer = layer if isinstance(layer, QgsVectorLayer) else None
        if self._watched_layer is not None:
            self._watched_layer.selectionChanged.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args: Any) -> None:
        """Redraw the outline and the summary line."""
        self.dock.aoiSummary.setText(self.describe())
        self.rubber_band.reset(POLYGON)
        if self.visible:
            found = None
            try:
                found = self.geometry()
            except RuntimeError:  # a layer deleted under us
                found = None
            if found is not None and not found[0].isEmpty():
                geometry, crs = found
                self.rubber_band.setToGeometry(geometry, crs)
        self.changed.emit()

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        self.refresh()

    def cleanup(self) -> None:
        """Remove the outline and the map tool from the canvas (dock closed for good)."""
        if self.canvas.mapTool() is self.extent_tool:
            self.canvas.unsetMapTool(self.extent_tool)
        if self._watched_layer is not None:
            try:
                self._watched_layer.selectionChanged.disconnect(self.refresh)
            except (TypeError, RuntimeError):
                pass
            self._watched_layer = None
        self.rubber_band.reset(POLYGON)
        scene = self.canvas.scene()
        if scene is not None:
            scene.removeItem(self.rubber_band)
        self.extent_tool.deleteLater()


def _layer_outline(layer: QgsVectorLayer, selected_only: bool) -> QgsGeometry:
    """Union of the (selected) features; the layer extent when there are very many."""
    count = layer.selectedFeatureCount() if selected_only else layer.featureCount()
    if count > MAX_OUTLINE_FEATURES:
        extent = layer.boundingBoxOfSelected() if selected_only else layer.extent()
        return QgsGeometry.fromRect(extent)
    if selected_only:
        features = layer.getSelectedFeatures(QgsFeatureRequest().setNoAttributes())
    else:
        features = layer.getFeatures(QgsFeatureRequest().setNoAttributes())
    geometries = [f.geometry() for f in features if f.hasGeometry()]
    if not geometries:
        return QgsGeometry()
    return QgsGeometry.unaryUnion(geometries)
