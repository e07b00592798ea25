"""Follow the jobs of a jobs file: refresh by job id, wait, resubmit failures, watch expiry.

* :func:`refresh` asks HyP3 for each pair's latest job *by job id* (``GET /jobs/{id}``), so
  there is no time window (``hyp3_sdk.find_jobs`` and InSARHub's original code only looked
  back 20 days). A job HyP3 no longer knows (404) keeps its record with status
  ``UNKNOWN_TO_SERVER`` and is reported, never dropped. Pairs without a job on record are
  looked up by name first (a crash after HyP3 accepted them).
* :func:`watch` refreshes, optionally resubmits failed pairs, and optionally polls until
  every job has finished, with a growing interval, a timeout and cancel checks.

Resubmission policy ("once per call"): with ``retry_failed`` each pair whose *latest* job is
FAILED is resubmitted at most once per :func:`watch` call, recorded in the pair's lineage
(``origin: "retry"``). If that new job fails too, the same call does not resubmit it again;
the next call does (again once). A pair whose latest job succeeded, is pending or running,
or is unknown to the server is never resubmitted. Before resubmitting, the pair's name is
looked up on the server, so a retry whose answer was lost is adopted, not sent twice.

Expiry: HyP3 keeps products 14 days. Products not yet downloaded that expire within 3 days
are listed in ``expiring_soon``; expired ones in ``expired``, naming the pairs to resubmit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from ..download import sleep_unless_cancelled
from ..errors import CancelledError
from .client import Hyp3Client, JobNotFoundError
from .jobs_store import FINAL_STATUSES, UNKNOWN_TO_SERVER, JobsFile, PairEntry, parse_time, utc_now_iso
from .submit import submit_entries

__all__ = ["EXPIRY_WARNING", "WatchResult", "refresh", "summarize", "watch"]

log = logging.getLogger(__name__)

EXPIRY_WARNING = timedelta(days=3)
CancelCheck = Callable[[], bool]
ProgressCallback = Callable[[int, int], None]
Now = Callable[[], datetime]


@dataclass
class WatchResult:
    """State of a jobs file after :func:`refresh` or :func:`watch`.

    ``counts`` maps each status (``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``,
    ``UNKNOWN_TO_SERVER``, ``NOT_SUBMITTED``) to a number of pairs; the lists name pairs
    (``<job name> (<reference> / <secondary>)`` plus what to do).
    """

    jobs_file: Path
    counts: dict[str, int] = field(default_factory=dict)
    failed_pairs: list[str] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    not_submitted: list[str] = field(default_factory=list)
    expiring_soon: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    timed_out: bool = False
    polls: int = 0

    @property
    def succeeded(self) -> int:
        """Pairs whose latest job succeeded."""
        return self.counts.get("SUCCEEDED", 0)

    @property
    def failed(self) -> int:
        """Pairs whose latest job failed."""
        return self.counts.get("FAILED", 0)

    @property
    def running(self) -> int:
        """Pairs whose latest job is pending or running."""
        return self.counts.get("PENDING", 0) + self.counts.get("RUNNING", 0)

    @property
    def total(self) -> int:
        """Pairs in the jobs file."""
        return sum(self.counts.values())

    def messages(self) -> list[str]:
        """Lines worth showing the user (warnings first)."""
        lines = []
        if self.expired:
            lines.append(f"{len(self.expired)} product(s) expired before download; resubmit these pairs:")
            lines.extend(f"  {p}" for p in self.expired)
        if self.expiring_soon:
            lines.append(f"{len(self.expiring_soon)} product(s) expire within 3 days; download them soon:")
            lines.extend(f"  {p}" for p in self.expiring_soon)
        if self.unknown:
            lines.append(f"{len(self.unknown)} job(s) are unknown to HyP3 (kept in the jobs file):")
            lines.extend(f"  {p}" for p in self.unknown)
        if self.not_submitted:
            lines.append(f"{len(self.not_submitted)} pair(s) were never submitted; run the submission again.")
        if self.resubmitted:
            lines.append(f"{len(self.resubmitted)} failed pair(s) were resubmitted.")
        if self.failed_pairs:
            lines.append(f"{len(self.failed_pairs)} pair(s) failed:")
            lines.extend(f"  {p}" for p in self.failed_pairs)
        if self.timed_out:
            lines.append(
                f"Stopped waiting at the timeout with {self.running} job(s) still running; run again later."
            )
        return lines


def _now_fn(now: Now | None) -> Now:
    return now or (lambda: datetime.now(timezone.utc))


def _all_downloaded(entry: PairEntry) -> bool:
    latest = entry.latest
    files = [f for f in entry.files if latest is not None and f.job_id == latest.job_id]
    return bool(files) and all(f.verified for f in files)


def summarize(store: JobsFile, now: datetime, resubmitted: list[str] | None = None) -> WatchResult:
    """Counts, failures, unknown jobs and expiry warnings of a jobs file (no request)."""
    result = WatchResult(store.path, resubmitted=list(resubmitted or []))
    for entry in store.pairs:
        status = entry.status
        result.counts[status] = result.counts.get(status, 0) + 1
        label = f"{entry.name} ({entry.describe()})"
        latest = entry.latest
        if latest is None:
            result.not_submitted.append(label)
            continue
        if status == "FAILED":
            log_hint = f"; log: {latest.logs[0]}" if latest.logs else ""
            result.failed_pairs.append(f"{label}: job {latest.job_id} failed{log_hint}")
        elif status == UNKNOWN_TO_SERVER:
            result.unknown.append(f"{label}: job {latest.job_id} (lineage: {', '.join(entry.job_ids)})")
        elif status == "SUCCEEDED" and not _all_downloaded(entry):
            expires = parse_time(entry.expiration_time)
            if expires is None:
                continue
            if expires <= now:
                result.expired.append(f"{label}: expired {entry.expiration_time}; resubmit this pair")
            elif expires - now < EXPIRY_WARNING:
                hours = (expires - now).total_seconds() / 3600
                result.expiring_soon.append(f"{label}: expires {entry.expiration_time} (in {hours:.0f} h)")
    return result


def _refresh_store(
    store: JobsFile, client: Hyp3Client, *, full: bool, now: Now, is_cancelled: CancelCheck | None
) -> None:
    """Adopt jobs of never-submitted pairs by name, then refresh latest jobs by id."""
    unsubmitted = [e for e in store.pairs if not e.jobs]
    if unsubmitted:
        found = client.find_submitted([e.request() for e in unsubmitted], store.known_job_ids())
        for name, jobs in found.items():
            entry = store.find(name)
            for job in jobs if entry is not None else []:
                entry.apply_server_job(job, utc_now_iso(now()), origin="adopted")
    for entry in store.pairs:
        latest = entry.latest
        if latest is None:
            continue
        files_missing = latest.status == "SUCCEEDED" and not any(
            f.job_id == latest.job_id for f in entry.files
        )
        if not (full or latest.status not in FINAL_STATUSES or files_missing):
            continue
        if is_cancelled is not None and is_cancelled():
            raise CancelledError("Cancelled by the user.")
        try:
            job = client.get_job(latest.job_id)
        except JobNotFoundError:
            if latest.status != UNKNOWN_TO_SERVER:
                log.warning(
                    "HyP3 does not know job %s of pair %s any more; keeping its record.",
                    latest.job_id,
                    entry.name,
                )
            latest.status = UNKNOWN_TO_SERVER
            latest.checked_at = utc_now_iso(now())
            continue
        entry.apply_server_job(job, utc_now_iso(now()))


def refresh(
    jobs_file: str | Path,
    client: Hyp3Client,
    *,
    full: bool = False,
    is_cancelled: CancelCheck | None = None,
    now: Now | None = None,
) -> WatchResult:
    """Refresh the jobs file from HyP3 by job id (no time window) and save it.

    Asks for every latest job not yet final (and succeeded ones without a file list, and
    those unknown to the server); ``full`` asks for every latest job. What was learnt is saved
    even when the refresh stops early (error or cancel).
    """
    now_fn = _now_fn(now)
    store = JobsFile.load(jobs_file)
    store.check_url(client.url)
    try:
        _refresh_store(store, client, full=full, now=now_fn, is_cancelled=is_cancelled)
    finally:
        store.save()
    return summarize(store, now_fn())


def watch(
    jobs_file: str | Path,
    client: Hyp3Client,
    *,
    wait: bool = False,
    timeout_s: float = 6 * 3600,
    retry_failed: bool = False,
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval_s: float = 30.0,
    max_poll_interval_s: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    now: Now | None = None,
) -> WatchResult:
    """Refresh the jobs; optionally resubmit failed pairs; optionally wait until all finish.

    Args:
        jobs_file: The jobs file (saved after every poll).
        client: The HyP3 client.
        wait: Poll until no job is pending or running, or until ``timeout_s``.
        timeout_s: Longest wait in seconds; on timeout the result has ``timed_out`` set
            (no exception: the jobs file is current and a later call continues).
        retry_failed: Resubmit each pair whose latest job failed, once per call (see the
            module docstring); refuses with both numbers if the credits do not suffice.
        progress: ``progress(finished, total)`` after every poll (pairs with a job).
        is_cancelled: Checked between requests and while sleeping (:class:`CancelledError`).
        sleep: The sleep function (tests inject one that advances ``clock``).
        poll_interval_s: First pause between polls; it grows by half each poll up to
            ``max_poll_interval_s``.
        clock: Monotonic seconds, for the timeout.
        now: Current UTC time, for expiry.
    """
    now_fn = _now_fn(now)
    store = JobsFile.load(jobs_file)
    store.check_url(client.url)
    started = clock()
    interval = poll_interval_s
    retried: set[str] = set()
    resubmitted: list[str] = []
    timed_out = False
    polls = 0
    while True:
        polls += 1
        try:
            _refresh_store(store, client, full=False, now=now_fn, is_cancelled=is_cancelled)
            if retry_failed:
                failed = [e for e in store.pairs if e.status == "FAILED" and e.name not in retried]
                if failed:
                    sent = submit_entries(store, client, failed, origin="retry", now=now_fn)
                    retried.update(e.name for e in failed)
                    resubmitted.extend(f"{e.name} ({e.describe()})" for e in failed)
                    if sent.adopted:
                        log.info("%d retried job(s) were already on HyP3 and were recorded.", sent.adopted)
        finally:
            store.save()
        submitted = [e for e in store.pairs if e.jobs]
        unfinished = [e for e in submitted if e.status in ("PENDING", "RUNNING")]
        if progress is not None:
            progress(len(submitted) - len(unfinished), len(submitted))
        if not wait or not unfinished:
            break
        elapsed = clock() - started
        if elapsed >= timeout_s:
            timed_out = True
            break
        pause = min(interval, timeout_s - elapsed)
        log.info("%d job(s) still running; next check in %.0f s.", len(unfinished), pause)
        sleep_unless_cancelled(pause, sleep, is_cancelled)
        interval = min(interval * 1.5, max_poll_interval_s)
    result = summarize(store, now_fn(), resubmitted)
    result.timed_out = timed_out
    result.polls = polls
    return result
