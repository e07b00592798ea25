"""A thin wrapper over ``hyp3_sdk.HyP3``: retries, cancel checks, clear errors, batching.

``hyp3_sdk`` 7.7 retries nothing and loses the HTTP details in its exceptions (a 4xx becomes
``HyP3Error("<Response [4xx]> detail")``, a non-JSON error body escapes as a JSON decode
error, network failures as ``requests`` exceptions). :class:`Hyp3Client` calls the SDK's own
methods, remembers the last HTTP response of the calling thread through a session hook, and
turns every failure into one of:

* :class:`Hyp3TransientError` (a :class:`TransientServiceError`): 5xx, 429 (with its
  ``Retry-After``), connection failures and timeouts, answers that are not HyP3 JSON.
  These are retried with backoff (``RetryPolicy``; its ``sleep`` is injectable);
* :class:`CredentialsError`: 401, naming which credential source was used, never the secret;
* :class:`JobNotFoundError`: 404 for a job id (reported as unknown to the server);
* :class:`Hyp3ServiceError` (a :class:`ServiceError`): any other 4xx, at once, with HyP3's
  ``detail`` (e.g. "These jobs would cost 30 credits, but you have only 20 remaining.").

Submitting is special: HyP3 has no idempotency key, so a POST whose answer was lost (or a
5xx) may still have created — and charged — the jobs. :meth:`Hyp3Client.submit` therefore
never resends blindly: before each new attempt it looks the batch's job names up on the
server (``GET /user`` lists the names in use, ``GET /jobs?name=`` finds the jobs) and only
resends the jobs that are not there.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from ..config import Endpoints
from ..errors import CancelledError, InputError, InsarhubError, ServiceError, TransientServiceError
from ..netpolicy import ForeignHostError, origin_of
from ..retry import RetryPolicy, retry_after_seconds, sleep_unless_cancelled
from .credentials import Credentials, CredentialsError, connect

if TYPE_CHECKING:
    from hyp3_sdk import HyP3

__all__ = [
    "MAX_JOBS_PER_REQUEST",
    "Hyp3Client",
    "Hyp3ServiceError",
    "Hyp3TransientError",
    "JobNotFoundError",
    "job_cost",
    "job_granules",
    "total_cost",
]

log = logging.getLogger(__name__)

MAX_JOBS_PER_REQUEST = 200  # HyP3's OpenAPI spec: list_of_new_jobs maxItems
#: Most ``GET /jobs`` pages one listing may take (HyP3 pages hold hundreds of jobs).
MAX_JOB_PAGES = 500
CancelCheck = Callable[[], bool]


class Hyp3ServiceError(ServiceError):
    """HyP3 refused a request for good (4xx other than 401/404/429); ``detail`` is HyP3's text."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class Hyp3TransientError(TransientServiceError):
    """A HyP3 failure that may go away when retried.

    ``status`` is ``None`` for network failures; ``retry_after_s`` comes from ``Retry-After``;
    ``may_have_acted`` is false only where the server certainly did nothing (429).
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after_s: float | None = None,
        may_have_acted: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.may_have_acted = may_have_acted


class JobNotFoundError(ServiceError):
    """HyP3 does not know this job id (404)."""

    def __init__(self, job_id: str, detail: str = "") -> None:
        super().__init__(f"HyP3 does not know the job {job_id} ({detail or 'HTTP 404'}).")
        self.job_id = job_id


# ---- costs ------------------------------------------------------------------------------------


def job_granules(job: Mapping[str, Any]) -> list[str]:
    """All granule names of a job (``granules``, or ``reference`` + ``secondary``)."""
    params = job.get("job_parameters") or {}
    if "granules" in params:
        return list(params["granules"])
    return list(params.get("reference", [])) + list(params.get("secondary", []))


def job_cost(job_type: str, job_parameters: Mapping[str, Any], costs: Mapping[str, Any]) -> float:
    """Credits one job costs, from a HyP3 cost table (``GET /costs`` or a job spec's EDC profile).

    A table is either ``{"cost": c}`` or ``{"cost_parameters": [...], "cost_table": {...}}``
    nested in parameter order; list parameters (multi-burst ``reference``) count their items.
    Pass parameters with their defaults filled in. Raises :class:`InputError` when the table
    has no entry for these parameters.
    """
    definition = costs.get(job_type)
    if not isinstance(definition, Mapping):
        raise InputError(f"HyP3 lists no cost for the job type {job_type}; is it offered by this HyP3?")
    if "cost" in definition:
        return float(definition["cost"])
    table: Any = definition.get("cost_table", {})
    for parameter in definition.get("cost_parameters", []):
        value = job_parameters.get(parameter)
        if isinstance(value, (list, tuple)):
            value = len(value)
        if not isinstance(table, Mapping) or str(value) not in table:
            choices = ", ".join(map(str, table)) if isinstance(table, Mapping) else ""
            raise InputError(
                f"HyP3 has no {job_type} cost for {parameter}={value}; possible values: {choices}."
            )
        table = table[str(value)]
    return float(table)


def total_cost(jobs: Iterable[Mapping[str, Any]], costs: Mapping[str, Any]) -> float:
    """Credits a list of prepared jobs (``job_type`` + ``job_parameters``) costs."""
    return float(sum(job_cost(j["job_type"], j.get("job_parameters") or {}, costs) for j in jobs))


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc or url[:80]
    except ValueError:
        return url[:80]


def _detail(response: Any) -> str:
    """HyP3's ``detail`` from a problem-JSON body, else a short plain-text excerpt of the body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "message", "title"):
            if data.get(key):
                return str(data[key])
    text = re.sub(r"<[^>]+>", " ", response.text or "")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:200] or (response.reason or f"HTTP {response.status_code}")


class Hyp3Client:
    """HyP3 API calls with retries, cancel checks and clear errors.

    Args:
        hyp3: An authenticated ``hyp3_sdk.HyP3`` (see :func:`~.credentials.connect`).
        credentials: What it was authenticated with; only ``described`` is used (for 401 messages).
        retry: Backoff for transient failures; ``retry.sleep`` is the sleep (tests inject one).
        is_cancelled: Checked before every request and while waiting; raises :class:`CancelledError`.
        ca_bundle: The CA file the session trusts (passed on to product downloads).
    """

    def __init__(
        self,
        hyp3: HyP3,
        *,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        is_cancelled: CancelCheck | None = None,
        ca_bundle: str = "",
    ) -> None:
        self.hyp3 = hyp3
        self.credentials_description = credentials.described if credentials else "the credentials given"
        self.retry = retry or RetryPolicy()
        self.is_cancelled = is_cancelled
        self.ca_bundle = ca_bundle
        self._local = threading.local()
        hooks = hyp3.session.hooks.setdefault("response", [])
        hooks.append(self._remember)

    @classmethod
    def connect(
        cls,
        endpoints: Endpoints,
        credentials: Credentials,
        *,
        retry: RetryPolicy | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> Hyp3Client:
        """Log in (:func:`~.credentials.connect`) and wrap the SDK client."""
        hyp3 = connect(endpoints, credentials)
        return cls(
            hyp3,
            credentials=credentials,
            retry=retry,
            is_cancelled=is_cancelled,
            ca_bundle=endpoints.ca_bundle,
        )

    @property
    def url(self) -> str:
        """The HyP3 API base URL."""
        return str(self.hyp3.url).rstrip("/")

    # ---- plumbing -------------------------------------------------------------------------

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._local.response = response

    def check_cancelled(self) -> None:
        """Raise :class:`CancelledError` if the user cancelled."""
        if self.is_cancelled is not None and self.is_cancelled():
            raise CancelledError("Cancelled by the user.")

    def _classify(self, what: str, exc: BaseException) -> InsarhubError:
        """Turn whatever the SDK raised into one of this module's typed errors."""
        import requests

        if isinstance(exc, InsarhubError):
            return exc
        response = getattr(self._local, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(exc, requests.RequestException) and (status is None or status < 400):
            return Hyp3TransientError(
                f"HyP3 at {self.url} could not be reached while {what} ({type(exc).__name__})."
            )
        if status is not None and status >= 400:
            detail = _detail(response)
            if status == 401:
                return CredentialsError(
                    f"HyP3 at {self.url} refused {self.credentials_description} (HTTP 401: {detail}). "
                    "Check that it is current (Earthdata tokens expire after 60 days) and belongs to an "
                    "account approved for HyP3."
                )
            if status == 429:
                return Hyp3TransientError(
                    f"HyP3 at {self.url} asked to slow down while {what} (HTTP 429: {detail}).",
                    status,
                    retry_after_seconds(response.headers.get("Retry-After")),
                    may_have_acted=False,
                )
            if status >= 500:
                return Hyp3TransientError(
                    f"HyP3 at {self.url} failed while {what} (HTTP {status}: {detail}).",
                    status,
                    retry_after_seconds(response.headers.get("Retry-After")),
                )
            if status == 403:
                return Hyp3ServiceError(
                    f"HyP3 refused {what} (HTTP 403: {detail}). Your Earthdata account may need to be "
                    "approved for HyP3 (https://hyp3-docs.asf.alaska.edu/using/requesting_access).",
                    status,
                    detail,
                )
            return Hyp3ServiceError(f"HyP3 rejected {what} (HTTP {status}: {detail}).", status, detail)
        # A 2xx whose body is not the JSON HyP3 sends (a proxy page, a cut-off answer).
        return Hyp3TransientError(
            f"HyP3 at {self.url} answered {what} with something that is not HyP3's JSON ({type(exc).__name__})."
        )

    def _call(self, what: str, function: Callable[[], Any]) -> Any:
        """Run ``function`` (an SDK call), retrying transient failures with backoff."""
        attempt = 0
        while True:
            self.check_cancelled()
            attempt += 1
            self._local.response = None
            try:
                return function()
            except CancelledError:
                raise
            except Exception as exc:
                error = self._classify(what, exc)
            if not isinstance(error, TransientServiceError) or attempt >= self.retry.attempts:
                if isinstance(error, TransientServiceError) and attempt > 1:
                    error.args = (f"{error} Gave up after {attempt} attempts; try again later.",)
                raise error from None
            retry_after = getattr(error, "retry_after_s", None)
            delay = self.retry.delay(attempt, retry_after)
            log.info(
                "%s Retrying in %.1f s (attempt %d of %d).", error, delay, attempt + 1, self.retry.attempts
            )
            sleep_unless_cancelled(delay, self.retry.sleep, self.is_cancelled)

    # ---- account and costs ----------------------------------------------------------------

    def user(self) -> dict[str, Any]:
        """``GET /user``: ``user_id``, ``remaining_credits`` (``None``: unlimited), ``job_names``..."""
        return dict(self._call("reading your HyP3 account", self.hyp3.my_info))

    def remaining_credits(self) -> float | None:
        """Remaining processing credits (``None`` when the account has no limit)."""
        value = self.user().get("remaining_credits")
        return None if value is None else float(value)

    def job_names(self) -> set[str] | None:
        """Every job name in use in this HyP3 account (``None`` if HyP3 does not list them)."""
        names = self.user().get("job_names")
        return None if names is None else set(names)

    def costs(self) -> dict[str, Any]:
        """``GET /costs``: the cost table of every job type."""
        return dict(self._call("reading HyP3's cost table", self.hyp3.costs))

    def total_cost(
        self, prepared_jobs: Iterable[Mapping[str, Any]], costs: Mapping[str, Any] | None = None
    ) -> float:
        """Credits ``prepared_jobs`` would cost, per the server's cost table (or ``costs``)."""
        return total_cost(prepared_jobs, costs if costs is not None else self.costs())

    # ---- jobs ---------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{job_id}`` as a dict; :class:`JobNotFoundError` if HyP3 does not know it."""
        try:
            job = self._call(f"reading job {job_id}", lambda: self.hyp3.get_job_by_id(job_id))
        except Hyp3ServiceError as exc:
            if exc.status == 404:
                raise JobNotFoundError(job_id, exc.detail) from None
            raise
        return job.to_dict()

    def _list_jobs(self, what: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /jobs`` with ``params``, following ``next`` pages, bounded.

        Each page is retried on its own. Paging stops when HyP3 gives no ``next``, when a page
        adds no job not seen before (a ``next`` that loops), and at :data:`MAX_JOB_PAGES` (an
        error). A ``next`` link to another host is refused (the session's guard would refuse
        it anyway; this says so plainly).
        """
        from hyp3_sdk import Job

        url: str = f"{self.url}/jobs"
        query: Mapping[str, str] | None = dict(params)
        jobs: dict[str, dict[str, Any]] = {}
        home = origin_of(self.url)
        for _page in range(MAX_JOB_PAGES):

            def get(url: str = url, query: Mapping[str, str] | None = query) -> tuple[list[dict[str, Any]], Any]:
                response = self.hyp3.session.get(url, params=query)
                response.raise_for_status()
                body = response.json()
                return [Job.from_dict(item).to_dict() for item in body["jobs"]], body.get("next")

            page, next_url = self._call(what, get)
            new = 0
            for job in page:
                if job["job_id"] not in jobs:
                    jobs[job["job_id"]] = job
                    new += 1
            if not next_url:
                break
            if not new:
                log.warning("HyP3 at %s sent a next page that added no job while %s; stopped paging.", self.url, what)
                break
            if origin_of(str(next_url)) != home:
                raise ForeignHostError(
                    f"HyP3 at {self.url} sent a 'next' link to another host ({_netloc(str(next_url))}) "
                    f"while {what}; it was not followed and your credentials were not sent there."
                )
            url, query = str(next_url), None
        else:
            raise Hyp3ServiceError(
                f"HyP3 at {self.url} kept linking to further pages while {what}: stopped after "
                f"{MAX_JOB_PAGES} pages and {len(jobs)} jobs. Try again later; if it persists, report it to ASF."
            )
        return sorted(jobs.values(), key=lambda j: (j.get("request_time") or "", j["job_id"]))

    def find_jobs_by_name(self, name: str) -> list[dict[str, Any]]:
        """All jobs with this name (every page, no time window), oldest first."""
        return self._list_jobs(f"looking up jobs named {name!r}", {"name": name})

    def jobs_since(self, start_iso: str) -> list[dict[str, Any]]:
        """Every job of this account requested at or after ``start_iso`` (ISO 8601), oldest first."""
        return self._list_jobs(f"listing the jobs since {start_iso}", {"start": start_iso})

    def find_submitted(
        self,
        prepared_jobs: Sequence[Mapping[str, Any]],
        known_job_ids: Iterable[str] = (),
        names_on_server: set[str] | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Jobs already on the server for these prepared jobs that are not in ``known_job_ids``.

        Matched by name, then checked to have the same job type and granules. Costs one
        ``GET /user`` (whose ``job_names`` says which names are in use; skipped when
        ``names_on_server`` is given) plus one ``GET /jobs?name=`` per name in use (per name,
        if HyP3 does not list the names). Returns ``{name: [job, ...]}`` (oldest first).
        """
        known = set(known_job_ids)
        names = self.job_names() if names_on_server is None else names_on_server
        found: dict[str, list[dict[str, Any]]] = {}
        for prepared in prepared_jobs:
            name = prepared.get("name")
            if not name or (names is not None and name not in names):
                continue
            wanted = (prepared["job_type"], frozenset(job_granules(prepared)))
            for job in self.find_jobs_by_name(name):
                if job["job_id"] in known or (job["job_type"], frozenset(job_granules(job))) != wanted:
                    continue
                found.setdefault(name, []).append(job)
                known.add(job["job_id"])
        return found

    def validate(self, prepared_jobs: Sequence[Mapping[str, Any]]) -> float:
        """Let HyP3 check the jobs without creating them (``validate_only``); return their cost.

        Catches what only the server can check (granules unknown to CMR, DEM coverage). Sent in
        batches of at most 200; 4xx raises :class:`Hyp3ServiceError` with HyP3's detail.
        """
        cost = 0.0
        endpoint = f"{self.url}/jobs"
        for start in range(0, len(prepared_jobs), MAX_JOBS_PER_REQUEST):
            batch = [dict(j) for j in prepared_jobs[start : start + MAX_JOBS_PER_REQUEST]]

            def post(batch: list[dict[str, Any]] = batch) -> Any:
                response = self.hyp3.session.post(endpoint, json={"jobs": batch, "validate_only": True})
                response.raise_for_status()
                return response.json()

            answer = self._call("checking the jobs (validate only)", post)
            cost += sum(float(j.get("credit_cost") or 0) for j in answer.get("jobs", []))
        return cost

    def submit(
        self,
        prepared_jobs: Sequence[Mapping[str, Any]],
        *,
        known_job_ids: Iterable[str] = (),
        on_batch: Callable[[list[dict[str, Any]]], None] | None = None,
        batch_size: int = MAX_JOBS_PER_REQUEST,
    ) -> list[dict[str, Any]]:
        """Submit ``prepared_jobs`` (each with a unique ``name``) in batches of at most 200.

        After a failure that may have reached the server (lost answer, 5xx), the batch's names
        are looked up (:meth:`find_submitted`, ignoring ``known_job_ids``) before retrying, and
        only the jobs not found are sent again. ``on_batch(jobs)`` is called with the jobs
        created (or found) as soon as they are known, so the caller can record them at once.

        Returns every job created (or found), as dicts. Raises :class:`Hyp3ServiceError` on a
        4xx (e.g. not enough credits: HyP3's detail gives both numbers), or the last
        :class:`Hyp3TransientError` when the retries run out (a rerun finds what was accepted).
        """
        jobs = [dict(j) for j in prepared_jobs]
        names = [j.get("name") for j in jobs]
        if not all(names) or len(set(names)) != len(names):
            raise ValueError("every prepared job needs a unique name (they make resubmission safe)")
        batch_size = max(1, min(batch_size, MAX_JOBS_PER_REQUEST))
        known = set(known_job_ids)
        created_all: list[dict[str, Any]] = []

        def accept(created: list[dict[str, Any]]) -> None:
            known.update(job["job_id"] for job in created)
            created_all.extend(created)
            if on_batch is not None and created:
                on_batch(created)

        for start in range(0, len(jobs), batch_size):
            pending = jobs[start : start + batch_size]
            attempt = 0
            while pending:
                self.check_cancelled()
                attempt += 1
                self._local.response = None
                try:
                    batch = self.hyp3.submit_prepared_jobs(pending)
                except CancelledError:
                    raise
                except Exception as exc:
                    error = self._classify(f"submitting {len(pending)} jobs", exc)
                else:
                    accept([job.to_dict() for job in batch])
                    pending = []
                    break
                if not isinstance(error, Hyp3TransientError):
                    raise error from None
                if attempt >= self.retry.attempts:
                    if error.may_have_acted:
                        self._adopt_quietly(pending, known, accept)
                    error.args = (
                        f"{error} Gave up after {attempt} attempts. Run the submission again later: jobs "
                        "HyP3 did accept are found by name and not submitted twice.",
                    )
                    raise error from None
                delay = self.retry.delay(attempt, error.retry_after_s)
                log.info(
                    "%s Retrying in %.1f s (attempt %d of %d).",
                    error,
                    delay,
                    attempt + 1,
                    self.retry.attempts,
                )
                sleep_unless_cancelled(delay, self.retry.sleep, self.is_cancelled)
                if error.may_have_acted:
                    found = self.find_submitted(pending, known)
                    if found:
                        log.info(
                            "HyP3 had accepted %d of the jobs before the failure; not resending them.",
                            len(found),
                        )
                        accept([job for name in found for job in found[name]])
                        pending = [j for j in pending if j["name"] not in found]
        return created_all

    def _adopt_quietly(
        self, pending: list[dict[str, Any]], known: set[str], accept: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        """Last look for jobs HyP3 accepted before giving up (best effort: HyP3 may be down)."""
        try:
            found = self.find_submitted(pending, known)
        except (ServiceError, CredentialsError):
            return
        accept([job for name in found for job in found[name]])
