"""Endpoints, missing-dependency messages and MintPy interpreter discovery."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from insarhub_qgis.core import config, deps, deps_install, mintpy_env, pins
from insarhub_qgis.core.errors import ConfigurationError, MintpyNotFoundError

VENV_PYTHON = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python")


def test_environment_wins_over_setting_wins_over_default():
    assert config.resolve_endpoints({}, {}).cmr_host == config.DEFAULT_CMR_HOST
    assert config.resolve_endpoints({"cmr_host": "a:1"}, {}).cmr_host == "a:1"
    assert config.resolve_endpoints({"cmr_host": "a:1"}, {"INSARHUB_CMR_HOST": "b:2"}).cmr_host == "b:2"


def test_plain_http_only_for_loopback():
    assert config.resolve_endpoints({}, {"INSARHUB_HYP3_URL": "http://127.0.0.1:8080/"}).hyp3_url == "http://127.0.0.1:8080"
    with pytest.raises(ConfigurationError, match="plain http"):
        config.resolve_endpoints({}, {"INSARHUB_HYP3_URL": "http://hyp3.example.org"})


def test_cmr_host_with_scheme_and_missing_ca_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="without https"):
        config.resolve_endpoints({}, {"INSARHUB_CMR_HOST": "https://cmr.earthdata.nasa.gov"})
    with pytest.raises(ConfigurationError, match="does not exist"):
        config.resolve_endpoints({}, {"INSARHUB_CA_BUNDLE": str(tmp_path / "none.pem")})


def test_missing_packages_are_named_with_install_commands():
    assert deps.missing_packages(["networkx"]) == []
    assert deps.missing_packages(["networkx", "surely_not_installed_pkg"]) == ["surely_not_installed_pkg"]
    message = deps.missing_message(["asf_search", "hyp3_sdk"])
    assert "asf_search, hyp3_sdk" in message
    linux = deps.install_commands(["asf_search", "hyp3_sdk"])["Linux"]
    assert linux in message  # the command for this machine (Linux here)
    assert "--no-binary shapely" in linux and "numpy==$(" in linux
    assert linux.endswith('"asf_search>=14,<15" "hyp3_sdk>=7.7,<8"')  # the tested releases
    apt, _, pip = linux.partition(" && ")
    # shapely's build needs pkg-config and a compiler; shapely 2.2 does not build against Debian's numpy 2.
    assert {"pkg-config", "build-essential", "libgeos-dev", "python3-dev", "python3-pip"} <= set(apt.split())
    assert f" {pins.SHAPELY_SOURCE_PIN} " in pip and pip.startswith("PIP_BREAK_SYSTEM_PACKAGES=1 /usr/bin/python3")
    assert "OSGeo4W" in message and "QGIS.app" in message  # the other platforms
    with pytest.raises(deps.MissingDependencyError, match="surely_not_installed_pkg"):
        deps.require(["surely_not_installed_pkg"])


def test_mintpy_found_from_environment_variable():
    found = mintpy_env.find_mintpy_python(environ={"INSARHUB_MINTPY_PYTHON": VENV_PYTHON})
    assert found.python == VENV_PYTHON
    assert found.mintpy_version.startswith("1.")
    assert found.source == "environment"


def test_explicit_interpreter_without_mintpy_is_an_error_naming_it():
    with pytest.raises(MintpyNotFoundError, match="/usr/bin/python3"):
        mintpy_env.find_mintpy_python(environ={"INSARHUB_MINTPY_PYTHON": "/usr/bin/python3"})
    with pytest.raises(MintpyNotFoundError, match="options page"):
        mintpy_env.find_mintpy_python(setting="/nonexistent/python", environ={})


def test_autodetection_and_clear_error_when_none_has_mintpy():
    found = mintpy_env.find_mintpy_python(environ={}, autodetect=["/usr/bin/python3", VENV_PYTHON])
    assert found.python == VENV_PYTHON and found.source == "autodetected"
    with pytest.raises(MintpyNotFoundError, match="No Python interpreter with MintPy"):
        mintpy_env.find_mintpy_python(environ={}, autodetect=["/usr/bin/python3"])


def test_default_candidates_include_the_checkout_venv():
    assert VENV_PYTHON in mintpy_env.candidates()
    assert sys.executable in mintpy_env.candidates() or not os.path.exists(sys.executable)


def test_a_loopback_endpoint_is_named_a_sandbox():
    sandbox = config.resolve_endpoints({}, {"INSARHUB_CMR_HOST": "127.0.0.1:8443", "INSARHUB_HYP3_URL": "http://127.0.0.1:9000"})
    assert "SANDBOX" in sandbox.describe("cmr") and "SANDBOX" in sandbox.describe("hyp3")
    production = config.resolve_endpoints({}, {})
    assert production.describe("cmr") == "ASF's CMR (cmr.earthdata.nasa.gov)"
    other = config.resolve_endpoints({}, {"INSARHUB_CMR_HOST": "cmr.uat.earthdata.nasa.gov"})
    assert "not ASF's production" in other.describe("cmr")


def test_install_requirements_are_the_tested_ones():
    """What the message, the README and the Install button install is what make setup installs."""
    root = Path(__file__).resolve().parents[2]
    plugin_txt = [line.strip() for line in (root / "requirements" / "plugin.txt").read_text().splitlines()]
    for name in [*deps.PLUGIN_PACKAGES.values(), *deps.OPTIONAL_PACKAGES.values()]:
        assert deps.requirement(name) in plugin_txt, name
    assert deps_install.MINTPY_REQUIREMENT in (root / "requirements" / "mintpy.txt").read_text().split()
