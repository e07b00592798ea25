"""Submit, watch and download through ./scripts/qgis_process against the HyP3 stand-in that
loses responses, fails jobs and drops downloads: every pair ends with exactly one successful
job and an intact product, and no credit is spent twice."""

from __future__ import annotations

import json
import zipfile

import pytest
from fakes.cmr import CMRStandIn, load_fixture
from fakes.hyp3 import HyP3StandIn, fail_first
from process_helpers import clean_env, run_algorithm

pytestmark = pytest.mark.slow
TOKEN = "EDL-token-that-must-never-leak-7c1e"
BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")[:8]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hyp3-pairs")
    with CMRStandIn(BURSTS, tmpdir=folder) as cmr:
        env = clean_env(INSARHUB_CMR_HOST=cmr.host, INSARHUB_CA_BUNDLE=cmr.ca_file)
        names = ",".join(i["asf_properties"]["fileID"] for i in BURSTS)
        done, _ = run_algorithm("insarhub:searchscenes", {"GRANULES": names, "OUTPUT": folder / "f.gpkg"}, env=env)
        assert done.returncode == 0, done.stderr
    done, results = run_algorithm(
        "insarhub:selectpairs",
        {"INPUT": folder / "f.gpkg", "MAX_TEMPORAL_BASELINE": "", "MAX_PERP_BASELINE": "", "NEIGHBOURS": 2, "OUTPUT": folder / "pairs.gpkg"},
        env=clean_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "pairs.gpkg", results["PAIR_COUNT"]


def _pairs(path):
    import sqlite3

    with sqlite3.connect(path) as db:
        return [tuple(r) for r in db.execute("select reference, secondary from pairs")]


def test_dry_run_then_submit_watch_download_survive_faults(pairs_file, tmp_path):
    pairs_path, pair_count = pairs_file
    pairs = _pairs(pairs_path)
    assert len(pairs) == pair_count >= 5
    with HyP3StandIn(credits=100, polls_per_state=1, tmpdir=tmp_path / "server", outcome=fail_first(pairs[0])) as hyp3:
        env = clean_env(INSARHUB_HYP3_URL=hyp3.url, EARTHDATA_TOKEN=TOKEN)
        jobs = tmp_path / "jobs.json"
        common = {"PAIRS": pairs_path, "JOB_TYPE": "INSAR_ISCE_BURST", "PROJECT_NAME": "sitka", "JOBS_FILE": jobs}

        done, results = run_algorithm("insarhub:submitjobs", {**common, "DRY_RUN": True}, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert results["SUBMITTED"] == 0 and results["CREDITS"] == pair_count  # 1 credit per burst pair
        assert f"would cost {pair_count:g} credits; 100 credits remaining" in done.stdout
        assert not jobs.exists() and not hyp3.jobs

        # Too expensive: refused with both numbers, nothing sent.
        with HyP3StandIn(credits=2, tmpdir=tmp_path / "poor") as poor:
            done, _ = run_algorithm("insarhub:submitjobs", common | {"JOBS_FILE": tmp_path / "poor.json"}, env=env | {"INSARHUB_HYP3_URL": poor.url})
            assert done.returncode != 0
            assert f"cost {pair_count:g} credits" in done.stdout + done.stderr and "only 2 remain" in done.stdout + done.stderr
            assert not poor.jobs

        # The server accepts the jobs but the answer is lost; then a 503. The rerun must not pay twice.
        hyp3.lose_response_next("POST", "/jobs")
        hyp3.fail_next("POST", "/jobs", status=503)
        done, results = run_algorithm("insarhub:submitjobs", common, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        done, results = run_algorithm("insarhub:submitjobs", common, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert results["SUBMITTED"] == 0
        for reference, secondary in pairs:
            assert hyp3.submitted_count([reference, secondary]) == 1
        assert hyp3.credits == 100 - pair_count

        # Watch until done, resubmitting the pair whose first job fails.
        done, results = run_algorithm(
            "insarhub:watchjobs", {"JOBS_FILE": jobs, "WAIT": True, "RETRY_FAILED": True, "POLL_INTERVAL": 0.1, "TIMEOUT": 120}, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        if results["FAILED"] or results["RUNNING"]:  # the retried job finished after the last poll of that call
            done, results = run_algorithm("insarhub:watchjobs", {"JOBS_FILE": jobs, "WAIT": True, "POLL_INTERVAL": 0.1, "TIMEOUT": 120}, env=env)
        assert (results["SUCCEEDED"], results["FAILED"], results["RUNNING"]) == (pair_count, 0, 0)
        assert hyp3.submitted_count(list(pairs[0])) == 2  # the failed one, once more
        state = json.loads(jobs.read_text())
        first = next(p for p in state["pairs"] if set(p["reference"] + p["secondary"]) == set(pairs[0]))
        assert len(first["job_ids"]) == 2 and first["status"] == "SUCCEEDED"

        # Download with a connection dropped mid-body: resumed, every product intact.
        hyp3.drop_download_after(500)
        products = tmp_path / "products"
        done, results = run_algorithm("insarhub:downloadproducts", {"JOBS_FILE": jobs, "OUTPUT_FOLDER": products, "WORKERS": 2}, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert results["COUNT"] == pair_count
        folders = [p for p in products.iterdir() if p.is_dir()]
        assert len(folders) == pair_count
        for folder in folders:
            assert (folder / f"{folder.name}.txt").is_file()
        ranges = [r for r in hyp3.requests if r.method == "GET" and r.path.startswith("/products/") and r.headers.get("range")]
        assert ranges, "the dropped download was restarted instead of resumed"
        # A second run downloads nothing.
        done, results = run_algorithm("insarhub:downloadproducts", {"JOBS_FILE": jobs, "OUTPUT_FOLDER": products}, env=env)
        assert done.returncode == 0 and results["COUNT"] == pair_count

        # No secret anywhere we wrote or printed.
        written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".txt", ".log", ".gpkg")]
        for path in written:
            assert TOKEN not in path.read_text(errors="ignore"), path
        assert TOKEN not in done.stdout + done.stderr
        assert not hyp3.errors


def test_wrong_token_is_a_clear_error(pairs_file, tmp_path):
    pairs_path, _ = pairs_file
    with HyP3StandIn(token="the-right-one", tmpdir=tmp_path / "server") as hyp3:
        env = clean_env(INSARHUB_HYP3_URL=hyp3.url, EARTHDATA_TOKEN=TOKEN)
        done, _ = run_algorithm(
            "insarhub:submitjobs",
            {"PAIRS": pairs_path, "JOB_TYPE": "INSAR_ISCE_BURST", "JOBS_FILE": tmp_path / "j.json"},
            env=env,
        )
        output = done.stdout + done.stderr
        assert done.returncode != 0
        assert "EARTHDATA_TOKEN" in output and TOKEN not in output


def test_zip_product_is_intact(tmp_path):
    # The stand-in's products are zips with one top folder named like the zip (as HyP3's).
    from fakes.hyp3 import make_product_zip

    job = {"job_id": "00000000-0000-0000-0000-000000000001", "job_type": "INSAR_GAMMA", "job_parameters": {"granules": ["S1A_IW_SLC__1SDV_20200101T000000_20200101T000027_030000_037000_AAAA", "S1A_IW_SLC__1SDV_20200113T000000_20200113T000027_030175_037600_BBBB"]}}
    path = make_product_zip(job, tmp_path)
    names = zipfile.ZipFile(path).namelist()
    assert {n.split("/")[0] for n in names} == {path.stem}
