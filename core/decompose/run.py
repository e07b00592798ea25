"""Vertical and east-west motion from ascending and descending LOS velocities.

The plugin regrids the inputs onto one grid, sets both to zero motion in a reference area, and converts
to and from GeoTIFF; the least squares itself is MintPy's ``asc_desc2horz_vert``, run in MintPy's own
interpreter (:mod:`.mintpy_worker`) as ``insarhub:runtimeseries`` runs MintPy. North-south motion is
neglected (Sentinel-1's near-polar orbits barely see it), as is standard.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import CancelledError, InputError, InsarhubError, MintpyNotFoundError
from ..timeseries.prepare import PreparedGrid, _srs, transform_bounds
from ..timeseries.run import _reader, kill_process_tree, mintpy_environment
from . import results
from .grid import Bounds, _pixel_in, common_grid, warp
from .inputs import LosInput, check_directions, open_los_input

#: Condition number of the (east, vertical) design matrix above which a pixel is masked. Ascending +
#: descending Sentinel-1 gives about 1.1-1.6; two tracks of one direction 5 or more.
DEFAULT_MAX_CONDITION = 4.0
#: MintPy's geometry window (pixels): each block is inverted with its median geometry.
DEFAULT_GEOMETRY_WINDOW = 5
#: Nearest acquisitions of the inputs at most this far apart form a common date (half Sentinel-1's
#: 12-day repeat cycle).
DEFAULT_DATE_TOLERANCE_DAYS = 6
WORKER = Path(__file__).resolve().parent / "mintpy_worker.py"
LOG_NAME = "decompose.log"
SIGN = "positive = up / east"

Log = Callable[[str], None]


def _noop(*_: object) -> None:
    pass


def _never() -> bool:
    return False


class DecomposeError(InsarhubError):
    """MintPy's decomposition stopped with an error (the message quotes its output)."""


@dataclass
class DecompositionResult:
    """What :func:`decompose` wrote and found."""

    written: Dict[str, str]
    grid: PreparedGrid
    inputs: List[LosInput]
    reference_offsets_mm_yr: List[float]
    reference_pixels: int
    reference_description: str
    common_dates: List[str] = field(default_factory=list)
    matched_dates: List[List[str]] = field(default_factory=list)  # per common date: each input's date
    decomposed_pixels: int = 0
    weak_pixels: int = 0
    median_condition: float = float("nan")


# ------------------------------------------------------------------------------------------- area
def area_bounds(
    aoi_wkt_wgs84: str | None, extent: Sequence | None, target_wkt: str, what: str = "AOI"
) -> Bounds | None:
    """An AOI polygon (WGS 84 WKT) and/or an extent ``(xmin, ymin, xmax, ymax, crs)`` as one box in
    ``target_wkt`` (their intersection), or None."""
    from osgeo import ogr, osr

    boxes: List[Bounds] = []
    target = _srs(target_wkt)
    if aoi_wkt_wgs84:
        geom = ogr.CreateGeometryFromWkt(aoi_wkt_wgs84)
        if geom is None or geom.IsEmpty():
            raise InputError(f"The {what} geometry is empty.")
        wgs84 = _srs("EPSG:4326")
        geom.AssignSpatialReference(wgs84)
        geom.Segmentize(0.01)
        geom.Transform(osr.CoordinateTransformation(wgs84, target))
        minx, maxx, miny, maxy = geom.GetEnvelope()
        boxes.append((minx, miny, maxx, maxy))
    if extent is not None:
        xmin, ymin, xmax, ymax = (float(v) for v in extent[:4])
        if not (xmin < xmax and ymin < ymax):
            raise InputError(f"The {what} {xmin}, {ymin}, {xmax}, {ymax} is empty (min must be below max).")
        crs = str(extent[4] or "EPSG:4326") if len(extent) > 4 else "EPSG:4326"
        boxes.append(transform_bounds((xmin, ymin, xmax, ymax), _srs(crs).ExportToWkt(), target_wkt))
    if not boxes:
        return None
    return (max(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), min(b[3] for b in boxes))


def _window(grid: PreparedGrid, bounds: Bounds) -> np.ndarray:
    """Boolean array of the grid pixels whose centres lie in ``bounds`` (at least the nearest one)."""
    x0, dx, _, y0, _, dy = grid.geotransform
    cols = x0 + (np.arange(grid.width) + 0.5) * dx
    rows = y0 + (np.arange(grid.height) + 0.5) * dy
    inside_x = (cols >= bounds[0]) & (cols <= bounds[2])
    inside_y = (rows >= bounds[1]) & (rows <= bounds[3])
    out = inside_y[:, None] & inside_x[None, :]
    if not out.any():
        cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        row, col = int(np.argmin(np.abs(rows - cy))), int(np.argmin(np.abs(cols - cx)))
        if bounds[0] - abs(dx) <= cols[col] <= bounds[2] + abs(dx) and bounds[1] - abs(dy) <= rows[row] <= bounds[3] + abs(dy):
            out[row, col] = True
    return out


# ------------------------------------------------------------------------------------- reference
def stable_pixels(velocities: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The default reference area: the pixels of the common overlap that move least in every input.

    For each input, the pixels whose |velocity - median| is at most its median over the overlap (the
    half of the pixels closest to the typical value); the reference pixels are those in that half for
    every input.
    """
    stable = valid.copy()
    for v in velocities:
        deviation = np.abs(v - np.median(v[valid]))
        stable &= deviation <= np.median(deviation[valid])
    return stable


def reference_offsets(velocities: np.ndarray, reference: np.ndarray) -> List[float]:
    """Median of each input over the reference pixels (what is subtracted to set them to zero)."""
    return [float(np.median(v[reference])) for v in velocities]


# ---------------------------------------------------------------------------------------- dates
def match_dates(dates: Sequence[Sequence[dt.date]], tolerance_days: float) -> List[Tuple[dt.date, List[int]]]:
    """Common dates: for each date of the input with the fewest dates, the nearest date of every other
    input within ``tolerance_days``; each date of an input used once (the closest match wins).

    Returns ``[(date of the anchor input, [band index per input]), ...]`` in date order.
    """
    anchor = min(range(len(dates)), key=lambda i: (len(dates[i]), i))
    candidates: List[Tuple[dt.date, List[int], float]] = []
    for k, day in enumerate(dates[anchor]):
        picks: List[int] = []
        spread = 0.0
        for i, series in enumerate(dates):
            if i == anchor:
                picks.append(k)
                continue
            if not series:
                break
            j = min(range(len(series)), key=lambda m: (abs((series[m] - day).days), m))
            gap = abs((series[j] - day).days)
            if gap > tolerance_days:
                break
            picks.append(j)
            spread = max(spread, gap)
        else:
            candidates.append((day, picks, spread))
    used: List[set] = [set() for _ in dates]
    chosen: List[Tuple[dt.date, List[int]]] = []
    for day, picks, _ in sorted(candidates, key=lambda c: (c[2], c[0])):
        if any(p in used[i] for i, p in enumerate(picks)):
            continue
        for i, p in enumerate(picks):
            used[i].add(p)
        chosen.append((day, picks))
    return sorted(chosen)


# ----------------------------------------------------------------------------------- subprocess
def _run_worker(
    job: Path, python: str, workdir: Path, log: Log, progress: Callable[[float], None], is_cancelled: Callable[[], bool]
) -> None:
    """Run :mod:`.mintpy_worker` in MintPy's interpreter; cancellable; errors quote its output."""
    if not python or not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise MintpyNotFoundError(
            f"The MintPy interpreter '{python}' does not exist or is not executable. Set the python of an "
            "environment with MintPy in the InSARHub options or in INSARHUB_MINTPY_PYTHON."
        )
    command = [python, str(WORKER), str(job)]
    kwargs: Dict[str, object] = {"start_new_session": True} if os.name != "nt" else {}
    tail: deque = deque(maxlen=40)
    with open(workdir / LOG_NAME, "w", encoding="utf-8") as log_file:
        try:
            proc = subprocess.Popen(
                command, cwd=str(workdir), env=mintpy_environment(python), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs,  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise MintpyNotFoundError(f"The MintPy interpreter '{python}' could not be started ({exc}).") from exc
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
        reader.start()
        eof = False
        try:
            while not eof:
                if is_cancelled():
                    kill_process_tree(proc)
                    raise CancelledError("The decomposition was cancelled.")
                try:
                    kind, text = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "eof":
                    eof = True
                    break
                if kind == "bar" or not text.strip():
                    continue
                log_file.write(text + "\n")
                tail.append(text)
                if text.startswith("INSARHUB_PROGRESS "):
                    try:
                        progress(float(text.split()[1]))
                    except ValueError:
                        pass
                else:
                    log(text)
        finally:
            if proc.poll() is None and not eof:
                kill_process_tree(proc)
            reader.join(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        code = proc.wait()
    if code != 0:
        text = "\n".join(t for t in tail if not t.startswith("INSARHUB_PROGRESS"))
        if "No module named 'mintpy'" in text or "No module named mintpy" in text:
            raise MintpyNotFoundError(
                f"'{python}' has no MintPy. Point the InSARHub options (or INSARHUB_MINTPY_PYTHON) at the python "
                "of an environment with MintPy."
            )
        raise DecomposeError(f"MintPy's decomposition failed (exit code {code}). Its last lines:\n{text}")


# ---------------------------------------------------------------------------------------- main
def decompose(
    velocity_paths: Sequence[os.PathLike | str],
    out_paths: Mapping[str, os.PathLike | str | None],
    python: str,
    *,
    aoi_wkt_wgs84: str | None = None,
    extent: Sequence | None = None,
    crs: str | None = None,
    pixel_size: float | None = None,
    reference_area: Sequence | None = None,
    displacement: bool = False,
    date_tolerance_days: float = DEFAULT_DATE_TOLERANCE_DAYS,
    max_condition: float = DEFAULT_MAX_CONDITION,
    geometry_window: int = DEFAULT_GEOMETRY_WINDOW,
    work_folder: os.PathLike | str | None = None,
    log: Log = _noop,
    warn: Log = _noop,
    progress: Callable[[float], None] = _noop,
    is_cancelled: Callable[[], bool] = _never,
) -> DecompositionResult:
    """Decompose LOS velocities (GeoTIFFs of ``insarhub:runtimeseries``) into vertical and east.

    Parameters
    ----------
    velocity_paths: two or more velocity GeoTIFFs, at least one ascending and one descending.
    out_paths: role (``VERTICAL``, ``EAST``, ``VERTICAL_STD``, ``EAST_STD``, ``MASK``,
        ``VERTICAL_DISPLACEMENT``, ``EAST_DISPLACEMENT``) -> GeoTIFF path; missing/None: not written
        (``VERTICAL`` and ``EAST`` are required).
    python: an interpreter with MintPy.
    aoi_wkt_wgs84, extent: crop (a WGS 84 polygon, ``(xmin, ymin, xmax, ymax, crs)``; their intersection).
    crs: output CRS (EPSG:xxxx or WKT; default the first input's); pixel_size: in its units (default the
        finest input's pixel).
    reference_area: ``(xmin, ymin, xmax, ymax, crs)`` in which every input is set to zero motion; default
        :func:`stable_pixels`.
    displacement: also decompose the displacements at common dates (:func:`match_dates`).
    max_condition: pixels whose design matrix is worse conditioned are masked (``MASK`` = 2).
    geometry_window: MintPy's window (pixels) of constant geometry.
    work_folder: where the exchange files go (a temporary folder inside it, removed afterwards).
    """
    if not out_paths.get("VERTICAL") or not out_paths.get("EAST"):
        raise InputError("VERTICAL and EAST output paths are required.")
    unknown = set(k for k, v in out_paths.items() if v) - set(results.ROLES)
    if unknown:
        raise InputError(f"Unknown outputs {sorted(unknown)}; use {', '.join(results.ROLES)}.")
    if max_condition <= 1:
        raise InputError(f"The condition-number limit must be above 1 (the best possible geometry), not {max_condition}.")
    inputs = [open_los_input(p) for p in velocity_paths]
    check_directions(inputs)
    for item in inputs:
        log(f"Input: {item.label}: {item.width} x {item.height} pixels of {item.pixel_size:g}, geometry {item.geometry.name}.")
        if item.velocity_std is None:
            warn(f"{item.label} has no velocity standard deviation beside it: the std outputs assume 0 for it.")

    target_wkt = _srs(crs).ExportToWkt() if crs else inputs[0].crs_wkt
    area = area_bounds(aoi_wkt_wgs84, extent, target_wkt)
    grid = common_grid(inputs, crs_wkt=target_wkt, pixel_size=pixel_size, area=area)
    log(f"Common grid: {grid.width} x {grid.height} pixels of {grid.pixel_size_m:g}, EPSG:{grid.epsg or '?'}.")

    # ---- regrid
    n = len(inputs)
    shape = (n, grid.height, grid.width)
    los = np.empty(shape, dtype=np.float32)
    los_std = np.zeros(shape, dtype=np.float32)
    incidence = np.empty(shape, dtype=np.float32)
    azimuth = np.empty(shape, dtype=np.float32)
    for i, item in enumerate(inputs):
        if is_cancelled():
            raise CancelledError("The decomposition was cancelled.")
        pixel = _pixel_in(item, grid.crs_wkt)
        los[i] = warp(str(item.velocity), grid, pixel)[0]
        if item.velocity_std is not None:
            los_std[i] = warp(str(item.velocity_std), grid, pixel)[0]
        geometry = warp(str(item.geometry), grid, pixel)
        incidence[i], azimuth[i] = geometry[0], geometry[1]
        progress(20.0 * (i + 1) / n)
    # Regridding interpolates the azimuth; Sentinel-1's is about +103 (ascending) and -103 degrees
    # (descending), far from the +-180 wrap, so interpolating it is safe.
    valid = np.all(np.isfinite(los) & np.isfinite(incidence) & np.isfinite(azimuth), axis=0)
    if not valid.any():
        raise InputError(
            "No pixel of the common area has a velocity and a geometry in every input (each input masks "
            "incoherent pixels); give stacks that overlap on coherent ground."
        )

    # ---- reference
    if reference_area is not None:
        bounds = area_bounds(None, reference_area, grid.crs_wkt, "reference area")
        reference = _window(grid, bounds) & valid  # type: ignore[arg-type]
        if not reference.any():
            raise InputError(
                "The reference area holds no pixel that is valid in every input (inside the common area and "
                "coherent in both stacks); draw it over stable, coherent ground both stacks cover."
            )
        description = f"reference area {bounds[0]:.6g},{bounds[1]:.6g},{bounds[2]:.6g},{bounds[3]:.6g} (output CRS): median set to 0"  # type: ignore[index]
    else:
        reference = stable_pixels(los, valid)
        description = "stable median: pixels of the common overlap that move least in every input, median set to 0"
    offsets = reference_offsets(los, reference)
    los -= np.asarray(offsets, dtype=np.float32)[:, None, None]
    for item, offset in zip(inputs, offsets):
        log(f"Reference ({int(reference.sum())} pixels): {item.label} shifted by {-offset:+.2f} mm/yr.")

    # ---- displacement at common dates
    common: List[Tuple[dt.date, List[int]]] = []
    if displacement:
        missing = [item.label for item in inputs if item.displacement is None]
        if missing:
            raise InputError(
                "DISPLACEMENT needs the displacement GeoTIFF of every input, but "
                + ", ".join(missing)
                + " has none beside it: run insarhub:runtimeseries with its DISPLACEMENT output, or turn "
                "DISPLACEMENT off."
            )
        common = match_dates([item.date_objects() for item in inputs], date_tolerance_days)
        if len(common) < 2:
            raise InputError(
                f"The inputs share {len(common)} date(s) within {date_tolerance_days:g} days; a displacement "
                "series needs at least 2. Raise DATE_TOLERANCE or give stacks over the same period."
            )
        log(
            f"{len(common)} common dates within {date_tolerance_days:g} days "
            f"({common[0][0]:%Y-%m-%d} to {common[-1][0]:%Y-%m-%d}); displacement relative to the first."
        )

    # ---- MintPy
    base = Path(work_folder) if work_folder else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="insarhub-decompose-", dir=str(base) if base else None))
    try:
        job: Dict[str, object] = {
            "los": str(workdir / "los.npy"),
            "los_std": str(workdir / "los_std.npy"),
            "incidence": str(workdir / "incidence.npy"),
            "azimuth": str(workdir / "azimuth.npy"),
            "window": int(max(1, geometry_window)),
            "out_velocity": str(workdir / "out_velocity.npy"),
            "out_std": str(workdir / "out_std.npy"),
            "out_condition": str(workdir / "out_condition.npy"),
            "out_info": str(workdir / "out_info.json"),
        }
        np.save(job["los"], np.where(valid, los, np.nan).astype(np.float32))
        np.save(job["los_std"], los_std)
        np.save(job["incidence"], incidence)
        np.save(job["azimuth"], azimuth)
        if common:
            disp = np.lib.format.open_memmap(
                workdir / "displacement.npy", mode="w+", dtype=np.float32, shape=(len(common), *shape)
            )
            for i, item in enumerate(inputs):
                if is_cancelled():
                    raise CancelledError("The decomposition was cancelled.")
                bands = [picks[i] + 1 for _, picks in common]
                data = warp(str(item.displacement), grid, _pixel_in(item, grid.crs_wkt), bands=bands)
                data -= data[0]  # relative to the first common date
                for t in range(len(common)):
                    band = data[t]
                    ok = reference & np.isfinite(band)
                    band -= np.float32(np.median(band[ok])) if ok.any() else np.float32(0)
                    disp[t, i] = np.where(valid, band, np.nan)
                progress(20.0 + 10.0 * (i + 1) / n)
            disp.flush()
            del disp
            job["displacement"] = str(workdir / "displacement.npy")
            job["out_displacement"] = str(workdir / "out_displacement.npy")
        job_path = workdir / "job.json"
        job_path.write_text(json.dumps(job, indent=1))
        started = time.monotonic()
        _run_worker(job_path, python, workdir, log, lambda p: progress(30.0 + 0.6 * p), is_cancelled)
        log(f"MintPy's asc_desc2horz_vert finished in {time.monotonic() - started:.1f} s.")
        east, up = np.load(job["out_velocity"])
        east_std, up_std = np.load(job["out_std"])
        condition = np.load(job["out_condition"])
        info = json.loads(Path(str(job["out_info"])).read_text()) if Path(str(job["out_info"])).is_file() else {}
        series = np.load(job["out_displacement"]) if common else None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # ---- mask and outputs
    finite = valid & np.isfinite(east) & np.isfinite(up) & np.isfinite(condition)
    weak = finite & (condition > max_condition)
    good = finite & ~weak
    mask = np.full(grid.shape, results.MASK_NO_DATA, dtype=np.uint8)
    mask[weak] = results.MASK_WEAK_GEOMETRY
    mask[good] = results.MASK_VALID
    if weak.any():
        warn(
            f"{int(weak.sum())} pixels masked: their look directions are too alike to separate vertical from "
            f"east (condition number above {max_condition:g}; MASK = 2)."
        )
    if not good.any():
        raise InputError(
            f"No pixel could be decomposed: the geometry is too weak everywhere (median condition number "
            f"{float(np.nanmedian(condition)) if np.isfinite(condition).any() else float('nan'):.1f}, limit "
            f"{max_condition:g}). The inputs must look from clearly different directions (ascending and descending)."
        )

    def masked(a: np.ndarray) -> np.ndarray:
        return np.where(good, a, np.nan).astype(np.float32)

    common_meta = {
        "SOURCE": "MintPy asc_desc2horz_vert (InSARHub for QGIS)",
        "INPUTS": ";".join(str(item.velocity.resolve()) for item in inputs),
        "INPUT_DIRECTIONS": ",".join(item.flight_direction for item in inputs),
        "REFERENCE": description,
        "REFERENCE_OFFSETS_MM_YR": ",".join(f"{o:.3f}" for o in offsets),
        "MAX_CONDITION_NUMBER": f"{max_condition:g}",
        "GEOMETRY_WINDOW_PX": str(info.get("window", job["window"])),
        "NORTH_COMPONENT": "neglected (assumed 0)",
    }
    written: Dict[str, Path] = {}
    for role, data, units, sign in (
        ("VERTICAL", up, "mm/year", results.SIGNS["VERTICAL"]),
        ("EAST", east, "mm/year", results.SIGNS["EAST"]),
        ("VERTICAL_STD", up_std, "mm/year", "standard deviation propagated from each input's velocity std"),
        ("EAST_STD", east_std, "mm/year", "standard deviation propagated from each input's velocity std"),
    ):
        target = out_paths.get(role)
        if target:
            written[role] = results.write_float(
                Path(target), [masked(data)], grid, descriptions=[results.DESCRIPTIONS[role]], units=units,
                band_metadata=[{"SIGN": sign}], metadata={**common_meta, "QUANTITY": role.lower(), "SIGN": sign},
            )
    if out_paths.get("MASK"):
        written["MASK"] = results.write_mask(Path(out_paths["MASK"]), mask, grid, {**common_meta, "QUANTITY": "mask"})  # type: ignore[arg-type]
    dates = [day.strftime("%Y%m%d") for day, _ in common]
    matched = [[inputs[i].dates[p] for i, p in enumerate(picks)] for _, picks in common]
    if series is not None:
        for role, component, sign in (("VERTICAL_DISPLACEMENT", 1, results.SIGNS["VERTICAL"]), ("EAST_DISPLACEMENT", 0, results.SIGNS["EAST"])):
            target = out_paths.get(role)
            if target:
                written[role] = results.write_float(
                    Path(target), [masked(series[t, component]) for t in range(len(dates))], grid,
                    descriptions=dates, units="mm",
                    band_metadata=[{"DATE": d, "INPUT_DATES": ",".join(m), "SIGN": sign} for d, m in zip(dates, matched)],
                    metadata={**common_meta, "QUANTITY": role.lower() + " relative to the first common date",
                              "REFERENCE_DATE": dates[0], "DATES": ",".join(dates), "SIGN": sign,
                              "DATE_TOLERANCE_DAYS": f"{date_tolerance_days:g}"},
                )
    elif any(out_paths.get(r) for r in ("VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT")):
        log("Displacement outputs were given but DISPLACEMENT is off: they are not written.")
    results.cross_reference(written)
    progress(100.0)
    return DecompositionResult(
        written={k: str(v) for k, v in written.items()},
        grid=grid,
        inputs=inputs,
        reference_offsets_mm_yr=offsets,
        reference_pixels=int(reference.sum()),
        reference_description=description,
        common_dates=dates,
        matched_dates=matched,
        decomposed_pixels=int(good.sum()),
        weak_pixels=int(weak.sum()),
        median_condition=float(np.nanmedian(condition[good])),
    )
