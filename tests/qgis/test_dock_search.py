"""The dock's first three pages against the loopback CMR: the AOI (selected features, a drawn
rectangle, the canvas extent) drives insarhub:searchscenes, the stacks table drives
insarhub:filterscenes, the pairs page insarhub:selectpairs, each through a background task,
with the toolbox's layers and styles."""

from __future__ import annotations

import insarhub_qgis
import pytest
import shapely
from fakes.cmr import CMRStandIn, load_fixture, synthetic_slc_records
from insarhub_qgis.ui import state
from insarhub_qgis.ui.aoi import CANVAS, DRAWN, LAYER
from insarhub_qgis.ui.dock import find_result_layer
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")
SLCS = load_fixture("s1_slc_fairbanks_p94_f210_stack")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def _centre(items):
    points = items[0]["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0][
        "Boundary"
    ]["Points"]
    return shapely.Polygon([(p["Longitude"], p["Latitude"]) for p in points]).centroid


@pytest.fixture()
def plugin(qgis_iface, qgis_processing, qgis_new_project, qgis_canvas):
    state.clear_state()
    qgis_canvas.setDestinationCrs(WGS84)
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    yield plugin
    plugin.unload()


@pytest.fixture()
def dock(plugin, tmp_path):
    dock = plugin.show_dock(True)
    dock.workFolder.setFilePath(str(tmp_path / "work"))
    return dock


def _serve(records, tmp_path, monkeypatch):
    stand_in = CMRStandIn(records, tmpdir=tmp_path)
    monkeypatch.setenv("INSARHUB_CMR_HOST", stand_in.host)
    monkeypatch.setenv("INSARHUB_CA_BUNDLE", stand_in.ca_file)
    return stand_in


def run_step(qtbot, dock, button, timeout=60_000):
    """Click a step's button and wait for its background task to finish and its results to show."""
    with qtbot.waitSignal(dock.stepFinished, timeout=timeout) as blocker:
        button.click()
    return blocker.args


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


def test_selected_features_are_the_default_aoi_and_fill_the_stacks_table(
    dock, qgis_iface, qgis_canvas, qtbot, tmp_path, monkeypatch
):
    layer = _aoi_layer()
    ids = sorted(f.id() for f in layer.getFeatures())
    layer.selectByIds([ids[1]])  # only the Fairbanks polygon
    qgis_iface.setActiveLayer(layer)
    dock.aoi.choose_default()
    assert dock.aoiMode.currentIndex() == LAYER and dock.aoiLayer.currentLayer() is layer
    assert dock.aoiSelectedOnly.isChecked()
    assert "1 selected feature" in dock.aoiSummary.text()
    outline = dock.aoi.rubber_band.asGeometry()
    assert not outline.isEmpty() and outline.boundingBox().contains(
        QgsPointXY(_centre(SLCS).x, _centre(SLCS).y)
    )

    with _serve(BURSTS + SLCS, tmp_path, monkeypatch):
        algorithm, ok = run_step(qtbot, dock, dock.runSearch)
    assert (algorithm, ok) == ("insarhub:searchscenes", True), dock.logView.toPlainText()
    aoi = dock.runner.last_parameters["AOI"]
    assert isinstance(aoi, QgsProcessingFeatureSourceDefinition) and aoi.selectedFeaturesOnly
    assert aoi.source.staticValue() == layer.id()
    assert dock.runner.last_results["COUNT"] == len(SLCS)
    assert dock.progressBar.value() == 100 and not dock.cancelButton.isEnabled()

    # The same layers as the toolbox: one group, a styled layer per stack, the summary table.
    groups = [
        g
        for g in QgsProject.instance().layerTreeRoot().findGroups()
        if g.name().startswith("InSARHub search")
    ]
    assert len(groups) == 1
    stack_layer = groups[0].findLayers()[0].layer()
    assert stack_layer.subsetString() == "\"stack\" = 'P94_F210'" and stack_layer.labelsEnabled()

    # The stacks table, sortable, one checked row per stack.
    assert dock.tabs.currentWidget() is dock.pageStacks
    table = dock.stacksTable
    assert table.rowCount() == 1 and table.isSortingEnabled()
    assert table.item(0, 0).text() == "P94_F210" and table.item(0, 0).checkState() == Qt.Checked
    assert table.item(0, 4).data(Qt.DisplayRole) == len({i["asf_properties"]["startTime"][:10] for i in SLCS})
    assert table.item(0, 7).data(Qt.DisplayRole) == pytest.approx(100.0)

    # Selecting the row selects the stack's footprints and zooms the map to them.
    qgis_canvas.setExtent(QgsRectangle(0, 0, 1, 1))
    table.selectRow(0)
    footprints = find_result_layer(dock.footprints)
    assert footprints is not None and not footprints.subsetString()
    assert footprints.selectedFeatureCount() == len(SLCS)
    assert qgis_canvas.extent().contains(footprints.boundingBoxOfSelected())
    assert dock.pairsInput.currentLayer() is footprints


def test_an_empty_selection_is_refused_before_anything_runs(dock, qtbot):
    layer = _aoi_layer()
    dock.aoiLayer.setLayer(layer)
    dock.aoi.set_mode(LAYER)
    dock.aoiSelectedOnly.setChecked(True)
    assert dock.run_search() is False
    assert "No feature of 'aoi' is selected" in dock.searchResult.text()
    assert not dock.runner.is_running()


def _drag(canvas, tool, start, end):
    """Drag a rectangle with a map tool, as the mouse would (map coordinates in the canvas CRS)."""
    to_pixel = canvas.getCoordinateTransform()
    a, b = to_pixel.transform(QgsPointXY(*start)), to_pixel.transform(QgsPointXY(*end))
    pa, pb = QPoint(int(a.x()), int(a.y())), QPoint(int(b.x()), int(b.y()))
    tool.canvasPressEvent(QgsMapMouseEvent(canvas, QEvent.MouseButtonPress, pa, Qt.LeftButton, Qt.LeftButton))
    tool.canvasMoveEvent(QgsMapMouseEvent(canvas, QEvent.MouseMove, pb, Qt.NoButton, Qt.LeftButton))
    tool.canvasReleaseEvent(
        QgsMapMouseEvent(canvas, QEvent.MouseButtonRelease, pb, Qt.LeftButton, Qt.NoButton)
    )


def test_drawn_rectangle_search_then_filter_the_ticked_stack_then_pairs_with_cost(
    dock, qgis_canvas, qtbot, tmp_path, monkeypatch
):
    records = synthetic_slc_records(24, paths=(94, 21), frames=(210,))
    centre = _centre(SLCS)
    qgis_canvas.setExtent(QgsRectangle(centre.x - 12, centre.y - 6, centre.x + 12, centre.y + 6))

    # The canvas extent, as the AOI.
    dock.aoiUseCanvas.click()
    assert dock.aoi.mode == CANVAS
    extent = dock.aoi.parameters()["EXTENT"]
    assert isinstance(extent, QgsReferencedRectangle) and extent.crs() == WGS84
    assert extent.contains(QgsPointXY(centre.x, centre.y))

    # A rectangle drawn with the map tool.
    dock.aoiDraw.click()
    assert qgis_canvas.mapTool() is dock.aoi.extent_tool
    _drag(qgis_canvas, dock.aoi.extent_tool, (centre.x - 9, centre.y + 4), (centre.x + 9, centre.y - 4))
    assert dock.aoi.mode == DRAWN and qgis_canvas.mapTool() is not dock.aoi.extent_tool
    drawn = dock.aoi.parameters()["EXTENT"]
    assert drawn.width() == pytest.approx(18, abs=0.2) and drawn.height() == pytest.approx(8, abs=0.2)
    assert dock.aoi.rubber_band.asGeometry().boundingBox().width() == pytest.approx(18, abs=0.2)

    with _serve(records, tmp_path, monkeypatch):
        assert run_step(qtbot, dock, dock.runSearch) == ["insarhub:searchscenes", True], (
            dock.logView.toPlainText()
        )
    assert dock.runner.last_parameters["EXTENT"] == drawn
    stacks = dock.stack_ids()
    assert len(stacks) == 2 and dock.runner.last_results["COUNT"] == 24

    # Untick one stack: the filter keeps the other.
    keep, drop = stacks
    dock.set_stack_checked(drop, False)
    assert run_step(qtbot, dock, dock.runFilter) == ["insarhub:filterscenes", True], (
        dock.logView.toPlainText()
    )
    assert dock.runner.last_parameters["STACKS"] == keep
    assert dock.runner.last_results["COUNT"] == 12
    filtered = find_result_layer(dock.runner.last_results["OUTPUT"])
    assert {f["stack"] for f in filtered.getFeatures()} == {keep}
    assert dock.pairsInput.currentLayer() is filtered

    # Pairs: the network plot in the dock, the pair count and what HyP3 would charge.
    dock.maxTemporal.setValue(40)
    dock.maxPerp.setValue(0)  # "no limit"
    dock.neighbours.setValue(2)
    assert run_step(qtbot, dock, dock.runPairs) == ["insarhub:selectpairs", True], dock.logView.toPlainText()
    parameters = dock.runner.last_parameters
    assert parameters["INPUT"] == filtered.id() and parameters["MAX_TEMPORAL_BASELINE"] == 40
    assert (
        parameters["MAX_PERP_BASELINE"] == ""
        and parameters["NEIGHBOURS"] == 2
        and "MAX_DEGREE" not in parameters
    )
    count = dock.runner.last_results["PAIR_COUNT"]
    assert count >= 11 and f"{count} pair(s)" in dock.pairsCount.text()
    assert dock.networkPlot.pixmap() is not None and not dock.networkPlot.pixmap().isNull()
    pairs = find_result_layer(dock.runner.last_results["OUTPUT"])
    assert pairs is not None and pairs.featureCount() == count and dock.jobsPairs.currentLayer() is pairs
    assert dock.jobType.currentText() == "INSAR_GAMMA"
    dock.looks.setCurrentText("20x4")
    assert f"{10 * count:g} HyP3 credits" in dock.pairsCost.text()
    dock.looks.setCurrentText("10x2")
    assert f"{15 * count:g} HyP3 credits" in dock.pairsCost.text()


def test_a_step_runs_as_a_background_task_with_progress_and_cancel(
    dock, qgis_canvas, qtbot, tmp_path, monkeypatch
):
    centre = _centre(SLCS)
    qgis_canvas.setExtent(QgsRectangle(centre.x - 12, centre.y - 6, centre.x + 12, centre.y + 6))
    dock.aoiUseCanvas.click()
    progress = []
    dock.runner.progress.connect(progress.append)
    with _serve(synthetic_slc_records(24, paths=(94, 21), frames=(210,)), tmp_path, monkeypatch) as cmr:
        cmr.cap_page_size(1)  # one record per page, each answered slowly: a long search
        cmr.delay(0.2)
        with qtbot.waitSignal(dock.stepFinished, timeout=30_000) as blocker:
            dock.runSearch.click()
            task = dock.runner.task
            assert task is not None and task in QgsApplication.taskManager().tasks()
            assert dock.cancelButton.isEnabled() and not dock.runSearch.isEnabled()
            # The event loop keeps running (QGIS does not freeze) and progress reaches the dock.
            qtbot.waitUntil(lambda: dock.progressBar.value() > 0, timeout=15_000)
            dock.cancelButton.click()
    assert blocker.args == ["insarhub:searchscenes", False]
    assert progress and 0 < max(progress) < 100
    assert "Cancelled" in dock.statusLabel.text()
    assert dock.runSearch.isEnabled() and not dock.cancelButton.isEnabled()
    assert not [
        g
        for g in QgsProject.instance().layerTreeRoot().findGroups()
        if g.name().startswith("InSARHub search")
    ]


def test_a_vector_file_is_the_aoi(dock, qtbot, tmp_path, monkeypatch):
    layer = QgsVectorLayer(
        "Polygon?crs=EPSG:3338", "aoi", "memory"
    )  # Alaska Albers: reprojected by the algorithm
    feature = QgsFeature()
    centre = QgsGeometry.fromPointXY(QgsPointXY(_centre(SLCS).x, _centre(SLCS).y))
    centre.transform(QgsCoordinateTransform(WGS84, layer.crs(), QgsProject.instance()))
    feature.setGeometry(centre.buffer(2000, 8))
    layer.dataProvider().addFeatures([feature])
    path = str(tmp_path / "aoi.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    QgsVectorFileWriter.writeAsVectorFormatV2(layer, path, QgsProject.instance().transformContext(), options)

    dock.aoiMode.setCurrentIndex(3)
    assert dock.aoiStack.currentWidget() is dock.aoiPageFile
    dock.aoiFile.setFilePath(path)
    assert dock.aoi.parameters() == {"AOI": path}
    assert not dock.aoi.rubber_band.asGeometry().isEmpty()
    with _serve(BURSTS + SLCS, tmp_path, monkeypatch):
        assert run_step(qtbot, dock, dock.runSearch) == ["insarhub:searchscenes", True], (
            dock.logView.toPlainText()
        )
    assert dock.runner.last_results["COUNT"] == len(SLCS)
    assert dock.stack_ids() == ["P94_F210"]
