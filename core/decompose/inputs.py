"""The LOS inputs of a decomposition: velocity GeoTIFFs written by ``insarhub:runtimeseries``.

Each velocity names, in its metadata, its standard deviation, its displacement and its LOS geometry
(:mod:`insarhub_qgis.core.timeseries.geometry`), and its flight direction; nothing else is needed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence, Tuple

from ..errors import InputError
from ..timeseries.geometry import FILE_KEYS, sibling_path
from ..timeseries.prepare import _gdal_errors

_REBUILD_HINT = (
    "Run insarhub:runtimeseries again for that stack with the same work folder (MintPy reuses its finished "
    "steps, so this takes seconds): it writes the geometry beside the velocity"
)


@dataclass
class LosInput:
    """One LOS velocity (mm/yr, positive towards the satellite) with what a decomposition needs."""

    velocity: Path
    geometry: Path
    flight_direction: str  # ASCENDING / DESCENDING
    relative_orbit: str
    crs_wkt: str
    geotransform: Tuple[float, float, float, float, float, float]
    width: int
    height: int
    velocity_std: Path | None = None
    displacement: Path | None = None
    dates: List[str] = field(default_factory=list)  # YYYYMMDD of the displacement bands
    units: str = "mm/year"

    @property
    def label(self) -> str:
        """E.g. ``ascending track 93 (velocity.tif)``."""
        track = f" track {self.relative_orbit}" if self.relative_orbit else ""
        return f"{self.flight_direction.lower()}{track} ({self.velocity.name})"

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in the input's CRS."""
        x0, dx, _, y0, _, dy = self.geotransform
        xs = (x0, x0 + dx * self.width)
        ys = (y0, y0 + dy * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def pixel_size(self) -> float:
        """Pixel size in CRS units (the larger of the two axes)."""
        return max(abs(self.geotransform[1]), abs(self.geotransform[5]))

    def date_objects(self) -> List[dt.date]:
        """The displacement dates as dates."""
        return [dt.datetime.strptime(d, "%Y%m%d").date() for d in self.dates]


def open_los_input(path: os.PathLike | str) -> LosInput:
    """Read a velocity GeoTIFF of ``insarhub:runtimeseries`` and find its siblings.

    Raises :class:`InputError` with what to do when it is not such a velocity, has no geometry, or a
    named sibling is missing.
    """
    from osgeo import gdal

    path = Path(path)
    if not path.is_file():
        raise InputError(f"The velocity '{path}' does not exist.")
    with _gdal_errors(pam=True):
        try:
            ds = gdal.Open(str(path))
        except RuntimeError as exc:
            raise InputError(f"'{path.name}' cannot be read as a raster ({exc}).") from exc
        meta = ds.GetMetadata() or {}
        band = ds.GetRasterBand(1)
        units = band.GetUnitType() or meta.get("UNITS", "")
        info = dict(
            crs_wkt=ds.GetProjection(),
            geotransform=tuple(ds.GetGeoTransform()),
            width=ds.RasterXSize,
            height=ds.RasterYSize,
        )
        count = ds.RasterCount
        ds = None
    quantity = meta.get("QUANTITY", "")
    if quantity != "velocity" or count != 1:
        hint = (
            " It is a standard deviation: give the velocity itself." if quantity == "velocityStd" else ""
        )
        raise InputError(
            f"'{path.name}' is not a LOS velocity written by insarhub:runtimeseries (its metadata says "
            f"QUANTITY={quantity or 'nothing'}, {count} band(s)).{hint} Give the VELOCITY outputs of "
            "insarhub:runtimeseries, one per stack."
        )
    if units.replace("/yr", "/year") != "mm/year":
        raise InputError(f"'{path.name}' is in '{units}', not mm/year; give a velocity of insarhub:runtimeseries.")
    if not info["crs_wkt"]:
        raise InputError(f"'{path.name}' has no CRS; give a velocity of insarhub:runtimeseries.")
    geometry = sibling_path(path, meta.get(FILE_KEYS["LOS_GEOMETRY"]))
    if geometry is None:
        raise InputError(
            f"'{path.name}' does not record its line-of-sight geometry (incidence and azimuth angles), which "
            f"the decomposition needs. {_REBUILD_HINT}. Its products need look vectors: INSAR_ISCE_BURST jobs "
            "always have them; for INSAR_GAMMA submit with INCLUDE_LOOK_VECTORS."
        )
    if not geometry.is_file():
        raise InputError(
            f"The LOS geometry of '{path.name}' ({geometry}) is missing: keep it beside the velocity when "
            f"moving the files, or: {_REBUILD_HINT}."
        )
    direction = (meta.get("FLIGHT_DIRECTION") or "").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise InputError(f"'{path.name}' does not record its flight direction. {_REBUILD_HINT}.")
    std = sibling_path(path, meta.get(FILE_KEYS["VELOCITY_STD"]))
    displacement = sibling_path(path, meta.get(FILE_KEYS["DISPLACEMENT"]))
    dates: List[str] = []
    if displacement is not None and displacement.is_file():
        with _gdal_errors(pam=True):
            ds = gdal.Open(str(displacement))
            dates = [ds.GetRasterBand(b).GetDescription() for b in range(1, ds.RasterCount + 1)]
            ds = None
    else:
        displacement = None
    return LosInput(
        velocity=path,
        geometry=geometry,
        flight_direction=direction,
        relative_orbit=meta.get("RELATIVE_ORBIT", ""),
        velocity_std=std if std is not None and std.is_file() else None,
        displacement=displacement,
        dates=dates,
        units="mm/year",
        **info,  # type: ignore[arg-type]
    )


def check_directions(inputs: Sequence[LosInput]) -> None:
    """At least two inputs, at least one ascending and one descending, no file twice."""
    if len(inputs) < 2:
        raise InputError(
            f"A decomposition needs at least two LOS velocities (one ascending and one descending stack); "
            f"{len(inputs)} given."
        )
    seen = set()
    for item in inputs:
        key = item.velocity.resolve()
        if key in seen:
            raise InputError(f"'{item.velocity.name}' is given twice; give each stack's velocity once.")
        seen.add(key)
    directions = {item.flight_direction for item in inputs}
    if directions != {"ASCENDING", "DESCENDING"}:
        only = next(iter(directions)).lower()
        raise InputError(
            f"All {len(inputs)} velocities are {only} ({', '.join(i.label for i in inputs)}): vertical and east "
            "motion can only be told apart from two look directions. Add the velocity of a "
            f"{'descending' if only == 'ascending' else 'ascending'} stack over the same area."
        )
