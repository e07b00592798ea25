"""Loopback stand-in for the HyP3 API, driven by the real ``hyp3_sdk`` client.

``HyP3StandIn`` serves plain HTTP on ``127.0.0.1`` (an ephemeral port) and answers in the
schema of HyP3's own OpenAPI specification (``shared/reference/hyp3/openapi-spec.yml.j2``)
for the three InSAR job types of ``shared/reference/hyp3/*.yml``::

    with HyP3StandIn(credits=100, token="secret") as stand_in:
        hyp3 = hyp3_sdk.HyP3(api_url=stand_in.url, token="secret")  # no Earthdata call
        batch = hyp3.submit_insar_job(g1, g2, name="demo")
        stand_in.finish_all()
        hyp3.refresh(batch).download_files(tmp_path)

Endpoints
    ``GET /user``, ``GET /costs``, ``POST /jobs`` (with ``validate_only``), ``GET /jobs``
    (filters ``status_code``, ``start``, ``end``, ``name``, ``job_type``, ``user_id``; paged
    through ``next`` / ``start_token``), ``GET /jobs/{job_id}``, and the product "bucket"
    ``GET|HEAD /products/{job_id}/{filename}`` (no authentication, like the public S3
    content bucket; single-range ``Range`` requests, 206/416).

Job life cycle
    PENDING -> RUNNING -> SUCCEEDED or FAILED. A job advances one state after it has been
    *observed* ``polls_per_state`` times in its current state (an observation is a
    ``GET /jobs/{id}`` or the job appearing on a ``GET /jobs`` page; the answer shows the state
    before the advance, so every state is seen). ``polls_per_state=0`` turns this off; then
    only :meth:`HyP3StandIn.advance` / :meth:`HyP3StandIn.finish_all` move jobs. The final
    state comes from ``outcome(job) -> "SUCCEEDED" | "FAILED"`` (default: succeed; see
    :func:`fail_first` and :func:`fail_always`).

Faults (all thread-safe, bounded by a count, cleared by :meth:`HyP3StandIn.reset_faults`)
    :meth:`~HyP3StandIn.fail_next`, :meth:`~HyP3StandIn.lose_response_next`,
    :meth:`~HyP3StandIn.drop_download_after`, :meth:`~HyP3StandIn.truncate_download`,
    :meth:`~HyP3StandIn.corrupt_download`, :meth:`~HyP3StandIn.delay`,
    :meth:`~HyP3StandIn.bandwidth_limit`; plus :meth:`~HyP3StandIn.expire`,
    ``missing_granules`` and ``application_status``.

Error bodies are the API's problem JSON (``{"detail", "status", "title", "type"}``), which is
what ``hyp3_sdk`` reads. Messages produced by HyP3's own code (credits, application status,
burst checks, unknown job id, authentication) are copied from HyP3; schema-violation messages
are jsonschema-style and the real wording (from openapi-core) may differ, so callers should
show ``detail`` rather than parse it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import http.client
import io
import json
import re
import shutil
import socket
import struct
import tempfile
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "COSTS",
    "JOB_SPECS",
    "HyP3StandIn",
    "RecordedRequest",
    "fail_always",
    "fail_first",
    "job_granules",
    "make_product_zip",
    "product_name",
]

JobDict = dict[str, Any]
Outcome = Callable[[JobDict], str]
ProductFactory = Callable[[JobDict], Path]

# --------------------------------------------------------------------------------------------
# Job specifications: parameters, defaults and costs transcribed from HyP3's job_spec/*.yml
# (the EDC cost profile, which is what hyp3-api.asf.alaska.edu charges).
# --------------------------------------------------------------------------------------------

_SLC_ITEM = {
    "type": "string",
    "pattern": r"^S1[ABCD]_IW_SLC__1S[SD][VH]",
    "minLength": 67,
    "maxLength": 67,
}
_BURST_ITEM = {"type": "string", "pattern": r"^S1_\d{6}_IW.*-BURST", "minLength": 43, "maxLength": 43}
_MULTI_BURST_ITEM = {
    "type": "string",
    "pattern": r"^S1_\d{6}_IW\d_\d{8}T\d{6}_[VH]{2}_([\dA-F]){4}-BURST$",
    "minLength": 43,
    "maxLength": 43,
}


def _flag() -> dict[str, Any]:
    return {"type": "boolean", "default": False}


JOB_SPECS: dict[str, dict[str, Any]] = {
    "INSAR_GAMMA": {
        "required": ["granules"],
        "parameters": {
            "granules": {"type": "array", "minItems": 2, "maxItems": 2, "items": _SLC_ITEM},
            "include_look_vectors": _flag(),
            "include_los_displacement": _flag(),
            "include_displacement_maps": _flag(),
            "include_inc_map": _flag(),
            "include_dem": _flag(),
            "include_wrapped_phase": _flag(),
            "apply_water_mask": _flag(),
            "looks": {"type": "string", "default": "20x4", "enum": ["20x4", "10x2"]},
            "phase_filter_parameter": {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.6},
        },
        "validators": [],
    },
    "INSAR_ISCE_BURST": {
        "required": ["granules"],
        "parameters": {
            "granules": {"type": "array", "minItems": 2, "maxItems": 2, "items": _BURST_ITEM},
            "apply_water_mask": _flag(),
            "looks": {"type": "string", "default": "20x4", "enum": ["20x4", "10x2", "5x1"]},
        },
        "validators": ["check_single_burst_pair"],
    },
    "INSAR_ISCE_MULTI_BURST": {
        "required": ["reference", "secondary"],
        "parameters": {
            "reference": {"type": "array", "items": _MULTI_BURST_ITEM},
            "secondary": {"type": "array", "items": _MULTI_BURST_ITEM},
            "apply_water_mask": _flag(),
            "looks": {"type": "string", "default": "20x4", "enum": ["20x4", "10x2", "5x1"]},
        },
        "validators": ["check_multi_burst_max_length", "check_multi_burst_pairs"],
    },
}


def _multi_burst_table(steps: Mapping[int, float]) -> dict[str, float]:
    """Expand ``{first_count: cost}`` steps into HyP3's ``{"1": cost, ..., "15": cost}`` table."""
    table: dict[str, float] = {}
    cost = 0.0
    for count in range(1, 16):
        cost = steps.get(count, cost)
        table[str(count)] = cost
    return table


COSTS: dict[str, dict[str, Any]] = {
    "INSAR_GAMMA": {"cost_parameters": ["looks"], "cost_table": {"20x4": 10.0, "10x2": 15.0}},
    "INSAR_ISCE_BURST": {"cost": 1.0},
    "INSAR_ISCE_MULTI_BURST": {
        "cost_parameters": ["looks", "reference"],
        "cost_table": {
            "20x4": _multi_burst_table({1: 1.0, 5: 5.0, 13: 10.0}),
            "10x2": _multi_burst_table({1: 1.0, 4: 5.0, 10: 10.0}),
            "5x1": {
                str(n): c
                for n, c in zip(
                    range(1, 16),
                    [
                        1.0,
                        5.0,
                        10.0,
                        15.0,
                        20.0,
                        25.0,
                        30.0,
                        35.0,
                        40.0,
                        45.0,
                        90.0,
                        95.0,
                        100.0,
                        105.0,
                        110.0,
                    ],
                )
            },
        },
    },
}

STATUS_CODES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
MAX_JOBS_PER_POST = 200  # openapi-spec: list_of_new_jobs maxItems
MAX_NAME_LENGTH = 100  # openapi-spec: name maxLength
PRODUCT_LIFETIME = timedelta(days=14)  # HyP3 keeps products for 14 days
CONTENT_BUCKET = "hyp3-standin-contentbucket"
_HELP_URL = "https://hyp3-docs.asf.alaska.edu/using/requesting_access"


class _ApiError(Exception):
    """An error answered as HyP3 problem JSON."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


# --------------------------------------------------------------------------------------------
# Helpers: granules, names, products
# --------------------------------------------------------------------------------------------


def job_granules(job: Mapping[str, Any]) -> list[str]:
    """All granule names of a job (``granules``, or ``reference`` + ``secondary``)."""
    params = job.get("job_parameters") or {}
    if "granules" in params:
        return list(params["granules"])
    return list(params.get("reference", [])) + list(params.get("secondary", []))


def fail_first(*granule_sets: Iterable[str]) -> Outcome:
    """Outcome policy: the first job finishing for each granule set FAILS, later ones succeed.

    With no granule sets, the very first job to finish fails. Useful for resubmission tests.
    """
    wanted = [frozenset(g) for g in granule_sets]
    failed: set[frozenset[str]] = set()
    lock = threading.Lock()

    def outcome(job: JobDict) -> str:
        key = frozenset(job_granules(job))
        with lock:
            target = key if wanted else frozenset()
            if (not wanted or key in wanted) and target not in failed:
                failed.add(target)
                return "FAILED"
        return "SUCCEEDED"

    return outcome


def fail_always(*granule_sets: Iterable[str]) -> Outcome:
    """Outcome policy: every job whose granules equal one of ``granule_sets`` FAILS."""
    wanted = {frozenset(g) for g in granule_sets}

    def outcome(job: JobDict) -> str:
        return "FAILED" if frozenset(job_granules(job)) in wanted else "SUCCEEDED"

    return outcome


def _short_hash(job: Mapping[str, Any]) -> str:
    return hashlib.md5(str(job["job_id"]).encode()).hexdigest()[:4].upper()


def _pixel_size(looks: str) -> int:
    return {"20x4": 80, "10x2": 40, "5x1": 20}.get(looks, 80)


def _slc_pol(granule: str) -> str:
    # S1A_IW_SLC__1SDV_... -> VV ; 1SSH/1SDH -> HH
    return "HH" if granule[15:16] == "H" else "VV"


def product_name(job: Mapping[str, Any]) -> str:
    """HyP3-style product name for a job (the zip stem and its top folder).

    * INSAR_GAMMA: ``S1AC_20251001T204513_20251007T204359_VVP006_INT80_G_ueF_1DBE``
    * INSAR_ISCE_BURST: ``S1_056072_IW2_20220814_20220907_VV_INT80_E09B``
    * INSAR_ISCE_MULTI_BURST: ``S1_044_000000s1n00-093117s2n01-093118s3n01_IW_20250718_20250730_VV_INT80_B4FA``

    The trailing 4 characters derive from the job id, so names are unique per job.
    """
    params = job["job_parameters"]
    looks = params.get("looks", "20x4")
    suffix = _short_hash(job)
    if job["job_type"] == "INSAR_GAMMA":
        ref, sec = sorted(params["granules"], key=lambda g: g[17:32])
        ref_t, sec_t = ref[17:32], sec[17:32]
        days = abs((datetime.strptime(sec_t[:8], "%Y%m%d") - datetime.strptime(ref_t[:8], "%Y%m%d")).days)
        mask = "w" if params.get("apply_water_mask") else "u"
        return (
            f"S1{ref[2]}{sec[2]}_{ref_t}_{sec_t}_{_slc_pol(ref)}P{days:03d}"
            f"_INT{_pixel_size(looks)}_G_{mask}eF_{suffix}"
        )
    if job["job_type"] == "INSAR_ISCE_BURST":
        ref, sec = sorted(params["granules"], key=lambda g: g.split("_")[3])
        _, burst, swath, ref_t, pol, _ = ref.split("_")
        sec_t = sec.split("_")[3]
        return f"S1_{burst}_{swath}_{ref_t[:8]}_{sec_t[:8]}_{pol}_INT{_pixel_size(looks)}_{suffix}"
    reference, secondary = params["reference"], params["secondary"]
    parts = []
    for n in (1, 2, 3):
        ids = sorted(int(g.split("_")[1]) for g in reference if g.split("_")[2] == f"IW{n}")
        parts.append(f"{ids[0]:06d}s{n}n{len(ids):02d}" if ids else f"000000s{n}n00")
    first_burst = min(int(g.split("_")[1]) for g in reference)
    orbit = first_burst // 2148 + 1  # approximate relative orbit of an ESA burst id
    ref_d = min(g.split("_")[3] for g in reference)[:8]
    sec_d = min(g.split("_")[3] for g in secondary)[:8]
    pol = reference[0].split("_")[4]
    return f"S1_{orbit:03d}_{'-'.join(parts)}_IW_{ref_d}_{sec_d}_{pol}_INT{_pixel_size(looks)}_{suffix}"


def _metadata_text(job: Mapping[str, Any]) -> str:
    """A ``<name>.txt`` with the key set of HyP3's real metadata files (``Key: value`` lines)."""
    params = job["job_parameters"]
    looks = params.get("looks", "20x4")
    range_looks, azimuth_looks = looks.split("x")
    common_tail: list[tuple[str, Any]]
    if job["job_type"] == "INSAR_GAMMA":
        ref, sec = sorted(params["granules"], key=lambda g: g[17:32])
        pfp = float(params.get("phase_filter_parameter", 0.6))
        lines: list[tuple[str, Any]] = [
            ("Reference Granule", ref),
            ("Secondary Granule", sec),
            ("Reference Pass Direction", "ASCENDING"),
            ("Reference Orbit Number", int(ref.split("_")[7])),
            ("Secondary Pass Direction", "ASCENDING"),
            ("Secondary Orbit Number", int(sec.split("_")[7])),
            ("Baseline", 48.0195),
            ("UTC time", 74714.869576),
            ("Heading", -18.1505111),
            ("Spacecraft height", 705239.4029000001),
            ("Earth radius at nadir", 6362008.3766),
            ("Slant range near", 803591.1723),
            ("Slant range center", 882714.7457),
            ("Slant range far", 961838.3190),
            ("Range looks", range_looks),
            ("Azimuth looks", azimuth_looks),
            ("INSAR phase filter", "adf" if pfp > 0 else "none"),
            ("Phase filter parameter", pfp),
            ("Resolution of output (m)", _pixel_size(looks)),
            ("Range bandpass filter", "no"),
            ("Azimuth bandpass filter", "no"),
            ("DEM source", "GLO-30"),
            ("DEM resolution (m)", _pixel_size(looks) * 2),
            ("Unwrapping type", "mcf"),
            ("Phase at reference point", 3.32844),
            ("Azimuth line of the reference point in SAR space", 497),
            ("Range pixel of the reference point in SAR space", 5724),
            ("Y coordinate of the reference point in the map projection", 6703535.9184),
            ("X coordinate of the reference point in the map projection", 515679.7018),
            ("Latitude of the reference point (WGS84)", 60.46772014),
            ("Longitude of the reference point (WGS84)", -44.7148542),
            ("Unwrapping threshold", "none"),
            ("Speckle filter", "no"),
        ]
        return "".join(f"{k}: {v}\n" for k, v in lines)
    if job["job_type"] == "INSAR_ISCE_BURST":
        ref, sec = sorted(params["granules"], key=lambda g: g.split("_")[3])
        refs, secs = ref, sec
    else:
        refs, secs = ", ".join(params["reference"]), ", ".join(params["secondary"])
    lines = [
        ("Reference Granule", refs),
        ("Secondary Granule", secs),
        ("Reference Pass Direction", "ASCENDING"),
        ("Reference Orbit Number", 44549),
        ("Secondary Pass Direction", "ASCENDING"),
        ("Secondary Orbit Number", 44899),
        ("Baseline", 158.57439820410497),
        ("UTC time", 46709.112304),
        ("Heading", -13.3101122688203),
        ("Spacecraft height", 693000.0),
        ("Earth radius at nadir", 6337286.638938101),
        ("Slant range near", 846099.1914484155),
        ("Slant range center", 875670.6529326118),
        ("Slant range far", 905242.1144168081),
        ("Range looks", range_looks),
        ("Azimuth looks", azimuth_looks),
        ("INSAR phase filter", "yes"),
        ("Phase filter parameter", 0.5),
        ("Range bandpass filter", "no"),
        ("Azimuth bandpass filter", "no"),
        ("DEM source", "GLO_30"),
        ("DEM resolution (m)", 30),
        ("Unwrapping type", "snaphu_mcf"),
        ("Speckle filter", "yes"),
        ("Water mask", "yes" if params.get("apply_water_mask") else "no"),
    ]
    common_tail = []
    if job["job_type"] == "INSAR_ISCE_BURST":
        common_tail = [
            ("Radar n lines", 376),
            ("Radar n samples", 1269),
            ("Radar first valid line", 7),
            ("Radar n valid lines", 363),
            ("Radar first valid sample", 23),
            ("Radar n valid samples", 1218),
            ("Multilook azimuth time interval", 0.008222225199999992),
            ("Multilook range pixel size", 46.59124229430646),
            ("Radar sensing stop", "2022-08-14T12:58:32.201805"),
        ]
    return "".join(f"{k}: {v}\n" for k, v in lines + common_tail)


def _tiny_tiff(width: int = 4, height: int = 4, value: float = 0.0) -> bytes:
    """A minimal valid (un-georeferenced) little-endian Float32 TIFF."""
    data = struct.pack(f"<{width * height}f", *([value] * (width * height)))
    entries = [
        (256, 3, width),  # ImageWidth
        (257, 3, height),  # ImageLength
        (258, 3, 32),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # Photometric: min-is-black
        (273, 4, 0),  # StripOffsets (patched below)
        (277, 3, 1),  # SamplesPerPixel
        (278, 3, height),  # RowsPerStrip
        (279, 4, len(data)),  # StripByteCounts
        (339, 3, 3),  # SampleFormat: IEEE float
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, typ, val in entries:
        if tag == 273:
            val = data_offset
        if typ == 3:
            ifd += struct.pack("<HHIHH", tag, typ, 1, val, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, 1, val)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + data


def _tiny_png() -> bytes:
    """A valid 1x1 grey PNG (browse and thumbnail images)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def make_product_zip(job: Mapping[str, Any], directory: Path) -> Path:
    """The default product: ``<directory>/<job_id>/<name>.zip`` with one top folder ``<name>/``.

    The folder holds ``<name>.txt`` (HyP3 metadata keys), ``<name>.README.md.txt`` and two tiny
    Float32 TIFFs ``<name>_unw_phase.tif`` / ``<name>_corr.tif`` (valid TIFF, not georeferenced).
    The bytes are deterministic for a given job.
    """
    name = product_name(job)
    out_dir = Path(directory) / str(job["job_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.zip"
    members = [
        (f"{name}/{name}.txt", _metadata_text(job).encode()),
        (f"{name}/{name}.README.md.txt", f"# {name}\n\nSynthetic HyP3 {job['job_type']} product.\n".encode()),
        (f"{name}/{name}_unw_phase.tif", _tiny_tiff(value=1.5)),
        (f"{name}/{name}_corr.tif", _tiny_tiff(value=0.9)),
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, payload in members:
            info = zipfile.ZipInfo(arcname, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, payload)
    path.write_bytes(buf.getvalue())
    return path


# --------------------------------------------------------------------------------------------
# Validation (schema of the OpenAPI spec + HyP3's own validators, minus CMR/DEM look-ups)
# --------------------------------------------------------------------------------------------


def _check_value(name: str, value: Any, schema: Mapping[str, Any]) -> None:
    typ = schema.get("type")
    if typ == "boolean" and not isinstance(value, bool):
        raise _ApiError(400, f"{value!r} is not of type 'boolean' ({name})")
    if typ == "string" and not isinstance(value, str):
        raise _ApiError(400, f"{value!r} is not of type 'string' ({name})")
    if typ == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise _ApiError(400, f"{value!r} is not of type 'number' ({name})")
    if typ == "array":
        if not isinstance(value, list):
            raise _ApiError(400, f"{value!r} is not of type 'array' ({name})")
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise _ApiError(400, f"{value!r} is too short ({name})")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _ApiError(400, f"{value!r} is too long ({name})")
        for item in value:
            _check_value(name, item, schema["items"])
        return
    if "enum" in schema and value not in schema["enum"]:
        raise _ApiError(400, f"{value!r} is not one of {schema['enum']!r} ({name})")
    if "minimum" in schema and value < schema["minimum"]:
        raise _ApiError(400, f"{value!r} is less than the minimum of {schema['minimum']!r} ({name})")
    if "maximum" in schema and value > schema["maximum"]:
        raise _ApiError(400, f"{value!r} is greater than the maximum of {schema['maximum']!r} ({name})")
    if typ == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise _ApiError(400, f"{value!r} is too short ({name})")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise _ApiError(400, f"{value!r} is too long ({name})")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise _ApiError(400, f"{value!r} does not match {schema['pattern']!r} ({name})")


def _check_single_burst_pair(params: Mapping[str, Any]) -> None:
    granule1, granule2 = params["granules"]
    if "_".join(granule1.split("_")[1:3]) != "_".join(granule2.split("_")[1:3]):
        raise _ApiError(400, f"Burst IDs do not match for {granule1} and {granule2}.")
    pol1, pol2 = granule1.split("_")[4], granule2.split("_")[4]
    if pol1 != pol2:
        raise _ApiError(400, f"The requested scenes need to have the same polarization, got: {pol1}, {pol2}")
    if pol1 not in ("VV", "HH"):
        raise _ApiError(400, f"Only VV and HH polarizations are currently supported, got: {pol1}")


def _check_multi_burst_max_length(params: Mapping[str, Any], max_pairs: int = 15) -> None:
    reference, secondary = params["reference"], params["secondary"]
    if len(reference) > max_pairs or len(secondary) > max_pairs:
        raise _ApiError(
            400,
            f"Must provide no more than {max_pairs} scene pairs, got {len(reference)} reference "
            f"and {len(secondary)} secondary",
        )


def _check_multi_burst_pairs(params: Mapping[str, Any]) -> None:
    reference, secondary = params["reference"], params["secondary"]
    if len(reference) < 1 or len(secondary) < 1:
        raise _ApiError(400, "Must include at least 1 reference scene and 1 secondary scene")
    if len(reference) != len(secondary):
        raise _ApiError(
            400,
            "Must provide the same number of reference and secondary scenes, "
            f"got {len(reference)} reference and {len(secondary)} secondary",
        )

    def num_swath_pol(scene: str) -> str:
        parts = scene.split("_")
        return "_".join([parts[1], parts[2], parts[4]])

    ref_ids = {num_swath_pol(g) for g in reference}
    if ref_ids != {num_swath_pol(g) for g in secondary}:
        raise _ApiError(
            400,
            "Burst number + swath + polarization identifiers must be the same for reference scenes "
            "and secondary scenes",
        )
    if len(ref_ids) != len(reference):
        raise _ApiError(
            400, "Each reference scene must have a unique burst number + swath + polarization identifier"
        )
    pols = sorted({g.split("_")[4] for g in reference})
    if len(pols) > 1:
        raise _ApiError(
            400, f"Scenes must have the same polarization. Polarizations present: {', '.join(pols)}"
        )
    if pols[0] not in ("VV", "HH"):
        raise _ApiError(400, f"{pols[0]} polarization is not currently supported, only VV and HH")

    def times(scenes: list[str]) -> list[datetime]:
        return sorted(datetime.strptime(g.split("_")[3], "%Y%m%dT%H%M%S") for g in scenes)

    ref_t, sec_t = times(reference), times(secondary)
    window = timedelta(minutes=2)
    if ref_t[-1] - ref_t[0] > window:
        raise _ApiError(
            400,
            "Reference scenes must fall within a 2-minute window in order to ensure they were "
            "collected during the same pass",
        )
    if sec_t[-1] - sec_t[0] > window:
        raise _ApiError(
            400,
            "Secondary scenes must fall within a 2-minute window in order to ensure they were "
            "collected during the same pass",
        )
    if ref_t[-1] >= sec_t[0]:
        raise _ApiError(400, "Reference scenes must be older than secondary scenes")


_VALIDATORS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "check_single_burst_pair": _check_single_burst_pair,
    "check_multi_burst_max_length": _check_multi_burst_max_length,
    "check_multi_burst_pairs": _check_multi_burst_pairs,
}


def _normalise_new_job(job: Any) -> JobDict:
    """Validate one entry of ``POST /jobs`` and return it with default parameters filled in."""
    if not isinstance(job, dict):
        raise _ApiError(400, f"{job!r} is not of type 'object'")
    for key in ("job_type", "job_parameters"):
        if key not in job:
            raise _ApiError(400, f"'{key}' is a required property")
    extra = sorted(set(job) - {"job_type", "job_parameters", "name"})
    if extra:
        raise _ApiError(
            400, f"Additional properties are not allowed ({', '.join(map(repr, extra))} was unexpected)"
        )
    job_type = job["job_type"]
    if job_type not in JOB_SPECS:
        raise _ApiError(400, f"{job_type!r} is not one of {sorted(JOB_SPECS)!r}")
    if "name" in job:
        name = job["name"]
        if not isinstance(name, str):
            raise _ApiError(400, f"{name!r} is not of type 'string' (name)")
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise _ApiError(400, f"{name!r} is too {'short' if not name else 'long'} (name)")
    spec = JOB_SPECS[job_type]
    params = job["job_parameters"]
    if not isinstance(params, dict):
        raise _ApiError(400, f"{params!r} is not of type 'object' (job_parameters)")
    for key in spec["required"]:
        if key not in params:
            raise _ApiError(400, f"'{key}' is a required property")
    extra = sorted(set(params) - set(spec["parameters"]))
    if extra:
        raise _ApiError(
            400, f"Additional properties are not allowed ({', '.join(map(repr, extra))} was unexpected)"
        )
    for key, value in params.items():
        _check_value(key, value, spec["parameters"][key])
    filled = {k: s["default"] for k, s in spec["parameters"].items() if "default" in s}
    filled.update(params)
    for validator in spec["validators"]:
        _VALIDATORS[validator](filled)
    out: JobDict = {"job_type": job_type, "job_parameters": filled}
    if "name" in job:
        out["name"] = job["name"]
    return out


def _credit_cost(job: Mapping[str, Any]) -> Decimal:
    definition = COSTS[job["job_type"]]
    if "cost" in definition:
        return Decimal(str(definition["cost"]))
    table: Any = definition["cost_table"]
    for parameter in definition["cost_parameters"]:
        value = job["job_parameters"][parameter]
        if isinstance(value, list):
            value = len(value)
        table = table[str(value)]
    return Decimal(str(table))


def _number(value: Decimal | float | int | None) -> float | int | None:
    """Render numbers like HyP3's JSON encoder does (integral Decimals as int)."""
    if value is None:
        return None
    value = Decimal(str(value))
    return int(value) if value == int(value) else float(value)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse_datetime(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _ApiError(400, f"Failed to cast value to date-time type: {text} ({name})") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the stand-in received.

    ``body`` is the parsed JSON body (or raw bytes if not JSON, ``None`` if empty); ``status`` is
    the status answered (``None`` when the response was deliberately lost).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int | None = None


@dataclass
class _Job:
    data: JobDict
    seq: int
    observations: int = 0
    served: dict[str, Path | bytes] = field(default_factory=dict)
    expired: bool = False


@dataclass
class _Fault:
    kind: str  # fail | lose | drop | delay
    method: str | None
    prefix: str
    remaining: int | None  # None: unbounded
    status: int = 503
    retry_after: str | None = None
    body: bytes | None = None
    detail: str | None = None
    nbytes: int = 0
    seconds: float = 0.0
    target: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return (self.method in (None, "*", method)) and path.startswith(self.prefix)


class HyP3StandIn:
    """A loopback HTTP HyP3 API (see the module docstring).

    Args:
        credits: Remaining processing credits; ``None`` means no limit (``remaining_credits: null``).
        page_size: Jobs per ``GET /jobs`` page (more pages are linked through ``next``).
        token: If given, the only accepted bearer token; otherwise any bearer token (or an
            ``asf-urs`` cookie) is accepted. Missing or wrong credentials answer 401.
        polls_per_state: Observations a job spends in each non-final state; 0 = manual only.
        product_factory: ``factory(job) -> Path`` of the product zip to serve (its file name is
            the served ``filename``). Default: :func:`make_product_zip` into ``tmpdir``.
        tmpdir: Directory for generated products; a temporary one (removed on close) if omitted.
        outcome: ``outcome(job) -> "SUCCEEDED" | "FAILED"``, asked when a job leaves RUNNING.
        user_id: The Earthdata user the token belongs to.
        clock: ``clock() -> aware datetime``; default ``datetime.now(timezone.utc)``. Inject one
            to give jobs distinct ``request_time`` values (time-window searches).

    Attributes:
        url: ``http://127.0.0.1:<port>``; pass as ``hyp3_sdk.HyP3(api_url=...)``.
        application_status: ``/user`` status; anything but ``APPROVED`` makes ``POST /jobs`` 403.
        missing_granules: Granule names CMR "does not know": submissions using them answer 400.
        expired_status: Status of product requests for expired jobs (404 like a deleted S3
            object, or 403 like a bucket without ListBucket permission).
    """

    def __init__(
        self,
        credits: float | None = 8000,
        page_size: int = 50,
        token: str | None = None,
        polls_per_state: int = 1,
        product_factory: ProductFactory | None = None,
        tmpdir: Path | str | None = None,
        outcome: Outcome | None = None,
        user_id: str = "insarhub_tester",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._credits: Decimal | None = None if credits is None else Decimal(str(credits))
        self.credits_per_month = _number(self._credits)
        self.page_size = page_size
        self.token = token
        self.polls_per_state = polls_per_state
        self.outcome: Outcome = outcome or (lambda job: "SUCCEEDED")
        self.user_id = user_id
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(timezone.utc))
        self.application_status = "APPROVED"
        self.missing_granules: set[str] = set()
        self.expired_status = 404
        self._own_tmpdir = tmpdir is None
        self.tmpdir = Path(tempfile.mkdtemp(prefix="hyp3-standin-")) if tmpdir is None else Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.product_factory: ProductFactory = product_factory or (
            lambda job: make_product_zip(job, self.tmpdir)
        )
        self._jobs: dict[str, _Job] = {}
        self._seq = 0
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._truncated: dict[str, int | None] = {}
        self._corrupted: set[str] = set()
        self._bandwidth: float | None = None
        #: Exceptions raised inside request handling (answered as 500); tests may assert it is empty.
        self.errors: list[BaseException] = []

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="hyp3-standin",
        )
        self._thread.start()
        self._closed = False

    # ---- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> HyP3StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and remove the temporary product directory (if the stand-in made it)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._own_tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # ---- inspection ---------------------------------------------------------------------

    @property
    def credits(self) -> float | int | None:
        """Remaining credits (``None``: unlimited)."""
        with self._lock:
            return _number(self._credits)

    @credits.setter
    def credits(self, value: float | None) -> None:
        with self._lock:
            self._credits = None if value is None else Decimal(str(value))

    @property
    def jobs(self) -> dict[str, JobDict]:
        """All jobs by id, in submission order (copies of what the API would answer)."""
        with self._lock:
            return {job_id: copy.deepcopy(job.data) for job_id, job in self._jobs.items()}

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, method: str, path_prefix: str = "/") -> list[RecordedRequest]:
        """Recorded requests with this method whose path starts with ``path_prefix``."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def submitted_count(self, granules: Iterable[str]) -> int:
        """How many jobs were created for exactly this set of granules (order-insensitive)."""
        wanted = frozenset(granules)
        with self._lock:
            return sum(1 for job in self._jobs.values() if frozenset(job_granules(job.data)) == wanted)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    # ---- job control --------------------------------------------------------------------

    def advance(self, job_id: str | None = None, steps: int = 1) -> None:
        """Move one job (or every unfinished job) ``steps`` states forward."""
        with self._lock:
            targets = [self._job(job_id)] if job_id else list(self._jobs.values())
            for job in targets:
                for _ in range(steps):
                    self._step(job)

    def finish_all(self) -> None:
        """Drive every unfinished job to SUCCEEDED or FAILED (per ``outcome``)."""
        self.advance(steps=2)

    def forget(self, job_id: str) -> None:
        """Delete a job as HyP3 does with old records: ``GET /jobs/{id}`` then answers 404."""
        with self._lock:
            self._jobs.pop(job_id)

    def expire(self, job_id: str) -> None:
        """Set the job's ``expiration_time`` in the past; its files then answer ``expired_status``."""
        with self._lock:
            job = self._job(job_id)
            job.expired = True
            job.data["expiration_time"] = _iso(self.clock() - timedelta(days=1))

    def _job(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise KeyError(f"no such job: {job_id}") from None

    def _observe(self, job: _Job) -> None:
        """Count one observation (after the job was rendered) and advance if its time is up."""
        if self.polls_per_state <= 0 or job.data["status_code"] in ("SUCCEEDED", "FAILED"):
            return
        job.observations += 1
        if job.observations >= self.polls_per_state:
            self._step(job)

    def _step(self, job: _Job) -> None:
        data = job.data
        status = data["status_code"]
        job.observations = 0
        if status == "PENDING":
            data["status_code"] = "RUNNING"
            data["execution_started"] = True
        elif status == "RUNNING":
            result = self.outcome(copy.deepcopy(data))
            if result not in ("SUCCEEDED", "FAILED"):
                raise ValueError(f"outcome must return SUCCEEDED or FAILED, got {result!r}")
            self._complete(job, result)

    def _complete(self, job: _Job, status: str) -> None:
        data = job.data
        job_id = data["job_id"]
        base = f"{self.url}/products/{job_id}"
        now = self.clock()
        data["status_code"] = status
        data["expiration_time"] = _iso(now + PRODUCT_LIFETIME)
        if status == "SUCCEEDED":
            path = Path(self.product_factory(copy.deepcopy(data)))
            name = path.stem
            job.served[path.name] = path
            job.served[f"{name}_unw_phase.png"] = _tiny_png()
            job.served[f"{name}_unw_phase_thumb.png"] = _tiny_png()
            data["files"] = [
                {
                    "filename": path.name,
                    "size": path.stat().st_size,
                    "url": f"{base}/{path.name}",
                    "s3": {"bucket": CONTENT_BUCKET, "key": f"{job_id}/{path.name}"},
                }
            ]
            data["browse_images"] = [f"{base}/{name}_unw_phase.png"]
            data["thumbnail_images"] = [f"{base}/{name}_unw_phase_thumb.png"]
            data["logs"] = []
            data["processing_times"] = [1234.5]
        else:
            log = f"{job_id}.log"
            job.served[log] = (
                f"{_iso(now)} ERROR: {data['job_type']} processing failed for "
                f"{', '.join(job_granules(data))} (HyP3 stand-in)\n"
            ).encode()
            data["logs"] = [f"{base}/{log}"]
            data["processing_times"] = None

    # ---- fault switches -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int = 503,
        count: int = 1,
        retry_after: int | str | None = None,
        detail: str | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` *before* acting on them.

        The body is HyP3 problem JSON (``detail`` defaults to the API's 503 text) unless ``body``
        gives raw bytes (e.g. a gateway's non-JSON error page). ``retry_after`` sets a
        ``Retry-After`` header (429 gets ``"1"`` if not given). ``method`` ``"*"`` matches any.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(
                _Fault(
                    "fail",
                    method.upper(),
                    path_prefix,
                    count,
                    status=status,
                    retry_after=None if retry_after is None else str(retry_after),
                    detail=detail,
                    body=body,
                )
            )

    def lose_response_next(self, method: str = "POST", path_prefix: str = "/jobs", count: int = 1) -> None:
        """Act on the next ``count`` matching requests (create jobs, charge credits, ...), then
        close the connection without answering (the client sees a connection error)."""
        with self._lock:
            self._faults.append(_Fault("lose", method.upper(), path_prefix, count))

    def drop_download_after(self, nbytes: int, count: int = 1, target: str | None = None) -> None:
        """For the next ``count`` product GETs (of ``target`` job id / filename, if given): send
        the headers with the full ``Content-Length``, then ``nbytes`` of body, then close."""
        with self._lock:
            self._faults.append(_Fault("drop", "GET", "/products/", count, nbytes=nbytes, target=target))

    def truncate_download(self, target: str, keep: int | None = None) -> None:
        """Serve ``target`` (job id or filename) consistently shorter than its listed ``size``:
        only its first ``keep`` bytes (default: half), with a matching ``Content-Length``."""
        with self._lock:
            self._truncated[target] = keep

    def corrupt_download(self, target: str) -> None:
        """Serve ``target`` (job id or filename) with its listed size but some bytes flipped."""
        with self._lock:
            self._corrupted.add(target)

    def delay(
        self, seconds: float, method: str | None = None, path_prefix: str = "/", count: int | None = None
    ) -> None:
        """Wait ``seconds`` before answering matching requests (all of them by default, for
        ``count`` requests or until :meth:`reset_faults`). ``delay(0)`` removes delays."""
        with self._lock:
            self._faults = [f for f in self._faults if f.kind != "delay"]
            if seconds > 0:
                self._faults.append(
                    _Fault(
                        "delay",
                        None if method is None else method.upper(),
                        path_prefix,
                        count,
                        seconds=seconds,
                    )
                )

    def bandwidth_limit(self, bytes_per_second: float | None) -> None:
        """Pace every response body to ``bytes_per_second`` per connection (``None``: no limit)."""
        with self._lock:
            self._bandwidth = bytes_per_second

    def reset_faults(self) -> None:
        """Remove every fault switch (jobs, credits and recorded requests stay)."""
        with self._lock:
            self._faults.clear()
            self._truncated.clear()
            self._corrupted.clear()
            self._bandwidth = None

    def _take_fault(
        self, kind: str, method: str, path: str, target_names: Iterable[str] = ()
    ) -> _Fault | None:
        names = set(target_names)
        with self._lock:
            for fault in self._faults:
                if fault.kind != kind or not fault.matches(method, path):
                    continue
                if fault.target is not None and fault.target not in names:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    # ---- API ----------------------------------------------------------------------------

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() == "bearer" and credential:
            if self.token is not None and credential.strip() != self.token:
                raise _ApiError(401, "Invalid authorization token provided: Signature verification failed")
            return self.user_id
        if "asf-urs=" in headers.get("cookie", "") and self.token is None:
            return self.user_id
        raise _ApiError(401, "No authorization token provided")

    def _user(self, user_id: str) -> JobDict:
        with self._lock:
            names = sorted({j.data["name"] for j in self._jobs.values() if "name" in j.data})
            return {
                "application_status": self.application_status,
                "credits_per_month": self.credits_per_month,
                "job_names": names,
                "remaining_credits": _number(self._credits),
                "use_case": "Testing InSARHub for QGIS against a loopback HyP3.",
                "user_id": user_id,
            }

    def _post_jobs(self, body: Any, user_id: str) -> JobDict:
        if not isinstance(body, dict):
            raise _ApiError(400, "Request body is not a JSON object")
        if "jobs" not in body:
            raise _ApiError(400, "'jobs' is a required property")
        extra = sorted(set(body) - {"jobs", "validate_only"})
        if extra:
            raise _ApiError(
                400, f"Additional properties are not allowed ({', '.join(map(repr, extra))} was unexpected)"
            )
        validate_only = body.get("validate_only", False)
        if not isinstance(validate_only, bool):
            raise _ApiError(400, f"{validate_only!r} is not of type 'boolean' (validate_only)")
        jobs = body["jobs"]
        if not isinstance(jobs, list):
            raise _ApiError(400, f"{jobs!r} is not of type 'array' (jobs)")
        if not jobs:
            raise _ApiError(400, "[] is too short (jobs)")
        if len(jobs) > MAX_JOBS_PER_POST:
            raise _ApiError(400, f"list of {len(jobs)} jobs is too long (jobs: maxItems {MAX_JOBS_PER_POST})")
        new_jobs = [_normalise_new_job(job) for job in jobs]
        with self._lock:
            missing = sorted({g for job in new_jobs for g in job_granules(job)} & self.missing_granules)
            if missing:
                raise _ApiError(400, f"Some requested scenes could not be found: {', '.join(missing)}")
            status = self.application_status
            if status == "NOT_STARTED":
                raise _ApiError(
                    403, f"{user_id} must request access before submitting jobs. Visit {_HELP_URL}"
                )
            if status == "PENDING":
                raise _ApiError(
                    403,
                    f"{user_id}'s request for access is pending review. For more information, visit {_HELP_URL}",
                )
            if status == "REJECTED":
                raise _ApiError(
                    403,
                    f"{user_id}'s request for access has been rejected. For more information, visit {_HELP_URL}",
                )
            if status != "APPROVED":
                raise _ApiError(403, f"User {user_id} has an invalid application status: {status}")
            request_time = _iso(self.clock().replace(microsecond=0))
            remaining = self._credits
            total = Decimal("0.0")
            prepared = []
            for job in new_jobs:
                cost = _credit_cost(job)
                priority = 0 if remaining is None else min(round(remaining - total), 9999)
                prepared.append(
                    {
                        "job_id": str(uuid.uuid4()),
                        "user_id": user_id,
                        "status_code": "PENDING",
                        "execution_started": False,
                        "request_time": request_time,
                        "priority": priority,
                        **job,
                        "credit_cost": _number(cost),
                    }
                )
                total += cost
            if remaining is not None and total > remaining:
                raise _ApiError(
                    400, f"These jobs would cost {total} credits, but you have only {remaining} remaining."
                )
            if not validate_only:
                if remaining is not None:
                    self._credits = remaining - total
                for data in prepared:
                    self._seq += 1
                    self._jobs[data["job_id"]] = _Job(copy.deepcopy(data), self._seq)
        answer: JobDict = {"jobs": prepared}
        if "validate_only" in body:
            answer["validate_only"] = validate_only
        return answer

    def _get_jobs(self, query: Mapping[str, list[str]], user_id: str, path: str) -> JobDict:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        status_code, job_type, name = one("status_code"), one("job_type"), one("name")
        if status_code is not None and status_code not in STATUS_CODES:
            raise _ApiError(400, f"{status_code!r} is not one of {list(STATUS_CODES)!r} (status_code)")
        if job_type is not None and job_type not in JOB_SPECS:
            raise _ApiError(400, f"{job_type!r} is not one of {sorted(JOB_SPECS)!r} (job_type)")
        start = _parse_datetime(one("start"), "start") if one("start") else None
        end = _parse_datetime(one("end"), "end") if one("end") else None
        owner = one("user_id") or user_id
        token = one("start_token")
        after: str | None = None
        if token:
            try:
                after = json.loads(base64.b64decode(token.encode(), validate=True))["job_id"]
            except (binascii.Error, ValueError, KeyError, TypeError):
                raise _ApiError(400, "Invalid start_token value") from None
        with self._lock:
            ordered = sorted(
                (j for j in self._jobs.values() if j.data["user_id"] == owner),
                key=lambda j: (j.data["request_time"], j.seq),
                reverse=True,
            )
            if start is not None or end is not None:
                ordered = [
                    j
                    for j in ordered
                    if (start is None or datetime.fromisoformat(j.data["request_time"]) >= start)
                    and (end is None or datetime.fromisoformat(j.data["request_time"]) <= end)
                ]
            if after is not None:
                ids = [j.data["job_id"] for j in ordered]
                if after not in ids:
                    raise _ApiError(400, "Invalid start_token value")
                ordered = ordered[ids.index(after) + 1 :]

            def keep(j: _Job) -> bool:
                return (
                    (status_code is None or j.data["status_code"] == status_code)
                    and (job_type is None or j.data["job_type"] == job_type)
                    and (name is None or j.data.get("name") == name)
                )

            matching = [j for j in ordered if keep(j)]
            page, rest = matching[: self.page_size], matching[self.page_size :]
            answer: JobDict = {"jobs": [copy.deepcopy(j.data) for j in page]}
            for j in page:
                self._observe(j)
            if rest:
                last = page[-1].data
                key = {
                    "job_id": last["job_id"],
                    "user_id": last["user_id"],
                    "request_time": last["request_time"],
                }
                params = [(k, v) for k, values in query.items() if k != "start_token" for v in values]
                params.append(("start_token", base64.b64encode(json.dumps(key).encode()).decode()))
                answer["next"] = f"{self.url}{path}?{urlencode(params)}"
            return answer

    def _get_job(self, job_id: str) -> JobDict:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise _ApiError(404, f"job_id does not exist: {job_id}")
            answer = copy.deepcopy(job.data)
            self._observe(job)
            return answer

    def _api(
        self, method: str, path: str, query: Mapping[str, list[str]], body: Any, headers: Mapping[str, str]
    ) -> Any:
        """Route one API request; returns the JSON answer or raises ``_ApiError``."""
        if path == "/costs":
            if method != "GET":
                raise _ApiError(405, "The method is not allowed for the requested URL.")
            return copy.deepcopy(COSTS)
        if path in ("/user", "/jobs") or path.startswith("/jobs/"):
            user_id = self._authenticate(headers)
            if path == "/user" and method == "GET":
                return self._user(user_id)
            if path == "/jobs" and method == "POST":
                return self._post_jobs(body, user_id)
            if path == "/jobs" and method == "GET":
                return self._get_jobs(query, user_id, path)
            if path.startswith("/jobs/") and method == "GET" and path.count("/") == 2:
                return self._get_job(path.split("/")[2])
            raise _ApiError(405, "The method is not allowed for the requested URL.")
        raise _ApiError(
            404,
            "The requested URL was not found on the server. If you entered the URL manually please "
            "check your spelling and try again.",
        )

    # ---- products -----------------------------------------------------------------------

    def _product(self, path: str) -> tuple[str, str, bytes, str]:
        """Resolve ``/products/<job_id>/<filename>`` to the bytes to serve (faults applied) and
        the ETag (MD5 of the intact object, as S3 reports for single-part uploads)."""
        parts = path.split("/")
        if len(parts) != 4 or not parts[2] or not parts[3]:
            raise _ApiError(404, "NoSuchKey")
        job_id, filename = parts[2], parts[3]
        with self._lock:
            job = self._jobs.get(job_id)
            source = job.served.get(filename) if job else None
            if job is None or source is None:
                raise _ApiError(404, "NoSuchKey")
            if job.expired:
                raise _ApiError(
                    self.expired_status, "NoSuchKey" if self.expired_status == 404 else "AccessDenied"
                )
            truncate = next((t for t in (job_id, filename) if t in self._truncated), None)
            keep = self._truncated[truncate] if truncate is not None else None
            corrupt = job_id in self._corrupted or filename in self._corrupted
        data = source.read_bytes() if isinstance(source, Path) else source
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        if truncate is not None:
            data = data[: len(data) // 2 if keep is None else max(0, min(keep, len(data) - 1))]
        if corrupt and data:
            buf = bytearray(data)
            for k in range(8):
                pos = (len(buf) // 2 + k * 97) % len(buf)
                buf[pos] ^= 0xFF
            data = bytes(buf)
        return job_id, filename, data, etag


def _parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single ``bytes=`` range; ``None`` to serve everything.

    Raises ``_ApiError(416)`` if the range cannot be satisfied.
    """
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # unsupported or multi-range: ignore (RFC 9110 allows serving 200)
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else total - 1
        if last and end < start:
            return None
        if start >= total:
            raise _ApiError(416, "InvalidRange")
        return start, min(end, total - 1)
    suffix = int(last)
    if suffix == 0 or total == 0:
        raise _ApiError(416, "InvalidRange")
    return max(0, total - suffix), total - 1


def _s3_error(status: int, code: str, key: str) -> bytes:
    messages = {
        "NoSuchKey": "The specified key does not exist.",
        "AccessDenied": "Access Denied",
        "InvalidRange": "The requested range is not satisfiable",
    }
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{messages.get(code, code)}</Message>"
        f"<Key>{key}</Key><RequestId>STANDIN</RequestId></Error>"
    ).encode()


class _Server(ThreadingHTTPServer):
    """Threaded server with daemon threads, no join on close and a deep listen backlog."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default 5 makes bursts of parallel connects stall ~1 s
    stand_in: HyP3StandIn


class _Handler(BaseHTTPRequestHandler):
    """Per-connection request handler; all state lives on ``server.stand_in``."""

    protocol_version = "HTTP/1.1"
    server_version = "HyP3StandIn/1.0"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler API
        """Stay quiet; the stand-in records requests itself."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    # ---- plumbing -----------------------------------------------------------------------

    @property
    def stand_in(self) -> HyP3StandIn:
        assert isinstance(self.server, _Server)
        return self.server.stand_in

    def _dispatch(self, method: str) -> None:
        if self.stand_in._closed:  # a kept-alive connection outliving close(): act like a dead server
            self.close_connection = True
            return
        try:
            self._handle(method)
        except (ConnectionError, socket.timeout):
            self.close_connection = True  # the client went away
        except Exception as exc:  # a bug in the stand-in or a factory: make it visible
            with self.stand_in._lock:
                self.stand_in.errors.append(exc)
            self.close_connection = True
            try:
                payload = {"message": f"Internal server error ({type(exc).__name__}: {exc})"}
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                body = json.dumps(payload).encode()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass

    def _handle(self, method: str) -> None:
        stand_in = self.stand_in
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = RecordedRequest(method, path, query, body, headers)
        with stand_in._lock:
            stand_in._requests.append(record)

        delay = stand_in._take_fault("delay", method, path)
        if delay is not None:
            time.sleep(delay.seconds)

        failure = stand_in._take_fault("fail", method, path)
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            if failure.body is not None:
                self._send(record, failure.status, failure.body, "text/html", extra)
            else:
                detail = failure.detail or (
                    "HyP3 is currently unavailable. Please try again later."
                    if failure.status == 503
                    else http.client.responses.get(failure.status, "Error")
                )
                self._send_problem(record, failure.status, detail, extra)
            return

        lose = stand_in._take_fault("lose", method, path)
        if path.startswith("/products/") and method in ("GET", "HEAD"):
            self._serve_product(record, method, path, lose is not None)
            return
        if raw and not isinstance(body, (dict, list)) and method in ("POST", "PATCH", "PUT"):
            answer: Any = _ApiError(400, "Request body is not valid JSON")
        else:
            try:
                answer = stand_in._api(method, path, query, body, headers)
            except _ApiError as exc:
                answer = exc
        if lose is not None:
            self._drop(record)
            return
        if isinstance(answer, _ApiError):
            self._send_problem(record, answer.status, answer.detail)
        else:
            self._send(record, 200, json.dumps(answer).encode(), "application/json")

    def _drop(self, record: RecordedRequest) -> None:
        record.status = None
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_problem(
        self, record: RecordedRequest, status: int, detail: str, extra: Mapping[str, str] | None = None
    ) -> None:
        payload = {
            "detail": detail,
            "status": status,
            "title": http.client.responses.get(status, "Error"),
            "type": "about:blank",
        }
        self._send(record, status, json.dumps(payload).encode(), "application/problem+json", extra)

    def _send(
        self,
        record: RecordedRequest,
        status: int,
        payload: bytes,
        content_type: str,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self._write(payload)

    def _write(self, payload: bytes, limit: int | None = None) -> None:
        """Write ``payload`` (only ``limit`` bytes of it, if given), paced by the bandwidth limit."""
        data = payload if limit is None else payload[:limit]
        bps = self.stand_in._bandwidth
        if not bps:
            self.wfile.write(data)
            self.wfile.flush()
            return
        chunk = max(1, int(bps / 20))
        started = time.monotonic()
        sent = 0
        for offset in range(0, len(data), chunk):
            piece = data[offset : offset + chunk]
            self.wfile.write(piece)
            self.wfile.flush()
            sent += len(piece)
            wait = started + sent / bps - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _serve_product(self, record: RecordedRequest, method: str, path: str, lose: bool) -> None:
        stand_in = self.stand_in
        try:
            job_id, filename, data, etag = stand_in._product(path)
        except _ApiError as exc:
            if lose:
                self._drop(record)
                return
            code = exc.detail
            self._send(
                record, exc.status, _s3_error(exc.status, code, path[len("/products/") :]), "application/xml"
            )
            return
        total = len(data)
        try:
            rng = _parse_range(self.headers.get("Range"), total)
        except _ApiError:
            if lose:
                self._drop(record)
                return
            self._send(
                record,
                416,
                _s3_error(416, "InvalidRange", f"{job_id}/{filename}"),
                "application/xml",
                {"Content-Range": f"bytes */{total}"},
            )
            return
        if lose:
            self._drop(record)
            return
        status, start, end = (200, 0, total - 1) if rng is None else (206, rng[0], rng[1])
        body = data[start : end + 1]
        drop = stand_in._take_fault("drop", method, path, (job_id, filename)) if method == "GET" else None
        content_type = {
            ".zip": "application/zip",
            ".png": "image/png",
            ".log": "text/plain",
        }.get(Path(filename).suffix, "application/octet-stream")
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
        self.end_headers()
        if method == "HEAD":
            return
        if drop is not None:
            self._write(body, limit=drop.nbytes)
            self._drop(record)
            record.status = status
            return
        self._write(body)
