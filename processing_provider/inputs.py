"""Inputs read in the algorithm's own thread, never as the map's own layers.

Processing runs an algorithm started from the toolbox or the dock in a task thread. Resolved there,
a feature-source parameter (``parameterAsSource``) hands that thread the project's own layer when
the value is a layer id, a selection, or a file path that a map layer shows (Processing looks for a
project layer with that source first). QGIS then reads the layer in the task thread while the main
thread draws, restyles or edits it, and the main thread crashes, rarely: the dock's tests met it
with filterscenes reading the search's footprints, then with submitjobs reading the pairs the map
shows.

So no task thread touches a project layer:
- a file path is opened in the task thread as a layer of its own (``input_source``);
- anything else is resolved in ``prepareAlgorithm``, which Processing calls in the main thread
  before the task starts: a project layer kept in a plain file (OGR, no pending edits, all its
  features) becomes that file's path, opened as above; any other source (a selection, a memory
  or edited layer, a filter) is copied there into a memory layer of the algorithm's own.
The copy is read through Processing's own feature source, so the context's handling of invalid
geometries applies exactly as through ``parameterAsSource``.

The other parameters that may name a map layer are resolved in ``prepareAlgorithm`` too, so the task
thread never even looks the project's layers up (Processing searches the project's layer store for
any string that might be a layer): layer lists (``parameterAsLayerList``, which returns the map's
own layers for the paths the map shows) become the layers' file paths; extents (which may be a
layer's extent) and points become a rectangle or point with its CRS; CRS parameters (which may be a
layer's CRS, and fall back to the project's) become a CRS.
"""

from __future__ import annotations

import os
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeatureSource,
    QgsMemoryProviderUtils,
    QgsPointXY,
    QgsProcessingFeatureSource,
    QgsProcessingUtils,
    QgsRectangle,
    QgsVectorLayer,
)

# Processing's type names of the parameters resolved in the main thread.
VECTOR_TYPES = ("source", "vector")
RESOLVED_TYPES = ("extent", "point", "crs", "multilayer")

_BATCH = 1000


def is_file_value(value: Any) -> bool:
    """A parameter value naming a file (``path`` or ``path|layername=...``)."""
    return isinstance(value, str) and bool(value) and os.path.isfile(value.split("|", 1)[0])


def file_backed_uri(value: Any, context: Any) -> str | None:
    """The data source of ``value`` when it is a whole project layer kept in a file, else None.

    Only a plain layer id or layer object qualifies: a selection, a feature limit or a filter must
    be applied by Processing, and a layer with unsaved edits differs from its file.
    """
    if isinstance(value, QgsVectorLayer):
        layer = value
    elif isinstance(value, str) and value:
        layer = QgsProcessingUtils.mapLayerFromString(value, context, False)
    else:
        return None
    if not isinstance(layer, QgsVectorLayer) or not layer.isValid() or layer.providerType() != "ogr":
        return None
    if layer.isEditable() and layer.isModified():
        return None
    uri = layer.source()
    return uri if is_file_value(uri) else None


def copy_to_memory(source: QgsFeatureSource, name: str) -> QgsVectorLayer:
    """A memory layer holding every feature ``source`` gives (fields, geometries, CRS)."""
    layer = QgsMemoryProviderUtils.createMemoryLayer(name, source.fields(), source.wkbType(), source.sourceCrs())
    provider = layer.dataProvider()
    batch = []
    for feature in source.getFeatures():
        batch.append(feature)
        if len(batch) >= _BATCH:
            provider.addFeatures(batch)
            batch = []
    if batch:
        provider.addFeatures(batch)
    return layer


def own_source(layer: QgsVectorLayer, context: Any) -> QgsProcessingFeatureSource:
    wrapped = QgsProcessingFeatureSource(layer, context, False)
    wrapped.layer = layer  # the source only points at the layer: keep it alive with it
    return wrapped


class OwnInputs:
    """What ``prepareAlgorithm`` resolved for an algorithm's inputs (main thread)."""

    def __init__(self) -> None:
        self.uris: dict[str, str] = {}
        self.copies: dict[str, QgsVectorLayer] = {}
        self.resolved: dict[str, Any] = {}
        self.problem: Exception | None = None

    def prepare(self, algorithm: Any, parameters: dict, context: Any) -> None:
        try:
            for definition in algorithm.parameterDefinitions():
                name, kind = definition.name(), definition.type()
                if kind in VECTOR_TYPES and parameters.get(name) not in (None, ""):
                    self._prepare_vector(algorithm, parameters, name, context)
                elif kind in RESOLVED_TYPES:  # given or not: a default may name the project's CRS
                    self.resolved[name] = resolve(algorithm, parameters, name, kind, context)
        except Exception as exc:  # noqa: BLE001 — raised again by execute, where runs report errors
            self.problem = exc

    def _prepare_vector(self, algorithm: Any, parameters: dict, name: str, context: Any) -> None:
        value = parameters.get(name)
        if is_file_value(value):
            return  # a file the task thread opens itself
        uri = file_backed_uri(value, context)
        if uri is not None:
            self.uris[name] = uri
            return
        source = algorithm.parameterAsSource(parameters, name, context)
        if source is not None:
            self.copies[name] = copy_to_memory(source, name)

    def source(self, algorithm: Any, parameters: dict, name: str, context: Any) -> QgsFeatureSource | None:
        """The feature source of ``name`` for the thread that executes (None: not given or invalid)."""
        if self.problem is not None:
            raise self.problem
        value = self.uris.get(name) or parameters.get(name)
        if is_file_value(value):
            layer = QgsVectorLayer(value, name, "ogr")
            if layer.isValid():
                return own_source(layer, context)
        if name in self.copies:
            return own_source(self.copies[name], context)
        return algorithm.parameterAsSource(parameters, name, context)

    def value(self, algorithm: Any, parameters: dict, name: str, context: Any) -> Any:
        """The resolved value of the extent, point, CRS or layer-list parameter ``name`` (see ``resolve``)."""
        if self.problem is not None:
            raise self.problem
        if name in self.resolved:
            return self.resolved[name]
        definition = algorithm.parameterDefinition(name)
        return resolve(algorithm, parameters, name, definition.type() if definition else "", context)


def resolve(algorithm: Any, parameters: dict, name: str, kind: str, context: Any) -> Any:
    """An extent, point, CRS or layer-list parameter as values that no longer point at a map layer.

    - extent: ``(QgsRectangle, QgsCoordinateReferenceSystem)``, or None when not given or empty;
    - point: ``(QgsPointXY, QgsCoordinateReferenceSystem)``, or None when not given;
    - crs: a ``QgsCoordinateReferenceSystem`` (invalid when not given);
    - multilayer: the layers' file paths (a layer's source up to any ``|`` options).
    """
    value = parameters.get(name)
    if kind == "crs":
        return QgsCoordinateReferenceSystem(algorithm.parameterAsCrs(parameters, name, context))
    if kind == "multilayer":
        layers = algorithm.parameterAsLayerList(parameters, name, context) if value not in (None, "") else []
        return [layer.source().split("|")[0] for layer in layers]
    if value in (None, ""):
        return None
    if kind == "extent":
        rect = algorithm.parameterAsExtent(parameters, name, context)
        if rect.isNull() or rect.isEmpty():
            return None
        crs = algorithm.parameterAsExtentCrs(parameters, name, context)
        return QgsRectangle(rect), QgsCoordinateReferenceSystem(crs)
    if kind == "point":
        point = algorithm.parameterAsPoint(parameters, name, context)
        crs = algorithm.parameterAsPointCrs(parameters, name, context)
        return QgsPointXY(point), QgsCoordinateReferenceSystem(crs)
    raise ValueError(f"{name}: parameters of type {kind!r} are not resolved here")
