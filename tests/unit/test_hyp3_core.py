"""core/hyp3: credentials, client, jobs file, submit and watch, against the loopback HyP3.

The real ``hyp3_sdk`` talks to ``tests/fakes/hyp3.py``; sleeps are recorded, not slept.
Every fault test ends by checking what a user would: no pair was submitted twice, the jobs
file is valid JSON holding every job id, and nothing was lost.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
from fakes.hyp3 import HyP3StandIn, fail_always, fail_first
from insarhub_qgis.core.config import Endpoints, resolve_endpoints
from insarhub_qgis.core.errors import CancelledError, InputError
from insarhub_qgis.core.hyp3 import (
    Credentials,
    CredentialsError,
    Hyp3Client,
    Hyp3ServiceError,
    Hyp3TransientError,
    JobsFile,
    job_cost,
    local_costs,
    plan_jobs,
    preview_cost,
    refresh,
    resolve_credentials,
    submit_jobs,
    watch,
)
from insarhub_qgis.core.hyp3.jobs_store import UNKNOWN_TO_SERVER
from insarhub_qgis.core.hyp3.submit import SPECS_FILE
from insarhub_qgis.core.search import RetryPolicy

TOKEN = "tok-7f3aSECRETe21c"
PASSWORD = "pw-91b2SECRET-x"
ROOT = Path(__file__).resolve().parents[2]
SHARED_SPECS = ROOT.parent / "shared" / "reference" / "hyp3"
SHIPPED_SPECS = SPECS_FILE.parent
JOB_TYPES = ("INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST")


def slc(day: str, platform: str = "A", orbit: int = 61237) -> str:
    """A 67-character Sentinel-1 IW SLC name acquired on ``day`` (YYYYMMDD)."""
    return f"S1{platform}_IW_SLC__1SDV_{day}T204513_{day}T204540_{orbit:06d}_07A332_A16A"


def burst(day: str, burst_id: int = 136231, swath: int = 2, second: int = 12, pol: str = "VV") -> str:
    """A 43-character Sentinel-1 burst name."""
    return f"S1_{burst_id:06d}_IW{swath}_{day}T0223{second:02d}_{pol}_7C85-BURST"


def days(n: int, start: date = date(2025, 1, 1), step: int = 12) -> list[str]:
    return [(start + timedelta(days=step * i)).strftime("%Y%m%d") for i in range(n)]


D = days(6)
SLC_PAIRS = [(slc(D[0]), slc(D[1])), (slc(D[1]), slc(D[2])), (slc(D[0]), slc(D[2])), (slc(D[2]), slc(D[3]))]


class Sleeps(list):
    """A fake sleep that records what it was asked to sleep."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def make_stand_in(tmp_path: Path) -> Iterator[Callable[..., HyP3StandIn]]:
    made: list[HyP3StandIn] = []

    def make(**kwargs: Any) -> HyP3StandIn:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("tmpdir", tmp_path / f"bucket{len(made)}")
        kwargs.setdefault("polls_per_state", 0)
        stand_in = HyP3StandIn(**kwargs)
        made.append(stand_in)
        return stand_in

    yield make
    for stand_in in made:
        stand_in.close()
        assert stand_in.errors == []


@pytest.fixture
def stand_in(make_stand_in: Callable[..., HyP3StandIn]) -> HyP3StandIn:
    return make_stand_in(credits=1000, page_size=3)


def make_client(
    stand_in: HyP3StandIn, sleeps: Sleeps | None = None, attempts: int = 4, token: str = TOKEN, **kwargs: Any
) -> Hyp3Client:
    endpoints = resolve_endpoints(environ={"INSARHUB_HYP3_URL": stand_in.url})
    credentials = Credentials.from_token(token, source="the test token")
    retry = RetryPolicy(
        attempts=attempts, base_delay_s=0.5, max_delay_s=4.0, sleep=sleeps if sleeps is not None else Sleeps()
    )
    return Hyp3Client.connect(endpoints, credentials, retry=retry, **kwargs)


@pytest.fixture
def client(stand_in: HyP3StandIn) -> Hyp3Client:
    return make_client(stand_in)


def granule_sets(plan: Any) -> list[list[str]]:
    return [[*job.reference, *job.secondary] for job in plan.jobs]


def assert_each_once(stand_in: HyP3StandIn, plan: Any) -> None:
    for granules in granule_sets(plan):
        assert stand_in.submitted_count(granules) == 1, granules


def assert_file_matches_server(jobs_file: Path, stand_in: HyP3StandIn) -> JobsFile:
    json.loads(jobs_file.read_text())  # valid JSON
    store = JobsFile.load(jobs_file)
    assert store.known_job_ids() == set(stand_in.jobs), "every job on the server is in the jobs file"
    return store


# ---- credentials ---------------------------------------------------------------------------------


def test_credentials_order_and_masking(tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(
        f"machine example.org login x password y\nmachine urs.earthdata.nasa.gov login alice password {PASSWORD}\n"
    )
    before = netrc.stat().st_mtime_ns
    explicit = Credentials.from_password(
        "bob", PASSWORD, source="QGIS authentication configuration 'abc1234'"
    )

    assert resolve_credentials(explicit, environ={"EARTHDATA_TOKEN": TOKEN}, netrc_path=netrc) is explicit
    from_env = resolve_credentials(environ={"EARTHDATA_TOKEN": f"  {TOKEN}\n"}, netrc_path=netrc)
    assert (from_env.kind, from_env.token, from_env.source) == (
        "token",
        TOKEN,
        "the EARTHDATA_TOKEN environment variable",
    )
    from_netrc = resolve_credentials(environ={}, netrc_path=netrc)
    assert (from_netrc.kind, from_netrc.username, from_netrc.password) == ("password", "alice", PASSWORD)
    assert str(netrc) in from_netrc.source
    # $NETRC is honoured like requests does
    assert resolve_credentials(environ={"NETRC": str(netrc)}).username == "alice"

    for creds in (explicit, from_env, from_netrc):
        for text in (repr(creds), str(creds), creds.described, f"{creds}"):
            assert TOKEN not in text and PASSWORD not in text
    assert "***" in repr(from_env)
    assert netrc.stat().st_mtime_ns == before  # never written

    with pytest.raises(CredentialsError) as missing:
        resolve_credentials(environ={}, netrc_path=tmp_path / "none")
    assert "AUTH" in str(missing.value) and "EARTHDATA_TOKEN" in str(missing.value)
    with pytest.raises(CredentialsError, match="not both"):
        Credentials.from_password("alice", "")
    with pytest.raises(CredentialsError, match="both a token"):
        Credentials(token=TOKEN, username="a", password="b")


def test_damaged_netrc_is_named_without_its_content(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine urs.earthdata.nasa.gov login alice password\n{PASSWORD} junk junk\n")
    with pytest.raises(CredentialsError) as error:
        resolve_credentials(environ={}, netrc_path=netrc)
    assert str(netrc) in str(error.value) and PASSWORD not in str(error.value)


def test_token_and_a_refused_token(stand_in: HyP3StandIn) -> None:
    client = make_client(stand_in)
    assert client.user()["user_id"] == "insarhub_tester"
    assert client.remaining_credits() == 1000

    wrong = "tok-wrong-SECRET"
    endpoints = Endpoints(hyp3_url=stand_in.url)
    creds = resolve_credentials(environ={"EARTHDATA_TOKEN": wrong})
    bad = Hyp3Client.connect(endpoints, creds, retry=RetryPolicy(attempts=3, sleep=Sleeps()))
    with pytest.raises(CredentialsError) as error:
        bad.user()
    message = str(error.value)
    assert "EARTHDATA_TOKEN environment variable" in message and "401" in message
    assert wrong not in message and TOKEN not in message
    assert len(stand_in.requests_for("GET", "/user")) == 3  # two good ones; the 401 is not retried


class _LoopbackLogin(BaseHTTPRequestHandler):
    """Stands in for urs.earthdata.nasa.gov's OAuth page: Basic auth in, ``asf-urs`` cookie out."""

    expected = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        ok = self.headers.get("Authorization") == f"Basic {self.expected}"
        self.send_response(200 if ok else 401)
        if ok:
            self.send_header("Set-Cookie", "asf-urs=loopback-session; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_username_password_login(
    make_stand_in: Callable[..., HyP3StandIn], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hyp3_sdk.util

    server = ThreadingHTTPServer(("127.0.0.1", 0), _LoopbackLogin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(
            hyp3_sdk.util, "AUTH_URL", f"http://127.0.0.1:{server.server_address[1]}/oauth/authorize"
        )
        stand_in = make_stand_in(token=None)  # accepts the asf-urs cookie
        endpoints = Endpoints(hyp3_url=stand_in.url)
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine urs.earthdata.nasa.gov login alice password {PASSWORD}\n")
        client = Hyp3Client.connect(endpoints, resolve_credentials(environ={}, netrc_path=netrc))
        assert client.user()["user_id"] == "insarhub_tester"

        netrc.write_text("machine urs.earthdata.nasa.gov login alice password wrong-SECRET\n")
        with pytest.raises(CredentialsError) as error:
            Hyp3Client.connect(endpoints, resolve_credentials(environ={}, netrc_path=netrc))
        assert str(netrc) in str(error.value) and "alice" in str(error.value)
        assert "wrong-SECRET" not in str(error.value)
    finally:
        server.shutdown()
        server.server_close()


# ---- job specs, plans and costs ------------------------------------------------------------------


def test_shipped_job_specs_match_hyp3_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    shipped = json.loads(SPECS_FILE.read_text())
    assert sorted(shipped) == sorted(JOB_TYPES)
    for job_type in JOB_TYPES:
        copy = SHIPPED_SPECS / f"{job_type}.yml"
        spec = yaml.safe_load(copy.read_text())[job_type]
        expected = json.loads(
            json.dumps(
                {k: spec[k] for k in ("required_parameters", "parameters", "cost_profiles", "validators")}
            )
        )
        assert shipped[job_type] == expected, f"regenerate {SPECS_FILE.name} from {copy.name}"
        if SHARED_SPECS.is_dir():
            assert copy.read_bytes() == (SHARED_SPECS / f"{job_type}.yml").read_bytes(), (
                f"{copy} differs from HyP3's"
            )


def test_plan_fills_defaults_orders_pairs_and_names_jobs() -> None:
    plan = plan_jobs(
        [(slc(D[1]), slc(D[0])), {"reference": slc(D[0]), "secondary": slc(D[1])}],
        "insar_gamma",
        {"LOOKS": "10x2", "include_dem": True, "PHASE_FILTER_PARAMETER": None},
        "My Project",
    )
    assert len(plan.jobs) == 1 and plan.notes  # the same pair twice
    job = plan.jobs[0]
    assert job.reference == (slc(D[0]),) and job.secondary == (slc(D[1]),)
    assert job.job_parameters["granules"] == [slc(D[0]), slc(D[1])]
    assert job.job_parameters["looks"] == "10x2" and job.job_parameters["include_dem"] is True
    assert job.job_parameters["phase_filter_parameter"] == 0.6
    assert job.name.startswith("My_Project_") and len(job.name) <= 100
    assert job.credit_cost == 15

    again = plan_jobs(
        [(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {"looks": "10x2", "INCLUDE_DEM": True}, "My Project"
    )
    assert again.jobs[0].name == job.name  # deterministic
    other = plan_jobs(
        [(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {"looks": "20x4", "INCLUDE_DEM": True}, "My Project"
    )
    assert other.jobs[0].name != job.name
    long = plan_jobs([(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", None, "x" * 300)
    assert len(long.jobs[0].name) == 100

    multi = plan_jobs(
        [([burst(D[1], 136232, second=15), burst(D[1])], f"{burst(D[0])}, {burst(D[0], 136232, second=15)}")],
        "INSAR_ISCE_MULTI_BURST",
        {"LOOKS": "5x1", "INCLUDE_DEM": False, "PHASE_FILTER_PARAMETER": 0.6},  # other types' unset options
        "p",
    )
    params = multi.jobs[0].job_parameters
    assert params["reference"] == [burst(D[0]), burst(D[0], 136232, second=15)]
    assert params["secondary"] == [burst(D[1]), burst(D[1], 136232, second=15)]
    assert multi.jobs[0].credit_cost == 5  # 5x1 with 2 bursts


@pytest.mark.parametrize(
    ("pairs", "job_type", "options", "message"),
    [
        ([(slc(D[0]), slc(D[1]))], "RTC_GAMMA", {}, "JOB_TYPE must be one of"),
        ([(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {"LOOKS": "5x1"}, "LOOKS must be one of 20x4, 10x2"),
        ([(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {"PHASE_FILTER_PARAMETER": 1.5}, "at most 1.0"),
        ([(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {"INCLUDE_DEM": "yes"}, "true or false"),
        ([(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {"RESOLUTION": 30}, "not an option of INSAR_GAMMA"),
        ([(burst(D[0]), burst(D[1]))], "INSAR_ISCE_BURST", {"INCLUDE_DEM": True}, "applies to INSAR_GAMMA"),
        ([(slc(D[0])[:-1], slc(D[1]))], "INSAR_GAMMA", {}, "pair 1: 'S1A_IW_SLC"),
        ([(slc(D[0]), slc(D[0]))], "INSAR_GAMMA", {}, "the same granule"),
        ([(burst(D[0]), slc(D[1]))], "INSAR_GAMMA", {}, "not an IW SLC scene name"),
        ([(burst(D[0]), burst(D[1], 136232))], "INSAR_ISCE_BURST", {}, "not the same burst"),
        ([(burst(D[0], pol="VH"), burst(D[1], pol="VH"))], "INSAR_ISCE_BURST", {}, "only VV and HH"),
        ([([burst(D[0]), burst(D[0], 136232)], [burst(D[1])])], "INSAR_ISCE_BURST", {}, "one burst per side"),
        ([([burst(D[0])], [burst(D[1], 136232)])], "INSAR_ISCE_MULTI_BURST", {}, "same bursts"),
        ([([burst(D[0])], [burst(D[1]), burst(D[1], 136232)])], "INSAR_ISCE_MULTI_BURST", {}, "same number"),
        (
            [([burst(D[0], 136231 + i) for i in range(16)], [burst(D[1], 136231 + i) for i in range(16)])],
            "INSAR_ISCE_MULTI_BURST",
            {},
            "at most 15",
        ),
        ([(slc(D[0]), slc(D[1]))], "INSAR_GAMMA", {}, None),  # project name missing
        ([], "INSAR_GAMMA", {}, "No pairs"),
    ],
)
def test_plan_refuses_bad_input(pairs: list, job_type: str, options: dict, message: str | None) -> None:
    with pytest.raises(InputError) as error:
        plan_jobs(pairs, job_type, options, "" if message is None else "proj")
    assert (message or "PROJECT_NAME") in str(error.value)


def test_costs_match_the_server_and_what_it_charges(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    server = client.costs()
    bursts = [(burst(D[i]), burst(D[i + 1])) for i in range(2)]
    multi = [
        (
            [burst(D[0], 136231 + i, second=10 + i) for i in range(n)],
            [burst(D[1], 136231 + i, second=10 + i) for i in range(n)],
        )
        for n in (1, 5, 13)
    ]
    plans = [
        plan_jobs(SLC_PAIRS[:2], "INSAR_GAMMA", {"LOOKS": "10x2"}, "c"),
        plan_jobs(SLC_PAIRS[2:], "INSAR_GAMMA", {}, "c"),
        plan_jobs(bursts, "INSAR_ISCE_BURST", {"LOOKS": "5x1"}, "c"),
        plan_jobs(multi, "INSAR_ISCE_MULTI_BURST", {}, "c"),
        plan_jobs(multi, "INSAR_ISCE_MULTI_BURST", {"LOOKS": "5x1"}, "c"),
    ]
    expected = [30, 20, 2, 1 + 5 + 10, 1 + 20 + 100]
    for plan, cost in zip(plans, expected):
        assert plan.total_cost == cost
        assert client.total_cost(plan.requests()) == cost
        assert sum(job_cost(j.job_type, j.job_parameters, server) for j in plan.jobs) == cost
    assert local_costs()["INSAR_GAMMA"] == server["INSAR_GAMMA"]

    preview = preview_cost(plans[0], client)
    assert (preview.cost, preview.remaining_credits, preview.enough_credits) == (30, 1000, True)
    result = submit_jobs(plans[0], tmp_path / "jobs.json", client)
    assert result.cost == 30 and stand_in.credits == 970 and result.remaining_credits == 970
    assert preview_cost(plans[0], client, tmp_path / "jobs.json").jobs_to_submit == 0


# ---- submission ------------------------------------------------------------------------------------


def test_submit_records_everything_and_a_rerun_sends_nothing(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    jobs_file = tmp_path / "out" / "jobs.json"
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {"LOOKS": "20x4", "APPLY_WATER_MASK": True}, "etna")
    done: list[tuple[int, int]] = []
    result = submit_jobs(plan, jobs_file, client, progress=lambda d, t: done.append((d, t)))
    assert (result.submitted, result.adopted, result.already_submitted, result.cost) == (4, 0, 0, 40)
    assert done == [(4, 4)]

    text = jobs_file.read_text()
    data = json.loads(text)
    assert text.startswith("{\n  ")  # indented for people
    assert data["format"] == "insarhub-hyp3-jobs" and data["schema_version"] == 1
    assert data["hyp3_url"] == stand_in.url
    entry = data["pairs"][0]
    assert entry["reference"] == [slc(D[0])] and entry["secondary"] == [slc(D[1])]
    assert entry["job_type"] == "INSAR_GAMMA" and entry["job_parameters"]["apply_water_mask"] is True
    assert entry["project_name"] == "etna" and entry["status"] == "PENDING"
    assert entry["jobs"][0]["job_id"] == entry["job_ids"][0] and entry["jobs"][0]["origin"] == "submitted"
    assert entry["jobs"][0]["request_time"] and entry["jobs"][0]["credit_cost"] == 10
    assert entry["files"] == [] and "expiration_time" in entry
    # no temp files left; the lock file stays (removing it while another run waits would race)
    assert sorted(p.name for p in jobs_file.parent.iterdir()) == [".jobs.json.lock", "jobs.json"]

    again = submit_jobs(plan, jobs_file, client)
    assert (again.submitted, again.adopted, again.already_submitted) == (0, 0, 4)
    assert len(stand_in.requests_for("POST", "/jobs")) == 1
    assert_each_once(stand_in, plan)
    assert_file_matches_server(jobs_file, stand_in)


def test_503_and_429_on_submit_are_retried(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    sleeps = Sleeps()
    client = make_client(stand_in, sleeps)
    stand_in.fail_next("POST", "/jobs", status=503)
    stand_in.fail_next("POST", "/jobs", status=429, retry_after=3)
    stand_in.fail_next("GET", "/user", status=502, body=b"<html><h1>502 Bad Gateway</h1></html>")
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {}, "retry")
    result = submit_jobs(plan, tmp_path / "jobs.json", client)
    assert result.submitted == 4
    assert [r.status for r in stand_in.requests_for("POST", "/jobs")] == [503, 429, 200]
    # 0.5 s after the 503, Retry-After's 3 s after the 429, 0.5 s after the 502 (in cancellable steps)
    assert sum(sleeps) == 4.0 and max(sleeps) <= 0.5
    assert_each_once(stand_in, plan)
    assert_file_matches_server(tmp_path / "jobs.json", stand_in)


def test_lost_post_response_is_reconciled_not_resent(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    stand_in.lose_response_next("POST", "/jobs")
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {}, "lost")
    result = submit_jobs(plan, tmp_path / "jobs.json", client)
    assert result.submitted == 4  # found by name after the lost answer
    assert len(stand_in.requests_for("POST", "/jobs")) == 1  # never resent
    assert stand_in.credits == 1000 - 40
    assert_each_once(stand_in, plan)
    assert_file_matches_server(tmp_path / "jobs.json", stand_in)


def test_lost_response_on_the_last_attempt_is_found_by_a_rerun(
    stand_in: HyP3StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(stand_in, attempts=1)
    stand_in.lose_response_next("POST", "/jobs")

    original, calls = client.find_submitted, []

    def first_look_only(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:  # the last look after the lost answer: HyP3 is down by then
            raise Hyp3TransientError("HyP3 is down")
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "find_submitted", first_look_only)
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {}, "lost")
    with pytest.raises(Hyp3TransientError, match="found by name"):
        submit_jobs(plan, tmp_path / "jobs.json", client)
    assert JobsFile.load(tmp_path / "jobs.json").known_job_ids() == set()

    result = submit_jobs(plan, tmp_path / "jobs.json", make_client(stand_in))
    assert (result.submitted, result.adopted) == (0, 4)
    assert_each_once(stand_in, plan)
    assert_file_matches_server(tmp_path / "jobs.json", stand_in)


@pytest.mark.parametrize("restore", ["deleted", "plan-only", "older"])
def test_crash_between_submit_and_file_write(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore: str
) -> None:
    jobs_file = tmp_path / "jobs.json"
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {}, "crash")
    if restore == "older":  # an earlier run recorded the first pair; keep that version
        submit_jobs(plan_jobs(SLC_PAIRS[:1], "INSAR_GAMMA", {}, "crash"), jobs_file, client)
    backup = tmp_path / "backup.json"
    if jobs_file.exists():
        shutil.copy(jobs_file, backup)

    if restore == "plan-only":
        # The process dies right after HyP3 accepted the batch, before the file is rewritten.
        original = JobsFile.save
        calls = {"n": 0}

        def dying_save(self: JobsFile) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("simulated crash")
            original(self)

        monkeypatch.setattr(JobsFile, "save", dying_save)
        with pytest.raises(KeyboardInterrupt):
            submit_jobs(plan, jobs_file, client)
        monkeypatch.setattr(JobsFile, "save", original)
        assert JobsFile.load(jobs_file).known_job_ids() == set()  # the file says: nothing submitted
    else:
        submit_jobs(plan, jobs_file, client)
        if backup.exists():
            shutil.copy(backup, jobs_file)
        else:
            jobs_file.unlink()
    posts = len(stand_in.requests_for("POST", "/jobs"))

    result = submit_jobs(plan, jobs_file, client)
    assert result.submitted == 0
    assert result.adopted == (3 if restore == "older" else 4)
    assert len(stand_in.requests_for("POST", "/jobs")) == posts  # nothing sent again
    store = assert_file_matches_server(jobs_file, stand_in)
    assert_each_once(stand_in, plan)
    assert all(len(entry.jobs) == 1 for entry in store)


def test_over_budget_is_refused_with_both_numbers(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    stand_in = make_stand_in(credits=25)
    client = make_client(stand_in)
    plan = plan_jobs(SLC_PAIRS[:3], "INSAR_GAMMA", {}, "budget")
    with pytest.raises(InputError) as error:
        submit_jobs(plan, tmp_path / "jobs.json", client)
    assert "30 credits" in str(error.value) and "25 credits" in str(error.value)
    assert stand_in.requests_for("POST", "/jobs") == [] and stand_in.credits == 25

    dry = submit_jobs(plan, tmp_path / "dry.json", client, dry_run=True)
    assert (dry.cost, dry.remaining_credits) == (30, 25)
    assert any("30 credits" in n and "25 credits" in n for n in dry.notes)
    assert not (tmp_path / "dry.json").exists()


def test_dry_run_sends_and_writes_nothing_but_lets_hyp3_check(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {"LOOKS": "10x2"}, "dry")
    result = submit_jobs(plan, tmp_path / "jobs.json", client, dry_run=True)
    assert (result.dry_run, result.submitted, result.cost, result.remaining_credits) == (True, 0, 60, 1000)
    assert not (tmp_path / "jobs.json").exists() and stand_in.jobs == {}
    assert all(r.body["validate_only"] is True for r in stand_in.requests_for("POST", "/jobs"))

    stand_in.missing_granules.add(slc(D[3]))
    with pytest.raises(Hyp3ServiceError, match="could not be found"):
        submit_jobs(plan, tmp_path / "jobs.json", client, dry_run=True)
    assert stand_in.credits == 1000


def test_a_4xx_stops_at_once_with_hyp3s_detail(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    sleeps = Sleeps()
    client = make_client(stand_in, sleeps)
    stand_in.missing_granules.add(slc(D[2]))
    plan = plan_jobs(SLC_PAIRS, "INSAR_GAMMA", {}, "bad")
    with pytest.raises(Hyp3ServiceError) as error:
        submit_jobs(plan, tmp_path / "jobs.json", client)
    assert "Some requested scenes could not be found" in str(error.value) and slc(D[2]) in str(error.value)
    assert len(stand_in.requests_for("POST", "/jobs")) == 1 and sleeps == []
    assert JobsFile.load(tmp_path / "jobs.json").known_job_ids() == set()  # the plan is kept, nothing faked

    stand_in.fail_next("POST", "/jobs", status=400, body=b"<html>Bad request from a proxy</html>")
    stand_in.missing_granules.clear()
    with pytest.raises(Hyp3ServiceError, match="Bad request from a proxy"):  # non-JSON 4xx body
        submit_jobs(plan, tmp_path / "jobs.json", client)
    assert stand_in.jobs == {}


def test_unreachable_hyp3_is_a_clear_transient_error(tmp_path: Path) -> None:
    stand_in = HyP3StandIn(token=TOKEN, tmpdir=tmp_path / "b")
    url = stand_in.url
    stand_in.close()
    sleeps = Sleeps()
    client = Hyp3Client.connect(
        Endpoints(hyp3_url=url),
        Credentials.from_token(TOKEN),
        retry=RetryPolicy(attempts=3, base_delay_s=1, sleep=sleeps),
    )
    with pytest.raises(Hyp3TransientError) as error:
        client.user()
    assert url in str(error.value) and "3 attempts" in str(error.value)
    assert sleeps == [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # 1 s then 2 s, slept in cancellable steps


def test_batches_of_at_most_200_and_the_file_is_written_after_each(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    stand_in = make_stand_in(credits=1000, page_size=100)
    client = make_client(stand_in)
    dates = days(45, step=6)
    pairs = [(burst(dates[i]), burst(dates[j])) for i in range(45) for j in range(i + 1, min(45, i + 13))][
        :450
    ]
    plan = plan_jobs(pairs, "INSAR_ISCE_BURST", {}, "big")
    jobs_file = tmp_path / "jobs.json"
    on_disk: list[int] = []
    result = submit_jobs(
        plan,
        jobs_file,
        client,
        progress=lambda d, t: on_disk.append(len(JobsFile.load(jobs_file).known_job_ids())),
    )
    assert result.submitted == 450 and stand_in.credits == 550
    assert [len(r.body["jobs"]) for r in stand_in.requests_for("POST", "/jobs")] == [200, 200, 50]
    assert on_disk == [200, 400, 450]
    assert_each_once(stand_in, plan)
    assert_file_matches_server(jobs_file, stand_in)


def test_conflicting_parameters_and_foreign_files_are_refused(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    jobs_file = tmp_path / "jobs.json"
    submit_jobs(plan_jobs(SLC_PAIRS[:1], "INSAR_GAMMA", {}, "p"), jobs_file, client)
    with pytest.raises(InputError, match="another jobs file"):
        submit_jobs(plan_jobs(SLC_PAIRS[:1], "INSAR_GAMMA", {"LOOKS": "10x2"}, "p"), jobs_file, client)
    data = json.loads(jobs_file.read_text())
    data["hyp3_url"] = "https://hyp3-api.asf.alaska.edu"
    jobs_file.write_text(json.dumps(data))
    with pytest.raises(InputError, match="belongs to the HyP3 API at https://hyp3-api.asf.alaska.edu"):
        submit_jobs(plan_jobs(SLC_PAIRS[:1], "INSAR_GAMMA", {}, "p"), jobs_file, client)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": "insarhub-hyp3-jobs", "pairs": [', "not valid JSON"),
        ('{"pairs": []}', "not an InSARHub HyP3 jobs file"),
        ('{"format": "insarhub-hyp3-jobs", "schema_version": 99, "pairs": []}', "newer InSARHub"),
        (
            '{"format": "insarhub-hyp3-jobs", "schema_version": 1, "pairs": [{"name": "a"}]}',
            "pairs[0]: 'job_type' is missing",
        ),
        (
            '{"format": "insarhub-hyp3-jobs", "schema_version": 1, "pairs": [{"name": "a", "job_type": "INSAR_GAMMA", '
            '"reference": ["x"], "secondary": ["y"], "job_parameters": {}, "jobs": [{"job_id": "nope", "status": "PENDING", '
            '"submitted_at": "2025-01-01T00:00:00+00:00"}]}]}',
            "pairs[0].jobs[0]: job_id 'nope' is not a HyP3 job id",
        ),
    ],
)
def test_a_damaged_jobs_file_is_reported(tmp_path: Path, content: str, message: str) -> None:
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(content)
    with pytest.raises(InputError) as error:
        JobsFile.load(jobs_file)
    assert message in str(error.value) and str(jobs_file) in str(error.value)


# ---- watch -------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def submitted(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path, pairs: list = SLC_PAIRS
) -> tuple[Path, Any]:
    plan = plan_jobs(pairs, "INSAR_GAMMA", {}, "w")
    submit_jobs(plan, tmp_path / "jobs.json", client)
    return tmp_path / "jobs.json", plan


def test_watch_polls_by_id_until_done_with_backoff(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    stand_in = make_stand_in(polls_per_state=2)
    client = make_client(stand_in)
    jobs_file, plan = submitted(stand_in, client, tmp_path)
    clock = FakeClock()
    seen: list[tuple[int, int]] = []
    result = watch(
        jobs_file,
        client,
        wait=True,
        timeout_s=3600,
        progress=lambda f, t: seen.append((f, t)),
        sleep=clock.sleep,
        clock=clock,
        poll_interval_s=10,
        max_poll_interval_s=20,
    )
    assert (result.succeeded, result.failed, result.running, result.timed_out) == (4, 0, 0, False)
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    # The first poll reconciles by name with one listing of the jobs requested since the pairs were
    # made (the stand-in counts that as one look at each job, as it does a GET by id); the status
    # itself always comes by job id, without a time window.
    assert result.polls == 4 and clock.t == 10 + 15 + 20
    listings = [r for r in stand_in.requests if r.path == "/jobs" and r.method == "GET"]
    assert len(listings) == 1 and list(listings[0].query) == ["start"]
    assert len(stand_in.requests_for("GET", "/jobs/")) == 4 * 4
    store = assert_file_matches_server(jobs_file, stand_in)
    for entry in store:
        assert entry.status == "SUCCEEDED" and entry.expiration_time
        assert [f.filename.endswith(".zip") for f in entry.files] == [True]
        assert entry.files[0].size and entry.files[0].url.startswith(stand_in.url)
    assert_each_once(stand_in, plan)


def test_watch_timeout_and_cancel(stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path) -> None:
    jobs_file, _ = submitted(stand_in, client, tmp_path)
    clock = FakeClock()
    result = watch(
        jobs_file, client, wait=True, timeout_s=100, sleep=clock.sleep, clock=clock, poll_interval_s=30
    )
    assert result.timed_out and result.running == 4 and clock.t == 100
    assert any("timeout" in line for line in result.messages())

    cancel = {"now": False}
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        cancel["now"] = clock.t > 5

    with pytest.raises(CancelledError):
        watch(
            jobs_file,
            client,
            wait=True,
            timeout_s=3600,
            sleep=sleep,
            clock=clock,
            is_cancelled=lambda: cancel["now"],
        )
    assert JobsFile.load(jobs_file).known_job_ids() == set(stand_in.jobs)


def test_retry_failed_resubmits_once_per_call(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    flaky, broken = SLC_PAIRS[0], SLC_PAIRS[1]
    once, always = fail_first(flaky), fail_always(broken)
    stand_in = make_stand_in(
        polls_per_state=1,
        outcome=lambda job: "FAILED" if "FAILED" in (once(job), always(job)) else "SUCCEEDED",
    )
    client = make_client(stand_in)
    jobs_file, plan = submitted(stand_in, client, tmp_path)
    clock = FakeClock()
    kwargs: dict[str, Any] = {
        "wait": True,
        "retry_failed": True,
        "sleep": clock.sleep,
        "clock": clock,
        "poll_interval_s": 1,
    }

    first = watch(jobs_file, client, **kwargs)
    assert (first.succeeded, first.failed) == (3, 1)
    assert len(first.resubmitted) == 2
    store = JobsFile.load(jobs_file)
    by_pair = {tuple(e.granules): e for e in store}
    assert [(j.origin, j.status) for j in by_pair[flaky].jobs] == [
        ("submitted", "FAILED"),
        ("retry", "SUCCEEDED"),
    ]
    # the broken pair failed again in this call: not retried a second time by the same call
    assert [(j.origin, j.status) for j in by_pair[broken].jobs] == [
        ("submitted", "FAILED"),
        ("retry", "FAILED"),
    ]
    assert first.failed_pairs and "log:" in first.failed_pairs[0]

    second = watch(jobs_file, client, **kwargs)
    assert second.resubmitted == [f"{by_pair[broken].name} ({by_pair[broken].describe()})"]
    store = JobsFile.load(jobs_file)
    assert len(store.find(by_pair[broken].name).jobs) == 3
    assert len(store.find(by_pair[flaky].name).jobs) == 2  # succeeded: never resubmitted
    assert stand_in.submitted_count(flaky) == 2 and stand_in.submitted_count(broken) == 3
    for granules in granule_sets(plan)[2:]:
        assert stand_in.submitted_count(granules) == 1
    assert_file_matches_server(jobs_file, stand_in)


def test_a_retry_whose_answer_was_lost_is_not_sent_twice(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    stand_in = make_stand_in(outcome=fail_first(SLC_PAIRS[0]))
    client = make_client(stand_in)
    jobs_file, _ = submitted(stand_in, client, tmp_path)
    stand_in.finish_all()
    stand_in.lose_response_next("POST", "/jobs")
    result = watch(jobs_file, client, retry_failed=True)
    assert len(result.resubmitted) == 1 and result.running == 1
    assert stand_in.submitted_count(SLC_PAIRS[0]) == 2
    assert len(stand_in.requests_for("POST", "/jobs")) == 2  # the first submission and one retry
    store = assert_file_matches_server(jobs_file, stand_in)
    assert [j.origin for j in store.pairs[0].jobs] == ["submitted", "retry"]


def test_retry_is_refused_when_credits_do_not_suffice(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path
) -> None:
    stand_in = make_stand_in(credits=40, outcome=fail_always(SLC_PAIRS[0]))
    client = make_client(stand_in)
    jobs_file, _ = submitted(stand_in, client, tmp_path)
    stand_in.finish_all()
    with pytest.raises(
        InputError, match="Resubmitting 1 jobs would cost 10 credits, but only 0 credits remain"
    ):
        watch(jobs_file, client, retry_failed=True)
    assert JobsFile.load(jobs_file).pairs[0].status == "FAILED"  # the refresh was saved


def test_jobs_unknown_to_the_server_are_reported_not_dropped(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    jobs_file, _ = submitted(stand_in, client, tmp_path)
    store = JobsFile.load(jobs_file)
    ghost = str(uuid.uuid4())
    stand_in.forget(store.pairs[0].jobs[0].job_id)  # HyP3 no longer has the pair's job at all
    store.pairs[0].jobs[0].job_id = ghost
    store.save()
    result = refresh(jobs_file, client)
    assert result.counts[UNKNOWN_TO_SERVER] == 1 and ghost in result.unknown[0]
    store = JobsFile.load(jobs_file)
    assert (
        len(store) == 4 and store.pairs[0].job_ids == [ghost] and store.pairs[0].status == UNKNOWN_TO_SERVER
    )
    watch(jobs_file, client, retry_failed=True)
    assert JobsFile.load(jobs_file).pairs[0].job_ids == [ghost]  # never resubmitted on its own


def test_refresh_adopts_jobs_of_never_recorded_pairs(
    stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path
) -> None:
    jobs_file, plan = submitted(stand_in, client, tmp_path)
    store = JobsFile.load(jobs_file)
    for entry in store:
        entry.jobs.clear()
    store.save()
    result = refresh(jobs_file, client)
    assert result.counts == {"PENDING": 4}
    assert [j.origin for e in JobsFile.load(jobs_file) for j in e.jobs] == ["adopted"] * 4
    assert_each_once(stand_in, plan)


def test_expiry_warnings_name_the_pairs(stand_in: HyP3StandIn, client: Hyp3Client, tmp_path: Path) -> None:
    jobs_file, _ = submitted(stand_in, client, tmp_path)
    stand_in.finish_all()
    assert refresh(jobs_file, client).succeeded == 4
    in_12_days = datetime.now(timezone.utc) + timedelta(days=12)
    soon = refresh(jobs_file, client, now=lambda: in_12_days)
    assert len(soon.expiring_soon) == 4 and soon.expired == []
    assert any("expire within 3 days" in line for line in soon.messages())

    stand_in.expire(next(iter(stand_in.jobs)))
    result = refresh(jobs_file, client, full=True)
    assert len(result.expired) == 1 and "resubmit" in result.expired[0] and slc(D[0]) in result.expired[0]
    assert JobsFile.load(jobs_file).pairs[0].is_expired(datetime.now(timezone.utc))


# ---- secrets ---------------------------------------------------------------------------------------


def test_no_password_or_token_is_written_anywhere(
    make_stand_in: Callable[..., HyP3StandIn], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from insarhub_qgis.core.hyp3 import download_products

    caplog.set_level(logging.DEBUG)
    stand_in = make_stand_in(polls_per_state=1, outcome=fail_first(SLC_PAIRS[0]))
    client = make_client(stand_in)
    messages: list[str] = []
    stand_in.fail_next("POST", "/jobs", status=503)
    stand_in.lose_response_next("POST", "/jobs")
    stand_in.fail_next("GET", "/jobs/", status=429, retry_after=1)
    jobs_file, _ = submitted(stand_in, client, tmp_path)
    clock = FakeClock()
    result = watch(
        jobs_file, client, wait=True, retry_failed=True, sleep=clock.sleep, clock=clock, poll_interval_s=1
    )
    messages += result.messages()
    stand_in.drop_download_after(100)
    products = download_products(
        jobs_file, tmp_path / "products", retry=RetryPolicy(attempts=3, sleep=Sleeps())
    )
    assert products.count == 4
    for bad in (Credentials.from_token("tok-other-SECRET", source="test"),):
        with pytest.raises(CredentialsError) as error:
            Hyp3Client(client.hyp3.__class__(api_url=stand_in.url, token=bad.token), credentials=bad).user()
        messages.append(str(error.value))
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine urs.earthdata.nasa.gov login alice password {PASSWORD}\n")
    messages.append(repr(resolve_credentials(environ={}, netrc_path=netrc)))

    texts = [caplog.text, *messages, *(r.getMessage() for r in caplog.records)]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != netrc:
            texts.append(path.read_bytes().decode("latin-1"))
    for text in texts:
        for secret in (TOKEN, PASSWORD, "tok-other-SECRET"):
            assert secret not in text
    assert_file_matches_server(jobs_file, stand_in)
