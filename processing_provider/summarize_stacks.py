"""insarhub:summarizestacks: one row per stack of a footprint layer."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsWkbTypes,
)

from ..core.schema import SUMMARY_FIELDS
from .aoi_params import aoi_parameters, resolve_aoi
from .base import InsarhubAlgorithm, with_help
from .features import make_feature, make_fields, read_records
from .footprints import footprint_source


class SummarizeStacksAlgorithm(InsarhubAlgorithm):
    NAME = "summarizestacks"
    DISPLAY_NAME = "Summarize stacks"
    GROUP = "1 Search"
    GROUP_ID = "search"
    REQUIRES = ("asf_search",)  # and shapely, which comes with it

    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    STACK_COUNT = "STACK_COUNT"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(self.INPUT, "Footprints", [QgsProcessing.SourceType.TypeVectorPolygon]),
                "Footprints written by insarhub:searchscenes (or filterscenes), or a GeoPackage saved from them.",
            )
        )
        for parameter in aoi_parameters():
            parameter.setDescription(parameter.description() + " for coverage")
            self.addParameter(parameter)
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSink(self.OUTPUT, "Stack summary", QgsProcessing.SourceType.TypeVector),
                "Table: stack, pathNumber, frameNumber, burstId, flightDirection, count (distinct dates), "
                "firstDate, lastDate, aoiCoverage (percent of the AOI covered by the stack's footprints).",
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.STACK_COUNT, "Number of stacks"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core import stacks as core_stacks

        source = footprint_source(self, parameters, self.INPUT, context, ("stack", "startTime", "flightDirection"))
        aoi = resolve_aoi(self, parameters, context)
        rows = list(read_records(source, context, feedback))
        summaries = core_stacks.summarize(rows, aoi.geometry if aoi else None)
        fields = make_fields(SUMMARY_FIELDS)
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.Type.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for summary in summaries:
            sink.addFeature(make_feature(fields, summary.as_dict()), QgsFeatureSink.Flag.FastInsert)
        del sink  # the output is committed now, not whenever this frame goes (see select_pairs.py)
        if summaries:
            feedback.pushInfo(core_stacks.format_summary(summaries))
        else:
            feedback.pushWarning("The footprint layer has no features: there is nothing to summarise.")
        return {self.OUTPUT: dest_id, self.STACK_COUNT: len(summaries)}
