"""Loopback stand-in for NASA CMR's granule search, as used by ``asf_search``.

The real ``asf_search`` code talks to this server unchanged: point
``ASFSearchOptions.host`` at :attr:`CMRStandIn.host` and give it a session that trusts
:attr:`CMRStandIn.ca_file` (see :meth:`CMRStandIn.session` and
:meth:`CMRStandIn.search_options`). Only ``127.0.0.1`` is ever contacted.

Protocol (what asf_search 14.x does, see ``search/search_generator.py`` and
``CMR/translate.py``):

* ``POST https://{host}/search/granules.umm_json`` with a form-encoded body of repeated
  keys (``attribute[]``, ``shortName``, ``platform[]``, ``readable_granule_name[]``,
  ``granule_ur[]``, ``polygon``/``bounding_box``/``point``/``line``/``circle``,
  ``temporal``, ``page_size``, ``sort_key[]``, ``provider``, ``options[...][...]``).
  GET with a query string works too.
* Answer ``{"hits": N, "took": ms, "items": [{"meta": ..., "umm": ...}, ...]}``; further
  pages are requested with the ``CMR-Search-After`` request header set to the value of
  the previous answer's ``CMR-Search-After`` response header.
* Errors are ``{"errors": ["..."]}`` with a 4xx/5xx status (asf_search reads
  ``response.json()['errors']``).

What is honoured (the rest is accepted and ignored, and listed in
:attr:`CMRStandIn.ignored_keys`):

* ``attribute[]`` (``type,NAME,value``, ``type,NAME,min,max`` with open ends, ``NAME``
  alone; types string/int/float/date/time/datetime; ``\\,`` escapes; combined with AND,
  or OR with ``options[attribute][or]=true``) against ``umm.AdditionalAttributes``. This
  covers PROCESSING_TYPE, POLARIZATION, PATH_NUMBER, FRAME_NUMBER (ASF frame),
  CENTER_ESA_FRAME (ESA frame), BURST_ID_FULL, ASCENDING_DESCENDING, BEAM_MODE, ...
* ``shortName``/``short_name``, ``version``, ``platform[]``, ``instrument[]``,
  ``provider``, ``concept_id[]``, ``granule_ur[]`` (asf_search ``product_list``),
  ``readable_granule_name[]`` (asf_search ``granule_list``; matches GranuleUR or the
  ProducerGranuleId), ``producer_granule_id[]``, ``collection_concept_id[]`` (only for
  records whose meta carries ``collection-concept-id``), each with
  ``options[key][ignore_case|pattern|and]``.
* ``temporal`` (``start,end[,day1,day2]`` or ``start/end``; overlap semantics; several
  combined with OR, or AND with ``options[temporal][and]=true``), ``orbit_number``,
  ``updated_since``.
* Spatial: ``polygon`` (lon,lat pairs, closed, counter-clockwise), ``bounding_box``
  (W,S,E,N; W > E crosses the antimeridian), ``point``, ``line``, ``circle``
  (lon,lat,metres, approximated). Planar intersection with shapely on lon/lat (CMR uses
  great circles; irrelevant at Sentinel-1 footprint scale); antimeridian-crossing
  footprints and queries are handled. Several spatial keys combine with AND, or OR with
  ``options[spatial][or]=true``.
* ``page_size`` (0..2000, default 10), ``page_num``, ``sort_key[]`` (start_date, end_date,
  granule_ur, readable_granule_name, producer_granule_id, platform, short_name, version,
  provider, revision_date; ``-`` prefix = descending; concept-id breaks ties), and
  ``CMR-Search-After`` paging (the token is a JSON array of the last item's sort values,
  as real CMR does; it is valid for any query with the same sort keys).

Malformed values give ``400 {"errors": [...]}`` like real CMR.

Faults (thread-safe, consumed in request order, bounded): :meth:`CMRStandIn.fail_next`,
:meth:`CMRStandIn.drop_next`, :meth:`CMRStandIn.delay`, :meth:`CMRStandIn.cap_page_size`,
:meth:`CMRStandIn.reset_faults`.

Users should set ``asf_search.REPORT_ERRORS = False`` so that asf_search never tries to
report errors to ASF's own endpoint.
"""

from __future__ import annotations

import bisect
import functools
import http.server
import json
import math
import random
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import GeometryCollection, LinearRing, LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from .tls import make_tls_context

__all__ = [
    "CMRStandIn",
    "FIXTURES_DIR",
    "load_fixture",
    "synthetic_burst_records",
    "synthetic_slc_records",
]

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "cmr"

#: Largest ``page_size`` CMR accepts.
MAX_PAGE_SIZE = 2000
#: CMR's default ``page_size``.
DEFAULT_PAGE_SIZE = 10
UMM_JSON_CONTENT_TYPE = "application/vnd.nasa.cmr.umm_results+json; version=1.6.5; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_MAX_BODY = 16 * 1024 * 1024
_IDLE_TIMEOUT_S = 30.0

Record = Dict[str, Any]


# --------------------------------------------------------------------------- fixtures


@functools.cache
def _fixture_text(name: str) -> str:
    path = FIXTURES_DIR / (name if name.endswith(".json") else f"{name}.json")
    return path.read_text(encoding="utf-8")


def load_fixture(name: str) -> List[Record]:
    """Return a fresh copy of ``tests/fixtures/cmr/<name>.json`` (``.json`` optional).

    Each element is ``{"meta": ..., "umm": ..., "asf_properties": ...}``; the caller may
    mutate the result freely.
    """
    return json.loads(_fixture_text(name))


# --------------------------------------------------------------------------- time helpers

_DT_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)


def _parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 date or date-time (any fraction length); naive means UTC."""
    match = _DT_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 date-time: {text!r}")
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    value = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz
    )
    return value.astimezone(timezone.utc)


def _try_datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _parse_datetime(text)
    except ValueError:
        return None


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _shift_time_text(text: str, delta: timedelta) -> str:
    """Shift a date-time string by ``delta`` keeping its layout (fraction digits, ``Z``)."""
    match = _DT_RE.fullmatch(text.strip())
    if match is None:
        return text
    frac = match.group(7)
    zone = match.group(8)
    shifted = _parse_datetime(text) + delta
    out = shifted.strftime("%Y-%m-%dT%H:%M:%S")
    if frac is not None:
        out += "." + shifted.strftime("%f")[: len(frac)].ljust(len(frac), "0")
    if zone:
        out += "Z"
    return out


# --------------------------------------------------------------------------- records


@dataclass
class _Entry:
    """A record as indexed by the stand-in (precomputed for fast filtering)."""

    record: Record
    item_json: bytes
    concept_id: str
    granule_ur: str
    producer_id: str | None
    short_name: str | None
    version: str | None
    provider: str | None
    collection_concept_id: str | None
    platforms: List[str]
    instruments: List[str]
    start: datetime | None
    end: datetime | None
    revision_date: datetime | None
    orbits: List[int]
    attrs: Dict[str, List[str]]
    geometry: BaseGeometry | None


def _unwrap_lons(points: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """Move an antimeridian-crossing ring to continuous longitudes in [-180, 540)."""
    lons = [p[0] for p in points]
    if lons and max(lons) - min(lons) > 180:
        return [(lon + 360 if lon < 0 else lon, lat) for lon, lat in points]
    return points


def _umm_geometry(umm: Record) -> BaseGeometry | None:
    """Footprint of a UMM-G record as a shapely geometry (lon, lat), or ``None``."""
    geometry = ((umm.get("SpatialExtent") or {}).get("HorizontalSpatialDomain") or {}).get("Geometry") or {}
    parts: List[BaseGeometry] = []
    for gpoly in geometry.get("GPolygons") or []:
        shell = _unwrap_lons([(p["Longitude"], p["Latitude"]) for p in gpoly["Boundary"]["Points"]])
        holes = [
            _unwrap_lons([(p["Longitude"], p["Latitude"]) for p in hole["Points"]])
            for hole in (gpoly.get("ExclusiveZone") or {}).get("Boundaries") or []
        ]
        poly = Polygon(shell, holes)
        parts.append(poly if poly.is_valid else shapely.make_valid(poly))
    for rect in geometry.get("BoundingRectangles") or []:
        west, east = rect["WestBoundingCoordinate"], rect["EastBoundingCoordinate"]
        south, north = rect["SouthBoundingCoordinate"], rect["NorthBoundingCoordinate"]
        parts.append(box(west, south, east if east >= west else east + 360, north))
    for pt in geometry.get("Points") or []:
        parts.append(Point(pt["Longitude"], pt["Latitude"]))
    for line in geometry.get("Lines") or []:
        parts.append(LineString(_unwrap_lons([(p["Longitude"], p["Latitude"]) for p in line["Points"]])))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else GeometryCollection(parts)


def _make_entry(record: Record) -> _Entry:
    meta = record.get("meta") or {}
    umm = record.get("umm") or {}
    item = {"meta": meta, "umm": umm}
    producer_id = None
    for ident in (umm.get("DataGranule") or {}).get("Identifiers") or []:
        if ident.get("IdentifierType") == "ProducerGranuleId":
            producer_id = ident.get("Identifier")
    temporal = umm.get("TemporalExtent") or {}
    range_dt = temporal.get("RangeDateTime") or {}
    start = _try_datetime(range_dt.get("BeginningDateTime") or temporal.get("SingleDateTime"))
    end = _try_datetime(range_dt.get("EndingDateTime")) or start
    granule_ur = umm.get("GranuleUR") or meta.get("native-id") or ""
    collection = umm.get("CollectionReference") or {}
    attrs: Dict[str, List[str]] = {}
    for attr in umm.get("AdditionalAttributes") or []:
        attrs.setdefault(attr.get("Name", ""), []).extend(str(v) for v in attr.get("Values") or [])
    platforms = [p.get("ShortName", "") for p in umm.get("Platforms") or []]
    instruments = [
        inst.get("ShortName", "") for p in umm.get("Platforms") or [] for inst in p.get("Instruments") or []
    ]
    orbits = [
        int(o["OrbitNumber"]) for o in umm.get("OrbitCalculatedSpatialDomains") or [] if "OrbitNumber" in o
    ]
    return _Entry(
        record=record,
        item_json=json.dumps(item, separators=(",", ":")).encode("utf-8"),
        concept_id=meta.get("concept-id") or granule_ur,
        granule_ur=granule_ur,
        producer_id=producer_id,
        short_name=collection.get("ShortName"),
        version=collection.get("Version"),
        provider=meta.get("provider-id"),
        collection_concept_id=meta.get("collection-concept-id"),
        platforms=platforms,
        instruments=instruments,
        start=start,
        end=end,
        revision_date=_try_datetime(meta.get("revision-date")),
        orbits=orbits,
        attrs=attrs,
        geometry=_umm_geometry(umm),
    )


# --------------------------------------------------------------------------- query parsing


class CMRQueryError(Exception):
    """A query CMR would reject; becomes ``{"errors": [...]}`` with ``status``."""

    def __init__(self, errors: Sequence[str], status: int = 400) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)
        self.status = status


@functools.total_ordering
class _Desc:
    """Wrapper reversing the order of a sort value (descending sort keys)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value

    __hash__ = None  # type: ignore[assignment]


_SORT_FIELDS: Dict[str, Tuple[str, Callable[[_Entry], Any]]] = {
    # name: (kind, getter); kind is "datetime" or "string"
    "start_date": ("datetime", lambda e: e.start),
    "end_date": ("datetime", lambda e: e.end),
    "granule_ur": ("string", lambda e: e.granule_ur),
    "readable_granule_name": ("string", lambda e: e.producer_id or e.granule_ur),
    "producer_granule_id": ("string", lambda e: e.producer_id),
    "platform": ("string", lambda e: e.platforms[0] if e.platforms else None),
    "short_name": ("string", lambda e: e.short_name),
    "version": ("string", lambda e: e.version),
    "provider": ("string", lambda e: e.provider),
    "revision_date": ("datetime", lambda e: e.revision_date),
}
_DEFAULT_SORT = [("provider", False), ("start_date", False)]

# key -> getter of the candidate strings of a record
_STRING_FIELDS: Dict[str, Callable[[_Entry], List[str | None]]] = {
    "concept_id": lambda e: [e.concept_id],
    "granule_ur": lambda e: [e.granule_ur],
    "readable_granule_name": lambda e: [e.granule_ur, e.producer_id],
    "producer_granule_id": lambda e: [e.producer_id],
    "short_name": lambda e: [e.short_name],
    "version": lambda e: [e.version],
    "provider": lambda e: [e.provider],
    "platform": lambda e: list(e.platforms),
    "instrument": lambda e: list(e.instruments),
}
_CASE_SENSITIVE_BY_DEFAULT = {"concept_id", "collection_concept_id"}
_KEY_ALIASES = {
    "shortName": "short_name",
    "echo_granule_id": "concept_id",
    "echo_collection_id": "collection_concept_id",
    "provider_short_name": "provider",
}
_SPATIAL_KEYS = {"polygon", "bounding_box", "point", "line", "circle"}
_CONTROL_KEYS = {"page_size", "page_num", "sort_key"}
_HONOURED_KEYS = (
    set(_STRING_FIELDS)
    | _SPATIAL_KEYS
    | _CONTROL_KEYS
    | {"attribute", "temporal", "orbit_number", "updated_since", "collection_concept_id"}
)
_OPTION_RE = re.compile(r"options\[([^\]]+)\]\[([^\]]+)\]")
_ATTR_TYPES = {"string", "int", "float", "date", "time", "datetime"}


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _parse_attr_value(kind: str, raw: str) -> Any:
    if kind == "string":
        return raw
    if kind == "int":
        return int(raw)
    if kind == "float":
        value = float(raw)
        if math.isnan(value):
            raise ValueError("NaN")
        return value
    if kind == "datetime":
        return _parse_datetime(raw)
    if kind == "date":
        return _parse_datetime(raw).date()
    if kind == "time":
        return dtime.fromisoformat(raw.rstrip("Z"))
    raise ValueError(kind)


@dataclass
class _AttrCondition:
    name: str
    kind: str | None = None  # None: "has attribute"
    value: Any = None
    low: Any = None
    high: Any = None
    is_range: bool = False

    def matches(self, entry: _Entry) -> bool:
        raws = entry.attrs.get(self.name)
        if not raws:
            return False
        if self.kind is None:
            return True
        for raw in raws:
            try:
                value = _parse_attr_value(self.kind, raw)
            except (ValueError, TypeError):
                continue
            if self.is_range:
                if (self.low is None or value >= self.low) and (self.high is None or value <= self.high):
                    return True
            elif value == self.value:
                return True
        return False


def _split_escaped(text: str) -> List[str]:
    return [part.replace("\\,", ",") for part in re.split(r"(?<!\\),", text)]


def _parse_attribute(text: str) -> _AttrCondition:
    parts = _split_escaped(text)
    if len(parts) == 1 and parts[0]:
        return _AttrCondition(name=parts[0])
    if len(parts) not in (3, 4):
        raise CMRQueryError(
            [f"Invalid number of additional attribute parameter components for [{text}]."]
        )
    kind, name = parts[0], parts[1]
    if kind not in _ATTR_TYPES:
        raise CMRQueryError([f"[{kind}] is an invalid type for additional attribute [{text}]."])
    if not name:
        raise CMRQueryError([f"Additional attribute name is missing in [{text}]."])

    def parse(raw: str) -> Any:
        try:
            return _parse_attr_value(kind, raw)
        except (ValueError, TypeError):
            raise CMRQueryError([f"[{raw}] is an invalid value for type [{kind}]."]) from None

    if len(parts) == 3:
        return _AttrCondition(name=name, kind=kind, value=parse(parts[2]))
    low = parse(parts[2]) if parts[2] != "" else None
    high = parse(parts[3]) if parts[3] != "" else None
    if low is None and high is None:
        raise CMRQueryError([f"Additional attribute range [{text}] needs a minimum or a maximum."])
    if low is not None and high is not None and low > high:
        raise CMRQueryError([f"Additional attribute range [{text}]: minimum is greater than maximum."])
    return _AttrCondition(name=name, kind=kind, low=low, high=high, is_range=True)


def _floats(key: str, value: str) -> List[float]:
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise CMRQueryError([f"[{value}] is not a valid {key}: coordinates must be numbers."]) from None
    if any(math.isnan(n) or math.isinf(n) for n in numbers):
        raise CMRQueryError([f"[{value}] is not a valid {key}: coordinates must be finite."])
    return numbers


def _check_points(key: str, value: str, points: List[Tuple[float, float]]) -> None:
    for lon, lat in points:
        if not -180 <= lon <= 180:
            raise CMRQueryError([f"Spatial validation error: Point longitude [{lon}] in {key} [{value}] "
                                 "must be within -180.0 and 180.0"])
        if not -90 <= lat <= 90:
            raise CMRQueryError([f"Spatial validation error: Point latitude [{lat}] in {key} [{value}] "
                                 "must be within -90.0 and 90.0"])


def _pairs(numbers: List[float]) -> List[Tuple[float, float]]:
    return list(zip(numbers[0::2], numbers[1::2]))


def _parse_spatial(key: str, value: str) -> BaseGeometry:
    """Parse one spatial parameter into a shapely geometry in [-180, 540) longitudes."""
    numbers = _floats(key, value)
    if key == "polygon":
        if len(numbers) % 2 or len(numbers) < 8:
            raise CMRQueryError([f"Polygon [{value}] must have an even number of ordinates "
                                 "and at least 4 points."])
        points = _pairs(numbers)
        _check_points(key, value, points)
        if points[0] != points[-1]:
            raise CMRQueryError(["Spatial validation error: The polygon boundary was not closed. "
                                 "The last point must be equal to the first point."])
        points = _unwrap_lons(points)
        if not LinearRing(points).is_ccw:
            raise CMRQueryError(["Spatial validation error: The polygon boundary points are listed in "
                                 "clockwise order. Points must be provided in counter-clockwise order."])
        poly = Polygon(points)
        if not poly.is_valid:
            raise CMRQueryError(["Spatial validation error: The polygon boundary intersected itself."])
        return poly
    if key == "bounding_box":
        if len(numbers) != 4:
            raise CMRQueryError([f"Bounding box [{value}] must have 4 values: west,south,east,north."])
        west, south, east, north = numbers
        _check_points(key, value, [(west, south), (east, north)])
        if south > north:
            raise CMRQueryError([f"Spatial validation error: The bounding box north value [{north}] "
                                 f"was less than the south value [{south}]"])
        if east < west:
            east += 360
        if west == east or south == north:
            return LineString([(west, south), (east, north)])
        return box(west, south, east, north)
    if key == "point":
        if len(numbers) != 2:
            raise CMRQueryError([f"Point [{value}] must have 2 values: lon,lat."])
        _check_points(key, value, _pairs(numbers))
        return Point(numbers)
    if key == "line":
        if len(numbers) % 2 or len(numbers) < 4:
            raise CMRQueryError([f"Line [{value}] must have an even number of ordinates and at least 2 points."])
        points = _pairs(numbers)
        _check_points(key, value, points)
        return LineString(_unwrap_lons(points))
    if key == "circle":
        if len(numbers) != 3:
            raise CMRQueryError([f"Circle [{value}] must have 3 values: lon,lat,radius."])
        lon, lat, radius = numbers
        _check_points(key, value, [(lon, lat)])
        if not 10 <= radius <= 6_000_000:
            raise CMRQueryError([f"Circle radius [{radius}] must be between 10 and 6000000 meters."])
        lat_scale = radius / 110_574.0
        lon_scale = radius / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
        return affinity.scale(Point(lon, lat).buffer(1.0, 32), xfact=lon_scale, yfact=lat_scale)
    raise CMRQueryError([f"Unsupported spatial parameter [{key}]."])


def _with_wraps(geom: BaseGeometry) -> BaseGeometry:
    """The geometry together with its copies shifted by +-360 degrees of longitude."""
    return shapely.union_all([affinity.translate(geom, xoff=k * 360.0) for k in (-1, 0, 1)])


@dataclass
class _TemporalRange:
    start: datetime | None
    end: datetime | None
    day_from: int | None = None
    day_to: int | None = None

    def matches(self, entry: _Entry) -> bool:
        g_start = entry.start or entry.end
        g_end = entry.end or entry.start
        if g_start is None or g_end is None:
            return False
        if self.end is not None and g_start > self.end:
            return False
        if self.start is not None and g_end < self.start:
            return False
        if self.day_from is not None and self.day_to is not None:
            doy = g_start.timetuple().tm_yday
            if self.day_from <= self.day_to:
                return self.day_from <= doy <= self.day_to
            return doy >= self.day_from or doy <= self.day_to
        return True


def _parse_temporal(value: str) -> _TemporalRange:
    if "/" in value and "," not in value:
        parts = value.split("/")
        if len(parts) != 2 or any(p.startswith("P") for p in parts):
            raise CMRQueryError([f"temporal [{value}]: only start/end date-time intervals are supported."])
    else:
        parts = value.split(",")
    if len(parts) > 4:
        raise CMRQueryError([f"temporal [{value}] has too many components."])

    def parse(text: str) -> datetime | None:
        text = text.strip()
        if not text:
            return None
        try:
            return _parse_datetime(text)
        except ValueError:
            raise CMRQueryError([f"temporal datetime is invalid: [{text}] is not a valid datetime."]) from None

    start = parse(parts[0])
    end = parse(parts[1]) if len(parts) > 1 else None
    if start is not None and end is not None and start > end:
        raise CMRQueryError([f"temporal_range start_date [{parts[0]}] must be before end_date [{parts[1]}]."])
    days = [p.strip() for p in parts[2:4]]
    day_from = day_to = None
    if any(days):
        try:
            day_from, day_to = int(days[0]), int(days[1])
        except (ValueError, IndexError):
            raise CMRQueryError([f"temporal [{value}]: start and end day must be integers."]) from None
        if not (1 <= day_from <= 366 and 1 <= day_to <= 366):
            raise CMRQueryError([f"temporal [{value}]: days must be between 1 and 366."])
    return _TemporalRange(start, end, day_from, day_to)


def _string_matcher(values: List[str], ignore_case: bool, pattern: bool) -> List[Callable[[str], bool]]:
    matchers: List[Callable[[str], bool]] = []
    for value in values:
        if pattern:
            regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
            compiled = re.compile(regex, re.IGNORECASE if ignore_case else 0)
            matchers.append(lambda s, rx=compiled: rx.fullmatch(s) is not None)
        elif ignore_case:
            lowered = value.lower()
            matchers.append(lambda s, v=lowered: s.lower() == v)
        else:
            matchers.append(lambda s, v=value: s == v)
    return matchers


class _Query:
    """A parsed granule query: filters, spatial conditions, sort, page."""

    def __init__(self, params: List[Tuple[str, str]], search_after: str | None) -> None:
        values: Dict[str, List[str]] = {}
        options: Dict[Tuple[str, str], str] = {}
        self.ignored: List[str] = []
        for raw_key, value in params:
            option = _OPTION_RE.fullmatch(raw_key)
            if option:
                options[(option.group(1), option.group(2))] = value
                continue
            key = raw_key[:-2] if raw_key.endswith("[]") else raw_key
            key = _KEY_ALIASES.get(key, key)
            if key not in _HONOURED_KEYS:
                self.ignored.append(raw_key)
                continue
            values.setdefault(key, []).append(value)

        errors: List[str] = []
        self.filters: List[Callable[[_Entry], bool]] = []
        self.spatial: List[BaseGeometry] = []
        self.spatial_or = _is_true(options.get(("spatial", "or")))

        def guarded(func: Callable[[], None]) -> None:
            try:
                func()
            except CMRQueryError as exc:
                errors.extend(exc.errors)

        for key, getter in _STRING_FIELDS.items():
            if key in values:
                guarded(lambda k=key, g=getter: self._add_string_filter(k, values[k], g, options))
        if "collection_concept_id" in values:
            wanted = set(values["collection_concept_id"])
            self.filters.append(
                lambda e: e.collection_concept_id is None or e.collection_concept_id in wanted
            )
        if "attribute" in values:
            guarded(lambda: self._add_attribute_filter(values["attribute"], options))
        if "temporal" in values:
            guarded(lambda: self._add_temporal_filter(values["temporal"], options))
        if "orbit_number" in values:
            guarded(lambda: self._add_orbit_filter(values["orbit_number"]))
        if "updated_since" in values:
            guarded(lambda: self._add_updated_since(values["updated_since"]))
        for key in sorted(_SPATIAL_KEYS):
            for value in values.get(key, []):
                guarded(lambda k=key, v=value: self.spatial.append(_with_wraps(_parse_spatial(k, v))))

        self.page_size = DEFAULT_PAGE_SIZE
        self.page_num: int | None = None
        guarded(lambda: self._parse_paging(values))
        self.sort: List[Tuple[str, bool]] = _DEFAULT_SORT
        guarded(lambda: self._parse_sort(values.get("sort_key", [])))
        self.search_after: tuple | None = None
        if search_after and search_after.strip():
            if self.page_num is not None and self.page_num > 1:
                errors.append("The CMR-Search-After header cannot be used together with page_num.")
            else:
                guarded(lambda: self._parse_search_after(search_after))
        if errors:
            raise CMRQueryError(errors)

    # -- filters
    def _add_string_filter(
        self,
        key: str,
        wanted: List[str],
        getter: Callable[[_Entry], List[str | None]],
        options: Dict[Tuple[str, str], str],
    ) -> None:
        ignore_case = options.get((key, "ignore_case"))
        ignore = _is_true(ignore_case) if ignore_case is not None else key not in _CASE_SENSITIVE_BY_DEFAULT
        pattern = _is_true(options.get((key, "pattern")))
        match_all = _is_true(options.get((key, "and")))
        matchers = _string_matcher(wanted, ignore, pattern)

        def test(entry: _Entry) -> bool:
            candidates = [c for c in getter(entry) if c]
            hits = (any(m(c) for c in candidates) for m in matchers)
            return all(hits) if match_all else any(hits)

        self.filters.append(test)

    def _add_attribute_filter(self, texts: List[str], options: Dict[Tuple[str, str], str]) -> None:
        conditions = [_parse_attribute(t) for t in texts]
        if _is_true(options.get(("attribute", "or"))):
            self.filters.append(lambda e: any(c.matches(e) for c in conditions))
        else:
            self.filters.append(lambda e: all(c.matches(e) for c in conditions))

    def _add_temporal_filter(self, texts: List[str], options: Dict[Tuple[str, str], str]) -> None:
        ranges = [_parse_temporal(t) for t in texts]
        if _is_true(options.get(("temporal", "and"))):
            self.filters.append(lambda e: all(r.matches(e) for r in ranges))
        else:
            self.filters.append(lambda e: any(r.matches(e) for r in ranges))

    def _add_orbit_filter(self, texts: List[str]) -> None:
        bounds: List[Tuple[float, float]] = []
        for text in texts:
            try:
                parts = [float(p) for p in text.split(",")]
            except ValueError:
                raise CMRQueryError([f"orbit_number [{text}] must be a number or a min,max range."]) from None
            if len(parts) == 1:
                bounds.append((parts[0], parts[0]))
            elif len(parts) == 2:
                bounds.append((parts[0], parts[1]))
            else:
                raise CMRQueryError([f"orbit_number [{text}] must be a number or a min,max range."])
        self.filters.append(lambda e: any(lo <= o <= hi for o in e.orbits for lo, hi in bounds))

    def _add_updated_since(self, texts: List[str]) -> None:
        if len(texts) != 1:
            raise CMRQueryError(["Parameter [updated_since] must have a single value."])
        try:
            since = _parse_datetime(texts[0])
        except ValueError:
            raise CMRQueryError([f"[{texts[0]}] is not a valid datetime for updated_since."]) from None
        self.filters.append(lambda e: e.revision_date is not None and e.revision_date >= since)

    # -- control
    def _parse_paging(self, values: Dict[str, List[str]]) -> None:
        sizes = values.get("page_size", [])
        if len(sizes) > 1:
            raise CMRQueryError(["Parameter [page_size] must have a single value."])
        if sizes:
            try:
                size = int(sizes[0])
            except ValueError:
                size = -1
            if not 0 <= size <= MAX_PAGE_SIZE:
                raise CMRQueryError([f"page_size must be a number between 0 and {MAX_PAGE_SIZE}"])
            self.page_size = size
        nums = values.get("page_num", [])
        if nums:
            try:
                num = int(nums[-1])
            except ValueError:
                num = 0
            if num < 1:
                raise CMRQueryError(["page_num must be a number greater than or equal to 1"])
            self.page_num = num

    def _parse_sort(self, keys: List[str]) -> None:
        if not keys:
            return
        sort: List[Tuple[str, bool]] = []
        bad: List[str] = []
        for raw in keys:
            name = raw.strip()
            descending = name.startswith("-")
            name = name.lstrip("+-")
            if name not in _SORT_FIELDS:
                bad.append(f"The sort key [{name}] is not a valid field for sorting granules.")
            sort.append((name, descending))
        if bad:
            raise CMRQueryError(bad)
        self.sort = sort

    def _parse_search_after(self, header: str) -> None:
        message = f"The CMR-Search-After header value [{header}] is invalid for this query."
        try:
            raw = json.loads(header)
        except ValueError:
            raise CMRQueryError([message]) from None
        if not isinstance(raw, list) or len(raw) != len(self.sort) + 1 or not isinstance(raw[-1], str):
            raise CMRQueryError([message])
        values: List[Any] = []
        for (name, _), value in zip(self.sort, raw[:-1]):
            kind = _SORT_FIELDS[name][0]
            if value is None:
                values.append(None)
            elif kind == "datetime" and isinstance(value, str):
                parsed = _try_datetime(value)
                if parsed is None:
                    raise CMRQueryError([message])
                values.append(parsed)
            elif kind == "string" and isinstance(value, str):
                values.append(value)
            else:
                raise CMRQueryError([message])
        self.search_after = self._key_from_values(values, raw[-1])

    # -- evaluation
    def _key_from_values(self, values: Sequence[Any], concept_id: str) -> tuple:
        parts: List[tuple] = []
        for (_, descending), value in zip(self.sort, values):
            if value is None:
                parts.append((1, 0))
            else:
                parts.append((0, _Desc(value) if descending else value))
        parts.append((0, concept_id))
        return tuple(parts)

    def sort_values(self, entry: _Entry) -> List[Any]:
        return [_SORT_FIELDS[name][1](entry) for name, _ in self.sort]

    def sort_key(self, entry: _Entry) -> tuple:
        return self._key_from_values(self.sort_values(entry), entry.concept_id)

    def token(self, entry: _Entry) -> str:
        """The ``CMR-Search-After`` value pointing just after ``entry``."""
        out: List[Any] = [_iso(v) if isinstance(v, datetime) else v for v in self.sort_values(entry)]
        out.append(entry.concept_id)
        return json.dumps(out)

    def evaluate(self, entries: Sequence[_Entry]) -> List[_Entry]:
        """All matching entries, sorted."""
        matched = [e for e in entries if all(f(e) for f in self.filters)]
        if self.spatial and matched:
            geoms = np.empty(len(matched), dtype=object)
            geoms[:] = [e.geometry for e in matched]
            masks = [shapely.intersects(geoms, q) for q in self.spatial]
            mask = np.logical_or.reduce(masks) if self.spatial_or else np.logical_and.reduce(masks)
            matched = [e for e, keep in zip(matched, mask) if keep]
        matched.sort(key=self.sort_key)
        return matched


# --------------------------------------------------------------------------- faults


@dataclass
class _Fault:
    kind: str  # "fail" or "drop"
    status: int = 503
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: List[Tuple[str, str]] = field(default_factory=list)


_DEFAULT_ERROR_TEXT = {
    400: "Bad request (injected by the CMR stand-in).",
    429: "Too Many Requests: the request rate limit was exceeded.",
    500: "An unexpected error occurred. We have been alerted and are working to resolve the problem.",
    502: "Bad Gateway",
    503: "Service Unavailable: CMR is temporarily unable to handle the request.",
    504: "Gateway Timeout",
}


# --------------------------------------------------------------------------- HTTP server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CMRStandIn/1.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request.do_handshake()  # TLS handshake in the worker thread, not in accept()
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.stand_in._serve(self)

    def do_POST(self) -> None:  # noqa: N802
        self.server.stand_in._serve(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the per-request log on stderr."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, stand_in: CMRStandIn, ssl_ctx: ssl.SSLContext) -> None:
        self.stand_in = stand_in
        self.ssl_ctx = ssl_ctx
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        sock.settimeout(_IDLE_TIMEOUT_S)
        tls = self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.stand_in._track(tls)
        return tls, addr

    def shutdown_request(self, request: Any) -> None:
        self.stand_in._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record the error quietly instead of printing a traceback."""
        self.stand_in._note_error(sys.exc_info()[1])


# --------------------------------------------------------------------------- stand-in


class CMRStandIn:
    """HTTPS CMR granule-search stand-in on ``127.0.0.1`` (see the module docstring).

    Example::

        asf_search.REPORT_ERRORS = False
        with CMRStandIn(load_fixture("s1_burst_174_372326_IW3_stack")) as cmr:
            results = asf_search.search(opts=cmr.search_options(fullBurstID="174_372326_IW3"))

    Attributes:
        host: ``"127.0.0.1:PORT"``, for ``ASFSearchOptions(host=...)`` or
            ``INSARHUB_CMR_HOST``.
        ca_file: PEM file of the CA that signed the server certificate.
        requests: one dict per request received, in order: ``method``, ``path``,
            ``params`` (list of decoded ``(key, value)`` pairs, repeats kept), ``form``
            (key -> list of values), ``headers`` (dict), ``search_after`` (request header
            or ``None``), then once answered ``status``, ``fault`` (``None``, ``"fail"``,
            ``"drop"``), ``hits`` and ``returned`` (search answers only).
        ignored_keys: form keys received that the stand-in does not interpret.
        errors: exceptions raised while serving (client gone, TLS errors), for debugging.
    """

    def __init__(
        self, records: Iterable[Record] | None = None, tmpdir: Union[str, Path, None] = None
    ) -> None:
        """Start serving at once on ``127.0.0.1`` (a free port) in a daemon thread.

        Args:
            records: CMR records (``{"meta", "umm"[, "asf_properties"]}``) to serve.
            tmpdir: folder for the CA certificate; a temporary folder (removed by
                :meth:`close`) when ``None``.
        """
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._entries: List[_Entry] = []
        self._index: Dict[str, int] = {}
        self._faults: List[_Fault] = []
        self._delay_s = 0.0
        self._delay_count: int | None = None
        self._page_cap: int | None = None
        self._connections: set = set()
        self._closed = False
        self.requests: List[Dict[str, Any]] = []
        self.ignored_keys: set = set()
        self.errors: List[BaseException] = []
        #: Also send ``CMR-Search-After`` with the last page (by default it is sent only
        #: while more pages remain); asf_search stops on ``hits`` either way.
        self.search_after_on_last_page = False

        self._own_tmp: tempfile.TemporaryDirectory | None = None
        if tmpdir is None:
            self._own_tmp = tempfile.TemporaryDirectory(prefix="cmr-stand-in-")
            tmpdir = self._own_tmp.name
        ssl_ctx, self.ca_file = make_tls_context(tmpdir)
        if records:
            self.add_records(records)
        self._server = _Server(self, ssl_ctx)
        self.port: int = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"cmr-stand-in-{self.port}", daemon=True,
        )
        self._thread.start()

    # -- lifecycle
    def __enter__(self) -> CMRStandIn:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, drop open connections and remove the temporary files (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._server.shutdown()
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._own_tmp is not None:
            self._own_tmp.cleanup()

    def __repr__(self) -> str:
        return f"<CMRStandIn https://{self.host} records={len(self._entries)}>"

    @property
    def url(self) -> str:
        """Base URL, ``https://127.0.0.1:PORT``."""
        return f"https://{self.host}"

    @property
    def granules_url(self) -> str:
        """The endpoint asf_search posts to."""
        return f"{self.url}/search/granules.umm_json"

    # -- records
    def add_records(self, records: Iterable[Record]) -> None:
        """Add (or, for an existing concept-id, replace) records; thread-safe.

        ``asf_properties`` (ASF's own view of a record) is kept in :attr:`records` but
        never served.
        """
        new = [_make_entry(r) for r in records]
        with self._lock:
            entries = list(self._entries)
            index = dict(self._index)
            for entry in new:
                if entry.concept_id in index:
                    entries[index[entry.concept_id]] = entry
                else:
                    index[entry.concept_id] = len(entries)
                    entries.append(entry)
            self._entries, self._index = entries, index

    def clear_records(self) -> None:
        """Remove every record."""
        with self._lock:
            self._entries, self._index = [], {}

    @property
    def records(self) -> List[Record]:
        """The records served (as given, including ``asf_properties``)."""
        with self._lock:
            return [e.record for e in self._entries]

    # -- clients
    def session(self) -> Any:
        """An ``asf_search.ASFSession`` trusting :attr:`ca_file`.

        ``trust_env`` is off: with it on, ``REQUESTS_CA_BUNDLE`` (set on this machine)
        would replace ``verify`` and proxies from the environment would apply.
        """
        import asf_search

        session = asf_search.ASFSession()
        session.verify = self.ca_file
        session.trust_env = False
        return session

    def search_options(self, **kwargs: Any) -> Any:
        """``asf_search.ASFSearchOptions(host=self.host, session=self.session(), **kwargs)``."""
        import asf_search

        return asf_search.ASFSearchOptions(host=self.host, session=self.session(), **kwargs)

    def search_requests(self) -> List[Dict[str, Any]]:
        """The received requests to the granule search endpoint."""
        return [r for r in list(self.requests) if r["path"].startswith("/search/granules")]

    def clear_requests(self) -> None:
        """Forget the received requests."""
        with self._lock:
            self.requests = []

    # -- faults
    def fail_next(
        self,
        status: int = 503,
        count: int = 1,
        body: Union[None, str, bytes, Dict[str, Any], List[Any]] = None,
        retry_after: Union[int, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` instead of the real answer.

        Args:
            status: 400..599 (e.g. 400, 429, 500, 502, 503, 504).
            count: how many consecutive requests fail.
            body: ``None`` for CMR's ``{"errors": ["..."]}``; a dict/list is sent as
                JSON; a str as text (HTML when it starts with ``<``); bytes as they are.
            retry_after: value of a ``Retry-After`` header; 429 gets ``1`` by default.
        """
        if not 400 <= int(status) <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        if count < 1:
            raise ValueError("count must be >= 1")
        content_type = JSON_CONTENT_TYPE
        if body is None:
            payload = json.dumps({"errors": [_DEFAULT_ERROR_TEXT.get(status, f"HTTP {status}")]}).encode()
        elif isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
        elif isinstance(body, str):
            payload = body.encode("utf-8")
            html = body.lstrip().startswith("<")
            content_type = "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
        else:
            payload = bytes(body)
            content_type = "application/octet-stream"
        headers: List[Tuple[str, str]] = []
        if retry_after is None and status == 429:
            retry_after = 1
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        with self._lock:
            self._faults.extend(
                _Fault("fail", int(status), payload, content_type, list(headers)) for _ in range(count)
            )

    def drop_next(self, count: int = 1) -> None:
        """For the next ``count`` requests, send the headers and half of the body, then close."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.extend(_Fault("drop") for _ in range(count))

    def delay(self, seconds: float, count: int | None = None) -> None:
        """Wait ``seconds`` before answering each request (the next ``count`` only, if given).

        ``delay(0)`` switches it off. The wait ends early when the stand-in is closed.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            self._delay_s = float(seconds)
            self._delay_count = count

    def cap_page_size(self, size: int | None) -> None:
        """Return at most ``size`` items per page whatever ``page_size`` asks (``None``: off).

        Simulates CMR answering with short pages (asf_search logs a warning and goes on
        with ``CMR-Search-After``).
        """
        if size is not None and size < 1:
            raise ValueError("size must be >= 1 or None")
        with self._lock:
            self._page_cap = size

    def reset_faults(self) -> None:
        """Cancel pending failures and drops, the delay and the page-size cap."""
        with self._lock:
            self._faults.clear()
            self._delay_s = 0.0
            self._delay_count = None
            self._page_cap = None

    @property
    def pending_faults(self) -> int:
        """Failures/drops not yet consumed."""
        with self._lock:
            return len(self._faults)

    # -- internals
    def _track(self, conn: Any) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: Any) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _note_error(self, exc: BaseException | None) -> None:
        if exc is not None:
            with self._lock:
                self.errors.append(exc)
                del self.errors[:-100]

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(handler, 413, JSON_CONTENT_TYPE, json.dumps({"errors": ["Request too large"]}).encode())
            handler.close_connection = True
            return
        body = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        params = parse_qsl(split.query, keep_blank_values=True)
        content_type = handler.headers.get("Content-Type", "")
        if body and ("x-www-form-urlencoded" in content_type or not content_type):
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        form: Dict[str, List[str]] = {}
        for key, value in params:
            form.setdefault(key, []).append(value)
        record: Dict[str, Any] = {
            "method": handler.command,
            "path": split.path,
            "params": params,
            "form": form,
            "headers": dict(handler.headers.items()),
            "search_after": handler.headers.get("CMR-Search-After"),
            "time": time.time(),
            "status": None,
            "fault": None,
        }
        with self._lock:
            self.requests.append(record)
            fault = self._faults.pop(0) if self._faults else None
            wait = self._delay_s
            if wait and self._delay_count is not None:
                self._delay_count -= 1
                if self._delay_count <= 0:
                    self._delay_s, self._delay_count = 0.0, None
        if wait:
            self._stop.wait(wait)
            if self._stop.is_set():
                handler.close_connection = True
                return

        if fault is not None and fault.kind == "fail":
            record.update(status=fault.status, fault="fail")
            self._send(handler, fault.status, fault.content_type, fault.body, fault.headers)
            return

        status, ctype, payload, headers = self._route(split.path, params, handler, record)
        record["status"] = status
        if fault is not None and fault.kind == "drop":
            record["fault"] = "drop"
            self._send(handler, status, ctype, payload, headers, truncate=True)
            return
        self._send(handler, status, ctype, payload, headers)

    def _route(
        self, path: str, params: List[Tuple[str, str]], handler: _Handler, record: Dict[str, Any]
    ) -> Tuple[int, str, bytes, List[Tuple[str, str]]]:
        path = path.rstrip("/")
        if path.startswith("/search/granules"):
            fmt = path[len("/search/granules"):]
            accept = handler.headers.get("Accept", "")
            umm = fmt == ".umm_json" or fmt.startswith(".umm_json_v") or (
                fmt == "" and "umm_results+json" in accept
            )
            if not umm:
                message = f"The mime type for [{fmt or accept}] is not supported by the CMR stand-in."
                return 400, JSON_CONTENT_TYPE, json.dumps({"errors": [message]}).encode(), []
            return self._search(params, handler.headers.get("CMR-Search-After"), record)
        if path == "/search/health":
            payload = {"echo": {"ok?": True}, "metadata-db": {"ok?": True}, "indexer": {"ok?": True}}
            return 200, JSON_CONTENT_TYPE, json.dumps(payload).encode(), []
        message = f"The resource [{path}] was not found."
        return 404, JSON_CONTENT_TYPE, json.dumps({"errors": [message]}).encode(), []

    def _search(
        self, params: List[Tuple[str, str]], search_after: str | None, record: Dict[str, Any]
    ) -> Tuple[int, str, bytes, List[Tuple[str, str]]]:
        started = time.perf_counter()
        try:
            query = _Query(params, search_after)
        except CMRQueryError as exc:
            return exc.status, JSON_CONTENT_TYPE, json.dumps({"errors": exc.errors}).encode(), []
        with self._lock:
            entries = self._entries
            cap = self._page_cap
            if query.ignored:
                self.ignored_keys.update(query.ignored)
        matched = query.evaluate(entries)
        if query.search_after is not None:
            start = bisect.bisect_right([query.sort_key(e) for e in matched], query.search_after)
        else:
            start = ((query.page_num or 1) - 1) * query.page_size
        size = query.page_size if cap is None else min(query.page_size, cap)
        page = matched[start:start + size]
        more = start + len(page) < len(matched) and size > 0
        took = int((time.perf_counter() - started) * 1000)
        payload = b"".join([
            b'{"hits":', str(len(matched)).encode(), b',"took":', str(took).encode(),
            b',"items":[', b",".join(e.item_json for e in page), b"]}",
        ])
        headers = [
            ("CMR-Hits", str(len(matched))),
            ("CMR-Took", str(took)),
            ("CMR-Request-Id", str(uuid.uuid4())),
        ]
        if page and (more or self.search_after_on_last_page):
            headers.append(("CMR-Search-After", query.token(page[-1])))
        record.update(hits=len(matched), returned=len(page))
        return 200, UMM_JSON_CONTENT_TYPE, payload, headers

    def _send(
        self,
        handler: _Handler,
        status: int,
        content_type: str,
        payload: bytes,
        headers: Sequence[Tuple[str, str]] = (),
        truncate: bool = False,
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for key, value in headers:
                handler.send_header(key, value)
            if truncate:
                handler.send_header("Connection", "close")
            handler.end_headers()
            if truncate:
                handler.wfile.write(payload[: len(payload) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                try:
                    handler.request.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            handler.wfile.write(payload)
        except (OSError, ssl.SSLError) as exc:  # client went away
            handler.close_connection = True
            self._note_error(exc)


# --------------------------------------------------------------------------- synthetic data

_EARTH_OMEGA = 7.2921150e-5  # rad/s
_S1_CYCLE_DAYS = 12
_S1_ORBITS_PER_CYCLE = 175
_S1_ORBIT_S = _S1_CYCLE_DAYS * 86400 / _S1_ORBITS_PER_CYCLE  # 5924.57 s
_S1_NODE_STEP_DEG = 360.0 * _S1_CYCLE_DAYS / _S1_ORBITS_PER_CYCLE  # westward node drift per orbit
_S1_BURST_S = 2.758277  # azimuth time between consecutive burst ids
_S1_BURSTS_PER_ORBIT = _S1_ORBIT_S / _S1_BURST_S
_SLC_SLICE_S = 25.0  # along-track offset between consecutive synthetic SLC frames
_POL_CODES = {"VV+VH": "DV", "VV": "SV", "HH+HV": "DH", "HH": "SH"}


def _rot_z(vec: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1], vec[2]])


def _rodrigues(vec: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    return (vec * math.cos(angle) + np.cross(axis, vec) * math.sin(angle)
            + axis * np.dot(axis, vec) * (1 - math.cos(angle)))


def _propagate(pos: np.ndarray, vel: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
    """Move an ECEF state vector ``dt`` seconds along a circular orbit (good to ~1 km / 60 s)."""
    if dt == 0:
        return pos, vel
    omega = np.array([0.0, 0.0, _EARTH_OMEGA])
    vel_i = vel + np.cross(omega, pos)
    h = np.cross(pos, vel_i)
    rate = np.linalg.norm(h) / np.dot(pos, pos)
    axis = h / np.linalg.norm(h)
    pos2 = _rodrigues(pos, axis, rate * dt)
    vel2 = _rodrigues(vel_i, axis, rate * dt)
    pos3 = _rot_z(pos2, -_EARTH_OMEGA * dt)
    vel3 = _rot_z(vel2, -_EARTH_OMEGA * dt)
    return pos3, vel3 - np.cross(omega, pos3)


def _subsatellite(pos: np.ndarray) -> Tuple[float, float]:
    lon = math.degrees(math.atan2(pos[1], pos[0]))
    lat = math.degrees(math.atan2(pos[2], math.hypot(pos[0], pos[1])))
    return lat, lon


def _wrap_lon(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _attr_index(umm: Record) -> Dict[str, Record]:
    return {a["Name"]: a for a in umm.get("AdditionalAttributes") or []}


def _set_attr(attrs: Dict[str, Record], name: str, value: Any) -> None:
    if name in attrs:
        attrs[name]["Values"] = [str(value)]


def _get_attr(attrs: Dict[str, Record], name: str) -> str | None:
    values = (attrs.get(name) or {}).get("Values") or []
    return values[0] if values else None


@dataclass
class _Placement:
    """Where a synthetic record goes relative to its base record."""

    delta: timedelta  # whole shift of the acquisition times
    anx_delta: timedelta  # shift of the ascending node time (no along-track part)
    rot_deg: float  # rotation about the Earth axis (path change)
    along_s: float  # along-track propagation (frame/burst change)
    cross_m: float  # random cross-track offset (perpendicular baseline spread)


def _move_state_vectors(attrs: Dict[str, Record], place: _Placement) -> Tuple[float, float]:
    """Shift/rotate/propagate the SV_* attributes; return the footprint shift (dlat, dlon).

    The shift is the move of the sub-satellite point; without state vectors it is the
    bare rotation ``(0, rot_deg)``.
    """

    def parse(name: str) -> Tuple[np.ndarray | None, str | None]:
        raw = _get_attr(attrs, name)
        if raw is None:
            return None, None
        parts = raw.split(",")
        return np.array([float(v) for v in parts[:3]]), parts[3]

    dlat, dlon = 0.0, place.rot_deg
    for phase in ("PRE", "POST"):
        pos, pos_time = parse(f"SV_POSITION_{phase}")
        vel, vel_time = parse(f"SV_VELOCITY_{phase}")
        if pos is None or vel is None or pos_time is None or vel_time is None:
            continue
        before = _subsatellite(pos)
        angle = math.radians(place.rot_deg)
        pos, vel = _rot_z(pos, angle), _rot_z(vel, angle)
        pos, vel = _propagate(pos, vel, place.along_s)
        normal = np.cross(pos, vel)
        pos = pos + normal / np.linalg.norm(normal) * place.cross_m
        if phase == "PRE":
            after = _subsatellite(pos)
            dlat, dlon = after[0] - before[0], _wrap_lon(after[1] - before[1])
        _set_attr(attrs, f"SV_POSITION_{phase}",
                  ",".join(f"{v:.6f}" for v in pos) + "," + _shift_time_text(pos_time, place.delta))
        _set_attr(attrs, f"SV_VELOCITY_{phase}",
                  ",".join(f"{v:.6f}" for v in vel) + "," + _shift_time_text(vel_time, place.delta))
    return dlat, dlon


def _move_footprint(umm: Record, attrs: Dict[str, Record], dlat: float, dlon: float) -> Tuple[float, float]:
    """Translate the footprint and the corner/centre attributes; return the new centre."""
    geometry = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]
    for gpoly in geometry.get("GPolygons") or []:
        for pt in gpoly["Boundary"]["Points"]:
            pt["Longitude"] = round(_wrap_lon(pt["Longitude"] + dlon), 6)
            pt["Latitude"] = round(max(-90.0, min(90.0, pt["Latitude"] + dlat)), 6)
    for corner in ("NEAR_START", "NEAR_END", "FAR_START", "FAR_END", "CENTER"):
        lat, lon = _get_attr(attrs, f"{corner}_LAT"), _get_attr(attrs, f"{corner}_LON")
        if lat is not None and lon is not None:
            _set_attr(attrs, f"{corner}_LAT", round(float(lat) + dlat, 6))
            _set_attr(attrs, f"{corner}_LON", round(_wrap_lon(float(lon) + dlon), 6))
    return float(_get_attr(attrs, "CENTER_LAT") or 0), float(_get_attr(attrs, "CENTER_LON") or 0)


def _shift_times(umm: Record, attrs: Dict[str, Record], place: _Placement) -> Tuple[datetime, datetime]:
    rng = umm["TemporalExtent"]["RangeDateTime"]
    rng["BeginningDateTime"] = _shift_time_text(rng["BeginningDateTime"], place.delta)
    rng["EndingDateTime"] = _shift_time_text(rng["EndingDateTime"], place.delta)
    for name in ("ACQUISITION_DATE", "PROCESSING_DATE", "AZIMUTH_TIME"):
        raw = _get_attr(attrs, name)
        if raw is not None:
            _set_attr(attrs, name, _shift_time_text(raw, place.delta))
    anx = _get_attr(attrs, "ASC_NODE_TIME")
    if anx is not None:
        _set_attr(attrs, "ASC_NODE_TIME", _shift_time_text(anx, place.anx_delta))
    granule = umm.get("DataGranule") or {}
    if granule.get("ProductionDateTime"):
        granule["ProductionDateTime"] = _shift_time_text(granule["ProductionDateTime"], place.delta)
    return _parse_datetime(rng["BeginningDateTime"]), _parse_datetime(rng["EndingDateTime"])


def _base_stack(records: List[Record]) -> Tuple[List[Record], List[int]]:
    """Records of the commonest platform, by date, with their 12-day cycle index."""
    counts: Dict[str, int] = {}
    for rec in records:
        name = rec["umm"]["Platforms"][0]["ShortName"]
        counts[name] = counts.get(name, 0) + 1
    platform = max(sorted(counts), key=lambda name: counts[name])
    base = sorted(
        (r for r in records if r["umm"]["Platforms"][0]["ShortName"] == platform),
        key=lambda r: r["umm"]["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"],
    )
    t0 = _parse_datetime(base[0]["umm"]["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"])
    cycles = [
        round((_parse_datetime(r["umm"]["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"]) - t0)
              / timedelta(days=_S1_CYCLE_DAYS))
        for r in base
    ]
    return base, cycles


def _check_unique(records: List[Record]) -> List[Record]:
    names = {r["umm"]["GranuleUR"] for r in records}
    ids = {r["meta"]["concept-id"] for r in records}
    if len(names) != len(records) or len(ids) != len(records):
        raise RuntimeError("synthetic records are not unique; change the seed or the stack layout")
    return records


def synthetic_slc_records(
    n: int,
    seed: int = 0,
    *,
    paths: Sequence[int] = (94, 21, 167),
    frames: Sequence[int] = (210, 211),
    polarizations: Sequence[str] = ("VV+VH",),
) -> List[Record]:
    """``n`` distinct, realistic Sentinel-1 IW SLC records cloned from the Fairbanks stack.

    Records are dealt round-robin over the stacks ``paths x frames``; within a stack the
    acquisitions are 12 days apart (one repeat cycle), starting at the fixture's first
    date. Per path the footprint, the centre/corner attributes and the state vectors
    are rotated about the Earth axis by the node drift of the repeat pattern (paths
    94/21/167 are neighbouring tracks ~2 degrees apart) and the times shift by whole
    orbits; per frame (consecutive entries of ``frames`` are consecutive 25-s slices)
    the state vectors are propagated along the orbit and the footprint follows the
    sub-satellite point. Each acquisition gets a random cross-track offset of up to
    +-150 m so perpendicular baselines vary. Names, GranuleUR, concept-id, absolute
    orbit, GROUP_ID, MD5SUM and URLs are rewritten; ``asf_properties`` is updated for
    the changed fields. Stack ``k`` uses ``polarizations[k % len(polarizations)]``.
    """
    if n < 0 or n >= 1_000_000:
        raise ValueError("n must be in [0, 1e6)")
    rng = random.Random(seed)
    base, cycles = _base_stack(load_fixture("s1_slc_fairbanks_p94_f210_stack"))
    base_json = [json.dumps(r) for r in base]
    first_attrs = _attr_index(base[0]["umm"])
    base_path = int(_get_attr(first_attrs, "PATH_NUMBER") or 0)
    base_frame = int(_get_attr(first_attrs, "FRAME_NUMBER") or 0)
    stacks = [(p, fi, f) for p in paths for fi, f in enumerate(frames)]
    out: List[Record] = []
    for i in range(n):
        stack_no = i % len(stacks)
        path, frame_idx, frame = stacks[stack_no]
        date_idx = i // len(stacks)
        b = date_idx % len(base)
        rec = json.loads(base_json[b])
        umm, meta, props = rec["umm"], rec["meta"], rec.setdefault("asf_properties", {})
        attrs = _attr_index(umm)
        dpath = path - base_path
        along = frame_idx * _SLC_SLICE_S
        cycles_shift = date_idx - cycles[b]
        orbit_shift = timedelta(seconds=dpath * _S1_ORBIT_S)
        place = _Placement(
            delta=timedelta(days=_S1_CYCLE_DAYS * cycles_shift) + orbit_shift + timedelta(seconds=along),
            anx_delta=timedelta(days=_S1_CYCLE_DAYS * cycles_shift) + orbit_shift,
            rot_deg=_wrap_lon(-dpath * _S1_NODE_STEP_DEG),
            along_s=along,
            cross_m=rng.uniform(-150.0, 150.0),
        )
        start, stop = _shift_times(umm, attrs, place)
        dlat, dlon = _move_state_vectors(attrs, place)
        center_lat, center_lon = _move_footprint(umm, attrs, dlat, dlon)

        orbit = umm["OrbitCalculatedSpatialDomains"][0]["OrbitNumber"] + _S1_ORBITS_PER_CYCLE * cycles_shift + dpath
        umm["OrbitCalculatedSpatialDomains"][0]["OrbitNumber"] = orbit
        pol = polarizations[stack_no % len(polarizations)]
        pol_code = _POL_CODES.get(pol, "DV")
        old_name = next(i["Identifier"] for i in umm["DataGranule"]["Identifiers"]
                        if i["IdentifierType"] == "ProducerGranuleId")
        mission = old_name[:3]
        name = (f"{mission}_IW_SLC__1S{pol_code}_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
                f"{orbit:06d}_{rng.randrange(0x10000, 0xFFFFFF):06X}_{rng.randrange(0x10000):04X}")
        granule_ur = f"{name}-SLC"
        for ident in umm["DataGranule"]["Identifiers"]:
            if ident["IdentifierType"] == "ProducerGranuleId":
                ident["Identifier"] = name
        umm["GranuleUR"] = granule_ur
        for url in umm.get("RelatedUrls") or []:
            url["URL"] = url["URL"].replace(old_name, name)
        esa = int(_get_attr(attrs, "CENTER_ESA_FRAME") or 0) + (frame - base_frame)
        _set_attr(attrs, "PATH_NUMBER", path)
        _set_attr(attrs, "FRAME_NUMBER", frame)
        _set_attr(attrs, "CENTER_ESA_FRAME", esa)
        _set_attr(attrs, "CENTER_FRAME_ID", int(_get_attr(attrs, "CENTER_FRAME_ID") or 0) + (frame - base_frame))
        _set_attr(attrs, "POLARIZATION", pol)
        group = re.sub(r"_IW[A-Z]{2}_", f"_IW{pol_code}_", _get_attr(attrs, "GROUP_ID") or "")
        group = re.sub(r"_\d{6}_\d{3}$", f"_{orbit:06d}_{path:03d}", group)
        _set_attr(attrs, "GROUP_ID", group)
        md5 = f"{rng.getrandbits(128):032x}"
        _set_attr(attrs, "MD5SUM", md5)
        meta["concept-id"] = f"G{3_100_000_000 + seed % 100 * 1_000_000 + i}-ASF"
        meta["native-id"] = granule_ur
        url = next((u["URL"] for u in umm.get("RelatedUrls") or [] if u.get("Type") == "GET DATA"), None)
        props.update(
            sceneName=name, fileID=granule_ur, startTime=umm["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"],
            stopTime=umm["TemporalExtent"]["RangeDateTime"]["EndingDateTime"], orbit=orbit, pathNumber=path,
            frameNumber=frame, polarization=pol, groupID=group, md5sum=md5, centerLat=center_lat,
            centerLon=center_lon, processingDate=umm["DataGranule"].get("ProductionDateTime"),
            url=url, fileName=(url or "").rsplit("/", 1)[-1],
        )
        out.append(rec)
    return _check_unique(out)


def synthetic_burst_records(
    n: int,
    seed: int = 0,
    *,
    paths: Sequence[int] = (174, 101, 28),
    burst_offsets: Sequence[int] = (0, 1),
) -> List[Record]:
    """``n`` distinct, realistic Sentinel-1 burst records cloned from the 174_372326_IW3 stack.

    Records are dealt round-robin over the stacks ``paths x burst_offsets``; within a
    stack the acquisitions are 12 days apart (Sentinel-1B base records only, so one
    platform per stack). A path change rotates the footprint and the state vectors about
    the Earth axis (174/101/28 are neighbouring tracks) and renumbers the burst
    (``BURST_ID_RELATIVE`` grows by ~2148 per path); a burst offset ``k`` moves the burst
    ``k`` bursts (2.758 s) along the orbit, propagating the state vectors, and adds ``k``
    to the relative burst id and the burst index. ``BURST_ID_FULL``, GranuleUR,
    concept-id, the parent SLC name (``InputGranules``, URLs; shared by the bursts of
    one acquisition), absolute orbit, GROUP_ID and ``asf_properties`` are rewritten.
    Each acquisition gets a random cross-track offset of up to +-150 m.
    """
    if n < 0 or n >= 1_000_000:
        raise ValueError("n must be in [0, 1e6)")
    rng = random.Random(seed + 7919)
    base, cycles = _base_stack(load_fixture("s1_burst_174_372326_IW3_stack"))
    base_json = [json.dumps(r) for r in base]
    first_attrs = _attr_index(base[0]["umm"])
    base_path = int(_get_attr(first_attrs, "PATH_NUMBER") or 0)
    stacks = [(p, k) for p in paths for k in burst_offsets]
    parents: Dict[Tuple[int, int], Tuple[int, int]] = {}
    cross: Dict[Tuple[int, int], float] = {}
    out: List[Record] = []
    for i in range(n):
        path, k = stacks[i % len(stacks)]
        date_idx = i // len(stacks)
        b = date_idx % len(base)
        rec = json.loads(base_json[b])
        umm, meta, props = rec["umm"], rec["meta"], rec.setdefault("asf_properties", {})
        attrs = _attr_index(umm)
        dpath = path - base_path
        cycles_shift = date_idx - cycles[b]
        orbit_shift = timedelta(seconds=dpath * _S1_ORBIT_S)
        along = k * _S1_BURST_S
        acq_key = (path, date_idx)
        if acq_key not in cross:
            cross[acq_key] = rng.uniform(-150.0, 150.0)
            parents[acq_key] = (rng.randrange(0x10000, 0xFFFFFF), rng.randrange(0x10000))
        place = _Placement(
            delta=timedelta(days=_S1_CYCLE_DAYS * cycles_shift) + orbit_shift + timedelta(seconds=along),
            anx_delta=timedelta(days=_S1_CYCLE_DAYS * cycles_shift) + orbit_shift,
            rot_deg=_wrap_lon(-dpath * _S1_NODE_STEP_DEG),
            along_s=along,
            cross_m=cross[acq_key],
        )
        old_parent = umm["InputGranules"][0].replace("-SLC", "")
        old_index = int(_get_attr(attrs, "BURST_INDEX") or 1)
        start, _ = _shift_times(umm, attrs, place)
        dlat, dlon = _move_state_vectors(attrs, place)
        center_lat, center_lon = _move_footprint(umm, attrs, dlat, dlon)
        anx_time = _get_attr(attrs, "AZIMUTH_ANX_TIME")
        if anx_time is not None:
            _set_attr(attrs, "AZIMUTH_ANX_TIME", f"{float(anx_time) + along:.9f}")

        orbit = umm["OrbitCalculatedSpatialDomains"][0]["OrbitNumber"] + _S1_ORBITS_PER_CYCLE * cycles_shift + dpath
        umm["OrbitCalculatedSpatialDomains"][0]["OrbitNumber"] = orbit
        rel0 = int(_get_attr(attrs, "BURST_ID_RELATIVE") or 0)
        rel = rel0 + round(dpath * _S1_BURSTS_PER_ORBIT) + k
        absolute = int(_get_attr(attrs, "BURST_ID_ABSOLUTE") or 0) + (rel - rel0) + round(
            cycles_shift * _S1_ORBITS_PER_CYCLE * _S1_BURSTS_PER_ORBIT)
        swath = _get_attr(attrs, "SUBSWATH_NAME") or "IW1"
        pol = _get_attr(attrs, "POLARIZATION") or "VV"
        index = old_index + k
        full_id = f"{path:03d}_{rel:06d}_{swath}"
        for name, value in (("BURST_ID_RELATIVE", rel), ("BURST_ID_ABSOLUTE", absolute),
                            ("BURST_ID_FULL", full_id), ("BURST_INDEX", index), ("PATH_NUMBER", path)):
            _set_attr(attrs, name, value)
        azimuth = _parse_datetime(_get_attr(attrs, "AZIMUTH_TIME") or _iso(start))

        # parent SLC: shifted like the acquisition (not along-track), shared by its bursts
        match = re.match(r"(S1[ABCD])_IW_SLC__1S(\w\w)_(\d{8}T\d{6})_(\d{8}T\d{6})_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}",
                         old_parent)
        datatake, uid = parents[acq_key]
        parent = old_parent
        if match:
            parent_delta = place.anx_delta
            p_start = datetime.strptime(match.group(3), "%Y%m%dT%H%M%S") + parent_delta
            p_stop = datetime.strptime(match.group(4), "%Y%m%dT%H%M%S") + parent_delta
            parent = (f"{match.group(1)}_IW_SLC__1S{match.group(2)}_{p_start:%Y%m%dT%H%M%S}_"
                      f"{p_stop:%Y%m%dT%H%M%S}_{orbit:06d}_{datatake:06X}_{uid:04X}")
        granule_ur = f"S1_{rel:06d}_{swath}_{azimuth:%Y%m%dT%H%M%S}_{pol}_{uid:04X}-BURST"
        umm["GranuleUR"] = granule_ur
        umm["InputGranules"] = [f"{parent}-SLC"]
        for url in umm.get("RelatedUrls") or []:
            url["URL"] = re.sub(rf"/{old_index}\.(tiff|xml)$", rf"/{index}.\1",
                                url["URL"].replace(old_parent, parent))
        group = re.sub(r"_\d{6}_\d{3}$", f"_{orbit:06d}_{path:03d}", _get_attr(attrs, "GROUP_ID") or "")
        _set_attr(attrs, "GROUP_ID", group)
        meta["concept-id"] = f"G{3_200_000_000 + seed % 100 * 1_000_000 + i}-ASF"
        meta["native-id"] = granule_ur
        urls = [u["URL"] for u in umm.get("RelatedUrls") or [] if u.get("Type") == "USE SERVICE API"]
        burst = dict(props.get("burst") or {})
        burst.update(absoluteBurstID=absolute, relativeBurstID=rel, fullBurstID=full_id, burstIndex=index,
                     azimuthTime=_get_attr(attrs, "AZIMUTH_TIME"), azimuthAnxTime=_get_attr(attrs, "AZIMUTH_ANX_TIME"))
        props.update(
            sceneName=granule_ur, fileID=granule_ur, orbit=orbit, pathNumber=path,
            startTime=umm["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"],
            stopTime=umm["TemporalExtent"]["RangeDateTime"]["EndingDateTime"],
            groupID=group, centerLat=center_lat, centerLon=center_lon, burst=burst,
        )
        if urls:
            props.update(url=urls[0], fileName=f"{granule_ur}.{urls[0].rsplit('.', 1)[-1]}",
                         additionalUrls=urls[1:2])
        out.append(rec)
    return _check_unique(out)
