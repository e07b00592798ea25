"""The common grid of a decomposition and the regridding of every input onto it (GDAL warp)."""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..timeseries.prepare import PreparedGrid, _epsg_of, _gdal_errors, _srs, transform_bounds
from .inputs import LosInput

Bounds = Tuple[float, float, float, float]
_MIN_PX = 3


def _pixel_in(item: LosInput, target_wkt: str) -> float:
    """The input's pixel size expressed in the target CRS's units (at the input's centre).

    The lengths of a 10-pixel segment along x and along y, transformed; the shorter one (a rotation
    between UTM zones keeps lengths, not boxes).
    """
    from osgeo import osr

    if _srs(item.crs_wkt).IsSame(_srs(target_wkt)):
        return item.pixel_size
    xmin, ymin, xmax, ymax = item.bounds
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    step = item.pixel_size * 10
    tr = osr.CoordinateTransformation(_srs(item.crs_wkt), _srs(target_wkt))
    c = tr.TransformPoint(cx, cy)
    lengths = []
    for dx, dy in ((step, 0.0), (0.0, step)):
        p = tr.TransformPoint(cx + dx, cy + dy)
        lengths.append(math.hypot(p[0] - c[0], p[1] - c[1]) / 10.0)
    return min(lengths)


def bounds_in(bounds: Bounds, source_wkt: str, target_wkt: str) -> Bounds:
    """A box in another CRS (the box enclosing the transformed rectangle)."""
    return transform_bounds(bounds, source_wkt, target_wkt)


def _snap(value: float, origin: float, pixel: float, up: bool) -> float:
    steps = (value - origin) / pixel
    if abs(steps - round(steps)) < 1e-6:
        steps = round(steps)
    return origin + (math.ceil(steps) if up else math.floor(steps)) * pixel


def common_grid(
    inputs: Sequence[LosInput],
    *,
    crs_wkt: str | None = None,
    pixel_size: float | None = None,
    area: Bounds | None = None,
) -> PreparedGrid:
    """The grid every input is regridded onto.

    CRS: ``crs_wkt`` or the first input's. Pixel: ``pixel_size`` (CRS units) or the finest input's pixel in
    that CRS. Extent: the area all inputs cover (each input's box transformed into the CRS, inner edges),
    intersected with ``area`` (a box in the target CRS), snapped outwards onto a lattice through the first
    input's origin (or through 0 in another CRS).
    """
    first = inputs[0]
    target_wkt = crs_wkt or first.crs_wkt
    target = _srs(target_wkt)
    if target.IsGeographic() and pixel_size is not None and pixel_size > 1:
        raise InputError(
            f"PIXEL_SIZE {pixel_size:g} is in the units of the output CRS, which are degrees here; give e.g. "
            "0.001, or choose a projected CRS such as the UTM zone of the area."
        )
    pixel = float(pixel_size) if pixel_size else min(_pixel_in(item, target_wkt) for item in inputs)
    if not pixel > 0:
        raise InputError(f"PIXEL_SIZE must be positive, not {pixel_size}.")
    boxes = [transform_bounds(item.bounds, item.crs_wkt, target_wkt, inner=True) for item in inputs]
    xmin, ymin = max(b[0] for b in boxes), max(b[1] for b in boxes)
    xmax, ymax = min(b[2] for b in boxes), min(b[3] for b in boxes)
    if xmax <= xmin or ymax <= ymin:
        raise InputError(
            "The velocities do not overlap: "
            + "; ".join(f"{i.label} covers x {b[0]:.0f} to {b[2]:.0f}, y {b[1]:.0f} to {b[3]:.0f}" for i, b in zip(inputs, boxes))
            + " (in the output CRS). Give stacks over the same area."
        )
    if area is not None:
        xmin, ymin = max(xmin, area[0]), max(ymin, area[1])
        xmax, ymax = min(xmax, area[2]), min(ymax, area[3])
        if xmax - xmin < _MIN_PX * pixel or ymax - ymin < _MIN_PX * pixel:
            raise InputError(
                "The AOI/extent does not overlap the area both velocities cover by at least "
                f"{_MIN_PX}x{_MIN_PX} pixels; draw it inside their common footprint."
            )
    if _srs(first.crs_wkt).IsSame(target):
        x_origin, y_origin = first.geotransform[0], first.geotransform[3]
    else:
        x_origin = y_origin = 0.0
    # inside the common area (no half-empty border pixels), on the lattice
    gx0, gx1 = _snap(xmin, x_origin, pixel, up=True), _snap(xmax, x_origin, pixel, up=False)
    gy0, gy1 = _snap(ymin, y_origin, pixel, up=True), _snap(ymax, y_origin, pixel, up=False)
    width, height = int(round((gx1 - gx0) / pixel)), int(round((gy1 - gy0) / pixel))
    if width < _MIN_PX or height < _MIN_PX:
        raise InputError(
            f"The common area of the velocities is smaller than {_MIN_PX}x{_MIN_PX} pixels of {pixel:g}; "
            "give stacks that overlap more, or a smaller PIXEL_SIZE."
        )
    if width * height > 60_000_000:
        raise InputError(
            f"The output grid would be {width} x {height} pixels; give a larger PIXEL_SIZE or an AOI/extent."
        )
    return PreparedGrid(
        geotransform=(gx0, pixel, 0.0, gy1, 0.0, -pixel),
        crs_wkt=target.ExportToWkt(),
        epsg=_epsg_of(target.ExportToWkt()),
        width=width,
        height=height,
    )


def warp(path: str, grid: PreparedGrid, source_pixel_in_target: float, bands: List[int] | None = None) -> np.ndarray:
    """Bands of a raster regridded onto ``grid`` as float32 (NaN = nodata), shape (bands, rows, cols).

    Coarser-to-finer and equal pixels: bilinear; finer-to-coarser: average (noise is averaged, not
    aliased).
    """
    from osgeo import gdal

    resampling = "average" if source_pixel_in_target < grid.pixel_size_m * 0.99 else "bilinear"
    xmin, ymin, xmax, ymax = grid.bounds
    with _gdal_errors():
        src = gdal.Open(path)
        nodata = src.GetRasterBand(1).GetNoDataValue()
        options = gdal.WarpOptions(
            format="MEM",
            dstSRS=grid.crs_wkt,
            outputBounds=(xmin, ymin, xmax, ymax),
            width=grid.width,
            height=grid.height,
            resampleAlg=resampling,
            srcNodata="nan" if nodata is None or math.isnan(nodata) else nodata,
            dstNodata="nan",
            outputType=gdal.GDT_Float32,
            multithread=False,
        )
        if bands:
            src = gdal.Translate("", src, format="VRT", bandList=bands)
        out = gdal.Warp("", src, options=options)
        data = out.ReadAsArray().astype(np.float32)
        out = None
        src = None
    if data.ndim == 2:
        data = data[None]
    return data
