"""The dock's map tools: a click on a pixel of a DISPLACEMENT GeoTIFF charts that pixel's values
against the band dates with the linear velocity fit (several pixels on one chart, exported to
CSV and PNG); a click with the reference tool sets the REFERENCE_POINT of runtimeseries."""

from __future__ import annotations

import csv
import datetime as dt
import os
import pathlib

import numpy as np
import pytest
from insarhub_qgis.processing_provider.styling import ROLE_PROPERTY
from insarhub_qgis.ui.maptools import fit_velocity, read_pixel_series
from osgeo import gdal, osr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

DATES = [dt.date(2020, 1, 2) + dt.timedelta(days=24 * k) for k in range(6)]
ORIGIN_X, ORIGIN_Y, PIXEL = 500000.0, 4100000.0, 40.0
UTM = QgsCoordinateReferenceSystem("EPSG:32633")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def _displacement(path, width=20, height=15):
    """Band k holds, at pixel (row, col), -(row + 2*col) * k mm: a known series per pixel; nodata in one corner."""
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), width, height, len(DATES), gdal.GDT_Float32)
    dataset.SetGeoTransform((ORIGIN_X, PIXEL, 0, ORIGIN_Y, 0, -PIXEL))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    dataset.SetProjection(srs.ExportToWkt())
    rows, cols = np.mgrid[0:height, 0:width]
    for k, date in enumerate(DATES):
        band = dataset.GetRasterBand(k + 1)
        values = (-(rows + 2 * cols) * k).astype("float32")
        values[0, 0] = np.nan
        band.WriteArray(values)
        band.SetNoDataValue(float("nan"))
        band.SetDescription(date.strftime("%Y%m%d"))
    dataset = None
    return str(path)


def _expected(row, col):
    return [float(-(row + 2 * col) * k) for k in range(len(DATES))]


def _pixel_centre(row, col):
    return QgsPointXY(ORIGIN_X + (col + 0.5) * PIXEL, ORIGIN_Y - (row + 0.5) * PIXEL)


@pytest.fixture()
def displacement(tmp_path, qgis_canvas):
    layer = QgsRasterLayer(
        _displacement(tmp_path / "displacement.tif"), "Displacement (mm, all dates)", "gdal"
    )
    assert layer.isValid()
    layer.setCustomProperty(ROLE_PROPERTY, "DISPLACEMENT")  # as a time series run's post-processor marks it
    QgsProject.instance().addMapLayer(layer)
    extent = QgsCoordinateTransform(UTM, WGS84, QgsProject.instance()).transformBoundingBox(layer.extent())
    qgis_canvas.setExtent(extent)
    qgis_canvas.refresh()
    return layer


def _click(canvas, tool, point_in_canvas_crs):
    pixel = canvas.getCoordinateTransform().transform(point_in_canvas_crs)
    position = QPoint(int(round(pixel.x())), int(round(pixel.y())))
    tool.canvasPressEvent(
        QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonPress, position, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    )
    tool.canvasReleaseEvent(
        QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease, position, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    )


def _to_canvas(point):
    return QgsCoordinateTransform(UTM, WGS84, QgsProject.instance()).transform(point)


def test_read_pixel_series_returns_the_known_values_and_dates(displacement):
    series = read_pixel_series(displacement, _pixel_centre(7, 3), UTM)
    assert series.dates == DATES
    assert series.values_mm == _expected(7, 3)
    # -(7 + 6) mm per 24 days -> mm/yr
    assert series.velocity_mm_per_year == pytest.approx(-13 * 365.25 / 24, rel=1e-6)
    nodata = read_pixel_series(displacement, _pixel_centre(0, 0), UTM)
    assert all(np.isnan(nodata.values_mm)) and nodata.velocity_mm_per_year is None
    with pytest.raises(ValueError, match="outside"):
        read_pixel_series(displacement, QgsPointXY(0, 0), UTM)
    assert fit_velocity(DATES[:1], [1.0]) == (None, None)


def test_clicking_pixels_charts_them_and_exports_csv_and_png(dock, displacement, qgis_canvas, tmp_path):
    dock = dock.page("timeseries")
    assert dock.displacement_layer() is displacement  # the chart finds the displacement by itself
    dock.chartPixels.click()
    assert qgis_canvas.mapTool() is dock.pixel_tool

    _click(qgis_canvas, dock.pixel_tool, _to_canvas(_pixel_centre(7, 3)))
    _click(qgis_canvas, dock.pixel_tool, _to_canvas(_pixel_centre(2, 10)))
    assert qgis_canvas.mapTool() is dock.pixel_tool  # stays on for more pixels
    chart = dock.chart
    assert [s.label for s in chart.series] == ["P1", "P2"]
    assert chart.series[0].values_mm == _expected(7, 3) and chart.series[1].values_mm == _expected(2, 10)
    assert chart.series[1].velocity_mm_per_year == pytest.approx(-22 * 365.25 / 24, rel=1e-6)
    assert len(dock.pixel_markers) == 2 and "P2" in dock.tsResult.text()
    lines = chart.figure.axes[0].get_lines()
    assert len(lines) == 1 + 2 * 2  # the zero line, then data and fit per pixel
    assert "mm/yr" in chart.figure.axes[0].get_legend().get_texts()[0].get_text()
    # The second pixel is added to the axes already drawn: in the legend, and inside the limits.
    assert [t.get_text()[:2] for t in chart.figure.axes[0].get_legend().get_texts()] == ["P1", "P2"]
    low, high = chart.figure.axes[0].get_ylim()
    assert low <= np.nanmin(chart.series[1].values_mm) and high >= np.nanmax(chart.series[1].values_mm)

    csv_path = dock.export_chart_csv(str(tmp_path / "pixels.csv"))
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(DATES)
    first = [r for r in rows if r["point"] == "P1"]
    assert [r["date"] for r in first] == [d.isoformat() for d in DATES]
    assert [float(r["displacement_mm"]) for r in first] == _expected(7, 3)
    assert float(first[0]["x"]) == pytest.approx(ORIGIN_X + 3.5 * PIXEL, abs=PIXEL / 2)
    assert first[0]["crs"] == "EPSG:32633"
    assert float(first[0]["velocity_mm_per_year"]) == pytest.approx(-13 * 365.25 / 24, rel=1e-4)

    png_path = dock.export_chart_png(str(tmp_path / "pixels.png"))
    with open(png_path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "pixels.png").stat().st_size > 10_000

    dock.clearChart.click()
    assert not chart.series and not dock.pixel_markers
    dock.chartPixels.click()
    assert qgis_canvas.mapTool() is not dock.pixel_tool


def test_reference_point_is_picked_on_the_map(dock, displacement, qgis_canvas, tmp_path):
    dock = dock.page("timeseries")
    dock.pickReference.click()
    assert qgis_canvas.mapTool() is dock.reference_tool
    target = _to_canvas(_pixel_centre(4, 4))
    _click(qgis_canvas, dock.reference_tool, target)
    assert qgis_canvas.mapTool() is not dock.reference_tool and not dock.pickReference.isChecked()
    text = dock.referencePoint.text()
    assert text.endswith("[EPSG:4326]")
    x, y = (float(v) for v in text.split(" [")[0].split(","))
    assert (x, y) == pytest.approx((target.x(), target.y()), abs=1e-3)
    assert dock.reference_marker is not None

    dock.tsProducts.setFilePath(str(tmp_path))
    parameters = dock.timeseries_parameters()
    assert parameters["REFERENCE_POINT"] == text and parameters["PRODUCTS_FOLDER"] == str(tmp_path)
    assert "AOI" not in parameters and "EXTENT" not in parameters
    dock.tsCropAoi.setChecked(True)  # cropping needs a search's area of interest
    with pytest.raises(ValueError, match="area of interest"):
        dock.timeseries_parameters()
    dock.tsCropAoi.setChecked(False)
    dock.clearReference.click()
    assert dock.referencePoint.text() == "" and dock.reference_marker is None
    assert "REFERENCE_POINT" not in dock.timeseries_parameters()


def test_clicks_read_the_file_once_opened_and_match_qgis_identify(displacement, tmp_path):
    """The click path reads the GeoTIFF through core.timeseries.pixels (kept open between clicks), and
    gives what QGIS's own identify gives, NaN included; a rewritten file is read afresh."""
    from insarhub_qgis.core.timeseries import pixels
    from qgis.core import QgsRaster

    pixels.forget_readers()
    rows, cols = np.mgrid[0:15, 0:20]
    for row, col in [(0, 0), (7, 3), (14, 19), (2, 10)]:
        series = read_pixel_series(displacement, _pixel_centre(row, col), UTM)
        identify = displacement.dataProvider().identify(
            _pixel_centre(row, col), QgsRaster.IdentifyFormat.IdentifyFormatValue
        ).results()
        expected = [float(identify[b]) if identify[b] is not None else np.nan for b in range(1, len(DATES) + 1)]
        assert np.array_equal(series.values_mm, expected, equal_nan=True)
    assert list(pixels._readers) == [str(pathlib.Path(displacement.source()).resolve())]
    reader = next(iter(pixels._readers.values()))
    assert read_pixel_series(displacement, _pixel_centre(7, 3), UTM) and pixels._readers[reader.path] is reader

    # a rerun writes new values into the same file
    dataset = gdal.Open(displacement.source(), gdal.GA_Update)
    dataset.GetRasterBand(len(DATES)).WriteArray(np.full((15, 20), 42.0, dtype="float32"))
    dataset = None
    os.utime(displacement.source(), ns=(reader.signature[0] + 10**9, reader.signature[0] + 10**9))
    assert read_pixel_series(displacement, _pixel_centre(7, 3), UTM).values_mm[-1] == 42.0
    pixels.forget_readers()
