"""The dock's side of a tidy map: each search chain's layers in the chain's group.

The algorithms' own post-processors (``processing_provider.styling``/``raster_styling``) group
and style what they load, exactly as from the toolbox. The dock then knows more than an
algorithm does (which search a filter, a pair network or a time series belongs to), so it moves
those layers into the search's group, names the group by the search's area and dates, replaces
a step's previous result on the map by the new one (the files stay), and shows one search at a
time.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsCoordinateTransform,
    QgsLayerTreeGroup,
    QgsMapLayer,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

from ..processing_provider.styling import ROLE_PROPERTY, SEARCH_ROLE, move_into_group, show_only
from .workspace import find_layer

STEP_PROPERTY = "insarhub/step"  # on a layer: which step of its chain made it ("filter", "pairs", ...)


def chain_group(project: QgsProject, chain: Any) -> QgsLayerTreeGroup | None:
    """The layer-tree group of ``chain`` (None when the user removed it)."""
    if chain is None or not chain.group:
        return None
    for group in project.layerTreeRoot().findGroups(True):
        if group.name() == chain.group:
            return group
    return None


def ensure_chain_group(project: QgsProject, chain: Any) -> QgsLayerTreeGroup:
    group = chain_group(project, chain)
    if group is None:
        group = project.layerTreeRoot().insertGroup(0, chain.group or chain.label)
        group.setCustomProperty(ROLE_PROPERTY, SEARCH_ROLE)
        chain.group = group.name()
    return group


def parent_group(project: QgsProject, layer: QgsMapLayer | None) -> QgsLayerTreeGroup | None:
    """The layer-tree node holding ``layer`` (the root for a top-level layer; None when not in the tree)."""
    node = project.layerTreeRoot().findLayer(layer.id()) if layer is not None else None
    return node.parent() if node is not None else None


def unique_name(project: QgsProject, name: str, mine: QgsLayerTreeGroup | None = None) -> str:
    root = project.layerTreeRoot()
    candidate, number = name, 1
    while True:
        found = root.findGroup(candidate)
        if found is None or found is mine:
            return candidate
        number += 1
        candidate = f"{name} ({number})"


def show_chain(project: QgsProject, chain: Any) -> None:
    """Show ``chain``'s group (expanded), hide and fold the other searches."""
    group = chain_group(project, chain)
    if group is not None:
        show_only(project, group, SEARCH_ROLE)


def place(
    project: QgsProject, chain: Any, layer: QgsMapLayer, step: str, checked: bool = True, index: int | None = None
) -> None:
    """Put ``layer`` (the new result of ``step``) into the chain's group, replacing the step's previous layers."""
    group = ensure_chain_group(project, chain)
    layer.setCustomProperty(STEP_PROPERTY, step)
    for node in group.findLayers():
        other = node.layer()
        if other is not None and other is not layer and other.customProperty(STEP_PROPERTY) == step:
            project.removeMapLayer(other.id())
    move_into_group(group, layer, project, checked=checked, index=index)


def place_group(project: QgsProject, chain: Any, group: QgsLayerTreeGroup, name: str) -> QgsLayerTreeGroup:
    """Move ``group`` (a time series' group) to the top of the chain's group, named ``name``."""
    parent = ensure_chain_group(project, chain)
    group.setName(unique_name(project, name, group))
    if group.parent() is parent and parent.children() and parent.children()[0] is group:
        return group
    clone = group.clone()
    parent.insertChildNode(0, clone)
    old_parent = group.parent()
    if old_parent is not None:
        old_parent.removeChildNode(group)
    return clone


def layer_for(path: str, name: str, project: QgsProject | None = None, subset: str = "") -> QgsVectorLayer | None:
    """The project's layer reading ``path``; None when it is not in the project."""
    layer = find_layer(path, project, subset)
    return layer if isinstance(layer, QgsVectorLayer) else None


def zoom_to(canvas: Any, layer: QgsMapLayer, margin: float = 0.1) -> None:
    """Zoom the map to ``layer`` (in the map's CRS)."""
    extent = QgsRectangle(layer.extent())
    if extent.isNull() or extent.isEmpty():
        return
    canvas_crs = canvas.mapSettings().destinationCrs()
    if canvas_crs.isValid() and layer.crs().isValid() and layer.crs() != canvas_crs:
        extent = QgsCoordinateTransform(layer.crs(), canvas_crs, QgsProject.instance()).transformBoundingBox(extent)
    canvas.setExtent(extent.buffered(max(extent.width(), extent.height()) * margin))
    canvas.refresh()
