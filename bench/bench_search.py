"""Issue 3: search results to footprint layers, the plugin's way versus OGR reading GeoJSON.

Plugin side (timed end to end): the real ``insarhub:searchscenes`` algorithm run in this
process through Processing, exactly as the toolbox runs it (``Processing.runAlgorithm`` with
``handleAlgorithmResults``): asf_search pages through the loopback CMR stand-in (HTTPS),
the products become records and features in a GeoPackage, the plugin's post-processor loads
it as one layer per stack; then every stack layer's features are iterated once.

Alternative (timed): the same footprints with the same attributes in a GeoJSON file
(written beforehand, untimed) opened with ``QgsVectorLayer(path, 'x', 'ogr')``, added to
the project, and its features iterated once.

Same process, same data, one untimed warm-up of each side, then the median of ``--runs``
interleaved runs. Run: ``.venv/bin/python bench/bench_search.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append("/usr/share/qgis/python/plugins")  # QGIS' own Python plugins: processing

import _common  # noqa: E402

NAME = "bench_search"
RECORDS = 5000
SEED = 20240603

# Breakdown rows of the plugin side: (key, label). Keys are filled by timing wrappers;
# the "rest" rows are differences.
STEPS = [
    ("fetch", "CMR paging: HTTPS round trips + JSON decode (`core.search._fetch_page`)"),
    ("server", "  of which: the stand-in's own server work (`CMRStandIn._search`, same process)"),
    ("parse", "asf_search product parsing (`as_ASFProduct`)"),
    ("search_rest", "search bookkeeping (options, dedupe, sort: rest of `core.search.search`)"),
    ("records", "record conversion (`core.records.record_from_product`)"),
    ("features", "QgsFeature building (`features.make_feature`)"),
    ("gpkg", "GeoPackage writing (sink `addFeature` + commit: rest of `execute`)"),
    ("summary", "stack summary with AOI coverage (`core.stacks.summarize`)"),
    ("framework", "Processing framework (parameter checks, context: rest of `runAlgorithm`)"),
    ("load", "loading layers (`handleAlgorithmResults` + the plugin's post-processor: layer per stack)"),
    ("iterate", "iterating every stack layer's features once"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=RECORDS, help="number of synthetic SLC records")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side (median reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    return parser.parse_args()


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
    """The same footprints, with the plugin's attributes (``record_from_product``), as GeoJSON."""
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

    def __init__(self, stand_in):
        import importlib

        import insarhub_qgis.core.records as records
        import insarhub_qgis.core.search as search
        import insarhub_qgis.core.stacks as stacks
        import insarhub_qgis.processing_provider.search_scenes as search_scenes
        import processing.tools.general  # noqa: F401 (handleAlgorithmResults is passed explicitly)

        # asf_search.search is also a function's name: reach the module through importlib.
        search_generator = importlib.import_module("asf_search.search.search_generator")
        self.totals: dict[str, float] = {}
        self._undo = []
        targets = [
            (search, "_fetch_page", "fetch"),
            (search, "search", "search"),
            (search_generator, "as_ASFProduct", "parse"),
            (records, "record_from_product", "records"),
            (stacks, "summarize", "summary"),
            (search_scenes, "make_feature", "features"),
            (search_scenes.SearchScenesAlgorithm, "execute", "execute"),
            (stand_in, "_search", "server"),
        ]
        for owner, attribute, key in targets:
            original = getattr(owner, attribute)
            self._undo.append((owner, attribute, original))
            setattr(owner, attribute, _common.timed(original, self.totals, key))

    def reset(self) -> None:
        self.totals.clear()

    def undo(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)


def run_plugin(
    extent: str, gpkg: Path, instrumentation: Instrumentation
) -> tuple[float, dict[str, float], int]:
    """One plugin-side run; returns (total seconds, breakdown seconds, features iterated)."""
    from processing.core.Processing import Processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import QgsProcessingFeedback, QgsProcessingOutputLayerDefinition, QgsProject

    project = QgsProject.instance()
    instrumentation.reset()
    totals = instrumentation.totals
    feedback = QgsProcessingFeedback()
    parameters = {
        "EXTENT": extent,
        "PROCESSING_LEVEL": "SLC",
        "OUTPUT": QgsProcessingOutputLayerDefinition(str(gpkg), project),
        "SUMMARY": QgsProcessingOutputLayerDefinition("TEMPORARY_OUTPUT", project),
    }
    start = time.perf_counter()
    results = Processing.runAlgorithm(
        "insarhub:searchscenes",
        parameters,
        onFinish=_common.timed(handleAlgorithmResults, totals, "load"),
        feedback=feedback,
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

    breakdown = dict(totals)
    breakdown["iterate"] = end - ran
    breakdown["search_rest"] = totals["search"] - totals["fetch"] - totals["parse"]
    breakdown["gpkg"] = (
        totals["execute"] - totals["search"] - totals["records"] - totals["features"] - totals["summary"]
    )
    breakdown["framework"] = (ran - start) - totals["execute"] - totals["load"]
    if results.get("COUNT") != count or len(stack_layers) != results.get("STACK_COUNT"):
        raise RuntimeError(
            f"plugin side: COUNT={results.get('COUNT')}, STACK_COUNT={results.get('STACK_COUNT')}, "
            f"but {count} features in {len(stack_layers)} stack layers"
        )
    return end - start, breakdown, count


def run_alternative(geojson: Path) -> tuple[float, int]:
    """One alternative-side run: OGR reads the GeoJSON; returns (seconds, features iterated)."""
    from qgis.core import QgsProject, QgsVectorLayer

    project = QgsProject.instance()
    start = time.perf_counter()
    layer = QgsVectorLayer(str(geojson), "x", "ogr")
    if not layer.isValid():
        raise RuntimeError(f"OGR could not open {geojson}")
    project.addMapLayer(layer)
    count = 0
    for _feature in layer.getFeatures():
        count += 1
    return time.perf_counter() - start, count


def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp_name:
        tmp = Path(tmp_name)
        app, _provider = start_qgis(tmp / "profile")
        try:
            return benchmark(args, tmp)
        finally:
            from qgis.core import QgsProject

            QgsProject.instance().clear()
            app.exitQgis()


def benchmark(args: argparse.Namespace, tmp: Path) -> int:
    import asf_search
    from fakes.cmr import CMRStandIn, synthetic_slc_records
    from qgis.core import Qgis, QgsProject

    asf_search.REPORT_ERRORS = False
    # core.search leaves asf_search's session open after each search (one unclosed socket per
    # run, reported as a ResourceWarning once QGIS has enabled warnings): noted, not shown.
    warnings.filterwarnings("ignore", category=ResourceWarning)
    print(f"Generating {args.records} synthetic SLC records (seed {SEED}) ...", flush=True)
    records = synthetic_slc_records(args.records, SEED)
    stacks = {(r["asf_properties"]["pathNumber"], r["asf_properties"]["frameNumber"]) for r in records}
    extent = footprint_extent(records)
    geojson = tmp / "footprints.geojson"
    write_geojson(records, geojson)  # untimed: the alternative's input

    with CMRStandIn(records, tmpdir=tmp) as stand_in:
        served_mb = sum(len(e.item_json) for e in stand_in._entries) / 1e6
        os.environ["INSARHUB_CMR_HOST"] = stand_in.host
        os.environ["INSARHUB_CA_BUNDLE"] = stand_in.ca_file
        instrumentation = Instrumentation(stand_in)
        try:
            plugin_runs, alternative_runs, breakdowns = [], [], []
            gpkg_mb = 0.0
            for run in range(args.runs + 1):  # run 0: warm-up of both sides, not counted
                label = "warm-up" if run == 0 else f"run {run}/{args.runs}"
                gpkg = tmp / f"footprints-{run}.gpkg"
                seconds, breakdown, count = run_plugin(extent, gpkg, instrumentation)
                gpkg_mb = gpkg.stat().st_size / 1e6
                QgsProject.instance().clear()
                pages = sum(1 for r in stand_in.requests if r.get("returned") is not None)
                stand_in.clear_requests()
                alt_seconds, alt_count = run_alternative(geojson)
                QgsProject.instance().clear()
                if count != alt_count:
                    raise RuntimeError(f"plugin side iterated {count} features, alternative {alt_count}")
                print(
                    f"  {label}: plugin {seconds:.2f} s ({count} features, {pages} CMR pages), "
                    f"alternative {alt_seconds:.2f} s",
                    flush=True,
                )
                if run:
                    plugin_runs.append(seconds)
                    alternative_runs.append(alt_seconds)
                    breakdowns.append(breakdown)
                gpkg.unlink(missing_ok=True)
        finally:
            instrumentation.undo()

    plugin = _common.median(plugin_runs)
    alternative = _common.median(alternative_runs)
    server = _common.median([b.get("server", 0.0) for b in breakdowns])
    result_table = _common.table(
        ["side", "median (s)", "runs (s)", "ratio to alternative"],
        [
            [
                "plugin: `insarhub:searchscenes` (loopback CMR) → GeoPackage → layer per stack → features iterated",
                _common.seconds(plugin),
                ", ".join(_common.seconds(s) for s in plugin_runs),
                f"**{plugin / alternative:.1f}x**",
            ],
            [
                "alternative: `QgsVectorLayer(GeoJSON, 'x', 'ogr')` → project → features iterated",
                _common.seconds(alternative),
                ", ".join(_common.seconds(s) for s in alternative_runs),
                "1.0x",
            ],
        ],
        align="lrrr",
    )
    rows = []
    for key, label in STEPS:
        value = _common.median([b.get(key, 0.0) for b in breakdowns])
        rows.append(
            [label, _common.seconds(value), f"{100 * value / plugin:.0f}%", f"{value / alternative:.1f}x"]
        )
    breakdown_table = _common.table(
        ["plugin step (median of the runs)", "s", "share of plugin total", "vs whole alternative"],
        rows,
        align="lrrr",
    )
    body = "\n".join(
        [
            f"{args.records} synthetic Sentinel-1 SLC records (`synthetic_slc_records({args.records}, {SEED})`, "
            f"{len(stacks)} stacks), {served_mb:.0f} MB of UMM JSON served by the loopback CMR stand-in "
            f"(asf_search pages of 250 over HTTPS on 127.0.0.1); GeoPackage {gpkg_mb:.0f} MB, "
            f"GeoJSON {geojson.stat().st_size / 1e6:.0f} MB (same 22 attributes, including the `umm` "
            f"and `cmrMeta` JSON text). Both sides end with the same {args.records} features iterated once. "
            f"One untimed warm-up of each side, then {args.runs} interleaved runs in one process; "
            "median reported.",
            "",
            result_table,
            "",
            f"Without the stand-in's own server work (which real CMR replaces by its own latency) the "
            f"plugin side takes {_common.seconds(plugin - server)} s, "
            f"{(plugin - server) / alternative:.1f}x the alternative.",
            "",
            "Breakdown of the plugin side (timing wrappers around the named functions; rows marked "
            "'rest' are differences; the stand-in's server runs in a thread of the same process, so "
            "its work is inside the CMR paging row, as real CMR latency would be):",
            "",
            breakdown_table,
        ]
    )
    print()
    print(body)
    if not args.no_write:
        import numpy
        import requests
        import shapely
        from insarhub_qgis.__about__ import __version__
        from osgeo import gdal

        versions = {
            "InSARHub for QGIS": __version__,
            "QGIS": Qgis.QGIS_VERSION,
            "GDAL": gdal.__version__,
            "asf_search": _common.package_version("asf_search"),
            "ciso8601 (asf_search's fast date parser, optional)": _common.package_version("ciso8601"),
            "shapely": shapely.__version__,
            "numpy": numpy.__version__,
            "requests": requests.__version__,
        }
        path = _common.write_result(
            NAME, "Benchmark: search results to footprint layers (issue 3)", body, versions
        )
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
