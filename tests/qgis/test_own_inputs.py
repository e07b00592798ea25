"""No task thread reads a layer of the map (processing_provider/inputs.py).

The dock and the toolbox start an algorithm as QGIS does: ``QgsProcessingAlgRunnerTask`` prepares
it in the main thread, then runs it in a task thread while the map stays live. Each test here
changes the map's layer after the task was created, as a user (or the map's own redraws and
restyling) may while the run goes on. A run that read the map's layer from its thread would see
the change; a run that reads its own copy or its own file sees what the user chose when starting.
That is the thread-sharing that made the main thread crash, rarely, in the dock's tests.
"""

from __future__ import annotations

import insarhub_qgis
import numpy as np
import pytest
from fakes.cmr import load_fixture
from fakes.hyp3 import HyP3StandIn
from fakes.los import enu_to_los, motion_for_box, s1_geometry, utm_grid, write_los_result
from insarhub_qgis.processing_provider.features import make_fields
from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")[:5]
DATES = ["2020-01-01", "2020-01-13", "2020-01-25", "2020-02-06"]


@pytest.fixture()
def provider(qgis_processing, qgis_new_project):
    plugin = insarhub_qgis.classFactory(None)
    plugin.initProcessing()
    yield
    QgsProject.instance().clear()
    plugin.unload()


def _footprints(path):
    """A GeoPackage of four footprints of one stack, one per date."""
    fields = make_fields([("stack", "str"), ("startTime", "str"), ("flightDirection", "str")])
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "f", "memory")
    layer.dataProvider().addAttributes(fields)
    layer.updateFields()
    features = []
    for day in DATES:
        feature = QgsFeature(layer.fields())
        feature.setAttributes(["P1_F1", f"{day}T05:00:00Z", "ASCENDING"])
        feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(10, 10, 11, 11)))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return _save_gpkg(layer, path)


def _save_gpkg(layer, path):
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(path), QgsProject.instance().transformContext(), options)
    assert error[0] == QgsVectorFileWriter.WriterError.NoError, error
    return str(path)


def _aoi_layer():
    """A map layer (memory) with two areas: one over the footprints, one far away."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "aoi", "memory")
    features = []
    for rect in (QgsRectangle(10.2, 10.2, 10.8, 10.8), QgsRectangle(50, 50, 51, 51)):
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromRect(rect))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    return layer


def _map_layer(path):
    layer = QgsVectorLayer(path, "footprints", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def _delete_in_edit_buffer(layer, count):
    """What a user editing the map's layer does: features deleted, not saved."""
    if not layer.isEditable():
        assert layer.startEditing()
    ids = [f.id() for f in layer.getFeatures()][:count]
    assert layer.deleteFeatures(ids)


def _run(qtbot, algorithm_id, parameters, while_running):
    """Prepare ``algorithm_id`` in this (main) thread, change the map, run it in a task thread."""
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
    assert not task.isCanceled(), feedback.textLog()
    while_running()
    with qtbot.waitSignal(task.executed, timeout=60_000) as blocker:
        QgsApplication.taskManager().addTask(task)
    ok, results = blocker.args
    return ok, results, feedback.textLog()


def _summary_count(path):
    table = QgsVectorLayer(path, "summary", "ogr")
    (row,) = list(table.getFeatures())
    return row["count"], row["aoiCoverage"]


def test_a_map_layer_by_id_is_read_as_it_was_when_the_run_started(provider, qtbot, tmp_path):
    layer = _map_layer(_footprints(tmp_path / "footprints.gpkg"))
    out = str(tmp_path / "summary.gpkg")
    ok, _, log = _run(
        qtbot, "insarhub:summarizestacks", {"INPUT": layer.id(), "OUTPUT": out}, lambda: _delete_in_edit_buffer(layer, 2)
    )
    assert ok, log
    assert _summary_count(out)[0] == len(DATES)  # not the two the edit buffer has left


def test_unsaved_edits_count_and_later_edits_do_not(provider, qtbot, tmp_path):
    # The user deleted one footprint (not saved) before starting: the run uses what the map shows.
    layer = _map_layer(_footprints(tmp_path / "footprints.gpkg"))
    _delete_in_edit_buffer(layer, 1)
    out = str(tmp_path / "summary.gpkg")
    ok, _, log = _run(
        qtbot, "insarhub:summarizestacks", {"INPUT": layer.id(), "OUTPUT": out}, lambda: _delete_in_edit_buffer(layer, 2)
    )
    assert ok, log
    assert _summary_count(out)[0] == len(DATES) - 1


def test_a_selected_area_of_interest_is_the_selection_at_the_start(provider, qtbot, tmp_path):
    footprints = _footprints(tmp_path / "footprints.gpkg")
    aoi = _aoi_layer()
    aoi.selectByIds([next(aoi.getFeatures()).id()])  # the area over the footprints
    out = str(tmp_path / "summary.gpkg")

    def meanwhile():
        aoi.selectByIds([f.id() for f in aoi.getFeatures()][1:])  # the user selects the far one...
        aoi.dataProvider().truncate()  # ...and the layer is emptied

    parameters = {
        "INPUT": footprints,
        "AOI": QgsProcessingFeatureSourceDefinition(aoi.id(), selectedFeaturesOnly=True),
        "OUTPUT": out,
    }
    ok, _, log = _run(qtbot, "insarhub:summarizestacks", parameters, meanwhile)
    assert ok, log
    count, coverage = _summary_count(out)
    assert count == len(DATES) and coverage == pytest.approx(100)  # the first area, wholly covered


def test_a_file_the_map_shows_is_read_from_the_file(provider, qtbot, tmp_path):
    path = _footprints(tmp_path / "footprints.gpkg")
    layer = _map_layer(path)
    out = str(tmp_path / "summary.gpkg")
    ok, _, log = _run(
        qtbot, "insarhub:summarizestacks", {"INPUT": path, "OUTPUT": out}, lambda: _delete_in_edit_buffer(layer, 3)
    )
    assert ok, log
    assert _summary_count(out)[0] == len(DATES)


def _pairs_file(path):
    layer = QgsVectorLayer("LineString?crs=EPSG:4326", "pairs", "memory")
    provider = layer.dataProvider()
    provider.addAttributes(make_fields([("reference", "str"), ("secondary", "str")]).toList())
    layer.updateFields()
    names = [burst["asf_properties"]["sceneName"] for burst in BURSTS]
    features = []
    for reference, secondary in zip(names, names[1:]):
        feature = QgsFeature(layer.fields())
        feature.setAttributes([reference, secondary])
        feature.setGeometry(QgsGeometry.fromPolylineXY([QgsPointXY(10, 10), QgsPointXY(11, 11)]))
        features.append(feature)
    provider.addFeatures(features)
    return _save_gpkg(layer, path), len(features)


def test_submitjobs_prices_the_pairs_file_not_the_map_layer_showing_it(provider, qtbot, tmp_path, monkeypatch):
    """The dock passes the workspace's pairs file, which the map shows: the price is the file's."""
    path, count = _pairs_file(tmp_path / "pairs.gpkg")
    layer = _map_layer(path)
    with HyP3StandIn(credits=100, tmpdir=tmp_path / "hyp3") as hyp3:
        monkeypatch.setenv("INSARHUB_HYP3_URL", hyp3.url)
        monkeypatch.setenv("EARTHDATA_TOKEN", "EDL-token-own-inputs")
        parameters = {
            "PAIRS": path,
            "JOB_TYPE": "INSAR_ISCE_BURST",
            "DRY_RUN": True,
            "JOBS_FILE": str(tmp_path / "jobs.json"),
        }
        ok, results, log = _run(qtbot, "insarhub:submitjobs", parameters, lambda: _delete_in_edit_buffer(layer, 2))
    assert ok, log
    assert results["CREDITS"] == count and f"{count} of {count} jobs to submit" in log


def test_an_extent_taken_from_a_map_layer_is_the_layers_extent_at_the_start(provider, qtbot, tmp_path):
    footprints = _footprints(tmp_path / "footprints.gpkg")
    area = QgsVectorLayer("Polygon?crs=EPSG:4326", "area", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(10.2, 10.2, 10.8, 10.8)))
    area.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(area)
    out = str(tmp_path / "summary.gpkg")

    def meanwhile():  # the user moves the area far away
        fid = next(area.getFeatures()).id()
        area.dataProvider().changeGeometryValues({fid: QgsGeometry.fromRect(QgsRectangle(50, 50, 51, 51))})
        area.updateExtents()

    ok, _, log = _run(qtbot, "insarhub:summarizestacks", {"INPUT": footprints, "EXTENT": area.id(), "OUTPUT": out}, meanwhile)
    assert ok, log
    count, coverage = _summary_count(out)
    assert count == len(DATES) and coverage == pytest.approx(100)


def _los_velocity(folder, direction):
    """A small LOS velocity as runtimeseries writes it (with its look geometry), in UTM 11N."""
    x0, y0, pixel, width, height = 400_000.0, 3_900_000.0, 400.0, 40, 30
    grid, x, y = utm_grid(32611, x0, y0, pixel, width, height)
    swath = {"ASCENDING": (300_000.0, 550_000.0), "DESCENDING": (330_000.0, 580_000.0)}[direction]
    incidence, azimuth = s1_geometry(direction, x, y, swath)
    east, north, up = motion_for_box(x0, y0 - height * pixel, x0 + width * pixel, y0).enu(x, y)
    files = write_los_result(
        folder, grid, enu_to_los(east, north, up, incidence, azimuth), incidence, azimuth, direction,
        std_mm_yr=np.ones(x.shape), relative_orbit=64 if direction == "ASCENDING" else 71,
    )
    return str(files["VELOCITY"])


def test_decompose_reads_the_velocities_the_map_showed_when_it_started(provider, qtbot, tmp_path):
    """The dock passes the map's velocity layers; the user removes them from the map as the run starts."""
    project = QgsProject.instance()
    layers = [QgsRasterLayer(_los_velocity(tmp_path / d.lower(), d), d, "gdal") for d in ("ASCENDING", "DESCENDING")]
    assert all(layer.isValid() for layer in layers)
    project.addMapLayers(layers)
    ids = [layer.id() for layer in layers]
    outputs = {name: str(tmp_path / "out" / f"{name.lower()}.tif") for name in ("VERTICAL", "EAST", "MASK")}
    parameters = {"INPUTS": ids, "REFERENCE_AREA": ids[0], **outputs}
    ok, results, log = _run(qtbot, "insarhub:decompose", parameters, lambda: project.removeMapLayers(ids))
    assert ok, log
    assert results["DECOMPOSED_PIXELS"] > 0
    dataset = gdal.Open(outputs["VERTICAL"])  # held: a band outlives no dataset
    vertical = dataset.GetRasterBand(1).ReadAsArray()
    assert np.isfinite(vertical).sum() == results["DECOMPOSED_PIXELS"]
