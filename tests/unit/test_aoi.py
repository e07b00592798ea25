"""AOI parsing: every bad input gets a message a user can act on; good ones end up in EPSG:4326."""

from __future__ import annotations

import json

import pytest
import shapely
from insarhub_qgis.core import aoi
from insarhub_qgis.core.errors import InputError
from shapely.geometry import Polygon


def test_bbox_becomes_ccw_polygon_in_wgs84():
    area = aoi.from_bbox([-147.2, 64.8, -146.9, 65.0])
    assert area.bounds == pytest.approx((-147.2, 64.8, -146.9, 65.0))
    assert area.search_geometry.exterior.is_ccw
    assert area.notes == []


@pytest.mark.parametrize(
    "bbox, expected",
    [
        ([-146.9, 64.8, -147.2, 65.0], r"min_lon \(-146.9\) is greater than its max_lon"),
        ([-147.2, 65.0, -146.9, 64.8], r"min_lat \(65\) is greater than its max_lat"),
        ([64.8, -147.2, 65.0, -146.9], "look swapped"),
        ([-190, 10, -185, 11], "outside -180..180"),
        ([1, 2, 3], "needs four numbers"),
        ([1, 2, 1, 3], "has no area"),
    ],
)
def test_bad_bbox_says_what_to_change(bbox, expected):
    with pytest.raises(InputError, match=expected):
        aoi.from_bbox(bbox)


def test_parse_bbox_text():
    assert aoi.parse_bbox("[-147.2, 64.8, -146.9, 65.0]") == [-147.2, 64.8, -146.9, 65.0]
    with pytest.raises(InputError, match="not a bounding box"):
        aoi.parse_bbox("west,south,east,north")


def test_invalid_wkt_is_explained():
    with pytest.raises(InputError, match="could not be read"):
        aoi.from_wkt("POLYGON((1 2, 3 4")


def test_self_intersecting_polygon_is_repaired_and_reported():
    bow_tie = "POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))"
    area = aoi.from_wkt(bow_tie)
    assert area.geometry.is_valid
    assert area.geometry.area == pytest.approx(2.0)  # both triangles kept
    assert any("repaired" in note for note in area.notes)
    # The search polygon covers all of the repaired area.
    assert area.search_geometry.covers(area.geometry)


def test_antimeridian_is_refused_with_advice():
    with pytest.raises(InputError, match="antimeridian"):
        aoi.from_wkt("POLYGON((179 0, 181 0, 181 1, 179 1, 179 0))")
    with pytest.raises(InputError, match="antimeridian"):
        aoi.from_wkt("POLYGON((-179.5 0, 179.5 0, 179.5 1, -179.5 1, -179.5 0))")


def test_latitudes_out_of_range_look_swapped():
    with pytest.raises(InputError, match="swapped"):
        aoi.from_wkt("POLYGON((10 120, 11 120, 11 121, 10 121, 10 120))")


def test_empty_geometry_is_refused():
    with pytest.raises(InputError, match="empty"):
        aoi.from_wkt("POLYGON EMPTY")


def test_detailed_polygon_is_simplified_and_still_covers():
    circle = shapely.Point(-118.2, 34.1).buffer(0.3, quad_segs=500)  # 2000+ vertices
    area = aoi.from_geometry(circle)
    assert shapely.get_num_coordinates(area.search_geometry) <= aoi.MAX_SEARCH_VERTICES
    assert area.search_geometry.covers(circle)
    assert area.search_geometry.area < circle.area * 1.1  # simplified, not a crude box
    assert any("simplified" in n for n in area.notes)


def test_multipolygon_searches_hull_keeps_parts_for_coverage():
    parts = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(3, 0, 4, 1)])
    area = aoi.from_geometry(parts)
    assert area.geometry.area == pytest.approx(2.0)
    assert area.search_geometry.covers(parts)
    assert area.search_geometry.geom_type == "Polygon"


def test_ewkt_in_utm_is_reprojected():
    # 500000 E, 0 N in UTM 33N is 15°E on the equator.
    area = aoi.from_wkt("SRID=32633;POLYGON((499000 1000, 501000 1000, 501000 3000, 499000 3000, 499000 1000))")
    assert area.geometry.centroid.x == pytest.approx(15.0, abs=1e-4)
    assert area.geometry.centroid.y == pytest.approx(2000 / 110574, abs=1e-3)


def _write_geojson(path, geometry, crs=None):
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(geometry)}]}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))


def test_vector_file_in_projected_crs_reprojected_to_known_coordinates(tmp_path):
    from osgeo import gdal

    # A GeoPackage in UTM zone 6N around Fairbanks: 466000..468000 E, 7190000..7192000 N.
    src = tmp_path / "aoi.geojson"
    _write_geojson(src, shapely.box(466000, 7190000, 468000, 7192000), "urn:ogc:def:crs:EPSG::32606")
    gpkg = tmp_path / "aoi.gpkg"
    gdal.VectorTranslate(str(gpkg), str(src), format="GPKG")
    area = aoi.from_file(gpkg)
    # UTM 6N (467000, 7191000) is 147.6957 W, 64.8418 N (pyproj; 33 km west of the zone's 147 W meridian).
    assert area.geometry.centroid.x == pytest.approx(-147.6957, abs=1e-3)
    assert area.geometry.centroid.y == pytest.approx(64.8418, abs=1e-3)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        aoi.from_file(tmp_path / "nowhere.shp")


def test_coverage_percent():
    area = shapely.box(0, 60, 2, 62)
    assert aoi.coverage_percent(area, shapely.box(-1, 59, 3, 63)) == pytest.approx(100.0)
    # Half the AOI (west half) covered.
    assert aoi.coverage_percent(area, shapely.box(-1, 59, 1, 63)) == pytest.approx(50.0, abs=0.01)
    assert aoi.coverage_percent(area, Polygon([(5, 5), (6, 5), (6, 6)])) == 0.0
