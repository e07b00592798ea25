"""Checks on footprint layers given as input."""

from __future__ import annotations

import os
from typing import Any, Sequence

from qgis.core import QgsFeatureSource, QgsProcessingException, QgsProcessingFeatureSource, QgsVectorLayer


def check_footprint_fields(source: QgsFeatureSource, needed: Sequence[str]) -> None:
    """Refuse a layer that is not an InSARHub footprint layer, naming what is missing."""
    names = set(source.fields().names())
    missing = [name for name in needed if name not in names]
    if missing:
        raise QgsProcessingException(
            f"The input layer lacks the field(s) {', '.join(missing)}: it is not an InSARHub footprint layer. "
            "Use the output of insarhub:searchscenes (or a GeoPackage saved from it)."
        )


def footprint_source(algorithm: Any, parameters: dict, name: str, context: Any, needed: Sequence[str]) -> QgsFeatureSource:
    """The feature source of parameter ``name``, refused unless it has the ``needed`` fields.

    A file path (what the dock passes) is opened here, as a layer of this thread's own: Processing would
    first look for a project layer with that source and hand the algorithm's thread the map's own layer,
    read while the main thread draws and restyles it (the dock's tests crashed there, rarely, in the main
    thread while a filter read the search's footprints). It is read through Processing's own feature source,
    so the context's handling of invalid geometries applies as before.
    """
    value = parameters.get(name)
    if isinstance(value, str) and os.path.isfile(value.split("|", 1)[0]):
        own = QgsVectorLayer(value, "footprints", "ogr")
        if own.isValid():
            wrapped = QgsProcessingFeatureSource(own, context, False)
            wrapped.layer = own  # the source only points at the layer: keep it alive with it
            check_footprint_fields(wrapped, needed)
            return wrapped
    source = algorithm.parameterAsSource(parameters, name, context)
    if source is None:
        raise QgsProcessingException(algorithm.invalidSourceError(parameters, name))
    check_footprint_fields(source, needed)
    return source
