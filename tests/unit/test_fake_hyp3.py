"""The loopback HyP3 stand-in (``tests/fakes/hyp3.py``) driven by the real ``hyp3_sdk``.

These tests pin down both the stand-in's contract and the ``hyp3_sdk`` behaviour the plugin
relies on (what it raises, what it retries, what it silently accepts).
"""

from __future__ import annotations

import hashlib
import re
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from fakes.hyp3 import COSTS, JOB_SPECS, HyP3StandIn, fail_first, product_name
from hyp3_sdk import HyP3
from hyp3_sdk.exceptions import HyP3Error, HyP3SDKError, ServerError, ServiceUnavailableError
from hyp3_sdk.jobs import Batch, Job

TOKEN = "test-token"
ROOT = Path(__file__).resolve().parents[2]
HYP3_FIXTURES = ROOT / "tests" / "fixtures" / "hyp3"
SHARED_SPECS = ROOT.parent / "shared" / "reference" / "hyp3"


def slc(date: str, platform: str = "A", orbit: int = 61237) -> str:
    """A 67-character Sentinel-1 IW SLC name acquired on ``date`` (YYYYMMDD)."""
    return f"S1{platform}_IW_SLC__1SDV_{date}T204513_{date}T204540_{orbit:06d}_07A332_A16A"


def burst(date: str, burst_id: int = 136231, swath: int = 2, second: int = 12, pol: str = "VV") -> str:
    """A 43-character Sentinel-1 burst name."""
    return f"S1_{burst_id:06d}_IW{swath}_{date}T0223{second:02d}_{pol}_7C85-BURST"


G1, G2, G3 = slc("20251001"), slc("20251007", "C", 4461), slc("20251013")


@pytest.fixture
def make_stand_in(tmp_path: Path) -> Iterator[Callable[..., HyP3StandIn]]:
    """Factory for stand-ins (closed and checked for internal errors at teardown)."""
    made: list[HyP3StandIn] = []

    def make(**kwargs: Any) -> HyP3StandIn:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("tmpdir", tmp_path / f"bucket{len(made)}")
        stand_in = HyP3StandIn(**kwargs)
        made.append(stand_in)
        return stand_in

    yield make
    for stand_in in made:
        stand_in.close()
        assert stand_in.errors == []


@pytest.fixture
def stand_in(make_stand_in: Callable[..., HyP3StandIn]) -> HyP3StandIn:
    return make_stand_in(credits=1000, page_size=4)


@pytest.fixture
def hyp3(stand_in: HyP3StandIn) -> HyP3:
    return HyP3(api_url=stand_in.url, token=TOKEN)


def succeeded_job(hyp3: HyP3, stand_in: HyP3StandIn, *granules: str, name: str = "done") -> Job:
    """Submit one INSAR_GAMMA job, finish it, and return the refreshed SDK job."""
    job = hyp3.submit_insar_job(*(granules or (G1, G2)), name=name)[0]
    stand_in.finish_all()
    job = hyp3.refresh(job)
    assert job.status_code == "SUCCEEDED"
    return job


# ---- user, costs, specs -------------------------------------------------------------------


def test_user_and_credits(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    info = hyp3.my_info()
    assert info["user_id"] == "insarhub_tester"
    assert info["application_status"] == "APPROVED"
    assert info["job_names"] == []
    assert hyp3.check_credits() == 1000

    hyp3.submit_insar_job(G1, G2, name="stack-a")
    hyp3.submit_insar_job(G1, G3, name="stack-a", looks="10x2")
    assert hyp3.check_credits() == 1000 - 10 - 15
    assert hyp3.my_info()["job_names"] == ["stack-a"]


def test_costs_table(hyp3: HyP3) -> None:
    costs = hyp3.costs()
    assert costs["INSAR_GAMMA"] == {"cost_parameters": ["looks"], "cost_table": {"20x4": 10.0, "10x2": 15.0}}
    assert costs["INSAR_ISCE_BURST"] == {"cost": 1.0}
    multi = costs["INSAR_ISCE_MULTI_BURST"]
    assert multi["cost_parameters"] == ["looks", "reference"]
    assert multi["cost_table"]["20x4"]["4"] == 1.0
    assert multi["cost_table"]["20x4"]["5"] == 5.0
    assert multi["cost_table"]["20x4"]["15"] == 10.0
    assert multi["cost_table"]["10x2"]["4"] == 5.0
    assert multi["cost_table"]["5x1"]["11"] == 90.0


def test_specs_match_hyp3_reference_files() -> None:
    yaml = pytest.importorskip("yaml")
    if not SHARED_SPECS.is_dir():
        pytest.skip(f"{SHARED_SPECS} not available")
    for job_type, spec in JOB_SPECS.items():
        reference = yaml.safe_load((SHARED_SPECS / f"{job_type}.yml").read_text())[job_type]
        assert spec["required"] == reference["required_parameters"]
        assert set(spec["parameters"]) == set(reference["parameters"])
        for name, schema in reference["parameters"].items():
            api = schema["api_schema"]
            mine = spec["parameters"][name]
            assert mine.get("default") == api.get("default"), (job_type, name)
            assert mine.get("enum") == api.get("enum"), (job_type, name)
            assert mine["type"] == api["type"], (job_type, name)
        profile = reference["cost_profiles"]["EDC"]
        if "cost" in profile:
            assert COSTS[job_type] == {"cost": profile["cost"]}
        else:
            table = profile["cost_table"]
            expected = {
                k: ({str(n): c for n, c in v.items()} if isinstance(v, dict) else v) for k, v in table.items()
            }
            assert COSTS[job_type] == {"cost_parameters": profile["cost_parameters"], "cost_table": expected}


# ---- submission ---------------------------------------------------------------------------


def test_submit_insar_job_fills_defaults_and_charges(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    batch = hyp3.submit_prepared_jobs({"job_type": "INSAR_GAMMA", "job_parameters": {"granules": [G1, G2]}})
    assert len(batch) == 1
    job = batch[0]
    assert job.status_code == "PENDING"
    assert job.credit_cost == 10
    assert job.request_time.tzinfo is not None
    assert job.job_parameters == {
        "granules": [G1, G2],
        "include_look_vectors": False,
        "include_los_displacement": False,
        "include_displacement_maps": False,
        "include_inc_map": False,
        "include_dem": False,
        "include_wrapped_phase": False,
        "apply_water_mask": False,
        "looks": "20x4",
        "phase_filter_parameter": 0.6,
    }
    assert stand_in.credits == 990
    assert list(stand_in.jobs) == [job.job_id]


def test_prepared_jobs_go_in_one_post(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    prepared = [
        HyP3.prepare_insar_job(G1, G2, name="net", include_dem=True),
        HyP3.prepare_insar_job(G2, G3, name="net", looks="10x2"),
        HyP3.prepare_insar_isce_burst_job(burst("20200604"), burst("20200616"), name="net"),
        HyP3.prepare_insar_isce_multi_burst_job(
            [burst("20250718", 93117 + i, second=10 + i) for i in range(5)],
            [burst("20250730", 93117 + i, second=10 + i) for i in range(5)],
            name="net",
        ),
    ]
    batch = hyp3.submit_prepared_jobs(prepared)
    posts = stand_in.requests_for("POST", "/jobs")
    assert len(posts) == 1 and len(posts[0].body["jobs"]) == 4
    assert [j.credit_cost for j in batch] == [10, 15, 1, 5]
    assert len({j.request_time for j in batch}) == 1
    assert batch[0].job_parameters["include_dem"] is True
    assert stand_in.credits == 1000 - 31
    assert batch.total_credit_cost() == 31


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            {"job_type": "RTC_GAMMA", "job_parameters": {"granules": [G1]}},
            "'RTC_GAMMA' is not one of ['INSAR_GAMMA', 'INSAR_ISCE_BURST', 'INSAR_ISCE_MULTI_BURST']",
        ),
        (
            {"job_type": "INSAR_GAMMA", "job_parameters": {"granules": [G1, G2], "resolution": 30}},
            "Additional properties are not allowed ('resolution' was unexpected)",
        ),
        ({"job_type": "INSAR_GAMMA", "job_parameters": {"granules": [G1]}}, "is too short (granules)"),
        ({"job_type": "INSAR_GAMMA", "job_parameters": {"granules": [G1, G2, G3]}}, "is too long (granules)"),
        (
            {"job_type": "INSAR_GAMMA", "job_parameters": {"granules": [G1, G2], "looks": "5x1"}},
            "'5x1' is not one of ['20x4', '10x2'] (looks)",
        ),
        (
            {
                "job_type": "INSAR_GAMMA",
                "job_parameters": {"granules": [G1, G2], "phase_filter_parameter": 1.5},
            },
            "1.5 is greater than the maximum of 1.0",
        ),
        (
            {
                "job_type": "INSAR_GAMMA",
                "job_parameters": {"granules": [burst("20200604"), burst("20200616")]},
            },
            "is too short (granules)",
        ),
        (
            {"job_type": "INSAR_GAMMA", "job_parameters": {"granules": [G1, G2]}, "name": "n" * 101},
            "is too long (name)",
        ),
        (
            {
                "job_type": "INSAR_ISCE_BURST",
                "job_parameters": {"granules": [burst("20200604"), burst("20200616", burst_id=136232)]},
            },
            f"Burst IDs do not match for {burst('20200604')} and {burst('20200616', burst_id=136232)}.",
        ),
        (
            {
                "job_type": "INSAR_ISCE_MULTI_BURST",
                "job_parameters": {
                    "reference": [burst("20250718", 93117), burst("20250718", 93118)],
                    "secondary": [burst("20250730", 93117)],
                },
            },
            "Must provide the same number of reference and secondary scenes, got 2 reference and 1 secondary",
        ),
        (
            {
                "job_type": "INSAR_ISCE_MULTI_BURST",
                "job_parameters": {"reference": [burst("20250730")], "secondary": [burst("20250718")]},
            },
            "Reference scenes must be older than secondary scenes",
        ),
    ],
)
def test_invalid_jobs_are_rejected(stand_in: HyP3StandIn, hyp3: HyP3, job: dict, message: str) -> None:
    with pytest.raises(HyP3Error, match=re.escape(message)) as raised:
        hyp3.submit_prepared_jobs(job)
    assert str(raised.value).startswith("<Response [400]>")
    assert stand_in.jobs == {}
    assert stand_in.credits == 1000


def test_more_than_200_jobs_per_post_is_rejected(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    jobs = [HyP3.prepare_insar_isce_burst_job(burst("20200604"), burst("20200616"))] * 201
    with pytest.raises(HyP3Error, match="201 jobs is too long"):
        hyp3.submit_prepared_jobs(jobs)
    assert len(hyp3.submit_prepared_jobs(jobs[:200])) == 200
    assert stand_in.credits == 800


def test_over_budget_uses_the_real_message(make_stand_in: Callable[..., HyP3StandIn]) -> None:
    stand_in = make_stand_in(credits=25)
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    jobs = [HyP3.prepare_insar_job(G1, G2), HyP3.prepare_insar_job(G2, G3), HyP3.prepare_insar_job(G1, G3)]
    with pytest.raises(HyP3Error) as raised:
        hyp3.submit_prepared_jobs(jobs)
    assert str(raised.value) == (
        "<Response [400]> These jobs would cost 30.0 credits, but you have only 25 remaining."
    )
    assert stand_in.jobs == {} and stand_in.credits == 25
    hyp3.submit_prepared_jobs(jobs[:2])
    assert hyp3.check_credits() == 5


def test_validate_only_charges_nothing(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    body = {"validate_only": True, "jobs": [HyP3.prepare_insar_job(G1, G2, looks="10x2", name="dry")]}
    response = hyp3.session.post(f"{stand_in.url}/jobs", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["validate_only"] is True
    assert answer["jobs"][0]["credit_cost"] == 15
    assert answer["jobs"][0]["status_code"] == "PENDING"
    assert stand_in.jobs == {} and stand_in.credits == 1000


def test_unapproved_user_and_unknown_granules(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    stand_in.missing_granules = {G3}
    with pytest.raises(HyP3Error, match=f"Some requested scenes could not be found: {G3}"):
        hyp3.submit_insar_job(G1, G3)
    stand_in.application_status = "PENDING"
    with pytest.raises(
        HyP3Error, match=r"<Response \[403\]> insarhub_tester's request for access is pending"
    ):
        hyp3.submit_insar_job(G1, G2)
    assert stand_in.jobs == {}


def test_authentication(stand_in: HyP3StandIn) -> None:
    with pytest.raises(HyP3Error, match="401.*Invalid authorization token provided"):
        HyP3(api_url=stand_in.url, token="wrong").check_credits()
    anonymous = requests.get(f"{stand_in.url}/jobs", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"] == "No authorization token provided"
    assert requests.get(f"{stand_in.url}/costs", timeout=5).status_code == 200
    assert stand_in.requests_for("GET", "/user")[0].headers["authorization"] == "Bearer wrong"


# ---- searching ----------------------------------------------------------------------------


def test_find_jobs_pages_and_filters(make_stand_in: Callable[..., HyP3StandIn]) -> None:
    stand_in = make_stand_in(page_size=4, polls_per_state=0)
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    hyp3.submit_prepared_jobs([HyP3.prepare_insar_job(G1, G2, name="a")] * 6)
    hyp3.submit_prepared_jobs(
        [HyP3.prepare_insar_isce_burst_job(burst("20200604"), burst("20200616"), name="b")] * 4
    )

    everything = hyp3.find_jobs()
    assert len(everything) == 10
    assert len({j.job_id for j in everything}) == 10
    pages = stand_in.requests_for("GET", "/jobs")
    assert len(pages) == 3
    assert "start_token" not in pages[0].query and all("start_token" in p.query for p in pages[1:])
    assert everything[0].name == "b"  # newest first

    assert {j.name for j in hyp3.find_jobs(name="a")} == {"a"} and len(hyp3.find_jobs(name="a")) == 6
    assert len(hyp3.find_jobs(job_type="INSAR_ISCE_BURST")) == 4
    first = everything[0].job_id
    stand_in.advance(first)
    running = hyp3.find_jobs(status_code="RUNNING")
    assert [j.job_id for j in running] == [first]
    assert len(hyp3.find_jobs(status_code="PENDING")) == 9
    assert len(hyp3.find_jobs(user_id="someone_else")) == 0
    with pytest.raises(HyP3Error, match="'DONE' is not one of"):
        hyp3.find_jobs(status_code="DONE")
    bad = hyp3.session.get(f"{stand_in.url}/jobs", params={"start_token": "not-a-token"})
    assert bad.status_code == 400 and bad.json()["detail"] == "Invalid start_token value"


def test_find_jobs_time_window(make_stand_in: Callable[..., HyP3StandIn]) -> None:
    now = [datetime(2025, 1, 1, tzinfo=timezone.utc)]
    stand_in = make_stand_in(clock=lambda: now[0])
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    for hour, name in enumerate(["h0", "h1", "h2"]):
        now[0] = datetime(2025, 1, 1, hour, tzinfo=timezone.utc)
        hyp3.submit_insar_job(G1, G2, name=name)

    # naive datetimes are sent as UTC by hyp3_sdk
    window = hyp3.find_jobs(start=datetime(2025, 1, 1, 0, 30), end=datetime(2025, 1, 1, 1, 30))
    assert [j.name for j in window] == ["h1"]
    query = stand_in.requests_for("GET", "/jobs")[-1].query
    assert query["start"] == ["2025-01-01T00:30:00+00:00"] and query["end"] == ["2025-01-01T01:30:00+00:00"]
    # both ends are inclusive; other time zones are honoured
    east = timezone(timedelta(hours=2))
    assert len(hyp3.find_jobs(start=datetime(2025, 1, 1, 2, 0, tzinfo=east))) == 3
    assert [j.name for j in hyp3.find_jobs(end="2025-01-01T00:00:00Z")] == ["h0"]


# ---- progression --------------------------------------------------------------------------


def test_jobs_progress_per_observation(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    job = hyp3.submit_insar_job(G1, G2, name="p")[0]
    seen = [hyp3.refresh(job).status_code for _ in range(4)]
    assert seen == ["PENDING", "RUNNING", "SUCCEEDED", "SUCCEEDED"]
    job = hyp3.refresh(job)
    assert job.succeeded() and not job.expired()
    assert job.expiration_time is not None and job.expiration_time.utcoffset() == timedelta(0)
    assert job.expiration_time > datetime.now(timezone.utc) + timedelta(days=13)
    assert job.processing_times == [1234.5]
    assert job.credit_cost == 10
    assert job.logs == []
    (file,) = job.files
    assert file["filename"] == f"{product_name(stand_in.jobs[job.job_id])}.zip"
    assert file["s3"] == {"bucket": "hyp3-standin-contentbucket", "key": f"{job.job_id}/{file['filename']}"}
    assert len(job.browse_images) == 1 and job.browse_images[0].endswith("_unw_phase.png")
    assert job.thumbnail_images[0].endswith("_unw_phase_thumb.png")
    png = requests.get(job.thumbnail_images[0], timeout=5)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_watch_batch(make_stand_in: Callable[..., HyP3StandIn]) -> None:
    stand_in = make_stand_in(polls_per_state=2)
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    batch = hyp3.submit_prepared_jobs([HyP3.prepare_insar_job(G1, G2), HyP3.prepare_insar_job(G2, G3)])
    done = hyp3.watch(batch, timeout=5, interval=0.01)
    assert isinstance(done, Batch) and done.complete() and done.succeeded()
    for job in batch:
        # PENDING twice, RUNNING twice, then SUCCEEDED: five observations each
        assert len(stand_in.requests_for("GET", f"/jobs/{job.job_id}")) == 5


def test_manual_progress_and_failure_policy(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    stand_in = make_stand_in(polls_per_state=0, outcome=fail_first([G1, G2]))
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    job = hyp3.submit_insar_job(G1, G2, name="retry-me")[0]
    other = hyp3.submit_insar_job(G2, G3, name="fine")[0]
    assert hyp3.refresh(job).status_code == "PENDING"  # observations do not move jobs
    stand_in.advance(job.job_id)
    assert hyp3.refresh(job).status_code == "RUNNING"
    assert hyp3.refresh(other).status_code == "PENDING"
    stand_in.finish_all()

    failed = hyp3.refresh(job)
    assert failed.failed() and failed.files is None and failed.processing_times is None
    assert failed.expiration_time is not None
    (log_url,) = failed.logs
    log = requests.get(log_url, timeout=5)
    assert log.status_code == 200 and "processing failed" in log.text and G1 in log.text
    with pytest.raises(HyP3SDKError, match="Only succeeded jobs can be downloaded; job is FAILED"):
        failed.download_files(tmp_path)
    assert Batch([failed]).download_files(tmp_path) == []  # a Batch skips it with a printed warning
    assert hyp3.refresh(other).succeeded()

    again = hyp3.submit_prepared_jobs(failed.to_dict(for_resubmit=True))[0]
    stand_in.finish_all()
    assert hyp3.refresh(again).succeeded()
    assert stand_in.submitted_count([G2, G1]) == 2
    assert stand_in.submitted_count([G2, G3]) == 1


# ---- products -----------------------------------------------------------------------------


def _fixture_keys(name: str) -> list[str]:
    path = HYP3_FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} missing")
    return [line.split(": ", 1)[0] for line in path.read_text().splitlines()]


def test_download_files_gives_hyp3_shaped_zip(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    job = succeeded_job(hyp3, stand_in)
    paths = Batch([job]).download_files(tmp_path / "dl")
    assert len(paths) == 1
    zip_path = paths[0]
    assert zip_path.stat().st_size == job.files[0]["size"]
    name = zip_path.stem
    assert re.fullmatch(r"S1AC_20251001T204513_20251007T204513_VVP006_INT80_G_ueF_[0-9A-F]{4}", name)
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert {n.split("/")[0] for n in names} == {name}
        assert f"{name}/{name}.txt" in names and f"{name}/{name}_unw_phase.tif" in names
        text = zf.read(f"{name}/{name}.txt").decode()
    lines = text.splitlines()
    assert all(re.fullmatch(r"[^:]+: .+", line) for line in lines)
    assert [line.split(": ", 1)[0] for line in lines] == _fixture_keys(
        "S1AC_20251001T204513_20251007T204359_HHR006_INT40_G_ueF_1DBE.txt"
    )
    assert f"Reference Granule: {G1}" in lines and "Range looks: 20" in lines


def test_burst_product_names_and_metadata(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    single = hyp3.submit_insar_isce_burst_job(burst("20220907"), burst("20220814"), looks="10x2")[0]
    refs = [burst("20250718", 93117, 2, 22), burst("20250718", 93118, 3, 25)]
    secs = [burst("20250730", 93117, 2, 21), burst("20250730", 93118, 3, 25)]
    multi = hyp3.submit_insar_isce_multi_burst_job(refs, secs)[0]
    stand_in.finish_all()
    single, multi = hyp3.refresh(single), hyp3.refresh(multi)
    assert re.fullmatch(
        r"S1_136231_IW2_20220814_20220907_VV_INT40_[0-9A-F]{4}\.zip", single.files[0]["filename"]
    )
    assert re.fullmatch(
        r"S1_044_000000s1n00-093117s2n01-093118s3n01_IW_20250718_20250730_VV_INT80_[0-9A-F]{4}\.zip",
        multi.files[0]["filename"],
    )
    for job, fixture in [
        (single, "S1_056072_IW2_20220814_20220907_VV_INT80_E09B.txt"),
        (multi, "S1_044_000000s1n00-093117s2n01-093118s3n01_IW_20250718_20250730_VV_INT80_B4FA.txt"),
    ]:
        (path,) = job.download_files(tmp_path)
        with zipfile.ZipFile(path) as zf:
            text = zf.read(f"{path.stem}/{path.stem}.txt").decode()
        assert [line.split(": ", 1)[0] for line in text.splitlines()] == _fixture_keys(fixture)


def test_custom_product_factory(make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path) -> None:
    def factory(job: dict) -> Path:
        path = tmp_path / "made" / f"CUSTOM_{job['job_id'][:8]}.zip"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"custom-bytes" * 100)
        return path

    stand_in = make_stand_in(product_factory=factory)
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    job = succeeded_job(hyp3, stand_in)
    assert job.files[0]["filename"] == f"CUSTOM_{job.job_id[:8]}.zip"
    assert job.files[0]["size"] == 1200
    (path,) = job.download_files(tmp_path / "dl")
    assert path.read_bytes() == b"custom-bytes" * 100


def test_range_requests(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    job = succeeded_job(hyp3, stand_in)
    url, size = job.files[0]["url"], job.files[0]["size"]
    full = requests.get(url, timeout=5)
    assert full.status_code == 200 and len(full.content) == size
    assert full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["ETag"] == f'"{hashlib.md5(full.content).hexdigest()}"'

    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 10-19/{size}"
    assert part.headers["Content-Length"] == "10" and part.content == full.content[10:20]

    tail = requests.get(url, headers={"Range": "bytes=-5"}, timeout=5)
    assert tail.status_code == 206 and tail.content == full.content[-5:]
    rest = requests.get(url, headers={"Range": f"bytes={size - 100}-"}, timeout=5)
    assert rest.status_code == 206 and rest.content == full.content[-100:]
    assert rest.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"

    beyond = requests.get(url, headers={"Range": f"bytes={size}-"}, timeout=5)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"

    head = requests.head(url, timeout=5)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(size) and head.content == b""
    assert requests.get(url.replace(job.job_id, "no-such-job"), timeout=5).status_code == 404


# ---- faults -------------------------------------------------------------------------------


def test_submit_503_then_retry(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    stand_in.fail_next("POST", "/jobs", status=503)
    with pytest.raises(ServiceUnavailableError, match="HyP3 is currently unavailable"):
        hyp3.submit_insar_job(G1, G2, name="r")
    assert stand_in.jobs == {} and stand_in.credits == 1000
    hyp3.submit_insar_job(G1, G2, name="r")
    assert [r.status for r in stand_in.requests_for("POST", "/jobs")] == [503, 200]
    assert stand_in.submitted_count([G1, G2]) == 1


def test_submit_429_carries_retry_after(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    stand_in.fail_next("POST", "/jobs", status=429, retry_after=7)
    with pytest.raises(HyP3Error, match=r"<Response \[429\]> Too Many Requests"):
        hyp3.submit_insar_job(G1, G2)
    stand_in.fail_next("POST", "/jobs", status=429, retry_after=7)
    raw = hyp3.session.post(f"{stand_in.url}/jobs", json={"jobs": [HyP3.prepare_insar_job(G1, G2)]})
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "7"
    assert raw.json() == {
        "detail": "Too Many Requests",
        "status": 429,
        "title": "Too Many Requests",
        "type": "about:blank",
    }
    assert stand_in.jobs == {}
    assert len(hyp3.submit_insar_job(G1, G2)) == 1


def test_non_json_gateway_errors(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    stand_in.fail_next("GET", "/user", status=502, body=b"<html>Bad Gateway</html>")
    with pytest.raises(ServerError):
        hyp3.check_credits()
    # hyp3_sdk reads response.json()["detail"] for 4xx/503: a non-JSON body escapes as a JSON error
    stand_in.fail_next("GET", "/user", status=503, body=b"<html>Service Unavailable</html>")
    with pytest.raises(ValueError):
        hyp3.check_credits()
    assert hyp3.check_credits() == 1000


def test_lost_post_response_still_creates_jobs(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    stand_in.lose_response_next("POST", "/jobs")
    with pytest.raises(requests.exceptions.ConnectionError):
        hyp3.submit_insar_job(G1, G2, name="insarhub-lost-1")
    # the client saw an error, but the server acted: the job exists and was charged
    assert stand_in.credits == 990
    found = hyp3.find_jobs(name="insarhub-lost-1")
    assert len(found) == 1 and found[0].job_parameters["granules"] == [G1, G2]
    posts = stand_in.requests_for("POST", "/jobs")
    assert len(posts) == 1 and posts[0].status is None  # nobody retried the POST
    assert stand_in.submitted_count([G1, G2]) == 1
    assert hyp3.check_credits() == 990  # the fault was used up


def test_download_dropped_mid_body(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    job = succeeded_job(hyp3, stand_in)
    size, filename = job.files[0]["size"], job.files[0]["filename"]
    stand_in.drop_download_after(1000)
    raised: Exception | None = None
    try:
        job.download_files(tmp_path / "first")
    except requests.RequestException as exc:  # urllib3 >= 2 enforces Content-Length
        raised = exc
    partial = tmp_path / "first" / filename
    if raised is None:
        # urllib3 1.x (Debian's): the short body is accepted silently and the file is truncated
        assert partial.stat().st_size == 1000 < size
    (again,) = job.download_files(tmp_path / "second")
    assert again.stat().st_size == size
    assert [r.status for r in stand_in.requests_for("GET", "/products/")] == [200, 200]


def test_download_503_is_retried_by_hyp3_sdk(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    job = succeeded_job(hyp3, stand_in)
    stand_in.fail_next("GET", "/products/", status=503)
    (path,) = job.download_files(tmp_path)
    assert path.stat().st_size == job.files[0]["size"]
    assert [r.status for r in stand_in.requests_for("GET", "/products/")] == [503, 200]


def test_truncated_download_is_consistent_and_detectable(
    stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path
) -> None:
    job = succeeded_job(hyp3, stand_in)
    size, url, filename = job.files[0]["size"], job.files[0]["url"], job.files[0]["filename"]
    stand_in.truncate_download(filename)
    (path,) = job.download_files(tmp_path)  # hyp3_sdk does not notice
    assert path.stat().st_size == size // 2 != size
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path)
    assert len(requests.get(url, timeout=5).content) == size // 2
    assert requests.head(url, timeout=5).headers["Content-Length"] == str(size // 2)
    beyond = requests.get(url, headers={"Range": f"bytes={size // 2}-"}, timeout=5)
    assert beyond.status_code == 416

    stand_in.truncate_download(job.job_id, keep=100)
    assert len(requests.get(url, timeout=5).content) == 100
    stand_in.reset_faults()
    assert len(requests.get(url, timeout=5).content) == size


def test_corrupt_download_keeps_size(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    job = succeeded_job(hyp3, stand_in)
    good = requests.get(job.files[0]["url"], timeout=5)
    stand_in.corrupt_download(job.job_id)
    (path,) = job.download_files(tmp_path)
    bad = path.read_bytes()
    assert len(bad) == job.files[0]["size"] and bad != good.content
    assert sum(a != b for a, b in zip(bad, good.content)) == 8
    # the ETag still names the intact object, so an MD5 check catches the corruption
    etag = requests.head(job.files[0]["url"], timeout=5).headers["ETag"]
    assert etag == good.headers["ETag"] != f'"{hashlib.md5(bad).hexdigest()}"'


def test_expired_job_cannot_be_downloaded(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    stale = succeeded_job(hyp3, stand_in)
    stand_in.expire(stale.job_id)
    fresh = hyp3.refresh(stale)
    assert fresh.expired() and fresh.expiration_time < datetime.now(timezone.utc)
    with pytest.raises(HyP3SDKError, match="Expired jobs cannot be downloaded"):
        fresh.download_files(tmp_path)
    # a Job object fetched before expiry tries the URL: the bucket answers 404
    with pytest.raises(HyP3SDKError, match="Unable to download file"):
        stale.download_files(tmp_path)
    response = requests.get(stale.files[0]["url"], timeout=5)
    assert response.status_code == 404 and b"<Code>NoSuchKey</Code>" in response.content
    stand_in.expired_status = 403
    assert requests.get(stale.files[0]["url"], timeout=5).status_code == 403


def test_unknown_job_is_404(hyp3: HyP3) -> None:
    with pytest.raises(HyP3Error, match=r"<Response \[404\]> job_id does not exist: 27836b79"):
        hyp3.get_job_by_id("27836b79-e5b2-4d8f-932f-659724ea02c3")


def test_delay_and_bandwidth_limit(stand_in: HyP3StandIn, hyp3: HyP3, tmp_path: Path) -> None:
    import time

    job = succeeded_job(hyp3, stand_in)
    stand_in.delay(0.3, path_prefix="/user")
    started = time.monotonic()
    hyp3.check_credits()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    hyp3.costs()
    assert time.monotonic() - started < 0.3

    size = job.files[0]["size"]
    stand_in.bandwidth_limit(size / 0.4)  # ~0.4 s per download
    started = time.monotonic()
    requests.get(job.files[0]["url"], timeout=5)
    assert time.monotonic() - started >= 0.35
    stand_in.reset_faults()
    started = time.monotonic()
    hyp3.check_credits()
    requests.get(job.files[0]["url"], timeout=5)
    assert time.monotonic() - started < 0.3


def test_faults_are_bounded_under_concurrency(stand_in: HyP3StandIn) -> None:
    stand_in.fail_next("GET", "/user", status=503, count=3)
    barrier = threading.Barrier(8)

    def call(_: int) -> int:
        barrier.wait(timeout=5)
        return requests.get(
            f"{stand_in.url}/user", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(16)))
    assert sorted(statuses) == [200] * 13 + [503] * 3
    assert len(stand_in.requests_for("GET", "/user")) == 16


def test_requests_are_recorded(stand_in: HyP3StandIn, hyp3: HyP3) -> None:
    hyp3.submit_insar_job(G1, G2, name="rec")
    hyp3.find_jobs(name="rec", job_type="INSAR_GAMMA")
    post, get = stand_in.requests
    assert (post.method, post.path, post.status) == ("POST", "/jobs", 200)
    assert post.body["jobs"][0]["job_parameters"]["granules"] == [G1, G2]
    assert (get.method, get.path, get.query) == (
        "GET",
        "/jobs",
        {"name": ["rec"], "job_type": ["INSAR_GAMMA"]},
    )
    stand_in.clear_requests()
    assert stand_in.requests == []
