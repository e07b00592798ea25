"""InSARHub's page in QGIS' options: endpoints written to the settings the algorithms read,
validation and environment overrides said on the page, the MintPy "Check" run in a QgsTask,
and the step defaults the dock starts from."""

from __future__ import annotations

import sys

import insarhub_qgis
import pytest
from insarhub_qgis.core.config import ENV_BY_SETTING
from insarhub_qgis.processing_provider.settings import endpoints, read_settings, write_setting
from insarhub_qgis.ui import state
from insarhub_qgis.ui.defaults import STEP_DEFAULTS, default_value, set_default_value
from insarhub_qgis.ui.options import InsarhubOptionsFactory, InsarhubOptionsPage
from qgis.core import QgsApplication


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    for env in ENV_BY_SETTING.values():
        monkeypatch.delenv(env, raising=False)

    def reset():
        for key in ENV_BY_SETTING:
            write_setting(key, "")
        for default in STEP_DEFAULTS:
            set_default_value(default.key, default.fallback)
        state.clear_state()

    reset()
    yield
    reset()


@pytest.fixture()
def page(qgis_app, qtbot):
    widget = InsarhubOptionsFactory().createWidget(None)
    qtbot.addWidget(widget)
    return widget


def test_factory_makes_the_page(qgis_app):
    factory = InsarhubOptionsFactory()
    assert factory.title() == "InSARHub" and not factory.icon().isNull()
    assert isinstance(factory.createWidget(None), InsarhubOptionsPage)


def test_endpoints_are_the_settings_the_algorithms_read(page, tmp_path, monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    page.cmrHost.setText("127.0.0.1:8443")
    page.hyp3Url.setText("http://127.0.0.1:9999/")
    page.caBundle.setFilePath(str(ca))
    page.mintpyPython.setFilePath(sys.executable)
    assert page.validate() and page.endpointsStatus.text() == ""
    page.apply()
    assert read_settings() == {
        "cmr_host": "127.0.0.1:8443",
        "hyp3_url": "http://127.0.0.1:9999/",
        "ca_bundle": str(ca),
        "mintpy_python": sys.executable,
    }
    service = endpoints()
    assert (service.cmr_host, service.hyp3_url, service.ca_bundle) == (
        "127.0.0.1:8443",
        "http://127.0.0.1:9999",
        str(ca),
    )

    # Reopened, the page shows what is stored; emptied, the defaults apply again.
    again = InsarhubOptionsPage()
    assert again.cmrHost.text() == "127.0.0.1:8443" and again.caBundle.filePath() == str(ca)
    for name in ("cmrHost", "hyp3Url"):
        getattr(again, name).clear()
    again.caBundle.setFilePath("")
    again.mintpyPython.setFilePath("")
    again.apply()
    assert read_settings() == {} and endpoints().is_default

    # An environment variable wins, and the page says so.
    monkeypatch.setenv("INSARHUB_HYP3_URL", "http://127.0.0.1:1234")
    page.validate()
    assert "INSARHUB_HYP3_URL=http://127.0.0.1:1234" in page.endpointsStatus.text()


def test_unusable_endpoints_are_explained(page):
    page.hyp3Url.setText("http://hyp3.example.com")
    assert not page.validate()
    assert "plain http" in page.endpointsStatus.text()
    page.hyp3Url.clear()
    page.cmrHost.setText("https://cmr.example.com/search")
    assert not page.validate() and "without https://" in page.endpointsStatus.text()


def test_mintpy_check_runs_in_a_task_and_says_the_version_or_the_problem(page, qtbot, tmp_path):
    page.mintpyPython.setFilePath(sys.executable)  # the test environment has MintPy
    task = page.check_mintpy()
    assert task in QgsApplication.taskManager().tasks() or page.task is None
    assert page.mintpyStatus.text() == "Checking…" or page.task is None
    qtbot.waitUntil(lambda: page.mintpyStatus.text() != "Checking…", timeout=120_000)
    assert page.mintpyStatus.text().startswith("MintPy ") and sys.executable in page.mintpyStatus.text()
    assert page.checkMintpy.isEnabled()

    missing = tmp_path / "no-python"
    page.mintpyPython.setFilePath(str(missing))
    page.checkMintpy.click()
    qtbot.waitUntil(lambda: page.mintpyStatus.text() != "Checking…", timeout=60_000)
    assert f"'{missing}' does not exist or cannot import mintpy" in page.mintpyStatus.text()


def test_step_defaults_reach_a_new_dock(page, qgis_iface, qgis_processing, qgis_new_project):
    page.default_widgets["job_type"].setCurrentText("INSAR_ISCE_BURST")
    page.default_widgets["neighbours"].setValue(5)
    page.default_widgets["max_perp_baseline"].setValue(0)  # "no limit"
    page.default_widgets["project_name"].setText("etna")
    page.apply()
    assert default_value("job_type") == "INSAR_ISCE_BURST" and default_value("neighbours") == 5
    assert (
        default_value("max_perp_baseline") == 0 and default_value("looks") == "20x4"
    )  # untouched: the fallback

    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        dock = plugin.show_dock(True)
        hyp3, pairs = dock.page("hyp3"), dock.page("pairs")
        assert hyp3.jobType.currentText() == "INSAR_ISCE_BURST"
        assert pairs.neighbours.value() == 5 and hyp3.projectName.text() == "etna"
        assert pairs.maxPerp.value() == 0 and pairs.maxPerp.text() == "no limit"
    finally:
        plugin.unload()


def test_a_new_default_applies_to_fields_left_at_the_old_one(qgis_iface, qgis_processing, qgis_new_project):
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    dock = plugin.show_dock(True)
    dock.page("hyp3").looks.setCurrentText("10x2")  # changed by the user: kept
    dock.save_state()
    plugin.unload()
    set_default_value("looks", "5x1")
    set_default_value("neighbours", 4)  # never changed in the dock: follows the default
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        dock = plugin.show_dock(True)
        assert dock.page("hyp3").looks.currentText() == "10x2" and dock.page("pairs").neighbours.value() == 4
    finally:
        plugin.unload()
