"""Time-series rasters on the map: symmetric diverging velocity ramp; the displacement steps through its
dates with the Temporal Controller (the layer's own bands on QGIS 3.38+, one layer per date before)."""

from __future__ import annotations

import numpy as np
import pytest
from insarhub_qgis.processing_provider.raster_styling import (
    BY_DATE_GROUP,
    PER_BAND_TIME_RANGES,
    TimeSeriesPostProcessor,
    nice_ceiling,
    robust_limit,
)
from osgeo import gdal, osr
from qgis.core import (
    QgsDateTimeRange,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime


def _write(path, bands, descriptions=()):
    driver = gdal.GetDriverByName("GTiff")
    height, width = bands[0].shape
    dataset = driver.Create(str(path), width, height, len(bands), gdal.GDT_Float32)
    dataset.SetGeoTransform((300000, 40, 0, 7400000, 0, -40))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32719)
    dataset.SetProjection(srs.ExportToWkt())
    for index, array in enumerate(bands, start=1):
        band = dataset.GetRasterBand(index)
        band.WriteArray(array)
        if descriptions:
            band.SetDescription(descriptions[index - 1])
    dataset = None
    return str(path)


def test_velocity_ramp_is_symmetric_and_robust(qgis_new_project, tmp_path):
    values = np.linspace(-20, 10, 100 * 50, dtype="float32").reshape(50, 100)
    values[0, 0] = 500.0  # an outlier must not set the colour range
    path = _write(tmp_path / "velocity.tif", [values])
    layer = QgsRasterLayer(path, "velocity", "gdal")
    QgsProject.instance().addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    TimeSeriesPostProcessor("run", "VELOCITY", []).postProcessLayer(layer, context, QgsProcessingFeedback())
    renderer = layer.renderer()
    limit = robust_limit(path)
    assert 18 < limit < 21
    # Symmetric about zero, at the next round value above the 98th percentile (not the outlier).
    assert renderer.classificationMin() == -renderer.classificationMax()
    assert renderer.classificationMax() == nice_ceiling(limit) == 20
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert items[0].label.endswith("mm/yr") and items[len(items) // 2].label == "0 mm/yr"
    group = QgsProject.instance().layerTreeRoot().findGroup("run")
    assert group is not None and group.findLayer(layer.id()) is not None


@pytest.mark.skipif(PER_BAND_TIME_RANGES, reason="QGIS 3.38+ steps the layer's own bands (test_displacement_per_band)")
def test_displacement_steps_through_dates(qgis_new_project, tmp_path):
    dates = ["20200102", "20200114", "20200126"]
    bands = [np.full((10, 10), v, dtype="float32") for v in (0, -3, -6)]
    path = _write(tmp_path / "displacement.tif", bands, dates)
    layer = QgsRasterLayer(path, "displacement", "gdal")
    QgsProject.instance().addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    TimeSeriesPostProcessor("run", "DISPLACEMENT", dates).postProcessLayer(layer, context, QgsProcessingFeedback())
    subgroup = QgsProject.instance().layerTreeRoot().findGroup("run").findGroup(BY_DATE_GROUP)
    views = [node.layer() for node in subgroup.findLayers()]
    assert [v.name() for v in views] == ["2020-01-02", "2020-01-14", "2020-01-26"]
    second = views[1]
    assert second.renderer().band() == 2
    properties = second.temporalProperties()
    assert properties.isActive()
    when = QDateTime(QDate(2020, 1, 20), QTime(0, 0), Qt.UTC)
    assert properties.isVisibleInTemporalRange(QgsDateTimeRange(when, when))
    assert not views[0].temporalProperties().isVisibleInTemporalRange(QgsDateTimeRange(when, when))
