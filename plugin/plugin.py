"""The plugin object QGIS creates: registers the provider, adds and removes the GUI."""

from __future__ import annotations

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QCoreApplication

from ..core import deps

MENU = "&InSARHub"


def tr(text: str) -> str:
    return QCoreApplication.translate("InSARHub", text)


class InsarhubPlugin:
    """Entry point: ``initProcessing`` (also headless, for qgis_process), ``initGui``, ``unload``."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.action = None
        self.dock = None
        self.options_factory = None
        self.deps_action = None
        self.workspace = None  # the dock's workspace, following the project from initGui on
        self.model_actions = []  # the toolbox's "Edit model…" for the shipped models

    def initProcessing(self) -> None:  # noqa: N802 (QGIS' name)
        """Register the ``insarhub`` provider (once), with or without a desktop GUI."""
        if self.provider is not None:
            return
        from ..processing_provider.provider import InsarhubProvider

        self.provider = InsarhubProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        self.notify_missing_dependencies()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction

        from ..__about__ import __icon_path__

        self.action = QAction(QIcon(str(__icon_path__)), tr("InSARHub"), self.iface.mainWindow())
        self.action.setObjectName("insarhubDockAction")
        self.action.setToolTip(tr("InSARHub: Sentinel-1 InSAR time series (search, pairs, HyP3, MintPy)"))
        self.action.setCheckable(True)
        self.action.toggled.connect(self.show_dock)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        from . import deps_installer

        self.deps_action = deps_installer.menu_action(self.iface)  # Install packages, Set up MintPy
        self.iface.addPluginToRasterMenu(MENU, self.deps_action)

        from ..ui.options import InsarhubOptionsFactory

        self.options_factory = InsarhubOptionsFactory()
        self.options_factory.setTitle(tr("InSARHub"))
        self.iface.registerOptionsWidgetFactory(self.options_factory)

        # The workspace follows the project from now on (a project opened before the dock is
        # shown is read when the dock is), so reopening a project restores the dock's pages.
        from ..ui.workspace import Workspace

        self.workspace = Workspace()
        self.workspace.attach()
        QgsProject.instance().readProject.connect(self._project_read)
        from .model_actions import register_model_actions

        self.model_actions = register_model_actions()

    def _project_read(self, *_args) -> None:
        """Projects saved by earlier versions: stack outlines get a label the map can draw safely."""
        from ..processing_provider.styling import relabel_stack_layers

        relabel_stack_layers(QgsProject.instance())

    def notify_missing_dependencies(self) -> list[str]:
        """Say in the message bar which packages are missing, with an "Install…" button."""
        missing = deps.missing_packages()
        if missing and self.iface is not None:
            from .deps_installer import offer_install

            offer_install(self.iface, missing)
        return missing

    def show_dock(self, visible: bool = True):
        """Open (creating it the first time) or hide the dock; returns it."""
        if self.dock is None:
            if not visible:
                return None
            from qgis.PyQt.QtCore import Qt

            from ..ui.dock import InsarhubDock

            self.dock = InsarhubDock(self.iface, self.iface.mainWindow(), self.workspace)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
            main_window = self.iface.mainWindow()
            if hasattr(main_window, "resizeDocks"):  # wide enough for its forms on first opening
                main_window.resizeDocks([self.dock], [560], Qt.Orientation.Horizontal)
            self.dock.visibilityChanged.connect(self._dock_visibility_changed)
        self.dock.setUserVisible(visible)
        if visible:
            # With no area of interest yet, the selected features of the active layer; an area
            # already chosen is kept (the page offers the selection instead).
            self.dock.aoi.choose_default()
            self.dock.raise_()
        return self.dock

    def _dock_visibility_changed(self, visible: bool) -> None:
        if self.action is not None and self.action.isChecked() != visible:
            self.action.blockSignals(True)
            self.action.setChecked(visible)
            self.action.blockSignals(False)

    def unload(self) -> None:
        """Remove everything this plugin added."""
        if self.dock is not None:
            self.dock.cleanup()
            self.iface.removeDockWidget(self.dock)
            self.dock.setParent(None)
            self.dock.deleteLater()
            self.dock = None
        if self.action is not None:
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action.deleteLater()
            self.action = None
        if self.deps_action is not None:
            from .deps_installer import close_dialog

            close_dialog()
            self.iface.removePluginRasterMenu(MENU, self.deps_action)
            self.deps_action.deleteLater()
            self.deps_action = None
        if self.options_factory is not None:
            self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
        if self.model_actions:
            from .model_actions import unregister_model_actions

            unregister_model_actions(self.model_actions)
            self.model_actions = []
        if self.workspace is not None:
            try:
                QgsProject.instance().readProject.disconnect(self._project_read)
            except TypeError:
                pass
            self.workspace.save()
            self.workspace.detach()
            self.workspace.deleteLater()
            self.workspace = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
