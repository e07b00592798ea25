"""core.search against the loopback CMR stand-in, with the real asf_search building every query."""

from __future__ import annotations

import json

import pytest
import shapely
from fakes.cmr import CMRStandIn, load_fixture, synthetic_slc_records
from insarhub_qgis.core import aoi, records
from insarhub_qgis.core.config import Endpoints
from insarhub_qgis.core.errors import CancelledError, InputError, ServiceError, TransientServiceError
from insarhub_qgis.core.search import RetryPolicy, SearchRequest, search


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture()
def cmr(tmp_path):
    records_ = load_fixture("s1_burst_174_372326_IW3_stack") + load_fixture("s1_slc_fairbanks_p94_f210_stack")
    with CMRStandIn(records_, tmpdir=tmp_path) as stand_in:
        yield stand_in


def endpoints(stand_in):
    return Endpoints(cmr_host=stand_in.host, ca_bundle=stand_in.ca_file)


def footprint_union(name):
    items = load_fixture(name)
    return shapely.union_all([shapely.geometry.shape({"type": "Polygon", "coordinates": [[(p["Longitude"], p["Latitude"]) for p in i["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]]]}) for i in items]), items


def test_burst_stack_found_with_every_field(cmr):
    union, items = footprint_union("s1_burst_174_372326_IW3_stack")
    area = aoi.from_geometry(union.centroid.buffer(0.01))
    result = search(SearchRequest(aoi=area, processing_level="BURST"), endpoints(cmr))
    assert len(result.products) == len(items) == 166
    by_name = {i["asf_properties"]["fileID"]: i["asf_properties"] for i in items}
    for product in result.products:
        record, geometry = records.record_from_product(product)
        expected = by_name[record["fileID"]]
        assert record["sceneName"] == expected["sceneName"]
        assert record["pathNumber"] == expected["pathNumber"]
        assert record["burstId"] == expected["burst"]["fullBurstID"] == record["stack"]
        assert record["polarization"] == expected["polarization"]
        assert record["flightDirection"] == expected["flightDirection"]
        assert record["url"] == expected["url"]
        assert record["bytes"] == int(expected["bytes"])
        assert record["startTime"][:19] == expected["startTime"][:19]
        assert json.loads(record["umm"]) == next(i["umm"] for i in items if i["asf_properties"]["fileID"] == record["fileID"])
        assert geometry.intersects(area.geometry)


def test_slc_filters_dates_direction_and_orbit(cmr):
    union, items = footprint_union("s1_slc_fairbanks_p94_f210_stack")
    area = aoi.from_geometry(union.centroid.buffer(0.01))
    all_slc = search(SearchRequest(aoi=area), endpoints(cmr))
    assert {p.properties["sceneName"] for p in all_slc.products} == {i["asf_properties"]["sceneName"] for i in items}
    dates = sorted(i["asf_properties"]["startTime"][:10] for i in items)
    later = search(SearchRequest(aoi=area, start=dates[1]), endpoints(cmr))
    assert len(later.products) == sum(1 for d in dates if d >= dates[1])
    assert search(SearchRequest(aoi=area, flight_direction="DESCENDING"), endpoints(cmr)).empty
    assert len(search(SearchRequest(aoi=area, relative_orbits=[94], frames=[210]), endpoints(cmr)).products) == len(items)
    assert search(SearchRequest(aoi=area, relative_orbits=[93]), endpoints(cmr)).empty
    # VV asks for VV and VV+VH scenes.
    assert len(search(SearchRequest(aoi=area, polarizations=["VV"]), endpoints(cmr)).products) == len(items)


def test_paging_beyond_one_page_without_duplicates(tmp_path):
    synthetic = synthetic_slc_records(600, seed=1)
    with CMRStandIn(synthetic, tmpdir=tmp_path) as stand_in:
        calls = []
        area = aoi.from_bbox([-179, -80, 179, 80])
        result = search(
            SearchRequest(aoi=area), endpoints(stand_in), progress=lambda n, hits: calls.append((n, hits)), page_size=250
        )
        assert len(result.products) == 600
        assert len({p.properties["fileID"] for p in result.products}) == 600
        assert len(calls) >= 3  # 250 per page
        assert calls[-1] == (600, 600)
        assert any(r.get("search_after") for r in stand_in.search_requests())


def test_max_results_stops_early(tmp_path):
    with CMRStandIn(synthetic_slc_records(600, seed=2), tmpdir=tmp_path) as stand_in:
        result = search(
            SearchRequest(aoi=aoi.from_bbox([-179, -80, 179, 80]), max_results=300), endpoints(stand_in), page_size=250
        )
        assert len(result.products) == 300
        assert len(stand_in.search_requests()) == 2


def test_transient_failures_are_retried_with_backoff(cmr):
    union, items = footprint_union("s1_slc_fairbanks_p94_f210_stack")
    area = aoi.from_geometry(union.centroid.buffer(0.01))
    sleeps = Sleeps()
    cmr.fail_next(status=503, count=2)
    cmr.fail_next(status=429, retry_after=7)
    cmr.drop_next()
    result = search(SearchRequest(aoi=area), endpoints(cmr), retry=RetryPolicy(sleep=sleeps))
    assert len(result.products) == len(items)
    # Backoff 1 s, 2 s, then Retry-After's 7 s (over the 4 s due), then 8 s; slept in half
    # seconds so that a cancel is noticed at once.
    assert sum(sleeps) == pytest.approx(1 + 2 + 7 + 8) and max(sleeps) <= 0.5


def test_persistent_failure_gives_up_with_a_clear_message(cmr):
    cmr.fail_next(status=503, count=10)
    with pytest.raises(TransientServiceError, match="Gave up after 3 attempts"):
        search(SearchRequest(aoi=aoi.from_bbox([0, 0, 1, 1])), endpoints(cmr), retry=RetryPolicy(attempts=3, sleep=Sleeps()))


def test_400_fails_at_once_with_cmrs_message(cmr):
    cmr.fail_next(status=400, body={"errors": ["Polygon boundary was not closed"]})
    with pytest.raises(ServiceError, match="Polygon boundary was not closed") as info:
        search(SearchRequest(aoi=aoi.from_bbox([0, 0, 1, 1])), endpoints(cmr), retry=RetryPolicy(sleep=Sleeps()))
    assert not isinstance(info.value, TransientServiceError)
    assert len(cmr.search_requests()) == 1


def test_empty_result_is_an_answer_with_advice(cmr):
    result = search(SearchRequest(aoi=aoi.from_bbox([10, 10, 11, 11]), start="2020-01-01", end="2020-02-01", flight_direction="ASCENDING"), endpoints(cmr))
    assert result.empty
    assert "widen the dates" in result.notes[-1] and "both flight directions" in result.notes[-1]


def test_cancel_between_pages(tmp_path):
    with CMRStandIn(synthetic_slc_records(600, seed=3), tmpdir=tmp_path) as stand_in:
        pages = []
        with pytest.raises(CancelledError):
            search(
                SearchRequest(aoi=aoi.from_bbox([-179, -80, 179, 80])),
                endpoints(stand_in),
                progress=lambda n, hits: pages.append(n),
                is_cancelled=lambda: len(pages) >= 1,
                page_size=250,
            )
        assert len(stand_in.search_requests()) == 1


def test_granule_names_replace_the_area(cmr):
    items = load_fixture("s1_slc_fairbanks_p94_f210_stack")
    names = [i["asf_properties"]["sceneName"] for i in items[:2]]
    result = search(SearchRequest(granules=names), endpoints(cmr))
    assert sorted(p.properties["sceneName"] for p in result.products) == sorted(names)
    bursts = [i["asf_properties"]["fileID"] for i in load_fixture("s1_burst_174_372326_IW3_stack")[:3]]
    assert len(search(SearchRequest(granules=bursts), endpoints(cmr)).products) == 3


def test_nonexistent_granule_is_named(cmr):
    missing = "S1A_IW_SLC__1SDV_20990101T000000_20990101T000027_000001_000001_ABCD"
    with pytest.raises(InputError, match=missing):
        search(SearchRequest(granules=[missing]), endpoints(cmr))


@pytest.mark.parametrize(
    "request_kw, message",
    [
        ({"polarizations": ["XX"]}, "Unknown polarization 'XX'"),
        ({"start": "2021-05-01", "end": "2021-01-01"}, "after the end date"),
        ({"start": "yesterday-ish"}, "not a date"),
        ({"relative_orbits": [200]}, "relative orbits 1 to 175"),
        ({"granules": ["not_a_granule"]}, "not a Sentinel-1 SLC or burst name"),
        ({"aoi": None}, "Give an area of interest"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_sent(cmr, request_kw, message):
    request = SearchRequest(aoi=aoi.from_bbox([0, 0, 1, 1]))
    for key, value in request_kw.items():
        setattr(request, key, value)
    with pytest.raises(InputError, match=message):
        search(request, endpoints(cmr))
    assert cmr.search_requests() == []


def test_unreachable_host(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientServiceError, match="connection to CMR failed"):
        search(SearchRequest(aoi=aoi.from_bbox([0, 0, 1, 1])), Endpoints(cmr_host=f"127.0.0.1:{port}"), retry=RetryPolicy(attempts=2, sleep=Sleeps()))


def test_untrusted_certificate_says_how_to_fix(cmr):
    with pytest.raises(ServiceError, match="INSARHUB_CA_BUNDLE"):
        search(SearchRequest(aoi=aoi.from_bbox([0, 0, 1, 1])), Endpoints(cmr_host=cmr.host), retry=RetryPolicy(attempts=1, sleep=Sleeps()))


# ---- footprints straight from the UMM (issue 17, item 3) -------------------------------------------


def _all_items():
    import glob
    from pathlib import Path

    from fakes.cmr import synthetic_burst_records

    items = []
    for path in sorted(glob.glob(str(Path(__file__).resolve().parents[1] / "fixtures" / "cmr" / "*.json"))):
        items += json.loads(Path(path).read_text())
    return items + synthetic_slc_records(150, seed=11) + synthetic_burst_records(150, seed=12)


@pytest.mark.parametrize("reader", ["msgspec", "standard library"])
def test_footprints_from_umm_match_asf_search_field_by_field(reader, monkeypatch):
    """The footprint records a search writes are what asf_search's products give (the same
    function the layers used to be written with), for real ASF records and synthetic stacks,
    whichever JSON reader is used."""
    from asf_search import ASFSession
    from asf_search.search.search_generator import as_ASFProduct
    from insarhub_qgis.core.records import read_cmr_page

    if reader == "msgspec":
        pytest.importorskip("msgspec")
    else:
        monkeypatch.setattr(records, "_FAST", None)
    items = _all_items()
    payload = json.dumps({"hits": len(items), "items": [{"meta": i["meta"], "umm": i["umm"]} for i in items]}).encode()
    hits, raw = read_cmr_page(payload)
    assert hits == len(items) == len(raw)
    session = ASFSession()
    for item, got in zip(items, raw):
        footprint = got.footprint()
        expected, geometry = records.record_from_product(as_ASFProduct({"umm": item["umm"], "meta": item["meta"]}, session))
        for name, value in expected.items():
            if name in ("umm", "cmrMeta"):
                assert json.loads(footprint.record[name]) == json.loads(value), name
            else:
                assert footprint.record[name] == value, (expected["fileID"], name)
        assert footprint.polygon().equals(geometry)
        # the stored record rebuilds the same asf_search product (selectpairs' baselines)
        rebuilt = records.product_from_record(footprint.record, session)
        assert rebuilt.properties["fileID"] == expected["fileID"] and rebuilt.baseline == as_ASFProduct(
            {"umm": item["umm"], "meta": item["meta"]}, session
        ).baseline


def test_scene_files_match_asf_search():
    from asf_search import ASFSession
    from asf_search.search.search_generator import as_ASFProduct

    session = ASFSession()
    for item in _all_items():
        product = as_ASFProduct({"umm": item["umm"], "meta": item["meta"]}, session)
        files = records.scene_files(records.footprint_from_umm(item["umm"], item["meta"]).record)
        for name in ("url", "fileName", "additionalUrls"):
            assert (files.get(name) or None) == (product.properties.get(name) or None), name


def test_stack_coverage_geometry_gives_the_union_coverage():
    from insarhub_qgis.core.aoi import coverage_percent
    from shapely.ops import unary_union

    footprints = [records.footprint_from_umm(i["umm"], i["meta"]) for i in load_fixture("s1_burst_174_372326_IW3_stack")]
    rings = [f.ring for f in footprints]
    union = unary_union([f.polygon() for f in footprints])
    inside = union.centroid.buffer(0.001)
    half = union.envelope.buffer(0.05)  # wider than the stack: partly covered
    away = shapely.box(0, 0, 1, 1)
    for area in (inside, half, away, union.centroid):
        assert coverage_percent(area, records.coverage_geometry(rings, area)) == coverage_percent(area, union), area
