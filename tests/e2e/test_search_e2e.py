"""Search, summarize and filter through ./scripts/qgis_process against the CMR stand-in,
as a user would run them; the saved GeoPackage rebuilds exactly what the search returned."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
import shapely
from fakes.cmr import CMRStandIn, load_fixture
from insarhub_qgis.core import records
from osgeo import ogr
from process_helpers import clean_env, run_algorithm

pytestmark = pytest.mark.slow

BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")
SLCS = load_fixture("s1_slc_fairbanks_p94_f210_stack")


def _centre(items):
    points = items[0]["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    return shapely.Polygon([(p["Longitude"], p["Latitude"]) for p in points]).centroid


@pytest.fixture(scope="module")
def cmr(tmp_path_factory):
    with CMRStandIn(BURSTS + SLCS, tmpdir=tmp_path_factory.mktemp("cmr")) as stand_in:
        yield stand_in


def _env(stand_in):
    return clean_env(INSARHUB_CMR_HOST=stand_in.host, INSARHUB_CA_BUNDLE=stand_in.ca_file)


def _read_gpkg(path):
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    rows = []
    for feature in layer:
        record = {layer.GetLayerDefn().GetFieldDefn(i).GetName(): feature.GetField(i) for i in range(feature.GetFieldCount())}
        rows.append((record, shapely.from_wkb(bytes(feature.GetGeometryRef().ExportToWkb()))))
    return rows, layer.GetSpatialRef()


def test_search_bursts_to_geopackage_and_round_trip(cmr, tmp_path):
    centre = _centre(BURSTS)
    out = tmp_path / "bursts.gpkg"
    summary = tmp_path / "stacks.csv"
    done, results = run_algorithm(
        "insarhub:searchscenes",
        {"WKT": centre.buffer(0.01).wkt, "PROCESSING_LEVEL": "BURST", "POLARIZATION": "VV", "OUTPUT": out, "SUMMARY": summary},
        env=_env(cmr),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert results["COUNT"] == 166 and results["STACK_COUNT"] == 1
    rows, srs = _read_gpkg(out)
    assert srs.GetAuthorityCode(None) == "4326"
    assert len(rows) == 166
    assert {r["stack"] for r, _ in rows} == {"174_372326_IW3"}
    expected = {i["asf_properties"]["fileID"]: i["asf_properties"] for i in BURSTS}
    for record, _ in rows:
        props = expected[record["fileID"]]
        assert record["sceneName"] == props["sceneName"]
        assert record["pathNumber"] == props["pathNumber"]
        assert record["flightDirection"] == props["flightDirection"]
        assert record["burstId"] == props["burst"]["fullBurstID"]
        assert record["url"] == props["url"] and record["bytes"] == int(props["bytes"])
    (row,) = list(csv.DictReader(summary.open()))
    dates = sorted({i["asf_properties"]["startTime"][:10] for i in BURSTS})
    assert row == {
        "stack": "174_372326_IW3", "pathNumber": "174", "frameNumber": "", "burstId": "174_372326_IW3",
        "flightDirection": "DESCENDING", "count": str(len(dates)), "firstDate": dates[0], "lastDate": dates[-1],
        "aoiCoverage": "100",
    }

    # Round trip: products rebuilt from the file give the same baselines as the records themselves.
    from asf_search.baseline.stack import calculate_perpendicular_baselines

    saved = records.products_from_records(r for r, _ in rows)
    live = records.products_from_records({"umm": json.dumps(i["umm"]), "cmrMeta": json.dumps(i["meta"])} for i in BURSTS)
    ref_name = sorted(p.properties["fileID"] for p in live)[80]

    def baselines(products):
        reference = next(p for p in products if p.properties["fileID"] == ref_name)
        stack = calculate_perpendicular_baselines(reference.properties["sceneName"], [p for p in products])
        return {p.properties["fileID"]: p.properties["perpendicularBaseline"] for p in stack}

    assert baselines(saved) == pytest.approx(baselines(live))


def test_summarize_and_filter_a_saved_search(cmr, tmp_path):
    out = tmp_path / "slc.gpkg"
    done, results = run_algorithm("insarhub:searchscenes", {"WKT": _centre(SLCS).buffer(0.01).wkt, "OUTPUT": out}, env=_env(cmr))
    assert done.returncode == 0, done.stderr
    assert results["COUNT"] == len(SLCS)
    table = tmp_path / "summary.gpkg"
    done, results = run_algorithm("insarhub:summarizestacks", {"INPUT": out, "OUTPUT": table, "EXTENT": "-147.2,-146.9,64.9,65.0 [EPSG:4326]"}, env=_env(cmr))
    assert done.returncode == 0, done.stderr
    assert results["STACK_COUNT"] == 1
    with sqlite3.connect(table) as db:
        (row,) = db.execute("select stack, pathNumber, frameNumber, flightDirection, count, firstDate, lastDate, aoiCoverage from summary").fetchall()
    dates = sorted(i["asf_properties"]["startTime"][:10] for i in SLCS)
    assert row[:7] == ("P94_F210", 94, 210, "ASCENDING", len(set(dates)), dates[0], dates[-1])
    assert 0 <= row[7] <= 100
    filtered = tmp_path / "filtered.gpkg"
    done, results = run_algorithm("insarhub:filterscenes", {"INPUT": out, "STACKS": "94/210", "START": dates[1], "OUTPUT": filtered}, env=_env(cmr))
    assert done.returncode == 0, done.stderr
    assert results["COUNT"] == sum(1 for d in dates if d >= dates[1])
    done, _ = run_algorithm("insarhub:filterscenes", {"INPUT": out, "STACKS": "93/121", "OUTPUT": tmp_path / "none.gpkg"}, env=_env(cmr))
    assert done.returncode != 0 and "93_F121" in (done.stdout + done.stderr) and "P94_F210" in (done.stdout + done.stderr)


def test_projected_aoi_layer_and_bad_inputs_leave_no_output(cmr, tmp_path):
    # An AOI in UTM 6N around the Fairbanks scenes' centre, written as a GeoPackage.
    from osgeo import osr

    centre = _centre(SLCS)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32606)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x, y, _ = osr.CoordinateTransformation(wgs, srs).TransformPoint(centre.x, centre.y)
    aoi_path = tmp_path / "aoi_utm.gpkg"
    driver = ogr.GetDriverByName("GPKG")
    ds = driver.CreateDataSource(str(aoi_path))
    layer = ds.CreateLayer("aoi", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(shapely.box(x - 1000, y - 1000, x + 1000, y + 1000).wkt))
    layer.CreateFeature(feature)
    ds = None
    out = tmp_path / "from_utm.gpkg"
    done, results = run_algorithm("insarhub:searchscenes", {"AOI": aoi_path, "OUTPUT": out}, env=_env(cmr))
    assert done.returncode == 0, done.stderr
    assert results["COUNT"] == len(SLCS)

    bad = [
        ({"WKT": "POLYGON((1 2, 3 4"}, "could not be read"),
        ({"EXTENT": "64.8,65.0,-147.2,-146.9 [EPSG:4326]"}, "swapped"),
        ({"WKT": "POINT(-147 65)", "START": "2021-05-01", "END": "2021-01-01"}, "after the end date"),
        ({"WKT": "POINT(-147 65)", "POLARIZATION": "XY"}, "Unknown polarization"),
        ({"GRANULES": "S1A_IW_SLC__1SDV_20990101T000000_20990101T000027_000001_000001_ABCD"}, "not found"),
        ({}, "Give an area of interest"),
    ]
    for parameters, message in bad:
        target = tmp_path / "bad.gpkg"
        done, _ = run_algorithm("insarhub:searchscenes", {**parameters, "OUTPUT": target}, env=_env(cmr))
        assert done.returncode != 0, parameters
        assert message in done.stdout + done.stderr, (parameters, done.stdout + done.stderr)
        assert not target.exists(), f"half-written output left for {parameters}"
