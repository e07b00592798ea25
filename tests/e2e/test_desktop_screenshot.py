"""The real QGIS desktop (./scripts/qgis, under xvfb when there is no display) walked through the
whole workflow against the sandbox, as a person would: the toolbar button opens the dock; an area
is drawn, the year typed, bursts searched; the stack kept; pairs selected; the order priced,
submitted, watched and downloaded; the reference point picked inside the area every interferogram
covers (a click outside refused); the time series run, a pixel clicked, the displacement animated;
the same search's ascending stack through the same pages, and the two decomposed into vertical and
east, charted at a pixel. The project is saved, QGIS quits; a second QGIS opens the project and the dock is where it was
left, nothing loaded twice; reloading and unloading the plugin leave nothing behind.

A screenshot per page is kept in tests/artifacts/desktop-<n>-<page>.png (git-ignored; the README's
docs/images/desktop.png is a copy of desktop-5-timeseries.png), with Settings > Options on
InSARHub's page as desktop-options.png."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from sandbox.ascending import ASCENDING_STACK  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
STACK = "174_372326_IW3"

COMMON = r'''
import json
import os
import traceback

import qgis.utils
from qgis.core import QgsApplication, QgsCoordinateTransform, QgsPointXY, QgsProject, QgsRectangle
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QAction, QApplication, QDockWidget
from qgis.utils import iface

REPORT, SHOTS = os.environ["INSARHUB_TEST_REPORT"], os.environ["INSARHUB_TEST_SHOTS"]
import faulthandler

CRASH_LOG = open(REPORT + ".crash.txt", "w")  # where a crash leaves Python's stacks
faulthandler.enable(CRASH_LOG, all_threads=True)
PROGRESS = open(REPORT + ".progress.txt", "w")  # where a walk that hangs says how far it got


def trace(text):
    PROGRESS.write(f"{text}\n")
    PROGRESS.flush()


def python_error(kind, value, tb):
    """An exception in a slot: recorded, instead of QGIS's modal error dialog (which would stop the walk)."""
    text = "".join(traceback.format_exception(kind, value, tb))
    report["errors"].append("Python error in QGIS:\n" + text)
    trace(text)


import sys

sys.excepthook = python_error
report = {"errors": [], "shots": {}}


def dock():
    return iface.mainWindow().findChild(QDockWidget, "InsarhubDock")


def counts():
    window = iface.mainWindow()
    mine = lambda a: a.objectName() == "insarhubDockAction"
    return {
        "actions": len([a for a in window.findChildren(QAction) if mine(a)]),
        "toolbar": len([a for a in iface.pluginToolBar().actions() if mine(a)]),
        "raster_menu": len([a for a in iface.rasterMenu().actions() if a.menu() and a.text().replace("&", "") == "InSARHub"]),
        "docks": len([d for d in window.findChildren(QDockWidget) if d.objectName() == "InsarhubDock"]),
        "provider": QgsApplication.processingRegistry().providerById("insarhub") is not None,
    }


def shot(name):
    trace(f"shot {name}")
    iface.messageBar().clearWidgets()  # QGIS's "Task complete" notes would cover the map
    QApplication.processEvents()
    path = os.path.join(SHOTS, f"desktop-{name}.png")
    report["shots"][name] = path if iface.mainWindow().grab().save(path) else ""


def finish():
    with open(REPORT, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=str)
    QgsProject.instance().setDirty(False)
    QTimer.singleShot(200, iface.actionExit().trigger)
    QTimer.singleShot(8000, lambda: os._exit(0))


class Walk:
    """Runs a generator of steps: a number waits that many ms; ("run", button) clicks a step's
    button and waits until the dock says the run finished; ("until", test) polls until true."""

    def __init__(self, steps):
        self.steps = steps
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.advance)
        self.waiting = None
        self.deadline = 0

    def advance(self, *args):
        try:
            if self.waiting is not None and self.waiting[0] == "until":
                self.deadline -= 200
                if not self.waiting[1]():
                    if self.deadline <= 0:
                        raise TimeoutError(f"gave up waiting: {self.waiting[2]}")
                    self.timer.start(200)
                    return
            self.waiting = None
            what = next(self.steps)
        except StopIteration:
            finish()
            return
        except Exception:
            report["errors"].append(traceback.format_exc())
            finish()
            return
        trace(repr(what) if not isinstance(what, tuple) else f"{what[0]} {getattr(what[1], 'objectName', lambda: what[-1])()}")
        if isinstance(what, (int, float)):
            self.timer.start(int(what))
        elif what[0] == "run":
            target, button = dock(), what[1]
            finished = []

            def done(algorithm, ok):
                target.stepFinished.disconnect(done)
                finished.append(algorithm)
                report.setdefault("steps", []).append([algorithm, ok, target.statusLabel.text()])
                if not ok:
                    report["errors"].append(f"{algorithm} failed: {target.statusLabel.text()}\n{target.logView.toPlainText()[-2000:]}")
                    finish()
                    return
                self.timer.start(800)

            if not button.isEnabled():
                report["errors"].append(f"{button.objectName()} is disabled: {target.statusLabel.text()}")
                finish()
                return
            target.stepFinished.connect(done)
            button.click()
            if not finished and not target.runner.is_running():  # the page refused to start it
                target.stepFinished.disconnect(done)
                report["errors"].append(f"{button.objectName()} did not start: {target.statusLabel.text()}")
                finish()
        elif what[0] == "until":
            self.waiting = what
            self.deadline = what[3] if len(what) > 3 else 120_000
            self.timer.start(200)


def click_map(point):
    """A left click on the map canvas at ``point`` (map coordinates), with the mouse."""
    from qgis.PyQt.QtCore import QPoint
    from qgis.PyQt.QtTest import QTest

    canvas = iface.mapCanvas()
    pixel = canvas.getCoordinateTransform().transform(point)
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(int(pixel.x()), int(pixel.y())))
'''

WALK = COMMON + r'''

def walk():
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1600, 1000)
    project = QgsProject.instance()
    report["plugin_loaded"] = "insarhub_qgis" in qgis.utils.plugins
    action = next(a for a in window.findChildren(QAction) if a.objectName() == "insarhubDockAction")
    action.trigger()  # what clicking the toolbar button does
    yield 1500
    d = dock()
    search, stacks, pairs, hyp3, series = (d.page(k) for k in ("search", "stacks", "pairs", "hyp3", "timeseries"))
    lon, lat = float(os.environ["INSARHUB_TEST_LON"]), float(os.environ["INSARHUB_TEST_LAT"])
    canvas = iface.mapCanvas()
    canvas.setExtent(QgsRectangle(lon - 0.6, lat - 0.35, lon + 0.6, lat + 0.35))
    d.aoi.set_drawn_extent(QgsRectangle(lon - 0.06, lat - 0.035, lon + 0.06, lat + 0.035))
    search.searchStart.setText("2020")
    search.searchEnd.setText("2020")
    search.processingLevel.setCurrentText("BURST")
    search.polarization.setText("VV")
    yield 500
    shot("1-search")
    yield ("run", search.runSearch)
    chain = d.workspace.current
    report["workspace"] = str(d.workspace.folder)
    report["chain"] = chain.label
    report["groups"] = [g.name() for g in project.layerTreeRoot().findGroups()]
    canvas.setExtent(QgsRectangle(lon - 0.6, lat - 0.35, lon + 0.6, lat + 0.35))
    yield 1000
    shot("2-stacks")
    report["stacks"] = stacks.stack_ids()  # ascending first
    stacks.set_stack_checked(report["stacks"][0], False)  # the descending stack first
    yield ("run", stacks.runFilter)
    pairs.maxTemporal.setValue(48)
    pairs.maxPerp.setValue(200)
    pairs.neighbours.setValue(3)
    yield ("run", pairs.runPairs)
    yield 800
    shot("3-pairs")
    report["pairs"] = chain.pairs["count"]
    d.show_page("hyp3")
    yield ("run", hyp3.estimateCost)
    report["cost"] = hyp3.costLabel.text()
    yield ("run", hyp3.submitJobs)
    for _ in range(8):
        if hyp3.jobs and all(job.status == "SUCCEEDED" for job in hyp3.jobs):
            break
        yield ("run", hyp3.refreshJobs)
    report["jobs"] = [job.status for job in hyp3.jobs]
    report["job_labels"] = [job.pair for job in hyp3.jobs][:3]
    report["jobs_title"] = hyp3.watchGroup.title()
    yield ("run", hyp3.downloadProducts)
    d.show_page("hyp3")
    hyp3.jobsTable.selectRow(0)
    yield 500
    shot("4-hyp3")
    report["jobs_visible_rows"] = sum(1 for r in range(hyp3.jobsTable.rowCount()) if not hyp3.jobsTable.visualRect(hyp3.jobsTable.model().index(r, 0)).isEmpty() and hyp3.jobsTable.viewport().rect().intersects(hyp3.jobsTable.visualRect(hyp3.jobsTable.model().index(r, 0))))
    report["status_column_visible"] = hyp3.jobsTable.viewport().rect().contains(hyp3.jobsTable.visualRect(hyp3.jobsTable.model().index(0, 4)).topLeft())

    # The reference point: the area every interferogram covers is drawn; outside, refused at once.
    d.show_page("timeseries")
    series.pickReference.click()
    yield ("until", lambda: series.valid_area is not None, "the products' common area", 60_000)
    box = series.area_band.asGeometry().boundingBox()  # in the map's CRS
    canvas.setExtent(box.buffered(max(box.width(), box.height()) * 0.3))
    yield 800
    report["crs_at_reference"] = {
        "canvas": canvas.mapSettings().destinationCrs().authid(),
        "area": series.valid_area[1].authid(),
        "extent": canvas.extent().toString(2),
        "project": project.crs().authid(),
    }
    shot("5a-reference")
    bounds = series.area_band.asGeometry().boundingBox()
    click_map(QgsPointXY(bounds.xMinimum() - bounds.width() * 0.05, bounds.center().y()))
    report["outside_click"] = series.referenceArea.text()
    report["outside_kept"] = series.referencePoint.text()
    inside = QgsPointXY(bounds.xMinimum() + bounds.width() * 0.12, bounds.yMinimum() + bounds.height() * 0.5)
    click_map(inside)  # stable ground near the edge, away from the subsidence bowl
    report["reference"] = series.referencePoint.text()
    yield ("run", series.runTimeseries)
    yield 1500
    velocity = next(layer for layer in project.mapLayers().values() if layer.customProperty("insarhub/role") == "VELOCITY")
    series.chartPixels.click()
    centre = velocity.extent().center()
    to_map = QgsCoordinateTransform(velocity.crs(), canvas.mapSettings().destinationCrs(), project)
    click_map(to_map.transform(QgsPointXY(centre.x() - velocity.extent().width() * 0.1, centre.y())))
    series.TimeseriesPageScroll.ensureWidgetVisible(series.chartGroup)  # the chart in view
    yield 1500
    report["chart"] = [s.label for s in series.chart.series]
    report["ts_result"] = series.tsResult.text()
    shot("5-timeseries")
    series.chartPixels.click()
    series.animateDisplacement.click()
    yield 3000
    controller = canvas.temporalController()
    report["temporal"] = {
        "mode": int(controller.navigationMode()),
        "frame_days": controller.frameDuration().days(),
        "begin": controller.temporalExtents().begin().toString("yyyy-MM-dd"),
        "end": controller.temporalExtents().end().toString("yyyy-MM-dd"),
    }
    temporal_panel = next((w for w in window.findChildren(QDockWidget) if "Temporal" in w.windowTitle()), None)
    report["temporal_panel_visible"] = bool(temporal_panel and temporal_panel.isVisible())
    controller.setCurrentFrameNumber(8)
    yield 2000
    shot("5b-temporal")
    from insarhub_qgis.ui.temporal import NAVIGATION_OFF

    controller.setNavigationMode(NAVIGATION_OFF)
    yield 500

    # The search's ascending stack, through the same pages; then both decomposed.
    d.show_page("stacks")
    stacks.set_stack_checked(report["stacks"][1], False)
    stacks.set_stack_checked(report["stacks"][0], True)
    yield ("run", stacks.runFilter)
    yield ("run", pairs.runPairs)
    yield ("run", hyp3.estimateCost)
    yield ("run", hyp3.submitJobs)
    for _ in range(8):
        if hyp3.jobs and all(job.status == "SUCCEEDED" for job in hyp3.jobs):
            break
        yield ("run", hyp3.refreshJobs)
    yield ("run", hyp3.downloadProducts)
    yield ("run", series.runTimeseries)
    decompose = d.page("decompose")
    d.show_page("decompose")
    decompose.decomposeDisplacement.setChecked(True)
    yield 500
    report["decompose_inputs"] = [decompose.decomposeInputs.item(i).text() for i in range(decompose.decomposeInputs.count())]
    yield ("run", decompose.runDecompose)
    yield 1500
    report["decomposed"] = decompose.decomposeResult.text()
    shot("6-decompose")
    d.show_page("timeseries")
    series.clear_chart()
    series.chartPixels.click()
    vertical = next(layer for layer in project.mapLayers().values() if layer.customProperty("insarhub/role") == "VERTICAL")
    centre = vertical.extent().center()
    to_map = QgsCoordinateTransform(vertical.crs(), canvas.mapSettings().destinationCrs(), project)
    click_map(to_map.transform(QgsPointXY(centre.x() - vertical.extent().width() * 0.1, centre.y())))
    series.TimeseriesPageScroll.ensureWidgetVisible(series.chartGroup)
    yield 1500
    series.chartPixels.click()
    report["chart_components"] = [c.label for s in series.chart.series for c in s.extra.get("components", [])]
    shot("6b-chart")
    report["layers"] = sorted(layer.source() for layer in project.mapLayers().values())
    report["saved"] = project.write()


WALKER = Walk(walk())  # held here: a timer nobody holds is collected and never fires
WALKER.timer.start(3000)
WATCHDOG = QTimer.singleShot(840_000, lambda: (report["errors"].append("the walk took more than 14 minutes"), finish()))
'''

REOPEN = COMMON + r'''

def reopen():
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1600, 1000)
    project = QgsProject.instance()
    report["layers"] = sorted(layer.source() for layer in project.mapLayers().values())
    report["before"] = counts()
    action = next(a for a in window.findChildren(QAction) if a.objectName() == "insarhubDockAction")
    action.trigger()
    yield 1500
    d = dock()
    report["opened"] = counts()
    report["workspace"] = str(d.workspace.folder)
    report["chain"] = d.workspace.current.label if d.workspace.current else None
    report["stacks"] = d.page("stacks").stack_ids()
    report["pairs_count"] = d.page("pairs").pairsCount.text()
    report["jobs"] = len(d.page("hyp3").jobs)
    report["displacement"] = d.page("timeseries").displacement_layer() is not None
    report["layers_after_dock"] = sorted(layer.source() for layer in project.mapLayers().values())
    d.show_page("hyp3")
    yield 1000
    shot("7-reopened")
    report["dock_area"] = int(window.dockWidgetArea(d))
    options_page()
    qgis.utils.reloadPlugin("insarhub_qgis")  # what the Plugin Reloader does
    yield 1000
    report["after_reload"] = counts()
    qgis.utils.unloadPlugin("insarhub_qgis")
    yield 1000
    report["after_unload"] = counts()


def options_page():
    """Settings > Options shows InSARHub's page (modal: inspected and closed from a timer)."""
    from qgis.PyQt.QtWidgets import QWidget

    def inspect():
        dialog = QApplication.activeModalWidget()
        try:
            page = dialog.findChild(QWidget, "InsarhubOptionsPage") if dialog is not None else None
            report["options_page"] = page is not None and page.isVisible()
            if page is not None:
                report["shots"]["options"] = os.path.join(SHOTS, "desktop-options.png") if dialog.grab().save(os.path.join(SHOTS, "desktop-options.png")) else ""
        except Exception:
            report["errors"].append(traceback.format_exc())
        finally:
            if dialog is not None:
                dialog.reject()

    QTimer.singleShot(2500, inspect)
    iface.showOptionsDialog(iface.mainWindow(), "InsarhubOptionsPage")  # returns once inspect() closed it


WALKER = Walk(reopen())
WALKER.timer.start(3000)
QTimer.singleShot(240_000, lambda: (report["errors"].append("reopening took more than 4 minutes"), finish()))
'''


def _new_project(path: Path) -> None:
    """An empty project with QGIS's own world map as a light background (no tiles offline)."""
    from qgis.core import (
        QgsApplication,
        QgsCoordinateReferenceSystem,
        QgsFillSymbol,
        QgsProject,
        QgsSingleSymbolRenderer,
        QgsVectorLayer,
    )

    project = QgsProject()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))  # as QGIS gives a new project
    world = Path(QgsApplication.pkgDataPath()) / "resources" / "data" / "world_map.gpkg"
    if world.exists():
        layer = QgsVectorLayer(f"{world}|layername=countries", "World (QGIS sample data)", "ogr")
        if layer.isValid():
            symbol = QgsFillSymbol.createSimple({"color": "#f2efe9", "outline_color": "#b5b0a6", "outline_width": "0.2"})
            layer.setRenderer(QgsSingleSymbolRenderer(symbol))
            project.addMapLayer(layer)
    project.setTitle("InSARHub desktop walk (SANDBOX data)")
    assert project.write(str(path)), project.error()


def _profile(folder: Path) -> Path:
    """A fresh QGIS profile with the plugin enabled (never the developer's profile).

    Enabled here rather than by ./scripts/qgis: without a display the wrapper runs its
    `qgis_process.bin plugins enable` after unsetting QT_QPA_PLATFORM, where it cannot start.
    """
    profile = folder / "profile"
    ini = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    if not ini.exists():
        ini.parent.mkdir(parents=True, exist_ok=True)
        ini.write_text("[PythonPlugins]\ninsarhub_qgis=true\n", encoding="utf-8")
    return profile


def _environment(folder: Path, sandbox_env: dict, extra: dict) -> dict[str, str]:
    drop = ("PYTEST_", "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(sandbox_env)
    env.update(INSARHUB_QGIS_PROFILE=str(_profile(folder)), INSARHUB_TEST_SHOTS=str(ARTIFACTS), **extra)
    return env


def _qgis(script: Path, env: dict, *arguments: str, timeout: int = 900) -> dict:
    report = Path(env["INSARHUB_TEST_REPORT"])
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "qgis"), "--nologo", "--noversioncheck", "--code", str(script), *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # QGIS, xvfb and MintPy in a group of their own: stopped together
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    crash, progress = Path(str(report) + ".crash.txt"), Path(str(report) + ".progress.txt")
    crashed = crash.read_text()[-4000:] if crash.exists() else ""
    if report.exists() and progress.exists():
        data = json.loads(report.read_text())
        if data.get("errors"):
            data["errors"].append("steps done:\n" + progress.read_text()[-2000:])
            report.write_text(json.dumps(data))
    assert report.exists(), f"QGIS ended ({process.returncode}) without a report:\n{stdout[-3000:]}\n{stderr[-3000:]}\n{crashed}"
    return json.loads(report.read_text())


def _looks_like_a_screenshot(path: str, min_width: int) -> None:
    from qgis.PyQt.QtGui import QImage

    image = QImage(path)
    assert not image.isNull() and image.width() >= min_width and image.height() >= min_width * 2 // 3, path
    colours = {image.pixel(i, j) for i in range(0, image.width(), 7) for j in range(0, image.height(), 7)}
    assert len(colours) > 50, f"{path} is nearly blank"


def test_the_desktop_walks_the_whole_workflow_and_reopens_it(tmp_path, qgis_app):
    from sandbox.server import Sandbox

    if shutil.which("xvfb-run") is None and not os.environ.get("DISPLAY"):
        pytest.skip("needs xvfb-run (apt install xvfb) or a display")
    # The project and its workspace must not be in a temporary folder (the dock refuses one).
    home = ROOT / ".venv" / "desktop-walk" / uuid.uuid4().hex[:8]
    home.mkdir(parents=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("desktop-*.png"):
        old.unlink()
    project = home / "study" / "sitka.qgz"
    project.parent.mkdir()
    _new_project(project)
    try:
        with Sandbox(workdir=tmp_path / "sandbox") as sandbox:
            burst = next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == STACK)
            lon, lat = burst["asf_properties"]["centerLon"], burst["asf_properties"]["centerLat"]
            walk_script, reopen_script = tmp_path / "walk.py", tmp_path / "reopen.py"
            walk_script.write_text(WALK, encoding="utf-8")
            reopen_script.write_text(REOPEN, encoding="utf-8")
            extra = {"INSARHUB_TEST_PROJECT": str(project), "INSARHUB_TEST_LON": str(lon), "INSARHUB_TEST_LAT": str(lat)}
            walk = _qgis(
                walk_script,
                _environment(home, sandbox.env, {**extra, "INSARHUB_TEST_REPORT": str(tmp_path / "walk.json")}),
                "--project",
                str(project),
            )
            assert not walk["errors"], "\n".join(walk["errors"])
            reopen = _qgis(
                reopen_script,
                _environment(home, sandbox.env, {**extra, "INSARHUB_TEST_REPORT": str(tmp_path / "reopen.json")}),
                "--project",
                str(project),
            )
            assert not reopen["errors"], "\n".join(reopen["errors"])
    finally:
        shutil.rmtree(home, ignore_errors=True)

    # The walk: every step ran, everything in the workspace beside the project.
    assert walk["plugin_loaded"] and walk["saved"]
    assert [s[:2] for s in walk["steps"][:3]] == [["insarhub:searchscenes", True], ["insarhub:filterscenes", True], ["insarhub:selectpairs", True]]
    assert walk["workspace"] == str(project.with_name("sitka_insarhub"))
    assert walk["chain"].endswith("· 2020") and walk["chain"] in walk["groups"]
    assert walk["stacks"] == [ASCENDING_STACK, STACK] and walk["pairs"] > 10
    assert "Press Submit to order" in walk["cost"]
    assert walk["jobs"] and set(walk["jobs"]) == {"SUCCEEDED"}
    assert all(" → " in label and len(label) <= 23 for label in walk["job_labels"]) and STACK in walk["jobs_title"]
    assert walk["jobs_visible_rows"] >= 8 and walk["status_column_visible"]  # a readable table
    assert "is outside the area every interferogram covers" in walk["outside_click"] and walk["outside_kept"] == ""
    assert walk["reference"].endswith("]")
    assert walk["chart"] == ["P1"] and "P1:" in walk["ts_result"]
    assert walk["temporal"]["frame_days"] == 12 and walk["temporal"]["begin"].startswith("2020")
    assert walk["temporal_panel_visible"]
    assert len(walk["decompose_inputs"]) == 2 and "pixels" in walk["decomposed"]
    assert walk["chart_components"] == ["vertical", "east"]
    # Quit and reopen: the dock is where it was, and no layer is loaded twice.
    assert reopen["layers"] == walk["layers"] == reopen["layers_after_dock"]
    assert reopen["workspace"] == walk["workspace"] and reopen["chain"] == walk["chain"]
    assert reopen["stacks"] == [ASCENDING_STACK, STACK] and "pair(s)" in reopen["pairs_count"]
    assert reopen["jobs"] == len(walk["jobs"]) and reopen["displacement"]
    assert reopen["before"] == {"actions": 1, "toolbar": 1, "raster_menu": 1, "docks": 0, "provider": True}
    assert reopen["opened"] == {"actions": 1, "toolbar": 1, "raster_menu": 1, "docks": 1, "provider": True}
    assert reopen["dock_area"] == 2  # Qt.DockWidgetArea.RightDockWidgetArea
    assert reopen["options_page"]
    assert reopen["after_reload"] == reopen["before"]  # a reload leaves one of each, and no dock
    assert reopen["after_unload"] == {"actions": 0, "toolbar": 0, "raster_menu": 0, "docks": 0, "provider": False}
    shots = {**walk["shots"], **reopen["shots"]}
    names = ("1-search", "2-stacks", "3-pairs", "4-hyp3", "5a-reference", "5-timeseries", "5b-temporal", "6-decompose", "6b-chart", "7-reopened")
    for name in (*names, "options"):
        assert shots.get(name), f"no screenshot of {name}"
        _looks_like_a_screenshot(shots[name], 1200 if name != "options" else 600)
