"""InSARHub's page in QGIS' Settings → Options: endpoints, the MintPy interpreter (with a
"Check" that probes it in a background task) and the defaults of the dock's steps.

Endpoints are the same QgsSettings the algorithms read (``processing_provider.settings``);
an environment variable still wins over them, and the page says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsTask
from qgis.gui import QgsFileWidget, QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt import uic
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from ..__about__ import __icon_path__
from ..core.config import ENV_BY_SETTING, resolve_endpoints
from ..core.errors import InsarhubError
from ..processing_provider.settings import read_settings, write_setting
from .defaults import STEP_DEFAULTS, default_value, set_default_value
from .i18n import tr

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("options.ui")))


ENDPOINT_FIELDS = {
    "cmr_host": "cmrHost",
    "hyp3_url": "hyp3Url",
    "ca_bundle": "caBundle",
    "mintpy_python": "mintpyPython",
}


def check_mintpy(python: str) -> str:
    """A sentence on the MintPy that ``python`` has (empty: autodetect); InsarhubError when none."""
    from ..core.errors import MintpyNotFoundError
    from ..core.mintpy_env import find_mintpy_python, probe

    if python:
        version = probe(python)
        if version is None:
            raise MintpyNotFoundError(
                tr(
                    "'{python}' does not exist or cannot import mintpy. Choose the python of an environment with "
                    "MintPy (e.g. `conda create -n mintpy -c conda-forge mintpy`, then its bin/python)."
                ).format(python=python)
            )
        return tr("MintPy {version} in {python}.").format(version=version, python=python)
    found = find_mintpy_python(None)
    return tr("MintPy {version} in {python} ({source}).").format(
        version=found.mintpy_version, python=found.python, source=found.source
    )


class InsarhubOptionsPage(QgsOptionsPageWidget, FORM_CLASS):
    """The page itself; ``apply()`` is called by QGIS when the options dialog is accepted."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("InsarhubOptionsPage")
        self.caBundle.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.caBundle.setFilter(tr("PEM certificates (*.pem *.crt *.cer);;All files (*)"))
        self.mintpyPython.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.task: QgsTask | None = None
        self.default_widgets: dict[str, Any] = {}
        self._build_defaults()
        self.load()
        for name in ("cmrHost", "hyp3Url"):
            getattr(self, name).textChanged.connect(self.validate)
        self.caBundle.fileChanged.connect(self.validate)
        self.checkMintpy.clicked.connect(self.check_mintpy)
        self.validate()

    def _build_defaults(self) -> None:
        for default in STEP_DEFAULTS:
            if default.kind == "choice":
                widget: Any = QComboBox()
                widget.addItems(list(default.choices))
            elif default.kind == "int":
                widget = QSpinBox()
                widget.setRange(int(default.minimum), int(default.maximum))
            elif default.kind == "float":
                widget = QDoubleSpinBox()
                widget.setDecimals(0)
                widget.setRange(default.minimum, default.maximum)
            else:
                widget = QLineEdit()
            if default.special and hasattr(widget, "setSpecialValueText"):
                widget.setSpecialValueText(default.special)
            if default.suffix and hasattr(widget, "setSuffix"):
                widget.setSuffix(default.suffix)
            widget.setObjectName(f"default_{default.key}")
            self.defaultsForm.addRow(default.label, widget)
            self.default_widgets[default.key] = widget

    def load(self) -> None:
        settings = read_settings()
        for key, name in ENDPOINT_FIELDS.items():
            widget = getattr(self, name)
            value = settings.get(key, "")
            if isinstance(widget, QgsFileWidget):
                widget.setFilePath(value)
            else:
                widget.setText(value)
        for key, widget in self.default_widgets.items():
            value = default_value(key)
            if isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                widget.setValue(value)
            else:
                widget.setText(str(value))

    def values(self) -> dict[str, str]:
        """The endpoint fields as setting key → text."""
        values = {}
        for key, name in ENDPOINT_FIELDS.items():
            widget = getattr(self, name)
            values[key] = (widget.filePath() if isinstance(widget, QgsFileWidget) else widget.text()).strip()
        return values

    def validate(self, *_args: Any) -> bool:
        """Say whether the endpoints can work, and which environment variables override them."""
        lines = []
        ok = True
        try:
            resolve_endpoints({k: v for k, v in self.values().items() if v}, environ={})
        except InsarhubError as exc:
            lines.append(str(exc))
            ok = False
        overridden = [
            f"{env}={os.environ[env]}"
            for key, env in ENV_BY_SETTING.items()
            if key != "mintpy_python" and os.environ.get(env)
        ]
        if overridden:
            lines.append(tr("Overridden by the environment: {variables}.").format(variables=", ".join(overridden)))
        self.endpointsStatus.setText("\n".join(lines))
        self.endpointsStatus.setStyleSheet("" if ok else "color: #c62828;")
        mintpy_env = ENV_BY_SETTING["mintpy_python"]
        if os.environ.get(mintpy_env) and self.task is None:
            self.mintpyStatus.setText(
                tr("{variable}={value} wins over this field.").format(variable=mintpy_env, value=os.environ[mintpy_env])
            )
        return ok

    def apply(self) -> None:
        for key, value in self.values().items():
            write_setting(key, value)
        for key, widget in self.default_widgets.items():
            if isinstance(widget, QComboBox):
                value: Any = widget.currentText()
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                value = widget.value()
            else:
                value = widget.text().strip()
            set_default_value(key, value)

    def check_mintpy(self) -> QgsTask:
        """Probe the interpreter in a QgsTask (importing MintPy takes seconds); the answer shows beside the button."""
        python = self.mintpyPython.filePath().strip()
        self.mintpyStatus.setText(tr("Checking…"))
        self.checkMintpy.setEnabled(False)

        def probe(_task: QgsTask) -> str:
            return check_mintpy(python)

        def done(exception: BaseException | None, result: str | None = None) -> None:
            try:
                self.checkMintpy.setEnabled(True)
                if exception is not None:
                    self.mintpyStatus.setText(str(exception))
                    self.mintpyStatus.setStyleSheet("color: #c62828;")
                else:
                    self.mintpyStatus.setText(result or "")
                    self.mintpyStatus.setStyleSheet("color: #2e7d32;")
            except RuntimeError:  # the options dialog was closed meanwhile
                pass
            self.task = None

        self.task = QgsTask.fromFunction("InSARHub: checking MintPy", probe, on_finished=done)
        QgsApplication.taskManager().addTask(self.task)
        return self.task


class InsarhubOptionsFactory(QgsOptionsWidgetFactory):
    """Registered with ``iface.registerOptionsWidgetFactory``; QGIS asks it for the page."""

    def __init__(self) -> None:
        super().__init__("InSARHub", QIcon(str(__icon_path__)))

    def icon(self) -> QIcon:
        return QIcon(str(__icon_path__))

    def createWidget(self, parent: Any = None) -> InsarhubOptionsPage:  # noqa: N802 (QGIS' name)
        return InsarhubOptionsPage(parent)
