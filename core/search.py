"""Search Sentinel-1 SLCs and bursts on ASF (CMR).

The query is built by asf_search itself (its options, sub-queries and CMR translation);
this module pages through CMR with ``CMR-Search-After`` so that a transient failure
(5xx, 429, timeouts, dropped connections) is retried with backoff *for that page* instead
of restarting the search, progress is reported per page, and cancel is honoured between
pages. Permanent failures (4xx) stop at once with CMR's own message. Paging is bounded: it
stops when a page brings nothing new, and at a hard cap with a message.

:func:`search_footprints` yields footprint records built straight from the UMM JSON as the
pages arrive (what ``insarhub:searchscenes`` writes); :func:`search` gives asf_search products
for callers that need them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from .config import Endpoints
from .errors import CancelledError, InputError, ServiceError, TransientServiceError
from .records import RawItem, read_cmr_page
from .retry import RetryPolicy, retry_after_seconds, sleep_unless_cancelled
from .schema import FLIGHT_DIRECTIONS, PROCESSING_LEVELS

if TYPE_CHECKING:
    from .aoi import Aoi
    from .records import Footprint

# What Sentinel-1 records carry in POLARIZATION.
SLC_POLARIZATIONS = ("VV", "VV+VH", "HH", "HH+HV", "VH", "HV", "Dual VV", "Dual HH")
BURST_POLARIZATIONS = ("VV", "VH", "HH", "HV")
# A user asking for VV interferograms wants dual-polarisation scenes too.
_SLC_POLARIZATION_ALIASES = {"VV": ["VV", "VV+VH"], "HH": ["HH", "HH+HV"]}

_BURST_NAME = re.compile(r"^S1_\d{6}_IW[123]_\d{8}T\d{6}_[VH]{2}_[0-9A-F]{4}-BURST$", re.IGNORECASE)
_SLC_NAME = re.compile(r"^S1[ABCD]_(IW|EW|S\d)_SLC__1S[SD][VH]_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}$", re.IGNORECASE)

ProgressCallback = Callable[[int, int], None]


@dataclass
class SearchRequest:
    """What to search for. ``aoi`` is required unless ``granules`` names the scenes."""

    aoi: Aoi | None = None
    start: str | None = None  # ISO date or date-time, UTC
    end: str | None = None
    processing_level: str = "SLC"
    flight_direction: str = "ANY"
    relative_orbits: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    polarizations: list[str] = field(default_factory=list)
    granules: list[str] = field(default_factory=list)
    max_results: int = 0  # 0: no limit


@dataclass
class SearchResult:
    """Products found (duplicates removed, sorted by stack and time) and what to tell the user."""

    products: list[Any]
    hits: int
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.products


def parse_int_list(text: str | Iterable[Any] | None, what: str) -> list[int]:
    """``"100,93"`` or ``"93-95"`` (ranges inclusive) to ``[93, 94, 95, 100]``."""
    if text is None:
        return []
    items = text if not isinstance(text, str) else re.split(r"[,\s;]+", text.strip())
    values: set[int] = set()
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", item)
        try:
            if match:
                low, high = int(match.group(1)), int(match.group(2))
                if low > high:
                    raise InputError(f"The {what} range '{item}' runs backwards; write it as {high}-{low}.")
                values.update(range(low, high + 1))
            else:
                values.add(int(item))
        except ValueError as exc:
            raise InputError(f"The {what} '{item}' is not a whole number (example: 100,93 or 90-95).") from exc
    return sorted(values)


def parse_names(text: str | Iterable[str] | None) -> list[str]:
    """Granule names separated by commas, spaces or new lines; ``.zip`` and ``-SLC`` suffixes dropped."""
    if text is None:
        return []
    items = re.split(r"[,\s;]+", text.strip()) if isinstance(text, str) else list(text)
    names = []
    for item in items:
        name = item.strip()
        for suffix in (".zip", ".SAFE", "-SLC"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if name and name not in names:
            names.append(name)
    return names


def parse_date(text: str | dt.date | None, what: str, end_of_day: bool = False) -> dt.datetime | None:
    """An ISO date or date-time (UTC unless it says otherwise), or None when empty."""
    if text in (None, ""):
        return None
    if isinstance(text, dt.datetime):
        value = text
    elif isinstance(text, dt.date):
        value = dt.datetime(text.year, text.month, text.day)
        if end_of_day:
            value += dt.timedelta(days=1, microseconds=-1)
    else:
        raw = str(text).strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                value = dt.datetime.strptime(raw, "%Y-%m-%d")
                if end_of_day:
                    value += dt.timedelta(days=1, microseconds=-1)
            else:
                value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError(f"The {what} '{raw}' is not a date; write it as YYYY-MM-DD (e.g. 2021-06-30).") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _normalise_polarizations(polarizations: Sequence[str], level: str) -> list[str]:
    valid = SLC_POLARIZATIONS if level == "SLC" else BURST_POLARIZATIONS
    lookup = {p.upper().replace(" ", ""): p for p in valid}
    result: list[str] = []
    for raw in polarizations:
        key = raw.strip().upper().replace(" ", "").replace("/", "+")
        if not key:
            continue
        if key not in lookup:
            raise InputError(
                f"Unknown polarization '{raw}' for {level}; use one of {', '.join(valid)}."
            )
        name = lookup[key]
        expanded = _SLC_POLARIZATION_ALIASES.get(name, [name]) if level == "SLC" else [name]
        result += [p for p in expanded if p not in result]
    return result


def validate(request: SearchRequest) -> SearchRequest:
    """Check a request before anything is sent; raise :class:`InputError` saying what to change."""
    level = (request.processing_level or "SLC").upper()
    if level not in PROCESSING_LEVELS:
        raise InputError(f"Processing level '{request.processing_level}' is not one of {', '.join(PROCESSING_LEVELS)}.")
    direction = (request.flight_direction or "ANY").upper()
    if direction not in FLIGHT_DIRECTIONS:
        raise InputError(f"Flight direction '{request.flight_direction}' is not one of {', '.join(FLIGHT_DIRECTIONS)}.")
    start = parse_date(request.start, "start date")
    end = parse_date(request.end, "end date", end_of_day=True)
    if start and end and start > end:
        raise InputError(
            f"The start date {start.date()} is after the end date {end.date()}; swap them."
        )
    if start and start.year < 2014:
        raise InputError(f"The start date {start.date()} is before Sentinel-1 was launched (April 2014).")
    if request.aoi is None and not request.granules:
        raise InputError("Give an area of interest (a layer, an extent or WKT) or a list of granule names.")
    if request.max_results < 0:
        raise InputError("MAX_RESULTS cannot be negative (0 means no limit).")
    for orbit in request.relative_orbits:
        if not 1 <= orbit <= 175:
            raise InputError(f"Relative orbit {orbit} does not exist: Sentinel-1 has relative orbits 1 to 175.")
    names = parse_names(request.granules)
    for name in names:
        if not (_SLC_NAME.match(name) or _BURST_NAME.match(name) or "*" in name or "?" in name):
            raise InputError(
                f"'{name}' is not a Sentinel-1 SLC or burst name (like "
                "S1A_IW_SLC__1SDV_20210102T032031_20210102T032058_024970_02F8C3_C081 or "
                "S1_372326_IW3_20180815T151558_VV_6BD3-BURST)."
            )
    return SearchRequest(
        aoi=request.aoi,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        processing_level=level,
        flight_direction=direction,
        relative_orbits=list(request.relative_orbits),
        frames=list(request.frames),
        polarizations=_normalise_polarizations(request.polarizations, level),
        granules=names,
        max_results=request.max_results,
    )


def search_options(request: SearchRequest, endpoints: Endpoints, session: Any = None) -> Any:
    """The asf_search options of a validated request (nothing is sent)."""
    import asf_search

    if session is None:
        session = make_session(endpoints)
    kwargs: dict[str, Any] = {
        "platform": ["SENTINEL-1"],
        "processingLevel": [request.processing_level],
        "beamMode": ["IW"],
    }
    if request.granules:
        burst_names = [g for g in request.granules if g.upper().endswith("-BURST")]
        slc_names = [g for g in request.granules if g not in burst_names]
        if burst_names and slc_names:
            raise InputError("Give either SLC scene names or burst names in GRANULES, not both.")
        if burst_names:
            kwargs["processingLevel"] = ["BURST"]
            kwargs["product_list"] = burst_names
        else:
            kwargs["granule_list"] = slc_names
    elif request.aoi is not None:
        kwargs["intersectsWith"] = request.aoi.search_wkt
    if request.start:
        kwargs["start"] = request.start
    if request.end:
        kwargs["end"] = request.end
    if request.flight_direction != "ANY":
        kwargs["flightDirection"] = request.flight_direction
    if request.relative_orbits:
        kwargs["relativeOrbit"] = request.relative_orbits
    if request.frames:
        kwargs["frame"] = request.frames
    if request.polarizations:
        kwargs["polarization"] = request.polarizations
    return asf_search.ASFSearchOptions(host=endpoints.cmr_host, session=session, **kwargs)


def make_session(endpoints: Endpoints) -> Any:
    """An asf_search session trusting ``endpoints.ca_bundle`` when one is set.

    Searching needs no credentials; the session is guarded all the same
    (:func:`~insarhub_qgis.core.netpolicy.guard_session`), so none could reach CMR or a host it
    redirects to.
    """
    import asf_search

    from .netpolicy import CredentialPolicy, guard_session

    session = guard_session(asf_search.ASFSession(), CredentialPolicy.for_endpoints(endpoints))
    if endpoints.ca_bundle:
        session.verify = endpoints.ca_bundle
        # REQUESTS_CA_BUNDLE and friends would otherwise override the bundle given here.
        session.trust_env = False
    return session


#: Records per CMR page (CMR's maximum): fewer round trips than asf_search's 250.
PAGE_SIZE = 2000
#: The most records one search returns; beyond it the search stops with a message.
MAX_SEARCH_RECORDS = 250_000
#: The most pages one search asks for (a server that sends a few new records per page).
MAX_SEARCH_PAGES = 2 * MAX_SEARCH_RECORDS // PAGE_SIZE + 20


@dataclass
class CmrPage:
    """One CMR answer: ``items`` (:class:`~insarhub_qgis.core.records.RawItem`); ``server_s`` is
    the time until its headers arrived (the server's own work plus the round trip)."""

    items: list[RawItem]
    hits: int
    search_after: str | None
    server_s: float = 0.0


@dataclass
class SearchStats:
    """What a search did, filled while it pages (see :func:`search_footprints`)."""

    hits: int = 0
    fetched: int = 0
    kept: int = 0
    duplicates: int = 0
    pages: int = 0
    server_s: float = 0.0
    broken: list[str] = field(default_factory=list)  # "<name>: <why>" of records skipped
    stopped: str = ""  # why paging stopped before CMR said it was done ("" when it did)
    found_names: set = field(default_factory=set)  # sceneName and fileID of the records kept


def _fetch_page(session: Any, url: str, form: list, search_after: str | None, timeout_s: float) -> CmrPage:
    """POST one page to CMR. Raises TransientServiceError or ServiceError."""
    import requests

    headers = {"CMR-Search-After": search_after} if search_after else {}
    try:
        response = session.post(url, data=form, headers=headers, timeout=timeout_s)
        status = response.status_code
        payload = response.content if status < 400 else b""
    except requests.exceptions.Timeout as exc:
        raise TransientServiceError(f"CMR did not answer within {timeout_s:g} s.") from exc
    except requests.exceptions.SSLError as exc:
        raise ServiceError(
            f"The TLS certificate of {url.split('/')[2]} is not trusted ({exc}). If you use a local "
            "sandbox, set INSARHUB_CA_BUNDLE to its CA certificate."
        ) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise TransientServiceError(f"The connection to CMR failed ({type(exc).__name__}).") from exc
    if status == 429 or status >= 500:
        error = TransientServiceError(f"CMR answered HTTP {status}: {_cmr_message(response)}")
        error.retry_after = _retry_after(response)  # type: ignore[attr-defined]
        raise error
    if status >= 400:
        raise ServiceError(f"CMR refused the search (HTTP {status}): {_cmr_message(response)}")
    try:
        hits, items = read_cmr_page(payload)
    except ValueError as exc:  # UnicodeDecodeError included
        raise TransientServiceError(f"CMR sent an answer that is not complete JSON ({exc}).") from exc
    return CmrPage(
        items,
        hits if hits is not None else len(items),
        response.headers.get("CMR-Search-After"),
        response.elapsed.total_seconds(),
    )


def _cmr_message(response: Any) -> str:
    try:
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            return "; ".join(str(e) for e in errors)[:500]
    except ValueError:
        pass
    return (response.text or "").strip()[:500] or response.reason or "no message"


def _retry_after(response: Any) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After") if response is not None else None)


def _with_page_size(form: list, size: int) -> list:
    pairs = [(key, value) for key, value in form if key != "page_size"]
    return [*pairs, ("page_size", size)]


def _pages(
    request: SearchRequest,
    opts: Any,
    session: Any,
    *,
    url_host: str,
    progress: ProgressCallback | None,
    cancelled: Callable[[], bool],
    say: Callable[[str], None],
    retry: RetryPolicy,
    timeout_s: float,
    stats: SearchStats,
    page_size: int = PAGE_SIZE,
) -> Iterator[list[RawItem]]:
    """New (not yet seen) items of every page of every sub-query, bounded (see :func:`search_footprints`)."""
    from asf_search.CMR.subquery import build_subqueries
    from asf_search.CMR.translate import translate_opts
    from asf_search.constants import INTERNAL
    from asf_search.search.search_generator import preprocess_opts

    preprocess_opts(opts)
    queries = build_subqueries(opts)
    url = f"https://{url_host}{INTERNAL.CMR_GRANULE_PATH}"
    seen: set[str] = set()
    limit = request.max_results if not request.granules else 0
    for query in queries:
        form = _with_page_size(translate_opts(query), page_size)
        search_after: str | None = None
        tokens: set[str] = set()
        query_hits: int | None = None
        query_count = 0
        while True:
            if stats.pages >= MAX_SEARCH_PAGES:
                stats.stopped = (
                    f"Stopped after {stats.pages} CMR pages ({len(seen)} records): CMR kept sending small pages. "
                    "The result may be incomplete; narrow the search (dates, orbits, frames, area) and run it again."
                )
                return
            for attempt in range(1, retry.attempts + 1):
                if cancelled():
                    raise CancelledError("Search cancelled.")
                try:
                    page = _fetch_page(session, url, form, search_after, timeout_s)
                    break
                except TransientServiceError as exc:
                    if attempt == retry.attempts:
                        raise TransientServiceError(
                            f"{exc} Gave up after {attempt} attempts; CMR may be down, try again later."
                        ) from exc
                    wait = retry.delay(attempt, getattr(exc, "retry_after", None))
                    say(f"{exc} Retrying in {wait:.0f} s (attempt {attempt + 1} of {retry.attempts}).")
                    sleep_unless_cancelled(wait, retry.sleep, cancelled)
            stats.pages += 1
            stats.server_s += page.server_s
            if query_hits is None:
                query_hits = page.hits
                stats.hits += page.hits
            new = []
            for item in page.items:
                key = item.key if item.key is not None else f"#{stats.fetched + len(new)}"
                if key in seen:
                    stats.duplicates += 1
                    continue
                seen.add(key)
                new.append(item)
                if limit and len(seen) >= limit:
                    break
            stats.fetched += len(page.items)
            query_count += len(page.items)
            if new:
                yield new
            if progress:
                progress(len(seen), max(stats.hits, len(seen)))
            if limit and len(seen) >= limit:
                return
            if len(seen) >= MAX_SEARCH_RECORDS:
                stats.stopped = (
                    f"Stopped after {len(seen):,} records, the most one search returns (CMR reports "
                    f"{stats.hits:,}). Narrow the search (dates, orbits, frames, area) or split it."
                )
                return
            if not page.search_after or not page.items or query_count >= query_hits:
                break
            if not new or page.search_after in tokens:
                stats.stopped = (
                    f"CMR sent a page with nothing new (records or a page marker it had sent already); paging "
                    f"stopped with {len(seen)} records although it reported {stats.hits}. The result may be "
                    "incomplete: run the search again later."
                )
                break
            tokens.add(page.search_after)
            search_after = page.search_after
        if limit and len(seen) >= limit:
            return


def _prepared(request: SearchRequest, endpoints: Endpoints, session: Any) -> tuple[SearchRequest, Any, bool]:
    import asf_search

    asf_search.REPORT_ERRORS = False
    request = validate(request)
    own_session = session is None
    opts = search_options(request, endpoints, session)
    return request, opts, own_session


def _finish(request: SearchRequest, stats: SearchStats, kept: int) -> list[str]:
    """Notes for the user after paging; :class:`InputError` for granule names not found."""
    notes = list(request.aoi.notes) if request.aoi else []
    if stats.duplicates:
        notes.append(f"{stats.duplicates} duplicate record(s) removed.")
    if stats.broken:
        shown = "; ".join(stats.broken[:10]) + (" ..." if len(stats.broken) > 10 else "")
        notes.append(
            f"{len(stats.broken)} record(s) were skipped because CMR sent them damaged (the rest of the "
            f"search is kept): {shown}."
        )
    if stats.stopped:
        notes.append(stats.stopped)
    if request.granules:
        missing = [g for g in request.granules if g not in stats.found_names and "*" not in g and "?" not in g]
        if missing:
            raise InputError(
                f"{len(missing)} of the {len(request.granules)} granule name(s) were not found on ASF: "
                + ", ".join(missing[:10])
                + (" ..." if len(missing) > 10 else "")
                + ". Check the spelling (and the processing level: SLC names for SLC, burst names for BURST)."
            )
    if not kept:
        notes.append(no_result_advice(request))
    return notes


def search_footprints(
    request: SearchRequest,
    endpoints: Endpoints,
    *,
    session: Any = None,
    progress: ProgressCallback | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 60.0,
    stats: SearchStats | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[Footprint]:
    """Search and yield footprints (:class:`~insarhub_qgis.core.records.Footprint`) as they arrive.

    Built straight from CMR's UMM JSON (no asf_search products), one page at a time, so a
    caller that writes them as they come holds one page in memory whatever the size of the
    search. Every loop ends: paging stops when CMR says it is done, when a page brings nothing
    new (a server that repeats itself), at :data:`MAX_SEARCH_RECORDS` / :data:`MAX_SEARCH_PAGES`
    (``stats.stopped`` says so), and on cancel (:class:`CancelledError`, checked before every
    page and retry wait). Transient failures are retried per page with backoff; 4xx stop at
    once with CMR's message. A record with an unusable footprint is skipped and named in
    ``stats.broken``; the rest of the search is kept. When the generator is exhausted,
    ``stats`` is complete and :func:`search_notes` gives the notes for the user (and raises
    :class:`InputError` for granule names that were not found).
    """
    from .records import BrokenRecord

    stats = stats if stats is not None else SearchStats()
    request, opts, own_session = _prepared(request, endpoints, session)
    session = opts.session
    say = log or (lambda message: None)
    try:
        for items in _pages(
            request,
            opts,
            session,
            url_host=endpoints.cmr_host,
            progress=progress,
            cancelled=is_cancelled or (lambda: False),
            say=say,
            retry=retry or RetryPolicy(),
            timeout_s=timeout_s,
            stats=stats,
            page_size=page_size,
        ):
            for item in items:
                try:
                    footprint = item.footprint()
                except BrokenRecord as exc:
                    stats.broken.append(f"{item.key or 'a record without a name'}: {exc}")
                    continue
                stats.kept += 1
                if request.granules:  # only named granules are checked for being found
                    stats.found_names.add(footprint.record["sceneName"])
                    stats.found_names.add(footprint.record["fileID"])
                yield footprint
    finally:
        if own_session:
            session.close()
    stats.request = request  # type: ignore[attr-defined]  # the validated request, for search_notes


def search_notes(request: SearchRequest, stats: SearchStats) -> list[str]:
    """The notes of a finished :func:`search_footprints` (AOI notes, duplicates, skipped records,
    an early stop, advice when nothing was found); :class:`InputError` for granules not found."""
    return _finish(getattr(stats, "request", None) or validate(request), stats, stats.kept)


def search(
    request: SearchRequest,
    endpoints: Endpoints,
    *,
    session: Any = None,
    progress: ProgressCallback | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 60.0,
    page_size: int = PAGE_SIZE,
) -> SearchResult:
    """Run a search; return asf_search products (sorted by stack and time) and notes.

    For callers that need asf_search's products; the footprint layers come from
    :func:`search_footprints`, which does not build them. Paging, bounds, retries and cancel
    are the same. ``progress(fetched, hits)`` is called after every page.
    """
    from asf_search.search.search_generator import as_ASFProduct

    stats = SearchStats()
    request, opts, own_session = _prepared(request, endpoints, session)
    session = opts.session
    products = []
    try:
        for items in _pages(
            request,
            opts,
            session,
            url_host=endpoints.cmr_host,
            progress=progress,
            cancelled=is_cancelled or (lambda: False),
            say=log or (lambda message: None),
            retry=retry or RetryPolicy(),
            timeout_s=timeout_s,
            stats=stats,
            page_size=page_size,
        ):
            for item in items:
                try:
                    umm, meta = item.as_dicts()
                    product = as_ASFProduct({"umm": umm, "meta": meta}, session=session)
                except Exception as exc:  # asf_search's parsing of a damaged record: skip and name it
                    stats.broken.append(f"{item.key or 'a record without a name'}: {type(exc).__name__}: {exc}")
                    continue
                products.append(product)
                stats.found_names.add(product.properties.get("sceneName"))
                stats.found_names.add(product.properties.get("fileID"))
    finally:
        if own_session:
            # The products keep the session, but its pooled TLS sockets are not needed any more.
            session.close()
    products.sort(key=_sort_key)
    return SearchResult(products=products, hits=stats.hits, notes=_finish(request, stats, len(products)))


def no_result_advice(request: SearchRequest) -> str:
    """What to relax when a search found nothing."""
    constraints = []
    if request.start or request.end:
        constraints.append(f"widen the dates ({request.start or '…'} to {request.end or '…'})")
    if request.flight_direction != "ANY":
        constraints.append(f"allow both flight directions (now {request.flight_direction})")
    if request.relative_orbits:
        constraints.append(f"drop the relative orbit filter ({', '.join(map(str, request.relative_orbits))})")
    if request.frames:
        constraints.append(f"drop the frame filter ({', '.join(map(str, request.frames))})")
    if request.polarizations:
        constraints.append(f"drop the polarization filter ({', '.join(request.polarizations)})")
    if request.processing_level == "BURST":
        constraints.append("search SLC instead of BURST (bursts exist only for acquisitions ASF has indexed)")
    if request.aoi is not None:
        constraints.append("check that the AOI is where you think (it is searched in EPSG:4326)")
    return "No Sentinel-1 " + request.processing_level + " found. To find some, " + "; or ".join(constraints) + "."


def _sort_key(product: Any) -> tuple:
    props = product.properties
    burst = props.get("burst") or {}
    return (
        props.get("flightDirection") or "",
        int(props.get("pathNumber") or 0),
        int(props.get("frameNumber") or 0),
        burst.get("fullBurstID") or "",
        props.get("startTime") or "",
        props.get("fileID") or "",
    )
