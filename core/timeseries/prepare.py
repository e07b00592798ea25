"""Find, check and window HyP3 InSAR products onto one common grid for MintPy, without copying them.

MintPy's HyP3 loader is strict in ways that fail silently, so everything it reads is prepared here:

* it keeps only the most common raster size and stacks same-size but shifted products misaligned, so every
  raster is presented on ONE grid: the intersection of all product extents (optionally with an AOI), on
  the products' own pixel lattice (whole-pixel windows, no resampling);
* it finds ``<product>.txt`` next to each raster by file-name prefix and writes ``.rsc`` files beside
  them, and a QGIS ``.aux.xml`` sidecar next to a raster crashes it: each product gets a fresh
  ``WORKDIR/inputs/<product>/`` holding a cleaned copy of the ``.txt`` and, per raster, a GDAL VRT
  (``<product>_<suffix>.vrt``, a few hundred bytes) that is a window of the product's own GeoTIFF (read
  in place, also inside its zip through ``/vsizip/``). MintPy reads those VRTs through GDAL, so no raster
  is rewritten: the preparation writes kilobytes, whatever the size of the stack;
* a phase of exactly 0 is nodata; truncated GeoTIFFs open but fail on read, so every window MintPy will
  read is read once here (which also gives the stack statistics the reference point is chosen from,
  saved to ``WORKDIR/insarhub_quality.npz``); broken, incomplete and duplicate products are skipped with
  a warning naming them;
* unwrapping-error correction needs MintPy's ``connectComponent`` dataset: the products' own
  ``_conncomp.tif`` (ISCE burst products) is windowed like the phase; a product without one (INSAR_GAMMA)
  gets a derived one (1 where the phase is valid, 0 where it is nodata or masked water), a VRT too.

Products must be of one kind (job type, burst or burst set, track, pixel size, polarisation): a folder
mixing kinds is refused naming the odd products, unless ``product_kind`` selects one. Products of another
UTM zone than the majority are warped (nearest neighbour, a warped VRT) onto the majority's pixel
lattice; too few interferograms or a disconnected pair network stop with an
:class:`~insarhub_qgis.core.errors.InputError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import shutil
import stat
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import CancelledError, InputError
from .prepared_stack import StackWriter, remove_prepared_stack

#: Raster suffixes MintPy reads per interferogram.
IFG_SUFFIXES = ("unw_phase", "corr")
#: Connected components of the unwrapping (ISCE products); derived from the valid phase where missing.
CONNCOMP_SUFFIX = "conncomp"
#: Raster suffixes of the geometry MintPy reads (from the first file of each glob only).
GEOMETRY_SUFFIXES = ("dem", "lv_theta", "lv_phi", "water_mask")
RASTER_SUFFIXES = IFG_SUFFIXES + (CONNCOMP_SUFFIX,) + GEOMETRY_SUFFIXES

#: ``mintpy.load.*File`` keys for each raster suffix.
LOAD_KEYS = {
    "unw_phase": "mintpy.load.unwFile",
    "corr": "mintpy.load.corFile",
    "conncomp": "mintpy.load.connCompFile",
    "dem": "mintpy.load.demFile",
    "lv_theta": "mintpy.load.incAngleFile",
    "lv_phi": "mintpy.load.azAngleFile",
    "water_mask": "mintpy.load.waterMaskFile",
}

MANIFEST_NAME = "insarhub_prepared.json"
QUALITY_NAME = "insarhub_quality.npz"
INPUTS_DIR = "inputs"
#: Extension of the windows MintPy reads (GDAL VRTs over the products' own GeoTIFFs).
RASTER_EXT = ".vrt"
# Files MintPy's load_data writes into WORKDIR/inputs; stale when the prepared products change.
MINTPY_LOADED_FILES = ("ifgramStack.h5", "geometryGeo.h5", "geometryRadar.h5", "ionStack.h5")
_FORMAT_VERSION = 3
_MIN_INTERFEROGRAMS = 3
_MIN_GRID_PX = 3
# The median of an interferogram's phase (its arbitrary constant) is estimated from at most this many pixels.
_MEDIAN_SAMPLE = 1_000_000

# Anchored HyP3 product names (the patterns of mintpy.prep_hyp3).
_NAME_PATTERNS = {
    "INSAR_ISCE_BURST": re.compile(
        r"^S1_(?P<burst>\d{6})_IW(?P<swath>[123])_(?P<ref>\d{8})_(?P<sec>\d{8})_(?P<pol>VV|HH)_"
        r"INT(?P<pixel>\d{2})_(?P<hex>[0-9A-F]{4})"
    ),
    "INSAR_ISCE_MULTI_BURST": re.compile(
        r"^S1_(?P<orbit>\d{3})_(?P<bursts>\d{6}s1n\d{2}-\d{6}s2n\d{2}-\d{6}s3n\d{2})_IW_(?P<ref>\d{8})_"
        r"(?P<sec>\d{8})_(?P<pol>VV|HH)_INT(?P<pixel>\d{2})_(?P<hex>[0-9A-F]{4})"
    ),
    "INSAR_GAMMA": re.compile(
        r"^S1[ABCD]{2}_(?P<ref>\d{8})T\d{6}_(?P<sec>\d{8})T\d{6}_(?P<pol>VV|HH)[PRO]\d{3,4}_"
        r"INT(?P<pixel>\d{2})_G_[uw][ec][123F]_(?P<hex>[0-9A-F]{4})"
    ),
}
# Keys mintpy.prep_hyp3.add_hyp3_metadata reads from every product's .txt (spaces removed).
_REQUIRED_TXT_KEYS = (
    "UTCtime",
    "Azimuthlooks",
    "Rangelooks",
    "Earthradiusatnadir",
    "Spacecraftheight",
    "Slantrangenear",
    "Heading",
    "Unwrappingtype",
    "Baseline",
)
# Sentinel-1: 175 orbits per 12-day cycle; ESA burst ids advance every 2.758273 s along the cycle.
_ORBIT_PERIOD_S = 12 * 86400.0 / 175
_BURST_PERIOD_S = 2.758273

Log = Callable[[str], None]


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class ProductName:
    """What a HyP3 InSAR product name says."""

    name: str
    job_type: str
    reference_date: dt.date
    secondary_date: dt.date
    polarization: str
    pixel_size_m: int
    relative_orbit: int | None  # from the name (multi-burst) or burst id (burst); None for GAMMA
    bursts: str = ""  # burst product: "056072_IW2"; multi-burst: "000000s1n00-093117s2n01-093118s3n01"


def parse_product_name(name: str) -> ProductName:
    """Parse a HyP3 InSAR product name (or a file name that starts with one).

    Raises ``ValueError`` when ``name`` is not one.
    """
    stem = Path(name).name
    if stem.lower().endswith(".zip"):
        stem = stem[:-4]
    for job_type, pattern in _NAME_PATTERNS.items():
        m = pattern.match(stem)
        if not m:
            continue
        ref, sec = (dt.datetime.strptime(m.group(k), "%Y%m%d").date() for k in ("ref", "sec"))
        orbit: int | None = None
        bursts = ""
        if job_type == "INSAR_ISCE_MULTI_BURST":
            orbit = int(m.group("orbit"))
            bursts = m.group("bursts")
        elif job_type == "INSAR_ISCE_BURST":
            orbit = int((int(m.group("burst")) - 1) * _BURST_PERIOD_S / _ORBIT_PERIOD_S) + 1
            bursts = f"{m.group('burst')}_IW{m.group('swath')}"
        return ProductName(
            m.group(0), job_type, ref, sec, m.group("pol"), int(m.group("pixel")), orbit, bursts
        )
    raise ValueError(f"not a HyP3 InSAR product name: {name}")


@dataclass(frozen=True)
class ProductKind:
    """What products must share to form one time series: job type, burst (set), track, pixel, polarisation.

    :attr:`key` (e.g. ``INSAR_ISCE_BURST/056072_IW2/ASC027/INT80/VV``) names the kind; any of its parts
    (``INSAR_GAMMA``, ``056072_IW2``, ``ASC027``...) selects it in ``prepare_products(product_kind=...)``.
    """

    job_type: str
    bursts: str
    track: str  # "ASC064" / "DSC093" ("ASC" alone when the relative orbit is unknown)
    pixel: str  # "INT80"
    polarization: str

    @property
    def parts(self) -> Tuple[str, ...]:
        """The non-empty parts of :attr:`key`."""
        return tuple(p for p in (self.job_type, self.bursts, self.track, self.pixel, self.polarization) if p)

    @property
    def key(self) -> str:
        """``JOB_TYPE/BURSTS/TRACK/INTxx/POL`` (the bursts part only for burst products)."""
        return "/".join(self.parts)

    def describe(self) -> str:
        """Words for a message, e.g. ``INSAR_ISCE_BURST, burst 056072_IW2, ascending track 27, 80 m, VV``."""
        direction = {"ASC": "ascending", "DSC": "descending"}.get(self.track[:3], "unknown direction")
        orbit = self.track[3:].lstrip("0") or "?"
        words = [self.job_type]
        if self.bursts:
            words.append(("burst " if self.job_type == "INSAR_ISCE_BURST" else "bursts ") + self.bursts)
        words += [f"{direction} track (relative orbit) {orbit}", f"{self.pixel[3:]} m", self.polarization]
        return ", ".join(words)

    def matches(self, selection: str) -> bool:
        """True when every part of ``selection`` (``/``, ``,``, ``:`` or blank separated) is one of ours."""
        wanted = [t for t in re.split(r"[/,:;\s]+", selection.strip().upper()) if t]
        ours = {p.upper() for p in self.parts}
        return bool(wanted) and all(t in ours for t in wanted)


@dataclass
class PreparedGrid:
    """The common pixel grid every clipped raster is on (north-up)."""

    geotransform: Tuple[float, float, float, float, float, float]
    crs_wkt: str
    epsg: int | None
    width: int
    height: int

    @property
    def shape(self) -> Tuple[int, int]:
        """Array shape ``(rows, columns)``."""
        return (self.height, self.width)

    @property
    def pixel_size_m(self) -> float:
        """Pixel size in CRS units (metres for UTM)."""
        return float(self.geotransform[1])

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in CRS units."""
        x0, dx, _, y0, _, dy = self.geotransform
        return (x0, y0 + dy * self.height, x0 + dx * self.width, y0)

    def rowcol_of(self, x: float, y: float) -> Tuple[int, int]:
        """``(row, column)`` of the pixel containing map coordinates ``(x, y)`` (may lie outside)."""
        x0, dx, _, y0, _, dy = self.geotransform
        return (int(math.floor((y - y0) / dy)), int(math.floor((x - x0) / dx)))

    def xy_of(self, row: int, col: int) -> Tuple[float, float]:
        """Map coordinates of the centre of pixel ``(row, col)``."""
        x0, dx, _, y0, _, dy = self.geotransform
        return (x0 + (col + 0.5) * dx, y0 + (row + 0.5) * dy)


@dataclass
class PreparedProduct:
    """One product kept for MintPy."""

    name: str
    job_type: str
    reference_date: dt.date
    secondary_date: dt.date
    source: Path  # the zip or folder it came from
    folder: Path  # WORKDIR/inputs/<name>, holding the raster windows (VRTs) and <name>.txt
    perp_baseline_m: float
    suffixes: List[str]  # raster suffixes prepared in ``folder``
    reprojected: bool = False  # warped from another CRS / pixel lattice
    conncomp_derived: bool = False  # no _conncomp.tif: 1 where the phase is valid, 0 elsewhere
    mean_coherence: float = float("nan")  # over the pixels with valid phase on the grid
    valid_fraction: float = float("nan")  # share of the grid with valid (non-zero) phase
    closure_corrected_px: int = 0  # pixels whose unwrapping error the phase closure corrected
    conncomp_labels: int = 0  # largest label of its _conncomp.tif on the grid (0: derived, none)
    # its _conncomp.tif is one label on every pixel of the grid (no 0, no other label): MintPy 1.6.4's
    # bridging cannot run on such an interferogram (it finds no boundary and stops with an IndexError)
    conncomp_whole: bool = False

    def raster(self, suffix: str) -> Path:
        """Path of the raster window ``<name>_<suffix>.vrt`` MintPy reads."""
        return self.folder / f"{self.name}_{suffix}{RASTER_EXT}"

    @property
    def pair(self) -> Tuple[dt.date, dt.date]:
        """``(reference_date, secondary_date)``."""
        return (self.reference_date, self.secondary_date)


@dataclass
class SkippedProduct:
    """A product left out, and why."""

    name: str
    source: Path
    reason: str


@dataclass
class Prepared:
    """What :func:`prepare_products` kept, skipped and made."""

    workdir: Path
    products: List[PreparedProduct]
    skipped: List[SkippedProduct]
    grid: PreparedGrid
    dates: List[dt.date]
    pairs: List[Tuple[dt.date, dt.date]]
    flight_direction: str
    relative_orbit: int | None
    geometry_product: str  # the product whose DEM / look vectors / water mask MintPy reads
    geometry_suffixes: List[str]
    warnings: List[str] = field(default_factory=list)
    reused: bool = False  # True when the prepared inputs of an identical earlier run were kept
    fingerprint: str = ""
    product_kind: str = ""  # ProductKind.key of the products used
    bytes_written: int = 0  # what the preparation wrote into the work folder (VRTs, .txt, statistics)
    unwrap_correction: str = ""  # what the phase-closure correction did, or why it could not run

    @property
    def inputs_dir(self) -> Path:
        """``WORKDIR/inputs`` (MintPy's own inputs folder, holding the prepared products)."""
        return self.workdir / INPUTS_DIR

    @property
    def closure_corrected(self) -> List[PreparedProduct]:
        """The products whose unwrapping errors the phase closure corrected."""
        return [p for p in self.products if p.closure_corrected_px]

    @property
    def conncomp_derived(self) -> int:
        """How many products have a derived (not an unwrapper's) connected-component raster."""
        return sum(1 for p in self.products if p.conncomp_derived)

    def file_glob(self, suffix: str) -> str:
        """The glob MintPy reads ``suffix`` rasters with, relative to the work folder."""
        return f"{INPUTS_DIR}/*/*_{suffix}{RASTER_EXT}"

    def load_globs(self) -> Dict[str, str]:
        """``mintpy.load.*File`` keys -> globs (relative to the work folder) of what was prepared."""
        out = {LOAD_KEYS[s]: self.file_glob(s) for s in IFG_SUFFIXES}
        has_conncomp = bool(self.products) and all(CONNCOMP_SUFFIX in p.suffixes for p in self.products)
        out[LOAD_KEYS[CONNCOMP_SUFFIX]] = self.file_glob(CONNCOMP_SUFFIX) if has_conncomp else "no"
        for suffix in GEOMETRY_SUFFIXES:
            out[LOAD_KEYS[suffix]] = self.file_glob(suffix) if suffix in self.geometry_suffixes else "no"
        return out

    def to_json(self) -> dict:
        """A JSON-serialisable form (see :func:`load_prepared`)."""
        data = asdict(self)

        def convert(value: object) -> object:
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [convert(v) for v in value]
            if isinstance(value, (dt.date, dt.datetime)):
                return value.isoformat()
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        out = convert(data)
        out["format_version"] = _FORMAT_VERSION  # type: ignore[index]
        return out  # type: ignore[return-value]

    @classmethod
    def from_json(cls, data: dict) -> Prepared:
        """Rebuild from :meth:`to_json` output."""
        day = dt.date.fromisoformat
        grid = data["grid"]

        def number(value: object) -> float:
            return float("nan") if value is None else float(value)  # type: ignore[arg-type]

        return cls(
            workdir=Path(data["workdir"]),
            products=[
                PreparedProduct(
                    name=p["name"],
                    job_type=p["job_type"],
                    reference_date=day(p["reference_date"]),
                    secondary_date=day(p["secondary_date"]),
                    source=Path(p["source"]),
                    folder=Path(p["folder"]),
                    perp_baseline_m=float(p["perp_baseline_m"]),
                    suffixes=list(p["suffixes"]),
                    reprojected=bool(p.get("reprojected", False)),
                    conncomp_derived=bool(p.get("conncomp_derived", False)),
                    mean_coherence=number(p.get("mean_coherence")),
                    valid_fraction=number(p.get("valid_fraction")),
                    closure_corrected_px=int(p.get("closure_corrected_px", 0)),
                    conncomp_labels=int(p.get("conncomp_labels", 0)),
                    conncomp_whole=bool(p.get("conncomp_whole", False)),
                )
                for p in data["products"]
            ],
            skipped=[SkippedProduct(s["name"], Path(s["source"]), s["reason"]) for s in data["skipped"]],
            grid=PreparedGrid(
                geotransform=tuple(float(v) for v in grid["geotransform"]),  # type: ignore[arg-type]
                crs_wkt=grid["crs_wkt"],
                epsg=grid["epsg"],
                width=int(grid["width"]),
                height=int(grid["height"]),
            ),
            dates=[day(d) for d in data["dates"]],
            pairs=[(day(a), day(b)) for a, b in data["pairs"]],
            flight_direction=data["flight_direction"],
            relative_orbit=data["relative_orbit"],
            geometry_product=data["geometry_product"],
            geometry_suffixes=list(data["geometry_suffixes"]),
            warnings=list(data.get("warnings", [])),
            reused=bool(data.get("reused", False)),
            fingerprint=data.get("fingerprint", ""),
            product_kind=data.get("product_kind", ""),
            bytes_written=int(data.get("bytes_written", 0)),
            unwrap_correction=data.get("unwrap_correction", ""),
        )


def load_prepared(workdir: os.PathLike | str) -> Prepared:
    """The :class:`Prepared` of the last successful :func:`prepare_products` in ``workdir``."""
    path = Path(workdir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(
            f"'{workdir}' holds no prepared products ({path.name} is missing or unreadable); "
            "run the preparation first."
        ) from exc
    return Prepared.from_json(data)


# ------------------------------------------------------------------------------------ GDAL helpers
@contextmanager
def _gdal_errors(pam: bool = False) -> Iterator[None]:
    """GDAL raising Python exceptions, and (unless ``pam``) writing no ``.aux.xml`` sidecars, within this
    block only.

    Both are process-wide switches in GDAL's Python bindings; the QGIS process and other plugins must find
    them as they were.
    """
    from osgeo import gdal

    had_exceptions = bool(gdal.GetUseExceptions())
    old_pam = gdal.GetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    gdal.UseExceptions()
    if not pam:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "NO")
    try:
        yield
    finally:
        if not pam:
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", old_pam)
        if not had_exceptions:
            gdal.DontUseExceptions()


def _srs(text_or_wkt: str):  # -> osr.SpatialReference
    from osgeo import osr

    srs = osr.SpatialReference()
    try:
        ok = srs.SetFromUserInput(text_or_wkt) == 0
    except RuntimeError:
        ok = False
    if not ok:
        raise InputError(f"The CRS '{text_or_wkt[:80]}' is not known; give it as EPSG:xxxx or as WKT.")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _epsg_of(wkt: str) -> int | None:
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    try:
        srs.AutoIdentifyEPSG()
    except RuntimeError:
        pass
    code = srs.GetAuthorityCode(None)
    return int(code) if code and code.isdigit() else None


def transform_bounds(
    bounds: Tuple[float, float, float, float], source_wkt: str, target_wkt: str, inner: bool = False
) -> Tuple[float, float, float, float]:
    """Bounds ``(xmin, ymin, xmax, ymax)`` transformed between CRSs along densified edges.

    ``inner=False`` gives the box enclosing the transformed rectangle; ``inner=True`` the largest box
    inside it (for a slightly rotated rectangle: the inner edges).
    """
    from osgeo import osr

    src, dst = _srs(source_wkt), _srs(target_wkt)
    if src.IsSame(dst):
        return bounds
    tr = osr.CoordinateTransformation(src, dst)
    xmin, ymin, xmax, ymax = bounds
    n = 21
    steps = [i / (n - 1) for i in range(n)]
    edges = {
        "left": [(xmin, ymin + t * (ymax - ymin)) for t in steps],
        "right": [(xmax, ymin + t * (ymax - ymin)) for t in steps],
        "bottom": [(xmin + t * (xmax - xmin), ymin) for t in steps],
        "top": [(xmin + t * (xmax - xmin), ymax) for t in steps],
    }
    out = {k: [tr.TransformPoint(x, y)[:2] for x, y in pts] for k, pts in edges.items()}
    if inner:
        return (
            max(x for x, _ in out["left"]),
            max(y for _, y in out["bottom"]),
            min(x for x, _ in out["right"]),
            min(y for _, y in out["top"]),
        )
    xs = [x for pts in out.values() for x, _ in pts]
    ys = [y for pts in out.values() for _, y in pts]
    return (min(xs), min(ys), max(xs), max(ys))


# --------------------------------------------------------------------------------------- discovery
@dataclass
class _Candidate:
    """A product found in the products folder, before any check."""

    name: str
    source: Path  # zip file or the folder holding NAME_*.tif
    is_zip: bool

    @property
    def mtime(self) -> float:
        try:
            return self.source.stat().st_mtime
        except OSError:
            return 0.0


def _is_product_name(text: str) -> bool:
    try:
        return parse_product_name(text).name == text
    except ValueError:
        return False


def find_products(folder: Path, exclude: Sequence[Path] = (), max_depth: int = 4) -> List[_Candidate]:
    """Zips named like HyP3 products and folders holding ``NAME_unw_phase.tif`` (or named ``NAME``).

    ``exclude`` folders (the work folder) are not searched. A product found both zipped and unpacked is
    returned twice; :func:`prepare_products` prefers the unpacked one.
    """
    folder = Path(folder)
    excluded = {os.path.realpath(p) for p in exclude}
    found: List[_Candidate] = []
    root_depth = len(folder.resolve().parts)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        depth = len(here.resolve().parts) - root_depth
        keep = []
        for d in sorted(dirnames):
            full = here / d
            if d.startswith(".") or os.path.realpath(full) in excluded:
                continue
            if _is_product_name(d):
                found.append(_Candidate(d, full, False))  # don't descend into product folders
            elif depth < max_depth:
                keep.append(d)
        dirnames[:] = keep
        if _is_product_name(here.name) and here != folder:
            continue
        for f in sorted(filenames):
            if f.lower().endswith(".zip") and _is_product_name(f[:-4]):
                found.append(_Candidate(f[:-4], here / f, True))
            elif f.endswith("_unw_phase.tif") and _is_product_name(f[: -len("_unw_phase.tif")]):
                name = f[: -len("_unw_phase.tif")]
                if here.name != name:  # loose files of a product in a shared folder
                    found.append(_Candidate(name, here, False))
    if _is_product_name(folder.name):  # the folder given is itself one product
        found.append(_Candidate(folder.name, folder, False))
    return found


# ----------------------------------------------------------------------------------------- reading
def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be extracted, or None."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return f"absolute path '{name}'"
    if ".." in re.split(r"[\\/]", name):
        return f"path leaving the product folder '{name}'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"symbolic link '{name}'"
    return None


class _ProductFiles:
    """Access to one candidate's .txt and rasters, zipped or not."""

    def __init__(self, cand: _Candidate) -> None:
        self.cand = cand
        self.members: Dict[str, str] = {}  # basename -> zip member name
        if cand.is_zip:
            try:
                with zipfile.ZipFile(cand.source) as zf:
                    infos = zf.infolist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise _Skip(f"the zip cannot be read ({exc}); download it again") from exc
            for info in infos:
                why = _unsafe_member(info)
                if why:
                    raise _Skip(f"the zip holds an unsafe member ({why}); it was not unpacked")
                base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                if base.startswith(cand.name) and not info.is_dir():
                    self.members.setdefault(base, info.filename)

    def has(self, basename: str) -> bool:
        if self.cand.is_zip:
            return basename in self.members
        return (self.cand.source / basename).is_file()

    def gdal_path(self, basename: str) -> str:
        if self.cand.is_zip:
            return f"/vsizip/{self.cand.source}/{self.members[basename]}"
        return str(self.cand.source / basename)

    def read_text(self, basename: str) -> str:
        if self.cand.is_zip:
            with zipfile.ZipFile(self.cand.source) as zf:
                return zf.read(self.members[basename]).decode("utf-8", "replace")
        return (self.cand.source / basename).read_text(encoding="utf-8", errors="replace")

    def stats(self) -> List[Tuple[str, int, int]]:
        """(file, size, mtime_ns) of what is read, for the rerun fingerprint."""
        if self.cand.is_zip:
            st = self.cand.source.stat()
            return [(str(self.cand.source), st.st_size, st.st_mtime_ns)]
        out = []
        for p in [self.cand.source / f"{self.cand.name}_{s}.tif" for s in RASTER_SUFFIXES] + [
            self.cand.source / f"{self.cand.name}.txt"
        ]:
            if p.is_file():
                st = p.stat()
                out.append((str(p), st.st_size, st.st_mtime_ns))
        return out


class _Skip(Exception):
    """A product cannot be used; the message says why."""


@dataclass
class _Raster:
    path: str  # GDAL path
    geotransform: Tuple[float, ...]
    width: int
    height: int
    crs_wkt: str  # "" when not asked for (only the unwrapped phase's is)
    data_type: str = "Float32"  # GDAL data type name of band 1
    nodata: float | None = None


def _open_raster(path: str, validate: bool, crs: bool = True) -> _Raster:
    """Header of a raster (size, geotransform, band 1 type and nodata; its CRS when ``crs``)."""
    from osgeo import gdal

    try:
        ds = gdal.Open(path)
        if ds is None:
            raise RuntimeError("GDAL cannot open it")
        if validate:
            for b in range(1, ds.RasterCount + 1):
                ds.GetRasterBand(b).Checksum()  # reads every block: a truncated file fails here
        gt = tuple(ds.GetGeoTransform())
        band = ds.GetRasterBand(1)
        out = _Raster(
            path,
            gt,
            ds.RasterXSize,
            ds.RasterYSize,
            ds.GetProjection() if crs else "",
            gdal.GetDataTypeName(band.DataType),
            band.GetNoDataValue(),
        )
        ds = None
    except RuntimeError as exc:
        raise _Skip(
            f"{Path(path).name} is unreadable or truncated ({exc}); download the product again"
        ) from exc
    if crs and not out.crs_wkt:
        raise _Skip(f"{Path(path).name} has no coordinate reference system")
    if gt[2] != 0 or gt[4] != 0 or gt[1] <= 0 or gt[5] >= 0:
        raise _Skip(f"{Path(path).name} is not a north-up raster")
    return out


def _parse_txt(text: str) -> Dict[str, str]:
    """``Key: value`` lines, keys with spaces removed (as MintPy reads them)."""
    meta: Dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.strip().split(":", 1)
        meta[key.replace(" ", "")] = value.strip()
    return meta


def _clean_txt(text: str) -> str:
    """The .txt as MintPy can read it: only non-empty ``Key: value`` lines (MintPy splits every line on
    ``:``)."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "".join(f"{line}\n" for line in lines if ":" in line and line.split(":", 1)[0].strip())


def _relative_orbit_from_txt(meta: Dict[str, str]) -> int | None:
    """Relative orbit of an INSAR_GAMMA product from its reference granule and absolute orbit, the way
    ``mintpy.prep_hyp3`` computes it."""
    granule = meta.get("ReferenceGranule", "")
    try:
        abs_orbit = int(meta.get("ReferenceOrbitNumber", ""))
    except ValueError:
        return None
    sat = granule[:3]
    if sat == "S1A":
        return (abs_orbit - 73) % 175 + 1
    if sat == "S1B":
        return (abs_orbit - 202) % 175 + 1
    if sat == "S1C":
        return (abs_orbit - 172) % 175 + 1 if abs_orbit <= 8018 else (abs_orbit - 99) % 175 + 1
    if sat == "S1D":
        return (abs_orbit - 42) % 175 + 1
    return None


@dataclass
class _Inspected:
    """A candidate that passed every check of pass 1."""

    cand: _Candidate
    parsed: ProductName
    files: _ProductFiles
    txt: str
    rasters: Dict[str, _Raster]
    flight_direction: str
    relative_orbit: int | None
    perp_baseline_m: float
    warp: bool = False

    @property
    def ref(self) -> _Raster:
        return self.rasters["unw_phase"]

    @property
    def kind(self) -> ProductKind:
        track = ("ASC" if self.flight_direction == "ASCENDING" else "DSC") + (
            f"{self.relative_orbit:03d}" if self.relative_orbit is not None else ""
        )
        p = self.parsed
        return ProductKind(p.job_type, p.bursts, track, f"INT{p.pixel_size_m}", p.polarization)


def _inspect(cand: _Candidate, warn_optional: Callable[[str], None]) -> _Inspected:
    """Pass 1: name, metadata and raster headers only (no pixel is read)."""
    parsed = parse_product_name(cand.name)
    files = _ProductFiles(cand)
    txt_name = f"{cand.name}.txt"
    if not files.has(txt_name):
        raise _Skip(f"its metadata file {txt_name} is missing (incomplete product)")
    txt = files.read_text(txt_name)
    meta = _parse_txt(txt)
    missing = [k for k in _REQUIRED_TXT_KEYS if not meta.get(k)]
    if missing:
        raise _Skip(f"{txt_name} lacks {', '.join(missing)} (incomplete product)")
    try:
        perp_baseline_m = float(meta["Baseline"])
        heading = float(meta["Heading"])
    except ValueError as exc:
        raise _Skip(f"{txt_name} has an unreadable Baseline or Heading ({exc})") from exc
    rasters: Dict[str, _Raster] = {}
    for suffix in IFG_SUFFIXES:
        base = f"{cand.name}_{suffix}.tif"
        if not files.has(base):
            raise _Skip(f"{base} is missing (incomplete product)")
        rasters[suffix] = _open_raster(files.gdal_path(base), validate=False, crs=suffix == "unw_phase")
    ref = rasters["unw_phase"]
    for suffix in (CONNCOMP_SUFFIX,) + GEOMETRY_SUFFIXES:
        base = f"{cand.name}_{suffix}.tif"
        if not files.has(base):
            continue
        try:
            rasters[suffix] = _open_raster(files.gdal_path(base), validate=False, crs=False)
        except _Skip as exc:
            warn_optional(f"{cand.name}: {exc}; its {suffix} is not used")
    for suffix, r in list(rasters.items()):
        same = (r.width, r.height) == (ref.width, ref.height) and all(
            math.isclose(a, b, abs_tol=1e-6) for a, b in zip(r.geotransform, ref.geotransform)
        )
        if not same:
            if suffix in IFG_SUFFIXES:
                raise _Skip(f"its {suffix} raster is not on the grid of its unwrapped phase")
            warn_optional(f"{cand.name}: its {suffix} raster is not on the grid of its phase; not used")
            del rasters[suffix]
    direction = meta.get("ReferencePassDirection", "").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        direction = "ASCENDING" if abs(((heading + 180.0) % 360.0) - 180.0) < 90 else "DESCENDING"
    orbit = parsed.relative_orbit if parsed.relative_orbit is not None else _relative_orbit_from_txt(meta)
    return _Inspected(cand, parsed, files, txt, rasters, direction, orbit, perp_baseline_m)


# ----------------------------------------------------------------------------------------- network
def _network_components(pairs: Sequence[Tuple[dt.date, dt.date]]) -> List[List[dt.date]]:
    import networkx as nx

    graph = nx.Graph()
    graph.add_edges_from(pairs)
    return sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c[0]))


def _names(items: Sequence[str], limit: int = 6) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -------------------------------------------------------------------------------------------- grid
def _lattice_offset(value: float, origin: float, pixel: float) -> float:
    """How far ``value`` is from the lattice through ``origin``, in pixels (0 = on the lattice)."""
    steps = (value - origin) / pixel
    return abs(steps - round(steps))


def _snap(value: float, origin: float, pixel: float, how: str) -> float:
    steps = (value - origin) / pixel
    if abs(steps - round(steps)) < 1e-6:
        steps = round(steps)
    k = math.floor(steps) if how == "down" else math.ceil(steps)
    return origin + k * pixel


def _aoi_bounds(
    aoi_wkt_wgs84: str | None,
    extent: Sequence | None,
    target_wkt: str,
) -> Tuple[float, float, float, float] | None:
    """The AOI polygon and/or extent as one box in the products' CRS (their intersection)."""
    from osgeo import ogr, osr

    boxes: List[Tuple[float, float, float, float]] = []
    target = _srs(target_wkt)
    if aoi_wkt_wgs84:
        try:
            geom = ogr.CreateGeometryFromWkt(aoi_wkt_wgs84)
        except RuntimeError as exc:
            raise InputError(f"The AOI is not valid WKT ({exc}).") from exc
        if geom is None or geom.IsEmpty():
            raise InputError("The AOI geometry is empty.")
        wgs84 = _srs("EPSG:4326")
        geom.AssignSpatialReference(wgs84)
        geom.Segmentize(0.01)  # degrees: follow the curvature of the transformed edges
        geom.Transform(osr.CoordinateTransformation(wgs84, target))
        minx, maxx, miny, maxy = geom.GetEnvelope()
        boxes.append((minx, miny, maxx, maxy))
    if extent is not None:
        if len(extent) != 5:
            raise InputError("EXTENT must be (xmin, ymin, xmax, ymax, crs).")
        xmin, ymin, xmax, ymax = (float(v) for v in extent[:4])
        if not (xmin < xmax and ymin < ymax):
            raise InputError(f"The extent {xmin}, {ymin}, {xmax}, {ymax} is empty (min must be below max).")
        crs = str(extent[4] or "EPSG:4326")
        boxes.append(transform_bounds((xmin, ymin, xmax, ymax), _srs(crs).ExportToWkt(), target_wkt))
    if not boxes:
        return None
    return (
        max(b[0] for b in boxes),
        max(b[1] for b in boxes),
        min(b[2] for b in boxes),
        min(b[3] for b in boxes),
    )


# ----------------------------------------------------------------------------------------- writing
def _vsimem_text(path: str) -> str:
    from osgeo import gdal

    handle = gdal.VSIFOpenL(path, "rb")
    try:
        gdal.VSIFSeekL(handle, 0, 2)
        size = gdal.VSIFTellL(handle)
        gdal.VSIFSeekL(handle, 0, 0)
        return bytes(gdal.VSIFReadL(1, size, handle)).decode("utf-8")
    finally:
        gdal.VSIFCloseL(handle)
        gdal.Unlink(path)


def _window_vrt(raster: _Raster, grid: PreparedGrid, warp: bool) -> str:
    """The XML of a VRT presenting ``raster`` on ``grid``: a whole-pixel window of it, or (``warp``, other
    CRS or pixel lattice) a warped VRT resampling it with nearest neighbour. No pixel is read or written."""
    from xml.sax.saxutils import escape

    from osgeo import gdal

    src_path, src_gt = raster.path, raster.geotransform
    if not warp:
        col = int(round((grid.geotransform[0] - src_gt[0]) / src_gt[1]))
        row = int(round((grid.geotransform[3] - src_gt[3]) / src_gt[5]))
        w, h = grid.width, grid.height
        # the part of the window inside the source (a window reaching outside reads nodata there)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + w, raster.width), min(row + h, raster.height)
        nodata = "" if raster.nodata is None else f"    <NoDataValue>{raster.nodata!r}</NoDataValue>\n"
        return (
            f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">\n'
            f"  <SRS>{escape(grid.crs_wkt)}</SRS>\n"
            f"  <GeoTransform>{', '.join(repr(float(v)) for v in grid.geotransform)}</GeoTransform>\n"
            f'  <VRTRasterBand dataType="{raster.data_type}" band="1">\n' + nodata + "    <SimpleSource>\n"
            f'      <SourceFilename relativeToVRT="0">{escape(src_path)}</SourceFilename>\n'
            "      <SourceBand>1</SourceBand>\n"
            f'      <SourceProperties RasterXSize="{raster.width}" RasterYSize="{raster.height}" '
            f'DataType="{raster.data_type}"/>\n'
            f'      <SrcRect xOff="{c0}" yOff="{r0}" xSize="{c1 - c0}" ySize="{r1 - r0}"/>\n'
            f'      <DstRect xOff="{c0 - col}" yOff="{r0 - row}" xSize="{c1 - c0}" ySize="{r1 - r0}"/>\n'
            + "    </SimpleSource>\n"
            "  </VRTRasterBand>\n"
            "</VRTDataset>\n"
        )
    tmp = f"/vsimem/insarhub_{os.getpid()}_{id(grid)}_{abs(hash(src_path))}.vrt"
    xmin, ymin, xmax, ymax = grid.bounds
    src = gdal.Open(src_path)
    out = gdal.Warp(
        tmp,
        src,
        format="VRT",
        dstSRS=grid.crs_wkt,
        outputBounds=(xmin, ymin, xmax, ymax),
        width=grid.width,
        height=grid.height,
        resampleAlg="near",
        srcNodata=raster.nodata,
        dstNodata=raster.nodata,
    )
    src = None
    if out is None:
        raise RuntimeError(f"GDAL could not make a window of {src_path}")
    out.FlushCache()
    out = None
    return _vsimem_text(tmp)


def _derived_conncomp_vrt(unw_vrt_name: str, grid: PreparedGrid) -> str:
    """The XML of a Byte VRT that is 1 where the unwrapped phase (the VRT ``unw_vrt_name`` beside it) is valid
    and 0 where it is nodata (0): the connected components of a product without an unwrapper's ones (one
    component, cut by masked water and nodata), so that MintPy's unwrapping-error corrections can run."""
    from xml.sax.saxutils import escape

    w, h = grid.width, grid.height
    return (
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">\n'
        f"  <SRS>{escape(grid.crs_wkt)}</SRS>\n"
        f"  <GeoTransform>{', '.join(repr(float(v)) for v in grid.geotransform)}</GeoTransform>\n"
        '  <VRTRasterBand dataType="Byte" band="1">\n'
        "    <Description>connected components derived from the valid unwrapped phase</Description>\n"
        "    <ComplexSource>\n"
        f'      <SourceFilename relativeToVRT="1">{escape(unw_vrt_name)}</SourceFilename>\n'
        "      <SourceBand>1</SourceBand>\n"
        f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>\n'
        f'      <DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>\n'
        "      <NODATA>0</NODATA>\n"
        "      <LUT>-3.4e38:1,-1e-30:1,0:0,1e-30:1,3.4e38:1</LUT>\n"
        "    </ComplexSource>\n"
        "  </VRTRasterBand>\n"
        "</VRTDataset>\n"
    )


def _read_all(path: Path) -> np.ndarray:
    """Every pixel of band 1 of ``path`` (a prepared window); raises RuntimeError on a damaged file."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    if ds is None:
        raise RuntimeError(f"GDAL cannot open {path.name}")
    data = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    if data is None:
        raise RuntimeError(f"GDAL could not read {path.name}")
    return data


class _Quality:
    """Stack statistics gathered while every window is read once: average coherence, where every
    interferogram is valid (and in a connected component), and a quick stacked phase rate (rad/year) -
    what the reference point is chosen from (:func:`~.config.choose_reference`) - plus each
    interferogram's mean coherence and valid share."""

    def __init__(self, shape: Tuple[int, int], n_ifg: int) -> None:
        self.shape = shape
        self.count = n_ifg
        self.coh_sum = np.zeros(shape, dtype=np.float32)
        self.phase_sum = np.zeros(shape, dtype=np.float32)
        self.years_sum = np.zeros(shape, dtype=np.float32)
        self.valid = np.ones(shape, dtype=bool)
        self.valid_conncomp = np.ones(shape, dtype=bool)
        self.ifg_coh_sum = np.zeros(n_ifg)
        self.ifg_valid = np.zeros(n_ifg, dtype=np.int64)

    def add_rows(
        self,
        r0: int,
        phase: np.ndarray,
        coh: np.ndarray,
        conncomp_ok: np.ndarray,
        years: np.ndarray,
        offsets: np.ndarray,
    ) -> None:
        """Rows ``r0...`` of every interferogram: ``(interferograms, rows, columns)`` arrays; ``offsets``: each
        interferogram's typical phase (its arbitrary constant), ``years``: its time span."""
        rows = slice(r0, r0 + phase.shape[1])
        ok = np.isfinite(phase) & (phase != 0.0) & np.isfinite(coh) & (coh > 0.0)
        self.valid[rows] &= ok.all(axis=0)
        self.valid_conncomp[rows] &= (ok & conncomp_ok).all(axis=0)
        good_coh = np.where(ok, coh, np.float32(0.0))
        self.coh_sum[rows] += good_coh.sum(axis=0, dtype=np.float32)
        self.ifg_coh_sum += good_coh.sum(axis=(1, 2), dtype=np.float64)
        del good_coh
        weight = ok.astype(np.float32)  # per-interferogram sums of valid pixels as products with it
        self.phase_sum[rows] += np.where(ok, phase, np.float32(0.0)).sum(axis=0, dtype=np.float32) - np.tensordot(
            offsets.astype(np.float32), weight, axes=1
        )
        self.years_sum[rows] += np.tensordot(years.astype(np.float32), weight, axes=1)
        self.ifg_valid += ok.sum(axis=(1, 2))

    def ifg_stats(self, k: int) -> Tuple[float, float]:
        """``(mean coherence, valid share)`` of interferogram ``k``."""
        n = int(self.ifg_valid[k])
        mean = float(self.ifg_coh_sum[k] / n) if n else float("nan")
        return mean, n / max(self.shape[0] * self.shape[1], 1)

    def save(self, path: Path, fingerprint: str) -> None:
        rate = np.where(self.years_sum > 0, self.phase_sum / np.maximum(self.years_sum, 1e-9), np.nan)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(  # uncompressed: noisy floats hardly compress, and this is read once
            tmp,
            fingerprint=np.array(fingerprint),
            coherence=(self.coh_sum / max(self.count, 1)).astype(np.float32),
            valid=self.valid,
            valid_conncomp=self.valid_conncomp,
            rate=rate.astype(np.float32),
        )
        os.replace(tmp, path)


def load_quality(
    prepared: Prepared, in_conncomp: bool = False
) -> Tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(average coherence, valid in every interferogram, stacked phase rate in rad/year)`` that
    :func:`prepare_products` saved for ``prepared``, or None when missing or of other products.
    ``in_conncomp``: "valid" also means inside a connected component (non-zero) of every interferogram."""
    path = prepared.workdir / QUALITY_NAME
    try:
        with np.load(path) as data:
            if str(data["fingerprint"]) != prepared.fingerprint:
                return None
            valid = data["valid_conncomp"] if in_conncomp else data["valid"]
            out = (data["coherence"], valid.astype(bool), data["rate"])
    except (OSError, KeyError, ValueError):
        return None
    if any(a.shape != prepared.grid.shape for a in out):
        return None
    return out


def _corrected_phase_vrt(original_vrt: str, cycles_tif: str, grid: PreparedGrid) -> str:
    """The XML of a VRT whose pixels are the phase of ``original_vrt`` plus 2 pi times the whole cycles of
    ``cycles_tif`` (both beside it): an unwrapping-error correction applied on the fly, no phase copied."""
    from xml.sax.saxutils import escape

    w, h = grid.width, grid.height
    rect = f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/><DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
    return (
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">\n'
        f"  <SRS>{escape(grid.crs_wkt)}</SRS>\n"
        f"  <GeoTransform>{', '.join(repr(float(v)) for v in grid.geotransform)}</GeoTransform>\n"
        '  <VRTRasterBand dataType="Float32" band="1" subClass="VRTDerivedRasterBand">\n'
        "    <Description>unwrapped phase, corrected for unwrapping errors (phase closure)</Description>\n"
        "    <NoDataValue>0</NoDataValue>\n"
        "    <PixelFunctionType>sum</PixelFunctionType>\n"
        "    <SourceTransferType>Float64</SourceTransferType>\n"
        "    <SimpleSource>\n"
        f'      <SourceFilename relativeToVRT="1">{escape(original_vrt)}</SourceFilename>\n'
        f"      <SourceBand>1</SourceBand>\n      {rect}\n"
        "    </SimpleSource>\n"
        "    <ComplexSource>\n"
        f'      <SourceFilename relativeToVRT="1">{escape(cycles_tif)}</SourceFilename>\n'
        f"      <SourceBand>1</SourceBand>\n      {rect}\n"
        f"      <ScaleOffset>0</ScaleOffset>\n      <ScaleRatio>{repr(2.0 * math.pi)}</ScaleRatio>\n"
        "    </ComplexSource>\n"
        "  </VRTRasterBand>\n"
        "</VRTDataset>\n"
    )


@dataclass
class _Pass:
    """What one read of every window gave."""

    quality: _Quality | None
    failed: Dict[str, str]  # product name -> why
    corrected_px: Dict[str, int]  # product name -> pixels corrected by phase closure
    closure_note: str  # what the phase-closure correction did or why it could not run
    components: Dict[str, int] = field(default_factory=dict)  # largest conncomp label (0: derived)
    whole: Dict[str, bool] = field(default_factory=dict)  # one conncomp label on the whole grid
    stack: str = ""  # "" or why the stack for MintPy could not be written (``stack`` of _window_pass)


def _allow_open_files(count: int) -> None:
    """Raise this process's soft limit of open files towards ``count`` (never above the hard limit; a
    no-op where there is no such limit)."""
    try:
        import resource
    except ImportError:  # Windows: no per-process soft limit of this kind
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        target = count if hard == resource.RLIM_INFINITY else min(count, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _drop_from_page_cache(paths: Sequence[str]) -> None:
    """Tell the kernel the files ``paths`` will not be read again soon (``POSIX_FADV_DONTNEED``; a no-op
    where there is no such call). The preparation reads every product once: without this, their pages push
    the stack MintPy reads next (written meanwhile) out of memory, and MintPy's first steps read it back
    from the disk (8 s of reference_point on a frame)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _sample_is_enough(phase: np.ndarray, coherence: np.ndarray, corrector: object, min_px: int) -> bool:
    """Whether a sample ``(interferograms, pixels)`` of the stack has at least ``min_px`` valid pixels in
    every interferogram and (``corrector``, one with triangles) usable pixels in every triangle."""
    valid = (np.isfinite(phase) & (phase != 0.0)).sum(axis=1)
    if valid.size and int(valid.min()) < min_px:
        return False
    if corrector is None:
        return True
    return int(corrector.usable_pixels(phase, coherence).min()) >= min_px  # type: ignore[attr-defined]


def _window_pass(
    folders: Dict[str, Path],
    order: List[_Inspected],
    derived: Dict[str, bool],
    grid: PreparedGrid,
    *,
    closure: bool,
    check_cancel: Callable[[], None],
    progress: Callable[[float], None],
    block_bytes: int = 256 << 20,
    min_sample_px: int = 20_000,
    stack: StackWriter | None = None,
) -> _Pass:
    """Read every window MintPy will read once, in blocks of rows across all interferograms: validates them,
    gathers the stack statistics and (``closure``) finds and corrects unwrapping errors from the phase
    closure of triangles (:mod:`.closure`), writing the whole cycles of each corrected interferogram beside
    its window (``<name>.unwrap_cycles.tif``, mostly zeros) and making its ``_unw_phase.vrt`` add them.

    ``stack``: also hand every block, as corrected, to this writer of MintPy's interferogram stack
    (:mod:`.prepared_stack`), so that MintPy does not read the products again; blocks then start at
    multiples of its chunk rows. The writer is closed (or aborted) before the pass returns.

    Time is linear in the number of products; memory about twice ``block_bytes`` (the block being corrected
    and the next one, read meanwhile; two more with a ``stack``, one queued and one being sent) plus a few
    grid-sized arrays.
    """
    from osgeo import gdal

    from .closure import ClosureCorrector

    names = [i.cand.name for i in order]
    components = {name: 0 for name in names}  # the largest connected-component label of each product
    lowest = {name: 1 << 30 for name in names}  # and its smallest label (0 where a pixel is in none)
    n = len(order)
    height, width = grid.shape
    failed: Dict[str, str] = {}
    datasets: Dict[Tuple[str, str], object] = {}

    def vrt(name: str, suffix: str) -> Path:
        return folders[name] / f"{name}_{suffix}{RASTER_EXT}"

    # Every source stays open for the whole pass. The products' own GeoTIFFs are read directly at their
    # window's offset: through the VRTs, GDAL's pool of VRT sources (100 by default) would close and reopen
    # them for every block of rows once there are more than about 33 products.
    offsets: Dict[Tuple[str, str], Tuple[int, int]] = {}
    wanted = [
        (i, s)
        for i in order
        for s in ("unw_phase", "corr") + (() if derived[i.cand.name] else (CONNCOMP_SUFFIX,))
    ]
    _allow_open_files(len(wanted) + 64)
    for item, suffix in wanted:
        name = item.cand.name
        try:
            if item.warp:  # another CRS or lattice: read the warped VRT
                ds, offset = gdal.Open(str(vrt(name, suffix))), (0, 0)
            else:
                src = item.rasters[suffix]
                ds = gdal.Open(src.path)
                offset = (
                    int(round((grid.geotransform[0] - src.geotransform[0]) / src.geotransform[1])),
                    int(round((grid.geotransform[3] - src.geotransform[3]) / src.geotransform[5])),
                )
            if ds is None:
                raise RuntimeError("GDAL cannot open it")
            datasets[(name, suffix)] = ds
            offsets[(name, suffix)] = offset
        except RuntimeError as exc:
            failed.setdefault(name, f"its {suffix} cannot be opened ({exc})")
    if failed:
        return _Pass(None, failed, {}, "")

    def rows_of(name: str, suffix: str, r0: int, r1: int) -> np.ndarray:
        col, row = offsets[(name, suffix)]
        ds = datasets[(name, suffix)]
        data = ds.GetRasterBand(1).ReadAsArray(col, row + r0, width, r1 - r0)  # type: ignore[attr-defined]
        if data is None:
            raise RuntimeError("GDAL could not read it")
        return data

    keep_labels = stack is not None and not all(derived[name] for name in names)

    def fill(arrays: Tuple[np.ndarray, ...], r0: int, r1: int, ks: range) -> None:
        phase, coh, cc_ok, kept_labels = arrays
        for k in ks:
            name = names[k]
            try:
                phase[k] = rows_of(name, "unw_phase", r0, r1)
                coh[k] = rows_of(name, "corr", r0, r1)
                if not derived[name]:
                    labels = rows_of(name, CONNCOMP_SUFFIX, r0, r1)
                    cc_ok[k] = labels > 0
                    if kept_labels is not None:
                        kept_labels[k] = labels
                    if labels.size:
                        components[name] = max(components[name], int(labels.max()))
                        lowest[name] = min(lowest[name], int(labels.min()))
            except RuntimeError as exc:
                failed.setdefault(name, f"it is unreadable or truncated ({exc}); download it again")

    # Blocks are read by two threads, each the rows of every other product (GDAL decodes and inflates
    # outside Python's lock), while the main thread corrects the block before: on a frame-sized stack
    # reading takes longer than correcting. A product's datasets are only ever used by one thread at a time.
    readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="insarhub-windows")

    def start_block(r0: int, r1: int) -> Tuple[Tuple[np.ndarray, ...], list]:
        arrays = (
            np.zeros((n, r1 - r0, width), dtype=np.float32),
            np.zeros((n, r1 - r0, width), dtype=np.float32),
            np.ones((n, r1 - r0, width), dtype=bool),
            np.zeros((n, r1 - r0, width), dtype=np.int16) if keep_labels else None,
        )
        return arrays, [readers.submit(fill, arrays, r0, r1, range(part, n, 2)) for part in (0, 1)]

    def finish_block(started: Tuple[Tuple[np.ndarray, ...], list]) -> Tuple[np.ndarray, ...]:
        arrays, jobs = started
        for job in jobs:
            job.result()
        return arrays

    def read_block(r0: int, r1: int) -> Tuple[np.ndarray, ...]:
        return finish_block(start_block(r0, r1))

    try:
        pairs = [(i.parsed.reference_date, i.parsed.secondary_date) for i in order]
        years = np.array([(b - a).days / 365.25 for a, b in pairs])
        corrector = ClosureCorrector(pairs) if closure else None
        note = ""
        if corrector is not None and corrector.n_triangles == 0:
            note = (
                "Phase closure cannot check the interferograms for unwrapping errors: the network has no closed "
                "triangle of dates (a-b, b-c, a-c). Add such pairs (selectpairs with NEIGHBOURS >= 2) to have "
                "them corrected."
            )
            corrector = None
        halo = corrector.window_px // 2 + 1 if corrector is not None else 0  # the majority and the 3 x 3 mean
        rows_per_block = max(8, int(block_bytes // max(1, n * width * (11 if keep_labels else 9))))
        if stack is not None:  # whole chunks of rows of MintPy's datasets per block: each written once
            chunk_rows = stack.start()
            rows_per_block = max(chunk_rows, rows_per_block // chunk_rows * chunk_rows)
        blocks = [(r0, min(height, r0 + rows_per_block)) for r0 in range(0, height, rows_per_block)]

        def with_halo(r0: int, r1: int) -> Tuple[int, int]:
            return max(0, r0 - halo), min(height, r1 + halo)

        # Each interferogram's typical phase and the triangles' constants come from a sample: the first block
        # (read first anyway, and kept for the pass), or the whole grid when it is one block. Only when the
        # first block has too few usable pixels (sea, say) are rows spread over the grid read for it: in
        # products zipped with DEFLATE, as HyP3's are, reading down to the last row costs inflating every
        # window once more (a third of the preparation of a frame).
        first = read_block(*with_halo(*blocks[0]))
        if failed:
            return _Pass(None, failed, {}, "")
        s_phase, s_coh = first[0].reshape(n, -1), first[1].reshape(n, -1)  # views: the block is not changed
        if len(blocks) > 1 and not _sample_is_enough(s_phase, s_coh, corrector, min_sample_px):
            starts = sorted({int(v) for v in np.linspace(0, max(0, height - 8), 12)})
            sample = [read_block(r, min(height, r + 8)) for r in starts]
            s_phase = np.concatenate([b[0] for b in sample], axis=1).reshape(n, -1)
            s_coh = np.concatenate([b[1] for b in sample], axis=1).reshape(n, -1)
            del sample
            if failed:
                return _Pass(None, failed, {}, "")
        typical = np.zeros(n)  # each interferogram's median phase (the window offsets above are another thing)
        for k in range(n):
            ok = (s_phase[k] != 0) & np.isfinite(s_phase[k])
            typical[k] = float(np.median(s_phase[k][ok])) if ok.any() else 0.0
        if corrector is not None:
            corrector.fit_constants(s_phase, s_coh)
        del s_phase, s_coh

        quality = _Quality(grid.shape, n)
        corrected = {name: 0 for name in names}
        cycles_ds: Dict[str, object] = {}
        driver = gdal.GetDriverByName("GTiff")
        # While a block is corrected, the next one is read (start_block): at most two blocks are in memory.
        with readers:
            pending = None
            for index, (r0, r1) in enumerate(blocks):
                check_cancel()
                h0, h1 = with_halo(r0, r1)
                if index == 0:
                    phase, coh, cc_ok, labels = first
                    first = None
                else:
                    phase, coh, cc_ok, labels = finish_block(pending)
                following = blocks[index + 1] if index + 1 < len(blocks) else None
                pending = start_block(*with_halo(*following)) if following else None
                if failed:
                    return _Pass(None, failed, {}, "")
                inner = slice(r0 - h0, r0 - h0 + (r1 - r0))
                if corrector is not None:
                    cycles = corrector.solve(phase.reshape(n, -1), coh.reshape(n, -1), shape=phase.shape[1:]).cycles
                    cycles = cycles.reshape(phase.shape)
                    for k in np.nonzero(cycles.any(axis=(1, 2)))[0]:
                        kept = corrector.majority(cycles[k], phase[k] != 0)[inner]
                        if not kept.any():
                            continue
                        name = names[k]
                        if name not in cycles_ds:
                            cycles_ds[name] = driver.Create(
                                str(folders[name] / f"{name}.unwrap_cycles.tif"),
                                width,
                                height,
                                1,
                                gdal.GDT_Int16,
                                ["COMPRESS=DEFLATE", "TILED=YES", "SPARSE_OK=TRUE"],
                            )
                            cycles_ds[name].SetGeoTransform(grid.geotransform)
                            cycles_ds[name].SetProjection(grid.crs_wkt)
                        cycles_ds[name].GetRasterBand(1).WriteArray(kept.astype(np.int16), 0, r0)
                        corrected[name] += int(np.count_nonzero(kept))
                        # in double, cast once: the sum the corrected VRT gives MintPy (_corrected_phase_vrt)
                        phase[k, inner] = (phase[k, inner] + 2.0 * np.pi * kept).astype(np.float32)
                quality.add_rows(r0, phase[:, inner], coh[:, inner], cc_ok[:, inner], years, typical)
                if stack is not None:
                    stack.put(r0, r1, phase[:, inner], coh[:, inner], None if labels is None else labels[:, inner])
                del phase, coh, cc_ok, labels
                progress(100.0 * r1 / height)
        datasets.clear()
        _drop_from_page_cache(
            sorted(
                {str(i.cand.source) for i in order if i.cand.is_zip}
                | {r.path for i in order if not i.cand.is_zip for r in i.rasters.values()}
            )
        )
        for name, ds in cycles_ds.items():
            ds.FlushCache()
            cycles_ds[name] = None
            original = f"{name}_unw_phase.original{RASTER_EXT}"
            os.replace(vrt(name, "unw_phase"), folders[name] / original)
            vrt(name, "unw_phase").write_text(_corrected_phase_vrt(original, f"{name}.unwrap_cycles.tif", grid))
        if corrector is not None:
            unchecked = [names[k] for k in range(n) if not corrector.in_triangle[k]]
            total = sum(corrected.values())
            touched = sorted((name for name in names if corrected[name]), key=lambda m: -corrected[m])
            note = (
                f"Unwrapping errors (phase closure of {corrector.n_triangles} triangles, pixel by pixel): "
                + (
                    f"corrected {total} pixels in {len(touched)} of {n} interferograms ("
                    + ", ".join(f"{m}: {corrected[m]}" for m in touched[:8])
                    + (f" and {len(touched) - 8} more" if len(touched) > 8 else "")
                    + ")."
                    if total
                    else f"none found in the {n} interferograms."
                )
                + (
                    f" {len(unchecked)} interferograms belong to no triangle and could not be checked "
                    f"({_names(unchecked, 4)})."
                    if unchecked
                    else ""
                )
            )
        whole = {name: not derived[name] and 0 < lowest[name] == components[name] for name in names}
        stack_error = ""
        if stack is not None and not stack.close():
            stack_error = stack.error or "it is incomplete"
        return _Pass(quality, {}, corrected, note, components, whole, stack_error)
    finally:  # also after a failure or a cancel: wait for the reads under way, stop the stack's writer
        readers.shutdown(wait=True)
        if stack is not None:
            stack.abort()


def remove_sidecars(folder: Path) -> List[Path]:
    """Delete sidecar files (``*.aux.xml``, ``*.tif.xml``, ``*.ovr``, stale ``*.rsc``) that break or
    mislead MintPy's loader from the product folders below ``folder``; return what was removed."""
    removed: List[Path] = []
    if not folder.is_dir():
        return removed
    for sub in folder.iterdir():
        if not sub.is_dir() or not _is_product_name(sub.name):
            continue
        for f in sub.iterdir():
            if f.name.endswith((".aux.xml", ".tif.xml", ".vrt.xml", ".ovr", ".msk")):
                f.unlink()
                removed.append(f)
    return removed


def _fingerprint(inspected: Sequence[_Inspected], grid: PreparedGrid, geometry: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([_FORMAT_VERSION, asdict(grid), geometry], sort_keys=True).encode())
    for item in sorted(inspected, key=lambda i: i.cand.name):
        h.update(json.dumps([item.cand.name, item.warp, sorted(item.rasters), item.files.stats()]).encode())
    return h.hexdigest()


def _noop(_: str) -> None:
    pass


def _never() -> bool:
    return False


def _kind_message(groups: Dict[ProductKind, List[str]], folder: Path, selection: str | None) -> str:
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0].key))
    lines = [
        f"{kind.describe()} [{kind.key}]: {len(names)} products ({_names(sorted(names), 4)})"
        for kind, names in ordered
    ]
    if selection:
        matching = [k for k, _ in ordered if k.matches(selection)]
        how = "none" if not matching else f"{len(matching)}"
        return (
            f"PRODUCT_KIND '{selection}' matches {how} of the kinds of product in '{folder}': "
            + "; ".join(lines)
            + ". Set PRODUCT_KIND to one of "
            + ", ".join(f"'{k.key}'" for k, _ in ordered)
            + " (or a part of it that names one kind only, e.g. the job type or burst id)."
        )
    odd = sorted(n for _, names in ordered[1:] for n in names)
    return (
        f"The products folder '{folder}' mixes {len(groups)} kinds of product (job types, bursts or tracks), "
        "which cannot form one time series: "
        + "; ".join(lines)
        + f". The odd ones out: {_names(odd, 10)}. Move the products of other kinds to their own folder, or "
        f"set PRODUCT_KIND to '{ordered[0][0].key}' (or another kind) to use only the products of that kind."
    )


# --------------------------------------------------------------------------------------------- main
def prepare_products(
    products_folder: os.PathLike | str,
    workdir: os.PathLike | str,
    *,
    aoi_wkt_wgs84: str | None = None,
    extent: Sequence | None = None,
    product_kind: str | None = None,
    unwrap_correction: bool = True,
    log: Log = _noop,
    warn: Log | None = None,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] = _never,
    mintpy_python: str | None = None,
    mintpy_env: Mapping[str, str] | None = None,
) -> Prepared:
    """Find and check the HyP3 InSAR products of ``products_folder`` and present them on one common grid
    in ``workdir/inputs`` (as windows, VRTs; no raster is copied).

    Parameters
    ----------
    products_folder: folder searched (4 levels deep) for product zips ``NAME.zip`` and unpacked
        products (``NAME/`` folders, or ``NAME_*.tif`` + ``NAME.txt`` lying in a shared folder);
        INSAR_GAMMA, INSAR_ISCE_BURST and INSAR_ISCE_MULTI_BURST names. ``workdir`` is never searched.
    workdir: the work folder (created; must be writable). Each product gets ``workdir/inputs/<product>/``
        (its ``.txt`` and one VRT per raster, each a window of the product's own GeoTIFF on the common
        grid), a record of the preparation goes to ``workdir/insarhub_prepared.json`` and the stack
        statistics to ``workdir/insarhub_quality.npz``. The products themselves are only read.
    aoi_wkt_wgs84: optional AOI, WKT in EPSG:4326 (lon lat); the grid is cut to its bounding box.
    extent: optional ``(xmin, ymin, xmax, ymax, crs)`` (crs as ``EPSG:xxxx`` or WKT; default
        EPSG:4326); intersected with the AOI when both are given.
    product_kind: use only the products of this kind when the folder holds several (a
        :attr:`ProductKind.key` such as ``INSAR_ISCE_BURST/056072_IW2/ASC027/INT80/VV``, or any part of it
        that names one kind, e.g. ``INSAR_GAMMA`` or ``056072_IW2``); the others are listed as skipped.
        None: a folder of several kinds is refused.
    unwrap_correction: find and correct unwrapping errors pixel by pixel from the phase closure of the
        network's triangles (:mod:`.closure`); a corrected interferogram's window adds the whole cycles
        (``<name>.unwrap_cycles.tif``, the only raster written, mostly zeros) on the fly.
    log, warn: receive progress messages and warnings (``warn`` defaults to ``log``).
    progress: receives the percentage done (0-100).
    is_cancelled: polled between products; :class:`CancelledError` when it returns True.
    mintpy_python: MintPy's interpreter (``mintpy_env``: the base of its environment, see
        :func:`~.run.mintpy_environment`): while reading the products,
        also write the interferogram stack MintPy's ``load_data`` would write
        (``workdir/inputs/insarhub_stack.h5``, see :mod:`.stack_worker`), so that MintPy does not read the
        products again. When that fails, a warning says why and MintPy reads them itself.

    Every window MintPy will read is read once here (a truncated GeoTIFF opens but fails on read), in
    time linear in the number of products and memory of a few grid-sized arrays.

    Returns
    -------
    :class:`Prepared`: the kept products, the skipped ones with reasons, the common grid, dates, pairs.
    A second call with the same products and AOI reuses the prepared inputs (``reused=True``) so MintPy can
    skip its finished steps; when they changed, they and MintPy's loaded stacks are replaced.

    Raises
    ------
    InputError: no products, products of several kinds (job type, burst, track, pixel size, polarisation)
        without a ``product_kind``, fewer than three usable interferograms, a disconnected pair network, no
        common overlap, or an AOI outside it.
    CancelledError: when ``is_cancelled`` returned True.
    """
    products_folder = Path(products_folder).absolute()
    workdir = Path(workdir).absolute()
    warnings: List[str] = []

    def _warn(message: str) -> None:
        warnings.append(message)
        (warn or (lambda m: log(f"Warning: {m}")))(message)

    def _progress(percent: float) -> None:
        if progress is not None:
            progress(max(0.0, min(100.0, percent)))

    def _check_cancel() -> None:
        if is_cancelled():
            raise CancelledError("Preparing the products was cancelled.")

    if not products_folder.is_dir():
        raise InputError(f"The products folder '{products_folder}' does not exist or is not a folder.")
    workdir.mkdir(parents=True, exist_ok=True)
    if not os.access(workdir, os.W_OK):
        raise InputError(f"The work folder '{workdir}' is not writable; choose another one.")

    with _gdal_errors():
        # ---- pass 1: find and check names, metadata and raster headers (no pixel read)
        candidates = find_products(products_folder, exclude=[workdir])
        if not candidates:
            raise InputError(
                f"No HyP3 InSAR products (NAME.zip or unpacked NAME/ folders, e.g. "
                f"S1AA_20200102T135156_20200114T135157_VVP012_INT80_G_ueF_1A2B.zip) were found in "
                f"'{products_folder}'. Download the finished products into it first."
            )
        by_name: Dict[str, List[_Candidate]] = defaultdict(list)
        for cand in candidates:
            by_name[cand.name].append(cand)
        skipped: List[SkippedProduct] = []
        inspected: List[_Inspected] = []
        log(f"Checking {len(by_name)} products in {products_folder}...")
        for k, name in enumerate(sorted(by_name)):
            _check_cancel()
            # an unpacked copy first (already verified by the download), then the zip
            options = sorted(by_name[name], key=lambda c: (c.is_zip, str(c.source)))
            reasons: List[str] = []
            for cand in options:
                try:
                    inspected.append(_inspect(cand, _warn))
                    break
                except _Skip as exc:
                    reasons.append(str(exc))
                except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
                    reasons.append(f"it cannot be read ({exc})")
            else:
                skipped.append(SkippedProduct(name, options[0].source, "; ".join(reasons)))
                _warn(f"Skipped product {name}: {'; '.join(reasons)}")
            _progress(10.0 * (k + 1) / len(by_name))

        if not inspected:
            raise InputError(
                f"None of the {len(by_name)} products in '{products_folder}' can be used: "
                + "; ".join(f"{s.name}: {s.reason}" for s in skipped[:5])
            )

        # ---- one kind: job type, burst (set), track, pixel size, polarisation
        kinds: Dict[ProductKind, List[str]] = defaultdict(list)
        for item in inspected:
            kinds[item.kind].append(item.cand.name)
        if product_kind and product_kind.strip():
            chosen = [k for k in kinds if k.matches(product_kind)]
            if len(chosen) != 1:
                raise InputError(_kind_message(kinds, products_folder, product_kind.strip()))
            kind = chosen[0]
            for item in [i for i in inspected if i.kind != kind]:
                reason = f"it is of another kind ({item.kind.key}) than PRODUCT_KIND selects ({kind.key})"
                skipped.append(SkippedProduct(item.cand.name, item.cand.source, reason))
            left_out = [i.cand.name for i in inspected if i.kind != kind]
            if left_out:
                _warn(
                    f"Used only the {len(kinds[kind])} products of kind {kind.key}; left out "
                    f"{len(left_out)} of other kinds: {_names(sorted(left_out))}"
                )
            inspected = [i for i in inspected if i.kind == kind]
        elif len(kinds) > 1:
            raise InputError(_kind_message(kinds, products_folder, None))
        kind = inspected[0].kind
        flight_direction, relative_orbit = inspected[0].flight_direction, inspected[0].relative_orbit

        # ---- one product per pair (within the one kind): keep the newest, name the others
        by_pair: Dict[Tuple[dt.date, dt.date], List[_Inspected]] = defaultdict(list)
        for item in inspected:
            by_pair[(item.parsed.reference_date, item.parsed.secondary_date)].append(item)
        inspected = []
        for pair, items in sorted(by_pair.items()):
            items.sort(key=lambda i: (i.cand.mtime, i.cand.name), reverse=True)
            inspected.append(items[0])
            for dup in items[1:]:
                reason = (
                    f"duplicate of {items[0].cand.name} (same pair {pair[0]:%Y%m%d}-{pair[1]:%Y%m%d} and "
                    "kind, older file)"
                )
                skipped.append(SkippedProduct(dup.cand.name, dup.cand.source, reason))
                _warn(f"Skipped product {dup.cand.name}: {reason}; kept {items[0].cand.name}")

        # ---- one CRS and pixel lattice: the majority's
        crs_groups: Dict[str, List[_Inspected]] = defaultdict(list)
        for item in inspected:
            key = str(_epsg_of(item.ref.crs_wkt) or item.ref.crs_wkt)
            crs_groups[key].append(item)
        major_key = max(sorted(crs_groups), key=lambda k: len(crs_groups[k]))
        major = crs_groups[major_key]
        pixel_sizes = Counter(round(i.ref.geotransform[1], 6) for i in major)
        pixel = pixel_sizes.most_common(1)[0][0]
        anchor = sorted(
            (
                i
                for i in major
                if math.isclose(i.ref.geotransform[1], pixel) and math.isclose(-i.ref.geotransform[5], pixel)
            ),
            key=lambda i: i.cand.name,
        )[0]
        crs_wkt = anchor.ref.crs_wkt
        x_origin, y_origin = anchor.ref.geotransform[0], anchor.ref.geotransform[3]
        kept: List[_Inspected] = []
        reprojected: List[str] = []
        for item in inspected:
            gt = item.ref.geotransform
            same_crs = _srs(item.ref.crs_wkt).IsSame(_srs(crs_wkt))
            if same_crs:
                if not (
                    math.isclose(gt[1], pixel, rel_tol=1e-6) and math.isclose(-gt[5], pixel, rel_tol=1e-6)
                ):
                    reason = f"its pixel size {gt[1]:g} differs from the {pixel:g} of most products"
                    skipped.append(SkippedProduct(item.cand.name, item.cand.source, reason))
                    _warn(f"Skipped product {item.cand.name}: {reason}")
                    continue
                if (
                    _lattice_offset(gt[0], x_origin, pixel) > 1e-3
                    or _lattice_offset(gt[3], y_origin, pixel) > 1e-3
                ):
                    item.warp = True
                    reprojected.append(item.cand.name)
            else:
                if abs(abs(gt[1]) - pixel) / pixel > 0.01:
                    reason = f"its pixel size {gt[1]:g} differs from the {pixel:g} of most products"
                    skipped.append(SkippedProduct(item.cand.name, item.cand.source, reason))
                    _warn(f"Skipped product {item.cand.name}: {reason}")
                    continue
                item.warp = True
                reprojected.append(item.cand.name)
            kept.append(item)
        if reprojected:
            epsg = _epsg_of(crs_wkt)
            _warn(
                f"{len(reprojected)} products are in another CRS (UTM zone) or off the pixel lattice of the "
                f"other {len(kept) - len(reprojected)}; they are resampled (nearest neighbour) onto "
                f"EPSG:{epsg or '?'} / {pixel:g} m: {_names(reprojected)}"
            )

        # ---- enough interferograms in one connected network
        def check_network(items: Sequence[_Inspected]) -> None:
            if len(items) < _MIN_INTERFEROGRAMS:
                raise InputError(
                    f"Only {len(items)} usable interferogram(s) remain"
                    + (f" ({len(skipped)} products were skipped)" if skipped else "")
                    + f"; a time series needs at least {_MIN_INTERFEROGRAMS} connected ones. "
                    "Add products (more pairs) to the products folder."
                )
            components = _network_components(
                [(i.parsed.reference_date, i.parsed.secondary_date) for i in items]
            )
            if len(components) > 1:
                groups = "; ".join(
                    f"{c[0]:%Y-%m-%d} to {c[-1]:%Y-%m-%d} ({len(c)} dates)" for c in components
                )
                raise InputError(
                    f"The interferogram network falls apart into {len(components)} groups of dates that share "
                    f"no pair: {groups}. MintPy needs one connected network: add pairs linking the groups "
                    "(e.g. a pair from the last date of one group to the first of the next)."
                )

        check_network(kept)
        aoi = _aoi_bounds(aoi_wkt_wgs84, extent, crs_wkt)

        # ---- the common grid
        def common_grid(items: Sequence[_Inspected]) -> PreparedGrid:
            boxes = []
            for item in items:
                gt, r = item.ref.geotransform, item.ref
                box = (gt[0], gt[3] + gt[5] * r.height, gt[0] + gt[1] * r.width, gt[3])
                if item.warp:
                    box = transform_bounds(box, r.crs_wkt, crs_wkt, inner=True)
                boxes.append(box)
            xmin = _snap(max(b[0] for b in boxes), x_origin, pixel, "up")
            ymin = _snap(max(b[1] for b in boxes), y_origin, pixel, "up")
            xmax = _snap(min(b[2] for b in boxes), x_origin, pixel, "down")
            ymax = _snap(min(b[3] for b in boxes), y_origin, pixel, "down")
            if xmax - xmin < _MIN_GRID_PX * pixel or ymax - ymin < _MIN_GRID_PX * pixel:
                raise InputError(
                    "The products do not overlap (their common area is smaller than "
                    f"{_MIN_GRID_PX}x{_MIN_GRID_PX} pixels); they must all cover the same ground."
                )
            if aoi is not None:
                # every pixel touching the AOI's bounding box, within the common overlap
                axmin = max(xmin, _snap(aoi[0], x_origin, pixel, "down"))
                aymin = max(ymin, _snap(aoi[1], y_origin, pixel, "down"))
                axmax = min(xmax, _snap(aoi[2], x_origin, pixel, "up"))
                aymax = min(ymax, _snap(aoi[3], y_origin, pixel, "up"))
                if axmax - axmin < _MIN_GRID_PX * pixel or aymax - aymin < _MIN_GRID_PX * pixel:
                    raise InputError(
                        "The AOI/extent does not overlap the area all products cover "
                        f"(x {xmin:.0f} to {xmax:.0f}, y {ymin:.0f} to {ymax:.0f} in EPSG:{_epsg_of(crs_wkt)}) "
                        f"by at least {_MIN_GRID_PX}x{_MIN_GRID_PX} pixels; draw it inside the products' "
                        "footprint."
                    )
                xmin, ymin, xmax, ymax = axmin, aymin, axmax, aymax
            return PreparedGrid(
                geotransform=(xmin, pixel, 0.0, ymax, 0.0, -pixel),
                crs_wkt=crs_wkt,
                epsg=_epsg_of(crs_wkt),
                width=int(round((xmax - xmin) / pixel)),
                height=int(round((ymax - ymin) / pixel)),
            )

        # ---- the product MintPy takes its geometry from: the one with the most geometry files
        def geometry_rank(item: _Inspected) -> Tuple[int, int, str]:
            has = [s for s in GEOMETRY_SUFFIXES if s in item.rasters]
            return (-len(has), int(item.warp), item.cand.name)

        def pick_geometry(items: Sequence[_Inspected]) -> _Inspected:
            chosen = sorted(items, key=geometry_rank)[0]
            if "dem" not in chosen.rasters:
                raise InputError(
                    "None of the products includes a DEM (NAME_dem.tif), which MintPy needs. "
                    "Submit the jobs again with INCLUDE_DEM (and INCLUDE_LOOK_VECTORS) enabled."
                )
            return chosen

        grid = common_grid(kept)
        geometry_item = pick_geometry(kept)
        log(
            f"Common grid: {grid.width} x {grid.height} pixels of {pixel:g} m, EPSG:{grid.epsg}, "
            f"x {grid.bounds[0]:.0f}-{grid.bounds[2]:.0f}, y {grid.bounds[1]:.0f}-{grid.bounds[3]:.0f}."
        )

        # ---- unchanged since an earlier preparation: reuse it
        fingerprint = _fingerprint(kept, grid, geometry_item.cand.name) + (
            "" if unwrap_correction else "-noclosure"
        )
        inputs = workdir / INPUTS_DIR
        manifest = workdir / MANIFEST_NAME
        previous: Prepared | None = None
        try:
            previous = load_prepared(workdir) if manifest.exists() else None
        except (InputError, KeyError, TypeError, ValueError):
            previous = None
        if (
            previous is not None
            and previous.fingerprint == fingerprint
            and all(p.raster(s).is_file() for p in previous.products for s in p.suffixes)
            and load_quality(previous) is not None
        ):
            removed = remove_sidecars(inputs)
            if removed:
                _warn(
                    f"Removed {len(removed)} sidecar files (e.g. {removed[0].name}) that break MintPy's loader."
                )
            log("The products are unchanged since the last preparation: reusing the prepared inputs.")
            if previous.unwrap_correction:
                log(previous.unwrap_correction)
            previous.reused = True
            previous.skipped = sorted(skipped, key=lambda s: s.name)
            previous.warnings = warnings + [w for w in previous.warnings if w not in warnings]
            _progress(100.0)
            return previous

        # ---- pass 2: a window (VRT) per raster; every window MintPy will read is read once here
        products: List[PreparedProduct] = []
        closure_note = ""
        for _attempt in range(4):
            # the inputs changed: nothing of an earlier run may be mistaken for current
            manifest.unlink(missing_ok=True)
            (workdir / QUALITY_NAME).unlink(missing_ok=True)
            inputs.mkdir(parents=True, exist_ok=True)
            for sub in inputs.iterdir():
                if sub.is_dir() and (_is_product_name(sub.name) or sub.name.endswith(".partial")):
                    shutil.rmtree(sub)
            for stale in MINTPY_LOADED_FILES:
                (inputs / stale).unlink(missing_ok=True)
            remove_prepared_stack(inputs)

            order = sorted(kept, key=lambda i: (i.parsed.reference_date, i.parsed.secondary_date))
            folders: Dict[str, Path] = {}
            derived: Dict[str, bool] = {}
            suffixes_of: Dict[str, List[str]] = {}
            failed: Dict[str, str] = {}
            log(f"Preparing {len(kept)} products on the common grid (windows, no copies)...")
            for item in order:
                _check_cancel()
                name = item.cand.name
                suffixes = list(IFG_SUFFIXES) + [CONNCOMP_SUFFIX]
                if item is geometry_item:
                    suffixes += [s for s in GEOMETRY_SUFFIXES if s in item.rasters]
                derived[name] = CONNCOMP_SUFFIX not in item.rasters
                partial = inputs / f".{name}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir()
                folders[name], suffixes_of[name] = partial, suffixes
                try:
                    for suffix in suffixes:
                        target = partial / f"{name}_{suffix}{RASTER_EXT}"
                        if suffix == CONNCOMP_SUFFIX and derived[name]:
                            text = _derived_conncomp_vrt(f"{name}_unw_phase{RASTER_EXT}", grid)
                        else:
                            text = _window_vrt(item.rasters[suffix], grid, item.warp)
                        target.write_text(text)
                    (partial / f"{name}.txt").write_text(_clean_txt(item.txt))
                    if item is geometry_item:  # the geometry MintPy reads: whole windows, once
                        for suffix in suffixes[3:]:
                            _read_all(partial / f"{name}_{suffix}{RASTER_EXT}")
                except (OSError, RuntimeError) as exc:
                    failed[name] = f"it is unreadable or truncated ({exc}); download it again"
            if not failed:
                log(
                    "Reading every window once (validation, stack statistics"
                    + (", unwrapping errors by phase closure)..." if unwrap_correction else ")...")
                )
                writer = None
                if mintpy_python:
                    writer = StackWriter(
                        mintpy_python,
                        inputs,
                        [(f"{i.parsed.reference_date:%Y%m%d}", f"{i.parsed.secondary_date:%Y%m%d}") for i in order],
                        [derived[i.cand.name] for i in order],
                        grid.shape,
                        env=mintpy_env,
                    )
                result = _window_pass(
                    folders,
                    order,
                    derived,
                    grid,
                    closure=unwrap_correction,
                    check_cancel=_check_cancel,
                    progress=lambda percent: _progress(10.0 + 0.9 * percent),
                    stack=writer,
                )
                failed = result.failed
            if not failed:
                break
            for name, reason in sorted(failed.items()):
                item = next(i for i in kept if i.cand.name == name)
                skipped.append(SkippedProduct(name, item.cand.source, reason))
                _warn(f"Skipped product {name}: {reason}")
            # the damaged products may have narrowed the grid or held the geometry: settle both again
            kept = [i for i in kept if i.cand.name not in failed]
            check_network(kept)
            grid, geometry_item = common_grid(kept), pick_geometry(kept)
            log(
                f"Preparing again without the damaged products (common grid {grid.width} x {grid.height} pixels)."
            )
        else:
            raise InputError(
                "Products kept failing to read while the preparation narrowed them down; check the disk and "
                "download the products named in the warnings again."
            )
        quality = result.quality
        assert quality is not None
        closure_note = result.closure_note
        if mintpy_python and any(text in result.stack for text in ("No space left", "Disk quota exceeded")):
            need = len(order) * grid.width * grid.height * 8 / 2**30
            raise InputError(
                f"The disk of the work folder '{workdir}' is full: MintPy's interferogram stack alone needs about "
                f"{need:.1f} GiB there, and its time series as much again. Free space on that disk or choose a work "
                f"folder on a larger one, then run again (the products are untouched). ({result.stack})"
            )
        if mintpy_python and result.stack:
            _warn(
                f"The interferogram stack could not be written while reading the products ({result.stack}); "
                "MintPy reads the products itself, which takes longer."
            )
        elif mintpy_python:
            log(
                f"Wrote the interferogram stack for MintPy while reading ({INPUTS_DIR}/insarhub_stack.h5): its "
                "load_data step will not read the products again."
            )
        written = 0
        for k, item in enumerate(order):
            name = item.cand.name
            partial = folders[name]
            for extra in partial.iterdir():  # e.g. an .aux.xml GDAL might still write
                if not extra.name.endswith((RASTER_EXT, ".txt", ".unwrap_cycles.tif")):
                    extra.unlink()
            written += sum(f.stat().st_size for f in partial.iterdir())
            target_dir = inputs / name
            os.replace(partial, target_dir)
            mean_coh, valid_fraction = quality.ifg_stats(k)
            products.append(
                PreparedProduct(
                    name=name,
                    job_type=item.parsed.job_type,
                    reference_date=item.parsed.reference_date,
                    secondary_date=item.parsed.secondary_date,
                    source=item.cand.source,
                    folder=target_dir,
                    perp_baseline_m=item.perp_baseline_m,
                    suffixes=suffixes_of[name],
                    reprojected=item.warp,
                    conncomp_derived=derived[name],
                    mean_coherence=mean_coh,
                    valid_fraction=valid_fraction,
                    closure_corrected_px=result.corrected_px.get(name, 0),
                    conncomp_labels=result.components.get(name, 0),
                    conncomp_whole=result.whole.get(name, False),
                )
            )
        products.sort(key=lambda p: p.name)
        fingerprint = _fingerprint(kept, grid, geometry_item.cand.name) + (
            "" if unwrap_correction else "-noclosure"
        )
        quality.save(workdir / QUALITY_NAME, fingerprint)
        written += (workdir / QUALITY_NAME).stat().st_size

    pairs = sorted(p.pair for p in products)
    if closure_note:
        log(closure_note)
    n_derived = sum(1 for p in products if p.conncomp_derived)
    if n_derived:
        log(
            f"{n_derived} of {len(products)} products have no connected components (_conncomp.tif); derived "
            "ones (1 where the phase is valid) let MintPy's unwrapping-error correction run."
        )
    prepared = Prepared(
        workdir=workdir,
        products=products,
        skipped=sorted(skipped, key=lambda s: s.name),
        grid=grid,
        dates=sorted({d for pair in pairs for d in pair}),
        pairs=pairs,
        flight_direction=flight_direction,
        relative_orbit=relative_orbit,
        geometry_product=geometry_item.cand.name,
        geometry_suffixes=[s for s in GEOMETRY_SUFFIXES if s in geometry_item.rasters],
        warnings=warnings,
        reused=False,
        fingerprint=fingerprint,
        product_kind=kind.key,
        bytes_written=written,
        unwrap_correction=closure_note,
    )
    tmp = manifest.with_name(manifest.name + ".tmp")
    tmp.write_text(json.dumps(prepared.to_json(), indent=1))
    os.replace(tmp, manifest)
    prepared.bytes_written += manifest.stat().st_size
    log(
        f"Prepared {len(products)} interferograms ({kind.describe()}) over {len(prepared.dates)} dates "
        f"({prepared.dates[0]:%Y-%m-%d} to {prepared.dates[-1]:%Y-%m-%d}); skipped {len(skipped)}; "
        f"wrote {prepared.bytes_written / 1024:.0f} KiB (no raster copied)."
    )
    return prepared
