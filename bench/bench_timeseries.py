"""Issue 6: the MintPy time series, the plugin's whole path versus MintPy run by hand, and dask.

Data: one synthetic stack of HyP3 INSAR_GAMMA product zips per grid (``tests/fakes/products.py``
``make_stack``: 20 dates, 40 pairs, products shifted and resized by up to 2 pixels, noise, one
unwrapping error), written once, untimed.

Timed, same process (MintPy itself always runs as a subprocess), interleaved, a fresh work folder
per run, median of ``--runs``:

(a) the plugin's whole path, as ``insarhub:runtimeseries`` runs it: ``prepare_products`` (find the
    zips, check, clip onto one common grid) + ``write_config`` (incl. the automatic reference
    pixel) + ``run_smallbaseline`` (``python -m mintpy.cli.smallbaselineApp`` as a cancellable
    subprocess, output streamed) + ``export_results`` (velocity, its std, temporal coherence,
    displacement GeoTIFFs);
(b) plain MintPy by hand on the same, already clipped inputs (those (a)'s ``prepare_products``
    wrote, copied into the fresh folder untimed) with a minimal hand-written cfg holding the same
    processing options and the same reference pixel: ``subprocess.run([python, "-m",
    "mintpy.cli.smallbaselineApp", cfg, "--dir", folder])``, output to a log file;
(c) (a) with ``COMPUTE_CLUSTER local`` and 2 dask workers (``write_config(compute_cluster="local",
    workers=2)``) against ``none`` (the (a) runs).

The velocities of (a), (b) and (c) are compared (same numbers expected). CPU seconds of MintPy
come from ``getrusage(RUSAGE_CHILDREN)`` (the subprocess and the dask workers it waits for).
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
# What the plugin's write_config sets besides load globs, cluster and reference (core/timeseries/config.py);
# the hand-written cfg uses the same processing options so that both run the same MintPy work.
HAND_OPTIONS = {
    "mintpy.troposphericDelay.method": "no",
    "mintpy.deramp": "no",
    "mintpy.topographicResidual": "no",
    "mintpy.geocode": "no",
    "mintpy.save.kmz": "no",
    "mintpy.save.hdfEos5": "no",
    "mintpy.plot": "no",
}


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
        run_smallbaseline,
        write_config,
    )

    stages: dict[str, float] = {}
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    prepared = prepare_products(download, work)
    t1 = time.perf_counter()
    cfg = write_config(prepared, work, compute_cluster=cluster, workers=2 if cluster != "none" else None)
    t2 = time.perf_counter()
    cpu0 = children_cpu()
    run_smallbaseline(
        cfg, work, python, progress=lambda i, n, step: marks.append((step, time.perf_counter()))
    )
    t3 = time.perf_counter()
    cpu = children_cpu() - cpu0
    export_results(work, {key: work / "export" / f"{key.lower()}.tif" for key in OUTPUTS}, prepared)
    t4 = time.perf_counter()
    stages = {"prepare": t1 - started, "config": t2 - t1, "run": t3 - t2, "export": t4 - t3}
    marks.append(("end", t3))
    steps = {step: end - begin for (step, begin), (_, end) in zip(marks, marks[1:])}
    return Run(t4 - started, stages, steps, cpu, read_velocity(work))


def hand_cfg(globs: dict[str, str], reference_yx: str) -> str:
    lines = [
        "# written by hand: plain MintPy on already clipped HyP3 products",
        "mintpy.load.processor = hyp3",
    ]
    lines += [f"{key} = {value}" for key, value in globs.items()]
    lines.append(f"mintpy.reference.yx = {reference_yx}")
    lines += [f"{key} = {value}" for key, value in HAND_OPTIONS.items()]
    return "\n".join(lines) + "\n"


def plain_mintpy(clipped: Path, folder: Path, cfg_text: str, python: str) -> Run:
    """(b): copy the clipped inputs (untimed), then time smallbaselineApp as a plain subprocess."""
    shutil.copytree(clipped, folder / "inputs")
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
    return Run(seconds, {"run": seconds}, {}, cpu, read_velocity(folder))


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

    # untimed: the clipped inputs and the reference pixel for the hand-run MintPy
    reference = base / "reference"
    prepared = prepare_products(download, reference)
    cfg = read_cfg(write_config(prepared, reference))
    clipped = base / "clipped"
    shutil.copytree(reference / "inputs", clipped)
    cfg_text = hand_cfg(prepared.load_globs(), cfg["mintpy.reference.yx"])
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
            ("prepare", "`prepare_products` (find, check, unpack + clip 40 zips)"),
            ("config", "`write_config` (incl. `choose_reference`: reads every clipped raster)"),
            ("run", "`run_smallbaseline` (MintPy subprocess, output streamed)"),
            ("export", "`export_results` (4 GeoTIFFs)"),
        ]
        a_total = med([r.total for r in a])
        for key, label in stage_names:
            value = med([r.stages[key] for r in a])
            breakdown.append([where, label, sec(value), f"{value / a_total:.0%}"])
        run_a = med([r.stages["run"] for r in a])
        breakdown.append(
            [
                where,
                "of which: `run_smallbaseline` minus (b) (wrapper; same MintPy work; < 0 = noise)",
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
            ("`run_smallbaseline` (all MintPy steps)", run_a, med([r.stages["run"] for r in c])),
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
            "shifted/resized by up to 2 px; grid = scene columns x rows, then the clipped common grid). "
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
        path = _common.write_result(NAME, "Benchmark: MintPy time series (issue 6)", body, versions)
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
