"""Issue 17: a whole Sentinel-1 frame through ``insarhub:runtimeseries`` against plain MintPy.

Data: one synthetic stack of HyP3 INSAR_GAMMA product zips made by the project's product maker
(``tests/fakes/products.py``; ``realistic_stack`` where it exists: tropospheric turbulence and
stratification per date, DEM errors, seasonal motion, a lake, a decorrelating forest, unwrapping errors;
else ``make_stack`` with stronger phase noise and six unwrapping errors), by default 3,000 x 2,500 pixels of
80 m, 150 interferograms over 60 dates (12-day spacing, every date linked to its 2-3 nearest later dates),
extents shifted and resized by up to 2 pixels as real products are. Generated once and cached outside the
repository, ``~/.cache/insarhub/bench/frame-<hash of the parameters>/`` (``--cache``), reused when present.

Timed, one path after the other, a fresh work folder per run (``--runs``, interleaved):

(a) the plugin: ``insarhub:runtimeseries`` run by QGIS Processing in a worker process
    (``bench/frame_worker.py``), outputs VELOCITY, VELOCITY_STD, TEMPORAL_COHERENCE, DISPLACEMENT; stages
    timed inside the worker (``prepare_products``, ``write_config``, ``run_smallbaseline`` with MintPy's own
    step headers, ``export_results``);
(a0) optionally (``--baseline-root``) the same with another checkout of the plugin (e.g. main), so that
    a change is measured before and after in one run;
(b) plain MintPy as a user runs it on the same products: the products hand-clipped to their common overlap
    the way the HyP3 + MintPy tutorial does it (``gdal.Translate(projWin=...)`` of every interferogram's
    unwrapped phase and coherence, and one product's DEM, look vectors and water mask, straight from the
    zips; done once per benchmark, timed and counted on its own), then ``smallbaselineApp.py`` as a plain
    subprocess.

The same MintPy work on every path: (a) runs first with the plugin's own choices (plus ``--mintpy-option``,
by default the unweighted inversion, given as ``MINTPY_CONFIG``); every processing key of its
``insarhub.cfg`` (all but the input paths) is then given to (b) as its configuration (with (a)'s reference
pixel) and to (a0) and later plugin runs as ``MINTPY_CONFIG`` (without the reference pixel, which each
version picks itself), so the paths differ only in what the plugin does around MintPy.

Measured per run: wall time per stage and per MintPy step; peak memory (RSS, sampled every
``--sample-s`` seconds: the worker process, where the plugin's own Python work happens, and the MintPy
process tree below it, summed over processes); bytes written to storage (``write_bytes`` of this process
and its reaped children, ``/proc/self/io``) and the files left behind, split into MintPy's files (the same
relative paths plain MintPy writes) and the plugin's own. The velocities of all paths are compared.

Heavy: at the default size about 15 GB of products in the cache, up to ~25 GB of work files at a time,
and an hour or more on 2 cores. Develop with ``--scale 0.1 --pairs 20 --dates 10``; run the full size under
``nice -n 10``. Run: ``nice -n 10 .venv/bin/python bench/bench_frame.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

NAME = "bench_frame"
STACK_FORMAT = 1  # bump when the cached stack's layout or generator options change
WORKER = Path(__file__).resolve().parent / "frame_worker.py"
_STEP_RE = re.compile(r"^\*{5,}\s*step - (\w+)\s*\*{5,}\s*$")
_MARK_STEP = re.compile(r"^MintPy step \d+/\d+: (\w+)$")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
GIB = 2**30
# Chosen for both sides: MintPy's default weighted inversion ("var") solves every pixel on its own (about
# 0.3 ms a pixel here, hours for a frame); unweighted, whole blocks of pixels are solved at once, so MintPy's
# own time is smaller and the plugin's overhead shows more, not less.
DEFAULT_OPTIONS = ["mintpy.networkInversion.weightFunc=no"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=3000, help="scene columns at --scale 1")
    parser.add_argument("--height", type=int, default=2500, help="scene rows at --scale 1")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies width and height (0.1: 300 x 250)"
    )
    parser.add_argument("--pixel", type=float, default=80.0, help="pixel size, metres")
    parser.add_argument("--pairs", type=int, default=150, help="interferograms")
    parser.add_argument("--dates", type=int, default=60, help="acquisition dates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1, help="runs of each path (median reported)")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "insarhub" / "bench", help="stack cache folder"
    )
    parser.add_argument(
        "--workroot", type=Path, default=None, help="where run folders go (default: a temp folder)"
    )
    parser.add_argument(
        "--baseline-root", type=Path, default=None, help="another checkout of the plugin, run as (a0)"
    )
    parser.add_argument(
        "--baseline-label", default="", help="what --baseline-root is, for the results (e.g. main @ abc123)"
    )
    parser.add_argument(
        "--mintpy-option",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="a MintPy setting given to both sides (the plugin through MINTPY_CONFIG); default: "
        + ", ".join(DEFAULT_OPTIONS),
    )
    parser.add_argument("--sample-s", type=float, default=0.25, help="memory sampling interval, seconds")
    parser.add_argument(
        "--min-free-gb", type=float, default=8.0, help="stop when less disk than this would be left"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the run folders (default: deleted after measuring)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    parser.add_argument(
        "--generate-only", action="store_true", help="make (or find) the cached stack, then stop"
    )
    return parser.parse_args()


# ------------------------------------------------------------------------------------------ stack
def stack_parameters(args: argparse.Namespace) -> Dict[str, Any]:
    """What defines the cached stack (its cache key)."""
    from fakes import products

    realistic = hasattr(products, "realistic_stack")
    return {
        "format": STACK_FORMAT,
        "generator": "realistic_stack" if realistic else "make_stack",
        "job_type": "INSAR_GAMMA",
        "width": int(round(args.width * args.scale)),
        "height": int(round(args.height * args.scale)),
        "pixel_m": args.pixel,
        "pairs": args.pairs,
        "dates": args.dates,
        "seed": args.seed,
        "interval_days": 12,
        # HyP3's INSAR_GAMMA defaults plus what the plugin orders for MintPy (INCLUDE_DEM, INCLUDE_LOOK_VECTORS)
        "include_wrapped_phase": False,
        "as_zip": True,
        # make_stack only: stronger noise and more unwrapping errors than its defaults
        "fallback_noise_rad": 0.25,
        "fallback_unwrap_error_pairs": 6,
    }


def stack_key(params: Dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def ensure_stack(args: argparse.Namespace) -> Tuple[Path, Dict[str, Any]]:
    """The cached stack folder and its manifest; generated (atomically: ``.partial``, then renamed) when missing."""
    import numpy as np
    from fakes import products

    params = stack_parameters(args)
    folder = args.cache / f"frame-{stack_key(params)}"
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        print(f"stack: reusing {folder} ({manifest['bytes'] / GIB:.1f} GiB)", flush=True)
        return folder, manifest
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "products").mkdir(parents=True)
    others = [p for p in args.cache.glob("frame-*") if p.is_dir() and p not in (folder, partial)]
    if others:
        print(
            "stack: other cached stacks (delete them when no longer needed): " + ", ".join(map(str, others))
        )
    check_free(partial, estimate_stack_bytes(params), args.min_free_gb, "the stack")
    grid = products.Grid(width=params["width"], height=params["height"], pixel_size=params["pixel_m"])
    common = dict(
        n_dates=params["dates"],
        n_pairs=params["pairs"],
        grid=grid,
        seed=params["seed"],
        interval_days=params["interval_days"],
        include_wrapped_phase=params["include_wrapped_phase"],
        as_zip=params["as_zip"],
    )
    print(
        f"stack: writing {params['pairs']} products of {params['width']} x {params['height']} px "
        f"with {params['generator']} into {folder} ...",
        flush=True,
    )
    started = time.perf_counter()
    if params["generator"] == "realistic_stack":
        stack = products.realistic_stack(partial / "products", job_type=params["job_type"], **common)
    else:
        stack = products.make_stack(
            partial / "products",
            job_type=params["job_type"],
            noise_rad=params["fallback_noise_rad"],
            unwrap_error_pairs=params["fallback_unwrap_error_pairs"],
            **common,
        )
    seconds = time.perf_counter() - started
    truth = stack.truth_grid
    np.save(partial / "truth_velocity_mm_yr.npy", stack.truth_velocity_mm_yr.astype("float32"))
    usable = getattr(stack, "coherent_land_mask", None)
    if usable is None:
        usable = stack.valid_mask & ~stack.low_coherence_mask
    np.save(partial / "coherent_land_mask.npy", usable)
    manifest = {
        "parameters": params,
        "products": [p.name for p in stack.products],
        "dates": [d.isoformat() for d in stack.dates],
        "truth_grid": {
            "geotransform": list(truth.geotransform),
            "width": truth.width,
            "height": truth.height,
        },
        "reference_yx_truth": list(stack.reference_yx),
        "generated_s": seconds,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "products_py_sha256": hashlib.sha256(Path(products.__file__).read_bytes()).hexdigest()[:12],
    }
    del stack
    manifest["bytes"] = folder_bytes(partial / "products")
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1))
    os.replace(partial, folder)
    print(f"stack: {manifest['bytes'] / GIB:.1f} GiB in {seconds:.0f} s", flush=True)
    return folder, manifest


def estimate_stack_bytes(params: Dict[str, Any]) -> int:
    # about four incompressible Float32 rasters per zip (phase, coherence, amplitude, DEM)
    return int(params["pairs"] * params["width"] * params["height"] * 4 * 4.2)


def check_free(path: Path, need: int, min_free_gb: float, what: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free - need < min_free_gb * GIB:
        raise SystemExit(
            f"Not enough disk for {what}: {need / GIB:.1f} GiB needed, {free / GIB:.1f} GiB free on {path}, "
            f"and {min_free_gb} GiB must stay free (--min-free-gb)."
        )


def warm(folder: Path) -> float:
    """Read every file below ``folder`` once (into the page cache, as far as memory allows); seconds taken.
    Before every run its inputs are warmed: plain MintPy's hand-clipped inputs were just written, and the
    plugin's zips would otherwise be as cold or warm as whatever ran before left them (the preparation tells
    the kernel it is done with them)."""
    begin = time.perf_counter()
    buffer = bytearray(16 << 20)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, "rb", buffering=0) as handle:
            while handle.readinto(buffer):
                pass
    return time.perf_counter() - begin


# --------------------------------------------------------------------------------------- hand clip
def hand_clip(stack_dir: Path, out: Path) -> Dict[str, Any]:
    """What a user does before running MintPy on HyP3 products (the HyP3 + MintPy tutorial): cut every
    raster MintPy reads to the products' common overlap with ``gdal.Translate(projWin=...)``. Read straight
    from the zips; the first product's geometry only (MintPy reads the first file of each geometry glob)."""
    import zipfile

    from osgeo import gdal

    gdal.UseExceptions()
    zips = sorted((stack_dir / "products").glob("*.zip"))
    extents = []
    for z in zips:
        ds = gdal.Open(f"/vsizip/{z}/{z.stem}/{z.stem}_unw_phase.tif")
        x0, dx, _, y0, _, dy = ds.GetGeoTransform()
        extents.append((x0, y0 + dy * ds.RasterYSize, x0 + dx * ds.RasterXSize, y0))
        ds = None
    xmin = max(e[0] for e in extents)
    ymin = max(e[1] for e in extents)
    xmax = min(e[2] for e in extents)
    ymax = min(e[3] for e in extents)
    started = time.perf_counter()
    for index, z in enumerate(zips):
        name = z.stem
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(z) as archive:
            (folder / f"{name}.txt").write_bytes(archive.read(f"{name}/{name}.txt"))
        suffixes = ["unw_phase", "corr"] + (["dem", "lv_theta", "lv_phi", "water_mask"] if index == 0 else [])
        for suffix in suffixes:
            gdal.Translate(
                str(folder / f"{name}_{suffix}.tif"),
                f"/vsizip/{z}/{name}/{name}_{suffix}.tif",
                projWin=[xmin, ymax, xmax, ymin],
            )
    return {
        "seconds": time.perf_counter() - started,
        "bytes": folder_bytes(out),
        "bounds": (xmin, ymin, xmax, ymax),
    }


def hand_globs(clip: Path) -> Dict[str, str]:
    return {
        "mintpy.load.unwFile": f"{clip}/*/*_unw_phase.tif",
        "mintpy.load.corFile": f"{clip}/*/*_corr.tif",
        "mintpy.load.demFile": f"{clip}/*/*_dem.tif",
        "mintpy.load.incAngleFile": f"{clip}/*/*_lv_theta.tif",
        "mintpy.load.azAngleFile": f"{clip}/*/*_lv_phi.tif",
        "mintpy.load.waterMaskFile": f"{clip}/*/*_water_mask.tif",
    }


def shared_settings(plugin_cfg: Path) -> Dict[str, str]:
    """The processing keys of the plugin's configuration (everything but where the inputs are)."""
    from insarhub_qgis.core.timeseries.config import read_cfg

    cfg = read_cfg(plugin_cfg)
    return {
        k: v
        for k, v in cfg.items()
        if not (k.startswith("mintpy.load.") and k.endswith("File")) and not k.startswith("mintpy.subset.")
    }


def plain_cfg_text(settings: Dict[str, str], clip: Path) -> str:
    lines = [
        "# plain MintPy on hand-clipped HyP3 products; processing keys copied from the plugin's insarhub.cfg"
    ]
    lines += [f"{k} = {v}" for k, v in {**settings, **hand_globs(clip)}.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ measuring
def _rss_and_parents() -> Tuple[Dict[int, int], Dict[int, int]]:
    """pid -> resident bytes and pid -> parent pid, for every process (/proc)."""
    rss: Dict[int, int] = {}
    parent: Dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                text = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE  # field 24 of stat: resident pages
    return rss, parent


class Sampler(threading.Thread):
    """Samples the resident memory of a process (``root``) and of every process below it."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.root: int | None = None
        self.samples: List[Tuple[float, int, int]] = []  # (time, root RSS, descendants' RSS)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            root = self.root
            if root is not None:
                rss, parent = _rss_and_parents()
                children: Dict[int, List[int]] = {}
                for pid, ppid in parent.items():
                    children.setdefault(ppid, []).append(pid)
                below, todo = 0, list(children.get(root, []))
                while todo:
                    pid = todo.pop()
                    below += rss.get(pid, 0)
                    todo.extend(children.get(pid, []))
                self.samples.append((time.time(), rss.get(root, 0), below))
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def take(self) -> List[Tuple[float, int, int]]:
        out, self.samples = self.samples, []
        return out


def write_bytes() -> int:
    """Bytes this process and its reaped children caused to be written to storage (minus cancelled)."""
    values = {}
    with open("/proc/self/io") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            values[key] = int(value)
    return values["write_bytes"] - values.get("cancelled_write_bytes", 0)


def inventory(folder: Path) -> Dict[str, int]:
    """Relative path -> bytes of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


@dataclass
class Run:
    path: str  # "a", "a0" or "b"
    total: float
    stages: Dict[str, float] = field(default_factory=dict)  # in order
    peaks: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # stage -> (root RSS, tree RSS)
    peak_root: int = 0
    peak_tree: int = 0
    written: int = 0
    files: Dict[str, int] = field(default_factory=dict)
    velocity: Any = None
    cfg: Dict[str, str] = field(default_factory=dict)


def split_peaks(
    samples: Sequence[Tuple[float, int, int]], bounds: Sequence[Tuple[str, float, float]]
) -> Dict[str, Tuple[int, int]]:
    out = {}
    for name, begin, end in bounds:
        inside = [(r, t) for when, r, t in samples if begin <= when <= end]
        out[name] = (max((r for r, _ in inside), default=0), max((t for _, t in inside), default=0))
    return out


def read_velocity(workdir: Path) -> Any:
    import h5py
    import numpy as np

    with h5py.File(workdir / "velocity.h5", "r") as handle:
        return np.array(handle["velocity"][:], dtype="float32")


def run_plugin(
    root: Path, label: str, stack_dir: Path, folder: Path, sampler: Sampler, python: str, user_cfg: Path
) -> Run:
    """(a) / (a0): the Processing algorithm in a worker process."""
    folder.mkdir(parents=True)
    result_path = folder / "worker.json"
    env = dict(os.environ, INSARHUB_MINTPY_PYTHON=python)
    written0 = write_bytes()
    with open(folder / "worker.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, str(WORKER), "--plugin-root", str(root), "--products",
                str(stack_dir / "products"), "--workdir", str(folder / "work"), "--outdir",
                str(folder / "out"), "--result", str(result_path), "--mintpy-config", str(user_cfg),
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        sampler.root = proc.pid
        proc.wait()
        sampler.root = None
    samples = sampler.take()
    written = write_bytes() - written0
    if not result_path.is_file():
        raise RuntimeError(f"worker failed:\n{(folder / 'worker.log').read_text()[-3000:]}")
    result = json.loads(result_path.read_text())
    if "error" in result:
        raise RuntimeError(f"runtimeseries failed ({label}):\n{result['error']}")
    timing = result["timing"]
    start, end = result["start"], result["end"]
    bounds: List[Tuple[str, float, float]] = []
    for key in ("prepare", "config"):
        if key in timing:
            bounds.append((key, *timing[key]))
    run_begin, run_end = timing["run"]
    steps = [(t, _MARK_STEP.match(text).group(1)) for t, text in result["marks"] if _MARK_STEP.match(text)]
    if steps:
        bounds.append(("MintPy start-up", run_begin, steps[0][0]))
        for (t0, name), (t1, _) in zip(steps, steps[1:] + [(run_end, "")]):
            bounds.append((name, t0, t1))
    else:
        bounds.append(("MintPy (all steps)", run_begin, run_end))
    for key in ("export", "quality tables"):
        if key in timing:
            bounds.append((key, *timing[key]))
    accounted = sum(b - a for _, a, b in bounds)
    bounds.append(("Processing framework and rest", start, end))
    stages = {name: b - a for name, a, b in bounds}
    stages["Processing framework and rest"] = (end - start) - accounted
    files = inventory(folder / "work")
    files.update({f"export/{k}": v for k, v in inventory(folder / "out").items()})
    from insarhub_qgis.core.timeseries.config import read_cfg

    return Run(
        path=label,
        total=end - start,
        stages=stages,
        peaks=split_peaks(samples, bounds),
        peak_root=max((r for _, r, _ in samples), default=0),
        peak_tree=max((t for _, _, t in samples), default=0),
        written=written,
        files=files,
        velocity=read_velocity(folder / "work"),
        cfg=read_cfg(folder / "work" / "insarhub.cfg"),
    )


def run_plain(clip: Path, folder: Path, cfg_text: str, python: str, sampler: Sampler) -> Run:
    """(b): smallbaselineApp on the hand-clipped products, a plain subprocess, output to a log."""
    from insarhub_qgis.core.timeseries.run import mintpy_environment

    folder.mkdir(parents=True)
    cfg = folder / "plain.cfg"
    cfg.write_text(cfg_text)
    marks: List[Tuple[float, str]] = []
    written0 = write_bytes()
    started = time.time()
    with open(folder / "mintpy-plain.log", "w") as log:
        proc = subprocess.Popen(
            [python, "-m", "mintpy.cli.smallbaselineApp", str(cfg), "--dir", str(folder)],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=mintpy_environment(python),
        )  # fmt: skip
        sampler.root = proc.pid
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            log.write(line)
            match = _STEP_RE.match(line.strip())
            if match:
                marks.append((time.time(), match.group(1)))
        proc.wait()
        sampler.root = None
    end = time.time()
    samples = sampler.take()
    written = write_bytes() - written0
    if proc.returncode != 0:
        tail = (folder / "mintpy-plain.log").read_text().splitlines()[-20:]
        raise RuntimeError("plain MintPy failed:\n" + "\n".join(tail))
    bounds: List[Tuple[str, float, float]] = []
    if marks:
        bounds.append(("MintPy start-up", started, marks[0][0]))
        for (t0, name), (t1, _) in zip(marks, marks[1:] + [(end, "")]):
            bounds.append((name, t0, t1))
    stages = {name: b - a for name, a, b in bounds}
    # the tree's root is MintPy itself: its RSS belongs to the tree
    merged = [(when, 0, r + t) for when, r, t in samples]
    return Run(
        path="b",
        total=end - started,
        stages=stages,
        peaks=split_peaks(merged, bounds),
        peak_root=0,
        peak_tree=max((t for _, _, t in merged), default=0),
        written=written,
        files=inventory(folder),
        velocity=read_velocity(folder),
    )


# ------------------------------------------------------------------------------------------ report
def gib(value: float) -> str:
    return f"{value / GIB:.2f}"


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def classify(files: Dict[str, int], mintpy_files: set) -> Tuple[int, int, Dict[str, int]]:
    """(bytes of MintPy's files, bytes of the plugin's own files, plugin's bytes by kind)."""
    mintpy = sum(v for k, v in files.items() if k in mintpy_files)
    own: Dict[str, int] = {}
    for k, v in files.items():
        if k in mintpy_files:
            continue
        if k.startswith("export/"):
            kind = "exported GeoTIFFs (export/)"
        elif k.startswith("inputs/") and k.count("/") >= 2:
            kind = "clipped products (inputs/<product>/)"
        elif k.startswith(".unpack/"):
            kind = "unpacked products (.unpack/)"
        else:
            kind = "configuration, manifest, logs"
        own[kind] = own.get(kind, 0) + v
    return mintpy, sum(own.values()), own


def report(
    args: argparse.Namespace,
    manifest: Dict[str, Any],
    clip_info: Dict[str, Any],
    runs: Dict[str, List[Run]],
    settings: Dict[str, str],
    labels: Dict[str, str],
    options: Dict[str, str],
) -> str:
    import numpy as np

    med, sec = _common.median, _common.seconds
    params = manifest["parameters"]
    order = [k for k in ("a0", "a", "b") if runs.get(k)]
    plain_total = med([r.total for r in runs["b"]])
    # the plugin skips quick_overview (a diagnostic): the ratio is also given against (b) without it
    plain_core = med([r.total - r.stages.get("quick_overview", 0.0) for r in runs["b"]])
    # and with the hand clipping a user of plain MintPy does first (the plugin's prepare is its counterpart)
    plain_clipped = plain_total + clip_info.get("seconds", 0.0)
    lines: List[str] = []
    lines.append(
        f"Stack: {params['pairs']} INSAR_GAMMA product zips over {params['dates']} dates "
        f"({params['interval_days']}-day spacing), scene {params['width']} x {params['height']} px of "
        f"{params['pixel_m']:g} m, extents shifted/resized by up to 2 px, made by `tests/fakes/products.py` "
        f"`{params['generator']}` (seed {params['seed']}; products.py {manifest['products_py_sha256']}); "
        f"{manifest['bytes'] / GIB:.1f} GiB of zips, generated once in {manifest['generated_s']:.0f} s and "
        f"cached in `~/.cache/insarhub/bench/`. Common grid {manifest['truth_grid']['width']} x "
        f"{manifest['truth_grid']['height']} px. Runs: {args.runs} per path, a fresh work folder each; "
        "medians."
    )
    lines.append("")
    lines.append("Paths: " + "; ".join(f"({k}) {labels[k]}" for k in order) + ".")
    lines.append("")
    lines.append(
        f"Hand clipping for plain MintPy, done once before its runs (not part of their time): "
        f"{clip_info['seconds']:.0f} s, {clip_info['bytes'] / GIB:.2f} GiB written "
        "(`gdal.Translate(projWin=...)` from the zips, uncompressed GeoTIFFs as the tutorial writes them)."
    )
    lines.append("")
    lines.append("### Wall time, memory, disk")
    lines.append("")
    mintpy_files = set(runs["b"][0].files)
    rows = []
    for key in order:
        rs = runs[key]
        total = med([r.total for r in rs])
        mintpy_bytes, own_bytes, _ = classify(rs[0].files, mintpy_files)
        rows.append(
            [
                f"({key})",
                " / ".join(sec(r.total) for r in rs),
                sec(total),
                f"{total / plain_total:.3f}",
                f"{total / plain_core:.3f}",
                f"{total / plain_clipped:.3f}",
                gib(max(r.peak_tree for r in rs)),
                gib(max(r.peak_root for r in rs)) if key != "b" else "-",
                gib(med([r.written for r in rs])),
                gib(mintpy_bytes),
                gib(own_bytes),
            ]
        )
    lines.append(
        _common.table(
            [
                "path",
                "runs (s)",
                "median (s)",
                "time / (b)",
                "time / (b) without quick_overview",
                "time / ((b) + hand clip)",
                "peak RSS MintPy tree (GiB)",
                "peak RSS plugin worker (GiB)",
                "written to storage (GiB)",
                "files left: MintPy's (GiB)",
                "files left: the plugin's own (GiB)",
            ],
            rows,
        )
    )
    lines.append("")
    lines.append(
        "'written to storage': `write_bytes` of the path's processes (`/proc/self/io` of the driver, reaped "
        "children included), i.e. everything sent to disk, temporary files included. 'MintPy's files': files "
        "at the relative paths plain MintPy also writes (`inputs/ifgramStack.h5`, `timeseries.h5`, ...); "
        "'the plugin's own': every other file of the work folder and the exported GeoTIFFs. Peak RSS: sums over "
        f"processes, sampled every {args.sample_s:g} s (shared pages counted once per process)."
    )
    lines.append("")
    for key in order:
        if key == "b":
            continue
        _, own, kinds = classify(runs[key][0].files, mintpy_files)
        extra = med([r.written for r in runs[key]]) - med([r.written for r in runs["b"]])
        lines.append(
            f"- ({key}) extra disk beyond MintPy's own: {gib(extra)} GiB more written than (b); files left "
            + ", ".join(f"{kind} {gib(v)} GiB" for kind, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
            + "."
        )
    lines.append("")
    lines.append("### Per step (medians; peak RSS of the MintPy tree during the step / of the worker)")
    lines.append("")
    names: List[str] = []
    for key in order:
        for name in runs[key][0].stages:
            if name not in names:
                names.append(name)
    first = [n for n in ("prepare", "config") if n in names]
    last = [n for n in ("export", "quality tables", "Processing framework and rest") if n in names]
    middle = [n for n in names if n not in first + last]
    step_rows = []
    for name in first + middle + last:
        row = [name]
        for key in order:
            values = [r.stages[name] for r in runs[key] if name in r.stages]
            peaks = [r.peaks.get(name, (0, 0)) for r in runs[key] if name in r.peaks]
            if values:
                row.append(sec(med(values)))
                tree = max(p[1] for p in peaks) if peaks else 0
                root = max(p[0] for p in peaks) if peaks else 0
                row.append(f"{gib(tree)} / {gib(root)}" if key != "b" else gib(tree))
            else:
                row += ["-", "-"]
        if any(
            value not in ("-", "0.000") for value in row[1::2]
        ):  # steps MintPy skipped everywhere: left out
            step_rows.append(row)
    headers = ["step"]
    for key in order:
        headers += [f"({key}) s", f"({key}) GiB"]
    lines.append(_common.table(headers, step_rows))
    lines.append("")
    # agreement: with the truth (relative to the reference pixel, on coherent land), and with plain MintPy
    truth_path = Path(manifest["_folder"]) / "truth_velocity_mm_yr.npy"
    notes = []
    if truth_path.is_file() and runs["b"][0].velocity.shape == tuple(np.load(truth_path).shape):
        truth = np.load(truth_path).astype("float64")
        usable = np.load(Path(manifest["_folder"]) / "coherent_land_mask.npy")
        row, col = (int(v) for v in settings.get("mintpy.reference.yx", "0,0").split(","))
        for key in order:
            errors = []
            for r in runs[key]:
                velocity = r.velocity.astype("float64") * 1000.0
                error = (velocity - velocity[row, col]) - (truth - truth[row, col])
                errors.append(float(np.nanmedian(np.abs(error[usable]))))
            notes.append(f"({key}) {max(errors):.2f}")
        lines.append(
            "Velocity against the truth (median |error| on coherent land, relative to the reference pixel, "
            "mm/yr; worst run): " + ", ".join(notes) + "."
        )
    differences = []
    row, col = (int(v) for v in settings.get("mintpy.reference.yx", "0,0").split(","))
    ref = runs["b"][0].velocity - runs["b"][0].velocity[row, col]
    for key in order:
        gaps = [np.abs(r.velocity - r.velocity[row, col] - ref) for r in runs[key]]
        middle = max(float(np.nanmedian(g)) for g in gaps)
        worst = max(float(np.nanmax(g)) for g in gaps)
        differences.append(f"({key}) {middle * 1000:.3g} / {worst * 1000:.3g}")
    lines.append(
        "|velocity - (b) run 1|, both relative to (b)'s reference pixel, median / largest (mm/yr; 0 = the "
        "same MintPy work on the same inputs): " + ", ".join(differences) + "."
    )
    lines.append("")
    lines.append(
        "MintPy settings of every path: (a)'s `insarhub.cfg` (the plugin's own choices, plus "
        + ", ".join(f"`{k} = {v}`" for k, v in options.items())
        + " given as `MINTPY_CONFIG`) minus its input paths, given "
        + ("to (a0) as `MINTPY_CONFIG` (without the reference pixel) and " if runs.get("a0") else "")
        + "to (b) as its configuration: "
        + ", ".join(f"`{k} = {v}`" for k, v in settings.items())
        + "."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main
def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    from insarhub_qgis.core.mintpy_env import find_mintpy_python

    python = find_mintpy_python().python
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    stack_dir, manifest = ensure_stack(args)
    if args.generate_only:
        return 0
    manifest["_folder"] = str(stack_dir)
    labels = {
        "a": f"the plugin, this checkout ({git_describe(_common.ROOT)})",
        "b": "plain MintPy on the hand-clipped products",
    }
    roots = {"a": _common.ROOT}
    if args.baseline_root:
        roots["a0"] = args.baseline_root.resolve()
        labels["a0"] = f"the plugin, {args.baseline_label or git_describe(roots['a0'])}"
    workroot = Path(tempfile.mkdtemp(prefix="bench-frame-", dir=args.workroot))
    sampler = Sampler(args.sample_s)
    sampler.start()
    runs: Dict[str, List[Run]] = {}
    settings: Dict[str, str] = {}
    clip_info: Dict[str, Any] = {}
    warmed: Dict[str, List[float]] = {}  # seconds reading each run's inputs into the page cache first
    clip = workroot / "handclip"
    options = dict(text.split("=", 1) for text in (args.mintpy_option or DEFAULT_OPTIONS))
    options = {k.strip(): v.strip() for k, v in options.items()}
    first_cfg = workroot / "options.cfg"  # (a)'s first run: the plugin decides, with these options
    first_cfg.write_text("".join(f"{k} = {v}\n" for k, v in options.items()))
    shared_cfg = workroot / "shared.cfg"  # every later plugin run: (a)'s settings as they came out
    # disk a run may need: MintPy's interferogram stack (phase + coherence, Float32), its time series files,
    # and for the plugin room for clipped copies of the interferograms (versions that make them)
    params = manifest["parameters"]
    pixels = params["width"] * params["height"] * 4
    ifg_bytes, series_bytes = 2 * params["pairs"] * pixels, 4 * params["dates"] * pixels
    try:
        plugin_keys = list(roots)
        number = 0

        def one_run(key: str) -> None:
            nonlocal number, clip_info
            number += 1
            folder = workroot / f"run{number:02d}-{key}"
            plain = key == "b"
            need = ifg_bytes + series_bytes if plain else 2 * ifg_bytes + series_bytes
            if plain and not clip.is_dir():
                need += ifg_bytes
            check_free(workroot, need, args.min_free_gb, f"run {number} ({key})")
            if plain:
                if not clip.is_dir():
                    print("hand clipping the products for plain MintPy ...", flush=True)
                    clip_info = hand_clip(stack_dir, clip)
                    print(f"  {clip_info['seconds']:.0f} s, {clip_info['bytes'] / GIB:.2f} GiB", flush=True)
                warmed.setdefault(key, []).append(warm(clip))
                run = run_plain(clip, folder, plain_cfg_text(settings, clip), python, sampler)
            else:
                user_cfg = shared_cfg if settings else first_cfg
                warmed.setdefault(key, []).append(warm(stack_dir / "products"))
                run = run_plugin(roots[key], key, stack_dir, folder, sampler, python, user_cfg)
                if not settings:
                    settings.update(shared_settings(folder / "work" / "insarhub.cfg"))
                    # not the reference pixel: each plugin version picks its own (part of its work)
                    forced = {k: v for k, v in settings.items() if not k.startswith("mintpy.reference.")}
                    shared_cfg.write_text("".join(f"{k} = {v}\n" for k, v in forced.items()))
            runs.setdefault(key, []).append(run)
            top = ", ".join(f"{k} {v:.1f}" for k, v in run.stages.items() if v >= 0.05 * run.total)
            print(
                f"  run {number} ({key}): {run.total:.1f} s ({top}); peak RSS tree {gib(run.peak_tree)} GiB, "
                f"worker {gib(run.peak_root)} GiB; written {gib(run.written)} GiB",
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(folder)

        for rep in range(args.runs):
            # the plugin paths first, (a) first of all (rotated in later repetitions), then plain MintPy; the
            # hand clip only exists while plain MintPy needs it
            for key in plugin_keys[rep % len(plugin_keys) :] + plugin_keys[: rep % len(plugin_keys)]:
                one_run(key)
            one_run("b")
            if rep == args.runs - 1 and not args.keep:
                shutil.rmtree(clip, ignore_errors=True)
    finally:
        sampler.stop()
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
    elapsed = time.perf_counter() - started
    body = report(args, manifest, clip_info, runs, settings, labels, options)
    body += (
        "\n\nBefore every run its inputs were read once into the page cache (not timed; as plain MintPy's "
        "hand-clipped inputs are when it starts, having just been written): "
        + ", ".join(f"({k}) {', '.join(f'{v:.0f}' for v in vs)} s" for k, vs in warmed.items())
        + "."
    )
    body += (
        f"\n\nMintPy interpreter: `{os.path.relpath(python, _common.ROOT)}`. Whole benchmark: {elapsed:.0f} s "
        f"(stack generation included when it ran); 1-minute load average {load_before:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end (the machine is shared: absolute times move, ratios of "
        "interleaved runs less)."
    )
    print("\n" + body)
    if not args.no_write:
        import h5py
        import numpy
        from insarhub_qgis.__about__ import __version__
        from osgeo import gdal

        versions = {
            "InSARHub for QGIS": __version__,
            "MintPy": _common.package_version("mintpy"),
            "GDAL": gdal.__version__,
            "h5py": h5py.__version__,
            "numpy": numpy.__version__,
        }
        path = _common.write_result(
            NAME, "Benchmark: a whole frame through runtimeseries (issue 17)", body, versions
        )
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


def git_describe(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        branch = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        return f"{branch} @ {out[:60]}"
    except (OSError, subprocess.CalledProcessError):
        return str(root)


if __name__ == "__main__":
    sys.exit(main())
