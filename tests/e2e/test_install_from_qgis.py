"""A user's first start, for real: the plugin zip in a clean QGIS profile of the real QGIS desktop
(under xvfb), QGIS on Debian's own Python without asf_search & co. The message bar's "Install…"
opens the dialog, Install is clicked, pip installs the packages from the package registry into
the profile (shapely built against the system GEOS, numpy left to the system), and a search then
works in that same QGIS without a restart, and in a new qgis_process with that profile.

The only network is the package registry (PyPI); the search goes to the loopback CMR stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fakes.cmr import CMRStandIn, load_fixture
from process_helpers import ROOT, clean_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
EXTENT = "-148,-146,64.5,65.5 [EPSG:4326]"

STARTUP = r'''
"""Run by QGIS (--code): click Install in the message bar, then in the dialog; wait; search; quit."""
import json
import os
import time
import traceback

from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication, QPushButton
from qgis.utils import iface

REPORT = os.environ["INSARHUB_TEST_REPORT"]
report = {"errors": [], "log": []}
state = {"started": time.time()}


def step(function, delay_ms):
    def run():
        try:
            function()
        except Exception:
            report["errors"].append(traceback.format_exc())
            finish()
    QTimer.singleShot(delay_ms, run)


def dialog():
    return next(w for w in QApplication.topLevelWidgets() if w.objectName() == "InsarhubDependenciesDialog")


def click_install_in_the_message_bar():
    import qgis.utils

    report["plugin_loaded"] = "insarhub_qgis" in qgis.utils.plugins
    items = [i for i in iface.messageBar().items() if i.findChild(QPushButton, "insarhubInstallButton")]
    report["message"] = [i.text() for i in items]
    items[0].findChild(QPushButton, "insarhubInstallButton").click()
    step(click_install_in_the_dialog, 500)


def click_install_in_the_dialog():
    d = dialog()
    report["command"] = d.commandView.toPlainText()
    report["prerequisites"] = d.prerequisites.text()
    d.installButton.click()
    report["task_started"] = d.task is not None
    step(wait_for_install, 1000)


def wait_for_install():
    d = dialog()
    report["progress_seen"] = max(report.get("progress_seen", 0), d.progress.value())
    if d.task is not None and time.time() - state["started"] < 1800:
        step(wait_for_install, 1000)
        return
    report["result"] = d.result.text()
    report["progress"] = d.progress.value()
    report["log_tail"] = d.log.toPlainText()[-4000:]
    report["message_after"] = [i.text() for i in iface.messageBar().items()]
    step(search_without_restart, 200)


def search_without_restart():
    import asf_search
    import hyp3_sdk
    import networkx
    import numpy
    import processing
    import shapely

    report["files"] = {m.__name__: m.__file__ for m in (asf_search, hyp3_sdk, networkx, numpy, shapely)}
    result = processing.run("insarhub:searchscenes", {"EXTENT": os.environ["INSARHUB_TEST_EXTENT"], "OUTPUT": os.environ["INSARHUB_TEST_OUTPUT"]})
    report["count"] = result["COUNT"]
    finish()


def finish():
    with open(REPORT, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    QTimer.singleShot(200, iface.actionExit().trigger)
    QTimer.singleShot(8000, lambda: os._exit(0))


step(click_install_in_the_message_bar, 3000)
'''


def _plugin_from_zip(tmp_path: Path) -> Path:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), str(tmp_path / "dist")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    plugins = tmp_path / "plugins"
    zipfile.ZipFile(next((tmp_path / "dist").glob("*.zip"))).extractall(plugins)
    return plugins


def _environment(tmp_path: Path, plugins: Path, profiles: Path) -> dict[str, str]:
    """A user's QGIS: Debian's Python with nothing of this checkout's .venv, and a profile of its own."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in clean_env().items() if k not in drop}
    userbase = tmp_path / "user-home-site"  # the user's own ~/.local, empty (this machine's root may have one)
    userbase.mkdir()
    env.update(QGIS_PLUGINPATH=str(plugins), PYTHONUSERBASE=str(userbase), XDG_RUNTIME_DIR=str(tmp_path / "xdg"))
    (tmp_path / "xdg").mkdir(mode=0o700)
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\ninsarhub_qgis=true\n", encoding="utf-8")
    return env


def test_install_from_the_message_bar_then_search(tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("needs xvfb-run (apt install xvfb)")
    env0 = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run(["/usr/bin/python3", "-s", "-c", "import asf_search"], capture_output=True, env=env0)
    assert probe.returncode != 0, "this test needs Debian's own Python without asf_search"
    plugins = _plugin_from_zip(tmp_path)
    profiles = tmp_path / "qgis"
    env = _environment(tmp_path, plugins, profiles)
    profile = profiles / "profiles" / "default"
    script = tmp_path / "startup.py"
    script.write_text(STARTUP, encoding="utf-8")
    report_path = tmp_path / "report.json"
    items = load_fixture("s1_slc_fairbanks_p94_f210_stack")
    with CMRStandIn(items, tmpdir=tmp_path / "cmr") as cmr:
        env.update(
            INSARHUB_CMR_HOST=cmr.host, INSARHUB_CA_BUNDLE=cmr.ca_file, INSARHUB_TEST_REPORT=str(report_path),
            INSARHUB_TEST_EXTENT=EXTENT, INSARHUB_TEST_OUTPUT=str(tmp_path / "in-qgis.gpkg"),
        )
        desktop = subprocess.run(
            ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "qgis.bin", "--profiles-path", str(profiles),
             "--nologo", "--noversioncheck", "--code", str(script)],
            capture_output=True, text=True, env=env, timeout=2100,
        )
        assert report_path.exists(), desktop.stdout[-3000:] + desktop.stderr[-3000:]
        report = json.loads(report_path.read_text())
        assert not report["errors"], report["errors"]
        assert report["plugin_loaded"]
        assert "asf_search" in report["message"][0] and "hyp3_sdk" in report["message"][0]
        folder = profile / "python" / "insarhub_deps" / f"{sys.version_info[0]}.{sys.version_info[1]}"
        command = report["command"]
        assert f"PYTHONUSERBASE={folder}.installing" in command and " -m pip install --user " in command
        assert "--no-binary shapely" in command and "'asf_search>=14,<15'" in command
        assert report["prerequisites"] == ""  # make setup installed the build tools here
        assert report["task_started"]
        assert "no restart needed" in report["result"], report["result"] + "\n" + report["log_tail"]
        assert report["progress"] == 100
        assert not [text for text in report["message_after"] if "cannot import" in text]

        # Loaded in the running QGIS without a restart, from the profile; numpy stays the system's.
        site_dir = next(folder.glob("lib/python3*/site-packages"))
        for name in ("asf_search", "hyp3_sdk", "networkx", "shapely"):
            assert report["files"][name].startswith(str(site_dir)), (name, report["files"][name])
        assert report["files"]["numpy"].startswith("/usr/lib/python3/"), report["files"]["numpy"]
        assert not (site_dir / "numpy").exists()
        assert report["count"] == len(items)
        # shapely built against the system GEOS (a wheel would bring its own in shapely.libs).
        assert not list(site_dir.glob("[Ss]hapely.libs"))
        lib = next((site_dir / "shapely").glob("lib*.so"))
        linked = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
        assert "libgeos_c.so" in linked and str(site_dir) not in linked, linked
        log = (profile / "python" / "insarhub_deps" / "install.log").read_text()
        assert "Successfully installed" in log and command.split(" -m pip ")[1] in log

        # A new QGIS process (qgis_process) with that profile finds the packages at start.
        run = subprocess.run(
            ["qgis_process.bin", "run", "insarhub:searchscenes", "--", f"EXTENT={EXTENT}", f"OUTPUT={tmp_path / 'cli.gpkg'}"],
            capture_output=True, text=True, timeout=300,
            env={**env, "QGIS_CUSTOM_CONFIG_PATH": str(profiles), "QT_QPA_PLATFORM": "offscreen"},
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"COUNT:\t{len(items)}" in run.stdout
