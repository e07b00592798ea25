"""insarhub:selectpairs: the interferogram network of every stack."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.schema import PAIR_FIELDS
from .base import InsarhubAlgorithm, with_help
from .features import WGS84, make_feature, make_fields, read_records
from .footprints import footprint_source


def _optional_number(algorithm: Any, parameters: dict, name: str, context: Any) -> float | None:
    """A number parameter; its default when not given at all, None (no limit) when given empty."""
    if name not in parameters:
        return algorithm.parameterDefinition(name).defaultValue()
    if parameters.get(name) in (None, ""):
        return None
    return algorithm.parameterAsDouble(parameters, name, context)


class SelectPairsAlgorithm(InsarhubAlgorithm):
    NAME = "selectpairs"
    DISPLAY_NAME = "Select interferogram pairs"
    GROUP = "2 Pairs"
    GROUP_ID = "pairs"
    REQUIRES = ("asf_search", "networkx")

    INPUT = "INPUT"
    MAX_TEMPORAL_BASELINE = "MAX_TEMPORAL_BASELINE"
    MAX_PERP_BASELINE = "MAX_PERP_BASELINE"
    NEIGHBOURS = "NEIGHBOURS"
    MAX_DEGREE = "MAX_DEGREE"
    MONTHS = "MONTHS"
    FORCE_CONNECTED = "FORCE_CONNECTED"
    MULTI_BURST = "MULTI_BURST"
    OUTPUT = "OUTPUT"
    PLOT = "PLOT"
    PAIR_COUNT = "PAIR_COUNT"
    COMPONENTS = "COMPONENTS"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(self.INPUT, "Footprints", [QgsProcessing.SourceType.TypeVectorPolygon]),
                "Footprints from insarhub:searchscenes or filterscenes (a saved GeoPackage works: baselines are "
                "computed offline from the orbit state vectors kept in each footprint's umm field).",
            )
        )
        number = QgsProcessingParameterNumber
        self.addParameter(
            with_help(
                number(self.MAX_TEMPORAL_BASELINE, "Maximum temporal baseline (days)", number.Double, defaultValue=48, minValue=0, optional=True),
                "Longest time between the two acquisitions of a pair. Empty: no limit. Bridges may exceed it "
                "(they are flagged) when nothing shorter joins the network.",
            )
        )
        self.addParameter(
            with_help(
                number(self.MAX_PERP_BASELINE, "Maximum perpendicular baseline (m)", number.Double, defaultValue=200, minValue=0, optional=True),
                "Largest perpendicular baseline of a pair, in metres. Empty: no limit.",
            )
        )
        self.addParameter(
            with_help(
                number(self.NEIGHBOURS, "Neighbours", number.Integer, defaultValue=3, minValue=1, optional=True),
                "Each acquisition is paired with this many nearest later acquisitions that satisfy both limits.",
            )
        )
        self.addParameter(
            with_help(
                number(self.MAX_DEGREE, "Maximum pairs per acquisition", number.Integer, minValue=2, optional=True),
                "Upper bound on the number of pairs any acquisition takes part in. Empty: no limit.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.MONTHS, "Months", optional=True),
                "Keep only acquisitions in these months (e.g. 5-9 for a snow-free season; 11-2 wraps the year) "
                "and bridge each season to the next year's. Empty: all months.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterBoolean(self.FORCE_CONNECTED, "Force a connected network", defaultValue=True),
                "Add the fewest extra pairs (smallest normalised temporal and perpendicular baseline) that join "
                "every part of a stack's network; they are marked bridge=true. SBAS needs a connected network.",
            )
        )
        multi = with_help(
            QgsProcessingParameterBoolean(self.MULTI_BURST, "Multi-burst acquisitions (INSAR_ISCE_MULTI_BURST)", defaultValue=False),
            "For burst footprints: treat the bursts of one track and date as one acquisition, so each pair "
            "holds several bursts (for INSAR_ISCE_MULTI_BURST jobs). Off: one network per full burst id.",
        )
        multi.setFlags(multi.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(multi)
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSink(self.OUTPUT, "Pairs", QgsProcessing.SourceType.TypeVectorPolygon),
                "One feature per interferogram: reference, secondary, dates, temporalBaseline (days), "
                "perpBaseline (m), stack, bridge; geometry is the intersection of the two footprints.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterFileDestination(self.PLOT, "Network plot", "PNG files (*.png)", optional=True, createByDefault=False),
                "Perpendicular baseline against date, pairs coloured by temporal baseline, bridges dashed.",
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.PAIR_COUNT, "Number of pairs"))
        self.addOutput(QgsProcessingOutputNumber(self.COMPONENTS, "Number of connected components"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.aoi import as_multipolygon
        from ..core.network_plot import plot_network
        from ..core.pairs import NetworkParameters, acquisitions_from_records, build_network

        network_parameters = NetworkParameters.build(
            max_temporal_baseline_days=_optional_number(self, parameters, self.MAX_TEMPORAL_BASELINE, context),
            max_perp_baseline_m=_optional_number(self, parameters, self.MAX_PERP_BASELINE, context),
            neighbours=_optional_number(self, parameters, self.NEIGHBOURS, context),
            max_degree=_optional_number(self, parameters, self.MAX_DEGREE, context),
            months=self.parameterAsString(parameters, self.MONTHS, context),
            force_connected=self.parameterAsBool(parameters, self.FORCE_CONNECTED, context),
        )
        source = footprint_source(self, parameters, self.INPUT, context, ("sceneName", "stack", "startTime", "umm", "cmrMeta"))
        multi_burst = self.parameterAsBool(parameters, self.MULTI_BURST, context)

        feedback.setProgressText("Reading footprints and computing baselines from the orbit state vectors")
        # Footprints and baselines come from the CMR record each feature carries.
        rows = [record for record, _ in read_records(source, context)]
        acquisitions = acquisitions_from_records(rows, multi_burst=multi_burst, is_cancelled=feedback.isCanceled)
        feedback.setProgress(40)
        network = build_network(
            acquisitions,
            network_parameters,
            progress=lambda done, total: feedback.setProgress(40 + 50 * done / max(total, 1)),
            is_cancelled=feedback.isCanceled,
        )

        fields = make_fields(PAIR_FIELDS)
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.Type.MultiPolygon, WGS84)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for pair in network.pairs:
            record = {**pair.as_record(), "burstCount": len(pair.reference_names)}
            geometry = as_multipolygon(pair.geometry) if pair.geometry is not None and not pair.geometry.is_empty else None
            sink.addFeature(make_feature(fields, record, geometry), QgsFeatureSink.Flag.FastInsert)
        # Close the output now. QGIS commits a GeoPackage sink when the sink object is deleted; on QGIS
        # 3.40 (Python 3.13) something the plot below imports kept this frame alive after the run, and
        # qgis_process left a GeoPackage without its table (the demo on Debian 13).
        del sink

        outputs: dict[str, Any] = {
            self.OUTPUT: dest_id,
            self.PAIR_COUNT: len(network.pairs),
            self.COMPONENTS: len(network.components),
        }
        plot_path = self.parameterAsFileOutput(parameters, self.PLOT, context)
        if plot_path:
            plot_network(network, plot_path)
            outputs[self.PLOT] = plot_path
        for line in network.summary().splitlines():
            feedback.pushInfo(line)
        if not network.is_connected():
            feedback.pushWarning(
                "The network is not connected: SBAS will estimate each part separately. "
                "Turn on FORCE_CONNECTED or relax the limits."
            )
        feedback.setProgress(100)
        return outputs
