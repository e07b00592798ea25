"""The toolbox reads like the dock: its groups are the dock's steps, numbered as its tabs, and the
graphical model InSARHub ships opens in the Model Designer from the toolbox ("Edit model…"), as a
copy that saving puts among the user's own models, never over the plugin's file."""

from __future__ import annotations

from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

MODEL_ID = "insarhub:InSAR time series from an AOI"


def test_toolbox_groups_are_the_docks_steps(dock):
    tabs = [dock.tabs.tabText(i).replace("&&", "&") for i in range(dock.tabs.count())]
    provider = QgsApplication.processingRegistry().providerById("insarhub")
    algorithms = [a for a in provider.algorithms() if not isinstance(a, QgsProcessingModelAlgorithm)]
    groups = {a.name(): a.group() for a in algorithms}
    assert groups["searchscenes"] == tabs[0] == "1 Search"
    assert groups["summarizestacks"] == groups["filterscenes"] == tabs[1] == "2 Stacks"
    assert groups["selectpairs"] == tabs[2] == "3 Pairs"
    assert groups["submitjobs"] == groups["watchjobs"] == groups["downloadproducts"] == tabs[3] == "4 HyP3"
    assert groups["runtimeseries"] == tabs[4] == "5 Time series"
    assert set(groups.values()) <= set(tabs)  # no group the dock does not have
    ids = {}
    for algorithm in algorithms:  # one id per group name, so the toolbox shows one folder per step
        assert ids.setdefault(algorithm.group(), algorithm.groupId()) == algorithm.groupId()


def test_the_shipped_model_opens_for_editing_as_a_copy(plugin, qgis_iface, qtbot, monkeypatch):
    from processing.gui.ProviderActions import ProviderContextMenuActions
    from qgis.PyQt.QtCore import QSize

    # pytest-qgis's stand-in iface lacks QgisInterface.iconSize's default argument, which the Model
    # Designer calls; the real desktop test (tests/e2e/test_desktop_screenshot.py) opens it in QGIS.
    monkeypatch.setattr(qgis_iface, "iconSize", lambda dockedToolbar=False: QSize(24, 24), raising=False)

    registry = QgsApplication.processingRegistry()
    model = registry.algorithmById(MODEL_ID)
    assert model is not None
    action = next(a for a in ProviderContextMenuActions.actions if type(a).__name__ == "EditInsarhubModelAction")
    assert action.name == "Edit model…"
    action.setData(model, None)  # what the toolbox does on a right-click
    assert action.isEnabled()
    action.setData(registry.algorithmById("native:buffer"), None)
    assert not action.isEnabled()  # not offered for other algorithms
    action.setData(model, None)
    dialog = action.execute()
    try:
        edited = dialog.model()
        assert edited is not model and edited.sourceFilePath() == ""  # saving asks where: never over the plugin
        assert sorted(edited.childAlgorithms()) == sorted(model.childAlgorithms())
        assert edited.name() == model.name()
    finally:
        dialog.setModified(False) if hasattr(dialog, "setModified") else None
        dialog.close()
