"""Page 1: the area of interest and the search (``insarhub:searchscenes``).

A search that finds something becomes a new *search chain* of the workspace: its own folder
(the AOI, the footprints and the stack summary as GeoPackages) and its own group on the map,
named by the area and the dates; the previous search is hidden. A search that finds nothing
adds nothing, and says which product level to try instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateTransformContext,
    QgsFeature,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from ..aoi import AoiController
from ..layers import parent_group, unique_name
from ..widgets import DateField
from ..workspace import find_layer
from .base import BasePage

OTHER_LEVEL = {"SLC": "BURST", "BURST": "SLC"}


def period_label(start: str, end: str) -> str:
    """The dates of a search as a person typed them: ``2020``, ``2020-01-01–2020-06-30``, ``from 2021``."""
    start, end = start.strip(), end.strip()
    if start and start == end:
        return start
    if start and end:
        return f"{start}–{end}"
    if start:
        return BasePage.tr("from {date}").format(date=start)
    if end:
        return BasePage.tr("until {date}").format(date=end)
    return BasePage.tr("all dates")


def write_aoi(path: str, geometry: Any, crs: Any) -> bool:
    """The area of interest as a one-feature GeoPackage (kept with the search, used by later steps)."""
    layer = QgsVectorLayer("Polygon", "aoi", "memory")
    layer.setCrs(crs)
    feature = QgsFeature()
    feature.setGeometry(geometry)
    layer.dataProvider().addFeatures([feature])
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "aoi"
    result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsCoordinateTransformContext(), options)
    return result[0] == QgsVectorFileWriter.WriterError.NoError


class SearchPage(BasePage):
    UI = "search.ui"
    TITLE = "1 Search"
    TOOLTIP = "Area of interest and Sentinel-1 search (insarhub:searchscenes)"
    PERSISTED = (
        "searchStart",
        "searchEnd",
        "processingLevel",
        "flightDirection",
        "relativeOrbits",
        "frames",
        "polarization",
        "maxResults",
    )
    DEFAULT_FOR = {"processingLevel": "processing_level", "flightDirection": "flight_direction"}
    RUN_BUTTONS = ("runSearch", "searchOtherLevel")

    def setup(self) -> None:
        self.start = DateField(self.searchStart, self.searchStartPick, end=False)
        self.end = DateField(self.searchEnd, self.searchEndPick, end=True)
        self.aoi = AoiController(self, self.canvas)
        self.searchOtherLevel.hide()
        self.aoiUseSelection.hide()
        self._pending = None  # the chain a running search will become

    def restore_settings(self) -> None:
        super().restore_settings()
        from .. import state

        stored = {key: state.load_value(key, "") for key in ("aoi_mode", "aoi_canvas_extent", "aoi_drawn_extent")}
        stored["mode"] = stored.pop("aoi_mode")
        stored["selected_only"] = state.load_value("aoiSelectedOnly", True)
        stored["file"] = state.load_value("aoiFile", "")
        self.aoi.restore({k: v for k, v in stored.items() if v not in (None, "")})

    def save_settings(self) -> None:
        super().save_settings()
        from .. import state

        current = self.aoi.state()
        state.save_value("aoi_mode", current["mode"])
        state.save_value("aoi_canvas_extent", current["aoi_canvas_extent"])
        state.save_value("aoi_drawn_extent", current["aoi_drawn_extent"])
        state.save_value("aoiSelectedOnly", current["selected_only"])
        state.save_value("aoiFile", current["file"])

    def connect_signals(self) -> None:
        self.runSearch.clicked.connect(self.run_search)
        self.searchOtherLevel.clicked.connect(self.search_other_level)
        self.aoiUseSelection.clicked.connect(lambda: self.aoi.use_selection())
        self.aoi.changed.connect(self._aoi_changed)
        self.canvas.selectionChanged.connect(self._selection_changed)

    def _selection_changed(self, *_args: Any) -> None:
        self.update_selection_offer()

    # ---- the area of interest --------------------------------------------------------------

    def _aoi_changed(self) -> None:
        self.update_selection_offer()
        if not self.workspace._loading:  # remembered with the project's workspace
            self.workspace.aoi = self.aoi.state()

    def update_selection_offer(self) -> None:
        """Offer the active layer's selection as the AOI (never replace the chosen AOI silently)."""
        layer = self.aoi.selection_offer()
        if layer is None:
            self.aoiUseSelection.hide()
            return
        self.aoiUseSelection.setText(
            self.tr("Use the {count} selected feature(s) of '{name}'").format(
                count=layer.selectedFeatureCount(), name=layer.name()
            )
        )
        self.aoiUseSelection.show()

    def workspace_changed(self, step: str) -> None:
        if step == "folder" and self.workspace.aoi:
            self.aoi.restore(self.workspace.aoi)
        self.refresh()

    def refresh(self) -> None:
        chain = self.workspace.current
        if chain is not None and not self.searchResult.text():
            self.searchResult.setText(
                self.tr("Current search: {label} ({count} footprints in {stacks} stack(s)).").format(
                    label=chain.label, count=chain.search.get("count", 0), stacks=len(chain.search.get("stacks", []))
                )
            )

    # ---- searching -------------------------------------------------------------------------

    def search_parameters(self) -> dict[str, Any]:
        """The searchscenes parameters of the page without outputs (ValueError with advice)."""
        parameters: dict[str, Any] = dict(self.aoi.parameters())
        for name, field in (("START", self.start), ("END", self.end)):
            value = field.iso()
            if value:
                parameters[name] = value
        parameters.update(
            {
                "PROCESSING_LEVEL": self.processingLevel.currentText(),
                "FLIGHT_DIRECTION": self.flightDirection.currentText(),
                "RELATIVE_ORBITS": self.relativeOrbits.text().strip(),
                "FRAMES": self.frames.text().strip(),
                "POLARIZATION": self.polarization.text().strip(),
                "MAX_RESULTS": self.maxResults.value(),
            }
        )
        return parameters

    def run_search(self) -> bool:
        self.searchOtherLevel.hide()
        try:
            parameters = self.search_parameters()
            label = f"{self.aoi.label()} · {period_label(self.searchStart.text(), self.searchEnd.text())}"
            chain = self.workspace.new_chain(self.workspace.unique_label(label), self.aoi.describe())
        except ValueError as exc:
            self.refuse(str(exc), self.searchResult)
            return False
        found = self.aoi.geometry()
        if found is not None and not found[0].isEmpty():
            aoi_path = self.workspace.chain_file(chain, "aoi", "gpkg")
            if write_aoi(aoi_path, *found):
                chain.aoi["file"] = self.workspace.relative(aoi_path)
        chain.search = {
            "footprints": self.workspace.relative(self.workspace.chain_file(chain, "footprints", "gpkg")),
            "summary": self.workspace.relative(self.workspace.chain_file(chain, "stacks", "gpkg")),
            "level": parameters["PROCESSING_LEVEL"],
            "start": parameters.get("START", ""),
            "end": parameters.get("END", ""),
        }
        parameters["OUTPUT"] = self.destination(self.workspace.path(chain.search["footprints"]))
        parameters["SUMMARY"] = self.destination(self.workspace.path(chain.search["summary"]))
        self._pending = chain
        self.searchResult.setText(self.tr("Searching…"))
        started = self.run("insarhub:searchscenes", parameters, self._search_done)
        if not started:
            self._discard(chain)
        return started

    def _discard(self, chain: Any) -> None:
        """A search that failed or found nothing leaves nothing behind."""
        self._pending = None
        folder = Path(self.workspace.path(chain.folder))
        if folder.is_dir() and self.workspace.chain(chain.id) is None:
            shutil.rmtree(folder, ignore_errors=True)

    def _search_done(self, ok: bool, results: dict, error: str) -> None:
        chain = self._pending
        if chain is None:
            return
        if not ok:
            self._discard(chain)
            self.searchResult.setText(error)
            return
        count, stacks = int(results.get("COUNT", 0)), int(results.get("STACK_COUNT", 0))
        if count == 0:
            self._discard(chain)
            level = chain.search["level"]
            other = OTHER_LEVEL.get(level, "BURST")
            self.searchResult.setText(
                self.tr(
                    "No {level} found over this area and dates; nothing was added to the map. Sentinel-1 {other} "
                    "products exist where {level} products do not (bursts are the only product over some areas): "
                    "try {other}, or widen the dates or the area (the log says which constraint to relax)."
                ).format(level=level, other=other)
            )
            self.searchOtherLevel.setText(
                self.tr("Search bursts instead") if other == "BURST" else self.tr("Search SLC scenes instead")
            )
            self.searchOtherLevel.setProperty("level", other)
            self.searchOtherLevel.show()
            return
        chain.search.update({"count": count, "stacks": self._stack_names(chain)})
        footprints = find_layer(self.workspace.path(chain.search["footprints"]), subset="")
        group = parent_group(self.project, footprints)
        if group is not None and group is not self.project.layerTreeRoot():
            group.setName(unique_name(self.project, chain.label, group))
            chain.group = group.name()
        else:
            chain.group = chain.label
        self._pending = None
        self.workspace.add_chain(chain)
        self.searchResult.setText(
            self.tr("{count} footprint(s) in {stacks} stack(s): “{label}”.").format(
                count=count, stacks=stacks, label=chain.label
            )
        )
        self.dock.show_page("stacks")

    def _stack_names(self, chain: Any) -> list[str]:
        layer = QgsVectorLayer(self.workspace.path(chain.search["summary"]), "stacks", "ogr")
        if not layer.isValid() or "stack" not in layer.fields().names():
            return []
        return [str(f["stack"]) for f in layer.getFeatures()]

    def search_other_level(self) -> bool:
        level = self.searchOtherLevel.property("level") or "BURST"
        self.processingLevel.setCurrentText(str(level))
        return self.run_search()

    def cleanup(self) -> None:
        try:
            self.canvas.selectionChanged.disconnect(self._selection_changed)
        except (TypeError, RuntimeError):
            pass
        self.aoi.cleanup()
