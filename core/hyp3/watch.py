"""Follow the jobs of a jobs file: refresh by job id, wait, resubmit failures, watch expiry.

* :func:`refresh` asks HyP3 for each pair's latest job *by job id* (``GET /jobs/{id}``), so
  there is no time window (``hyp3_sdk.find_jobs`` and InSARHub's original code only looked
  back 20 days). A job HyP3 no longer knows (404) keeps its record with status
  ``UNKNOWN_TO_SERVER`` and is reported, never dropped.
* Before that, every pair is reconciled with HyP3 by its job name, so that jobs made by any
  run (a crash after HyP3 accepted them, a concurrent run with another jobs file) are adopted,
  never orphaned: pairs without a job on record are looked up by name (``GET /jobs?name=``);
  for the others, the jobs requested since the file was last reconciled (``reconciled_at``,
  less an hour's margin; the first time since its oldest pair) are listed in one paged
  ``GET /jobs?start=`` and matched by name, job type and granules.
* Every read-modify-write of the jobs file holds its lock (:func:`~.jobs_store.jobs_file_lock`);
  a waiting watch releases it between polls.
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

from ..errors import CancelledError
from ..retry import sleep_unless_cancelled
from .client import Hyp3Client, JobNotFoundError, job_granules
from .jobs_store import (
    FINAL_STATUSES,
    UNKNOWN_TO_SERVER,
    JobsFile,
    PairEntry,
    jobs_file_lock,
    parse_time,
    utc_now_iso,
)
from .submit import submit_entries

__all__ = ["EXPIRY_WARNING", "WatchResult", "refresh", "summarize", "watch"]

log = logging.getLogger(__name__)

EXPIRY_WARNING = timedelta(days=3)
#: Jobs listed for reconciliation start this long before the last reconciliation (clock skew,
#: a submission that was still in flight).
RECONCILE_MARGIN = timedelta(hours=1)
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
    adopted: int = 0  # jobs found on HyP3 under a pair's name that the file did not know

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
        if self.adopted:
            lines.append(
                f"{self.adopted} job(s) made by another or an interrupted run were found on HyP3 by name and "
                "recorded in the jobs file."
            )
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


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(store: JobsFile, client: Hyp3Client, *, now: Now) -> int:
    """Adopt every job HyP3 has under a pair's name that the jobs file does not know; return how many.

    Pairs without a job are looked up by name; for the rest one paged listing of the jobs
    requested since the last reconciliation (see the module docstring) is matched by name, job
    type and granules. Sets ``store.reconciled_at``; does not save.
    """
    adopted = 0
    started = now()
    unsubmitted = [e for e in store.pairs if not e.jobs]
    if unsubmitted:
        found = client.find_submitted([e.request() for e in unsubmitted], store.known_job_ids())
        for name, jobs in found.items():
            entry = store.find(name)
            for job in jobs if entry is not None else []:
                entry.apply_server_job(job, utc_now_iso(now()), origin="adopted")
                adopted += 1
    submitted = [e for e in store.pairs if e.jobs]
    if submitted:
        since_text = store.reconciled_at or min((e.created_at for e in submitted if e.created_at), default="")
        since = parse_time(since_text) if since_text else None
        if since is None:
            since = min((parse_time(j.submitted_at) for e in submitted for j in e.jobs), default=started)
        known = store.known_job_ids()
        by_name = {e.name: e for e in submitted}
        for job in client.jobs_since(_iso_z(since - RECONCILE_MARGIN)):
            entry = by_name.get(str(job.get("name") or ""))
            if entry is None or job["job_id"] in known:
                continue
            if (job.get("job_type"), frozenset(job_granules(job))) != (entry.job_type, frozenset(entry.granules)):
                continue
            entry.apply_server_job(job, utc_now_iso(now()), origin="adopted")
            known.add(job["job_id"])
            adopted += 1
    store.reconciled_at = utc_now_iso(started)
    if adopted:
        log.warning("%d job(s) on HyP3 were not in the jobs file %s; they are recorded now.", adopted, store.path)
    return adopted


def _refresh_store(
    store: JobsFile,
    client: Hyp3Client,
    *,
    full: bool,
    now: Now,
    is_cancelled: CancelCheck | None,
    reconcile_first: bool = True,
) -> int:
    """Reconcile with HyP3 by name (:func:`reconcile`), then refresh latest jobs by id; return
    the number of jobs adopted."""
    adopted = reconcile(store, client, now=now) if reconcile_first else 0
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
    return adopted


def refresh(
    jobs_file: str | Path,
    client: Hyp3Client,
    *,
    full: bool = False,
    is_cancelled: CancelCheck | None = None,
    now: Now | None = None,
    on_message: Callable[[str], None] | None = None,
) -> WatchResult:
    """Reconcile the jobs file with HyP3 by name, refresh it by job id (no time window), save it.

    Asks for every latest job not yet final (and succeeded ones without a file list, and
    those unknown to the server); ``full`` asks for every latest job. What was learnt is saved
    even when the refresh stops early (error or cancel). Holds the jobs file's lock
    (``on_message`` hears once if it waits for another run).
    """
    now_fn = _now_fn(now)
    with jobs_file_lock(jobs_file, is_cancelled=is_cancelled, on_wait=on_message):
        store = JobsFile.load(jobs_file)
        store.check_url(client.url)
        try:
            adopted = _refresh_store(store, client, full=full, now=now_fn, is_cancelled=is_cancelled)
        finally:
            store.save()
    result = summarize(store, now_fn())
    result.adopted = adopted
    return result


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
    on_message: Callable[[str], None] | None = None,
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
        on_message: Hears once when this run waits for another one using the jobs file.

    Each poll reads, updates and writes the jobs file under its lock (released between polls,
    so a submission or download meanwhile is not kept waiting); the first poll reconciles
    every pair with HyP3 by name (:func:`reconcile`).
    """
    now_fn = _now_fn(now)
    JobsFile.load(jobs_file).check_url(client.url)  # a wrong file is refused before anything else
    started = clock()
    interval = poll_interval_s
    retried: set[str] = set()
    resubmitted: list[str] = []
    timed_out = False
    polls = 0
    adopted = 0
    while True:
        polls += 1
        with jobs_file_lock(jobs_file, is_cancelled=is_cancelled, on_wait=on_message):
            store = JobsFile.load(jobs_file)
            store.check_url(client.url)
            try:
                adopted += _refresh_store(
                    store, client, full=False, now=now_fn, is_cancelled=is_cancelled, reconcile_first=polls == 1
                )
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
    result.adopted = adopted
    return result
