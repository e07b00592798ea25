"""The InSARHub dock: it only hosts the pages (as 3liz QuickOSM's ``dialog.py`` hosts its panels).

One page per step of the workflow (``ui/pages``): (1) area of interest and search, (2) stacks,
(3) pairs, (4) HyP3 jobs, (5) time series, (6) vertical and east from two stacks. The dock holds
what they share: the workspace (:class:`~.workspace.Workspace`: where the workflow lives and
which step is stale), the runner that runs the provider's algorithms in the background
(:class:`~.runner.AlgorithmRunner`; the layers load and are styled as from the toolbox), the
progress bar, Cancel and the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from qgis.core import Qgis
from qgis.gui import QgsDockWidget, QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import pyqtSignal

from . import state
from .i18n import tr
from .pages.decompose import DecomposePage
from .pages.hyp3 import Hyp3Page
from .pages.pairs import PairsPage
from .pages.search import SearchPage
from .pages.stacks import StacksPage
from .pages.timeseries import TimeseriesPage
from .runner import CONSOLE, ERROR, WARNING, AlgorithmRunner
from .temporal import TemporalSwitch
from .workspace import Workspace, find_layer

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("dock.ui")))
PAGES = (
    ("search", SearchPage),
    ("stacks", StacksPage),
    ("pairs", PairsPage),
    ("hyp3", Hyp3Page),
    ("timeseries", TimeseriesPage),
    ("decompose", DecomposePage),
)



def find_result_layer(value: Any) -> Any:
    """The project layer an algorithm output became (a layer id, or a file path)."""
    from qgis.core import QgsMapLayer, QgsProject

    if value is None or value == "":
        return None
    if isinstance(value, QgsMapLayer):
        return value
    layer = QgsProject.instance().mapLayer(str(value))
    return layer if layer is not None else find_layer(str(value), subset="")


class InsarhubDock(QgsDockWidget, FORM_CLASS):
    """The dock; ``stepFinished(algorithm_id, ok)`` after each run's results are shown."""

    stepFinished = pyqtSignal(str, bool)

    def __init__(self, iface: Any, parent: Any = None, workspace: Workspace | None = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("InsarhubDock")
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self._own_workspace = workspace is None
        self.workspace = workspace if workspace is not None else Workspace(self)
        self.workspace.attach()
        self.runner = AlgorithmRunner(self)
        self._cleaned = False
        self.pages: dict[str, Any] = {}
        for key, page_class in PAGES:
            page = page_class(self)
            self.pages[key] = page
            index = self.tabs.addTab(page, tr(page.TITLE))
            self.tabs.setTabToolTip(index, tr(page.TOOLTIP))
        self.workspaceFolder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.workspaceNotice.hide()
        self.progressBar.setRange(0, 100)
        self.temporal = TemporalSwitch(iface, self)
        tab = state.load_value("tabs", 0)
        try:
            self.tabs.setCurrentIndex(int(tab))
        except (TypeError, ValueError):
            pass
        self._connect()
        self._show_workspace()
        for page in self.pages.values():
            page.refresh()

    # ---- pages -----------------------------------------------------------------------------

    def page(self, key: str) -> Any:
        return self.pages.get(key)

    def show_page(self, key: str) -> None:
        page = self.pages.get(key)
        if page is not None:
            self.tabs.setCurrentWidget(page)

    @property
    def aoi(self) -> Any:
        """The search page's area of interest."""
        return self.pages["search"].aoi

    # ---- the workspace ---------------------------------------------------------------------

    def _connect(self) -> None:
        self.runner.started.connect(self._run_started)
        self.runner.progress.connect(lambda value: self.progressBar.setValue(int(round(value))))
        self.runner.message.connect(self._log)
        self.runner.finished.connect(self._run_finished)
        self.cancelButton.clicked.connect(self.runner.cancel)
        self.visibilityChanged.connect(self._visibility_changed)
        self.workspace.changed.connect(self._workspace_changed)
        self.workspace.notice.connect(self.show_notice)
        self.workspaceFolder.fileChanged.connect(self._workspace_chosen)
        self.tabs.currentChanged.connect(lambda index: state.save_value("tabs", index))

    def _workspace_changed(self, step: str) -> None:
        if step == "folder":
            self._show_workspace()

    def _show_workspace(self) -> None:
        folder = self.workspace.folder
        self.workspaceFolder.blockSignals(True)
        self.workspaceFolder.setFilePath(str(folder) if folder else "")
        self.workspaceFolder.blockSignals(False)
        line = self.workspaceFolder.lineEdit()
        if line is not None:
            line.setPlaceholderText(
                tr("{folder} (made when a step first needs it)").format(folder=self.workspace.default_folder())
            )

    def _workspace_chosen(self, path: str) -> None:
        if not path:
            self._show_workspace()
            return
        try:
            self.workspace.set_folder(path)
        except (ValueError, OSError) as exc:
            self.refuse(str(exc), self.workspaceNotice)
            self.workspaceNotice.show()
            self._show_workspace()

    def show_notice(self, message: str) -> None:
        """Tell the user where the workspace is (or a problem with it): in the dock and the message bar."""
        self.workspaceNotice.setText(message)
        self.workspaceNotice.show()
        try:
            self.iface.messageBar().pushMessage("InSARHub", message, Qgis.MessageLevel.Info, 10)
        except Exception:  # noqa: BLE001 — a message bar is a courtesy
            pass

    # ---- running ---------------------------------------------------------------------------

    def run(self, algorithm_id: str, parameters: dict, done: Callable[[bool, dict, str], None], load: bool = True) -> bool:
        self.save_state()
        return self.runner.run(algorithm_id, parameters, done, load)

    def refuse(self, message: str, label: Any = None) -> None:
        """A step cannot start: say why where the user looks."""
        self.statusLabel.setText(message)
        if label is not None:
            label.setText(message)
        self._log(message, WARNING)

    def _run_started(self, algorithm_id: str) -> None:
        self.progressBar.setValue(0)
        self.cancelButton.setEnabled(True)
        self.statusLabel.setText(tr("Running {id}…").format(id=algorithm_id))
        for page in self.pages.values():
            page.set_busy(True)
        self.pages["hyp3"].submitJobs.setEnabled(False)

    def _run_finished(self, algorithm_id: str, ok: bool, results: dict, error: str) -> None:
        self.cancelButton.setEnabled(False)
        for page in self.pages.values():
            page.set_busy(False)
        if ok:
            self.progressBar.setValue(100)
            self.statusLabel.setText(tr("{id} finished.").format(id=algorithm_id))
        elif self.runner.last_cancelled:
            self.progressBar.setValue(0)
            self.statusLabel.setText(tr("Cancelled: {id} stopped; running it again resumes.").format(id=algorithm_id))
            self._message(tr("{id} cancelled.").format(id=algorithm_id), Qgis.MessageLevel.Info)
        else:
            self.statusLabel.setText(error or tr("{id} failed.").format(id=algorithm_id))
            self._message(error or tr("{id} failed.").format(id=algorithm_id), Qgis.MessageLevel.Warning)
        self.save_state()
        self.stepFinished.emit(algorithm_id, ok)

    def _message(self, text: str, level: Any) -> None:
        try:
            self.iface.messageBar().pushMessage("InSARHub", text, level, 8)
        except Exception:  # noqa: BLE001 — a message bar is a courtesy
            pass

    def _log(self, text: str, kind: int = 0) -> None:
        prefix = {WARNING: tr("Warning: "), ERROR: tr("Error: ")}.get(kind, "")
        self.logView.appendPlainText(prefix + text)
        bar = self.logView.verticalScrollBar()
        bar.setValue(bar.maximum())
        if kind != CONSOLE and text.strip():
            self.statusLabel.setText(text.strip().splitlines()[0][:200])

    # ---- life cycle ------------------------------------------------------------------------

    def save_state(self) -> None:
        """Store the pages' fields in QgsSettings and the workspace's state in its folder."""
        if self._cleaned:
            return
        for page in self.pages.values():
            page.save_settings()
        state.save_value("tabs", self.tabs.currentIndex())
        self.workspace.save()

    def _visibility_changed(self, visible: bool) -> None:
        if self._cleaned:
            return
        self.aoi.set_visible(visible)
        self.pages["timeseries"].set_visible(visible)
        if visible:
            self.pages["search"].update_selection_offer()
        else:
            self.save_state()
            self.pages["search"].aoiDraw.setChecked(False)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.save_state()
        super().closeEvent(event)

    def cleanup(self) -> None:
        """Remove everything the dock put on the canvas and stop its background work (plugin unload)."""
        if self._cleaned:
            return
        self.save_state()
        self._cleaned = True
        self.runner.detach()
        self.temporal.detach()
        for page in self.pages.values():
            page.cleanup()
        try:
            self.workspace.changed.disconnect(self._workspace_changed)
            self.workspace.notice.disconnect(self.show_notice)
            for page in self.pages.values():
                self.workspace.changed.disconnect(page.workspace_changed)
        except (TypeError, RuntimeError):
            pass
        if self._own_workspace:
            self.workspace.detach()
