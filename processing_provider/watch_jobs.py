"""insarhub:watchjobs: refresh job status by id, optionally wait, optionally retry failures."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)

from .base import InsarhubAlgorithm, with_help
from .hyp3_common import auth_parameter, connect_client


def jobs_file_parameter(name: str = "JOBS_FILE") -> QgsProcessingParameterFile:
    """The input jobs file (written by insarhub:submitjobs)."""
    return with_help(
        QgsProcessingParameterFile(name, "Jobs file", extension="json"),
        "The jobs file written by insarhub:submitjobs.",
    )


class WatchJobsAlgorithm(InsarhubAlgorithm):
    NAME = "watchjobs"
    DISPLAY_NAME = "Watch HyP3 jobs"
    GROUP = "3 HyP3"
    GROUP_ID = "hyp3"
    REQUIRES = ("hyp3_sdk",)

    JOBS_FILE = "JOBS_FILE"
    WAIT = "WAIT"
    TIMEOUT = "TIMEOUT"
    RETRY_FAILED = "RETRY_FAILED"
    POLL_INTERVAL = "POLL_INTERVAL"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    RUNNING = "RUNNING"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(jobs_file_parameter())
        self.addParameter(auth_parameter())
        self.addParameter(
            with_help(
                QgsProcessingParameterBoolean(self.WAIT, "Wait until every job has finished", defaultValue=False),
                "Keep polling (with growing intervals) until no job is pending or running, the timeout passes, or "
                "you cancel. Off: refresh once.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterNumber(self.TIMEOUT, "Timeout (s)", QgsProcessingParameterNumber.Type.Integer, defaultValue=21600, minValue=1),
                "With WAIT, stop waiting after this many seconds (the jobs go on on HyP3; run again later).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterBoolean(self.RETRY_FAILED, "Resubmit failed jobs", defaultValue=False),
                "Resubmit each pair whose latest job failed, once per run, keeping the lineage of job ids. Pairs "
                "whose latest job succeeded or is running are never resubmitted.",
            )
        )
        poll = with_help(
            QgsProcessingParameterNumber(self.POLL_INTERVAL, "First poll interval (s)", QgsProcessingParameterNumber.Type.Double, defaultValue=30, minValue=0.1),
            "Seconds between the first polls; the interval grows by half each poll up to 5 minutes.",
        )
        poll.setFlags(poll.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(poll)
        self.addOutput(QgsProcessingOutputFile(self.JOBS_FILE, "Jobs file"))
        self.addOutput(QgsProcessingOutputNumber(self.SUCCEEDED, "Pairs whose latest job succeeded"))
        self.addOutput(QgsProcessingOutputNumber(self.FAILED, "Pairs whose latest job failed"))
        self.addOutput(QgsProcessingOutputNumber(self.RUNNING, "Pairs pending or running"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.hyp3 import watch

        jobs_file = self.parameterAsFile(parameters, self.JOBS_FILE, context)
        if not jobs_file:
            raise QgsProcessingException("Give the jobs file written by insarhub:submitjobs.")
        client = connect_client(self, parameters, context, feedback)
        interval = self.parameterAsDouble(parameters, self.POLL_INTERVAL, context)

        def progress(finished: int, total: int) -> None:
            feedback.setProgressText(f"{finished} of {total} jobs finished")
            feedback.setProgress(100.0 * finished / max(total, 1))

        result = watch(
            jobs_file,
            client,
            wait=self.parameterAsBool(parameters, self.WAIT, context),
            timeout_s=self.parameterAsInt(parameters, self.TIMEOUT, context),
            retry_failed=self.parameterAsBool(parameters, self.RETRY_FAILED, context),
            progress=progress,
            is_cancelled=feedback.isCanceled,
            poll_interval_s=interval,
        )
        feedback.pushInfo(
            f"{result.succeeded} succeeded, {result.failed} failed, {result.running} pending or running "
            f"(of {result.total} pairs)."
        )
        for message in result.messages():
            feedback.pushWarning(message)
        return {
            self.JOBS_FILE: jobs_file,
            self.SUCCEEDED: result.succeeded,
            self.FAILED: result.failed,
            self.RUNNING: result.running,
        }
