"""What the dock tests share: a plugin with its dock, a workspace root in the test's folder, and
clicking a step's button and waiting for its background run, as a person would."""

from __future__ import annotations

import os

import insarhub_qgis
import pytest
from insarhub_qgis.ui import state
from insarhub_qgis.ui.workspace import ROOT_SETTING
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRectangle, QgsSettings

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


@pytest.fixture()
def workspace_root(tmp_path, monkeypatch):
    """Workspaces of unsaved projects go under the test's folder, not ~/InSARHub.

    The test's folder is under the system's temp folder, which the dock refuses for a workspace;
    here only QGIS's Processing temp folder counts as temporary (what QGIS deletes on exit).
    """
    from insarhub_qgis.ui import workspace
    from qgis.core import QgsProcessingUtils

    processing_temp = os.path.realpath(QgsProcessingUtils.tempFolder())
    monkeypatch.setattr(workspace, "_temporary_roots", lambda: [processing_temp])
    root = tmp_path / "InSARHub"
    QgsSettings().setValue(ROOT_SETTING, str(root))
    yield root
    QgsSettings().remove(ROOT_SETTING)


@pytest.fixture()
def plugin(qgis_iface, qgis_processing, qgis_new_project, qgis_canvas, workspace_root):
    state.clear_state()
    qgis_canvas.setDestinationCrs(WGS84)
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    yield plugin
    plugin.unload()
    QgsProject.instance().clear()
    state.clear_state()


@pytest.fixture()
def dock(plugin):
    return plugin.show_dock(True)


def run_step(qtbot, dock, button, timeout=60_000):
    """Click a step's button and wait for its background run to finish and its results to show."""
    assert button.isEnabled(), f"{button.objectName()} is disabled: {dock.statusLabel.text()}"
    try:
        with qtbot.waitSignal(dock.stepFinished, timeout=timeout) as blocker:
            button.click()
    except Exception as exc:  # show what the dock said instead of a bare timeout
        raise AssertionError(f"{button.objectName()}: {dock.statusLabel.text()}\n{dock.logView.toPlainText()[-3000:]}") from exc
    return blocker.args


def draw_aoi(dock, lon, lat, half=0.05):
    """What dragging a rectangle with 'Draw a rectangle on the map' does."""
    dock.aoi.set_drawn_extent(QgsRectangle(lon - half, lat - half * 0.6, lon + half, lat + half * 0.6))


def group_names(role=None):
    from insarhub_qgis.processing_provider.styling import ROLE_PROPERTY

    return [
        g.name()
        for g in QgsProject.instance().layerTreeRoot().findGroups(True)
        if role is None or g.customProperty(ROLE_PROPERTY) == role
    ]


def stack_labels(layer):
    """``{feature id: label}`` of the features a stack outline labels, and the latest footprint's id.

    The label expression is evaluated with the feature alone, no layer or project scope: what the
    map's render threads can evaluate without reaching back into the layer or the project (an
    aggregate such as ``maximum(...)`` fails here, and made QGIS crash when it did that).
    """
    from qgis.core import QgsExpression, QgsExpressionContext, QgsExpressionContextScope

    settings = layer.labeling().settings()
    expression = QgsExpression(settings.fieldName)
    assert not expression.hasParserError(), expression.parserErrorString()
    labels, latest = {}, None
    for feature in layer.getFeatures():
        scope = QgsExpressionContextScope()
        scope.setFeature(feature)
        scope.setFields(layer.fields())
        context = QgsExpressionContext()
        context.appendScope(scope)
        context.setFeature(feature)
        value = expression.evaluate(context)
        assert not expression.hasEvalError(), expression.evalErrorString()
        if value:
            labels[feature.id()] = value
        start = str(feature["startTime"].toString("yyyy-MM-ddTHH:mm:ss.zzz") if hasattr(feature["startTime"], "toString") else feature["startTime"])
        if latest is None or start > latest[0]:
            latest = (start, feature.id())
    return labels, latest[1]
