"""Installing the plugin's packages into the QGIS profile (core.deps_install), with the real pip
of Debian's own Python, offline: a local wheel stands for the packages (the real ones from PyPI
are installed by tests/e2e/test_install_from_qgis.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from insarhub_qgis.core import deps_install, pins
from insarhub_qgis.core.errors import CancelledError

SYSTEM_PYTHON = "/usr/bin/python3"


def _wheel(folder: Path, name: str, version: str, body: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel (what pip would download), built by hand: no network, no build."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/top_level.txt": f"{name}\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            archive.writestr(arcname, data)
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


def _offline_plan(profile: Path, wheel: Path) -> deps_install.InstallPlan:
    plan = deps_install.plan_install(profile, [str(wheel)], python=SYSTEM_PYTHON)
    plan.args.insert(plan.args.index("--constraint"), "--no-index")
    return plan


def _system_python_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def test_qgis_python_is_found_and_a_different_python_is_refused(tmp_path):
    found = deps_install.find_qgis_python()
    assert deps_install.is_this_python(found)
    probe = subprocess.run([found, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    assert probe.stdout.strip() == sys.version
    # Inside QGIS sys.executable is the qgis binary or the first python3 on PATH (a pyenv shim on this
    # machine): a stand-in interpreter of another version must not be taken for QGIS's.
    other = tmp_path / "python3"
    other.write_text("#!/bin/sh\necho \"((3, 99, 0), '/elsewhere/lib/python3.99')\"\n")
    other.chmod(0o755)
    assert not deps_install.is_this_python(str(other))
    assert deps_install.find_qgis_python([str(tmp_path / "none"), str(other), SYSTEM_PYTHON]) == SYSTEM_PYTHON
    with pytest.raises(deps_install.DependencyInstallError, match="Could not find the Python interpreter"):
        deps_install.find_qgis_python([str(other)])


def test_user_site_is_where_pip_user_installs(tmp_path):
    said = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import site; print(site.getusersitepackages())"],
        capture_output=True, text=True, env=_system_python_env({"PYTHONUSERBASE": str(tmp_path)}),
    ).stdout.strip()
    assert deps_install.user_site(tmp_path) == Path(said)


def test_plan_keeps_qgis_compiled_packages_and_builds_shapely(tmp_path):
    # Planned the way QGIS plans it: in Debian's own Python (no venv, no shapely of the venv's).
    plugins = Path(__file__).resolve().parents[2] / ".venv" / "qgis-plugins"
    code = (
        "import json, sys; from insarhub_qgis.core import deps_install as d; "
        f"p = d.plan_install({str(tmp_path / 'profile')!r}, ['asf_search', 'hyp3_sdk'], python={SYSTEM_PYTHON!r}); "
        "print(json.dumps(dict(args=p.args, constraints=p.constraints, env=p.environment, target=str(p.target), "
        "staging=str(p.staging), text=p.command_text())))"
    )
    done = subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True,
                          env=_system_python_env({"PYTHONPATH": str(plugins)}))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    numpy = subprocess.run([SYSTEM_PYTHON, "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True)
    assert f"numpy=={numpy.stdout.strip()}" in plan["constraints"]  # the numpy QGIS's Python has
    has_shapely2 = subprocess.run([SYSTEM_PYTHON, "-c", "import shapely, sys; sys.exit(shapely.__version__ < '2')"]).returncode == 0
    if not has_shapely2:  # built from source against the GEOS QGIS loads, at the release known to build
        assert pins.SHAPELY_SOURCE_PIN in plan["constraints"]
        at = plan["args"].index("--no-binary")
        assert plan["args"][at : at + 2] == ["--no-binary", "shapely"]
    args = plan["args"]
    assert args[:5] == [SYSTEM_PYTHON, "-m", "pip", "install", "--user"]
    assert args[-2:] == ["asf_search>=14,<15", "hyp3_sdk>=7.7,<8"]
    assert plan["target"] == str(tmp_path / "profile" / "python" / "insarhub_deps" / f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert plan["env"] == {"PYTHONUSERBASE": plan["staging"], "PIP_BREAK_SYSTEM_PACKAGES": "1"}
    assert plan["text"].startswith(f"PYTHONUSERBASE={plan['staging']} PIP_BREAK_SYSTEM_PACKAGES=1 {SYSTEM_PYTHON} -m pip install")
    assert "'asf_search>=14,<15'" in plan["text"]


def test_install_into_the_profile_then_a_failed_one_changes_nothing(tmp_path):
    profile = tmp_path / "profile"
    wheels = tmp_path / "wheels"
    lines: list[str] = []
    progress: list[float] = []
    plan = _offline_plan(profile, _wheel(wheels, "insarhub_probe_pkg", "1.0", "VERSION = '1.0'\n"))
    result = deps_install.run_install(plan, lines.append, on_progress=progress.append)
    site_dir = deps_install.user_site(plan.target)
    assert result.swapped and result.site_dir == site_dir
    assert (site_dir / "insarhub_probe_pkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert not plan.staging.exists() and progress[-1] == 100.0
    assert any(re.search(r"Successfully installed insarhub[-_]probe[-_]pkg-1\.0", line) for line in lines)
    log = plan.log_file.read_text()
    assert plan.command_text() in log and "Successfully installed" in log
    # The folder works for Debian's own Python (as it will for QGIS): importable from its user site.
    imported = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import insarhub_probe_pkg as p; print(p.__file__)"],
        capture_output=True, text=True, env=_system_python_env({"PYTHONUSERBASE": str(plan.target)}),
    )
    assert imported.stdout.strip() == str(site_dir / "insarhub_probe_pkg" / "__init__.py"), imported.stderr

    # An upgrade to a release that is not there: pip fails, the installed one stays as it was.
    failing = _offline_plan(profile, wheels / "insarhub_probe_pkg-2.0-py3-none-any.whl")
    with pytest.raises(deps_install.DependencyInstallError, match="nothing was changed") as error:
        deps_install.run_install(failing)
    assert str(plan.log_file) in str(error.value)
    assert (site_dir / "insarhub_probe_pkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert not failing.staging.exists()

    # A second package next to the first: pip sees the first as installed and keeps it.
    second = _offline_plan(profile, _wheel(wheels, "insarhub_probe_two", "0.1", "X = 2\n"))
    deps_install.run_install(second)
    assert (site_dir / "insarhub_probe_pkg").is_dir() and (site_dir / "insarhub_probe_two").is_dir()


def test_cancel_stops_pip_and_keeps_the_previous_install(tmp_path):
    profile = tmp_path / "profile"
    deps_install.run_install(_offline_plan(profile, _wheel(tmp_path / "w", "insarhub_probe_pkg", "1.0", "")))
    site_dir = deps_install.user_site(deps_install.userbase(profile))
    # A stand-in for a long pip run (a real one cannot be made to take long on purpose offline):
    # a process that prints, starts a child, then waits; cancel must end both.
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("Collecting something", flush=True)
        time.sleep(120)
    """)
    plan = _offline_plan(profile, tmp_path / "unused.whl")
    plan.args = [SYSTEM_PYTHON, "-c", script]
    seen: list[str] = []
    with pytest.raises(CancelledError):
        deps_install.run_install(plan, seen.append, is_canceled=lambda: "Collecting something" in seen)
    child = int(pid_file.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        import time

        time.sleep(0.1)
    else:
        pytest.fail("the command's child process survived the cancel")
    assert not plan.staging.exists()
    assert (site_dir / "insarhub_probe_pkg").is_dir()


def test_activate_puts_the_folder_before_the_system_site_and_runs_pth(tmp_path):
    profile = tmp_path / "profile"
    site_dir = deps_install.user_site(deps_install.userbase(profile))
    extra = tmp_path / "extra"
    extra.mkdir()
    site_dir.mkdir(parents=True)
    (site_dir / "insarhub_probe_mod.py").write_text("X = 1\n")
    (site_dir / "extra.pth").write_text(str(extra) + "\n")
    path = ["/usr/share/qgis/python", "/usr/lib/python3.11", *__import__("site").getsitepackages()]
    assert deps_install.activate(profile, path) == site_dir
    assert path.index(str(site_dir)) == 2 and str(extra) in path
    before = list(path)
    deps_install.activate(profile, path)
    assert path == before  # once
    assert deps_install.activate(tmp_path / "empty-profile", path) is None


def test_a_verified_install_not_yet_swapped_in_is_finished_at_the_next_start(tmp_path):
    profile = tmp_path / "profile"
    base = deps_install.userbase(profile)
    ready = base.with_name(base.name + ".ready")
    (deps_install.user_site(ready)).mkdir(parents=True)
    (deps_install.user_site(ready) / "new_mod.py").write_text("")
    (deps_install.user_site(base)).mkdir(parents=True)
    (deps_install.user_site(base) / "old_mod.py").write_text("")
    path: list[str] = []
    site_dir = deps_install.activate(profile, path)
    assert (site_dir / "new_mod.py").exists() and not (site_dir / "old_mod.py").exists()
    assert not ready.exists() and not base.with_name(base.name + ".old").exists()


def test_modules_already_imported_from_elsewhere_need_a_restart(tmp_path):
    (tmp_path / "json_stand_in-1.0.dist-info").mkdir()
    (tmp_path / "json_stand_in-1.0.dist-info" / "top_level.txt").write_text("json\n")
    (tmp_path / "brand_new").mkdir()
    (tmp_path / "brand_new" / "__init__.py").write_text("")
    import json  # noqa: F401  (imported from the standard library, not from tmp_path)

    assert deps_install.loaded_elsewhere(tmp_path) == ["json"]


def test_missing_build_tools_are_named_with_the_apt_command(tmp_path, monkeypatch):
    assert deps_install.missing_prerequisites(SYSTEM_PYTHON, need_build=True) == []  # make setup installed them
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without them
    missing = deps_install.missing_prerequisites(SYSTEM_PYTHON, need_build=True)
    packages = {item.package for item in missing}
    assert {"build-essential", "libgeos-dev", "pkg-config"} <= packages
    assert deps_install.prerequisites_command(missing).startswith("sudo apt install ")


def test_mintpy_plan_is_a_venv_over_qgis_python_with_its_pins(tmp_path):
    plan = deps_install.plan_mintpy(tmp_path / "profile", base_python=SYSTEM_PYTHON)
    assert plan.venv == tmp_path / "profile" / "python" / "insarhub_deps" / "mintpy"
    assert plan.create_args() == [SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(plan.venv)]
    assert plan.pip_args()[-1] == deps_install.MINTPY_REQUIREMENT
    assert any(line.startswith("numpy==") for line in plan.constraints)
    assert deps_install.conda_install_command("/home/u/miniforge3/envs/mintpy/bin/python") == (
        "conda install -p /home/u/miniforge3/envs/mintpy -c conda-forge mintpy"
    )


def test_packages_qgis_loaded_are_kept_when_pip_can_and_dropped_when_it_cannot(tmp_path):
    import yaml

    assert f"PyYAML=={yaml.__version__}" in deps_install.loaded_constraints({"yaml": yaml})
    wheels = tmp_path / "wheels"
    _wheel(wheels, "insarhub_probe_dep", "1.0", "V = 1\n")
    _wheel(wheels, "insarhub_probe_dep", "2.0", "V = 2\n")
    _wheel(wheels, "insarhub_probe_app", "1.0", "", requires=("insarhub_probe_dep",))
    _wheel(wheels, "insarhub_probe_app", "2.0", "", requires=("insarhub_probe_dep>=2",))
    # QGIS "has loaded" dep 1.0: pip picks the app release that works with it.
    plan = _offline_plan(tmp_path / "p1", wheels / "unused")
    plan.args[-1] = "insarhub_probe_app"
    plan.args.insert(plan.args.index("--constraint"), f"--find-links={wheels}")
    plan.loaded = ["insarhub_probe_dep==1.0"]
    deps_install.run_install(plan)
    site_dir = deps_install.user_site(plan.target)
    assert (site_dir / "insarhub_probe_app-1.0.dist-info").is_dir() and (site_dir / "insarhub_probe_dep-1.0.dist-info").is_dir()
    # Only app 2.0 wanted: it cannot work with the loaded dep, so pip tries again without keeping it.
    plan = _offline_plan(tmp_path / "p2", wheels / "unused")
    plan.args[-1] = "insarhub_probe_app==2.0"
    plan.args.insert(plan.args.index("--constraint"), f"--find-links={wheels}")
    plan.loaded = ["insarhub_probe_dep==1.0"]
    lines: list[str] = []
    deps_install.run_install(plan, lines.append)
    assert any("trying again without those" in line for line in lines)
    site_dir = deps_install.user_site(plan.target)
    assert (site_dir / "insarhub_probe_app-2.0.dist-info").is_dir() and (site_dir / "insarhub_probe_dep-2.0.dist-info").is_dir()
