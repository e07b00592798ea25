"""The dock's HyP3 page against the loopback HyP3: cost and remaining credits first (a dry run
of insarhub:submitjobs), then submit, a job table that refreshes itself (insarhub:watchjobs
without WAIT), resubmission of failures, the expiry warning and the download
(insarhub:downloadproducts); and the Earthdata login stored only in QGIS' auth database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import insarhub_qgis
import processing
import pytest
from fakes.cmr import CMRStandIn, load_fixture
from fakes.hyp3 import HyP3StandIn, fail_first
from insarhub_qgis.ui import state
from insarhub_qgis.ui.auth_dialog import EarthdataAuthDialog
from insarhub_qgis.ui.jobs import any_running
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsProject, QgsSettings, QgsVectorLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDialogButtonBox

TOKEN = "EDL-token-the-dock-must-never-write-3f7a"
BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")[:6]
MASTER_PASSWORD = "test-master"


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory, qgis_processing):
    folder = tmp_path_factory.mktemp("dock-hyp3")
    plugin = insarhub_qgis.classFactory(None)
    plugin.initProcessing()
    try:
        with CMRStandIn(BURSTS, tmpdir=folder) as cmr, pytest.MonkeyPatch.context() as patch:
            patch.setenv("INSARHUB_CMR_HOST", cmr.host)
            patch.setenv("INSARHUB_CA_BUNDLE", cmr.ca_file)
            names = ",".join(i["asf_properties"]["fileID"] for i in BURSTS)
            processing.run("insarhub:searchscenes", {"GRANULES": names, "OUTPUT": str(folder / "f.gpkg")})
        results = processing.run(
            "insarhub:selectpairs",
            {
                "INPUT": str(folder / "f.gpkg"),
                "MAX_TEMPORAL_BASELINE": "",
                "MAX_PERP_BASELINE": "",
                "NEIGHBOURS": 1,
                "OUTPUT": str(folder / "pairs.gpkg"),
            },
        )
    finally:
        plugin.unload()
    return folder / "pairs.gpkg", results["PAIR_COUNT"]


@pytest.fixture()
def dock(qgis_iface, qgis_processing, qgis_new_project, tmp_path):
    state.clear_state()
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initGui()
    dock = plugin.show_dock(True)
    dock.workFolder.setFilePath(str(tmp_path / "work"))
    yield dock
    plugin.unload()


def run_step(qtbot, dock, button, timeout=60_000):
    with qtbot.waitSignal(dock.stepFinished, timeout=timeout) as blocker:
        button.click()
    return blocker.args


def _pairs_layer(path):
    layer = QgsVectorLayer(str(path), "pairs", "ogr")
    QgsProject.instance().addMapLayer(layer)
    return layer


def test_cost_then_submit_watch_retry_warn_and_download(dock, pairs_file, qtbot, tmp_path, monkeypatch):
    path, count = pairs_file
    layer = _pairs_layer(path)
    pairs = [(f["reference"], f["secondary"]) for f in layer.getFeatures()]
    assert len(pairs) == count >= 4
    # HyP3's clock 12 days behind: finished products expire in 2 days (HyP3 keeps them 14).
    clock = lambda: datetime.now(timezone.utc) - timedelta(days=12)  # noqa: E731
    with HyP3StandIn(
        credits=100, polls_per_state=1, tmpdir=tmp_path / "hyp3", outcome=fail_first(pairs[0]), clock=clock
    ) as hyp3:
        monkeypatch.setenv("INSARHUB_HYP3_URL", hyp3.url)
        monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
        dock.jobsPairs.setLayer(layer)
        dock.jobType.setCurrentText("INSAR_ISCE_BURST")
        dock.jobsFile.setFilePath(str(tmp_path / "jobs.json"))
        assert f"{count} job(s) as INSAR_ISCE_BURST 20x4: {count:g} HyP3 credits" in dock.pairsCost.text()
        assert not dock.submitJobs.isEnabled()  # never before the cost was shown

        assert run_step(qtbot, dock, dock.estimateCost) == ["insarhub:submitjobs", True], (
            dock.logView.toPlainText()
        )
        parameters = dock.runner.last_parameters
        assert (
            parameters["DRY_RUN"] is True
            and parameters["JOB_TYPE"] == "INSAR_ISCE_BURST"
            and parameters["PAIRS"] == layer.id()
        )
        assert "AUTH" not in parameters  # EARTHDATA_TOKEN is used
        assert f"costs {count:g} credits; remaining credits: 100" in dock.costLabel.text()
        assert dock.order_credits == count and dock.remaining_credits == 100
        assert not hyp3.jobs and not (tmp_path / "jobs.json").exists()
        assert dock.submitJobs.isEnabled()
        dock.projectName.setText("changed")  # a different order must be priced again
        assert not dock.submitJobs.isEnabled() and "check the cost again" in dock.costLabel.text()
        dock.projectName.setText("sitka")
        assert run_step(qtbot, dock, dock.estimateCost)[1]

        assert run_step(qtbot, dock, dock.submitJobs) == ["insarhub:submitjobs", True], (
            dock.logView.toPlainText()
        )
        assert dock.runner.last_parameters["DRY_RUN"] is False
        assert dock.runner.last_results["SUBMITTED"] == count and hyp3.credits == 100 - count
        assert f"Submitted {count} job(s)" in dock.costLabel.text()
        assert dock.jobsTable.rowCount() == count
        assert {dock.jobsTable.item(r, 1).text() for r in range(count)} == {"PENDING"}
        assert dock.jobs_timer.isActive()  # the table refreshes itself while jobs run

        dock.jobs_timer.setInterval(50)
        qtbot.waitUntil(lambda: not any_running(dock.jobs) and not dock.runner.is_running(), timeout=30_000)
        assert (
            dock.runner.last_parameters["WAIT"] is False
            and dock.runner.last_parameters["RETRY_FAILED"] is False
        )
        statuses = sorted(dock.jobsTable.item(r, 1).text() for r in range(count))
        assert statuses == ["FAILED"] + ["SUCCEEDED"] * (count - 1)
        assert not dock.jobs_timer.isActive()

        assert run_step(qtbot, dock, dock.retryFailed) == ["insarhub:watchjobs", True]
        assert dock.runner.last_parameters["RETRY_FAILED"] is True
        assert hyp3.submitted_count(list(pairs[0])) == 2
        qtbot.waitUntil(lambda: not any_running(dock.jobs) and not dock.runner.is_running(), timeout=30_000)
        assert all(row.status == "SUCCEEDED" for row in dock.jobs)
        assert any(row.resubmissions == 1 for row in dock.jobs)
        assert dock.expiryWarning.isVisible() or not dock.isVisible()
        assert f"{count} product(s) expire on HyP3 within 3 days" in dock.expiryWarning.text()

        dock.productsFolder.setFilePath(str(tmp_path / "products"))
        assert run_step(qtbot, dock, dock.downloadProducts) == ["insarhub:downloadproducts", True], (
            dock.logView.toPlainText()
        )
        assert dock.runner.last_results["COUNT"] == count
        assert dock.tsProducts.filePath() == str(tmp_path / "products")
        assert {dock.jobsTable.item(r, 4).text() for r in range(count)} == {"1/1"}
        assert dock.expiryWarning.text() == "" and dock.expiryWarning.isHidden()
        assert not hyp3.errors

    dock.save_state()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".txt", ".gpkg")]
    for written_path in [*written, __import__("pathlib").Path(QgsSettings().fileName())]:
        assert TOKEN not in written_path.read_text(errors="ignore"), written_path
    assert TOKEN not in dock.logView.toPlainText()


def _unlock_auth_database():
    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet() and not manager.setMasterPassword(MASTER_PASSWORD, True):
        # Only the test profile's (.qgis-settings) database: start it afresh with a known master password.
        manager.eraseAuthenticationDatabase(False)
        assert manager.setMasterPassword(MASTER_PASSWORD, True)
    return manager


def test_new_earthdata_login_lives_only_in_the_auth_database_and_drives_hyp3(
    dock, pairs_file, qtbot, tmp_path, monkeypatch
):
    manager = _unlock_auth_database()
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)

    def fill_and_save():
        dialog = dock.findChild(EarthdataAuthDialog)
        dialog.configName.setText("Earthdata token (dock test)")
        dialog.username.setText("token")  # a Basic config carrying a bearer token
        dialog.password.setText(TOKEN)
        dialog.buttonBox.button(QDialogButtonBox.Save).click()

    QTimer.singleShot(0, fill_and_save)
    dock.newAuth.click()  # opens the dialog modally; the timer fills it in
    config_id = dock.authConfig.configId()
    assert config_id and config_id in manager.configIds()
    config = QgsAuthMethodConfig()
    manager.loadAuthenticationConfig(config_id, config, True)
    assert (
        config.method() == "Basic"
        and config.config("username") == "token"
        and config.config("password") == TOKEN
    )
    dock.save_state()
    settings_text = open(QgsSettings().fileName(), encoding="utf-8", errors="ignore").read()
    assert config_id in settings_text and TOKEN not in settings_text

    path, count = pairs_file
    layer = _pairs_layer(path)
    with HyP3StandIn(credits=3, token=TOKEN, tmpdir=tmp_path / "hyp3") as hyp3:
        monkeypatch.setenv("INSARHUB_HYP3_URL", hyp3.url)
        dock.jobsPairs.setLayer(layer)
        dock.jobType.setCurrentText("INSAR_ISCE_BURST")
        dock.jobsFile.setFilePath(str(tmp_path / "jobs.json"))
        algorithm, ok = run_step(qtbot, dock, dock.estimateCost)
        assert dock.runner.last_parameters["AUTH"] == config_id
        # The token from the auth config reached HyP3 (a wrong one would be a 401); 3 credits are too few.
        assert not ok and f"cost {count:g} credits but only 3 remain" in dock.costLabel.text()
        assert not dock.submitJobs.isEnabled() and not hyp3.jobs
    manager.removeAuthenticationConfig(config_id)
