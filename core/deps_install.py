"""Install the plugin's Python packages from inside QGIS, and set up MintPy's environment.

A user who installs the plugin zip from the Plugin Manager has no ``make``. This module
(Qt-free; the plugin runs it in a ``QgsTask``) installs the missing packages with pip into a
folder the plugin owns inside the QGIS profile::

    <profile>/python/insarhub_deps/<major.minor>/      pip's user base for QGIS's Python
    <profile>/python/insarhub_deps/install.log         every install's full pip output
    <profile>/python/insarhub_deps/mintpy/             a venv with MintPy ("Set up MintPy")

pip runs as ``--user`` with ``PYTHONUSERBASE`` pointing at that folder, so it sees (and does
not reinstall) what QGIS's Python already has, and is constrained to the versions of the
compiled packages QGIS already loaded (numpy, GDAL, ...: :mod:`core.pins`). It installs into
a staging copy, checks the packages import, and only then swaps the copy in: a cancelled or
failed install leaves the previous one as it was. At plugin start :func:`activate` puts the
folder on ``sys.path`` (where the user site would be), before anything imports from it.

pip must run with the interpreter QGIS runs on, which ``sys.executable`` does not name
inside QGIS (there it is the qgis binary, or whatever ``python3`` comes first on PATH):
:func:`find_qgis_python` finds it and checks it is the same Python.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from . import deps, pins
from .errors import CancelledError, InsarhubError

DEPS_FOLDER = "insarhub_deps"
MINTPY_FOLDER = "mintpy"
LOG_NAME = "install.log"
# The MintPy release the plugin is tested with (requirements/mintpy.txt).
MINTPY_REQUIREMENT = "mintpy==1.6.4"
# pip options from the user's environment that would send the install elsewhere.
_PIP_ENV_DROP = ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_REQUIRE_VIRTUALENV", "PIP_USER", "PYTHONNOUSERSITE")

LineSink = Callable[[str], None]
CancelCheck = Callable[[], bool]


class DependencyInstallError(InsarhubError):
    """Installing the packages (or MintPy's environment) failed; the message says why and what to do."""


# ----------------------------------------------------------------------------- folder layout
def python_tag(version: Sequence[int] | None = None) -> str:
    """``3.11``: the folder of this Python version (another QGIS Python gets its own)."""
    major, minor = (version or sys.version_info)[:2]
    return f"{major}.{minor}"


def deps_root(profile_dir: str | os.PathLike) -> Path:
    """``<profile>/python/insarhub_deps``: everything the plugin installs lives below it."""
    return Path(profile_dir) / "python" / DEPS_FOLDER


def userbase(profile_dir: str | os.PathLike) -> Path:
    """pip's user base for QGIS's Python (``PYTHONUSERBASE`` of the install)."""
    return deps_root(profile_dir) / python_tag()


def user_site(base: str | os.PathLike) -> Path:
    """The site-packages folder pip ``--user`` fills under ``base`` on this platform."""
    scheme = sysconfig.get_preferred_scheme("user") if hasattr(sysconfig, "get_preferred_scheme") else (
        "nt_user" if os.name == "nt" else "posix_user"
    )
    return Path(sysconfig.get_path("purelib", scheme, vars={"userbase": str(base)}))


def _ready(base: Path) -> Path:
    return base.with_name(base.name + ".ready")


def _staging(base: Path) -> Path:
    return base.with_name(base.name + ".installing")


def finish_pending(base: Path) -> bool:
    """Swap in an install that was verified but not yet swapped in (``<base>.ready``).

    Returns False when the current folder cannot be moved (on Windows, while QGIS has its
    modules loaded): the swap is then done at the next start, before anything is imported.
    """
    ready = _ready(base)
    if not ready.is_dir():
        return True
    old = base.with_name(base.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    try:
        if base.exists():
            base.rename(old)
    except OSError:
        return False
    try:
        ready.rename(base)
    except OSError:
        if old.exists() and not base.exists():
            old.rename(base)
        return False
    shutil.rmtree(old, ignore_errors=True)
    return True


def _system_site_index(path: list[str]) -> int:
    """Where the user site would be in ``path``: before the first system site-packages folder."""
    system: list[str] = []
    try:
        system = [*site.getsitepackages(), site.getusersitepackages()]
    except AttributeError:  # a site module without them (old virtualenv)
        pass
    wanted = {os.path.normcase(os.path.realpath(p)) for p in system}
    for index, entry in enumerate(path):
        if entry and os.path.normcase(os.path.realpath(entry)) in wanted:
            return index
    for index, entry in enumerate(path):
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            return index
    return len(path)


def activate(profile_dir: str | os.PathLike, path: list[str] | None = None) -> Path | None:
    """Put the profile's package folder on ``sys.path`` (once), ahead of the system's site-packages.

    Called at plugin start before anything imports the packages, and after an install (then
    the packages load without a restart, unless an older copy was imported already: see
    :func:`loaded_elsewhere`). Returns the folder, or None when nothing is installed there.
    """
    path = sys.path if path is None else path
    base = userbase(profile_dir)
    finish_pending(base)
    folder = user_site(base)
    if not folder.is_dir():
        return None
    if str(folder) in path:
        return folder
    before = list(path)
    saved, sys.path = sys.path, path
    try:
        site.addsitedir(str(folder))  # also runs the folder's .pth files, as for a user site
    finally:
        sys.path = saved
    added = [entry for entry in path if entry not in before]
    for entry in added:
        path.remove(entry)
    index = _system_site_index(path)
    path[index:index] = added
    import importlib

    importlib.invalidate_caches()
    return folder


def loaded_elsewhere(folder: Path, modules: Mapping[str, object] | None = None) -> list[str]:
    """Top-level modules installed in ``folder`` that this process already imported from elsewhere.

    Those keep the old version until QGIS restarts (e.g. a newer urllib3 pip installed).
    """
    modules = sys.modules if modules is None else modules
    names = set()
    for record in folder.glob("*.dist-info/top_level.txt"):
        names.update(line.strip() for line in record.read_text(errors="replace").splitlines() if line.strip())
    for entry in folder.iterdir() if folder.is_dir() else []:
        if entry.is_dir() and (entry / "__init__.py").exists():
            names.add(entry.name)
    stale = []
    root = os.path.normcase(os.path.realpath(folder))
    for name in sorted(names):
        module = modules.get(name)
        where = getattr(module, "__file__", None)
        if module is not None and where and not os.path.normcase(os.path.realpath(where)).startswith(root):
            stale.append(name)
    return stale


# ----------------------------------------------------------------------- QGIS's interpreter
_IDENTITY = (
    "import sys, sysconfig; print(repr((tuple(sys.version_info[:3]), sysconfig.get_paths()['stdlib'])))"
)


def _identity() -> tuple[tuple[int, ...], str]:
    return tuple(sys.version_info[:3]), sysconfig.get_paths()["stdlib"]


def interpreter_candidates() -> list[str]:
    """Where QGIS's own Python interpreter may be, most likely first, without duplicates.

    Linux: ``<base prefix>/bin/python3.X`` (``/usr/bin/python3.11`` for Debian's QGIS);
    Windows: OSGeo4W's ``apps/PythonXY/python.exe`` (the base prefix) or a ``python.exe``
    next to qgis; macOS: QGIS.app's ``Contents/MacOS/bin/python3``.
    """
    tag = python_tag()
    found: list[Path | str] = []
    exe_dir = Path(sys.executable).parent if sys.executable else None
    for base in dict.fromkeys((sys.base_exec_prefix, sys.exec_prefix)):
        if os.name == "nt":
            found.append(Path(base) / "python.exe")
        else:
            found += [Path(base) / "bin" / f"python{tag}", Path(base) / "bin" / "python3"]
    if exe_dir is not None:
        if os.name == "nt":
            found += [exe_dir / "python.exe", exe_dir / "python3.exe"]
        else:
            found += [exe_dir / "bin" / "python3", exe_dir / f"python{tag}", exe_dir / "python3"]
    if os.name != "nt":
        found.append("/usr/bin/python3")
    found += [getattr(sys, "_base_executable", "") or "", sys.executable or ""]
    unique: list[str] = []
    for candidate in found:
        text = str(candidate)
        if text and text not in unique:
            unique.append(text)
    return unique


def is_this_python(python: str, timeout_s: float = 30.0) -> bool:
    """True when ``python`` runs the same Python as this process (same version and standard library)."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return False
    try:
        done = subprocess.run(
            [python, "-c", _IDENTITY], capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return False
    if done.returncode != 0:
        return False
    version, stdlib = _identity()
    try:
        their_version, their_stdlib = eval(done.stdout.strip(), {"__builtins__": {}})  # a repr of plain values
    except Exception:
        return False
    same = lambda a, b: os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))  # noqa: E731
    return tuple(their_version) == version and same(their_stdlib, stdlib)


_FOUND: dict[str, str] = {}


def find_qgis_python(candidates: Iterable[str] | None = None) -> str:
    """The interpreter that runs the same Python as QGIS (this process), or DependencyInstallError."""
    if candidates is None and _FOUND.get("python") and is_this_python(_FOUND["python"]):
        return _FOUND["python"]
    tried = list(interpreter_candidates() if candidates is None else candidates)
    for python in tried:
        if is_this_python(python):
            if candidates is None:
                _FOUND["python"] = python
            return python
    raise DependencyInstallError(
        f"Could not find the Python interpreter QGIS runs on (Python {sys.version.split()[0]}; tried: "
        + ", ".join(tried)
        + "). Install the packages by hand with the command of the README's 'Installing into your own QGIS'."
    )


# --------------------------------------------------------------------------- prerequisites
@dataclass(frozen=True)
class Prerequisite:
    """Something the install needs that is not there, with the Debian/Ubuntu package that brings it."""

    what: str
    package: str


def shapely_needs_build() -> bool:
    """True when pip will build shapely here: Linux (a wheel's GEOS clashes with QGIS's), without a shapely 2."""
    if deps.current_platform() != "Linux":
        return False
    version = pins.installed_version("shapely")
    return not (version and version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 2)


def missing_prerequisites(python: str, need_build: bool | None = None) -> list[Prerequisite]:
    """What must be installed (by an administrator) before pip can install the packages here."""
    missing = []
    try:
        has_pip = subprocess.run(
            [python, "-c", "import pip"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL
        ).returncode == 0
    except (OSError, subprocess.SubprocessError):
        has_pip = False
    if not has_pip:
        missing.append(Prerequisite(f"pip for {python}", "python3-pip"))
    if need_build is None:
        need_build = shapely_needs_build()
    if need_build:
        compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if not shutil.which(compiler):
            missing.append(Prerequisite(f"a C compiler ({compiler})", "build-essential"))
        if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
            missing.append(Prerequisite("Python's C headers (Python.h)", "python3-dev"))
        if not shutil.which("geos-config"):
            missing.append(Prerequisite("GEOS's headers (geos-config)", "libgeos-dev"))
        if not shutil.which("pkg-config"):
            missing.append(Prerequisite("pkg-config", "pkg-config"))
    return missing


def prerequisites_command(missing: Sequence[Prerequisite]) -> str:
    """The command an administrator runs first (Debian/Ubuntu package names)."""
    packages = list(dict.fromkeys(item.package for item in missing))
    return f"sudo apt install {' '.join(packages)}" if packages else ""


def loaded_constraints(modules: Mapping[str, object] | None = None, exclude: Path | None = None) -> list[str]:
    """``name==version`` of the distributions whose modules this process has imported (not from ``exclude``).

    pip may then pick releases that work with what QGIS has loaded, instead of upgrading a
    package QGIS has imported already (which would only take effect after a restart).
    """
    import importlib.metadata

    modules = sys.modules if modules is None else modules
    try:
        owners = importlib.metadata.packages_distributions()
    except AttributeError:  # Python < 3.10
        return []
    skip = os.path.normcase(os.path.realpath(exclude)) if exclude else None
    found: dict[str, str] = {}
    for name, module in list(modules.items()):
        where = getattr(module, "__file__", None) if "." not in name else None
        if not where or (skip and os.path.normcase(os.path.realpath(where)).startswith(skip)):
            continue
        for distribution in owners.get(name, []):
            version = pins.installed_version(distribution)
            if version and version != "0.0.0":
                found[distribution.lower()] = f"{distribution}=={version}"
    return sorted(found.values(), key=str.lower)


# ------------------------------------------------------------------------------- the plan
@dataclass
class InstallPlan:
    """One pip run: the exact command, its environment, and where it installs."""

    python: str
    packages: list[str]
    target: Path  # the user base that ends up holding the packages
    staging: Path  # where pip installs first (PYTHONUSERBASE of the run)
    constraints_file: Path
    constraints: list[str]  # compiled packages QGIS's Python has (and shapely): always kept
    log_file: Path
    args: list[str] = field(default_factory=list)
    # Pure-Python packages QGIS has already imported: kept too when pip can (then nothing needs a
    # restart); dropped, and a restart asked for, when the packages cannot be installed with them.
    loaded: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)  # set on top of os.environ

    def command_text(self) -> str:
        """The command as a user would type it (POSIX shell quoting)."""
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.environment.items())
        return f"{assignments} {' '.join(shlex.quote(a) for a in self.args)}".strip()

    def env(self) -> dict[str, str]:
        """The process environment of the run."""
        env = {k: v for k, v in os.environ.items() if k not in _PIP_ENV_DROP}
        env.update(self.environment)
        return env


def plan_install(profile_dir: str | os.PathLike, packages: Sequence[str], python: str | None = None) -> InstallPlan:
    """The pip run that installs ``packages`` (pip names) into the profile's folder for this Python."""
    python = python or find_qgis_python()
    target = userbase(profile_dir)
    root = target.parent
    build = shapely_needs_build()
    constraints = pins.system_constraints()
    shapely = pins.installed_version("shapely")
    if build:
        constraints.append(pins.SHAPELY_SOURCE_PIN)
    elif shapely and shapely != "0.0.0":
        constraints.append(f"shapely=={shapely}")  # QGIS's own (OSGeo4W, QGIS.app, a distribution's)
    plan = InstallPlan(
        python=python,
        packages=list(packages),
        target=target,
        staging=_staging(target),
        constraints_file=root / f"constraints-{python_tag()}.txt",
        constraints=constraints,
        log_file=root / LOG_NAME,
    )
    kept = {line.split("==")[0].lower() for line in constraints}
    plan.loaded = [line for line in loaded_constraints(exclude=user_site(target)) if line.split("==")[0].lower() not in kept]
    plan.args = [
        python, "-m", "pip", "install", "--user", "--disable-pip-version-check", "--no-input",
        "--no-warn-script-location", "--progress-bar", "off", "--constraint", str(plan.constraints_file),
    ]
    if build:
        plan.args += ["--no-binary", "shapely"]
    plan.args += [deps.requirement(name) for name in packages]
    # PEP 668 (Debian 12+, Ubuntu 23.04+): pip refuses --user installs without it; older pips ignore it.
    plan.environment = {"PYTHONUSERBASE": str(plan.staging), "PIP_BREAK_SYSTEM_PACKAGES": "1"}
    return plan


# ------------------------------------------------------------------------------ running it
class PipProgress:
    """A percentage from pip's output lines (pip does not say how much is left; milestones do)."""

    def __init__(self) -> None:
        self.collected = 0
        self.percent = 0.0

    def feed(self, line: str) -> float:
        text = line.strip()
        if text.startswith("Collecting "):
            self.collected += 1
            self.percent = max(self.percent, 60.0 * (1 - 1 / (1 + self.collected / 6)))
        elif text.startswith(("Building wheel", "Building wheels", "Preparing metadata")):
            self.percent = max(self.percent, 65.0)
        elif "finished with status" in text:
            self.percent = max(self.percent, 80.0)
        elif text.startswith("Installing collected packages"):
            self.percent = max(self.percent, 85.0)
        elif text.startswith("Successfully installed"):
            self.percent = max(self.percent, 90.0)
        return self.percent


def _stop(process: subprocess.Popen) -> None:
    """End ``process`` and what it started (pip's build backends run in children)."""
    try:
        if os.name == "nt":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_command(
    args: Sequence[str],
    env: Mapping[str, str],
    on_line: LineSink,
    is_canceled: CancelCheck = lambda: False,
    poll_s: float = 0.2,
) -> int:
    """Run ``args``, passing every output line to ``on_line``; CancelledError (process ended) on cancel."""
    kwargs: dict = {}
    if os.name == "nt":
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(
            subprocess, "CREATE_NO_WINDOW", 0
        )
    else:
        kwargs["start_new_session"] = True
    try:
        process = subprocess.Popen(
            list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env), text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs,
        )
    except OSError as exc:
        raise DependencyInstallError(f"Could not start {args[0]}: {exc}") from exc
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    finished = False
    while not finished:
        if is_canceled():
            _stop(process)
            raise CancelledError("Cancelled; the command was stopped.")
        try:
            line = lines.get(timeout=poll_s)
        except queue.Empty:
            continue
        if line is None:
            finished = True
        else:
            on_line(line)
    return process.wait()


class _Log:
    """The install log file, and the lines shown to the user."""

    def __init__(self, path: Path, on_line: LineSink) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.handle = open(path, "a", encoding="utf-8")
        self.on_line = on_line
        self.tail: list[str] = []

    def __call__(self, line: str) -> None:
        self.handle.write(line + "\n")
        self.handle.flush()
        self.tail = (self.tail + [line])[-25:]
        self.on_line(line)

    def close(self) -> None:
        self.handle.close()


@dataclass
class InstallResult:
    """What an install did: where the packages are, and what needs a restart to take effect."""

    site_dir: Path
    log_file: Path
    swapped: bool  # False: the new folder is swapped in at the next start (files in use)
    restart_for: list[str] = field(default_factory=list)
    missing_after: list[str] = field(default_factory=list)


def _verify_imports(plan: InstallPlan, modules: Sequence[str], log: _Log) -> None:
    code = "import " + ", ".join(modules) if modules else "pass"
    done = subprocess.run(
        [plan.python, "-c", code], capture_output=True, text=True, env=plan.env(), timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        for line in (done.stdout + done.stderr).splitlines():
            log(line)
        raise DependencyInstallError(
            f"pip finished, but {', '.join(modules)} do not import with {plan.python}; nothing was changed. "
            f"The log is {plan.log_file}."
        )


def run_install(
    plan: InstallPlan,
    on_line: LineSink = lambda _line: None,
    is_canceled: CancelCheck = lambda: False,
    on_progress: Callable[[float], None] = lambda _p: None,
    activate_in: str | os.PathLike | None = None,
) -> InstallResult:
    """Run ``plan``: pip into a staging copy, check the packages import, swap the copy in.

    A failure or a cancel removes the staging copy and leaves the previous install untouched.
    With ``activate_in`` (the profile folder), the packages are then put on ``sys.path``.
    """
    root = plan.target.parent
    root.mkdir(parents=True, exist_ok=True)
    log = _Log(plan.log_file, on_line)
    progress = PipProgress()
    try:
        log(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} InSARHub: installing {', '.join(plan.packages)}")
        log(f"$ {plan.command_text()}")
        log("constraints: " + " ".join(plan.constraints))
        log("kept as QGIS loaded them, where pip can: " + " ".join(plan.loaded))
        shutil.rmtree(plan.staging, ignore_errors=True)
        shutil.rmtree(_ready(plan.target), ignore_errors=True)
        if plan.target.is_dir():
            shutil.copytree(plan.target, plan.staging, symlinks=True)  # pip sees what is installed already
        else:
            plan.staging.mkdir(parents=True)

        def write_constraints(loaded: list[str]) -> None:
            plan.constraints_file.write_text(
                "# The compiled packages QGIS's Python already has stay at their versions (core/pins.py),\n"
                "# and the packages QGIS has imported when pip can keep them (no restart needed then).\n"
                + "\n".join([*plan.constraints, *loaded]) + "\n",
                encoding="utf-8",
            )

        def line_and_progress(line: str) -> None:
            log(line)
            on_progress(progress.feed(line))

        write_constraints(plan.loaded)
        code = run_command(plan.args, plan.env(), line_and_progress, is_canceled)
        if code != 0 and plan.loaded and "ResolutionImpossible" in "\n".join(log.tail):
            log("pip cannot keep every package QGIS has loaded: trying again without those (QGIS then needs a restart).")
            write_constraints([])
            code = run_command(plan.args, plan.env(), line_and_progress, is_canceled)
        if code != 0:
            hint = ""
            text = "\n".join(log.tail)
            if "No module named pip" in text:
                hint = " pip is not installed for this Python: " + prerequisites_command(
                    [Prerequisite("pip", "python3-pip")]
                )
            elif "geos" in text.lower() or "pkg-config" in text or "gcc" in text or "Python.h" in text:
                hint = " Building shapely needs the build tools: " + prerequisites_command(
                    missing_prerequisites(plan.python, need_build=True)
                ) + " (then Install again)."
            raise DependencyInstallError(
                f"pip failed (exit status {code}); nothing was changed.{hint} The last lines: "
                + " | ".join(log.tail[-5:]) + f" The full log is {plan.log_file}."
            )
        modules = [m for m, name in {**deps.PLUGIN_PACKAGES, **deps.OPTIONAL_PACKAGES}.items() if name in plan.packages]
        on_progress(92.0)
        _verify_imports(plan, modules, log)
        if is_canceled():
            raise CancelledError("Cancelled; nothing was changed.")
        plan.staging.rename(_ready(plan.target))
        swapped = finish_pending(plan.target)
        site_dir = user_site(plan.target)
        result = InstallResult(site_dir=site_dir, log_file=plan.log_file, swapped=swapped)
        if swapped and activate_in is not None:
            activate(activate_in)
            result.restart_for = loaded_elsewhere(site_dir)
            result.missing_after = deps.missing_packages()
        log(f"==== done: {site_dir}" + ("" if swapped else " (swapped in at the next start of QGIS)"))
        on_progress(100.0)
        return result
    except BaseException:
        shutil.rmtree(plan.staging, ignore_errors=True)
        raise
    finally:
        log.close()


# -------------------------------------------------------------------------- MintPy's venv
def mintpy_venv(profile_dir: str | os.PathLike) -> Path:
    """The folder of the MintPy environment "Set up MintPy" creates."""
    return deps_root(profile_dir) / MINTPY_FOLDER


def venv_python(venv: Path) -> Path:
    """The interpreter of the venv at ``venv``."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _clean_env() -> dict[str, str]:
    # QGIS's own PYTHONPATH/PYTHONHOME must not leak into another environment (as core.mintpy_env).
    return {k: v for k, v in os.environ.items() if k not in (*_PIP_ENV_DROP, "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE")}


@dataclass
class MintpyPlan:
    """The commands that create MintPy's venv over ``base_python`` and install MintPy in it."""

    base_python: str
    venv: Path
    constraints: list[str]
    log_file: Path

    @property
    def python(self) -> str:
        return str(venv_python(self.venv))

    @property
    def constraints_file(self) -> Path:
        return self.venv.parent / "constraints-mintpy.txt"

    def create_args(self, with_pip: bool = True) -> list[str]:
        args = [self.base_python, "-m", "venv", "--system-site-packages"]
        return args + ([] if with_pip else ["--without-pip"]) + [str(self.venv)]

    def pip_args(self, host_pip: bool = False) -> list[str]:
        # Without ensurepip (Debian without python3-venv) the base Python's pip installs into the venv.
        head = [self.base_python, "-m", "pip", "--python", self.python] if host_pip else [self.python, "-m", "pip"]
        return head + [
            "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
            "--constraint", str(self.constraints_file), MINTPY_REQUIREMENT,
        ]

    def commands_text(self) -> str:
        return "\n".join(" ".join(shlex.quote(a) for a in args) for args in (self.create_args(), self.pip_args()))


def plan_mintpy(profile_dir: str | os.PathLike, base_python: str | None = None) -> MintpyPlan:
    """Set up MintPy in a venv over QGIS's own Python (it sees the system's GDAL and numpy, pinned)."""
    return MintpyPlan(
        base_python=base_python or find_qgis_python(),
        venv=mintpy_venv(profile_dir),
        constraints=pins.system_constraints(),
        log_file=deps_root(profile_dir) / LOG_NAME,
    )


def run_mintpy_setup(
    plan: MintpyPlan,
    on_line: LineSink = lambda _line: None,
    is_canceled: CancelCheck = lambda: False,
    on_progress: Callable[[float], None] = lambda _p: None,
) -> str:
    """Create the venv (once), install MintPy in it, and return its interpreter once it imports MintPy.

    A failed or cancelled run leaves the venv to be completed by the next run (pip is
    idempotent); a venv this run created and could not finish creating is removed.
    """
    from .mintpy_env import probe

    log = _Log(plan.log_file, on_line)
    progress = PipProgress()
    env = _clean_env()

    def line_and_progress(line: str) -> None:
        log(line)
        on_progress(10 + 0.85 * progress.feed(line))

    try:
        log(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} InSARHub: setting up MintPy in {plan.venv}")
        plan.venv.parent.mkdir(parents=True, exist_ok=True)
        plan.constraints_file.write_text("\n".join(plan.constraints) + "\n", encoding="utf-8")
        host_pip = False
        if not Path(plan.python).exists():
            log("$ " + " ".join(plan.create_args()))
            code = run_command(plan.create_args(), env, log, is_canceled)
            if code != 0 and "ensurepip" in "\n".join(log.tail):
                shutil.rmtree(plan.venv, ignore_errors=True)
                log("$ " + " ".join(plan.create_args(with_pip=False)))
                code = run_command(plan.create_args(with_pip=False), env, log, is_canceled)
                host_pip = True
            if code != 0:
                shutil.rmtree(plan.venv, ignore_errors=True)
                raise DependencyInstallError(
                    f"Could not create the environment {plan.venv} (exit status {code}): "
                    + " | ".join(log.tail[-3:]) + f" The log is {plan.log_file}."
                )
        elif subprocess.run([plan.python, "-c", "import pip"], capture_output=True, env=env).returncode != 0:
            host_pip = True
        on_progress(10.0)
        args = plan.pip_args(host_pip)
        log("$ " + " ".join(shlex.quote(a) for a in args))
        code = run_command(args, env, line_and_progress, is_canceled)
        if code != 0:
            raise DependencyInstallError(
                f"Installing MintPy failed (exit status {code}): " + " | ".join(log.tail[-5:])
                + f" The full log is {plan.log_file}; Set up MintPy again continues where it stopped."
            )
        on_progress(95.0)
        version = probe(plan.python)
        if version is None:
            raise DependencyInstallError(f"MintPy was installed but does not import with {plan.python}; see {plan.log_file}.")
        log(f"==== done: MintPy {version} in {plan.python}")
        on_progress(100.0)
        return plan.python
    finally:
        log.close()


def conda_install_command(python: str) -> str:
    """How to add MintPy to the conda environment whose interpreter is ``python``."""
    prefix = Path(python).parent if os.name == "nt" else Path(python).parent.parent
    return f"conda install -p {shlex.quote(str(prefix))} -c conda-forge mintpy"


def environment_candidates() -> list[str]:
    """Existing interpreters worth offering for MintPy (conda environments first), that exist."""
    from .mintpy_env import candidates

    found = [p for p in candidates() if p and os.path.isfile(p)]
    condaish = [p for p in found if re.search(r"(conda|mamba|forge|envs)", p)]
    return condaish + [p for p in found if p not in condaish]
