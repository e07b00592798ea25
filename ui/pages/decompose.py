"""Page 6: vertical and east–west velocity from an ascending and a descending result
(``insarhub:decompose``).

The inputs are the velocities of the project's time series groups (each knows its look geometry
and flight direction, written by ``insarhub:runtimeseries``); the page ticks the newest of each
direction. The outputs go to ``decompositions/<run>/`` in the workspace and into a group of their
own; the pixel chart then shows vertical and east beside the line-of-sight displacement.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QListWidgetItem

from ...processing_provider.raster_styling import TIMESERIES_ROLE
from ...processing_provider.styling import ROLE_PROPERTY, groups_with_role
from ..aoi import extent_text
from ..layers import parent_group, place_group, zoom_to
from ..workspace import find_layer, normalised
from .base import BasePage

DECOMPOSITION_ROLE = "decomposition"
OUTPUTS = {
    "VERTICAL": "vertical",
    "EAST": "east",
    "VERTICAL_STD": "vertical_std",
    "EAST_STD": "east_std",
    "MASK": "mask",
}
DISPLACEMENT_OUTPUTS = {"VERTICAL_DISPLACEMENT": "vertical_displacement", "EAST_DISPLACEMENT": "east_displacement"}
USER_ROLE = Qt.ItemDataRole.UserRole


def flight_direction(path: str) -> tuple[str, str]:
    """(``ASCENDING``/``DESCENDING``/"", relative orbit) from a runtimeseries velocity's metadata."""
    from osgeo import gdal

    dataset = gdal.Open(path)
    if dataset is None:
        return "", ""
    metadata = dataset.GetMetadata() or {}
    return (metadata.get("FLIGHT_DIRECTION") or "").upper(), metadata.get("RELATIVE_ORBIT", "")


def algorithm_available() -> bool:
    return QgsApplication.processingRegistry().algorithmById("insarhub:decompose") is not None


class DecomposePage(BasePage):
    UI = "decompose.ui"
    TITLE = "6 Decompose"
    TOOLTIP = "Vertical and east–west velocity from an ascending and a descending result (insarhub:decompose)"
    PERSISTED = ("pixelSize", "decomposeCropAoi", "decomposeReferenceAoi", "decomposeDisplacement")
    RUN_BUTTONS = ("runDecompose",)
    BASED_ON = "decomposeBasedOn"
    STALE = "decomposeStale"

    def setup(self) -> None:
        self._pending: Any = None
        self._listed: list[str] = []
        self._shown: list[tuple[str, str]] = []
        self.show_stale("")

    def connect_signals(self) -> None:
        self.runDecompose.clicked.connect(self.run_decompose)
        self.decomposeInputs.itemChanged.connect(lambda _item: self._show_choice())
        self.project.layersAdded.connect(self._layers_changed)
        self.project.layersRemoved.connect(self._layers_changed)

    def _layers_changed(self, *_args: Any) -> None:
        self.refresh()

    def cleanup(self) -> None:
        for signal in (self.project.layersAdded, self.project.layersRemoved):
            try:
                signal.disconnect(self._layers_changed)
            except (TypeError, RuntimeError):
                pass

    # ---- the inputs ------------------------------------------------------------------------

    def velocity_layers(self) -> list[tuple[QgsRasterLayer, str, str, str]]:
        """(layer, group name, direction, track) of every time series velocity in the project, newest first."""
        found = []
        for group in groups_with_role(self.project, TIMESERIES_ROLE):
            for node in group.findLayers():
                layer = node.layer()
                if isinstance(layer, QgsRasterLayer) and layer.customProperty(ROLE_PROPERTY) == "VELOCITY":
                    direction, track = flight_direction(layer.source())
                    found.append((layer, group.name(), direction, track))
        return found

    def refresh(self) -> None:
        try:
            layers = self.velocity_layers()
        except RuntimeError:  # the page is being deleted
            return
        ids = [layer.id() for layer, *_rest in layers]
        shown = [(layer.id(), group) for layer, group, *_rest in layers]
        if ids != self._listed or shown != self._shown:
            self._shown = shown
            checked = set(self.chosen_ids())
            self._listed = ids
            widget = self.decomposeInputs
            widget.blockSignals(True)
            widget.clear()
            ticked_directions = {direction for layer, _g, direction, _t in layers if layer.id() in checked}
            first_of: dict[str, str] = {}
            for layer, group, direction, track in layers:
                text = f"{group} — {direction.lower() or self.tr('direction unknown')}" + (f" {self.tr('track')} {track}" if track else "")
                item = QListWidgetItem(text)
                item.setData(USER_ROLE, layer.id())
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                first_of.setdefault(direction, layer.id())
                # What the user ticked stays ticked; a look direction with nothing ticked gets its newest.
                wanted = layer.id() in checked or (
                    direction in ("ASCENDING", "DESCENDING")
                    and direction not in ticked_directions
                    and first_of.get(direction) == layer.id()
                )
                item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
                widget.addItem(item)
            widget.blockSignals(False)
        self._show_choice()

    def chosen_ids(self) -> list[str]:
        widget = self.decomposeInputs
        return [
            widget.item(i).data(USER_ROLE)
            for i in range(widget.count())
            if widget.item(i).checkState() == Qt.CheckState.Checked
        ]

    def choice_problem(self) -> str:
        """Why the ticked inputs cannot be decomposed ("" when they can)."""
        if not algorithm_available():
            return self.tr("This version of InSARHub has no insarhub:decompose algorithm.")
        chosen = [self.project.mapLayer(i) for i in self.chosen_ids()]
        chosen = [layer for layer in chosen if layer is not None]
        if not self._listed:
            return self.tr("Run a time series for an ascending and a descending stack first (page 5).")
        if len(chosen) < 2:
            return self.tr("Tick two velocities: one ascending and one descending.")
        directions = {flight_direction(layer.source())[0] for layer in chosen}
        if not {"ASCENDING", "DESCENDING"} <= directions:
            return self.tr("Tick at least one ascending and one descending velocity: one look direction cannot tell vertical from east.")
        return ""

    def _show_choice(self) -> None:
        problem = self.choice_problem()
        count = len(self.chosen_ids())
        self.show_based_on(
            self.tr("{count} of the project's {total} time series velocities ticked.").format(count=count, total=len(self._listed))
            if self._listed
            else self.tr("No time series in this project yet.")
        )
        self.show_stale(problem if self._listed else "")
        self.runDecompose.setEnabled(not self._busy and not problem)

    # ---- running ---------------------------------------------------------------------------

    def decompose_parameters(self) -> dict[str, Any]:
        problem = self.choice_problem()
        if problem:
            raise ValueError(problem)
        paths = [self.project.mapLayer(i).source().split("|")[0] for i in self.chosen_ids()]
        parameters: dict[str, Any] = {
            "INPUTS": paths,
            "PIXEL_SIZE": self.pixelSize.value(),
            "DISPLACEMENT": self.decomposeDisplacement.isChecked(),
        }
        chain = self.workspace.current
        aoi = self.workspace.path(chain.aoi.get("file", "")) if chain is not None else ""
        if self.decomposeCropAoi.isChecked() or self.decomposeReferenceAoi.isChecked():
            if not aoi:
                raise ValueError(self.tr("The area of interest of the current search is needed: untick the options that use it."))
        if self.decomposeCropAoi.isChecked():
            parameters["AOI"] = aoi
        if self.decomposeReferenceAoi.isChecked():
            layer = QgsVectorLayer(aoi, "aoi", "ogr")
            parameters["REFERENCE_AREA"] = extent_text(layer.extent(), layer.crs())
        return parameters

    def run_decompose(self) -> bool:
        try:
            parameters = self.decompose_parameters()
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            folder = self.workspace.ensure_folder() / "decompositions" / stamp
            folder.mkdir(parents=True, exist_ok=True)
        except ValueError as exc:
            self.refuse(str(exc), self.decomposeResult)
            return False
        outputs = dict(OUTPUTS)
        if parameters["DISPLACEMENT"]:
            outputs.update(DISPLACEMENT_OUTPUTS)
        for key, stem in outputs.items():
            parameters[key] = self.destination(str(folder / f"{stem}.tif"))
        self._pending = (folder, parameters)
        self.decomposeResult.setText(self.tr("Decomposing (MintPy's least squares, see the log)…"))
        return self.run("insarhub:decompose", parameters, self._decompose_done)

    def _decompose_done(self, ok: bool, results: dict, error: str) -> None:
        folder, parameters = self._pending
        if not ok:
            self.decomposeResult.setText(error)
            return
        vertical = find_layer(str(results.get("VERTICAL", "")))
        group = parent_group(self.project, vertical)
        if group is not None and group is not self.project.layerTreeRoot():
            group.setCustomProperty(ROLE_PROPERTY, DECOMPOSITION_ROLE)
            sources = {normalised(str(results[k])): k for k in (*OUTPUTS, *DISPLACEMENT_OUTPUTS) if results.get(k)}
            for node in group.children():  # the outputs themselves, not the per-date views (sub-groups)
                layer = node.layer() if hasattr(node, "layer") else None
                if layer is not None and normalised(layer.source()) in sources:
                    layer.setCustomProperty(ROLE_PROPERTY, sources[normalised(layer.source())])
            chain = self.workspace.current
            if chain is not None:  # with the search it came from, on top
                name = self.tr("Vertical & east · {when}").format(when=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
                group = place_group(self.project, chain, group, name)
        if vertical is not None:
            zoom_to(self.canvas, vertical)
        record = {
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "folder": self.workspace.relative(folder),
            "inputs": [self.workspace.relative(p) for p in parameters["INPUTS"]],
            "group": group.name() if group is not None else "",
            **{key.lower(): self.workspace.relative(str(results[key])) for key in (*OUTPUTS, *DISPLACEMENT_OUTPUTS) if results.get(key)},
        }
        self.workspace.decompositions.append(record)
        self.workspace.commit("decompose")
        self.decomposeResult.setText(
            self.tr("Vertical and east velocity of {pixels} pixels ({weak} masked for weak geometry) in {folder}. Click pixels on page 5 to chart them.").format(
                pixels=int(results.get("DECOMPOSED_PIXELS", 0)), weak=int(results.get("WEAK_GEOMETRY_PIXELS", 0)), folder=Path(folder)
            )
        )
