"""Plan, price and submit HyP3 InSAR jobs for pairs, idempotently.

* :func:`plan_jobs` validates pairs and options against the HyP3 job specs shipped in
  ``job_specs/`` (types, enums, ranges, granule name patterns and HyP3's own pair checks),
  fills in defaults and gives every pair a deterministic job name: the project name plus a
  hash of the whole request (job type, granules, parameters), at most 100 characters.
* :func:`preview_cost` prices a plan against the server's cost table and your credits.
* :func:`submit_jobs` submits what is not yet on HyP3 and records it in the jobs file.

Why a rerun never pays twice: HyP3 has no idempotency key, but every pair's job name is
deterministic. A submission holds the jobs file's lock
(:func:`~.jobs_store.jobs_file_lock`) from reading it to writing the last batch, so two
submissions on one jobs file (two processes, or the dock and the toolbox) run one after the
other: the second finds the first one's jobs and submits nothing. Before anything is sent, the
pairs of the plan are written to the jobs file; then ``GET /user`` (which lists the job names
in use) and ``GET /jobs?name=`` look up *every* pair of the plan by name, and jobs that HyP3 has
for a pair but the jobs file does not (a crash after HyP3 accepted the request but before the
file was written, a lost response, a restored old jobs file, a run with another jobs file) are
adopted into the pair's lineage, not resubmitted. Pairs with any job on record are not
submitted again here (failed ones are resubmitted by ``watch(retry_failed=True)``). During
submission the client looks names up again after any failure that may have reached the
server, and the jobs file is rewritten after every batch of at most 200 jobs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import InputError
from .client import Hyp3Client, job_cost, total_cost
from .jobs_store import JobsFile, PairEntry, jobs_file_lock, utc_now_iso

__all__ = [
    "JOB_TYPES",
    "MAX_NAME_LENGTH",
    "CostPreview",
    "JobPlan",
    "PlannedJob",
    "SubmitResult",
    "job_name",
    "load_job_specs",
    "local_costs",
    "normalise_options",
    "plan_jobs",
    "preview_cost",
    "submit_entries",
    "submit_jobs",
]

JOB_TYPES = ("INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST")
MAX_NAME_LENGTH = 100  # HyP3's OpenAPI spec: name maxLength
HASH_LENGTH = 10
SPECS_FILE = Path(__file__).resolve().parent / "job_specs" / "job_specs.json"
GRANULE_PARAMETERS = ("granules", "reference", "secondary")
MAX_MULTI_BURST_PAIRS = 15

# A pair: (reference, secondary) or {"reference": ..., "secondary": ...}; a side is a name, a list or "a,b".
Pair = Any
ProgressCallback = Callable[[int, int], None]


@lru_cache(maxsize=1)
def load_job_specs() -> dict[str, Any]:
    """The job specs (``required_parameters``, ``parameters``, ``cost_profiles``, ``validators``).

    ``job_specs/job_specs.json`` is generated from HyP3's YAML specs copied beside it (QGIS's
    Python may lack PyYAML); a unit test keeps them equal.
    """
    return json.loads(SPECS_FILE.read_text(encoding="utf-8"))


def local_costs() -> dict[str, Any]:
    """The EDC cost profile of every job type, shaped like ``GET /costs``."""
    return {job_type: spec["cost_profiles"]["EDC"] for job_type, spec in load_job_specs().items()}


def _schema(job_type: str, parameter: str) -> dict[str, Any]:
    return load_job_specs()[job_type]["parameters"][parameter]["api_schema"]


# ---- options -----------------------------------------------------------------------------------


def _check_option(job_type: str, name: str, value: Any, schema: Mapping[str, Any]) -> Any:
    label = name.upper()
    kind = schema.get("type")
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InputError(f"{label} must be true or false for {job_type}, not {value!r}.")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{label} must be a number for {job_type}, not {value!r}.")
        if "minimum" in schema and value < schema["minimum"]:
            raise InputError(f"{label} must be at least {schema['minimum']} (got {value}).")
        if "maximum" in schema and value > schema["maximum"]:
            raise InputError(f"{label} must be at most {schema['maximum']} (got {value}).")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise InputError(f"{label} must be text for {job_type}, not {value!r}.")
        value = value.strip()
        if "enum" in schema and value not in schema["enum"]:
            raise InputError(
                f"{label} must be one of {', '.join(schema['enum'])} for {job_type} (got {value!r})."
            )
        return value
    return value  # pragma: no cover - the three specs use only the kinds above


def normalise_options(job_type: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Job options (any case: ``LOOKS`` or ``looks``) checked against the spec, defaults filled in.

    ``None`` values mean "not given". An option that belongs to another InSAR job type is
    ignored while it is unset (``None``, ``False`` or that type's default) and refused
    otherwise, so a form that always passes every option works for all three job types.
    """
    job_type = _check_job_type(job_type)
    specs = load_job_specs()
    settable = {
        name: definition["api_schema"]
        for name, definition in specs[job_type]["parameters"].items()
        if name not in GRANULE_PARAMETERS
    }
    values = {name: schema["default"] for name, schema in settable.items() if "default" in schema}
    for key, value in (options or {}).items():
        if value is None:
            continue
        name = str(key).strip().lower()
        if name in GRANULE_PARAMETERS:
            raise InputError(f"{str(key).upper()} is not an option: the granules come from the pairs.")
        if name in settable:
            values[name] = _check_option(job_type, name, value, settable[name])
            continue
        owners = [t for t in JOB_TYPES if name in specs[t]["parameters"]]
        if owners:
            defaults = [specs[t]["parameters"][name]["api_schema"].get("default") for t in owners]
            if value is False or value in defaults:
                continue
            raise InputError(
                f"{str(key).upper()} applies to {', '.join(owners)}, not to {job_type}; leave it unset."
            )
        raise InputError(
            f"{str(key).upper()} is not an option of {job_type}; its options are "
            f"{', '.join(n.upper() for n in settable)}."
        )
    return {name: values[name] for name in settable if name in values}


def _check_job_type(job_type: str) -> str:
    value = str(job_type or "").strip().upper()
    if value not in JOB_TYPES:
        raise InputError(f"JOB_TYPE must be one of {', '.join(JOB_TYPES)} (got {job_type!r}).")
    return value


# ---- granules and pairs ------------------------------------------------------------------------


def _names(side: Any, where: str) -> list[str]:
    if isinstance(side, str):
        items = re.split(r"[,;\s]+", side.strip())
    elif isinstance(side, (list, tuple)):
        items = [str(s).strip() for s in side]
    else:
        raise InputError(f"{where}: expected a granule name or a list of names, got {side!r}.")
    names = [s for s in items if s]
    if not names:
        raise InputError(f"{where}: no granule name given.")
    return names


def _pair_sides(pair: Pair, where: str) -> tuple[list[str], list[str]]:
    if isinstance(pair, Mapping):
        if "reference" not in pair or "secondary" not in pair:
            raise InputError(f"{where}: a pair needs 'reference' and 'secondary'.")
        reference, secondary = pair["reference"], pair["secondary"]
    elif isinstance(pair, (list, tuple)) and len(pair) == 2:
        reference, secondary = pair
    else:
        raise InputError(f"{where}: a pair is (reference, secondary), got {pair!r}.")
    return _names(reference, f"{where} reference"), _names(secondary, f"{where} secondary")


def _check_granule(name: str, schema: Mapping[str, Any], job_type: str, where: str) -> None:
    size = len(name)
    if not schema.get("minLength", 0) <= size <= schema.get("maxLength", size) or not re.search(
        schema.get("pattern", ""), name
    ):
        kind = "an IW SLC scene name" if job_type == "INSAR_GAMMA" else "a burst name"
        example = schema.get("example", "")
        raise InputError(
            f"{where}: {name!r} is not {kind} as {job_type} takes it "
            f"({schema.get('minLength')} characters, like {example})."
        )


def _acquired(name: str) -> datetime:
    """Acquisition start of an SLC or burst name."""
    stamp = name[17:32] if name.startswith(("S1A_", "S1B_", "S1C_", "S1D_")) else name.split("_")[3]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S")


def _burst_key(name: str) -> tuple[str, str, str]:
    """(burst number, swath, polarisation) of a burst name."""
    parts = name.split("_")
    return parts[1], parts[2], parts[4]


def _check_single_burst_pair(reference: str, secondary: str, where: str) -> None:
    if _burst_key(reference)[:2] != _burst_key(secondary)[:2]:
        raise InputError(
            f"{where}: the bursts {reference} and {secondary} are not the same burst (burst id and swath)."
        )
    pol1, pol2 = _burst_key(reference)[2], _burst_key(secondary)[2]
    if pol1 != pol2:
        raise InputError(f"{where}: the bursts have different polarizations ({pol1}, {pol2}).")
    if pol1 not in ("VV", "HH"):
        raise InputError(f"{where}: HyP3 processes only VV and HH bursts, not {pol1}.")


def _check_multi_burst_pair(reference: list[str], secondary: list[str], where: str) -> None:
    if len(reference) > MAX_MULTI_BURST_PAIRS or len(secondary) > MAX_MULTI_BURST_PAIRS:
        raise InputError(
            f"{where}: at most {MAX_MULTI_BURST_PAIRS} bursts per side (got {len(reference)} reference "
            f"and {len(secondary)} secondary)."
        )
    if len(reference) != len(secondary):
        raise InputError(
            f"{where}: reference and secondary need the same number of bursts "
            f"(got {len(reference)} and {len(secondary)})."
        )
    ref_keys = {_burst_key(g) for g in reference}
    if len(ref_keys) != len(reference) or len({_burst_key(g) for g in secondary}) != len(secondary):
        raise InputError(f"{where}: a burst (burst id + swath + polarization) appears twice on one side.")
    if ref_keys != {_burst_key(g) for g in secondary}:
        raise InputError(
            f"{where}: reference and secondary must cover the same bursts (burst id + swath + polarization)."
        )
    pols = sorted({k[2] for k in ref_keys})
    if len(pols) > 1:
        raise InputError(f"{where}: the bursts mix polarizations ({', '.join(pols)}).")
    if pols[0] not in ("VV", "HH"):
        raise InputError(f"{where}: HyP3 processes only VV and HH bursts, not {pols[0]}.")
    for side, names in (("reference", reference), ("secondary", secondary)):
        times = sorted(_acquired(g) for g in names)
        if (times[-1] - times[0]).total_seconds() > 120:
            raise InputError(f"{where}: the {side} bursts are not from one pass (more than 2 minutes apart).")


def _order_pair(reference: list[str], secondary: list[str], where: str) -> tuple[list[str], list[str]]:
    """Reference = the earlier acquisition (HyP3 requires it for multi-burst, sorts it otherwise)."""
    ref_last = max(_acquired(g) for g in reference)
    sec_first = min(_acquired(g) for g in secondary)
    if ref_last < sec_first:
        return reference, secondary
    if max(_acquired(g) for g in secondary) < min(_acquired(g) for g in reference):
        return secondary, reference
    raise InputError(f"{where}: reference and secondary are acquired at the same time; choose two dates.")


def job_name(
    project_name: str,
    job_type: str,
    reference: Sequence[str],
    secondary: Sequence[str],
    parameters: Mapping[str, Any],
) -> str:
    """The deterministic HyP3 job name of a pair: ``<project>_<10 hex>``, at most 100 characters.

    The hash covers the project name, job type, granules and every parameter, so the same
    request always gets the same name and a changed parameter gets another one.
    """
    options = {k: v for k, v in parameters.items() if k not in GRANULE_PARAMETERS}
    payload = json.dumps(
        {
            "project": project_name,
            "job_type": job_type,
            "reference": list(reference),
            "secondary": list(secondary),
            "parameters": options,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:HASH_LENGTH].upper()
    return f"{project_name[: MAX_NAME_LENGTH - HASH_LENGTH - 1]}_{digest}"


def _project(project_name: str) -> str:
    project = re.sub(r"\s+", "_", str(project_name or "").strip())
    if not project:
        raise InputError("PROJECT_NAME is empty; give the project a name (it prefixes every HyP3 job name).")
    return project


@dataclass(frozen=True)
class PlannedJob:
    """One validated pair, ready to send: name, granules and full ``job_parameters``."""

    name: str
    project_name: str
    job_type: str
    reference: tuple[str, ...]
    secondary: tuple[str, ...]
    job_parameters: dict[str, Any]
    credit_cost: float

    def request(self) -> dict[str, Any]:
        """The job as ``POST /jobs`` takes it."""
        return {"job_type": self.job_type, "name": self.name, "job_parameters": dict(self.job_parameters)}

    def to_entry(self, now_iso: str) -> PairEntry:
        """A new jobs-file entry for this pair (not yet submitted)."""
        return PairEntry(
            name=self.name,
            project_name=self.project_name,
            job_type=self.job_type,
            reference=list(self.reference),
            secondary=list(self.secondary),
            job_parameters=dict(self.job_parameters),
            credit_cost=self.credit_cost,
            created_at=now_iso,
        )


@dataclass
class JobPlan:
    """Validated jobs for a set of pairs (one job type, one set of options)."""

    project_name: str
    job_type: str
    options: dict[str, Any]
    jobs: list[PlannedJob]
    notes: list[str] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        """Credits of all planned jobs, per the shipped spec's EDC cost profile."""
        return float(sum(job.credit_cost for job in self.jobs))

    def requests(self) -> list[dict[str, Any]]:
        """Every planned job as ``POST /jobs`` takes it."""
        return [job.request() for job in self.jobs]


def plan_jobs(
    pairs: Iterable[Pair], job_type: str, options: Mapping[str, Any] | None = None, project_name: str = ""
) -> JobPlan:
    """Validate ``pairs`` and ``options`` for ``job_type`` and name each job; nothing is sent.

    Args:
        pairs: ``(reference, secondary)`` tuples or mappings with those keys. A side is a
            granule name, a list of names, or names separated by commas (multi-burst).
            INSAR_GAMMA takes one IW SLC per side, INSAR_ISCE_BURST one burst per side,
            INSAR_ISCE_MULTI_BURST up to 15 bursts per side (same bursts on both sides).
        job_type: ``INSAR_GAMMA``, ``INSAR_ISCE_BURST`` or ``INSAR_ISCE_MULTI_BURST``.
        options: Job options by their spec name in any case (``LOOKS``, ``INCLUDE_DEM``, ...).
        project_name: Prefix of every job name (whitespace becomes ``_``).

    The earlier acquisition becomes the reference. A pair given twice is planned once.
    Raises :class:`InputError` naming the pair and what is wrong.
    """
    job_type = _check_job_type(job_type)
    project = _project(project_name)
    values = normalise_options(job_type, options)
    costs = local_costs()
    jobs: list[PlannedJob] = []
    seen: set[str] = set()
    notes: list[str] = []
    for index, pair in enumerate(pairs):
        where = f"pair {index + 1}"
        reference, secondary = _pair_sides(pair, where)
        if job_type == "INSAR_ISCE_MULTI_BURST":
            item = _schema(job_type, "reference")["items"]
            for name in (*reference, *secondary):
                _check_granule(name, item, job_type, where)
            reference, secondary = _order_pair(reference, secondary, where)
            _check_multi_burst_pair(reference, secondary, where)
            reference = sorted(reference, key=lambda g: (_burst_key(g)[1], _burst_key(g)[0]))
            secondary = sorted(secondary, key=lambda g: (_burst_key(g)[1], _burst_key(g)[0]))
            parameters = {"reference": reference, "secondary": secondary, **values}
        else:
            if len(reference) != 1 or len(secondary) != 1:
                kind = "SLC scene" if job_type == "INSAR_GAMMA" else "burst"
                raise InputError(
                    f"{where}: {job_type} takes one {kind} per side (got {len(reference)} and {len(secondary)}); "
                    "use INSAR_ISCE_MULTI_BURST for several bursts."
                )
            item = _schema(job_type, "granules")["items"]
            for name in (*reference, *secondary):
                _check_granule(name, item, job_type, where)
            if reference == secondary:
                raise InputError(f"{where}: reference and secondary are the same granule ({reference[0]}).")
            reference, secondary = _order_pair(reference, secondary, where)
            if job_type == "INSAR_ISCE_BURST":
                _check_single_burst_pair(reference[0], secondary[0], where)
            parameters = {"granules": [reference[0], secondary[0]], **values}
        name = job_name(project, job_type, reference, secondary, parameters)
        if name in seen:
            notes.append(f"{where} ({reference[0]} / {secondary[0]}) is given twice; planned once.")
            continue
        seen.add(name)
        cost = job_cost(job_type, parameters, costs)
        jobs.append(PlannedJob(name, project, job_type, tuple(reference), tuple(secondary), parameters, cost))
    if not jobs:
        raise InputError("No pairs to submit.")
    return JobPlan(project, job_type, values, jobs, notes)


# ---- cost ----------------------------------------------------------------------------------------


@dataclass
class CostPreview:
    """What a submission would cost (credits) against what is left."""

    jobs_planned: int
    jobs_to_submit: int
    jobs_already_submitted: int
    cost: float
    remaining_credits: float | None  # None: the account has no limit

    @property
    def enough_credits(self) -> bool:
        """True when the jobs to submit fit in the remaining credits."""
        return self.remaining_credits is None or self.cost <= self.remaining_credits

    def message(self) -> str:
        """One line for the user."""
        left = "unlimited" if self.remaining_credits is None else f"{self.remaining_credits:g}"
        return (
            f"{self.jobs_to_submit} of {self.jobs_planned} jobs to submit ({self.jobs_already_submitted} already "
            f"submitted) would cost {self.cost:g} credits; {left} credits remaining."
        )


def preview_cost(plan: JobPlan, client: Hyp3Client, jobs_file: str | Path | None = None) -> CostPreview:
    """Price ``plan`` with the server's cost table against the remaining credits; sends no job.

    Pairs that already have a job (in ``jobs_file`` or, by name, on the server) are not
    counted: :func:`submit_jobs` would not submit them again.
    """
    store = JobsFile.load(jobs_file) if jobs_file is not None and Path(jobs_file).exists() else None
    user = client.user()
    names = set(user.get("job_names") or [])
    recorded = {entry.name for entry in store.pairs if entry.jobs} if store is not None else set()
    to_submit = [job for job in plan.jobs if job.name not in names and job.name not in recorded]
    cost = total_cost([job.request() for job in to_submit], client.costs()) if to_submit else 0.0
    remaining = user.get("remaining_credits")
    return CostPreview(
        len(plan.jobs),
        len(to_submit),
        len(plan.jobs) - len(to_submit),
        cost,
        None if remaining is None else float(remaining),
    )


# ---- submission --------------------------------------------------------------------------------


@dataclass
class SubmitResult:
    """What :func:`submit_jobs` did (or, with ``dry_run``, would do)."""

    jobs_file: Path
    dry_run: bool
    planned: int
    submitted: int = 0  # jobs created by this run
    adopted: int = 0  # jobs found on HyP3 by name and recorded (never paid twice)
    already_submitted: int = 0  # pairs that had a job in the jobs file before this run
    cost: float = 0.0  # credits of the jobs created by this run (dry run: that would be)
    remaining_credits: float | None = None  # after this run (dry run: now); None: no limit
    notes: list[str] = field(default_factory=list)


@dataclass
class _Sent:
    submitted: int = 0
    adopted: int = 0
    cost: float = 0.0
    remaining_credits: float | None = None
    to_send: list[PairEntry] = field(default_factory=list)


def _now(now: Callable[[], datetime] | None) -> str:
    return utc_now_iso((now or (lambda: datetime.now(timezone.utc)))())


def _refuse_budget(cost: float, remaining: float, count: int, what: str) -> InputError:
    return InputError(
        f"{what} {count} jobs would cost {cost:g} credits, but only {remaining:g} credits remain this month. "
        "Submit fewer pairs (or wait for next month's credits); nothing was submitted."
    )


def submit_entries(
    store: JobsFile,
    client: Hyp3Client,
    entries: Sequence[PairEntry],
    *,
    origin: str = "submitted",
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] | None = None,
) -> _Sent:
    """Reconcile ``entries`` with the server by name, then submit those still missing.

    Used by :func:`submit_jobs` (``origin="submitted"``) and by ``watch`` for resubmitting
    failed pairs (``origin="retry"``). Jobs found on the server that the jobs file does not
    know are recorded as ``adopted``. Refuses (:class:`InputError`, with both numbers, before
    writing or sending anything) when the jobs to send cost more than the remaining credits.
    Otherwise saves the jobs file before the first request that creates jobs and after every
    batch (nothing is saved in ``dry_run``).
    """
    sent = _Sent()
    user = client.user()
    remaining = user.get("remaining_credits")
    sent.remaining_credits = None if remaining is None else float(remaining)
    if not entries:
        return sent
    names = user.get("job_names")
    found = client.find_submitted(
        [e.request() for e in entries], store.known_job_ids(), None if names is None else set(names)
    )
    for name, jobs in found.items():
        entry = store.find(name)
        if entry is None:  # pragma: no cover - find_submitted only answers names asked for
            continue
        for job in jobs:
            entry.apply_server_job(job, _now(now), origin="adopted")
            sent.adopted += 1
    if origin == "retry":
        to_send = [e for e in entries if e.name not in found]
    else:  # a pair with any job (recorded, or just adopted) is not submitted again
        to_send = [e for e in entries if not e.jobs]
    sent.to_send = to_send
    requests_ = [e.request() for e in to_send]
    sent.cost = total_cost(requests_, client.costs()) if to_send else 0.0
    if dry_run:
        return sent
    if sent.remaining_credits is not None and sent.cost > sent.remaining_credits:
        what = "Resubmitting" if origin == "retry" else "Submitting"
        raise _refuse_budget(sent.cost, sent.remaining_credits, len(to_send), what)
    # On disk before anything is sent: the pairs (so a later watch finds what a crash hid) and
    # the jobs adopted from the server.
    store.save()
    if not to_send:
        return sent
    total = len(to_send)
    done = 0
    spent = 0.0

    def record(created: list[dict[str, Any]]) -> None:
        nonlocal done, spent
        stamp = _now(now)
        for job in created:
            entry = store.find(str(job.get("name")))
            if entry is None:  # pragma: no cover - HyP3 echoes the names sent
                continue
            entry.apply_server_job(job, stamp, origin=origin)
            done += 1
            spent += float(job.get("credit_cost") or 0)
        store.save()
        if progress is not None:
            progress(done, total)

    client.submit(requests_, known_job_ids=store.known_job_ids(), on_batch=record)
    sent.submitted = done
    sent.cost = spent
    if sent.remaining_credits is not None:
        sent.remaining_credits -= spent
    return sent


def submit_jobs(
    plan: JobPlan,
    jobs_file: str | Path,
    client: Hyp3Client,
    *,
    dry_run: bool = False,
    validate_on_server: bool = True,
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] | None = None,
    on_message: Callable[[str], None] | None = None,
) -> SubmitResult:
    """Submit the jobs of ``plan`` that HyP3 does not have yet, recording them in ``jobs_file``.

    Idempotent: pairs with a job in ``jobs_file`` are skipped; jobs found on HyP3 by their
    deterministic name are adopted instead of resubmitted (see the module docstring); the
    jobs file's lock serialises runs on the same file (``on_message`` hears once if this run
    waits for another). ``progress(done, total)`` is called after each batch; the client's
    ``is_cancelled`` is checked before every request.

    With ``dry_run`` nothing is submitted and nothing is written: the result gives the cost of
    the jobs that would be sent and the remaining credits; with ``validate_on_server`` HyP3
    also checks them (``validate_only``), which catches granules HyP3 cannot find.

    Raises:
        InputError: the cost exceeds the remaining credits (both numbers given; nothing sent),
            the jobs file is damaged or belongs to another HyP3, or it holds one of the pairs
            with another job type or other parameters.
        CredentialsError, Hyp3ServiceError, Hyp3TransientError, CancelledError: from the client.
    """
    path = Path(jobs_file)
    if dry_run:  # writes nothing: no lock needed
        return _submit_locked(plan, path, client, True, validate_on_server, progress, now)
    with jobs_file_lock(path, is_cancelled=client.is_cancelled, on_wait=on_message):
        return _submit_locked(plan, path, client, False, validate_on_server, progress, now)


def _submit_locked(
    plan: JobPlan,
    path: Path,
    client: Hyp3Client,
    dry_run: bool,
    validate_on_server: bool,
    progress: ProgressCallback | None,
    now: Callable[[], datetime] | None,
) -> SubmitResult:
    """:func:`submit_jobs` while holding the jobs file's lock (or a dry run)."""
    store = JobsFile.open(path, client.url)
    store.check_url(client.url)
    stamp = _now(now)
    result = SubmitResult(path, dry_run, len(plan.jobs), notes=list(plan.notes))
    by_granules = {frozenset(e.granules): e for e in store.pairs}
    entries: list[PairEntry] = []
    for job in plan.jobs:
        entry = store.find(job.name)
        if entry is None:
            other = by_granules.get(frozenset((*job.reference, *job.secondary)))
            if other is not None:
                raise InputError(
                    f"The jobs file {path} already holds the pair {other.describe()} as {other.job_type} "
                    f"with other parameters or project name (job name {other.name}). Use another jobs file "
                    "for different job parameters."
                )
            entry = job.to_entry(stamp)
            store.add(entry)
        entries.append(entry)
    result.already_submitted = sum(1 for e in entries if e.jobs)
    # Every pair is looked up by name, also those with a job on record: a run that used another
    # jobs file, or crashed before writing, may have made more.
    sent = submit_entries(store, client, entries, dry_run=dry_run, progress=progress, now=now)
    result.adopted = sent.adopted
    result.submitted = sent.submitted
    result.cost = sent.cost
    result.remaining_credits = sent.remaining_credits
    if sent.adopted:
        result.notes.append(
            f"{sent.adopted} job(s) were already on HyP3 (made by an earlier, interrupted or concurrent run) and "
            "were recorded in the jobs file, not resubmitted."
        )
    if dry_run:
        if sent.remaining_credits is not None and sent.cost > sent.remaining_credits:
            result.notes.append(
                _refuse_budget(sent.cost, sent.remaining_credits, len(sent.to_send), "Submitting").args[0]
            )
        elif validate_on_server and sent.to_send:
            client.validate([e.request() for e in sent.to_send])
            result.notes.append(f"HyP3 checked the {len(sent.to_send)} job(s) to submit and accepts them.")
    return result
