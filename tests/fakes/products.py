"""Synthetic ASF HyP3 InSAR products that MintPy loads unmodified.

The products copy the real ones where MintPy (``mintpy.prep_hyp3`` / ``load_data``) looks:

* names: ``S1AA_20200102T135156_20200114T135157_VVP012_INT80_G_ueF_1A2B`` (INSAR_GAMMA),
  ``S1_136920_IW2_20200102_20200114_VV_INT80_1A2B`` (INSAR_ISCE_BURST),
  ``S1_064_000000s1n00-136920s2n01-136921s3n01_IW_20200102_20200114_VV_INT80_1A2B``
  (INSAR_ISCE_MULTI_BURST);
* a folder ``NAME/`` holding ``NAME_unw_phase.tif``, ``NAME_corr.tif``, ``NAME_dem.tif``,
  ``NAME_lv_theta.tif``, ``NAME_lv_phi.tif``, ``NAME_water_mask.tif``, ``NAME_wrapped_phase.tif`` (+ ``_amp``
  for GAMMA, ``_conncomp`` for ISCE), ``NAME.txt`` (``Key: value`` lines with the key set and order of the
  real file for the job type) and ``NAME.README.md.txt``; zipped as ``NAME.zip`` with the single top folder
  ``NAME/``;
* GeoTIFFs in UTM (Float32, nodata 0 outside the valid swath, like HyP3).

Sign and units (checked against MintPy 1.6.4, see ``tests/unit/test_fake_products.py``): MintPy converts
unwrapped phase to displacement with ``disp = -phase * wavelength / (4 pi)`` (``ifgram_inversion.py``,
``phase2range``), positive = towards the satellite, and fits the velocity against its decimal years
``year + (day_of_year - 1) / 365.25``. The products therefore hold
``phase = -4 pi / wavelength * v * (t_sec - t_ref)`` with ``v`` the truth velocity (m/yr, positive towards
the satellite) and ``t`` in MintPy's decimal years, so the velocity MintPy recovers equals the truth
(relative to MintPy's reference pixel).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
osr.UseExceptions()

#: Sentinel-1 C-band wavelength as MintPy computes it (speed of light / 5.405 GHz), metres.
WAVELENGTH_M = 299792458.0 / 5.405e9

JOB_TYPES = ("INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST")

#: Full-name patterns of HyP3 product names (anchored versions of the ones in ``mintpy.prep_hyp3``).
NAME_PATTERNS: Dict[str, str] = {
    "INSAR_GAMMA": (
        r"^S1(?P<ref_mission>[ABCD])(?P<sec_mission>[ABCD])_(?P<ref>\d{8}T\d{6})_(?P<sec>\d{8}T\d{6})_"
        r"(?P<pol>VV|HH)(?P<orbit>[PRO])(?P<days>\d{3,4})_INT(?P<pixel>\d{2})_G_"
        r"(?P<mask>[uw])(?P<clip>[ec])(?P<dem>[123F])_(?P<hex>[0-9A-F]{4})$"
    ),
    "INSAR_ISCE_BURST": (
        r"^S1_(?P<burst>\d{6})_IW(?P<swath>[123])_(?P<ref>\d{8})_(?P<sec>\d{8})_(?P<pol>VV|HH)_"
        r"INT(?P<pixel>\d{2})_(?P<hex>[0-9A-F]{4})$"
    ),
    "INSAR_ISCE_MULTI_BURST": (
        r"^S1_(?P<orbit>\d{3})_(?P<iw1>\d{6}s1n\d{2})-(?P<iw2>\d{6}s2n\d{2})-(?P<iw3>\d{6}s3n\d{2})_IW_"
        r"(?P<ref>\d{8})_(?P<sec>\d{8})_(?P<pol>VV|HH)_INT(?P<pixel>\d{2})_(?P<hex>[0-9A-F]{4})$"
    ),
}

_ISCE_KEYS = [
    "Reference Granule",
    "Secondary Granule",
    "Reference Pass Direction",
    "Reference Orbit Number",
    "Secondary Pass Direction",
    "Secondary Orbit Number",
    "Baseline",
    "UTC time",
    "Heading",
    "Spacecraft height",
    "Earth radius at nadir",
    "Slant range near",
    "Slant range center",
    "Slant range far",
    "Range looks",
    "Azimuth looks",
    "INSAR phase filter",
    "Phase filter parameter",
    "Range bandpass filter",
    "Azimuth bandpass filter",
    "DEM source",
    "DEM resolution (m)",
    "Unwrapping type",
    "Speckle filter",
    "Water mask",
]

#: Keys of the ``NAME.txt`` metadata file, in the order HyP3 writes them.
TXT_KEYS: Dict[str, List[str]] = {
    "INSAR_GAMMA": [
        "Reference Granule",
        "Secondary Granule",
        "Reference Pass Direction",
        "Reference Orbit Number",
        "Secondary Pass Direction",
        "Secondary Orbit Number",
        "Baseline",
        "UTC time",
        "Heading",
        "Spacecraft height",
        "Earth radius at nadir",
        "Slant range near",
        "Slant range center",
        "Slant range far",
        "Range looks",
        "Azimuth looks",
        "INSAR phase filter",
        "Phase filter parameter",
        "Resolution of output (m)",
        "Range bandpass filter",
        "Azimuth bandpass filter",
        "DEM source",
        "DEM resolution (m)",
        "Unwrapping type",
        "Phase at reference point",
        "Azimuth line of the reference point in SAR space",
        "Range pixel of the reference point in SAR space",
        "Y coordinate of the reference point in the map projection",
        "X coordinate of the reference point in the map projection",
        "Latitude of the reference point (WGS84)",
        "Longitude of the reference point (WGS84)",
        "Unwrapping threshold",
        "Speckle filter",
    ],
    "INSAR_ISCE_BURST": _ISCE_KEYS
    + [
        "Radar n lines",
        "Radar n samples",
        "Radar first valid line",
        "Radar n valid lines",
        "Radar first valid sample",
        "Radar n valid samples",
        "Multilook azimuth time interval",
        "Multilook range pixel size",
        "Radar sensing stop",
    ],
    "INSAR_ISCE_MULTI_BURST": list(_ISCE_KEYS),
}

#: Kinds of broken product :func:`break_product` makes.
BROKEN_KINDS = ("missing_unw", "truncated_tif", "truncated_zip")

# A map-coordinate field: (x, y) arrays of pixel-centre coordinates (metres) -> values of the same shape.
Field = Callable[[np.ndarray, np.ndarray], np.ndarray]
# A boolean field (True inside an area).
Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]
# A field per acquisition date: (date, x, y) -> values.
DateField = Callable[[dt.date, np.ndarray, np.ndarray], np.ndarray]
DateLike = Union[dt.date, dt.datetime, str]

_DEFAULT_TIME = {"ASCENDING": dt.time(13, 51, 56), "DESCENDING": dt.time(1, 12, 33)}
_HEADING_DEG = {"ASCENDING": -12.9104, "DESCENDING": -167.0896}
# (epoch, absolute orbit at the epoch) for a rough absolute orbit number; 175 orbits per 12 days.
_ORBIT_EPOCHS = {
    "A": (dt.datetime(2025, 10, 1, 20, 45, 13), 61237),
    "B": (dt.datetime(2021, 12, 22, 17, 0, 0), 30192),
    "C": (dt.datetime(2025, 10, 7, 20, 43, 59), 4461),
    "D": (dt.datetime(2025, 11, 20, 12, 0, 0), 800),
}


# --------------------------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class Grid:
    """A north-up UTM pixel grid.

    ``origin_x``/``origin_y`` are the upper-left corner of the upper-left pixel (GDAL convention), metres.
    Grids that differ by whole pixels of the same size share one pixel lattice (see :meth:`shifted`).
    """

    epsg: int = 32611
    pixel_size: float = 80.0
    origin_x: float = 440000.0
    origin_y: float = 3880000.0
    width: int = 80
    height: int = 60

    def __post_init__(self) -> None:
        zone = self.epsg % 100
        if self.epsg // 100 not in (326, 327) or not 1 <= zone <= 60:
            raise ValueError(f"EPSG:{self.epsg} is not a WGS 84 / UTM zone (326xx north, 327xx south)")
        if self.pixel_size <= 0 or self.width < 1 or self.height < 1:
            raise ValueError(f"invalid grid size: {self.width}x{self.height} pixels of {self.pixel_size} m")

    @property
    def shape(self) -> Tuple[int, int]:
        """Array shape ``(rows, columns)``."""
        return (self.height, self.width)

    @property
    def geotransform(self) -> Tuple[float, float, float, float, float, float]:
        """GDAL geotransform (north-up)."""
        return (self.origin_x, self.pixel_size, 0.0, self.origin_y, 0.0, -self.pixel_size)

    @property
    def north(self) -> bool:
        """True for a northern-hemisphere UTM zone."""
        return self.epsg // 100 == 326

    @property
    def utm_zone(self) -> str:
        """Zone as GDAL/MintPy spell it, e.g. ``11N``."""
        return f"{self.epsg % 100}{'N' if self.north else 'S'}"

    @property
    def crs_wkt(self) -> str:
        """WKT of the grid's CRS."""
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(self.epsg)
        return srs.ExportToWkt()

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in metres."""
        return (
            self.origin_x,
            self.origin_y - self.height * self.pixel_size,
            self.origin_x + self.width * self.pixel_size,
            self.origin_y,
        )

    @property
    def proj_win(self) -> Tuple[float, float, float, float]:
        """``[ulx, uly, lrx, lry]`` as ``gdal.Translate(projWin=...)`` takes it."""
        xmin, ymin, xmax, ymax = self.bounds
        return (xmin, ymax, xmax, ymin)

    def pixel_centers(self) -> Tuple[np.ndarray, np.ndarray]:
        """2-D arrays ``(x, y)`` of pixel-centre coordinates, metres."""
        xs = self.origin_x + (np.arange(self.width) + 0.5) * self.pixel_size
        ys = self.origin_y - (np.arange(self.height) + 0.5) * self.pixel_size
        return np.meshgrid(xs, ys)

    def shifted(self, dx_px: int = 0, dy_px: int = 0, dwidth_px: int = 0, dheight_px: int = 0) -> Grid:
        """The same pixel lattice, origin moved by whole pixels (``dy_px`` > 0 = south) and resized."""
        return replace(
            self,
            origin_x=self.origin_x + dx_px * self.pixel_size,
            origin_y=self.origin_y - dy_px * self.pixel_size,
            width=self.width + dwidth_px,
            height=self.height + dheight_px,
        )

    def offset_in(self, other: Grid) -> Tuple[int, int]:
        """``(column, row)`` of this grid's upper-left pixel in ``other``; both must share a lattice."""
        _check_same_lattice([self, other])
        col = (self.origin_x - other.origin_x) / self.pixel_size
        row = (other.origin_y - self.origin_y) / self.pixel_size
        return (int(round(col)), int(round(row)))

    def window_in(self, other: Grid) -> Tuple[slice, slice]:
        """Row/column slices of ``other``'s array that cover this grid (which must lie inside it)."""
        col, row = self.offset_in(other)
        if col < 0 or row < 0 or col + self.width > other.width or row + self.height > other.height:
            raise ValueError(f"{self} does not lie inside {other}")
        return (slice(row, row + self.height), slice(col, col + self.width))


def _check_same_lattice(grids: Sequence[Grid]) -> None:
    first = grids[0]
    for g in grids[1:]:
        if g.epsg != first.epsg or not math.isclose(g.pixel_size, first.pixel_size):
            raise ValueError(f"grids differ in CRS or pixel size: {first} / {g}")
        for a, b in ((g.origin_x, first.origin_x), (g.origin_y, first.origin_y)):
            steps = (a - b) / first.pixel_size
            if abs(steps - round(steps)) > 1e-6:
                raise ValueError(f"grids are not on the same pixel lattice: {first} / {g}")


def common_overlap(grids: Sequence[Grid]) -> Grid:
    """The largest grid covered by every grid in ``grids`` (all on one pixel lattice)."""
    if not grids:
        raise ValueError("no grids given")
    _check_same_lattice(grids)
    xmin = max(g.bounds[0] for g in grids)
    ymin = max(g.bounds[1] for g in grids)
    xmax = min(g.bounds[2] for g in grids)
    ymax = min(g.bounds[3] for g in grids)
    ps = grids[0].pixel_size
    width = int(round((xmax - xmin) / ps))
    height = int(round((ymax - ymin) / ps))
    if width < 1 or height < 1:
        raise ValueError("the grids do not overlap")
    return replace(grids[0], origin_x=xmin, origin_y=ymax, width=width, height=height)


# ------------------------------------------------------------------------------------------ fields
def _unit_coords(scene: Grid, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Map coordinates -> (u, v) fractions of the scene (0..1 east, 0..1 south)."""
    u = (x - scene.origin_x) / (scene.width * scene.pixel_size)
    v = (scene.origin_y - y) / (scene.height * scene.pixel_size)
    return u, v


def gaussian_bowl(
    scene: Grid,
    amplitude_mm_yr: float = -30.0,
    sigma_frac: float = 0.18,
    center_frac: Tuple[float, float] = (0.55, 0.5),
    background_mm_yr: float = 0.0,
) -> Field:
    """A Gaussian deformation bowl, mm/yr (LOS, positive towards the satellite; negative = subsidence).

    ``sigma_frac`` and ``center_frac`` (east, south) are fractions of the scene's width/height.
    """

    def velocity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        aspect = scene.height / scene.width
        r2 = (u - center_frac[0]) ** 2 + ((v - center_frac[1]) * aspect) ** 2
        return background_mm_yr + amplitude_mm_yr * np.exp(-r2 / (2.0 * sigma_frac**2))

    return velocity


def topography(scene: Grid) -> Field:
    """Smooth synthetic hills, metres above the ellipsoid (100-700 m)."""

    def height(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        return 380.0 + 180.0 * np.sin(2.0 * np.pi * 1.3 * u) * np.cos(2.0 * np.pi * 0.9 * v) + 90.0 * u

    return height


def base_coherence(scene: Grid) -> Field:
    """Coherence of a zero-day pair (0.8-0.95) before temporal decay; products multiply it by
    ``exp(-days / 365)``."""

    def coherence(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        return 0.875 + 0.075 * np.cos(2.0 * np.pi * 1.7 * u) * np.sin(2.0 * np.pi * 1.1 * v + 0.4)

    return coherence


def low_coherence_patch(scene: Grid) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Where the scene decorrelates (coherence 0.3-0.38 in every product): a boolean field."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        return (u > 0.1) & (u < 0.3) & (v > 0.6) & (v < 0.85)

    return inside


def unwrap_error_patch(scene: Grid) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Where products made with ``unwrap_error=True`` carry their 2 pi jump: a boolean field."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        return (u > 0.68) & (u < 0.86) & (v > 0.12) & (v < 0.32)

    return inside


def _as_field(value: Union[None, float, np.ndarray, Field], grid: Grid, what: str) -> Field | None:
    """Turn a scalar, an array on ``grid`` or a callable into a field; arrays are sampled nearest-pixel and
    edge-extended outside ``grid``."""
    if value is None:
        return None
    if callable(value):
        return value
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        const = float(arr)
        return lambda x, y: np.full(np.shape(x), const)
    if arr.shape != grid.shape:
        raise ValueError(f"{what} array has shape {arr.shape}, the grid is {grid.shape}")

    def sample(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        col = np.clip(np.floor((x - grid.origin_x) / grid.pixel_size).astype(int), 0, grid.width - 1)
        row = np.clip(np.floor((grid.origin_y - y) / grid.pixel_size).astype(int), 0, grid.height - 1)
        return arr[row, col]

    return sample


def decimal_year(when: dt.date) -> float:
    """MintPy's decimal year of a date (``ptime.yyyymmdd2years``): ``year + (day_of_year - 1) / 365.25``."""
    return when.year + (when.timetuple().tm_yday - 1) / 365.25


def los_displacement_to_phase(displacement_m: np.ndarray) -> np.ndarray:
    """LOS displacement (m, positive towards the satellite) -> HyP3/MintPy unwrapped phase (rad)."""
    return -4.0 * np.pi / WAVELENGTH_M * np.asarray(displacement_m)


def valid_swath_mask(grid: Grid, collar_px: int = 2, flight_direction: str = "ASCENDING") -> np.ndarray:
    """Valid-data mask of a product: a slanted swath edge leaves triangles of nodata in two corners."""
    rows = np.arange(grid.height)[:, None]
    cols = np.arange(grid.width)[None, :]
    frac = rows / max(grid.height - 1, 1)
    if flight_direction == "DESCENDING":
        frac = 1.0 - frac
    left = np.round(collar_px * frac)
    right = np.round(collar_px * (1.0 - frac))
    return (cols >= left) & (cols < grid.width - right)


# --------------------------------------------------------------------------------- realistic fields
def _ellipse(scene: Grid, center: Tuple[float, float], radii: Tuple[float, float]) -> Mask:
    """An ellipse in scene fractions (east, south)."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        return ((u - center[0]) / radii[0]) ** 2 + ((v - center[1]) / radii[1]) ** 2 < 1.0

    return inside


def lake(scene: Grid) -> Mask:
    """A lake in the north-west of the scene (about 3 % of it)."""
    return _ellipse(scene, (0.2, 0.22), (0.1, 0.09))


def forest_band(scene: Grid) -> Mask:
    """A forested band along the scene's southern edge (about 12 % of it), wavy at its northern edge."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        return (v > 0.86 + 0.03 * np.sin(2.0 * np.pi * 2.5 * u)) & (u > 0.35)

    return inside


def dem_error_field(scene: Grid) -> Field:
    """DEM errors (m): a tall canopy, a new building block and a quarry, plus 1 m of noise-free ripple."""
    canopy = _ellipse(scene, (0.8, 0.72), (0.08, 0.1))
    block = _ellipse(scene, (0.42, 0.3), (0.04, 0.05))
    quarry = _ellipse(scene, (0.62, 0.55), (0.05, 0.04))

    def error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        out = 1.0 * np.sin(2.0 * np.pi * 3.1 * u) * np.cos(2.0 * np.pi * 2.3 * v)
        return out + 20.0 * canopy(x, y) + 30.0 * block(x, y) - 25.0 * quarry(x, y)

    return error


def seasonal_amplitude(scene: Grid, amplitude_mm: float = 8.0, background_mm: float = 1.5) -> Field:
    """Annual LOS amplitude (mm): an aquifer basin that breathes with the seasons, little elsewhere."""

    def amp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _unit_coords(scene, x, y)
        r2 = ((u - 0.3) / 0.22) ** 2 + ((v - 0.6) / 0.25) ** 2
        return background_mm + amplitude_mm * np.exp(-r2)

    return amp


def patch_regions(scene: Grid, n: int, rng: np.random.Generator) -> List[Mask]:
    """``n`` unwrapping-error patches (ellipses of 1.5-4 % of the scene) at random places, each one away
    from the scene's edges."""
    out = []
    for _ in range(n):
        ru, rv = rng.uniform(0.07, 0.12), rng.uniform(0.07, 0.12)
        cu, cv = rng.uniform(0.15 + ru, 0.85 - ru), rng.uniform(0.12 + rv, 0.88 - rv)
        out.append(_ellipse(scene, (float(cu), float(cv)), (float(ru), float(rv))))
    return out


def _power_law_noise(
    shape: Tuple[int, int], pixel_m: float, scale_m: float, rng: np.random.Generator
) -> np.ndarray:
    """Spatially correlated noise of unit standard deviation: a Kolmogorov-like power law (power ~ k^-8/3)
    flattened beyond ``scale_m``, the way tropospheric turbulence looks in interferograms."""
    rows, cols = shape
    ky = np.fft.fftfreq(rows, d=pixel_m)[:, None]
    kx = np.fft.rfftfreq(cols, d=pixel_m)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    k0 = 1.0 / scale_m
    amplitude = (k**2 + k0**2) ** (-11.0 / 12.0)  # sqrt of (k^2 + k0^2)^(-11/6): power ~ k^(-11/3) in 2-D
    amplitude[0, 0] = 0.0
    white = rng.standard_normal(shape)
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=shape)
    return field / max(float(field.std()), 1e-12)


@dataclass
class DateSignals:
    """What changes per acquisition on a whole scene, as LOS displacement (m, positive towards the satellite):
    turbulent and height-stratified tropospheric delay, and an annual (seasonal) motion.

    Call it ``signals(date, x, y)`` (a :data:`DateField` for :func:`make_product`). The atmosphere of a
    date is one random field on a grid padded around the scene, so products of different extents see the
    same delay where they overlap.
    """

    pad: Grid
    turbulent_m: Dict[dt.date, np.ndarray]
    stratified_m_per_m: Dict[dt.date, float]
    height: Field
    seasonal_amplitude_m: Field | None = None
    seasonal_peak_doy: float = 120.0  # day of the year the seasonal motion is highest (towards the satellite)

    @classmethod
    def make(
        cls,
        scene: Grid,
        dates: Sequence[dt.date],
        rng: np.random.Generator,
        *,
        atmosphere_mm: float = 0.0,
        atmosphere_scale_m: float = 6000.0,
        stratified_mm_per_km: float = 0.0,
        seasonal_mm: Union[None, float, np.ndarray, Field] = None,
        margin_px: int = 8,
    ) -> DateSignals:
        """Draw every date's atmosphere (turbulence of ``atmosphere_mm`` standard deviation, stratified delay
        of N(0, ``stratified_mm_per_km``) per km of height) and set the seasonal amplitude (mm)."""
        pad = scene.shifted(-margin_px, -margin_px, 2 * margin_px, 2 * margin_px)
        turbulent = {}
        for d in dates:
            if atmosphere_mm > 0:
                turbulent[d] = (
                    1e-3
                    * atmosphere_mm
                    * _power_law_noise(pad.shape, pad.pixel_size, atmosphere_scale_m, rng)
                )
            else:
                turbulent[d] = np.zeros(pad.shape)
        stratified = {d: float(rng.normal(0.0, stratified_mm_per_km)) * 1e-6 for d in dates}
        amp = _as_field(seasonal_mm, scene, "seasonal_mm")
        seasonal = None if amp is None else (lambda x, y, amp=amp: 1e-3 * np.asarray(amp(x, y), dtype=float))
        return cls(pad, turbulent, stratified, topography(scene), seasonal)

    def seasonal_m(self, when: dt.date, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The seasonal part alone (m) at ``when``."""
        if self.seasonal_amplitude_m is None:
            return np.zeros(np.shape(x))
        phase = 2.0 * np.pi * (decimal_year(when) - self.seasonal_peak_doy / 365.25)
        return self.seasonal_amplitude_m(x, y) * np.cos(phase)

    def __call__(self, when: dt.date, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = self.pad
        col = np.clip(np.floor((x - g.origin_x) / g.pixel_size).astype(int), 0, g.width - 1)
        row = np.clip(np.floor((g.origin_y - y) / g.pixel_size).astype(int), 0, g.height - 1)
        out = self.turbulent_m[when][row, col] + self.stratified_m_per_m[when] * self.height(x, y)
        return out + self.seasonal_m(when, x, y)


# ------------------------------------------------------------------------------------------- names
def _to_datetime(value: DateLike, flight_direction: str, add_seconds: int = 0) -> dt.datetime:
    if isinstance(value, str):
        text = value.replace("-", "")
        value = (
            dt.datetime.strptime(text, "%Y%m%dT%H%M%S")
            if "T" in text
            else dt.datetime.strptime(text, "%Y%m%d").date()
        )
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, _DEFAULT_TIME[flight_direction]) + dt.timedelta(seconds=add_seconds)


def _relative_orbit(mission: str, abs_orbit: int) -> int:
    """Relative orbit from the absolute one, as ``mintpy.prep_hyp3`` computes it."""
    if mission == "A":
        return (abs_orbit - 73) % 175 + 1
    if mission == "B":
        return (abs_orbit - 202) % 175 + 1
    if mission == "C":
        return (abs_orbit - 172) % 175 + 1 if abs_orbit <= 8018 else (abs_orbit - 99) % 175 + 1
    return (abs_orbit - 42) % 175 + 1


def absolute_orbit(mission: str, when: dt.datetime, relative_orbit: int) -> int:
    """A plausible absolute orbit number for ``mission`` at ``when`` that maps to ``relative_orbit``."""
    epoch, orbit = _ORBIT_EPOCHS[mission]
    approx = orbit + int(round((when - epoch).total_seconds() / (12 * 86400.0) * 175))
    approx = max(approx, 200)
    delta = (relative_orbit - _relative_orbit(mission, approx) + 87) % 175 - 87
    return approx + delta


def _hex4(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(0, 0x10000)):04X}"


@dataclass(frozen=True)
class ProductName:
    """What a HyP3 product name says."""

    name: str
    job_type: str
    reference_date: dt.date
    secondary_date: dt.date
    polarization: str
    pixel_size: int


def parse_product_name(name: str) -> ProductName:
    """Parse a HyP3 InSAR product name (or a file name starting with one); ``ValueError`` if it is none."""
    stem = Path(name).name
    if stem.endswith(".zip"):
        stem = stem[: -len(".zip")]
    for job_type, pattern in NAME_PATTERNS.items():
        m = re.match(pattern.rstrip("$"), stem)
        if m:
            ref, sec = (dt.datetime.strptime(m.group(k)[:8], "%Y%m%d").date() for k in ("ref", "sec"))
            return ProductName(m.group(0), job_type, ref, sec, m.group("pol"), int(m.group("pixel")))
    raise ValueError(f"not a HyP3 InSAR product name: {name}")


# ----------------------------------------------------------------------------------------- product
@dataclass
class _Acq:
    """Everything about one product's acquisitions that names and metadata need."""

    job_type: str
    ref_time: dt.datetime
    sec_time: dt.datetime
    missions: Tuple[str, str]
    polarization: str
    flight_direction: str
    relative_orbit: int
    burst_id: int
    swath: int
    pixel_size: int
    orbit_flag: str
    apply_water_mask: bool
    rng: np.random.Generator

    @property
    def looks(self) -> Tuple[int, int]:
        """(range, azimuth) looks for the pixel size, as HyP3 uses them."""
        return {80: (20, 4), 40: (10, 2), 20: (5, 1)}.get(
            self.pixel_size, (max(1, self.pixel_size // 4), max(1, self.pixel_size // 20))
        )

    def product_name(self) -> str:
        pol = self.polarization
        d1, d2 = self.ref_time, self.sec_time
        suffix = _hex4(self.rng)
        if self.job_type == "INSAR_GAMMA":
            days = (d2.date() - d1.date()).days
            mask = "w" if self.apply_water_mask else "u"
            return (
                f"S1{self.missions[0]}{self.missions[1]}_{d1:%Y%m%dT%H%M%S}_{d2:%Y%m%dT%H%M%S}_"
                f"{pol}{self.orbit_flag}{days:03d}_INT{self.pixel_size}_G_{mask}eF_{suffix}"
            )
        if self.job_type == "INSAR_ISCE_BURST":
            return (
                f"S1_{self.burst_id:06d}_IW{self.swath}_{d1:%Y%m%d}_{d2:%Y%m%d}_{pol}_"
                f"INT{self.pixel_size}_{suffix}"
            )
        swaths = [
            f"{self.burst_id + (s - 2):06d}s{s}n01" if s in (2, 3) else f"000000s{s}n00" for s in (1, 2, 3)
        ]
        return (
            f"S1_{self.relative_orbit:03d}_{'-'.join(swaths)}_IW_{d1:%Y%m%d}_{d2:%Y%m%d}_{pol}_"
            f"INT{self.pixel_size}_{suffix}"
        )

    def granules(self, which: int) -> str:
        """Reference (0) or secondary (1) granule name(s) as the metadata file lists them."""
        when = self.ref_time if which == 0 else self.sec_time
        mission = self.missions[which]
        suffix = _hex4(self.rng)
        if self.job_type == "INSAR_GAMMA":
            orbit = absolute_orbit(mission, when, self.relative_orbit)
            stop = when + dt.timedelta(seconds=27)
            datatake = int(self.rng.integers(0x10000, 0xFFFFFF))
            code = "1SDV" if self.polarization == "VV" else "1SDH"
            return (
                f"S1{mission}_IW_SLC__{code}_{when:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_{orbit:06d}_"
                f"{datatake:06X}_{suffix}"
            )
        if self.job_type == "INSAR_ISCE_BURST":
            return f"S1_{self.burst_id:06d}_IW{self.swath}_{when:%Y%m%dT%H%M%S}_{self.polarization}_{suffix}-BURST"
        names = []
        for s in (3, 2):  # HyP3 lists the far swath first, like the real file
            t = when + dt.timedelta(seconds=3 if s == 3 else 0)
            names.append(
                f"S1_{self.burst_id + (s - 2):06d}_IW{s}_{t:%Y%m%dT%H%M%S}_{self.polarization}_{suffix}-BURST"
            )
        return ", ".join(names)


def _metadata(
    acq: _Acq, grid: Grid, perp_baseline_m: float, ref_pixel: Tuple[int, int], ref_phase: float
) -> Dict[str, str]:
    """Values of the product's ``NAME.txt`` in the job type's key order."""
    heading = _HEADING_DEG[acq.flight_direction] + float(acq.rng.normal(0.0, 0.02))
    utc = acq.ref_time.hour * 3600 + acq.ref_time.minute * 60 + acq.ref_time.second + 0.123456
    rlooks, alooks = acq.looks
    ref_orbit = absolute_orbit(acq.missions[0], acq.ref_time, acq.relative_orbit)
    sec_orbit = absolute_orbit(acq.missions[1], acq.sec_time, acq.relative_orbit)
    common = {
        "Reference Granule": acq.granules(0),
        "Secondary Granule": acq.granules(1),
        "Reference Pass Direction": acq.flight_direction,
        "Reference Orbit Number": str(ref_orbit),
        "Secondary Pass Direction": acq.flight_direction,
        "Secondary Orbit Number": str(sec_orbit),
        "Heading": f"{heading:.7f}",
        "Range looks": str(rlooks),
        "Azimuth looks": str(alooks),
        "Range bandpass filter": "no",
        "Azimuth bandpass filter": "no",
    }
    if acq.job_type == "INSAR_GAMMA":
        row, col = ref_pixel
        x = grid.origin_x + (col + 0.5) * grid.pixel_size
        y = grid.origin_y - (row + 0.5) * grid.pixel_size
        lat, lon = _to_wgs84(grid.epsg, x, y)
        meta = {
            **common,
            "Baseline": f"{perp_baseline_m:.4f}",
            "UTC time": f"{utc:.6f}",
            "Spacecraft height": "705239.4029000001",
            "Earth radius at nadir": "6362008.3766",
            "Slant range near": "803591.1723",
            "Slant range center": "882714.7457",
            "Slant range far": "961838.3190",
            "INSAR phase filter": "adf",
            "Phase filter parameter": "0.6",
            "Resolution of output (m)": str(acq.pixel_size),
            "DEM source": "GLO-30",
            "DEM resolution (m)": str(acq.pixel_size * 2),
            "Unwrapping type": "mcf",
            "Phase at reference point": f"{ref_phase:.5f}",
            "Azimuth line of the reference point in SAR space": str(row * alooks + 7),
            "Range pixel of the reference point in SAR space": str(col * rlooks + 11),
            "Y coordinate of the reference point in the map projection": f"{y:.4f}",
            "X coordinate of the reference point in the map projection": f"{x:.4f}",
            "Latitude of the reference point (WGS84)": f"{lat:.8f}",
            "Longitude of the reference point (WGS84)": f"{lon:.8f}",
            "Unwrapping threshold": "none",
            "Speckle filter": "no",
        }
    else:
        meta = {
            **common,
            "Baseline": repr(float(perp_baseline_m)),
            "UTC time": f"{utc:.6f}",
            "Spacecraft height": "693000.0",
            "Earth radius at nadir": "6337286.638938101",
            "Slant range near": "846099.1914484155",
            "Slant range center": "875670.6529326118",
            "Slant range far": "905242.1144168081",
            "INSAR phase filter": "yes",
            "Phase filter parameter": "0.5",
            "DEM source": "GLO_30",
            "DEM resolution (m)": "30",
            "Unwrapping type": "snaphu_mcf",
            "Speckle filter": "yes",
            "Water mask": "yes" if acq.apply_water_mask else "no",
        }
        if acq.job_type == "INSAR_ISCE_BURST":
            stop = acq.ref_time + dt.timedelta(seconds=3, microseconds=201805)
            meta.update(
                {
                    "Radar n lines": "376",
                    "Radar n samples": "1269",
                    "Radar first valid line": "7",
                    "Radar n valid lines": "363",
                    "Radar first valid sample": "23",
                    "Radar n valid samples": "1218",
                    "Multilook azimuth time interval": "0.008222225199999992",
                    "Multilook range pixel size": "46.59124229430646",
                    "Radar sensing stop": stop.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                }
            )
    keys = TXT_KEYS[acq.job_type]
    assert set(keys) == set(meta), set(keys) ^ set(meta)
    return {k: meta[k] for k in keys}


def _to_wgs84(epsg: int, x: float, y: float) -> Tuple[float, float]:
    src = osr.SpatialReference()
    src.ImportFromEPSG(epsg)
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lon, lat, _ = osr.CoordinateTransformation(src, dst).TransformPoint(x, y)
    return lat, lon


def write_geotiff(
    path: Union[str, Path],
    data: np.ndarray,
    grid: Grid,
    *,
    data_type: int = gdal.GDT_Float32,
    nodata: float | None = 0.0,
) -> Path:
    """Write one band as a GeoTIFF on ``grid`` (geotransform + EPSG projection, optional nodata)."""
    path = Path(path)
    if data.shape != grid.shape:
        raise ValueError(f"data shape {data.shape} does not match grid {grid.shape}")
    ds = gdal.GetDriverByName("GTiff").Create(str(path), grid.width, grid.height, 1, data_type)
    ds.SetGeoTransform(grid.geotransform)
    ds.SetProjection(grid.crs_wkt)
    band = ds.GetRasterBand(1)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(data)
    band.FlushCache()
    ds = None
    return path


SIDECAR_KINDS = ("aux.xml", "xml")


def write_qgis_sidecars(tif: Union[str, Path], kinds: Sequence[str] = ("aux.xml",)) -> List[Path]:
    """Write the sidecar files desktop GIS leave next to a raster they opened.

    ``aux.xml``: GDAL's PAM file with statistics and a histogram, written exactly the way QGIS triggers it
    (statistics computed on a read-only dataset). MintPy 1.6.4 takes any ``*.tif.aux.xml`` next to a data file
    that also has a ``.rsc`` for an ISCE/ENVI one and fails in ``readfile.read_isce_xml`` (``AttributeError:
    'NoneType' object has no attribute 'findall'``). ``xml``: an ArcGIS-style ``NAME.tif.xml`` metadata
    document; MintPy reads it first (``fname + '.xml'`` precedes ``.aux.xml``), finds nothing in it and so no
    longer trips over the ``.aux.xml`` - both together load.
    """
    unknown = set(kinds) - set(SIDECAR_KINDS)
    if unknown:
        raise ValueError(f"unknown sidecar kinds {sorted(unknown)}; use {SIDECAR_KINDS}")
    tif = Path(tif)
    written: List[Path] = []
    if "aux.xml" in kinds:
        ds = gdal.Open(str(tif), gdal.GA_ReadOnly)
        band = ds.GetRasterBand(1)
        vmin, vmax, _, _ = band.ComputeStatistics(False)
        band.GetHistogram(min=vmin, max=vmax if vmax > vmin else vmin + 1.0, buckets=256, approx_ok=0)
        ds = None  # closing a read-only dataset with new statistics writes the PAM .aux.xml
        aux = tif.with_name(tif.name + ".aux.xml")
        if not aux.exists():
            raise RuntimeError(f"GDAL did not write {aux.name} (is GDAL_PAM_ENABLED off?)")
        written.append(aux)
    if "xml" in kinds:
        xml = tif.with_name(tif.name + ".xml")
        xml.write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<metadata xml:lang="en"><Esri><CreaDate>20240101</CreaDate><CreaTime>12000000</CreaTime>'
            "<ArcGISFormat>1.0</ArcGISFormat><SyncOnce>TRUE</SyncOnce></Esri>"
            f"<dataIdInfo><idCitation><resTitle>{tif.stem}</resTitle></idCitation></dataIdInfo></metadata>\n"
        )
        written.append(xml)
    return written


def _sidecar_kinds(sidecars: Union[bool, str, Sequence[str]]) -> Tuple[str, ...]:
    if sidecars is True:
        return ("aux.xml",)
    if not sidecars:
        return ()
    if sidecars == "all":
        return SIDECAR_KINDS
    return (sidecars,) if isinstance(sidecars, str) else tuple(sidecars)


def make_product(
    out_dir: Union[str, Path],
    reference_date: DateLike,
    secondary_date: DateLike,
    *,
    job_type: str = "INSAR_GAMMA",
    grid: Grid | None = None,
    scene: Grid | None = None,
    velocity_mm_yr: Union[None, float, np.ndarray, Field] = None,
    noise_rad: float = 0.05,
    unwrap_error: Union[bool, Tuple[float, float, float, float]] = False,
    unwrap_error_cycles: int = 1,
    dem_error_m: Union[None, float, np.ndarray, Field] = None,
    phase_offset_rad: float = 0.0,
    perp_baseline_m: float = 50.0,
    seed: int | None = 0,
    as_zip: bool = True,
    polarization: str = "VV",
    flight_direction: str = "ASCENDING",
    relative_orbit: int = 64,
    burst_id: int | None = None,
    swath: int = 2,
    missions: Tuple[str, str] = ("A", "A"),
    orbit_flag: str = "P",
    apply_water_mask: bool = False,
    include_wrapped_phase: bool = True,
    include_dem: bool = True,
    include_look_vectors: bool = True,
    include_inc_map: bool = False,
    nodata_collar_px: int = 2,
    sidecars: Union[bool, str, Sequence[str]] = False,
    date_displacement_m: DateField | None = None,
    water: Mask | None = None,
    forest: Mask | None = None,
    unwrap_error_conncomp: str = "separate",
) -> Path:
    """Write one synthetic HyP3 InSAR product and return its path (``NAME.zip`` or the folder ``NAME``).

    Parameters
    ----------
    out_dir: folder to write into (created if missing).
    reference_date, secondary_date: acquisition dates (``date``, ``datetime`` or ``YYYYMMDD`` text); a plain
        date gets a fixed time of day (secondary 1 s later, as real products have).
    job_type: ``INSAR_GAMMA``, ``INSAR_ISCE_BURST`` or ``INSAR_ISCE_MULTI_BURST`` (names, files, metadata).
    grid: the product's pixel grid (default :class:`Grid`); its pixel size must be a two-digit whole number
        of metres (``INTxx``).
    scene: the grid the synthetic scene (bowl, hills, low-coherence patch, unwrapping-error patch) is laid
        out on, so that products of different extents see the same ground (default: ``grid``).
    velocity_mm_yr: LOS velocity truth, mm/yr, positive towards the satellite: a callable ``f(x, y)`` of map
        coordinates, an array on ``scene`` (else ``grid``), a constant, or ``None`` for
        :func:`gaussian_bowl` on the scene.
    noise_rad: phase noise standard deviation (rad) where coherence is 0.8 (0.05 ~ the Cramer-Rao bound of
        HyP3's 20x4 looks); it scales as ``sqrt(1 - coh**2) / coh`` elsewhere (the low-coherence patch is ~4x
        noisier). The noise is independent per pair, so it accumulates in the time series: 0.1 rad already
        gives ~1.5 mm/yr velocity scatter over a 15-date, 12-day stack.
    unwrap_error: ``True`` adds ``unwrap_error_cycles`` x 2 pi in a default patch of the scene; a tuple
        ``(xmin, ymin, xmax, ymax)`` (map metres) places the patch; a callable ``f(x, y) -> bool array``
        shapes it.
    unwrap_error_conncomp: how the ISCE ``_conncomp.tif`` sees the patch, as SNAPHU would or would not:
        ``separate`` (its own component, 2), ``same`` (component 1 like its surroundings: invisible to
        bridging) or ``moat`` (its own component, cut off by a 2-pixel ring of 0).
    dem_error_m: DEM error (m) whose phase ``-4 pi / wavelength * B_perp * dz / (R sin(inc))`` is added, as
        MintPy's ``dem_error`` models it; ``None`` for none.
    phase_offset_rad: a constant added to the unwrapped phase (real unwrapped phase has an arbitrary one).
    perp_baseline_m: perpendicular baseline (``Baseline`` in the metadata), metres.
    seed: random seed (noise, name suffixes, granule ids).
    as_zip: write ``NAME.zip`` (one top folder ``NAME/``) and remove the folder, as HyP3 delivers it.
    include_*: the INSAR_GAMMA job options of the same names (ISCE products always hold these files).
    nodata_collar_px: width of the slanted nodata corners (0 outside the swath, like HyP3).
    sidecars: write sidecar files next to every GeoTIFF (see :func:`write_qgis_sidecars`): ``True`` = the
        ``.aux.xml`` QGIS writes (breaks MintPy's loader), ``"all"`` = also an ArcGIS-style ``.tif.xml``, or a
        sequence of :data:`SIDECAR_KINDS`. With ``as_zip`` they end up inside the zip.
    date_displacement_m: ``f(date, x, y)``: LOS displacement (m, positive towards the satellite) of each
        acquisition against any fixed datum - atmosphere, seasonal motion (see :class:`DateSignals`); the
        product holds ``f(secondary) - f(reference)`` on top of the velocity, so products of one stack
        agree where they overlap and close in every triangle.
    water: ``f(x, y) -> bool``: water. Water mask 0 there; coherence 0.05-0.2 and pure-noise phase, or no
        phase at all (0 = nodata) with ``apply_water_mask``; connected component 0 (ISCE).
    forest: ``f(x, y) -> bool``: forest, decorrelating with time: coherence ``0.18 + 0.55 exp(-days / 20)``
        (0.5 for 12 days, 0.2 after two months), phase noise to match; component 0 (ISCE) where the
        coherence is below 0.3, as SNAPHU leaves such areas out.
    """
    if job_type not in JOB_TYPES:
        raise ValueError(f"job_type must be one of {JOB_TYPES}, not {job_type!r}")
    grid = grid or Grid()
    scene = scene or grid
    pixel_size = int(round(grid.pixel_size))
    if not math.isclose(grid.pixel_size, pixel_size) or not 10 <= pixel_size <= 99:
        raise ValueError(f"HyP3 names carry a two-digit pixel size (INTxx); got {grid.pixel_size} m")
    rng = np.random.default_rng(seed)
    ref_time = _to_datetime(reference_date, flight_direction)
    sec_time = _to_datetime(secondary_date, flight_direction, add_seconds=1)
    if sec_time.date() <= ref_time.date():
        raise ValueError(f"secondary date {sec_time.date()} is not after reference date {ref_time.date()}")
    acq = _Acq(
        job_type=job_type,
        ref_time=ref_time,
        sec_time=sec_time,
        missions=missions,
        polarization=polarization,
        flight_direction=flight_direction,
        relative_orbit=relative_orbit,
        burst_id=burst_id if burst_id is not None else (relative_orbit - 1) * 2148 + 700,
        swath=swath,
        pixel_size=pixel_size,
        orbit_flag=orbit_flag,
        apply_water_mask=apply_water_mask,
        rng=rng,
    )
    name = acq.product_name()
    kinds = _sidecar_kinds(sidecars)

    # ---- fields on the product grid
    x, y = grid.pixel_centers()
    u, v = _unit_coords(scene, x, y)
    valid = valid_swath_mask(grid, nodata_collar_px, flight_direction)
    velocity = _as_field(velocity_mm_yr, scene, "velocity_mm_yr") or gaussian_bowl(scene)
    years = decimal_year(sec_time.date()) - decimal_year(ref_time.date())
    disp_m = velocity(x, y) * 1e-3 * years
    if date_displacement_m is not None:
        disp_m = (
            disp_m + date_displacement_m(sec_time.date(), x, y) - date_displacement_m(ref_time.date(), x, y)
        )
    phase = los_displacement_to_phase(disp_m)

    inc_deg = 37.5 + 1.5 * (u if flight_direction == "ASCENDING" else 1.0 - u)
    slant_range_m = 875670.0 + (u - 0.5) * scene.width * scene.pixel_size * np.sin(np.radians(inc_deg))
    dem_err = _as_field(dem_error_m, scene, "dem_error_m")
    if dem_err is not None:
        geom = perp_baseline_m / (slant_range_m * np.sin(np.radians(inc_deg)))
        phase = phase + los_displacement_to_phase(geom * dem_err(x, y))

    # coherence: 0.8-0.95 decaying with time, one low-coherence patch, clipped to 0.3-0.95
    days = (sec_time.date() - ref_time.date()).days
    coh = base_coherence(scene)(x, y) * np.exp(-days / 365.0) + rng.normal(0.0, 0.015, grid.shape)
    low = low_coherence_patch(scene)(x, y)
    coh[low] = 0.3 + 0.08 * rng.random(int(low.sum()))
    coh = np.clip(coh, 0.3, 0.95)
    conncomp = np.ones(grid.shape, dtype=np.uint8)
    is_water = np.asarray(water(x, y), dtype=bool) if water is not None else np.zeros(grid.shape, dtype=bool)
    if forest is not None:
        trees = np.asarray(forest(x, y), dtype=bool) & ~is_water
        forest_coh = 0.18 + 0.55 * np.exp(-days / 20.0) + rng.normal(0.0, 0.03, grid.shape)
        coh = np.where(trees, np.clip(forest_coh, 0.08, 0.8), coh)
        conncomp[trees & (coh < 0.3)] = 0
    if is_water.any():
        coh = np.where(is_water, 0.05 + 0.15 * rng.random(grid.shape), coh)
        conncomp[is_water] = 0
    noise_scale = np.sqrt(1.0 - coh**2) / coh / (math.sqrt(1.0 - 0.8**2) / 0.8)
    phase = phase + noise_rad * noise_scale * rng.standard_normal(grid.shape) + phase_offset_rad
    if is_water.any():  # no signal: the phase of decorrelated water is uniform noise
        phase = np.where(is_water, phase_offset_rad + rng.uniform(-np.pi, np.pi, grid.shape), phase)

    if unwrap_error:
        if unwrap_error is True:
            patch = unwrap_error_patch(scene)(x, y)
        elif callable(unwrap_error):
            patch = np.asarray(unwrap_error(x, y), dtype=bool)
        else:
            xmin, ymin, xmax, ymax = unwrap_error
            patch = (x > xmin) & (x < xmax) & (y > ymin) & (y < ymax)
        phase = phase + 2.0 * np.pi * unwrap_error_cycles * patch
        if unwrap_error_conncomp not in ("separate", "same", "moat"):
            raise ValueError(
                f"unwrap_error_conncomp must be separate, same or moat, not {unwrap_error_conncomp!r}"
            )
        if unwrap_error_conncomp in ("separate", "moat"):
            conncomp[patch & (conncomp > 0)] = 2
        if unwrap_error_conncomp == "moat":
            grown = patch.copy()
            for _ in range(2):
                grown = (
                    grown
                    | np.roll(grown, 1, 0)
                    | np.roll(grown, -1, 0)
                    | np.roll(grown, 1, 1)
                    | np.roll(grown, -1, 1)
                )
            conncomp[grown & ~patch] = 0
    if apply_water_mask and is_water.any():
        valid = valid & ~is_water

    # a reference point (GAMMA metadata): the most coherent valid pixel
    ref_idx = np.unravel_index(np.argmax(np.where(valid, coh, -1.0)), grid.shape)
    ref_phase = float(phase[ref_idx])

    def masked(a: np.ndarray) -> np.ndarray:
        out = np.where(valid, a, 0.0).astype(np.float32)
        # an exact 0 inside the swath would read as nodata
        out[valid & (out == 0.0)] = np.float32(1e-6)
        return out

    heading = _HEADING_DEG[flight_direction]
    az_angle_deg = (heading - 90.0) * -1.0  # MintPy's LOS azimuth (from north, anti-clockwise)
    lv_phi = np.radians(az_angle_deg + 90.0)  # HyP3: from east, anti-clockwise, radians
    lv_phi = (lv_phi + np.pi) % (2.0 * np.pi) - np.pi

    rasters: Dict[str, Tuple[np.ndarray, int, float | None]] = {
        "unw_phase": (masked(phase), gdal.GDT_Float32, 0.0),
        "corr": (masked(coh), gdal.GDT_Float32, 0.0),
        "water_mask": ((valid & ~is_water).astype(np.uint8), gdal.GDT_Byte, None),
    }
    is_gamma = job_type == "INSAR_GAMMA"
    if not is_gamma or include_wrapped_phase:
        rasters["wrapped_phase"] = (masked(np.angle(np.exp(1j * phase))), gdal.GDT_Float32, 0.0)
    if not is_gamma or include_dem:
        rasters["dem"] = (masked(topography(scene)(x, y)), gdal.GDT_Float32, 0.0)
    if not is_gamma or include_look_vectors:
        rasters["lv_theta"] = (masked(np.radians(90.0 - inc_deg)), gdal.GDT_Float32, 0.0)
        rasters["lv_phi"] = (masked(np.full(grid.shape, lv_phi)), gdal.GDT_Float32, 0.0)
    if is_gamma and include_inc_map:
        rasters["inc_map"] = (masked(np.radians(inc_deg)), gdal.GDT_Float32, 0.0)
    if is_gamma:
        amp = 0.05 + 0.2 * np.abs(np.sin(7.0 * u) * np.cos(5.0 * v)) + 0.02 * rng.random(grid.shape)
        rasters["amp"] = (masked(amp), gdal.GDT_Float32, 0.0)
    else:
        rasters["conncomp"] = (np.where(valid, conncomp, 0).astype(np.uint8), gdal.GDT_Byte, 0.0)

    # ---- write the folder
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = out_dir / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for suffix, (data, data_type, nodata) in rasters.items():
        tif = write_geotiff(folder / f"{name}_{suffix}.tif", data, grid, data_type=data_type, nodata=nodata)
        if kinds:
            write_qgis_sidecars(tif, kinds)
    meta = _metadata(acq, grid, perp_baseline_m, (int(ref_idx[0]), int(ref_idx[1])), ref_phase)
    (folder / f"{name}.txt").write_text("".join(f"{k}: {val}\n" for k, val in meta.items()))
    (folder / f"{name}.README.md.txt").write_text(
        f"ASF Sentinel-1 InSAR product {name} ({job_type}), synthetic test data.\n"
        "This product was written by tests/fakes/products.py; the values are not real.\n"
    )
    if not as_zip:
        return folder
    zip_path = out_dir / f"{name}.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, arcname=f"{name}/{f.name}")
    shutil.rmtree(folder)
    return zip_path


def break_product(path: Union[str, Path], kind: str) -> Path:
    """Damage a product in place the way downloads break; ``kind`` is one of :data:`BROKEN_KINDS`.

    ``missing_unw``: the unwrapped phase is missing; ``truncated_tif``: the unwrapped phase GeoTIFF is cut
    to a third of its bytes; ``truncated_zip``: the zip itself is cut (unreadable central directory).
    """
    path = Path(path)
    if kind not in BROKEN_KINDS:
        raise ValueError(f"kind must be one of {BROKEN_KINDS}, not {kind!r}")
    if kind == "truncated_zip":
        if path.suffix != ".zip":
            raise ValueError("truncated_zip needs a zipped product")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path
    if path.suffix == ".zip":
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith("_unw_phase.tif"):
                    if kind == "missing_unw":
                        continue
                    data = data[: len(data) // 3]
                dst.writestr(info, data)
        os.replace(tmp, path)
        return path
    unw = next(path.glob("*_unw_phase.tif"))
    if kind == "missing_unw":
        unw.unlink()
    else:
        data = unw.read_bytes()
        unw.write_bytes(data[: len(data) // 3])
    return path


# ------------------------------------------------------------------------------------------- stack
def build_network(dates: Sequence[dt.date], n_pairs: int) -> List[Tuple[dt.date, dt.date]]:
    """A connected small-baseline network: every date to its next later date(s), nearest first.

    All hop-1 pairs come first (which connects the network), then hop-2, hop-3, ... spread evenly over the
    dates until ``n_pairs`` pairs exist. Each date thus links to its 2-3 nearest later dates for the usual
    ``n_pairs ~ 2-2.5 x n_dates``.
    """
    dates = sorted(dates)
    n = len(dates)
    max_pairs = n * (n - 1) // 2
    if n < 2 or not n - 1 <= n_pairs <= max_pairs:
        raise ValueError(f"{n} dates allow a connected network of {n - 1}..{max_pairs} pairs, not {n_pairs}")
    pairs: List[Tuple[int, int]] = []
    hop = 1
    while len(pairs) < n_pairs:
        candidates = [(i, i + hop) for i in range(n - hop)]
        need = n_pairs - len(pairs)
        if need < len(candidates):
            picks = np.linspace(0, len(candidates) - 1, need).round().astype(int)
            candidates = [candidates[k] for k in sorted(set(picks.tolist()))]
        pairs.extend(candidates)
        hop += 1
    pairs.sort()
    return [(dates[i], dates[j]) for i, j in pairs]


@dataclass
class BrokenProduct:
    """A product the stack breaks on purpose (not part of the good network)."""

    path: Path
    pair: Tuple[dt.date, dt.date]
    kind: str


@dataclass
class Stack:
    """A synthetic stack of HyP3 products and its truth.

    ``products[i]`` is the product of ``pairs[i]`` on ``product_grids[i]``. The truth lives on ``truth_grid``
    = the common overlap of all product grids: ``truth_velocity_mm_yr`` (LOS, positive towards the
    satellite, defined everywhere) and ``valid_mask`` (pixels inside the swath of every good product).
    ``low_coherence_mask`` and ``unwrap_error_mask`` mark the decorrelated patch and the patch where the
    ``unwrap_error_pairs`` carry a 2 pi error. ``reference_yx`` (row, column) is a good reference pixel:
    valid, outside both patches, among the slowest-moving quarter, most coherent - MintPy's own automatic choice is a *random* pixel with
    average coherence > 0.85, which can land in the unwrapping-error patch and shift the whole result.
    """

    products: List[Path]
    pairs: List[Tuple[dt.date, dt.date]]
    dates: List[dt.date]
    product_grids: List[Grid]
    truth_grid: Grid
    truth_velocity_mm_yr: np.ndarray
    valid_mask: np.ndarray
    perp_baselines_m: Dict[dt.date, float]
    job_type: str
    low_coherence_mask: np.ndarray
    unwrap_error_mask: np.ndarray
    reference_yx: Tuple[int, int]
    unwrap_error_pairs: List[Tuple[dt.date, dt.date]] = field(default_factory=list)
    broken: List[BrokenProduct] = field(default_factory=list)
    #: per erroneous pair: where its 2 pi error is (truth grid) and how many cycles
    unwrap_error_masks: Dict[Tuple[dt.date, dt.date], np.ndarray] = field(default_factory=dict)
    unwrap_error_cycles: Dict[Tuple[dt.date, dt.date], int] = field(default_factory=dict)
    water_mask: np.ndarray | None = None  # truth grid: water (no signal)
    forest_mask: np.ndarray | None = None  # truth grid: forest (decorrelates within weeks)
    dem_error_m: np.ndarray | None = None  # truth grid: the DEM error the products carry (m)
    seasonal_amplitude_mm: np.ndarray | None = None  # truth grid: amplitude of the annual motion (mm)
    signals: DateSignals | None = None  # the per-date atmosphere and seasonal motion

    @property
    def coherent_land_mask(self) -> np.ndarray:
        """Pixels a good time series must cover: valid in every product, not water, forest or the
        decorrelated patch."""
        out = self.valid_mask & ~self.low_coherence_mask
        for extra in (self.water_mask, self.forest_mask):
            if extra is not None:
                out = out & ~extra
        return out

    @property
    def geotransform(self) -> Tuple[float, float, float, float, float, float]:
        """GDAL geotransform of the truth grid."""
        return self.truth_grid.geotransform

    @property
    def crs_wkt(self) -> str:
        """WKT of the truth grid's CRS."""
        return self.truth_grid.crs_wkt

    @property
    def epsg(self) -> int:
        """EPSG code of the truth grid."""
        return self.truth_grid.epsg

    @property
    def reference_xy(self) -> Tuple[float, float]:
        """Map coordinates (x, y) of the centre of :attr:`reference_yx`, metres in :attr:`epsg`."""
        row, col = self.reference_yx
        g = self.truth_grid
        return (g.origin_x + (col + 0.5) * g.pixel_size, g.origin_y - (row + 0.5) * g.pixel_size)

    @property
    def all_paths(self) -> List[Path]:
        """Good and broken product paths."""
        return list(self.products) + [b.path for b in self.broken]


def make_stack(
    out_dir: Union[str, Path],
    n_dates: int = 15,
    n_pairs: int = 30,
    *,
    grid: Grid | None = None,
    velocity_mm_yr: Union[None, float, np.ndarray, Field] = None,
    seed: int = 0,
    offsets: bool = True,
    max_offset_px: int = 2,
    unwrap_error_pairs: int = 1,
    broken_products: int = 0,
    sidecars: Union[bool, str, Sequence[str]] = False,
    job_type: str = "INSAR_GAMMA",
    as_zip: bool = True,
    start_date: dt.date = dt.date(2020, 1, 2),
    interval_days: int = 12,
    noise_rad: float = 0.05,
    perp_baseline_std_m: float = 60.0,
    dem_error_m: Union[None, float, np.ndarray, Field] = None,
    atmosphere_mm: float = 0.0,
    atmosphere_scale_m: float = 6000.0,
    stratified_mm_per_km: float = 0.0,
    seasonal_mm: Union[None, float, np.ndarray, Field] = None,
    water: Union[bool, Mask] = False,
    forest: Union[bool, Mask] = False,
    unwrap_error_regions: int | None = None,
    unwrap_error_conncomp: str = "separate",
    **product_kwargs: object,
) -> Stack:
    """Write a stack of synthetic HyP3 products over one scene and return it with its truth.

    ``grid`` is the scene (default :class:`Grid`); with ``offsets`` every product's extent moves and
    resizes by up to ``max_offset_px`` whole pixels, as real products of one stack do. ``velocity_mm_yr`` is
    as in :func:`make_product` (an array must be on ``grid``). ``unwrap_error_pairs`` products get a 2 pi
    unwrapping error in a patch; ``broken_products`` extra products (pairs outside the good network) are
    broken with the kinds of :data:`BROKEN_KINDS` in turn. Other keyword arguments go to
    :func:`make_product`.

    Dates are ``start_date + k * interval_days``; pairs come from :func:`build_network`; every date gets a
    perpendicular baseline drawn from N(0, ``perp_baseline_std_m``) (the first date 0) and every pair that
    difference; every product gets an arbitrary constant phase offset, as unwrapped phase has. Everything is
    reproducible from ``seed``.

    Realism (all off by default; :func:`realistic_stack` turns them on):

    * ``atmosphere_mm``: turbulent tropospheric delay per date (standard deviation, mm; correlated over
      ``atmosphere_scale_m``) and ``stratified_mm_per_km``: a delay proportional to height, N(0, this) per
      km and date - both the same for every product of a date (:class:`DateSignals`);
    * ``seasonal_mm``: amplitude (mm; a number, an array on ``grid`` or a field) of an annual motion that
      is not part of the velocity truth;
    * ``dem_error_m``: a DEM error whose phase grows with each pair's perpendicular baseline;
    * ``water`` / ``forest``: ``True`` for :func:`lake` / :func:`forest_band` (or a mask of your own);
    * ``unwrap_error_regions``: ``None`` puts every unwrapping error in the one default patch (+1 cycle);
      a number draws that many patches (:func:`patch_regions`) which the erroneous pairs take in turn, each
      patch with its own sign (-1 or +1 cycle), seen by the ISCE connected components as
      ``unwrap_error_conncomp`` says.
    """
    scene = grid or Grid()
    rng = np.random.default_rng(seed)
    dates = [start_date + dt.timedelta(days=interval_days * k) for k in range(n_dates)]
    pairs = build_network(dates, n_pairs)
    bperp = {d: float(rng.normal(0.0, perp_baseline_std_m)) for d in dates}
    bperp[dates[0]] = 0.0
    velocity = _as_field(velocity_mm_yr, scene, "velocity_mm_yr") or gaussian_bowl(scene)
    n_unw = min(unwrap_error_pairs, len(pairs))
    unw_idx = set(rng.choice(len(pairs), size=n_unw, replace=False).tolist()) if n_unw else set()
    realistic = bool(atmosphere_mm or stratified_mm_per_km or seasonal_mm is not None)
    signals = (
        DateSignals.make(
            scene,
            dates,
            np.random.default_rng(seed + 7919),
            atmosphere_mm=atmosphere_mm,
            atmosphere_scale_m=atmosphere_scale_m,
            stratified_mm_per_km=stratified_mm_per_km,
            seasonal_mm=seasonal_mm,
            margin_px=max_offset_px + 2,
        )
        if realistic
        else None
    )
    water_field: Mask | None = lake(scene) if water is True else (water or None)  # type: ignore[assignment]
    forest_field: Mask | None = forest_band(scene) if forest is True else (forest or None)  # type: ignore[assignment]
    regions = (
        patch_regions(scene, unwrap_error_regions, np.random.default_rng(seed + 104729))
        if unwrap_error_regions
        else []
    )
    # a patch keeps its sign: unwrapping fails the same way where it fails again (e.g. a steep gradient)
    signs = [int(v) for v in np.random.default_rng(seed + 1299709).choice([-1, 1], size=len(regions))]
    error_of: Dict[int, Tuple[Union[bool, Mask], int]] = {}
    for n, k in enumerate(sorted(unw_idx)):
        if regions:
            error_of[k] = (regions[n % len(regions)], signs[n % len(regions)])
        else:
            error_of[k] = (True, 1)

    # broken products use pairs outside the network, so the good network stays what it is
    spare = [(a, b) for i, a in enumerate(dates) for b in dates[i + 1 :] if (a, b) not in set(pairs)]
    if broken_products > len(spare):
        raise ValueError(f"no room for {broken_products} broken products outside the network")
    broken_pairs = [spare[k] for k in np.linspace(0, len(spare) - 1, broken_products).round().astype(int)]

    def product_grid() -> Grid:
        if not offsets or max_offset_px == 0:
            return scene
        dx, dy, dw, dh = rng.integers(-max_offset_px, max_offset_px + 1, size=4).tolist()
        return scene.shifted(dx, dy, dw, dh)

    kwargs: Dict[str, object] = dict(
        job_type=job_type,
        scene=scene,
        velocity_mm_yr=velocity,
        noise_rad=noise_rad,
        dem_error_m=dem_error_m,
        as_zip=as_zip,
        sidecars=sidecars,
        date_displacement_m=signals,
        water=water_field,
        forest=forest_field,
        unwrap_error_conncomp=unwrap_error_conncomp,
    )
    kwargs.update(product_kwargs)
    out_dir = Path(out_dir)
    products: List[Path] = []
    grids: List[Grid] = []
    for k, (d1, d2) in enumerate(pairs):
        g = product_grid()
        grids.append(g)
        patch, cycles = error_of.get(k, (False, 1))
        products.append(
            make_product(
                out_dir,
                d1,
                d2,
                grid=g,
                unwrap_error=patch,
                unwrap_error_cycles=cycles,
                phase_offset_rad=float(rng.uniform(-np.pi, np.pi)),
                perp_baseline_m=bperp[d2] - bperp[d1],
                seed=int(rng.integers(0, 2**31)),
                **kwargs,  # type: ignore[arg-type]
            )
        )
    broken: List[BrokenProduct] = []
    for k, (d1, d2) in enumerate(broken_pairs):
        kind = BROKEN_KINDS[k % len(BROKEN_KINDS)]
        if kind == "truncated_zip" and not as_zip:
            kind = "truncated_tif"
        path = make_product(
            out_dir,
            d1,
            d2,
            grid=product_grid(),
            perp_baseline_m=bperp[d2] - bperp[d1],
            seed=int(rng.integers(0, 2**31)),
            **kwargs,  # type: ignore[arg-type]
        )
        broken.append(BrokenProduct(break_product(path, kind), (d1, d2), kind))

    truth_grid = common_overlap(grids)
    tx, ty = truth_grid.pixel_centers()
    valid = np.ones(truth_grid.shape, dtype=bool)
    flight_direction = str(kwargs.get("flight_direction", "ASCENDING"))
    collar = int(kwargs.get("nodata_collar_px", 2))  # type: ignore[call-overload]
    for g in grids:
        valid &= valid_swath_mask(g, collar, flight_direction)[truth_grid.window_in(g)]
    low = low_coherence_patch(scene)(tx, ty)
    masks: Dict[Tuple[dt.date, dt.date], np.ndarray] = {}
    cycles_of: Dict[Tuple[dt.date, dt.date], int] = {}
    for k, (patch, cycles) in error_of.items():
        shape = unwrap_error_patch(scene) if patch is True else patch
        masks[pairs[k]] = np.asarray(shape(tx, ty), dtype=bool)  # type: ignore[operator]
        cycles_of[pairs[k]] = cycles
    unw_patch = np.zeros(truth_grid.shape, dtype=bool)
    for m in masks.values():
        unw_patch |= m
    water_mask = np.asarray(water_field(tx, ty), dtype=bool) if water_field else None
    forest_mask = (
        np.asarray(forest_field(tx, ty), dtype=bool) & ~(water_mask if water_mask is not None else False)
        if forest_field
        else None
    )
    truth = np.asarray(velocity(tx, ty), dtype=np.float64)
    ok = valid & ~low & ~unw_patch & ~unwrap_error_patch(scene)(tx, ty)
    for extra in (water_mask, forest_mask):
        if extra is not None:
            ok &= ~extra
    # stable ground: the quarter of the usable pixels that move least, then the most coherent of them
    ok &= np.abs(truth) <= np.percentile(np.abs(truth[ok]), 25)
    candidates = np.where(ok, base_coherence(scene)(tx, ty), -1.0)
    ref_row, ref_col = np.unravel_index(int(np.argmax(candidates)), truth_grid.shape)
    dem_field = _as_field(dem_error_m, scene, "dem_error_m")
    return Stack(
        products=products,
        pairs=pairs,
        dates=dates,
        product_grids=grids,
        truth_grid=truth_grid,
        truth_velocity_mm_yr=truth,
        valid_mask=valid,
        perp_baselines_m=bperp,
        job_type=job_type,
        low_coherence_mask=low,
        unwrap_error_mask=unw_patch,
        reference_yx=(int(ref_row), int(ref_col)),
        unwrap_error_pairs=[pairs[k] for k in sorted(unw_idx)],
        broken=broken,
        unwrap_error_masks=masks,
        unwrap_error_cycles=cycles_of,
        water_mask=water_mask,
        forest_mask=forest_mask,
        dem_error_m=None if dem_field is None else np.asarray(dem_field(tx, ty), dtype=float),
        seasonal_amplitude_mm=(
            None
            if signals is None or signals.seasonal_amplitude_m is None
            else 1e3 * signals.seasonal_amplitude_m(tx, ty)
        ),
        signals=signals,
    )


def realistic_stack(
    out_dir: Union[str, Path],
    *,
    job_type: str = "INSAR_ISCE_BURST",
    grid: Grid | None = None,
    n_dates: int = 30,
    n_pairs: int = 84,
    interval_days: int = 12,
    seed: int = 0,
    **overrides: object,
) -> Stack:
    """A stack like a real one (the defaults: an INSAR_ISCE_BURST stack at 80 m, 30 dates, 84
    interferograms, mismatched extents), with everything that makes real time series hard:

    * turbulent (5 mm) and stratified (N(0, 8 mm/km)) tropospheric delay per date;
    * a DEM error field (canopy +20 m, new buildings +30 m, a quarry -25 m) seen through 60 m (std) of
      perpendicular baselines;
    * an annual motion of up to 9.5 mm amplitude in a basin (not part of the velocity truth);
    * a lake (no signal) and a forest band that decorrelates within weeks, besides the low-coherence patch;
    * six interferograms with +-2 pi unwrapping errors in three patches, each a connected component of its
      own (as SNAPHU leaves them when the patch is unwrapped apart);
    * a -30 mm/yr subsidence bowl and 0.25 rad of phase noise at coherence 0.8.

    ``overrides`` replace any of these (they are :func:`make_stack` arguments).
    """
    scene = grid or Grid(width=160, height=120)
    options: Dict[str, object] = dict(
        atmosphere_mm=5.0,
        stratified_mm_per_km=8.0,
        dem_error_m=dem_error_field(scene),
        seasonal_mm=seasonal_amplitude(scene),
        water=True,
        forest=True,
        unwrap_error_pairs=6,
        unwrap_error_regions=3,
        unwrap_error_conncomp="separate",
        noise_rad=0.25,
        perp_baseline_std_m=60.0,
        velocity_mm_yr=gaussian_bowl(scene, amplitude_mm_yr=-30.0),
    )
    options.update(overrides)
    return make_stack(
        out_dir,
        n_dates=n_dates,
        n_pairs=n_pairs,
        grid=scene,
        seed=seed,
        job_type=job_type,
        interval_days=interval_days,
        **options,  # type: ignore[arg-type]
    )
