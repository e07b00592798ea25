"""The InSARHub dock: the workflow on five pages, each step one of the provider's algorithms.

(1) area of interest and search, (2) stacks, (3) pairs, (4) HyP3 jobs, (5) time series. Every
button builds the parameters and hands them to :class:`~.runner.AlgorithmRunner`, which runs
the registered algorithm in a ``QgsProcessingAlgRunnerTask`` and loads its results with
Processing's own ``handleAlgorithmResults``: the dock produces the same layers, styled the
same way, as the toolbox. Field values persist in QgsSettings (:mod:`.state`).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Callable

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingUtils,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget, QgsFileWidget, QgsVertexMarker
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QEvent, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtGui import QBrush, QColor, QPixmap
from qgis.PyQt.QtWidgets import QComboBox, QFileDialog, QHeaderView, QSizePolicy, QTableWidgetItem

from . import state
from .aoi import AoiController
from .defaults import default_value
from .jobs import COLUMNS as JOB_COLUMNS
from .jobs import any_running, expiry_message, guess_job_type, job_rows, pairs_cost, summary
from .maptools import PixelSeriesTool, PointPickTool, format_point, parse_point, read_pixel_series
from .runner import CONSOLE, ERROR, WARNING, AlgorithmRunner

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("dock.ui")))

# Field widgets whose values survive closing the dock (QgsSettings insarhub/dock/<name>).
PERSISTED = (
    "workFolder",
    "tabs",
    "aoiMode",
    "aoiSelectedOnly",
    "aoiFile",
    "searchStart",
    "searchEnd",
    "processingLevel",
    "flightDirection",
    "relativeOrbits",
    "frames",
    "polarization",
    "maxResults",
    "filterStart",
    "filterEnd",
    "filterMonths",
    "minCoverage",
    "maxTemporal",
    "maxPerp",
    "neighbours",
    "maxDegree",
    "pairMonths",
    "forceConnected",
    "multiBurst",
    "jobType",
    "looks",
    "projectName",
    "includeDem",
    "includeLookVectors",
    "applyWaterMask",
    "authConfig",
    "jobsFile",
    "autoRefresh",
    "productsFolder",
    "tsProducts",
    "referencePoint",
    "tsCropAoi",
    "tsWorkdir",
    "computeCluster",
    "workers",
)
# Widget -> options-page default (ui.defaults) used until the user changes the field.
DEFAULT_FOR = {
    "processingLevel": "processing_level",
    "flightDirection": "flight_direction",
    "maxTemporal": "max_temporal_baseline",
    "maxPerp": "max_perp_baseline",
    "neighbours": "neighbours",
    "jobType": "job_type",
    "looks": "looks",
    "projectName": "project_name",
    "computeCluster": "compute_cluster",
    "workers": "workers",
}
STACK_COLUMNS = ("Stack", "Direction", "Path", "Frame / burst", "Dates", "First", "Last", "AOI cover %")
RUN_BUTTONS = (
    "runSearch",
    "runFilter",
    "runPairs",
    "estimateCost",
    "refreshJobs",
    "retryFailed",
    "downloadProducts",
    "runTimeseries",
)
STATUS_COLOURS = {"SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "RUNNING": "#ef6c00", "PENDING": "#8d6e63"}


def find_result_layer(value: Any) -> QgsMapLayer | None:
    """The project layer an algorithm output became (a memory layer id, or a file path)."""
    if value is None or value == "":
        return None
    if isinstance(value, QgsMapLayer):
        return value
    project = QgsProject.instance()
    layer = project.mapLayer(str(value))
    if layer is not None:
        return layer
    target = _normalised(str(value))
    best = None
    for layer in project.mapLayers().values():
        if _normalised(layer.source().split("|")[0]) != target:
            continue
        if isinstance(layer, QgsVectorLayer) and layer.subsetString():
            best = best or layer
            continue
        return layer
    return best


def _normalised(path: str) -> str:
    return os.path.normcase(os.path.abspath(path)) if path else ""


def _is_file(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and os.path.exists(value.split("|")[0])


class InsarhubDock(QgsDockWidget, FORM_CLASS):
    """The dock; ``stepFinished(algorithm_id, ok)`` after each run's results are shown."""

    stepFinished = pyqtSignal(str, bool)

    def __init__(self, iface: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("InsarhubDock")
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self.runner = AlgorithmRunner(self)
        self.footprints: str | None = None  # OUTPUT of the last search (path or layer id)
        self.summary_source: str | None = None
        self.jobs: list = []
        self.pixel_markers: list[QgsVertexMarker] = []
        self.reference_marker: QgsVertexMarker | None = None
        self._plot_pixmap: QPixmap | None = None
        self._priced: str | None = None  # parameters of the last successful dry run
        self._previous_tool = None
        self._cleaned = False
        self.cost_estimate = None  # ui.jobs.CostEstimate of the current pairs
        self.order_credits: float | None = None  # CREDITS of the last dry run
        self.remaining_credits: float | None = None  # REMAINING_CREDITS of the last dry run (None: unlimited)

        self._setup_widgets()
        self.aoi = AoiController(self, self.canvas)
        self.reference_tool = PointPickTool(self.canvas)
        self.pixel_tool = PixelSeriesTool(self.canvas)
        self.chart = None
        self._make_chart()
        self.jobs_timer = QTimer(self)
        self.jobs_timer.setInterval(int(default_value("refresh_interval_s")) * 1000)
        self.jobs_timer.timeout.connect(self._auto_refresh)
        self._apply_defaults()
        self.restore_state()
        self._connect()
        self.aoi.refresh()
        self.reload_jobs_table()

    # ---- set-up ----------------------------------------------------------------------------

    def _setup_widgets(self) -> None:
        for widget in (self.workFolder, self.productsFolder, self.tsProducts, self.tsWorkdir):
            widget.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.aoiFile.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.jobsFile.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.jobsFile.setFilter("Jobs file (*.json)")
        self.jobsFile.setConfirmOverwrite(False)  # an existing jobs file is resumed, not overwritten
        for widget in (self.searchStart, self.searchEnd, self.filterStart, self.filterEnd):
            widget.setAllowNull(True)
            widget.setNullRepresentation("no limit")
            widget.clear()
        self.pairsInput.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.jobsPairs.setFilters(QgsMapLayerProxyModel.Filter.VectorLayer)
        self.displacementLayer.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        for combo in (self.pairsInput, self.jobsPairs, self.displacementLayer):
            combo.setAllowEmptyLayer(True)
            combo.setLayer(None)
        for combo in (self.aoiLayer, self.pairsInput, self.jobsPairs, self.displacementLayer):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.stacksTable.setColumnCount(len(STACK_COLUMNS))
        self.stacksTable.setHorizontalHeaderLabels(STACK_COLUMNS)
        self.stacksTable.verticalHeader().setVisible(False)
        self.stacksTable.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.jobsTable.setColumnCount(len(JOB_COLUMNS))
        self.jobsTable.setHorizontalHeaderLabels(JOB_COLUMNS)
        self.jobsTable.verticalHeader().setVisible(False)
        self.jobsTable.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The plot follows the dock's width instead of widening the page to the picture's.
        self.networkPlot.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.networkPlot.setMinimumWidth(1)
        self.networkPlot.installEventFilter(self)
        self.expiryWarning.setStyleSheet("color: #b35c00; font-weight: bold;")
        self.expiryWarning.hide()
        self.progressBar.setRange(0, 100)

    def _make_chart(self) -> None:
        try:
            from .chart import TimeSeriesChart

            self.chart = TimeSeriesChart(self.chartContainer)
            self.chartContainer.layout().addWidget(self.chart)
        except ImportError as exc:  # matplotlib missing from this QGIS' Python
            self.chart = None
            self.tsResult.setText(f"The pixel chart needs matplotlib ({exc}).")
            for widget in (self.chartPixels, self.clearChart, self.exportCsv, self.exportPng):
                widget.setEnabled(False)

    def _apply_defaults(self) -> None:
        for name, key in DEFAULT_FOR.items():
            state.set_widget_value(getattr(self, name), default_value(key))

    def _connect(self) -> None:
        self.runner.started.connect(self._run_started)
        self.runner.progress.connect(lambda value: self.progressBar.setValue(int(round(value))))
        self.runner.message.connect(self._log)
        self.runner.finished.connect(self._run_finished)
        self.cancelButton.clicked.connect(self.runner.cancel)
        self.visibilityChanged.connect(self._visibility_changed)
        self.tabs.currentChanged.connect(self._show_null_dates)

        self.runSearch.clicked.connect(self.run_search)
        self.stacksTable.itemSelectionChanged.connect(self._stack_selected)
        self.checkAllStacks.clicked.connect(lambda: self._check_stacks(True))
        self.checkNoStacks.clicked.connect(lambda: self._check_stacks(False))
        self.runFilter.clicked.connect(self.run_filter)

        self.runPairs.clicked.connect(self.run_pairs)
        for signal in (
            self.jobsPairs.layerChanged,
            self.jobType.currentIndexChanged,
            self.looks.currentIndexChanged,
        ):
            signal.connect(self.update_cost)

        self.newAuth.clicked.connect(self.create_auth_config)
        self.estimateCost.clicked.connect(self.estimate_cost)
        self.submitJobs.clicked.connect(self.submit_jobs)
        for signal in (
            self.jobsPairs.layerChanged,
            self.jobType.currentIndexChanged,
            self.looks.currentIndexChanged,
            self.projectName.textChanged,
            self.includeDem.toggled,
            self.includeLookVectors.toggled,
            self.applyWaterMask.toggled,
            self.authConfig.selectedConfigIdChanged,
            self.jobsFile.fileChanged,
        ):
            signal.connect(self._invalidate_cost)
        self.jobsFile.fileChanged.connect(lambda _path: self.reload_jobs_table())
        self.refreshJobs.clicked.connect(lambda: self.refresh_jobs())
        self.retryFailed.clicked.connect(lambda: self.refresh_jobs(retry_failed=True))
        self.autoRefresh.toggled.connect(lambda _checked: self._update_timer())
        self.downloadProducts.clicked.connect(self.download_products)

        self.runTimeseries.clicked.connect(self.run_timeseries)
        self.pickReference.toggled.connect(self._pick_reference_toggled)
        self.reference_tool.picked.connect(self.set_reference_point)
        self.reference_tool.deactivated.connect(lambda: self.pickReference.setChecked(False))
        self.clearReference.clicked.connect(lambda: self.set_reference_point(None))
        self.chartPixels.toggled.connect(self._chart_tool_toggled)
        self.pixel_tool.picked.connect(self.chart_pixel)
        self.pixel_tool.deactivated.connect(lambda: self.chartPixels.setChecked(False))
        self.clearChart.clicked.connect(self.clear_chart)
        self.exportCsv.clicked.connect(lambda: self.export_chart_csv())
        self.exportPng.clicked.connect(lambda: self.export_chart_png())

    def _show_null_dates(self, *_args: Any) -> None:
        # A null date edit shows "no limit" only once shown; those on hidden pages would show today greyed.
        for widget in (self.searchStart, self.searchEnd, self.filterStart, self.filterEnd):
            if widget.isNull():
                widget.clear()

    # ---- state -----------------------------------------------------------------------------

    def _persisted_widgets(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PERSISTED}

    def save_state(self) -> None:
        """Store every field and the remembered outputs in QgsSettings."""
        if self._cleaned:
            return
        state.save_widgets(self._persisted_widgets())
        # A field left at the options page's default is not pinned: a later default applies to it.
        unchanged = [
            name
            for name, key in DEFAULT_FOR.items()
            if state.widget_value(getattr(self, name)) == default_value(key)
        ]
        state.clear_state(unchanged)
        for key, value in self.aoi.state().items():
            state.save_value(key, value)
        remembered = {
            "footprints": self.footprints if _is_file(self.footprints) else "",
            "summary": self.summary_source if _is_file(self.summary_source) else "",
        }
        for name in ("aoiLayer", "pairsInput", "jobsPairs", "displacementLayer"):
            layer = getattr(self, name).currentLayer()
            remembered[name] = layer.source() if layer is not None and _is_file(layer.source()) else ""
        for key, value in remembered.items():
            state.save_value(key, value)

    def restore_state(self) -> None:
        """Put back what :meth:`save_state` stored (fields, AOI extents, last results that are files)."""
        state.restore_widgets(self._persisted_widgets())
        self.aoi.restore(
            {key: state.load_value(key, "") for key in ("aoi_canvas_extent", "aoi_drawn_extent")}
        )
        self.aoiStack.setCurrentIndex(self.aoiMode.currentIndex())
        for name in ("aoiLayer", "pairsInput", "jobsPairs", "displacementLayer"):
            source = str(state.load_value(name, "") or "")
            if source:
                layer = find_result_layer(source)
                if layer is not None:
                    getattr(self, name).setLayer(layer)
        footprints = str(state.load_value("footprints", "") or "")
        if _is_file(footprints):
            self.footprints = footprints
        summary_source = str(state.load_value("summary", "") or "")
        if _is_file(summary_source):
            self.load_stacks(summary_source)
        self.set_reference_point_text(self.referencePoint.text())

    # ---- running ---------------------------------------------------------------------------

    def _run(self, algorithm_id: str, parameters: dict, done: Callable[[bool, dict, str], None]) -> bool:
        self.save_state()
        return self.runner.run(algorithm_id, parameters, done)

    def _refuse(self, message: str, label: Any = None) -> None:
        """A step cannot start: say why where the user looks."""
        self.statusLabel.setText(message)
        if label is not None:
            label.setText(message)
        self._log(message, WARNING)

    def _run_started(self, algorithm_id: str) -> None:
        self.progressBar.setValue(0)
        self.cancelButton.setEnabled(True)
        self.statusLabel.setText(f"Running {algorithm_id}…")
        for name in (*RUN_BUTTONS, "submitJobs"):
            getattr(self, name).setEnabled(False)

    def _run_finished(self, algorithm_id: str, ok: bool, results: dict, error: str) -> None:
        self.cancelButton.setEnabled(False)
        for name in RUN_BUTTONS:
            getattr(self, name).setEnabled(True)
        self.submitJobs.setEnabled(self._priced is not None and self._priced == self._fingerprint())
        if ok:
            self.progressBar.setValue(100)
            self.statusLabel.setText(f"{algorithm_id} finished.")
        else:
            self.statusLabel.setText(error or f"{algorithm_id} failed.")
            try:
                self.iface.messageBar().pushMessage(
                    "InSARHub", error or f"{algorithm_id} failed.", Qgis.MessageLevel.Warning, 8
                )
            except Exception:  # noqa: BLE001 — a message bar is a courtesy
                pass
        self.save_state()
        self.stepFinished.emit(algorithm_id, ok)

    def _log(self, text: str, kind: int = 0) -> None:
        prefix = {WARNING: "Warning: ", ERROR: "Error: "}.get(kind, "")
        self.logView.appendPlainText(prefix + text)
        bar = self.logView.verticalScrollBar()
        bar.setValue(bar.maximum())
        if kind != CONSOLE and text.strip():
            self.statusLabel.setText(text.strip().splitlines()[0][:200])

    def _destination(self, stem: str, extension: str) -> QgsProcessingOutputLayerDefinition:
        """A layer output loaded into the project: a file in the work folder, else a temporary one."""
        folder = self.workFolder.filePath()
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            target = str(Path(folder) / f"{stem}_{dt.datetime.now():%Y%m%d_%H%M%S}.{extension}")
        else:
            target = "TEMPORARY_OUTPUT"
        return QgsProcessingOutputLayerDefinition(target, QgsProject.instance())

    def _file(self, stem: str, extension: str, timestamped: bool = True) -> str:
        """A plain output file (plot, jobs file) in the work folder, else in Processing's temp folder."""
        folder = self.workFolder.filePath()
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            name = (
                f"{stem}_{dt.datetime.now():%Y%m%d_%H%M%S}.{extension}"
                if timestamped
                else f"{stem}.{extension}"
            )
            return str(Path(folder) / name)
        return QgsProcessingUtils.generateTempFilename(f"{stem}.{extension}")

    @staticmethod
    def _add_date(parameters: dict, name: str, widget: Any) -> None:
        if not widget.isNull():
            parameters[name] = widget.date().toString("yyyy-MM-dd")

    # ---- (1) search ------------------------------------------------------------------------

    def search_parameters(self) -> dict[str, Any]:
        """The searchscenes parameters of the page (ValueError when the AOI is missing)."""
        parameters: dict[str, Any] = dict(self.aoi.parameters())
        self._add_date(parameters, "START", self.searchStart)
        self._add_date(parameters, "END", self.searchEnd)
        parameters.update(
            {
                "PROCESSING_LEVEL": self.processingLevel.currentText(),
                "FLIGHT_DIRECTION": self.flightDirection.currentText(),
                "RELATIVE_ORBITS": self.relativeOrbits.text().strip(),
                "FRAMES": self.frames.text().strip(),
                "POLARIZATION": self.polarization.text().strip(),
                "MAX_RESULTS": self.maxResults.value(),
                "OUTPUT": self._destination("footprints", "gpkg"),
                "SUMMARY": self._destination("stacks", "gpkg"),
            }
        )
        return parameters

    def run_search(self) -> bool:
        try:
            parameters = self.search_parameters()
        except ValueError as exc:
            self._refuse(str(exc), self.searchResult)
            return False
        self.searchResult.setText("Searching…")
        return self._run("insarhub:searchscenes", parameters, self._search_done)

    def _search_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.searchResult.setText(error)
            return
        self.footprints = results.get("OUTPUT")
        count, stacks = int(results.get("COUNT", 0)), int(results.get("STACK_COUNT", 0))
        self.searchResult.setText(f"{count} scene(s) or burst(s) in {stacks} stack(s).")
        self.load_stacks(results.get("SUMMARY"))
        layer = find_result_layer(self.footprints)
        if layer is not None:
            self.pairsInput.setLayer(layer)
        if stacks:
            self.tabs.setCurrentWidget(self.pageStacks)

    # ---- (2) stacks ------------------------------------------------------------------------

    def load_stacks(self, summary_source: Any) -> int:
        """Fill the stacks table from a summary table (layer id or file); returns the row count."""
        self.summary_source = summary_source if isinstance(summary_source, str) else None
        layer = find_result_layer(summary_source)
        if layer is None and _is_file(summary_source):
            layer = QgsVectorLayer(str(summary_source), "stacks", "ogr")
        rows = []
        if layer is not None and layer.isValid():
            names = layer.fields().names()
            for feature in layer.getFeatures():
                rows.append({name: feature[name] for name in names})
        table = self.stacksTable
        table.setSortingEnabled(False)
        table.clearContents()
        table.setRowCount(len(rows))
        for row, record in enumerate(rows):
            burst = str(record.get("burstId") or "")
            frame: Any = burst or _number(record.get("frameNumber"))
            values = [
                str(record.get("stack") or ""),
                str(record.get("flightDirection") or ""),
                _number(record.get("pathNumber")),
                frame,
                _number(record.get("count")),
                str(record.get("firstDate") or "")[:10],
                str(record.get("lastDate") or "")[:10],
                _number(record.get("aoiCoverage"), digits=1),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, value)
                if column == 0:
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked)
                    item.setData(Qt.ItemDataRole.UserRole, values[0])
                table.setItem(row, column, item)
        table.setSortingEnabled(True)
        return len(rows)

    def stack_ids(self, checked_only: bool = False) -> list[str]:
        ids = []
        for row in range(self.stacksTable.rowCount()):
            item = self.stacksTable.item(row, 0)
            if item is None:
                continue
            if checked_only and item.checkState() != Qt.CheckState.Checked:
                continue
            ids.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return ids

    def set_stack_checked(self, stack: str, checked: bool) -> None:
        for row in range(self.stacksTable.rowCount()):
            item = self.stacksTable.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == stack:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def _check_stacks(self, checked: bool) -> None:
        for stack in self.stack_ids():
            self.set_stack_checked(stack, checked)

    def _stack_selected(self) -> None:
        rows = {index.row() for index in self.stacksTable.selectedIndexes()}
        if len(rows) == 1:
            item = self.stacksTable.item(rows.pop(), 0)
            if item is not None:
                self.show_stack(str(item.data(Qt.ItemDataRole.UserRole)))

    def footprint_layers(self) -> list[QgsVectorLayer]:
        """The layers holding the last search's footprints (the whole layer and its per-stack views)."""
        main = find_result_layer(self.footprints)
        layers = [main] if isinstance(main, QgsVectorLayer) else []
        root = QgsProject.instance().layerTreeRoot()
        node = root.findLayer(main.id()) if main is not None else None
        group = node.parent() if node is not None else None
        if group is not None and group is not root:
            for child in group.findLayers():
                layer = child.layer()
                if (
                    isinstance(layer, QgsVectorLayer)
                    and layer not in layers
                    and {"stack", "sceneName"} <= set(layer.fields().names())
                ):
                    layers.append(layer)
        return layers

    def show_stack(self, stack: str) -> int:
        """Select the stack's footprints and zoom the map to them; returns how many were selected."""
        expression = "\"stack\" = '{}'".format(stack.replace("'", "''"))
        extent = QgsRectangle()
        selected = 0
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        layers = self.footprint_layers()
        for layer in layers:
            layer.selectByExpression(expression)
            if layer.selectedFeatureCount() == 0:
                continue
            box = layer.boundingBoxOfSelected()
            if canvas_crs.isValid() and layer.crs().isValid() and layer.crs() != canvas_crs:
                box = QgsCoordinateTransform(
                    layer.crs(), canvas_crs, QgsProject.instance()
                ).transformBoundingBox(box)
            if extent.isNull():
                extent = QgsRectangle(box)
            else:
                extent.combineExtentWith(box)
        if layers:
            selected = layers[0].selectedFeatureCount()
        if not extent.isNull() and not extent.isEmpty():
            self.canvas.setExtent(extent.buffered(max(extent.width(), extent.height()) * 0.05))
            self.canvas.refresh()
        self.filterResult.setText(f"{stack}: {selected} footprint(s) selected on the map.")
        return selected

    def filter_parameters(self) -> dict[str, Any]:
        if (
            not self.footprints
            or find_result_layer(self.footprints) is None
            and not _is_file(self.footprints)
        ):
            raise ValueError("Search first: the filter works on the footprints of the last search.")
        stacks = self.stack_ids(checked_only=True)
        if not stacks:
            raise ValueError("Tick at least one stack to keep.")
        parameters: dict[str, Any] = {
            "INPUT": self.footprints,
            "STACKS": ",".join(stacks),
            "MONTHS": self.filterMonths.text().strip(),
            "MIN_COVERAGE": self.minCoverage.value(),
            "OUTPUT": self._destination("filtered", "gpkg"),
        }
        self._add_date(parameters, "START", self.filterStart)
        self._add_date(parameters, "END", self.filterEnd)
        if self.minCoverage.value() > 0:
            parameters.update(self.aoi.parameters())
        return parameters

    def run_filter(self) -> bool:
        try:
            parameters = self.filter_parameters()
        except ValueError as exc:
            self._refuse(str(exc), self.filterResult)
            return False
        return self._run("insarhub:filterscenes", parameters, self._filter_done)

    def _filter_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.filterResult.setText(error)
            return
        self.filterResult.setText(
            f"Kept {int(results.get('COUNT', 0))} footprint(s); they feed the pairs page."
        )
        layer = find_result_layer(results.get("OUTPUT"))
        if layer is not None:
            self.pairsInput.setLayer(layer)

    # ---- (3) pairs -------------------------------------------------------------------------

    def pairs_parameters(self) -> dict[str, Any]:
        layer = self.pairsInput.currentLayer()
        if layer is None:
            raise ValueError("Choose the footprints to pair (search first, or open a footprints GeoPackage).")

        def limit(widget: Any) -> Any:
            return "" if widget.value() <= widget.minimum() else widget.value()

        parameters: dict[str, Any] = {
            "INPUT": layer.id(),
            "MAX_TEMPORAL_BASELINE": limit(self.maxTemporal),
            "MAX_PERP_BASELINE": limit(self.maxPerp),
            "NEIGHBOURS": self.neighbours.value(),
            "MONTHS": self.pairMonths.text().strip(),
            "FORCE_CONNECTED": self.forceConnected.isChecked(),
            "MULTI_BURST": self.multiBurst.isChecked(),
            "OUTPUT": self._destination("pairs", "gpkg"),
            "PLOT": self._file("network", "png"),
        }
        if self.maxDegree.value() > self.maxDegree.minimum():
            parameters["MAX_DEGREE"] = self.maxDegree.value()
        return parameters

    def run_pairs(self) -> bool:
        try:
            parameters = self.pairs_parameters()
        except ValueError as exc:
            self._refuse(str(exc), self.pairsCount)
            return False
        return self._run("insarhub:selectpairs", parameters, self._pairs_done)

    def _pairs_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.pairsCount.setText(error)
            return
        self.pairsCount.setText(
            f"{int(results.get('PAIR_COUNT', 0))} pair(s) in {int(results.get('COMPONENTS', 0))} connected component(s)."
        )
        plot = results.get("PLOT")
        self._plot_pixmap = QPixmap(plot) if plot and os.path.exists(plot) else None
        self._show_plot(force=True)
        layer = find_result_layer(results.get("OUTPUT"))
        if layer is not None:
            guessed = guess_job_type(layer)
            if guessed:
                self.jobType.setCurrentText(guessed)
            self.jobsPairs.setLayer(layer)
        self.update_cost()

    def _show_plot(self, force: bool = False) -> None:
        if self._plot_pixmap is None or self._plot_pixmap.isNull():
            self.networkPlot.clear()
            return
        width = max(120, self.networkPlot.width())
        current = self.networkPlot.pixmap()
        if force or current is None or current.isNull() or current.width() != width:
            self.networkPlot.setPixmap(self._plot_pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation))

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.networkPlot and event.type() == QEvent.Type.Resize:
            self._show_plot()  # the picture follows the label's width
        return super().eventFilter(watched, event)

    def update_cost(self, *_args: Any) -> None:
        """The credits the current pairs would cost with the HyP3 page's job type and looks."""
        layer = self.jobsPairs.currentLayer() or None
        if layer is None:
            self.pairsCost.setText("")
            return
        estimate = pairs_cost(
            layer, self.jobType.currentText(), self.looks.currentText(), self.projectName.text().strip()
        )
        self.pairsCost.setText(estimate.message())
        self.cost_estimate = estimate

    # ---- (4) HyP3 --------------------------------------------------------------------------

    def create_auth_config(self) -> str:
        """The 'New Earthdata login' button: store a Basic config and select it."""
        from .auth_dialog import EarthdataAuthDialog

        dialog = EarthdataAuthDialog(self)
        if dialog.exec() and dialog.config_id:
            self.authConfig.setConfigId(dialog.config_id)
            return dialog.config_id
        return ""

    def jobs_file_path(self) -> str:
        path = self.jobsFile.filePath()
        if not path:
            path = self._file("jobs", "json", timestamped=False)
            self.jobsFile.setFilePath(path)
        return path

    def hyp3_parameters(self) -> dict[str, Any]:
        """The parameters the HyP3 page gives submitjobs (without DRY_RUN)."""
        layer = self.jobsPairs.currentLayer()
        if layer is None:
            raise ValueError("Choose the pairs layer (select pairs first).")
        parameters: dict[str, Any] = {
            "PAIRS": layer.id(),
            "JOB_TYPE": self.jobType.currentText(),
            "LOOKS": self.looks.currentText(),
            "PROJECT_NAME": self.projectName.text().strip() or "insarhub",
            "INCLUDE_DEM": self.includeDem.isChecked(),
            "INCLUDE_LOOK_VECTORS": self.includeLookVectors.isChecked(),
            "APPLY_WATER_MASK": self.applyWaterMask.isChecked(),
            "JOBS_FILE": self.jobs_file_path(),
        }
        parameters.update(self._auth())
        return parameters

    def _auth(self) -> dict[str, str]:
        auth = self.authConfig.configId()
        return {"AUTH": auth} if auth else {}

    def _fingerprint(self) -> str | None:
        layer = self.jobsPairs.currentLayer()
        if layer is None:
            return None
        return repr(
            (
                layer.id(),
                layer.featureCount(),
                self.jobType.currentText(),
                self.looks.currentText(),
                self.projectName.text().strip(),
                self.includeDem.isChecked(),
                self.includeLookVectors.isChecked(),
                self.applyWaterMask.isChecked(),
                self.authConfig.configId(),
                self.jobsFile.filePath(),
            )
        )

    def _invalidate_cost(self, *_args: Any) -> None:
        if self._priced is not None and self._priced != self._fingerprint():
            self._priced = None
            self.costLabel.setText("The order changed: check the cost again before submitting.")
        self.submitJobs.setEnabled(self._priced is not None and not self.runner.is_running())

    def estimate_cost(self) -> bool:
        try:
            parameters = {**self.hyp3_parameters(), "DRY_RUN": True}
        except ValueError as exc:
            self._refuse(str(exc), self.costLabel)
            return False
        self.costLabel.setText("Asking HyP3 for the cost and your remaining credits…")
        self._priced = None
        return self._run("insarhub:submitjobs", parameters, self._cost_done)

    def _cost_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.costLabel.setText(error)
            return
        credits = float(results.get("CREDITS", 0))
        remaining = float(results.get("REMAINING_CREDITS", -1))
        left = "unlimited" if remaining < 0 else f"{remaining:g}"
        self.remaining_credits = None if remaining < 0 else remaining
        self.order_credits = credits
        if credits == 0:
            self.costLabel.setText(
                f"Every pair already has a job: nothing to pay. Remaining credits: {left}."
            )
        else:
            self.costLabel.setText(
                f"Submitting costs {credits:g} credits; remaining credits: {left}. Press Submit to order."
            )
        if remaining < 0 or credits <= remaining:
            self._priced = self._fingerprint()

    def submit_jobs(self) -> bool:
        if self._priced is None or self._priced != self._fingerprint():
            self._refuse("Check the cost (dry run) first.", self.costLabel)
            return False
        try:
            parameters = {**self.hyp3_parameters(), "DRY_RUN": False}
        except ValueError as exc:
            self._refuse(str(exc), self.costLabel)
            return False
        self._priced = None
        return self._run("insarhub:submitjobs", parameters, self._submit_done)

    def _submit_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.costLabel.setText(error)
            self.reload_jobs_table()
            return
        remaining = float(results.get("REMAINING_CREDITS", -1))
        left = "unlimited" if remaining < 0 else f"{remaining:g}"
        self.costLabel.setText(
            f"Submitted {int(results.get('SUBMITTED', 0))} job(s) for {float(results.get('CREDITS', 0)):g} credits; "
            f"remaining credits: {left}."
        )
        self.reload_jobs_table()

    def refresh_jobs(self, retry_failed: bool = False) -> bool:
        path = self.jobsFile.filePath()
        if not path or not os.path.exists(path):
            self._refuse(
                "No jobs file yet: submit jobs first (or choose an existing jobs file).", self.jobsSummary
            )
            return False
        parameters = {"JOBS_FILE": path, "WAIT": False, "RETRY_FAILED": retry_failed, **self._auth()}
        return self._run("insarhub:watchjobs", parameters, self._watch_done)

    def _watch_done(self, ok: bool, results: dict, error: str) -> None:
        self.reload_jobs_table()
        if not ok:
            self.jobsSummary.setText(error)

    def _auto_refresh(self) -> None:
        # Only while the dock is open (a closed dock does not poll HyP3 behind the user's back).
        if not self.autoRefresh.isChecked() or self.runner.is_running() or self.isHidden():
            return
        if any_running(self.jobs):
            self.refresh_jobs()
        else:
            self._update_timer()

    def _update_timer(self) -> None:
        if self.autoRefresh.isChecked() and any_running(self.jobs):
            if not self.jobs_timer.isActive():
                self.jobs_timer.start()
        else:
            self.jobs_timer.stop()

    def reload_jobs_table(self) -> int:
        """Show the jobs file (status, expiry, downloads) and start or stop the refresh timer."""
        from ..core.errors import InsarhubError

        path = self.jobsFile.filePath()
        rows = []
        if path and os.path.exists(path):
            try:
                rows = job_rows(path)
            except InsarhubError as exc:
                self.jobsSummary.setText(str(exc))
        self.jobs = rows
        table = self.jobsTable
        table.setSortingEnabled(False)
        table.clearContents()
        table.setRowCount(len(rows))
        for row, job in enumerate(rows):
            for column, text in enumerate(job.cells()):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setData(Qt.ItemDataRole.UserRole, job.name)
                    item.setToolTip(job.name)
                if column == 1 and job.status in STATUS_COLOURS:
                    item.setForeground(QBrush(QColor(STATUS_COLOURS[job.status])))
                if column == 3 and (job.expires_soon or job.expired):
                    item.setForeground(QBrush(QColor("#b35c00")))
                table.setItem(row, column, item)
        table.setSortingEnabled(True)
        if rows:
            self.jobsSummary.setText(summary(rows))
        warning = expiry_message(rows)
        self.expiryWarning.setText(warning)
        self.expiryWarning.setVisible(bool(warning))
        self._update_timer()
        return len(rows)

    def download_products(self) -> bool:
        path = self.jobsFile.filePath()
        if not path or not os.path.exists(path):
            self._refuse(
                "No jobs file yet: submit jobs first (or choose an existing jobs file).", self.jobsSummary
            )
            return False
        folder = self.productsFolder.filePath()
        if not folder:
            folder = (
                str(Path(self.workFolder.filePath()) / "products")
                if self.workFolder.filePath()
                else str(Path(QgsProcessingUtils.tempFolder()) / "insarhub_products")
            )
            self.productsFolder.setFilePath(folder)
        parameters = {"JOBS_FILE": path, "OUTPUT_FOLDER": folder, **self._auth()}
        return self._run("insarhub:downloadproducts", parameters, self._download_done)

    def _download_done(self, ok: bool, results: dict, error: str) -> None:
        self.reload_jobs_table()
        if not ok:
            self.jobsSummary.setText(error)
            return
        folder = results.get("OUTPUT_FOLDER") or self.productsFolder.filePath()
        self.jobsSummary.setText(f"{int(results.get('COUNT', 0))} product(s) ready in {folder}.")
        self.tsProducts.setFilePath(folder)

    # ---- (5) time series -------------------------------------------------------------------

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
        self._use_tool(self.reference_tool, checked)

    def _chart_tool_toggled(self, checked: bool) -> None:
        if checked:
            self.pickReference.setChecked(False)
            if self.displacementLayer.currentLayer() is None:
                self.tsResult.setText(
                    "Choose the displacement layer first (it is set after a time-series run)."
                )
        self._use_tool(self.pixel_tool, checked)

    def set_reference_point(
        self, point: QgsPointXY | None, crs: QgsCoordinateReferenceSystem | None = None
    ) -> None:
        """Set (or clear, with None) the reference point; a click of the pick tool calls this."""
        text = "" if point is None else format_point(point, crs)
        self.referencePoint.setText(text)
        self.set_reference_point_text(text)
        self.pickReference.setChecked(False)

    def set_reference_point_text(self, text: str) -> None:
        """Show the reference point as a cross on the map."""
        if self.reference_marker is not None:
            self._remove_marker(self.reference_marker)
            self.reference_marker = None
        parsed = parse_point(text)
        if parsed is None:
            return
        point, crs = parsed
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        if canvas_crs.isValid() and crs != canvas_crs:
            point = QgsCoordinateTransform(crs, canvas_crs, QgsProject.instance()).transform(point)
        marker = QgsVertexMarker(self.canvas)
        marker.setCenter(point)
        marker.setIconType(QgsVertexMarker.IconType.ICON_CROSS)
        marker.setColor(QColor("#000000"))
        marker.setIconSize(14)
        marker.setPenWidth(3)
        self.reference_marker = marker

    def timeseries_parameters(self) -> dict[str, Any]:
        folder = self.tsProducts.filePath()
        if not folder:
            raise ValueError("Choose the folder of the downloaded HyP3 products.")
        parameters: dict[str, Any] = {
            "PRODUCTS_FOLDER": folder,
            "COMPUTE_CLUSTER": self.computeCluster.currentText(),
            "WORKERS": self.workers.value(),
        }
        if self.referencePoint.text().strip():
            parameters["REFERENCE_POINT"] = self.referencePoint.text().strip()
        if self.tsWorkdir.filePath():
            parameters["WORKDIR"] = self.tsWorkdir.filePath()
        if self.tsCropAoi.isChecked():
            parameters.update(self.aoi.parameters())
        for name in ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT"):
            parameters[name] = self._destination(name.lower(), "tif")
        return parameters

    def run_timeseries(self) -> bool:
        try:
            parameters = self.timeseries_parameters()
        except ValueError as exc:
            self._refuse(str(exc), self.tsResult)
            return False
        self.tsResult.setText("MintPy is running (see the log)…")
        return self._run("insarhub:runtimeseries", parameters, self._timeseries_done)

    def _timeseries_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.tsResult.setText(error)
            return
        self.tsResult.setText(
            f"Time series of {int(results.get('INTERFEROGRAMS', 0))} interferograms: velocity and displacement loaded. "
            "Click pixels on the map to chart them."
        )
        layer = find_result_layer(results.get("DISPLACEMENT"))
        if layer is not None:
            self.displacementLayer.setLayer(layer)

    def chart_pixel(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> Any:
        """Chart the displacement of the pixel at ``point`` (in ``crs``); the click tool calls this."""
        layer = self.displacementLayer.currentLayer()
        if layer is None or self.chart is None:
            self.tsResult.setText("Choose the displacement layer first.")
            return None
        try:
            series = read_pixel_series(layer, point, crs, label=f"P{len(self.chart.series) + 1}")
        except ValueError as exc:
            self.tsResult.setText(str(exc))
            return None
        colour = self.chart.add_series(series)
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        shown = QgsPointXY(point)
        if canvas_crs.isValid() and crs.isValid() and crs != canvas_crs:
            shown = QgsCoordinateTransform(crs, canvas_crs, QgsProject.instance()).transform(shown)
        marker = QgsVertexMarker(self.canvas)
        marker.setCenter(shown)
        marker.setIconType(QgsVertexMarker.IconType.ICON_CIRCLE)
        marker.setColor(QColor(colour))
        marker.setIconSize(10)
        marker.setPenWidth(3)
        self.pixel_markers.append(marker)
        rate = (
            "no fit" if series.velocity_mm_per_year is None else f"{series.velocity_mm_per_year:+.2f} mm/yr"
        )
        self.tsResult.setText(f"{series.label}: {len(series.dates)} dates, {rate}.")
        return series

    def clear_chart(self) -> None:
        if self.chart is not None:
            self.chart.clear()
        for marker in self.pixel_markers:
            self._remove_marker(marker)
        self.pixel_markers = []

    def export_chart_csv(self, path: str | None = None) -> str:
        if self.chart is None or not self.chart.series:
            self.tsResult.setText("Nothing to export: click pixels first.")
            return ""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export the chart's data", "", "CSV (*.csv)")
            if not path:
                return ""
        self.chart.export_csv(path)
        self.tsResult.setText(f"Chart data written to {path}.")
        return str(path)

    def export_chart_png(self, path: str | None = None) -> str:
        if self.chart is None:
            return ""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export the chart", "", "PNG (*.png)")
            if not path:
                return ""
        self.chart.export_png(path)
        self.tsResult.setText(f"Chart written to {path}.")
        return str(path)

    # ---- life cycle ------------------------------------------------------------------------

    def _remove_marker(self, marker: Any) -> None:
        scene = self.canvas.scene()
        if scene is not None:
            scene.removeItem(marker)

    def _visibility_changed(self, visible: bool) -> None:
        if self._cleaned:
            return
        self.aoi.set_visible(visible)
        for marker in [*self.pixel_markers, self.reference_marker]:
            if marker is not None:
                marker.setVisible(visible)
        if not visible:
            self.save_state()
            for button in (self.pickReference, self.chartPixels, self.aoiDraw):
                button.setChecked(False)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.save_state()
        super().closeEvent(event)

    def cleanup(self) -> None:
        """Remove everything the dock put on the canvas and stop its background work (plugin unload)."""
        if self._cleaned:
            return
        self.save_state()
        self._cleaned = True
        self.jobs_timer.stop()
        self.runner.detach()
        for tool in (self.reference_tool, self.pixel_tool):
            if self.canvas.mapTool() is tool:
                self.canvas.unsetMapTool(tool)
        self.aoi.cleanup()
        for marker in [*self.pixel_markers, self.reference_marker]:
            if marker is not None:
                self._remove_marker(marker)
        self.pixel_markers = []
        self.reference_marker = None
        self.reference_tool.deleteLater()
        self.pixel_tool.deleteLater()


def _number(value: Any, digits: int | None = None) -> Any:
    """A number for a table cell (sorts numerically), or "" when missing."""
    if value is None or value == "" or (hasattr(value, "isNull") and value.isNull()):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if digits is None and number.is_integer():
        return int(number)
    return round(number, digits or 2)
