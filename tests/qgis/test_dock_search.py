"""The dock's first three pages against the loopback CMR, checked as a person sees them: the area
of interest (a selection offered, never swapped in silently; a drawn rectangle; the canvas; a file),
dates that read "no limit" and take a typed year, a search that becomes one tidy group named by its
area and dates (stacks as outlines labelled outside, per-date footprints off), an empty search that
adds nothing and names the other product level, the stacks table and filter, the pairs with their
cost, pairs that go stale when the footprints change, and switching between searches."""

from __future__ import annotations

import pytest
import shapely
from dock_helpers import WGS84, group_names, run_step, stack_labels
from fakes.cmr import CMRStandIn, load_fixture, synthetic_slc_records
from insarhub_qgis.processing_provider.qt_compat import qgis_enum
from insarhub_qgis.processing_provider.styling import ROLE_PROPERTY, SEARCH_ROLE
from insarhub_qgis.ui.aoi import CANVAS, DRAWN, LAYER
from insarhub_qgis.ui.dock import find_result_layer
from insarhub_qgis.ui.layers import STEP_PROPERTY
from insarhub_qgis.ui.widgets import parse_period
from qgis.core import (
    QgsApplication,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsMergedFeatureRenderer,
    QgsPointXY,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QDate, QEvent, QPoint, Qt

BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")
SLCS = load_fixture("s1_slc_fairbanks_p94_f210_stack")


def _centre(items):
    points = items[0]["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0][
        "Boundary"
    ]["Points"]
    return shapely.Polygon([(p["Longitude"], p["Latitude"]) for p in points]).centroid


def _serve(records, tmp_path, monkeypatch):
    stand_in = CMRStandIn(records, tmpdir=tmp_path / "cmr")
    monkeypatch.setenv("INSARHUB_CMR_HOST", stand_in.host)
    monkeypatch.setenv("INSARHUB_CA_BUNDLE", stand_in.ca_file)
    return stand_in


def _aoi_layer():
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "aoi", "memory")
    features = []
    for centre in (_centre(BURSTS), _centre(SLCS)):
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromWkt(centre.buffer(0.01).wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    return layer


def _search_group(chain):
    return QgsProject.instance().layerTreeRoot().findGroup(chain.group)


def test_selected_features_make_the_aoi_and_the_search_one_tidy_group(
    dock, plugin, qgis_iface, qgis_canvas, qtbot, tmp_path, monkeypatch, workspace_root
):
    search, stacks = dock.page("search"), dock.page("stacks")
    layer = _aoi_layer()
    ids = sorted(f.id() for f in layer.getFeatures())
    layer.selectByIds([ids[1]])  # only the Fairbanks polygon
    qgis_iface.setActiveLayer(layer)
    dock.aoi.choose_default()  # no area yet: the selection becomes it
    assert dock.aoi.mode == LAYER and search.aoiLayer.currentLayer() is layer
    assert search.aoiSelectedOnly.isChecked() and "1 selected feature" in search.aoiSummary.text()
    outline = dock.aoi.rubber_band.asGeometry()
    assert not outline.isEmpty() and outline.boundingBox().contains(QgsPointXY(_centre(SLCS).x, _centre(SLCS).y))
    notices = []
    dock.workspace.notice.connect(notices.append)

    with _serve(BURSTS + SLCS, tmp_path, monkeypatch):
        assert run_step(qtbot, dock, search.runSearch) == ["insarhub:searchscenes", True], dock.logView.toPlainText()
    aoi = dock.runner.last_parameters["AOI"]
    assert isinstance(aoi, QgsProcessingFeatureSourceDefinition) and aoi.selectedFeaturesOnly
    assert aoi.source.staticValue() == layer.id()
    assert dock.runner.last_results["COUNT"] == len(SLCS)
    assert dock.progressBar.value() == 100 and not dock.cancelButton.isEnabled()

    # Everything in a workspace folder that lasts: an unsaved project's goes to the per-user root,
    # and the dock says where, once.
    workspace = dock.workspace
    assert workspace.folder.parent == workspace_root
    assert len(notices) == 1 and str(workspace.folder) in notices[0] and dock.workspaceNotice.isVisibleTo(dock)
    chain = workspace.current
    footprints = find_result_layer(workspace.path(chain.search["footprints"]))
    assert footprints.providerType() == "ogr" and footprints.source().startswith(str(workspace.folder))
    assert (workspace.folder / "searches").is_dir() and workspace.path(chain.aoi["file"]).endswith("aoi.gpkg")

    # One group, named by the area and the dates, readable in the panel; the stack drawn as its outline.
    assert chain.label == "aoi · all dates" and group_names(SEARCH_ROLE) == [chain.label]
    group = _search_group(chain)
    names = [node.name() for node in group.findLayers()]
    dates = len({i["asf_properties"]["startTime"][:10] for i in SLCS})
    assert names == [f"P94_F210 (ascending, {dates} dates)", "Footprints, one per date", "Stack summary"]
    stack_node = group.findLayers()[0]
    stack_layer = stack_node.layer()
    assert stack_node.isVisible() and stack_layer.subsetString() == "\"stack\" = 'P94_F210'"
    assert isinstance(stack_layer.renderer(), QgsMergedFeatureRenderer)  # the union, not one fill per date
    symbol = stack_layer.renderer().embeddedRenderer().symbol()
    assert symbol.color().alpha() == 0  # outline only: the map under it stays visible
    labels = stack_layer.labeling().settings()
    assert stack_layer.labelsEnabled()
    texts, latest = stack_labels(stack_layer)
    assert texts == {latest: f"P94_F210 · {dates}"}  # labelled once, on the latest footprint
    outside = qgis_enum("Qgis.LabelPlacement.OutsidePolygons", "QgsPalLayerSettings.Placement.OutsidePolygons")
    assert labels.placement == outside  # outside the polygon: never over a result raster
    assert not group.findLayers()[1].isVisible()  # the per-date footprints are there but off

    # The stacks table, sortable, one checked row per stack; it says which search it shows.
    assert dock.tabs.currentWidget() is stacks
    table = stacks.stacksTable
    assert table.rowCount() == 1 and table.isSortingEnabled()
    assert table.item(0, 0).text() == "P94_F210" and table.item(0, 0).checkState() == Qt.CheckState.Checked
    assert table.item(0, 4).data(Qt.ItemDataRole.DisplayRole) == dates
    assert table.item(0, 7).data(Qt.ItemDataRole.DisplayRole) == pytest.approx(100.0)
    assert "aoi · all dates" in stacks.stacksBasedOn.text() and f"{len(SLCS)} SLC footprints" in stacks.stacksBasedOn.text()

    # Selecting the row selects the stack's footprints and zooms the map to them.
    qgis_canvas.setExtent(QgsRectangle(0, 0, 1, 1))
    table.selectRow(0)
    assert footprints.selectedFeatureCount() == len(SLCS)
    assert qgis_canvas.extent().contains(footprints.boundingBoxOfSelected())
    assert dock.page("pairs").pairsInput.currentLayer() is footprints


def test_an_area_already_chosen_is_never_replaced_silently(dock, plugin, qgis_iface):
    search = dock.page("search")
    dock.aoi.set_drawn_extent(QgsRectangle(12, 41, 14, 43))
    layer = _aoi_layer()
    layer.selectByIds([sorted(f.id() for f in layer.getFeatures())[0]])
    qgis_iface.setActiveLayer(layer)
    plugin.show_dock(False)
    plugin.show_dock(True)  # reopening the dock with a selection on the map
    assert dock.aoi.mode == DRAWN and dock.aoi.drawn_extent == QgsRectangle(12, 41, 14, 43)
    assert search.aoiUseSelection.isVisibleTo(dock) and "1 selected feature(s) of 'aoi'" in search.aoiUseSelection.text()
    search.aoiUseSelection.click()
    assert dock.aoi.mode == LAYER and search.aoiLayer.currentLayer() is layer
    assert not search.aoiUseSelection.isVisibleTo(dock)


def test_an_empty_selection_is_refused_before_anything_runs(dock):
    search = dock.page("search")
    layer = _aoi_layer()
    search.aoiLayer.setLayer(layer)
    dock.aoi.set_mode(LAYER)
    search.aoiSelectedOnly.setChecked(True)
    assert search.run_search() is False
    assert "No feature of 'aoi' is selected" in search.searchResult.text()
    assert not dock.runner.is_running() and not dock.workspace.chains


def test_dates_read_no_limit_and_take_a_typed_year(dock, plugin):
    search = dock.page("search")
    assert search.searchStart.text() == "" and search.searchStart.placeholderText() == "no limit"
    assert parse_period("2020", end=False) == QDate(2020, 1, 1) and parse_period("2020", end=True) == QDate(2020, 12, 31)
    assert parse_period("2020-02", end=True) == QDate(2020, 2, 29) and parse_period("2019-07-14", end=False) == QDate(2019, 7, 14)
    search.searchStart.setText("2019")
    search.searchEnd.setText("2020-06")
    dock.aoi.set_drawn_extent(QgsRectangle(12, 41, 14, 43))
    parameters = search.search_parameters()
    assert (parameters["START"], parameters["END"]) == ("2019-01-01", "2020-06-30")
    search.searchEnd.setText("")  # no limit: not passed at all
    assert "END" not in search.search_parameters()
    search.searchEnd.setText("20x9")
    assert "is not a date" in search.end.problem() and search.searchEnd.styleSheet()
    assert search.run_search() is False and "is not a date" in search.searchResult.text()
    search.searchEnd.setText("2021")
    plugin.show_dock(False)  # the choices survive closing the dock and reloading the plugin
    dock.save_state()
    plugin.unload()
    plugin.initGui()
    again = plugin.show_dock(True).page("search")
    assert again.searchStart.text() == "2019" and again.searchEnd.text() == "2021"


def test_an_empty_search_adds_nothing_and_names_the_other_product_level(dock, qtbot, tmp_path, monkeypatch):
    search = dock.page("search")
    centre = _centre(BURSTS)  # Sitka: bursts only in this catalogue
    dock.aoi.set_drawn_extent(QgsRectangle(centre.x - 0.05, centre.y - 0.03, centre.x + 0.05, centre.y + 0.03))
    search.processingLevel.setCurrentText("SLC")
    layers_before = len(QgsProject.instance().mapLayers())
    with _serve(BURSTS, tmp_path, monkeypatch):
        assert run_step(qtbot, dock, search.runSearch) == ["insarhub:searchscenes", True]
        assert dock.runner.last_results["COUNT"] == 0
        assert len(QgsProject.instance().mapLayers()) == layers_before and not group_names(SEARCH_ROLE)
        assert not dock.workspace.chains and not list((dock.workspace.folder / "searches").iterdir())
        assert "No SLC found" in search.searchResult.text() and "try BURST" in search.searchResult.text()
        assert search.searchOtherLevel.isVisibleTo(dock) and search.searchOtherLevel.text() == "Search bursts instead"
        assert run_step(qtbot, dock, search.searchOtherLevel) == ["insarhub:searchscenes", True]
    assert search.processingLevel.currentText() == "BURST"
    assert dock.runner.last_results["COUNT"] > 0 and len(dock.workspace.chains) == 1


def _drag(canvas, tool, start, end):
    """Drag a rectangle with a map tool, as the mouse would (map coordinates in the canvas CRS)."""
    to_pixel = canvas.getCoordinateTransform()
    a, b = to_pixel.transform(QgsPointXY(*start)), to_pixel.transform(QgsPointXY(*end))
    pa, pb = QPoint(int(a.x()), int(a.y())), QPoint(int(b.x()), int(b.y()))
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    tool.canvasPressEvent(QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonPress, pa, left, left))
    tool.canvasMoveEvent(QgsMapMouseEvent(canvas, QEvent.Type.MouseMove, pb, none, left))
    tool.canvasReleaseEvent(QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease, pb, left, none))


def test_drawn_rectangle_filter_pairs_and_pairs_that_go_stale(dock, qgis_canvas, qtbot, tmp_path, monkeypatch):
    search, stacks, pairs_page, hyp3 = (dock.page(k) for k in ("search", "stacks", "pairs", "hyp3"))
    records = synthetic_slc_records(24, paths=(94, 21), frames=(210,))
    centre = _centre(SLCS)
    qgis_canvas.setExtent(QgsRectangle(centre.x - 12, centre.y - 6, centre.x + 12, centre.y + 6))

    # The canvas extent, as the AOI.
    search.aoiUseCanvas.click()
    assert dock.aoi.mode == CANVAS
    extent = dock.aoi.parameters()["EXTENT"]
    assert isinstance(extent, QgsReferencedRectangle) and extent.crs() == WGS84
    assert extent.contains(QgsPointXY(centre.x, centre.y))

    # A rectangle drawn with the map tool.
    search.aoiDraw.click()
    assert qgis_canvas.mapTool() is dock.aoi.extent_tool
    _drag(qgis_canvas, dock.aoi.extent_tool, (centre.x - 9, centre.y + 4), (centre.x + 9, centre.y - 4))
    assert dock.aoi.mode == DRAWN and qgis_canvas.mapTool() is not dock.aoi.extent_tool
    drawn = dock.aoi.parameters()["EXTENT"]
    assert drawn.width() == pytest.approx(18, abs=0.2) and drawn.height() == pytest.approx(8, abs=0.2)

    with _serve(records, tmp_path, monkeypatch):
        assert run_step(qtbot, dock, search.runSearch) == ["insarhub:searchscenes", True], dock.logView.toPlainText()
    assert dock.runner.last_parameters["EXTENT"] == drawn
    chain = dock.workspace.current
    assert chain.label.endswith("· all dates") and "°N" in chain.label and "°W" in chain.label
    keep, drop = stacks.stack_ids()
    assert dock.runner.last_results["COUNT"] == 24

    # Untick one stack: the filter keeps the other, in the search's group, and feeds the pairs.
    stacks.set_stack_checked(drop, False)
    assert run_step(qtbot, dock, stacks.runFilter) == ["insarhub:filterscenes", True], dock.logView.toPlainText()
    assert dock.runner.last_parameters["STACKS"] == keep and dock.runner.last_results["COUNT"] == 12
    filtered = find_result_layer(dock.runner.last_results["OUTPUT"])
    assert {f["stack"] for f in filtered.getFeatures()} == {keep}
    assert _search_group(chain).findLayer(filtered.id()) is not None
    assert pairs_page.pairsInput.currentLayer() is filtered and dock.tabs.currentWidget() is pairs_page
    assert "what you kept" in pairs_page.pairsBasedOn.text()

    # Pairs: the network plot, the pair count and what HyP3 would charge.
    pairs_page.maxTemporal.setValue(40)
    pairs_page.maxPerp.setValue(0)  # "no limit"
    pairs_page.neighbours.setValue(2)
    assert run_step(qtbot, dock, pairs_page.runPairs) == ["insarhub:selectpairs", True], dock.logView.toPlainText()
    parameters = dock.runner.last_parameters
    # The workspace's file of the kept footprints (the algorithm's thread opens its own copy).
    assert parameters["INPUT"] == filtered.source().split("|")[0] and parameters["MAX_TEMPORAL_BASELINE"] == 40
    assert parameters["MAX_PERP_BASELINE"] == "" and parameters["NEIGHBOURS"] == 2 and "MAX_DEGREE" not in parameters
    count = dock.runner.last_results["PAIR_COUNT"]
    assert count >= 11 and f"{count} pair(s)" in pairs_page.pairsCount.text()
    assert pairs_page.networkPlot.pixmap() is not None and not pairs_page.networkPlot.pixmap().isNull()
    pairs = find_result_layer(dock.runner.last_results["OUTPUT"])
    assert pairs.featureCount() == count and hyp3.jobsPairs.currentLayer() is pairs
    assert hyp3.jobType.currentText() == "INSAR_GAMMA" and hyp3.estimateCost.isEnabled()
    hyp3.looks.setCurrentText("20x4")
    assert f"{10 * count:g} HyP3 credits" in pairs_page.pairsCost.text()
    hyp3.looks.setCurrentText("10x2")
    assert f"{15 * count:g} HyP3 credits" in pairs_page.pairsCost.text()
    assert not pairs_page.pairsStale.isVisibleTo(dock)

    # Keep both stacks now: the pairs no longer match their footprints. They are marked stale,
    # and the order can be neither priced nor submitted until pairs are selected again.
    stacks.set_stack_checked(drop, True)
    assert run_step(qtbot, dock, stacks.runFilter)[1]
    refiltered = find_result_layer(dock.runner.last_results["OUTPUT"])
    group = _search_group(chain)
    assert [n.layer() for n in group.findLayers() if n.layer().customProperty(STEP_PROPERTY) == "filter"] == [refiltered]
    assert pairs_page.pairsInput.currentLayer() is refiltered
    assert pairs_page.pairsStale.isVisibleTo(dock) and "select pairs again" in pairs_page.pairsStale.text()
    assert not hyp3.estimateCost.isEnabled() and not hyp3.submitJobs.isEnabled()
    assert "select pairs again" in hyp3.hyp3Stale.text()
    assert hyp3.estimate_cost() is False and "select pairs again" in hyp3.costLabel.text()
    assert run_step(qtbot, dock, pairs_page.runPairs)[1]
    assert not pairs_page.pairsStale.isVisibleTo(dock) and hyp3.estimateCost.isEnabled()
    assert len([n for n in group.findLayers() if n.layer().customProperty(STEP_PROPERTY) == "pairs"]) == 1


def test_a_new_search_hides_the_previous_one_and_switching_back_restores_it(dock, qtbot, tmp_path, monkeypatch):
    search, stacks, pairs_page, hyp3 = (dock.page(k) for k in ("search", "stacks", "pairs", "hyp3"))
    with _serve(BURSTS[:8] + SLCS, tmp_path, monkeypatch):
        slc = _centre(SLCS)
        dock.aoi.set_drawn_extent(QgsRectangle(slc.x - 0.05, slc.y - 0.03, slc.x + 0.05, slc.y + 0.03))
        assert run_step(qtbot, dock, search.runSearch)[1]
        first = dock.workspace.current
        pairs_page.maxTemporal.setValue(0)
        pairs_page.maxPerp.setValue(0)
        pairs_page.neighbours.setValue(2)
        assert run_step(qtbot, dock, pairs_page.runPairs)[1], dock.logView.toPlainText()
        assert hyp3.jobsPairs.currentLayer() is not None

        burst = _centre(BURSTS)
        dock.aoi.set_drawn_extent(QgsRectangle(burst.x - 0.05, burst.y - 0.03, burst.x + 0.05, burst.y + 0.03))
        search.processingLevel.setCurrentText("BURST")
        assert run_step(qtbot, dock, search.runSearch)[1]
    second = dock.workspace.current
    assert second is not first and group_names(SEARCH_ROLE)[0] == second.label  # on top
    old, new = _search_group(first), _search_group(second)
    assert new.isVisible() and new.isExpanded() and not old.isVisible() and not old.isExpanded()
    # Every page follows the new search: nothing of the old network can be priced or submitted.
    assert stacks.stack_ids() == ["174_372326_IW3"]
    assert pairs_page.pairsCount.text() == "" and pairs_page.networkPlot.pixmap() is None or pairs_page.networkPlot.pixmap().isNull()
    assert hyp3.jobsPairs.currentLayer() is None and not hyp3.estimateCost.isEnabled()

    # Back to the first search: its group is shown again, its pairs are back on every page.
    index = stacks.searchChooser.findData(first.id)
    stacks.searchChooser.setCurrentIndex(index)
    stacks.searchChooser.activated.emit(index)
    assert dock.workspace.current is first
    assert old.isVisible() and not new.isVisible()
    assert stacks.stack_ids() == ["P94_F210"]
    assert "pair(s)" in pairs_page.pairsCount.text()
    assert hyp3.jobsPairs.currentLayer() is hyp3.chain_pairs_layer(first) and hyp3.estimateCost.isEnabled()


def test_a_step_runs_in_the_background_and_cancel_reads_cancelled(dock, qgis_canvas, qtbot, tmp_path, monkeypatch):
    search = dock.page("search")
    centre = _centre(SLCS)
    qgis_canvas.setExtent(QgsRectangle(centre.x - 12, centre.y - 6, centre.x + 12, centre.y + 6))
    search.aoiUseCanvas.click()
    progress = []
    dock.runner.progress.connect(progress.append)
    with _serve(synthetic_slc_records(24, paths=(94, 21), frames=(210,)), tmp_path, monkeypatch) as cmr:
        cmr.cap_page_size(1)  # one record per page, each answered slowly: a long search
        cmr.delay(0.2)
        with qtbot.waitSignal(dock.stepFinished, timeout=30_000) as blocker:
            search.runSearch.click()
            task = dock.runner.task
            assert task is not None and task in QgsApplication.taskManager().tasks()
            assert dock.cancelButton.isEnabled() and not search.runSearch.isEnabled()
            # The event loop keeps running (QGIS does not freeze) and progress reaches the dock.
            qtbot.waitUntil(lambda: dock.progressBar.value() > 0, timeout=15_000)
            dock.cancelButton.click()
    assert blocker.args == ["insarhub:searchscenes", False]
    assert progress and 0 < max(progress) < 100
    assert dock.statusLabel.text().startswith("Cancelled") and search.searchResult.text() == "Cancelled."
    log = dock.logView.toPlainText()
    assert "Error:" not in log and "failed" not in log.lower()
    assert search.runSearch.isEnabled() and not dock.cancelButton.isEnabled()
    assert not group_names(SEARCH_ROLE) and not dock.workspace.chains


def test_a_vector_file_is_the_aoi(dock, qtbot, tmp_path, monkeypatch):
    search = dock.page("search")
    layer = QgsVectorLayer("Polygon?crs=EPSG:3338", "aoi", "memory")  # Alaska Albers: reprojected by the algorithm
    feature = QgsFeature()
    centre = QgsGeometry.fromPointXY(QgsPointXY(_centre(SLCS).x, _centre(SLCS).y))
    centre.transform(QgsCoordinateTransform(WGS84, layer.crs(), QgsProject.instance()))
    feature.setGeometry(centre.buffer(2000, 8))
    layer.dataProvider().addFeatures([feature])
    path = str(tmp_path / "fairbanks.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsProject.instance().transformContext(), options)

    search.aoiMode.setCurrentIndex(3)
    assert search.aoiStack.currentWidget() is search.aoiPageFile
    search.aoiFile.setFilePath(path)
    assert dock.aoi.parameters() == {"AOI": path}
    assert not dock.aoi.rubber_band.asGeometry().isEmpty()
    with _serve(BURSTS + SLCS, tmp_path, monkeypatch):
        assert run_step(qtbot, dock, search.runSearch) == ["insarhub:searchscenes", True], dock.logView.toPlainText()
    assert dock.runner.last_results["COUNT"] == len(SLCS)
    assert dock.page("stacks").stack_ids() == ["P94_F210"]
    assert dock.workspace.current.label == "fairbanks · all dates"
    assert _search_group(dock.workspace.current).customProperty(ROLE_PROPERTY) == SEARCH_ROLE
