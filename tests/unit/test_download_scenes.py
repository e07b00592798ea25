"""core/download_scenes.py and the ASF download-host rewrite of core/config.py: SLC zips and
bursts of real CMR records (given small generated files) fetched from the loopback stand-in
of ASF's download hosts (tests/fakes/files.py), with asf_search's own ASFSession."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from asf_search import ASFSession
from asf_search.search.search_generator import as_ASFProduct
from fakes.cmr import load_fixture
from fakes.files import BURST_HEADER_BYTES, FileServer, give_small_files
from insarhub_qgis.core import config
from insarhub_qgis.core.config import Endpoints, rewrite_asf_url
from insarhub_qgis.core.download_scenes import (
    BURST_EXTRA_BYTES,
    MANIFEST_NAME,
    asf_download_session,
    download_scenes,
    scenes_from_records,
    stack_folder_name,
)
from insarhub_qgis.core.errors import CancelledError, ConfigurationError, InputError, ServiceError
from insarhub_qgis.core.hyp3.credentials import Credentials, CredentialsError
from insarhub_qgis.core.records import record_from_product
from insarhub_qgis.core.search import RetryPolicy

TOKEN = "EDL-scenes-token-never-print-3f9a"
SLC_STACK = "P94_F210"
BURST_STACK = "174_372326_IW3"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_retry(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay_s=0.01, max_delay_s=0.02, sleep=Sleeps())


def token() -> Credentials:
    return Credentials.from_token(TOKEN, source="the EARTHDATA_TOKEN environment variable")


def records_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Footprint records, as insarhub:searchscenes writes them, of CMR items."""
    session = ASFSession()
    return [
        record_from_product(as_ASFProduct({"umm": i["umm"], "meta": i["meta"]}, session))[0] for i in items
    ]


@pytest.fixture
def catalogue() -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    items = (
        load_fixture("s1_slc_fairbanks_p94_f210_stack") + load_fixture("s1_burst_174_372326_IW3_stack")[:2]
    )
    contents = give_small_files(items)
    return records_of(items), contents


@pytest.fixture
def server(catalogue) -> Any:
    with FileServer(token=TOKEN, prefix="asf") as stand_in:
        stand_in.serve(catalogue[1])
        yield stand_in
        assert stand_in.errors == []


def sandbox(stand_in: FileServer) -> Endpoints:
    return Endpoints(asf_download_base=stand_in.url)


def gets(stand_in: FileServer, name: str = "") -> list[Any]:
    return [r for r in stand_in.requests if r.method == "GET" and r.path.endswith(name)]


# ---- the sandbox rewrite (core/config.py) -------------------------------------------------------


def test_asf_download_urls_are_rewritten_to_the_sandbox_base_only():
    base = "http://127.0.0.1:8123/asf"
    slc = "https://datapool.asf.alaska.edu/SLC/SB/S1B_x.zip"
    burst = "https://sentinel1-burst.asf.alaska.edu/S1A_IW_SLC__x/IW3/VV/3.tiff?a=1"
    assert rewrite_asf_url(slc, base) == "http://127.0.0.1:8123/asf/SLC/SB/S1B_x.zip"
    assert rewrite_asf_url(burst, base + "/") == "http://127.0.0.1:8123/asf/S1A_IW_SLC__x/IW3/VV/3.tiff?a=1"
    assert rewrite_asf_url(slc, "") == slc
    for other in (
        "https://example.org/x.zip",
        "https://asf.alaska.edu.example.org/x.zip",
        "s3://bucket/x.zip",
    ):
        assert rewrite_asf_url(other, base) == other
    assert Endpoints(asf_download_base=base).asf_download_url(slc).startswith(base)
    assert Endpoints().asf_download_url(slc) == slc


def test_download_base_setting_env_wins_and_plain_http_only_for_loopback():
    assert config.ENV_BY_SETTING["asf_download_base"] == "INSARHUB_ASF_DOWNLOAD_BASE"
    assert config.resolve_endpoints({}, {}).asf_download_base == ""
    settings = {"asf_download_base": "http://127.0.0.1:1/"}
    assert config.resolve_endpoints(settings, {}).asf_download_base == "http://127.0.0.1:1"
    env = {"INSARHUB_ASF_DOWNLOAD_BASE": "https://files.sandbox.example/asf"}
    resolved = config.resolve_endpoints(settings, env)
    assert resolved.asf_download_base == "https://files.sandbox.example/asf"
    assert resolved.cmr_host == config.DEFAULT_CMR_HOST and resolved.is_default
    with pytest.raises(ConfigurationError, match="plain http"):
        config.resolve_endpoints({}, {"INSARHUB_ASF_DOWNLOAD_BASE": "http://files.example.org"})
    with pytest.raises(ConfigurationError, match="not a URL"):
        config.resolve_endpoints({}, {"INSARHUB_ASF_DOWNLOAD_BASE": "127.0.0.1:8000"})


# ---- records -> files ----------------------------------------------------------------------------


def test_slc_and_burst_records_become_the_files_asf_search_names(catalogue):
    records, contents = catalogue
    base = "http://127.0.0.1:9/asf"
    scenes = scenes_from_records(records + records[:1], Endpoints(asf_download_base=base))
    assert [s.stack for s in scenes] == [SLC_STACK] * 3 + [BURST_STACK] * 2  # the duplicate is dropped
    slc = scenes[0]
    (item,) = slc.items
    assert slc.name == records[0]["sceneName"] and slc.processing_level == "SLC"
    assert item.filename == f"{SLC_STACK}/{records[0]['sceneName']}.zip"
    assert item.url == rewrite_asf_url(records[0]["url"], base)
    assert item.size == len(contents[records[0]["url"]]) == records[0]["bytes"]
    assert item.md5 == hashlib.md5(contents[records[0]["url"]]).hexdigest()

    burst = scenes[3]
    tiff, xml = burst.items
    name = records[3]["fileID"]
    assert burst.name == name and burst.processing_level == "BURST"
    assert (tiff.filename, xml.filename) == (f"{BURST_STACK}/{name}.tiff", f"{BURST_STACK}/{name}.xml")
    assert tiff.url.startswith(base) and tiff.url.endswith(".tiff") and xml.url.endswith(".xml")
    # A burst's `bytes` (CMR BYTE_LENGTH) is its raw samples, not the GeoTIFF: no exact size check.
    assert tiff.size is None and xml.size is None
    assert burst.estimated_bytes == records[3]["bytes"]


def test_records_without_umm_fall_back_to_their_own_fields(catalogue):
    records, _ = catalogue
    plain = {k: v for k, v in records[0].items() if k not in ("umm", "cmrMeta")}
    (scene,) = scenes_from_records([plain])
    assert scene.items[0].url == records[0]["url"] and scene.items[0].size == records[0]["bytes"]
    with pytest.raises(InputError, match="no usable download URL"):
        scenes_from_records([{**plain, "url": ""}])
    assert stack_folder_name("../P94 F210") == "P94_F210" and stack_folder_name("") == "unknown_stack"


# ---- downloads -----------------------------------------------------------------------------------


def test_files_arrive_verified_per_stack_and_a_rerun_fetches_nothing(catalogue, server, tmp_path):
    records, contents = catalogue
    seen: list[tuple[int, int, float | None]] = []
    result = download_scenes(
        records,
        tmp_path,
        credentials=token(),
        endpoints=sandbox(server),
        workers=3,
        retry=fast_retry(),
        progress=lambda *a: seen.append(a),
    )
    assert result.count == 5 and not result.failed and result.stacks == [BURST_STACK, SLC_STACK]
    for record in records:
        if record["processingLevel"] == "SLC":
            path = tmp_path / SLC_STACK / f"{record['sceneName']}.zip"
            assert path.read_bytes() == contents[record["url"]]
        else:
            tiff = tmp_path / BURST_STACK / f"{record['fileID']}.tiff"
            assert tiff.read_bytes() == contents[record["url"]]
            assert tiff.stat().st_size == record["bytes"] + BURST_HEADER_BYTES
            assert tiff.with_suffix(".xml").read_bytes() == contents[record["url"].replace(".tiff", ".xml")]
    assert result.bytes_present == sum(len(c) for c in contents.values()) == result.bytes_transferred
    assert seen[-1][0] == seen[-1][1] == result.bytes_present
    assert all(done <= total for done, total, _ in seen)
    assert not list(tmp_path.rglob("*.part"))
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == 7 and TOKEN not in (tmp_path / MANIFEST_NAME).read_text()

    before = len(server.requests)
    again = download_scenes(
        records, tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
    )
    assert again.count == 5 and len(again.skipped) == 7 and again.bytes_transferred == 0
    assert len(server.requests) == before  # complete files: no request at all

    # Files touched since (copied, restored) are checked again, not fetched; a burst whose
    # content changed is fetched again.
    burst_tiff = tmp_path / BURST_STACK / f"{records[3]['fileID']}.tiff"
    zip_path = tmp_path / SLC_STACK / f"{records[0]['sceneName']}.zip"
    for path in (burst_tiff, zip_path):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    touched = download_scenes(
        records, tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
    )
    assert touched.count == 5 and touched.bytes_transferred == 0 and len(server.requests) == before
    damaged = bytearray(burst_tiff.read_bytes())
    damaged[500] ^= 0xFF
    burst_tiff.write_bytes(bytes(damaged))
    repaired = download_scenes(
        records, tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
    )
    assert repaired.count == 5 and [p.name for p in repaired.downloaded] == [burst_tiff.name]
    assert burst_tiff.read_bytes() == contents[records[3]["url"]]

    # Without the manifest the SLC zips are still recognised from the record's size and MD5.
    (tmp_path / MANIFEST_NAME).unlink()
    third = download_scenes(
        records, tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
    )
    assert third.count == 5 and len(gets(server, ".zip")) == 3


def test_a_burst_being_extracted_202_is_asked_for_again(catalogue, server, tmp_path):
    records, _ = catalogue
    burst = records[3]
    tiff_tail = "/".join(burst["url"].split("/")[-4:])
    server.pending(tiff_tail, count=2, retry_after=0.01)
    sleeps = Sleeps()
    result = download_scenes(
        [burst],
        tmp_path,
        credentials=token(),
        endpoints=sandbox(server),
        retry=RetryPolicy(attempts=2, sleep=sleeps),
    )
    assert result.count == 1
    statuses = [r.status for r in gets(server, tiff_tail)]
    assert statuses == [202, 202, 200]
    assert len(sleeps) >= 2  # it waited between the polls


def test_a_burst_that_stays_202_fails_after_the_pending_timeout(catalogue, server, tmp_path):
    records, _ = catalogue
    burst = records[3]
    tiff_tail = "/".join(burst["url"].split("/")[-4:])
    server.pending(tiff_tail, count=1000)
    result = download_scenes(
        [burst],
        tmp_path,
        credentials=token(),
        endpoints=sandbox(server),
        retry=RetryPolicy(attempts=2, sleep=Sleeps()),
        pending_timeout_s=5,
    )
    assert result.count == 0 and len(result.failed) == 1
    assert f"{BURST_STACK}/{burst['fileID']}.tiff" in result.failed[0] and "HTTP 202" in result.failed[0]
    assert len(gets(server, tiff_tail)) == 6  # polled every second for 5 s, then given up
    assert not (tmp_path / BURST_STACK / f"{burst['fileID']}.tiff").exists()


def test_a_dropped_connection_resumes_where_it_stopped(catalogue, server, tmp_path):
    records, contents = catalogue
    slc = records[0]
    name = f"{slc['sceneName']}.zip"
    server.drop_after(70_000, path=name)
    result = download_scenes(
        [slc], tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
    )
    assert result.count == 1
    requests = gets(server, name)
    assert [r.headers.get("range") for r in requests] == [None, "bytes=70000-"]
    assert server.bytes_sent(name) == len(contents[slc["url"]])  # nothing fetched twice


def test_wrong_size_and_md5_mismatch_fail_naming_the_file_and_keep_nothing(catalogue, server, tmp_path):
    records, _ = catalogue
    short, damaged, fine = (f"{r['sceneName']}.zip" for r in records[:3])
    server.truncate(short)
    server.corrupt(damaged)
    result = download_scenes(
        records[:3], tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry(2)
    )
    assert result.count == 1 and len(result.failed) == 2
    with pytest.raises(ServiceError) as caught:
        result.raise_for_failures()
    message = str(caught.value)
    assert f"{SLC_STACK}/{short}" in message and "expected" in message and "size" in message
    assert f"{SLC_STACK}/{damaged}" in message and "MD5" in message
    assert not (tmp_path / SLC_STACK / short).exists() and not (tmp_path / SLC_STACK / damaged).exists()
    assert (tmp_path / SLC_STACK / fine).is_file()
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]
    assert list(manifest) == [f"{SLC_STACK}/{fine}"]


def test_not_enough_disk_is_refused_before_anything_is_fetched(catalogue, server, tmp_path):
    records, contents = catalogue
    with pytest.raises(InputError) as caught:
        download_scenes(
            records, tmp_path, credentials=token(), endpoints=sandbox(server), free_space=lambda _p: 100_000
        )
    message = str(caught.value)
    assert "Not enough free disk space" in message and "97.7 KiB are free" in message
    needed = sum(len(c) for u, c in contents.items() if u.endswith(".zip")) + sum(
        r["bytes"] + BURST_EXTRA_BYTES for r in records if r["processingLevel"] == "BURST"
    )
    assert f"need {needed / 1024 / 1024:.1f} MiB" in message
    assert server.requests == []


def test_cancel_keeps_the_part_and_the_rerun_resumes_it(catalogue, server, tmp_path):
    records, contents = catalogue
    slc = records[0]
    name = f"{slc['sceneName']}.zip"
    part = tmp_path / SLC_STACK / f"{name}.part"
    size = len(contents[slc["url"]])
    server.bandwidth_limit(size / 2)  # about 2 s for the file

    def cancel_after_some_bytes() -> bool:
        return part.is_file() and part.stat().st_size >= 30_000

    with pytest.raises(CancelledError, match="partial file"):
        download_scenes(
            [slc],
            tmp_path,
            credentials=token(),
            endpoints=sandbox(server),
            retry=fast_retry(),
            is_cancelled=cancel_after_some_bytes,
        )
    kept = part.stat().st_size
    assert 30_000 <= kept < size and not (tmp_path / SLC_STACK / name).exists()

    server.bandwidth_limit(None)
    result = download_scenes(
        [slc], tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
    )
    assert result.count == 1 and (tmp_path / SLC_STACK / name).read_bytes() == contents[slc["url"]]
    last = gets(server, name)[-1]
    assert last.headers.get("range") == f"bytes={kept}-" and last.sent == size - kept


def test_401_and_403_say_what_to_check_without_the_token(catalogue, server, tmp_path):
    records, _ = catalogue
    wrong = Credentials.from_token("not-the-token-8812", source="the EARTHDATA_TOKEN environment variable")
    with pytest.raises(ServiceError) as caught:
        download_scenes(
            records[:1], tmp_path, credentials=wrong, endpoints=sandbox(server), retry=fast_retry()
        )
    message = str(caught.value)
    assert "HTTP 401" in message and "EARTHDATA_TOKEN" in message and "EULA" in message
    assert "not-the-token-8812" not in message and TOKEN not in message

    server.deny(403)
    with pytest.raises(ServiceError) as caught:
        download_scenes(
            records[:1], tmp_path, credentials=token(), endpoints=sandbox(server), retry=fast_retry()
        )
    message = str(caught.value)
    assert "HTTP 403" in message and "EULA" in message and TOKEN not in message
    assert not list(tmp_path.rglob("*.zip"))


def test_password_credentials_log_in_through_asf_search(monkeypatch):
    from asf_search import ASFSession
    from asf_search.exceptions import ASFAuthenticationError

    calls: list[tuple[str, str]] = []

    def accept(self, username, password):
        calls.append((username, password))
        self.headers["Authorization"] = "Bearer from-earthdata"
        return self

    monkeypatch.setattr(ASFSession, "auth_with_creds", accept)
    login = Credentials.from_password(
        "edl-user", "pa55-word", source="~/.netrc (machine urs.earthdata.nasa.gov)"
    )
    session = asf_download_session(login)
    assert isinstance(session, ASFSession) and calls == [("edl-user", "pa55-word")]
    session.close()

    def refuse(self, username, password):
        raise ASFAuthenticationError("Failed to log in with provided credentials. 401")

    monkeypatch.setattr(ASFSession, "auth_with_creds", refuse)
    with pytest.raises(CredentialsError) as caught:
        asf_download_session(login)
    assert (
        "edl-user" in str(caught.value)
        and ".netrc" in str(caught.value)
        and "pa55-word" not in str(caught.value)
    )

    # A token is sent as a bearer token, and wins over a netrc 'default' entry.
    session = asf_download_session(token())
    prepared = session.prepare_request(requests.Request("GET", "http://127.0.0.1:9/x"))
    assert prepared.headers["Authorization"] == f"Bearer {TOKEN}" and TOKEN not in repr(session.auth)
    session.close()


def test_sandbox_ca_bundle_is_trusted_only_for_the_rewritten_host(tmp_path: Path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert asf_download_session(token(), Endpoints(ca_bundle=str(ca))).verify is True
    rewritten = Endpoints(ca_bundle=str(ca), asf_download_base="https://127.0.0.1:8443")
    assert asf_download_session(token(), rewritten).verify == str(ca)
