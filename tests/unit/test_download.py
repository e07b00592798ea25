"""core/download.py: the verified, resumable, parallel download engine and safe unzip,
against the loopback HyP3 product bucket (tests/fakes/hyp3.py) and its download faults."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from fakes.hyp3 import HyP3StandIn, product_name
from hyp3_sdk import HyP3
from insarhub_qgis.core.config import Endpoints
from insarhub_qgis.core.download import (
    DownloadItem,
    download_files,
    extract_zip_safely,
    format_bytes,
    retry_after_seconds,
)
from insarhub_qgis.core.errors import CancelledError, InputError, ServiceError
from insarhub_qgis.core.hyp3 import (
    Credentials,
    Hyp3Client,
    JobsFile,
    download_products,
    plan_jobs,
    submit_jobs,
)
from insarhub_qgis.core.retry import RetryPolicy

TOKEN = "dl-token-SECRET"
PRODUCT_BYTES = 600_000


def slc(day: str) -> str:
    return f"S1A_IW_SLC__1SDV_{day}T204513_{day}T204540_061237_07A332_A16A"


DAYS = ["20250101", "20250113", "20250125", "20250206", "20250218"]
PAIRS = [(slc(DAYS[i]), slc(DAYS[i + 1])) for i in range(4)]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_retry(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay_s=0.01, max_delay_s=0.02, sleep=Sleeps())


def big_product(directory: Path) -> Callable[[dict], Path]:
    """Products with ~600 kB of incompressible data, so a dropped connection has room to happen."""

    def factory(job: dict) -> Path:
        name = product_name(job)
        rng = random.Random(job["job_id"])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(
                f"{name}/{name}.txt", f"Reference Granule: {job['job_parameters']['granules'][0]}\n"
            )
            archive.writestr(f"{name}/{name}_unw_phase.tif", rng.randbytes(PRODUCT_BYTES))
        path = directory / job["job_id"] / f"{name}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue())
        return path

    return factory


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[HyP3StandIn]:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    with HyP3StandIn(
        token=TOKEN, polls_per_state=0, tmpdir=bucket, product_factory=big_product(bucket)
    ) as server:
        yield server
        assert server.errors == []


def finished_items(stand_in: HyP3StandIn, count: int = 4) -> list[DownloadItem]:
    """Submit ``count`` jobs with the real SDK, finish them, and list their product files."""
    hyp3 = HyP3(api_url=stand_in.url, token=TOKEN)
    batch = hyp3.submit_prepared_jobs([HyP3.prepare_insar_job(*pair, name="dl") for pair in PAIRS[:count]])
    stand_in.finish_all()
    items = []
    for job in hyp3.refresh(batch):
        for item in job.files:
            items.append(DownloadItem(item["url"], item["filename"], item["size"], key=job.job_id))
    return items


def gets(stand_in: HyP3StandIn, filename: str = "") -> list[Any]:
    return [r for r in stand_in.requests_for("GET", "/products/") if r.path.endswith(filename)]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def served_md5(stand_in: HyP3StandIn, item: DownloadItem) -> str:
    return hashlib.md5(next(stand_in.tmpdir.rglob(item.filename)).read_bytes()).hexdigest()


# ---- download_files -------------------------------------------------------------------------------


def test_parallel_downloads_are_verified_and_report_progress(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    items = finished_items(stand_in)
    seen: list[tuple[int, int, float | None]] = []
    report = download_files(
        items, tmp_path / "out", workers=4, retry=fast_retry(), progress=lambda *a: seen.append(a)
    )
    assert [o.status for o in report.outcomes] == ["downloaded"] * 4
    total = sum(i.size for i in items)
    assert seen[-1][:2] == (total, total) and all(b[0] <= b[1] for b in seen)
    assert [b[0] for b in seen] == sorted(b[0] for b in seen)  # never goes backwards
    for item, outcome in zip(items, report.outcomes):
        assert outcome.verified and outcome.path == tmp_path / "out" / item.filename
        assert outcome.md5 == md5(outcome.path) == served_md5(stand_in, item)  # checked against the ETag
    assert not list((tmp_path / "out").glob("*.part"))

    again = download_files(items, tmp_path / "out", retry=fast_retry())
    assert [o.status for o in again.outcomes] == ["skipped"] * 4
    assert len(gets(stand_in)) == 4  # nothing fetched twice


def test_a_dropped_connection_is_resumed_not_restarted(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    item = finished_items(stand_in, 1)[0]
    stand_in.drop_download_after(250_000)
    stand_in.drop_download_after(100_000)
    report = download_files([item], tmp_path, retry=fast_retry())
    outcome = report.outcomes[0]
    assert outcome.status == "downloaded" and md5(outcome.path) == served_md5(stand_in, item)
    ranges = [r.headers.get("range") for r in gets(stand_in, item.filename)]
    assert ranges == [None, "bytes=250000-", "bytes=350000-"]
    assert outcome.bytes_transferred == item.size  # every byte fetched once


def test_a_connection_that_made_progress_is_resumed_at_once(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    item = finished_items(stand_in, 1)[0]
    stand_in.drop_download_after(200_000)
    retry = fast_retry()
    report = download_files([item], tmp_path, retry=retry)
    assert report.outcomes[0].status == "downloaded"
    assert retry.sleep == []  # no backoff after a drop that delivered bytes


def test_5xx_and_429_are_retried(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    item = finished_items(stand_in, 1)[0]
    stand_in.fail_next("GET", "/products/", status=503)
    stand_in.fail_next("GET", "/products/", status=429, retry_after=0)
    retry = fast_retry()
    report = download_files([item], tmp_path, retry=retry)
    assert report.outcomes[0].status == "downloaded"
    assert [r.status for r in gets(stand_in)] == [503, 429, 200]
    assert retry.sleep  # backed off


def test_a_truncated_file_is_refused_and_never_named_as_complete(
    stand_in: HyP3StandIn, tmp_path: Path
) -> None:
    items = finished_items(stand_in, 2)
    stand_in.truncate_download(items[0].filename)
    report = download_files(items, tmp_path, retry=fast_retry(3))
    bad, good = report.outcomes
    assert bad.status == "failed" and "expected" in bad.error and str(items[0].size) in bad.error
    assert not (tmp_path / items[0].filename).exists()
    assert good.status == "downloaded"
    with pytest.raises(ServiceError, match="1 of 2 downloads failed"):
        report.raise_for_failures()

    stand_in.reset_faults()  # the server is fixed: the rerun completes it
    again = download_files(items, tmp_path, retry=fast_retry())
    assert [o.status for o in again.outcomes] == ["downloaded", "skipped"]
    assert md5(tmp_path / items[0].filename) == served_md5(stand_in, items[0])


def test_a_corrupted_file_is_caught_by_md5_and_zip_checks(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    items = finished_items(stand_in, 2)
    stand_in.corrupt_download(items[0].filename)
    report = download_files(items, tmp_path, retry=fast_retry(2))
    assert report.outcomes[0].status == "failed" and "MD5" in report.outcomes[0].error
    assert not (tmp_path / items[0].filename).exists() and report.outcomes[1].status == "downloaded"

    # Without a usable ETag (e.g. a multipart upload), the zip check still catches it.
    plain = DownloadItem(items[0].url, "again/" + items[0].filename, items[0].size)
    report = download_files([plain], tmp_path, retry=fast_retry(2), session=_no_etag_session())
    assert report.outcomes[0].status == "failed" and "zip" in report.outcomes[0].error


def _no_etag_session() -> Any:
    import requests

    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: r.headers.pop("ETag", None) and None)
    return session


def test_missing_files_fail_alone_and_403_names_credentials_or_expiry(
    stand_in: HyP3StandIn, tmp_path: Path
) -> None:
    items = finished_items(stand_in, 2)
    wrong = DownloadItem(items[0].url + "x", "nope.zip", 10)
    report = download_files([wrong, items[1]], tmp_path, retry=fast_retry())
    assert [o.status for o in report.outcomes] == ["failed", "downloaded"]
    assert "404" in report.outcomes[0].error and len(gets(stand_in, "nope.zip")) == 0  # URL ends in "x"

    stand_in.expired_status = 403
    stand_in.expire(items[0].key)
    with pytest.raises(ServiceError) as error:
        download_files([items[0]], tmp_path / "x", retry=fast_retry())
    assert "403" in str(error.value) and "EULA" in str(error.value) and "expired" in str(error.value)


def test_cancel_keeps_a_resumable_part_file(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    item = finished_items(stand_in, 1)[0]
    stand_in.bandwidth_limit(400_000)
    progress: list[int] = []
    with pytest.raises(CancelledError, match="resume"):
        download_files(
            [item],
            tmp_path,
            retry=fast_retry(),
            progress=lambda d, t, e: progress.append(d),
            is_cancelled=lambda: bool(progress) and progress[-1] > 100_000,
        )
    part = tmp_path / (item.filename + ".part")
    kept = part.stat().st_size
    assert 0 < kept < item.size and not (tmp_path / item.filename).exists()

    stand_in.bandwidth_limit(None)
    report = download_files([item], tmp_path, retry=fast_retry())
    assert report.outcomes[0].status == "downloaded" and report.outcomes[0].resumed_from == kept
    assert gets(stand_in)[-1].headers["range"] == f"bytes={kept}-"
    assert md5(tmp_path / item.filename) == served_md5(stand_in, item)


def test_not_enough_disk_space_is_refused_before_anything_is_fetched(
    stand_in: HyP3StandIn, tmp_path: Path
) -> None:
    items = finished_items(stand_in, 2)
    with pytest.raises(InputError) as error:
        download_files(items, tmp_path, free_space=lambda folder: 1000)
    needed = format_bytes(sum(i.size for i in items))
    assert f"need {needed} but only 1000 B are free" in str(error.value)
    assert gets(stand_in) == []


def test_unsafe_file_names_are_refused(tmp_path: Path) -> None:
    for name in ("../evil.zip", "/abs.zip", "C:/x.zip"):
        with pytest.raises(InputError, match="outside"):
            download_files([DownloadItem("http://127.0.0.1:9/x", name, 1)], tmp_path)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


# ---- extract_zip_safely -----------------------------------------------------------------------------


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("ok/a.txt", b"a"), ("../evil.txt", b"x")], "outside its folder"),
        ([("/etc/evil.txt", b"x")], "outside its folder"),
        ([("ok/../../evil.txt", b"x")], "outside its folder"),
        ([("C:\\evil.txt", b"x")], "outside its folder"),
        ([("ok/a.txt", b"a"), (_symlink("ok/link", "/etc/passwd"), b"/etc/passwd")], "symbolic link"),
    ],
)
def test_malicious_zips_are_refused_and_nothing_is_written(
    tmp_path: Path, members: list, message: str
) -> None:
    archive = _zip(tmp_path / "bad.zip", members)
    dest = tmp_path / "dest" / "inner"
    with pytest.raises(InputError, match=message):
        extract_zip_safely(archive, dest)
    assert not dest.exists() or list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["bad.zip"]


def test_a_damaged_zip_is_refused_and_a_good_one_unpacked(tmp_path: Path) -> None:
    good = _zip(tmp_path / "P.zip", [("P/P.txt", b"metadata"), ("P/P_unw_phase.tif", os.urandom(5000))])
    created = extract_zip_safely(good, tmp_path / "out")
    assert (
        created == [tmp_path / "out" / "P"] and (tmp_path / "out" / "P" / "P.txt").read_bytes() == b"metadata"
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["P"]  # no staging folder left
    assert extract_zip_safely(good, tmp_path / "out") == created  # unpacked before: left as it is

    data = bytearray(good.read_bytes())
    index = data.find(b"metadata")
    data[index] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match="CRC"):
        extract_zip_safely(damaged, tmp_path / "out2")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(InputError, match="download it again"):
        extract_zip_safely(truncated, tmp_path / "out3")
    assert not (tmp_path / "out2" / "P").exists() and not (tmp_path / "out3" / "P").exists()


# ---- download_products ------------------------------------------------------------------------------


def test_download_products_from_a_jobs_file(stand_in: HyP3StandIn, tmp_path: Path) -> None:
    client = Hyp3Client.connect(
        Endpoints(hyp3_url=stand_in.url), Credentials.from_token(TOKEN), retry=fast_retry()
    )
    jobs_file = tmp_path / "jobs.json"
    submit_jobs(plan_jobs(PAIRS, "INSAR_GAMMA", {}, "dl"), jobs_file, client)
    stand_in.finish_all()
    ids = list(stand_in.jobs)
    stand_in.expire(ids[3])  # expired before anyone downloaded it
    stand_in.drop_download_after(200_000, target=ids[0])
    stand_in.truncate_download(ids[1])
    out = tmp_path / "products"

    result = download_products(jobs_file, out, client=client, retry=fast_retry(3), workers=3)
    assert len(result.downloaded) == 2 and len(result.failed) == 1 and len(result.expired) == 1
    assert slc(DAYS[3]) in result.expired[0] and "resubmit" in result.expired[0]
    assert slc(DAYS[1]) in result.failed[0]
    for folder in result.downloaded:
        assert folder.is_dir() and (folder / f"{folder.name}_unw_phase.tif").stat().st_size == PRODUCT_BYTES
    assert not list(out.glob("*.zip")) and not list(out.glob("*.part"))
    resumed = [r.headers.get("range") for r in gets(stand_in) if ids[0] in r.path]
    assert resumed == [None, "bytes=200000-"]

    store = JobsFile.load(jobs_file)
    json.loads(jobs_file.read_text())
    files = {e.latest.job_id: e.files[0] for e in store}
    assert files[ids[0]].verified and Path(files[ids[0]].path) in result.downloaded
    assert files[ids[0]].bytes_downloaded == files[ids[0]].size and files[ids[0]].md5
    assert not files[ids[1]].verified and files[ids[1]].error
    assert not files[ids[3]].verified

    stand_in.reset_faults()
    stand_in.clear_requests()
    again = download_products(jobs_file, out, retry=fast_retry())  # offline state: no client
    assert len(again.skipped) == 2 and len(again.downloaded) == 1 and len(again.expired) == 1
    assert [r.path.split("/")[2] for r in gets(stand_in)] == [ids[1]]  # only the missing one
    store = JobsFile.load(jobs_file)
    assert sum(f.verified for e in store for f in e.files) == 3
