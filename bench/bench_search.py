"""Issues 3, 17 (item 3) and 14 (item 7): search results to footprint layers, against OGR; and memory.

Speed. Plugin side (timed end to end): the real ``insarhub:searchscenes`` algorithm run in this
process through Processing, exactly as the toolbox runs it (``Processing.runAlgorithm`` with
``handleAlgorithmResults``): it pages through the loopback CMR stand-in (HTTPS), builds the
footprints straight from the UMM JSON, writes them to a GeoPackage as they arrive, and the
plugin's post-processor loads one layer per stack; then every stack layer's features are
iterated once. Alternative (timed): the same footprints with the same attributes in a GeoJSON
file (written beforehand, untimed) opened with ``QgsVectorLayer(path, 'x', 'ogr')``, added to
the project, and its features iterated once. Same data, one untimed warm-up of each side, then
the median of ``--runs`` interleaved runs.

The CMR stand-in runs in a process of its own, so its work does not compete with the plugin for
this process; "excluding the server's own time" subtracts, for every page, the time from sending
the request until the answer's headers arrived (``requests``' ``Response.elapsed``: the
stand-in builds a whole page before it answers), which real CMR replaces by its own latency.
What remains is everything this process does: receiving and reading the pages, building,
writing, loading and iterating.

Memory (``--memory``, default 50,000 records). A fresh process runs the algorithm on that many
records into a GeoPackage and reports its peak resident memory (``VmHWM``) and what QGIS and the
imports alone take; the same is measured for the pipeline the plugin had before (every record an
asf_search product held in memory, then written). The stand-in again runs in its own process.

Run: ``.venv/bin/python bench/bench_search.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append("/usr/share/qgis/python/plugins")  # QGIS' own Python plugins: processing

import _common  # noqa: E402

NAME = "bench_search"
RECORDS = 5000
MEMORY_RECORDS = 50_000
SEED = 20240603
TARGET = 1.2  # issue 17: at most 1.2x OGR, the server's own time excluded

# Breakdown rows of the plugin side: (key, label). "rest" rows are differences.
STEPS = [
    ("server", "CMR paging: request until the answer's headers (the stand-in's own work; excluded)"),
    ("receive", "CMR paging: receiving the pages over HTTPS (rest of `core.search._fetch_page`)"),
    ("read", "reading the pages (`core.records.read_cmr_page`: msgspec, or the standard library)"),
    ("records", "footprint records from the UMM (`RawItem.footprint`)"),
    ("write", "QgsFeature building + GeoPackage writing (rest of `execute`)"),
    ("summary", "stack summary with AOI coverage (`core.stacks.summarize`)"),
    ("framework", "Processing framework (parameter checks, context: rest of `runAlgorithm`)"),
    ("load", "loading layers (`handleAlgorithmResults` + the plugin's post-processor: layer per stack)"),
    ("iterate", "iterating every stack layer's features once"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=RECORDS, help="synthetic SLC records for the speed part")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side (median reported)")
    parser.add_argument(
        "--memory", type=int, default=MEMORY_RECORDS, help="records for the memory part (0: skip it)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    # internal modes: the stand-in server process and the memory child process
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", choices=["plugin", "previous"], help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--extent", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args()


# ---- the stand-in, in a process of its own ------------------------------------------------------


def serve(records: int) -> int:
    """Serve ``records`` synthetic records until stdin closes; print host and CA file first."""
    _common.use_plugin_and_fakes()
    from fakes.cmr import CMRStandIn, synthetic_slc_records

    items = synthetic_slc_records(records, SEED)
    with tempfile.TemporaryDirectory(prefix="bench-search-cmr-") as tmp, CMRStandIn(items, tmpdir=tmp) as stand_in:
        served = sum(len(e.item_json) for e in stand_in._entries)
        print(json.dumps({"host": stand_in.host, "ca_file": stand_in.ca_file, "bytes": served}), flush=True)
        sys.stdin.read()  # until the parent closes it
    return 0


class Server:
    """The CMR stand-in in a child process."""

    def __init__(self, records: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(records)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(self.proc.stdout.readline())
        self.host, self.ca_file, self.bytes = info["host"], info["ca_file"], info["bytes"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(60)


# ---- shared ---------------------------------------------------------------------------------------


def start_qgis(profile: Path):
    from qgis.core import QgsApplication

    app = QgsApplication([], False, str(profile))
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from insarhub_qgis.processing_provider.provider import InsarhubProvider

    provider = InsarhubProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    return app, provider


def footprint_extent(records: list[dict]) -> str:
    """An EXTENT parameter (EPSG:4326) around every record's footprint, with a small margin."""
    lons, lats = [], []
    for record in records:
        geometry = record["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]
        for polygon in geometry["GPolygons"]:
            for point in polygon["Boundary"]["Points"]:
                lons.append(point["Longitude"])
                lats.append(point["Latitude"])
    margin = 0.05
    return f"{min(lons) - margin},{max(lons) + margin},{min(lats) - margin},{max(lats) + margin} [EPSG:4326]"


def write_geojson(records: list[dict], path: Path) -> None:
    """The same footprints, with the same attributes (asf_search's reading of them), as GeoJSON."""
    from asf_search import ASFSession
    from asf_search.search.search_generator import as_ASFProduct
    from insarhub_qgis.core.records import record_from_product
    from insarhub_qgis.core.schema import FOOTPRINT_FIELD_NAMES
    from shapely.geometry import mapping

    session = ASFSession()
    features = []
    for item in records:
        product = as_ASFProduct({"umm": item["umm"], "meta": item["meta"]}, session=session)
        record, geometry = record_from_product(product)
        features.append(
            {
                "type": "Feature",
                "properties": {name: record.get(name) for name in FOOTPRINT_FIELD_NAMES},
                "geometry": mapping(geometry),
            }
        )
    with path.open("w", encoding="utf-8") as stream:
        json.dump({"type": "FeatureCollection", "features": features}, stream)


class Instrumentation:
    """Timing wrappers around the plugin's steps (module attributes, restored by ``undo``)."""

    def __init__(self) -> None:
        import insarhub_qgis.core.records as records
        import insarhub_qgis.core.search as search
        import insarhub_qgis.core.stacks as stacks
        import insarhub_qgis.processing_provider.search_scenes as search_scenes

        self.totals: dict[str, float] = {}
        self._undo: list[tuple[Any, str, Any]] = []
        fetch = search._fetch_page
        totals = self.totals

        def fetch_page(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            page = fetch(*args, **kwargs)
            totals["fetch"] = totals.get("fetch", 0.0) + time.perf_counter() - start
            totals["server"] = totals.get("server", 0.0) + page.server_s
            return page

        self._set(search, "_fetch_page", fetch_page)
        self._set(search, "read_cmr_page", _common.timed(search.read_cmr_page, totals, "read"))
        self._set(records.RawItem, "footprint", _common.timed(records.RawItem.footprint, totals, "records"))
        self._set(stacks, "summarize", _common.timed(stacks.summarize, totals, "summary"))
        execute = search_scenes.SearchScenesAlgorithm.execute
        self._set(search_scenes.SearchScenesAlgorithm, "execute", _common.timed(execute, totals, "execute"))

    def _set(self, owner: Any, attribute: str, value: Any) -> None:
        self._undo.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, value)

    def reset(self) -> None:
        self.totals.clear()

    def undo(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)


def run_plugin(extent: str, gpkg: Path, instrumentation: Instrumentation) -> tuple[float, float, dict[str, float], int]:
    """One plugin-side run: (seconds, process CPU seconds, breakdown, features iterated)."""
    from processing.core.Processing import Processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import QgsProcessingFeedback, QgsProcessingOutputLayerDefinition, QgsProject

    project = QgsProject.instance()
    instrumentation.reset()
    totals = instrumentation.totals
    parameters = {
        "EXTENT": extent,
        "PROCESSING_LEVEL": "SLC",
        "OUTPUT": QgsProcessingOutputLayerDefinition(str(gpkg), project),
        "SUMMARY": QgsProcessingOutputLayerDefinition("TEMPORARY_OUTPUT", project),
    }
    cpu = time.process_time()
    start = time.perf_counter()
    results = Processing.runAlgorithm(
        "insarhub:searchscenes",
        parameters,
        onFinish=_common.timed(handleAlgorithmResults, totals, "load"),
        feedback=QgsProcessingFeedback(),
    )
    ran = time.perf_counter()
    stack_layers = [
        node.layer()
        for group in project.layerTreeRoot().findGroups()
        if group.name().startswith("InSARHub search")
        for node in group.findLayers()
        if node.layer() is not None and node.layer().subsetString().startswith('"stack"')
    ]
    count = 0
    for layer in stack_layers:
        for _feature in layer.getFeatures():
            count += 1
    end = time.perf_counter()
    cpu = time.process_time() - cpu

    breakdown = dict(totals)
    breakdown["iterate"] = end - ran
    breakdown["receive"] = totals["fetch"] - totals["server"] - totals.get("read", 0.0)
    breakdown["write"] = totals["execute"] - totals["fetch"] - totals.get("records", 0.0) - totals["summary"]
    breakdown["framework"] = (ran - start) - totals["execute"] - totals["load"]
    if results.get("COUNT") != count or len(stack_layers) != results.get("STACK_COUNT"):
        raise RuntimeError(
            f"plugin side: COUNT={results.get('COUNT')}, STACK_COUNT={results.get('STACK_COUNT')}, "
            f"but {count} features in {len(stack_layers)} stack layers"
        )
    return end - start, cpu, breakdown, count


def run_alternative(geojson: Path) -> tuple[float, float, int]:
    """One alternative-side run: OGR reads the GeoJSON; returns (seconds, CPU seconds, features)."""
    from qgis.core import QgsProject, QgsVectorLayer

    project = QgsProject.instance()
    cpu = time.process_time()
    start = time.perf_counter()
    layer = QgsVectorLayer(str(geojson), "x", "ogr")
    if not layer.isValid():
        raise RuntimeError(f"OGR could not open {geojson}")
    project.addMapLayer(layer)
    count = 0
    for _feature in layer.getFeatures():
        count += 1
    return time.perf_counter() - start, time.process_time() - cpu, count


# ---- memory ---------------------------------------------------------------------------------------


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(mode: str, host: str, ca_file: str, extent: str, out: Path) -> int:
    """Run one search of every served record into ``out``; print peak RSS as JSON."""
    _common.use_plugin_and_fakes()
    os.environ["INSARHUB_CMR_HOST"] = host
    os.environ["INSARHUB_CA_BUNDLE"] = ca_file
    warnings.filterwarnings("ignore", category=ResourceWarning)
    with tempfile.TemporaryDirectory(prefix="bench-search-mem-") as tmp:
        app, _provider = start_qgis(Path(tmp) / "profile")
        import processing  # noqa: F401 (QGIS' processing plugin, for processing.run)
        from qgis.core import QgsProcessingFeedback

        base = _rss_mb("VmRSS")
        start = time.perf_counter()
        if mode == "plugin":
            from processing.core.Processing import Processing

            results = Processing.runAlgorithm(
                "insarhub:searchscenes", {"EXTENT": extent, "OUTPUT": str(out)}, feedback=QgsProcessingFeedback()
            )
            count = results["COUNT"]
        else:  # the pipeline before: every record an asf_search product in memory, then written
            from insarhub_qgis.core import aoi as core_aoi
            from insarhub_qgis.core import records as core_records
            from insarhub_qgis.core.config import resolve_endpoints
            from insarhub_qgis.core.search import SearchRequest, search
            from osgeo import ogr, osr

            west, east, south, north = (float(v) for v in extent.split(" ")[0].split(","))
            result = search(SearchRequest(aoi=core_aoi.from_bbox([west, south, east, north])), resolve_endpoints({}))
            rows = [core_records.record_from_product(p) for p in result.products]
            srs = osr.SpatialReference()
            srs.ImportFromEPSG(4326)
            ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(out))
            layer = ds.CreateLayer("footprints", srs, ogr.wkbPolygon)
            for name in ("sceneName", "umm", "cmrMeta", "stack"):
                layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
            layer.StartTransaction()
            for record, geometry in rows:
                feature = ogr.Feature(layer.GetLayerDefn())
                for name in ("sceneName", "umm", "cmrMeta", "stack"):
                    feature.SetField(name, record[name])
                feature.SetGeometry(ogr.CreateGeometryFromWkb(geometry.wkb))
                layer.CreateFeature(feature)
            layer.CommitTransaction()
            ds = None
            count = len(rows)
        seconds = time.perf_counter() - start
        print(json.dumps({"count": count, "base_mb": base, "peak_mb": _rss_mb("VmHWM"), "seconds": seconds}), flush=True)
        app.exitQgis()
    os._exit(0)  # QGIS 3.22 may crash while Python tears it down; everything is reported


def measure_memory(records: int, tmp: Path) -> dict[str, dict[str, float]]:
    _common.use_plugin_and_fakes()
    from fakes.cmr import synthetic_slc_records

    extent = footprint_extent(synthetic_slc_records(min(records, 2000), SEED))
    # the synthetic stacks all sit where the first 2,000 records do (6 stacks)
    server = Server(records)
    try:
        out: dict[str, dict[str, float]] = {"served_mb": {"value": server.bytes / 1e6}}
        for mode in ("plugin", "previous"):
            gpkg = tmp / f"memory-{mode}.gpkg"
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", mode, "--host", server.host, "--ca", server.ca_file,
                 "--extent", extent, "--out", str(gpkg)],
                capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if not lines:
                raise RuntimeError(f"memory child ({mode}) failed: {done.stderr[-2000:]}")
            out[mode] = json.loads(lines[-1])
            out[mode]["gpkg_mb"] = gpkg.stat().st_size / 1e6 if gpkg.exists() else float("nan")
            print(f"  memory, {mode}: {out[mode]}", flush=True)
    finally:
        server.close()
    return out


# ---- the driver -----------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    if args.serve:
        return serve(args.serve)
    if args.memory_child:
        return memory_child(args.memory_child, args.host, args.ca, args.extent, Path(args.out))
    _common.use_plugin_and_fakes()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp_name:
        tmp = Path(tmp_name)
        memory = measure_memory(args.memory, tmp) if args.memory else None
        app, _provider = start_qgis(tmp / "profile")
        try:
            return benchmark(args, tmp, memory)
        finally:
            from qgis.core import QgsProject

            QgsProject.instance().clear()
            app.exitQgis()


def _speed_runs(args: argparse.Namespace, tmp: Path, extent: str, geojson: Path, fast: bool) -> dict[str, Any]:
    """Interleaved runs of both sides; ``fast=False`` turns msgspec off (the standard library reads)."""
    import insarhub_qgis.core.records as records
    from qgis.core import QgsProject

    saved = records._FAST
    records._FAST = records._msgspec_types() if fast else None
    instrumentation = Instrumentation()
    plugin_runs, plugin_cpu, own_runs, alternative_runs, alternative_cpu, breakdowns = [], [], [], [], [], []
    try:
        for run in range(args.runs + 1):  # run 0: warm-up of both sides, not counted
            label = "warm-up" if run == 0 else f"run {run}/{args.runs}"
            gpkg = tmp / f"footprints-{run}.gpkg"
            seconds, cpu, breakdown, count = run_plugin(extent, gpkg, instrumentation)
            QgsProject.instance().clear()
            alt_seconds, alt_cpu, alt_count = run_alternative(geojson)
            QgsProject.instance().clear()
            if count != alt_count:
                raise RuntimeError(f"plugin side iterated {count} features, alternative {alt_count}")
            own = seconds - breakdown["server"]
            print(
                f"  {'msgspec' if fast else 'stdlib'} {label}: plugin {seconds:.2f} s (own {own:.2f} s, "
                f"CPU {cpu:.2f} s), alternative {alt_seconds:.2f} s",
                flush=True,
            )
            if run:
                plugin_runs.append(seconds)
                plugin_cpu.append(cpu)
                own_runs.append(own)
                alternative_runs.append(alt_seconds)
                alternative_cpu.append(alt_cpu)
                breakdowns.append(breakdown)
            gpkg.unlink(missing_ok=True)
    finally:
        instrumentation.undo()
        records._FAST = saved
    return {
        "plugin": plugin_runs,
        "cpu": plugin_cpu,
        "own": own_runs,
        "alternative": alternative_runs,
        "alternative_cpu": alternative_cpu,
        "breakdowns": breakdowns,
    }


def benchmark(args: argparse.Namespace, tmp: Path, memory: dict | None) -> int:
    import insarhub_qgis.core.records as records
    from fakes.cmr import synthetic_slc_records
    from qgis.core import Qgis

    warnings.filterwarnings("ignore", category=ResourceWarning)
    print(f"Generating {args.records} synthetic SLC records (seed {SEED}) ...", flush=True)
    items = synthetic_slc_records(args.records, SEED)
    stacks = {(r["asf_properties"]["pathNumber"], r["asf_properties"]["frameNumber"]) for r in items}
    extent = footprint_extent(items)
    geojson = tmp / "footprints.geojson"
    write_geojson(items, geojson)  # untimed: the alternative's input

    server = Server(args.records)
    os.environ["INSARHUB_CMR_HOST"] = server.host
    os.environ["INSARHUB_CA_BUNDLE"] = server.ca_file
    try:
        fast = _speed_runs(args, tmp, extent, geojson, fast=records._msgspec_types() is not None)
        plain = _speed_runs(args, tmp, extent, geojson, fast=False)
    finally:
        server.close()

    med = _common.median
    alternative = med(fast["alternative"])
    rows = []
    for label, runs in (
        ("plugin: `insarhub:searchscenes` (loopback CMR in its own process) → GeoPackage → layer per stack → features iterated", fast),
        ("the same, msgspec turned off (the standard library reads the pages)", plain),
    ):
        # each plugin side against the alternative runs interleaved with it (same machine load)
        own_alternative = med(runs["alternative"])
        rows.append(
            [
                label,
                _common.seconds(med(runs["plugin"])),
                _common.seconds(med(runs["own"])),
                _common.seconds(own_alternative),
                f"**{med(runs['own']) / own_alternative:.2f}x**",
                f"{med(runs['plugin']) / own_alternative:.2f}x",
                f"{med(runs['cpu']) / med(runs['alternative_cpu']):.2f}x",
            ]
        )
    result_table = _common.table(
        [
            "plugin side",
            "median (s)",
            "without the server's own time (s)",
            "alternative, interleaved (s)",
            "ratio without the server's time (target ≤ 1.2x)",
            "ratio with it",
            "CPU ratio (this process)",
        ],
        rows,
        align="lrrrrrr",
    )
    plugin_total = med(fast["plugin"])
    breakdown_rows = []
    for key, label in STEPS:
        value = med([b.get(key, 0.0) for b in fast["breakdowns"]])
        breakdown_rows.append(
            [label, _common.seconds(value), f"{100 * value / plugin_total:.0f}%", f"{value / alternative:.2f}x"]
        )
    breakdown_table = _common.table(
        ["plugin step (median of the msgspec runs)", "s", "share of plugin total", "vs whole alternative"],
        breakdown_rows,
        align="lrrr",
    )
    lines = [
        f"{args.records} synthetic Sentinel-1 SLC records (`synthetic_slc_records({args.records}, {SEED})`, "
        f"{len(stacks)} stacks), {server.bytes / 1e6:.0f} MB of UMM JSON served over HTTPS on 127.0.0.1 by the "
        f"CMR stand-in in a process of its own (pages of {2000} records); GeoJSON "
        f"{geojson.stat().st_size / 1e6:.0f} MB with the same 22 attributes (including the `umm` and "
        f"`cmrMeta` JSON text). Both sides end with the same {args.records} features iterated once. One "
        f"untimed warm-up of each side, then {args.runs} interleaved runs; median reported. The alternative is "
        "`QgsVectorLayer(GeoJSON, 'x', 'ogr')` → project → features iterated, run between the plugin's runs "
        "(each plugin side is compared with the alternative runs of its own phase). 'Without the "
        "server's own time' subtracts, per page, the time until the answer's headers arrived "
        "(`Response.elapsed`: the stand-in builds a whole page before answering), which real CMR replaces by "
        "its own latency; everything this process does stays in.",
        "",
        result_table,
        "",
        "Breakdown of the plugin side (timing wrappers around the named functions; 'rest' rows are differences):",
        "",
        breakdown_table,
    ]
    if memory:
        plugin, previous = memory["plugin"], memory["previous"]
        lines += [
            "",
            f"### Memory: {plugin['count']:,} records (issue 14, item 7)",
            "",
            f"A fresh process runs the search of {plugin['count']:,} records ({memory['served_mb']['value']:.0f} MB "
            "of UMM JSON, the stand-in in its own process) into a GeoPackage; peak resident memory (`VmHWM`) "
            "of that process, and its memory once QGIS and the plugin were loaded, before the search.",
            "",
            _common.table(
                ["pipeline", "records", "peak RSS (MB)", "before the search (MB)", "time (s)", "GeoPackage (MB)"],
                [
                    [
                        "plugin: `insarhub:searchscenes`, footprints written as the pages arrive (target < 500 MB)",
                        f"{plugin['count']:,}",
                        f"**{plugin['peak_mb']:.0f}**",
                        f"{plugin['base_mb']:.0f}",
                        _common.seconds(plugin["seconds"]),
                        f"{plugin['gpkg_mb']:.0f}",
                    ],
                    [
                        "the pipeline before: every record an asf_search product in memory, then written",
                        f"{previous['count']:,}",
                        f"{previous['peak_mb']:.0f}",
                        f"{previous['base_mb']:.0f}",
                        _common.seconds(previous["seconds"]),
                        f"{previous['gpkg_mb']:.0f}",
                    ],
                ],
                align="lrrrrr",
            ),
        ]
    body = "\n".join(lines)
    print()
    print(body)
    if not args.no_write:
        import numpy
        import requests
        import shapely
        import urllib3
        from insarhub_qgis.__about__ import __version__
        from osgeo import gdal

        versions = {
            "InSARHub for QGIS": __version__,
            "QGIS": Qgis.QGIS_VERSION,
            "GDAL": gdal.__version__,
            "asf_search": _common.package_version("asf_search"),
            "msgspec": _common.package_version("msgspec"),
            "shapely": shapely.__version__,
            "numpy": numpy.__version__,
            "requests": requests.__version__,
            "urllib3": urllib3.__version__,
        }
        path = _common.write_result(
            NAME, "Benchmark: search results to footprint layers (issues 3, 17 and 14)", body, versions
        )
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
