"""Checks on footprint layers given as input."""

from __future__ import annotations

from typing import Any, Sequence

from qgis.core import QgsFeatureSource, QgsProcessingException


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
    """The feature source of parameter ``name`` (the algorithm's own, see inputs.py), refused unless it has the ``needed`` fields."""
    source = algorithm.input_source(parameters, name, context)
    if source is None:
        raise QgsProcessingException(algorithm.invalidSourceError(parameters, name))
    check_footprint_fields(source, needed)
    return source
