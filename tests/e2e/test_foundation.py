"""The foundation as a user meets it: qgis_process lists the provider; the zip installs;
a QGIS without the Python dependencies still loads the plugin and says what to install."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from process_helpers import ROOT, clean_env, run_wrapper, venv_site

pytestmark = pytest.mark.slow

ALGORITHMS = ["insarhub:searchscenes", "insarhub:summarizestacks", "insarhub:filterscenes", "insarhub:selectpairs"]


def test_wrapper_lists_the_insarhub_algorithms():
    done = run_wrapper("list")
    assert done.returncode == 0, done.stderr
    for algorithm in ALGORITHMS:
        assert algorithm in done.stdout


def _package(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), str(tmp_path / "dist")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (zip_path,) = (tmp_path / "dist").glob("insarhub_qgis-*.zip")
    return zip_path


def test_package_holds_only_the_plugin(tmp_path):
    names = zipfile.ZipFile(_package(tmp_path)).namelist()
    assert all(n.startswith("insarhub_qgis/") for n in names)
    for needed in ("metadata.txt", "__init__.py", "LICENSE", "resources/icon.png", "processing_provider/provider.py"):
        assert f"insarhub_qgis/{needed}" in names
    for forbidden in ("tests/", "bench/", ".venv", "__pycache__", ".ci/", "scripts/", "fixtures"):
        assert not any(forbidden in n for n in names), forbidden


def _qgis_process_bin(plugin_dir, profile, *args, with_dependencies=True):
    env = clean_env(QGIS_PLUGINPATH=str(plugin_dir), QGIS_CUSTOM_CONFIG_PATH=str(profile))
    env.pop("PYTHONPATH", None)
    if with_dependencies:
        env["PYTHONPATH"] = venv_site()
    return subprocess.run(["qgis_process.bin", *args], capture_output=True, text=True, env=env, timeout=300)


def test_zip_installs_into_a_clean_profile(tmp_path):
    plugins = tmp_path / "plugins"
    zipfile.ZipFile(_package(tmp_path)).extractall(plugins)
    profile = tmp_path / "profile"
    enable = _qgis_process_bin(plugins, profile, "plugins", "enable", "insarhub_qgis")
    assert enable.returncode == 0, enable.stdout + enable.stderr
    listed = _qgis_process_bin(plugins, profile, "list")
    assert listed.returncode == 0, listed.stderr
    for algorithm in ALGORITHMS:
        assert algorithm in listed.stdout


def test_without_dependencies_the_plugin_loads_and_algorithms_say_what_to_install(tmp_path):
    # Debian's own Python has QGIS but not asf_search: exactly a user's fresh QGIS.
    env = clean_env()
    env.pop("PYTHONPATH", None)
    probe = subprocess.run(["/usr/bin/python3", "-c", "import asf_search"], capture_output=True, env=env)
    assert probe.returncode != 0, "this test needs a system Python without asf_search"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "insarhub_qgis").symlink_to(ROOT)
    profile = tmp_path / "profile"
    _qgis_process_bin(plugins, profile, "plugins", "enable", "insarhub_qgis", with_dependencies=False)
    listed = _qgis_process_bin(plugins, profile, "list", with_dependencies=False)
    assert "insarhub:searchscenes" in listed.stdout
    run = _qgis_process_bin(
        plugins, profile, "run", "insarhub:searchscenes", "--", "WKT=POINT(-147 65)", "OUTPUT=TEMPORARY_OUTPUT",
        with_dependencies=False,
    )
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "asf_search" in output and "pip install" in output, output
