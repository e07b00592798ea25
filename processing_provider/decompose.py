"""insarhub:decompose: vertical and east-west velocity from ascending and descending LOS velocities."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingUtils,
)

from . import decompose_styling
from .aoi_params import aoi_parameters
from .base import InsarhubAlgorithm, with_help
from .features import source_union_wgs84
from .settings import read_settings

VELOCITY_OUTPUTS = ("VERTICAL", "EAST", "VERTICAL_STD", "EAST_STD", "MASK")
DISPLACEMENT_OUTPUTS = ("VERTICAL_DISPLACEMENT", "EAST_DISPLACEMENT")


def _advanced(parameter):
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
    return parameter


class DecomposeAlgorithm(InsarhubAlgorithm):
    NAME = "decompose"
    DISPLAY_NAME = "Vertical and east from ascending and descending"
    GROUP = "4 Time series"
    GROUP_ID = "timeseries"

    INPUTS = "INPUTS"
    PIXEL_SIZE = "PIXEL_SIZE"
    CRS = "CRS"
    REFERENCE_AREA = "REFERENCE_AREA"
    DISPLACEMENT = "DISPLACEMENT"
    DATE_TOLERANCE = "DATE_TOLERANCE"
    MAX_CONDITION = "MAX_CONDITION"
    GEOMETRY_WINDOW = "GEOMETRY_WINDOW"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        from ..core.decompose import (
            DEFAULT_DATE_TOLERANCE_DAYS,
            DEFAULT_GEOMETRY_WINDOW,
            DEFAULT_MAX_CONDITION,
        )

        self.addParameter(
            with_help(
                QgsProcessingParameterMultipleLayers(self.INPUTS, "LOS velocities (runtimeseries VELOCITY outputs)", QgsProcessing.SourceType.TypeRaster),
                "The velocity GeoTIFFs insarhub:runtimeseries wrote, one per stack: at least one ascending and one "
                "descending over the same area. Each knows its look geometry and finds its standard deviation "
                "and displacement beside it.",
            )
        )
        for parameter in aoi_parameters(with_wkt=False):
            parameter.setDescription(parameter.description().replace("Area of interest", "Crop to"))
            parameter.setHelp(parameter.help() + " The outputs cover the inputs' common area, intersected with this.")
            self.addParameter(parameter)
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(self.PIXEL_SIZE, "Output pixel size (output CRS units; 0 = finest input)",
                                             QgsProcessingParameterNumber.Type.Double, defaultValue=0.0, minValue=0.0),
                "0: the finest input's pixel. Coarser outputs average the inputs; finer ones interpolate them.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterCrs(self.CRS, "Output CRS", optional=True),
                "Empty: the first input's CRS. Inputs in other CRSs (e.g. the next UTM zone) are reprojected.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterExtent(self.REFERENCE_AREA, "Reference area (zero motion)", optional=True),
                "Every input is set to zero motion (its median there is subtracted) in this area: each stack "
                "has its own reference point, so their velocities are not comparable until both share one. "
                "Empty: the common overlap's stable median (the pixels that move least in every input).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterBoolean(self.DISPLACEMENT, "Also decompose the displacement time series", defaultValue=False),
                "Decompose the inputs' displacements at their common dates (the nearest acquisitions within the "
                "date tolerance) into vertical and east time series, relative to the first common date.",
            )
        )
        self.addParameter(_advanced(with_help(
            QgsProcessingParameterNumber(self.DATE_TOLERANCE, "Date tolerance (days)", QgsProcessingParameterNumber.Type.Double,
                                         defaultValue=DEFAULT_DATE_TOLERANCE_DAYS, minValue=0.0),
            "Acquisitions of different stacks at most this far apart count as one common date (default: half "
            "Sentinel-1's 12-day repeat).",
        )))
        self.addParameter(_advanced(with_help(
            QgsProcessingParameterNumber(self.MAX_CONDITION, "Maximum condition number", QgsProcessingParameterNumber.Type.Double,
                                         defaultValue=DEFAULT_MAX_CONDITION, minValue=1.01),
            "Pixels whose look directions are too alike to separate vertical from east (condition number of "
            "MintPy's design matrix above this) are masked. Ascending + descending Sentinel-1: about 1.1-1.6.",
        )))
        self.addParameter(_advanced(with_help(
            QgsProcessingParameterNumber(self.GEOMETRY_WINDOW, "Geometry window (pixels)", QgsProcessingParameterNumber.Type.Integer,
                                         defaultValue=DEFAULT_GEOMETRY_WINDOW, minValue=1, maxValue=200),
            "MintPy inverts blocks of this many pixels square with their median geometry (its 'step'); 1 = "
            "every pixel with its own geometry (slower).",
        )))
        for name, title, helptext, optional in (
            ("VERTICAL", "Vertical velocity (mm/yr, + up)", "Vertical velocity in mm/year, positive up (uplift), negative down (subsidence).", False),
            ("EAST", "East velocity (mm/yr, + east)", "East-west velocity in mm/year, positive towards the east.", False),
            ("VERTICAL_STD", "Vertical velocity std (mm/yr)", "Standard deviation propagated from each input's velocity std and the geometry.", True),
            ("EAST_STD", "East velocity std (mm/yr)", "Standard deviation propagated from each input's velocity std and the geometry.", True),
            ("MASK", "Mask", "1 = decomposed; 0 = no data in an input; 2 = geometry too weak (condition number above the limit).", True),
            ("VERTICAL_DISPLACEMENT", "Vertical displacement (mm, one band per common date)", "Written when DISPLACEMENT is on.", True),
            ("EAST_DISPLACEMENT", "East displacement (mm, one band per common date)", "Written when DISPLACEMENT is on.", True),
        ):
            self.addParameter(with_help(
                QgsProcessingParameterRasterDestination(name, title, optional=optional, createByDefault=True), helptext
            ))
        self.addOutput(QgsProcessingOutputNumber("DECOMPOSED_PIXELS", "Pixels decomposed"))
        self.addOutput(QgsProcessingOutputNumber("WEAK_GEOMETRY_PIXELS", "Pixels masked for weak geometry"))
        self.addOutput(QgsProcessingOutputNumber("COMMON_DATES", "Common dates decomposed"))

    def _box(self, parameters: dict, name: str, context: Any) -> tuple | None:
        """An extent parameter as ``(xmin, ymin, xmax, ymax, crs)`` in its own CRS (no detour via WGS 84); None: not given."""
        given = self.input_extent(parameters, name, context)
        if given is None:
            return None
        rect, crs = given
        text = (crs.authid() or crs.toWkt()) if crs.isValid() else "EPSG:4326"
        return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(), text)

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.decompose import decompose
        from ..core.mintpy_env import find_mintpy_python

        paths = self.input_layer_paths(parameters, self.INPUTS, context)
        if len(paths) < 2:
            raise QgsProcessingException(
                f"Give at least two LOS velocities (one ascending and one descending stack); {len(paths)} given."
            )
        interpreter = find_mintpy_python(read_settings().get("mintpy_python"))
        feedback.pushInfo(f"MintPy {interpreter.mintpy_version} from {interpreter.python} ({interpreter.source}).")

        aoi_wkt = None
        if parameters.get("AOI") not in (None, ""):
            source = self.input_source(parameters, "AOI", context)
            if source is not None:
                aoi_wkt = source_union_wgs84(source, context, "crop layer").wkt
        extent = self._box(parameters, "EXTENT", context)
        reference_area = self._box(parameters, self.REFERENCE_AREA, context)
        crs = self.input_crs(parameters, self.CRS, context)
        displacement = self.parameterAsBool(parameters, self.DISPLACEMENT, context)
        roles = VELOCITY_OUTPUTS + (DISPLACEMENT_OUTPUTS if displacement else ())
        # displacement outputs are resolved only when asked for: resolving schedules their loading
        out_paths = {role: self.parameterAsOutputLayer(parameters, role, context) or None for role in roles}

        result = decompose(
            paths,
            out_paths,
            interpreter.python,
            aoi_wkt_wgs84=aoi_wkt,
            extent=extent,
            crs=crs.toWkt() if crs.isValid() else None,
            pixel_size=self.parameterAsDouble(parameters, self.PIXEL_SIZE, context) or None,
            reference_area=reference_area,
            displacement=displacement,
            date_tolerance_days=self.parameterAsDouble(parameters, self.DATE_TOLERANCE, context),
            max_condition=self.parameterAsDouble(parameters, self.MAX_CONDITION, context),
            geometry_window=self.parameterAsInt(parameters, self.GEOMETRY_WINDOW, context),
            work_folder=QgsProcessingUtils.tempFolder(),
            log=feedback.pushInfo,
            warn=feedback.pushWarning,
            progress=feedback.setProgress,
            is_cancelled=feedback.isCanceled,
        )
        feedback.pushInfo(
            f"{result.decomposed_pixels} pixels decomposed (median condition number {result.median_condition:.2f}); "
            f"{result.weak_pixels} masked for weak geometry. Reference: {result.reference_description}."
        )
        outputs: dict[str, Any] = dict(result.written)
        outputs["DECOMPOSED_PIXELS"] = result.decomposed_pixels
        outputs["WEAK_GEOMETRY_PIXELS"] = result.weak_pixels
        outputs["COMMON_DATES"] = len(result.common_dates)
        decompose_styling.style_decomposition_outputs(context, outputs)
        return outputs
