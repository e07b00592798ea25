"""Find, check and clip HyP3 InSAR products onto one common grid for MintPy.

MintPy's HyP3 loader is strict in ways that fail silently, so everything it reads is prepared here:

* it keeps only the most common raster size and stacks same-size but shifted products misaligned, so every
  raster is cut to ONE grid: the intersection of all product extents (optionally with an AOI), on the
  products' own pixel lattice (whole-pixel windows, no resampling);
* it finds ``<product>.txt`` next to each raster by file-name prefix and writes ``.rsc`` files beside
  them, and a QGIS ``.aux.xml`` sidecar next to a raster crashes it: the clipped rasters go to a fresh
  ``WORKDIR/inputs/<product>/`` with a cleaned copy of the ``.txt`` and nothing else;
* a phase of exactly 0 is nodata; truncated GeoTIFFs open but fail on read, so products are validated by
  reading them; broken, incomplete and duplicate products are skipped with a warning naming them.

Products of another UTM zone than the majority are warped (nearest neighbour) onto the majority's pixel
lattice; products of another track, too few interferograms or a disconnected pair network stop with an
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
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

from ..errors import CancelledError, InputError

#: Raster suffixes MintPy reads per interferogram.
IFG_SUFFIXES = ("unw_phase", "corr")
#: Raster suffixes of the geometry MintPy reads (from the first file of each glob only).
GEOMETRY_SUFFIXES = ("dem", "lv_theta", "lv_phi", "water_mask")
RASTER_SUFFIXES = IFG_SUFFIXES + GEOMETRY_SUFFIXES

#: ``mintpy.load.*File`` keys for each raster suffix.
LOAD_KEYS = {
    "unw_phase": "mintpy.load.unwFile",
    "corr": "mintpy.load.corFile",
    "dem": "mintpy.load.demFile",
    "lv_theta": "mintpy.load.incAngleFile",
    "lv_phi": "mintpy.load.azAngleFile",
    "water_mask": "mintpy.load.waterMaskFile",
}

MANIFEST_NAME = "insarhub_prepared.json"
INPUTS_DIR = "inputs"
# Files MintPy's load_data writes into WORKDIR/inputs; stale when the clipped products change.
MINTPY_LOADED_FILES = ("ifgramStack.h5", "geometryGeo.h5", "geometryRadar.h5", "ionStack.h5")
_FORMAT_VERSION = 1
_MIN_INTERFEROGRAMS = 3
_MIN_GRID_PX = 3

# Anchored HyP3 product names (the patterns of mintpy.prep_hyp3).
_NAME_PATTERNS = {
    "INSAR_ISCE_BURST": re.compile(
        r"^S1_(?P<burst>\d{6})_IW(?P<swath>[123])_(?P<ref>\d{8})_(?P<sec>\d{8})_(?P<pol>VV|HH)_"
        r"INT(?P<pixel>\d{2})_(?P<hex>[0-9A-F]{4})"
    ),
    "INSAR_ISCE_MULTI_BURST": re.compile(
        r"^S1_(?P<orbit>\d{3})_\d{6}s1n\d{2}-\d{6}s2n\d{2}-\d{6}s3n\d{2}_IW_(?P<ref>\d{8})_(?P<sec>\d{8})_"
        r"(?P<pol>VV|HH)_INT(?P<pixel>\d{2})_(?P<hex>[0-9A-F]{4})"
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
        if job_type == "INSAR_ISCE_MULTI_BURST":
            orbit = int(m.group("orbit"))
        elif job_type == "INSAR_ISCE_BURST":
            orbit = int((int(m.group("burst")) - 1) * _BURST_PERIOD_S / _ORBIT_PERIOD_S) + 1
        return ProductName(m.group(0), job_type, ref, sec, m.group("pol"), int(m.group("pixel")), orbit)
    raise ValueError(f"not a HyP3 InSAR product name: {name}")


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
    folder: Path  # WORKDIR/inputs/<name>, holding the clipped rasters and <name>.txt
    perp_baseline_m: float
    suffixes: List[str]  # raster suffixes clipped into ``folder``
    reprojected: bool = False  # warped from another CRS / pixel lattice

    def raster(self, suffix: str) -> Path:
        """Path of the clipped raster ``<name>_<suffix>.tif``."""
        return self.folder / f"{self.name}_{suffix}.tif"

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
    reused: bool = False  # True when the clipped inputs of an identical earlier run were kept
    fingerprint: str = ""

    @property
    def inputs_dir(self) -> Path:
        """``WORKDIR/inputs`` (MintPy's own inputs folder, holding the clipped products)."""
        return self.workdir / INPUTS_DIR

    def file_glob(self, suffix: str) -> str:
        """The glob MintPy reads ``suffix`` rasters with, relative to the work folder."""
        return f"{INPUTS_DIR}/*/*_{suffix}.tif"

    def load_globs(self) -> Dict[str, str]:
        """``mintpy.load.*File`` keys -> globs (relative to the work folder) of what was prepared."""
        out = {LOAD_KEYS[s]: self.file_glob(s) for s in IFG_SUFFIXES}
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
            return value

        out = convert(data)
        out["format_version"] = _FORMAT_VERSION  # type: ignore[index]
        return out  # type: ignore[return-value]

    @classmethod
    def from_json(cls, data: dict) -> Prepared:
        """Rebuild from :meth:`to_json` output."""
        day = dt.date.fromisoformat
        grid = data["grid"]
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

    def extract(self, basenames: Sequence[str], dest: Path) -> None:
        """Unpack the named members (flat) into ``dest``; names come from us, never from the zip."""
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(self.cand.source) as zf:
            for base in basenames:
                with zf.open(self.members[base]) as src, open(dest / base, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


class _Skip(Exception):
    """A product cannot be used; the message says why."""


@dataclass
class _Raster:
    path: str  # GDAL path
    geotransform: Tuple[float, ...]
    width: int
    height: int
    crs_wkt: str


def _open_raster(path: str, validate: bool) -> _Raster:
    from osgeo import gdal

    try:
        ds = gdal.Open(path)
        if ds is None:
            raise RuntimeError("GDAL cannot open it")
        if validate:
            for b in range(1, ds.RasterCount + 1):
                ds.GetRasterBand(b).Checksum()  # reads every block: a truncated file fails here
        gt = tuple(ds.GetGeoTransform())
        out = _Raster(path, gt, ds.RasterXSize, ds.RasterYSize, ds.GetProjection())
        ds = None
    except RuntimeError as exc:
        raise _Skip(
            f"{Path(path).name} is unreadable or truncated ({exc}); download the product again"
        ) from exc
    if not out.crs_wkt:
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


def _inspect(cand: _Candidate, warn_optional: Callable[[str], None]) -> _Inspected:
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
        rasters[suffix] = _open_raster(files.gdal_path(base), validate=True)
    ref = rasters["unw_phase"]
    for suffix in GEOMETRY_SUFFIXES:
        base = f"{cand.name}_{suffix}.tif"
        if not files.has(base):
            continue
        try:
            rasters[suffix] = _open_raster(files.gdal_path(base), validate=True)
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
def _clip(src_path: str, dst: Path, grid: PreparedGrid, warp: bool, src_gt: Sequence[float]) -> None:
    """Cut (or, off the lattice, warp with nearest neighbour) one raster onto ``grid``."""
    from osgeo import gdal

    options = ["COMPRESS=DEFLATE", "TILED=YES"]
    if not warp:
        col = int(round((grid.geotransform[0] - src_gt[0]) / src_gt[1]))
        row = int(round((grid.geotransform[3] - src_gt[3]) / src_gt[5]))
        out = gdal.Translate(
            str(dst), src_path, srcWin=[col, row, grid.width, grid.height], creationOptions=options
        )
    else:
        xmin, ymin, xmax, ymax = grid.bounds
        src = gdal.Open(src_path)
        nodata = src.GetRasterBand(1).GetNoDataValue()
        out = gdal.Warp(
            str(dst),
            src,
            dstSRS=grid.crs_wkt,
            outputBounds=(xmin, ymin, xmax, ymax),
            width=grid.width,
            height=grid.height,
            resampleAlg="near",
            srcNodata=nodata,
            dstNodata=nodata,
            creationOptions=options,
        )
        src = None
    if out is None:
        raise RuntimeError(f"GDAL could not write {dst.name}")
    out.FlushCache()
    out = None


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
            if f.name.endswith((".aux.xml", ".tif.xml", ".ovr", ".msk")):
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


# --------------------------------------------------------------------------------------------- main
def prepare_products(
    products_folder: os.PathLike | str,
    workdir: os.PathLike | str,
    *,
    aoi_wkt_wgs84: str | None = None,
    extent: Sequence | None = None,
    log: Log = _noop,
    warn: Log | None = None,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] = _never,
) -> Prepared:
    """Find, check and clip the HyP3 InSAR products of ``products_folder`` into ``workdir/inputs``.

    Parameters
    ----------
    products_folder: folder searched (4 levels deep) for product zips ``NAME.zip`` and unpacked
        products (``NAME/`` folders, or ``NAME_*.tif`` + ``NAME.txt`` lying in a shared folder);
        INSAR_GAMMA, INSAR_ISCE_BURST and INSAR_ISCE_MULTI_BURST names. ``workdir`` is never searched.
    workdir: the work folder (created; must be writable). The clipped products go to
        ``workdir/inputs/<product>/``, a record of the preparation to ``workdir/insarhub_prepared.json``.
    aoi_wkt_wgs84: optional AOI, WKT in EPSG:4326 (lon lat); the grid is cut to its bounding box.
    extent: optional ``(xmin, ymin, xmax, ymax, crs)`` (crs as ``EPSG:xxxx`` or WKT; default
        EPSG:4326); intersected with the AOI when both are given.
    log, warn: receive progress messages and warnings (``warn`` defaults to ``log``).
    progress: receives the percentage done (0-100).
    is_cancelled: polled between products and rasters; :class:`CancelledError` when it returns True.

    Returns
    -------
    :class:`Prepared`: the kept products, the skipped ones with reasons, the common grid, dates, pairs.
    A second call with the same products and AOI reuses the clipped files (``reused=True``) so MintPy can
    skip its finished steps; when they changed, the clipped files and MintPy's loaded stacks are replaced.

    Raises
    ------
    InputError: no products, products of different tracks, fewer than three usable interferograms, a
        disconnected pair network, no common overlap, or an AOI outside it.
    CancelledError: when ``is_cancelled`` returned True.
    """
    products_folder = Path(products_folder)
    workdir = Path(workdir)
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
        # ---- pass 1: find and check
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
            _progress(30.0 * (k + 1) / len(by_name))

        # ---- one product per pair: keep the newest
        by_pair: Dict[Tuple[dt.date, dt.date], List[_Inspected]] = defaultdict(list)
        for item in inspected:
            by_pair[(item.parsed.reference_date, item.parsed.secondary_date)].append(item)
        inspected = []
        for pair, items in sorted(by_pair.items()):
            items.sort(key=lambda i: (i.cand.mtime, i.cand.name), reverse=True)
            inspected.append(items[0])
            for dup in items[1:]:
                reason = (
                    f"duplicate of {items[0].cand.name} (same pair {pair[0]:%Y%m%d}-{pair[1]:%Y%m%d}, older)"
                )
                skipped.append(SkippedProduct(dup.cand.name, dup.cand.source, reason))
                _warn(f"Skipped product {dup.cand.name}: {reason}; kept {items[0].cand.name}")

        if not inspected:
            raise InputError(
                f"None of the {len(by_name)} products in '{products_folder}' can be used: "
                + "; ".join(f"{s.name}: {s.reason}" for s in skipped[:5])
            )

        # ---- one track
        tracks: Dict[Tuple[str, int | None], List[str]] = defaultdict(list)
        for item in inspected:
            tracks[(item.flight_direction, item.relative_orbit)].append(item.cand.name)
        if len(tracks) > 1:
            parts = [
                f"{direction.lower()} relative orbit {orbit if orbit is not None else '?'}: "
                f"{len(names)} products ({_names(sorted(names), 3)})"
                for (direction, orbit), names in sorted(tracks.items(), key=lambda t: -len(t[1]))
            ]
            raise InputError(
                "The products come from different tracks, which cannot form one time series: "
                + "; ".join(parts)
                + ". Put the products of one track in their own folder and run again."
            )
        (flight_direction, relative_orbit), _ = next(iter(tracks.items()))

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
                f"other {len(kept) - len(reprojected)}; they were resampled (nearest neighbour) onto "
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

        # ---- the common grid
        boxes = []
        for item in kept:
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
        aoi = _aoi_bounds(aoi_wkt_wgs84, extent, crs_wkt)
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
                    f"by at least {_MIN_GRID_PX}x{_MIN_GRID_PX} pixels; draw it inside the products' footprint."
                )
            xmin, ymin, xmax, ymax = axmin, aymin, axmax, aymax
        grid = PreparedGrid(
            geotransform=(xmin, pixel, 0.0, ymax, 0.0, -pixel),
            crs_wkt=crs_wkt,
            epsg=_epsg_of(crs_wkt),
            width=int(round((xmax - xmin) / pixel)),
            height=int(round((ymax - ymin) / pixel)),
        )
        log(
            f"Common grid: {grid.width} x {grid.height} pixels of {pixel:g} m, EPSG:{grid.epsg}, "
            f"x {xmin:.0f}-{xmax:.0f}, y {ymin:.0f}-{ymax:.0f}."
        )

        # ---- the product MintPy takes its geometry from: the one with the most geometry files
        def geometry_rank(item: _Inspected) -> Tuple[int, int, str]:
            has = [s for s in GEOMETRY_SUFFIXES if s in item.rasters]
            return (-len(has), int(item.warp), item.cand.name)

        geometry_item = sorted(kept, key=geometry_rank)[0]
        geometry_suffixes = [s for s in GEOMETRY_SUFFIXES if s in geometry_item.rasters]
        if "dem" not in geometry_suffixes:
            raise InputError(
                "None of the products includes a DEM (NAME_dem.tif), which MintPy needs. "
                "Submit the jobs again with INCLUDE_DEM (and INCLUDE_LOOK_VECTORS) enabled."
            )

        # ---- pass 2: clip, unless an identical earlier preparation is complete
        fingerprint = _fingerprint(kept, grid, geometry_item.cand.name)
        inputs = workdir / INPUTS_DIR
        manifest = workdir / MANIFEST_NAME
        previous: Prepared | None = None
        try:
            previous = load_prepared(workdir) if manifest.exists() else None
        except InputError:
            previous = None
        if (
            previous is not None
            and previous.fingerprint == fingerprint
            and all(p.raster(s).is_file() for p in previous.products for s in p.suffixes)
        ):
            removed = remove_sidecars(inputs)
            if removed:
                _warn(
                    f"Removed {len(removed)} sidecar files (e.g. {removed[0].name}) that break MintPy's loader."
                )
            log("The products are unchanged since the last preparation: reusing the clipped files.")
            previous.reused = True
            previous.skipped = sorted(skipped, key=lambda s: s.name)
            previous.warnings = warnings + [w for w in previous.warnings if w not in warnings]
            _progress(100.0)
            return previous

        # the inputs changed: nothing of an earlier run may be mistaken for current
        manifest.unlink(missing_ok=True)
        inputs.mkdir(parents=True, exist_ok=True)
        for sub in inputs.iterdir():
            if sub.is_dir() and (_is_product_name(sub.name) or sub.name.endswith(".partial")):
                shutil.rmtree(sub)
        for stale in MINTPY_LOADED_FILES:
            (inputs / stale).unlink(missing_ok=True)
        unpack_root = workdir / ".unpack"
        shutil.rmtree(unpack_root, ignore_errors=True)

        products: List[PreparedProduct] = []
        done: List[_Inspected] = []
        log(f"Clipping {len(kept)} products onto the common grid...")
        for k, item in enumerate(sorted(kept, key=lambda i: i.cand.name)):
            _check_cancel()
            name = item.cand.name
            suffixes = list(IFG_SUFFIXES) + (geometry_suffixes if item is geometry_item else [])
            partial = inputs / f".{name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            unpacked = unpack_root / name
            try:
                bases = [f"{name}_{s}.tif" for s in suffixes]
                if item.cand.is_zip:
                    item.files.extract(bases, unpacked)
                for suffix, base in zip(suffixes, bases):
                    _check_cancel()
                    src = str(unpacked / base) if item.cand.is_zip else item.files.gdal_path(base)
                    _clip(src, partial / base, grid, item.warp, item.rasters[suffix].geotransform)
                (partial / f"{name}.txt").write_text(_clean_txt(item.txt))
            except (OSError, RuntimeError, zipfile.BadZipFile) as exc:
                shutil.rmtree(partial, ignore_errors=True)
                reason = f"it could not be unpacked or clipped ({exc}); download it again"
                skipped.append(SkippedProduct(name, item.cand.source, reason))
                _warn(f"Skipped product {name}: {reason}")
                continue
            finally:
                shutil.rmtree(unpacked, ignore_errors=True)
            for extra in partial.iterdir():  # e.g. an .aux.xml GDAL might still write
                if not extra.name.endswith((".tif", ".txt")):
                    extra.unlink()
            target = inputs / name
            os.replace(partial, target)
            products.append(
                PreparedProduct(
                    name=name,
                    job_type=item.parsed.job_type,
                    reference_date=item.parsed.reference_date,
                    secondary_date=item.parsed.secondary_date,
                    source=item.cand.source,
                    folder=target,
                    perp_baseline_m=item.perp_baseline_m,
                    suffixes=suffixes,
                    reprojected=item.warp,
                )
            )
            done.append(item)
            _progress(30.0 + 70.0 * (k + 1) / len(kept))
        shutil.rmtree(unpack_root, ignore_errors=True)
        if geometry_item not in done:
            raise InputError(
                f"The product {geometry_item.cand.name}, whose DEM MintPy needs, could not be clipped; "
                "download it again."
            )
        check_network(done)

    pairs = sorted(p.pair for p in products)
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
        geometry_suffixes=geometry_suffixes,
        warnings=warnings,
        reused=False,
        fingerprint=fingerprint,
    )
    tmp = manifest.with_name(manifest.name + ".tmp")
    tmp.write_text(json.dumps(prepared.to_json(), indent=1))
    os.replace(tmp, manifest)
    log(
        f"Prepared {len(products)} interferograms over {len(prepared.dates)} dates "
        f"({prepared.dates[0]:%Y-%m-%d} to {prepared.dates[-1]:%Y-%m-%d}); skipped {len(skipped)}."
    )
    return prepared
