"""The dock's workspace, as a person relies on it: next to the saved project (found again when the
project and its folder move together), a per-user folder for a project not saved yet, never a
temporary folder for what costs credits or time, and a workspace folder that can be opened again
in a new project."""

from __future__ import annotations

import json
import os
import shutil

import shapely
from dock_helpers import run_step
from fakes.cmr import CMRStandIn, load_fixture
from insarhub_qgis.ui.workspace import MANIFEST_NAME
from qgis.core import QgsProcessingUtils, QgsProject, QgsRectangle, QgsVectorLayer

SLCS = load_fixture("s1_slc_fairbanks_p94_f210_stack")


def _search(dock, qtbot, tmp_path, monkeypatch):
    points = SLCS[0]["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    centre = shapely.Polygon([(p["Longitude"], p["Latitude"]) for p in points]).centroid
    dock.aoi.set_drawn_extent(QgsRectangle(centre.x - 0.05, centre.y - 0.03, centre.x + 0.05, centre.y + 0.03))
    with CMRStandIn(SLCS, tmpdir=tmp_path / "cmr") as cmr:
        monkeypatch.setenv("INSARHUB_CMR_HOST", cmr.host)
        monkeypatch.setenv("INSARHUB_CA_BUNDLE", cmr.ca_file)
        assert run_step(qtbot, dock, dock.page("search").runSearch) == ["insarhub:searchscenes", True], dock.logView.toPlainText()
    return dock.workspace.current


def test_a_saved_project_keeps_its_workspace_beside_it_even_when_both_move(dock, qtbot, tmp_path, monkeypatch):
    project = QgsProject.instance()
    (tmp_path / "site").mkdir()
    assert project.write(str(tmp_path / "site" / "study.qgz"))
    notices = []
    dock.workspace.notice.connect(notices.append)
    chain = _search(dock, qtbot, tmp_path, monkeypatch)
    assert dock.workspace.folder == tmp_path / "site" / "study_insarhub"
    assert not notices  # said only for a project not saved yet
    assert dock.workspaceFolder.filePath() == str(dock.workspace.folder)
    manifest = json.loads((dock.workspace.folder / MANIFEST_NAME).read_text())
    assert [c["label"] for c in manifest["chains"]] == [chain.label]
    assert project.write()

    # The project and its workspace move together (another disk, a colleague's machine).
    project.clear()
    assert dock.workspace.folder is None and dock.page("stacks").stacksTable.rowCount() == 0
    shutil.move(str(tmp_path / "site"), str(tmp_path / "moved"))
    assert project.read(str(tmp_path / "moved" / "study.qgz"))
    assert dock.workspace.folder == tmp_path / "moved" / "study_insarhub"
    assert dock.workspace.current.label == chain.label
    assert dock.page("stacks").stack_ids() == ["P94_F210"]
    footprints = dock.workspace.path(dock.workspace.current.search["footprints"])
    assert footprints.startswith(str(tmp_path / "moved")) and os.path.exists(footprints)


def test_temporary_folders_are_refused_for_what_costs_credits_or_time(dock, tmp_path):
    temporary = os.path.join(QgsProcessingUtils.tempFolder(), "workspace")
    dock.workspaceFolder.setFilePath(temporary)  # chosen in the dock's folder field
    assert dock.workspace.folder is None and dock.workspaceFolder.filePath() == ""
    assert "temporary folder" in dock.workspaceNotice.text() and "jobs you paid for" in dock.workspaceNotice.text()

    # A project saved in a temporary folder: its default workspace would be deleted too.
    project = QgsProject.instance()
    assert project.write(os.path.join(QgsProcessingUtils.tempFolder(), "scratch.qgz"))
    dock.aoi.set_drawn_extent(QgsRectangle(12, 41, 14, 43))
    search = dock.page("search")
    assert search.run_search() is False and "temporary folder" in search.searchResult.text()
    project.clear()

    # The jobs file, the products and MintPy's work: never in a temporary folder.
    hyp3, series = dock.page("hyp3"), dock.page("timeseries")
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=reference:string&field=secondary:string", "pairs", "memory")
    QgsProject.instance().addMapLayer(layer)
    hyp3.jobsPairs.setLayer(layer)
    hyp3.jobsFile.setFilePath(os.path.join(QgsProcessingUtils.tempFolder(), "jobs.json"))
    assert "temporary folder" in hyp3.order_problem() and not hyp3.estimateCost.isEnabled()
    assert hyp3.estimate_cost() is False and "temporary folder" in hyp3.costLabel.text()
    jobs = tmp_path / "jobs.json"
    jobs.write_text("{}")
    hyp3.jobsFile.setFilePath(str(jobs))
    hyp3.productsFolder.setFilePath(os.path.join(QgsProcessingUtils.tempFolder(), "products"))
    assert hyp3.download_products() is False and "temporary folder" in hyp3.jobsSummary.text()
    series.tsProducts.setFilePath(os.path.join(QgsProcessingUtils.tempFolder(), "products"))
    assert series.run_timeseries() is False and "temporary folder" in series.tsResult.text()


def test_a_workspace_folder_opens_again_in_a_new_project(dock, qtbot, tmp_path, monkeypatch, workspace_root):
    chain = _search(dock, qtbot, tmp_path, monkeypatch)
    folder = dock.workspace.folder
    assert folder.parent == workspace_root  # a project not saved yet: the per-user folder
    QgsProject.instance().clear()  # QGIS closed without saving the project
    assert dock.workspace.folder is None
    dock.workspaceFolder.setFilePath(str(folder))  # open the workspace again
    assert dock.workspace.folder == folder and dock.workspace.current.label == chain.label
    stacks = dock.page("stacks")
    assert stacks.stack_ids() == ["P94_F210"] and stacks.searchChooser.currentText() == chain.label
