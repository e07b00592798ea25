"""insarhub:downloadscenes: download the searched SLC zips or bursts, verified and resumable."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from .base import InsarhubAlgorithm, with_help
from .credentials import credentials_from_auth_config
from .download_products import byte_progress
from .features import read_records
from .footprints import footprint_source
from .hyp3_common import AUTH, auth_parameter
from .settings import endpoints


class DownloadScenesAlgorithm(InsarhubAlgorithm):
    NAME = "downloadscenes"
    DISPLAY_NAME = "Download scenes"
    GROUP = "1 Search"
    GROUP_ID = "search"
    REQUIRES = ("asf_search",)

    INPUT = "INPUT"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    WORKERS = "WORKERS"
    RETRIES = "RETRIES"
    COUNT = "COUNT"
    BYTES = "BYTES"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(
                    self.INPUT, "Footprints", [QgsProcessing.SourceType.TypeVectorPolygon]
                ),
                "Footprints written by insarhub:searchscenes or insarhub:filterscenes (or a GeoPackage saved "
                "from them): SLC scenes or bursts. With 'Selected features only', only those are downloaded.",
            )
        )
        self.addParameter(auth_parameter())
        self.addParameter(
            with_help(
                QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Scenes folder"),
                "Where the files go, one subfolder per stack (P94_F210, 174_372326_IW3). Rerun to resume: "
                "complete files are skipped and partial downloads continue where they stopped.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(
                    self.WORKERS,
                    "Parallel downloads",
                    QgsProcessingParameterNumber.Type.Integer,
                    defaultValue=4,
                    minValue=1,
                    maxValue=16,
                ),
                "How many files download at once.",
            )
        )
        retries = with_help(
            QgsProcessingParameterNumber(
                self.RETRIES,
                "Attempts per file",
                QgsProcessingParameterNumber.Type.Integer,
                defaultValue=6,
                minValue=1,
                maxValue=20,
            ),
            "How many times in a row a file may fail (server error, dropped connection without progress, "
            "damaged file) before it is given up; waits double between attempts (1 s, 2 s, 4 s...).",
        )
        retries.setFlags(retries.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(retries)
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, "Scenes present and verified"))
        self.addOutput(QgsProcessingOutputNumber(self.BYTES, "Bytes of the verified files"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.download import format_bytes
        from ..core.download_scenes import download_scenes
        from ..core.hyp3.credentials import resolve_credentials
        from ..core.search import RetryPolicy

        source = footprint_source(self, parameters, self.INPUT, context, ("sceneName", "url", "stack"))
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        records = [record for record, _ in read_records(source, context, feedback)]
        feedback.setProgress(0)
        if not records:
            feedback.pushWarning(
                "The footprint layer has no features (or no selected ones): nothing to download."
            )
            return {self.OUTPUT_FOLDER: folder, self.COUNT: 0, self.BYTES: 0}

        credentials = resolve_credentials(
            credentials_from_auth_config(self.parameterAsString(parameters, AUTH, context))
        )
        feedback.pushInfo(f"Using {credentials.described}.")
        service = endpoints()
        if service.asf_download_base:
            feedback.pushInfo(
                f"ASF downloads go to {service.asf_download_base} (INSARHUB_ASF_DOWNLOAD_BASE, a sandbox/testing "
                "setting), not to ASF."
            )

        result = download_scenes(
            records,
            folder,
            credentials=credentials,
            endpoints=service,
            workers=self.parameterAsInt(parameters, self.WORKERS, context),
            progress=byte_progress(feedback),
            is_cancelled=feedback.isCanceled,
            retry=RetryPolicy(attempts=self.parameterAsInt(parameters, self.RETRIES, context)),
            on_message=feedback.pushInfo,
        )
        feedback.pushInfo(
            f"{len(result.downloaded)} file(s) downloaded ({format_bytes(result.bytes_transferred)}), "
            f"{len(result.skipped)} already complete; {result.count} of {len(result.scenes)} scene(s) present "
            f"and verified ({format_bytes(result.bytes_present)}) in {folder}, stack folder(s): "
            f"{', '.join(result.stacks) or 'none'}."
        )
        result.raise_for_failures()
        return {self.OUTPUT_FOLDER: folder, self.COUNT: result.count, self.BYTES: result.bytes_present}
