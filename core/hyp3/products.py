"""Download the finished products of a HyP3 jobs file: verified, resumable, each in its own folder.

The bytes go through the generic engine (:func:`~insarhub_qgis.core.download.download_files`);
each zip is unpacked with :func:`~insarhub_qgis.core.download.extract_zip_safely` into
``<products folder>/<product name>/`` (never over anything else there) and then removed. Every
file's download state (bytes, verified, path, error) is written to the jobs file as soon as it
is known, under the jobs file's lock, into a fresh read of the file, so a watch or submission
running meanwhile loses nothing and neither does this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..download import (
    CancelCheck,
    DownloadItem,
    DownloadOutcome,
    FreeSpace,
    ProgressCallback,
    _default_session,
    _safe_relative,
    check_writable_folder,
    download_files,
    extract_zip_safely,
)
from ..errors import InputError
from ..retry import RetryPolicy
from .jobs_store import FileRecord, JobsFile, PairEntry, jobs_file_lock, utc_now_iso
from .watch import refresh

if TYPE_CHECKING:
    from .client import Hyp3Client

__all__ = ["ProductDownloadResult", "download_products"]


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


def _record_of(store: JobsFile, pair: str, job_id: str, filename: str) -> FileRecord | None:
    entry = store.find(pair)
    if entry is None:
        return None
    return next((f for f in entry.files if f.job_id == job_id and f.filename == filename), None)


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
    on_message: Callable[[str], None] | None = None,
) -> ProductDownloadResult:
    """Download (and unpack) the products of every succeeded pair of a HyP3 jobs file.

    With ``client`` the jobs file is refreshed first (:func:`~.watch.refresh`); without it the
    file's recorded state is used. Products whose files are recorded as verified and whose
    folder (or zip) still exists are skipped without a request; expired products are named,
    not attempted. Each product is unpacked into its own folder; a folder of that name that
    holds something else is an error for that pair, never replaced.

    ``session`` must *not* carry the HyP3 bearer token: products live in a public S3 bucket,
    which rejects foreign ``Authorization`` headers. The default is a plain, guarded session
    (trusting ``client``'s CA bundle, if any).

    Raises:
        InputError: damaged jobs file, not enough disk space.
        StorageError: the products folder or the jobs file's folder cannot be written, the disk
            filled up (the message says how much is still needed).
        ServiceError: 401/403 from the bucket; HyP3 errors while refreshing.
        CancelledError: cancelled (state so far is saved; ``.part`` files resume next time).
    """
    now = now or (lambda: datetime.now(timezone.utc))
    output = Path(output_folder)
    check_writable_folder(output, "the products")
    if client is not None:
        refresh(jobs_file, client, is_cancelled=is_cancelled, now=now, on_message=on_message)
    store = JobsFile.load(jobs_file)
    result = ProductDownloadResult(output)
    items: list[DownloadItem] = []
    where: dict[str, tuple[PairEntry, FileRecord]] = {}
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
            try:
                _safe_relative(record.filename)
                if "/" in record.filename.replace("\\", "/"):
                    raise InputError(f"HyP3 named a product file '{record.filename}' with a folder in it")
            except InputError as exc:
                result.failed.append(f"{entry.name} ({entry.describe()}): {exc}; it was not downloaded")
                continue
            key = f"{entry.name}/{record.filename}"
            items.append(DownloadItem(record.url, record.filename, record.size, record.md5, key))
            where[key] = (entry, record)

    if not items:
        return result

    if session is None and client is not None and client.ca_bundle:
        session = _default_session(workers)
        session.verify = client.ca_bundle
    unpack_room = sum(item.size or 0 for item in items) if extract else 0

    def save(entry: PairEntry, record: FileRecord) -> None:
        """Write one file's state into a fresh read of the jobs file, under its lock."""
        with jobs_file_lock(jobs_file, on_wait=on_message):
            latest = JobsFile.load(jobs_file)
            target = _record_of(latest, entry.name, record.job_id, record.filename)
            if target is None:  # the pair or file left the jobs file meanwhile: nothing to record
                return
            for name in ("bytes_downloaded", "md5", "updated_at", "error", "verified", "path", "zip_path"):
                setattr(target, name, getattr(record, name))
            latest.save()

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
                    product = created[0]
                    record.zip_path = None if not keep_zip else str(outcome.path)
                    if not keep_zip:
                        outcome.path.unlink(missing_ok=True)  # the engine wrote it
            except InputError as exc:
                record.verified = False
                record.error = str(exc)
                result.failed.append(f"{entry.name} ({entry.describe()}): {exc}")
                save(entry, record)
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
        save(entry, record)

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
