"""What every page of the dock shares (as 3liz QuickOSM's ``base_panel.py`` does for its panels).

A page is one step of the workflow: its widgets come from its Designer file (``<page>.ui``,
loaded at runtime), its buttons build the parameters of one of the provider's algorithms and
hand them to the dock's runner, and it shows what the step is based on and whether that is
stale, as the shared :class:`~insarhub_qgis.ui.workspace.Workspace` says. Field values the user
chose (not the workflow's state, which the workspace keeps) survive closing the dock through
QgsSettings ``insarhub/dock/<widget>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from qgis.core import QgsProcessingOutputLayerDefinition, QgsProject
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QWidget

from .. import state
from ..defaults import default_value

if TYPE_CHECKING:
    from ..dock import InsarhubDock

PAGES_DIR = Path(__file__).resolve().parent


class BasePage(QWidget):
    """One page of the dock; subclasses set the class attributes and implement the hooks."""

    UI = ""  # the Designer file next to this module
    TITLE = ""  # the tab's title
    TOOLTIP = ""  # what the step does, on its tab
    # Field widgets whose values survive closing the dock (QgsSettings insarhub/dock/<name>).
    PERSISTED: tuple[str, ...] = ()
    # Widget -> options-page default (ui.defaults), used until the user changes the field.
    DEFAULT_FOR: dict[str, str] = {}
    # Buttons disabled while any step runs.
    RUN_BUTTONS: tuple[str, ...] = ()
    # The labels "based on ..." and the stale banner, in the .ui.
    BASED_ON = ""
    STALE = ""

    def __init__(self, dock: InsarhubDock) -> None:
        super().__init__(dock.tabs)
        uic.loadUi(str(PAGES_DIR / self.UI), self)
        self.dock = dock
        self._busy = False
        self.setup()
        self.apply_defaults()
        self.restore_settings()
        self.connect_signals()
        dock.workspace.changed.connect(self.workspace_changed)

    # ---- shared access ---------------------------------------------------------------------

    @staticmethod
    def tr(text: str) -> str:  # noqa: D102
        return QCoreApplication.translate("InSARHub", text)

    @property
    def workspace(self) -> Any:
        return self.dock.workspace

    @property
    def iface(self) -> Any:
        return self.dock.iface

    @property
    def canvas(self) -> Any:
        return self.dock.canvas

    @property
    def runner(self) -> Any:
        return self.dock.runner

    @property
    def project(self) -> QgsProject:
        return QgsProject.instance()

    def run(
        self, algorithm_id: str, parameters: dict, done: Callable[[bool, dict, str], None], load: bool = True
    ) -> bool:
        """Run ``algorithm_id`` in the background (the dock's runner); ``done(ok, results, error)`` after."""
        return self.dock.run(algorithm_id, parameters, done, load)

    def refuse(self, message: str, label: Any = None) -> None:
        """The step cannot start: say why where the user looks."""
        self.dock.refuse(message, label)

    @staticmethod
    def destination(path: str) -> QgsProcessingOutputLayerDefinition:
        """A layer output written to ``path`` and loaded into the project."""
        return QgsProcessingOutputLayerDefinition(path, QgsProject.instance())

    # ---- hooks -----------------------------------------------------------------------------

    def setup(self) -> None:
        """Set up the page's widgets (after the .ui is loaded, before settings are restored)."""

    def connect_signals(self) -> None:
        """Connect the page's widgets."""

    def refresh(self) -> None:
        """Show what the page is based on, whether it is stale, and enable its actions accordingly."""

    def workspace_changed(self, step: str) -> None:
        """The workspace changed (``step``: what); by default the page refreshes."""
        self.refresh()

    def set_busy(self, busy: bool) -> None:
        """A step started (True) or ended (False): the run buttons follow."""
        self._busy = busy
        for name in self.RUN_BUTTONS:
            getattr(self, name).setEnabled(not busy)
        if not busy:
            self.refresh()

    def cleanup(self) -> None:
        """Remove what the page put on the map (the dock closes for good)."""

    # ---- the "based on" and stale lines ----------------------------------------------------

    def show_based_on(self, text: str) -> None:
        if self.BASED_ON:
            getattr(self, self.BASED_ON).setText(text)

    def show_stale(self, text: str) -> None:
        if self.STALE:
            label = getattr(self, self.STALE)
            label.setText(text)
            label.setVisible(bool(text))

    # ---- remembered fields -----------------------------------------------------------------

    def persisted_widgets(self) -> dict[str, QWidget]:
        return {name: getattr(self, name) for name in self.PERSISTED}

    def apply_defaults(self) -> None:
        for name, key in self.DEFAULT_FOR.items():
            state.set_widget_value(getattr(self, name), default_value(key))

    def save_settings(self) -> None:
        state.save_widgets(self.persisted_widgets())
        # A field left at the options page's default is not pinned: a later default applies to it.
        unchanged = [
            name
            for name, key in self.DEFAULT_FOR.items()
            if state.widget_value(getattr(self, name)) == default_value(key)
        ]
        state.clear_state(unchanged)

    def restore_settings(self) -> None:
        state.restore_widgets(self.persisted_widgets())
