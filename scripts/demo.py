"""make demo: the whole InSARHub workflow offline, through ./scripts/qgis_process, against the SANDBOX.

Search Sentinel-1 bursts, summarize and filter the stacks, select pairs, submit them to the
sandbox HyP3 (cost first), watch the jobs, download the products, run MintPy's time series,
then write a QGIS project with every layer grouped and styled and a PNG map of the velocity
over the footprints. The sandbox's interferograms carry a known subsidence bowl, so the
velocity is checked against the truth at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402

OUT = ROOT / "demo-output"
START, END = "2020-01-01", "2020-12-31"


def qgis_process(algorithm: str, env: dict, **parameters: object) -> dict:
    """Run one algorithm through the README's wrapper; stop the demo with its log on failure."""
    args = [str(ROOT / "scripts" / "qgis_process"), "--json", "run", algorithm, "--"]
    args += [f"{key}={value}" for key, value in parameters.items()]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"{algorithm} failed (its log is above)")
    return json.loads(done.stdout[done.stdout.find("{"):])["results"]


class Steps:
    """Times each step and prints one line per step."""

    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    def run(self, name: str, algorithm: str, env: dict, **parameters: object) -> dict:
        start = time.perf_counter()
        results = qgis_process(algorithm, env, **parameters)
        self.timings.append((name, time.perf_counter() - start))
        return results


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUT, help="folder for the outputs (default: demo-output/)")
    args = parser.parse_args()
    OUT = args.output.resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        if old.is_file():
            old.unlink()
    steps = Steps()
    started = time.perf_counter()
    with Sandbox(workdir=OUT / "sandbox") as sandbox:
        env = {**os.environ, **sandbox.env}
        print("InSARHub demo against the SANDBOX (a local emulator of ASF's CMR and HyP3; the interferograms are")
        print(f"synthetic, with a known subsidence bowl). CMR: https://{sandbox.cmr.host}  HyP3: {sandbox.hyp3.url}\n")

        burst = next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == "174_372326_IW3")
        scene = sandbox.scene_for(burst)
        lon, lat = burst["asf_properties"]["centerLon"], burst["asf_properties"]["centerLat"]
        aoi = f"POLYGON(({lon - 0.05} {lat - 0.03}, {lon + 0.05} {lat - 0.03}, {lon + 0.05} {lat + 0.03}, {lon - 0.05} {lat + 0.03}, {lon - 0.05} {lat - 0.03}))"

        found = steps.run("search", "insarhub:searchscenes", env, WKT=aoi, START=START, END=END, PROCESSING_LEVEL="BURST",
                          POLARIZATION="VV", OUTPUT=OUT / "footprints.gpkg", SUMMARY=OUT / "stacks.csv")
        print(f"1 search         {found['COUNT']} bursts in {found['STACK_COUNT']} stack(s), {START} to {END}")
        steps.run("summarize", "insarhub:summarizestacks", env, INPUT=OUT / "footprints.gpkg", WKT=aoi, OUTPUT=OUT / "summary.gpkg")
        kept = steps.run("filter", "insarhub:filterscenes", env, INPUT=OUT / "footprints.gpkg", STACKS=scene.stack,
                         OUTPUT=OUT / "filtered.gpkg")
        print(f"2 stacks         {scene.stack}: {kept['COUNT']} acquisitions kept")
        pairs = steps.run("pairs", "insarhub:selectpairs", env, INPUT=OUT / "filtered.gpkg", MAX_TEMPORAL_BASELINE=48,
                          MAX_PERP_BASELINE=200, NEIGHBOURS=3, OUTPUT=OUT / "pairs.gpkg", PLOT=OUT / "network.png")
        print(f"3 pairs          {pairs['PAIR_COUNT']} pairs, {pairs['COMPONENTS']} connected component(s)")
        hyp3 = {"PAIRS": OUT / "pairs.gpkg", "JOB_TYPE": "INSAR_ISCE_BURST", "PROJECT_NAME": "insarhub_demo", "JOBS_FILE": OUT / "jobs.json"}
        cost = steps.run("cost", "insarhub:submitjobs", env, **hyp3, DRY_RUN=True)
        print(f"4 HyP3 cost      {cost['CREDITS']:g} credits of {cost['REMAINING_CREDITS']:g} remaining (dry run)")
        submitted = steps.run("submit", "insarhub:submitjobs", env, **hyp3)
        print(f"  submit         {submitted['SUBMITTED']} jobs submitted")
        watched = steps.run("watch", "insarhub:watchjobs", env, JOBS_FILE=OUT / "jobs.json", WAIT=True, POLL_INTERVAL=0.2, TIMEOUT=600)
        print(f"  watch          {watched['SUCCEEDED']} succeeded, {watched['FAILED']} failed")
        downloaded = steps.run("download", "insarhub:downloadproducts", env, JOBS_FILE=OUT / "jobs.json",
                               OUTPUT_FOLDER=OUT / "products")
        print(f"  download       {downloaded['COUNT']} products verified and unpacked")
        series = steps.run(
            "time series", "insarhub:runtimeseries", env, PRODUCTS_FOLDER=OUT / "products", WORKDIR=OUT / "mintpy",
            VELOCITY=OUT / "velocity.tif", VELOCITY_STD=OUT / "velocity_std.tif", TEMPORAL_COHERENCE=OUT / "temporal_coherence.tif",
            DISPLACEMENT=OUT / "displacement.tif", POINTS=OUT / "points.gpkg",
        )
        print(f"5 time series    MintPy SBAS on {series['INTERFEROGRAMS']} interferograms")

        error = velocity_error(OUT / "velocity.tif", scene.velocity_mm_yr)
        print(f"  check          velocity vs the sandbox's known signal: median absolute error {error:.2f} mm/yr")

    start = time.perf_counter()
    project = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "demo_project.py"), str(OUT)],
                             capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    if project.returncode != 0:
        sys.stderr.write(project.stdout + project.stderr)
        raise SystemExit("writing the QGIS project failed")
    steps.timings.append(("project + map", time.perf_counter() - start))
    total = time.perf_counter() - started

    print("\nOutputs:")
    for name in ("insarhub_demo.qgz", "velocity_map.png", "velocity.tif", "velocity_std.tif", "temporal_coherence.tif",
                 "displacement.tif", "points.gpkg", "footprints.gpkg", "stacks.csv", "pairs.gpkg", "network.png", "jobs.json"):
        print(f"  {OUT / name}")
    print("\nTime per step (s):")
    for name, seconds in steps.timings:
        print(f"  {name:<14} {seconds:6.1f}")
    print(f"  {'total':<14} {total:6.1f}")
    record_timings(OUT / "timings.md", steps.timings, total, error)
    print(f"  (also in {OUT / 'timings.md'})")
    if error >= 2.0:
        raise SystemExit(f"The velocity differs from the known signal by {error:.2f} mm/yr (more than 2).")


def velocity_error(path: Path, truth) -> float:
    """Median absolute difference (mm/yr) between the velocity raster and the truth, valid pixels."""
    import numpy as np
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    values = dataset.GetRasterBand(1).ReadAsArray()
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    rows, cols = np.indices(values.shape)
    x = x0 + (cols + 0.5) * dx
    y = y0 + (rows + 0.5) * dy
    valid = np.isfinite(values)
    return float(np.median(np.abs(values[valid] - truth(x[valid], y[valid]))))


def record_timings(path: Path, timings: list[tuple[str, float]], total: float, error: float) -> None:
    """The time per step, in the demo's output folder (never a tracked file: the clone stays clean)."""
    import platform

    lines = [
        "# make demo: time per step",
        "",
        "Command: `make demo` (sandbox, bursts of 174_372326_IW3 in 2020, every step through ./scripts/qgis_process).",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}.",
        f"Velocity against the sandbox's known signal: median absolute error {error:.2f} mm/yr.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {name} | {seconds:.1f} |" for name, seconds in timings],
        f"| **total** | **{total:.1f}** |",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
