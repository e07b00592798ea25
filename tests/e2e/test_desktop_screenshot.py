"""The real QGIS desktop (./scripts/qgis, under xvfb when there is no display) with the plugin
enabled and a project of footprints and a velocity raster: the toolbar button opens the dock,
a screenshot of the main window is kept as tests/artifacts/desktop.png (and of Settings >
Options on InSARHub's page as desktop-options.png), and reloading and unloading the plugin in
that QGIS leaves no action, menu, dock or provider behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fakes.cmr import load_fixture
from osgeo import gdal, ogr, osr

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "tests" / "artifacts" / "desktop.png"

STARTUP = r'''
"""Run by QGIS (--code) once it has started: open the InSARHub dock, screenshot, reload, unload, quit."""
import json
import os
import traceback

import qgis.utils
from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAction, QDockWidget
from qgis.utils import iface

REPORT, SHOT = os.environ["INSARHUB_TEST_REPORT"], os.environ["INSARHUB_TEST_SHOT"]
OPTIONS_SHOT = SHOT.replace(".png", "-options.png")
report = {"errors": []}


def counts():
    window = iface.mainWindow()
    mine = lambda a: not isinstance(a, type(None)) and a.objectName() == "insarhubDockAction"
    return {
        "actions": len([a for a in window.findChildren(QAction) if mine(a)]),
        "toolbar": len([a for a in iface.pluginToolBar().actions() if mine(a)]),
        "raster_menu": len([a for a in iface.rasterMenu().actions() if a.menu() and a.text().replace("&", "") == "InSARHub"]),
        "docks": len([d for d in window.findChildren(QDockWidget) if d.objectName() == "InsarhubDock"]),
        "provider": QgsApplication.processingRegistry().providerById("insarhub") is not None,
    }


def step(function, delay_ms):
    def run():
        try:
            function()
        except Exception:
            report["errors"].append(traceback.format_exc())
            finish()
    QTimer.singleShot(delay_ms, run)


def open_dock():
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1600, 1000)
    report["plugin_loaded"] = "insarhub_qgis" in qgis.utils.plugins
    report["project_layers"] = sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())
    report["before"] = counts()
    action = next(a for a in window.findChildren(QAction) if a.objectName() == "insarhubDockAction")
    action.trigger()  # what clicking the toolbar button does
    iface.mapCanvas().zoomToFullExtent()
    step(show_aoi, 1500)


def show_aoi():
    from qgis.core import QgsRectangle

    dock = iface.mainWindow().findChild(QDockWidget, "InsarhubDock")
    canvas = iface.mapCanvas()
    centre = canvas.extent().center()
    # A rectangle as the drawing map tool gives it: the AOI, outlined on the map.
    dock.aoi.set_drawn_extent(QgsRectangle(centre.x() - 1.0, centre.y() - 0.4, centre.x() + 0.6, centre.y() + 0.25))
    canvas.refresh()
    step(screenshot, 3000)


def screenshot():
    window = iface.mainWindow()
    dock = window.findChild(QDockWidget, "InsarhubDock")
    report["dock_visible"] = dock.isVisible()
    report["dock_area"] = int(window.dockWidgetArea(dock))
    top_left = dock.mapTo(window, dock.rect().topLeft())
    report["dock_rect"] = [top_left.x(), top_left.y(), dock.width(), dock.height()]
    report["aoi"] = dock.aoiSummary.text()
    report["saved"] = window.grab().save(SHOT)
    report["opened"] = counts()
    step(options_page, 200)


def options_page():
    """Settings > Options shows InSARHub's page (modal: inspected and closed from a timer)."""
    from qgis.PyQt.QtWidgets import QApplication, QWidget

    def inspect():
        dialog = QApplication.activeModalWidget()
        try:
            page = dialog.findChild(QWidget, "InsarhubOptionsPage") if dialog is not None else None
            report["options_page"] = page is not None
            if page is not None:
                report["options_page_visible"] = page.isVisible()
                report["options_saved"] = dialog.grab().save(OPTIONS_SHOT)
        except Exception:
            report["errors"].append(traceback.format_exc())
        finally:
            if dialog is not None:
                dialog.reject()

    QTimer.singleShot(2500, inspect)
    iface.showOptionsDialog(iface.mainWindow(), "InsarhubOptionsPage")  # returns once inspect() closed it
    qgis.utils.reloadPlugin("insarhub_qgis")  # what the Plugin Reloader does
    step(after_reload, 1000)


def after_reload():
    report["after_reload"] = counts()
    qgis.utils.unloadPlugin("insarhub_qgis")
    step(after_unload, 1000)


def after_unload():
    report["after_unload"] = counts()
    finish()


def finish():
    with open(REPORT, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    QgsProject.instance().setDirty(False)
    QTimer.singleShot(200, iface.actionExit().trigger)
    QTimer.singleShot(8000, lambda: os._exit(0))


step(open_dock, 2000)
'''


def _footprints(path: Path) -> None:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("footprints", srs, ogr.wkbPolygon)
    for name in ("sceneName", "stack", "startTime"):
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    for item in load_fixture("s1_slc_fairbanks_p94_f210_stack"):
        points = item["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0][
            "Boundary"
        ]["Points"]
        ring = "(" + ",".join(f"{p['Longitude']} {p['Latitude']}" for p in points) + ")"
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("sceneName", item["asf_properties"]["sceneName"])
        feature.SetField("stack", "P94_F210")
        feature.SetField("startTime", item["asf_properties"]["startTime"])
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON({ring})"))
        layer.CreateFeature(feature)
    source = None


def _velocity(path: Path, centre: tuple[float, float]) -> None:
    width, height = 300, 200
    x0, y0, step = centre[0] - 1.2, centre[1] + 0.5, 0.008
    rows, cols = np.mgrid[0:height, 0:width]
    distance = np.hypot((cols - width * 0.45) / 40, (rows - height * 0.55) / 30)
    values = (-35 * np.exp(-(distance**2)) + 3 * np.sin(cols / 25)).astype("float32")
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), width, height, 1, gdal.GDT_Float32)
    dataset.SetGeoTransform((x0, step, 0, y0, 0, -step))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    dataset.SetProjection(srs.ExportToWkt())
    band = dataset.GetRasterBand(1)
    band.WriteArray(values)
    band.SetUnitType("mm/year")
    dataset = None


def _project(folder: Path) -> Path:
    """A .qgz with the footprints and a styled velocity raster (written with a separate QgsProject)."""
    from insarhub_qgis.processing_provider.raster_styling import diverging_renderer, robust_limit
    from insarhub_qgis.processing_provider.styling import STACK_COLOURS, style_footprints
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

    footprints_path, velocity_path = folder / "footprints.gpkg", folder / "velocity.tif"
    _footprints(footprints_path)
    layer = QgsVectorLayer(str(footprints_path), "P94_F210 footprints", "ogr")
    centre = layer.extent().center()
    _velocity(velocity_path, (centre.x(), centre.y()))
    from qgis.PyQt.QtGui import QColor

    style_footprints(layer, QColor(STACK_COLOURS[0]))
    velocity = QgsRasterLayer(str(velocity_path), "Velocity (mm/yr)", "gdal")
    velocity.setRenderer(diverging_renderer(velocity, 1, robust_limit(str(velocity_path)), "mm/yr"))
    project = QgsProject()
    project.setCrs(velocity.crs())
    project.addMapLayers([velocity, layer], False)
    root = project.layerTreeRoot()
    root.addLayer(layer)  # footprints above the raster
    root.addLayer(velocity)
    path = folder / "insarhub-demo.qgz"
    assert project.write(str(path)), project.error()
    return path


def _profile(folder: Path) -> Path:
    """A fresh QGIS profile with the plugin enabled (never the developer's profile).

    Enabled here rather than by ./scripts/qgis: without a display the wrapper runs its
    `qgis_process.bin plugins enable` after unsetting QT_QPA_PLATFORM, where it cannot start.
    """
    profile = folder / "profile"
    ini = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text("[PythonPlugins]\ninsarhub_qgis=true\n", encoding="utf-8")
    return profile


def _environment(folder: Path, shot: Path, report: Path) -> dict[str, str]:
    drop = (
        "PYTEST_",
        "QGIS_CUSTOM_CONFIG_PATH",
        "QGIS_OPTIONS_PATH",
        "QT_QPA_PLATFORM",
        "DISPLAY",
        "WAYLAND_DISPLAY",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        INSARHUB_QGIS_PROFILE=str(_profile(folder)),
        INSARHUB_TEST_SHOT=str(shot),
        INSARHUB_TEST_REPORT=str(report),
    )
    return env


def test_desktop_opens_the_dock_and_reloads_cleanly(tmp_path, qgis_app):
    from qgis.PyQt.QtGui import QImage

    if shutil.which("xvfb-run") is None and not os.environ.get("DISPLAY"):
        pytest.skip("needs xvfb-run (apt install xvfb) or a display")
    project = _project(tmp_path)
    script = tmp_path / "startup.py"
    script.write_text(STARTUP, encoding="utf-8")
    shot, report_path = tmp_path / "desktop.png", tmp_path / "report.json"
    done = subprocess.run(
        [
            str(ROOT / "scripts" / "qgis"),
            "--nologo",
            "--noversioncheck",
            "--code",
            str(script),
            "--project",
            str(project),
        ],
        env=_environment(tmp_path, shot, report_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert report_path.exists(), (
        f"QGIS ended ({done.returncode}) without a report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    report = json.loads(report_path.read_text())
    assert not report["errors"], "\n".join(report["errors"])
    assert report["plugin_loaded"]
    assert report["project_layers"] == ["P94_F210 footprints", "Velocity (mm/yr)"]
    assert report["before"] == {"actions": 1, "toolbar": 1, "raster_menu": 1, "docks": 0, "provider": True}
    assert report["opened"] == {"actions": 1, "toolbar": 1, "raster_menu": 1, "docks": 1, "provider": True}
    assert report["dock_visible"] and report["saved"]
    assert report["dock_area"] == 2  # Qt.RightDockWidgetArea
    assert report["options_page"] and report["options_page_visible"] and report["options_saved"]
    assert report["after_reload"] == report["before"]  # a reload leaves one of each, and no dock
    assert report["after_unload"] == {
        "actions": 0,
        "toolbar": 0,
        "raster_menu": 0,
        "docks": 0,
        "provider": False,
    }

    image = QImage(str(shot))
    assert not image.isNull() and image.width() >= 1200 and image.height() >= 800
    x, y, width, height = report["dock_rect"]
    assert width > 250 and height > 400 and x > image.width() / 2  # docked on the right
    dock = image.copy(x, y, width, height)
    colours = {dock.pixel(i, j) for i in range(0, width, 3) for j in range(0, height, 3)}
    assert len(colours) > 20, "the dock area of the screenshot is blank"
    canvas = image.copy(image.width() // 4, image.height() // 4, image.width() // 4, image.height() // 4)
    assert (
        len({canvas.pixel(i, j) for i in range(0, canvas.width(), 4) for j in range(0, canvas.height(), 4)})
        > 20
    )
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    assert ARTIFACT.stat().st_size > 50_000
    shutil.copyfile(tmp_path / "desktop-options.png", ARTIFACT.with_name("desktop-options.png"))
