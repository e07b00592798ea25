"""A small dialog that stores an Earthdata Login as a QGIS authentication configuration.

The username and password go straight into ``QgsAuthManager`` (encrypted with the master
password); nothing else keeps them: the dock stores only the configuration id.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsAuthMethodConfig
from qgis.PyQt import uic
from qgis.PyQt.QtWidgets import QDialog

from .i18n import tr

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("auth_dialog.ui")))
EARTHDATA_URL = "https://urs.earthdata.nasa.gov"



def store_earthdata_config(name: str, username: str, password: str) -> str:
    """Store a Basic auth configuration; return its id. RuntimeError (without the secret) on failure."""
    manager = QgsApplication.authManager()
    if manager.isDisabled():
        raise RuntimeError(tr("The QGIS authentication system is disabled: ") + manager.disabledMessage())
    if not manager.masterPasswordIsSet() and not manager.setMasterPassword(True):
        raise RuntimeError(tr("The QGIS master password is needed to store credentials; it was not given."))
    config = QgsAuthMethodConfig("Basic")
    config.setName(name or "Earthdata Login")
    config.setUri(EARTHDATA_URL)
    config.setConfig("username", username)
    config.setConfig("password", password)
    result = manager.storeAuthenticationConfig(config)
    ok, stored = result if isinstance(result, tuple) else (result, config)
    if not ok or not stored.id():
        raise RuntimeError(tr("QGIS could not store the authentication configuration (see the log messages)."))
    return stored.id()


class EarthdataAuthDialog(QDialog, FORM_CLASS):
    """Name, username, password; ``config_id`` holds the new configuration's id after Save."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.config_id = ""
        self.buttonBox.accepted.connect(self.save)
        self.buttonBox.rejected.connect(self.reject)

    def save(self) -> None:
        username = self.username.text().strip()
        password = self.password.text()
        if not username or not password:
            self.problem.setText(self.tr("Enter both the username and the password (or 'token' and a token)."))
            return
        try:
            self.config_id = store_earthdata_config(self.configName.text().strip(), username, password)
        except RuntimeError as exc:
            self.problem.setText(str(exc))
            return
        finally:
            self.password.clear()  # the secret lives only in the authentication database
        self.accept()
