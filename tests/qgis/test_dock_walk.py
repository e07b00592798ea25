"""The whole workflow from the dock against the sandbox, as a person would do it: draw an area, type
the year, search bursts, keep the descending stack, select pairs, price, submit, watch, download,
run the time series; then the ascending stack of the same search; decompose the two into vertical
and east and chart a pixel; then save the project, close it, reopen it and continue. Everything lands in the workspace
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
from insarhub_qgis.ui.aoi import DRAWN
from insarhub_qgis.ui.workspace import MANIFEST_NAME, is_temporary
from qgis.core import QgsMergedFeatureRenderer, QgsProject, QgsRasterLayer, QgsRectangle

from sandbox.ascending import ASCENDING_STACK
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


def _order_and_process(dock, qtbot, stack):
    """Pages 3 to 5 for one stack: pairs, cost, submit, watch until done, download."""
    pairs, hyp3 = dock.page("pairs"), dock.page("hyp3")
    pairs.maxTemporal.setValue(48)
    pairs.maxPerp.setValue(200)
    pairs.neighbours.setValue(3)
    assert run_step(qtbot, dock, pairs.runPairs) == ["insarhub:selectpairs", True], dock.logView.toPlainText()
    chain = dock.workspace.current
    assert chain.pairs["stacks"] == [stack] and chain.pairs["components"] == 1
    assert not pairs.pairsStale.isVisible() and "pair(s)" in pairs.pairsCount.text()
    # The HyP3 page follows the pairs; the jobs file and products are in the stack's folder.
    assert hyp3.jobsPairs.currentLayer() is hyp3.chain_pairs_layer()
    assert hyp3.jobType.currentText() == "INSAR_ISCE_BURST"
    jobs_file = Path(hyp3.jobsFile.filePath())
    assert jobs_file == dock.workspace.folder / "stacks" / stack / "jobs.json"
    assert run_step(qtbot, dock, hyp3.estimateCost) == ["insarhub:submitjobs", True], dock.logView.toPlainText()
    assert run_step(qtbot, dock, hyp3.submitJobs) == ["insarhub:submitjobs", True], dock.logView.toPlainText()
    for _ in range(6):
        run_step(qtbot, dock, hyp3.refreshJobs)
        if all(job.status == "SUCCEEDED" for job in hyp3.jobs):
            break
    assert hyp3.jobs and all(job.status == "SUCCEEDED" for job in hyp3.jobs)
    assert run_step(qtbot, dock, hyp3.downloadProducts, timeout=120_000) == ["insarhub:downloadproducts", True]
    assert Path(dock.workspace.path(chain.products)) == dock.workspace.folder / "stacks" / stack / "products"
    assert dock.tabs.currentWidget() is dock.page("timeseries")
    return jobs_file


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
    assert dock.tabs.currentWidget() is stacks and stacks.stack_ids() == [ASCENDING_STACK, STACK]  # ascending first
    group = project.layerTreeRoot().findGroup(chain.group)
    outline = next(n.layer() for n in group.findLayers() if n.layer().name().startswith(STACK))
    assert isinstance(outline.renderer(), QgsMergedFeatureRenderer)  # one outline, not 30 fills

    # 2 Stacks: keep the descending stack (all of 2020); 3-4 pairs, HyP3, download.
    stacks.set_stack_checked(ASCENDING_STACK, False)
    assert run_step(qtbot, dock, stacks.runFilter) == ["insarhub:filterscenes", True], dock.logView.toPlainText()
    assert dock.tabs.currentWidget() is pairs
    jobs_file = _order_and_process(dock, qtbot, STACK)

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

    # The same search's ascending stack: keeping it makes the pairs stale; its own jobs, products, run.
    stacks.set_stack_checked(STACK, False)
    stacks.set_stack_checked(ASCENDING_STACK, True)
    assert run_step(qtbot, dock, stacks.runFilter)[1]
    assert pairs.pairsStale.isVisibleTo(dock) and not hyp3.estimateCost.isEnabled()
    _order_and_process(dock, qtbot, ASCENDING_STACK)
    assert series.referencePoint.text() == ""  # a reference point belongs to its stack's products
    assert run_step(qtbot, dock, series.runTimeseries, timeout=300_000) == ["insarhub:runtimeseries", True], dock.logView.toPlainText()[-3000:]
    assert len(chain.timeseries) == 2 and ASCENDING_STACK in chain.timeseries[-1]["velocity"]
    # The chart follows the newest run.
    assert series.displacement_layer().source() == workspace.path(chain.timeseries[-1]["displacement"])

    # 6 Decompose: the two velocities, one per look direction, ticked by themselves.
    decompose = dock.page("decompose")
    dock.show_page("decompose")
    listed = [decompose.decomposeInputs.item(i).text() for i in range(decompose.decomposeInputs.count())]
    assert len(listed) == 2 and any("ascending" in t for t in listed) and any("descending" in t for t in listed)
    assert any(ASCENDING_STACK in t for t in listed) and any(STACK in t for t in listed)  # named by their stacks
    assert len(decompose.chosen_ids()) == 2 and decompose.runDecompose.isEnabled()
    decompose.decomposeDisplacement.setChecked(True)
    assert run_step(qtbot, dock, decompose.runDecompose, timeout=300_000) == ["insarhub:decompose", True], dock.logView.toPlainText()[-3000:]
    record = workspace.decompositions[-1]
    assert workspace.path(record["vertical"]).startswith(str(workspace.folder / "decompositions"))
    assert len(record["inputs"]) == 2 and "vertical_displacement" in record
    assert group.children()[0].name() == record["group"] and record["group"].startswith("Vertical & east")
    # The pixel chart: line of sight, and vertical and east at the same pixel.
    velocity = QgsRasterLayer(workspace.path(record["vertical"]), "v", "gdal")
    centre = velocity.extent().center()
    charted = series.chart_pixel(centre, velocity.crs())
    assert charted is not None and [c.label for c in charted.extra["components"]] == ["vertical", "east"]
    assert set(charted.extra["decomposed_mm_yr"]) == {"vertical", "east"}
    assert "Vertical" in series.tsResult.text() and "east" in series.tsResult.text()
    assert {row["component"] for row in series.chart.rows()} == {"LOS", "vertical", "east"}

    # Quit: save the project, close it; reopen it and continue where we were.
    layers_before = sorted(layer.source() for layer in project.mapLayers().values())
    assert project.write()
    manifest = json.loads((workspace.folder / MANIFEST_NAME).read_text())
    assert manifest["current"] == chain.id and len(manifest["decompositions"]) == 1
    drawn = QgsRectangle(dock.aoi.drawn_extent)
    project.clear()
    assert workspace.current is None and stacks.stacksTable.rowCount() == 0
    search.aoiUseCanvas.click()  # meanwhile another area in the dock...
    assert project.read(str(project_file))
    assert dock.aoi.mode == DRAWN and dock.aoi.drawn_extent == drawn  # ...the project's comes back
    assert sorted(layer.source() for layer in project.mapLayers().values()) == layers_before  # nothing twice
    again = workspace.current
    assert again is not None and again.label == chain.label
    assert stacks.stack_ids() == [ASCENDING_STACK, STACK]
    assert "pair(s)" in pairs.pairsCount.text()
    assert Path(hyp3.jobsFile.filePath()) == workspace.folder / "stacks" / ASCENDING_STACK / "jobs.json"
    assert hyp3.jobs and jobs_file.exists()
    assert series.tsProducts.filePath() == workspace.path(again.products)
    assert series.displacement_layer() is not None and decompose.decomposeInputs.count() == 2
    assert os.path.exists(workspace.path(run["displacement"]))
