"""Page 5: MintPy's time series (``insarhub:runtimeseries``), the reference point, time on the map,
and the pixel chart.

- The products folder and the MintPy work folder follow the current search's stack folder; the
  results go to ``stacks/<stack>/results/<run>/`` in the workspace.
- Picking the reference point draws the area every interferogram covers (read from the products
  at a coarse resolution, in the background) and refuses a click outside it at once, in map
  coordinates. After the run the reference used (picked or automatic) is a point layer.
- The run's group goes to the top of the search's group, zoomed to; the Temporal Controller is set
  to its dates and opened; the chart picks the run's displacement by itself.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsCsException,
    QgsFeature,
    QgsGeometry,
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsSingleSymbolRenderer,
    QgsTask,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.gui import QgsFileWidget, QgsRubberBand, QgsVertexMarker
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QFileDialog

from ...processing_provider.qt_compat import qgis_enum
from ...processing_provider.raster_styling import TIMESERIES_ROLE
from ...processing_provider.styling import ROLE_PROPERTY
from .. import temporal
from ..layers import parent_group, place_group, zoom_to
from ..maptools import PixelSeriesTool, PointPickTool, format_point, parse_point, read_pixel_series
from ..workspace import find_layer, is_temporary, normalised, product_names
from .base import BasePage

POLYGON = qgis_enum("Qgis.GeometryType.Polygon", "QgsWkbTypes.GeometryType.PolygonGeometry")
OUTPUTS = {"VELOCITY": "velocity", "VELOCITY_STD": "velocity_std", "TEMPORAL_COHERENCE": "temporal_coherence", "DISPLACEMENT": "displacement"}


def read_pixel_series_value(layer: QgsRasterLayer, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> float | None:
    """Band 1 of ``layer`` at ``point`` (None where it has no data); ValueError outside it."""
    import math

    target = QgsPointXY(point)
    if crs.isValid() and layer.crs().isValid() and crs != layer.crs():
        target = QgsCoordinateTransform(crs, layer.crs(), QgsProject.instance()).transform(target)
    if not layer.extent().contains(target):
        raise ValueError(f"outside {layer.name()}")
    value, ok = layer.dataProvider().sample(target, 1)
    return float(value) if ok and not math.isnan(value) else None


def reference_from_metadata(velocity_path: str) -> tuple[float, float, str] | None:
    """The reference point the run used (x, y, EPSG:n), from the velocity GeoTIFF's metadata."""
    from osgeo import gdal

    dataset = gdal.Open(velocity_path)
    if dataset is None:
        return None
    metadata = dataset.GetMetadata() or {}
    xy, epsg = metadata.get("REFERENCE_POINT_XY", ""), metadata.get("REFERENCE_POINT_EPSG", "")
    try:
        x, y = (float(v) for v in xy.split(","))
    except ValueError:
        return None
    return x, y, f"EPSG:{epsg}" if epsg else QgsCoordinateReferenceSystem.fromWkt(dataset.GetProjection()).authid()


def write_reference_layer(path: str, x: float, y: float, crs: str, chosen: bool) -> bool:
    """The reference point as a one-point GeoPackage (``kind``: picked or automatic)."""
    layer = QgsVectorLayer("Point?field=kind:string(20)", "reference", "memory")
    layer.setCrs(QgsCoordinateReferenceSystem(crs))
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
    feature["kind"] = "picked" if chosen else "automatic"
    layer.dataProvider().addFeatures([feature])
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "reference"
    result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsCoordinateTransformContext(), options)
    return result[0] == QgsVectorFileWriter.WriterError.NoError


def style_reference(layer: QgsVectorLayer) -> None:
    symbol = QgsMarkerSymbol.createSimple(
        {"name": "star", "color": "#ffffff", "outline_color": "#000000", "outline_width": "0.5", "size": "5"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    settings = QgsPalLayerSettings()
    settings.isExpression = True
    settings.fieldName = "'Reference (' || \"kind\" || ')'"
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


class TimeseriesPage(BasePage):
    UI = "timeseries.ui"
    TITLE = "5 Time series"
    TOOLTIP = "MintPy's time series, the reference point, time on the map, the pixel chart (insarhub:runtimeseries)"
    PERSISTED = ("computeCluster", "workers")
    DEFAULT_FOR = {"computeCluster": "compute_cluster", "workers": "workers"}
    RUN_BUTTONS = ("runTimeseries",)
    BASED_ON = "tsBasedOn"
    STALE = "tsStale"

    referenceAreaReady = pyqtSignal(bool)  # the valid area was computed (True) or could not be (False)

    def setup(self) -> None:
        for widget in (self.tsProducts, self.tsWorkdir):
            widget.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.reference_tool = PointPickTool(self.canvas)
        self.pixel_tool = PixelSeriesTool(self.canvas)
        self._previous_tool = None
        self.reference_marker: QgsVertexMarker | None = None
        self.pixel_markers: list[QgsVertexMarker] = []
        self.area_band = QgsRubberBand(self.canvas, POLYGON)
        self.area_band.setStrokeColor(QColor(31, 95, 160, 230))
        self.area_band.setFillColor(QColor(31, 95, 160, 25))
        self.area_band.setLineStyle(Qt.PenStyle.DashLine)
        self.area_band.setWidth(2)
        self.area_band.hide()
        self.valid_area: tuple[QgsGeometry, QgsCoordinateReferenceSystem, str] | None = None  # geometry, crs, folder
        self.area_task: QgsTask | None = None
        self.referenceArea.hide()
        self.chart = None
        self._make_chart()
        self._followed: tuple = ()
        self._pending: Any = None
        self.show_stale("")
        self.animateDisplacement.setEnabled(False)

    def _make_chart(self) -> None:
        try:
            from ..chart import TimeSeriesChart

            self.chart = TimeSeriesChart(self.chartContainer)
            self.chartContainer.layout().addWidget(self.chart)
        except ImportError as exc:  # matplotlib missing from this QGIS' Python
            self.chart = None
            self.tsResult.setText(self.tr("The pixel chart needs matplotlib ({error}).").format(error=exc))
            for widget in (self.chartPixels, self.clearChart, self.exportCsv, self.exportPng):
                widget.setEnabled(False)

    def connect_signals(self) -> None:
        self.runTimeseries.clicked.connect(self.run_timeseries)
        self.pickReference.toggled.connect(self._pick_reference_toggled)
        self.reference_tool.picked.connect(self.reference_clicked)
        self.reference_tool.deactivated.connect(lambda: self.pickReference.setChecked(False))
        self.clearReference.clicked.connect(lambda: self.set_reference_point(None))
        self.referencePoint.editingFinished.connect(self._reference_typed)
        self.chartPixels.toggled.connect(self._chart_tool_toggled)
        self.pixel_tool.picked.connect(self.chart_pixel)
        self.pixel_tool.deactivated.connect(lambda: self.chartPixels.setChecked(False))
        self.clearChart.clicked.connect(self.clear_chart)
        self.exportCsv.clicked.connect(lambda: self.export_chart_csv())
        self.exportPng.clicked.connect(lambda: self.export_chart_png())
        self.animateDisplacement.clicked.connect(self.animate)
        self.tsProducts.fileChanged.connect(self._products_chosen)
        self.tsWorkdir.fileChanged.connect(self._workdir_chosen)
        self.project.layersAdded.connect(self._layers_changed)
        self.project.layersRemoved.connect(self._layers_changed)

    def _layers_changed(self, *_args: Any) -> None:
        self.update_displacement_choices()

    # ---- following the chain ---------------------------------------------------------------

    def stack_folder_of(self, products: str) -> Path | None:
        """The workspace's stack folder holding ``products`` (``stacks/<stack>/products``), or None."""
        folder = Path(products)
        if folder.name == "products" and folder.parent.parent.name == "stacks" and self.workspace.folder is not None:
            if self.workspace.relative(folder) != str(folder):  # inside the workspace
                return folder.parent
        return None

    def default_workdir(self, products: str) -> str:
        """MintPy's work folder in the workspace: beside the stack's products, else under ``mintpy/``."""
        if not products:
            return ""
        stack = self.stack_folder_of(products)
        if stack is not None:
            return str(stack / "mintpy")
        if self.workspace.folder is None:
            return ""  # chosen when the run starts (the workspace is made then)
        return str(self.workspace.folder / "mintpy" / Path(products).name)

    def refresh(self) -> None:
        chain = self.workspace.current
        key = (chain.id, chain.products) if chain is not None else ()
        if key != self._followed:
            self._followed = key
            products = self.workspace.path(chain.products) if chain is not None else ""
            for widget, value in ((self.tsProducts, products), (self.tsWorkdir, self.default_workdir(products))):
                widget.blockSignals(True)
                widget.setFilePath(value)
                widget.blockSignals(False)
            extra = self.remembered()
            self.referencePoint.setText(extra.get("reference_point", ""))
            self.show_reference_marker(self.referencePoint.text())
            self.tsCropAoi.setChecked(bool(extra.get("crop_aoi", False)))
            self.update_displacement_choices()
        products = self.tsProducts.filePath()
        count = len(product_names(products)) if products else 0
        if chain is None and not products:
            self.show_based_on(self.tr("Download products first (page 4), or choose a products folder."))
        else:
            runs = chain.timeseries if chain is not None else []
            last = runs[-1] if runs else None
            text = self.tr("Products: {count} in {folder}.").format(count=count, folder=products or "—")
            if last is not None:
                text += " " + self.tr("Last run: {when}, {ifgs} interferograms.").format(
                    when=last.get("created", "")[:16].replace("T", " "), ifgs=last.get("interferograms", 0)
                )
            self.show_based_on(text)
        self.show_stale(self.workspace.stale("timeseries", chain) if chain is not None else "")
        self.runTimeseries.setEnabled(not self._busy)
        self.animateDisplacement.setEnabled(self.latest_group() is not None)

    def _products_key(self) -> str:
        """What the page's choices (reference point, crop) belong to: the products folder (one stack)."""
        return self.workspace.relative(self.tsProducts.filePath()) or "-"

    def remembered(self) -> dict:
        return dict(self.workspace.extra.get("timeseries", {}).get(self._products_key(), {}))

    def _remember(self, **values: Any) -> None:
        self.workspace.extra.setdefault("timeseries", {}).setdefault(self._products_key(), {}).update(values)
        self.workspace.save()

    def _products_chosen(self, path: str) -> None:
        self.valid_area = None
        self.area_band.hide()
        self.tsWorkdir.setFilePath(self.default_workdir(path))
        chain = self.workspace.current
        if chain is not None and path and self.workspace.relative(path) != chain.products:
            chain.products = self.workspace.relative(path)
            self._followed = (chain.id, chain.products)
            self.workspace.commit("products")

    def _workdir_chosen(self, path: str) -> None:
        self._remember(workdir=path)

    # ---- the reference point ---------------------------------------------------------------

    def _use_tool(self, tool: Any, on: bool) -> None:
        if on:
            current = self.canvas.mapTool()
            if current not in (self.reference_tool, self.pixel_tool, tool):
                self._previous_tool = current
            self.canvas.setMapTool(tool)
        elif self.canvas.mapTool() is tool:
            previous, self._previous_tool = self._previous_tool, None
            if previous is not None:
                self.canvas.setMapTool(previous)
            else:
                self.canvas.unsetMapTool(tool)

    def _pick_reference_toggled(self, checked: bool) -> None:
        if checked:
            self.chartPixels.setChecked(False)
            self.compute_valid_area()
        else:
            self.area_band.hide()
        self._use_tool(self.reference_tool, checked)

    def compute_valid_area(self) -> QgsTask | None:
        """Read the area every product covers (in the background) and draw it; None when already known."""
        folder = self.tsProducts.filePath()
        if self.valid_area is not None and self.valid_area[2] == folder:
            self._show_area()
            self.referenceAreaReady.emit(True)
            return None
        if not folder or not os.path.isdir(folder):
            self.referenceArea.setText(self.tr("Download the products first: the reference point must be inside the area they all cover."))
            self.referenceArea.show()
            self.referenceAreaReady.emit(False)
            return None
        self.referenceArea.setText(self.tr("Reading the area every interferogram covers…"))
        self.referenceArea.show()
        workdir = self.tsWorkdir.filePath()

        def compute(_task: QgsTask) -> Any:
            from ...core.valid_area import common_valid_area

            return common_valid_area(folder, exclude=[workdir] if workdir else (), is_cancelled=_task.isCanceled)

        def done(exception: BaseException | None, area: Any = None) -> None:
            self.area_task = None
            try:
                if exception is not None or area is None:
                    self.referenceArea.setText(str(exception) if exception else self.tr("The products' area could not be read."))
                    self.referenceAreaReady.emit(False)
                    return
                self.valid_area = (QgsGeometry.fromWkt(area.wkt), QgsCoordinateReferenceSystem(area.crs), folder)
                self._show_area()
                self.referenceArea.setText(
                    self.tr("Click inside the dashed outline: the area all {count} interferograms cover.").format(count=area.products)
                )
                self.referenceAreaReady.emit(True)
            except RuntimeError:  # the dock was closed meanwhile
                pass

        self.area_task = QgsTask.fromFunction(self.tr("InSARHub: area covered by the products"), compute, on_finished=done)
        QgsApplication.taskManager().addTask(self.area_task)
        return self.area_task

    def _show_area(self) -> None:
        if self.valid_area is None:
            return
        geometry, crs, _folder = self.valid_area
        self.area_band.setToGeometry(geometry, crs)
        self.area_band.show()

    def area_problem(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> str:
        """Why ``point`` (in ``crs``, the map's) cannot be the reference ("" when it can)."""
        if self.valid_area is None:
            return ""
        geometry, area_crs, _folder = self.valid_area
        inside = QgsPointXY(point)
        if crs.isValid() and area_crs.isValid() and crs != area_crs:
            inside = QgsCoordinateTransform(crs, area_crs, self.project).transform(inside)
        if geometry.contains(QgsGeometry.fromPointXY(inside)):
            return ""
        box = geometry.boundingBox()
        if crs.isValid() and area_crs.isValid() and crs != area_crs:
            box = QgsCoordinateTransform(area_crs, crs, self.project).transformBoundingBox(box)
        digits = 5 if crs.isGeographic() else 0
        return self.tr(
            "The point {x}, {y} ({crs}) is outside the area every interferogram covers (x {x0} to {x1}, y {y0} to {y1} "
            "in the map's CRS): click inside the dashed outline."
        ).format(
            x=f"{point.x():.{digits}f}",
            y=f"{point.y():.{digits}f}",
            crs=crs.authid() or crs.description(),
            x0=f"{box.xMinimum():.{digits}f}",
            x1=f"{box.xMaximum():.{digits}f}",
            y0=f"{box.yMinimum():.{digits}f}",
            y1=f"{box.yMaximum():.{digits}f}",
        )

    def reference_clicked(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> bool:
        """A click of the pick tool: refused at once outside the valid area, else the reference point."""
        if self.valid_area is None and self.area_task is not None:
            self.refuse(self.tr("Wait a moment: the area the products cover is still being read."), self.referenceArea)
            return False
        try:
            problem = self.area_problem(point, crs)
        except QgsCsException:
            problem = self.tr("The point {x}, {y} cannot be converted to the products' CRS: click inside the dashed outline.").format(
                x=f"{point.x():.6g}", y=f"{point.y():.6g}"
            )
        if problem:
            self.refuse(problem, self.referenceArea)
            self.referenceArea.show()
            return False
        self.set_reference_point(point, crs)
        return True

    def set_reference_point(self, point: QgsPointXY | None, crs: QgsCoordinateReferenceSystem | None = None) -> None:
        """Set (or clear, with None: automatic) the reference point."""
        text = "" if point is None else format_point(point, crs)
        self.referencePoint.setText(text)
        self.show_reference_marker(text)
        self.pickReference.setChecked(False)
        self._remember(reference_point=text)
        self.referenceArea.setText(self.tr("Reference point set.") if text else self.tr("The reference point will be chosen automatically."))

    def _reference_typed(self) -> None:
        self.show_reference_marker(self.referencePoint.text())
        self._remember(reference_point=self.referencePoint.text().strip())

    def show_reference_marker(self, text: str) -> None:
        """The reference point as a cross on the map."""
        if self.reference_marker is not None:
            self._remove_marker(self.reference_marker)
            self.reference_marker = None
        parsed = parse_point(text)
        if parsed is None:
            return
        point, crs = parsed
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        if canvas_crs.isValid() and crs != canvas_crs:
            point = QgsCoordinateTransform(crs, canvas_crs, self.project).transform(point)
        marker = QgsVertexMarker(self.canvas)
        marker.setCenter(point)
        marker.setIconType(QgsVertexMarker.IconType.ICON_CROSS)
        marker.setColor(QColor("#000000"))
        marker.setIconSize(14)
        marker.setPenWidth(3)
        marker.setVisible(self.dock.isVisible() or not self.dock.isHidden())
        self.reference_marker = marker

    # ---- running ---------------------------------------------------------------------------

    def timeseries_parameters(self) -> dict[str, Any]:
        folder = self.tsProducts.filePath()
        if not folder:
            raise ValueError(self.tr("Choose the folder of the downloaded HyP3 products."))
        parameters: dict[str, Any] = {
            "PRODUCTS_FOLDER": folder,
            "COMPUTE_CLUSTER": self.computeCluster.currentText(),
            "WORKERS": self.workers.value(),
        }
        if self.referencePoint.text().strip():
            parsed = parse_point(self.referencePoint.text())
            if parsed is None:
                raise ValueError(self.tr("The reference point reads 'x,y [EPSG:n]'; pick it on the map, or clear it for an automatic one."))
            if self.valid_area is not None and self.valid_area[2] == folder:
                problem = self.area_problem(*parsed)
                if problem:
                    raise ValueError(problem)
            parameters["REFERENCE_POINT"] = self.referencePoint.text().strip()
        if is_temporary(folder):
            raise ValueError(self.tr("{folder} is a temporary folder, which is deleted: keep the products in a folder that lasts.").format(folder=folder))
        workdir = self.tsWorkdir.filePath()
        if not workdir:
            self.workspace.ensure_folder()
            workdir = self.default_workdir(folder)
            self.tsWorkdir.setFilePath(workdir)
        if is_temporary(workdir):
            raise ValueError(self.tr("{folder} is a temporary folder: MintPy's work (hours, resumable) would be lost. Choose a folder that lasts.").format(folder=workdir))
        parameters["WORKDIR"] = workdir
        Path(workdir).mkdir(parents=True, exist_ok=True)
        if self.tsCropAoi.isChecked():
            chain = self.workspace.current
            if chain is None or not chain.aoi.get("file"):
                raise ValueError(self.tr("Cropping needs the search's area of interest: untick 'Crop to the area of interest'."))
            parameters["AOI"] = self.workspace.path(chain.aoi["file"])
        return parameters

    def results_folder(self, products: str) -> Path:
        """``results/<run>`` in the stack's folder of the workspace (else in the workspace)."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = self.stack_folder_of(products) or Path(self.workspace.ensure_folder())
        folder = base / "results" / stamp
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def run_timeseries(self) -> bool:
        try:
            parameters = self.timeseries_parameters()
            folder = self.results_folder(parameters["PRODUCTS_FOLDER"])
        except ValueError as exc:
            self.refuse(str(exc), self.tsResult)
            return False
        for key, stem in OUTPUTS.items():
            parameters[key] = self.destination(str(folder / f"{stem}.tif"))
        self._remember(crop_aoi=self.tsCropAoi.isChecked())
        self._pending = (self.workspace.current, folder, parameters)
        self.tsResult.setText(self.tr("MintPy is running (see the log)…"))
        return self.run("insarhub:runtimeseries", parameters, self._timeseries_done)

    def _timeseries_done(self, ok: bool, results: dict, error: str) -> None:
        chain, folder, parameters = self._pending
        if not ok:
            self.tsResult.setText(error)
            return
        velocity = find_layer(str(results.get("VELOCITY", "")))
        group = parent_group(self.project, velocity)
        stack = ", ".join((chain.pairs or {}).get("stacks", [])) if chain is not None else ""
        name = self.tr("Time series {stack} · {when}").format(stack=stack, when=dt.datetime.now().strftime("%Y-%m-%d %H:%M")).replace("  ", " ")
        if group is not None and chain is not None and group.customProperty(ROLE_PROPERTY) == TIMESERIES_ROLE:
            group = place_group(self.project, chain, group, name)
        reference = reference_from_metadata(str(results.get("VELOCITY", "")))
        if reference is not None and group is not None:
            path = str(folder / "reference.gpkg")
            if write_reference_layer(path, *reference, chosen="REFERENCE_POINT" in parameters):
                layer = QgsVectorLayer(path, self.tr("Reference point"), "ogr")
                style_reference(layer)
                layer.setCustomProperty(ROLE_PROPERTY, "REFERENCE")
                self.project.addMapLayer(layer, False)
                group.insertLayer(0, layer)
        if velocity is not None:
            zoom_to(self.canvas, velocity)
        dates = str(group.customProperty("insarhub/dates") or "").split(",") if group is not None else []
        timing = temporal.setup_controller(self.iface, [d for d in dates if d])
        if timing is not None:
            temporal.open_panel(self.iface)
        run = {
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "folder": self.workspace.relative(folder),
            "group": group.name() if group is not None else "",
            "interferograms": int(results.get("INTERFEROGRAMS", 0)),
            "reference": self.referencePoint.text().strip() or "automatic",
            "products": product_names(parameters["PRODUCTS_FOLDER"]),
            **{key.lower(): self.workspace.relative(str(results[key])) for key in (*OUTPUTS, "TIMESERIES") if results.get(key)},
        }
        if chain is not None:
            chain.timeseries.append(run)
            self.workspace.commit("timeseries")
        self.update_displacement_choices(select=self.workspace.path(run.get("displacement", "")))
        text = self.tr("Time series of {count} interferograms: velocity on the map, the reference point as a star.").format(
            count=run["interferograms"]
        )
        if timing is not None:
            text += " " + self.tr("The Temporal Controller steps through its {dates} dates, {days} days a frame.").format(dates=timing[0], days=timing[1])
        self.tsResult.setText(text + " " + self.tr("Click pixels on the map to chart them."))
        self.animateDisplacement.setEnabled(group is not None)

    def latest_group(self) -> Any:
        from ...processing_provider.styling import groups_with_role

        groups = groups_with_role(self.project, TIMESERIES_ROLE)
        return groups[0] if groups else None

    def animate(self) -> bool:
        """Open the Temporal Controller on the latest run's dates and animate them."""
        group = self.latest_group()
        if group is None:
            return False
        dates = [d for d in str(group.customProperty("insarhub/dates") or "").split(",") if d]
        temporal.setup_controller(self.iface, dates)
        return temporal.animate(self.iface)

    # ---- the chart -------------------------------------------------------------------------

    def displacement_layers(self) -> list[QgsRasterLayer]:
        """The displacement rasters of the project's time series runs, newest group first."""
        found = []
        for layer in self.project.mapLayers().values():
            if isinstance(layer, QgsRasterLayer) and layer.customProperty(ROLE_PROPERTY) == "DISPLACEMENT":
                found.append(layer)
        order = [node.layerId() for node in self.project.layerTreeRoot().findLayers()]
        found.sort(key=lambda layer: order.index(layer.id()) if layer.id() in order else len(order))
        return found

    def update_displacement_choices(self, select: str = "") -> None:
        combo = self.displacementLayer
        try:
            previous = combo.currentData()
        except RuntimeError:
            return
        combo.blockSignals(True)
        combo.clear()
        for layer in self.displacement_layers():
            node = self.project.layerTreeRoot().findLayer(layer.id())
            group = node.parent().name() if node is not None and node.parent() is not None else ""
            combo.addItem(f"{group}" if group else layer.name(), layer.id())
        index = -1
        if select:  # the run's displacement (not one of its per-date views, which read the same file)
            wanted = normalised(select)
            chosen = next((layer for layer in self.displacement_layers() if normalised(layer.source()) == wanted), None)
            index = combo.findData(chosen.id()) if chosen is not None else -1
        if index < 0 and previous:
            index = combo.findData(previous)
        combo.setCurrentIndex(index if index >= 0 else (0 if combo.count() else -1))
        combo.blockSignals(False)

    def displacement_layer(self) -> QgsRasterLayer | None:
        layer_id = self.displacementLayer.currentData()
        layer = self.project.mapLayer(layer_id) if layer_id else None
        return layer if isinstance(layer, QgsRasterLayer) else None

    def _chart_tool_toggled(self, checked: bool) -> None:
        if checked:
            self.pickReference.setChecked(False)
            if self.displacement_layer() is None:
                self.tsResult.setText(self.tr("Run a time series first: the chart reads its displacement."))
        self._use_tool(self.pixel_tool, checked)

    def chart_pixel(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> Any:
        """Chart the displacement of the pixel at ``point`` (in ``crs``); the click tool calls this."""
        layer = self.displacement_layer()
        if layer is None or self.chart is None:
            self.tsResult.setText(self.tr("Run a time series first: the chart reads its displacement."))
            return None
        try:
            series = read_pixel_series(layer, point, crs, label=f"P{len(self.chart.series) + 1}")
        except (ValueError, QgsCsException) as exc:
            self.tsResult.setText(str(exc) if isinstance(exc, ValueError) else self.tr("That point is outside the displacement."))
            return None
        components, velocities = self.decomposition_at(point, crs)
        if components:
            series.extra["components"] = components
        if velocities:
            series.extra["decomposed_mm_yr"] = velocities
        colour = self.chart.add_series(series)
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        shown = QgsPointXY(point)
        if canvas_crs.isValid() and crs.isValid() and crs != canvas_crs:
            shown = QgsCoordinateTransform(crs, canvas_crs, self.project).transform(shown)
        marker = QgsVertexMarker(self.canvas)
        marker.setCenter(shown)
        marker.setIconType(QgsVertexMarker.IconType.ICON_CIRCLE)
        marker.setColor(QColor(colour))
        marker.setIconSize(10)
        marker.setPenWidth(3)
        self.pixel_markers.append(marker)
        rate = self.tr("no fit") if series.velocity_mm_per_year is None else f"{series.velocity_mm_per_year:+.2f} mm/yr"
        text = self.tr("{label}: {count} dates, {rate}.").format(label=series.label, count=len(series.dates), rate=rate)
        if velocities:
            text += " " + self.tr("Vertical {vertical:+.2f} mm/yr, east {east:+.2f} mm/yr.").format(
                vertical=velocities.get("vertical", float("nan")), east=velocities.get("east", float("nan"))
            )
        self.tsResult.setText(text)
        return series

    def decomposition_layer(self, role: str) -> QgsRasterLayer | None:
        """The ``role`` raster (VERTICAL, EAST_DISPLACEMENT, ...) of the newest decomposition in the project."""
        from ...processing_provider.styling import groups_with_role
        from .decompose import DECOMPOSITION_ROLE

        for group in groups_with_role(self.project, DECOMPOSITION_ROLE):
            for node in group.findLayers():
                layer = node.layer()
                if isinstance(layer, QgsRasterLayer) and layer.customProperty(ROLE_PROPERTY) == role:
                    return layer
        return None

    def decomposition_at(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> tuple[list, dict]:
        """Vertical and east at ``point`` from the newest decomposition: displacement series when it
        has them, and the velocities (mm/yr) in any case; nothing outside it."""
        components = []
        for role, name in (("VERTICAL_DISPLACEMENT", self.tr("vertical")), ("EAST_DISPLACEMENT", self.tr("east"))):
            layer = self.decomposition_layer(role)
            if layer is None:
                continue
            try:
                components.append(read_pixel_series(layer, point, crs, label=name))
            except (ValueError, QgsCsException):
                continue
        velocities = {}
        for role, name in (("VERTICAL", "vertical"), ("EAST", "east")):
            layer = self.decomposition_layer(role)
            if layer is None:
                continue
            try:
                value = read_pixel_series_value(layer, point, crs)
            except (ValueError, QgsCsException):
                continue
            if value is not None:
                velocities[name] = value
        return components, velocities

    def clear_chart(self) -> None:
        if self.chart is not None:
            self.chart.clear()
        for marker in self.pixel_markers:
            self._remove_marker(marker)
        self.pixel_markers = []

    def export_chart_csv(self, path: str | None = None) -> str:
        if self.chart is None or not self.chart.series:
            self.tsResult.setText(self.tr("Nothing to export: click pixels first."))
            return ""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, self.tr("Export the chart's data"), "", "CSV (*.csv)")
            if not path:
                return ""
        self.chart.export_csv(path)
        self.tsResult.setText(self.tr("Chart data written to {path}.").format(path=path))
        return str(path)

    def export_chart_png(self, path: str | None = None) -> str:
        if self.chart is None:
            return ""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, self.tr("Export the chart"), "", "PNG (*.png)")
            if not path:
                return ""
        self.chart.export_png(path)
        self.tsResult.setText(self.tr("Chart written to {path}.").format(path=path))
        return str(path)

    # ---- life cycle ------------------------------------------------------------------------

    def _remove_marker(self, marker: Any) -> None:
        scene = self.canvas.scene()
        if scene is not None:
            scene.removeItem(marker)

    def set_visible(self, visible: bool) -> None:
        """The dock was shown or hidden: its map items follow, its map tools stop."""
        for marker in [*self.pixel_markers, self.reference_marker]:
            if marker is not None:
                marker.setVisible(visible)
        if not visible:
            for button in (self.pickReference, self.chartPixels):
                button.setChecked(False)
            self.area_band.hide()

    def cleanup(self) -> None:
        for signal in (self.project.layersAdded, self.project.layersRemoved):
            try:
                signal.disconnect(self._layers_changed)
            except (TypeError, RuntimeError):
                pass
        for tool in (self.reference_tool, self.pixel_tool):
            if self.canvas.mapTool() is tool:
                self.canvas.unsetMapTool(tool)
        for marker in [*self.pixel_markers, self.reference_marker]:
            if marker is not None:
                self._remove_marker(marker)
        self.pixel_markers = []
        self.reference_marker = None
        self.area_band.reset(POLYGON)
        self._remove_marker(self.area_band)
        if self.area_task is not None:
            self.area_task.cancel()
        self.reference_tool.deleteLater()
        self.pixel_tool.deleteLater()
