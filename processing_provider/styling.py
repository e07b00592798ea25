"""How InSARHub's outputs look on the map.

Results are styled by post-processors attached to the processing context, so the
toolbox, models and the dock all produce the same layers:

- a search goes into one group of its own, named by its stacks and dates, above the previous
  searches, which are hidden; an empty search adds nothing;
- each stack is drawn as its outline (the union of its footprints, one colour per stack,
  labelled once, outside the footprints so the label never sits on a result raster); the
  per-date footprints are in the group too, switched off.
"""

from __future__ import annotations

from typing import Any, Sequence

from qgis.core import (
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsLayerTreeGroup,
    QgsMergedFeatureRenderer,
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

from .qt_compat import qgis_enum

# Qualitative colours that stay apart on satellite imagery and OSM (ColorBrewer Dark2 + Set1).
STACK_COLOURS = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
]
# Layer-tree groups InSARHub made carry this custom property (value: "search", "timeseries", ...),
# so they are found by what they are, not by their (user-editable) names.
ROLE_PROPERTY = "insarhub/role"
SEARCH_ROLE = "search"


def stack_colour(index: int) -> QColor:
    return QColor(STACK_COLOURS[index % len(STACK_COLOURS)])


def _label_settings(expression: str, colour: QColor) -> QgsPalLayerSettings:
    settings = QgsPalLayerSettings()
    settings.isExpression = True
    settings.fieldName = expression
    # Outside the polygon: the label stays off the rasters computed inside the footprints.
    settings.placement = qgis_enum(
        "Qgis.LabelPlacement.OutsidePolygons", "QgsPalLayerSettings.Placement.OutsidePolygons"
    )
    text = QgsTextFormat()
    text.setColor(colour.darker(150))
    text.setSize(9)
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(1)
    text.setBuffer(buffer)
    settings.setFormat(text)
    return settings


def style_footprints(
    layer: QgsVectorLayer,
    colour: QColor,
    label_expression: str | None = None,
    outline_only: bool = False,
    merged: bool = False,
) -> None:
    """Outline in ``colour`` (with a faint fill unless ``outline_only``); optional label.

    ``merged`` draws the union of the features (a stack's outline) instead of each one: a stack
    of 100 dates is then one line, not 100 stacked fills that hide the map.
    """
    fill = QColor(colour)
    fill.setAlpha(0 if outline_only else 40)
    symbol = QgsFillSymbol.createSimple(
        {
            "color": f"{fill.red()},{fill.green()},{fill.blue()},{fill.alpha()}",
            "style": "no" if outline_only else "solid",
            "outline_color": colour.name(),
            "outline_width": "0.7" if merged else "0.4",
        }
    )
    renderer: Any = QgsSingleSymbolRenderer(symbol)
    if merged:
        renderer = QgsMergedFeatureRenderer(renderer)
    layer.setRenderer(renderer)
    if label_expression:
        layer.setLabeling(QgsVectorLayerSimpleLabeling(_label_settings(label_expression, colour)))
        layer.setLabelsEnabled(True)
    layer.triggerRepaint()


def move_into_group(
    group: QgsLayerTreeGroup, layer: Any, project: QgsProject, checked: bool = True, index: int | None = None
) -> Any:
    """Put ``layer`` into ``group`` (at ``index``, else last); returns its tree node."""
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        node = group.insertLayer(index if index is not None else len(group.children()), layer)
    elif node.parent() is not group or index is not None:
        clone = node.clone()
        parent = node.parent()
        group.insertChildNode(index if index is not None else len(group.children()), clone)
        parent.removeChildNode(node)
    node = root.findLayer(layer.id())
    if node is not None:
        node.setItemVisibilityChecked(checked)
    return node


def layer_group(project: QgsProject, name: str, role: str = "") -> QgsLayerTreeGroup:
    """The top-level group ``name`` (made at the top of the layer tree when missing)."""
    root = project.layerTreeRoot()
    group = root.findGroup(name)
    if group is None:
        group = root.insertGroup(0, name)
        if role:
            group.setCustomProperty(ROLE_PROPERTY, role)
    return group


def unique_group_name(project: QgsProject, name: str) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when a group of that name exists."""
    root = project.layerTreeRoot()
    candidate, number = name, 1
    while root.findGroup(candidate) is not None:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def groups_with_role(project: QgsProject, role: str) -> list[QgsLayerTreeGroup]:
    """Every group InSARHub made for ``role`` (anywhere in the tree)."""
    return [g for g in project.layerTreeRoot().findGroups(True) if g.customProperty(ROLE_PROPERTY) == role]


def show_only(project: QgsProject, shown: QgsLayerTreeGroup, role: str) -> None:
    """Show ``shown`` (expanded) and hide and fold the other groups of the same role."""
    for group in groups_with_role(project, role):
        visible = group is shown
        group.setItemVisibilityChecked(visible)
        group.setExpanded(visible)


def search_group_name(summaries: Sequence[Any]) -> str:
    """A short name readable in the layers panel: its stacks and dates."""
    if not summaries:
        return "InSARHub search"
    stacks = summaries[0].stack + (f" +{len(summaries) - 1}" if len(summaries) > 1 else "")
    first = min(str(s.firstDate)[:10] for s in summaries)
    last = max(str(s.lastDate)[:10] for s in summaries)
    return f"{stacks} · {first}–{last}"


class SearchLayersPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Puts a search's outputs into one group: an outline per stack, the footprints and summary beside them."""

    # sip does not keep Python post-processors alive: hold them here.
    _alive: list[SearchLayersPostProcessor] = []

    def __init__(self, group_name: str, summaries: Sequence[Any], role: str, shared: dict | None = None):
        super().__init__()
        self.group_name = group_name
        self.summaries = list(summaries)
        self.role = role
        # Shared by the post-processors of one run: the group they all go into, made unique on
        # the main thread when the first layer arrives (the algorithm itself runs in a task).
        self.shared = shared if shared is not None else {"group": group_name}

    @classmethod
    def create(
        cls, group_name: str, summaries: Sequence[Any], role: str, shared: dict | None = None
    ) -> SearchLayersPostProcessor:
        instance = cls(group_name, summaries, role, shared)
        cls._alive.append(instance)
        return instance

    def postProcessLayer(self, layer: Any, context: QgsProcessingContext, feedback: Any) -> None:  # noqa: N802
        project = context.project() or QgsProject.instance()
        if not self.shared.get("group"):
            self.shared["group"] = unique_group_name(project, self.group_name)
        self.group_name = self.shared["group"]
        fresh = project.layerTreeRoot().findGroup(self.group_name) is None
        group = layer_group(project, self.group_name, SEARCH_ROLE)
        if fresh:
            show_only(project, group, SEARCH_ROLE)  # the new search on top, the earlier ones hidden
        if self.role == "summary":
            layer.setName("Stack summary")
            layer.setCustomProperty(ROLE_PROPERTY, "summary")
            move_into_group(group, layer, project)
            sort_search_group(group)
            return
        layer.setName("Footprints, one per date")
        layer.setCustomProperty(ROLE_PROPERTY, "footprints")
        style_footprints(layer, QColor("#555555"), outline_only=True)
        move_into_group(group, layer, project, checked=False)
        for index, summary in enumerate(self.summaries):
            stack_layer = stack_subset_layer(layer, summary.stack)
            stack_layer.setName(f"{summary.stack} ({summary.flightDirection.lower()}, {summary.count} dates)")
            label = stack_label(stack_layer, f"{summary.stack} · {summary.count}")
            style_footprints(stack_layer, stack_colour(index), label, outline_only=True, merged=True)
            stack_layer.setCustomProperty(ROLE_PROPERTY, "stack")
            project.addMapLayer(stack_layer, False)
            group.insertLayer(index, stack_layer)
        sort_search_group(group)


SEARCH_ORDER = ("stack", "footprints", "summary")


def sort_search_group(group: QgsLayerTreeGroup) -> None:
    """A search's layers in a fixed order, whichever the layer panel's insertion point gave them:
    the stack outlines, the per-date footprints, the summary table (other nodes stay on top)."""
    def rank(node: Any) -> int:
        layer = node.layer() if hasattr(node, "layer") else None
        role = layer.customProperty(ROLE_PROPERTY) if layer is not None else None
        return SEARCH_ORDER.index(role) if role in SEARCH_ORDER else -1

    nodes = [n for n in group.children() if rank(n) >= 0]
    for node in sorted(nodes, key=rank):  # stable: stacks keep their order
        clone = node.clone()
        group.addChildNode(clone)
        group.removeChildNode(node)


def _sortable(value: Any) -> str:
    """A start time as text that sorts in time order (QDateTime or ISO string)."""
    if hasattr(value, "toString") and hasattr(value, "isValid"):
        return value.toString("yyyy-MM-ddTHH:mm:ss.zzz") if value.isValid() else ""
    return "" if value is None else str(value)


def stack_label(layer: QgsVectorLayer, text: str) -> str | None:
    """A label expression that shows ``text`` once, on the stack's latest footprint.

    The footprint is chosen here, in the main thread, and named by its feature id. An aggregate in
    the expression (``maximum("startTime", group_by:="stack")``, what this used to be) is evaluated
    by the map renderer's threads, and QGIS then builds the layer's and the project's expression
    scopes in that thread while the main thread builds them too: QGIS crashed there, in the
    dock's tests, when the canvas redrew while the project was read or changed.
    """
    latest, latest_id = None, None
    request = QgsFeatureRequest().setFlags(qgis_enum("Qgis.FeatureRequestFlag.NoGeometry", "QgsFeatureRequest.Flag.NoGeometry"))
    request.setSubsetOfAttributes(["startTime"], layer.fields())
    for feature in layer.getFeatures(request):
        key = _sortable(feature["startTime"])
        if latest is None or key > latest:
            latest, latest_id = key, feature.id()
    if latest_id is None:
        return None
    return "CASE WHEN $id = {fid} THEN '{text}' END".format(fid=latest_id, text=text.replace("'", "''"))


AGGREGATE_LABEL = 'maximum("startTime"'


def relabel_stack_layers(project: QgsProject) -> int:
    """Give stack outlines saved by earlier versions (an aggregate in the label) the label of ``stack_label``.

    Returns how many layers were relabelled; their look is unchanged.
    """
    changed = 0
    for layer in project.mapLayers().values():
        if not isinstance(layer, QgsVectorLayer) or layer.customProperty(ROLE_PROPERTY) != "stack":
            continue
        labeling = layer.labeling()
        settings = labeling.settings() if isinstance(labeling, QgsVectorLayerSimpleLabeling) else None
        if settings is None or AGGREGATE_LABEL not in settings.fieldName:
            continue
        text = settings.fieldName.split(" THEN ", 1)[-1].rsplit(" END", 1)[0].strip()
        if not (text.startswith("'") and text.endswith("'")):
            continue
        label = stack_label(layer, text[1:-1].replace("''", "'"))
        if label is None:
            continue
        settings.fieldName = label
        layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
        layer.triggerRepaint()
        changed += 1
    return changed


def stack_subset_layer(layer: QgsVectorLayer, stack: str) -> QgsVectorLayer:
    """A layer of one stack's footprints: a filtered view of a file, or a copy of a memory layer."""
    expression = "\"stack\" = '{}'".format(stack.replace("'", "''"))
    if layer.providerType() == "memory":
        return layer.materialize(QgsFeatureRequest().setFilterExpression(expression))
    stack_layer = QgsVectorLayer(layer.source(), stack, layer.providerType())
    stack_layer.setSubsetString(expression)
    return stack_layer


def style_search_outputs(
    context: QgsProcessingContext, footprints_id: str, summary_id: str | None, summaries: Sequence[Any]
) -> None:
    """Attach the post-processors that group and style a search's outputs when they are loaded.

    A search that found nothing loads nothing (its files are still written): an empty group
    or layer only clutters the map; the log says what to relax.
    """
    outputs = [i for i in (footprints_id, summary_id) if i]
    if not summaries:
        pending = context.layersToLoadOnCompletion()
        for layer_id in outputs:
            pending.pop(layer_id, None)
        context.setLayersToLoadOnCompletion(pending)
        return
    group_name = search_group_name(summaries)
    shared: dict = {"group": None}
    for layer_id, role in ((footprints_id, "footprints"), (summary_id, "summary")):
        if layer_id and context.willLoadLayerOnCompletion(layer_id):
            details = context.layerToLoadOnCompletionDetails(layer_id)
            details.setPostProcessor(SearchLayersPostProcessor.create(group_name, summaries, role, shared))
