"""The displacement layer itself steps through the dates with the Temporal Controller (QGIS 3.38+).

What a user sees: with the Temporal Controller at a date, the displacement layer draws that date's band
(also when the layer was styled on another band); on QGIS before 3.38, which lacks per-band time ranges,
nothing changes and the per-date layers do the stepping.
"""

from __future__ import annotations

import numpy as np
import pytest
from insarhub_qgis.processing_provider.raster_styling import (
    BY_DATE_GROUP,
    PER_BAND_TIME_RANGES,
    TimeSeriesPostProcessor,
    follow_dates_per_band,
)
from osgeo import gdal, osr
from qgis.core import (
    Qgis,
    QgsDateTimeRange,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QSize, Qt, QTime

DATES = ["20200102", "20200114", "20200126"]
VALUES = (-10.0, 0.0, 10.0)  # mm: red, white, blue on the diverging ramp


def _displacement(path) -> str:
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 20, 10, len(DATES), gdal.GDT_Float32)
    dataset.SetGeoTransform((300000, 80, 0, 7400000, 0, -80))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32719)
    dataset.SetProjection(srs.ExportToWkt())
    for band, (date, value) in enumerate(zip(DATES, VALUES), start=1):
        dataset.GetRasterBand(band).WriteArray(np.full((10, 20), value, dtype="float32"))
        dataset.GetRasterBand(band).SetDescription(date)
    dataset = None
    return str(path)


def _colour_at(layer: QgsRasterLayer, day: QDate) -> str:
    when = QDateTime(day, QTime(12, 0), Qt.TimeSpec.UTC)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(20, 10))
    settings.setExtent(layer.extent())
    settings.setIsTemporal(True)
    settings.setTemporalRange(QgsDateTimeRange(when, when.addSecs(3600)))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage().pixelColor(10, 5).name()


@pytest.fixture()
def styled(qgis_new_project, tmp_path):
    layer = QgsRasterLayer(_displacement(tmp_path / "displacement.tif"), "displacement", "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    TimeSeriesPostProcessor("run", "DISPLACEMENT", DATES).postProcessLayer(
        layer, context, QgsProcessingFeedback()
    )
    return layer


@pytest.mark.skipif(not PER_BAND_TIME_RANGES, reason="QGIS before 3.38 has no per-band time ranges")
def test_displacement_layer_draws_the_band_of_the_date(styled) -> None:
    # the displacement layer is the only one loaded: no layer per date
    group = QgsProject.instance().layerTreeRoot().findGroup("run")
    assert group.findGroup(BY_DATE_GROUP) is None
    assert [node.layer() for node in group.findLayers()] == [styled]
    assert len(QgsProject.instance().mapLayers()) == 1
    properties = styled.temporalProperties()
    assert properties.isActive() and properties.mode() == Qgis.RasterTemporalMode.FixedRangePerBand
    when = QDateTime(QDate(2020, 1, 20), QTime(0, 0), Qt.TimeSpec.UTC)
    assert properties.bandForTemporalRange(styled, QgsDateTimeRange(when, when.addSecs(3600))) == 2
    assert styled.renderer().band() == len(DATES)  # styled on the last date
    colours = [_colour_at(styled, QDate(2020, 1, day)) for day in (5, 20, 26)]
    # one colour per date, in the order of the values: red (-10 mm), white-ish (0), blue (+10 mm)
    assert len(set(colours)) == 3
    red, middle, blue = (int(c[1:3], 16) - int(c[5:7], 16) for c in colours)  # red minus blue
    assert red > 100 and abs(middle) < 40 and blue < -100
    assert not styled.temporalProperties().isVisibleInTemporalRange(
        QgsDateTimeRange(
            QDateTime(QDate(2021, 1, 1), QTime(0, 0), Qt.TimeSpec.UTC),
            QDateTime(QDate(2021, 1, 2), QTime(0, 0), Qt.TimeSpec.UTC),
        )
    )


@pytest.mark.skipif(PER_BAND_TIME_RANGES, reason="QGIS 3.38+ steps the layer's own bands")
def test_older_qgis_keeps_the_layer_as_it_was(styled) -> None:
    assert not follow_dates_per_band(styled, DATES)
    assert styled.renderer().band() == len(DATES)
    # drawn the same at every date: the last one (the per-date layers do the stepping)
    assert len({_colour_at(styled, QDate(2020, 1, day)) for day in (5, 20, 26)}) == 1


def test_dates_that_do_not_fit_the_bands_change_nothing(qgis_new_project, tmp_path) -> None:
    layer = QgsRasterLayer(_displacement(tmp_path / "d.tif"), "d", "gdal")
    before = layer.temporalProperties().isActive()
    assert not follow_dates_per_band(layer, DATES[:2])
    assert not follow_dates_per_band(layer, ["2020-01-02", "x", "y"])
    assert layer.temporalProperties().isActive() == before
