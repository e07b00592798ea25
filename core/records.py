"""Footprint records: the flat form of a CMR record that layers and files carry.

A record holds the fields of ``shared/API.md`` (``sceneName``, ``pathNumber``, ``stack``...)
plus the CMR record itself (``umm`` and ``cmrMeta`` as JSON text), so that a footprint
saved to a GeoPackage rebuilds the same asf_search product later, without the network
(:func:`product_from_record`, used where asf_search's own logic is needed: baselines).

:func:`footprint_from_umm` builds a record and its footprint straight from the CMR UMM JSON,
with the same values asf_search 14's ``S1Product``/``S1BurstProduct`` give (a test compares
them field by field), at a fraction of the cost: searching does not build asf_search products.
A record whose footprint is unusable (not finite, outside longitude/latitude, fewer than three
corners) raises :class:`BrokenRecord`, so a search can skip it, name it and keep the rest.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .errors import InputError
from .schema import FOOTPRINT_FIELD_NAMES, FOOTPRINT_FIELDS

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

__all__ = [
    "FOOTPRINT_FIELDS",
    "FOOTPRINT_FIELD_NAMES",
    "BrokenRecord",
    "Footprint",
    "RawItem",
    "coverage_geometry",
    "fast_json_available",
    "footprint_from_umm",
    "parse_cmr_page",
    "product_from_record",
    "read_cmr_page",
    "record_from_product",
    "scene_files",
    "stack_id",
]

_MISSING = (None, "NA", "N/A", "", "NOT AVAILABLE")  # what asf_search's umm_get reads as "no value"


class BrokenRecord(ValueError):
    """A CMR record that cannot become a footprint (the message says why)."""


@dataclass
class Footprint:
    """A footprint record and its polygon: ``ring`` is the exterior ring (lon, lat), closed."""

    record: dict[str, Any]
    ring: list[tuple[float, float]]

    def wkb(self) -> bytes:
        """The polygon as little-endian WKB (for QGIS and GDAL without shapely)."""
        flat = [c for point in self.ring for c in point]
        return struct.pack(f"<BIII{len(flat)}d", 1, 3, 1, len(self.ring), *flat)

    def polygon(self) -> BaseGeometry:
        """The polygon as a shapely geometry."""
        from shapely.geometry import Polygon

        return Polygon(self.ring)


def coverage_geometry(rings: Sequence[Sequence[tuple[float, float]]], aoi_geometry: BaseGeometry) -> BaseGeometry:
    """A geometry that covers the AOI exactly as the union of these footprints does (for the
    stack summary's AOI coverage), made without building every footprint's union.

    Footprints are made valid, and those that touch a polygon AOI are unioned; when one of them
    contains the whole AOI (the usual case for a small AOI) the answer is the AOI itself; for a
    point or line AOI it is the AOI when any footprint touches it, else an empty polygon.
    """
    import numpy as np
    import shapely

    if not rings:
        return shapely.Polygon()
    lengths = [len(ring) for ring in rings]
    coords = np.asarray([point for ring in rings for point in ring], dtype=float)
    polygons = shapely.polygons(shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lengths)))
    invalid = ~shapely.is_valid(polygons)
    if invalid.any():
        polygons[invalid] = shapely.make_valid(polygons[invalid])
    if aoi_geometry.geom_type not in ("Polygon", "MultiPolygon") or aoi_geometry.area == 0:
        return aoi_geometry if shapely.intersects(polygons, aoi_geometry).any() else shapely.Polygon()
    shapely.prepare(aoi_geometry)
    if shapely.contains(polygons, aoi_geometry).any():
        return aoi_geometry
    touching = polygons[shapely.intersects(polygons, aoi_geometry)]
    if not len(touching):
        return shapely.Polygon()
    return shapely.union_all(touching)


def _value(item: Any) -> Any:
    try:
        return None if item in _MISSING else item
    except TypeError:  # an unhashable, uncomparable value: keep it
        return item


def _first(values: Any) -> Any:
    if not isinstance(values, (list, tuple)) or not values:
        return None
    return _value(values[0])


_UTC_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?Z")


def _date(text: Any) -> str | None:
    """asf_search's ``try_parse_date``: ``YYYY-MM-DDTHH:MM:SSZ`` (fractions dropped, no zone change)."""
    if text is None:
        return None
    if isinstance(text, str):
        match = _UTC_STAMP.fullmatch(text)  # CMR's usual form: no parsing needed
        if match and text[5:7] <= "12" and text[8:10] <= "31":
            try:
                datetime.fromisoformat(match.group(1))  # a real date (not 2021-02-30)
            except ValueError:
                pass
            else:
                return match.group(1) + "Z"
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        from asf_search.CMR.translate import try_parse_date  # rarer formats: asf_search's own parser

        try:
            return try_parse_date(text)
        except Exception:  # asf_search's parsers raise several kinds on nonsense
            return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class _View:
    """What a footprint needs of a UMM record, however it was decoded (dicts or msgspec)."""

    granule_ur: Any
    attribute: Callable[[str], Any]  # name -> its ``Values`` (the first attribute of that name)
    begin: Any
    end: Any
    urls: list[tuple[Any, Any]]  # (Type, URL) of RelatedUrls, in order
    points: Callable[[], list[tuple[Any, Any]]]  # first GPolygon's boundary; KeyError etc. if none
    platform: Any  # Platforms[0].ShortName
    orbit: Any  # OrbitCalculatedSpatialDomains[0].OrbitNumber
    producer_id: Any  # DataGranule.Identifiers[IdentifierType == ProducerGranuleId].Identifier
    collection: Any  # CollectionReference.ShortName


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def _first_item(items: Any) -> Any:
    return items[0] if isinstance(items, list) and items else None


def _view_of_dict(umm: dict[str, Any]) -> _View:
    attributes: dict[str, Any] = {}
    for attribute in umm.get("AdditionalAttributes") or ():
        if isinstance(attribute, dict):
            name = attribute.get("Name")
            if isinstance(name, str) and name not in attributes:
                attributes[name] = attribute.get("Values")
    times = _get(_get(umm, "TemporalExtent"), "RangeDateTime")

    def points() -> list[tuple[Any, Any]]:
        boundary = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]
        return [(p["Longitude"], p["Latitude"]) for p in boundary["Points"]]

    identifiers = _get(_get(umm, "DataGranule"), "Identifiers") or ()
    return _View(
        granule_ur=umm.get("GranuleUR"),
        attribute=attributes.get,
        begin=_get(times, "BeginningDateTime"),
        end=_get(times, "EndingDateTime"),
        urls=[(u.get("Type"), u.get("URL")) for u in umm.get("RelatedUrls") or () if isinstance(u, dict)],
        points=points,
        platform=_get(_first_item(umm.get("Platforms")), "ShortName"),
        orbit=_get(_first_item(umm.get("OrbitCalculatedSpatialDomains")), "OrbitNumber"),
        producer_id=next(
            (
                i.get("Identifier")
                for i in identifiers
                if isinstance(i, dict) and i.get("IdentifierType") == "ProducerGranuleId"
            ),
            None,
        ),
        collection=_get(_get(umm, "CollectionReference"), "ShortName"),
    )


def _ring(view: _View) -> list[tuple[float, float]]:
    """The first GPolygon's boundary (what asf_search uses), checked; :class:`BrokenRecord` if unusable."""
    try:
        ring = [(float(lon), float(lat)) for lon, lat in view.points()]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise BrokenRecord("it has no footprint polygon") from None
    for lon, lat in ring:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise BrokenRecord("its footprint has coordinates that are not numbers (NaN or infinite)")
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise BrokenRecord(f"its footprint has a corner outside longitude/latitude ({lon:g}, {lat:g})")
    if len(set(ring)) < 3:
        raise BrokenRecord("its footprint has fewer than three distinct corners")
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def _urls(view: _View, kind: str) -> list[str]:
    return [str(url) for type_, url in view.urls if type_ == kind and _value(url) is not None]


def _is_burst(view: _View) -> bool:
    return "BURST" in str(view.collection or "").upper() or _first(view.attribute("PROCESSING_TYPE")) == "BURST"


def _bytes(view: _View, burst: bool) -> int | None:
    if burst:
        return _int(_first(view.attribute("BYTE_LENGTH")))
    raw = _float(_first(view.attribute("BYTES")))
    return round(raw) if raw is not None and math.isfinite(raw) else None


def _footprint(view: _View, umm_text: str, meta_text: str) -> Footprint:
    ring = _ring(view)
    burst = _is_burst(view)
    file_id = _value(view.granule_ur) or ""
    if not isinstance(file_id, str):
        file_id = str(file_id)
    first = _first
    if burst:
        scene = file_id
        service = _urls(view, "USE SERVICE API")
        url = service[0] if service else ""
        frame = None
        burst_id = first(view.attribute("BURST_ID_FULL")) or ""
    else:
        scene = _value(view.producer_id) or ""
        data = _urls(view, "GET DATA")
        url = data[0] if data else ""
        frame = _int(first(view.attribute("FRAME_NUMBER")))
        burst_id = ""
    if not file_id and not scene:
        raise BrokenRecord("it has no granule name")
    platform = first(view.attribute("ASF_PLATFORM"))
    if platform is None:
        platform = _value(view.platform)
    record = {
        "sceneName": str(scene),
        "fileID": file_id or str(scene),
        "startTime": _date(_value(view.begin)) or "",
        "stopTime": _date(_value(view.end)) or "",
        "pathNumber": _int(first(view.attribute("PATH_NUMBER"))),
        "frameNumber": frame,
        "burstId": str(burst_id),
        "flightDirection": str(first(view.attribute("ASCENDING_DESCENDING")) or "").upper(),
        "polarization": str(first(view.attribute("POLARIZATION")) or ""),
        "processingLevel": str(first(view.attribute("PROCESSING_TYPE")) or ""),
        "beamModeType": str(first(view.attribute("BEAM_MODE")) or ""),
        "platform": str(platform or ""),
        "orbit": _int(_value(view.orbit)),
        "groupID": str(first(view.attribute("GROUP_ID")) or ""),
        "url": url,
        "bytes": _bytes(view, burst),
        "md5sum": str(first(view.attribute("MD5SUM")) or ""),
        "centerLat": _float(first(view.attribute("CENTER_LAT"))),
        "centerLon": _float(first(view.attribute("CENTER_LON"))),
        "umm": umm_text,
        "cmrMeta": meta_text,
    }
    record["stack"] = stack_id(record)
    return Footprint(record, ring)


def footprint_from_umm(
    umm: Mapping[str, Any], meta: Mapping[str, Any] | None = None, umm_text: str | None = None, meta_text: str | None = None
) -> Footprint:
    """The footprint record (the fields of shared/API.md) and ring of one CMR UMM record (dicts).

    ``umm_text``/``meta_text`` are the records' JSON text as received (kept as they are in the
    ``umm``/``cmrMeta`` fields; serialised here when not given). Raises :class:`BrokenRecord`.
    """
    if not isinstance(umm, dict):
        raise BrokenRecord("it is not a UMM record")
    return _footprint(
        _view_of_dict(umm),
        umm_text if umm_text is not None else json.dumps(umm, separators=(",", ":")),
        meta_text if meta_text is not None else json.dumps(meta or {}, separators=(",", ":")),
    )


# ---- the fast path: msgspec (optional) ----------------------------------------------------------


def _msgspec_types() -> Any:
    """Decoders that read only what a footprint needs (:mod:`._umm_fast`), or ``None`` without msgspec."""
    try:
        from . import _umm_fast
    except ImportError:
        return None
    return _umm_fast.msgspec, _umm_fast.PAGE, _umm_fast.UMM, _umm_fast.VALUES


_FAST: Any = False  # not looked up yet


def _fast() -> Any:
    global _FAST
    if _FAST is False:
        _FAST = _msgspec_types()
    return _FAST


def fast_json_available() -> bool:
    """True when msgspec is installed (footprints are then read without building every JSON object)."""
    return _fast() is not None


@dataclass
class RawItem:
    """One item of a CMR page: its ``umm``/``meta`` JSON text, and (fast path) the decoded parts."""

    umm_text: str
    meta_text: str
    key: str | None  # GranuleUR (or the concept id): what makes two items the same record
    umm: Any = None  # the UMM as dicts (stdlib path) or a msgspec struct (fast path)

    def footprint(self) -> Footprint:
        """This item's footprint; :class:`BrokenRecord` if it cannot be one."""
        if isinstance(self.umm, dict):
            return footprint_from_umm(self.umm, None, self.umm_text, self.meta_text)
        if self.umm is None:
            try:
                umm = json.loads(self.umm_text)
            except ValueError:
                raise BrokenRecord("its UMM is not JSON") from None
            return footprint_from_umm(umm, None, self.umm_text, self.meta_text)
        return _footprint(_view_of_struct(self.umm, self.umm_text), self.umm_text, self.meta_text)

    def as_dicts(self) -> tuple[Any, Any]:
        """``(umm, meta)`` as plain JSON objects (for asf_search)."""
        umm = self.umm if isinstance(self.umm, dict) else json.loads(self.umm_text)
        return umm, json.loads(self.meta_text)


#: The AdditionalAttributes a footprint reads (the fast path decodes only these).
FOOTPRINT_ATTRIBUTES = frozenset(
    {
        "PROCESSING_TYPE", "BYTE_LENGTH", "BURST_ID_FULL", "FRAME_NUMBER", "BYTES", "ASF_PLATFORM", "PATH_NUMBER",
        "ASCENDING_DESCENDING", "POLARIZATION", "BEAM_MODE", "GROUP_ID", "MD5SUM", "CENTER_LAT", "CENTER_LON",
    }
)  # fmt: skip


def _view_of_struct(umm: Any, umm_text: str) -> _View:
    _msgspec, _page, _umm, values = _fast()
    names: list[str] = []
    raws: list[bytes] = []
    for attribute in umm.AdditionalAttributes:
        name = attribute.Name
        if name in FOOTPRINT_ATTRIBUTES and name not in names:
            names.append(name)
            raws.append(bytes(attribute.Values))
    try:  # every needed Values list in one decode
        decoded = dict(zip(names, values.decode(b"[" + b",".join(raws) + b"]")))
    except _msgspec.DecodeError:  # Values of another shape: as the dict path reads them
        decoded = {name: json.loads(raw) for name, raw in zip(names, raws)}
    attribute = decoded.get

    def points() -> list[tuple[Any, Any]]:
        if umm.SpatialExtent is None:
            raise KeyError("SpatialExtent")
        polygon = umm.SpatialExtent.HorizontalSpatialDomain.Geometry.GPolygons[0]
        return [(p.Longitude, p.Latitude) for p in polygon.Boundary.Points]

    times = umm.TemporalExtent.RangeDateTime if umm.TemporalExtent is not None else None
    identifiers = umm.DataGranule.Identifiers if umm.DataGranule is not None else ()
    return _View(
        granule_ur=umm.GranuleUR,
        attribute=attribute,
        begin=times.BeginningDateTime if times is not None else None,
        end=times.EndingDateTime if times is not None else None,
        urls=[(u.Type, u.URL) for u in umm.RelatedUrls],
        points=points,
        platform=umm.Platforms[0].ShortName if umm.Platforms else None,
        orbit=umm.OrbitCalculatedSpatialDomains[0].OrbitNumber if umm.OrbitCalculatedSpatialDomains else None,
        producer_id=next((i.Identifier for i in identifiers if i.IdentifierType == "ProducerGranuleId"), None),
        collection=umm.CollectionReference.ShortName if umm.CollectionReference is not None else None,
    )


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip(text: str, index: int) -> int:
    return _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]


def _split_items(text: str, index: int) -> tuple[list[tuple[Any, Any, str | None, str | None]], int]:
    """The ``items`` array at ``index``, each item's ``umm``/``meta`` with the exact text it had."""
    items: list[tuple[Any, Any, str | None, str | None]] = []
    if text[index] != "[":
        raise ValueError("items is not a list")
    index = _skip(text, index + 1)
    if text[index] == "]":
        return items, index + 1
    while True:
        if text[index] != "{":
            raise ValueError("an item is not an object")
        index = _skip(text, index + 1)
        umm = meta = None
        umm_text = meta_text = None
        while text[index] != "}":
            key, index = _DECODER.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] != ":":
                raise ValueError("expected ':'")
            index = _skip(text, index + 1)
            start = index
            value, index = _DECODER.raw_decode(text, index)
            if key == "umm":
                umm, umm_text = value, text[start:index]
            elif key == "meta":
                meta, meta_text = value, text[start:index]
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
        items.append((umm, meta, umm_text, meta_text))
        index = _skip(text, index + 1)
        if text[index] == ",":
            index = _skip(text, index + 1)
            continue
        if text[index] == "]":
            return items, index + 1
        raise ValueError("expected ',' or ']'")


def parse_cmr_page(text: str) -> tuple[int | None, list[tuple[Any, Any, str | None, str | None]]]:
    """``(hits, items)`` of a CMR ``umm_json`` answer, each item's ``umm``/``meta`` also as the
    JSON text it was sent as (so a footprint keeps it without serialising it again).

    Raises ``ValueError`` for an answer that is not such JSON.
    """
    try:
        index = _skip(text, 0)
        if text[index] != "{":
            raise ValueError("not an object")
        index = _skip(text, index + 1)
        hits: int | None = None
        items: list | None = None
        while text[index] != "}":
            key, index = _DECODER.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] != ":":
                raise ValueError("expected ':'")
            index = _skip(text, index + 1)
            if key == "items":
                items, index = _split_items(text, index)
            else:
                value, index = _DECODER.raw_decode(text, index)
                if key == "hits":
                    hits = int(value)
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
        if text[_skip(text, index + 1) :].strip():
            raise ValueError("extra data after the answer")
    except IndexError:
        raise ValueError("the answer ends early") from None
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if items is None:
        raise ValueError("no items")
    return hits, items


def read_cmr_page(payload: bytes) -> tuple[int | None, list[RawItem]]:
    """``(hits, items)`` of a CMR ``umm_json`` answer, each item with its ``umm``/``meta`` text as sent.

    With msgspec, only what a footprint needs is decoded (a UMM record whose parts have other
    types than CMR's is read the plain way); without it, the standard library reads it all.
    Raises ``ValueError`` for an answer that is not such JSON.
    """
    fast = _fast()
    if fast is not None:
        msgspec, page_decoder, umm_decoder, _values = fast
        try:
            page = page_decoder.decode(payload)
        except msgspec.DecodeError:
            page = None  # the plain reader says what is wrong
        if page is not None:
            items = []
            for item in page.items:
                umm_text = bytes(item.umm).decode("utf-8", "replace")
                meta_text = bytes(item.meta).decode("utf-8", "replace")
                try:
                    umm: Any = umm_decoder.decode(item.umm)
                    key = umm.GranuleUR
                except msgspec.DecodeError:
                    try:
                        umm = json.loads(umm_text)
                    except ValueError:
                        umm = None
                    key = umm.get("GranuleUR") if isinstance(umm, dict) else None
                    if umm is not None and not isinstance(umm, dict):
                        umm = None
                items.append(RawItem(umm_text, meta_text, str(key) if key is not None else None, umm))
            return page.hits, items
    hits, plain = parse_cmr_page(payload.decode("utf-8"))
    items = []
    for umm, _meta, umm_text, meta_text in plain:
        key = umm.get("GranuleUR") if isinstance(umm, dict) else None
        items.append(
            RawItem(
                umm_text if umm_text is not None else "null",
                meta_text if meta_text is not None else "null",
                str(key) if key is not None else None,
                umm if isinstance(umm, dict) else None,
            )
        )
    return hits, items


def scene_files(record: Mapping[str, Any]) -> dict[str, Any]:
    """What downloading a footprint needs, from its stored ``umm`` (no network, no asf_search):
    ``url``, ``bytes``, ``md5sum``, ``fileName`` and, for a burst, ``additionalUrls`` (its XML).

    A record without ``umm`` gives its own fields. Raises :class:`InputError` for a damaged ``umm``.
    """
    umm_text = record.get("umm")
    if not umm_text:
        return dict(record)
    try:
        umm = json.loads(umm_text)
    except (TypeError, ValueError) as exc:
        raise InputError(f"The footprint '{record.get('sceneName', '?')}' has a damaged 'umm' field ({exc}).") from None
    if not isinstance(umm, dict):
        raise InputError(f"The footprint '{record.get('sceneName', '?')}' has a damaged 'umm' field (not an object).")
    view = _view_of_dict(umm)
    out = dict(record)
    burst = _is_burst(view)
    if burst:
        service = _urls(view, "USE SERVICE API")
        file_id = _value(view.granule_ur) or record.get("fileID") or ""
        out["url"] = service[0] if service else ""
        out["fileName"] = f"{file_id}.{service[0].split('.')[-1]}" if service else None
        out["additionalUrls"] = service[1:2]
        out["sceneName"] = file_id
    else:
        data = _urls(view, "GET DATA")
        out["url"] = data[0] if data else ""
        out["fileName"] = out["url"].split("/")[-1] if out["url"] else None
    out["bytes"] = _bytes(view, burst)
    out["md5sum"] = _first(view.attribute("MD5SUM"))
    out["processingLevel"] = _first(view.attribute("PROCESSING_TYPE")) or record.get("processingLevel")
    return out


def stack_id(properties: Mapping[str, Any]) -> str:
    """Stack of a product: ``P<path>_F<frame>`` for SLCs, the full burst id for bursts."""
    burst = properties.get("burst") or {}
    burst_id = properties.get("burstId") or burst.get("fullBurstID")
    if burst_id:
        return str(burst_id)
    path = properties.get("pathNumber")
    frame = properties.get("frameNumber")
    if path is None or frame is None:
        return "unknown"
    return f"P{int(path)}_F{int(frame)}"


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def record_from_product(product: Any) -> tuple[dict[str, Any], BaseGeometry]:
    """The record (attribute dict) and footprint geometry (EPSG:4326) of an asf_search product.

    (Searching uses :func:`footprint_from_umm`, which gives the same record without building
    the product; this stays for products that exist anyway.)
    """
    from shapely.geometry import shape

    props = product.properties
    burst = props.get("burst") or {}
    record = {
        "sceneName": props.get("sceneName") or "",
        "fileID": props.get("fileID") or props.get("sceneName") or "",
        "startTime": props.get("startTime") or "",
        "stopTime": props.get("stopTime") or "",
        "pathNumber": _int_or_none(props.get("pathNumber")),
        "frameNumber": _int_or_none(props.get("frameNumber")),
        "burstId": burst.get("fullBurstID") or "",
        "flightDirection": (props.get("flightDirection") or "").upper(),
        "polarization": props.get("polarization") or "",
        "processingLevel": props.get("processingLevel") or "",
        "beamModeType": props.get("beamModeType") or "",
        "platform": props.get("platform") or "",
        "orbit": _int_or_none(props.get("orbit")),
        "groupID": props.get("groupID") or "",
        "url": props.get("url") or "",
        "bytes": _int_or_none(props.get("bytes")),
        "md5sum": props.get("md5sum") or "",
        "centerLat": props.get("centerLat"),
        "centerLon": props.get("centerLon"),
        "umm": json.dumps(product.umm, separators=(",", ":")),
        "cmrMeta": json.dumps(product.meta, separators=(",", ":")),
    }
    record["stack"] = stack_id({**props, "burstId": record["burstId"]})
    return record, shape(product.geometry)


def product_from_record(record: Mapping[str, Any], session: Any = None) -> Any:
    """Rebuild the asf_search product of a record from its stored CMR record (no network)."""
    from asf_search import ASFSession
    from asf_search.search.search_generator import as_ASFProduct

    umm_text = record.get("umm")
    if not umm_text:
        raise InputError(
            f"The footprint '{record.get('sceneName', '?')}' has no 'umm' field: it was not written by "
            "InSARHub's search. Run insarhub:searchscenes and use its output."
        )
    try:
        item = {"umm": json.loads(umm_text), "meta": json.loads(record.get("cmrMeta") or "{}")}
    except json.JSONDecodeError as exc:
        raise InputError(
            f"The footprint '{record.get('sceneName', '?')}' has a damaged 'umm' field ({exc})."
        ) from exc
    return as_ASFProduct(item, session=session or ASFSession())


def products_from_records(records: Iterable[Mapping[str, Any]]) -> list[Any]:
    """:func:`product_from_record` for many records, sharing one session."""
    from asf_search import ASFSession

    session = ASFSession()
    return [product_from_record(r, session) for r in records]
