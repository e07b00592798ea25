"""Download the Sentinel-1 SLC zips and bursts of footprint records (``insarhub:downloadscenes``).

What is downloaded, per footprint record (as ``asf_search`` resolves it from the stored CMR
record, see :func:`~insarhub_qgis.core.records.scene_files`):

* an **SLC**: its zip from the record's ``url`` (``datapool.asf.alaska.edu``), checked against
  the record's ``bytes`` (exact size) and ``md5sum``, and the zip's own CRCs;
* a **burst**: the GeoTIFF that ASF's burst extractor cuts out of its SLC at the record's
  ``url`` (``sentinel1-burst.asf.alaska.edu/<SLC>/<IW>/<POL>/<index>.tiff``) *and* the burst's
  XML metadata from ``additionalUrls`` (``.../<index>.xml``), named ``<fileID>.tiff`` and
  ``<fileID>.xml`` as ``asf_search``'s ``S1BurstProduct`` names them. Burst processors
  (burst2safe, ISCE) need both. A burst record's ``bytes`` (CMR's ``BYTE_LENGTH``) is the length
  of the burst's samples inside the SLC, not the size of the extracted GeoTIFF, so it is used
  only to estimate disk space and progress; the files are checked against the server's
  ``Content-Length`` (and a plain-MD5 ``ETag`` when the server sends one). The extractor
  answers ``202 Accepted`` while it works; the engine asks again.

Files go to ``<output folder>/<stack>/`` (stack: ``P94_F210`` or a full burst id). The
download itself is :func:`~insarhub_qgis.core.download.download_files`: ``.part`` files
resumed with HTTP ``Range``, retries, parallel workers, progress in bytes with ETA, cancel,
and the free disk space checked before starting.

A small manifest, ``<output folder>/.insarhub-downloads.json``, records every verified file
(size, MD5, modification time) so that a rerun skips complete files without a request and
without reading them again; files whose record gives no exact size (bursts) could not be
recognised as complete otherwise. Without the manifest, SLC zips are still recognised (size
and MD5 from the record); bursts are downloaded again.

Authentication (:func:`asf_download_session`): an Earthdata **token** is sent as
``Authorization: Bearer`` (ASF's download hosts accept it; nothing is requested before the
first download); a **username/password** logs in through ``asf_search``'s
``ASFSession.auth_with_creds`` (Earthdata Login hands back a token and the ``asf-urs`` cookie
the burst extractor wants). Where the credentials may go is decided by
:mod:`~insarhub_qgis.core.netpolicy` for every request of the session (redirects included):
HTTPS to ASF's hosts and Earthdata Login, and the configured download base; a redirect to the
signed S3/CloudFront URLs ASF hands out goes without them. A footprint whose URL points to any
other host (a hostile CMR answer, an edited GeoPackage) is not downloaded at all: it is listed
as failed with the host named. Sandboxes and tests point the downloads at a loopback stand-in
with ``INSARHUB_ASF_DOWNLOAD_BASE`` (:func:`insarhub_qgis.core.config.rewrite_asf_url`) and use
a token, since a username/password login always goes to Earthdata.

No secret is printed, logged or written: messages name the credentials' *source* only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from .config import Endpoints
from .download import (
    CancelCheck,
    DownloadItem,
    DownloadOutcome,
    FreeSpace,
    ProgressCallback,
    RetryPolicy,
    check_writable_folder,
    download_files,
)
from .errors import InputError, ServiceError, TransientServiceError
from .hyp3.credentials import EARTHDATA_HOST, Credentials, CredentialsError
from .netpolicy import CredentialPolicy, guard_session
from .oserrors import StorageError, describe_os_error

__all__ = [
    "BURST_EXTRA_BYTES",
    "MANIFEST_NAME",
    "Scene",
    "SceneDownloadResult",
    "asf_download_session",
    "download_scenes",
    "scenes_from_records",
    "stack_folder_name",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = ".insarhub-downloads.json"
# A burst's GeoTIFF header and its XML metadata, on top of the burst's raw sample bytes
# (a generous allowance for the disk-space check).
BURST_EXTRA_BYTES = 1024 * 1024
_HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Scene:
    """One footprint's files: ``name`` (scene or burst name), ``stack`` (its subfolder),
    ``items`` (SLC: the zip; burst: GeoTIFF then XML) and ``estimated_bytes`` (the record's
    ``bytes``: an SLC zip's exact size; a burst's raw sample bytes, a little less than its
    GeoTIFF)."""

    name: str
    stack: str
    processing_level: str
    items: tuple[DownloadItem, ...]
    estimated_bytes: int


@dataclass
class SceneDownloadResult:
    """What :func:`download_scenes` did.

    ``complete`` names the scenes whose every file is present and verified; ``downloaded``
    and ``skipped`` are file paths; ``failed`` holds ``"<stack>/<file>: <reason>"`` lines;
    ``bytes_present`` is the size of the verified files, ``bytes_transferred`` what this run
    fetched.
    """

    output_folder: Path
    scenes: list[Scene] = field(default_factory=list)
    complete: list[str] = field(default_factory=list)
    downloaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bytes_present: int = 0
    bytes_transferred: int = 0

    @property
    def count(self) -> int:
        """Scenes (SLC zips or bursts) present and verified in the output folder."""
        return len(self.complete)

    @property
    def stacks(self) -> list[str]:
        """The stack subfolders, sorted."""
        return sorted({scene.stack for scene in self.scenes})

    def raise_for_failures(self) -> None:
        """Raise :class:`ServiceError` naming every file that failed (no-op when none did)."""
        if self.failed:
            raise ServiceError(
                f"{len(self.failed)} file(s) could not be downloaded: " + "; ".join(self.failed) + ". "
                "Nothing was kept under their names. Run the download again to retry them; complete "
                "files are skipped and partial ones resume."
            )


# ---- records -> files ---------------------------------------------------------------------------


def stack_folder_name(stack: str) -> str:
    """A stack id as a safe folder name (``P94_F210``, ``174_372326_IW3``; other characters -> ``_``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(stack or "").strip()).strip("._")
    return name or "unknown_stack"


def _file_name(name: str, what: str) -> str:
    """A plain file name (no folder, nothing to climb out of the stack folder)."""
    name = PurePosixPath(name.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise InputError(f"Cannot derive a file name for {what}.")
    return name


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _download_url(url: str, scene: str, endpoints: Endpoints) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"The footprint '{scene}' has no usable download URL ({url or 'empty'}); run "
            "insarhub:searchscenes again and use its output."
        )
    return endpoints.asf_download_url(url)


def scenes_from_records(
    records: Iterable[Mapping[str, Any]], endpoints: Endpoints | None = None
) -> list[Scene]:
    """The files to download for footprint records (duplicates of a file are dropped).

    Each record's files are read from its ``umm`` field as asf_search reads them (no network,
    :func:`~insarhub_qgis.core.records.scene_files`); a record without ``umm`` falls back to its
    own ``url``, ``bytes``, ``md5sum`` and ``additionalUrls``.
    URLs are passed through ``endpoints.asf_download_url`` (the sandbox rewrite).

    Raises:
        InputError: a record without a usable URL or with a damaged ``umm``.
    """
    from .records import scene_files, stack_id

    endpoints = endpoints or Endpoints()
    scenes: list[Scene] = []
    seen: set[str] = set()
    for record in records:
        props = scene_files(record)
        # SLC: the scene name (its fileID ends in "-SLC"); burst: asf_search sets sceneName = fileID.
        name = str(props.get("sceneName") or props.get("fileID") or record.get("sceneName") or "").strip()
        level = str(props.get("processingLevel") or record.get("processingLevel") or "").upper()
        stack = stack_folder_name(
            record.get("stack") or stack_id({**props, "burstId": record.get("burstId")})
        )
        url = _download_url(str(props.get("url") or ""), name or "?", endpoints)
        original = str(props.get("url") or "")
        size = _int_or_none(props.get("bytes"))
        md5 = str(props.get("md5sum") or "").strip().lower() or None
        if md5 in ("none", "null"):
            md5 = None
        items: list[DownloadItem] = []
        if level == "BURST":
            extension = PurePosixPath(urlsplit(original).path).suffix or ".tiff"
            file_name = _file_name(str(props.get("fileName") or f"{name}{extension}"), f"burst {name}")
            stem = file_name.rsplit(".", 1)[0]
            items.append(DownloadItem(url, f"{stack}/{file_name}", None, md5, key=name))
            extra = props.get("additionalUrls") or []
            if isinstance(extra, str):
                try:
                    extra = json.loads(extra)
                except json.JSONDecodeError:
                    extra = [extra]
            for extra_url in extra:
                if str(extra_url).lower().split("?")[0].endswith(".xml"):
                    items.append(
                        DownloadItem(
                            _download_url(str(extra_url), name, endpoints), f"{stack}/{stem}.xml", key=name
                        )
                    )
            estimate = size or 0
        else:
            file_name = _file_name(
                str(props.get("fileName") or PurePosixPath(urlsplit(original).path).name), f"scene {name}"
            )
            items.append(DownloadItem(url, f"{stack}/{file_name}", size, md5, key=name))
            estimate = size or 0
        items = [item for item in items if item.filename not in seen]
        if not items:
            continue
        seen.update(item.filename for item in items)
        scenes.append(Scene(name, stack, level, tuple(items), estimate))
    return scenes


# ---- authentication ---------------------------------------------------------------------------


def _bearer_auth(token: str) -> Any:
    """A requests auth object sending ``Authorization: Bearer <token>`` (beats a netrc entry)."""
    from requests.auth import AuthBase

    class _Bearer(AuthBase):
        def __call__(self, request: Any) -> Any:
            request.headers["Authorization"] = f"Bearer {token}"
            return request

        def __repr__(self) -> str:
            return "BearerAuth('***')"

    return _Bearer()


def asf_download_session(
    credentials: Credentials, endpoints: Endpoints | None = None, workers: int = 4
) -> Any:
    """An ``asf_search.ASFSession`` authenticated for ASF's download hosts.

    A token is attached to every request (no request is made here; a wrong token shows up as
    HTTP 401 on the first download). A username/password logs in at Earthdata Login through
    ``ASFSession.auth_with_creds``. When ``endpoints.asf_download_base`` is set (a sandbox) and
    ``endpoints.ca_bundle`` too, that CA file is trusted.

    Raises:
        CredentialsError: Earthdata Login refused the username/password (names the source).
        TransientServiceError: Earthdata Login could not be reached.
    """
    import requests
    from asf_search import ASFSession
    from asf_search.exceptions import ASFAuthenticationError

    endpoints = endpoints or Endpoints()
    session = guard_session(ASFSession(), CredentialPolicy.for_endpoints(endpoints), pool_size=max(4, workers))
    if endpoints.asf_download_base and endpoints.ca_bundle:
        session.verify = endpoints.ca_bundle
    if credentials.token:
        session.auth = _bearer_auth(credentials.token)
        return session
    try:
        session.auth_with_creds(credentials.username, credentials.password)
    except ASFAuthenticationError:
        session.close()
        raise CredentialsError(
            f"Earthdata Login refused {credentials.described}. Check them at https://{EARTHDATA_HOST}."
        ) from None
    except requests.RequestException as exc:
        session.close()
        raise TransientServiceError(
            f"Could not reach Earthdata Login ({EARTHDATA_HOST}) to log in with {credentials.described} "
            f"({type(exc).__name__}). Check the network connection and try again."
        ) from None
    return session


def _access_hint(credentials: Credentials | None) -> str:
    used = f" Credentials used: {credentials.described}." if credentials is not None else ""
    return (
        f"{used} Wrong, expired or missing Earthdata credentials give HTTP 401; an account that has not "
        f"accepted ASF's data EULA gives HTTP 401 or 403: log in at https://{EARTHDATA_HOST}, authorise the "
        "'Alaska Satellite Facility Data Access' application and accept the EULA (downloading one file "
        "from https://search.asf.alaska.edu asks for it), then run this again."
    )


# ---- the manifest of verified files ----------------------------------------------------------


def _load_manifest(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data.get("files", {}) if isinstance(data, dict) else {}
        return {str(k): dict(v) for k, v in files.items() if isinstance(v, dict)}
    except (OSError, ValueError, TypeError) as exc:
        # Only an optimisation: without it every file is verified again (or downloaded again).
        log.warning("Ignoring the unreadable download manifest %s (%s).", path, exc)
        return {}


def _save_manifest(path: Path, files: Mapping[str, Mapping[str, Any]]) -> None:
    payload = json.dumps({"version": 1, "files": dict(sorted(files.items()))}, indent=1)
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(describe_os_error(exc, f"write the download manifest {path}", rerun_resumes=True)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(payload)
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(
                describe_os_error(exc, f"write the download manifest {path}", rerun_resumes=True)
            ) from None
        raise


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _known_complete(final: Path, item: DownloadItem, entry: Mapping[str, Any] | None) -> bool:
    """True when the manifest vouches for ``final`` as it is now (size and mtime unchanged)."""
    if entry is None or not final.is_file():
        return False
    stat = final.stat()
    if stat.st_size != entry.get("size") or stat.st_mtime_ns != entry.get("mtime_ns"):
        return False
    if item.size is not None and item.size != entry.get("size"):
        return False
    return not (item.md5 and item.md5 != entry.get("md5"))


def _same_as_recorded(final: Path, item: DownloadItem, entry: Mapping[str, Any] | None) -> bool:
    """For a file the record gives no size or MD5 for (a burst): True when ``final`` was touched
    since it was verified (copied, restored) but still has the recorded size and MD5."""
    if entry is None or item.size is not None or item.md5 or not final.is_file():
        return False
    return final.stat().st_size == entry.get("size") and _md5_of(final) == entry.get("md5")


# ---- the download -------------------------------------------------------------------------------


def download_scenes(
    records: Iterable[Mapping[str, Any]],
    output_folder: str | Path,
    *,
    credentials: Credentials | None = None,
    endpoints: Endpoints | None = None,
    session: Any = None,
    workers: int = 4,
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    retry: RetryPolicy | None = None,
    free_space: FreeSpace | None = None,
    pending_timeout_s: float = 120.0,
    on_message: Callable[[str], None] | None = None,
) -> SceneDownloadResult:
    """Download the SLC zips / bursts of footprint ``records`` into ``output_folder/<stack>/``.

    Args:
        records: Footprint records (``read_records`` of a footprint layer).
        output_folder: Where the stack subfolders go (created if needed).
        credentials: Earthdata credentials; used to build the session when ``session`` is None.
        endpoints: For the sandbox URL rewrite and CA bundle (default: ASF's hosts).
        session: A ready ``requests`` session (tests); default :func:`asf_download_session`.
        workers: Files downloaded at the same time.
        progress: ``progress(bytes_done, bytes_total, eta_s)``, called from this thread;
            already complete files count as done, bursts count with their estimated size
            until the server says how big they are.
        is_cancelled: Polled from this thread; on cancel ``.part`` files stay for the next run.
        retry: Backoff for transient failures (default :class:`RetryPolicy`).
        free_space: ``free_space(folder) -> bytes`` (inject in tests).
        pending_timeout_s: How long a burst may stay "being extracted" (HTTP 202).
        on_message: Receives one-line notes for the log (skipped files...).

    Returns:
        A :class:`SceneDownloadResult`; files that failed are listed in it (see
        :meth:`SceneDownloadResult.raise_for_failures`).

    Raises:
        InputError: not enough free disk space (both sizes given), a record without a URL.
        ServiceError: HTTP 401/403 (credentials or EULA; says which credentials were used).
        CredentialsError: no credentials, or Earthdata Login refused them.
        CancelledError: cancelled.
    """
    endpoints = endpoints or Endpoints()
    output = Path(output_folder)
    check_writable_folder(output, "the scenes")
    scenes = scenes_from_records(records, endpoints)
    result = SceneDownloadResult(output, scenes)
    manifest_path = output / MANIFEST_NAME
    manifest = _load_manifest(manifest_path)
    say = on_message or (lambda _text: None)

    policy = CredentialPolicy.for_endpoints(endpoints)
    refused = {
        item.filename: policy.refusal(item.url, f"the download of {item.filename}")
        for scene in scenes
        for item in scene.items
        if not policy.allows(item.url)
    }
    for filename, why in refused.items():
        result.failed.append(
            f"{filename}: not downloaded: {why}. Use footprints written by insarhub:searchscenes (ASF's URLs)."
        )
    items: list[DownloadItem] = []
    touched = False
    done_bytes = 0  # complete files, counted as done in the progress
    estimate_left = 0  # bursts still to fetch: their estimated size
    extra_space = 0
    for scene in scenes:
        burst_estimate_each = scene.estimated_bytes if scene.processing_level == "BURST" else 0
        for position, item in enumerate(scene.items):
            if item.filename in refused:
                continue
            final = output / item.filename
            entry = manifest.get(item.filename)
            if _known_complete(final, item, entry) or _same_as_recorded(final, item, entry):
                if entry is not None and entry.get("mtime_ns") != final.stat().st_mtime_ns:
                    manifest[item.filename] = {**entry, "mtime_ns": final.stat().st_mtime_ns}
                    touched = True
                result.skipped.append(final)
                done_bytes += final.stat().st_size
                continue
            # Anything else goes to the engine, which verifies an existing SLC zip against the
            # record's size and MD5 (skipping it when intact) and downloads the rest.
            items.append(item)
            if item.size is None and position == 0 and burst_estimate_each:
                part = final.with_name(final.name + ".part")
                have = part.stat().st_size if part.is_file() else 0
                extra_space += max(0, burst_estimate_each + BURST_EXTRA_BYTES - have)
                estimate_left += burst_estimate_each
    if touched:
        _save_manifest(manifest_path, manifest)
    if result.skipped:
        say(f"{len(result.skipped)} file(s) already complete and verified: skipped without downloading.")

    def on_done(outcome: DownloadOutcome) -> None:
        key = outcome.item.filename
        if outcome.status in ("downloaded", "skipped"):
            stat = outcome.path.stat()
            manifest[key] = {
                "size": stat.st_size,
                "md5": outcome.md5 or _md5_of(outcome.path),
                "mtime_ns": stat.st_mtime_ns,
            }
            (result.downloaded if outcome.status == "downloaded" else result.skipped).append(outcome.path)
        else:
            manifest.pop(key, None)
            if outcome.status == "failed":
                result.failed.append(f"{key}: {outcome.error}")
        _save_manifest(manifest_path, manifest)

    # Bursts count with their estimated size until the server reports their real size.
    estimated_total = sum(item.size or 0 for item in items) + estimate_left

    def on_progress(done: int, total: int, eta_s: float | None) -> None:
        if progress is None:
            return
        total_now = max(total, estimated_total)
        if eta_s is not None and total > done:
            eta_s = eta_s * (total_now - done) / (total - done)
        progress(done + done_bytes, total_now + done_bytes, eta_s)

    if items:
        own_session = session is None
        if own_session:
            if credentials is None:
                raise CredentialsError("No Earthdata credentials were given for the download.")
            session = asf_download_session(credentials, endpoints, workers)
        try:
            report = download_files(
                items,
                output,
                session=session,
                workers=workers,
                progress=on_progress,
                is_cancelled=is_cancelled,
                retry=retry,
                free_space=free_space,
                extra_space_bytes=extra_space,
                on_item_done=on_done,
                pending_timeout_s=pending_timeout_s,
            )
        except ServiceError as exc:
            raise ServiceError(f"{exc}{_access_hint(credentials)}") from None
        finally:
            if own_session:
                session.close()
        result.bytes_transferred = report.bytes_transferred

    verified = set(result.downloaded + result.skipped)
    result.bytes_present = sum(path.stat().st_size for path in verified if path.is_file())
    if progress is not None and not result.failed:
        progress(result.bytes_present, result.bytes_present, 0.0)
    for scene in scenes:
        if all((output / item.filename) in verified for item in scene.items):
            result.complete.append(scene.name)
    return result
