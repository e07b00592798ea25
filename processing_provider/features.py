"""Between QGIS features and the domain's plain records and shapely geometries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSource,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QDateTime, QVariant

if TYPE_CHECKING:  # shapely comes with asf_search: imported only when an algorithm runs
    from shapely.geometry.base import BaseGeometry

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
_QVARIANT = {"str": QVariant.String, "int": QVariant.Int, "int64": QVariant.LongLong, "float": QVariant.Double, "bool": QVariant.Bool}


def make_fields(spec: Iterable[tuple[str, str]]) -> QgsFields:
    """QgsFields from ``(name, type)`` pairs (types: str, int, int64, float, bool)."""
    fields = QgsFields()
    for name, kind in spec:
        fields.append(QgsField(name, _QVARIANT[kind]))
    return fields


def to_qgs_geometry(geometry: BaseGeometry | None) -> QgsGeometry:
    import shapely

    if geometry is None or geometry.is_empty:
        return QgsGeometry()
    qgs = QgsGeometry()
    qgs.fromWkb(shapely.to_wkb(geometry))
    return qgs


def to_shapely(geometry: QgsGeometry) -> BaseGeometry | None:
    import shapely

    if geometry is None or geometry.isNull() or geometry.isEmpty():
        return None
    return shapely.from_wkb(bytes(geometry.asWkb()))


def make_feature(fields: QgsFields, record: Mapping[str, Any], geometry: BaseGeometry | None = None) -> QgsFeature:
    feature = QgsFeature(fields)
    feature.setAttributes([record.get(fields.at(i).name()) for i in range(fields.count())])
    if geometry is not None:
        feature.setGeometry(to_qgs_geometry(geometry))
    return feature


def _plain(value: Any) -> Any:
    """QVariant-ish values (NULL, QDateTime) to plain Python."""
    if value is None:
        return None
    if isinstance(value, QVariant):
        return None if value.isNull() else value.value()
    if isinstance(value, QDateTime):
        return value.toString("yyyy-MM-ddTHH:mm:ss.zzzZ") if value.isValid() else None
    return value


def read_records(
    source: QgsFeatureSource,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback | None = None,
    crs: QgsCoordinateReferenceSystem = WGS84,
) -> Iterator[tuple[dict[str, Any], BaseGeometry | None]]:
    """Yield ``(record, geometry)`` for every feature of ``source``, geometry in ``crs``."""
    request = QgsFeatureRequest()
    if source.sourceCrs().isValid() and source.sourceCrs() != crs:
        request.setDestinationCrs(crs, context.transformContext())
    names = source.fields().names()
    total = max(source.featureCount(), 1)
    for index, feature in enumerate(source.getFeatures(request)):
        if feedback is not None:
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled.")
            feedback.setProgress(100.0 * index / total)
        record = {name: _plain(feature[name]) for name in names}
        yield record, to_shapely(feature.geometry())


def source_union_wgs84(
    source: QgsFeatureSource, context: QgsProcessingContext, what: str = "AOI layer"
) -> BaseGeometry:
    """The union of a feature source's geometries in EPSG:4326 (selection honoured by QGIS)."""
    from shapely.ops import unary_union

    geometries = [g for _, g in read_records(source, context) if g is not None]
    if not geometries:
        raise QgsProcessingException(
            f"The {what} has no features to use (if 'Selected features only' is ticked, select at least "
            "one feature or untick it)."
        )
    return unary_union(geometries) if len(geometries) > 1 else geometries[0]


def extent_wgs84(
    extent: QgsRectangle, crs: QgsCoordinateReferenceSystem, context: QgsProcessingContext
) -> list[float]:
    """An extent in any CRS as ``[min_lon, min_lat, max_lon, max_lat]``."""
    if crs.isValid() and crs != WGS84:
        transform = QgsCoordinateTransform(crs, WGS84, context.transformContext())
        extent = transform.transformBoundingBox(extent)
    return [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()]
