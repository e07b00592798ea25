"""insarhub:downloadproducts: download finished HyP3 products, verified, resumable, unpacked."""

from __future__ import annotations

from typing import Any, Callable

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from .base import InsarhubAlgorithm, with_help
from .hyp3_common import auth_parameter, connect_client
from .watch_jobs import jobs_file_parameter


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:  # None or NaN
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f", about {hours} h {minutes:02d} min left" if hours else f", about {minutes} min {secs:02d} s left"


def byte_progress(feedback: Any) -> Callable[..., None]:
    """The download engine's ``progress(done, total, eta_s)`` shown in the feedback, in bytes."""
    from ..core.download import format_bytes

    def progress(done: int, total: int, eta_s: float | None = None) -> None:
        feedback.setProgressText(f"{format_bytes(done)} of {format_bytes(total)}{format_eta(eta_s)}")
        feedback.setProgress(100.0 * done / max(total, 1))

    return progress


class DownloadProductsAlgorithm(InsarhubAlgorithm):
    NAME = "downloadproducts"
    DISPLAY_NAME = "Download HyP3 products"
    GROUP = "3 HyP3"
    GROUP_ID = "hyp3"
    REQUIRES = ("hyp3_sdk",)

    JOBS_FILE = "JOBS_FILE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    WORKERS = "WORKERS"
    COUNT = "COUNT"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(jobs_file_parameter())
        self.addParameter(auth_parameter())
        self.addParameter(
            with_help(
                QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Products folder"),
                "Where the products are unpacked (one folder per product). Rerun to resume: complete products "
                "are skipped and partial downloads continue where they stopped.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(self.WORKERS, "Parallel downloads", QgsProcessingParameterNumber.Type.Integer, defaultValue=4, minValue=1, maxValue=16),
                "How many products download at once.",
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, "Products present and verified"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.download import download_products, format_bytes

        jobs_file = self.parameterAsFile(parameters, self.JOBS_FILE, context)
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        client = connect_client(self, parameters, context, feedback)

        result = download_products(
            jobs_file,
            folder,
            client=client,
            workers=self.parameterAsInt(parameters, self.WORKERS, context),
            progress=byte_progress(feedback),
            is_cancelled=feedback.isCanceled,
        )
        feedback.pushInfo(
            f"{len(result.downloaded)} product(s) downloaded ({format_bytes(result.bytes_transferred)}), "
            f"{len(result.skipped)} already complete, in {folder}."
        )
        for pair in result.not_ready:
            feedback.pushWarning(f"Not finished on HyP3 yet: {pair} (run insarhub:watchjobs).")
        for pair in result.expired:
            feedback.pushWarning(f"Expired on HyP3, resubmit it: {pair}")
        if result.failed:
            raise QgsProcessingException(
                "Some products could not be downloaded (rerun to resume): " + "; ".join(result.failed)
            )
        return {self.OUTPUT_FOLDER: folder, self.COUNT: result.count}
