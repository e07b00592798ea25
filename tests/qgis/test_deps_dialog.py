"""The message bar's "Install…", the dialog that shows the exact command and runs it in a
QgsTask only when Install is clicked, the packages loaded without a restart, and "Set up MintPy"
recording the interpreter in the options. pip is the real one of Debian's Python; the package
it installs here is a local wheel (pip's own PIP_NO_INDEX/PIP_FIND_LINKS settings keep it
offline); the real packages from PyPI: tests/e2e/test_install_from_qgis.py."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import insarhub_qgis
import pytest
from insarhub_qgis.core import deps, deps_install
from insarhub_qgis.plugin import deps_installer
from insarhub_qgis.processing_provider.settings import read_settings, write_setting
from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtWidgets import QPushButton
from unit.test_deps_install import _wheel

VENV_PYTHON = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python")


@pytest.fixture()
def profile(tmp_path, monkeypatch):
    """A profile folder of the test's own (never the developer's), and no MintPy setting."""
    folder = tmp_path / "profile"
    folder.mkdir()
    monkeypatch.setattr(deps_installer, "profile_dir", lambda: str(folder))
    monkeypatch.delenv("INSARHUB_MINTPY_PYTHON", raising=False)
    write_setting("mintpy_python", "")
    saved_path = list(sys.path)
    yield folder
    deps_installer.close_dialog()
    sys.path[:] = saved_path
    write_setting("mintpy_python", "")


@pytest.fixture()
def probe_package(tmp_path, monkeypatch):
    """A package the plugin "needs" that is missing, and pip configured to find it offline."""
    wheels = tmp_path / "wheels"
    _wheel(wheels, "insarhub_probe_pkg", "1.0", "VERSION = '1.0'\n")
    monkeypatch.setitem(deps.PLUGIN_PACKAGES, "insarhub_probe_pkg", "insarhub_probe_pkg")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    yield "insarhub_probe_pkg"
    sys.modules.pop("insarhub_probe_pkg", None)


def _wait_for(qtbot, dialog, timeout_ms):
    qtbot.waitUntil(lambda: dialog.task is None, timeout=timeout_ms)


def test_message_bar_offers_install_and_the_dialog_shows_the_command(qgis_iface, profile, probe_package, qtbot):
    bar = qgis_iface.messageBar()
    plugin = insarhub_qgis.classFactory(qgis_iface)
    try:
        plugin.initGui()
        items = [item for item in bar.items() if "insarhub_probe_pkg" in item.text()]
        assert len(items) == 1 and items[0].level() == Qgis.MessageLevel.Warning
        assert "asf_search" not in items[0].text()  # only what is missing is named
        button = items[0].findChild(QPushButton, "insarhubInstallButton")
        assert "pip install" in button.toolTip()
        button.click()
        dialog = deps_installer._OPEN["dialog"]
        assert dialog.isVisible()
        command = dialog.commandView.toPlainText()
        assert " -m pip install --user " in command and command.endswith("insarhub_probe_pkg")
        assert f"PYTHONUSERBASE={deps_install.userbase(profile)}.installing" in command
        assert "numpy==" in dialog.packagesStatus.text()  # the versions kept as QGIS has them
        # Nothing runs before the user clicks Install.
        assert dialog.task is None and not (profile / "python").exists()
        menu = [a for a in qgis_iface.mainWindow().findChildren(type(plugin.deps_action)) if a.objectName() == "insarhubDependenciesAction"]
        assert menu, "the dialog is also in the menu"
    finally:
        plugin.unload()
    assert "dialog" not in deps_installer._OPEN


def test_install_runs_in_a_task_and_loads_the_package_without_restart(qgis_iface, profile, probe_package, qtbot):
    with pytest.raises(ImportError):
        importlib.import_module("insarhub_probe_pkg")
    item = deps_installer.offer_install(qgis_iface, deps.missing_packages())
    dialog = deps_installer.open_dialog(qgis_iface, item)
    assert dialog.installButton.isEnabled()
    task = dialog.install()
    assert task is not None and dialog.cancelButton.isEnabled() and not dialog.installButton.isEnabled()
    assert task in QgsApplication.taskManager().tasks() or task.status() == task.TaskStatus.Complete
    _wait_for(qtbot, dialog, 120_000)
    assert "no restart needed" in dialog.result.text(), dialog.result.text() + dialog.log.toPlainText()
    assert re.search(r"Successfully installed insarhub[-_]probe[-_]pkg-1\.0", dialog.log.toPlainText())
    assert dialog.progress.value() == 100
    site_dir = deps_install.user_site(deps_install.userbase(profile))
    module = importlib.import_module("insarhub_probe_pkg")  # in this process, without a restart
    assert Path(module.__file__).parent.parent == site_dir
    assert deps.missing_packages() == []
    assert item not in qgis_iface.messageBar().items()
    assert any("no restart needed" in m for m in qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Success))
    assert "insarhub_probe_pkg" in (deps_install.deps_root(profile) / "install.log").read_text()


def test_install_that_fails_says_why_and_keeps_the_message(qgis_iface, profile, probe_package, qtbot, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", str(profile))  # no wheel there: pip cannot find the package
    item = deps_installer.offer_install(qgis_iface, deps.missing_packages())
    dialog = deps_installer.open_dialog(qgis_iface, item)
    dialog.install()
    _wait_for(qtbot, dialog, 120_000)
    assert "pip failed" in dialog.result.text() and "install.log" in dialog.result.text()
    assert "insarhub_probe_pkg" in dialog.log.toPlainText()
    assert item in qgis_iface.messageBar().items()
    assert not deps_install.user_site(deps_install.userbase(profile)).exists()


def test_set_up_mintpy_with_an_existing_environment_records_it(qgis_iface, profile, qtbot):
    dialog = deps_installer.open_dialog(qgis_iface)
    dialog.existingRadio.setChecked(True)
    dialog.existingPython.setEditText("/usr/bin/python3")  # Debian's Python: no MintPy
    dialog.setup_mintpy()
    _wait_for(qtbot, dialog, 60_000)
    assert "cannot import mintpy" in dialog.result.text() and "conda install" in dialog.result.text()
    assert read_settings().get("mintpy_python", "") == ""
    dialog.existingPython.setEditText(VENV_PYTHON)  # has MintPy (make setup)
    dialog.setup_mintpy()
    _wait_for(qtbot, dialog, 60_000)
    assert "recorded as the MintPy interpreter" in dialog.result.text()
    assert read_settings()["mintpy_python"] == VENV_PYTHON
    assert VENV_PYTHON in dialog.mintpyStatus.text()


@pytest.mark.slow
def test_set_up_mintpy_creates_a_venv_with_mintpy(qgis_iface, profile, qtbot):
    """Real: a venv over Debian's Python and `pip install mintpy` from the package registry."""
    dialog = deps_installer.open_dialog(qgis_iface)
    assert dialog.createRadio.isChecked()
    assert "-m venv --system-site-packages" in dialog.mintpyCommand.toPlainText()
    dialog.setup_mintpy()
    _wait_for(qtbot, dialog, 1_500_000)
    python = str(deps_install.venv_python(deps_install.mintpy_venv(profile)))
    assert "recorded as the MintPy interpreter" in dialog.result.text(), dialog.result.text() + dialog.log.toPlainText()[-3000:]
    assert read_settings()["mintpy_python"] == python
    smallbaseline = subprocess.run(
        [python, "-c", "import mintpy, numpy, osgeo.gdal; from mintpy import smallbaselineApp; print(numpy.__version__)"],
        capture_output=True, text=True,
    )
    assert smallbaseline.returncode == 0, smallbaseline.stderr
    system_numpy = subprocess.run(["/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True)
    assert smallbaseline.stdout.strip() == system_numpy.stdout.strip()  # GDAL's numpy kept
