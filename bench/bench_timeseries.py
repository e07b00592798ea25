"""Issue 6 / 17: the MintPy time series, the plugin's whole path versus MintPy run by hand, and dask.

Data: one synthetic stack of HyP3 INSAR_GAMMA product zips per grid (``tests/fakes/products.py``
``make_stack``: 20 dates, 40 pairs, products shifted and resized by up to 2 pixels, noise, one
unwrapping error), written once, untimed.

Timed, same process (MintPy itself always runs as a subprocess), interleaved, a fresh work folder
per run, median of ``--runs``:

(a) the plugin's whole path, as ``insarhub:runtimeseries`` runs it: ``prepare_products`` (find the
    zips, check them, present them on one common grid as windows - GDAL VRTs over the zipped GeoTIFFs,
    no copies - reading every window once for validation, the stack statistics and the phase-closure
    unwrapping-error correction) + ``write_config`` (the corrections decided from the stack, the
    automatic reference pixel) + ``run_segments`` (``python -m mintpy.cli.smallbaselineApp`` as a
    cancellable subprocess, output streamed, without the ``quick_overview`` diagnostic) +
    ``export_results`` (velocity, its std, temporal coherence, displacement GeoTIFFs) +
    ``write_quality_tables``;
(b) plain MintPy by hand on the same products clipped by hand to the common grid (GeoTIFFs written
    untimed from (a)'s windows, uncorrected, as a user must: MintPy drops interferograms of another
    size), with a
    hand-written cfg holding the same processing options as (a)'s (unwrapping-error method, DEM-error
    correction, time function, reference point, memory) and every step:
    ``subprocess.run([python, "-m", "mintpy.cli.smallbaselineApp", cfg, "--dir", folder])``;
(c) (a) with ``COMPUTE_CLUSTER local`` and 2 dask workers (``write_config(compute_cluster="local",
    workers=2)``) against ``none`` (the (a) runs).

Also measured: the bytes (a)'s preparation writes into the work folder, against what MintPy writes.
The velocities of (a), (b) and (c) are compared. CPU seconds of MintPy come from
``getrusage(RUSAGE_CHILDREN)`` (the subprocess and the dask workers it waits for).
Run: ``.venv/bin/python bench/bench_timeseries.py`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

NAME = "bench_timeseries"
OUTPUTS = ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")
# What the plugin's write_config sets that the hand-written cfg copies (same MintPy work in both paths).
HAND_KEYS = (
    "mintpy.troposphericDelay.method",
    "mintpy.deramp",
    "mintpy.topographicResidual",
    "mintpy.unwrapError.method",
    "mintpy.timeFunc.polynomial",
    "mintpy.timeFunc.periodic",
    "mintpy.reference.date",
    "mintpy.reference.yx",
    "mintpy.compute.maxMemory",
    "mintpy.geocode",
    "mintpy.save.kmz",
    "mintpy.save.hdfEos5",
    "mintpy.plot",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--grids",
        default="100x120,400x480",
        help="scene sizes WIDTHxHEIGHT (columns x rows), comma-separated",
    )
    parser.add_argument("--dates", type=int, default=20, help="acquisition dates")
    parser.add_argument("--pairs", type=int, default=40, help="interferograms")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each path (median reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    return parser.parse_args()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    total: float
    stages: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # MintPy step -> seconds
    cpu: float = 0.0  # CPU seconds of MintPy (and its dask workers)
    velocity: Any = None
    prepare_bytes: int = 0  # what the preparation wrote into the work folder
    mintpy_bytes: int = 0  # what MintPy wrote into the work folder


def read_velocity(workdir: Path) -> Any:
    import h5py
    import numpy as np

    with h5py.File(workdir / "velocity.h5", "r") as handle:
        return np.array(handle["velocity"][:])


def plugin_path(download: Path, work: Path, python: str, cluster: str = "none") -> Run:
    """(a) / (c): prepare + config + run + export, each stage timed."""
    from insarhub_qgis.core.timeseries import (
        export_results,
        prepare_products,
        run_segments,
        write_config,
    )
    from insarhub_qgis.core.timeseries.export import write_quality_tables

    stages: dict[str, float] = {}
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    prepared = prepare_products(download, work)
    t1 = time.perf_counter()
    cfg = write_config(prepared, work, compute_cluster=cluster, workers=2 if cluster != "none" else None)
    t2 = time.perf_counter()
    cpu0 = children_cpu()
    run_segments(cfg, work, python, progress=lambda i, n, step: marks.append((step, time.perf_counter())))
    t3 = time.perf_counter()
    cpu = children_cpu() - cpu0
    export_results(work, {key: work / "export" / f"{key.lower()}.tif" for key in OUTPUTS}, prepared)
    write_quality_tables(work, prepared)
    t4 = time.perf_counter()
    stages = {"prepare": t1 - started, "config": t2 - t1, "run": t3 - t2, "export": t4 - t3}
    marks.append(("end", t3))
    steps = {step: end - begin for (step, begin), (_, end) in zip(marks, marks[1:])}
    mintpy_bytes = tree_bytes(work) - tree_bytes(work / "export") - prepared.bytes_written
    run = Run(t4 - started, stages, steps, cpu, read_velocity(work), prepared.bytes_written, mintpy_bytes)
    return run


def hand_cfg(plugin_cfg: dict[str, str], conncomp: bool) -> str:
    lines = [
        "# written by hand: plain MintPy on HyP3 products clipped by hand, the plugin's processing options",
        "mintpy.load.processor = hyp3",
    ]
    for key, suffix in (
        ("unwFile", "unw_phase"),
        ("corFile", "corr"),
        ("demFile", "dem"),
        ("incAngleFile", "lv_theta"),
        ("azAngleFile", "lv_phi"),
        ("waterMaskFile", "water_mask"),
    ):
        lines.append(f"mintpy.load.{key} = inputs/*/*_{suffix}.tif")
    if conncomp:
        lines.append("mintpy.load.connCompFile = inputs/*/*_conncomp.tif")
    lines += [f"{key} = {plugin_cfg[key]}" for key in HAND_KEYS if key in plugin_cfg]
    return "\n".join(lines) + "\n"


def clip_by_hand(prepared: Any, clipped: Path) -> None:
    """GeoTIFFs of the prepared windows (of the products as they are, before any phase-closure correction):
    the products as a user clips them for plain MintPy. Untimed."""
    from osgeo import gdal

    gdal.UseExceptions()
    for product in prepared.products:
        folder = clipped / product.name
        folder.mkdir(parents=True)
        shutil.copy(product.folder / f"{product.name}.txt", folder)
        for suffix in product.suffixes:
            source = product.raster(suffix)
            original = product.folder / f"{product.name}_{suffix}.original.vrt"
            gdal.Translate(
                str(folder / f"{product.name}_{suffix}.tif"),
                str(original if original.is_file() else source),
                creationOptions=["COMPRESS=DEFLATE", "TILED=YES"],
            )


def tree_bytes(folder: Path, exclude: tuple[str, ...] = ()) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.name.endswith(exclude))


def plain_mintpy(clipped: Path, folder: Path, cfg_text: str, python: str) -> Run:
    """(b): copy the clipped inputs (untimed), then time smallbaselineApp as a plain subprocess."""
    shutil.copytree(clipped, folder / "inputs")
    inputs_bytes = tree_bytes(folder)
    cfg = folder / "plain.cfg"
    cfg.write_text(cfg_text)
    cpu0 = children_cpu()
    started = time.perf_counter()
    with open(folder / "mintpy-plain.log", "w") as log:
        done = subprocess.run(
            [python, "-m", "mintpy.cli.smallbaselineApp", str(cfg), "--dir", str(folder)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu0
    if done.returncode != 0:
        tail = (folder / "mintpy-plain.log").read_text().splitlines()[-15:]
        raise RuntimeError("plain MintPy failed:\n" + "\n".join(tail))
    written = tree_bytes(folder, (".rsc",)) - inputs_bytes
    return Run(seconds, {"run": seconds}, {}, cpu, read_velocity(folder), 0, written)


@dataclass
class GridResult:
    label: str
    grid_text: str
    products: int
    runs: dict[str, list[Run]]


def bench_grid(args: argparse.Namespace, tmp: Path, width: int, height: int, python: str) -> GridResult:
    from fakes.products import Grid, make_stack
    from insarhub_qgis.core.timeseries import prepare_products, write_config
    from insarhub_qgis.core.timeseries.config import read_cfg

    label = f"{width}x{height}"
    base = tmp / label
    download = base / "download"
    started = time.perf_counter()
    make_stack(
        download, n_dates=args.dates, n_pairs=args.pairs, grid=Grid(width=width, height=height), seed=0
    )
    print(
        f"  stack {label}: {args.pairs} products written in {time.perf_counter() - started:.1f} s", flush=True
    )

    # untimed: the inputs clipped by hand and the plugin's processing options for the hand-run MintPy
    reference = base / "reference"
    prepared = prepare_products(download, reference)
    cfg = read_cfg(write_config(prepared, reference))
    clipped = base / "clipped"
    clip_by_hand(prepared, clipped)
    cfg_text = hand_cfg(cfg, conncomp=cfg.get("mintpy.unwrapError.method", "no") != "no")
    grid_text = f"{prepared.grid.width} x {prepared.grid.height}"

    # untimed warm-up (file cache of the Python modules MintPy imports)
    plain_mintpy(clipped, base / "warmup", cfg_text, python)
    shutil.rmtree(base / "warmup")

    runs: dict[str, list[Run]] = {"a": [], "b": [], "c": []}
    order = ["a", "b", "c"]
    number = 0
    for rep in range(args.runs):
        for key in order[rep % 3 :] + order[: rep % 3]:
            number += 1
            folder = base / f"run{number:02d}-{key}"
            if key == "a":
                run = plugin_path(download, folder, python, "none")
            elif key == "c":
                run = plugin_path(download, folder, python, "local")
            else:
                folder.mkdir()
                run = plain_mintpy(clipped, folder, cfg_text, python)
            runs[key].append(run)
            stages = ", ".join(f"{k} {v:.2f}" for k, v in run.stages.items())
            print(f"  {label} run {rep + 1} {key}: {run.total:6.2f} s ({stages}), MintPy CPU {run.cpu:.1f} s")
            shutil.rmtree(folder)
    return GridResult(label, grid_text, len(prepared.products), runs)


def report(args: argparse.Namespace, results: list[GridResult]) -> str:
    import numpy as np

    med = _common.median
    sec = _common.seconds
    overall, breakdown, dask_rows, agreement = [], [], [], []
    for result in results:
        a, b, c = result.runs["a"], result.runs["b"], result.runs["c"]
        plain = med([r.total for r in b])
        where = f"{result.label} ({result.grid_text} clipped)"
        for runs, label in (
            (a, "(a) plugin: prepare + config + run + export"),
            (b, "(b) plain MintPy by hand on the clipped inputs"),
        ):
            total = med([r.total for r in runs])
            overall.append(
                [
                    where,
                    label,
                    " / ".join(sec(r.total) for r in runs),
                    sec(total),
                    f"{total / plain:.2f}",
                    sec(med([r.cpu for r in runs])),
                ]
            )
        stage_names = [
            (
                "prepare",
                "`prepare_products` (find, check, windows of 40 zips; every window read once; closure)",
            ),
            ("config", "`write_config` (corrections decided, reference from the saved statistics)"),
            ("run", "`run_segments` (MintPy subprocess without quick_overview, output streamed)"),
            ("export", "`export_results` (4 GeoTIFFs, honest std) + quality tables"),
        ]
        a_total = med([r.total for r in a])
        for key, label in stage_names:
            value = med([r.stages[key] for r in a])
            breakdown.append([where, label, sec(value), f"{value / a_total:.0%}"])
        run_a = med([r.stages["run"] for r in a])
        breakdown.append(
            [
                where,
                "of which: `run_segments` minus (b) (wrapper, no quick_overview, VRT inputs; < 0 = faster)",
                sec(run_a - plain),
                f"{(run_a - plain) / a_total:.0%}",
            ]
        )
        breakdown.append(
            [
                where,
                "**plugin overhead** = (a) minus (b)",
                sec(a_total - plain),
                f"{(a_total - plain) / a_total:.0%}",
            ]
        )

        def step(runs: list[Run], name: str) -> float:
            return med([r.steps.get(name, 0.0) for r in runs])

        for label, none_value, local_value in (
            ("whole plugin path", a_total, med([r.total for r in c])),
            ("`run_segments` (all MintPy steps)", run_a, med([r.stages["run"] for r in c])),
            ("MintPy step `invert_network`", step(a, "invert_network"), step(c, "invert_network")),
        ):
            dask_rows.append(
                [where, label, sec(none_value), sec(local_value), f"{local_value / none_value:.2f}"]
            )
        dask_rows.append(
            [
                where,
                "MintPy CPU seconds (subprocess + dask workers)",
                sec(med([r.cpu for r in a])),
                sec(med([r.cpu for r in c])),
                f"{med([r.cpu for r in c]) / med([r.cpu for r in a]):.2f}",
            ]
        )
        breakdown.append(
            [
                where,
                "bytes written: (a)'s preparation / MintPy in (a) / MintPy in (b)",
                f"{med([r.prepare_bytes for r in a]) / 1024:.0f} KiB / "
                f"{med([r.mintpy_bytes for r in a]) / 2**20:.1f} MiB / {med([r.mintpy_bytes for r in b]) / 2**20:.1f} MiB",
                "",
            ]
        )
        ref = a[0].velocity
        diffs = {
            key: max(float(np.nanmax(np.abs(r.velocity - ref))) for r in result.runs[key])
            for key in ("a", "b", "c")
        }
        agreement.append(
            f"{result.label}: largest |velocity - run 1 of (a)|: (a) {diffs['a']:.1e}, (b) {diffs['b']:.1e}, "
            f"(c) {diffs['c']:.1e} m/year"
        )

    return "\n".join(
        [
            f"Synthetic stacks of {args.pairs} INSAR_GAMMA product zips over {args.dates} dates (products "
            "shifted/resized by up to 2 px; grid = scene columns x rows, then the common grid). (b) runs the "
            "options (a) decided, on GeoTIFFs clipped by hand. "
            f"Fresh work folder per run; runs interleaved; median of {args.runs}. MintPy runs as a subprocess "
            "of this process in every path.",
            "",
            "### (a) plugin path versus (b) plain MintPy",
            "",
            _common.table(
                ["grid", "path", "runs (s)", "median (s)", "time / (b)", "MintPy CPU (s)"],
                overall,
                "llrrrr",
            ),
            "",
            "Where the plugin's time goes (medians of (a)):",
            "",
            _common.table(["grid", "stage", "median (s)", "share of (a)"], breakdown, "llrr"),
            "",
            "### (c) `COMPUTE_CLUSTER` local (2 dask workers) versus none",
            "",
            _common.table(
                ["grid", "what", "none (s)", "local, 2 workers (s)", "local / none"], dask_rows, "llrrr"
            ),
            "",
            "Same results: " + "; ".join(agreement) + ".",
        ]
    )


def blas() -> str:
    """The BLAS numpy uses here (Debian's alternatives link), e.g. ``openblas-pthread``."""
    link = Path("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    return link.resolve().parent.name if link.exists() else "unknown BLAS"


def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    from insarhub_qgis.core.mintpy_env import find_mintpy_python

    python = find_mintpy_python().python
    grids = [tuple(int(v) for v in text.lower().split("x")) for text in args.grids.split(",") if text.strip()]
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-timeseries-") as tmp_name:
        for width, height in grids:
            results.append(bench_grid(args, Path(tmp_name), width, height, python))
    elapsed = time.perf_counter() - started
    print(f"\n(total {elapsed:.0f} s)\n")
    body = report(args, results)
    body += (
        f"\n\nMintPy interpreter: `{os.path.relpath(python, _common.ROOT)}` (numpy on {blas()}). "
        f"Whole benchmark: {elapsed:.0f} s; 1-minute load average {load_before:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end (other work on the machine shifts absolute times; the "
        "ratios of interleaved runs less)."
    )
    print(body)
    if not args.no_write:
        import dask
        import h5py
        import numpy
        from insarhub_qgis.__about__ import __version__
        from osgeo import gdal

        versions = {
            "InSARHub for QGIS": __version__,
            "MintPy": _common.package_version("mintpy"),
            "dask": dask.__version__,
            "distributed": _common.package_version("distributed"),
            "hyp3_sdk": _common.package_version("hyp3_sdk"),
            "GDAL": gdal.__version__,
            "h5py": h5py.__version__,
            "numpy": numpy.__version__,
        }
        path = _common.write_result(NAME, "Benchmark: MintPy time series (issues 6, 17)", body, versions)
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
