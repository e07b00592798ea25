"""insarhub:filterscenes: keep the stacks, dates and season you want."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .aoi_params import aoi_parameters, resolve_aoi
from .base import InsarhubAlgorithm, with_help
from .features import WGS84, make_feature, read_records
from .footprints import footprint_source
from .search_scenes import date_parameter, date_value


class FilterScenesAlgorithm(InsarhubAlgorithm):
    NAME = "filterscenes"
    DISPLAY_NAME = "Filter scenes"
    GROUP = "1 Search"
    GROUP_ID = "search"
    REQUIRES = ("asf_search",)  # and shapely, which comes with it

    INPUT = "INPUT"
    STACKS = "STACKS"
    START = "START"
    END = "END"
    MONTHS = "MONTHS"
    MIN_COVERAGE = "MIN_COVERAGE"
    OUTPUT = "OUTPUT"
    COUNT = "COUNT"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(self.INPUT, "Footprints", [QgsProcessing.SourceType.TypeVectorPolygon]),
                "Footprints written by insarhub:searchscenes, or a GeoPackage saved from them.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.STACKS, "Stacks", optional=True),
                "Stacks to keep: path/frame pairs (100/466,93/121), stack ids (P100_F466) or full burst ids "
                "(174_372326_IW3). Empty: all stacks.",
            )
        )
        self.addParameter(date_parameter(self.START, "Start date", "Drop acquisitions before this date (YYYY-MM-DD)."))
        self.addParameter(date_parameter(self.END, "End date", "Drop acquisitions after this date (whole day, YYYY-MM-DD)."))
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.MONTHS, "Months", optional=True),
                "Keep only acquisitions in these months, e.g. 5,6,7,8,9 or 5-9 (snow-free season); ranges "
                "may wrap the year (11-2). Empty: all months.",
            )
        )
        for parameter in aoi_parameters():
            parameter.setDescription(parameter.description() + " for coverage")
            self.addParameter(parameter)
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(
                    self.MIN_COVERAGE, "Minimum AOI coverage (%)", QgsProcessingParameterNumber.Type.Double,
                    defaultValue=0, minValue=0, maxValue=100,
                ),
                "Drop footprints that cover less than this percent of the AOI (needs an AOI). 0 keeps all.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSink(self.OUTPUT, "Filtered footprints", QgsProcessing.SourceType.TypeVectorPolygon),
                "The footprints that pass every filter, with all their fields.",
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, "Number of footprints kept"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.stacks import SceneFilter

        source = footprint_source(self, parameters, self.INPUT, context, ("stack", "startTime"))
        aoi = resolve_aoi(self, parameters, context)
        criteria = SceneFilter.build(
            stacks=self.parameterAsString(parameters, self.STACKS, context),
            start=date_value(self, parameters, self.START, context),
            end=date_value(self, parameters, self.END, context),
            months=self.parameterAsString(parameters, self.MONTHS, context),
            min_coverage=self.parameterAsDouble(parameters, self.MIN_COVERAGE, context),
            aoi_geometry=aoi.geometry if aoi else None,
        )
        rows = list(read_records(source, context, feedback))
        known = {record.get("stack") for record, _ in rows}
        unknown = [s for s in criteria.stacks if s not in known]
        if unknown:
            raise QgsProcessingException(
                f"The stack(s) {', '.join(unknown)} are not in the input; it has {', '.join(sorted(k for k in known if k)) or 'no stacks'}."
            )
        kept = [(r, g) for r, g in rows if criteria.keep(r, g)]
        fields = source.fields()
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, source.wkbType(), WGS84)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for record, geometry in kept:
            sink.addFeature(make_feature(fields, record, geometry), QgsFeatureSink.Flag.FastInsert)
        del sink  # the output is committed now, not whenever this frame goes (see select_pairs.py)
        feedback.pushInfo(f"Kept {len(kept)} of {len(rows)} footprints.")
        if not kept:
            feedback.pushWarning("No footprint passed the filters; relax the stacks, dates, months or coverage.")
        return {self.OUTPUT: dest_id, self.COUNT: len(kept)}

