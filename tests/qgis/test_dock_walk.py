"""The whole workflow from the dock against the sandbox, as a person would do it: draw an area, type
the year, search bursts, keep the stack, select pairs, price, submit, watch, download, run the time
series; then save the project, close it, reopen it and continue. Everything lands in the workspace
next to the project (nothing in a temporary folder), the map holds one tidy group per search, and
reopening restores every page without loading a layer twice."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from dock_helpers import draw_aoi, group_names, run_step
from insarhub_qgis.processing_provider.raster_styling import TIMESERIES_ROLE
from insarhub_qgis.processing_provider.styling import ROLE_PROPERTY, SEARCH_ROLE
from insarhub_qgis.ui.workspace import MANIFEST_NAME, is_temporary
from qgis.core import QgsMergedFeatureRenderer, QgsProject

from sandbox.server import Sandbox

pytestmark = pytest.mark.slow
STACK = "174_372326_IW3"


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    with Sandbox(workdir=tmp_path / "sandbox") as box:
        for key, value in box.env.items():
            monkeypatch.setenv(key, value)
        yield box


def _centre(sandbox):
    burst = next(r for r in sandbox.records if (r["asf_properties"].get("burst") or {}).get("fullBurstID") == STACK)
    return burst["asf_properties"]["centerLon"], burst["asf_properties"]["centerLat"]


def test_the_whole_workflow_survives_closing_the_project(dock, sandbox, qtbot, tmp_path):
    project = QgsProject.instance()
    project_file = tmp_path / "etna" / "study.qgz"
    project_file.parent.mkdir()
    assert project.write(str(project_file))
    workspace = dock.workspace
    search, stacks, pairs, hyp3, series = (dock.page(k) for k in ("search", "stacks", "pairs", "hyp3", "timeseries"))

    # 1 Search: a drawn area, "2020" typed in both dates (the whole year), bursts.
    lon, lat = _centre(sandbox)
    draw_aoi(dock, lon, lat)
    search.searchStart.setText("2020")
    search.searchEnd.setText("2020")
    search.processingLevel.setCurrentText("BURST")
    search.polarization.setText("VV")
    assert run_step(qtbot, dock, search.runSearch) == ["insarhub:searchscenes", True], dock.logView.toPlainText()
    assert dock.runner.last_parameters["START"] == "2020-01-01" and dock.runner.last_parameters["END"] == "2020-12-31"
    chain = workspace.current
    assert workspace.folder == project_file.with_name("study_insarhub") and not is_temporary(workspace.folder)
    footprints = workspace.path(chain.search["footprints"])
    assert footprints.startswith(str(workspace.folder)) and footprints.endswith(".gpkg")
    assert chain.label.endswith("· 2020") and chain.label in group_names(SEARCH_ROLE)
    assert dock.tabs.currentWidget() is stacks and stacks.stack_ids() == [STACK]
    group = project.layerTreeRoot().findGroup(chain.group)
    outline = next(n.layer() for n in group.findLayers() if n.layer().name().startswith(STACK))
    assert isinstance(outline.renderer(), QgsMergedFeatureRenderer)  # one outline, not 30 fills

    # 2 Stacks: keep the stack (all of 2020).
    assert run_step(qtbot, dock, stacks.runFilter) == ["insarhub:filterscenes", True], dock.logView.toPlainText()
    assert dock.tabs.currentWidget() is pairs

    # 3 Pairs.
    pairs.maxTemporal.setValue(48)
    pairs.maxPerp.setValue(200)
    pairs.neighbours.setValue(3)
    assert run_step(qtbot, dock, pairs.runPairs) == ["insarhub:selectpairs", True], dock.logView.toPlainText()
    assert chain.pairs["count"] > 10 and chain.pairs["components"] == 1
    assert not pairs.pairsStale.isVisible() and "pair(s)" in pairs.pairsCount.text()

    # 4 HyP3: the page follows the pairs; jobs file and products in the stack's folder.
    assert hyp3.jobsPairs.currentLayer() is hyp3.chain_pairs_layer()
    assert hyp3.jobType.currentText() == "INSAR_ISCE_BURST"
    jobs_file = Path(hyp3.jobsFile.filePath())
    assert jobs_file == workspace.folder / "stacks" / STACK / "jobs.json"
    assert run_step(qtbot, dock, hyp3.estimateCost) == ["insarhub:submitjobs", True], dock.logView.toPlainText()
    assert hyp3.submitJobs.isEnabled()
    assert run_step(qtbot, dock, hyp3.submitJobs) == ["insarhub:submitjobs", True], dock.logView.toPlainText()
    for _ in range(6):
        run_step(qtbot, dock, hyp3.refreshJobs)
        if all(job.status == "SUCCEEDED" for job in hyp3.jobs):
            break
    assert hyp3.jobs and all(job.status == "SUCCEEDED" for job in hyp3.jobs)
    assert run_step(qtbot, dock, hyp3.downloadProducts, timeout=120_000) == ["insarhub:downloadproducts", True]
    assert Path(workspace.path(chain.products)) == workspace.folder / "stacks" / STACK / "products"
    assert dock.tabs.currentWidget() is series

    # 5 Time series (one product held back, as if it were still downloading).
    products = Path(workspace.path(chain.products))
    assert series.tsProducts.filePath() == str(products)
    late = sorted(p for p in products.iterdir() if p.name.startswith("S1"))[-1]
    shutil.move(str(late), str(tmp_path / late.name))
    assert run_step(qtbot, dock, series.runTimeseries, timeout=300_000) == ["insarhub:runtimeseries", True], dock.logView.toPlainText()[-3000:]
    run = chain.timeseries[-1]
    assert workspace.path(run["velocity"]).startswith(str(workspace.folder / "stacks" / STACK / "results"))
    assert series.tsWorkdir.filePath() == str(workspace.folder / "stacks" / STACK / "mintpy")
    ts_group = next(g for g in group.findGroups() if g.customProperty(ROLE_PROPERTY) == TIMESERIES_ROLE)
    assert group.children()[0] is ts_group  # results on top of the search's group
    assert series.displacement_layer() is not None
    reference = next(n.layer() for n in ts_group.findLayers() if n.layer().customProperty(ROLE_PROPERTY) == "REFERENCE")
    assert next(reference.getFeatures())["kind"] == "automatic"  # the point MintPy was given, on the map
    assert not series.tsStale.isVisibleTo(dock)
    shutil.move(str(tmp_path / late.name), str(late))  # the late product arrives: the run is now stale
    dock.workspace.commit("products")
    assert series.tsStale.isVisibleTo(dock) and "1 new product(s)" in series.tsStale.text()

    # Quit: save the project, close it; reopen it and continue where we were.
    layers_before = sorted(layer.source() for layer in project.mapLayers().values())
    assert project.write()
    manifest = json.loads((workspace.folder / MANIFEST_NAME).read_text())
    assert manifest["current"] == chain.id
    project.clear()
    assert workspace.current is None and stacks.stacksTable.rowCount() == 0
    assert project.read(str(project_file))
    assert sorted(layer.source() for layer in project.mapLayers().values()) == layers_before  # nothing twice
    again = workspace.current
    assert again is not None and again.label == chain.label
    assert stacks.stack_ids() == [STACK]
    assert "pair(s)" in pairs.pairsCount.text()
    assert hyp3.jobsFile.filePath() == str(jobs_file) and len(hyp3.jobs) == chain.pairs["count"]
    assert series.tsProducts.filePath() == workspace.path(chain.products)
    assert series.displacement_layer() is not None
    assert os.path.exists(workspace.path(run["displacement"]))
