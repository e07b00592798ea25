"""The dock's time-series page runs insarhub:runtimeseries (MintPy, ~10 s) on a tiny synthetic
HyP3 stack with a reference point picked on the map; the rasters load and are styled as from
the toolbox, and clicking a pixel charts the DISPLACEMENT values of that pixel."""

from __future__ import annotations

import insarhub_qgis
import numpy as np
import pytest
from fakes.products import Grid, make_stack
from insarhub_qgis.ui import state
from insarhub_qgis.ui.dock import find_result_layer
from osgeo import gdal
from qgis.core import QgsCoordinateReferenceSystem, QgsPointXY, QgsProject, QgsSingleBandPseudoColorRenderer

pytestmark = pytest.mark.slow


@pytest.fixture()
def dock(qgis_iface, qgis_processing, qgis_new_project, qgis_canvas):
    state.clear_state()
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32719"))
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    dock = plugin.show_dock(True)
    yield dock
    plugin.unload()


def test_time_series_from_the_dock_then_chart_a_pixel(dock, qgis_canvas, qtbot, tmp_path):
    grid = Grid(epsg=32719, pixel_size=80.0, origin_x=300000.0, origin_y=7400000.0, width=40, height=30)
    stack = make_stack(tmp_path / "products", n_dates=8, n_pairs=14, grid=grid, seed=3)
    reference = QgsPointXY(*stack.reference_xy)

    dock.workFolder.setFilePath(str(tmp_path / "work"))
    dock.tsProducts.setFilePath(str(tmp_path / "products"))
    dock.tsWorkdir.setFilePath(str(tmp_path / "mintpy"))
    dock.pickReference.click()
    dock.reference_tool.picked.emit(
        reference, QgsCoordinateReferenceSystem("EPSG:32719")
    )  # what a click emits
    assert dock.referencePoint.text() == f"{reference.x():.10g},{reference.y():.10g} [EPSG:32719]"

    with qtbot.waitSignal(dock.stepFinished, timeout=240_000) as blocker:
        dock.runTimeseries.click()
    assert blocker.args == ["insarhub:runtimeseries", True], dock.logView.toPlainText()[-3000:]
    results = dock.runner.last_results
    assert dock.runner.last_parameters["REFERENCE_POINT"] == dock.referencePoint.text()
    assert results["INTERFEROGRAMS"] == len(stack.pairs)

    # Loaded and styled by the algorithm's own post-processor, through handleAlgorithmResults.
    root = QgsProject.instance().layerTreeRoot()
    group = next(g for g in root.findGroups() if g.name().startswith("InSARHub time series"))
    velocity = find_result_layer(results["VELOCITY"])
    assert velocity is not None and group.findLayer(velocity.id()) is not None
    assert velocity.name().startswith("Velocity (mm/yr")
    renderer = velocity.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
    assert renderer.classificationMin() == -renderer.classificationMax()
    displacement = dock.displacementLayer.currentLayer()
    assert displacement is not None and displacement.bandCount() == len(stack.dates)

    # Chart a pixel: the values are those of the DISPLACEMENT GeoTIFF at that pixel.
    dataset = gdal.Open(displacement.source())
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    row, col = dataset.RasterYSize // 2, dataset.RasterXSize // 3
    point = QgsPointXY(x0 + (col + 0.5) * dx, y0 + (row + 0.5) * dy)
    series = dock.chart_pixel(point, QgsCoordinateReferenceSystem("EPSG:32719"))
    truth = [
        float(dataset.GetRasterBand(b).ReadAsArray()[row, col]) for b in range(1, dataset.RasterCount + 1)
    ]
    assert series.dates == stack.dates
    np.testing.assert_allclose(series.values_mm, truth, rtol=1e-6)
    assert series.values_mm[0] == 0  # relative to the first date
    assert series.velocity_mm_per_year is not None
