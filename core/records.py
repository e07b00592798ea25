"""Footprint records: the flat form of an asf_search product that layers and files carry.

A record holds the fields of ``shared/API.md`` (``sceneName``, ``pathNumber``, ``stack``...)
plus the CMR record itself (``umm`` and ``cmrMeta`` as JSON text), so that a footprint
saved to a GeoPackage rebuilds the same asf_search product later, without the network.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .errors import InputError
from .schema import FOOTPRINT_FIELD_NAMES, FOOTPRINT_FIELDS

__all__ = ["FOOTPRINT_FIELDS", "FOOTPRINT_FIELD_NAMES", "product_from_record", "record_from_product", "stack_id"]



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
    """The record (attribute dict) and footprint geometry (EPSG:4326) of an asf_search product."""
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
