"""Build the graphical models shipped with the provider (models/*.model3):

* ``InSAR time series from an AOI`` (insar_time_series_from_an_aoi.model3): one stack, AOI to velocity;
* ``InSAR vertical and east from two stacks`` (insar_vertical_and_east_from_two_stacks.model3): an
  ascending and a descending stack each from AOI to velocity, then insarhub:decompose.

The models are generated (not hand-edited XML) so that they always use the algorithms' real
parameter names; tests/e2e/test_model_e2e.py runs them end to end against the sandbox.
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
TWO_STACKS_PATH = ROOT / "models" / "insar_vertical_and_east_from_two_stacks.model3"
TWO_STACKS_NAME = "InSAR vertical and east from two stacks"


def _inputs(model: QgsProcessingModelAlgorithm, inputs: list) -> None:
    """Add the model's inputs; their help goes into the model's help content (what the modeler's help
    editor writes)."""
    model.setHelpContent({**model.helpContent(), **{d.name(): text for d, text in inputs}})
    for row, (definition, helptext) in enumerate(inputs):
        definition.setHelp(helptext)
        parameter = QgsProcessingModelParameter(definition.name())
        parameter.setPosition(QPointF(120, 60 + 70 * row))
        model.addModelParameter(definition, parameter)


def _common_inputs(stacks: list) -> list:
    """AOI, dates, product level, the stack parameter(s), job type, project, credentials, polling."""
    return [
        (QgsProcessingParameterFeatureSource("AOI", "Area of interest", [QgsProcessing.TypeVectorPolygon]),
         "Polygons of the area to study, any CRS (selected features only, if ticked)."),
        (QgsProcessingParameterDateTime("START", "Start date", type=QgsProcessingParameterDateTime.Date),
         "First acquisition date (YYYY-MM-DD)."),
        (QgsProcessingParameterDateTime("END", "End date", type=QgsProcessingParameterDateTime.Date),
         "Last acquisition date (YYYY-MM-DD)."),
        (QgsProcessingParameterEnum("PROCESSING_LEVEL", "Product", ["SLC", "BURST"], defaultValue="SLC", usesStaticStrings=True),
         "SLC scenes (for INSAR_GAMMA) or bursts (for the ISCE burst jobs)."),
        *stacks,
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


def _child(model: QgsProcessingModelAlgorithm, algorithm: str, child_id: str, description: str, position: tuple,
           sources: dict, outputs: dict | None = None) -> None:
    """One step; every parameter not in ``sources`` takes the algorithm's own default, as the modeler does.
    A list in ``sources`` gives several sources (e.g. the layers of a multiple-layer parameter)."""
    column, row = position
    step = QgsProcessingModelChildAlgorithm(algorithm)
    step.setChildId(child_id)
    step.setDescription(description)
    step.setPosition(QPointF(480 + 380 * column, 60 + 90 * row))
    for name, source in sources.items():
        step.addParameterSources(name, source if isinstance(source, list) else [source])
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
        output.setPosition(QPointF(820 + 380 * column, 60 + 90 * row))
        model_outputs[title] = output
    step.setModelOutputs(model_outputs)
    model.addChildAlgorithm(step)


def _stack_chain(model: QgsProcessingModelAlgorithm, search: str, stack_parameter: str, suffix: str, column: int,
                 label: str, outputs: dict, temporary: tuple = ()) -> str:
    """filter -> pairs -> submit -> watch -> download -> runtimeseries for one stack; returns the time
    series child's id. ``outputs``: child-id suffix -> {output name: model output title}."""
    ids = {name: f"{name}{suffix}" for name in ("filter", "pairs", "submit", "watch", "download", "timeseries")}

    def titled(name: str) -> dict:
        return {key: f"{title}{label}" for key, title in outputs.get(name, {}).items()}

    _child(model, "insarhub:filterscenes", ids["filter"], f"Keep the stack{label}", (column, 1), {
        "INPUT": Source.fromChildOutput(search, "OUTPUT"),
        "STACKS": Source.fromModelParameter(stack_parameter),
    })
    _child(model, "insarhub:selectpairs", ids["pairs"], f"Select pairs{label}", (column, 2), {
        "INPUT": Source.fromChildOutput(ids["filter"], "OUTPUT"),
        "MAX_TEMPORAL_BASELINE": Source.fromStaticValue(48),
        "MAX_PERP_BASELINE": Source.fromStaticValue(200),
        "NEIGHBOURS": Source.fromStaticValue(3),
        "FORCE_CONNECTED": Source.fromStaticValue(True),
    }, titled("pairs"))
    _child(model, "insarhub:submitjobs", ids["submit"], f"Submit to HyP3{label}", (column, 3), {
        "PAIRS": Source.fromChildOutput(ids["pairs"], "OUTPUT"),
        "JOB_TYPE": Source.fromModelParameter("JOB_TYPE"),
        "PROJECT_NAME": Source.fromModelParameter("PROJECT_NAME"),
        "AUTH": Source.fromModelParameter("AUTH"),
        "DRY_RUN": Source.fromStaticValue(False),
    }, titled("submit"))
    _child(model, "insarhub:watchjobs", ids["watch"], f"Wait for the jobs{label}", (column, 4), {
        "JOBS_FILE": Source.fromChildOutput(ids["submit"], "JOBS_FILE"),
        "AUTH": Source.fromModelParameter("AUTH"),
        "WAIT": Source.fromStaticValue(True),
        "RETRY_FAILED": Source.fromStaticValue(True),
        "POLL_INTERVAL": Source.fromModelParameter("POLL_INTERVAL"),
    })
    _child(model, "insarhub:downloadproducts", ids["download"], f"Download the products{label}", (column, 5), {
        "JOBS_FILE": Source.fromChildOutput(ids["watch"], "JOBS_FILE"),
        "AUTH": Source.fromModelParameter("AUTH"),
    }, titled("download"))
    _child(model, "insarhub:runtimeseries", ids["timeseries"], f"MintPy time series{label}", (column, 6), {
        "PRODUCTS_FOLDER": Source.fromChildOutput(ids["download"], "OUTPUT_FOLDER"),
        **{name: Source.fromStaticValue(QgsProcessing.TEMPORARY_OUTPUT) for name in temporary},
    }, titled("timeseries"))
    return ids["timeseries"]


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
    _inputs(model, _common_inputs([
        (QgsProcessingParameterString("STACK", "Stack (path/frame like 94/210, or a full burst id)"),
         "The one stack to process: run insarhub:searchscenes first to see the stacks over your AOI."),
    ]))
    _child(model, "insarhub:searchscenes", "search", "Search Sentinel-1", (0, 0), {
        "AOI": Source.fromModelParameter("AOI"),
        "START": Source.fromModelParameter("START"),
        "END": Source.fromModelParameter("END"),
        "PROCESSING_LEVEL": Source.fromModelParameter("PROCESSING_LEVEL"),
    }, {"OUTPUT": "Footprints"})
    _stack_chain(model, "search", "STACK", "", 0, "", {
        "pairs": {"OUTPUT": "Pairs"}, "submit": {"JOBS_FILE": "Jobs file"},
        "download": {"OUTPUT_FOLDER": "Products folder"},
        "timeseries": {"VELOCITY": "Velocity", "DISPLACEMENT": "Displacement"},
    })
    return model


def build_two_stacks() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm(TWO_STACKS_NAME, "InSARHub workflow", "insarhub")
    model.setHelpContent({
        "ALG_DESC": (
            "Vertical and east-west motion over an AOI: search Sentinel-1 once, then for an ascending and a "
            "descending stack each select pairs, submit them to HyP3, wait, download and run MintPy's SBAS time "
            "series; finally decompose the two line-of-sight velocities (and displacements at common dates) "
            "into vertical and east with MintPy's asc_desc2horz_vert (insarhub:decompose). Run "
            "insarhub:searchscenes first to see the stacks over your AOI and pick one of each direction."
        ),
        "ALG_CREATOR": "InSARHub",
    })
    _inputs(model, _common_inputs([
        (QgsProcessingParameterString("ASCENDING_STACK", "Ascending stack (path/frame or full burst id)"),
         "An ascending stack over the AOI (see the flightDirection column of insarhub:summarizestacks)."),
        (QgsProcessingParameterString("DESCENDING_STACK", "Descending stack (path/frame or full burst id)"),
         "A descending stack over the same ground."),
    ]))
    _child(model, "insarhub:searchscenes", "search", "Search Sentinel-1", (0, 0), {
        "AOI": Source.fromModelParameter("AOI"),
        "START": Source.fromModelParameter("START"),
        "END": Source.fromModelParameter("END"),
        "PROCESSING_LEVEL": Source.fromModelParameter("PROCESSING_LEVEL"),
    }, {"OUTPUT": "Footprints"})
    per_stack = {"submit": {"JOBS_FILE": "Jobs file"}, "timeseries": {"VELOCITY": "LOS velocity"}}
    # the decomposition finds each velocity's std and displacement beside it: write them too
    siblings = ("VELOCITY_STD", "DISPLACEMENT")
    ascending = _stack_chain(model, "search", "ASCENDING_STACK", "_asc", 0, " (ascending)", per_stack, siblings)
    descending = _stack_chain(model, "search", "DESCENDING_STACK", "_desc", 1, " (descending)", per_stack, siblings)
    _child(model, "insarhub:decompose", "decompose", "Vertical and east", (0, 7), {
        "INPUTS": [Source.fromChildOutput(ascending, "VELOCITY"), Source.fromChildOutput(descending, "VELOCITY")],
        "DISPLACEMENT": Source.fromStaticValue(True),
    }, {
        "VERTICAL": "Vertical velocity", "EAST": "East velocity", "VERTICAL_STD": "Vertical velocity std",
        "EAST_STD": "East velocity std", "MASK": "Mask", "VERTICAL_DISPLACEMENT": "Vertical displacement",
        "EAST_DISPLACEMENT": "East displacement",
    })
    return model


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    from insarhub_qgis.processing_provider.provider import InsarhubProvider

    provider = InsarhubProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    MODEL_PATH.parent.mkdir(exist_ok=True)
    for model, path in ((build(), MODEL_PATH), (build_two_stacks(), TWO_STACKS_PATH)):
        ok, problems = model.validate()
        if not ok:
            raise SystemExit(f"The model {model.name()} does not validate: " + "; ".join(problems))
        if not model.toFile(str(path)):
            raise SystemExit(f"could not write {path}")
        print(f"Model written: {path}")
    app.exitQgis()


if __name__ == "__main__":
    main()
