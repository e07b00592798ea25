"""Issue 17: click-to-chart on a whole frame, end to end, and what writing the displacement costs.

Data: a DISPLACEMENT GeoTIFF the size of a Sentinel-1 frame at 80 m (3,000 x 2,500 pixels, 150 dates by
default; the synthetic values of ``bench_chart.py``), or with ``--from`` the bands of a real run's
displacement (e.g. the one ``bench_frame.py --keep`` leaves), written with the plugin's own writer
(``core/timeseries/export.py``: ``_write_geotiff`` with ``displacement_layout``) twice from the same
values:

* ``now``: ``displacement_layout`` as ``export_results`` writes it (band interleaved, 16 x 16 blocks, not
  compressed, all-NaN blocks left out, overviews);
* ``deflate``: the same with DEFLATE (predictor 3) on the blocks and the overviews, as it was written until
  this benchmark showed what it costs.

Measured, in one QGIS process (offscreen), on each file:

1. writing it (seconds, size);
2. ``--clicks`` random pixels (the same for both files, clicked in EPSG:4326 on the UTM raster) as the
   dock's chart tool answers a click: ``read_pixel_series`` (the point to the raster's CRS, every date's
   value, the linear fit), then ``TimeSeriesChart.add_series`` and the canvas drawn (what ``draw_idle``
   schedules; the dock's chart, 450 x 300 px). Users chart a few pixels and clear: the chart is cleared
   after every ``--per-chart`` clicks (the Clear itself, a separate action, is not timed; the click after
   it is). Milliseconds from the click to the drawn chart: p50, p95, max, and the values of the two files
   compared.

Not included: Qt delivering the mouse event and painting the drawn canvas on screen (an offscreen
platform paints nothing), and the vertex marker the dock puts on the map.

Run: ``nice -n 10 .venv/bin/python bench/bench_click.py --workroot /var/tmp/benchclick`` (about
10 minutes; 9 GB of temporary files at the default size, deleted afterwards).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append("/usr/share/qgis/python/plugins")  # QGIS' own Python plugins: processing

import _common  # noqa: E402
import bench_chart  # noqa: E402  (the frame's synthetic values and the random clicks)

NAME = "bench_click"
GIB = 2**30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2500)
    parser.add_argument("--dates", type=int, default=150)
    parser.add_argument("--from", dest="source", type=Path, default=None, help="take the bands of this GeoTIFF")
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--per-chart", type=int, default=3, help="clicks between two Clears")
    parser.add_argument("--workroot", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    return parser.parse_args()


def write_files(args: argparse.Namespace, folder: Path) -> Dict[str, Dict[str, Any]]:
    """The displacement written by the plugin's writer, as now and with DEFLATE; seconds and bytes of each."""
    from insarhub_qgis.core.timeseries.export import _write_geotiff, displacement_layout
    from osgeo import gdal

    dates, bands, grid = bench_chart.displacement_source(args)
    width, height = grid.width, grid.height
    now = displacement_layout(width, height)
    files: Dict[str, Dict[str, Any]] = {
        "now": {"label": "now: not compressed, all-NaN blocks left out", "kwargs": now, "config": {}},
        "deflate": {
            "label": "DEFLATE (predictor 3) on blocks and overviews, as before",
            "kwargs": {**now, "options": ["COMPRESS=DEFLATE", "PREDICTOR=3", *now["options"]]},
            "config": {"COMPRESS_OVERVIEW": "DEFLATE", "PREDICTOR_OVERVIEW": "3"},
        },
    }
    meta = dict(
        descriptions=dates,
        units="mm",
        band_metadata=[{"DATE": d, "SIGN": "towards the satellite"} for d in dates],
        metadata={"QUANTITY": "displacement relative to the reference date", "DATES": ",".join(dates)},
    )
    for key, spec in files.items():
        path = folder / f"displacement-{key}.tif"
        for name, value in spec["config"].items():
            gdal.SetConfigOption(name, value)
        try:
            started = time.perf_counter()
            _write_geotiff(path, bands(), len(dates), grid, **meta, **spec["kwargs"])  # type: ignore[arg-type]
            spec["write_s"] = time.perf_counter() - started
        finally:
            for name in spec["config"]:
                gdal.SetConfigOption(name, None)
        spec["path"] = path
        spec["bytes"] = path.stat().st_size
        print(f"  {key}: written in {spec['write_s']:.0f} s, {spec['bytes'] / GIB:.2f} GiB", flush=True)
    files["_dates"] = {"count": len(dates), "width": width, "height": height}
    return files


def time_clicks(path: Path, points: List[Any], crs: Any, per_chart: int) -> Dict[str, Any]:
    """Per click: milliseconds to read the pixel, to chart it, and both; the values read."""
    from insarhub_qgis.core.timeseries import pixels
    from insarhub_qgis.ui.chart import TimeSeriesChart
    from insarhub_qgis.ui.maptools import read_pixel_series
    from qgis.core import QgsRasterLayer

    pixels.forget_readers()
    layer = QgsRasterLayer(str(path), "Displacement", "gdal")
    if not layer.isValid():
        raise RuntimeError(f"QGIS could not load {path}")
    chart = TimeSeriesChart()
    chart.resize(450, 300)
    chart.canvas.draw()
    read_ms: List[float] = []
    chart_ms: List[float] = []
    values = []
    for number, point in enumerate(points):
        if number and number % per_chart == 0:
            chart.clear()
            chart.canvas.draw()
        started = time.perf_counter()
        series = read_pixel_series(layer, point, crs, label=f"P{len(chart.series) + 1}")
        read_done = time.perf_counter()
        chart.add_series(series)
        chart.canvas.draw()  # what draw_idle schedules, done now
        ended = time.perf_counter()
        read_ms.append((read_done - started) * 1000.0)
        chart_ms.append((ended - read_done) * 1000.0)
        values.append(series.values_mm)
    pixels.forget_readers()
    total = [a + b for a, b in zip(read_ms, chart_ms)]
    return {"read": read_ms, "chart": chart_ms, "total": total, "values": values}


def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    import numpy as np
    from qgis.core import QgsApplication, QgsRasterLayer

    started_all = time.perf_counter()
    load_before = os.getloadavg()[0]
    workroot = Path(tempfile.mkdtemp(prefix="bench-click-", dir=args.workroot))
    app = QgsApplication([], True, str(workroot / "profile"))  # GUI: the chart is a Qt widget
    app.initQgis()
    try:
        print("writing the displacement ...", flush=True)
        files = write_files(args, workroot)
        shape = files.pop("_dates")
        probe = QgsRasterLayer(str(files["now"]["path"]), "probe", "gdal")
        _, points, wgs84 = bench_chart.click_points(probe, args.clicks)
        del probe
        results = {}
        for key, spec in files.items():
            results[key] = time_clicks(spec["path"], points, wgs84, args.per_chart)
            print(
                f"  clicks on {key}: total p50 {np.percentile(results[key]['total'], 50):.1f} ms, "
                f"p95 {np.percentile(results[key]['total'], 95):.1f} ms",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
    load_after = os.getloadavg()[0]
    elapsed = time.perf_counter() - started_all

    def pct(values: List[float], q: float) -> str:
        return f"{np.percentile(values, q):.1f}"

    differ = sum(
        not np.array_equal(np.asarray(a, "float64"), np.asarray(b, "float64"), equal_nan=True)
        for a, b in zip(results["now"]["values"], results["deflate"]["values"])
    )
    source = f"the bands of `{args.source}`" if args.source else "synthetic values (`bench_chart.synthetic_bands`)"
    write_rows = [
        [key, spec["label"], f"{spec['write_s']:.1f}", f"{spec['bytes'] / GIB:.2f}"] for key, spec in files.items()
    ]
    write_rows.append(
        ["now / deflate", "", f"{files['now']['write_s'] / files['deflate']['write_s']:.2f}", ""]
    )
    click_rows = []
    for key in files:
        for part, what in (
            ("read", "reading the pixel (`read_pixel_series`)"),
            ("chart", "charting it (`add_series`, canvas drawn)"),
            ("total", "**click to chart**"),
        ):
            values = results[key][part]
            click_rows.append([key, what, pct(values, 50), pct(values, 95), pct(values, 100)])
    body = "\n".join(
        [
            f"The displacement of a frame, {shape['width']} x {shape['height']} px, {shape['count']} dates, from "
            f"{source}, written with the plugin's `_write_geotiff` and `displacement_layout`.",
            "",
            "### Writing it",
            "",
            _common.table(["file", "what", "written in (s)", "size (GiB)"], write_rows, "llrr"),
            "",
            f"### Click to chart: {args.clicks} random pixels",
            "",
            f"Clicked in EPSG:4326 on the UTM raster, the same pixels on both files, a freshly loaded layer for "
            f"each; the chart (450 x 300 px) cleared after every {args.per_chart} clicks, the click after a Clear "
            "timed like the others. Milliseconds.",
            "",
            _common.table(["file", "step", "p50", "p95", "max"], click_rows, "llrrr"),
            "",
            f"Clicks whose values differ between the two files: {differ} of {len(points)}.",
            "",
            f"Whole benchmark: {elapsed:.0f} s; 1-minute load average {load_before:.2f} at the start, "
            f"{load_after:.2f} at the end.",
        ]
    )
    print(body)
    if not args.no_write:
        import matplotlib
        from osgeo import gdal
        from qgis.core import Qgis

        path = _common.write_result(
            NAME,
            "Benchmark: click to chart on a whole frame, and writing its displacement (issue 17)",
            body,
            {"QGIS": Qgis.version(), "GDAL": gdal.__version__, "matplotlib": matplotlib.__version__},
        )
        print(f"Written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
