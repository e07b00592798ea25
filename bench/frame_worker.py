"""Worker of bench_frame.py: runs ``insarhub:runtimeseries`` once, as QGIS Processing runs it.

One process per run, so that its memory is measured on its own (the driver samples this process and the
MintPy tree below it) and so that another version of the plugin (``--plugin-root``, e.g. a checkout of
main) can be run by the same driver. Writes one JSON object: the times of the algorithm's
progress texts (``Preparing the products``, ``MintPy step i/n: NAME``, ``Exporting GeoTIFFs``), start and
end, the start and end of its four stages, outputs or the error, written to ``--result``.

    .venv/bin/python bench/frame_worker.py --plugin-root . --products DIR --workdir DIR --outdir DIR \
        --result RESULT.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

OUTPUTS = ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--plugin-root", required=True, help="the plugin folder (a checkout of this repository)"
    )
    parser.add_argument("--products", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--result", required=True, help="JSON file to write the result to")
    parser.add_argument(
        "--mintpy-config", default="", help="MINTPY_CONFIG: a cfg whose keys override the plugin's"
    )
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
    # the plugin under its installed name, from whichever checkout was given
    parent = Path(tempfile.mkdtemp(prefix="frame-worker-plugin-"))
    (parent / "insarhub_qgis").symlink_to(Path(args.plugin_root).resolve(), target_is_directory=True)
    sys.path.insert(0, str(parent))
    sys.path.append("/usr/share/qgis/python/plugins")  # QGIS' own Python plugins: processing

    from qgis.core import QgsApplication, QgsProcessingFeedback

    profile = Path(tempfile.mkdtemp(prefix="frame-worker-profile-"))
    app = QgsApplication([], False, str(profile))
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from insarhub_qgis.processing_provider.provider import InsarhubProvider

    provider = InsarhubProvider()
    QgsApplication.processingRegistry().addProvider(provider)

    # the algorithm imports its stages at run time (from the package, or the export module): time each
    import insarhub_qgis.core.timeseries as timeseries
    import insarhub_qgis.core.timeseries.export as export_module

    timing: dict[str, list[float]] = {}

    def timed(function, key):
        def wrapper(*args, **kwargs):
            begin = time.time()
            try:
                return function(*args, **kwargs)
            finally:
                first = timing.get(key, [begin])[0]
                timing[key] = [first, time.time()]

        return wrapper

    for owner, name, key in (
        (timeseries, "prepare_products", "prepare"),
        (timeseries, "write_config", "config"),
        (timeseries, "run_smallbaseline", "run"),
        (timeseries, "run_segments", "run"),  # newer plugin versions: smallbaselineApp in segments
        (timeseries, "export_results", "export"),
        (export_module, "write_quality_tables", "quality tables"),
    ):
        if hasattr(owner, name):
            setattr(owner, name, timed(getattr(owner, name), key))

    marks: list[tuple[float, str]] = []

    class Feedback(QgsProcessingFeedback):
        def setProgressText(self, text: str) -> None:  # noqa: N802
            marks.append((time.time(), text))
            super().setProgressText(text)

    outdir = Path(args.outdir)
    parameters = {
        "PRODUCTS_FOLDER": args.products,
        "WORKDIR": args.workdir,
        **{key: str(outdir / f"{key.lower()}.tif") for key in OUTPUTS},
    }
    if args.mintpy_config:
        parameters["MINTPY_CONFIG"] = args.mintpy_config
    result: dict = {"parameters": parameters}
    feedback = Feedback()
    started = time.time()
    try:
        outputs = Processing.runAlgorithm("insarhub:runtimeseries", parameters, feedback=feedback)
        result["outputs"] = {
            k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in outputs.items()
        }
    except Exception as exc:  # the driver reports it
        result["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    result["start"] = started
    result["end"] = time.time()
    result["marks"] = marks
    result["timing"] = timing
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    QgsApplication.processingRegistry().removeProvider(provider)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
