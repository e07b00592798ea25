"""The loopback CMR stand-in, driven by the real ``asf_search``.

Every expected count is computed here, independently of the stand-in, from the CMR
records in ``tests/fixtures/cmr`` (their ``umm``) and ASF's own view of them
(``asf_properties``). Nothing in asf_search is patched except its page size and
timeout constants, which are restored by ``monkeypatch``.
"""

from __future__ import annotations

import fnmatch
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import asf_search as asf
import asf_search.CMR.subquery as asf_subquery
import asf_search.CMR.translate as asf_translate
import pytest
import requests
from asf_search.baseline.stack import get_baseline_from_stack
from asf_search.constants import INTERNAL
from asf_search.search.search_generator import as_ASFProduct
from fakes.cmr import CMRStandIn, load_fixture, synthetic_burst_records, synthetic_slc_records
from fakes.tls import make_tls_context
from shapely import wkt as shapely_wkt
from shapely.geometry import Polygon

SLC_STACK = load_fixture("s1_slc_fairbanks_p94_f210_stack")
SLC_SINGLE = load_fixture("s1_slc_single")
BURST_STACK = load_fixture("s1_burst_174_372326_IW3_stack")
BURST_SINGLE = load_fixture("s1_burst_single")
# Synthetic neighbours: two other paths, two frames, two polarisations (4 stacks x 12 dates),
# and two other bursts (the next burst on path 174, and one on path 101).
SYN_SLC = synthetic_slc_records(48, seed=5, paths=(21, 167), frames=(210, 211), polarizations=("VV+VH", "VV"))
SYN_BURST = synthetic_burst_records(36, seed=5, paths=(174, 101), burst_offsets=(1,))
ALL = SLC_STACK + BURST_STACK + SYN_SLC + SYN_BURST

BURST_ID = "174_372326_IW3"
FAIRBANKS_AOI = "POLYGON((-147.3 64.8,-146.9 64.8,-146.9 65.1,-147.3 65.0,-147.3 64.8))"


# --------------------------------------------------------------------------- independent oracle


def attr(record: Dict[str, Any], name: str) -> str | None:
    """First value of an AdditionalAttribute of a CMR record."""
    for item in record["umm"].get("AdditionalAttributes", []):
        if item["Name"] == name:
            return item["Values"][0]
    return None


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def begin(record: Dict[str, Any]) -> datetime:
    return when(record["umm"]["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"])


def finish(record: Dict[str, Any]) -> datetime:
    return when(record["umm"]["TemporalExtent"]["RangeDateTime"]["EndingDateTime"])


def footprint(record: Dict[str, Any]) -> Polygon:
    points = record["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]
    return Polygon([(p["Longitude"], p["Latitude"]) for p in points["Boundary"]["Points"]])


def names(records: List[Dict[str, Any]]) -> set:
    return {r["umm"]["GranuleUR"] for r in records}


def where(pred: Callable[[Dict[str, Any]], bool]) -> List[Dict[str, Any]]:
    return [r for r in ALL if pred(r)]


def is_slc(record: Dict[str, Any]) -> bool:
    return attr(record, "PROCESSING_TYPE") == "SLC"


def file_ids(results: List[Any]) -> List[str]:
    return [p.properties["fileID"] for p in results]


def norm(value: Any) -> Any:
    """asf_properties writes missing values as the string 'None'."""
    return None if value == "None" else value


def same_second(a: str, b: str) -> bool:
    return abs(when(a) - when(b)) < timedelta(seconds=1)


def compare_with_oracle(product: Any, oracle: Dict[str, Any]) -> List[str]:
    """Compare asf_search's properties with ASF's; return the keys compared."""
    compared = []
    for key, expected in oracle.items():
        if key not in product.properties or key == "burst":
            continue
        actual = product.properties[key]
        if key in ("startTime", "stopTime", "processingDate") and norm(expected) and actual:
            assert same_second(actual, expected), (key, actual, expected)
        elif key == "bytes":  # asf_search 14.1 leaves burst BYTE_LENGTH a string
            assert int(actual) == int(expected), (key, actual, expected)
        else:
            assert norm(actual) == norm(expected), (key, actual, expected)
        compared.append(key)
    if "burst" in oracle:
        burst = product.properties["burst"]
        for key, expected in oracle["burst"].items():
            if key == "azimuthTime":
                assert same_second(burst[key], expected + "Z" if "Z" not in expected else expected)
            else:
                assert burst[key] == expected, (key, burst[key], expected)
        compared.append("burst")
    return compared


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _no_error_reports() -> Iterator[None]:
    previous = asf.REPORT_ERRORS
    asf.REPORT_ERRORS = False
    yield
    asf.REPORT_ERRORS = previous


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CMRStandIn]:
    with CMRStandIn(ALL, tmpdir=tmp_path_factory.mktemp("cmr")) as stand_in:
        yield stand_in


@pytest.fixture
def cmr(server: CMRStandIn) -> Iterator[CMRStandIn]:
    server.reset_faults()
    server.clear_requests()
    yield server
    server.reset_faults()


def search(cmr: CMRStandIn, **kwargs: Any) -> Any:
    return asf.search(opts=cmr.search_options(**kwargs))


def unique(results: List[Any]) -> List[str]:
    ids = file_ids(results)
    assert len(ids) == len(set(ids)), "duplicate products"
    return ids


# --------------------------------------------------------------------------- TLS and plumbing


def test_tls_context_and_ca_are_required(tmp_path: Path, cmr: CMRStandIn) -> None:
    ctx, ca_file = make_tls_context(tmp_path)
    assert Path(ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert ctx.minimum_version.name in ("TLSv1_2", "TLSv1_3")

    untrusting = requests.Session()
    untrusting.trust_env = False  # the default trust store must not know the test CA
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get(f"{cmr.url}/search/health", timeout=5)
    answer = cmr.session().get(f"{cmr.url}/search/health", timeout=5)
    assert answer.status_code == 200 and answer.json()["echo"]["ok?"] is True
    assert cmr.host.startswith("127.0.0.1:")


def test_close_is_idempotent_and_frees_the_port(tmp_path: Path) -> None:
    stand_in = CMRStandIn(tmpdir=tmp_path)
    port = stand_in.port
    stand_in.close()
    stand_in.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --------------------------------------------------------------------------- fields


def test_single_slc_has_asf_fields(cmr: CMRStandIn) -> None:
    oracle = SLC_SINGLE[0]["asf_properties"]
    results = asf.granule_search([oracle["sceneName"]], opts=cmr.search_options())
    assert len(results) == 1
    compared = compare_with_oracle(results[0], oracle)
    for key in ("sceneName", "fileID", "pathNumber", "frameNumber", "polarization", "flightDirection",
                "startTime", "stopTime", "url", "bytes", "orbit", "processingLevel"):
        assert key in compared
    assert results[0].properties["frameNumber"] == 210  # ASF frame, not the ESA frame 1300
    assert results[0].geometry["type"] == "Polygon"
    form = cmr.search_requests()[0]["form"]
    assert form["readable_granule_name[]"] == [oracle["sceneName"]]


def test_burst_products_have_asf_fields(cmr: CMRStandIn) -> None:
    results = search(cmr, fullBurstID=BURST_ID, processingLevel="BURST")
    oracle = {r["asf_properties"]["fileID"]: r["asf_properties"] for r in BURST_STACK}
    assert sorted(file_ids(results)) == sorted(oracle)
    for product in results:
        assert "burst" in compare_with_oracle(product, oracle[product.properties["fileID"]])
        assert product.properties["burst"]["fullBurstID"] == BURST_ID
        assert "frameNumber" not in product.properties
    single = BURST_SINGLE[0]["asf_properties"]
    assert single["fileID"] in oracle


# --------------------------------------------------------------------------- filters


def test_burst_stack_by_full_burst_id(cmr: CMRStandIn) -> None:
    expected = where(lambda r: attr(r, "BURST_ID_FULL") == BURST_ID)
    assert len(expected) == 166
    results = search(cmr, fullBurstID=BURST_ID, processingLevel="BURST")
    assert set(unique(results)) == names(expected)
    (request,) = cmr.search_requests()
    assert f"string,BURST_ID_FULL,{BURST_ID}" in request["form"]["attribute[]"]
    assert request["form"]["shortName"] == ["SENTINEL-1_BURSTS"]


def test_several_burst_ids_are_several_queries(cmr: CMRStandIn) -> None:
    ids = [BURST_ID, "174_372327_IW3", "101_215528_IW3"]
    expected = where(lambda r: attr(r, "BURST_ID_FULL") in ids)
    assert len(expected) == 166 + 18 + 18
    results = search(cmr, fullBurstID=ids, processingLevel="BURST")
    assert set(unique(results)) == names(expected)
    sent = [[a for a in r["form"]["attribute[]"] if "BURST_ID_FULL" in a] for r in cmr.search_requests()]
    assert sorted(s[0] for s in sent) == sorted(f"string,BURST_ID_FULL,{i}" for i in ids)


@pytest.mark.parametrize(
    ("aoi", "cmr_key"),
    [
        (FAIRBANKS_AOI, "polygon"),
        ("POINT(-147.09 64.98)", "point"),
        ("LINESTRING(-160 66.3, -140 66.5)", "line"),
        ("POLYGON((-150 63.5,-149 63.5,-149 64,-150 64,-150 63.5))", "bounding_box"),
        ("POLYGON((-120 40,-119 40,-119 41,-120 41.5,-120 40))", "polygon"),  # nowhere near
    ],
)
def test_slc_by_intersects_with(cmr: CMRStandIn, aoi: str, cmr_key: str) -> None:
    shape = shapely_wkt.loads(aoi)
    expected = where(lambda r: is_slc(r) and footprint(r).intersects(shape))
    results = search(cmr, processingLevel="SLC", intersectsWith=aoi)
    assert set(unique(results)) == names(expected)
    (request,) = cmr.search_requests()
    assert cmr_key in request["form"]
    if "-120" not in aoi:
        assert expected, "the AOI should hit some footprints"
        assert 0 < len(expected) < len(where(is_slc))


def test_slc_by_dates(cmr: CMRStandIn) -> None:
    start = datetime(2021, 1, 10, tzinfo=timezone.utc)
    end = datetime(2021, 1, 20, tzinfo=timezone.utc)
    expected = where(lambda r: is_slc(r) and begin(r) <= end and finish(r) >= start)
    results = search(cmr, processingLevel="SLC", start="2021-01-10T00:00:00Z", end="2021-01-20T00:00:00Z")
    assert set(unique(results)) == names(expected)
    assert "S1B_IW_SLC__1SDV_20210114T032030_20210114T032057_025145_02FE61_454A-SLC" in names(expected)
    assert 1 < len(expected) < 10
    (request,) = cmr.search_requests()
    assert request["form"]["temporal"] == ["2021-01-10T00:00:00Z,2021-01-20T00:00:00Z,"]


def test_slc_by_polarization(cmr: CMRStandIn) -> None:
    vv = where(lambda r: is_slc(r) and attr(r, "POLARIZATION") == "VV")
    both = where(lambda r: is_slc(r) and attr(r, "POLARIZATION") in ("VV", "VV+VH"))
    assert 0 < len(vv) < len(both)
    assert set(unique(search(cmr, processingLevel="SLC", polarization="VV"))) == names(vv)
    cmr.clear_requests()
    assert set(unique(search(cmr, processingLevel="SLC", polarization=["VV", "VV+VH"]))) == names(both)
    assert len(cmr.search_requests()) == 2  # one sub-query per polarisation


def test_slc_by_relative_orbit(cmr: CMRStandIn) -> None:
    expected = where(lambda r: is_slc(r) and attr(r, "PATH_NUMBER") in ("94", "21"))
    results = search(cmr, processingLevel="SLC", relativeOrbit=[94, 21])
    assert set(unique(results)) == names(expected)
    assert len(expected) == 3 + 24
    sent = sorted(a for r in cmr.search_requests() for a in r["form"]["attribute[]"] if "PATH" in a)
    assert sent == ["int,PATH_NUMBER,21", "int,PATH_NUMBER,94"]

    # A range is a tuple inside a list: one query with a min,max attribute.
    cmr.clear_requests()
    ranged = where(lambda r: is_slc(r) and 20 <= int(attr(r, "PATH_NUMBER")) <= 100)
    assert len(ranged) == 27
    assert set(unique(search(cmr, processingLevel="SLC", relativeOrbit=[(20, 100)]))) == names(ranged)
    (request,) = cmr.search_requests()
    assert "int,PATH_NUMBER,20,100" in request["form"]["attribute[]"]

    # A bare tuple is two exact values (paths 20 and 100: none here), not a range.
    cmr.clear_requests()
    assert search(cmr, processingLevel="SLC", relativeOrbit=(20, 100)) == []
    sent = sorted(a for r in cmr.search_requests() for a in r["form"]["attribute[]"] if "PATH" in a)
    assert sent == ["int,PATH_NUMBER,100", "int,PATH_NUMBER,20"]


def test_frame_is_asf_frame_for_sentinel_but_esa_frame_without_platform(cmr: CMRStandIn) -> None:
    frame_211 = where(lambda r: is_slc(r) and attr(r, "FRAME_NUMBER") == "211")
    assert len(frame_211) == 24
    results = search(cmr, processingLevel="SLC", frame=211)
    assert set(unique(results)) == names(frame_211)
    assert "int,FRAME_NUMBER,211" in cmr.search_requests()[0]["form"]["attribute[]"]

    cmr.clear_requests()
    assert set(file_ids(search(cmr, processingLevel="SLC", asfFrame=211))) == names(frame_211)

    # Without a Sentinel-1 platform or collection, `frame` is the ESA frame.
    cmr.clear_requests()
    esa_1300 = where(lambda r: attr(r, "CENTER_ESA_FRAME") == "1300")
    assert set(unique(search(cmr, frame=1300))) == names(esa_1300)
    assert "int,CENTER_ESA_FRAME,1300" in cmr.search_requests()[0]["form"]["attribute[]"]
    assert search(cmr, frame=210) == []


def test_platform_and_flight_direction(cmr: CMRStandIn) -> None:
    s1a_bursts = where(lambda r: attr(r, "PROCESSING_TYPE") == "BURST"
                       and r["umm"]["Platforms"][0]["ShortName"] == "SENTINEL-1A")
    assert len(s1a_bursts) == 32
    results = search(cmr, platform="SENTINEL-1A", processingLevel="BURST")
    assert set(unique(results)) == names(s1a_bursts)
    form = cmr.search_requests()[0]["form"]
    assert form["platform[]"] == ["SENTINEL-1A"]
    assert "string,PROCESSING_TYPE,BURST" in form["attribute[]"]

    ascending = where(lambda r: attr(r, "ASCENDING_DESCENDING") == "ASCENDING")
    assert set(unique(search(cmr, flightDirection="ASCENDING"))) == names(ascending) == names(where(is_slc))


def test_granule_and_product_lists(cmr: CMRStandIn) -> None:
    picks = [SLC_STACK[0], SLC_STACK[2], BURST_STACK[10], SYN_BURST[3]]
    scene_names = [r["asf_properties"]["sceneName"] for r in picks]
    results = asf.granule_search(scene_names, opts=cmr.search_options())
    assert set(unique(results)) == names(picks)
    assert set(cmr.search_requests()[0]["form"]["readable_granule_name[]"]) == set(scene_names)

    cmr.clear_requests()
    urs = [r["umm"]["GranuleUR"] for r in picks]
    results = asf.product_search(urs, opts=cmr.search_options())
    assert set(unique(results)) == set(urs)
    assert set(cmr.search_requests()[0]["form"]["granule_ur[]"]) == set(urs)

    cmr.clear_requests()
    pattern = "S1B_IW_SLC__1SDV_202101*"
    expected = where(lambda r: any(fnmatch.fnmatchcase(n, pattern) for n in (
        r["umm"]["GranuleUR"], r["asf_properties"]["sceneName"])))
    assert len(expected) > 3
    assert set(unique(asf.granule_search([pattern], opts=cmr.search_options()))) == names(expected)
    assert cmr.search_requests()[0]["form"]["options[readable_granule_name][pattern]"] == ["true"]


def test_unknown_keys_are_accepted_and_logged(cmr: CMRStandIn) -> None:
    results = search(cmr, fullBurstID=BURST_ID, cmr_keywords=[("made_up_key", "1")])
    assert len(results) == 166
    assert "made_up_key" in cmr.ignored_keys
    request = cmr.search_requests()[0]
    assert request["form"]["made_up_key"] == ["1"]
    assert request["headers"]["Client-Id"].startswith("asf_search")


# --------------------------------------------------------------------------- paging


def test_paging_with_small_page_size(cmr: CMRStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    # asf_search reads the page size from three module globals (bound at import time).
    for module in (INTERNAL, asf_translate, asf_subquery):
        monkeypatch.setattr(module, "CMR_PAGE_SIZE", 25)
    pages = list(asf.search_generator(opts=cmr.search_options(fullBurstID=BURST_ID)))
    assert [len(p) for p in pages] == [25] * 6 + [16]
    assert len(set(unique([p for page in pages for p in page]))) == 166
    requests_seen = cmr.search_requests()
    assert len(requests_seen) == 7
    assert all(r["form"]["page_size"] == ["25"] for r in requests_seen)
    assert requests_seen[0]["search_after"] is None
    assert all(r["search_after"] for r in requests_seen[1:])
    assert len({r["search_after"] for r in requests_seen[1:]}) == 6
    # results come newest first (sort_key[]=-end_date)
    stops = [p.properties["stopTime"] for page in pages for p in page]
    assert stops == sorted(stops, reverse=True)


def test_short_pages_are_followed(cmr: CMRStandIn) -> None:
    cmr.cap_page_size(40)
    results = search(cmr, fullBurstID=BURST_ID)
    assert len(set(unique(results))) == 166
    assert [r["returned"] for r in cmr.search_requests()] == [40, 40, 40, 40, 6]


def test_max_results_stops_early(cmr: CMRStandIn) -> None:
    results = search(cmr, fullBurstID=BURST_ID, maxResults=30)
    assert len(set(unique(results))) == 30
    assert len(cmr.search_requests()) == 1


def test_raw_protocol_and_search_after(cmr: CMRStandIn) -> None:
    session = cmr.session()
    form = [("attribute[]", "int,PATH_NUMBER,94"), ("attribute[]", "string,PROCESSING_TYPE,SLC"),
            ("page_size", "2"), ("sort_key[]", "-end_date"), ("provider", "ASF")]
    first = session.post(cmr.granules_url, data=form, timeout=10)
    assert first.status_code == 200
    assert first.headers["CMR-Hits"] == "3"
    body = first.json()
    assert body["hits"] == 3 and len(body["items"]) == 2
    assert set(body["items"][0]) == {"meta", "umm"}  # asf_properties is never served
    token = first.headers["CMR-Search-After"]
    second = session.post(cmr.granules_url, data=form, headers={"CMR-Search-After": token}, timeout=10)
    assert second.json()["hits"] == 3 and len(second.json()["items"]) == 1
    assert "CMR-Search-After" not in second.headers
    urs = [i["umm"]["GranuleUR"] for i in body["items"] + second.json()["items"]]
    expected = sorted(SLC_STACK, key=finish, reverse=True)
    assert urs == [r["umm"]["GranuleUR"] for r in expected]
    # GET with a query string works too
    got = session.get(cmr.granules_url, params=form, timeout=10)
    assert [i["umm"]["GranuleUR"] for i in got.json()["items"]] == urs[:2]


@pytest.mark.parametrize(
    ("form", "headers", "message"),
    [
        ([("page_size", "5000")], {}, "page_size must be a number between 0 and 2000"),
        ([("polygon", "1,2,3,4,5,6,7,8")], {}, "not closed"),
        ([("polygon", "-148,64,-148,65,-147,65,-147,64,-148,64")], {}, "clockwise"),
        ([("bounding_box", "1,2,3")], {}, "Bounding box"),
        ([("point", "200,10")], {}, "longitude"),
        ([("attribute[]", "integer,PATH_NUMBER,94")], {}, "invalid type"),
        ([("attribute[]", "int,PATH_NUMBER,abc")], {}, "invalid value"),
        ([("temporal", "yesterday,2021-01-01T00:00:00Z")], {}, "not a valid datetime"),
        ([("sort_key[]", "-cloud_color")], {}, "sort key [cloud_color]"),
        ([("page_size", "5")], {"CMR-Search-After": "not json"}, "CMR-Search-After"),
    ],
)
def test_malformed_queries_give_400(
    cmr: CMRStandIn, form: List[Any], headers: Dict[str, str], message: str
) -> None:
    answer = cmr.session().post(cmr.granules_url, data=form, headers=headers, timeout=10)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert any(message in e for e in errors), errors


def test_malformed_query_through_asf_search(cmr: CMRStandIn) -> None:
    with pytest.raises(asf.ASFSearch4xxError) as info:
        search(cmr, fullBurstID=BURST_ID, cmr_keywords=[("polygon", "1,2,3")])
    assert "HTTP 400" in str(info.value) and "even number of ordinates" in str(info.value)


# --------------------------------------------------------------------------- faults


def test_503_is_retried_by_asf_search(cmr: CMRStandIn) -> None:
    cmr.fail_next(503)
    started = time.monotonic()
    results = search(cmr, fullBurstID=BURST_ID)
    elapsed = time.monotonic() - started
    assert len(set(unique(results))) == 166
    statuses = [(r["status"], r["fault"]) for r in cmr.search_requests()]
    assert statuses == [(503, "fail"), (200, None)]
    assert elapsed >= 2.5  # tenacity waits 3 s before the second attempt
    assert cmr.pending_faults == 0


def test_429_is_not_retried_and_carries_retry_after(cmr: CMRStandIn) -> None:
    cmr.fail_next(429)
    with pytest.raises(asf.ASFSearch4xxError) as info:
        search(cmr, fullBurstID=BURST_ID)
    assert "HTTP 429" in str(info.value) and "Too Many Requests" in str(info.value)
    assert len(cmr.search_requests()) == 1

    cmr.fail_next(429, retry_after=7)
    answer = cmr.session().post(cmr.granules_url, data={"page_size": "1"}, timeout=10)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"


def test_400_carries_cmr_message(cmr: CMRStandIn) -> None:
    cmr.fail_next(400, body={"errors": ["Parameter [frobnicate] was not recognized."]})
    with pytest.raises(asf.ASFSearch4xxError) as info:
        search(cmr, fullBurstID=BURST_ID)
    assert "Parameter [frobnicate] was not recognized." in str(info.value)
    assert len(search(cmr, fullBurstID=BURST_ID)) == 166  # only the next request failed


def test_html_error_body_escapes_asf_search_retry(cmr: CMRStandIn) -> None:
    # A proxy answering 502 with HTML: asf_search calls response.json() on it and fails
    # with a JSON decoding error instead of an ASFSearch5xxError, and does not retry.
    cmr.fail_next(502, body="<html><body>Bad Gateway</body></html>")
    with pytest.raises(ValueError) as info:
        search(cmr, fullBurstID=BURST_ID)
    assert isinstance(info.value, requests.exceptions.JSONDecodeError)
    assert len(cmr.search_requests()) == 1


def test_dropped_connection_raises_then_recovers(cmr: CMRStandIn) -> None:
    cmr.drop_next()
    # urllib3 2.x raises ChunkedEncodingError (IncompleteRead); urllib3 1.26 (Debian) does
    # not enforce Content-Length, so asf_search gets truncated JSON: JSONDecodeError.
    # Both are RequestException, and asf_search retries neither.
    with pytest.raises(requests.exceptions.RequestException):
        search(cmr, fullBurstID=BURST_ID)
    assert [r["fault"] for r in cmr.search_requests()] == ["drop"]
    assert len(search(cmr, fullBurstID=BURST_ID)) == 166


def test_asf_search_leaks_search_after_into_the_session(
    cmr: CMRStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asf_search keeps CMR-Search-After in the caller's session headers while paging.

    Abandoning a generator (or any non-ASFSearchError failure mid-paging) leaves it there,
    and the next search with that session silently starts after the stale cursor. Callers
    must use a fresh session per search (or pop the header first).
    """
    for module in (INTERNAL, asf_translate, asf_subquery):
        monkeypatch.setattr(module, "CMR_PAGE_SIZE", 50)
    opts = cmr.search_options(fullBurstID=BURST_ID)
    pages = asf.search_generator(opts=opts)
    assert len(next(pages)) == 50
    pages.close()
    stale = opts.session.headers.get("CMR-Search-After")
    assert stale
    cmr.clear_requests()
    results = asf.search(opts=opts)
    assert len(results) == 166 - 50  # the first page is lost (asf_search only logs an error)
    assert not results.searchComplete
    assert cmr.search_requests()[0]["search_after"] == stale
    assert "CMR-Search-After" not in opts.session.headers  # a completed search clears it
    assert len(asf.search(opts=opts)) == 166


def test_delay_is_observed(cmr: CMRStandIn) -> None:
    # A delay far longer than a search of 166 records takes, even on a loaded machine (0.7 s seen),
    # so that "the second search was not delayed" cannot be mistaken for load.
    cmr.delay(4.0, count=1)
    started = time.monotonic()
    assert len(search(cmr, fullBurstID=BURST_ID)) == 166
    assert time.monotonic() - started >= 4.0
    started = time.monotonic()
    search(cmr, fullBurstID=BURST_ID)
    assert time.monotonic() - started < 4.0  # the delay was for one request only


def test_slow_server_times_out(cmr: CMRStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(INTERNAL, "CMR_TIMEOUT", 0.3)
    cmr.delay(1.5)
    with pytest.raises(asf.ASFSearchError) as info:
        search(cmr, fullBurstID=BURST_ID)
    assert "Timeout" in str(info.value)
    cmr.reset_faults()


def test_concurrent_searches(cmr: CMRStandIn) -> None:
    cases = {
        "burst": ({"fullBurstID": BURST_ID}, 166),
        "burst2": ({"fullBurstID": "101_215528_IW3"}, 18),
        "path94": ({"processingLevel": "SLC", "relativeOrbit": 94}, 3),
        "path21": ({"processingLevel": "SLC", "relativeOrbit": 21}, 24),
    }
    counts: Dict[str, int] = {}

    def run(name: str) -> None:
        counts[name] = len(set(file_ids(search(cmr, **cases[name][0]))))

    threads = [threading.Thread(target=run, args=(name,)) for name in cases for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert counts == {name: expected for name, (_, expected) in cases.items()}


def test_antimeridian_footprint(tmp_path: Path) -> None:
    record = json.loads(json.dumps(SLC_SINGLE[0]))
    ring = [(179.2, 10.0), (-179.4, 10.2), (-179.3, 11.5), (179.3, 11.3), (179.2, 10.0)]
    record["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"][
        "Points"] = [{"Longitude": lon, "Latitude": lat} for lon, lat in ring]
    with CMRStandIn([record], tmpdir=tmp_path) as stand_in:
        for aoi, hits in (("POINT(179.8 10.8)", 1), ("POINT(-179.8 10.8)", 1), ("POINT(0 10.8)", 0)):
            assert len(asf.search(opts=stand_in.search_options(intersectsWith=aoi))) == hits, aoi


# --------------------------------------------------------------------------- synthetic records


def test_synthetic_slc_records_are_distinct_and_consistent() -> None:
    records = synthetic_slc_records(240, seed=1, polarizations=("VV+VH", "HH+HV"))
    assert len(names(records)) == len({r["meta"]["concept-id"] for r in records}) == 240
    stacks: Dict[tuple, List[Dict[str, Any]]] = {}
    for record in records:
        stacks.setdefault((attr(record, "PATH_NUMBER"), attr(record, "FRAME_NUMBER")), []).append(record)
    assert sorted(stacks) == sorted((p, f) for p in ("94", "21", "167") for f in ("210", "211"))
    for stack in stacks.values():
        days = [(begin(b) - begin(a)).total_seconds() / 86400 for a, b in zip(stack, stack[1:])]
        assert all(abs(d - 12) < 1e-3 for d in days)
    # neighbouring paths are ~2 degrees of longitude apart, frames follow each other along track
    lon = {key: footprint(stack[0]).centroid.x for key, stack in stacks.items()}
    lat = {key: footprint(stack[0]).centroid.y for key, stack in stacks.items()}
    assert 1.5 < abs(lon[("21", "210")] - lon[("94", "210")]) < 2.5
    assert 1.0 < lat[("94", "211")] - lat[("94", "210")] < 2.0
    # asf_search reads them as ASF would (asf_properties were updated consistently)
    session = asf.ASFSession()
    stack = asf.ASFSearchResults([as_ASFProduct(r, session) for r in stacks[("21", "211")]])
    for product, record in zip(stack, stacks[("21", "211")]):
        compare_with_oracle(product, record["asf_properties"])
        assert product.properties["polarization"] in ("VV+VH", "HH+HV")
    with_baselines, warnings = get_baseline_from_stack(stack[0], stack)
    assert not warnings
    perp = [p.properties["perpendicularBaseline"] for p in with_baselines]
    temporal = sorted(p.properties["temporalBaseline"] for p in with_baselines)
    assert all(b is not None and abs(b) < 500 for b in perp) and len(set(perp)) > 5
    assert temporal == [12 * i for i in range(len(temporal))]


def test_synthetic_burst_records_are_distinct_and_consistent() -> None:
    records = synthetic_burst_records(180, seed=2)
    assert len(names(records)) == 180
    by_id: Dict[str, List[Dict[str, Any]]] = {}
    for record in records:
        by_id.setdefault(attr(record, "BURST_ID_FULL"), []).append(record)
    assert sorted(by_id) == ["028_058729_IW3", "028_058730_IW3", "101_215527_IW3", "101_215528_IW3",
                             "174_372326_IW3", "174_372327_IW3"]
    session = asf.ASFSession()
    for burst_id, stack_records in by_id.items():
        stack = asf.ASFSearchResults([as_ASFProduct(r, session) for r in stack_records])
        for product, record in zip(stack, stack_records):
            compare_with_oracle(product, record["asf_properties"])
            assert product.properties["burst"]["fullBurstID"] == burst_id
            assert product.properties["pathNumber"] == int(burst_id[:3])
        with_baselines, warnings = get_baseline_from_stack(stack[0], stack)
        assert not warnings
        assert all(abs(p.properties["perpendicularBaseline"]) < 500 for p in with_baselines)
    # the bursts of one acquisition share their parent SLC
    first = {attr(r, "BURST_ID_FULL"): r["umm"]["InputGranules"][0] for r in records[:6]}
    assert first["174_372326_IW3"] == first["174_372327_IW3"] != first["101_215527_IW3"]


def test_thousands_of_synthetic_records_page_through(tmp_path: Path) -> None:
    records = synthetic_burst_records(1500, seed=3, paths=(174,), burst_offsets=(0, 1, 2))
    with CMRStandIn(records, tmpdir=tmp_path) as stand_in:
        started = time.monotonic()
        results = asf.search(opts=stand_in.search_options(processingLevel="BURST", relativeOrbit=174))
        elapsed = time.monotonic() - started
        assert len(set(file_ids(results))) == 1500
        assert len(stand_in.search_requests()) == 6  # 250 per page
        assert elapsed < 20
