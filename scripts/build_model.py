"""Build models/insar_time_series_from_an_aoi.model3, the graphical model shipped with the provider.

The model is generated (not hand-edited XML) so that it always uses the algorithms' real
parameter names; tests/e2e/test_model_e2e.py runs it end to end against the sandbox.
Usage: .venv/bin/python scripts/build_model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".venv" / "qgis-plugins"))

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsProcessing,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.core import QgsProcessingModelChildParameterSource as Source  # noqa: E402
from qgis.PyQt.QtCore import QPointF  # noqa: E402

MODEL_PATH = ROOT / "models" / "insar_time_series_from_an_aoi.model3"
MODEL_NAME = "InSAR time series from an AOI"


def build() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm(MODEL_NAME, "InSARHub workflow", "insarhub")
    model.setHelpContent({
        "ALG_DESC": (
            "The whole workflow for one stack: search Sentinel-1 over the AOI, keep the chosen stack, select a "
            "connected pair network, submit it to HyP3 (cost checked against your credits), wait for the jobs, "
            "download the products and run MintPy's SBAS time series. Rerunning with the same jobs file never "
            "pays twice."
        ),
        "ALG_CREATOR": "InSARHub",
    })
    inputs = [
        (QgsProcessingParameterFeatureSource("AOI", "Area of interest", [QgsProcessing.TypeVectorPolygon]),
         "Polygons of the area to study, any CRS (selected features only, if ticked)."),
        (QgsProcessingParameterDateTime("START", "Start date", type=QgsProcessingParameterDateTime.Date),
         "First acquisition date (YYYY-MM-DD)."),
        (QgsProcessingParameterDateTime("END", "End date", type=QgsProcessingParameterDateTime.Date),
         "Last acquisition date (YYYY-MM-DD)."),
        (QgsProcessingParameterEnum("PROCESSING_LEVEL", "Product", ["SLC", "BURST"], defaultValue="SLC", usesStaticStrings=True),
         "SLC scenes (for INSAR_GAMMA) or bursts (for the ISCE burst jobs)."),
        (QgsProcessingParameterString("STACK", "Stack (path/frame like 94/210, or a full burst id)"),
         "The one stack to process: run insarhub:searchscenes first to see the stacks over your AOI."),
        (QgsProcessingParameterEnum(
            "JOB_TYPE", "HyP3 job type", ["INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST"],
            defaultValue="INSAR_GAMMA", usesStaticStrings=True),
         "INSAR_GAMMA for SLC pairs, INSAR_ISCE_BURST for burst pairs."),
        (QgsProcessingParameterString("PROJECT_NAME", "HyP3 project name", defaultValue="insarhub"),
         "Prefix of the HyP3 job names (reruns recognise jobs already submitted)."),
        (QgsProcessingParameterAuthConfig("AUTH", "Earthdata login (QGIS authentication)", optional=True),
         "Empty: EARTHDATA_TOKEN, then ~/.netrc."),
        (QgsProcessingParameterNumber("POLL_INTERVAL", "First poll interval (s)", QgsProcessingParameterNumber.Double, defaultValue=30, minValue=0.1),
         "Seconds between the first status polls while waiting for HyP3."),
    ]
    # Parameter help lives in the model's help content (what the modeler's help editor writes).
    model.setHelpContent({**model.helpContent(), **{d.name(): text for d, text in inputs}})
    for row, (definition, helptext) in enumerate(inputs):
        definition.setHelp(helptext)
        parameter = QgsProcessingModelParameter(definition.name())
        parameter.setPosition(QPointF(120, 60 + 70 * row))
        model.addModelParameter(definition, parameter)

    def child(algorithm: str, child_id: str, description: str, row: int, sources: dict, outputs: dict | None = None) -> None:
        step = QgsProcessingModelChildAlgorithm(algorithm)
        step.setChildId(child_id)
        step.setDescription(description)
        step.setPosition(QPointF(480, 60 + 90 * row))
        for name, source in sources.items():
            step.addParameterSources(name, [source])
        # Every other parameter takes the algorithm's own default, as the modeler does.
        algorithm_definition = QgsApplication.processingRegistry().algorithmById(algorithm)
        for definition in algorithm_definition.parameterDefinitions():
            if definition.name() in sources or definition.isDestination() or definition.defaultValue() is None:
                continue
            step.addParameterSources(definition.name(), [Source.fromStaticValue(definition.defaultValue())])
        model_outputs = {}
        for name, title in (outputs or {}).items():
            output = QgsProcessingModelOutput(title)
            output.setChildId(child_id)
            output.setChildOutputName(name)
            output.setPosition(QPointF(820, 60 + 90 * row))
            model_outputs[title] = output
        step.setModelOutputs(model_outputs)
        model.addChildAlgorithm(step)

    child("insarhub:searchscenes", "search", "Search Sentinel-1", 0, {
        "AOI": Source.fromModelParameter("AOI"),
        "START": Source.fromModelParameter("START"),
        "END": Source.fromModelParameter("END"),
        "PROCESSING_LEVEL": Source.fromModelParameter("PROCESSING_LEVEL"),
    }, {"OUTPUT": "Footprints"})
    child("insarhub:filterscenes", "filter", "Keep the stack", 1, {
        "INPUT": Source.fromChildOutput("search", "OUTPUT"),
        "STACKS": Source.fromModelParameter("STACK"),
    })
    child("insarhub:selectpairs", "pairs", "Select pairs", 2, {
        "INPUT": Source.fromChildOutput("filter", "OUTPUT"),
        "MAX_TEMPORAL_BASELINE": Source.fromStaticValue(48),
        "MAX_PERP_BASELINE": Source.fromStaticValue(200),
        "NEIGHBOURS": Source.fromStaticValue(3),
        "FORCE_CONNECTED": Source.fromStaticValue(True),
    }, {"OUTPUT": "Pairs"})
    child("insarhub:submitjobs", "submit", "Submit to HyP3", 3, {
        "PAIRS": Source.fromChildOutput("pairs", "OUTPUT"),
        "JOB_TYPE": Source.fromModelParameter("JOB_TYPE"),
        "PROJECT_NAME": Source.fromModelParameter("PROJECT_NAME"),
        "AUTH": Source.fromModelParameter("AUTH"),
        "DRY_RUN": Source.fromStaticValue(False),
    }, {"JOBS_FILE": "Jobs file"})
    child("insarhub:watchjobs", "watch", "Wait for the jobs", 4, {
        "JOBS_FILE": Source.fromChildOutput("submit", "JOBS_FILE"),
        "AUTH": Source.fromModelParameter("AUTH"),
        "WAIT": Source.fromStaticValue(True),
        "RETRY_FAILED": Source.fromStaticValue(True),
        "POLL_INTERVAL": Source.fromModelParameter("POLL_INTERVAL"),
    })
    child("insarhub:downloadproducts", "download", "Download the products", 5, {
        "JOBS_FILE": Source.fromChildOutput("watch", "JOBS_FILE"),
        "AUTH": Source.fromModelParameter("AUTH"),
    }, {"OUTPUT_FOLDER": "Products folder"})
    child("insarhub:runtimeseries", "timeseries", "MintPy time series", 6, {
        "PRODUCTS_FOLDER": Source.fromChildOutput("download", "OUTPUT_FOLDER"),
    }, {"VELOCITY": "Velocity", "DISPLACEMENT": "Displacement"})
    return model


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    from insarhub_qgis.processing_provider.provider import InsarhubProvider

    provider = InsarhubProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    model = build()
    ok, problems = model.validate()
    if not ok:
        raise SystemExit("The model does not validate: " + "; ".join(problems))
    MODEL_PATH.parent.mkdir(exist_ok=True)
    if not model.toFile(str(MODEL_PATH)):
        raise SystemExit(f"could not write {MODEL_PATH}")
    print(f"Model written: {MODEL_PATH}")
    app.exitQgis()


if __name__ == "__main__":
    main()
