"""make demo: the whole InSARHub workflow offline, through ./scripts/qgis_process, against the SANDBOX.

Search Sentinel-1 bursts, summarize and filter the stacks, select pairs, submit them to the
sandbox HyP3 (cost first), watch the jobs, download the products, run MintPy's time series,
for the real descending burst stack and for the sandbox's SYNTHETIC ascending one over the same
ground; decompose the two into vertical and east motion; then write a QGIS project with every
layer grouped and styled and a PNG map of the velocity over the footprints. The sandbox's
interferograms carry a known 3-D motion (a subsidence bowl and a slope sliding east), so the LOS
velocity, the vertical and the east motion are checked against the truth at the end.
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
from sandbox.ascending import ASCENDING_STACK  # noqa: E402

OUT = ROOT / "demo-output"
START, END = "2020-01-01", "2020-12-31"
DECOMPOSITION_OUTPUTS = ("VERTICAL", "EAST", "VERTICAL_STD", "EAST_STD", "MASK", "VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT")


def qgis_process(algorithm: str, env: dict, **parameters: object) -> dict:
    """Run one algorithm through the README's wrapper; stop the demo with its log on failure.

    A list value repeats the parameter (qgis_process's way of passing several layers)."""
    args = [str(ROOT / "scripts" / "qgis_process"), "--json", "run", algorithm, "--"]
    for key, value in parameters.items():
        args += [f"{key}={item}" for item in (value if isinstance(value, list) else [value])]
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
        print(f"synthetic, with a known subsidence bowl and a slope sliding east). CMR: https://{sandbox.cmr.host}  HyP3: {sandbox.hyp3.url}\n")

        burst = next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == "174_372326_IW3")
        scene = sandbox.scene_for(burst)
        lon, lat = burst["asf_properties"]["centerLon"], burst["asf_properties"]["centerLat"]
        aoi = f"POLYGON(({lon - 0.05} {lat - 0.03}, {lon + 0.05} {lat - 0.03}, {lon + 0.05} {lat + 0.03}, {lon - 0.05} {lat + 0.03}, {lon - 0.05} {lat - 0.03}))"

        found = steps.run("search", "insarhub:searchscenes", env, WKT=aoi, START=START, END=END, PROCESSING_LEVEL="BURST",
                          POLARIZATION="VV", OUTPUT=OUT / "footprints.gpkg", SUMMARY=OUT / "stacks.csv")
        print(f"1 search         {found['COUNT']} bursts in {found['STACK_COUNT']} stack(s), {START} to {END}")
        steps.run("summarize", "insarhub:summarizestacks", env, INPUT=OUT / "footprints.gpkg", WKT=aoi, OUTPUT=OUT / "summary.gpkg")
        ascending = sandbox.scene_for(next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == ASCENDING_STACK))
        series = run_stack(steps, env, scene.stack, OUT, "insarhub_demo", cost=True)
        print(f"5 time series    MintPy SBAS on {series['INTERFEROGRAMS']} interferograms")
        error = velocity_error(OUT / "velocity.tif", scene.velocity_mm_yr)
        print(f"  check          velocity vs the sandbox's known signal: median absolute error {error:.2f} mm/yr")

        print(f"\n  second stack: {ascending.stack}, ascending (SYNTHETIC records cloned from the real descending ones)")
        asc_out = OUT / "ascending"
        asc_series = run_stack(steps, env, ascending.stack, asc_out, "insarhub_demo_asc", prefix="asc ")
        print(f"  asc series     MintPy SBAS on {asc_series['INTERFEROGRAMS']} interferograms")
        asc_error = velocity_error(asc_out / "velocity.tif", ascending.velocity_mm_yr)
        print(f"  check          ascending velocity vs its known signal: median absolute error {asc_error:.2f} mm/yr")

        outputs = {role: OUT / f"{role.lower()}.tif" for role in DECOMPOSITION_OUTPUTS}
        decomposed = steps.run("decompose", "insarhub:decompose", env, INPUTS=[OUT / "velocity.tif", asc_out / "velocity.tif"],
                               DISPLACEMENT=True, **outputs)
        print(f"6 decompose      vertical and east on {decomposed['DECOMPOSED_PIXELS']:g} pixels, "
              f"{decomposed['COMMON_DATES']:g} common dates (MintPy's asc_desc2horz_vert)")
        errors = decomposition_errors(OUT / "vertical.tif", OUT / "east.tif", scene.motion_enu)
        print(f"  check          vertical vs the known motion: median absolute error {errors[0]:.2f} mm/yr; "
              f"east: {errors[1]:.2f} mm/yr")
        error = max(error, asc_error)

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
                 "displacement.tif", "points.gpkg", "footprints.gpkg", "stacks.csv", "pairs.gpkg", "network.png", "jobs.json",
                 "ascending/velocity.tif", "vertical.tif", "east.tif", "vertical_displacement.tif", "east_displacement.tif"):
        print(f"  {OUT / name}")
    print("\nTime per step (s):")
    for name, seconds in steps.timings:
        print(f"  {name:<14} {seconds:6.1f}")
    print(f"  {'total':<14} {total:6.1f}")
    record_timings(OUT / "timings.md", steps.timings, total, error, errors)
    print(f"  (also in {OUT / 'timings.md'})")
    if error >= 2.0:
        raise SystemExit(f"The velocity differs from the known signal by {error:.2f} mm/yr (more than 2).")
    if max(errors) >= 2.0:
        raise SystemExit(f"Vertical/east differ from the known motion by {errors[0]:.2f}/{errors[1]:.2f} mm/yr (more than 2).")


def run_stack(steps: Steps, env: dict, stack: str, out: Path, project: str, cost: bool = False, prefix: str = "") -> dict:
    """Filter -> pairs -> (cost) -> submit -> watch -> download -> time series for one stack, outputs in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    kept = steps.run(f"{prefix}filter", "insarhub:filterscenes", env, INPUT=OUT / "footprints.gpkg", STACKS=stack,
                     OUTPUT=out / "filtered.gpkg")
    print(f"2 stacks         {stack}: {kept['COUNT']} acquisitions kept")
    pairs = steps.run(f"{prefix}pairs", "insarhub:selectpairs", env, INPUT=out / "filtered.gpkg", MAX_TEMPORAL_BASELINE=48,
                      MAX_PERP_BASELINE=200, NEIGHBOURS=3, OUTPUT=out / "pairs.gpkg", PLOT=out / "network.png")
    print(f"3 pairs          {pairs['PAIR_COUNT']} pairs, {pairs['COMPONENTS']} connected component(s)")
    hyp3 = {"PAIRS": out / "pairs.gpkg", "JOB_TYPE": "INSAR_ISCE_BURST", "PROJECT_NAME": project, "JOBS_FILE": out / "jobs.json"}
    if cost:
        estimate = steps.run("cost", "insarhub:submitjobs", env, **hyp3, DRY_RUN=True)
        print(f"4 HyP3 cost      {estimate['CREDITS']:g} credits of {estimate['REMAINING_CREDITS']:g} remaining (dry run)")
    submitted = steps.run(f"{prefix}submit", "insarhub:submitjobs", env, **hyp3)
    print(f"  submit         {submitted['SUBMITTED']} jobs submitted")
    watched = steps.run(f"{prefix}watch", "insarhub:watchjobs", env, JOBS_FILE=out / "jobs.json", WAIT=True, POLL_INTERVAL=0.2, TIMEOUT=600)
    print(f"  watch          {watched['SUCCEEDED']} succeeded, {watched['FAILED']} failed")
    downloaded = steps.run(f"{prefix}download", "insarhub:downloadproducts", env, JOBS_FILE=out / "jobs.json",
                           OUTPUT_FOLDER=out / "products")
    print(f"  download       {downloaded['COUNT']} products verified and unpacked")
    return steps.run(
        f"{prefix}time series", "insarhub:runtimeseries", env, PRODUCTS_FOLDER=out / "products", WORKDIR=out / "mintpy",
        VELOCITY=out / "velocity.tif", VELOCITY_STD=out / "velocity_std.tif", TEMPORAL_COHERENCE=out / "temporal_coherence.tif",
        DISPLACEMENT=out / "displacement.tif", **({"POINTS": out / "points.gpkg"} if not prefix else {}),
    )


def decomposition_errors(vertical_path: Path, east_path: Path, motion) -> tuple[float, float]:
    """Median absolute differences (mm/yr) of vertical and east from the known motion, decomposed pixels."""
    import numpy as np
    from osgeo import gdal

    vertical_ds, east_ds = gdal.Open(str(vertical_path)), gdal.Open(str(east_path))
    vertical = vertical_ds.GetRasterBand(1).ReadAsArray()
    east = east_ds.GetRasterBand(1).ReadAsArray()
    x0, dx, _, y0, _, dy = vertical_ds.GetGeoTransform()
    rows, cols = np.indices(vertical.shape)
    true_east, _, true_up = motion(x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy)
    valid = np.isfinite(vertical) & np.isfinite(east)
    return (float(np.median(np.abs(vertical[valid] - true_up[valid]))), float(np.median(np.abs(east[valid] - true_east[valid]))))


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


def record_timings(path: Path, timings: list[tuple[str, float]], total: float, error: float, errors: tuple[float, float]) -> None:
    """The time per step, in the demo's output folder (never a tracked file: the clone stays clean)."""
    import platform

    lines = [
        "# make demo: time per step",
        "",
        "Command: `make demo` (sandbox, bursts of 174_372326_IW3 and of the synthetic ascending 079_168890_IW2 in 2020, "
        "every step through ./scripts/qgis_process).",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}.",
        f"LOS velocity against the sandbox's known signal: median absolute error {error:.2f} mm/yr (worse of the two stacks).",
        f"Vertical / east against the known 3-D motion: median absolute error {errors[0]:.2f} / {errors[1]:.2f} mm/yr.",
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
