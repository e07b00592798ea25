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
from insarhub_qgis.ui.auth_dialog import EarthdataAuthDialog
from insarhub_qgis.ui.jobs import any_running
from insarhub_qgis.ui.pages import hyp3 as hyp3_module
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


def run_step(qtbot, dock, button, timeout=60_000):
    with qtbot.waitSignal(dock.stepFinished, timeout=timeout) as blocker:
        button.click()
    return blocker.args


def _pairs_layer(path):
    layer = QgsVectorLayer(str(path), "pairs", "ogr")
    QgsProject.instance().addMapLayer(layer)
    return layer


def _cells(table, column):
    return [table.item(row, column).text() for row in range(table.rowCount())]


def test_cost_then_submit_watch_retry_warn_and_download(dock, pairs_file, qtbot, tmp_path, monkeypatch):
    path, count = pairs_file
    layer = _pairs_layer(path)
    hyp3_page = dock.page("hyp3")
    pairs = [(f["reference"], f["secondary"]) for f in layer.getFeatures()]
    assert len(pairs) == count >= 4
    opened = []
    monkeypatch.setattr(hyp3_module, "open_url", lambda url: opened.append(url.toString()) or True)
    # HyP3's clock 12 days behind: finished products expire in 2 days (HyP3 keeps them 14).
    clock = lambda: datetime.now(timezone.utc) - timedelta(days=12)  # noqa: E731
    with HyP3StandIn(
        credits=100, polls_per_state=1, tmpdir=tmp_path / "hyp3", outcome=fail_first(pairs[0]), clock=clock
    ) as hyp3:
        monkeypatch.setenv("INSARHUB_HYP3_URL", hyp3.url)
        monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
        hyp3_page.jobsPairs.setLayer(layer)  # pairs made elsewhere: the user's own layer
        hyp3_page.jobType.setCurrentText("INSAR_ISCE_BURST")
        hyp3_page.jobsFile.setFilePath(str(tmp_path / "jobs.json"))
        assert "the layer “pairs”" in hyp3_page.hyp3BasedOn.text()
        assert not hyp3_page.submitJobs.isEnabled()  # never before the cost was shown

        assert run_step(qtbot, dock, hyp3_page.estimateCost) == ["insarhub:submitjobs", True], (
            dock.logView.toPlainText()
        )
        parameters = dock.runner.last_parameters
        assert (
            parameters["DRY_RUN"] is True
            and parameters["JOB_TYPE"] == "INSAR_ISCE_BURST"
            and parameters["PAIRS"] == layer.id()
        )
        assert "AUTH" not in parameters  # EARTHDATA_TOKEN is used
        assert f"costs {count:g} credits; remaining credits: 100" in hyp3_page.costLabel.text()
        assert hyp3_page.order_credits == count and hyp3_page.remaining_credits == 100
        assert not hyp3.jobs and not (tmp_path / "jobs.json").exists()
        assert hyp3_page.submitJobs.isEnabled()
        hyp3_page.projectName.setText("changed")  # a different order must be priced again
        assert not hyp3_page.submitJobs.isEnabled() and "check the cost again" in hyp3_page.costLabel.text()
        hyp3_page.projectName.setText("sitka")
        assert run_step(qtbot, dock, hyp3_page.estimateCost)[1]

        assert run_step(qtbot, dock, hyp3_page.submitJobs) == ["insarhub:submitjobs", True], (
            dock.logView.toPlainText()
        )
        assert dock.runner.last_parameters["DRY_RUN"] is False
        assert dock.runner.last_results["SUBMITTED"] == count and hyp3.credits == 100 - count
        assert f"Submitted {count} job(s)" in hyp3_page.costLabel.text()
        table = hyp3_page.jobsTable
        assert table.rowCount() == count
        assert set(_cells(table, 1)) == {"pending"}
        # One short label per pair: its two dates (the stack, the same for all, is in the title), not
        # two full granule names; the order form folds away so the table has the room.
        labels = _cells(table, 0)
        assert all(" → " in label and len(label) <= 23 for label in labels), labels
        assert "174_372326_IW3" in hyp3_page.watchGroup.title() and hyp3_page.submitGroup.isCollapsed()
        assert set(_cells(table, 2)) == {"1"}  # credits per pair (burst jobs cost 1)
        # The full granule names and the stack are one hover away.
        assert all(table.item(row, 0).toolTip().count("-BURST") == 2 for row in range(count))
        assert all("Stack: 174_372326_IW3" in table.item(row, 0).toolTip() for row in range(count))
        assert hyp3_page.jobs_timer.isActive()  # the table refreshes itself while jobs run

        hyp3_page.jobs_timer.setInterval(50)
        qtbot.waitUntil(lambda: not any_running(hyp3_page.jobs) and not dock.runner.is_running(), timeout=30_000)
        assert (
            dock.runner.last_parameters["WAIT"] is False
            and dock.runner.last_parameters["RETRY_FAILED"] is False
        )
        statuses = sorted(_cells(table, 1))
        assert statuses == ["failed"] + ["succeeded"] * (count - 1)
        assert not hyp3_page.jobs_timer.isActive()
        failed = next(job for job in hyp3_page.jobs if job.status == "FAILED")
        # Sortable: by status, failed first; the failed row's colour says so.
        table.sortItems(1)
        assert table.item(0, 1).text() == "failed"
        assert table.item(0, 1).foreground().color().name() == "#c62828"

        # Per-row actions on the failed pair: its HyP3 log, retry; HyP3 cannot cancel a job.
        hyp3_page.select_job(failed.name)
        assert hyp3_page.selected_job() is failed
        assert hyp3_page.showJobLog.isEnabled() and not hyp3_page.openProduct.isEnabled()
        assert not hyp3_page.cancelJob.isEnabled() and "no way to cancel" in hyp3_page.cancelJob.toolTip()
        hyp3_page.showJobLog.click()
        assert opened == [failed.logs[0]] and opened[0].endswith(".log")
        assert hyp3_page.retryJob.isEnabled()
        assert run_step(qtbot, dock, hyp3_page.retryJob) == ["insarhub:watchjobs", True]
        assert dock.runner.last_parameters["RETRY_FAILED"] is True
        assert hyp3.submitted_count(list(pairs[0])) == 2
        qtbot.waitUntil(lambda: not any_running(hyp3_page.jobs) and not dock.runner.is_running(), timeout=30_000)
        assert all(row.status == "SUCCEEDED" for row in hyp3_page.jobs)
        assert any(row.resubmissions == 1 for row in hyp3_page.jobs)
        assert "retry 1" in " ".join(_cells(table, 1))
        assert hyp3_page.expiryWarning.isVisible() or not dock.isVisible()
        assert f"{count} product(s) expire on HyP3 within 3 days" in hyp3_page.expiryWarning.text()
        assert set(_cells(table, 3)) <= {"1 d", "2 d"}

        hyp3_page.productsFolder.setFilePath(str(tmp_path / "products"))
        assert run_step(qtbot, dock, hyp3_page.downloadProducts) == ["insarhub:downloadproducts", True], (
            dock.logView.toPlainText()
        )
        assert dock.runner.last_results["COUNT"] == count
        assert set(_cells(table, 4)) == {"1/1"}
        assert hyp3_page.expiryWarning.text() == "" and hyp3_page.expiryWarning.isHidden()
        hyp3_page.select_job(failed.name)
        assert hyp3_page.openProduct.isEnabled()
        hyp3_page.openProduct.click()
        assert opened[-1].startswith("file://" + str(tmp_path / "products"))
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
        dialog.buttonBox.button(QDialogButtonBox.StandardButton.Save).click()

    hyp3_page = dock.page("hyp3")
    QTimer.singleShot(0, fill_and_save)
    hyp3_page.newAuth.click()  # opens the dialog modally; the timer fills it in
    config_id = hyp3_page.authConfig.configId()
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
        hyp3_page.jobsPairs.setLayer(layer)
        hyp3_page.jobType.setCurrentText("INSAR_ISCE_BURST")
        hyp3_page.jobsFile.setFilePath(str(tmp_path / "jobs.json"))
        algorithm, ok = run_step(qtbot, dock, hyp3_page.estimateCost)
        assert dock.runner.last_parameters["AUTH"] == config_id
        # The token from the auth config reached HyP3 (a wrong one would be a 401); 3 credits are too few.
        assert not ok and f"cost {count:g} credits but only 3 remain" in hyp3_page.costLabel.text()
        assert not hyp3_page.submitJobs.isEnabled() and not hyp3.jobs
    manager.removeAuthenticationConfig(config_id)


def test_the_toolbox_warns_when_the_jobs_file_is_temporary(dock, pairs_file, tmp_path, monkeypatch):
    """Toolbox users choose their own outputs, but a temporary jobs file (the default "save to a
    temporary file") is the only record of paid jobs and QGIS deletes it: submitjobs says so."""
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    class Warnings(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, text):  # noqa: N802
            self.warnings.append(text)
            super().pushWarning(text)

    path, count = pairs_file
    with HyP3StandIn(credits=100, tmpdir=tmp_path / "hyp3") as hyp3:
        monkeypatch.setenv("INSARHUB_HYP3_URL", hyp3.url)
        monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
        feedback = Warnings()
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        parameters = {"PAIRS": str(path), "JOB_TYPE": "INSAR_ISCE_BURST", "DRY_RUN": True, "JOBS_FILE": "TEMPORARY_OUTPUT"}
        processing.run("insarhub:submitjobs", parameters, context=context, feedback=feedback)
        assert any("is in a temporary folder" in w and "jobs you pay for" in w for w in feedback.warnings)
        # This test's own folder is under the system's temp folder; let that stand for a lasting one.
        import tempfile

        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system-temp"))
        lasting = Warnings()
        lasting_file = tmp_path / "study" / "jobs.json"
        processing.run("insarhub:submitjobs", {**parameters, "JOBS_FILE": str(lasting_file)}, context=context, feedback=lasting)
        assert not any("temporary folder" in w for w in lasting.warnings)
