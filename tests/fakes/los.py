"""A known 3-D ground motion seen from Sentinel-1's ascending and descending geometry.

The truth the decomposition tests and the sandbox share: a subsidence bowl plus a slope sliding east
(:func:`motion_enu`), the LOS projection with MintPy's sign convention written out independently of
MintPy (:func:`enu_to_los`: positive towards the satellite), and a Sentinel-1 IW geometry
(:func:`s1_geometry`: incidence growing across the swath from near to far range, heading about -12 deg
ascending and -168 deg descending, right-looking). :func:`write_los_result` writes the GeoTIFFs
``insarhub:runtimeseries`` writes (velocity, std, displacement, geometry sidecar, cross-references),
through the plugin's own writers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

HEADING_DEG = {"ASCENDING": -12.0, "DESCENDING": -168.0}


@dataclass(frozen=True)
class Motion:
    """A 3-D velocity field (mm/yr) on map coordinates: a bowl and an east-sliding slope."""

    bowl_x: float
    bowl_y: float
    slope_x: float
    slope_y: float
    bowl_mm_yr: float = -30.0  # vertical at the bowl's centre (negative: subsidence)
    bowl_sigma_m: float = 1500.0
    slope_east_mm_yr: float = 20.0  # eastward at the slope's centre
    slope_down_mm_yr: float = -6.0  # vertical on the slope (sliding down it)
    slope_sigma_m: float = 1200.0
    north_mm_yr: float = 0.0  # a uniform north component (the decomposition neglects it)

    def enu(self, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(east, north, up)`` velocity in mm/yr at map coordinates."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        bowl = np.exp(-((x - self.bowl_x) ** 2 + (y - self.bowl_y) ** 2) / (2 * self.bowl_sigma_m**2))
        slope = np.exp(-((x - self.slope_x) ** 2 + (y - self.slope_y) ** 2) / (2 * self.slope_sigma_m**2))
        east = self.slope_east_mm_yr * slope
        up = self.bowl_mm_yr * bowl + self.slope_down_mm_yr * slope
        north = np.full(np.shape(x), self.north_mm_yr)
        return east, north, up


def motion_for_box(xmin: float, ymin: float, xmax: float, ymax: float, **kwargs: float) -> Motion:
    """A :class:`Motion` laid out in a box: the bowl at 40 % / 55 %, the slope at 72 % / 30 % (x / y from
    the south-west), sized to a tenth of the box's width; most of the box stays stable."""
    width = xmax - xmin
    sigma = kwargs.pop("sigma_m", width / 10)
    return Motion(
        bowl_x=xmin + 0.40 * width,
        bowl_y=ymin + 0.55 * (ymax - ymin),
        slope_x=xmin + 0.72 * width,
        slope_y=ymin + 0.30 * (ymax - ymin),
        bowl_sigma_m=sigma,
        slope_sigma_m=0.8 * sigma,
        **kwargs,
    )


def azimuth_from_heading(heading_deg: np.ndarray | float) -> np.ndarray:
    """LOS azimuth (ground to satellite, from north, anticlockwise) of a right-looking radar."""
    azimuth = -(np.asarray(heading_deg, dtype=np.float64) - 90.0)
    return (azimuth + 180.0) % 360.0 - 180.0


def s1_geometry(
    direction: str,
    x: np.ndarray,
    y: np.ndarray,
    swath: Tuple[float, float],
    incidence_range: Tuple[float, float] = (30.0, 46.0),
    heading_deg: float | None = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """``(incidence, azimuth)`` in degrees of a Sentinel-1 IW swath spanning map x ``swath`` (west, east).

    The radar looks right: ascending (heading ~ -12) looks east, so incidence grows eastwards;
    descending (heading ~ -168) looks west, so it grows westwards. The heading turns by 0.5 deg across the
    swath, as the real one does with latitude.
    """
    direction = direction.upper()
    west, east = swath
    u = np.clip((np.asarray(x, dtype=np.float64) - west) / (east - west), 0.0, 1.0)
    near_to_far = u if direction == "ASCENDING" else 1.0 - u
    near, far = incidence_range
    incidence = near + (far - near) * near_to_far
    heading = (HEADING_DEG[direction] if heading_deg is None else heading_deg) + 0.5 * (u - 0.5)
    return incidence + 0.0 * np.asarray(y), azimuth_from_heading(heading) + 0.0 * np.asarray(y)


def enu_to_los(east, north, up, incidence_deg, azimuth_deg) -> np.ndarray:
    """LOS motion, positive towards the satellite (MintPy's ``ut.enu2los``, written out here)."""
    inc, az = np.radians(incidence_deg), np.radians(azimuth_deg)
    return -np.sin(inc) * np.sin(az) * east + np.sin(inc) * np.cos(az) * north + np.cos(inc) * up


def utm_grid(epsg: int, origin_x: float, origin_y: float, pixel: float, width: int, height: int):
    """A :class:`~insarhub_qgis.core.timeseries.prepare.PreparedGrid` and its pixel-centre coordinates."""
    from insarhub_qgis.core.timeseries.prepare import PreparedGrid
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    grid = PreparedGrid((origin_x, pixel, 0.0, origin_y, 0.0, -pixel), srs.ExportToWkt(), epsg, width, height)
    xs = origin_x + (np.arange(width) + 0.5) * pixel
    ys = origin_y - (np.arange(height) + 0.5) * pixel
    x, y = np.meshgrid(xs, ys)
    return grid, x, y


def write_los_result(
    folder: Path,
    grid,
    velocity_mm_yr: np.ndarray,
    incidence_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    direction: str,
    *,
    std_mm_yr: np.ndarray | None = None,
    dates: Sequence[dt.date] = (),
    displacement_mm: np.ndarray | None = None,
    relative_orbit: int = 0,
    geometry: bool = True,
) -> Dict[str, Path]:
    """Write ``velocity.tif`` (+ ``velocity_std.tif``, ``displacement.tif``, the geometry sidecar) in
    ``folder`` as ``insarhub:runtimeseries`` writes them, through the plugin's writers."""
    from insarhub_qgis.core.timeseries.export import SIGN_DESCRIPTION, _write_geotiff
    from insarhub_qgis.core.timeseries.geometry import link_run_files, write_los_geometry

    folder = Path(folder)
    common = {"SIGN": SIGN_DESCRIPTION, "SOURCE": "tests/fakes/los.py (synthetic)"}
    files: Dict[str, Path] = {}
    files["VELOCITY"] = _write_geotiff(
        folder / "velocity.tif", [velocity_mm_yr], 1, grid, descriptions=["LOS velocity"], units="mm/year",
        metadata={**common, "QUANTITY": "velocity"},
    )
    if std_mm_yr is not None:
        files["VELOCITY_STD"] = _write_geotiff(
            folder / "velocity_std.tif", [std_mm_yr], 1, grid, descriptions=["LOS velocity std"], units="mm/year",
            metadata={**common, "QUANTITY": "velocityStd"},
        )
    if displacement_mm is not None:
        names = [d.strftime("%Y%m%d") for d in dates]
        files["DISPLACEMENT"] = _write_geotiff(
            folder / "displacement.tif", list(displacement_mm), len(names), grid, descriptions=names, units="mm",
            metadata={**common, "QUANTITY": "displacement relative to the reference date", "REFERENCE_DATE": names[0]},
        )
    extra = {"FLIGHT_DIRECTION": direction.upper(), "RELATIVE_ORBIT": str(relative_orbit)}
    if geometry:
        files["LOS_GEOMETRY"] = write_los_geometry(
            files["VELOCITY"], incidence_deg, azimuth_deg, grid, "tests/fakes/los.py", direction, relative_orbit
        )
    link_run_files(files, extra)
    return files


def los_velocity_field(motion: Motion, direction: str, swath: Tuple[float, float],
                       incidence_range: Tuple[float, float] = (30.0, 46.0)):
    """``f(x, y)`` -> LOS velocity (mm/yr, + towards the satellite) of ``motion`` seen by that geometry:
    the ``velocity_mm_yr`` field for :func:`fakes.products.make_product`."""

    def velocity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        incidence, azimuth = s1_geometry(direction, x, y, swath, incidence_range)
        return enu_to_los(*motion.enu(x, y), incidence, azimuth)

    return velocity


def set_product_geometry(folder: Path, direction: str, swath: Tuple[float, float],
                         incidence_range: Tuple[float, float] = (30.0, 46.0)) -> None:
    """Rewrite an unzipped product's ``lv_theta``/``lv_phi`` (and ``Heading``) to :func:`s1_geometry`, so
    that its look vectors are the ones :func:`los_velocity_field` projected the motion with.

    HyP3's conventions: ``lv_theta`` is the look vector's elevation from the horizontal, ``lv_phi`` its
    azimuth from east, anticlockwise, both radians, 0 = nodata outside the swath.
    """
    from osgeo import gdal

    folder = Path(folder)
    theta_path = next(folder.glob("*_lv_theta.tif"))
    phi_path = next(folder.glob("*_lv_phi.tif"))
    ds = gdal.Open(str(theta_path), gdal.GA_Update)
    valid = ds.GetRasterBand(1).ReadAsArray() != 0
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    cols, rows = np.meshgrid(np.arange(ds.RasterXSize), np.arange(ds.RasterYSize))
    x, y = x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy
    incidence, azimuth = s1_geometry(direction, x, y, swath, incidence_range)
    theta = np.radians(90.0 - incidence)
    phi = np.radians(azimuth + 90.0)
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    ds.GetRasterBand(1).WriteArray(np.where(valid, theta, 0.0).astype(np.float32))
    ds = None
    ds = gdal.Open(str(phi_path), gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.where(valid, phi, 0.0).astype(np.float32))
    ds = None
    txt = next(p for p in folder.glob("*.txt") if not p.name.endswith(".README.md.txt"))
    lines = txt.read_text().splitlines()
    heading = HEADING_DEG[direction.upper()]
    txt.write_text("\n".join(f"Heading: {heading:.7f}" if line.startswith("Heading:") else line for line in lines) + "\n")


#: Sentinel-1 IW incidence angle (degrees) at the middle of each sub-swath.
SUBSWATH_INCIDENCE_DEG = {"IW1": 33.5, "IW2": 39.0, "IW3": 43.5}
SWATH_WIDTH_M = 250_000.0


def swath_for(direction: str, x_centre: float, incidence_at_centre: float,
              incidence_range: Tuple[float, float] = (30.0, 46.0)) -> Tuple[float, float]:
    """The ``swath`` (west, east map x, 250 km apart) of :func:`s1_geometry` that puts
    ``incidence_at_centre`` at ``x_centre``."""
    near, far = incidence_range
    near_to_far = (incidence_at_centre - near) / (far - near)
    u = near_to_far if direction.upper() == "ASCENDING" else 1.0 - near_to_far
    west = x_centre - u * SWATH_WIDTH_M
    return (west, west + SWATH_WIDTH_M)
