"""Page 2: the stacks of the current search, and what to keep of them (``insarhub:filterscenes``).

The page lists the workspace's searches: choosing another one makes it current (its group is
shown on the map, the others hidden, and every later page follows it).
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsCoordinateTransform, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QHeaderView, QTableWidgetItem

from ...processing_provider.styling import style_footprints
from ..layers import chain_group, place, show_chain
from ..widgets import DateField
from ..workspace import find_layer
from .base import BasePage

STACK_COLUMNS = ("Stack", "Direction", "Path", "Frame / burst", "Dates", "First", "Last", "AOI cover %")
USER_ROLE = Qt.ItemDataRole.UserRole
CHECKED, UNCHECKED = Qt.CheckState.Checked, Qt.CheckState.Unchecked


def number(value: Any, digits: int | None = None) -> Any:
    """A number for a table cell (sorts numerically), or "" when missing."""
    if value is None or value == "" or (hasattr(value, "isNull") and value.isNull()):
        return ""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return str(value)
    if digits is None and result.is_integer():
        return int(result)
    return round(result, digits or 2)


class StacksPage(BasePage):
    UI = "stacks.ui"
    TITLE = "2 Stacks"
    TOOLTIP = "The stacks of a search, and what to keep (insarhub:filterscenes)"
    PERSISTED = ("filterStart", "filterEnd", "filterMonths", "minCoverage")
    RUN_BUTTONS = ("runFilter",)
    BASED_ON = "stacksBasedOn"
    STALE = "stacksStale"

    def setup(self) -> None:
        self.start = DateField(self.filterStart, self.filterStartPick, end=False)
        self.end = DateField(self.filterEnd, self.filterEndPick, end=True)
        table = self.stacksTable
        table.setColumnCount(len(STACK_COLUMNS))
        table.setHorizontalHeaderLabels([self.tr(c) for c in STACK_COLUMNS])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._shown_chain = None
        self._filling = False

    def connect_signals(self) -> None:
        self.stacksTable.itemSelectionChanged.connect(self._stack_selected)
        self.checkAllStacks.clicked.connect(lambda: self._check_stacks(True))
        self.checkNoStacks.clicked.connect(lambda: self._check_stacks(False))
        self.runFilter.clicked.connect(self.run_filter)
        self.searchChooser.activated.connect(self._chain_chosen)

    # ---- the searches ----------------------------------------------------------------------

    def _chain_chosen(self, index: int) -> None:
        chain_id = self.searchChooser.itemData(index)
        if chain_id and chain_id != self.workspace.current_id:
            self.workspace.set_current(chain_id)
            show_chain(self.project, self.workspace.current)

    def refresh(self) -> None:
        chooser = self.searchChooser
        chooser.blockSignals(True)
        chooser.clear()
        for chain in reversed(self.workspace.chains):  # the newest first
            chooser.addItem(chain.label, chain.id)
        chooser.setCurrentIndex(max(0, chooser.findData(self.workspace.current_id)))
        chooser.blockSignals(False)
        chain = self.workspace.current
        if chain is None:
            self.show_based_on(self.tr("Search first (page 1): the stacks of the search appear here."))
            self.load_stacks(None)
            self._shown_chain = None
            self.filterResult.setText("")
            self.runFilter.setEnabled(False)
            return
        search = chain.search
        dates = [search.get("start", ""), search.get("end", "")]
        self.show_based_on(
            self.tr("Search “{label}”: {count} {level} footprints in {stacks} stack(s){dates}.").format(
                label=chain.label,
                count=search.get("count", 0),
                level=search.get("level", ""),
                stacks=len(search.get("stacks", [])),
                dates="" if not any(dates) else f", {dates[0] or '…'} – {dates[1] or '…'}",
            )
        )
        if self._shown_chain != chain.id:
            self._shown_chain = chain.id
            self.load_stacks(self.workspace.path(search.get("summary", "")))
            kept = set(chain.filter["stacks"]) if chain.filter else None
            if kept is not None:
                for stack in self.stack_ids():
                    self.set_stack_checked(stack, stack in kept)
            self.filterResult.setText(
                self.tr("Kept {count} footprint(s) of {stacks}; they feed the pairs page.").format(
                    count=chain.filter.get("count", 0), stacks=", ".join(chain.filter.get("stacks", []))
                )
                if chain.filter
                else ""
            )
        self.runFilter.setEnabled(not self._busy)

    # ---- the table -------------------------------------------------------------------------

    def load_stacks(self, summary_path: str | None) -> int:
        """Fill the table from a stack summary file; returns the row count."""
        rows = []
        if summary_path:
            layer = QgsVectorLayer(summary_path, "stacks", "ogr")
            if layer.isValid():
                names = layer.fields().names()
                rows = [{name: feature[name] for name in names} for feature in layer.getFeatures()]
        table = self.stacksTable
        self._filling = True
        table.setSortingEnabled(False)
        table.clearContents()
        table.setRowCount(len(rows))
        for row, record in enumerate(rows):
            burst = str(record.get("burstId") or "")
            values = [
                str(record.get("stack") or ""),
                str(record.get("flightDirection") or "").lower(),
                number(record.get("pathNumber")),
                burst or number(record.get("frameNumber")),
                number(record.get("count")),
                str(record.get("firstDate") or "")[:10],
                str(record.get("lastDate") or "")[:10],
                number(record.get("aoiCoverage"), digits=1),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, value)
                if column == 0:
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(CHECKED)
                    item.setData(USER_ROLE, values[0])
                table.setItem(row, column, item)
        table.setSortingEnabled(True)
        self._filling = False
        return len(rows)

    def stack_ids(self, checked_only: bool = False) -> list[str]:
        ids = []
        for row in range(self.stacksTable.rowCount()):
            item = self.stacksTable.item(row, 0)
            if item is None or (checked_only and item.checkState() != CHECKED):
                continue
            ids.append(str(item.data(USER_ROLE)))
        return ids

    def set_stack_checked(self, stack: str, checked: bool) -> None:
        for row in range(self.stacksTable.rowCount()):
            item = self.stacksTable.item(row, 0)
            if item is not None and item.data(USER_ROLE) == stack:
                item.setCheckState(CHECKED if checked else UNCHECKED)

    def _check_stacks(self, checked: bool) -> None:
        for stack in self.stack_ids():
            self.set_stack_checked(stack, checked)

    def _stack_selected(self) -> None:
        rows = {index.row() for index in self.stacksTable.selectedIndexes()}
        if len(rows) == 1:
            item = self.stacksTable.item(rows.pop(), 0)
            if item is not None:
                self.show_stack(str(item.data(USER_ROLE)))

    def footprint_layers(self) -> list[QgsVectorLayer]:
        """The layers of the current search's group holding footprints (all dates, and per stack)."""
        chain = self.workspace.current
        group = chain_group(self.project, chain)
        if group is None:
            main = find_layer(self.workspace.path(chain.search.get("footprints", "")), subset="") if chain else None
            return [main] if isinstance(main, QgsVectorLayer) else []
        return [
            node.layer()
            for node in group.findLayers()
            if isinstance(node.layer(), QgsVectorLayer) and {"stack", "sceneName"} <= set(node.layer().fields().names())
        ]

    def show_stack(self, stack: str) -> int:
        """Select the stack's footprints and zoom the map to them; returns how many were selected."""
        expression = "\"stack\" = '{}'".format(stack.replace("'", "''"))
        extent = QgsRectangle()
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        layers = self.footprint_layers()
        selected = 0
        for layer in layers:
            layer.selectByExpression(expression)
            if layer.selectedFeatureCount() == 0:
                continue
            selected = max(selected, layer.selectedFeatureCount())
            box = layer.boundingBoxOfSelected()
            if canvas_crs.isValid() and layer.crs().isValid() and layer.crs() != canvas_crs:
                box = QgsCoordinateTransform(layer.crs(), canvas_crs, self.project).transformBoundingBox(box)
            if extent.isNull():
                extent = QgsRectangle(box)
            else:
                extent.combineExtentWith(box)
        if not extent.isNull() and not extent.isEmpty():
            self.canvas.setExtent(extent.buffered(max(extent.width(), extent.height()) * 0.05))
            self.canvas.refresh()
        self.filterResult.setText(self.tr("{stack}: {count} footprint(s) selected on the map.").format(stack=stack, count=selected))
        return selected

    # ---- keeping stacks --------------------------------------------------------------------

    def filter_parameters(self, chain: Any) -> dict[str, Any]:
        stacks = self.stack_ids(checked_only=True)
        if not stacks:
            raise ValueError(self.tr("Tick at least one stack to keep."))
        parameters: dict[str, Any] = {
            "INPUT": self.workspace.path(chain.search["footprints"]),
            "STACKS": ",".join(stacks),
            "MONTHS": self.filterMonths.text().strip(),
            "MIN_COVERAGE": self.minCoverage.value(),
        }
        for name, field in (("START", self.start), ("END", self.end)):
            value = field.iso()
            if value:
                parameters[name] = value
        if self.minCoverage.value() > 0:
            if not chain.aoi.get("file"):
                raise ValueError(self.tr("A minimum AOI coverage needs the search's area of interest, which was not kept."))
            parameters["AOI"] = self.workspace.path(chain.aoi["file"])
        return parameters

    def run_filter(self) -> bool:
        chain = self.workspace.current
        if chain is None:
            self.refuse(self.tr("Search first: the filter keeps stacks of the current search."), self.filterResult)
            return False
        try:
            parameters = self.filter_parameters(chain)
        except ValueError as exc:
            self.refuse(str(exc), self.filterResult)
            return False
        revision = chain.next_revision()
        path = self.workspace.chain_file(chain, "filtered", "gpkg", revision)
        parameters["OUTPUT"] = self.destination(path)
        self._pending = (chain, revision, path, parameters["STACKS"].split(","))
        return self.run("insarhub:filterscenes", parameters, self._filter_done)

    def _filter_done(self, ok: bool, results: dict, error: str) -> None:
        chain, revision, path, stacks = self._pending
        if not ok:
            self.filterResult.setText(error)
            return
        count = int(results.get("COUNT", 0))
        layer = find_layer(path, subset="")
        if layer is not None:
            layer.setName(self.tr("Kept footprints ({count})").format(count=count))
            style_footprints(layer, QColor("#333333"), outline_only=True, merged=True)
            place(self.project, chain, layer, "filter", checked=True, index=0)
        chain.filter = {"revision": revision, "footprints": self.workspace.relative(path), "count": count, "stacks": stacks}
        self.filterResult.setText(
            self.tr("Kept {count} footprint(s) of {stacks}; they feed the pairs page.").format(
                count=count, stacks=", ".join(stacks)
            )
        )
        self.workspace.commit("filter")
        if count:
            self.dock.show_page("pairs")
