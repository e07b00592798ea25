"""Issue 17: the pixel chart's share of click-to-chart, before and after it stopped rebuilding itself per click.

The dock's chart (``ui/chart.py``, matplotlib in a Qt canvas of 450 x 300 px) with a pixel of ``--dates``
dates (and its linear fit), clicked as a user does: Clear, then three pixels, ``--rounds`` times. Before:
every click rebuilt the figure (new axes, every pixel plotted again, ``tight_layout``), which is what
``TimeSeriesChart.redraw`` still does when the chart is made; now: a click adds its pixel's lines to the
axes already drawn (``add_series``), after Clear too (Clear removes the lines and keeps the axes, whose
date locator is set once). Both end with the canvas drawn at once (what
``draw_idle`` schedules). The two are interleaved, round by round, in one process.

Run: ``.venv/bin/python bench/bench_chart_redraw.py`` (about a minute). ``bench_chart.py`` measures the
pixel read on a whole frame (p95 12.6 ms): the two add up to the click-to-chart time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    args = parser.parse_args()
    _common.use_plugin_and_fakes()
    import numpy as np
    from qgis.core import QgsApplication

    app = QgsApplication([], True)
    app.initQgis()
    from insarhub_qgis.ui.chart import TimeSeriesChart
    from insarhub_qgis.ui.maptools import PixelSeries, fit_velocity

    rng = np.random.default_rng(7)
    first = dt.date(2020, 1, 1)
    dates = [first + dt.timedelta(days=12 * k) for k in range(args.dates)]
    pixels = []
    for k in range(3):
        values = list(np.cumsum(rng.normal(-0.4 * (k + 1), 1.0, args.dates)))
        velocity, intercept = fit_velocity(dates, values)
        pixels.append(PixelSeries(f"P{k + 1}", 0.0, 0.0, "EPSG:4326", dates, values, velocity, intercept))

    charts = {"before": TimeSeriesChart(), "now": TimeSeriesChart()}
    for chart in charts.values():
        chart.resize(450, 300)
    times: Dict[str, Dict[int, List[float]]] = {key: {1: [], 2: [], 3: []} for key in charts}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for key, chart in charts.items():
            chart.clear()
            chart.canvas.draw()
            for number, pixel in enumerate(pixels, start=1):
                started = time.perf_counter()
                if key == "before":
                    chart.series.append(pixel)
                    chart.redraw()
                else:
                    chart.add_series(pixel)
                chart.canvas.draw()
                times[key][number].append((time.perf_counter() - started) * 1000.0)
    load_after = os.getloadavg()[0]

    def pct(values: List[float], q: float) -> float:
        return float(np.percentile(values, q))

    rows = []
    for number in (1, 2, 3):
        before, now = times["before"][number], times["now"][number]
        rows.append(
            [
                f"pixel {number}" + (" (the first after Clear)" if number == 1 else ""),
                f"{pct(before, 50):.0f}",
                f"{pct(before, 95):.0f}",
                f"{pct(now, 50):.0f}",
                f"{pct(now, 95):.0f}",
                f"{pct(now, 50) / pct(before, 50):.2f}",
            ]
        )
    body = "\n".join(
        [
            f"The dock's chart, 450 x 300 px, pixels of {args.dates} dates with their fit; Clear then three "
            f"clicks, {args.rounds} rounds, before and now interleaved. Milliseconds from the click's series to "
            "the drawn canvas.",
            "",
            _common.table(
                ["click", "before p50", "before p95", "now p50", "now p95", "now / before (p50)"],
                rows,
                "lrrrrr",
            ),
            "",
            f"1-minute load average {load_before:.2f} at the start, {load_after:.2f} at the end.",
        ]
    )
    print(body)
    if not args.no_write:
        import matplotlib
        from qgis.core import Qgis

        path = _common.write_result(
            "bench_chart_redraw",
            "Benchmark: the pixel chart's redraw per click (issue 17)",
            body,
            {"QGIS": Qgis.version(), "matplotlib": matplotlib.__version__},
        )
        print(f"Written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
