"""Issue 14: the attacks that got through, rerun against hostile loopback servers of our own.

One section per finding (and per promise of the issue): where credentials may go, one job per
pair under concurrent submissions, unpacking that never touches what it did not write, loops
that end, OS and data faults that become messages, and the module layout without cycles. The
hostile servers are :mod:`fakes.hostile`; the well-behaved stand-ins (HyP3, the ASF file host)
are the project's own. Nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from fakes.cmr import load_fixture
from fakes.files import FileServer, give_small_files
from fakes.hostile import Answer, HostileServer, Seen
from fakes.hyp3 import HyP3StandIn, product_name
from insarhub_qgis.core import aoi, search
from insarhub_qgis.core.config import Endpoints
from insarhub_qgis.core.download import DownloadItem, download_files, extract_zip_safely
from insarhub_qgis.core.download_scenes import asf_download_session, download_scenes
from insarhub_qgis.core.errors import InputError
from insarhub_qgis.core.hyp3 import (
    Credentials,
    Hyp3Client,
    JobsFile,
    download_products,
    jobs_file_lock,
    plan_jobs,
    submit_jobs,
    watch,
)
from insarhub_qgis.core.netpolicy import CredentialPolicy, ForeignHostError
from insarhub_qgis.core.oserrors import StorageError
from insarhub_qgis.core.records import footprint_from_umm
from insarhub_qgis.core.retry import RetryPolicy
from insarhub_qgis.core.search import SearchRequest, SearchStats, search_footprints, search_notes

TOKEN = "hardening-token-SECRET-7c1e"
ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_retry(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay_s=0.01, max_delay_s=0.05, sleep=Sleeps())


def token() -> Credentials:
    return Credentials.from_token(TOKEN, source="the test token")


def slc(day: str) -> str:
    return f"S1A_IW_SLC__1SDV_{day}T204513_{day}T204540_061237_07A332_A16A"


DAYS = ["20250101", "20250113", "20250125", "20250206", "20250218", "20250302"]
PAIRS = [(slc(DAYS[i]), slc(DAYS[i + 1])) for i in range(len(DAYS) - 1)]


@pytest.fixture
def third_host() -> Iterator[HostileServer]:
    """The host no credential may ever reach: it records whatever arrives."""
    with HostileServer(lambda seen: Answer(200, b"thanks")) as server:
        yield server


# ---- 1. the token goes only where it belongs -------------------------------------------------------


def test_the_policy_allows_https_to_earthdata_asf_and_configured_endpoints_only() -> None:
    policy = CredentialPolicy.for_endpoints(
        Endpoints(hyp3_url="http://127.0.0.1:8080", asf_download_base="http://127.0.0.1:9000/asf")
    )
    for url in (
        "https://urs.earthdata.nasa.gov/oauth/authorize",
        "https://datapool.asf.alaska.edu/SLC/SA/x.zip",
        "https://sentinel1-burst.asf.alaska.edu/S1A/IW2/VV/3.tiff",
        "https://hyp3-api.asf.alaska.edu/jobs",
        "http://127.0.0.1:8080/jobs?name=x",
        "http://127.0.0.1:9000/asf/SLC/x.zip",
    ):
        assert policy.allows(url), url
    for url in (
        "http://datapool.asf.alaska.edu/SLC/SA/x.zip",  # plain HTTP to ASF
        "https://asf.alaska.edu.evil.example/x.zip",
        "https://evil.example/x.zip",
        "https://urs.earthdata.nasa.gov:8443/oauth",
        "https://cmr.earthdata.nasa.gov/search",  # search needs no credentials
        "http://127.0.0.1:8081/jobs",  # loopback, but not the configured port
        "http://localhost:8080/jobs",
        "s3://bucket/x.zip",
        "not a url",
    ):
        assert not policy.allows(url), url
    # plain HTTP that is not loopback never counts as configured
    assert not CredentialPolicy.for_endpoints(Endpoints(hyp3_url="http://hyp3.example")).allows("http://hyp3.example/x")
    assert "evil.example" in policy.refusal("https://evil.example/x.zip")


@pytest.fixture
def scenes() -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    items = load_fixture("s1_slc_fairbanks_p94_f210_stack")[:3]
    contents = give_small_files(items)
    return [footprint_from_umm(i["umm"], i["meta"]).record for i in items], contents


def _pointing_to(record: dict[str, Any], url: str) -> dict[str, Any]:
    """A footprint record whose CMR record (and url field) names ``url`` for its data."""
    umm = json.loads(record["umm"])
    for related in umm["RelatedUrls"]:
        if related["Type"] == "GET DATA" and related["URL"].startswith("https://"):
            related["URL"] = url
    return {**record, "umm": json.dumps(umm), "url": url}


def test_scene_urls_of_other_hosts_get_neither_token_nor_request(scenes, third_host: HostileServer, tmp_path: Path) -> None:
    records, contents = scenes
    with FileServer(token=TOKEN, prefix="asf") as files, HostileServer(tls_dir=tmp_path / "tls") as tls_host:
        files.serve(contents)
        hostile = [
            _pointing_to(records[1], f"{third_host.url}/loot/evil.zip"),
            _pointing_to(records[2], f"{tls_host.url}/loot/evil2.zip"),
        ]
        result = download_scenes(
            [records[0], *hostile],
            tmp_path / "out",
            credentials=token(),
            endpoints=Endpoints(asf_download_base=files.url),
            retry=fast_retry(),
        )
    assert third_host.seen == [] and tls_host.seen == []  # not even asked
    assert result.count == 1 and len(result.failed) == 2
    assert third_host.host in result.failed[0] and tls_host.host in result.failed[1]
    assert all("may not carry your Earthdata credentials" in line for line in result.failed)
    assert all(TOKEN not in line for line in result.failed)


def test_a_redirect_to_another_host_loses_the_token(third_host: HostileServer, tmp_path: Path) -> None:
    # asf_search's ASFSession keeps Authorization across a redirect between two hosts whose
    # last three name parts agree (127.0.0.1 -> 127.0.0.1 on another port counts as one "domain");
    # the guard drops it all the same.
    def redirect(seen: Seen) -> Answer:
        return Answer(302, b"", {"Location": f"{third_host.url}/signed/x.zip?sig=1"})

    with HostileServer(redirect) as asf:
        endpoints = Endpoints(asf_download_base=asf.url)
        session = asf_download_session(token(), endpoints)
        session.get(f"{asf.url}/SLC/SA/x.zip", timeout=5)
        session.close()
    assert asf.seen[0].header("Authorization") == f"Bearer {TOKEN}"  # the configured host gets it
    assert len(third_host.seen) == 1 and third_host.secrets_seen() == []


def _job(name: str, job_id: str = "6a9d2d1b-0b7e-4c56-9d2b-3c5b8e6a1f00") -> dict[str, Any]:
    return {
        "job_id": job_id,
        "job_type": "INSAR_GAMMA",
        "job_parameters": {"granules": list(PAIRS[0])},
        "name": name,
        "request_time": "2025-03-01T10:00:00+00:00",
        "status_code": "PENDING",
        "user_id": "hostile",
    }


def _client(url: str) -> Hyp3Client:
    return Hyp3Client.connect(Endpoints(hyp3_url=url), token(), retry=fast_retry())


def test_hyp3_next_links_and_redirects_to_another_host_are_refused(third_host: HostileServer) -> None:
    def hyp3(seen: Seen) -> Answer:
        if seen.path == "/jobs":
            body = {"jobs": [_job("p")], "next": f"{third_host.url}/jobs?start_token=abc"}
            return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return Answer(302, b"", {"Location": f"{third_host.url}{seen.path}"})

    with HostileServer(hyp3) as server:
        client = _client(server.url)
        with pytest.raises(ForeignHostError, match=third_host.host):
            client.find_jobs_by_name("p")
        with pytest.raises(ForeignHostError, match=third_host.host):
            client.hyp3.find_jobs(name="p")  # hyp3_sdk's own paging, through the same guard
        with pytest.raises(ForeignHostError, match=third_host.host):
            client.get_job("6a9d2d1b-0b7e-4c56-9d2b-3c5b8e6a1f00")  # a redirect
        assert all(s.header("Authorization") == f"Bearer {TOKEN}" for s in server.seen)
    assert third_host.seen == []


def test_a_next_link_that_loops_ends(tmp_path: Path) -> None:
    def hyp3(seen: Seen) -> Answer:
        body = {"jobs": [_job("p")], "next": f"http://{seen.header('Host')}/jobs?name=p&start_token=again"}
        return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    with HostileServer(hyp3) as server:
        jobs = _client(server.url).find_jobs_by_name("p")
    assert [j["name"] for j in jobs] == ["p"] and len(server.seen) == 2


# ---- 2. one job per pair, whatever runs at once --------------------------------------------------------


@pytest.fixture
def hyp3(tmp_path: Path) -> Iterator[HyP3StandIn]:
    with HyP3StandIn(token=TOKEN, polls_per_state=0, tmpdir=tmp_path / "bucket", credits=1000) as server:
        yield server
        assert server.errors == []


SUBMIT = """
import sys, time
from pathlib import Path
from insarhub_qgis.core.config import Endpoints
from insarhub_qgis.core.hyp3 import Credentials, Hyp3Client, plan_jobs, submit_jobs
url, jobs_file, barrier, pairs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), eval(sys.argv[4])
client = Hyp3Client.connect(Endpoints(hyp3_url=url), Credentials.from_token({token!r}))
plan = plan_jobs(pairs, "INSAR_GAMMA", {{}}, "race")
while not barrier.exists():
    time.sleep(0.01)
result = submit_jobs(plan, jobs_file, client, on_message=lambda m: print("WAIT", m, flush=True))
print("SUBMITTED", result.submitted, "CREDITS", result.cost, flush=True)
"""


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / ".venv" / "qgis-plugins"), str(ROOT / "tests")])
    return env


def test_two_submissions_started_together_cost_the_credits_of_one(hyp3: HyP3StandIn, tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.json"
    barrier = tmp_path / "go"
    hyp3.delay(0.5, method="POST", path_prefix="/jobs", count=2)  # a slow HyP3 widens the race
    script = SUBMIT.format(token=TOKEN)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, hyp3.url, str(jobs_file), str(barrier), repr(PAIRS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_python_env(),
        )
        for _ in range(2)
    ]
    time.sleep(1.5)  # both have imported, connected and planned
    barrier.touch()
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    submitted = sorted(int(out.split("SUBMITTED")[1].split()[0]) for out, _ in outputs)
    assert submitted == [0, len(PAIRS)]  # one run submitted everything, the other nothing
    assert any("Waiting for another InSARHub run" in out for out, _ in outputs)
    assert len(hyp3.jobs) == len(PAIRS) and len(hyp3.requests_for("POST", "/jobs")) == 1
    assert hyp3.credits == 1000 - 10 * len(PAIRS)
    assert JobsFile.load(jobs_file).known_job_ids() == set(hyp3.jobs)


def test_the_dock_and_the_toolbox_at_once_submit_once(hyp3: HyP3StandIn, tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.json"
    hyp3.delay(0.3, method="POST", path_prefix="/jobs", count=2)
    plan = plan_jobs(PAIRS, "INSAR_GAMMA", {}, "race")
    results: list[Any] = []
    start = threading.Barrier(2)

    def run() -> None:
        client = _client(hyp3.url)
        start.wait()
        results.append(submit_jobs(plan, jobs_file, client))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.submitted for r in results) == [0, len(PAIRS)]
    assert len(hyp3.jobs) == len(PAIRS)


def test_jobs_made_by_another_run_are_adopted_for_every_pair(hyp3: HyP3StandIn, tmp_path: Path) -> None:
    """Pairs that already have a job are reconciled too: a run that used another jobs file (or
    crashed before writing it) leaves no job untracked."""
    from hyp3_sdk import HyP3

    plan = plan_jobs(PAIRS, "INSAR_GAMMA", {}, "race")
    ours = tmp_path / "jobs.json"
    submit_jobs(plan, ours, _client(hyp3.url))
    # Another machine submits the same pairs again, under the same deterministic names.
    HyP3(api_url=hyp3.url, token=TOKEN).submit_prepared_jobs([job.request() for job in plan.jobs[:2]])
    assert len(hyp3.jobs) == len(PAIRS) + 2
    result = watch(ours, _client(hyp3.url))
    store = JobsFile.load(ours)
    assert store.known_job_ids() == set(hyp3.jobs)  # nothing orphaned
    assert result.adopted == 2 and any("found on HyP3 by name" in line for line in result.messages())
    assert [len(e.jobs) for e in store.pairs] == [2, 2, 1, 1, 1]
    # and a second submission with yet another jobs file pays nothing
    again = submit_jobs(plan, tmp_path / "other.json", _client(hyp3.url))
    assert again.submitted == 0 and again.adopted == len(PAIRS) + 2


def test_the_lock_waits_for_its_holder_and_honours_cancel(tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.json"
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with jobs_file_lock(jobs_file):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    heard: list[str] = []
    from insarhub_qgis.core.errors import CancelledError

    with pytest.raises(CancelledError):
        with jobs_file_lock(jobs_file, on_wait=heard.append, is_cancelled=lambda: len(heard) > 0):
            pass
    assert "Waiting for another InSARHub run" in heard[0] and f"process {os.getpid()}" in heard[0]
    release.set()
    holder.join(5)
    with jobs_file_lock(jobs_file, wait_s=1):
        pass


# ---- 3. unpacking never touches what it did not write ----------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_unpacking_never_replaces_or_deletes_the_users_files(tmp_path: Path) -> None:
    products = tmp_path / "products"
    (products / "keepme").mkdir(parents=True)
    (products / "keepme" / "notes.txt").write_text("mine")
    (products / "readme.txt").write_text("mine too")
    hostile = _zip(tmp_path / "S1_product.zip", {"keepme/evil.txt": b"x", "readme.txt": b"y"})
    created = extract_zip_safely(hostile, products)
    assert created == [products / "S1_product"]
    assert (products / "keepme" / "notes.txt").read_text() == "mine" and not (products / "keepme" / "evil.txt").exists()
    assert (products / "readme.txt").read_text() == "mine too"
    assert (products / "S1_product" / "keepme" / "evil.txt").read_bytes() == b"x"

    # A folder of the product's name that holds something else is an error naming both.
    (products / "S1_other").mkdir()
    (products / "S1_other" / "thesis.tex").write_text("years of work")
    other = _zip(tmp_path / "S1_other.zip", {"S1_other/S1_other.txt": b"metadata"})
    with pytest.raises(InputError) as error:
        extract_zip_safely(other, products)
    assert "S1_other.zip" in str(error.value) and str(products / "S1_other") in str(error.value)
    assert sorted(p.name for p in (products / "S1_other").iterdir()) == ["thesis.tex"]
    assert sorted(p.name for p in products.iterdir()) == ["S1_other", "S1_product", "keepme", "readme.txt"]


def test_download_products_unpacks_into_a_folder_per_product(tmp_path: Path) -> None:
    def hostile_product(job: dict[str, Any]) -> Path:
        path = tmp_path / "bucket" / job["job_id"] / f"{product_name(job)}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        return _zip(path, {"keepme/": b"", "keepme/evil.txt": b"x"})

    with HyP3StandIn(token=TOKEN, polls_per_state=0, tmpdir=tmp_path / "bucket", product_factory=hostile_product) as server:
        client = _client(server.url)
        submit_jobs(plan_jobs(PAIRS[:1], "INSAR_GAMMA", {}, "zip"), tmp_path / "jobs.json", client)
        server.finish_all()
        products = tmp_path / "products"
        (products / "keepme").mkdir(parents=True)
        (products / "keepme" / "mine.txt").write_text("mine")
        result = download_products(tmp_path / "jobs.json", products, client=client, retry=fast_retry())
    assert result.failed == [] and len(result.downloaded) == 1
    assert result.downloaded[0].parent == products and result.downloaded[0].name != "keepme"
    assert sorted(p.name for p in (products / "keepme").iterdir()) == ["mine.txt"]


# ---- 4. every loop ends -----------------------------------------------------------------------------


def _cmr_page(items: list[dict[str, Any]], hits: int) -> bytes:
    return json.dumps({"hits": hits, "took": 1, "items": items}).encode()


@pytest.fixture
def cmr_items() -> list[dict[str, Any]]:
    return [{"umm": i["umm"], "meta": i["meta"]} for i in load_fixture("s1_burst_174_372326_IW3_stack")[:6]]


def _search(cmr: HostileServer, **kwargs: Any) -> tuple[list[Any], SearchStats]:
    stats = SearchStats()
    endpoints = Endpoints(cmr_host=cmr.host, ca_bundle=cmr.ca_file)
    request = SearchRequest(aoi=aoi.from_bbox([-150, 60, -140, 70]))
    found = list(search_footprints(request, endpoints, stats=stats, retry=fast_retry(), **kwargs))
    return found, stats


def test_a_cmr_that_always_has_a_next_page_ends_with_a_message(cmr_items, tmp_path: Path) -> None:
    def forever(seen: Seen) -> Answer:
        return Answer(200, _cmr_page(cmr_items[:2], 10**9), {"CMR-Search-After": '["same"]'})

    with HostileServer(forever, tls_dir=tmp_path) as cmr:
        found, stats = _search(cmr)
    assert len(found) == 2 and len(cmr.seen) == 2  # the second page brought nothing new
    assert "nothing new" in stats.stopped and "incomplete" in stats.stopped
    assert stats.stopped in search_notes(SearchRequest(aoi=aoi.from_bbox([-150, 60, -140, 70])), stats)


def test_a_cmr_that_invents_records_forever_stops_at_the_cap(cmr_items, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(search, "MAX_SEARCH_RECORDS", 60)
    served = {"n": 0}

    def invent(seen: Seen) -> Answer:
        page = []
        for _ in range(25):
            served["n"] += 1
            item = json.loads(json.dumps(cmr_items[0]))
            item["umm"]["GranuleUR"] = f"INVENTED-{served['n']}-SLC"
            page.append(item)
        return Answer(200, _cmr_page(page, 10**9), {"CMR-Search-After": f'["{served["n"]}"]'})

    with HostileServer(invent, tls_dir=tmp_path) as cmr:
        found, stats = _search(cmr, page_size=25)
    assert len(found) == 75 and len(cmr.seen) == 3
    assert "Stopped after 75 records" in stats.stopped and "Narrow the search" in stats.stopped


def test_a_dropping_server_that_ignores_range_costs_at_most_twice_the_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)

    def drops(seen: Seen) -> Answer:  # always the whole file from byte 0, cut at a third
        return Answer(200, data, {"Content-Type": "application/zip"}, cut_after=len(data) // 3)

    retry = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.05, sleep=Sleeps())
    with HostileServer(drops) as server:
        report = download_files([DownloadItem(f"{server.url}/x.bin", "x.bin", len(data))], tmp_path, retry=retry)
        requests = len(server.seen)
    outcome = report.outcomes[0]
    assert outcome.status == "failed" and "the limit is 2x its size" in outcome.error
    assert "run the download again later to resume" in outcome.error
    assert outcome.bytes_transferred <= 2 * len(data) + 1024 * 1024 + 64 * 1024
    assert requests <= 8
    assert len(retry.sleep) == requests - 2 and all(s > 0 for s in retry.sleep)  # backoff after the first drop


def test_a_server_that_keeps_dropping_gets_backoff_and_a_clear_message(tmp_path: Path) -> None:
    data = os.urandom(400_000)

    def trickle(seen: Seen) -> Answer:  # honours Range but sends 1,000 bytes a time
        start = int((seen.header("Range") or "bytes=0-")[6:].split("-")[0])
        headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {}
        return Answer(206 if start else 200, data[start:], headers, cut_after=1000)

    retry = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, sleep=Sleeps())
    with HostileServer(trickle) as server:
        report = download_files([DownloadItem(f"{server.url}/x.bin", "x.bin", len(data))], tmp_path, retry=retry)
    outcome = report.outcomes[0]
    assert outcome.status == "failed" and "gave up after 30 requests, 30 of which broke off" in outcome.error
    assert (tmp_path / "x.bin.part").stat().st_size == 30_000  # every byte kept: a rerun resumes
    assert len(retry.sleep) == 28 and all(s > 0 for s in retry.sleep)  # the first drop resumes at once


# ---- 5. every OS and data fault is a message ----------------------------------------------------------


def test_a_full_disk_stops_the_download_with_what_is_needed_and_a_rerun_resumes(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    with FileServer({"a.bin": data, "b.bin": data}) as files:
        items = [DownloadItem(f"{files.url}/{n}", n, len(data)) for n in ("a.bin", "b.bin")]
        (tmp_path / "b.bin.part").symlink_to("/dev/full")  # writing there fails with ENOSPC
        with pytest.raises(StorageError) as error:
            download_files(items, tmp_path, retry=fast_retry(), workers=1)
        message = str(error.value)
        assert f"the disk holding {tmp_path} is full" in message and "b.bin could not be written" in message
        assert "still need about" in message and "run the download again" in message
        (tmp_path / "b.bin.part").unlink()
        report = download_files(items, tmp_path, retry=fast_retry())
    assert [o.status for o in report.outcomes] == ["skipped", "downloaded"]


def test_over_long_names_are_messages_not_tracebacks(tmp_path: Path) -> None:
    long_name = "S1_" + "x" * 260 + ".zip"
    with FileServer({long_name: b"data"}) as files:
        report = download_files([DownloadItem(f"{files.url}/{long_name}", long_name, 4)], tmp_path, retry=fast_retry())
    assert report.outcomes[0].status == "failed" and "file systems allow 255" in report.outcomes[0].error
    store = JobsFile(tmp_path / ("j" * 300 + ".json"))
    with pytest.raises(StorageError, match="too long"):
        store.save()


def _as_nobody(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` as the unprivileged user ``nobody`` (root ignores file permissions)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to run a step as an unprivileged user")
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code, *args]
    if os.geteuid() != 0:
        command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, env=_python_env(), timeout=60)


@pytest.fixture
def readonly_folder() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="insarhub-ro-", dir="/tmp"))
    os.chmod(top, 0o755)
    folder = top / "readonly"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        yield folder
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_unwritable_jobs_and_download_folders_are_messages(readonly_folder: Path) -> None:
    code = """
import sys
from pathlib import Path
from insarhub_qgis.core.errors import InsarhubError
from insarhub_qgis.core.hyp3 import JobsFile, jobs_file_lock
from insarhub_qgis.core.download import download_files, DownloadItem
folder = Path(sys.argv[1])
for step in (lambda: JobsFile(folder / "jobs.json").save(),
             lambda: jobs_file_lock(folder / "jobs.json").__enter__(),
             lambda: download_files([DownloadItem("http://127.0.0.1:9/x", "x")], folder / "out")):
    try:
        step()
        print("NO ERROR")
    except InsarhubError as exc:
        print("MESSAGE:", exc)
"""
    run = _as_nobody(code, str(readonly_folder))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("MESSAGE:") for line in lines), run.stdout
    assert all("permission denied" in line and str(readonly_folder) in line for line in lines)
    assert "Traceback" not in run.stderr


def _broken_items(cmr_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nan = json.loads(json.dumps(cmr_items[1]))
    nan["umm"]["GranuleUR"] = "NAN-GEOMETRY-SLC"
    points = nan["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    points[1]["Longitude"] = float("nan")
    none = json.loads(json.dumps(cmr_items[2]))
    none["umm"]["GranuleUR"] = "NO-GEOMETRY-SLC"
    del none["umm"]["SpatialExtent"]
    return [cmr_items[0], nan, none, cmr_items[3]]


def test_records_with_broken_geometry_are_skipped_and_named_and_the_rest_kept(cmr_items, tmp_path: Path) -> None:
    page = json.dumps({"hits": 4, "items": _broken_items(cmr_items)}).encode()  # NaN as JSON's NaN literal
    with HostileServer(lambda seen: Answer(200, page), tls_dir=tmp_path) as cmr:
        found, stats = _search(cmr)
    assert [f.record["fileID"] for f in found] == [cmr_items[0]["umm"]["GranuleUR"], cmr_items[3]["umm"]["GranuleUR"]]
    notes = " ".join(search_notes(SearchRequest(aoi=aoi.from_bbox([-150, 60, -140, 70])), stats))
    assert "2 record(s) were skipped" in notes
    assert "NAN-GEOMETRY-SLC: its footprint has coordinates that are not numbers" in notes
    assert "NO-GEOMETRY-SLC: it has no footprint polygon" in notes


# ---- 8. one place per concern: no import cycles ---------------------------------------------------------


def _imports(path: Path, package: str) -> set[str]:
    """Modules of ``core`` that ``path`` imports (at module level or in functions; not TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for child in ast.walk(node))
    base = package.split(".")
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        parent = base[: len(base) - node.level + 1] if path.name == "__init__.py" else base[: len(base) - node.level]
        target = ".".join([*parent, *(node.module.split(".") if node.module else [])])
        for alias in node.names:
            candidate = f"{target}.{alias.name}"
            found.add(candidate if _module_file(candidate) else target)
    found = {m for m in found if m.startswith("core") and _module_file(m)}
    # importing core.hyp3.x runs core/hyp3/__init__.py first
    return found | {m.rsplit(".", 1)[0] for m in found if m.count(".") > 1}


def _module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def test_core_has_no_import_cycles_and_the_engine_knows_no_hyp3() -> None:
    graph: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts[:-1] if path.name == "__init__.py" else rel.parts)
        graph[module] = _imports(path, module) - {module}
    assert not {m for m in graph["core.download"] if m.startswith(("core.hyp3", "core.search", "core.records"))}
    assert "core.retry" in graph["core.download"] and "core.retry" in graph["core.hyp3.client"]

    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if module.startswith(target + "."):
                continue  # a module inside a package needs that package: not a cycle
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, module, target]))
            if not state.get(target):
                visit(target, [*trail, module])
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [])


# the engine reports errno faults with the same wording everywhere
def test_oserror_messages_name_the_place_and_the_remedy(tmp_path: Path) -> None:
    from insarhub_qgis.core.oserrors import describe_os_error

    full = describe_os_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x")))
    assert f"the disk holding {tmp_path} is full" in full and "Free some space" in full
    readonly = describe_os_error(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"))
    assert "read-only file system" in readonly
    denied = describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/srv/x"), "write the jobs file /srv/x")
    assert denied.startswith("Could not write the jobs file /srv/x: permission denied")
    assert "too long" in describe_os_error(OSError(errno.ENAMETOOLONG, "File name too long", "/a/" + "b" * 300))
