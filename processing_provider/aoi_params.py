"""The AOI / EXTENT / WKT parameter trio, shared by the algorithms that take an area."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterString,
)

from .base import with_help
from .features import extent_wgs84, source_union_wgs84

if TYPE_CHECKING:
    from ..core.aoi import Aoi

AOI = "AOI"
EXTENT = "EXTENT"
WKT = "WKT"


def aoi_parameters(optional: bool = True, with_wkt: bool = True) -> list:
    """Parameter definitions for the AOI trio (all optional; the algorithm checks one is given)."""
    params = [
        with_help(
            QgsProcessingParameterFeatureSource(
                AOI, "Area of interest (polygon layer)", [QgsProcessing.SourceType.TypeVectorPolygon], optional=True
            ),
            "Polygons of the area of interest, in any CRS. With 'Selected features only' ticked, only the "
            "selected features are used; otherwise all features. Their union is the AOI.",
        ),
        with_help(
            QgsProcessingParameterExtent(EXTENT, "Area of interest (extent)", optional=True),
            "A rectangle in any CRS (e.g. the map canvas extent, or xmin,xmax,ymin,ymax [EPSG:xxxx]). "
            "Used when no AOI layer is given.",
        ),
    ]
    if with_wkt:
        params.append(
            with_help(
                QgsProcessingParameterString(WKT, "Area of interest (WKT)", optional=True, multiLine=True),
                "A WKT geometry in EPSG:4326 (longitude latitude), or EWKT with SRID=xxxx; for another CRS. "
                "Used when neither an AOI layer nor an extent is given.",
            )
        )
    return params


def resolve_aoi(algorithm: Any, parameters: dict, context: QgsProcessingContext) -> Aoi | None:
    """The AOI from whichever of AOI, EXTENT, WKT was given (in that order), or None."""
    from ..core import aoi as core_aoi

    if parameters.get(AOI) not in (None, ""):
        source = algorithm.input_source(parameters, AOI, context)
        if source is not None:
            return core_aoi.from_geometry(source_union_wgs84(source, context, "AOI layer"), "AOI layer")
    given = algorithm.input_extent(parameters, EXTENT, context)  # None: not given or empty
    if given is not None:
        return core_aoi.from_bbox(extent_wgs84(*given, context))
    if WKT in parameters and parameters.get(WKT):
        text = algorithm.parameterAsString(parameters, WKT, context)
        if text.strip():
            return core_aoi.from_wkt(text)
    return None
