"""What the HyP3 algorithms share: the AUTH parameter and connecting to HyP3."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingParameterAuthConfig

from ..core.config import DEFAULT_HYP3_URL
from .base import with_help
from .credentials import credentials_from_auth_config
from .settings import endpoints

AUTH = "AUTH"


def auth_parameter() -> QgsProcessingParameterAuthConfig:
    """The optional ``AUTH`` parameter (a QGIS authentication configuration id)."""
    return with_help(
        QgsProcessingParameterAuthConfig(AUTH, "Earthdata login (QGIS authentication)", optional=True),
        "A QGIS authentication configuration: Basic with your Earthdata username and password (or "
        "username 'token' and an Earthdata token as password). Empty: the EARTHDATA_TOKEN environment "
        "variable, then ~/.netrc. Secrets stay in QGIS's authentication database.",
    )


def connect_client(algorithm: Any, parameters: dict, context: Any, feedback: Any) -> Any:
    """A retrying HyP3 client for the endpoint and credentials the user chose."""
    from ..core.hyp3 import Hyp3Client, resolve_credentials

    auth_id = algorithm.parameterAsString(parameters, AUTH, context)
    credentials = resolve_credentials(credentials_from_auth_config(auth_id))
    service = endpoints()
    if service.hyp3_url != DEFAULT_HYP3_URL:
        feedback.pushWarning(f"Using {service.describe('hyp3')}.")
    feedback.pushInfo(f"Using {credentials.described}.")
    return Hyp3Client.connect(service, credentials, is_cancelled=feedback.isCanceled)


def warn_temporary_jobs_file(jobs_file: str, feedback: Any) -> bool:
    """Warn when the jobs file is in a temporary folder (QGIS's or the system's): deleted, with it the
    record of jobs paid for. Returns True when it warned."""
    import os
    import tempfile

    from qgis.core import QgsProcessingUtils

    if not jobs_file:
        return False
    real = os.path.realpath(jobs_file)
    roots = {os.path.realpath(QgsProcessingUtils.tempFolder()), os.path.realpath(tempfile.gettempdir())}
    if not any(real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        return False
    feedback.pushWarning(
        f"The jobs file {jobs_file} is in a temporary folder, which is deleted (QGIS empties its own on exit): "
        "it is the only record of the jobs you pay for. Choose a lasting place for JOBS_FILE; to keep this one, "
        "copy it out before closing QGIS (a rerun with it resumes without paying twice)."
    )
    return True
