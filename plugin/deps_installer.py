"""Install the plugin's Python packages, and set up MintPy, from inside QGIS.

The message bar offers "Install…" when packages are missing; the dialog it opens (also under
Raster → InSARHub → Python packages and MintPy…) shows the exact command and runs it only
when the user clicks Install: pip, in a ``QgsTask`` (QGIS stays responsive, the task can be
cancelled), into a folder of the QGIS profile, with its output shown live and kept in a log.
The packages are then loaded without a restart where possible. "Set up MintPy" creates a venv
with MintPy (or takes an existing environment, e.g. conda) and records its interpreter in
the plugin's MintPy setting. The work itself is :mod:`core.deps_install`.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Callable

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication, QObject, pyqtSignal, pyqtSlot
from qgis.PyQt.QtWidgets import (
    QAction,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from ..core import deps, deps_install
from ..core.config import ENV_BY_SETTING
from ..core.errors import CancelledError

_OPEN: dict[str, Any] = {}  # the dialog and the message bar item, kept alive while shown


def tr(text: str) -> str:
    return QCoreApplication.translate("InSARHub", text)


def profile_dir() -> str:
    """This QGIS profile's folder (``.../profiles/default/``)."""
    return QgsApplication.qgisSettingsDirPath()


def use_installed_packages() -> Path | None:
    """Put the packages installed into the profile on ``sys.path``; called before anything imports them."""
    try:
        return deps_install.activate(profile_dir())
    except Exception as exc:  # the plugin must load anyway; the missing packages are then reported
        QgsMessageLog.logMessage(f"Could not use the packages in the profile: {exc}", "InSARHub", Qgis.MessageLevel.Warning)
        return None


class CommandTask(QgsTask):
    """Runs ``work(on_line, is_canceled, set_progress)`` off the main thread; cancellable."""

    lineReceived = pyqtSignal(str)  # noqa: N815 (Qt's naming)
    done = pyqtSignal(bool)

    def __init__(self, description: str, work: Callable[..., Any]) -> None:
        super().__init__(description)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> bool:
        try:
            self.result = self.work(self.lineReceived.emit, self.isCanceled, self.setProgress)
            return True
        except Exception as exc:  # shown to the user by the dialog
            self.error = exc
            return False

    def finished(self, result: bool) -> None:  # noqa: D401 (QGIS' name), called on the main thread
        self.done.emit(result)


class DependenciesDialog(QDialog):
    """Python packages for QGIS (Install) and MintPy's environment (Set up MintPy)."""

    installed = pyqtSignal()

    def __init__(self, iface: Any = None, parent: Any = None, profile: str | None = None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.profile = profile or profile_dir()
        self.task: CommandTask | None = None
        self.plan: deps_install.InstallPlan | None = None
        self.setObjectName("InsarhubDependenciesDialog")
        self.setWindowTitle(tr("InSARHub: Python packages and MintPy"))
        self.resize(760, 640)
        layout = QVBoxLayout(self)

        packages = QGroupBox(tr("Python packages for QGIS (asf_search, hyp3_sdk, networkx, ciso8601)"))
        box = QVBoxLayout(packages)
        self.packagesStatus = QLabel()
        self.packagesStatus.setWordWrap(True)
        self.commandView = QPlainTextEdit()
        self.commandView.setObjectName("installCommand")
        self.commandView.setReadOnly(True)
        self.commandView.setMaximumHeight(110)
        self.prerequisites = QLabel()
        self.prerequisites.setWordWrap(True)
        self.prerequisites.setTextInteractionFlags(self.prerequisites.textInteractionFlags() | _selectable())
        self.installButton = QPushButton(tr("Install"))
        self.installButton.setObjectName("installButton")
        self.installButton.clicked.connect(self.install)
        for widget in (self.packagesStatus, self.commandView, self.prerequisites):
            box.addWidget(widget)
        box.addWidget(self.installButton)
        layout.addWidget(packages)

        mintpy = QGroupBox(tr("MintPy (the time-series step), in an environment of its own"))
        box = QVBoxLayout(mintpy)
        self.mintpyStatus = QLabel()
        self.mintpyStatus.setWordWrap(True)
        self.createRadio = QRadioButton(tr("Create an environment for MintPy (a venv over QGIS's Python)"))
        self.createRadio.setObjectName("createMintpyEnv")
        self.createRadio.setChecked(True)
        self.existingRadio = QRadioButton(tr("Use an existing environment that has MintPy (e.g. conda): its python"))
        self.existingRadio.setObjectName("useExistingEnv")
        row = QHBoxLayout()
        self.existingPython = QComboBox()
        self.existingPython.setObjectName("existingPython")
        self.existingPython.setEditable(True)
        browse = QPushButton(tr("Browse…"))
        browse.clicked.connect(self.browse_python)
        row.addWidget(self.existingPython, 1)
        row.addWidget(browse)
        self.mintpyCommand = QPlainTextEdit()
        self.mintpyCommand.setReadOnly(True)
        self.mintpyCommand.setMaximumHeight(70)
        self.setupMintpyButton = QPushButton(tr("Set up MintPy"))
        self.setupMintpyButton.setObjectName("setupMintpyButton")
        self.setupMintpyButton.clicked.connect(self.setup_mintpy)
        box.addWidget(self.mintpyStatus)
        box.addWidget(self.createRadio)
        box.addWidget(self.mintpyCommand)
        box.addWidget(self.existingRadio)
        box.addLayout(row)
        box.addWidget(self.setupMintpyButton)
        layout.addWidget(mintpy)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.log = QPlainTextEdit()
        self.log.setObjectName("installLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.result = QLabel()
        self.result.setObjectName("installResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(self.result.textInteractionFlags() | _selectable())
        layout.addWidget(self.progress)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.result)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.cancelButton = buttons.addButton(tr("Cancel the running step"), QDialogButtonBox.ButtonRole.ActionRole)
        self.cancelButton.setObjectName("cancelButton")
        self.cancelButton.setEnabled(False)
        self.cancelButton.clicked.connect(self.cancel)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        """Show what is missing, the exact command, and what must be installed first."""
        missing = deps.missing_packages()
        to_install = deps.packages_to_install(missing)
        self.plan = None
        self.prerequisites.setText("")
        if not to_install:
            self.packagesStatus.setText(tr("All the Python packages InSARHub needs import in this QGIS."))
            self.commandView.setPlainText("")
            self.installButton.setEnabled(False)
        else:
            names = ", ".join(to_install)
            try:
                self.plan = deps_install.plan_install(self.profile, to_install)
            except deps_install.DependencyInstallError as exc:
                self.packagesStatus.setText(tr("To install: {}.").format(names))
                self.commandView.setPlainText(str(exc))
                self.installButton.setEnabled(False)
            else:
                self.packagesStatus.setText(
                    tr("To install: {names}, into {folder} (a folder of this QGIS profile). "
                       "Install runs this command (in a copy that replaces the folder once the packages "
                       "import), with these versions kept as QGIS has them: {pins}").format(
                        names=names, folder=self.plan.target, pins=" ".join(self.plan.constraints) or "-"
                    )
                    + " "
                    + tr("(and, where pip can, the {} packages QGIS has already imported, so that no restart is needed)").format(
                        len(self.plan.loaded)
                    )
                )
                self.commandView.setPlainText(self.plan.command_text())
                needed = deps_install.missing_prerequisites(self.plan.python)
                if needed:
                    self.prerequisites.setText(
                        tr("First install what pip needs here ({what}), in a terminal: {command}").format(
                            what=", ".join(item.what for item in needed),
                            command=deps_install.prerequisites_command(needed),
                        )
                    )
                self.installButton.setEnabled(self.task is None)
        self._refresh_mintpy()

    def _refresh_mintpy(self) -> None:
        from ..processing_provider.settings import read_settings

        current = read_settings().get("mintpy_python", "")
        env_name = ENV_BY_SETTING["mintpy_python"]
        lines = [tr("MintPy interpreter set in the options: {}").format(current or tr("none (autodetected)"))]
        if os.environ.get(env_name):
            lines.append(tr("{name}={value} wins over it.").format(name=env_name, value=os.environ[env_name]))
        self.mintpyStatus.setText(" ".join(lines))
        try:
            plan = deps_install.plan_mintpy(self.profile)
            self.mintpyCommand.setPlainText(plan.commands_text())
        except deps_install.DependencyInstallError as exc:
            self.mintpyCommand.setPlainText(str(exc))
            self.createRadio.setEnabled(False)
            self.existingRadio.setChecked(True)
        if self.existingPython.count() == 0:
            self.existingPython.addItems(deps_install.environment_candidates())
            if current:
                self.existingPython.setEditText(current)

    def browse_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("The python of an environment with MintPy"))
        if path:
            self.existingPython.setEditText(path)
            self.existingRadio.setChecked(True)

    def _busy(self, busy: bool) -> None:
        self.installButton.setEnabled(not busy and self.plan is not None)
        self.setupMintpyButton.setEnabled(not busy)
        self.cancelButton.setEnabled(busy)

    def _start(self, description: str, work: Callable[..., Any], on_done: Callable[[CommandTask, bool], None]) -> CommandTask:
        self.log.clear()
        self.result.setText("")
        self.result.setStyleSheet("")
        self.progress.setValue(0)
        task = CommandTask(description, work)
        task.lineReceived.connect(self._append)
        task.progressChanged.connect(self._progress)
        task.done.connect(partial(self._finished, task, on_done))
        self.task = task
        self._busy(True)
        QgsApplication.taskManager().addTask(task)
        return task

    @pyqtSlot(str)
    def _append(self, line: str) -> None:
        self.log.appendPlainText(line)

    @pyqtSlot(float)
    def _progress(self, value: float) -> None:
        self.progress.setValue(int(value))

    def _finished(self, task: CommandTask, on_done: Callable[[CommandTask, bool], None], ok: bool) -> None:
        try:
            self.task = None
            self._busy(False)
            if not ok:
                error = task.error
                cancelled = error is None or isinstance(error, CancelledError) or task.isCanceled()
                self._say(tr("Cancelled; nothing was changed.") if cancelled else str(error), ok=False)
            on_done(task, ok)
        except RuntimeError:  # the dialog was deleted meanwhile (plugin unloaded)
            pass

    def _say(self, text: str, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("color: #2e7d32;" if ok else "color: #c62828;")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    # ------------------------------------------------------------- install
    def install(self) -> CommandTask | None:
        """Run the shown command (the user's consent is the click), in a QgsTask."""
        if self.plan is None or self.task is not None:
            return None
        plan = self.plan

        def work(on_line, is_canceled, set_progress):
            return deps_install.run_install(plan, on_line, is_canceled, set_progress)

        return self._start(tr("InSARHub: installing Python packages"), work, self._installed)

    def _installed(self, task: CommandTask, ok: bool) -> None:
        if not ok:
            return
        result: deps_install.InstallResult = task.result
        if result.swapped:
            deps_install.activate(self.profile)  # on the main thread: sys.path is the interpreter's
            result.restart_for = deps_install.loaded_elsewhere(result.site_dir)
            result.missing_after = deps.missing_packages()
        if not result.swapped:
            text = tr("Installed; restart QGIS to finish (files of the previous install are in use).")
        elif result.missing_after:
            text = tr("Installed, but {} still do not import: restart QGIS. The log is {}.").format(
                ", ".join(result.missing_after), result.log_file
            )
        elif result.restart_for:
            text = tr("Installed and loaded; restart QGIS so that the new {} replace the ones already loaded.").format(
                ", ".join(result.restart_for)
            )
        else:
            text = tr("Installed into {} and loaded: InSARHub is ready, no restart needed.").format(result.site_dir)
        self._say(text, ok=not result.missing_after)
        self.refresh()
        self.installed.emit()
        item = _OPEN.pop("message", None)
        if self.iface is not None:
            bar = self.iface.messageBar()
            if item is not None:
                try:
                    bar.popWidget(item)
                except RuntimeError:  # already closed by the user
                    pass
            level = Qgis.MessageLevel.Success if not result.missing_after else Qgis.MessageLevel.Warning
            bar.pushMessage("InSARHub", text, level=level, duration=15)

    # -------------------------------------------------------------- MintPy
    def setup_mintpy(self) -> CommandTask | None:
        """Create MintPy's venv, or check the chosen environment; record its python in the options."""
        if self.task is not None:
            return None
        if self.existingRadio.isChecked():
            python = self.existingPython.currentText().strip()
            if not python:
                self._say(tr("Choose the python of an environment that has MintPy."), ok=False)
                return None

            def check(_on_line, _is_canceled, _set_progress):
                from ..core.mintpy_env import probe

                return probe(python), python

            return self._start(tr("InSARHub: checking MintPy"), check, self._mintpy_checked)
        plan = deps_install.plan_mintpy(self.profile)

        def work(on_line, is_canceled, set_progress):
            version = None
            python = deps_install.run_mintpy_setup(plan, on_line, is_canceled, set_progress)
            from ..core.mintpy_env import probe

            version = probe(python)
            return version, python

        return self._start(tr("InSARHub: setting up MintPy"), work, self._mintpy_checked)

    def _mintpy_checked(self, task: CommandTask, ok: bool) -> None:
        if not ok:
            return
        version, python = task.result
        if not version:
            self._say(
                tr("{python} cannot import mintpy; nothing was recorded. Add MintPy to that environment "
                   "(e.g. {command}) or create one here.").format(
                    python=python, command=deps_install.conda_install_command(python)
                ),
                ok=False,
            )
            return
        from ..processing_provider.settings import write_setting

        write_setting("mintpy_python", python)
        self._say(tr("MintPy {version} in {python}: recorded as the MintPy interpreter in the options.").format(
            version=version, python=python), ok=True)
        self._refresh_mintpy()


def _selectable():
    from qgis.PyQt.QtCore import Qt

    return Qt.TextInteractionFlag.TextSelectableByMouse


def open_dialog(iface: Any = None, item: Any = None, profile: str | None = None) -> DependenciesDialog:
    """Show the dialog (one at a time; not modal, so QGIS can be used while pip runs)."""
    if item is not None:
        _OPEN["message"] = item
    dialog = _OPEN.get("dialog")
    if dialog is None:
        parent = iface.mainWindow() if iface is not None else None
        dialog = DependenciesDialog(iface, parent, profile)
        _OPEN["dialog"] = dialog
    else:
        dialog.refresh()
    dialog.show()
    dialog.raise_()
    return dialog


def close_dialog() -> None:
    """Close the dialog (plugin unload); a running step is cancelled."""
    dialog = _OPEN.pop("dialog", None)
    _OPEN.pop("message", None)
    _OPEN.pop("offers", None)
    if dialog is not None:
        dialog.cancel()
        dialog.close()
        dialog.deleteLater()


def offer_install(iface: Any, missing: list[str]) -> Any:
    """A message bar warning naming what is missing, with an "Install…" button that opens the dialog."""
    text = tr("InSARHub needs the Python package(s) {} that QGIS's Python cannot import.").format(", ".join(missing))
    item = QgsMessageBar.createMessage("InSARHub", text)
    button = QPushButton(tr("Install…"), item)
    button.setObjectName("insarhubInstallButton")
    button.setToolTip(deps.install_commands(deps.packages_to_install(missing))[deps.current_platform()])
    # A slot of a QObject kept here, not a lambda: a lambda connected while QGIS starts up was
    # found freed by the time the button was clicked (a crash in QGIS 3.22's desktop).
    offer = _InstallOffer(iface, item)
    _OPEN.setdefault("offers", []).append(offer)
    button.clicked.connect(offer.open)
    item.layout().addWidget(button)
    iface.messageBar().pushWidget(item, Qgis.MessageLevel.Warning, 0)
    return item


class _InstallOffer(QObject):
    """What the message bar's Install… button calls."""

    def __init__(self, iface: Any, item: Any) -> None:
        super().__init__()
        self.iface = iface
        self.item = item

    @pyqtSlot()
    def open(self) -> None:
        open_dialog(self.iface, self.item)


def menu_action(iface: Any) -> QAction:
    """The menu entry that opens the dialog."""
    action = QAction(tr("Python packages and MintPy…"), iface.mainWindow())
    action.setObjectName("insarhubDependenciesAction")
    opener = _InstallOffer(iface, None)
    _OPEN.setdefault("offers", []).append(opener)
    action.triggered.connect(opener.open)
    return action
