"""Issue 17: a chart that answers at once, and dates on the map that step without waiting, on a whole frame.

Data: a DISPLACEMENT GeoTIFF the size of a Sentinel-1 frame at 80 m (3,000 x 2,500 pixels, 150 dates by
default), written with the plugin's own writer (``core/timeseries/export.py``: ``_write_geotiff``) in
the layouts compared, from the same values: a subsidence bowl and a seasonal basin, a correlated
atmosphere per date, noise, and masked (NaN) areas, band descriptions ``YYYYMMDD``; or, with ``--from``,
the bands of an existing displacement GeoTIFF (e.g. one ``bench_frame.py --keep`` left).

Layouts: ``before`` (``_write_geotiff``'s own options, what ``export_results`` wrote until now: pixel
interleaved, 256 x 256 blocks; its own band-by-band writer is tried for ``--old-writer-minutes`` and
stopped when it takes longer or the file outgrows 1.5 times its data, and the file measured is the same layout
copied with ``gdal.Translate``), ``now`` (``displacement_layout``: band interleaved, 16 x 16 blocks, internal
overviews), ``now-no-overviews`` (the same without overviews: what they buy) and, with
``--pixel-interleaved``, the alternative of one block per click (pixel interleaved, 32 x 32 blocks, no
overviews: building them took 14 min for 1000 x 800 x 150 here).

Measured, in one QGIS process (offscreen):

1. click-to-chart: ``read_pixel_series`` (what the dock's click tool calls: point from the canvas CRS,
   EPSG:4326 here, to the raster's, every band's value, the linear fit) at ``--clicks`` random pixels
   (the same for every combination), as it was before (a copy below: GDAL opens the file for the band
   dates on every click, then the provider's identify) and as it is now (``core.timeseries.pixels``,
   the file kept open), on each layout; p50/p95/max and the values compared. Also the chart's redraw
   (``ui/chart.py``, matplotlib, one pixel) for the whole click-to-chart time.
2. the dates on the map: every date drawn offscreen (``QgsMapRendererParallelJob``, 1000 x 800 px, the
   raster's CRS) as the Temporal Controller draws them, whole frame in view and at full resolution, for
   the plugin's design (one layer per date, made by ``TimeSeriesPostProcessor``, the temporal range picks
   the layer) and for one layer whose renderer band follows the date (set per frame here; QGIS 3.38+ has
   this natively as ``Qgis.RasterTemporalMode.FixedRangePerBand``). Slow combinations are sampled
   (``--slow-frames`` dates, evenly spread; three when a date takes over 10 s).

Run: ``nice -n 10 .venv/bin/python bench/bench_chart.py`` (about 15-25 minutes on 2 cores; 12 GB of
temporary files at the default size).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append("/usr/share/qgis/python/plugins")  # QGIS' own Python plugins: processing

import _common  # noqa: E402

NAME = "bench_chart"
GIB = 2**30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2500)
    parser.add_argument("--dates", type=int, default=150)
    parser.add_argument(
        "--from", dest="source", type=Path, default=None, help="take the bands of this GeoTIFF"
    )
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--slow-frames", type=int, default=12, help="dates drawn when a frame takes over 1 s")
    parser.add_argument("--pixel-interleaved", action="store_true", help="also the pixel-interleaved layout")
    parser.add_argument(
        "--old-writer-minutes",
        type=float,
        default=10.0,
        help="how long the layout before's own writer may try",
    )
    parser.add_argument("--workroot", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    return parser.parse_args()


# ------------------------------------------------------------------------------------------- data
def synthetic_bands(
    width: int, height: int, count: int, seed: int = 17
) -> Tuple[List[str], Callable[[], Iterator]]:
    """Dates (12 days apart) and a generator of displacement bands (mm, float32), the same on every call."""
    import numpy as np

    start = dt.date(2019, 1, 5)
    dates = [start + dt.timedelta(days=12 * k) for k in range(count)]
    years = np.array([(d - start).days / 365.25 for d in dates])
    rows, cols = np.mgrid[0:height, 0:width].astype("float32")
    u, v = cols / width, rows / height
    bowl = (-30.0 * np.exp(-((u - 0.55) ** 2 + ((v - 0.5) * height / width) ** 2) / (2 * 0.18**2))).astype(
        "float32"
    )
    basin = (8.0 * np.exp(-(((u - 0.3) / 0.22) ** 2 + ((v - 0.6) / 0.25) ** 2))).astype("float32")
    masked = ((u - 0.2) / 0.1) ** 2 + ((v - 0.22) / 0.09) ** 2 < 1.0  # a lake
    masked |= (u > 0.1) & (u < 0.3) & (v > 0.6) & (v < 0.85)  # decorrelated
    masked[:, :3] = True  # swath edge

    def bands() -> Iterator:
        for k, year in enumerate(years):
            rng = np.random.default_rng(seed + k)
            coarse = rng.normal(0.0, 4.0, (height // 50 + 2, width // 50 + 2)).astype("float32")
            atmosphere = np.kron(coarse, np.ones((50, 50), dtype="float32"))[:height, :width] if k else 0.0
            band = bowl * year + basin * math.sin(2 * math.pi * year) + atmosphere
            band = band + rng.normal(0.0, 1.0, (height, width)).astype("float32") if k else band * 0.0
            band = np.where(masked, np.nan, band).astype("float32")
            yield band

    return [f"{d:%Y%m%d}" for d in dates], bands


def file_bands(path: Path) -> Tuple[List[str], Callable[[], Iterator], Tuple[int, int], Any]:
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    dates = [dataset.GetRasterBand(b).GetDescription() for b in range(1, dataset.RasterCount + 1)]

    def bands() -> Iterator:
        source = gdal.Open(str(path))
        for b in range(1, source.RasterCount + 1):
            yield source.GetRasterBand(b).ReadAsArray()

    grid = (dataset.RasterXSize, dataset.RasterYSize)
    return dates, bands, grid, (dataset.GetGeoTransform(), dataset.GetProjection())


def displacement_source(args: argparse.Namespace) -> Tuple[List[str], Callable[[], Iterator], Any]:
    """Dates, a generator of bands and the grid of the displacement to write: the bands of ``--from``, or
    synthetic ones of ``--width`` x ``--height`` x ``--dates`` on a UTM grid of 80 m."""
    from insarhub_qgis.core.timeseries.prepare import PreparedGrid
    from osgeo import osr

    if args.source:
        dates, bands, (width, height), (geotransform, wkt) = file_bands(args.source)
        epsg = None
    else:
        width, height = args.width, args.height
        dates, bands = synthetic_bands(width, height, args.dates)
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32611)
        geotransform, wkt, epsg = (440000.0, 80.0, 0.0, 3880000.0, 0.0, -80.0), srs.ExportToWkt(), 32611
    return dates, bands, PreparedGrid(tuple(geotransform), wkt, epsg, width, height)


def write_layouts(args: argparse.Namespace, folder: Path) -> Tuple[Dict[str, Dict[str, Any]], List[str]]:
    """The displacement in each layout, with the plugin's writer; write time and size of each."""
    from insarhub_qgis.core.timeseries.export import _write_geotiff, displacement_layout

    dates, bands, grid = displacement_source(args)
    width, height = grid.width, grid.height
    layouts: Dict[str, Dict[str, Any]] = {
        "now": {
            "label": "now: band interleaved, 16 x 16 blocks, overviews (`displacement_layout`)",
            "kwargs": displacement_layout(width, height),
        },
        # what the overviews buy (and cost): the same layout without them
        "now-no-overviews": {
            "label": "now without overviews: band interleaved, 16 x 16 blocks",
            "kwargs": {"options": displacement_layout(width, height)["options"]},
        },
    }
    if args.pixel_interleaved:
        layouts["pixel32"] = {
            "label": "alternative: pixel interleaved, 32 x 32 blocks, no overviews",
            "kwargs": {
                "options": [
                    "COMPRESS=DEFLATE", "PREDICTOR=3", "TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32",
                    "INTERLEAVE=PIXEL", "BIGTIFF=IF_SAFER",
                ]
            },
        }  # fmt: skip
    meta = dict(
        descriptions=dates,
        units="mm",
        band_metadata=[{"DATE": d, "SIGN": "towards the satellite"} for d in dates],
        metadata={"QUANTITY": "displacement relative to the reference date", "DATES": ",".join(dates)},
    )
    for key, layout in layouts.items():
        path = folder / f"displacement-{key}.tif"
        started = time.perf_counter()
        _write_geotiff(path, bands(), len(dates), grid, **meta, **layout["kwargs"])  # type: ignore[arg-type]
        layout["write_s"] = time.perf_counter() - started
        layout["path"] = path
        layout["bytes"] = path.stat().st_size
        print(f"  {key}: written in {layout['write_s']:.0f} s, {layout['bytes'] / GIB:.2f} GiB", flush=True)

    # The layout before. Its writer (bands one after the other into pixel-interleaved compressed blocks) is
    # tried for --old-writer-minutes; once the blocks no longer fit GDAL's cache it rewrites them over and
    # over and the file grows far beyond its data. The file the clicks and frames use has the same
    # layout, copied with gdal.Translate (all bands of a block at once).
    before = {"label": "before: pixel interleaved, 256 x 256 blocks (`_write_geotiff` defaults)"}
    scratch = folder / "displacement-before-writer.tif"
    partial = scratch.with_name(f".{scratch.stem}.partial{scratch.suffix}")
    raw = width * height * 4 * len(dates)
    state = {"bands": 0, "bytes": 0}
    started = time.perf_counter()

    def capped() -> Iterator:
        for band in bands():
            size = partial.stat().st_size if partial.exists() else 0
            state["bytes"] = max(state["bytes"], size)
            if time.perf_counter() - started > 60 * args.old_writer_minutes or size > 1.5 * raw:
                raise _Stopped()
            state["bands"] += 1
            yield band

    try:
        _write_geotiff(scratch, capped(), len(dates), grid, **meta)  # type: ignore[arg-type]
        before["old_writer"] = (
            f"{time.perf_counter() - started:.0f} s, {scratch.stat().st_size / GIB:.2f} GiB"
        )
    except _Stopped:
        before["old_writer"] = (
            f"stopped after {time.perf_counter() - started:.0f} s at band {state['bands']} of {len(dates)}, "
            f"the file already {state['bytes'] / GIB:.1f} GiB ({state['bytes'] / raw:.1f} x the data uncompressed)"
        )
    for leftover in (scratch, partial):
        leftover.unlink(missing_ok=True)
    print(f"  before, its own writer: {before['old_writer']}", flush=True)
    from osgeo import gdal

    started = time.perf_counter()
    path = folder / "displacement-before.tif"
    gdal.Translate(
        str(path),
        str(layouts["now-no-overviews"]["path"]),
        creationOptions=["COMPRESS=DEFLATE", "PREDICTOR=3", "TILED=YES", "BIGTIFF=IF_SAFER"],
    )
    before.update(path=path, write_s=time.perf_counter() - started, bytes=path.stat().st_size, copied=True)
    print(f"  before: copied in {before['write_s']:.0f} s, {before['bytes'] / GIB:.2f} GiB", flush=True)
    return {"before": before, **layouts}, dates


class _Stopped(Exception):
    """The old writer took too long."""


# ------------------------------------------------------------------------------ the click, before
def baseline_read_pixel_series(layer: Any, point: Any, crs: Any, label: str = "") -> Any:
    """``ui/maptools.py`` ``read_pixel_series`` as it was before this change (main @ b28eef9), verbatim
    but for the names it imports."""
    from insarhub_qgis.ui.maptools import PixelSeries, fit_velocity
    from qgis.core import QgsCoordinateTransform, QgsPointXY, QgsProject, QgsRaster

    target = QgsPointXY(point)
    if crs.isValid() and layer.crs().isValid() and crs != layer.crs():
        target = QgsCoordinateTransform(crs, layer.crs(), QgsProject.instance()).transform(target)
    if not layer.extent().contains(target):
        raise ValueError(f"The point {point.x():.6g}, {point.y():.6g} is outside '{layer.name()}'.")
    dates = baseline_band_dates(layer)
    result = layer.dataProvider().identify(target, QgsRaster.IdentifyFormat.IdentifyFormatValue)
    if not result.isValid():
        raise ValueError(f"'{layer.name()}' could not be read at {point.x():.6g}, {point.y():.6g}.")
    values = result.results()
    series = []
    for band in range(1, layer.bandCount() + 1):
        value = values.get(band)
        try:
            number = float(value) if value is not None else math.nan
        except (TypeError, ValueError):
            number = math.nan
        series.append(number)
    pixel = PixelSeries(
        label or f"{target.x():.1f}, {target.y():.1f}",
        target.x(),
        target.y(),
        layer.crs().authid(),
        dates,
        series,
    )
    pixel.velocity_mm_per_year, pixel.intercept_mm = fit_velocity(dates, series)
    return pixel


def baseline_band_dates(layer: Any) -> List[dt.date]:
    """``ui/maptools.py`` ``band_dates`` before this change (main @ b28eef9)."""
    import re

    date_re = re.compile(r"(\d{8})")
    descriptions: List[str] = []
    try:
        from osgeo import gdal

        dataset = gdal.Open(layer.source().split("|")[0])
        if dataset is not None:
            descriptions = [
                dataset.GetRasterBand(b).GetDescription() for b in range(1, dataset.RasterCount + 1)
            ]
    except ImportError:
        descriptions = []
    if len(descriptions) != layer.bandCount() or not all(date_re.search(d or "") for d in descriptions):
        descriptions = [layer.bandName(b) for b in range(1, layer.bandCount() + 1)]
    dates = []
    for band, text in enumerate(descriptions, start=1):
        match = date_re.search(text or "")
        if not match:
            raise ValueError(f"Band {band} of '{layer.name()}' has no date (description YYYYMMDD).")
        dates.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
    return dates


# ----------------------------------------------------------------------------------------- clicks
def click_points(layer: Any, count: int, seed: int = 3) -> Tuple[List[Tuple[int, int]], List[Any], Any]:
    """``count`` random pixels and their centres in EPSG:4326 (a canvas in WGS 84 clicks them)."""
    import numpy as np
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject

    rng = np.random.default_rng(seed)
    width, height = layer.width(), layer.height()
    extent = layer.extent()
    dx, dy = extent.width() / width, extent.height() / height
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    transform = QgsCoordinateTransform(layer.crs(), wgs84, QgsProject.instance())
    pixels = [(int(r), int(c)) for r, c in zip(rng.integers(0, height, count), rng.integers(0, width, count))]
    points = [
        transform.transform(
            QgsPointXY(extent.xMinimum() + (c + 0.5) * dx, extent.yMaximum() - (r + 0.5) * dy)
        )
        for r, c in pixels
    ]
    return pixels, points, wgs84


def time_clicks(
    function: Callable, path: Path, points: Sequence[Any], crs: Any
) -> Tuple[List[float], List[Any]]:
    """Milliseconds per click and the values, on a freshly loaded layer (nothing cached from before)."""
    from insarhub_qgis.core.timeseries import pixels
    from qgis.core import QgsRasterLayer

    pixels.forget_readers()
    layer = QgsRasterLayer(str(path), "Displacement", "gdal")
    if not layer.isValid():
        raise RuntimeError(f"QGIS could not load {path}")
    times, values = [], []
    for number, point in enumerate(points):
        started = time.perf_counter()
        series = function(layer, point, crs, label=f"P{number + 1}")
        times.append((time.perf_counter() - started) * 1000.0)
        values.append(series.values_mm)
    pixels.forget_readers()
    return times, values


def time_chart_redraw(series_example: Any, count: int = 30) -> List[float]:
    """Milliseconds to add one pixel to the dock's chart (matplotlib redraw), the chart holding 1-3 pixels
    as it usually does."""
    from insarhub_qgis.ui.chart import TimeSeriesChart

    chart = TimeSeriesChart()
    chart.resize(450, 300)
    times = []
    for k in range(count):
        if k % 3 == 0:
            chart.clear()
        started = time.perf_counter()
        chart.add_series(series_example)
        chart.canvas.draw()  # what draw_idle schedules, done now
        times.append((time.perf_counter() - started) * 1000.0)
    return times


# ------------------------------------------------------------------------------------------ frames
def date_range(text: str, following: str | None) -> Any:
    from qgis.core import QgsDateTimeRange
    from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime

    def qdt(value: str) -> Any:
        day = dt.datetime.strptime(value, "%Y%m%d").date()
        return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0), Qt.TimeSpec.UTC)

    start = qdt(text)
    end = qdt(following) if following else start.addDays(1)
    return QgsDateTimeRange(start, end, True, False)


def render(layers: List[Any], extent: Any, crs: Any, when: Any) -> float:
    """Seconds to draw ``layers`` at time ``when`` into a 1000 x 800 image (what the canvas does)."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(1000, 800))
    settings.setExtent(extent)
    settings.setIsTemporal(True)
    settings.setTemporalRange(when)
    started = time.perf_counter()
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    seconds = time.perf_counter() - started
    image = job.renderedImage()
    if image.isNull():
        raise RuntimeError("nothing was rendered")
    return seconds


def views(layer: Any) -> Dict[str, Any]:
    from qgis.core import QgsRectangle

    extent = layer.extent()
    dx = extent.width() / layer.width()
    cx, cy = extent.center().x(), extent.center().y()
    return {
        "whole frame": extent,
        "full resolution (1000 x 800 px of the raster)": QgsRectangle(
            cx - 500 * dx, cy - 400 * dx, cx + 500 * dx, cy + 400 * dx
        ),
    }


def frame_plan(dates: Sequence[str], slow: bool, sample: int) -> List[int]:
    if not slow:
        return list(range(len(dates)))
    count = min(sample, len(dates))
    return sorted({int(round(i * (len(dates) - 1) / max(count - 1, 1))) for i in range(count)})


def per_date_design(path: Path, dates: List[str]) -> Tuple[List[Any], float, Any]:
    """The plugin's design: the post-processor of runtimeseries makes one layer per date."""
    from insarhub_qgis.processing_provider.raster_styling import TimeSeriesPostProcessor
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsRasterLayer

    project = QgsProject.instance()
    project.clear()
    started = time.perf_counter()
    layer = QgsRasterLayer(str(path), "Displacement", "gdal")
    project.addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(project)
    TimeSeriesPostProcessor("run", "DISPLACEMENT", dates).postProcessLayer(
        layer, context, QgsProcessingFeedback()
    )
    seconds = time.perf_counter() - started
    by_date = [
        node.layer()
        for group in project.layerTreeRoot().findGroups(True)
        if "by date" in group.name()
        for node in group.findLayers()
    ]
    if len(by_date) != len(dates):
        raise RuntimeError(f"{len(by_date)} per-date layers for {len(dates)} dates")
    return by_date, seconds, layer


def single_layer_design(path: Path, dates: List[str]) -> Tuple[Any, float]:
    """One layer for every date (its renderer's band set per frame; natively FixedRangePerBand in QGIS 3.38+)."""
    from insarhub_qgis.processing_provider.raster_styling import diverging_renderer, robust_limit
    from qgis.core import QgsProject, QgsRasterLayer

    project = QgsProject.instance()
    project.clear()
    started = time.perf_counter()
    layer = QgsRasterLayer(str(path), "Displacement", "gdal")
    limit = robust_limit(str(path), band=len(dates))
    layer.setRenderer(diverging_renderer(layer, len(dates), limit, "mm"))
    project.addMapLayer(layer)
    return layer, time.perf_counter() - started, limit


def time_frames(
    design: str, path: Path, dates: List[str], view_name: str, sample: int
) -> Tuple[List[float], float, int, int]:
    """Seconds per drawn date (in date order, the first one cold), the design's load time, dates drawn, and
    the memory the design's layers took when loaded (resident bytes of this process)."""
    from insarhub_qgis.processing_provider.raster_styling import diverging_renderer

    rss_before = resident_bytes()
    if design == "per-date layers":
        layers, load_s, anchor = per_date_design(path, dates)
        extent, crs = views(anchor)[view_name], anchor.crs()
    else:
        layer, load_s, limit = single_layer_design(path, dates)
        extent, crs = views(layer)[view_name], layer.crs()
    load_rss = resident_bytes() - rss_before
    # the first date tells whether the whole series can be drawn
    plan = list(range(len(dates)))
    times: List[float] = []
    for position, index in enumerate(plan):
        when = date_range(dates[index], dates[index + 1] if index + 1 < len(dates) else None)
        if design == "per-date layers":
            seconds = render(layers, extent, crs, when)
        else:
            layer.setRenderer(diverging_renderer(layer, index + 1, limit, "mm"))
            seconds = render([layer], extent, crs, when)
        times.append(seconds)
        if position == 1 and max(times) > 1.0:
            # slow: the remaining dates are sampled (very slow: three dates in all)
            count = sample if max(times) < 10.0 else 3
            rest = [i for i in frame_plan(dates, True, count) if i > index]
            for later in rest:
                when = date_range(dates[later], dates[later + 1] if later + 1 < len(dates) else None)
                if design == "per-date layers":
                    times.append(render(layers, extent, crs, when))
                else:
                    layer.setRenderer(diverging_renderer(layer, later + 1, limit, "mm"))
                    times.append(render([layer], extent, crs, when))
            break
    from qgis.core import QgsProject

    QgsProject.instance().clear()
    return times, load_s, len(times), load_rss


# ------------------------------------------------------------------------------------------ report
def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pct(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    import numpy as np
    from qgis.core import QgsApplication

    started_all = time.perf_counter()
    load_before = os.getloadavg()[0]
    workroot = Path(tempfile.mkdtemp(prefix="bench-chart-", dir=args.workroot))
    profile = workroot / "profile"
    app = QgsApplication([], True, str(profile))  # GUI: the chart is a Qt widget
    app.initQgis()
    from insarhub_qgis.ui.maptools import read_pixel_series

    try:
        print("writing the displacement in each layout ...", flush=True)
        layouts, dates = write_layouts(args, workroot)
        first = next(iter(layouts.values()))["path"]
        from qgis.core import QgsRasterLayer

        probe = QgsRasterLayer(str(first), "probe", "gdal")
        pixels_rc, points, wgs84 = click_points(probe, args.clicks)
        size_text = f"{probe.width()} x {probe.height()} px, {len(dates)} dates"
        del probe

        # 1. clicks
        clicks: Dict[Tuple[str, str], List[float]] = {}
        values: Dict[Tuple[str, str], List[Any]] = {}
        for layout_key, layout in layouts.items():
            for function_key, function in (
                ("before", baseline_read_pixel_series),
                ("now", read_pixel_series),
            ):
                times, vals = time_clicks(function, layout["path"], points, wgs84)
                clicks[(function_key, layout_key)] = times
                values[(function_key, layout_key)] = vals
                print(
                    f"  clicks, reader {function_key}, layout {layout_key}: p50 {pct(times, 50):.1f} ms, "
                    f"p95 {pct(times, 95):.1f} ms",
                    flush=True,
                )
        reference = values[("before", "before")]
        mismatches = {
            key: sum(
                not np.array_equal(
                    np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"), equal_nan=True
                )
                for a, b in zip(vals, reference)
            )
            for key, vals in values.items()
        }
        example = read_pixel_series(
            QgsRasterLayer(str(layouts["now"]["path"]), "d", "gdal"), points[0], wgs84
        )
        chart_ms = time_chart_redraw(example)

        # 2. frames
        frames: List[Dict[str, Any]] = []
        for layout_key, layout in layouts.items():
            for design in ("per-date layers", "one layer, band follows the date"):
                for view_name in ("whole frame", "full resolution (1000 x 800 px of the raster)"):
                    times, load_s, drawn, load_rss = time_frames(
                        design, layout["path"], dates, view_name, args.slow_frames
                    )
                    frames.append(
                        dict(
                            layout=layout_key,
                            design=design,
                            view=view_name,
                            times=times,
                            load_s=load_s,
                            load_rss=load_rss,
                            drawn=drawn,
                        )
                    )
                    rest = times[1:] or times
                    print(
                        f"  frames, {layout_key}, {design}, {view_name}: first {times[0]:.2f} s, then median "
                        f"{pct(rest, 50):.3f} s, p95 {pct(rest, 95):.3f} s ({drawn} dates; load {load_s:.2f} s)",
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)

    elapsed = time.perf_counter() - started_all
    source = (
        f"the bands of `{args.source}`"
        if args.source
        else "synthetic displacement (a -30 mm/yr bowl, an 8 mm seasonal basin, a correlated 4 mm atmosphere per "
        "date, 1 mm noise, NaN in a lake, a decorrelated patch and the swath edge)"
    )
    lines = [
        f"Displacement GeoTIFF of {size_text}: {source}, written with the plugin's `_write_geotiff` in each "
        f"layout from the same values. {args.clicks} random pixels, clicked in EPSG:4326 (the raster is UTM), "
        "the same pixels for every combination; a freshly loaded layer for each combination.",
        "",
        "### The files",
        "",
        _common.table(
            ["layout", "what", "written by `_write_geotiff` (s)", "size (GiB)"],
            [
                [
                    key,
                    layout["label"].split(": ", 1)[-1],
                    (
                        f"its own writer: {layout['old_writer']}; the file measured copied with gdal.Translate "
                        f"in {_common.seconds(layout['write_s'])}"
                        if "old_writer" in layout
                        else _common.seconds(layout["write_s"])
                    ),
                    f"{layout['bytes'] / GIB:.2f}",
                ]
                for key, layout in layouts.items()
            ],
            "llrr",
        ),
        "",
        "### Click to chart: `read_pixel_series`",
        "",
    ]
    base = clicks[("before", "before")]
    rows = []
    for (function_key, layout_key), times in clicks.items():
        reader = (
            "before (GDAL opens the file on every click, then the provider's identify)"
            if function_key == "before"
            else "now (`core.timeseries.pixels`, file kept open)"
        )
        rows.append(
            [
                reader,
                layout_key,
                f"{pct(times, 50):.1f}",
                f"{pct(times, 95):.1f}",
                f"{max(times):.1f}",
                f"{pct(times, 95) / pct(base, 95):.3f}",
                str(mismatches[(function_key, layout_key)]),
            ]
        )
    lines.append(
        _common.table(
            [
                "reader",
                "layout",
                "p50 (ms)",
                "p95 (ms)",
                "max (ms)",
                "p95 / before-before",
                "clicks with other values",
            ],
            rows,
            "llrrrrr",
        )
    )
    total_p95 = pct(clicks[("now", "now")], 95) + pct(chart_ms, 95)
    lines += [
        "",
        f"The chart's redraw for one more pixel (`ui/chart.py`, matplotlib, 450 x 300 px): p50 {pct(chart_ms, 50):.0f} ms, "
        f"p95 {pct(chart_ms, 95):.0f} ms; click to chart now, p95 of both added: {total_p95:.0f} ms.",
        "",
        "### The dates on the map, one frame per date (1000 x 800 px, offscreen)",
        "",
    ]
    rows = []
    for frame in frames:
        times = frame["times"]
        rest = times[1:] or times
        rows.append(
            [
                frame["design"],
                frame["layout"],
                frame["view"],
                f"{frame['load_s']:.2f}",
                f"{frame['load_rss'] / 2**20:,.0f}",
                f"{times[0]:.3f}",
                f"{pct(rest, 50):.3f}",
                f"{pct(rest, 95):.3f}",
                f"{frame['drawn']}" + ("" if frame["drawn"] == len(dates) else " (sampled)"),
            ]
        )
    lines.append(
        _common.table(
            [
                "design",
                "layout",
                "view",
                "load (s)",
                "load (MiB)",
                "first date (s)",
                "next dates: median (s)",
                "p95 (s)",
                "dates drawn",
            ],
            rows,
            "lllrrrrrr",
        )
    )
    lines += [
        "",
        "'load': making the design's layers (per-date layers: the runtimeseries post-processor, which also "
        "computes the colour range of the last date twice). 'first date': the first frame after loading "
        "(nothing cached).",
        "",
        f"Whole benchmark: {elapsed:.0f} s; 1-minute load average {load_before:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end (shared machine). Temporary files in {workroot.parent} "
        "(deleted). GDAL block cache: GDAL's default (5 % of RAM).",
    ]
    body = "\n".join(lines)
    print("\n" + body)
    if not args.no_write:
        from insarhub_qgis.__about__ import __version__
        from osgeo import gdal
        from qgis.core import Qgis

        versions = {
            "InSARHub for QGIS": __version__,
            "QGIS": Qgis.QGIS_VERSION,
            "GDAL": gdal.__version__,
            "numpy": np.__version__,
            "matplotlib": _common.package_version("matplotlib"),
        }
        path = _common.write_result(
            NAME, "Benchmark: click-to-chart and dates on the map (issue 17)", body, versions
        )
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
