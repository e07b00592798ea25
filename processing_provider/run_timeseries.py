"""insarhub:runtimeseries: prepare HyP3 products, run MintPy's SBAS, export GeoTIFFs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterPoint,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from . import raster_styling
from .aoi_params import aoi_parameters
from .base import InsarhubAlgorithm, with_help
from .features import extent_wgs84, source_union_wgs84
from .settings import read_settings

CLUSTERS = ("none", "local", "slurm", "pbs")
RASTER_OUTPUTS = ("VELOCITY", "VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT")
UNWRAP_CHOICES = ("auto", "closure", "bridging", "no")
CHOICES = ("auto", "yes", "no")


class RunTimeSeriesAlgorithm(InsarhubAlgorithm):
    NAME = "runtimeseries"
    DISPLAY_NAME = "Run MintPy time series"
    GROUP = "4 Time series"
    GROUP_ID = "timeseries"
    REQUIRES = ("networkx",)  # MintPy itself runs in its own interpreter

    PRODUCTS_FOLDER = "PRODUCTS_FOLDER"
    REFERENCE_POINT = "REFERENCE_POINT"
    WORKDIR = "WORKDIR"
    COMPUTE_CLUSTER = "COMPUTE_CLUSTER"
    WORKERS = "WORKERS"
    TROPOSPHERIC_CORRECTION = "TROPOSPHERIC_CORRECTION"
    MINTPY_CONFIG = "MINTPY_CONFIG"
    POINTS = "POINTS"
    MIN_TEMPORAL_COHERENCE = "MIN_TEMPORAL_COHERENCE"
    TIMESERIES = "TIMESERIES"
    INTERFEROGRAMS = "INTERFEROGRAMS"
    PRODUCT_KIND = "PRODUCT_KIND"
    UNWRAP_ERROR_CORRECTION = "UNWRAP_ERROR_CORRECTION"
    DEM_ERROR_CORRECTION = "DEM_ERROR_CORRECTION"
    ANNUAL_TERM = "ANNUAL_TERM"
    QUALITY_INTERFEROGRAMS = "QUALITY_INTERFEROGRAMS"
    QUALITY_DATES = "QUALITY_DATES"
    LOS_GEOMETRY = "LOS_GEOMETRY"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(
            with_help(
                QgsProcessingParameterFile(self.PRODUCTS_FOLDER, "HyP3 products folder", behavior=QgsProcessingParameterFile.Behavior.Folder),
                "A folder of HyP3 InSAR products (zips or unpacked folders; INSAR_GAMMA, INSAR_ISCE_BURST or "
                "INSAR_ISCE_MULTI_BURST), e.g. the output of insarhub:downloadproducts. Broken or incomplete "
                "products are skipped and named.",
            )
        )
        for parameter in aoi_parameters(with_wkt=False):
            parameter.setDescription(parameter.description().replace("Area of interest", "Crop to"))
            parameter.setHelp(parameter.help() + " The products are clipped to their common overlap, intersected with this area.")
            self.addParameter(parameter)
        self.addParameter(
            with_help(
                QgsProcessingParameterPoint(self.REFERENCE_POINT, "Reference point", optional=True),
                "A stable point (any CRS) that every displacement is relative to. Empty: chosen automatically "
                "(a coherent pixel on stable ground, valid in every interferogram).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterFile(self.WORKDIR, "MintPy work folder", behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True),
                "Where MintPy works (kept, so a rerun reuses finished steps; one run at a time, a second is refused). "
                "Empty: a 'mintpy' folder inside the products folder.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterEnum(self.COMPUTE_CLUSTER, "Compute cluster", options=list(CLUSTERS), defaultValue="none", usesStaticStrings=True),
                "none: one process; local: a dask cluster on this machine; slurm/pbs: dask-jobqueue workers on "
                "an HPC scheduler (configure the queue in your dask-jobqueue config).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(self.WORKERS, "Workers", QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0),
                "Number of dask workers for local/slurm/pbs; 0: MintPy's default (all cores for local).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterBoolean(self.TROPOSPHERIC_CORRECTION, "Tropospheric correction (ERA5)", defaultValue=False),
                "Correct tropospheric delay with ERA5 through PyAPS: needs internet access and a Copernicus CDS "
                "account (~/.cdsapirc). Off by default (offline).",
            )
        )
        user_cfg = with_help(
            QgsProcessingParameterFile(self.MINTPY_CONFIG, "Your own smallbaselineApp.cfg", optional=True, extension="cfg"),
            "A MintPy configuration whose keys override InSARHub's (e.g. mintpy.topographicResidual = yes).",
        )
        user_cfg.setFlags(user_cfg.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(user_cfg)
        self.addParameter(
            with_help(
                QgsProcessingParameterRasterDestination("VELOCITY", "Velocity (mm/yr)"),
                "Line-of-sight velocity in mm/year, positive towards the satellite; nodata where masked.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterRasterDestination("VELOCITY_STD", "Velocity standard deviation (mm/yr)", optional=True, createByDefault=True),
                "Standard deviation of the velocity, mm/year.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterRasterDestination("TEMPORAL_COHERENCE", "Temporal coherence", optional=True, createByDefault=True),
                "MintPy's temporal coherence (0-1): how well the time series fits the interferograms.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterRasterDestination("DISPLACEMENT", "Displacement (mm, one band per date)", optional=True, createByDefault=True),
                "Line-of-sight displacement in mm relative to the first date, one band per acquisition (band "
                "description YYYYMMDD); on the map it steps through the dates with the Temporal Controller.",
            )
        )
        points = with_help(
            QgsProcessingParameterFileDestination(self.POINTS, "Points for InSAR Explorer", "GeoPackage (*.gpkg)", optional=True, createByDefault=False),
            "A point GeoPackage with VEL and DYYYYMMDD fields (like MintPy's save_qgis) that the InSAR Explorer "
            "plugin opens directly.",
        )
        self.addParameter(points)
        min_coherence = with_help(
            QgsProcessingParameterNumber(self.MIN_TEMPORAL_COHERENCE, "Minimum temporal coherence of points", QgsProcessingParameterNumber.Type.Double, defaultValue=0.7, minValue=0, maxValue=1),
            "Only pixels at least this coherent become points.",
        )
        min_coherence.setFlags(min_coherence.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(min_coherence)
        kind = with_help(
            QgsProcessingParameterString(self.PRODUCT_KIND, "Use only products of this kind", optional=True),
            "A time series needs products of one kind (job type, burst or burst set, track, pixel size, "
            "polarisation); a folder mixing kinds is refused, naming the odd products and the kinds found "
            "(e.g. INSAR_ISCE_BURST/056072_IW2/ASC027/INT80/VV). Give a kind, or a part of it that names one "
            "kind (INSAR_GAMMA, 056072_IW2...), to use only those products; the others are listed as skipped.",
        )
        self.addParameter(kind)
        for name, label, options, text in (
            (
                self.UNWRAP_ERROR_CORRECTION,
                "Unwrapping-error correction",
                UNWRAP_CHOICES,
                "auto: pixel by pixel from the phase closure of the network's triangles (while preparing), then "
                "MintPy's bridging where connected components can be offset; closure or bridging: only that; "
                "no: none. Which ran, and how many pixels and interferograms it changed, is logged and in the "
                "quality table.",
            ),
            (
                self.DEM_ERROR_CORRECTION,
                "Topographic residual (DEM error) correction",
                CHOICES,
                "auto: on when the stack can tell a DEM error from motion (at least 10 dates, perpendicular "
                "baselines spread by 5 m or more and not following time); yes / no force it.",
            ),
            (
                self.ANNUAL_TERM,
                "Annual (seasonal) term",
                CHOICES,
                "auto: fitted with the velocity when the stack spans at least two years (the velocity is then "
                "free of seasonal motion); yes / no force it.",
            ),
        ):
            parameter = with_help(
                QgsProcessingParameterEnum(name, label, options=list(options), defaultValue="auto", usesStaticStrings=True),
                text,
            )
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(parameter)
        self.addOutput(QgsProcessingOutputFile(self.TIMESERIES, "MintPy time series (HDF5)"))
        self.addOutput(QgsProcessingOutputNumber(self.INTERFEROGRAMS, "Interferograms used"))
        self.addOutput(
            QgsProcessingOutputFile(self.QUALITY_INTERFEROGRAMS, "Quality per interferogram (CSV, in the work folder)")
        )
        self.addOutput(QgsProcessingOutputFile(self.QUALITY_DATES, "Quality per date (CSV, in the work folder)"))
        self.addOutput(QgsProcessingOutputFile(self.LOS_GEOMETRY, "LOS geometry beside the velocity (for insarhub:decompose)"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.filelock import folder_lock

        products = self.parameterAsFile(parameters, self.PRODUCTS_FOLDER, context)
        if not products or not Path(products).is_dir():
            raise QgsProcessingException(f"The products folder '{products}' does not exist.")
        workdir = self.parameterAsFile(parameters, self.WORKDIR, context) or os.path.join(products, "mintpy")
        # One run at a time in a work folder: a second one would rewrite MintPy's files under the first.
        # MintPy inherits the lock, so it holds even if QGIS dies while MintPy runs on.
        with folder_lock(
            workdir,
            "a time series",
            "Wait for it to finish (or cancel it), or choose another work folder for this run.",
        ) as held:
            return self._execute_in(workdir, products, parameters, context, feedback, held.fd)

    def _execute_in(
        self, workdir: str, products: str, parameters: dict, context: Any, feedback: Any, lock_fd: int
    ) -> dict[str, Any]:
        from ..core.mintpy_env import find_mintpy_python
        from ..core.timeseries import (
            export_insar_explorer_points,
            export_results,
            prepare_products,
            run_segments,
            write_config,
        )
        from ..core.timeseries.export import write_quality_tables

        interpreter = find_mintpy_python(read_settings().get("mintpy_python"))
        feedback.pushInfo(f"MintPy {interpreter.mintpy_version} from {interpreter.python} ({interpreter.source}).")

        aoi_wkt = None
        extent = None
        if parameters.get("AOI") not in (None, ""):
            source = self.input_source(parameters, "AOI", context)
            if source is not None:
                aoi_wkt = source_union_wgs84(source, context, "crop layer").wkt
        given = self.input_extent(parameters, "EXTENT", context)
        if given is not None:
            extent = (*extent_wgs84(*given, context), "EPSG:4326")

        unwrap = self.parameterAsEnumString(parameters, self.UNWRAP_ERROR_CORRECTION, context) or "auto"
        feedback.setProgressText("Preparing the products (common grid, windows, unwrapping errors)")
        prepared = prepare_products(
            products,
            workdir,
            aoi_wkt_wgs84=aoi_wkt,
            extent=extent,
            product_kind=self.parameterAsString(parameters, self.PRODUCT_KIND, context) or None,
            unwrap_correction=unwrap in ("auto", "closure"),
            log=feedback.pushInfo,
            warn=feedback.pushWarning,
            progress=lambda percent: feedback.setProgress(0.2 * percent),
            is_cancelled=feedback.isCanceled,
            mintpy_python=interpreter.python,
        )
        feedback.pushInfo(
            f"{len(prepared.pairs)} interferograms over {len(prepared.dates)} dates on a "
            f"{prepared.grid.width} x {prepared.grid.height} grid (EPSG:{prepared.grid.epsg})."
        )

        reference_point = None
        given = self.input_point(parameters, self.REFERENCE_POINT, context)
        if given is not None:
            point, crs = given
            if not crs.isValid():
                crs = QgsCoordinateReferenceSystem("EPSG:4326")
            reference_point = (point.x(), point.y(), crs.authid() or crs.toWkt())
        workers = self.parameterAsInt(parameters, self.WORKERS, context) or None
        cfg = write_config(
            prepared,
            workdir,
            reference_point=reference_point,
            compute_cluster=self.parameterAsEnumString(parameters, self.COMPUTE_CLUSTER, context),
            workers=workers,
            tropospheric_correction=self.parameterAsBool(parameters, self.TROPOSPHERIC_CORRECTION, context),
            user_cfg_path=self.parameterAsFile(parameters, self.MINTPY_CONFIG, context) or None,
            log=feedback.pushInfo,
            unwrap_error_correction="bridging" if unwrap in ("auto", "bridging") else "no",
            dem_error_correction=self.parameterAsEnumString(parameters, self.DEM_ERROR_CORRECTION, context) or "auto",
            annual_term=self.parameterAsEnumString(parameters, self.ANNUAL_TERM, context) or "auto",
        )

        def step(index: int, count: int, name: str) -> None:
            feedback.setProgressText(f"MintPy step {index + 1}/{count}: {name}")

        run_segments(
            cfg,
            workdir,
            interpreter.python,
            log=feedback.pushConsoleInfo,
            progress=step,
            progress_percent=lambda percent: feedback.setProgress(20 + 0.75 * percent),
            is_cancelled=feedback.isCanceled,
            hold_fds=(lock_fd,),
        )

        feedback.setProgressText("Exporting GeoTIFFs")
        out_paths = {key: self.parameterAsOutputLayer(parameters, key, context) or None for key in RASTER_OUTPUTS}
        # GDAL's HDF5 reader, not h5py: an h5py wheel's own HDF5 clashes with the one QGIS's GDAL loaded.
        written = export_results(workdir, out_paths, prepared, prefer_h5py=False)
        outputs: dict[str, Any] = {key: written[key] for key in RASTER_OUTPUTS if written.get(key)}
        outputs[self.TIMESERIES] = str(written["TIMESERIES"])
        outputs[self.INTERFEROGRAMS] = len(prepared.pairs)
        ifg_table, date_table = write_quality_tables(workdir, prepared, prefer_h5py=False, log=feedback.pushInfo)
        outputs[self.QUALITY_INTERFEROGRAMS] = str(ifg_table)
        outputs[self.QUALITY_DATES] = str(date_table)
        # insarhub:decompose needs each velocity's look geometry (core/timeseries/geometry.py).
        from ..core.timeseries.geometry import record_los_geometry

        geometry = record_los_geometry(
            workdir, prepared, written, python=interpreter.python, log=feedback.pushInfo, warn=feedback.pushWarning
        )
        if geometry is not None:
            outputs[self.LOS_GEOMETRY] = str(geometry)
        points_path = self.parameterAsFileOutput(parameters, self.POINTS, context)
        if points_path:
            path, count = export_insar_explorer_points(
                workdir, points_path, prepared, min_temporal_coherence=self.parameterAsDouble(parameters, self.MIN_TEMPORAL_COHERENCE, context)
            )
            feedback.pushInfo(f"{count} coherent points written for InSAR Explorer: {path}")
            outputs[self.POINTS] = str(path)
        raster_styling.style_timeseries_outputs(context, outputs, prepared.dates, Path(products).name)
        feedback.setProgress(100)
        return outputs
