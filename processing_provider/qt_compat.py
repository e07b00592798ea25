"""QGIS enum values under whichever name this QGIS has.

A few QGIS enums moved between QGIS 3.22 and QGIS 4 (for example label placement went from
``QgsPalLayerSettings.Placement`` to ``Qgis.LabelPlacement``, layer filters from
``QgsMapLayerProxyModel.Filter`` to ``Qgis.LayerFilter``), and Qt6 builds drop the old
unscoped aliases. :func:`qgis_enum` takes the fully scoped spellings, newest first, and returns
the first one this QGIS knows, so the same code runs on 3.22, 3.40, 3.44 and 4.x.
"""

from __future__ import annotations

from typing import Any

from qgis import core, gui


def qgis_enum(*spellings: str) -> Any:
    """The value of the first of ``spellings`` (``"Qgis.LabelPlacement.OutsidePolygons"``) that exists."""
    for spelling in spellings:
        head, *rest = spelling.split(".")
        value = getattr(core, head, None)
        if value is None:
            value = getattr(gui, head, None)
        for part in rest:
            if value is None:
                break
            value = getattr(value, part, None)
        if value is not None:
            return value
    raise AttributeError(f"None of {', '.join(spellings)} exists in this QGIS.")


def layer_filter(name: str) -> Any:
    """A map-layer combo box filter (``"PolygonLayer"``, ``"RasterLayer"``, ``"VectorLayer"``)."""
    return qgis_enum(f"Qgis.LayerFilter.{name}", f"QgsMapLayerProxyModel.Filter.{name}")
