"""The HyP3 jobs file: what was submitted for which pair, its status and its download state.

The file is JSON, indented for people to read, written atomically (a temporary file in the
same folder, flushed and fsynced, then ``os.replace``), so a crash at any moment leaves
either the previous or the new version. It holds one entry per pair::

    {
      "format": "insarhub-hyp3-jobs",
      "schema_version": 1,
      "hyp3_url": "https://hyp3-api.asf.alaska.edu",
      "created_at": "2025-10-20T08:00:00+00:00",
      "updated_at": "2025-10-20T09:30:12+00:00",
      "pairs": [
        {
          "name": "etna_2025_3F09C2A1B4",          # the HyP3 job name, unique per pair
          "project_name": "etna_2025",
          "job_type": "INSAR_GAMMA",
          "reference": ["S1A_IW_SLC__1SDV_20251001T..."],
          "secondary": ["S1C_IW_SLC__1SDV_20251007T..."],
          "job_parameters": {"granules": [...], "looks": "20x4", ...},   # exactly what is sent
          "credit_cost": 10,
          "status": "SUCCEEDED",                   # last known status of the latest job
          "expiration_time": "2025-11-03T09:00:00+00:00",
          "job_ids": ["0b1c...", "7d2e..."],        # every job ever submitted, oldest first
          "jobs": [{"job_id": ..., "origin": "submitted" | "retry" | "adopted",
                    "submitted_at": ..., "request_time": ..., "status": ...,
                    "checked_at": ..., "expiration_time": ..., "credit_cost": ..., "logs": [...]}],
          "files": [{"job_id": ..., "filename": "...zip", "size": 123, "url": ..., "md5": null,
                     "bytes_downloaded": 0, "verified": false, "path": null, "zip_path": null,
                     "error": null, "updated_at": null}],
          "created_at": ...
        }
      ]
    }

``status``, ``expiration_time`` and ``job_ids`` are derived from ``jobs`` on every save (they
are there for people and other tools; loading ignores them). A pair never submitted has status
``NOT_SUBMITTED``; a job the server no longer knows keeps its record with status
``UNKNOWN_TO_SERVER``. ``reconciled_at`` (top level) is when the file was last compared with
every job on HyP3 (see :mod:`.watch`). The file never holds a password or a token.

Runs that change the file (submit, watch, download; two processes, or the dock and the toolbox
in one QGIS) take :func:`jobs_file_lock` first: an exclusive lock on ``.<jobs file>.lock`` beside
it, so they read, ask HyP3 and write one after the other, never over each other. The lock
belongs to an open file, so it is released when its holder ends, even by ``kill -9``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..errors import CancelledError, InputError
from ..filelock import holder, stamp, try_lock, unlock
from ..oserrors import StorageError, describe_os_error

__all__ = [
    "FINAL_STATUSES",
    "FORMAT",
    "NOT_SUBMITTED",
    "SCHEMA_VERSION",
    "UNKNOWN_TO_SERVER",
    "FileRecord",
    "JobsFileBusyError",
    "JobRecord",
    "JobsFile",
    "PairEntry",
    "jobs_file_lock",
    "parse_time",
    "utc_now_iso",
]

FORMAT = "insarhub-hyp3-jobs"
SCHEMA_VERSION = 1
HYP3_STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
FINAL_STATUSES = ("SUCCEEDED", "FAILED")
NOT_SUBMITTED = "NOT_SUBMITTED"
UNKNOWN_TO_SERVER = "UNKNOWN_TO_SERVER"
JOB_STATUSES = (*HYP3_STATUSES, UNKNOWN_TO_SERVER)
JOB_ORIGINS = ("submitted", "retry", "adopted")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def utc_now_iso(now: datetime | None = None) -> str:
    """``now`` (default: the current time) as ISO 8601 UTC with seconds."""
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` allowed; naive means UTC) as an aware datetime, or ``None``."""
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _iso_or_none(value: Any) -> str | None:
    """A server time (string or datetime) as ISO 8601 UTC, or ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc_now_iso(value)
    try:
        return utc_now_iso(parse_time(str(value)))
    except ValueError:
        return None


class _Damaged(Exception):
    """Raised while reading: the structure is wrong at ``where``."""


def _get(
    data: Mapping[str, Any], key: str, kind: Any, where: str, required: bool = True, default: Any = None
) -> Any:
    if key not in data or data[key] is None:
        if required:
            raise _Damaged(f"{where}: '{key}' is missing")
        return default
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if bool not in kinds and isinstance(value, bool) and (int in kinds or float in kinds):
        raise _Damaged(f"{where}: '{key}' must be a number, not {value!r}")
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise _Damaged(f"{where}: '{key}' must be {names}, not {type(value).__name__}")
    return value


def _string_list(data: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = _get(data, key, list, where)
    if not all(isinstance(v, str) for v in value):
        raise _Damaged(f"{where}: '{key}' must be a list of names")
    return list(value)


def _time(data: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = _get(data, key, str, where, required)
    if value is not None:
        try:
            parse_time(value)
        except ValueError:
            raise _Damaged(f"{where}: '{key}' is not an ISO 8601 time: {value!r}") from None
    return value


@dataclass
class JobRecord:
    """One HyP3 job submitted for a pair (a pair may have several: resubmissions)."""

    job_id: str
    submitted_at: str
    origin: str = "submitted"  # submitted | retry | adopted (found on the server by name)
    status: str = "PENDING"
    request_time: str | None = None
    checked_at: str | None = None
    expiration_time: str | None = None
    credit_cost: float | None = None
    logs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "job_id": self.job_id,
            "origin": self.origin,
            "submitted_at": self.submitted_at,
            "request_time": self.request_time,
            "status": self.status,
            "checked_at": self.checked_at,
            "expiration_time": self.expiration_time,
            "credit_cost": self.credit_cost,
            "logs": list(self.logs),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> JobRecord:
        """Parse and check one job record."""
        if not isinstance(data, dict):
            raise _Damaged(f"{where} must be an object")
        job_id = _get(data, "job_id", str, where)
        if not _UUID.match(job_id):
            raise _Damaged(f"{where}: job_id {job_id!r} is not a HyP3 job id (a UUID)")
        status = _get(data, "status", str, where)
        if status not in JOB_STATUSES:
            raise _Damaged(f"{where}: status {status!r} is not one of {', '.join(JOB_STATUSES)}")
        origin = _get(data, "origin", str, where, False, "submitted")
        if origin not in JOB_ORIGINS:
            raise _Damaged(f"{where}: origin {origin!r} is not one of {', '.join(JOB_ORIGINS)}")
        logs = data.get("logs") or []
        if not isinstance(logs, list) or not all(isinstance(v, str) for v in logs):
            raise _Damaged(f"{where}: 'logs' must be a list of URLs")
        return cls(
            job_id=job_id,
            submitted_at=_time(data, "submitted_at", where, True) or "",
            origin=origin,
            status=status,
            request_time=_time(data, "request_time", where),
            checked_at=_time(data, "checked_at", where),
            expiration_time=_time(data, "expiration_time", where),
            credit_cost=_get(data, "credit_cost", (int, float), where, False),
            logs=list(logs),
        )


@dataclass
class FileRecord:
    """One product file of a succeeded job and its download state."""

    job_id: str
    filename: str
    url: str
    size: int | None = None  # bytes, as HyP3 lists it
    md5: str | None = None  # hex, once known (from the bucket's ETag)
    bytes_downloaded: int = 0
    verified: bool = False  # size, MD5 and zip integrity checked
    path: str | None = None  # where the product is now (the unpacked folder, or the zip)
    zip_path: str | None = None  # the kept zip, when zips are kept
    error: str | None = None  # why the last download attempt failed
    updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "job_id": self.job_id,
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "md5": self.md5,
            "bytes_downloaded": self.bytes_downloaded,
            "verified": self.verified,
            "path": self.path,
            "zip_path": self.zip_path,
            "error": self.error,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> FileRecord:
        """Parse and check one file record."""
        if not isinstance(data, dict):
            raise _Damaged(f"{where} must be an object")
        return cls(
            job_id=_get(data, "job_id", str, where),
            filename=_get(data, "filename", str, where),
            url=_get(data, "url", str, where),
            size=_get(data, "size", int, where, False),
            md5=_get(data, "md5", str, where, False),
            bytes_downloaded=_get(data, "bytes_downloaded", int, where, False, 0),
            verified=_get(data, "verified", bool, where, False, False),
            path=_get(data, "path", str, where, False),
            zip_path=_get(data, "zip_path", str, where, False),
            error=_get(data, "error", str, where, False),
            updated_at=_time(data, "updated_at", where),
        )


@dataclass
class PairEntry:
    """Everything about one pair: the request, its job lineage and its files."""

    name: str  # the HyP3 job name; unique per pair (project name + hash of the request)
    project_name: str
    job_type: str
    reference: list[str]
    secondary: list[str]
    job_parameters: dict[str, Any]
    credit_cost: float | None = None
    created_at: str = ""
    jobs: list[JobRecord] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)

    @property
    def latest(self) -> JobRecord | None:
        """The most recent job submitted for this pair."""
        return self.jobs[-1] if self.jobs else None

    @property
    def status(self) -> str:
        """Last known status of the latest job (``NOT_SUBMITTED`` if none)."""
        latest = self.latest
        return latest.status if latest else NOT_SUBMITTED

    @property
    def expiration_time(self) -> str | None:
        """When the latest job's products expire (``None`` while unknown)."""
        latest = self.latest
        return latest.expiration_time if latest else None

    @property
    def job_ids(self) -> list[str]:
        """Every job id ever submitted for this pair, oldest first."""
        return [job.job_id for job in self.jobs]

    @property
    def granules(self) -> list[str]:
        """Reference then secondary granule names."""
        return [*self.reference, *self.secondary]

    def describe(self) -> str:
        """``reference / secondary`` in a line (multi-burst lists shortened)."""

        def short(names: list[str]) -> str:
            return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} bursts)"

        return f"{short(self.reference)} / {short(self.secondary)}"

    def is_expired(self, now: datetime) -> bool:
        """True when the latest job's products have passed their expiration time."""
        expires = parse_time(self.expiration_time)
        return expires is not None and expires <= now

    def request(self) -> dict[str, Any]:
        """The job as ``POST /jobs`` takes it (``job_type``, ``name``, ``job_parameters``)."""
        return {"job_type": self.job_type, "name": self.name, "job_parameters": dict(self.job_parameters)}

    def apply_server_job(self, job: Mapping[str, Any], now_iso: str, origin: str = "submitted") -> JobRecord:
        """Record what HyP3 says about one of this pair's jobs (adding it to the lineage if new).

        Updates status, times, cost and log URLs; for a succeeded job, adds its files (keeping
        the download state of files already recorded).
        """
        job_id = str(job["job_id"])
        record = next((j for j in self.jobs if j.job_id == job_id), None)
        added = record is None
        if record is None:
            record = JobRecord(job_id=job_id, submitted_at=now_iso, origin=origin)
            self.jobs.append(record)
        status = str(job.get("status_code") or record.status)
        record.status = status if status in JOB_STATUSES else record.status
        record.request_time = _iso_or_none(job.get("request_time")) or record.request_time
        record.expiration_time = _iso_or_none(job.get("expiration_time")) or record.expiration_time
        cost = job.get("credit_cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            record.credit_cost = cost
        record.logs = [str(url) for url in (job.get("logs") or [])]
        record.checked_at = now_iso
        if record.status == "SUCCEEDED":
            for item in job.get("files") or []:
                existing = next(
                    (f for f in self.files if f.job_id == job_id and f.filename == item.get("filename")), None
                )
                size = item.get("size")
                size = int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None
                if existing is None:
                    self.files.append(
                        FileRecord(
                            job_id=job_id, filename=str(item["filename"]), url=str(item["url"]), size=size
                        )
                    )
                else:
                    existing.url = str(item["url"])
                    existing.size = size if size is not None else existing.size
        if added and origin == "adopted" and len(self.jobs) > 1:
            # A job found on HyP3 (another run's) takes its place in time, so that "latest"
            # stays the most recent request.
            self.jobs.sort(key=lambda j: j.request_time or j.submitted_at or "")
        return record

    def to_dict(self) -> dict[str, Any]:
        """JSON form (with the derived ``status``, ``expiration_time`` and ``job_ids``)."""
        return {
            "name": self.name,
            "project_name": self.project_name,
            "job_type": self.job_type,
            "reference": list(self.reference),
            "secondary": list(self.secondary),
            "job_parameters": dict(self.job_parameters),
            "credit_cost": self.credit_cost,
            "status": self.status,
            "expiration_time": self.expiration_time,
            "job_ids": self.job_ids,
            "jobs": [job.to_dict() for job in self.jobs],
            "files": [f.to_dict() for f in self.files],
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PairEntry:
        """Parse and check one pair entry."""
        if not isinstance(data, dict):
            raise _Damaged(f"{where} must be an object")
        name = _get(data, "name", str, where)
        if not 1 <= len(name) <= 100:
            raise _Damaged(f"{where}: name must have 1 to 100 characters")
        jobs_raw = _get(data, "jobs", list, where, False, [])
        files_raw = _get(data, "files", list, where, False, [])
        return cls(
            name=name,
            project_name=_get(data, "project_name", str, where, False, ""),
            job_type=_get(data, "job_type", str, where),
            reference=_string_list(data, "reference", where),
            secondary=_string_list(data, "secondary", where),
            job_parameters=_get(data, "job_parameters", dict, where),
            credit_cost=_get(data, "credit_cost", (int, float), where, False),
            created_at=_time(data, "created_at", where) or "",
            jobs=[JobRecord.from_dict(j, f"{where}.jobs[{i}]") for i, j in enumerate(jobs_raw)],
            files=[FileRecord.from_dict(f, f"{where}.files[{i}]") for i, f in enumerate(files_raw)],
        )


class JobsFile:
    """A jobs file in memory; :meth:`save` writes it back atomically.

    Use :meth:`load` for an existing file (damage is reported with :class:`InputError`) or
    :meth:`open` to create it when missing.
    """

    def __init__(self, path: str | Path, hyp3_url: str = "", pairs: list[PairEntry] | None = None) -> None:
        self.path = Path(path)
        self.hyp3_url = hyp3_url
        self.pairs: list[PairEntry] = list(pairs or [])
        self.created_at = utc_now_iso()
        self.updated_at = self.created_at
        self.reconciled_at: str | None = None  # last comparison with every job on HyP3

    # ---- reading ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> JobsFile:
        """Read and check the jobs file at ``path``.

        Raises :class:`InputError` naming the file and what is wrong when it is missing, not
        JSON, not a jobs file, from a newer InSARHub, or structurally damaged.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(
                f"The jobs file {path} does not exist; submit jobs first (or pick the right file)."
            ) from None
        except OSError as exc:
            raise InputError(f"The jobs file {path} cannot be read ({exc}).") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(
                f"The jobs file {path} is damaged: not valid JSON ({exc}). Restore it from a backup, or "
                "submit again with the same pairs and project name into a new jobs file: jobs already on "
                "HyP3 are found by name and not submitted twice."
            ) from None
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Any, path: str | Path) -> JobsFile:
        """Build from the parsed JSON of the file at ``path`` (checked like :meth:`load`)."""
        path = Path(path)
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise _Damaged(f'not an InSARHub HyP3 jobs file (no "format": "{FORMAT}")')
            version = data.get("schema_version")
            if not isinstance(version, int) or isinstance(version, bool):
                raise _Damaged("'schema_version' is missing")
            if version > SCHEMA_VERSION:
                raise _Damaged(
                    f"it was written by a newer InSARHub (schema version {version}; this one reads up to "
                    f"{SCHEMA_VERSION}); update the plugin"
                )
            pairs_raw = _get(data, "pairs", list, "the file")
            store = cls(path, _get(data, "hyp3_url", str, "the file", False, ""))
            store.pairs = [PairEntry.from_dict(p, f"pairs[{i}]") for i, p in enumerate(pairs_raw)]
            store.created_at = _time(data, "created_at", "the file") or store.created_at
            store.updated_at = _time(data, "updated_at", "the file") or store.updated_at
            store.reconciled_at = _time(data, "reconciled_at", "the file")
            names = [p.name for p in store.pairs]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise _Damaged(f"the pair name(s) {', '.join(duplicates)} appear more than once")
        except _Damaged as exc:
            raise InputError(f"The jobs file {path} is damaged: {exc}.") from None
        return store

    @classmethod
    def open(cls, path: str | Path, hyp3_url: str = "") -> JobsFile:
        """Load ``path`` if it exists, else a new empty jobs file for ``hyp3_url`` (not yet saved)."""
        path = Path(path)
        if path.exists():
            return cls.load(path)
        return cls(path, hyp3_url)

    # ---- content ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[PairEntry]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def find(self, name: str) -> PairEntry | None:
        """The pair entry with this job name, if any."""
        return next((p for p in self.pairs if p.name == name), None)

    def find_job(self, job_id: str) -> PairEntry | None:
        """The pair entry whose lineage holds ``job_id``, if any."""
        return next((p for p in self.pairs if job_id in p.job_ids), None)

    def known_job_ids(self) -> set[str]:
        """Every job id recorded in the file."""
        return {job_id for p in self.pairs for job_id in p.job_ids}

    def add(self, entry: PairEntry) -> None:
        """Add a new pair entry (its name must be new)."""
        if self.find(entry.name) is not None:
            raise ValueError(f"pair {entry.name} is already in the jobs file")
        self.pairs.append(entry)

    def check_url(self, hyp3_url: str) -> None:
        """Refuse (:class:`InputError`) to mix HyP3 deployments in one jobs file."""
        mine = self.hyp3_url.rstrip("/")
        theirs = hyp3_url.rstrip("/")
        if mine and theirs and mine != theirs:
            raise InputError(
                f"The jobs file {self.path} belongs to the HyP3 API at {mine}, but the current HyP3 URL "
                f"is {theirs}. Use the same HyP3 URL (INSARHUB_HYP3_URL / options page) or another jobs file."
            )
        if not mine:
            self.hyp3_url = theirs

    def to_dict(self) -> dict[str, Any]:
        """JSON form of the whole file."""
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "hyp3_url": self.hyp3_url,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "reconciled_at": self.reconciled_at,
            "pairs": [p.to_dict() for p in self.pairs],
        }

    # ---- writing ------------------------------------------------------------------------

    def save(self) -> None:
        """Write the file atomically (temporary file in the same folder, fsync, ``os.replace``).

        Raises :class:`~insarhub_qgis.core.oserrors.StorageError` (the previous version of the
        file stays as it was) when the folder is read-only or full or the name too long.
        """
        self.updated_at = utc_now_iso()
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise StorageError(describe_os_error(exc, f"write the jobs file {self.path}")) from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as tmp:
                tmp.write(text)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, self.path)
        except BaseException as exc:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise StorageError(
                    describe_os_error(exc, f"write the jobs file {self.path} (its previous version is unchanged)")
                ) from None
            raise
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- the lock -------------------------------------------------------------------------------------

LOCK_WAIT_S = 1800.0  # longest wait for another run (watch holds the lock only while it polls)
_LOCK_POLL_S = 0.2
_held = threading.local()  # path -> depth, for a thread that takes the lock again inside itself
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


class JobsFileBusyError(InputError):
    """Another run held the jobs file for longer than the wait allowed."""


def _lock_path(jobs_file: Path) -> Path:
    return jobs_file.with_name(f".{jobs_file.name}.lock")


@contextmanager
def jobs_file_lock(
    jobs_file: str | Path,
    *,
    is_cancelled: Callable[[], bool] | None = None,
    on_wait: Callable[[str], None] | None = None,
    wait_s: float = LOCK_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the exclusive lock of ``jobs_file`` (another process or thread waits for it).

    Taken again by the same thread inside itself, it is simply held. While waiting,
    ``on_wait(message)`` is told once who holds it, cancel is honoured, and after ``wait_s``
    seconds :class:`JobsFileBusyError` says so. A folder where the lock cannot be created
    (read-only, full) raises :class:`~insarhub_qgis.core.oserrors.StorageError`.
    """
    path = Path(jobs_file).resolve()
    key = str(path)
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    lock_file = _lock_path(path)
    started = time.monotonic()
    told = False

    def waiting() -> None:
        nonlocal told
        if is_cancelled is not None and is_cancelled():
            raise CancelledError("Cancelled by the user while waiting for the jobs file.")
        if not told and on_wait is not None:
            told = True
            on_wait(
                f"Waiting for another InSARHub run that is using the jobs file {path}{holder(lock_file)}; "
                "it continues when that run has written its results."
            )
        if time.monotonic() - started > wait_s:
            raise JobsFileBusyError(
                f"Another InSARHub run has been using the jobs file {path} for more than {wait_s / 60:.0f} "
                f"minutes{holder(lock_file)}. Let it finish (or stop it) and run this again."
            )
        sleep(_LOCK_POLL_S)

    while not thread_lock.acquire(blocking=False):
        waiting()
    fd = -1
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(
                describe_os_error(exc, f"create the lock file of the jobs file {path} (its folder must be writable)")
            ) from None
        while not try_lock(fd):
            waiting()
        stamp(fd)
        depth[key] = 1
        try:
            yield
        finally:
            depth.pop(key, None)
            unlock(fd)
    finally:
        if fd >= 0:
            os.close(fd)
        thread_lock.release()
