"""Areas of interest: from a bounding box, WKT, a vector file or features, to EPSG:4326.

An :class:`Aoi` keeps two geometries: ``geometry``, the user's area as given (repaired,
in EPSG:4326), used for coverage; and ``search_geometry``, a single counter-clockwise
polygon that covers it with few enough vertices for CMR, used for the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import shapely
from shapely import wkt as shapely_wkt
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import orient, unary_union

from .errors import InputError

# CMR refuses very long polygons; asf_search itself simplifies to this many points.
MAX_SEARCH_VERTICES = 300
WGS84 = "EPSG:4326"


@dataclass
class Aoi:
    """An area of interest in EPSG:4326 (longitude, latitude)."""

    geometry: BaseGeometry
    search_geometry: BaseGeometry
    notes: list[str] = field(default_factory=list)

    @property
    def search_wkt(self) -> str:
        """The WKT sent to CMR (a covering polygon, counter-clockwise)."""
        return self.search_geometry.wkt

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.geometry.bounds


def _vertex_count(geometry: BaseGeometry) -> int:
    return int(shapely.get_num_coordinates(geometry))


def _covering_polygon(geometry: BaseGeometry, notes: list[str]) -> BaseGeometry:
    """One polygon covering ``geometry`` with at most MAX_SEARCH_VERTICES vertices.

    Points and lines are sent as they are. Several polygons become their convex hull (CMR
    takes one shape); detailed polygons are simplified and then grown by the simplification
    tolerance (mitred, so no vertices are added), which keeps every original point inside.
    """
    if geometry.geom_type in ("Point", "LineString"):
        return geometry
    if geometry.geom_type not in ("Polygon",):
        hull = geometry.convex_hull
        if hull.geom_type != "Polygon":
            hull = hull.buffer(1e-4, join_style="mitre")
        notes.append(
            f"The AOI has {len(getattr(geometry, 'geoms', [geometry]))} parts; the search uses the "
            "polygon enclosing all of them (coverage is still computed for the parts)."
        )
        geometry = hull
    if _vertex_count(geometry) <= MAX_SEARCH_VERTICES:
        return orient(geometry, sign=1.0)
    original = geometry
    minx, miny, maxx, maxy = geometry.bounds
    tolerance = max(maxx - minx, maxy - miny) / 2000.0
    candidate = geometry
    for _ in range(30):
        candidate = geometry.simplify(tolerance, preserve_topology=True)
        candidate = candidate.buffer(tolerance, join_style="mitre", mitre_limit=2.0)
        if candidate.geom_type != "Polygon":
            candidate = candidate.convex_hull
        # Holes add vertices and never help a search.
        candidate = Polygon(candidate.exterior)
        if _vertex_count(candidate) <= MAX_SEARCH_VERTICES and candidate.covers(original):
            break
        tolerance *= 2
    else:  # pragma: no cover - the convex hull always gets there
        candidate = original.convex_hull
    notes.append(
        f"The AOI has {_vertex_count(original)} vertices; it was simplified to "
        f"{_vertex_count(candidate)} (still covering all of it) so CMR accepts it."
    )
    return orient(candidate, sign=1.0)


def _check_lon_lat(geometry: BaseGeometry, what: str, wide_ok: bool = False) -> None:
    minx, miny, maxx, maxy = geometry.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InputError(f"The {what} has coordinates that are not numbers.")
    if miny < -90 or maxy > 90:
        if -90 <= minx and maxx <= 90 and (abs(miny) <= 180 and abs(maxy) <= 180):
            raise InputError(
                f"The {what} has latitudes outside -90..90 ({miny:g}..{maxy:g}); longitude and latitude "
                "look swapped. Give coordinates as longitude, latitude (x, y) in EPSG:4326."
            )
        raise InputError(
            f"The {what} has latitudes outside -90..90 ({miny:g}..{maxy:g}). Give coordinates in "
            "EPSG:4326 degrees (longitude, latitude), or give the layer's CRS."
        )
    if minx < -180 or maxx > 180:
        raise InputError(
            f"The {what} has longitudes outside -180..180 ({minx:g}..{maxx:g}). If the AOI crosses the "
            "antimeridian, split it into two AOIs, one on each side, and search each; otherwise give "
            "coordinates in EPSG:4326 degrees or the layer's CRS."
        )
    # A polygon spanning more than 180° is almost always one drawn across the antimeridian;
    # a bounding box states its west and east edges explicitly, so it is taken as given.
    if maxx - minx > 180 and not wide_ok:
        raise InputError(
            f"The {what} spans {maxx - minx:g} degrees of longitude ({minx:g}..{maxx:g}): it crosses the "
            "antimeridian or is wider than half the globe. Split it into one AOI on each side of 180° "
            "and search each."
        )


def from_geometry(geometry: BaseGeometry, what: str = "AOI", wide_ok: bool = False) -> Aoi:
    """Build an :class:`Aoi` from a shapely geometry already in EPSG:4326.

    Invalid polygons are repaired where that is safe (a self-touching ring, a bow tie split
    into its parts); the repair is reported in ``notes``.
    """
    notes: list[str] = []
    if geometry is None or geometry.is_empty:
        raise InputError(f"The {what} is empty: draw or select at least one polygon.")
    geometry = shapely.force_2d(geometry)
    _check_lon_lat(geometry, what, wide_ok)
    if geometry.geom_type == "GeometryCollection":
        parts = [g for g in geometry.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not parts:
            raise InputError(f"The {what} holds no polygon; give a polygon, a bounding box or a point.")
        geometry = unary_union(parts)
    if geometry.geom_type in ("MultiPoint", "MultiLineString"):
        geometry = geometry.convex_hull
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        repaired = shapely.make_valid(geometry)
        polygons = [g for g in getattr(repaired, "geoms", [repaired]) if g.geom_type in ("Polygon", "MultiPolygon")]
        if not polygons:
            raise InputError(
                f"The {what} is not a valid polygon ({reason}) and could not be repaired; redraw it "
                "without self-intersections."
            )
        repaired = unary_union(polygons)
        if repaired.area < 1e-12:
            raise InputError(f"The {what} has no area after repair ({reason}); redraw it.")
        notes.append(f"The {what} was not a valid polygon ({reason}); it was repaired into {repaired.geom_type}.")
        geometry = repaired
    if geometry.geom_type in ("Polygon", "MultiPolygon") and geometry.area <= 0:
        raise InputError(f"The {what} has no area; give a polygon with distinct corners.")
    search_geometry = _covering_polygon(geometry, notes)
    return Aoi(geometry=geometry, search_geometry=search_geometry, notes=notes)


def from_bbox(bbox: Sequence[float]) -> Aoi:
    """AOI from ``[min_lon, min_lat, max_lon, max_lat]`` in EPSG:4326."""
    if len(bbox) != 4:
        raise InputError(
            f"A bounding box needs four numbers [min_lon, min_lat, max_lon, max_lat]; got {len(bbox)}."
        )
    try:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise InputError(f"The bounding box {list(bbox)} has values that are not numbers.") from exc
    for name, value, limit in (
        ("min_lon", min_lon, 180),
        ("max_lon", max_lon, 180),
        ("min_lat", min_lat, 90),
        ("max_lat", max_lat, 90),
    ):
        if not math.isfinite(value) or abs(value) > limit:
            hint = (
                " Longitude and latitude look swapped: the order is [min_lon, min_lat, max_lon, max_lat]."
                if "lat" in name and abs(value) <= 180
                else ""
            )
            raise InputError(f"The bounding box's {name} = {value:g} is outside -{limit}..{limit}.{hint}")
    if min_lon > max_lon:
        raise InputError(
            f"The bounding box's min_lon ({min_lon:g}) is greater than its max_lon ({max_lon:g}). "
            "Swap them; if the area crosses the antimeridian, search each side separately."
        )
    if min_lat > max_lat:
        raise InputError(
            f"The bounding box's min_lat ({min_lat:g}) is greater than its max_lat ({max_lat:g}); swap them."
        )
    if min_lon == max_lon or min_lat == max_lat:
        raise InputError("The bounding box has no area (a min equals its max); give a box with extent.")
    return from_geometry(box(min_lon, min_lat, max_lon, max_lat), "bounding box", wide_ok=True)


def parse_bbox(text: str) -> list[float]:
    """Parse ``"min_lon,min_lat,max_lon,max_lat"`` (commas or spaces, optional brackets)."""
    cleaned = text.strip().strip("[]()").replace(",", " ").split()
    try:
        return [float(v) for v in cleaned]
    except ValueError as exc:
        raise InputError(
            f"'{text}' is not a bounding box; write min_lon,min_lat,max_lon,max_lat in degrees."
        ) from exc


def from_wkt(text: str, crs: str | None = None) -> Aoi:
    """AOI from WKT (EPSG:4326 unless ``crs`` names another, e.g. ``EPSG:32633``).

    A ``SRID=xxxx;`` prefix (EWKT) is honoured.
    """
    text = (text or "").strip()
    if not text:
        raise InputError("The WKT is empty.")
    if text.upper().startswith("SRID="):
        srid, _, text = text.partition(";")
        crs = "EPSG:" + srid.split("=", 1)[1].strip()
    try:
        geometry = shapely_wkt.loads(text)
    except Exception as exc:  # shapely raises GEOSException/WKTReadingError depending on version
        raise InputError(
            f"The WKT could not be read ({exc}). Example of a valid one: "
            "POLYGON((-118.3 34.0, -118.1 34.0, -118.1 34.2, -118.3 34.2, -118.3 34.0))"
        ) from exc
    if crs and crs.upper() not in (WGS84, "EPSG:4326", "OGC:CRS84", "CRS84"):
        geometry = reproject(geometry, crs, WGS84)
    return from_geometry(geometry, "WKT AOI")


def reproject(geometry: BaseGeometry, source_crs: str, target_crs: str = WGS84) -> BaseGeometry:
    """Reproject a shapely geometry between CRSs given as anything OSR understands."""
    from osgeo import ogr, osr

    source = osr.SpatialReference()
    target = osr.SpatialReference()
    for ref, text in ((source, source_crs), (target, target_crs)):
        if ref.SetFromUserInput(text) != 0:
            raise InputError(f"The CRS '{text}' is not known; give it as EPSG:xxxx or as WKT.")
        ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, target)
    ogr_geometry = ogr.CreateGeometryFromWkb(shapely.to_wkb(geometry))
    if ogr_geometry.Transform(transform) != 0:
        raise InputError(f"The AOI could not be reprojected from {source_crs} to {target_crs}.")
    return shapely.from_wkb(bytes(ogr_geometry.ExportToWkb()))


def from_file(path: str | Path, layer: str | None = None) -> Aoi:
    """AOI from every feature of a vector file (Shapefile, GeoPackage, GeoJSON, ...), any CRS."""
    from osgeo import gdal, ogr

    path = Path(path)
    if not path.exists():
        raise InputError(f"The AOI file '{path}' does not exist.")
    gdal.UseExceptions()
    try:
        dataset = ogr.Open(str(path))
    except RuntimeError as exc:
        raise InputError(f"The AOI file '{path}' could not be opened as a vector file ({exc}).") from exc
    if dataset is None:
        raise InputError(f"The AOI file '{path}' could not be opened as a vector file.")
    source_layer = dataset.GetLayerByName(layer) if layer else dataset.GetLayer(0)
    if source_layer is None:
        raise InputError(f"The AOI file '{path}' has no layer {layer or ''}.")
    spatial_ref = source_layer.GetSpatialRef()
    geometries = []
    for feature in source_layer:
        geometry = feature.GetGeometryRef()
        if geometry is not None and not geometry.IsEmpty():
            geometries.append(shapely.from_wkb(bytes(geometry.ExportToWkb())))
    if not geometries:
        raise InputError(f"The AOI file '{path}' has no features with a geometry.")
    merged = unary_union(geometries) if len(geometries) > 1 else geometries[0]
    if spatial_ref is not None:
        authority = spatial_ref.GetAuthorityName(None)
        code = spatial_ref.GetAuthorityCode(None)
        crs = f"{authority}:{code}" if authority and code else spatial_ref.ExportToWkt()
        if crs != WGS84:
            merged = reproject(merged, crs, WGS84)
    return from_geometry(merged, f"AOI from {path.name}")


def coverage_percent(aoi_geometry: BaseGeometry, footprints: BaseGeometry) -> float:
    """Percent of the AOI's area that ``footprints`` cover.

    Areas are compared with longitudes scaled by cos(latitude) around the AOI, which keeps
    the ratio accurate for AOIs up to a few degrees across.
    """
    if aoi_geometry.geom_type not in ("Polygon", "MultiPolygon") or aoi_geometry.area == 0:
        return 100.0 if footprints.intersects(aoi_geometry) else 0.0
    lat0 = math.radians(aoi_geometry.centroid.y)
    scale = max(math.cos(lat0), 1e-6)

    def scaled(geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda xy: xy * [scale, 1.0])

    aoi_scaled = scaled(aoi_geometry)
    covered = aoi_scaled.intersection(scaled(footprints)).area
    return round(100.0 * covered / aoi_scaled.area, 2)


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """``geometry`` as a MultiPolygon (for writers that want one geometry type)."""
    if geometry.geom_type == "MultiPolygon":
        return geometry
    if geometry.geom_type == "Polygon":
        return MultiPolygon([geometry])
    polygons = [g for g in getattr(geometry, "geoms", []) if g.geom_type == "Polygon"]
    return MultiPolygon(polygons)
