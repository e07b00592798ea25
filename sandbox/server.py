"""The sandbox: CMR and HyP3 stand-ins wired to a product maker with a known deformation signal."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "tests", ROOT / ".venv" / "qgis-plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
from fakes.cmr import CMRStandIn, load_fixture  # noqa: E402
from fakes.files import FileServer, give_small_files  # noqa: E402
from fakes.hyp3 import HyP3StandIn, job_granules  # noqa: E402
from fakes.los import SUBSWATH_INCIDENCE_DEG, Motion, enu_to_los, s1_geometry, set_product_geometry, swath_for  # noqa: E402
from fakes.products import Grid, make_product  # noqa: E402
from shapely.geometry import shape  # noqa: E402

from .ascending import synthetic_ascending_records  # noqa: E402

#: Any token works with the sandbox; this one says what it is.
SANDBOX_TOKEN = "sandbox-token-not-a-secret"
FIXTURES = ("s1_burst_174_372326_IW3_stack", "s1_slc_fairbanks_p94_f210_stack", "s1_slc_single", "s1_burst_single")
#: The real descending stack the SYNTHETIC ascending one is cloned from (sandbox/ascending.py).
ASCENDING_FROM = "s1_burst_174_372326_IW3_stack"

# The known signal, in 3-D: a subsidence bowl at the centre of each area plus a slope sliding east
# beside it, on stable ground. Stacks over the same area (the real descending and the synthetic
# ascending one near Sitka) see the same motion, each through its own look geometry.
BOWL_AMPLITUDE_MM_YR = -30.0  # vertical
BOWL_SIGMA_M = 1200.0  # small against the scene, so its edges are stable ground for the reference
SLOPE_EAST_MM_YR = 20.0  # eastward, at the slope's centre
SLOPE_DOWN_MM_YR = -5.0  # vertical on the slope
SLOPE_OFFSET_M = (2500.0, -1800.0)  # the slope's centre from the bowl's (east, north)
SLOPE_SIGMA_M = 800.0
SCENE_SIZE_PX = (120, 100)  # width, height of the area products cover, at 80 m
AREA_RADIUS_DEG = 0.5  # stacks whose centres are this close share one area (and one motion)


@dataclass(frozen=True)
class Area:
    """The ground a motion is laid out on: its UTM zone and the bowl's centre there."""

    epsg: int
    centre_x: float
    centre_y: float
    lon: float
    lat: float

    @property
    def motion(self) -> Motion:
        return Motion(
            bowl_x=self.centre_x, bowl_y=self.centre_y,
            slope_x=self.centre_x + SLOPE_OFFSET_M[0], slope_y=self.centre_y + SLOPE_OFFSET_M[1],
            bowl_mm_yr=BOWL_AMPLITUDE_MM_YR, bowl_sigma_m=BOWL_SIGMA_M, slope_east_mm_yr=SLOPE_EAST_MM_YR,
            slope_down_mm_yr=SLOPE_DOWN_MM_YR, slope_sigma_m=SLOPE_SIGMA_M,
        )


@dataclass(frozen=True)
class Scene:
    """Where a stack's synthetic interferograms lie: a UTM grid centred on its footprints, the look
    geometry of its track (Sentinel-1 IW, right-looking) and the area's 3-D motion."""

    stack: str
    grid: Grid
    centre_x: float
    centre_y: float
    flight_direction: str = "DESCENDING"
    swath: tuple = (0.0, 1.0)  # map x (west, east) of the 250 km swath, see fakes.los.s1_geometry
    area: Area | None = None

    def _in_area(self, x: np.ndarray, y: np.ndarray) -> tuple:
        if self.area is None or self.area.epsg == self.grid.epsg:
            return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        from osgeo import osr

        source, target = osr.SpatialReference(), osr.SpatialReference()
        source.ImportFromEPSG(self.grid.epsg)
        target.ImportFromEPSG(self.area.epsg)
        for ref in (source, target):
            ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        shape_ = np.shape(x)
        points = osr.CoordinateTransformation(source, target).TransformPoints(
            np.c_[np.ravel(x), np.ravel(y)].tolist()
        )
        return (np.array([p[0] for p in points]).reshape(shape_), np.array([p[1] for p in points]).reshape(shape_))

    def motion_enu(self, x: np.ndarray, y: np.ndarray) -> tuple:
        """The truth: (east, north, up) velocity in mm/yr at this scene's map coordinates."""
        if self.area is None:
            zero = np.zeros(np.shape(x))
            return zero, zero, zero
        return self.area.motion.enu(*self._in_area(x, y))

    def look_angles(self, x: np.ndarray, y: np.ndarray) -> tuple:
        """(incidence, azimuth) in degrees (MintPy's conventions) at map coordinates."""
        return s1_geometry(self.flight_direction, x, y, self.swath)

    def velocity_mm_yr(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The truth: LOS velocity in mm/yr (positive towards the satellite) at map coordinates."""
        return enu_to_los(*self.motion_enu(x, y), *self.look_angles(x, y))


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the UTM zone of a point (north 326xx, south 327xx)."""
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def _to_utm(lon: float, lat: float, epsg: int) -> tuple[float, float]:
    from osgeo import osr

    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromEPSG(4326)
    target.ImportFromEPSG(epsg)
    for ref in (source, target):
        ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x, y, _ = osr.CoordinateTransformation(source, target).TransformPoint(lon, lat)
    return x, y


class Sandbox:
    """CMR + HyP3 emulators on loopback; use as a context manager.

    ``env`` holds the environment variables that point the plugin at it.
    """

    def __init__(self, workdir: str | Path | None = None, records: list[dict] | None = None, polls_per_state: int = 1):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="insarhub-sandbox-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if records is not None:
            self.records = copy.deepcopy(records)
        else:
            self.records = [r for name in FIXTURES for r in load_fixture(name)]
            # SYNTHETIC ascending twins of the real descending burst stack (sandbox/ascending.py)
            self.records += synthetic_ascending_records(load_fixture(ASCENDING_FROM))
        self.areas: list[Area] = []
        # Scene downloads (insarhub:downloadscenes): small stand-in files instead of GB-sized SLCs;
        # the records' sizes and checksums are rewritten to match them.
        self.files = FileServer()
        self.files.serve(give_small_files(self.records))
        self.files.start()
        self._by_name = {}
        for record in self.records:
            props = record["asf_properties"]
            self._by_name[props["sceneName"]] = record
            self._by_name[props["fileID"]] = record
        self._perp_m = self._baselines()
        self.scenes: dict[str, Scene] = {}
        self._lock = threading.Lock()
        self._made = 0
        self.cmr = CMRStandIn(self.records, tmpdir=self.workdir / "cmr")
        self.hyp3 = HyP3StandIn(
            credits=8000,
            polls_per_state=polls_per_state,
            product_factory=self._product,
            tmpdir=self.workdir / "hyp3",
            user_id="SANDBOX",
        )

    # ---- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.cmr.close()
        self.hyp3.close()
        self.files.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point InSARHub at this sandbox."""
        return {
            "INSARHUB_CMR_HOST": self.cmr.host,
            "INSARHUB_CA_BUNDLE": self.cmr.ca_file,
            "INSARHUB_HYP3_URL": self.hyp3.url,
            "EARTHDATA_TOKEN": SANDBOX_TOKEN,
            "INSARHUB_ASF_DOWNLOAD_BASE": self.files.url,
        }

    # ---- the scenes and their truth -----------------------------------------------------------
    def _baselines(self) -> dict[str, float]:
        """Perpendicular baseline (m) of every record against its stack's reference, from the orbits."""
        from insarhub_qgis.core import records as core_records
        from insarhub_qgis.core.baselines import baselines_by_stack

        products = core_records.products_from_records(
            {"umm": json.dumps(r["umm"]), "cmrMeta": json.dumps(r["meta"])} for r in self.records
        )
        perp: dict[str, float] = {}
        for stack in baselines_by_stack(products).values():
            perp.update(stack.perp_baseline_m)
        return perp

    def scene_for(self, record: dict) -> Scene:
        """The scene of a record's stack (created on first use, then fixed)."""
        props = record["asf_properties"]
        burst = (props.get("burst") or {}).get("fullBurstID")
        stack = burst or f"P{props['pathNumber']}_F{props['frameNumber']}"
        if stack not in self.scenes:
            footprint = shape(_umm_polygon(record["umm"]))
            lon, lat = footprint.centroid.x, footprint.centroid.y
            epsg = utm_epsg(lon, lat)
            x, y = _to_utm(lon, lat, epsg)
            width, height = SCENE_SIZE_PX
            origin_x = math.floor((x - width * 40) / 80) * 80
            origin_y = math.ceil((y + height * 40) / 80) * 80
            grid = Grid(epsg=epsg, pixel_size=80.0, origin_x=origin_x, origin_y=origin_y, width=width, height=height)
            direction = (props.get("flightDirection") or "DESCENDING").upper()
            subswath = (props.get("burst") or {}).get("subswath") or "IW2"
            centre_x = origin_x + width * 40
            swath = swath_for(direction, centre_x, SUBSWATH_INCIDENCE_DEG.get(subswath, 39.0))
            area = self._area(float(props.get("centerLon", lon)), float(props.get("centerLat", lat)))
            self.scenes[stack] = Scene(stack, grid, centre_x, origin_y - height * 40, direction, swath, area)
        return self.scenes[stack]

    def _area(self, lon: float, lat: float) -> Area:
        """The area around a stack's centre: an existing one within AREA_RADIUS_DEG, else a new one."""
        for area in self.areas:
            if abs(area.lon - lon) < AREA_RADIUS_DEG and abs(area.lat - lat) < AREA_RADIUS_DEG:
                return area
        epsg = utm_epsg(lon, lat)
        x, y = _to_utm(lon, lat, epsg)
        area = Area(epsg, x, y, lon, lat)
        self.areas.append(area)
        return area

    def truth_at(self, stack: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The LOS velocity truth (mm/yr) of a stack, as a function of its scene's map coordinates."""
        return self.scenes[stack].velocity_mm_yr

    def motion_truth(self, stack: str) -> Callable[[np.ndarray, np.ndarray], tuple]:
        """The 3-D truth (east, north, up mm/yr) under a stack, as a function of its scene's map coordinates."""
        return self.scenes[stack].motion_enu

    # ---- HyP3 products ----------------------------------------------------------------------
    def _product(self, job: dict) -> Path:
        """An interferogram for a succeeded job, consistent with its two scenes."""
        params = job["job_parameters"]
        if job["job_type"] == "INSAR_ISCE_MULTI_BURST":
            reference_names, secondary_names = list(params["reference"]), list(params["secondary"])
        else:
            names = sorted(job_granules(job), key=lambda n: self._record(n)["asf_properties"]["startTime"])
            reference_names, secondary_names = [names[0]], [names[1]]
        reference = self._record(reference_names[0])["asf_properties"]
        secondary = self._record(secondary_names[0])["asf_properties"]
        scene = self.scene_for(self._record(reference_names[0]))
        pair_key = "|".join(sorted(reference_names + secondary_names))
        digest = int(hashlib.sha256(pair_key.encode()).hexdigest()[:8], 16)
        # Real stacks always have a few unwrapping errors (and MintPy 1.6.4's quick_overview fails
        # on a stack with none): the first product made and about one in twelve get one.
        with self._lock:
            self._made += 1
            unwrap_error = self._made == 1 or digest % 12 == 0
        # Real products of one stack differ in extent by a few pixels: so do these.
        grid = scene.grid.shifted(digest % 3, (digest // 3) % 3, -(digest // 9) % 3 - 2, -(digest // 27) % 3 - 2)
        burst = reference.get("burst") or {}
        perp = self._perp_m.get(secondary["fileID"], 0.0) - self._perp_m.get(reference["fileID"], 0.0)
        out = self.workdir / "products" / str(job["job_id"])
        folder = make_product(
            out,
            _when(reference["startTime"]),
            _when(secondary["startTime"]),
            job_type=job["job_type"],
            grid=grid,
            scene=scene.grid,
            velocity_mm_yr=scene.velocity_mm_yr,
            perp_baseline_m=perp,
            seed=digest,
            unwrap_error=unwrap_error,
            as_zip=False,
            polarization=(reference.get("polarization") or "VV")[:2],
            flight_direction=reference.get("flightDirection", "ASCENDING"),
            relative_orbit=int(reference.get("pathNumber") or 1),
            burst_id=int(burst.get("relativeBurstID") or 1),
            swath=int((burst.get("subswath") or "IW2")[-1]),
            missions=(_mission(reference), _mission(secondary)),
            include_dem=True,
            include_look_vectors=True,
        )
        _name_real_granules(folder, reference_names, secondary_names)
        # the look vectors of the track, the ones the motion was projected with
        set_product_geometry(folder, scene.flight_direction, scene.swath)
        return _zip_folder(folder)

    def _record(self, name: str) -> dict:
        record = self._by_name.get(name) or self._by_name.get(name.removesuffix("-SLC"))
        if record is None:
            raise KeyError(f"the sandbox has no record named {name}")
        return record


def _umm_polygon(umm: dict) -> dict:
    points = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    return {"type": "Polygon", "coordinates": [[(p["Longitude"], p["Latitude"]) for p in points]]}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None, microsecond=0)


def _mission(props: dict) -> str:
    platform = (props.get("platform") or "Sentinel-1A").upper()
    return platform[-1] if platform[-1] in "ABCD" else "A"


def _name_real_granules(folder: Path, reference: list[str], secondary: list[str]) -> None:
    """Make the product's metadata name the real granules it was 'made' from."""
    txt = folder / f"{folder.name}.txt"
    lines = txt.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Reference Granule:"):
            lines[index] = "Reference Granule: " + ", ".join(reference)
        elif line.startswith("Secondary Granule:"):
            lines[index] = "Secondary Granule: " + ", ".join(secondary)
    txt.write_text("\n".join(lines) + "\n")


def _zip_folder(folder: Path) -> Path:
    """``NAME.zip`` holding the single top folder ``NAME/`` (as HyP3's products)."""
    target = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    shutil.rmtree(folder)
    return target
