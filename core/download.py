"""The download engine shared by HyP3 products and SLC/burst downloads.

``hyp3_sdk`` (with requests 2.28 / urllib3 1.26) accepts a connection dropped mid-body as a
normal end of file and writes straight to the final name, so a short or damaged file looks
complete. This engine instead:

* downloads to ``<name>.part`` and renames only a verified file to ``<name>``;
* resumes a ``.part`` with an HTTP ``Range`` request (after a dropped connection, a retry or a
  cancelled run) instead of starting again;
* checks the size (the expected size given by the caller, else the server's), the MD5 (given
  by the caller, else a plain-MD5 ``ETag`` of the server) and, for ``.zip`` files, the zip's
  integrity (CRC of every member);
* retries 5xx, 429 (``Retry-After`` honoured), timeouts and dropped connections with backoff,
  stops at once on 404 and reports 401/403 as a credential/EULA problem;
* asks again after ``202 Accepted`` (ASF's burst extractor answers it while it cuts a burst
  out of its SLC) for up to ``pending_timeout_s``;
* runs ``workers`` files in parallel, reports ``progress(bytes_done, bytes_total, eta_s)`` and
  polls ``is_cancelled()`` from the calling thread (so both may talk to Qt), and checks the
  free disk space before it starts.

:func:`extract_zip_safely` unpacks a verified zip, refusing absolute paths, ``..`` and links.
:func:`download_products` downloads the finished products listed in a HyP3 jobs file and keeps
each file's download state in that file.

The module imports ``requests`` lazily so that the plugin loads in a QGIS without it.
"""

from __future__ import annotations

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
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .errors import CancelledError, InputError, ServiceError
from .search import RetryPolicy

if TYPE_CHECKING:
    import requests

    from .hyp3.client import Hyp3Client

__all__ = [
    "DownloadItem",
    "DownloadOutcome",
    "DownloadReport",
    "ProductDownloadResult",
    "RetryPolicy",
    "download_files",
    "download_products",
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


# ---- small shared helpers -------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def sleep_unless_cancelled(
    seconds: float, sleep: Callable[[float], None], is_cancelled: CancelCheck | None, step_s: float = 0.5
) -> None:
    """Sleep ``seconds`` in steps of at most ``step_s``; raise :class:`CancelledError` on cancel."""
    remaining = max(0.0, seconds)
    while True:
        if is_cancelled is not None and is_cancelled():
            raise CancelledError("Cancelled by the user.")
        if remaining <= 0:
            return
        part = min(step_s, remaining)
        sleep(part)
        remaining -= part


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


class _Pending(Exception):
    """HTTP 202: the server is still preparing the file; ask again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("HTTP 202")
        self.retry_after = retry_after


class _Stopped(Exception):
    """The run is stopping (cancel, or another file hit an access problem)."""


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


def _download_one(index: int, item: DownloadItem, run: _Run) -> DownloadOutcome:
    import requests

    final = run.dest / Path(*_safe_relative(item.filename).parts)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    existing = _existing_complete(final, item, run.verify_zip)
    if existing is not None:
        size = final.stat().st_size
        run.progress.set(index, size, size)
        return DownloadOutcome(item, final, "skipped", size, 0, True, existing or None)
    if final.exists():
        # A file under the final name that does not verify was not written by this engine
        # (it only renames verified files): resume it if it may be a prefix, else start over.
        if item.size is not None and final.stat().st_size < item.size and not part.exists():
            os.replace(final, part)
        else:
            final.unlink()

    resumed_from = part.stat().st_size if part.exists() else 0
    transferred = 0
    failures = 0
    attempts_left_total = max(1, run.retry.attempts) * 10  # a flaky line may make progress for long
    pending_waited = 0.0
    etag_seen: str | None = None
    server_total: int | None = item.size
    last_error = ""
    run.progress.set(index, resumed_from, item.size if item.size is not None else resumed_from)

    def fail(message: str) -> DownloadOutcome:
        size = part.stat().st_size if part.exists() else 0
        return DownloadOutcome(item, final, "failed", size, transferred, False, None, resumed_from, message)

    while True:
        if run.stop.is_set():
            raise _Stopped()
        attempts_left_total -= 1
        offset = part.stat().st_size if part.exists() else 0
        if item.size is not None and offset > item.size:
            part.unlink()
            offset = 0
        progress_made = False
        try:
            if not (item.size is not None and offset == item.size and offset > 0):
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
                                for chunk in _body_chunks(response, run.chunk_size):
                                    handle.write(chunk)
                                    received += len(chunk)
                                    transferred += len(chunk)
                                    run.progress.add(index, len(chunk))
                                    if run.stop.is_set():
                                        handle.flush()
                                        os.fsync(handle.fileno())
                                        raise _Stopped()
                                handle.flush()
                                os.fsync(handle.fileno())
                        except _BodyBroken as exc:
                            progress_made = received > 0
                            raise _Retryable(f"connection dropped after {received} bytes ({exc})") from None
                        progress_made = received > 0
                        if expected_len is not None and received < expected_len:
                            # requests 2.28/urllib3 1.26 end a dropped body without an error.
                            raise _Retryable(f"connection dropped after {received} of {expected_len} bytes")
            problem, md5 = _verify(part, item, server_total, _etag_md5(etag_seen), run.verify_zip)
            if problem:
                part.unlink()
                run.progress.set(index, 0)
                raise _Retryable(f"received a damaged file: {problem}", integrity=True)
            os.replace(part, final)
            size = final.stat().st_size
            return DownloadOutcome(item, final, "downloaded", size, transferred, True, md5, resumed_from)
        except _Retryable as exc:
            last_error = str(exc)
            failures = 0 if progress_made and not exc.integrity else failures + 1
            if failures >= run.retry.attempts or attempts_left_total <= 0:
                if exc.integrity:
                    return fail(
                        f"{last_error} (after {failures} attempts; the server keeps sending it damaged)"
                    )
                return fail(f"{last_error} (gave up after {failures} attempts without progress)")
            if failures == 0 and exc.retry_after is None:
                # The connection broke after bytes arrived: resume at once (attempts stay bounded by
                # attempts_left_total; a server that sends nothing gets the backoff below).
                delay = 0.0
            else:
                delay = run.retry.delay(max(1, failures), exc.retry_after)
            log.info("%s: %s; retrying in %.1f s", item.filename, last_error, delay)
            if delay:
                _sleep_or_stop(delay, run)
        except _Pending as exc:
            attempts_left_total += 1  # waiting for the file to be prepared is not a failure
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
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=max(4, workers), pool_maxsize=max(4, workers))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


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
    dest.mkdir(parents=True, exist_ok=True)
    items = list(items)
    for item in items:
        _safe_relative(item.filename)
    retry = retry or RetryPolicy()
    needed = extra_space_bytes
    for item in items:
        if item.size is None:
            continue
        final = dest / Path(*_safe_relative(item.filename).parts)
        part = final.with_name(final.name + ".part")
        have = final.stat().st_size if final.is_file() and final.stat().st_size == item.size else 0
        if not have and part.is_file():
            have = min(part.stat().st_size, item.size)
        needed += item.size - have
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
    if cancelled:
        kept = sum(1 for o in report.outcomes if o.status == "cancelled" and o.bytes_on_disk)
        raise CancelledError(
            f"Download cancelled; {kept} partial file(s) were kept as .part and resume on the next run."
        )
    return report


# ---- zips -------------------------------------------------------------------------------------


def extract_zip_safely(
    zip_path: str | Path, dest: str | Path, *, free_space: FreeSpace | None = None
) -> list[Path]:
    """Unpack ``zip_path`` into ``dest`` after checking it; return the top-level paths created.

    Refuses (with :class:`InputError`, writing nothing) members with absolute paths, drive
    letters or ``..``, symbolic links and other special files, a damaged archive (every
    member's CRC is checked first) and an archive larger than the free disk space. Members
    are unpacked into a temporary folder inside ``dest`` and moved into place, so an
    interrupted extraction never leaves a half-written product under its final name; an
    existing product folder of the same name is replaced.
    """
    zip_path, dest = Path(zip_path), Path(dest)
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
        problem = _zip_problem(zip_path)
        if problem:
            raise InputError(f"{zip_path.name} is {problem}; download it again.")
        needed = sum(info.file_size for info in infos)
        dest.mkdir(parents=True, exist_ok=True)
        free = (free_space or free_disk_space)(dest)
        if needed > free:
            raise InputError(
                f"Not enough free disk space in {dest} to unpack {zip_path.name}: it needs "
                f"{format_bytes(needed)} but only {format_bytes(free)} are free."
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{zip_path.stem}.", suffix=".extracting", dir=dest))
        try:
            for info in infos:
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
                if not parts:
                    continue
                target = staging.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, _HASH_BLOCK)
            created = []
            for child in sorted(staging.iterdir()):
                target = dest / child.name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
                os.replace(child, target)
                created.append(target)
            return created
        finally:
            shutil.rmtree(staging, ignore_errors=True)


# ---- HyP3 products ----------------------------------------------------------------------------


@dataclass
class ProductDownloadResult:
    """What :func:`download_products` did.

    ``downloaded``/``skipped`` are product paths (unpacked folders, or zips with
    ``extract=False``); ``expired`` and ``failed`` name pairs with the reason; ``not_ready``
    names pairs whose latest job has not succeeded.
    """

    output_folder: Path
    downloaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    bytes_transferred: int = 0

    @property
    def count(self) -> int:
        """Products present and verified in the output folder."""
        return len(self.downloaded) + len(self.skipped)


def download_products(
    jobs_file: str | Path,
    output_folder: str | Path,
    *,
    client: Hyp3Client | None = None,
    session: Any = None,
    workers: int = 4,
    extract: bool = True,
    keep_zip: bool = False,
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    retry: RetryPolicy | None = None,
    free_space: FreeSpace | None = None,
    now: Callable[[], datetime] | None = None,
) -> ProductDownloadResult:
    """Download (and unpack) the products of every succeeded pair of a HyP3 jobs file.

    With ``client`` the jobs file is refreshed first (:func:`insarhub_qgis.core.hyp3.watch.refresh`);
    without it the file's recorded state is used. Products whose files are recorded as
    verified and whose folder (or zip) still exists are skipped without a request; expired
    products are named, not attempted. Each file's download state (bytes downloaded,
    verified, path) is written to the jobs file as soon as it is known, also on cancel.

    ``session`` must *not* carry the HyP3 bearer token: products live in a public S3 bucket,
    which rejects foreign ``Authorization`` headers. The default is a plain session (trusting
    ``client``'s CA bundle, if any).

    Raises:
        InputError: damaged jobs file, not enough disk space, unsafe zip content.
        ServiceError: 401/403 from the bucket; HyP3 errors while refreshing.
        CancelledError: cancelled (state so far is saved; ``.part`` files resume next time).
    """
    from .hyp3.jobs_store import FileRecord, JobsFile, utc_now_iso
    from .hyp3.watch import refresh

    now = now or (lambda: datetime.now(timezone.utc))
    output = Path(output_folder)
    output.mkdir(parents=True, exist_ok=True)
    if client is not None:
        refresh(jobs_file, client, is_cancelled=is_cancelled, now=now)
    store = JobsFile.load(jobs_file)
    result = ProductDownloadResult(output)
    items: list[DownloadItem] = []
    where: dict[str, tuple[Any, FileRecord]] = {}
    current = now()
    for entry in store.pairs:
        latest = entry.latest
        if latest is None or latest.status != "SUCCEEDED":
            result.not_ready.append(f"{entry.name} ({entry.describe()}: {entry.status})")
            continue
        files = [f for f in entry.files if f.job_id == latest.job_id]
        if not files:
            result.not_ready.append(
                f"{entry.name} ({entry.describe()}: SUCCEEDED but no file list; refresh it)"
            )
            continue
        all_present = all(f.verified and f.path and Path(f.path).exists() for f in files)
        if all_present:
            result.skipped.extend(Path(f.path) for f in files if f.path)
            continue
        if entry.is_expired(current):
            result.expired.append(
                f"{entry.name} ({entry.describe()}): expired {entry.expiration_time}; resubmit this pair"
            )
            continue
        for record in files:
            if record.verified and record.path and Path(record.path).exists():
                result.skipped.append(Path(record.path))
                continue
            _safe_relative(record.filename)
            key = f"{entry.name}/{record.filename}"
            items.append(DownloadItem(record.url, record.filename, record.size, record.md5, key))
            where[key] = (entry, record)

    if not items:
        return result

    if session is None and client is not None and client.ca_bundle:
        session = _default_session(workers)
        session.verify = client.ca_bundle
    unpack_room = sum(item.size or 0 for item in items) if extract else 0

    def on_done(outcome: DownloadOutcome) -> None:
        entry, record = where[outcome.item.key]
        record.bytes_downloaded = outcome.bytes_on_disk
        record.md5 = outcome.md5 or record.md5
        record.updated_at = utc_now_iso()
        record.error = outcome.error or None
        if outcome.status in ("downloaded", "skipped"):
            product: Path = outcome.path
            try:
                if extract and outcome.path.suffix.lower() == ".zip":
                    created = extract_zip_safely(outcome.path, output, free_space=free_space)
                    product = next(
                        (p for p in created if p.is_dir()), created[0] if created else outcome.path
                    )
                    record.zip_path = None if not keep_zip else str(outcome.path)
                    if not keep_zip:
                        outcome.path.unlink(missing_ok=True)
            except InputError as exc:
                record.verified = False
                record.error = str(exc)
                result.failed.append(f"{entry.name} ({entry.describe()}): {exc}")
                store.save()
                return
            record.verified = True
            record.path = str(product)
            result.downloaded.append(product)
        else:
            record.verified = False
            if outcome.status == "failed":
                result.failed.append(
                    f"{entry.name} ({entry.describe()}): {outcome.item.filename}: {outcome.error}"
                )
        store.save()

    report = download_files(
        items,
        output,
        session=session,
        workers=workers,
        progress=progress,
        is_cancelled=is_cancelled,
        retry=retry,
        free_space=free_space,
        extra_space_bytes=unpack_room,
        on_item_done=on_done,
    )
    result.bytes_transferred = report.bytes_transferred
    return result
