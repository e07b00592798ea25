"""What the dock shows of a HyP3 jobs file (read with :mod:`core.hyp3.jobs_store`) and of a
pairs layer's cost (priced with :func:`core.hyp3.submit.plan_jobs` and the shipped cost tables)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .i18n import tr

EXPIRY_WARNING = timedelta(days=3)



RUNNING_STATUSES = ("PENDING", "RUNNING")
COLUMNS = ("Pair", "Status", "Credits", "Expires", "Files")
_NAME_DATE = re.compile(r"_(\d{8})T\d{6}")
_BURST = re.compile(r"^S1_(\d{6}_IW[123])_")


def granule_date(name: str) -> date | None:
    """The acquisition date in a Sentinel-1 SLC or burst name."""
    match = _NAME_DATE.search(name or "")
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


def pair_label(reference: list[str], secondary: list[str], stack: str = "") -> str:
    """``2020-01-05 → 01-17``, with `` · <stack>`` when a stack is given (tables of several stacks)."""
    first = granule_date(reference[0]) if reference else None
    second = granule_date(secondary[0]) if secondary else None
    if first is None or second is None:
        text = f"{reference[0] if reference else '?'} / {secondary[0] if secondary else '?'}"
    elif first.year == second.year:
        text = f"{first:%Y-%m-%d} → {second:%m-%d}"
    else:
        text = f"{first:%Y-%m-%d} → {second:%Y-%m-%d}"
    return f"{text} · {stack}" if stack else text


def stack_of(reference: list[str], stacks: dict[str, str]) -> str:
    """The stack of a pair: from the pairs layer (``stacks``), else the burst id in the name."""
    if not reference:
        return ""
    if stacks.get(reference[0]):
        return stacks[reference[0]]
    burst = _BURST.match(reference[0])
    return burst.group(1) if burst else ""


def expires_in(expires: str, now: datetime) -> str:
    """How long until a product expires on HyP3, short: ``13 d``, ``5 h``, ``expired``."""
    from ..core.hyp3.jobs_store import parse_time

    when = parse_time(expires) if expires else None
    if when is None:
        return ""
    left = when - now
    if left.total_seconds() <= 0:
        return tr("expired")
    if left >= timedelta(days=1):
        return tr("{days} d").format(days=left.days)
    return tr("{hours} h").format(hours=max(1, int(left.total_seconds() // 3600)))


@dataclass
class JobRow:
    """One line of the jobs table."""

    name: str
    pair: str  # the short label
    status: str
    job_id: str
    expires: str  # ISO time or ""
    files_total: int
    files_verified: int
    expires_soon: bool
    expired: bool
    resubmissions: int
    credits: float | None = None
    stack: str = ""
    granules: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # where its downloaded products are
    expires_text: str = ""

    @property
    def downloaded(self) -> str:
        if not self.files_total:
            return ""
        return f"{self.files_verified}/{self.files_total}"

    def cells(self) -> list[Any]:
        status = tr(self.status.lower().replace("_", " ")) + (
            tr(" (retry {count})").format(count=self.resubmissions) if self.resubmissions else ""
        )
        credits: Any = "" if self.credits is None else (int(self.credits) if float(self.credits).is_integer() else self.credits)
        return [self.pair, status, credits, self.expires_text, self.downloaded]

    def tooltip(self) -> str:
        lines = [*self.granules, *([f"Stack: {self.stack}"] if self.stack else []), f"HyP3 job name: {self.name}"]
        if self.job_ids:
            lines.append("Job ids: " + ", ".join(self.job_ids))
        if self.expires:
            lines.append(f"Expires {self.expires[:16].replace('T', ' ')} UTC")
        return "\n".join(lines)


def job_rows(path: str | Path, now: datetime | None = None, stacks: dict[str, str] | None = None) -> list[JobRow]:
    """Rows of the jobs file at ``path`` (InputError from the store when it is damaged).

    ``stacks`` maps granule names to their stack, for the short pair labels.
    """
    from ..core.hyp3.jobs_store import JobsFile, parse_time

    now = now or datetime.now(timezone.utc)
    stacks = stacks or {}
    store = JobsFile.load(path)
    rows = []
    # The stack is in a pair's label only when the table holds several (else it only takes room).
    several = len({stack_of(entry.reference, stacks) for entry in store}) > 1
    for entry in store:
        latest = entry.latest
        verified = sum(1 for f in entry.files if f.verified)
        expires = parse_time(entry.expiration_time) if entry.expiration_time else None
        complete = bool(entry.files) and verified == len(entry.files)
        stack = stack_of(entry.reference, stacks) if several else ""
        rows.append(
            JobRow(
                name=entry.name,
                pair=pair_label(entry.reference, entry.secondary, stack),
                status=entry.status,
                job_id=latest.job_id if latest else "",
                expires=entry.expiration_time or "",
                files_total=len(entry.files),
                files_verified=verified,
                expires_soon=(
                    entry.status == "SUCCEEDED"
                    and expires is not None
                    and now < expires <= now + EXPIRY_WARNING
                    and not complete
                ),
                expired=expires is not None and expires <= now and entry.status == "SUCCEEDED",
                resubmissions=max(0, len(entry.jobs) - 1),
                credits=entry.credit_cost,
                stack=stack_of(entry.reference, stacks),
                granules=entry.granules,
                job_ids=entry.job_ids,
                logs=list(latest.logs) if latest else [],
                paths=[p for f in entry.files for p in (f.path or f.zip_path,) if p],
                expires_text=expires_in(entry.expiration_time or "", now) if entry.status == "SUCCEEDED" else "",
            )
        )
    return rows


def expiry_message(rows: list[JobRow]) -> str:
    """A warning for products that expire within 3 days and are not downloaded ("" when none)."""
    soon = [r for r in rows if r.expires_soon]
    gone = [r for r in rows if r.expired and r.files_verified < r.files_total]
    parts = []
    if soon:
        first = min(r.expires for r in soon)[:16].replace("T", " ")
        parts.append(
            tr(
                "{count} product(s) expire on HyP3 within 3 days (first at {first} UTC) and are not downloaded: "
                "download them now."
            ).format(count=len(soon), first=first)
        )
    if gone:
        parts.append(tr("{count} product(s) expired before download: resubmit those pairs.").format(count=len(gone)))
    return " ".join(parts)


def summary(rows: list[JobRow]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return ", ".join(f"{count} {tr(status.lower())}" for status, count in sorted(counts.items())) or tr("No jobs.")


def any_running(rows: list[JobRow]) -> bool:
    return any(r.status in RUNNING_STATUSES for r in rows)


def guess_job_type(layer: Any) -> str | None:
    """INSAR_GAMMA for SLC pairs, INSAR_ISCE_BURST for single bursts, INSAR_ISCE_MULTI_BURST for several."""
    if layer is None or "reference" not in layer.fields().names():
        return None
    for feature in layer.getFeatures():
        reference = str(feature["reference"] or "")
        if "," in reference:
            return "INSAR_ISCE_MULTI_BURST"
        if reference.upper().endswith("-BURST"):
            return "INSAR_ISCE_BURST"
        if "_SLC_" in reference:
            return "INSAR_GAMMA"
        return None
    return None


@dataclass
class CostEstimate:
    pairs: int
    jobs: int
    credits: float
    job_type: str
    looks: str
    error: str = ""

    def message(self) -> str:
        if self.error:
            return tr("{pairs} pair(s). Cost as {job_type} {looks}: {error}").format(
                pairs=self.pairs, job_type=self.job_type, looks=self.looks, error=self.error
            )
        return tr("{jobs} job(s) as {job_type} {looks}: {credits} HyP3 credits.").format(
            jobs=self.jobs, job_type=self.job_type, looks=self.looks, credits=f"{self.credits:g}"
        )


def pairs_cost(layer: Any, job_type: str, looks: str, project_name: str = "insarhub") -> CostEstimate:
    """What submitting every pair of ``layer`` would cost, from the shipped job specs and cost tables."""
    from ..core.errors import InsarhubError
    from ..core.hyp3.submit import plan_jobs

    pairs = []
    if layer is not None and {"reference", "secondary"} <= set(layer.fields().names()):
        pairs = [(str(f["reference"]), str(f["secondary"])) for f in layer.getFeatures()]
    if not pairs:
        return CostEstimate(0, 0, 0.0, job_type, looks, tr("no pairs."))
    try:
        plan = plan_jobs(pairs, job_type, {"looks": looks}, project_name or "insarhub")
    except InsarhubError as exc:
        return CostEstimate(len(pairs), 0, 0.0, job_type, looks, str(exc))
    return CostEstimate(len(pairs), len(plan.jobs), plan.total_cost, job_type, looks)
