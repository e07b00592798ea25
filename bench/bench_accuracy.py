"""Issue 15: the plugin's time series against plain MintPy's defaults, on realistic synthetic stacks.

Stacks (``tests/fakes/products.py`` ``realistic_stack``, written once, untimed; 160 x 120 px at 80 m):

* ``burst``: INSAR_ISCE_BURST, 30 dates 12 days apart, 84 interferograms: turbulent (3 mm) and stratified
  (N(0, 5 mm/km)) atmosphere per date, a DEM error field seen through 60 m of baselines, an annual motion of
  up to 9.5 mm in a basin, a lake, a forest band that decorrelates within weeks, six interferograms with
  2 pi unwrapping errors in two patches (each patch its own connected component), mismatched extents;
* ``burst-hidden``: the same, but the unwrapper's connected components do not separate the patches (what
  bridging cannot see);
* ``gamma``: INSAR_GAMMA (no connected components at all), otherwise as ``burst``;
* ``burst-2yr``: as ``burst`` over 2.1 years (33 dates 24 days apart, 90 interferograms).

Each stack runs twice, interleaved, each in a fresh folder:

(a) the plugin's defaults, as ``insarhub:runtimeseries`` runs them: ``prepare_products`` (windows,
    phase-closure correction) + ``write_config`` (corrections decided from the stack, reference point) +
    ``run_segments`` + ``export_results`` + ``write_quality_tables``;
(b) plain MintPy 1.6.4 with its defaults (``smallbaselineApp``; every option ``auto`` but the offline
    troposphere, ``mintpy.troposphericDelay.method = no``, and no plots, ``mintpy.plot = no``) on the same
    products clipped by hand to the common grid (GeoTIFFs, untimed), loading unwrapped phase, coherence, DEM,
    look angles and water mask.

Errors are LOS velocity minus the truth (mm/yr), after removing their median over the evaluated pixels
(the datum: each result is relative to its own reference point); over the pixels of coherent land (valid
in every product, not water, forest or the decorrelated patch) that each result keeps (MintPy's
``maskTempCoh``). Coverage is that share of coherent land. "Inside the patches" is where any interferogram
carried an unwrapping error. "|e| < 2 sd" is the share of pixels whose error is within twice the velocity
standard deviation the result reports (the plugin's VELOCITY_STD, MintPy's ``velocityStd``).
Run: ``.venv/bin/python bench/bench_accuracy.py`` (about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

NAME = "bench_accuracy"
VARIANTS: dict[str, dict[str, Any]] = {
    "burst": dict(job_type="INSAR_ISCE_BURST"),
    "burst-hidden": dict(job_type="INSAR_ISCE_BURST", unwrap_error_conncomp="same"),
    "gamma": dict(job_type="INSAR_GAMMA"),
    "burst-2yr": dict(job_type="INSAR_ISCE_BURST", n_dates=33, n_pairs=90, interval_days=24),
}
COMMON = dict(atmosphere_mm=3.0, stratified_mm_per_km=5.0, unwrap_error_regions=2, as_zip=True)
PLAIN_CFG = {
    "mintpy.load.processor": "hyp3",
    "mintpy.load.unwFile": "inputs/*/*_unw_phase.tif",
    "mintpy.load.corFile": "inputs/*/*_corr.tif",
    "mintpy.load.demFile": "inputs/*/*_dem.tif",
    "mintpy.load.incAngleFile": "inputs/*/*_lv_theta.tif",
    "mintpy.load.azAngleFile": "inputs/*/*_lv_phi.tif",
    "mintpy.load.waterMaskFile": "inputs/*/*_water_mask.tif",
    "mintpy.troposphericDelay.method": "no",  # ERA5 needs the internet
    "mintpy.plot": "no",  # the plugin makes no plots either; timing them would only measure matplotlib
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="stacks, comma-separated")
    parser.add_argument("--grid", default="160x120", help="scene WIDTHxHEIGHT (columns x rows)")
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the first stack (the next ones +1, +2...)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    return parser.parse_args()


@dataclass
class Score:
    seconds: float
    coverage: float
    median: float
    p95: float
    inside: float
    outside: float
    within_2sd: float


def score(stack: Any, velocity: Any, std: Any, keep: Any, seconds: float) -> Score:
    import numpy as np

    land = stack.coherent_land_mask
    used = land & keep & np.isfinite(velocity)
    error = velocity - stack.truth_velocity_mm_yr
    error = np.abs(error - np.median(error[used]))
    inside = used & stack.unwrap_error_mask
    outside = used & ~stack.unwrap_error_mask
    within = float(np.mean(error[used] <= 2.0 * std[used]))
    return Score(
        seconds,
        float(used.sum() / land.sum()),
        float(np.median(error[used])),
        float(np.percentile(error[used], 95)),
        float(np.median(error[inside])) if inside.any() else float("nan"),
        float(np.median(error[outside])),
        within,
    )


def plugin(download: Path, work: Path, python: str) -> tuple[Any, Any, Any, float, list[str]]:
    """(a): the algorithm's path with its defaults; returns velocity, std (mm/yr), mask, seconds, log."""
    import numpy as np
    from insarhub_qgis.core.timeseries import export_results, prepare_products, run_segments, write_config
    from insarhub_qgis.core.timeseries.export import write_quality_tables
    from osgeo import gdal

    lines: list[str] = []
    started = time.perf_counter()
    prepared = prepare_products(download, work, log=lines.append)
    cfg = write_config(prepared, work, log=lines.append)
    run_segments(cfg, work, python)
    out = export_results(work, {"VELOCITY": work / "v.tif", "VELOCITY_STD": work / "s.tif"}, prepared)
    write_quality_tables(work, prepared, log=lines.append)
    seconds = time.perf_counter() - started
    velocity = gdal.Open(out["VELOCITY"]).ReadAsArray().astype(float)
    std = gdal.Open(out["VELOCITY_STD"]).ReadAsArray().astype(float)
    return velocity, std, np.isfinite(velocity), seconds, lines


def clip_by_hand(download: Path, clipped: Path) -> None:
    """The products cut to their common grid as GeoTIFFs: what a user must do before plain MintPy (it drops
    interferograms of another size). Untimed; uses the plugin's windows to find the grid."""
    from insarhub_qgis.core.timeseries import prepare_products
    from osgeo import gdal

    gdal.UseExceptions()
    prepared = prepare_products(download, clipped.parent / "grid", unwrap_correction=False)
    for product in prepared.products:
        folder = clipped / product.name
        folder.mkdir(parents=True)
        shutil.copy(product.folder / f"{product.name}.txt", folder)
        for suffix in product.suffixes:
            if suffix == "conncomp":
                continue
            gdal.Translate(
                str(folder / f"{product.name}_{suffix}.tif"),
                str(product.raster(suffix)),
                creationOptions=["COMPRESS=DEFLATE", "TILED=YES"],
            )


def plain(clipped: Path, work: Path, python: str) -> tuple[Any, Any, Any, float, str]:
    """(b): smallbaselineApp with its defaults on the hand-clipped products. When its automatic reference
    point finds no pixel of average coherence above 0.85, it runs again with the fix its message proposes
    (``mintpy.reference.minCoherence = 0.5``), timed from the start, as a user would."""
    import h5py

    shutil.copytree(clipped, work / "inputs")
    cfg = work / "plain.cfg"
    options = dict(PLAIN_CFG)
    note = ""
    started = time.perf_counter()
    for _attempt in range(2):
        cfg.write_text("".join(f"{k} = {v}\n" for k, v in options.items()))
        with open(work / "mintpy-plain.log", "w") as log:
            done = subprocess.run(
                [python, "-m", "mintpy.cli.smallbaselineApp", str(cfg), "--dir", str(work)],
                cwd=work,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        text = (work / "mintpy-plain.log").read_text()
        if done.returncode == 0 or "average spatial coherence > 0.85" not in text:
            break
        options["mintpy.reference.minCoherence"] = "0.5"
        note = "its automatic reference point needed mintpy.reference.minCoherence = 0.5"
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError("plain MintPy failed:\n" + "\n".join(text.splitlines()[-15:]))
    with h5py.File(work / "velocity.h5", "r") as f:
        velocity, std = f["velocity"][:] * 1000.0, f["velocityStd"][:] * 1000.0
    with h5py.File(work / "maskTempCoh.h5", "r") as f:
        keep = f["mask"][:].astype(bool)
    return velocity, std, keep, seconds, note


def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    from fakes.products import Grid, realistic_stack
    from insarhub_qgis.core.mintpy_env import find_mintpy_python

    python = find_mintpy_python().python
    width, height = (int(v) for v in args.grid.lower().split("x"))
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp_name:
        tmp = Path(tmp_name)
        for n, variant in enumerate(v.strip() for v in args.variants.split(",") if v.strip()):
            options = {**COMMON, **VARIANTS[variant]}
            t0 = time.perf_counter()
            stack = realistic_stack(
                tmp / variant / "download",
                grid=Grid(width=width, height=height),
                seed=args.seed + n,
                **options,
            )
            print(
                f"{variant}: {len(stack.products)} products in {time.perf_counter() - t0:.1f} s", flush=True
            )
            clip_by_hand(tmp / variant / "download", tmp / variant / "clipped")
            results: dict[str, Score] = {}
            for key in ("plugin", "plain") if n % 2 == 0 else ("plain", "plugin"):
                work = tmp / variant / key
                work.mkdir(parents=True)
                if key == "plugin":
                    velocity, std, keep, seconds, lines = plugin(tmp / variant / "download", work, python)
                    notes.append(
                        f"- `{variant}`: "
                        + " ".join(
                            line
                            for line in lines
                            if line.startswith(
                                ("Unwrapping errors", "Topographic", "Annual", "MintPy left", "MintPy used")
                            )
                        )
                    )
                else:
                    velocity, std, keep, seconds, note = plain(tmp / variant / "clipped", work, python)
                    if note:
                        notes.append(f"- `{variant}`, plain MintPy: {note}.")
                results[key] = score(stack, velocity, std, keep, seconds)
                s = results[key]
                print(
                    f"  {key:6s} {s.seconds:6.1f} s coverage {s.coverage:.3f} median {s.median:.2f} p95 {s.p95:.2f} "
                    f"inside {s.inside:.2f} outside {s.outside:.2f} |e|<2sd {s.within_2sd:.2f}",
                    flush=True,
                )
            for key, label in (("plugin", "(a) plugin defaults"), ("plain", "(b) plain MintPy defaults")):
                s = results[key]
                rows.append(
                    [
                        f"`{variant}`",
                        label,
                        f"{s.median:.2f}",
                        f"{s.p95:.2f}",
                        f"{s.inside:.2f}",
                        f"{s.outside:.2f}",
                        f"{100 * s.coverage:.1f} %",
                        f"{100 * s.within_2sd:.0f} %",
                        _common.seconds(s.seconds),
                        f"{s.seconds / results['plain'].seconds:.2f}",
                    ]
                )
            shutil.rmtree(tmp / variant)
    elapsed = time.perf_counter() - started
    body = "\n".join(
        [
            f"Realistic synthetic stacks ({width} x {height} px at 80 m; see the script's docstring), seeds {args.seed}... "
            "Velocity errors in mm/yr after removing their median; over the coherent land each result keeps.",
            "",
            _common.table(
                [
                    "stack",
                    "path",
                    "median abs. error",
                    "p95 abs. error",
                    "median inside the unwrapping-error patches",
                    "median outside",
                    "coverage of coherent land",
                    "abs. error < 2 sd",
                    "time (s)",
                    "time / (b)",
                ],
                rows,
                "llrrrrrrrr",
            ),
            "",
            "What the plugin decided and did (its log):",
            "",
            *notes,
            "",
            f"Whole benchmark: {elapsed:.0f} s; 1-minute load average {load_before:.2f} at the start, "
            f"{os.getloadavg()[0]:.2f} at the end. The plugin's time includes preparing (reading every window "
            "once, phase closure), the quality tables and the GeoTIFFs; plain MintPy's excludes the hand clipping.",
        ]
    )
    print("\n" + body)
    if not args.no_write:
        import numpy
        from insarhub_qgis.__about__ import __version__
        from osgeo import gdal

        versions = {
            "InSARHub for QGIS": __version__,
            "MintPy": _common.package_version("mintpy"),
            "GDAL": gdal.__version__,
            "numpy": numpy.__version__,
        }
        path = _common.write_result(
            NAME,
            "Benchmark: velocity accuracy, plugin defaults versus plain MintPy (issue 15)",
            body,
            versions,
        )
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
