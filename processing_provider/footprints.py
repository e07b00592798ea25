"""Checks on footprint layers given as input."""

from __future__ import annotations

from typing import Sequence

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
