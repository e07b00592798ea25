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
import pytest
from fakes.cmr import load_fixture
from fakes.hyp3 import HyP3StandIn
from insarhub_qgis.processing_provider.features import make_fields
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
