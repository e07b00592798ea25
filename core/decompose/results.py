"""The GeoTIFFs of a decomposition, and reading them back at a pixel (for the dock's chart).

File layout: every output GeoTIFF carries the metadata item ``INSARHUB_PRODUCT=decomposition``, its
``ROLE`` (one of :data:`ROLES`) and one ``<ROLE>_FILE`` item per output of the same run (a bare file name
when beside it, else an absolute path), so any one of them leads to all the others
(:meth:`Decomposition.open`). Velocities are Float32 mm/year, displacements Float32 mm with one band per
common date (band description ``YYYYMMDD``, like ``insarhub:runtimeseries``'s displacement), NaN where
masked. ``MASK`` is Byte: 1 = decomposed, 0 = no data in at least one input, 2 = geometry too weak
(condition number above the limit).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..timeseries.geometry import sibling_path
from ..timeseries.prepare import PreparedGrid, _gdal_errors, _srs

PRODUCT = "decomposition"
ROLES = ("VERTICAL", "EAST", "VERTICAL_STD", "EAST_STD", "MASK", "VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT")
MASK_VALID, MASK_NO_DATA, MASK_WEAK_GEOMETRY = 1, 0, 2
MASK_NODATA_VALUE = 255
SIGNS = {
    "VERTICAL": "positive = up (uplift), negative = down (subsidence)",
    "EAST": "positive = towards the east, negative = towards the west",
}
DESCRIPTIONS = {
    "VERTICAL": "vertical velocity (mm/year, positive up)",
    "EAST": "east-west velocity (mm/year, positive east)",
    "VERTICAL_STD": "vertical velocity standard deviation (mm/year)",
    "EAST_STD": "east-west velocity standard deviation (mm/year)",
    "MASK": "decomposition mask: 1 decomposed, 0 no data in an input, 2 geometry too weak",
}


def file_key(role: str) -> str:
    """The metadata item naming the output ``role`` (e.g. ``VERTICAL_FILE``)."""
    return f"{role}_FILE"


def _reference(target: Path, of: Path) -> str:
    of = Path(of).resolve()
    return of.name if of.parent == Path(target).resolve().parent else str(of)


def write_float(
    path: Path,
    bands: Sequence[np.ndarray],
    grid: PreparedGrid,
    *,
    descriptions: Sequence[str],
    units: str,
    band_metadata: Sequence[Mapping[str, str]] = (),
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Float32 GeoTIFF (NaN nodata), written atomically (the run's own GeoTIFF writer)."""
    from ..timeseries.export import _write_geotiff

    return _write_geotiff(
        Path(path), bands, len(bands), grid, descriptions=descriptions, units=units,
        band_metadata=band_metadata, metadata=metadata,
    )


def write_mask(path: Path, mask: np.ndarray, grid: PreparedGrid, metadata: Mapping[str, str]) -> Path:
    """The Byte mask GeoTIFF, written atomically."""
    from osgeo import gdal

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    with _gdal_errors(pam=True):
        ds = gdal.GetDriverByName("GTiff").Create(str(tmp), grid.width, grid.height, 1, gdal.GDT_Byte, ["COMPRESS=DEFLATE", "TILED=YES"])
        try:
            ds.SetGeoTransform(grid.geotransform)
            ds.SetProjection(grid.crs_wkt)
            ds.SetMetadata({k: str(v) for k, v in metadata.items()})
            band = ds.GetRasterBand(1)
            band.SetNoDataValue(MASK_NODATA_VALUE)
            band.SetDescription(DESCRIPTIONS["MASK"])
            band.SetMetadata({
                "VALUES": f"{MASK_VALID} = decomposed; {MASK_NO_DATA} = no data (masked or missing) in at least one "
                f"input; {MASK_WEAK_GEOMETRY} = geometry too weak (condition number above the limit)",
            })
            band.WriteArray(mask.astype(np.uint8))
            ds.FlushCache()
        finally:
            ds = None
    os.replace(tmp, path)
    return path


def cross_reference(written: Mapping[str, Path]) -> None:
    """Name every output of the run in the metadata of each (``<ROLE>_FILE``)."""
    from osgeo import gdal

    with _gdal_errors():
        for role, path in written.items():
            ds = gdal.Open(str(path), gdal.GA_Update)
            try:
                ds.SetMetadataItem("INSARHUB_PRODUCT", PRODUCT)
                ds.SetMetadataItem("ROLE", role)
                for other_role, other in written.items():
                    ds.SetMetadataItem(file_key(other_role), _reference(path, other))
            finally:
                ds = None


@dataclass
class PixelValues:
    """A decomposition at one pixel (NaN where masked)."""

    row: int
    col: int
    vertical_mm_yr: float
    east_mm_yr: float
    vertical_std_mm_yr: float
    east_std_mm_yr: float
    mask: int  # MASK_VALID, MASK_NO_DATA or MASK_WEAK_GEOMETRY (MASK_NODATA_VALUE outside)
    dates: List[str] = field(default_factory=list)  # YYYYMMDD
    vertical_mm: List[float] = field(default_factory=list)
    east_mm: List[float] = field(default_factory=list)


@dataclass
class Decomposition:
    """The files of one decomposition (``files``: role -> path) and its common dates."""

    files: Dict[str, Path]
    dates: List[str]
    crs_wkt: str
    geotransform: Tuple[float, float, float, float, float, float]
    width: int
    height: int

    @staticmethod
    def is_decomposition(path: os.PathLike | str) -> bool:
        """True when ``path`` is a GeoTIFF written by ``insarhub:decompose``."""
        from osgeo import gdal

        try:
            with _gdal_errors(pam=True):
                ds = gdal.Open(str(path))
                return (ds.GetMetadataItem("INSARHUB_PRODUCT") or "") == PRODUCT
        except RuntimeError:
            return False

    @classmethod
    def open(cls, path: os.PathLike | str) -> Decomposition:
        """The decomposition any of its GeoTIFFs belongs to."""
        from osgeo import gdal

        path = Path(path)
        try:
            with _gdal_errors(pam=True):
                ds = gdal.Open(str(path))
                meta = ds.GetMetadata() or {}
                grid = (ds.GetProjection(), tuple(ds.GetGeoTransform()), ds.RasterXSize, ds.RasterYSize)
                ds = None
        except RuntimeError as exc:
            raise InputError(f"'{path}' cannot be read ({exc}).") from exc
        if meta.get("INSARHUB_PRODUCT") != PRODUCT:
            raise InputError(f"'{path.name}' is not an output of insarhub:decompose.")
        files: Dict[str, Path] = {}
        for role in ROLES:
            found = sibling_path(path, meta.get(file_key(role)))
            if found is not None and found.is_file():
                files[role] = found
        dates: List[str] = []
        series = files.get("VERTICAL_DISPLACEMENT")
        if series is not None:
            with _gdal_errors(pam=True):
                ds = gdal.Open(str(series))
                dates = [ds.GetRasterBand(b).GetDescription() for b in range(1, ds.RasterCount + 1)]
                ds = None
        crs_wkt, geotransform, width, height = grid
        return cls(files, dates, crs_wkt, geotransform, width, height)  # type: ignore[arg-type]

    def rowcol(self, x: float, y: float, crs: str | None = None) -> Tuple[int, int]:
        """Pixel ``(row, column)`` of a point (in ``crs``, default the outputs' CRS); may lie outside."""
        if crs:
            from osgeo import osr

            source, target = _srs(crs), _srs(self.crs_wkt)
            if not source.IsSame(target):
                x, y = osr.CoordinateTransformation(source, target).TransformPoint(x, y)[:2]
        x0, dx, _, y0, _, dy = self.geotransform
        return int(math.floor((y - y0) / dy)), int(math.floor((x - x0) / dx))

    def at(self, x: float, y: float, crs: str | None = None) -> PixelValues | None:
        """Vertical and east (velocity, std, mask and displacement series) at a point; None outside."""
        from osgeo import gdal

        row, col = self.rowcol(x, y, crs)
        if not (0 <= row < self.height and 0 <= col < self.width):
            return None

        def read(role: str) -> List[float]:
            path = self.files.get(role)
            if path is None:
                return []
            with _gdal_errors(pam=True):
                ds = gdal.Open(str(path))
                data = ds.ReadAsArray(col, row, 1, 1)
                ds = None
            return [float(v) for v in np.asarray(data, dtype=np.float64).reshape(-1)]

        def first(role: str) -> float:
            values = read(role)
            return values[0] if values else float("nan")

        mask = read("MASK")
        return PixelValues(
            row=row,
            col=col,
            vertical_mm_yr=first("VERTICAL"),
            east_mm_yr=first("EAST"),
            vertical_std_mm_yr=first("VERTICAL_STD"),
            east_std_mm_yr=first("EAST_STD"),
            mask=int(mask[0]) if mask else MASK_NODATA_VALUE,
            dates=list(self.dates),
            vertical_mm=read("VERTICAL_DISPLACEMENT"),
            east_mm=read("EAST_DISPLACEMENT"),
        )
