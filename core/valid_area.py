"""The area every interferogram of a products folder covers: where a MintPy reference point may go.

MintPy needs the reference pixel valid (unwrapped phase present and non-zero) in every
interferogram. HyP3 products are rotated swaths in north-up rasters, so their bounding boxes
overlap far more than their data does; this reads each product's ``unw_phase`` at a coarse
resolution and intersects the valid pixels, giving a polygon the dock draws while the user
picks the reference point, and uses to refuse a click outside it at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .errors import InputError
from .timeseries.prepare import find_products

MAX_SIDE_PX = 400  # the coarse grid's longer side; products are read decimated to about this


@dataclass
class ValidArea:
    """The common valid area: a WKT (multi)polygon in ``crs`` (an ``EPSG:n`` or WKT)."""

    wkt: str
    crs: str
    products: int
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in ``crs``


def _unw_phase_path(candidate) -> str | None:  # noqa: ANN001 (prepare's private candidate type)
    suffix = f"{candidate.name}_unw_phase.tif"
    if candidate.is_zip:
        import zipfile

        try:
            with zipfile.ZipFile(candidate.source) as archive:
                for member in archive.namelist():
                    if member.replace("\\", "/").rsplit("/", 1)[-1] == suffix:
                        return f"/vsizip/{candidate.source}/{member}"
        except (zipfile.BadZipFile, OSError):
            return None
        return None
    path = Path(candidate.source) / suffix
    return str(path) if path.is_file() else None


def common_valid_area(
    products_folder: str | Path,
    exclude: Sequence[str | Path] = (),
    is_cancelled: Callable[[], bool] = lambda: False,
) -> ValidArea:
    """The polygon where every product in ``products_folder`` has valid unwrapped phase.

    Products in another CRS than the first one are warped onto its coarse grid. Raises
    :class:`InputError` when the folder holds no product or the products do not overlap.
    """
    import numpy as np
    from osgeo import gdal, ogr, osr

    folder = Path(products_folder)
    if not folder.is_dir():
        raise InputError(f"The products folder '{folder}' does not exist.")
    paths: dict[str, str] = {}
    for candidate in find_products(folder, exclude=[Path(p) for p in exclude]):
        path = _unw_phase_path(candidate)
        # An unpacked folder wins over its zip (the same product).
        if path and (candidate.name not in paths or not candidate.is_zip):
            paths[candidate.name] = path
    if not paths:
        raise InputError(f"No HyP3 product with an unwrapped phase raster was found in '{folder}'.")

    datasets = []
    for name in sorted(paths):
        dataset = gdal.Open(paths[name])
        if dataset is not None:
            datasets.append(dataset)
    if not datasets:
        raise InputError(f"None of the products in '{folder}' can be read.")
    first = datasets[0]
    crs_wkt = first.GetProjection()
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    # The common bounding box in the first product's CRS: the only place all can be valid.
    xmin, ymin, xmax, ymax = -math.inf, -math.inf, math.inf, math.inf
    for dataset in datasets:
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        bx = sorted((x0, x0 + dx * dataset.RasterXSize))
        by = sorted((y0, y0 + dy * dataset.RasterYSize))
        other = osr.SpatialReference()
        other.ImportFromWkt(dataset.GetProjection())
        if not other.IsSame(srs):
            other.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            transform = osr.CoordinateTransformation(other, srs)
            corners = [transform.TransformPoint(x, y)[:2] for x in bx for y in by]
            bx = sorted((min(c[0] for c in corners), max(c[0] for c in corners)))
            by = sorted((min(c[1] for c in corners), max(c[1] for c in corners)))
        xmin, xmax = max(xmin, bx[0]), min(xmax, bx[1])
        ymin, ymax = max(ymin, by[0]), min(ymax, by[1])
    if not (xmin < xmax and ymin < ymax):
        raise InputError(f"The {len(datasets)} products in '{folder}' do not overlap.")
    step = max(xmax - xmin, ymax - ymin) / MAX_SIDE_PX
    width = max(1, int(math.ceil((xmax - xmin) / step)))
    height = max(1, int(math.ceil((ymax - ymin) / step)))
    valid = np.ones((height, width), dtype=bool)
    for dataset in datasets:
        if is_cancelled():
            raise InputError("Cancelled.")
        warped = gdal.Warp(
            "",
            dataset,
            format="MEM",
            outputBounds=(xmin, ymin, xmax, ymax),
            width=width,
            height=height,
            dstSRS=crs_wkt,
            resampleAlg="near",
            dstNodata=0,
        )
        phase = warped.GetRasterBand(1).ReadAsArray().astype("float64")
        valid &= np.isfinite(phase) & (phase != 0.0)
    if not valid.any():
        raise InputError(f"No pixel is valid in all {len(datasets)} products of '{folder}'.")

    mask = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Byte)
    mask.SetGeoTransform((xmin, step, 0, ymax, 0, -step))
    mask.SetProjection(crs_wkt)
    mask.GetRasterBand(1).WriteArray(valid.astype("uint8"))
    vector = ogr.GetDriverByName("Memory").CreateDataSource("valid")
    layer = vector.CreateLayer("valid", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    band = mask.GetRasterBand(1)
    gdal.Polygonize(band, band, layer, 0)
    union = ogr.Geometry(ogr.wkbMultiPolygon)
    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is not None:
            union = union.Union(geometry)
    authority = srs.GetAuthorityName(None)
    code = srs.GetAuthorityCode(None)
    crs = f"{authority}:{code}" if authority and code else crs_wkt
    envelope = union.GetEnvelope()  # xmin, xmax, ymin, ymax
    return ValidArea(
        wkt=union.ExportToWkt(),
        crs=crs,
        products=len(datasets),
        bounds=(envelope[0], envelope[2], envelope[1], envelope[3]),
    )
