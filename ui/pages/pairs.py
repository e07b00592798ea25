"""Page 3: the interferogram network of the current footprints (``insarhub:selectpairs``).

The page follows the current search chain: its footprints (what the stacks page kept, else the
whole search) are the input, the result is a pairs GeoPackage and a network plot in the search's
folder. When the footprints change (a new filter), the pairs are marked stale and cannot be
ordered until they are selected again.
"""

from __future__ import annotations

import os
from typing import Any

from qgis.core import QgsVectorLayer
from qgis.PyQt.QtCore import QEvent, Qt
from qgis.PyQt.QtGui import QColor, QPixmap
from qgis.PyQt.QtWidgets import QSizePolicy

from ...processing_provider.qt_compat import layer_filter
from ...processing_provider.styling import style_footprints
from ..jobs import pairs_cost
from ..layers import place
from ..workspace import find_layer
from .base import BasePage


class PairsPage(BasePage):
    UI = "pairs.ui"
    TITLE = "3 Pairs"
    TOOLTIP = "The interferogram network and what it costs (insarhub:selectpairs)"
    PERSISTED = ("maxTemporal", "maxPerp", "neighbours", "maxDegree", "pairMonths", "forceConnected", "multiBurst")
    DEFAULT_FOR = {"maxTemporal": "max_temporal_baseline", "maxPerp": "max_perp_baseline", "neighbours": "neighbours"}
    RUN_BUTTONS = ("runPairs",)
    BASED_ON = "pairsBasedOn"
    STALE = "pairsStale"

    def setup(self) -> None:
        self.pairsInput.setFilters(layer_filter("PolygonLayer"))
        self.pairsInput.setAllowEmptyLayer(True)
        self.pairsInput.setLayer(None)
        self.pairsInput.setMinimumContentsLength(12)
        # The plot follows the page's width (its scroll area's viewport, never the label's own width:
        # a picture as wide as its label would widen the label, and so on).
        self.networkPlot.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.networkPlot.setMinimumWidth(1)
        self.PairsPageScroll.viewport().installEventFilter(self)
        self._plot_pixmap: QPixmap | None = None
        self._followed: tuple = ()
        self.cost_estimate = None
        self.show_stale("")

    def connect_signals(self) -> None:
        self.runPairs.clicked.connect(self.run_pairs)
        self.pairsInput.layerChanged.connect(lambda _layer: self.refresh())

    # ---- following the chain ---------------------------------------------------------------

    def current_footprints_layer(self, load: bool = False) -> QgsVectorLayer | None:
        """The current chain's footprints as a project layer (loaded into its group when ``load``)."""
        chain = self.workspace.current
        if chain is None or not chain.footprints_file():
            return None
        path = self.workspace.path(chain.footprints_file())
        layer = find_layer(path, subset="")
        if layer is None and load and os.path.exists(path):
            layer = QgsVectorLayer(path, self.tr("Kept footprints") if chain.filter else self.tr("Footprints, one per date"), "ogr")
            style_footprints(layer, QColor("#333333"), outline_only=True, merged=True)
            self.project.addMapLayer(layer, False)
            place(self.project, chain, layer, "filter" if chain.filter else "footprints", checked=False)
        return layer if isinstance(layer, QgsVectorLayer) else None

    def refresh(self) -> None:
        chain = self.workspace.current
        key = (chain.id, chain.footprints_key()) if chain is not None else ()
        if key != self._followed:  # the chain or its footprints changed: follow them
            self._followed = key
            self.pairsInput.blockSignals(True)
            self.pairsInput.setLayer(self.current_footprints_layer())
            self.pairsInput.blockSignals(False)
            self.show_result(chain)
        layer = self.pairsInput.currentLayer()
        if chain is None and layer is None:
            self.show_based_on(self.tr("Search first (page 1), or choose a footprints layer."))
        elif layer is not None and layer is not self.current_footprints_layer():
            self.show_based_on(self.tr("Footprints: the layer “{name}” ({count} footprints), chosen by you.").format(name=layer.name(), count=layer.featureCount()))
        elif chain is not None:
            source = chain.filter or chain.search
            self.show_based_on(
                self.tr("Footprints: {what} of “{label}” ({count} footprints, {stacks}).").format(
                    what=self.tr("what you kept") if chain.filter else self.tr("the search"),
                    label=chain.label,
                    count=source.get("count", 0),
                    stacks=", ".join(source.get("stacks", [])),
                )
            )
        stale = self.workspace.stale("pairs", chain) if chain is not None else ""
        self.show_stale(stale)
        self.networkPlot.setEnabled(not stale)
        self.runPairs.setEnabled(not self._busy)

    def show_result(self, chain: Any) -> None:
        """Show the chain's pairs (count, cost, plot), or nothing."""
        pairs = chain.pairs if chain is not None else None
        if not pairs:
            self.pairsCount.setText("")
            self.pairsCost.setText("")
            self._plot_pixmap = None
            self._show_plot(force=True)
            return
        self.pairsCount.setText(
            self.tr("{count} pair(s) in {components} connected component(s).").format(
                count=pairs.get("count", 0), components=pairs.get("components", 0)
            )
        )
        plot = self.workspace.path(pairs.get("plot", ""))
        self._plot_pixmap = QPixmap(plot) if plot and os.path.exists(plot) else None
        self._show_plot(force=True)
        self.update_cost()

    # ---- running ---------------------------------------------------------------------------

    def pairs_parameters(self) -> dict[str, Any]:
        layer = self.pairsInput.currentLayer()
        if layer is None:
            layer = self.current_footprints_layer(load=True)
        if layer is None:
            raise ValueError(self.tr("Choose the footprints to pair (search first, or open a footprints GeoPackage)."))

        def limit(widget: Any) -> Any:
            return "" if widget.value() <= widget.minimum() else widget.value()

        # The workspace's own file, not the project's layer: the algorithm's thread opens its own copy
        # (nothing shared with the map while it reads); a layer the user chose is passed as it is.
        chain = self.workspace.current
        footprints = self.workspace.path(chain.footprints_file()) if chain is not None else ""
        own = footprints and layer is self.current_footprints_layer()
        parameters: dict[str, Any] = {
            "INPUT": footprints if own else layer.id(),
            "MAX_TEMPORAL_BASELINE": limit(self.maxTemporal),
            "MAX_PERP_BASELINE": limit(self.maxPerp),
            "NEIGHBOURS": self.neighbours.value(),
            "MONTHS": self.pairMonths.text().strip(),
            "FORCE_CONNECTED": self.forceConnected.isChecked(),
            "MULTI_BURST": self.multiBurst.isChecked(),
        }
        if self.maxDegree.value() > self.maxDegree.minimum():
            parameters["MAX_DEGREE"] = self.maxDegree.value()
        return parameters

    def run_pairs(self) -> bool:
        chain = self.workspace.current
        try:
            parameters = self.pairs_parameters()
            if chain is None:
                raise ValueError(self.tr("Search first: the pairs belong to a search of the workspace."))
        except ValueError as exc:
            self.refuse(str(exc), self.pairsCount)
            return False
        layer = self.project.mapLayer(parameters["INPUT"])
        based_on = chain.footprints_key() if layer is None else f"layer:{layer.id()}"
        revision = chain.next_revision()
        path = self.workspace.chain_file(chain, "pairs", "gpkg", revision)
        plot = self.workspace.chain_file(chain, "network", "png", revision)
        parameters["OUTPUT"] = self.destination(path)
        parameters["PLOT"] = plot
        self._pending = (chain, revision, path, plot, based_on, layer)
        return self.run("insarhub:selectpairs", parameters, self._pairs_done)

    def _pairs_done(self, ok: bool, results: dict, error: str) -> None:
        chain, revision, path, plot, based_on, source = self._pending
        if not ok:
            self.pairsCount.setText(error)
            return
        layer = find_layer(path, subset="")
        stacks: list[str] = []
        if isinstance(layer, QgsVectorLayer):
            if "stack" in layer.fields().names():
                stacks = sorted({str(f["stack"]) for f in layer.getFeatures()})
            layer.setName(self.tr("Pairs ({count})").format(count=int(results.get("PAIR_COUNT", 0))))
            style_footprints(layer, QColor("#7570b3"), outline_only=True)
            place(self.project, chain, layer, "pairs", checked=False, index=0)
        previous_stacks = (chain.pairs or {}).get("stacks")
        chain.pairs = {
            "revision": revision,
            "pairs": self.workspace.relative(path),
            "plot": self.workspace.relative(plot) if os.path.exists(plot) else "",
            "count": int(results.get("PAIR_COUNT", 0)),
            "components": int(results.get("COMPONENTS", 0)),
            "based_on": based_on,
            "stacks": stacks,
        }
        if not chain.jobs_file or previous_stacks != stacks:
            # Jobs, products and MintPy live per stack: a later search of the same stack finds them.
            folder = self.workspace.stack_folder(stacks)
            chain.jobs_file = self.workspace.relative(folder / "jobs.json")
            chain.products = self.workspace.relative(folder / "products")
        self._followed = ()  # show the new result
        self.workspace.commit("pairs")

    # ---- plot and cost ---------------------------------------------------------------------

    def _show_plot(self, force: bool = False) -> None:
        if self._plot_pixmap is None or self._plot_pixmap.isNull():
            self.networkPlot.clear()
            return
        margins = self.PairsPageLayout.contentsMargins()
        width = max(120, self.PairsPageScroll.viewport().width() - margins.left() - margins.right() - 4)
        current = self.networkPlot.pixmap()
        # Small changes are ignored: a vertical scroll bar coming and going must not make the plot flicker.
        if force or current is None or current.isNull() or abs(current.width() - width) > 24:
            self.networkPlot.setPixmap(self._plot_pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation))

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize and watched is self.PairsPageScroll.viewport():
            self._show_plot()  # the picture follows the page's width
        return super().eventFilter(watched, event)

    def update_cost(self, *_args: Any) -> None:
        """What HyP3 would charge for the chain's pairs with the HyP3 page's job type and looks."""
        chain = self.workspace.current
        hyp3 = self.dock.page("hyp3")
        if chain is None or not chain.pairs or hyp3 is None:
            self.pairsCost.setText("")
            return
        layer = find_layer(self.workspace.path(chain.pairs["pairs"]), subset="")
        if layer is None:
            layer = QgsVectorLayer(self.workspace.path(chain.pairs["pairs"]), "pairs", "ogr")
        estimate = pairs_cost(layer, hyp3.jobType.currentText(), hyp3.looks.currentText(), hyp3.projectName.text().strip())
        self.cost_estimate = estimate
        self.pairsCost.setText(estimate.message())
