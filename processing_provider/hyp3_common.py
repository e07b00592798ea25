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
