"""Earthdata credentials from a QGIS authentication configuration (the ``AUTH`` parameter).

Secrets stay in the QGIS authentication database: only the configuration id travels in
parameters, models and project files; the secret is read here, at run time, and handed
to :mod:`core.hyp3.credentials`, which never prints or stores it.

Supported methods: **Basic** (Earthdata username and password; a Basic configuration
whose username is ``token`` or empty carries a bearer token as its password), and
**Esri-Token** (a token field, available in every QGIS 3.x).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsProcessingException

if TYPE_CHECKING:
    from ..core.hyp3.credentials import Credentials


def credentials_from_auth_config(auth_id: str | None) -> Credentials | None:
    """Credentials of QGIS auth config ``auth_id``; None when no id is given (use env/netrc)."""
    from ..core.hyp3.credentials import Credentials

    if not auth_id:
        return None
    manager = QgsApplication.authManager()
    if auth_id not in manager.configIds():
        raise QgsProcessingException(
            f"The QGIS authentication configuration '{auth_id}' does not exist in this profile. "
            "Create one in Settings → Options → Authentication (Basic, with your Earthdata username and "
            "password) and give its id, or leave AUTH empty to use EARTHDATA_TOKEN or ~/.netrc."
        )
    config = QgsAuthMethodConfig()
    if not manager.loadAuthenticationConfig(auth_id, config, True) or not config.isValid(True):
        raise QgsProcessingException(
            f"The QGIS authentication configuration '{auth_id}' could not be decrypted (is the master "
            "password set?)."
        )
    source = f"QGIS authentication configuration '{auth_id}' ({config.name()})"
    method = config.method()
    if method == "Basic":
        username = config.config("username")
        password = config.config("password")
        if username.strip().lower() in ("", "token"):
            return Credentials.from_token(password, source=source)
        return Credentials.from_password(username, password, source=source)
    if method == "EsriToken":
        return Credentials.from_token(config.config("token"), source=source)
    raise QgsProcessingException(
        f"{source} uses the '{method}' method; InSARHub needs Basic (Earthdata username and password, "
        "or username 'token' with a token as password) or Esri-Token."
    )
