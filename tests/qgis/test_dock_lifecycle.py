"""Load, use, unload, load again: the toolbar button and Raster-menu entry open the dock, and
unloading leaves no action, menu, dock, map tool, canvas item, options page factory, toolbox
action, project connection or provider behind; the dock's fields survive closing it and
reloading the plugin."""

from __future__ import annotations

import insarhub_qgis
import pytest
from insarhub_qgis.ui import state
from insarhub_qgis.ui.aoi import DRAWN
from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsPointXY, QgsRectangle
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent, Qt
from qgis.PyQt.QtWidgets import QDockWidget, QMenu, QToolBar


class RecordingIface:
    """Gives the stub iface of pytest-qgis a real toolbar, Raster menu, dock area and options registry."""

    def __init__(self, iface, monkeypatch):
        self.iface = iface
        self.toolbar = QToolBar("Plugins")
        self.raster_menu = QMenu("&Raster")
        self.factories = []
        main_window = iface.mainWindow()
        patch = monkeypatch.setattr
        patch(iface, "addToolBarIcon", self.toolbar.addAction)
        patch(iface, "removeToolBarIcon", self.toolbar.removeAction)
        patch(iface, "addPluginToRasterMenu", self.add_to_menu)
        patch(iface, "removePluginRasterMenu", self.remove_from_menu)
        patch(iface, "addDockWidget", main_window.addDockWidget)
        patch(iface, "removeDockWidget", main_window.removeDockWidget)
        patch(iface, "registerOptionsWidgetFactory", self.factories.append)
        patch(iface, "unregisterOptionsWidgetFactory", self.factories.remove)

    def _submenu(self, name):
        return next((a.menu() for a in self.raster_menu.actions() if a.menu() and a.text() == name), None)

    def add_to_menu(self, name, action):
        menu = self._submenu(name) or self.raster_menu.addMenu(name)
        menu.addAction(action)

    def remove_from_menu(self, name, action):
        menu = self._submenu(name)
        if menu is not None:
            menu.removeAction(action)
            if not menu.actions():  # QGIS removes a plugin's submenu once it is empty
                self.raster_menu.removeAction(menu.menuAction())

    def counts(self):
        docks = [
            d
            for d in self.iface.mainWindow().findChildren(QDockWidget)
            if d.objectName() == "InsarhubDock" and not sip.isdeleted(d)
        ]
        menu_actions = sum(len(a.menu().actions()) for a in self.raster_menu.actions() if a.menu())
        return {
            "toolbar": len(self.toolbar.actions()),
            "menus": len(self.raster_menu.actions()),
            "menu_actions": menu_actions,
            "docks": len(docks),
            "factories": len(self.factories),
            "providers": sum(
                1 for p in QgsApplication.processingRegistry().providers() if p.id() == "insarhub"
            ),
        }


def _toolbox_actions():
    from processing.gui.ProviderActions import ProviderContextMenuActions

    return [a for a in ProviderContextMenuActions.actions if type(a).__name__ == "EditInsarhubModelAction"]


def _project_receivers():
    from qgis.core import QgsProject

    project = QgsProject.instance()
    return sum(project.receivers(signal) for signal in (project.readProject, project.writeProject, project.cleared))


def _flush_deletes():
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


@pytest.fixture()
def recording(qgis_iface, qgis_processing, qgis_new_project, qgis_canvas, monkeypatch, workspace_root):
    state.clear_state()
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    qgis_canvas.setExtent(QgsRectangle(10, 40, 20, 45))
    main_window = qgis_iface.mainWindow()
    main_window.show()  # as in QGIS: docks report their visibility only inside a shown window
    yield RecordingIface(qgis_iface, monkeypatch)
    main_window.hide()
    state.clear_state()


def test_load_unload_load_leaves_nothing_behind(recording, qgis_iface, qgis_canvas):
    nothing = {"toolbar": 0, "menus": 0, "menu_actions": 0, "docks": 0, "factories": 0, "providers": 0}
    assert recording.counts() == nothing
    scene_items = len(qgis_canvas.scene().items())
    receivers = _project_receivers()
    for _ in range(2):
        plugin = insarhub_qgis.classFactory(qgis_iface)
        plugin.initProcessing()
        plugin.initGui()
        assert recording.counts() == {
            **nothing,
            "toolbar": 1,
            "menus": 1,
            "menu_actions": 2,  # the dock, and "Python packages and MintPy…"
            "factories": 1,
            "providers": 1,
        }
        assert recording.toolbar.actions()[0] is plugin.action
        assert len(_toolbox_actions()) == 1  # "Edit model…" in the toolbox

        plugin.action.trigger()  # the toolbar button / menu entry opens the dock
        dock = plugin.dock
        assert dock is not None and recording.counts()["docks"] == 1 and plugin.action.isChecked()
        assert not dock.isHidden()
        assert qgis_iface.mainWindow().dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea

        # Use what puts things on the canvas: the AOI outline, the map tools, markers.
        dock.aoi.set_drawn_extent(QgsRectangle(12, 41, 14, 43))
        assert not dock.aoi.rubber_band.asGeometry().isEmpty()
        series = dock.page("timeseries")
        series.set_reference_point(QgsPointXY(13, 42), QgsCoordinateReferenceSystem("EPSG:4326"))
        series.chartPixels.click()
        assert qgis_canvas.mapTool() is series.pixel_tool
        assert len(qgis_canvas.scene().items()) > scene_items

        plugin.action.trigger()  # the same button closes it
        assert dock.isHidden() and not plugin.action.isChecked()
        assert qgis_canvas.mapTool() is not series.pixel_tool  # a hidden dock leaves no tool active
        plugin.action.trigger()
        assert plugin.dock is dock and not dock.isHidden()
        series.chartPixels.click()
        series.pickReference.click()  # draws nothing without products, but must be cleaned up too

        plugin.unload()
        _flush_deletes()
        assert recording.counts() == nothing
        assert sip.isdeleted(dock)
        assert qgis_canvas.mapTool() is None
        assert len(qgis_canvas.scene().items()) == scene_items
        assert QgsApplication.processingRegistry().providerById("insarhub") is None
        assert not _toolbox_actions() and _project_receivers() == receivers


def test_fields_survive_closing_the_dock_and_reloading_the_plugin(recording, qgis_iface, tmp_path):
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    dock = plugin.show_dock(True)
    search, pairs, hyp3 = dock.page("search"), dock.page("pairs"), dock.page("hyp3")
    search.searchStart.setText("2021-05")
    search.relativeOrbits.setText("94,21")
    search.processingLevel.setCurrentText("BURST")
    pairs.maxTemporal.setValue(36)
    pairs.forceConnected.setChecked(False)
    hyp3.jobType.setCurrentText("INSAR_ISCE_MULTI_BURST")
    hyp3.projectName.setText("etna_2025")
    dock.aoi.set_drawn_extent(QgsRectangle(12, 41, 14, 43))
    dock.tabs.setCurrentIndex(3)

    plugin.show_dock(False)  # closing the dock keeps everything
    plugin.show_dock(True)
    assert plugin.dock is dock and search.relativeOrbits.text() == "94,21"

    plugin.unload()
    _flush_deletes()
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        again = plugin.show_dock(True)
        assert again is not dock
        search, pairs, hyp3 = again.page("search"), again.page("pairs"), again.page("hyp3")
        assert search.searchStart.text() == "2021-05" and search.searchEnd.text() == ""
        assert search.relativeOrbits.text() == "94,21" and search.processingLevel.currentText() == "BURST"
        assert pairs.maxTemporal.value() == 36 and not pairs.forceConnected.isChecked()
        assert hyp3.jobType.currentText() == "INSAR_ISCE_MULTI_BURST" and hyp3.projectName.text() == "etna_2025"
        # The area mode too: reopening never falls back to another source silently.
        assert again.aoi.mode == DRAWN and again.aoi.drawn_extent == QgsRectangle(12, 41, 14, 43)
        assert again.tabs.currentIndex() == 3
    finally:
        plugin.unload()


def test_unloading_while_a_step_runs_cancels_it_cleanly(
    recording, qgis_iface, qgis_canvas, qtbot, tmp_path, monkeypatch
):
    from fakes.cmr import CMRStandIn, synthetic_slc_records

    with CMRStandIn(synthetic_slc_records(24, paths=(94, 21), frames=(210,)), tmpdir=tmp_path) as cmr:
        monkeypatch.setenv("INSARHUB_CMR_HOST", cmr.host)
        monkeypatch.setenv("INSARHUB_CA_BUNDLE", cmr.ca_file)
        cmr.cap_page_size(1)
        cmr.delay(0.2)
        plugin = insarhub_qgis.classFactory(qgis_iface)
        plugin.initGui()
        dock = plugin.show_dock(True)
        qgis_canvas.setExtent(QgsRectangle(-160, 55, -135, 70))
        dock.page("search").aoiUseCanvas.click()
        assert dock.page("search").run_search()
        task = dock.runner.task
        qtbot.waitUntil(lambda: task.progress() > 0, timeout=15_000)
        plugin.unload()  # mid-search
        _flush_deletes()
        assert recording.counts()["docks"] == 0 and recording.counts()["providers"] == 0
        qtbot.waitUntil(lambda: not QgsApplication.taskManager().tasks(), timeout=30_000)
    assert not getattr(QgsApplication.instance(), "_insarhub_orphan_tasks", [])
