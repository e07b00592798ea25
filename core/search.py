"""Search Sentinel-1 SLCs and bursts on ASF (CMR) with asf_search.

The query is built by asf_search itself (its options, sub-queries and CMR translation);
this module pages through CMR with ``CMR-Search-After`` so that a transient failure
(5xx, 429, timeouts, dropped connections) is retried with backoff *for that page* instead
of restarting the search, progress is reported per page, and cancel is honoured between
pages. Permanent failures (4xx) stop at once with CMR's own message.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .config import Endpoints
from .errors import CancelledError, InputError, ServiceError, TransientServiceError
from .schema import FLIGHT_DIRECTIONS, PROCESSING_LEVELS

if TYPE_CHECKING:
    from .aoi import Aoi

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
    """An asf_search session trusting ``endpoints.ca_bundle`` when one is set."""
    import asf_search

    session = asf_search.ASFSession()
    if endpoints.ca_bundle:
        session.verify = endpoints.ca_bundle
        # REQUESTS_CA_BUNDLE and friends would otherwise override the bundle given here.
        session.trust_env = False
    return session


@dataclass
class RetryPolicy:
    """How transient failures are retried: exponential backoff, ``Retry-After`` honoured."""

    attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        if retry_after is not None:
            wait = min(self.max_delay_s, max(wait, retry_after))
        return wait


def _cmr_message(response: Any) -> str:
    try:
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            return "; ".join(str(e) for e in errors)
    except (ValueError, json.JSONDecodeError):
        pass
    return (response.text or "").strip()[:500] or response.reason or "no message"


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _fetch_page(session: Any, url: str, form: list, search_after: str | None, timeout_s: float) -> tuple[list, int, str | None]:
    """POST one page to CMR. Raises TransientServiceError or ServiceError."""
    import requests

    headers = {"CMR-Search-After": search_after} if search_after else {}
    try:
        response = session.post(url, data=form, headers=headers, timeout=timeout_s)
    except requests.exceptions.Timeout as exc:
        raise TransientServiceError(f"CMR did not answer within {timeout_s:g} s.") from exc
    except requests.exceptions.SSLError as exc:
        raise ServiceError(
            f"The TLS certificate of {url.split('/')[2]} is not trusted ({exc}). If you use a local "
            "sandbox, set INSARHUB_CA_BUNDLE to its CA certificate."
        ) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise TransientServiceError(f"The connection to CMR failed ({type(exc).__name__}).") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        error = TransientServiceError(f"CMR answered HTTP {status}: {_cmr_message(response)}")
        error.retry_after = _retry_after(response)  # type: ignore[attr-defined]
        raise error
    if status >= 400:
        raise ServiceError(f"CMR refused the search (HTTP {status}): {_cmr_message(response)}")
    try:
        body = response.json()
        items = body["items"]
        hits = int(body.get("hits", len(items)))
    except (ValueError, KeyError, TypeError) as exc:
        raise TransientServiceError("CMR sent an answer that is not complete JSON.") from exc
    return items, hits, response.headers.get("CMR-Search-After")


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
) -> SearchResult:
    """Run a search; return the products, or an empty result with advice on what to relax.

    ``progress(fetched, hits)`` is called after every page; ``is_cancelled()`` is checked
    before every page and every retry wait, raising :class:`CancelledError`.
    """
    import asf_search

    asf_search.REPORT_ERRORS = False
    request = validate(request)
    retry = retry or RetryPolicy()
    cancelled = is_cancelled or (lambda: False)
    say = log or (lambda message: None)
    own_session = session is None
    opts = search_options(request, endpoints, session)
    session = opts.session
    try:
        return _search_pages(request, opts, session, url_host=endpoints.cmr_host, progress=progress,
                             cancelled=cancelled, say=say, retry=retry, timeout_s=timeout_s)
    finally:
        if own_session:
            # The products keep the session, but its pooled TLS sockets are not needed any more.
            session.close()


def _search_pages(
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
) -> SearchResult:
    """Page through every sub-query of validated options; see :func:`search`."""
    from asf_search.CMR.subquery import build_subqueries
    from asf_search.CMR.translate import translate_opts
    from asf_search.constants import INTERNAL
    from asf_search.search.search_generator import as_ASFProduct, preprocess_opts

    preprocess_opts(opts)
    queries = build_subqueries(opts)
    url = f"https://{url_host}{INTERNAL.CMR_GRANULE_PATH}"

    seen: dict[str, Any] = {}
    hits_total = 0
    fetched = 0
    limit = request.max_results if not request.granules else 0
    for query in queries:
        form = translate_opts(query)
        search_after: str | None = None
        query_hits: int | None = None
        query_count = 0
        while True:
            for attempt in range(1, retry.attempts + 1):
                if cancelled():
                    raise CancelledError("Search cancelled.")
                try:
                    items, hits, next_after = _fetch_page(session, url, form, search_after, timeout_s)
                    break
                except TransientServiceError as exc:
                    if attempt == retry.attempts:
                        raise TransientServiceError(
                            f"{exc} Gave up after {attempt} attempts; CMR may be down, try again later."
                        ) from exc
                    wait = retry.delay(attempt, getattr(exc, "retry_after", None))
                    say(f"{exc} Retrying in {wait:.0f} s (attempt {attempt + 1} of {retry.attempts}).")
                    retry.sleep(wait)
            if query_hits is None:
                query_hits = hits
                hits_total += hits
            for item in items:
                product = as_ASFProduct(item, session=session)
                key = product.properties.get("fileID") or product.properties.get("sceneName")
                if key not in seen:
                    seen[key] = product
            query_count += len(items)
            fetched += len(items)
            if progress:
                progress(len(seen), max(hits_total, len(seen)))
            if limit and len(seen) >= limit:
                break
            if not next_after or not items or query_count >= query_hits:
                break
            search_after = next_after
        if limit and len(seen) >= limit:
            break

    products = list(seen.values())
    if limit:
        products = products[:limit]
    products.sort(key=_sort_key)
    result = SearchResult(products=products, hits=hits_total, notes=list(request.aoi.notes) if request.aoi else [])
    if fetched > len(seen):
        result.notes.append(f"{fetched - len(seen)} duplicate record(s) removed.")
    if request.granules:
        found = {p.properties.get("sceneName") for p in products} | {p.properties.get("fileID") for p in products}
        missing = [g for g in request.granules if g not in found and "*" not in g and "?" not in g]
        if missing:
            raise InputError(
                f"{len(missing)} of the {len(request.granules)} granule name(s) were not found on ASF: "
                + ", ".join(missing[:10])
                + (" ..." if len(missing) > 10 else "")
                + ". Check the spelling (and the processing level: SLC names for SLC, burst names for BURST)."
            )
    if not products:
        result.notes.append(no_result_advice(request))
    return result


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
