"""The line-of-sight geometry of a time-series result, recorded beside its GeoTIFFs.

A LOS velocity alone cannot be decomposed into vertical and east motion: every pixel also needs the
direction the radar looked from. After :func:`~.export.export_results`, :func:`record_los_geometry` writes
that geometry on the same grid as the velocity, in a sidecar GeoTIFF
``<velocity name>_los_geometry.tif`` (two Float32 bands, degrees, MintPy's conventions):

* band 1 ``incidence_angle``: the LOS incidence angle, from the vertical;
* band 2 ``azimuth_angle``: the azimuth of the LOS vector from the ground to the satellite, from north,
  anticlockwise positive (``mintpy.utils.utils.heading2azimuth_angle``; about +103 degrees ascending and
  -103 degrees descending for Sentinel-1).

It comes from, in this order: the clipped products' ``lv_theta``/``lv_phi`` (converted exactly as
MintPy's loader converts them into ``inputs/geometryGeo.h5``); MintPy's ``geometryGeo.h5`` itself
(``incidenceAngle``/``azimuthAngle``, read with MintPy's own h5py: it is LZF-compressed, which GDAL's HDF5
may not read); when the products hold no look vectors, a constant incidence and azimuth from their orbit
metadata (MintPy's ``incidence_angle`` and ``heading2azimuth_angle``, what its ``asc_desc2horz_vert`` uses
without geometry files). The metadata item ``LOS_GEOMETRY_SOURCE`` says which.

Every GeoTIFF of the run (velocity, its standard deviation, temporal coherence, displacement) also gets
metadata naming its siblings (``VELOCITY_FILE``, ``VELOCITY_STD_FILE``, ``TEMPORAL_COHERENCE_FILE``,
``DISPLACEMENT_FILE``, ``LOS_GEOMETRY_FILE``: a bare file name when in the same folder, else an absolute
path) and the track (``FLIGHT_DIRECTION``, ``RELATIVE_ORBIT``), so that ``insarhub:decompose`` needs only
the velocity GeoTIFF. :func:`sibling_path` resolves those names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Mapping, Tuple

import numpy as np

from ..errors import InsarhubError
from .prepare import Prepared, PreparedGrid, _gdal_errors

GEOMETRY_SUFFIX = "_los_geometry"
#: Metadata keys naming the files of one run (value: a file name beside the GeoTIFF, or an absolute path).
FILE_KEYS = {
    "VELOCITY": "VELOCITY_FILE",
    "VELOCITY_STD": "VELOCITY_STD_FILE",
    "TEMPORAL_COHERENCE": "TEMPORAL_COHERENCE_FILE",
    "DISPLACEMENT": "DISPLACEMENT_FILE",
    "LOS_GEOMETRY": "LOS_GEOMETRY_FILE",
}
INCIDENCE_DESCRIPTION = "incidence_angle"
AZIMUTH_DESCRIPTION = "azimuth_angle"
CONVENTION = (
    "band 1: LOS incidence angle from the vertical (degrees); band 2: azimuth of the LOS vector from the "
    "ground to the satellite, degrees from north, anticlockwise positive (MintPy's convention)"
)

Log = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def geometry_path_for(velocity_tif: os.PathLike | str) -> Path:
    """Where :func:`record_los_geometry` writes the geometry of ``velocity_tif``."""
    velocity_tif = Path(velocity_tif)
    return velocity_tif.with_name(f"{velocity_tif.stem}{GEOMETRY_SUFFIX}.tif")


def sibling_path(tif: os.PathLike | str, value: str | None) -> Path | None:
    """A file named in the metadata of ``tif`` (bare name: beside it; else the absolute path), or None."""
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else Path(tif).resolve().parent / path


def heading_to_azimuth_deg(heading_deg: float) -> float:
    """MintPy's LOS azimuth angle (right-looking radar) of a satellite heading, degrees in [-180, 180)."""
    azimuth = (heading_deg - 90.0) * -1.0
    return azimuth - round(azimuth / 360.0) * 360.0


def _read(path: Path) -> np.ndarray:
    from osgeo import gdal

    with _gdal_errors():
        ds = gdal.Open(str(path))
        data = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
        ds = None
    return data


_H5PY_DUMP = """
import sys, h5py, numpy as np
out = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in ("incidenceAngle", "azimuthAngle", "height"):
        if name in f:
            out[name] = np.asarray(f[name][()], dtype=np.float32)
try:  # MintPy's constant geometry from the metadata, as its asc_desc2horz_vert uses without geometry files
    from mintpy.utils import readfile, utils as ut
    atr = readfile.read_attribute(sys.argv[1])
    out["incidence0"] = np.float64(ut.incidence_angle(atr, dimension=0, print_msg=False))
    out["azimuth0"] = np.float64(ut.heading2azimuth_angle(float(atr["HEADING"])))
except Exception as exc:  # noqa: BLE001 - reported by the missing keys
    print(exc, file=sys.stderr)
np.savez(sys.argv[2], **out)
"""


def _mintpy_geometry(workdir: Path, prepared: Prepared, python: str | None = None) -> Dict[str, np.ndarray]:
    """``incidenceAngle`` / ``azimuthAngle`` of MintPy's geometryGeo.h5 that are on the grid (degrees).

    MintPy compresses it with LZF, which the system HDF5 under GDAL may lack: with ``python`` (MintPy's
    interpreter) its own h5py reads it in a subprocess; without, GDAL tries.
    """
    path = workdir / "inputs" / "geometryGeo.h5"
    data: Dict[str, np.ndarray] = {}
    if not path.is_file():
        return data
    if python:
        import subprocess
        import tempfile

        from .run import mintpy_environment

        with tempfile.TemporaryDirectory(prefix="insarhub-geometry-") as tmp:
            target = Path(tmp) / "geometry.npz"
            try:
                done = subprocess.run(
                    [python, "-c", _H5PY_DUMP, str(path), str(target)], capture_output=True, text=True,
                    env=mintpy_environment(python), stdin=subprocess.DEVNULL, timeout=300,
                )
            except (OSError, subprocess.SubprocessError):
                done = None
            if done is not None and done.returncode == 0 and target.is_file():
                with np.load(target) as npz:
                    data = {name: npz[name].astype(np.float64) for name in npz.files}
        for name in ("incidence0", "azimuth0"):
            if name in data and data[name].ndim == 0 and np.isfinite(data[name]):
                data[name] = np.full(prepared.grid.shape, float(data[name]))
    else:
        from .export import _H5

        try:
            reader = _H5(path)
            names = reader.names()
            for name in ("incidenceAngle", "azimuthAngle", "height"):
                if name in names:
                    data[name] = reader.read(name).astype(np.float64)
        except (InsarhubError, OSError, RuntimeError, KeyError, ValueError):
            data = {}
    out: Dict[str, np.ndarray] = {}
    for name, values in data.items():
        if values.shape == prepared.grid.shape:
            values = values.copy()
            values[~np.isfinite(values) | (values == 0.0)] = np.nan
            out[name] = values
    return out


def los_geometry(
    workdir: os.PathLike | str, prepared: Prepared, python: str | None = None
) -> Tuple[np.ndarray, np.ndarray, str] | None:
    """``(incidence_deg, azimuth_deg, source)`` on the prepared grid (NaN where unknown), or None.

    In this order: the clipped products' ``lv_theta``/``lv_phi`` converted exactly as MintPy's loader
    converts them into ``geometryGeo.h5``; MintPy's ``geometryGeo.h5`` itself (read with the h5py of
    MintPy's interpreter ``python`` when given); with ``python`` and no look vectors, MintPy's constant
    incidence and azimuth from the orbit metadata.
    """
    workdir = Path(workdir)
    geometry = next((p for p in prepared.products if p.name == prepared.geometry_product), None)
    if geometry is not None and {"lv_theta", "lv_phi"} <= set(geometry.suffixes):
        theta = _read(geometry.raster("lv_theta"))
        phi = _read(geometry.raster("lv_phi"))
        for data in (theta, phi):
            data[~np.isfinite(data) | (data == 0.0)] = np.nan
        incidence = 90.0 - np.degrees(theta)  # HyP3: from the horizontal, radians
        azimuth = np.degrees(phi) - 90.0  # HyP3: from east, anticlockwise, radians
        azimuth = azimuth - np.round(azimuth / 360.0) * 360.0
        return incidence, azimuth, f"HyP3 lv_theta/lv_phi of {geometry.name} (converted as MintPy loads them)"
    mintpy = _mintpy_geometry(workdir, prepared, python)
    if "incidenceAngle" in mintpy and "azimuthAngle" in mintpy:
        return mintpy["incidenceAngle"], mintpy["azimuthAngle"], "MintPy inputs/geometryGeo.h5 (incidenceAngle, azimuthAngle)"
    if "incidence0" in mintpy and "azimuth0" in mintpy:
        incidence, azimuth = mintpy["incidence0"], mintpy["azimuth0"]
        if "height" in mintpy:  # only where MintPy has data
            incidence = np.where(np.isfinite(mintpy["height"]), incidence, np.nan)
        return (
            incidence,
            azimuth,
            f"constant incidence {np.nanmedian(incidence):.2f} deg and azimuth {np.nanmedian(azimuth):.2f} deg "
            "from the products' orbit metadata (MintPy's incidence_angle and heading2azimuth_angle, as its "
            "asc_desc2horz_vert does without geometry files; the products hold no look vectors)",
        )
    return None


def _reference(target: Path, of: Path) -> str:
    """How ``of`` is named in the metadata of ``target``: bare name when beside it, else absolute."""
    of = Path(of).resolve()
    return of.name if of.parent == Path(target).resolve().parent else str(of)


def write_los_geometry(
    velocity_tif: os.PathLike | str,
    incidence_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    grid: PreparedGrid,
    source: str,
    flight_direction: str,
    relative_orbit: int | str | None = None,
) -> Path:
    """Write the two-band geometry GeoTIFF of ``velocity_tif`` (:func:`geometry_path_for`) on ``grid``."""
    from .export import _write_geotiff

    finite = np.isfinite(incidence_deg) & np.isfinite(azimuth_deg)
    return _write_geotiff(
        geometry_path_for(velocity_tif),
        [np.where(finite, incidence_deg, np.nan), np.where(finite, azimuth_deg, np.nan)],
        2,
        grid,
        descriptions=[INCIDENCE_DESCRIPTION, AZIMUTH_DESCRIPTION],
        units="degrees",
        metadata={
            "LOS_GEOMETRY_SOURCE": source,
            "CONVENTION": CONVENTION,
            "FLIGHT_DIRECTION": (flight_direction or "").upper(),
            "RELATIVE_ORBIT": "" if relative_orbit is None else str(relative_orbit),
        },
    )


def link_run_files(files: Mapping[str, os.PathLike | str], extra: Mapping[str, str] | None = None) -> None:
    """Name every file of a run (keys of :data:`FILE_KEYS`) in the metadata of each GeoTIFF among them
    except the geometry, and add ``extra`` items (``FLIGHT_DIRECTION``, ``RELATIVE_ORBIT``, ...)."""
    from osgeo import gdal

    paths = {key: Path(path) for key, path in files.items() if key in FILE_KEYS and path}
    with _gdal_errors():
        for key, path in paths.items():
            if key == "LOS_GEOMETRY":
                continue
            ds = gdal.Open(str(path), gdal.GA_Update)
            try:
                for other_key, other in paths.items():
                    ds.SetMetadataItem(FILE_KEYS[other_key], _reference(path, other))
                for item, value in (extra or {}).items():
                    ds.SetMetadataItem(item, str(value))
            finally:
                ds = None


def record_los_geometry(
    workdir: os.PathLike | str,
    prepared: Prepared,
    written: Mapping[str, str],
    *,
    python: str | None = None,
    log: Log = _noop,
    warn: Log = _noop,
) -> Path | None:
    """Write the LOS geometry beside ``written["VELOCITY"]`` and cross-reference the run's GeoTIFFs.

    ``written`` is what :func:`~.export.export_results` returned; ``python``: MintPy's interpreter (to read
    its geometry file when the products hold no look vectors). Returns the geometry GeoTIFF, or None
    (with a warning) when neither MintPy nor the products hold any geometry.
    """
    velocity = written.get("VELOCITY")
    if not velocity:
        return None
    files: Dict[str, Path] = {
        key: Path(path) for key, path in written.items() if key in FILE_KEYS and path and Path(path).is_file()
    }
    extra = {
        "FLIGHT_DIRECTION": (prepared.flight_direction or "").upper(),
        "RELATIVE_ORBIT": "" if prepared.relative_orbit is None else str(prepared.relative_orbit),
    }
    found = los_geometry(workdir, prepared, python)
    if found is None:
        warn(
            "No line-of-sight geometry found (no look vectors in the products and no incidence angle from "
            "MintPy): insarhub:decompose cannot use this velocity. Submit the jobs with INCLUDE_LOOK_VECTORS "
            "(INSAR_GAMMA) or use the ISCE burst jobs, which always include them."
        )
    else:
        incidence, azimuth, source = found
        files["LOS_GEOMETRY"] = write_los_geometry(
            velocity, incidence, azimuth, prepared.grid, source, prepared.flight_direction, prepared.relative_orbit
        )
        extra["LOS_GEOMETRY_SOURCE"] = source
        finite = np.isfinite(incidence) & np.isfinite(azimuth)
        if finite.any():
            log(
                f"LOS geometry ({source}): incidence {np.nanmin(incidence[finite]):.1f}-"
                f"{np.nanmax(incidence[finite]):.1f} deg, azimuth {np.nanmedian(azimuth[finite]):.1f} deg; "
                f"written to {files['LOS_GEOMETRY'].name}."
            )
    link_run_files(files, extra)
    return files.get("LOS_GEOMETRY")
