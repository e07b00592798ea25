"""Find a Python interpreter that has MintPy.

MintPy never runs inside the QGIS process (it changes directory, switches matplotlib
backends and may start dask workers): it runs as a subprocess of an interpreter of its
own. That interpreter is, in order: ``INSARHUB_MINTPY_PYTHON``, the plugin's setting,
then the first of the autodetected candidates that imports MintPy.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .errors import MintpyNotFoundError

ENV_VAR = "INSARHUB_MINTPY_PYTHON"
_PROBE = "import mintpy, sys; print(mintpy.__version__); print(sys.executable)"
_PLUGIN_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class MintpyInterpreter:
    """A Python interpreter that imports MintPy, with the MintPy version it has."""

    python: str
    mintpy_version: str
    source: str  # "environment", "setting" or "autodetected"


def probe(python: str, timeout_s: float = 120.0) -> str | None:
    """Return the MintPy version ``python`` imports, or None when it cannot."""
    if not python or not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return None
    env = dict(os.environ)
    # The QGIS process' own PYTHONPATH (its site-packages) must not leak into another interpreter.
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    try:
        done = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if lines else None


def _shebang_python(script: str) -> str | None:
    try:
        with open(script, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    if first.startswith("#!"):
        command = first[2:].split()
        if command and os.path.basename(command[0]) == "env" and len(command) > 1:
            return shutil.which(command[1])
        return command[0] if command else None
    return None


def candidates() -> list[str]:
    """Interpreters worth probing for MintPy, most likely first, without duplicates."""
    home = Path.home()
    found: list[str] = []
    # A development checkout: the plugin folder's own environment (made by `make setup`).
    found.append(str(_PLUGIN_DIR / ".venv" / "bin" / "python"))
    script = shutil.which("smallbaselineApp.py")
    if script:
        found.append(_shebang_python(script) or "")
    for base in ("miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba", ".conda"):
        found += sorted(glob.glob(str(home / base / "envs" / "*" / "bin" / "python")))
        found.append(str(home / base / "bin" / "python"))
    found += sorted(glob.glob("/opt/conda/envs/*/bin/python"))
    if os.name == "nt":
        for base in ("miniforge3", "mambaforge", "miniconda3", "anaconda3"):
            found += sorted(glob.glob(str(home / base / "envs" / "*" / "python.exe")))
    for name in ("python3", "python"):
        which = shutil.which(name)
        if which:
            found.append(which)
    if sys.executable:
        found.append(sys.executable)
    unique: list[str] = []
    for path in found:
        if path and path not in unique:
            unique.append(path)
    return unique


def find_mintpy_python(
    setting: str | None = None,
    environ: Mapping[str, str] | None = None,
    autodetect: Iterable[str] | None = None,
) -> MintpyInterpreter:
    """Return the interpreter MintPy runs under, or raise :class:`MintpyNotFoundError`.

    An interpreter named explicitly (environment or setting) that lacks MintPy is an
    error naming it: silently falling back to another one would hide a typo.
    """
    environ = os.environ if environ is None else environ
    explicit = [(environ.get(ENV_VAR, ""), f"the environment variable {ENV_VAR}"), (setting or "", "the InSARHub options page")]
    for python, where in explicit:
        if python:
            version = probe(python)
            if version is None:
                raise MintpyNotFoundError(
                    f"The MintPy interpreter '{python}' set in {where} does not exist or cannot import "
                    "mintpy. Point it at the python of an environment with MintPy "
                    "(e.g. `conda create -n mintpy -c conda-forge mintpy`, then its bin/python)."
                )
            return MintpyInterpreter(python, version, "environment" if where.startswith("the env") else "setting")
    tried = list(autodetect) if autodetect is not None else candidates()
    for python in tried:
        version = probe(python)
        if version:
            return MintpyInterpreter(python, version, "autodetected")
    raise MintpyNotFoundError(
        "No Python interpreter with MintPy was found (tried: "
        + (", ".join(tried) or "none")
        + "). In QGIS: Raster → InSARHub → Python packages and MintPy… → Set up MintPy. Or install MintPy in "
        "its own environment (e.g. `conda create -n mintpy -c conda-forge mintpy`, "
        f"or `python3 -m pip install mintpy`) and set its python in the InSARHub options or in {ENV_VAR}."
    )
