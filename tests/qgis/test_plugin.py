"""The plugin in a running QGIS (pytest-qgis, offscreen): load, register, unload, reload."""

from __future__ import annotations

import insarhub_qgis
from insarhub_qgis.core import deps
from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QPushButton

EXPECTED = {"insarhub:searchscenes", "insarhub:summarizestacks", "insarhub:filterscenes", "insarhub:selectpairs"}


def _insarhub_algorithms() -> set[str]:
    provider = QgsApplication.processingRegistry().providerById("insarhub")
    return {a.id() for a in provider.algorithms()} if provider else set()


def test_load_register_unload_reload(qgis_iface):
    for _ in range(2):
        plugin = insarhub_qgis.classFactory(qgis_iface)
        plugin.initProcessing()  # QGIS calls it first, then initGui: registration must happen once
        plugin.initGui()
        assert EXPECTED <= _insarhub_algorithms()
        providers = [p for p in QgsApplication.processingRegistry().providers() if p.id() == "insarhub"]
        assert len(providers) == 1
        plugin.unload()
        assert QgsApplication.processingRegistry().providerById("insarhub") is None


def test_every_parameter_has_help(qgis_iface):
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initProcessing()
    try:
        provider = QgsApplication.processingRegistry().providerById("insarhub")
        for algorithm in provider.algorithms():
            assert algorithm.shortHelpString().strip(), algorithm.id()
            # Models keep parameter help in their help content (the modeler's help editor).
            model_help = algorithm.helpContent() if hasattr(algorithm, "helpContent") else {}
            for parameter in algorithm.parameterDefinitions():
                text = parameter.help() or model_help.get(parameter.name(), "")
                assert text.strip(), f"{algorithm.id()} {parameter.name()} has no help"
    finally:
        plugin.unload()


def test_missing_dependencies_are_said_in_the_message_bar(qgis_iface, monkeypatch):
    monkeypatch.setitem(deps.PLUGIN_PACKAGES, "insarhub_surely_missing", "insarhub-surely-missing")
    plugin = insarhub_qgis.classFactory(qgis_iface)
    try:
        plugin.initGui()
        shown = [item for item in qgis_iface.messageBar().items() if "insarhub-surely-missing" in item.text()]
        assert shown, "nothing was shown in the message bar"
        text = shown[0].text()
        assert "asf_search" not in text  # only what is missing
        button = shown[0].findChild(QPushButton, "insarhubInstallButton")
        assert button is not None and "pip install" in button.toolTip()  # the command, before any consent
    finally:
        plugin.unload()
        qgis_iface.messageBar().clearWidgets()
