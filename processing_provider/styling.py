"""How InSARHub's outputs look on the map.

Results are styled by post-processors attached to the processing context, so the
toolbox, models and the dock all produce the same layers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from qgis.core import (
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsLayerTreeGroup,
    QgsPalLayerSettings,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsSingleSymbolRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor

# Qualitative colours that stay apart on satellite imagery and OSM (ColorBrewer Dark2 + Set1).
STACK_COLOURS = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
]


def stack_colour(index: int) -> QColor:
    return QColor(STACK_COLOURS[index % len(STACK_COLOURS)])


def style_footprints(layer: QgsVectorLayer, colour: QColor, label_expression: str | None = None) -> None:
    """Semi-transparent fill, solid outline in ``colour``; optional label."""
    fill = QColor(colour)
    fill.setAlpha(40)
    symbol = QgsFillSymbol.createSimple(
        {
            "color": f"{fill.red()},{fill.green()},{fill.blue()},{fill.alpha()}",
            "outline_color": colour.name(),
            "outline_width": "0.5",
        }
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    if label_expression:
        settings = QgsPalLayerSettings()
        settings.isExpression = True
        settings.fieldName = label_expression
        text = QgsTextFormat()
        text.setColor(colour.darker(150))
        text.setSize(9)
        buffer = QgsTextBufferSettings()
        buffer.setEnabled(True)
        buffer.setSize(1)
        text.setBuffer(buffer)
        settings.setFormat(text)
        layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
        layer.setLabelsEnabled(True)
    layer.triggerRepaint()


def move_into_group(group: QgsLayerTreeGroup, layer: Any, project: QgsProject, checked: bool = True) -> None:
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        group.addLayer(layer)
    elif node.parent() is not group:
        clone = node.clone()
        group.addChildNode(clone)
        node.parent().removeChildNode(node)
        node = clone
    node = root.findLayer(layer.id())
    if node is not None:
        node.setItemVisibilityChecked(checked)


def layer_group(project: QgsProject, name: str) -> QgsLayerTreeGroup:
    root = project.layerTreeRoot()
    return root.findGroup(name) or root.insertGroup(0, name)


class SearchLayersPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Puts a search's outputs into one group: a layer per stack, the summary beside them."""

    # sip does not keep Python post-processors alive: hold them here.
    _alive: list[SearchLayersPostProcessor] = []

    def __init__(self, group_name: str, summaries: Sequence[Any], role: str):
        super().__init__()
        self.group_name = group_name
        self.summaries = list(summaries)
        self.role = role

    @classmethod
    def create(cls, group_name: str, summaries: Sequence[Any], role: str) -> SearchLayersPostProcessor:
        instance = cls(group_name, summaries, role)
        cls._alive.append(instance)
        return instance

    def postProcessLayer(self, layer: Any, context: QgsProcessingContext, feedback: Any) -> None:  # noqa: N802
        project = context.project() or QgsProject.instance()
        group = layer_group(project, self.group_name)
        if self.role == "summary":
            move_into_group(group, layer, project)
            return
        style_footprints(layer, QColor("#555555"))
        move_into_group(group, layer, project, checked=False)
        for index, summary in enumerate(self.summaries):
            stack_layer = stack_subset_layer(layer, summary.stack)
            stack_layer.setName(f"{summary.stack} ({summary.flightDirection.lower()}, {summary.count} dates)")
            # One label per stack, on its latest footprint, so the map stays readable.
            label = (
                f"CASE WHEN \"startTime\" = maximum(\"startTime\", group_by:=\"stack\") "
                f"THEN '{summary.stack} · {summary.count}' END"
            )
            style_footprints(stack_layer, stack_colour(index), label)
            project.addMapLayer(stack_layer, False)
            group.insertLayer(index, stack_layer)


def stack_subset_layer(layer: QgsVectorLayer, stack: str) -> QgsVectorLayer:
    """A layer of one stack's footprints: a filtered view of a file, or a copy of a memory layer."""
    expression = f"\"stack\" = '{stack}'"
    if layer.providerType() == "memory":
        return layer.materialize(QgsFeatureRequest().setFilterExpression(expression))
    stack_layer = QgsVectorLayer(layer.source(), stack, layer.providerType())
    stack_layer.setSubsetString(expression)
    return stack_layer


def style_search_outputs(context: QgsProcessingContext, footprints_id: str, summary_id: str | None, summaries: Sequence[Any]) -> None:
    """Attach the post-processors that group and style a search's outputs when they are loaded."""
    group_name = "InSARHub search " + dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    if context.willLoadLayerOnCompletion(footprints_id):
        details = context.layerToLoadOnCompletionDetails(footprints_id)
        details.setPostProcessor(SearchLayersPostProcessor.create(group_name, summaries, "footprints"))
    if summary_id and context.willLoadLayerOnCompletion(summary_id):
        details = context.layerToLoadOnCompletionDetails(summary_id)
        details.setPostProcessor(SearchLayersPostProcessor.create(group_name, summaries, "summary"))
