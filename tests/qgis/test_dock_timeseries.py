"""The dock's time-series page on a tiny synthetic HyP3 stack (MintPy, ~10 s), as a person uses it:
picking the reference point shows the area every interferogram covers and refuses a click outside
it at once, in map coordinates; after the run the reference used is a point on the map, the
velocity is on top (the rest off; before QGIS 3.38 the dates folded in one group), the map is zoomed to it, the
Temporal Controller spans the dates with the acquisition interval as its step and, while it
animates, the velocity gives way to the dates; the chart finds the displacement by itself."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.products import Grid, make_stack
from insarhub_qgis.processing_provider.raster_styling import (
    BY_DATE_GROUP,
    PER_BAND_TIME_RANGES,
    TIMESERIES_ROLE,
)
from insarhub_qgis.processing_provider.styling import ROLE_PROPERTY, groups_with_role
from insarhub_qgis.ui import temporal
from insarhub_qgis.ui.dock import find_result_layer
from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDateTimeRange,
    QgsPointXY,
    QgsProject,
    QgsSingleBandPseudoColorRenderer,
    QgsTemporalNavigationObject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime

pytestmark = pytest.mark.slow
UTM = QgsCoordinateReferenceSystem("EPSG:32719")


@pytest.fixture()
def controller(qgis_canvas):
    """The desktop's Temporal Controller (a bare test canvas has none)."""
    navigation = QgsTemporalNavigationObject()
    qgis_canvas.setTemporalController(navigation)
    yield navigation
    qgis_canvas.setTemporalController(None)


def _utc(day):
    return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0), Qt.TimeSpec.UTC)


def test_reference_area_run_and_time_on_the_map(dock, qgis_canvas, controller, qtbot, tmp_path):
    qgis_canvas.setDestinationCrs(UTM)
    dock.temporal.detach()
    dock.temporal = temporal.TemporalSwitch(dock.iface, dock)  # follows the controller set above
    series_page = dock.page("timeseries")
    grid = Grid(epsg=32719, pixel_size=80.0, origin_x=300000.0, origin_y=7400000.0, width=40, height=30)
    stack = make_stack(tmp_path / "products", n_dates=8, n_pairs=14, grid=grid, seed=3)
    series_page.tsProducts.setFilePath(str(tmp_path / "products"))

    # Pick: the area every interferogram covers is drawn; a click outside it is refused at once.
    with qtbot.waitSignal(series_page.referenceAreaReady, timeout=30_000) as ready:
        series_page.pickReference.click()
    assert ready.args == [True] and qgis_canvas.mapTool() is series_page.reference_tool
    assert series_page.area_band.isVisible() and "all 14 interferograms" in series_page.referenceArea.text()
    area = series_page.area_band.asGeometry()
    assert area.contains(QgsPointXY(*stack.reference_xy))
    x0, dx, _, y0, _, dy = stack.geotransform
    outside = QgsPointXY(x0 - 5 * dx, y0)  # left of every product
    assert series_page.reference_clicked(outside, UTM) is False
    message = series_page.referenceArea.text()
    assert "is outside the area every interferogram covers" in message and "EPSG:32719" in message
    assert f"{outside.x():.0f}" in message  # in the map's coordinates
    assert series_page.referencePoint.text() == "" and series_page.pickReference.isChecked()
    rows, cols = np.nonzero(~stack.valid_mask)
    if len(rows):  # a pixel inside the grid that some product does not cover
        gap = QgsPointXY(x0 + (cols[0] + 0.5) * dx, y0 + (rows[0] + 0.5) * dy)
        assert series_page.reference_clicked(gap, UTM) is False
    # A click the map cannot place (here: off the projection) is refused too, never an error dialog.
    assert series_page.reference_clicked(QgsPointXY(float("inf"), float("inf")), QgsCoordinateReferenceSystem("EPSG:4326")) is False
    assert "click inside the dashed outline" in series_page.referenceArea.text()
    reference = QgsPointXY(*stack.reference_xy)
    series_page.reference_tool.picked.emit(reference, UTM)  # what a click inside emits
    assert series_page.referencePoint.text() == f"{reference.x():.10g},{reference.y():.10g} [EPSG:32719]"
    assert not series_page.pickReference.isChecked() and not series_page.area_band.isVisible()

    with qtbot.waitSignal(dock.stepFinished, timeout=240_000) as blocker:
        series_page.runTimeseries.click()
    assert blocker.args == ["insarhub:runtimeseries", True], dock.logView.toPlainText()[-3000:]
    results = dock.runner.last_results
    assert dock.runner.last_parameters["REFERENCE_POINT"] == series_page.referencePoint.text()
    assert results["INTERFEROGRAMS"] == len(stack.pairs)
    # Never a temporary folder: the results and MintPy's work are in the workspace.
    assert str(results["VELOCITY"]).startswith(str(dock.workspace.folder))

    # One group: the velocity on top and shown, the others off, the dates folded in one sub-group.
    group = groups_with_role(QgsProject.instance(), TIMESERIES_ROLE)[0]
    nodes = [node for node in group.children() if hasattr(node, "layer")]
    velocity = find_result_layer(results["VELOCITY"])
    assert nodes[0].layer().customProperty(ROLE_PROPERTY) == "REFERENCE"
    assert nodes[1].layer() is velocity and nodes[1].isVisible()
    assert [n.layer().customProperty(ROLE_PROPERTY) for n in nodes[2:]] == ["VELOCITY_STD", "TEMPORAL_COHERENCE", "DISPLACEMENT"]
    assert not any(n.isVisible() for n in nodes[2:])
    by_date = group.findGroup(BY_DATE_GROUP)
    displacement_node = nodes[-1]
    if PER_BAND_TIME_RANGES:  # QGIS 3.38+: the displacement layer itself follows the dates; no layer per date
        assert by_date is None and displacement_node.layer().temporalProperties().isActive()
        assert len(group.findLayers()) == 5
    else:
        assert by_date is not None and not by_date.isExpanded() and not by_date.isVisible()
        assert len(by_date.findLayers()) == len(stack.dates)
    renderer = velocity.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
    assert renderer.classificationMin() == -renderer.classificationMax()
    assert qgis_canvas.extent().contains(velocity.extent())  # zoomed to the result

    # The reference used, as a point on the map where it was picked.
    point_layer = nodes[0].layer()
    assert isinstance(point_layer, QgsVectorLayer) and point_layer.featureCount() == 1
    feature = next(point_layer.getFeatures())
    assert feature["kind"] == "picked"
    assert feature.geometry().asPoint().distance(reference) < grid.pixel_size

    # Time: the whole range of dates, one frame per acquisition interval (12 days here).
    extents = controller.temporalExtents()
    assert extents.begin() == _utc(stack.dates[0]) and extents.end() == _utc(stack.dates[-1]).addDays(12)
    assert controller.frameDuration().days() == pytest.approx(12)
    assert "12 days a frame" in series_page.tsResult.text()
    assert series_page.animateDisplacement.isEnabled()
    series_page.animateDisplacement.click()  # animate: the velocity gives way to the dates
    assert controller.navigationMode() == temporal.ANIMATED
    when = _utc(stack.dates[2]).addSecs(3600)
    if PER_BAND_TIME_RANGES:
        assert not nodes[1].isVisible() and displacement_node.isVisible()
        layer = displacement_node.layer()
        assert layer.temporalProperties().bandForTemporalRange(layer, QgsDateTimeRange(when, when)) == 3
    else:
        assert not nodes[1].isVisible() and by_date.isVisible()
        third = by_date.findLayers()[2].layer()
        assert third.temporalProperties().isVisibleInTemporalRange(QgsDateTimeRange(when, when))
    controller.setNavigationMode(temporal.NAVIGATION_OFF)  # back: the velocity again
    assert nodes[1].isVisible() and not (displacement_node.isVisible() if PER_BAND_TIME_RANGES else by_date.isVisible())

    # The chart chose the displacement by itself; a click charts that pixel's values.
    displacement = series_page.displacement_layer()
    assert displacement is not None and displacement.bandCount() == len(stack.dates)
    assert series_page.displacementLayer.count() == 1  # not the per-date layers
    dataset = gdal.Open(displacement.source())
    gx0, gdx, _, gy0, _, gdy = dataset.GetGeoTransform()
    row, col = dataset.RasterYSize // 2, dataset.RasterXSize // 3
    point = QgsPointXY(gx0 + (col + 0.5) * gdx, gy0 + (row + 0.5) * gdy)
    series = series_page.chart_pixel(point, UTM)
    truth = [float(dataset.GetRasterBand(b).ReadAsArray()[row, col]) for b in range(1, dataset.RasterCount + 1)]
    assert series.dates == stack.dates
    np.testing.assert_allclose(series.values_mm, truth, rtol=1e-6)
    assert series.values_mm[0] == 0 and series.velocity_mm_per_year is not None
