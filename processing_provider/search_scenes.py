"""insarhub:searchscenes: search ASF (CMR) for Sentinel-1 SLC scenes or bursts."""

from __future__ import annotations

from array import array
from typing import Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.config import DEFAULT_CMR_HOST
from ..core.schema import FLIGHT_DIRECTIONS, FOOTPRINT_FIELDS, PROCESSING_LEVELS, SUMMARY_FIELDS
from . import styling
from .aoi_params import aoi_parameters, resolve_aoi
from .base import InsarhubAlgorithm, with_help
from .features import WGS84, make_feature, make_fields
from .settings import endpoints


def date_parameter(name: str, description: str, helptext: str) -> QgsProcessingParameterDateTime:
    """An optional date parameter (accepts YYYY-MM-DD from qgis_process and models)."""
    return with_help(
        QgsProcessingParameterDateTime(name, description, type=QgsProcessingParameterDateTime.Type.Date, optional=True),
        helptext,
    )


def date_value(algorithm: Any, parameters: dict, name: str, context: Any) -> str | None:
    """A date parameter as ``YYYY-MM-DD``, or None when not given."""
    if parameters.get(name) in (None, ""):
        return None
    value = algorithm.parameterAsDateTime(parameters, name, context)
    if value is None or not value.isValid():
        raw = str(parameters.get(name))
        return raw  # core parses it and says what is wrong with it
    return value.date().toString("yyyy-MM-dd")


class SearchScenesAlgorithm(InsarhubAlgorithm):
    NAME = "searchscenes"
    DISPLAY_NAME = "Search Sentinel-1 scenes"
    GROUP = "1 Search"
    GROUP_ID = "search"
    REQUIRES = ("asf_search",)

    START = "START"
    END = "END"
    PROCESSING_LEVEL = "PROCESSING_LEVEL"
    FLIGHT_DIRECTION = "FLIGHT_DIRECTION"
    RELATIVE_ORBITS = "RELATIVE_ORBITS"
    FRAMES = "FRAMES"
    POLARIZATION = "POLARIZATION"
    GRANULES = "GRANULES"
    MAX_RESULTS = "MAX_RESULTS"
    OUTPUT = "OUTPUT"
    SUMMARY = "SUMMARY"
    COUNT = "COUNT"
    STACK_COUNT = "STACK_COUNT"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        for parameter in aoi_parameters():
            self.addParameter(parameter)
        self.addParameter(date_parameter(self.START, "Start date", "First acquisition date to include (UTC), YYYY-MM-DD."))
        self.addParameter(date_parameter(self.END, "End date", "Last acquisition date to include (UTC, whole day), YYYY-MM-DD."))
        self.addParameter(
            with_help(
                QgsProcessingParameterEnum(
                    self.PROCESSING_LEVEL, "Product", options=list(PROCESSING_LEVELS), defaultValue="SLC", usesStaticStrings=True
                ),
                "SLC: whole Sentinel-1 IW scenes (for INSAR_GAMMA); BURST: single bursts (for INSAR_ISCE_BURST "
                "and INSAR_ISCE_MULTI_BURST).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterEnum(
                    self.FLIGHT_DIRECTION, "Flight direction", options=list(FLIGHT_DIRECTIONS), defaultValue="ANY", usesStaticStrings=True
                ),
                "Keep only ascending or descending passes; ANY keeps both (listed as separate stacks).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.RELATIVE_ORBITS, "Relative orbits (paths)", optional=True),
                "Comma-separated relative orbit (path) numbers 1-175, ranges allowed: 100,93 or 90-95.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.FRAMES, "Frames", optional=True),
                "Comma-separated ASF frame numbers (as shown in ASF Vertex and in the frameNumber field).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.POLARIZATION, "Polarization", optional=True),
                "VV, VH, HH, HV, VV+VH or HH+HV. For SLCs, VV also finds VV+VH scenes and HH also HH+HV. "
                "Empty: any. Burst stacks should name one polarization (usually VV).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.GRANULES, "Granule names", optional=True, multiLine=True),
                "Explicit SLC scene names or burst names (comma, space or one per line). When given, they "
                "replace the area search; a name that is not found is an error.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(self.MAX_RESULTS, "Maximum number of results", minValue=0, defaultValue=0),
                "Stop after this many records; 0 means no limit.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSink(self.OUTPUT, "Footprints", QgsProcessing.SourceType.TypeVectorPolygon),
                "Footprint polygons in EPSG:4326 with the record of every scene or burst (the umm field "
                "holds the CMR record, so later steps work offline from this file).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSink(
                    self.SUMMARY, "Stack summary", QgsProcessing.SourceType.TypeVector, optional=True, createByDefault=True
                ),
                "One row per stack (as insarhub:summarizestacks writes it), with AOI coverage.",
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, "Number of scenes or bursts"))
        self.addOutput(QgsProcessingOutputNumber(self.STACK_COUNT, "Number of stacks"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core import stacks as core_stacks
        from ..core.search import (
            SearchRequest,
            SearchStats,
            parse_int_list,
            parse_names,
            search_footprints,
            search_notes,
            validate,
        )

        aoi = resolve_aoi(self, parameters, context)
        granules = parse_names(self.parameterAsString(parameters, self.GRANULES, context))
        request = SearchRequest(
            aoi=aoi,
            start=date_value(self, parameters, self.START, context),
            end=date_value(self, parameters, self.END, context),
            processing_level=self.parameterAsEnumString(parameters, self.PROCESSING_LEVEL, context),
            flight_direction=self.parameterAsEnumString(parameters, self.FLIGHT_DIRECTION, context),
            relative_orbits=parse_int_list(self.parameterAsString(parameters, self.RELATIVE_ORBITS, context), "relative orbit"),
            frames=parse_int_list(self.parameterAsString(parameters, self.FRAMES, context), "frame"),
            polarizations=[p for p in self.parameterAsString(parameters, self.POLARIZATION, context).split(",") if p.strip()],
            granules=granules,
            max_results=self.parameterAsInt(parameters, self.MAX_RESULTS, context),
        )
        service = endpoints()
        if service.cmr_host != DEFAULT_CMR_HOST:
            feedback.pushWarning(f"Searching {service.describe('cmr')}.")

        def progress(fetched: int, hits: int) -> None:
            feedback.setProgressText(f"Fetched {fetched} of {hits} records")
            feedback.setProgress(90.0 * fetched / max(hits, 1))

        request = validate(request)  # a bad request is refused before any output exists
        stats = SearchStats()
        footprints: Any = search_footprints(
            request, service, progress=progress, is_cancelled=feedback.isCanceled, log=feedback.pushWarning, stats=stats
        )
        notes: list[str] | None = None
        if request.granules:
            # Named granules are few, and one that is not found is an error: check before writing.
            footprints = list(footprints)
            notes = search_notes(request, stats)
        fields = make_fields(FOOTPRINT_FIELDS)
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.Type.Polygon, WGS84)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        names = fields.names()
        # What the stack summary needs of each record (not its umm) and each stack's rings: the
        # footprints themselves are written as they arrive, so a search of any size holds about
        # one CMR page in memory.
        light: list[tuple[dict[str, Any], Any]] = []
        rings: dict[str, list[Any]] = {}  # per stack: each footprint's ring as a flat array of doubles
        batch: list[QgsFeature] = []

        def flush(target: Any) -> None:
            if batch and not target.addFeatures(batch, QgsFeatureSink.Flag.FastInsert):
                error = target.lastError() if hasattr(target, "lastError") else ""
                raise QgsProcessingException(
                    "Could not write the footprints to the output"
                    + (f": {error}" if error else "")
                    + ". Check that the output folder is writable and has free space."
                )
            batch.clear()

        for footprint in footprints:
            record = footprint.record
            feature = QgsFeature(fields)
            feature.setAttributes([record.get(name) for name in names])
            geometry = QgsGeometry()
            geometry.fromWkb(footprint.wkb())
            feature.setGeometry(geometry)
            batch.append(feature)
            if len(batch) >= 500:
                flush(sink)
            light.append(({key: record[key] for key in _SUMMARY_KEYS}, None))
            if aoi:
                rings.setdefault(record["stack"], []).append(array("d", [c for point in footprint.ring for c in point]))
        flush(sink)
        del sink  # the output is committed now, not whenever this frame goes (see select_pairs.py)
        if aoi:
            # One geometry per stack for its AOI coverage (summarize unions what it is given).
            from ..core.records import coverage_geometry

            first: dict[str, int] = {}
            for index, (record, _geometry) in enumerate(light):
                first.setdefault(record["stack"], index)
            for stack, index in first.items():
                stack_rings = [list(zip(flat[0::2], flat[1::2])) for flat in rings.pop(stack)]
                light[index] = (light[index][0], coverage_geometry(stack_rings, aoi.geometry))
        for note in notes if notes is not None else search_notes(request, stats):
            (feedback.pushWarning if not stats.kept or stats.broken or stats.stopped else feedback.pushInfo)(note)

        summaries = core_stacks.summarize(light, aoi.geometry if aoi else None)
        outputs: dict[str, Any] = {self.OUTPUT: dest_id, self.COUNT: stats.kept, self.STACK_COUNT: len(summaries)}
        summary_fields = make_fields(SUMMARY_FIELDS)
        summary_sink, summary_id = self.parameterAsSink(
            parameters, self.SUMMARY, context, summary_fields, QgsWkbTypes.Type.NoGeometry
        )
        if summary_sink is not None:
            for summary in summaries:
                summary_sink.addFeature(make_feature(summary_fields, summary.as_dict()), QgsFeatureSink.Flag.FastInsert)
            outputs[self.SUMMARY] = summary_id
        del summary_sink

        feedback.pushInfo(f"{stats.kept} {request.processing_level} record(s) in {len(summaries)} stack(s).")
        if summaries:
            feedback.pushInfo(core_stacks.format_summary(summaries))
        styling.style_search_outputs(context, dest_id, outputs.get(self.SUMMARY), summaries)
        feedback.setProgress(100)
        return outputs


_SUMMARY_KEYS = ("stack", "startTime", "pathNumber", "frameNumber", "burstId", "flightDirection")
