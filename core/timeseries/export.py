"""MintPy results as GeoTIFFs and an InSAR Explorer point layer.

Every GeoTIFF is on the prepared grid (same CRS and geotransform as the clipped products). Velocity and its
standard deviation are in **mm/year**, displacement in **mm**, line of sight, positive = towards the
satellite (MintPy's sign: negative = away from it, e.g. subsidence), NaN (nodata) where MintPy's
``maskTempCoh.h5`` masks the pixel. The HDF5 files are read with GDAL's HDF5 driver by default: inside
QGIS, importing an h5py wheel (which bundles its own HDF5) after GDAL has loaded the system HDF5 fails
("Not a datatype") or crashes. ``prefer_h5py=True`` uses h5py where that is safe (plain Python).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import InputError, InsarhubError
from .config import read_cfg
from .prepare import Prepared, PreparedGrid, _gdal_errors, _srs

#: Output keys of :func:`export_results` (the Processing algorithm's output names).
OUTPUT_KEYS = ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")
SIGN_DESCRIPTION = (
    "line of sight; positive = towards the satellite (uplift or motion towards it), "
    "negative = away from the satellite (e.g. subsidence)"
)
_ROW_BLOCK = 256
_EXPORT_BLOCK_BYTES = 256 << 20  # the time series read at a time by export_results (all dates, some rows)


# ---------------------------------------------------------------------------------------- reading
class _H5:
    """Read datasets and root attributes of a MintPy HDF5 file (h5py, else GDAL multidimensional API)."""

    def __init__(self, path: Path, prefer_h5py: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InsarhubError(
                f"MintPy's output {self.path.name} is missing in {self.path.parent}; did the MintPy run finish?"
            )
        self._h5py = None
        if prefer_h5py:
            try:
                import h5py

                self._h5py = h5py
            except ImportError:
                self._h5py = None

    def attrs(self) -> Dict[str, str]:
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                return {k: _text(v) for k, v in f.attrs.items()}
        from osgeo import gdal

        with _gdal_errors(pam=True):
            root = gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup()
            return {a.GetName(): _text(a.Read()) for a in (root.GetAttributes() or [])}

    def names(self) -> List[str]:
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                return list(f.keys())
        from osgeo import gdal

        with _gdal_errors(pam=True):
            return list(
                gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup().GetMDArrayNames() or []
            )

    def shape(self, name: str) -> Tuple[int, ...]:
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                return tuple(f[name].shape)
        from osgeo import gdal

        with _gdal_errors(pam=True):
            arr = gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup().OpenMDArray(name)
            return tuple(int(d.GetSize()) for d in arr.GetDimensions())

    def block_rows(self, name: str) -> int:
        """Rows of one HDF5 chunk of dataset ``name`` (0 when it is not chunked): a read costs whole chunks."""
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                chunks = f[name].chunks
                return int(chunks[-2]) if chunks else 0
        from osgeo import gdal

        with _gdal_errors(pam=True):
            arr = gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup().OpenMDArray(name)
            block = arr.GetBlockSize()
            return int(block[-2]) if block and len(block) >= 2 else 0

    def vector(self, name: str) -> np.ndarray:
        """A whole 1-D numeric dataset (e.g. ``bperp``, ``dropIfgram``)."""
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                return np.asarray(f[name][:])
        from osgeo import gdal

        with _gdal_errors(pam=True):
            arr = gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup().OpenMDArray(name)
            return np.asarray(arr.ReadAsArray())

    def strings(self, name: str) -> List[str]:
        """A 1-D string dataset (e.g. ``date``)."""
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                return [_text(v) for v in np.asarray(f[name][:]).ravel()]
        from osgeo import gdal

        with _gdal_errors(pam=True):
            arr = gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup().OpenMDArray(name)
            return [_text(v) for v in arr.Read()]

    def read(self, name: str, index: int | None = None, rows: Tuple[int, int] | None = None) -> np.ndarray:
        """A 2-D dataset, or band ``index`` of a 3-D one (``None``: all bands); ``rows`` = (first, stop)."""
        shape = self.shape(name)
        r0, r1 = rows if rows is not None else (0, shape[-2])
        if self._h5py is not None:
            with self._h5py.File(self.path, "r") as f:
                ds = f[name]
                if len(shape) == 2:
                    return np.asarray(ds[r0:r1, :])
                if index is None:
                    return np.asarray(ds[:, r0:r1, :])
                return np.asarray(ds[index, r0:r1, :])
        from osgeo import gdal

        with _gdal_errors(pam=True):
            arr = gdal.OpenEx(str(self.path), gdal.OF_MULTIDIM_RASTER).GetRootGroup().OpenMDArray(name)
            if len(shape) == 2:
                return arr.ReadAsArray(array_start_idx=[r0, 0], count=[r1 - r0, shape[1]])
            if index is None:
                return arr.ReadAsArray(array_start_idx=[0, r0, 0], count=[shape[0], r1 - r0, shape[2]])
            return arr.ReadAsArray(array_start_idx=[index, r0, 0], count=[1, r1 - r0, shape[2]])[0]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


# ------------------------------------------------------------------------------- which time series
def _resolve(template: Mapping[str, str], key: str, auto: str) -> str:
    value = template.get(key, "auto").strip().lower()
    return auto if value in ("auto", "") else value


def final_timeseries_file(workdir: os.PathLike | str, prefer_h5py: bool = False) -> Path:
    """The time-series HDF5 MintPy's last correction step produced (the one its velocity comes from).

    ``velocity.h5`` records its source (``FILE_PATH``); without it the name is derived from the
    configuration as MintPy does (``timeseries`` + ``_SET``, ``_ion``, ``_ERA5``/``_tropHgt``/...,
    ``_ramp``, ``_demErr`` for each enabled correction).
    """
    workdir = Path(workdir)
    velocity = workdir / "velocity.h5"
    if velocity.is_file():
        source = _H5(velocity, prefer_h5py).attrs().get("FILE_PATH", "")
        if source:
            candidate = workdir / Path(source).name
            if candidate.is_file():
                return candidate
    template_path = workdir / "smallbaselineApp.cfg"
    template = read_cfg(template_path) if template_path.is_file() else {}
    name = "timeseries"
    if _resolve(template, "mintpy.solidEarthTides", "no") not in ("no", "false"):
        name += "_SET"
    if _resolve(template, "mintpy.ionosphericDelay.method", "no") not in ("no", "false"):
        name += "_ion"
    tropo = _resolve(template, "mintpy.troposphericDelay.method", "pyaps")
    if tropo == "pyaps":
        name += (
            "_"
            + template.get("mintpy.troposphericDelay.weatherModel", "auto").replace("auto", "ERA5").upper()
        )
    elif tropo in ("height_correlation", "gacos", "opera"):
        name += {"height_correlation": "_tropHgt", "gacos": "_GACOS", "opera": "_OPERA"}[tropo]
    if _resolve(template, "mintpy.deramp", "no") not in ("no", "false"):
        name += "_ramp"
    if _resolve(template, "mintpy.topographicResidual", "yes") not in ("no", "false"):
        name += "_demErr"
    for candidate in (workdir / f"{name}.h5", workdir / "timeseries.h5"):
        if candidate.is_file():
            return candidate
    raise InsarhubError(
        f"No MintPy time series ({name}.h5 or timeseries.h5) in {workdir}; did the MintPy run finish?"
    )


# ---------------------------------------------------------------------------------------- writing
def _check_grid(attrs: Mapping[str, str], shape: Sequence[int], grid: PreparedGrid, what: str) -> None:
    """MintPy's grid must be the prepared one, or the GeoTIFFs would be misplaced."""
    if tuple(shape[-2:]) != grid.shape:
        raise InsarhubError(
            f"{what} is {shape[-2]} x {shape[-1]} pixels but the prepared grid is {grid.height} x {grid.width}; "
            "the work folder holds results of other products - run the time series again in a fresh folder."
        )
    x0, dx, _, y0, _, dy = grid.geotransform
    try:
        same = (
            math.isclose(float(attrs["X_FIRST"]), x0, abs_tol=1e-3 * dx)
            and math.isclose(float(attrs["Y_FIRST"]), y0, abs_tol=1e-3 * dx)
            and math.isclose(float(attrs["X_STEP"]), dx, rel_tol=1e-6)
            and math.isclose(float(attrs["Y_STEP"]), dy, rel_tol=1e-6)
        )
    except (KeyError, ValueError):
        same = True  # no geocoding attributes: trust the shape
    if not same:
        raise InsarhubError(
            f"{what} is not on the prepared grid (origin {attrs.get('X_FIRST')}, {attrs.get('Y_FIRST')}); "
            "run the time series again in a fresh work folder."
        )


class _GeoTiff:
    """A Float32 GeoTIFF (NaN = nodata) on ``grid``, written whole bands or rows at a time, atomically: a
    temporary file renamed by :meth:`close` (removed by :meth:`abort`). ``options``: GeoTIFF creation options
    (default: deflate, tiled 256 x 256); ``overview_factors``: internal overviews, filled from what is
    written (see :func:`displacement_layout`); rows written must then start at multiples of the largest
    factor."""

    def __init__(
        self,
        path: Path,
        count: int,
        grid: PreparedGrid,
        *,
        descriptions: Sequence[str],
        units: str,
        band_metadata: Sequence[Mapping[str, str]] = (),
        metadata: Mapping[str, str] | None = None,
        options: Sequence[str] | None = None,
        overview_factors: Sequence[int] = (),
    ) -> None:
        from osgeo import gdal

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.factors = list(overview_factors)
        if options is None:
            options = ["COMPRESS=DEFLATE", "PREDICTOR=3", "TILED=YES", "BIGTIFF=IF_SAFER"]
        with _gdal_errors(pam=True):
            self.ds = gdal.GetDriverByName("GTiff").Create(
                str(self.tmp), grid.width, grid.height, count, gdal.GDT_Float32, list(options)
            )
            try:
                self.ds.SetGeoTransform(grid.geotransform)
                self.ds.SetProjection(grid.crs_wkt)
                if metadata:
                    self.ds.SetMetadata({k: str(v) for k, v in metadata.items()})
                if self.factors:
                    _create_overviews(self.ds, self.factors)
                for i in range(count):
                    band = self.ds.GetRasterBand(i + 1)
                    band.SetNoDataValue(float("nan"))
                    band.SetDescription(descriptions[i])
                    band.SetUnitType(units)
                    meta = {"UNITS": units}
                    if i < len(band_metadata):
                        meta.update(band_metadata[i])
                    band.SetMetadata(meta)
            except Exception:
                self.abort()
                raise

    def write(self, index: int, data: np.ndarray, first_row: int = 0) -> None:
        """Rows ``first_row:`` of band ``index`` (from 0), and of its overviews."""
        values = np.asarray(data, dtype=np.float32)
        with _gdal_errors(pam=True):
            band = self.ds.GetRasterBand(index + 1)
            band.WriteArray(values, 0, first_row)
            if self.factors:
                _write_overviews(band, values, self.factors, first_row)

    def close(self) -> Path:
        with _gdal_errors(pam=True):
            self.ds.FlushCache()
        self.ds = None
        os.replace(self.tmp, self.path)
        aux = self.tmp.with_name(self.tmp.name + ".aux.xml")
        if aux.exists():
            os.replace(aux, self.path.with_name(self.path.name + ".aux.xml"))
        return self.path

    def abort(self) -> None:
        self.ds = None
        self.tmp.unlink(missing_ok=True)
        self.tmp.with_name(self.tmp.name + ".aux.xml").unlink(missing_ok=True)


def _write_geotiff(
    path: Path,
    bands: Iterable[np.ndarray],
    count: int,
    grid: PreparedGrid,
    **layout: object,
) -> Path:
    """Write Float32 bands (NaN = nodata) on ``grid``, atomically; ``layout``: the keywords of
    :class:`_GeoTiff` (``descriptions``, ``units``, ``band_metadata``, ``metadata``, ``options``,
    ``overview_factors``)."""
    out = _GeoTiff(Path(path), count, grid, **layout)  # type: ignore[arg-type]
    try:
        for i, data in enumerate(bands):
            out.write(i, data)
    except BaseException:
        out.abort()
        raise
    return out.close()


#: Block (tile) size of the DISPLACEMENT GeoTIFF's full-resolution image, pixels.
DISPLACEMENT_BLOCK_PX = 16
#: Block size of its overviews, pixels.
DISPLACEMENT_OVERVIEW_BLOCK_PX = 128


def displacement_layout(width: int, height: int) -> Dict[str, object]:
    """How the DISPLACEMENT GeoTIFF is laid out, for the two ways it is read (``_write_geotiff`` keywords).

    * A click charts one pixel through every date: the bands are tiled in small blocks
      (:data:`DISPLACEMENT_BLOCK_PX`), so one pixel costs one small block per band (150 dates: 150 blocks of
      1 KB), not one 256 x 256 block per band nor one block holding every date's 256 x 256 pixels.
    * The map shows one date at a time (Temporal Controller): the bands are stored one after the other
      (``INTERLEAVE=BAND``), so drawing a date decodes that date only, and internal overviews (averages, halving
      until the smaller side is under 256 pixels) keep a zoomed-out frame-sized view cheap. Pixel
      interleaving would put every date in each block: a click reads one block, but drawing one date decodes
      all of them, and building overviews decodes the whole file once per band.
    * Not compressed: in blocks of 1 KB, DEFLATE saves 3-18 % of a displacement cube (noisy floats; the
      NaN areas are what it saves) and makes writing it several times slower (a frame's 60 dates: 143 s
      against 96 s, source reads included, ``bench/bench_click.py``; 10 times on synthetic bands). Blocks that
      are all NaN are left out of the file instead (``SPARSE_OK``), which is most of that saving; reading
      such a block gives NaN.
    """
    factors: List[int] = []
    factor = 2
    while min(width, height) // factor >= 256:
        factors.append(factor)
        factor *= 2
    block = DISPLACEMENT_BLOCK_PX
    return {
        "options": [
            "TILED=YES",
            f"BLOCKXSIZE={block}",
            f"BLOCKYSIZE={block}",
            "INTERLEAVE=BAND",
            "SPARSE_OK=TRUE",
            "BIGTIFF=IF_SAFER",
        ],
        "overview_factors": factors,
    }


def _create_overviews(dataset: object, factors: Sequence[int]) -> None:
    """Empty internal overviews in blocks of :data:`DISPLACEMENT_OVERVIEW_BLOCK_PX`, not compressed, as the
    full resolution (:func:`displacement_layout`); :func:`_write_overviews` fills them band by band."""
    from osgeo import gdal

    settings = {"GDAL_TIFF_OVR_BLOCKSIZE": str(DISPLACEMENT_OVERVIEW_BLOCK_PX)}
    old = {key: gdal.GetThreadLocalConfigOption(key, None) for key in settings}
    for key, value in settings.items():
        gdal.SetThreadLocalConfigOption(key, value)
    try:
        dataset.BuildOverviews("NONE", list(factors))  # type: ignore[attr-defined]
    finally:
        for key, value in old.items():
            gdal.SetThreadLocalConfigOption(key, value)


def _sums_down(total: np.ndarray, count: np.ndarray, factor: int, shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Sums and counts of valid pixels over ``factor x factor`` squares onto ``shape`` (the squares of the
    last row and column partial where the size does not divide): ``factor**2`` strided additions, which
    numpy does far faster than a reduction over reshaped axes."""
    rows, cols = shape
    if total.shape != (rows * factor, cols * factor):  # pad (or crop) to whole squares
        h, w = min(total.shape[0], rows * factor), min(total.shape[1], cols * factor)
        padded_total = np.zeros((rows * factor, cols * factor), dtype=total.dtype)
        padded_count = np.zeros((rows * factor, cols * factor), dtype=count.dtype)
        padded_total[:h, :w], padded_count[:h, :w] = total[:h, :w], count[:h, :w]
        total, count = padded_total, padded_count
    sums = np.zeros(shape, dtype=np.float64)
    counts = np.zeros(shape, dtype=np.int32)
    for i in range(factor):
        for j in range(factor):
            sums += total[i::factor, j::factor]
            counts += count[i::factor, j::factor]
    return sums, counts


def _write_overviews(band: object, data: np.ndarray, factors: Sequence[int], first_row: int = 0) -> None:
    """Fill the overviews of ``band`` (made by :func:`_create_overviews`) from its full resolution rows
    ``data`` starting at ``first_row`` (a multiple of every factor): the averages of valid pixels over each
    overview's squares of the full resolution (GDAL's AVERAGE), each level's sums and counts made from the
    previous level's. Written here while the rows are in memory rather than by GDAL's BuildOverviews, which
    reads every small block of the file back: a frame's 60-date displacement spent 5 of every 6 seconds of
    its writing there."""
    valid = np.isfinite(data)
    total, count, done = np.where(valid, data, np.float32(0.0)), valid, 1
    last_row = first_row + data.shape[0]
    for index in range(min(len(factors), band.GetOverviewCount())):  # type: ignore[attr-defined]
        overview = band.GetOverview(index)  # type: ignore[attr-defined]
        factor = int(factors[index])
        if first_row % factor:
            raise ValueError(f"overview rows of factor {factor} cannot start at full-resolution row {first_row}")
        shape = (min(overview.YSize, -(-last_row // factor)) - first_row // factor, overview.XSize)
        if factor % done == 0:
            total, count = _sums_down(total, count, factor // done, shape)  # from the previous level
        else:  # not a multiple of the previous level: from the full resolution
            total, count = _sums_down(np.where(valid, data, np.float32(0.0)), valid, factor, shape)
        done = factor
        with np.errstate(invalid="ignore", divide="ignore"):
            overview.WriteArray(
                np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32), 0, first_row // factor
            )


def _mask(workdir: Path, grid: PreparedGrid, prefer_h5py: bool) -> np.ndarray:
    """MintPy's reliable-pixel mask (temporal coherence above ``minTempCoh``), True = keep."""
    reader = _H5(workdir / "maskTempCoh.h5", prefer_h5py)
    mask = reader.read("mask").astype(bool)
    _check_grid(reader.attrs(), mask.shape, grid, "maskTempCoh.h5")
    return mask


def export_results(
    workdir: os.PathLike | str,
    out_paths: Mapping[str, os.PathLike | str | None],
    prepared: Prepared,
    *,
    prefer_h5py: bool = False,
    honest_std: bool = True,
) -> Dict[str, str]:
    """Write MintPy's results in ``workdir`` as GeoTIFFs on the prepared grid.

    ``out_paths`` maps any of ``VELOCITY``, ``VELOCITY_STD``, ``TEMPORAL_COHERENCE``, ``DISPLACEMENT`` to a
    ``.tif`` path (missing or None: not written):

    * ``VELOCITY``, ``VELOCITY_STD``: one Float32 band, mm/year, LOS, positive towards the satellite,
      NaN where ``maskTempCoh.h5`` masks the pixel; metadata ``UNITS``, ``SIGN``, reference pixel/date and
      what was corrected and fitted (:func:`science_metadata`). The standard deviation is
      :class:`_StdModel` (``honest_std``; else MintPy's own ``velocityStd``);
    * ``TEMPORAL_COHERENCE``: MintPy's temporal coherence (0-1), unmasked;
    * ``DISPLACEMENT``: mm, one band per date (description ``YYYYMMDD``), relative to the reference date
      (whose band is 0) and reference pixel, masked like the velocity.

    Returns the written paths by key, plus ``TIMESERIES``: the time-series HDF5 the velocity came from
    (:func:`final_timeseries_file`).
    """
    workdir = Path(workdir)
    grid = prepared.grid
    unknown = set(out_paths) - set(OUTPUT_KEYS)
    if unknown:
        raise InputError(f"Unknown outputs {sorted(unknown)}; use {', '.join(OUTPUT_KEYS)}.")
    vel_reader = _H5(workdir / "velocity.h5", prefer_h5py)
    vel_attrs = vel_reader.attrs()
    _check_grid(vel_attrs, vel_reader.shape("velocity"), grid, "velocity.h5")
    mask = _mask(workdir, grid, prefer_h5py)
    ts_file = final_timeseries_file(workdir, prefer_h5py)
    common = {
        "SIGN": SIGN_DESCRIPTION,
        "REFERENCE_DATE": vel_attrs.get("REF_DATE", ""),
        "START_DATE": vel_attrs.get("START_DATE", ""),
        "END_DATE": vel_attrs.get("END_DATE", ""),
        "SOURCE": "MintPy smallbaselineApp (InSARHub for QGIS)",
        "TIMESERIES_FILE": ts_file.name,
    }
    if "REF_Y" in vel_attrs and "REF_X" in vel_attrs:
        ref_row, ref_col = int(vel_attrs["REF_Y"]), int(vel_attrs["REF_X"])
        ref_x, ref_y = grid.xy_of(ref_row, ref_col)
        common["REFERENCE_PIXEL_ROW_COL"] = f"{ref_row},{ref_col}"
        common["REFERENCE_POINT_XY"] = f"{ref_x:.3f},{ref_y:.3f}"
        common["REFERENCE_POINT_EPSG"] = str(grid.epsg or "")
    written: Dict[str, str] = {}

    def masked(data: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        out = np.asarray(data, dtype=np.float32)
        return np.where(mask[rows] & np.isfinite(out), out, np.float32(np.nan))

    common.update(science_metadata(workdir))
    # One read of the time series, a block of rows at a time, gives the displacement and the velocity's
    # standard deviation: read date by date, each date cost whole HDF5 chunks of several dates.
    std_mm_yr = _displacement_pass(
        ts_file, out_paths.get("DISPLACEMENT"), bool(out_paths.get("VELOCITY_STD") and honest_std), grid,
        workdir, common, masked, written, prefer_h5py,
    )  # fmt: skip
    for key, dataset, description in (
        ("VELOCITY", "velocity", "LOS velocity (mm/year, positive towards the satellite)"),
        ("VELOCITY_STD", "velocityStd", "LOS velocity standard deviation (mm/year)"),
    ):
        target = out_paths.get(key)
        if not target:
            continue
        extra: Dict[str, str] = {}
        if key == "VELOCITY_STD" and honest_std:
            data_mm_yr = masked(std_mm_yr)
            extra["STD_METHOD"] = STD_METHOD
        else:
            data_mm_yr = masked(vel_reader.read(dataset) * 1000.0)
        _write_geotiff(
            Path(target),
            [data_mm_yr],
            1,
            grid,
            descriptions=[description],
            units="mm/year",
            band_metadata=[{"SIGN": SIGN_DESCRIPTION, **extra}],
            metadata={**common, "QUANTITY": dataset, **extra},
        )
        written[key] = str(target)

    target = out_paths.get("TEMPORAL_COHERENCE")
    if target:
        reader = _H5(workdir / "temporalCoherence.h5", prefer_h5py)
        coh = reader.read("temporalCoherence").astype(np.float64)
        _check_grid(reader.attrs(), coh.shape, grid, "temporalCoherence.h5")
        _write_geotiff(
            Path(target),
            [np.where(np.isfinite(coh), coh, np.nan)],
            1,
            grid,
            descriptions=["temporal coherence"],
            units="1",
            metadata={**common, "QUANTITY": "temporalCoherence"},
        )
        written["TEMPORAL_COHERENCE"] = str(target)

    written["TIMESERIES"] = str(ts_file)
    return written


def _displacement_pass(
    ts_file: Path,
    target: os.PathLike | str | None,
    with_std: bool,
    grid: PreparedGrid,
    workdir: Path,
    common: Mapping[str, str],
    masked,  # noqa: ANN001  (data, rows) -> masked float32
    written: Dict[str, str],
    prefer_h5py: bool,
) -> np.ndarray | None:
    """Write the DISPLACEMENT GeoTIFF to ``target`` (if any, recorded in ``written``) and (``with_std``)
    return the velocity's standard deviation (:class:`_StdModel`, unmasked), reading ``ts_file`` once
    in blocks of rows of every date (about :data:`_EXPORT_BLOCK_BYTES` each)."""
    if not target and not with_std:
        return None
    reader = _H5(ts_file, prefer_h5py)
    ts_attrs = reader.attrs()
    shape = reader.shape("timeseries")
    _check_grid(ts_attrs, shape, grid, ts_file.name)
    dates = reader.strings("date")
    rows, cols = shape[-2:]
    model = _StdModel(workdir, dates) if with_std else None
    std = np.full((rows, cols), np.nan, dtype=np.float32) if with_std else None
    layout = displacement_layout(grid.width, grid.height)
    align = max([DISPLACEMENT_BLOCK_PX, *layout["overview_factors"]])  # type: ignore[list-item]
    step = max(align, int(_EXPORT_BLOCK_BYTES // max(1, len(dates) * cols * 4)) // align * align)
    out = None
    if target:
        ref_date = ts_attrs.get("REF_DATE", dates[0] if dates else "")
        out = _GeoTiff(
            Path(target),
            len(dates),
            grid,
            descriptions=dates,
            units="mm",
            band_metadata=[{"DATE": d, "SIGN": SIGN_DESCRIPTION} for d in dates],
            metadata={
                **common,
                "QUANTITY": "displacement relative to the reference date",
                "REFERENCE_DATE": ref_date,
                "DATES": ",".join(dates),
            },
            **layout,  # type: ignore[arg-type]
        )
    try:
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            series_mm = reader.read("timeseries", rows=(r0, r1)) * np.float32(1000.0)
            if model is not None and std is not None:
                std[r0:r1] = model.rows(series_mm)
            if out is not None:
                for i in range(len(dates)):
                    out.write(i, masked(series_mm[i], slice(r0, r1)), r0)
            del series_mm
        if out is not None:
            written["DISPLACEMENT"] = str(out.close())
    except BaseException:
        if out is not None:
            out.abort()
        raise
    return std


def export_insar_explorer_points(
    workdir: os.PathLike | str,
    gpkg_path: os.PathLike | str,
    prepared: Prepared,
    coherent_only: bool = True,
    min_temporal_coherence: float = 0.7,
    *,
    prefer_h5py: bool = False,
) -> Tuple[Path, int]:
    """Write MintPy's results as a point GeoPackage that the InSAR Explorer plugin opens.

    One point per pixel centre, in EPSG:4326 (longitude, latitude), layer ``mintpy``, with the fields of
    MintPy's ``save_qgis``: ``CODE``, ``HEIGHT`` (m), ``H_STDEV``, ``VEL`` and ``V_STDEV`` (mm/year, LOS,
    positive towards the satellite; ``velocity`` repeats ``VEL``), ``COHERENCE`` (temporal), ``EFF_AREA`` and one ``DYYYYMMDD`` field per
    date (displacement, mm, relative to the reference date). ``coherent_only``: only pixels MintPy's mask
    keeps and whose temporal coherence is at least ``min_temporal_coherence``; otherwise every pixel with a
    velocity. Returns ``(path, number of points)``.
    """
    from osgeo import ogr, osr

    workdir = Path(workdir)
    gpkg_path = Path(gpkg_path)
    grid = prepared.grid
    vel = _H5(workdir / "velocity.h5", prefer_h5py)
    _check_grid(vel.attrs(), vel.shape("velocity"), grid, "velocity.h5")
    coh = _H5(workdir / "temporalCoherence.h5", prefer_h5py)
    ts = _H5(final_timeseries_file(workdir, prefer_h5py), prefer_h5py)
    dates = ts.strings("date")
    keep_mask = _mask(workdir, grid, prefer_h5py) if coherent_only else np.ones(grid.shape, dtype=bool)
    height = _height(workdir, prepared, prefer_h5py)

    source = _srs(grid.crs_wkt)
    target = osr.SpatialReference()
    target.ImportFromEPSG(4326)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(source, target)

    gpkg_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = gpkg_path.with_name(f".{gpkg_path.stem}.partial.gpkg")
    count = 0
    with _gdal_errors(pam=True):
        driver = ogr.GetDriverByName("GPKG")
        if tmp.exists():
            driver.DeleteDataSource(str(tmp))
        ds = driver.CreateDataSource(str(tmp))
        layer = ds.CreateLayer("mintpy", target, ogr.wkbPoint)
        code = ogr.FieldDefn("CODE", ogr.OFTString)
        code.SetWidth(8)
        layer.CreateField(code)
        # ``velocity`` repeats ``VEL`` under the name InSAR Explorer's documentation uses.
        for name in ("HEIGHT", "H_STDEV", "VEL", "V_STDEV", "COHERENCE", "velocity"):
            layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
        layer.CreateField(ogr.FieldDefn("EFF_AREA", ogr.OFTInteger))
        for d in dates:
            layer.CreateField(ogr.FieldDefn(f"D{d}", ogr.OFTReal))
        defn = layer.GetLayerDefn()
        layer.StartTransaction()
        for r0 in range(0, grid.height, _ROW_BLOCK):
            r1 = min(grid.height, r0 + _ROW_BLOCK)
            v = vel.read("velocity", rows=(r0, r1)) * 1000.0
            vs = vel.read("velocityStd", rows=(r0, r1)) * 1000.0
            c = coh.read("temporalCoherence", rows=(r0, r1))
            d = ts.read("timeseries", rows=(r0, r1)) * 1000.0
            keep = keep_mask[r0:r1] & np.isfinite(v)
            if coherent_only:
                keep &= np.nan_to_num(c, nan=0.0) >= min_temporal_coherence
            for row, col in zip(*np.nonzero(keep)):
                x, y = grid.xy_of(r0 + int(row), int(col))
                lon, lat = to_wgs84.TransformPoint(x, y)[:2]
                count += 1
                feature = ogr.Feature(defn)
                point = ogr.Geometry(ogr.wkbPoint)
                point.AddPoint_2D(lon, lat)
                feature.SetGeometry(point)
                feature.SetField("CODE", f"{count:08x}")
                feature.SetField("HEIGHT", float(height[r0 + row, col]))
                feature.SetField("H_STDEV", 0.0)
                feature.SetField("VEL", float(v[row, col]))
                feature.SetField("velocity", float(v[row, col]))
                feature.SetField("V_STDEV", float(vs[row, col]))
                feature.SetField("COHERENCE", float(c[row, col]))
                feature.SetField("EFF_AREA", 1)
                for i, date in enumerate(dates):
                    feature.SetField(f"D{date}", float(d[i, row, col]))
                layer.CreateFeature(feature)
        layer.CommitTransaction()
        ds = None
    os.replace(tmp, gpkg_path)
    return gpkg_path, count


def _height(workdir: Path, prepared: Prepared, prefer_h5py: bool) -> np.ndarray:
    """DEM height (m) on the grid: MintPy's geometry file, else the clipped DEM it was loaded from."""
    try:
        reader = _H5(workdir / "inputs" / "geometryGeo.h5", prefer_h5py)
        height = reader.read("height").astype(np.float64)
        if height.shape == prepared.grid.shape:
            return height
    except (InsarhubError, OSError, RuntimeError, KeyError):
        pass  # the clipped DEM below is the same data
    from osgeo import gdal

    dem = next(p for p in prepared.products if p.name == prepared.geometry_product).raster("dem")
    with _gdal_errors(pam=True):
        return gdal.Open(str(dem)).ReadAsArray().astype(np.float64)


def reference_date_of(displacement_tif: os.PathLike | str) -> dt.date:
    """The reference date recorded in a displacement GeoTIFF written by :func:`export_results`."""
    from osgeo import gdal

    with _gdal_errors(pam=True):
        text = gdal.Open(str(displacement_tif)).GetMetadataItem("REFERENCE_DATE")
    return dt.datetime.strptime(text, "%Y%m%d").date()


# ----------------------------------------------------------------------- what was done, how good it is
#: How :class:`_StdModel` estimates the velocity's standard deviation (GeoTIFF metadata).
STD_METHOD = (
    "residual noise of the time series about the fitted model (as MintPy's 'residue'), inflated by its "
    "lag-1 autocorrelation (effective number of independent dates) and, where the stack is too short for "
    "an annual term but a seasonal signal is significant, by the change of the velocity when an annual "
    "term is fitted too"
)
QUALITY_IFG_NAME = "insarhub_quality_interferograms.csv"
QUALITY_DATE_NAME = "insarhub_quality_dates.csv"
_SAMPLE_ROWS = 256  # rows of the grid the per-interferogram residuals are computed on (spread over it)


def science_metadata(workdir: os.PathLike | str) -> Dict[str, str]:
    """GeoTIFF metadata saying what was corrected and fitted (from ``insarhub_science.json``), and the dates
    MintPy left out of the velocity."""
    from .science import Science

    science = Science.load(workdir)
    out = science.metadata() if science is not None else {}
    excluded = excluded_dates(workdir)
    out["EXCLUDED_DATES"] = ",".join(excluded) if excluded else "none"
    return out


def excluded_dates(workdir: os.PathLike | str) -> List[str]:
    """The dates (``YYYYMMDD``) MintPy left out of the velocity fit (its ``exclude_date.txt``: residual RMS
    above its cutoff)."""
    path = Path(workdir) / "exclude_date.txt"
    try:
        return [
            line.split()[0] for line in path.read_text().splitlines() if line.strip() and line[0].isdigit()
        ]
    except OSError:
        return []


def _decimal_years(dates: Sequence[str]) -> np.ndarray:
    """MintPy's decimal years (``ptime.yyyymmdd2years``)."""
    out = []
    for text in dates:
        day = dt.datetime.strptime(text[:8], "%Y%m%d")
        out.append(day.year + (day.timetuple().tm_yday - 1) / 365.25)
    return np.array(out)


class _StdModel:
    """The velocity's standard deviation (mm/yr) from the residual noise of the time series (see
    :data:`STD_METHOD`), computed a block of rows at a time (:meth:`rows`).

    MintPy's own ``velocityStd`` (its default ``residue`` method) assumes the residuals are independent from
    date to date. Where they are not - seasonal motion the model lacks, slow unmodelled signals - it is too
    small, and the velocity's error hides behind it. Here, per pixel, the same model as MintPy's velocity
    step is fitted (a line, plus an annual term when it was fitted; the dates MintPy excluded left out):

    * ``var = s2 / (n - p) * (G^T G)^-1_vv * (1 + r1) / (1 - r1)``, ``r1`` the lag-1 autocorrelation of
      the residuals (0 to 0.95): the white-noise variance with the effective number of dates;
    * when no annual term was fitted: where an annual term fitted on top is significant (amplitude above
      twice its standard deviation), plus the square of the velocity change it makes.
    """

    def __init__(self, workdir: Path, dates: Sequence[str]) -> None:
        from .science import Science

        self.dates = list(dates)
        excluded = set(excluded_dates(workdir))
        keep = np.array([d not in excluded for d in dates])
        if keep.sum() < 4:
            keep[:] = True
        t = _decimal_years(dates)[keep]
        t = t - t[0]
        science = Science.load(workdir)
        template_path = workdir / "smallbaselineApp.cfg"
        template = read_cfg(template_path) if template_path.is_file() else {}
        annual = (
            science.annual
            if science is not None
            else template.get("mintpy.timeFunc.periodic", "no").lower() not in ("no", "auto", "none")
        )
        seasonal = [np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)]
        g_a = np.stack([np.ones_like(t), t] + (seasonal if annual else []), axis=1)
        g_b = np.stack([np.ones_like(t), t] + seasonal, axis=1)
        self.keep = keep
        self.n, self.p_a = g_a.shape
        self.check_b = not annual and self.n > g_b.shape[1] + 2
        pinv_a, pinv_b = np.linalg.pinv(g_a), np.linalg.pinv(g_b)
        self.cov_a = float(np.linalg.inv(g_a.T @ g_a)[1, 1])
        self.cov_b = np.linalg.inv(g_b.T @ g_b)
        # residuals = (I - G G+) data: one product per model, instead of fitting and subtracting
        self.resid_a = (np.eye(self.n) - g_a @ pinv_a).astype(np.float32)
        self.resid_b = (np.eye(self.n) - g_b @ pinv_b).astype(np.float32)
        self.rate_a = pinv_a[1:2].astype(np.float32)  # the velocity row of each model
        self.fit_b = pinv_b[1:4].astype(np.float32)  # velocity, cosine and sine terms

    def rows(self, series_mm: np.ndarray) -> np.ndarray:
        """The standard deviation (mm/yr, float32) of rows whose time series (mm; dates, rows, columns) is
        ``series_mm``."""
        n = self.n
        shape = series_mm.shape[1:]
        data = np.asarray(series_mm[self.keep], dtype=np.float32).reshape(n, -1)
        resid = self.resid_a @ data
        ss = np.einsum("ij,ij->j", resid, resid)
        s2 = ss / max(n - self.p_a, 1)
        lag1 = np.einsum("ij,ij->j", resid[1:], resid[:-1])
        del resid
        rho = np.clip(np.divide(lag1, ss, out=np.zeros_like(ss), where=ss > 0), 0.0, 0.95)
        var = s2 * np.float32(self.cov_a) * (1.0 + rho) / (1.0 - rho)
        if self.check_b:
            resid_b = self.resid_b @ data
            s2_b = np.einsum("ij,ij->j", resid_b, resid_b) / max(n - self.fit_b.shape[0] - 1, 1)
            del resid_b
            rate_b, cos_b, sin_b = self.fit_b @ data
            amp = np.hypot(cos_b, sin_b)
            amp_sd = np.sqrt(s2_b * np.float32(0.5 * (self.cov_b[2, 2] + self.cov_b[3, 3])))
            rate_a = (self.rate_a @ data)[0]
            var = var + np.where(amp > 2.0 * amp_sd, (rate_a - rate_b) ** 2, np.float32(0.0))
        return np.sqrt(var).reshape(shape).astype(np.float32)


def _rms_by_date(workdir: Path) -> Dict[str, float]:
    """MintPy's residual RMS per date (m -> mm), from ``rms_timeseriesResidual_ramp.txt``."""
    out: Dict[str, float] = {}
    for path in sorted(workdir.glob("rms_timeseriesResidual*.txt")):
        try:
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0].isdigit():
                    out[parts[0]] = float(parts[1]) * 1000.0
        except (OSError, ValueError):
            continue
        if out:
            break
    return out


def write_quality_tables(
    workdir: os.PathLike | str,
    prepared: Prepared,
    *,
    prefer_h5py: bool = False,
    log=None,
) -> Tuple[Path, Path]:
    """Write the per-interferogram and per-date quality tables (CSV) into ``workdir`` and return their paths.

    ``insarhub_quality_interferograms.csv``, one row per product (skipped ones too, with the reason):
    dates, temporal and perpendicular baseline, mean coherence and valid share on the grid, pixels whose
    unwrapping error phase closure corrected, pixels MintPy's bridging changed, the residual of MintPy's
    network inversion (RMS in rad and mm over the reliable pixels: how far the interferogram is from the
    time series), and whether it was excluded and why. The residuals and bridging counts are computed on up
    to 256 rows spread over the grid in whole HDF5 chunks of rows (all of it when smaller; the
    ``sampled_rows`` column says how many).

    ``insarhub_quality_dates.csv``, one row per date: perpendicular baseline, interferograms and their mean
    coherence, MintPy's residual RMS of the time series (mm) and whether MintPy excluded the date from the
    velocity (residual RMS above its cutoff). ``log`` receives a summary (the excluded dates by name).
    """
    import csv

    workdir = Path(workdir)
    say = log or (lambda _m: None)
    stack = _H5(workdir / "inputs" / "ifgramStack.h5", prefer_h5py)
    attrs = stack.attrs()
    names = stack.names()
    n_ifg = stack.shape("unwrapPhase")[0]
    pairs_text = stack.strings("date")
    pairs = [(pairs_text[2 * k][:8], pairs_text[2 * k + 1][:8]) for k in range(n_ifg)]
    drop = np.asarray(stack.vector("dropIfgram")).astype(bool)  # True = kept
    template_path = workdir / "smallbaselineApp.cfg"
    method = (
        read_cfg(template_path).get("mintpy.unwrapError.method", "no") if template_path.is_file() else "no"
    )
    # the dataset MintPy inverted (ifgram_inversion's choice for the unwrapping-error method)
    obs = {
        "bridging": "unwrapPhase_bridging",
        "phase_closure": "unwrapPhase_phaseClosure",
        "bridging+phase_closure": "unwrapPhase_bridging_phaseClosure",
    }.get(method.strip().lower(), "unwrapPhase")
    if obs not in names:
        obs = "unwrapPhase"
    wavelength = float(attrs.get("WAVELENGTH", 0.05546576))
    ref_y, ref_x = int(attrs.get("REF_Y", 0)), int(attrs.get("REF_X", 0))
    ts = _H5(workdir / "timeseries.h5", prefer_h5py)
    ts_dates = ts.strings("date")
    index = {d[:8]: k for k, d in enumerate(ts_dates)}
    rows, cols = stack.shape("unwrapPhase")[-2:]
    if rows <= _SAMPLE_ROWS:
        blocks = [(0, rows)]
    else:
        # Whole HDF5 chunks of rows, spread over the grid: reading 16 rows of MintPy's stack (chunks of
        # about 80 rows at frame size) cost a chunk row or two each, 5-10 times the rows used.
        height = min(max(16, stack.block_rows(obs)), _SAMPLE_ROWS)
        starts = np.linspace(0, rows - height, max(1, _SAMPLE_ROWS // height)).astype(int) // height * height
        blocks = [(int(r), min(rows, int(r) + height)) for r in sorted(set(starts.tolist()))]
        # the chunk row holding the reference pixel replaces the nearest: its values come with the sample
        ref_block = (ref_y // height * height, min(rows, ref_y // height * height + height))
        if ref_block not in blocks:
            blocks[int(np.argmin([abs(b[0] - ref_block[0]) for b in blocks]))] = ref_block
            blocks.sort()
    mask_path = workdir / "maskTempCoh.h5"
    mask_reader = _H5(mask_path, prefer_h5py) if mask_path.is_file() else None
    # the reference pixel's phases, from the sampled block holding it (read first)
    blocks.sort(key=lambda b: not b[0] <= ref_y < b[1])
    unw = stack.read(obs, rows=blocks[0]).astype(np.float64)
    ref_phase = unw[:, ref_y - blocks[0][0], ref_x].copy()
    raw_first = stack.read("unwrapPhase", rows=blocks[0]) if obs != "unwrapPhase" else None
    raw_ref = ref_phase if raw_first is None else raw_first[:, ref_y - blocks[0][0], ref_x].astype(np.float64)
    sq_sum = np.zeros(n_ifg)
    counted = np.zeros(n_ifg)
    bridged = np.zeros(n_ifg)
    sampled = 0
    to_mm = wavelength / (4 * np.pi) * 1000.0
    for number, (r0, r1) in enumerate(blocks):
        if number:
            unw = stack.read(obs, rows=(r0, r1)).astype(np.float64)
        series = ts.read("timeseries", rows=(r0, r1)).astype(np.float64)
        good = np.ones((r1 - r0, cols), dtype=bool)
        if mask_reader is not None:
            good &= mask_reader.read("mask", rows=(r0, r1)).astype(bool)
        for k, (d1, d2) in enumerate(pairs):
            if d1 not in index or d2 not in index:
                continue
            predicted = -4 * np.pi / wavelength * (series[index[d2]] - series[index[d1]])
            ok = good & (unw[k] != 0) & np.isfinite(unw[k])
            resid = (unw[k] - ref_phase[k]) - predicted
            sq_sum[k] += float((resid[ok] ** 2).sum())
            counted[k] += int(ok.sum())
        if obs != "unwrapPhase":  # MintPy's correction also takes off the reference pixel's phase
            raw = raw_first if number == 0 else stack.read("unwrapPhase", rows=(r0, r1))
            shift = (unw - raw) - (ref_phase - raw_ref)[:, None, None]
            bridged += ((np.abs(shift) > np.pi) & (raw != 0)).sum(axis=(1, 2))
        sampled += r1 - r0
    scale = rows / max(sampled, 1)
    rms = np.sqrt(np.divide(sq_sum, counted, out=np.full(n_ifg, np.nan), where=counted > 0))

    by_pair = {(f"{p.reference_date:%Y%m%d}", f"{p.secondary_date:%Y%m%d}"): p for p in prepared.products}
    ifg_path = workdir / QUALITY_IFG_NAME
    header = [
        "reference_date", "secondary_date", "product", "temporal_baseline_days", "perp_baseline_m",
        "mean_coherence", "valid_fraction", "closure_corrected_px", "bridging_changed_px",
        "residual_rms_rad", "residual_rms_mm", "sampled_rows", "excluded", "reason",
    ]  # fmt: skip
    with open(ifg_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for k, (d1, d2) in enumerate(pairs):
            product = by_pair.get((d1, d2))
            days = (dt.datetime.strptime(d2, "%Y%m%d") - dt.datetime.strptime(d1, "%Y%m%d")).days
            writer.writerow([
                d1, d2, product.name if product else "", days,
                f"{product.perp_baseline_m:.2f}" if product else "",
                f"{product.mean_coherence:.3f}" if product else "",
                f"{product.valid_fraction:.3f}" if product else "",
                product.closure_corrected_px if product else 0,
                int(round(bridged[k] * scale)),
                f"{rms[k]:.3f}" if np.isfinite(rms[k]) else "",
                f"{rms[k] * to_mm:.2f}" if np.isfinite(rms[k]) else "",
                sampled,
                "no" if drop[k] else "yes",
                "" if drop[k] else "dropped by MintPy's network modification",
            ])  # fmt: skip
        for skip in prepared.skipped:
            writer.writerow(["", "", skip.name, "", "", "", "", "", "", "", "", "", "yes", skip.reason])

    # ---- per date
    rms_date = _rms_by_date(workdir)
    excluded = set(excluded_dates(workdir))
    bperp = np.asarray(ts.vector("bperp")) if "bperp" in ts.names() else np.zeros(len(ts_dates))
    date_path = workdir / QUALITY_DATE_NAME
    with open(date_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "date",
                "perp_baseline_m",
                "interferograms",
                "mean_coherence",
                "residual_rms_mm",
                "excluded",
                "reason",
            ]
        )
        for k, text in enumerate(ts_dates):
            day = text[:8]
            mine = [by_pair.get(p) for p in pairs if day in p]
            cohs = [p.mean_coherence for p in mine if p is not None and np.isfinite(p.mean_coherence)]
            writer.writerow([
                day, f"{float(bperp[k]):.2f}" if k < len(bperp) else "", len(mine),
                f"{np.mean(cohs):.3f}" if cohs else "",
                f"{rms_date[day]:.2f}" if day in rms_date else "",
                "yes" if day in excluded else "no",
                "residual RMS above MintPy's cutoff (3 x the median); left out of the velocity"
                if day in excluded else "",
            ])  # fmt: skip
    if excluded:
        say(
            f"MintPy left {len(excluded)} of {len(ts_dates)} dates out of the velocity, as their residual RMS is "
            f"above 3 x the median: {', '.join(sorted(excluded))}."
        )
    else:
        say(f"MintPy used all {len(ts_dates)} dates for the velocity (none has an outlying residual RMS).")
    dropped = [f"{d1}_{d2}" for (d1, d2), kept in zip(pairs, drop) if not kept]
    if dropped:
        say(f"MintPy dropped {len(dropped)} interferograms from the inversion: {', '.join(dropped[:10])}.")
    if np.isfinite(rms).any():
        worst = np.argsort(np.nan_to_num(rms, nan=-1.0))[::-1][:3]
        say(
            "Largest network residuals (interferogram vs time series): "
            + ", ".join(
                f"{pairs[k][0]}_{pairs[k][1]} {rms[k] * to_mm:.1f} mm" for k in worst if np.isfinite(rms[k])
            )
            + f". Quality tables: {ifg_path.name}, {date_path.name} in {workdir}."
        )
    return ifg_path, date_path
