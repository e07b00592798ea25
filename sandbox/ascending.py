"""SYNTHETIC ascending burst records over the demo area (ASF's shared test records have none there).

The shared fixtures hold one real burst stack near Sitka, Alaska, and it is descending
(``174_372326_IW3``). A decomposition needs an ascending stack over the same ground, so the sandbox
makes one from the real records: every descending record is cloned into an ascending acquisition of
the made-up burst ``079_168890_IW2`` (relative orbit 79 is what the burst id implies), 12 h 10 min
earlier (an evening-to-morning pass change), its footprint mirrored about the scene's meridian, its
orbit state vectors mirrored across that meridian plane and reversed (so the satellite flies north, west
of the scene, looking east), so that the records still give asf_search consistent baselines. Names,
ids, URLs and times are rewritten. Every clone says what it is: ``PGEVersion`` and ``pgeVersion`` are
``SANDBOX-SYNTHETIC``, the group id starts ``SANDBOX_SYNTHETIC``, and the URLs point at
``sandbox-synthetic.invalid``. None of it is a real Sentinel-1 acquisition.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta
from typing import Any, Dict, List

import numpy as np

ASCENDING_PATH = 79
ASCENDING_BURST = 168890
ASCENDING_SWATH = "IW2"
ASCENDING_STACK = f"{ASCENDING_PATH:03d}_{ASCENDING_BURST:06d}_{ASCENDING_SWATH}"
SYNTHETIC = "SANDBOX-SYNTHETIC"
_SHIFT = timedelta(hours=-12, minutes=-10)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?")


def _shift(text: str) -> str:
    """Every ISO time in ``text`` moved by the pass change, in its own format."""

    def move(match: re.Match) -> str:
        raw = match.group(0)
        body = raw.rstrip("Z")
        digits = len(body.split(".")[1]) if "." in body else 0
        value = datetime.fromisoformat(body.ljust(26, "0") if digits else body) + _SHIFT
        out = value.strftime("%Y-%m-%dT%H:%M:%S") + (value.strftime(".%f")[: digits + 1] if digits else "")
        return out + ("Z" if raw.endswith("Z") else "")

    return _TIME.sub(move, text)


def _compact(text: str) -> str:
    """``YYYYMMDDTHHMMSS`` times in a name moved by the pass change."""

    def move(match: re.Match) -> str:
        return (datetime.strptime(match.group(0), "%Y%m%dT%H%M%S") + _SHIFT).strftime("%Y%m%dT%H%M%S")

    return re.sub(r"\d{8}T\d{6}", move, text)


def _mirror(vector: np.ndarray, lon_deg: float) -> np.ndarray:
    """Reflect an ECEF vector across the meridian plane at ``lon_deg``."""
    lon = np.radians(lon_deg)
    normal = np.array([-np.sin(lon), np.cos(lon), 0.0])
    return vector - 2.0 * np.dot(vector, normal) * normal


def _attrs(umm: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {a["Name"]: a for a in umm.get("AdditionalAttributes") or []}


def ascending_clone(record: Dict[str, Any], index: int) -> Dict[str, Any]:
    """The SYNTHETIC ascending twin of one real descending burst record."""
    rec = copy.deepcopy(record)
    umm, meta, props = rec["umm"], rec["meta"], rec.setdefault("asf_properties", {})
    attrs = _attrs(umm)
    centre_lon = float(attrs["CENTER_LON"]["Values"][0])

    def value(name: str) -> str:
        return attrs[name]["Values"][0]

    def put(name: str, new: object) -> None:
        if name in attrs:
            attrs[name]["Values"] = [str(new)]

    # orbit: mirrored across the scene's meridian, flying the other way
    for phase in ("PRE", "POST"):
        for kind, sign in (("POSITION", 1.0), ("VELOCITY", -1.0)):
            name = f"SV_{kind}_{phase}"
            if name not in attrs:
                continue
            *xyz, when = value(name).split(",")
            vec = sign * _mirror(np.array([float(v) for v in xyz]), centre_lon)
            put(name, ",".join(f"{v:.6f}" for v in vec) + "," + _shift(when))
    for name in ("ASC_NODE_TIME", "AZIMUTH_TIME"):
        if name in attrs:
            put(name, _shift(value(name)))
    if "AZIMUTH_ANX_TIME" in attrs:  # the ascending pass crosses 57 N about 940 s after the node
        put("AZIMUTH_ANX_TIME", f"{float(value('AZIMUTH_ANX_TIME')) - 1086.0:.10f}")
    extent = umm["TemporalExtent"]["RangeDateTime"]
    for key in ("BeginningDateTime", "EndingDateTime"):
        extent[key] = _shift(extent[key])
    for polygon in umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"]:
        for point in polygon["Boundary"]["Points"]:
            point["Longitude"] = round(2 * centre_lon - point["Longitude"], 6)

    old_rel = int(value("BURST_ID_RELATIVE"))
    absolute = int(value("BURST_ID_ABSOLUTE")) - old_rel + ASCENDING_BURST
    azimuth = datetime.fromisoformat(value("AZIMUTH_TIME").rstrip("Z"))
    uid = umm["GranuleUR"].split("_")[-1].split("-")[0]
    name = f"S1_{ASCENDING_BURST:06d}_{ASCENDING_SWATH}_{azimuth:%Y%m%dT%H%M%S}_{value('POLARIZATION')}_{uid}-BURST"
    put("ASCENDING_DESCENDING", "ASCENDING")
    put("PATH_NUMBER", ASCENDING_PATH)
    put("BURST_ID_RELATIVE", ASCENDING_BURST)
    put("BURST_ID_ABSOLUTE", absolute)
    put("BURST_ID_FULL", ASCENDING_STACK)
    put("SUBSWATH_NAME", ASCENDING_SWATH)
    group = f"SANDBOX_SYNTHETIC_{value('GROUP_ID')}"
    group = re.sub(r"_\d{3}$", f"_{ASCENDING_PATH:03d}", group)
    put("GROUP_ID", group)
    umm["GranuleUR"] = name
    umm["InputGranules"] = [_compact(g) for g in umm.get("InputGranules") or []]
    umm["PGEVersionClass"] = {"PGEName": "InSARHub sandbox (synthetic ascending clone)", "PGEVersion": SYNTHETIC}
    for url in umm.get("RelatedUrls") or []:
        if url.get("Type") == "USE SERVICE API":
            url["URL"] = (
                _compact(url["URL"]).replace("sentinel1-burst.asf.alaska.edu", "sandbox-synthetic.invalid")
                .replace("/IW3/", f"/{ASCENDING_SWATH}/")
            )
    meta["concept-id"] = f"G{3_900_000_000 + index}-ASF"
    meta["native-id"] = name
    urls = [u["URL"] for u in umm.get("RelatedUrls") or [] if u.get("Type") == "USE SERVICE API"]
    burst = dict(props.get("burst") or {})
    burst.update(
        absoluteBurstID=absolute, relativeBurstID=ASCENDING_BURST, fullBurstID=ASCENDING_STACK,
        subswath=ASCENDING_SWATH, azimuthTime=value("AZIMUTH_TIME"),
        azimuthAnxTime=value("AZIMUTH_ANX_TIME") if "AZIMUTH_ANX_TIME" in attrs else burst.get("azimuthAnxTime"),
    )
    props.update(
        sceneName=name, fileID=name, flightDirection="ASCENDING", pathNumber=ASCENDING_PATH,
        startTime=extent["BeginningDateTime"], stopTime=extent["EndingDateTime"], groupID=group,
        pgeVersion=SYNTHETIC, burst=burst,
    )
    if urls:
        props.update(url=urls[0], fileName=f"{name}.{urls[0].rsplit('.', 1)[-1]}", additionalUrls=urls[1:2])
    return rec


def synthetic_ascending_records(descending: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One SYNTHETIC ascending record per real descending burst record (same dates, same ground)."""
    return [ascending_clone(record, index) for index, record in enumerate(descending)]


def is_synthetic(record: Dict[str, Any]) -> bool:
    """True for a record made here (not one of ASF's)."""
    return (record.get("asf_properties") or {}).get("pgeVersion") == SYNTHETIC


__all__ = ["ASCENDING_STACK", "SYNTHETIC", "ascending_clone", "is_synthetic", "synthetic_ascending_records"]
