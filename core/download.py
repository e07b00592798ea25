"""The generic download engine: verified, resumable, parallel, bounded; and safe unzipping.

Used by SLC/burst downloads (:mod:`.download_scenes`) and HyP3 product downloads
(:mod:`.hyp3.products`). ``hyp3_sdk`` (with requests 2.28 / urllib3 1.26) accepts a connection
dropped mid-body as a normal end of file and writes straight to the final name, so a short or
damaged file looks complete. This engine instead:

* downloads to ``<name>.part`` and renames only a verified file to ``<name>``;
* writes every byte that arrived and resumes a ``.part`` from its true size with an HTTP
  ``Range`` request (after a dropped connection, a retry or a cancelled run);
* checks the size (the expected size given by the caller, else the server's), the MD5 (given
  by the caller, else a plain-MD5 ``ETag`` of the server) and, for ``.zip`` files, the zip's
  integrity (CRC of every member);
* retries 5xx, 429 (``Retry-After`` honoured), timeouts and dropped connections with backoff
  (:mod:`.retry`), also when a dropped connection had delivered bytes (the first drop of a
  file resumes at once, each further one waits longer); stops at once on 404 and reports
  401/403 as a credential/EULA problem;
* bounds every file: at most about twice its size is fetched (a server that keeps restarting
  the body or ignores ``Range``), at most ``10 x retry.attempts`` requests, and a message says
  what happened and that a rerun resumes;
* asks again after ``202 Accepted`` (ASF's burst extractor answers it while it cuts a burst
  out of its SLC) for up to ``pending_timeout_s``;
* turns a full disk, an unwritable folder and an over-long file name into messages
  (:mod:`.oserrors`): a full disk stops the run, saying how much is still needed;
* runs ``workers`` files in parallel, reports ``progress(bytes_done, bytes_total, eta_s)`` and
  polls ``is_cancelled()`` from the calling thread (so both may talk to Qt), and checks the
  free disk space before it starts.

:func:`extract_zip_safely` unpacks a verified zip into a folder of its own, refusing absolute
paths, ``..``, links, and never replacing or deleting anything already there.

Credentials are the session's business (see :mod:`.netpolicy`); this module imports neither
HyP3 nor ASF code. ``requests`` is imported lazily so that the plugin loads in a QGIS without it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .errors import CancelledError, InputError, ServiceError
from .oserrors import NAME_MAX_BYTES, StorageError, describe_os_error, is_disk_full, name_too_long
from .retry import RetryPolicy, retry_after_seconds, sleep_unless_cancelled

if TYPE_CHECKING:
    import requests

__all__ = [
    "DownloadItem",
    "DownloadOutcome",
    "DownloadReport",
    "RetryPolicy",
    "download_files",
    "extract_zip_safely",
    "format_bytes",
    "free_disk_space",
    "retry_after_seconds",
    "sleep_unless_cancelled",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, "float | None"], None]
CancelCheck = Callable[[], bool]
FreeSpace = Callable[[Path], int]

CHUNK_SIZE = 64 * 1024  # network reads: small enough for smooth progress and a prompt cancel
_HASH_BLOCK = 1024 * 1024
DEFAULT_TIMEOUT_S = (15.0, 60.0)  # (connect, read between two chunks)
_PROGRESS_INTERVAL_S = 0.2
_PENDING_POLL_S = 1.0  # ask again this often after HTTP 202 (as asf_search does for bursts)
_PENDING_POLL_MAX_S = 30.0
#: A file may cost at most this many times its size in bytes fetched (plus the slack below).
FETCH_LIMIT_FACTOR = 2
_FETCH_LIMIT_SLACK = 1024 * 1024
_PART_SUFFIX = ".part"


# ---- small shared helpers -------------------------------------------------------------------


def format_bytes(count: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; for messages."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - loop always returns


def free_disk_space(folder: Path) -> int:
    """Free bytes on the disk holding ``folder`` (its nearest existing parent)."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _etag_md5(etag: str | None) -> str | None:
    """The MD5 in an S3-style ETag (``"<32 hex>"``); ``None`` for multipart/weak/other ETags."""
    if not etag:
        return None
    value = etag.strip()
    if value.startswith("W/"):
        return None
    value = value.strip('"').lower()
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def _zip_problem(path: Path) -> str | None:
    """Why ``path`` is not an intact zip, or ``None`` if every member's CRC checks out."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        return f"not a readable zip ({exc})"
    except Exception as exc:  # zlib.error and friends from a damaged deflate stream
        return f"damaged zip ({type(exc).__name__}: {exc})"
    if bad is not None:
        return f"damaged zip (member {bad} fails its CRC check)"
    return None


def _safe_relative(filename: str) -> PurePosixPath:
    """``filename`` as a relative path that stays inside the destination folder."""
    text = filename.replace("\\", "/")
    rel = PurePosixPath(text)
    if not text or rel.is_absolute() or (len(text) > 1 and text[1] == ":") or ".." in rel.parts:
        raise InputError(f"The file name '{filename}' would be written outside the output folder.")
    return rel


# ---- items and outcomes -----------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadItem:
    """One file to download.

    ``filename`` is relative to the destination folder (``stack/x.zip`` makes a subfolder);
    ``size`` (bytes) and ``md5`` (hex) are what the file must match when known; ``key`` is
    the caller's identifier, handed back in the outcome.
    """

    url: str
    filename: str
    size: int | None = None
    md5: str | None = None
    key: str = ""


@dataclass
class DownloadOutcome:
    """What happened to one :class:`DownloadItem`.

    ``status``: ``downloaded`` (verified, now at ``path``), ``skipped`` (already complete and
    verified), ``failed`` (``error`` says why), ``cancelled`` (a resumable ``.part`` is kept).
    """

    item: DownloadItem
    path: Path
    status: str
    bytes_on_disk: int = 0
    bytes_transferred: int = 0
    verified: bool = False
    md5: str | None = None
    resumed_from: int = 0
    error: str = ""


@dataclass
class DownloadReport:
    """Outcomes of :func:`download_files`, in the order of the items."""

    outcomes: list[DownloadOutcome] = field(default_factory=list)

    def with_status(self, status: str) -> list[DownloadOutcome]:
        """Outcomes with this status."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def downloaded(self) -> list[DownloadOutcome]:
        return self.with_status("downloaded")

    @property
    def skipped(self) -> list[DownloadOutcome]:
        return self.with_status("skipped")

    @property
    def failed(self) -> list[DownloadOutcome]:
        return self.with_status("failed")

    @property
    def bytes_transferred(self) -> int:
        return sum(o.bytes_transferred for o in self.outcomes)

    def raise_for_failures(self) -> None:
        """Raise :class:`ServiceError` naming every failed file (no-op when none failed)."""
        failed = self.failed
        if failed:
            lines = "; ".join(f"{o.item.filename}: {o.error}" for o in failed)
            raise ServiceError(
                f"{len(failed)} of {len(self.outcomes)} downloads failed ({lines}). Run the download "
                "again to retry them; complete files are kept and partial ones resume."
            )


class _Retryable(Exception):
    """An attempt failed in a way a retry may fix."""

    def __init__(self, message: str, retry_after: float | None = None, integrity: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.integrity = integrity


class _Permanent(Exception):
    """An attempt failed in a way retrying cannot fix (for this file)."""


class _AccessDenied(Exception):
    """401/403: a credential / EULA problem that will hit every file; stops the whole run."""


class _DiskFull(Exception):
    """The disk is full (or the quota used up): stops the whole run (every file needs room)."""

    def __init__(self, item: DownloadItem, exc: OSError) -> None:
        super().__init__(str(exc))
        self.item = item
        self.exc = exc


class _Unwritable(Exception):
    """The destination cannot be written (permission, read-only): stops the whole run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class _Pending(Exception):
    """HTTP 202: the server is still preparing the file; ask again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("HTTP 202")
        self.retry_after = retry_after


class _Stopped(Exception):
    """The run is stopping (cancel, or another file hit an access or disk problem)."""


def _os_fault(exc: OSError, item: DownloadItem, folder: Path) -> Exception:
    """The exception a write error becomes: stop the run (disk full, unwritable) or fail the file."""
    if is_disk_full(exc):
        return _DiskFull(item, exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return _Unwritable(describe_os_error(exc, f"write {item.filename} into {folder}"))
    return _Permanent(describe_os_error(exc, f"write {item.filename}"))


def _access_message(status: int, item: DownloadItem) -> str:
    if status == 401:
        return (
            f"The download server refused the credentials (HTTP 401) for {item.filename}. Check the "
            "Earthdata login (the AUTH configuration, EARTHDATA_TOKEN or ~/.netrc) and that it is current."
        )
    return (
        f"Access to {item.filename} was denied (HTTP 403). Either the Earthdata account has not "
        "accepted the data's EULA / authorised the application (log in at "
        "https://urs.earthdata.nasa.gov and accept it), or, for a HyP3 product, the product has "
        "expired (HyP3 keeps products 14 days) and the pair must be resubmitted."
    )


class _Progress:
    """Thread-safe byte counters for progress and ETA."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done: dict[int, int] = {}
        self.total: dict[int, int] = {}
        self.transferred = 0
        self.started = time.monotonic()

    def set(self, index: int, done: int, total: int | None = None) -> None:
        with self._lock:
            self.done[index] = done
            if total is not None:
                self.total[index] = total

    def add(self, index: int, nbytes: int) -> None:
        with self._lock:
            self.done[index] = self.done.get(index, 0) + nbytes
            self.transferred += nbytes

    def snapshot(self) -> tuple[int, int, float | None]:
        with self._lock:
            done = sum(self.done.values())
            total = max(sum(self.total.values()), done)
            elapsed = time.monotonic() - self.started
            rate = self.transferred / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        return done, total, eta


@dataclass
class _Run:
    session: Any
    dest: Path
    retry: RetryPolicy
    progress: _Progress
    stop: threading.Event
    verify_zip: bool
    chunk_size: int
    timeout_s: Any
    pending_timeout_s: float = 120.0


def _verify(
    path: Path, item: DownloadItem, server_total: int | None, etag_md5: str | None, verify_zip: bool
) -> tuple[str | None, str | None]:
    """``(problem, md5)``: why the file at ``path`` is not the wanted file (``None`` if it is)."""
    size = path.stat().st_size
    expected = item.size if item.size is not None else server_total
    if expected is not None and size != expected:
        return f"size {size} bytes, expected {expected} bytes", None
    md5 = None
    wanted = (item.md5 or etag_md5 or "").lower() or None
    if wanted:
        md5 = _md5_of(path)
        if md5 != wanted:
            return f"MD5 {md5} does not match the expected {wanted}", md5
    if verify_zip and item.filename.lower().endswith(".zip"):
        problem = _zip_problem(path)
        if problem:
            return problem, md5
    return None, md5


def _existing_complete(final: Path, item: DownloadItem, verify_zip: bool) -> str | None:
    """MD5 (or ``""``) of an already complete, verified ``final`` file; ``None`` if not usable."""
    if not final.is_file():
        return None
    if item.size is None and not item.md5:
        # Nothing to compare against but the file itself: trust only an intact zip.
        if verify_zip and item.filename.lower().endswith(".zip") and _zip_problem(final) is None:
            return ""
        return None
    problem, md5 = _verify(final, item, None, None, verify_zip)
    return None if problem else (md5 or "")


def _name_problem(item: DownloadItem, final: Path, dest: Path) -> str | None:
    """Why the file system would refuse ``item``'s names (a component over 255 bytes), or ``None``."""
    names = [*final.relative_to(dest).parts[:-1], final.name + _PART_SUFFIX]
    long = [name for name in names if name_too_long(name)]
    if not long:
        return None
    size = len(os.fsencode(long[0]))
    return (
        f"the file name '{long[0][:60]}...' is {size} bytes long (with its '{_PART_SUFFIX}' while it "
        f"downloads); file systems allow {NAME_MAX_BYTES}. Nothing was written"
    )


def _fetch_limit(expected: int | None) -> int | None:
    """Bytes one file may cost at most (about twice its size), ``None`` while its size is unknown."""
    return None if expected is None else FETCH_LIMIT_FACTOR * expected + _FETCH_LIMIT_SLACK


def _download_one(index: int, item: DownloadItem, run: _Run) -> DownloadOutcome:
    import requests

    final = run.dest / Path(*_safe_relative(item.filename).parts)
    part = final.with_name(final.name + _PART_SUFFIX)
    problem = _name_problem(item, final, run.dest)
    if problem:
        return DownloadOutcome(item, final, "failed", error=problem)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fault = _os_fault(exc, item, final.parent)
        if isinstance(fault, _Permanent):
            return DownloadOutcome(item, final, "failed", error=str(fault))
        raise fault from None
    existing = _existing_complete(final, item, run.verify_zip)
    if existing is not None:
        size = final.stat().st_size
        run.progress.set(index, size, size)
        return DownloadOutcome(item, final, "skipped", size, 0, True, existing or None)
    # A file under the final name that does not verify was not written by this engine (it only
    # renames verified files). It is left as it is; only a verified download replaces it.

    resumed_from = part.stat().st_size if part.is_file() else 0
    transferred = 0  # bytes fetched for this file by this run (all attempts)
    requests_made = 0
    max_requests = max(1, run.retry.attempts) * 10  # a flaky line may make progress for long
    failures = 0  # attempts in a row that received nothing
    drops = 0  # attempts that broke off after delivering bytes
    pending_waited = 0.0
    etag_seen: str | None = None
    server_total: int | None = item.size
    last_error = ""
    run.progress.set(index, resumed_from, item.size if item.size is not None else resumed_from)

    def kept() -> int:
        return part.stat().st_size if part.is_file() else 0

    def fail(message: str) -> DownloadOutcome:
        return DownloadOutcome(item, final, "failed", kept(), transferred, False, None, resumed_from, message)

    def over_limit() -> str | None:
        limit = _fetch_limit(item.size if item.size is not None else server_total)
        if limit is None or transferred <= limit:
            return None
        expected = item.size if item.size is not None else server_total
        return (
            f"stopped after fetching {format_bytes(transferred)} in {requests_made} request(s) for a "
            f"{format_bytes(expected or 0)} file (the limit is {FETCH_LIMIT_FACTOR}x its size): the server "
            f"keeps breaking off or restarting the file ({last_error or 'no reason given'}). "
            f"{format_bytes(kept())} are kept; run the download again later to resume"
        )

    while True:
        if run.stop.is_set():
            raise _Stopped()
        offset = kept()
        if item.size is not None and offset > item.size:
            part.unlink()  # ours, and longer than the file can be
            offset = 0
        progress_made = False
        try:
            if not (item.size is not None and offset == item.size and offset > 0):
                requests_made += 1
                # identity: the bytes on the wire are the file, as Content-Length, Range and ETag count them.
                headers = {"Accept-Encoding": "identity"}
                if offset:
                    headers["Range"] = f"bytes={offset}-"
                try:
                    response = run.session.get(item.url, stream=True, headers=headers, timeout=run.timeout_s)
                except requests.RequestException as exc:
                    raise _Retryable(f"connection failed ({type(exc).__name__})") from None
                with response:
                    status = response.status_code
                    if status == 416 and offset:
                        total = _content_range_total(response.headers.get("Content-Range"))
                        if total is not None:
                            server_total = total
                        if total is None or total != offset:
                            part.unlink()
                            raise _Retryable(
                                f"the server holds {total if total is not None else 'fewer'} bytes, "
                                f"fewer than the {offset} already received",
                                integrity=True,
                            )
                    elif status in (401, 403):
                        raise _AccessDenied(_access_message(status, item))
                    elif status == 202:
                        raise _Pending(retry_after_seconds(response.headers.get("Retry-After")))
                    elif status == 404:
                        raise _Permanent("not found on the server (HTTP 404)")
                    elif status == 429 or status >= 500:
                        raise _Retryable(
                            f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After"))
                        )
                    elif status >= 400 or status not in (200, 206):
                        raise _Permanent(f"HTTP {status} {response.reason or ''}".strip())
                    else:
                        etag = response.headers.get("ETag")
                        if etag_seen is not None and etag and etag != etag_seen:
                            # The object changed between attempts: bytes from two versions must not mix.
                            offset = 0
                            part.unlink(missing_ok=True)
                            raise _Retryable("the file changed on the server; starting again")
                        etag_seen = etag or etag_seen
                        if status == 206:
                            start = _content_range_start(response.headers.get("Content-Range"))
                            if start != offset:
                                part.unlink(missing_ok=True)
                                raise _Retryable("the server answered a different byte range; starting again")
                            total = _content_range_total(response.headers.get("Content-Range"))
                        else:
                            if offset:
                                log.info(
                                    "%s: server ignored the Range request; downloading it whole",
                                    item.filename,
                                )
                            offset = 0
                            length = response.headers.get("Content-Length")
                            total = int(length) if length and length.isdigit() else None
                        if total is not None:
                            server_total = total
                        expected_here = response.headers.get("Content-Length")
                        expected_len = (
                            int(expected_here) if expected_here and expected_here.isdigit() else None
                        )
                        run.progress.set(index, offset, item.size if item.size is not None else server_total)
                        received = 0
                        try:
                            with open(part, "ab" if offset else "wb") as handle:
                                try:
                                    for chunk in _body_chunks(response, run.chunk_size):
                                        handle.write(chunk)
                                        received += len(chunk)
                                        transferred += len(chunk)
                                        run.progress.add(index, len(chunk))
                                        if run.stop.is_set():
                                            raise _Stopped()
                                        limit_problem = over_limit()
                                        if limit_problem:
                                            raise _Permanent(limit_problem)
                                except BaseException as exc:
                                    # Keep what arrived (a rerun resumes from it); a write error
                                    # that shows only now is the fault to report.
                                    try:
                                        handle.flush()
                                        os.fsync(handle.fileno())
                                    except OSError:
                                        if not isinstance(exc, OSError):
                                            raise
                                    raise
                                handle.flush()
                                os.fsync(handle.fileno())
                        except _BodyBroken as exc:
                            progress_made = received > 0
                            raise _Retryable(f"connection dropped after {received} bytes ({exc})") from None
                        except OSError as exc:
                            raise _os_fault(exc, item, part.parent) from None
                        progress_made = received > 0
                        if expected_len is not None and received < expected_len:
                            # http.client ends a dropped body without an error (urllib3 1.26).
                            raise _Retryable(f"connection dropped after {received} of {expected_len} bytes")
            problem, md5 = _verify(part, item, server_total, _etag_md5(etag_seen), run.verify_zip)
            if problem:
                part.unlink()
                run.progress.set(index, 0)
                raise _Retryable(f"received a damaged file: {problem}", integrity=True)
            try:
                os.replace(part, final)
            except OSError as exc:
                raise _os_fault(exc, item, final.parent) from None
            size = final.stat().st_size
            return DownloadOutcome(item, final, "downloaded", size, transferred, True, md5, resumed_from)
        except _Retryable as exc:
            last_error = str(exc)
            if progress_made and not exc.integrity:
                drops += 1
                failures = 0
            else:
                failures += 1
            limit_problem = over_limit()
            if limit_problem:
                return fail(limit_problem)
            if failures >= run.retry.attempts:
                if exc.integrity:
                    return fail(
                        f"{last_error} (after {failures} attempts; the server keeps sending it damaged)"
                    )
                return fail(
                    f"{last_error}; gave up after {failures} attempts in a row that received nothing. "
                    f"{format_bytes(kept())} are kept; run the download again later to resume"
                )
            if requests_made >= max_requests:
                return fail(
                    f"{last_error}; gave up after {requests_made} requests, {drops} of which broke off after "
                    f"some bytes. {format_bytes(kept())} are kept; run the download again later to resume"
                )
            if progress_made and not exc.integrity:
                # Bytes arrived before the connection broke: the first time resume at once, then
                # wait longer each time (a server that keeps dropping must not be hammered).
                delay = 0.0 if drops == 1 else run.retry.delay(drops - 1, exc.retry_after)
            else:
                delay = run.retry.delay(failures, exc.retry_after)
            log.info("%s: %s; retrying in %.1f s", item.filename, last_error, delay)
            if delay:
                _sleep_or_stop(delay, run)
        except _Pending as exc:
            requests_made -= 1  # waiting for the file to be prepared is not a failed attempt
            delay = min(_PENDING_POLL_MAX_S, exc.retry_after if exc.retry_after is not None else _PENDING_POLL_S)
            if pending_waited + delay > run.pending_timeout_s:
                return fail(
                    f"the server was still preparing the file (HTTP 202) after {pending_waited:.0f} s; "
                    "run the download again later"
                )
            pending_waited += delay
            _sleep_or_stop(delay, run)
        except _Permanent as exc:
            return fail(str(exc))


class _BodyBroken(Exception):
    """The response body ended with an error (dropped connection, read timeout)."""


def _body_chunks(response: Any, chunk_size: int) -> Any:
    """The body of a streamed ``requests`` response exactly as it arrives, undecoded.

    Each read returns what has arrived, up to ``chunk_size`` bytes (``read1``), so every byte
    received before a connection drops is written, and a cancel is noticed while a slow server
    sends. ``iter_content`` instead gathers whole chunks (urllib3 2.x ``read(amt)`` loops until
    it has ``amt`` bytes) and lost the last, partial chunk of a dropped connection: the resume
    then began at a 64 KiB boundary. urllib3 2.x has ``read1``; with urllib3 1.26 the same call
    goes to the ``http.client`` response underneath, so both behave alike.
    """
    import http.client

    from urllib3.exceptions import HTTPError as Urllib3Error

    raw = response.raw
    if hasattr(raw, "read1"):  # urllib3 2.x

        def read(n: int) -> bytes:
            return raw.read1(n, decode_content=False)

    elif hasattr(getattr(raw, "_fp", None), "read1"):  # urllib3 1.26: http.client.HTTPResponse
        read = raw._fp.read1
    else:  # pragma: no cover - neither: whole chunks, as iter_content reads them

        def read(n: int) -> bytes:
            return raw.read(n, decode_content=False)

    while True:
        try:
            chunk = read(chunk_size)
        except (Urllib3Error, http.client.HTTPException, OSError, ValueError) as exc:
            raise _BodyBroken(type(exc).__name__) from None
        if not chunk:
            return
        yield chunk


def _sleep_or_stop(seconds: float, run: _Run) -> None:
    remaining = seconds
    while remaining > 0:
        if run.stop.is_set():
            raise _Stopped()
        step = min(0.25, remaining)
        run.retry.sleep(step)
        remaining -= step


def _content_range_total(header: str | None) -> int | None:
    if not header or "/" not in header:
        return None
    total = header.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _content_range_start(header: str | None) -> int | None:
    if not header:
        return None
    try:
        return int(header.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _default_session(workers: int) -> requests.Session:
    """A session without credentials, guarded all the same (a ``netrc`` entry must not leak)."""
    import requests

    from .netpolicy import CredentialPolicy, guard_session

    return guard_session(requests.Session(), CredentialPolicy(), pool_size=max(4, workers))


def download_files(
    items: Sequence[DownloadItem],
    dest_folder: str | Path,
    *,
    session: Any = None,
    workers: int = 4,
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    retry: RetryPolicy | None = None,
    free_space: FreeSpace | None = None,
    extra_space_bytes: int = 0,
    on_item_done: Callable[[DownloadOutcome], None] | None = None,
    verify_zip: bool = True,
    chunk_size: int = CHUNK_SIZE,
    timeout_s: Any = DEFAULT_TIMEOUT_S,
    pending_timeout_s: float = 120.0,
) -> DownloadReport:
    """Download ``items`` into ``dest_folder``, verified, resumable and in parallel.

    Args:
        items: The files (URL, relative file name, expected size and MD5 when known).
        dest_folder: Where the files go (created if needed).
        session: A ``requests.Session`` shared by the workers (carry authentication here);
            default: a plain session.
        workers: Files downloaded at the same time.
        progress: ``progress(bytes_done, bytes_total, eta_s)``, called from *this* thread.
        is_cancelled: Polled from this thread; on cancel the workers stop, ``.part`` files
            stay (the next run resumes them) and :class:`CancelledError` is raised.
        retry: Backoff for transient failures (5xx, 429, timeouts, dropped connections, a
            damaged file); ``retry.sleep`` is the sleep function (inject one in tests).
            ``attempts`` counts consecutive attempts that made no progress.
        free_space: ``free_space(folder) -> bytes`` (default :func:`free_disk_space`).
        extra_space_bytes: More bytes the caller needs on the same disk (e.g. for unzipping).
        on_item_done: Called from this thread with each outcome as soon as it is known (also
            for cancelled and failed files), e.g. to record download state.
        verify_zip: Check the CRC of every member of ``.zip`` files.
        chunk_size: Bytes per read.
        timeout_s: ``requests`` timeout (connect, read).
        pending_timeout_s: How long a file may stay ``202 Accepted`` (being prepared by the
            server, like a burst being extracted) before it counts as failed.

    Returns:
        A :class:`DownloadReport`; permanent per-file failures (404, a file that stays
        damaged) are outcomes, not exceptions (see :meth:`DownloadReport.raise_for_failures`).

    Raises:
        InputError: not enough free disk space (the message gives both sizes) or an unsafe
            file name.
        ServiceError: HTTP 401/403 (credentials, EULA or an expired product).
        CancelledError: cancelled.
    """
    dest = Path(dest_folder)
    check_writable_folder(dest, "the downloads")
    items = list(items)
    for item in items:
        _safe_relative(item.filename)
    retry = retry or RetryPolicy()
    needed = extra_space_bytes + _still_needed(items, dest)
    free = (free_space or free_disk_space)(dest)
    if needed > free:
        raise InputError(
            f"Not enough free disk space in {dest}: the downloads need {format_bytes(needed)} "
            f"but only {format_bytes(free)} are free. Free some space or choose another folder."
        )

    own_session = session is None
    if own_session:
        session = _default_session(workers)
    counter = _Progress()
    for index, item in enumerate(items):
        if item.size is not None:
            counter.set(index, 0, item.size)
    run = _Run(
        session, dest, retry, counter, threading.Event(), verify_zip, chunk_size, timeout_s, pending_timeout_s
    )
    report = DownloadReport([DownloadOutcome(item, dest / item.filename, "cancelled") for item in items])
    access_error: str | None = None
    storage_error: str | None = None
    cancelled = False
    last_progress = 0.0

    def emit(force: bool = False) -> None:
        nonlocal last_progress
        if progress is None:
            return
        now = time.monotonic()
        if force or now - last_progress >= _PROGRESS_INTERVAL_S:
            last_progress = now
            progress(*counter.snapshot())

    def record(index: int, outcome: DownloadOutcome) -> None:
        report.outcomes[index] = outcome
        if on_item_done is not None:
            on_item_done(outcome)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="insarhub-download") as pool:
            futures: dict[Future[DownloadOutcome], int] = {
                pool.submit(_download_one, index, item, run): index for index, item in enumerate(items)
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, timeout=_PROGRESS_INTERVAL_S, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = futures[future]
                        item = items[index]
                        final = dest / Path(*_safe_relative(item.filename).parts)
                        try:
                            outcome = future.result()
                        except _Stopped:
                            part = final.with_name(final.name + ".part")
                            size = part.stat().st_size if part.exists() else 0
                            outcome = DownloadOutcome(item, final, "cancelled", size)
                        except _AccessDenied as exc:
                            access_error = access_error or str(exc)
                            outcome = DownloadOutcome(item, final, "failed", error=str(exc))
                            run.stop.set()
                        except _Unwritable as exc:
                            storage_error = storage_error or str(exc)
                            outcome = DownloadOutcome(item, final, "failed", error=str(exc))
                            run.stop.set()
                        except _DiskFull as exc:
                            run.stop.set()
                            storage_error = storage_error or _disk_full_message(exc, items, dest, free_space)
                            part = final.with_name(final.name + _PART_SUFFIX)
                            size = part.stat().st_size if part.exists() else 0
                            outcome = DownloadOutcome(item, final, "cancelled", size, error="the disk is full")
                        record(index, outcome)
                    if not cancelled and is_cancelled is not None and is_cancelled():
                        cancelled = True
                        run.stop.set()
                    emit()
            except BaseException:
                run.stop.set()  # let the workers stop before the pool waits for them
                raise
    finally:
        run.stop.set()
        if own_session:
            session.close()
    emit(force=True)
    if access_error:
        raise ServiceError(access_error)
    if storage_error:
        raise StorageError(storage_error)
    if cancelled:
        kept = sum(1 for o in report.outcomes if o.status == "cancelled" and o.bytes_on_disk)
        raise CancelledError(
            f"Download cancelled; {kept} partial file(s) were kept as .part and resume on the next run."
        )
    return report


def _still_needed(items: Sequence[DownloadItem], dest: Path) -> int:
    """Bytes the items of known size still need on disk (complete files and ``.part`` counted)."""
    needed = 0
    for item in items:
        if item.size is None:
            continue
        final = dest / Path(*_safe_relative(item.filename).parts)
        part = final.with_name(final.name + _PART_SUFFIX)
        try:
            have = final.stat().st_size if final.is_file() and final.stat().st_size == item.size else 0
            if not have and part.is_file():
                have = min(part.stat().st_size, item.size)
        except OSError:
            have = 0
        needed += item.size - have
    return needed


def _disk_full_message(
    fault: _DiskFull, items: Sequence[DownloadItem], dest: Path, free_space: FreeSpace | None
) -> str:
    needed = _still_needed(items, dest)
    try:
        free = (free_space or free_disk_space)(dest)
    except OSError:
        free = 0
    quota = fault.exc.errno != errno.ENOSPC
    why = "your disk quota is used up" if quota else f"the disk holding {dest} is full"
    return (
        f"Downloading stopped: {why} ({fault.item.filename} could not be written). The downloads still "
        f"need about {format_bytes(needed)}; {format_bytes(free)} are free now. Free some space or choose a "
        "folder on another disk, then run the download again: what was downloaded is kept and resumes."
    )


def check_writable_folder(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and check that a file can be written in it.

    Raises :class:`~insarhub_qgis.core.oserrors.StorageError` saying which folder and why
    (permission denied, read-only file system, disk full, name too long).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".insarhub-write-test."):
            pass
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(folder)
        raise StorageError(describe_os_error(exc, f"write {what} into {folder}")) from None


# ---- zips -------------------------------------------------------------------------------------


def _product_layout(names: Sequence[str], stem: str) -> tuple[int, list[str]]:
    """``(levels to strip, top-level names)``: a zip whose members all sit in one folder named like
    the zip (HyP3's layout) is unpacked without repeating that level."""
    tops = {name.split("/", 1)[0] for name in names}
    strip = 1 if tops == {stem} and all("/" in name or name == stem for name in names) else 0
    return strip, sorted(tops)


def _members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    out = []
    for info in archive.infolist():
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
        if parts:
            out.append((info, parts))
    return out


def _already_unpacked(folder: Path, members: list[tuple[zipfile.ZipInfo, list[str]]], strip: int) -> bool:
    """True when ``folder`` holds every file of the zip with its size (an earlier unpack of it;
    files added since, such as QGIS's ``.aux.xml``, do not matter)."""
    for info, parts in members:
        rel = parts[strip:]
        if not rel:
            continue
        path = folder.joinpath(*rel)
        if info.is_dir():
            if not path.is_dir():
                return False
        elif not path.is_file() or path.stat().st_size != info.file_size:
            return False
    return True


def extract_zip_safely(
    zip_path: str | Path, dest: str | Path, *, free_space: FreeSpace | None = None
) -> list[Path]:
    """Unpack ``zip_path`` into a folder of its own in ``dest``; return ``[that folder]``.

    The folder is ``dest/<zip name without .zip>``. A zip whose members all sit in one folder of
    that name (HyP3's layout) gives that folder; any other zip is unpacked *inside* it, so a
    member can never land on, or replace, something else in ``dest``.

    Nothing already in ``dest`` is replaced or deleted: when the folder exists and holds every
    file of the zip (an earlier unpack), it is returned as it is; when it holds something else,
    :class:`InputError` names both and nothing is written. Refused too (with
    :class:`InputError`, writing nothing): members with absolute paths, drive letters or
    ``..``, symbolic links and other special files, a damaged archive (every member's CRC is
    checked first), an over-long name and an archive larger than the free disk space. Members
    are unpacked into a temporary folder inside ``dest`` and moved into place in one rename, so
    an interrupted extraction never leaves a half-written product under its final name.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    stem = zip_path.name[:-4] if zip_path.name.lower().endswith(".zip") else zip_path.name
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{zip_path.name} is not a readable zip file ({exc}); download it again.") from None
    with archive:
        infos = archive.infolist()
        for info in infos:
            name = info.filename
            text = name.replace("\\", "/")
            parts = [p for p in text.split("/") if p not in ("", ".")]
            if text.startswith("/") or (len(text) > 1 and text[1] == ":") or ".." in parts:
                raise InputError(
                    f"{zip_path.name} holds a member outside its folder ({name!r}); refusing to unpack it."
                )
            kind_bits = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no type
            if kind_bits and kind_bits not in (stat.S_IFREG, stat.S_IFDIR):
                kind = "a symbolic link" if kind_bits == stat.S_IFLNK else "a special file"
                raise InputError(f"{zip_path.name} holds {kind} ({name!r}); refusing to unpack it.")
            long = [p for p in parts if name_too_long(p)]
            if long:
                raise InputError(
                    f"{zip_path.name} holds a member whose name is longer than file systems allow "
                    f"({len(os.fsencode(long[0]))} bytes: '{long[0][:60]}...'); refusing to unpack it."
                )
        members = _members(archive)
        strip, _tops = _product_layout(["/".join(parts) for _info, parts in members], stem)
        folder = dest / stem
        if folder.exists() or folder.is_symlink():
            if folder.is_dir() and not folder.is_symlink() and _already_unpacked(folder, members, strip):
                return [folder]
            raise InputError(
                f"Cannot unpack {zip_path.name}: {folder} already exists and is not this product "
                "(other files, or a file of that name). Nothing was changed: move or rename it, or "
                "choose another products folder, then run again."
            )
        problem = _zip_problem(zip_path)
        if problem:
            raise InputError(f"{zip_path.name} is {problem}; download it again.")
        needed = sum(info.file_size for info in infos)
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(describe_os_error(exc, f"create the products folder {dest}")) from None
        free = (free_space or free_disk_space)(dest)
        if needed > free:
            raise InputError(
                f"Not enough free disk space in {dest} to unpack {zip_path.name}: it needs "
                f"{format_bytes(needed)} but only {format_bytes(free)} are free."
            )
        try:
            staging = Path(tempfile.mkdtemp(prefix=".insarhub-unpack.", suffix=".tmp", dir=dest))
        except OSError as exc:
            raise StorageError(describe_os_error(exc, f"unpack {zip_path.name} into {dest}")) from None
        try:
            root = staging / "product"
            root.mkdir()
            for info, parts in members:
                rel = parts[strip:]
                if not rel:
                    continue
                target = root.joinpath(*rel)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, _HASH_BLOCK)
            try:
                # rename() onto a name that appeared meanwhile fails for a non-empty folder, and
                # os.rename would replace an empty one: check right before, as close as it gets.
                if folder.exists() or folder.is_symlink():
                    raise InputError(
                        f"Cannot unpack {zip_path.name}: {folder} appeared while it was unpacked; nothing "
                        "was changed there. Run again."
                    )
                os.rename(root, folder)
            except OSError as exc:
                raise InputError(
                    f"Cannot unpack {zip_path.name} to {folder} ({exc.strerror}); nothing was changed there."
                ) from None
            return [folder]
        except OSError as exc:
            raise StorageError(
                describe_os_error(exc, f"unpack {zip_path.name} into {dest}", rerun_resumes=True)
            ) from None
        finally:
            # Only the temporary folder this call made (and what it wrote into it) is removed.
            shutil.rmtree(staging, ignore_errors=True)
