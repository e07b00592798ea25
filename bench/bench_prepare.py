"""Issue 17: ``prepare_products`` on a whole frame, this checkout against another (before/after in one run).

``prepare`` is the plugin's largest share of ``runtimeseries`` beyond MintPy at frame scale
(``bench_frame.py``): it reads every window MintPy will read once (validation, statistics, the reference
point) and corrects unwrapping errors from the phase closure of triangles, pixel by pixel. This runs only
that step on the cached frame stack of ``bench_frame.py`` (3,000 x 2,500 px, 150 INSAR_GAMMA zips; made by
``bench_frame.py --generate-only``), once per checkout per round, interleaved, each in a fresh process and a
fresh work folder: wall time, CPU time (user + system of the process) and peak RSS. The prepared results
of the two checkouts are compared (corrected pixels per interferogram, the windows' statistics).

Run: ``.venv/bin/python bench/bench_prepare.py --baseline-root /path/to/other/checkout`` (about 10 minutes
per round at frame size).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

NAME = "bench_prepare"

CHILD = """
import json, sys, tempfile, time
from pathlib import Path
parent = Path(tempfile.mkdtemp(prefix="bench-prepare-plugin-"))
(parent / "insarhub_qgis").symlink_to(Path(sys.argv[1]).resolve(), target_is_directory=True)
sys.path.insert(0, str(parent))
from insarhub_qgis.core.timeseries import prepare_products
started = time.perf_counter()
prepared = prepare_products(Path(sys.argv[2]), Path(sys.argv[3]))
seconds = time.perf_counter() - started
print(json.dumps({
    "seconds": seconds,
    "corrected": {p.name: p.closure_corrected_px for p in prepared.products},
    "coherence": {p.name: p.mean_coherence for p in prepared.products},
    "note": prepared.unwrap_correction,
}))
"""


def run_once(root: Path, products: Path, workdir: Path) -> Dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(products), str(workdir)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"prepare failed with {root}:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(
        wall=wall,
        cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        # ru_maxrss of children is the largest child so far: meaningful when the first round grows it
        maxrss_gib=after.ru_maxrss / 2**20,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-root", type=Path, required=True, help="the other checkout (before)")
    parser.add_argument("--baseline-label", default="")
    parser.add_argument("--stack", type=Path, default=None, help="default: the newest frame-* of bench_frame's cache")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workroot", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    cache = Path.home() / ".cache" / "insarhub" / "bench"
    stack = args.stack or max(
        (p for p in cache.glob("frame-*") if (p / "manifest.json").is_file()), key=lambda p: p.stat().st_mtime
    )
    manifest = json.loads((stack / "manifest.json").read_text())
    params = manifest["parameters"]
    roots = {"before": args.baseline_root.resolve(), "now": _common.ROOT}
    labels = {
        "before": args.baseline_label or _git(roots["before"]),
        "now": f"this checkout ({_git(roots['now'])})",
    }
    load_before = os.getloadavg()[0]
    workroot = Path(tempfile.mkdtemp(prefix="bench-prepare-", dir=args.workroot))
    results: Dict[str, List[Dict[str, Any]]] = {"before": [], "now": []}
    try:
        for rnd in range(args.rounds):
            for key in (("before", "now") if rnd % 2 == 0 else ("now", "before")):
                folder = workroot / f"{key}-{rnd}"
                result = run_once(roots[key], stack / "products", folder)
                results[key].append(result)
                print(f"  {key}: {result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU", flush=True)
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    med = _common.median
    rows = []
    for key in ("before", "now"):
        rs = results[key]
        rows.append(
            [
                f"{key}: {labels[key]}",
                " / ".join(f"{r['wall']:.0f}" for r in rs),
                f"{med([r['wall'] for r in rs]):.1f}",
                f"{med([r['cpu'] for r in rs]):.1f}",
                f"{med([r['wall'] for r in rs]) / med([r['wall'] for r in results['before']]):.2f}",
            ]
        )
    same = all(
        r["corrected"] == results["before"][0]["corrected"]
        and all(abs(r["coherence"][k] - v) < 1e-9 for k, v in results["before"][0]["coherence"].items())
        for rs in results.values()
        for r in rs
    )
    corrected = sum(results["now"][0]["corrected"].values())
    body = "\n".join(
        [
            f"Stack: the cached frame of `bench_frame.py` ({params['pairs']} INSAR_GAMMA zips, "
            f"{params['width']} x {params['height']} px of {params['pixel_m']:g} m, {params['dates']} dates); "
            f"`prepare_products` with its defaults (windows, statistics, phase-closure correction), a fresh "
            f"process and work folder per run, {args.rounds} round(s) interleaved.",
            "",
            _common.table(
                ["checkout", "runs (s)", "median wall (s)", "median CPU (s)", "wall / before"],
                rows,
                "lrrrr",
            ),
            "",
            f"Same preparation from both (corrected pixels per interferogram, windows' mean coherence): "
            f"{'yes' if same else 'NO'}; {corrected} pixels corrected. 1-minute load average "
            f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
        ]
    )
    print(body)
    if not args.no_write:
        from osgeo import gdal

        path = _common.write_result(
            NAME, "Benchmark: prepare_products on a whole frame, before and after (issue 17)", body,
            {"GDAL": gdal.__version__},
        )  # fmt: skip
        print(f"Written {path}")
    return 0


def _git(root: Path) -> str:
    done = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return done.stdout.strip()[:80] or str(root)


if __name__ == "__main__":
    raise SystemExit(main())
