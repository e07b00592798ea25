"""The README's Linux install, as written: the packaged plugin in a clean QGIS profile, its
Python packages installed with the README's command into the user site of Debian's own
Python (isolated here with PYTHONUSERBASE), then a search through qgis_process.

This test installs from the package registry (PyPI), the only network this project's
machines reach; it talks to no ASF service (the search goes to the loopback CMR stand-in).
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile

import pytest
from fakes.cmr import CMRStandIn, load_fixture
from insarhub_qgis.core import deps
from process_helpers import ROOT, clean_env

pytestmark = pytest.mark.slow


ALL_PACKAGES = [*deps.PLUGIN_PACKAGES.values(), *deps.OPTIONAL_PACKAGES.values()]


def _readme_command(system: str) -> str:
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.strip().startswith(f"| {system}"))
    return re.search(r"`([^`]+)`", row).group(1)


def _readme_linux_command() -> str:
    return _readme_command("Linux (Debian/Ubuntu QGIS)")


def test_readme_and_the_message_bar_give_the_same_command():
    commands = deps.install_commands(ALL_PACKAGES)
    assert commands["Linux"] == _readme_linux_command()
    assert commands["macOS"] == _readme_command("macOS (QGIS.app)")
    assert commands["Windows"].startswith(_readme_command("Windows (OSGeo4W"))


def test_the_apt_packages_of_the_command_exist_on_this_debian():
    """The names in `sudo apt install ...` are this Debian generation's (make setup installed them)."""
    apt = _readme_linux_command().partition(" && ")[0].split()[3:]
    assert "pkg-config" in apt and "build-essential" in apt
    for package in apt:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        assert status.stdout == "install ok installed", package


def test_readme_install_then_search_in_a_clean_profile(tmp_path):
    command = _readme_linux_command()
    apt, _, pip = command.partition(" && ")
    assert apt.startswith("sudo apt install")  # make setup has installed those packages here
    userbase = tmp_path / "userbase"
    env = clean_env(PYTHONUSERBASE=str(userbase))
    env.pop("PYTHONPATH", None)
    installed = subprocess.run(["bash", "-c", pip], capture_output=True, text=True, env=env, timeout=900)
    if installed.returncode != 0 and "Could not find a version" in installed.stderr + installed.stdout:
        pytest.skip("the package registry cannot be reached")
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = next(userbase.glob("lib/python3*/site-packages"))
    assert not (site / "numpy").exists(), "the README's command must keep the system's numpy"
    # shapely 2.1.2 built here against the system GEOS (a wheel brings its own in shapely.libs).
    system_shapely = subprocess.run(["/usr/bin/python3", "-s", "-c", "import shapely"], capture_output=True, env=env)
    if system_shapely.returncode != 0:  # else the distribution's own python3-shapely is used
        assert (site / "shapely-2.1.2.dist-info").is_dir() and not list(site.glob("[Ss]hapely.libs"))

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), str(tmp_path / "dist")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    plugins = tmp_path / "plugins"
    zipfile.ZipFile(next((tmp_path / "dist").glob("*.zip"))).extractall(plugins)
    profile = tmp_path / "profile"
    qgis_env = {**env, "QGIS_PLUGINPATH": str(plugins), "QGIS_CUSTOM_CONFIG_PATH": str(profile), "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run(["qgis_process.bin", "plugins", "enable", "insarhub_qgis"], capture_output=True, env=qgis_env, timeout=300)
    items = load_fixture("s1_slc_fairbanks_p94_f210_stack")
    with CMRStandIn(items, tmpdir=tmp_path / "cmr") as cmr:
        qgis_env.update(INSARHUB_CMR_HOST=cmr.host, INSARHUB_CA_BUNDLE=cmr.ca_file)
        run = subprocess.run(
            ["qgis_process.bin", "run", "insarhub:searchscenes", "--", "EXTENT=-148,-146,64.5,65.5 [EPSG:4326]",
             f"OUTPUT={tmp_path / 'f.gpkg'}"],
            capture_output=True, text=True, env=qgis_env, timeout=300,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"COUNT:\t{len(items)}" in run.stdout
