"""Which of the plugin's Python dependencies are missing, and how to install them.

The plugin must load in a user's own QGIS even when its dependencies are absent; it
then names exactly what is missing and the command that installs it into the Python
QGIS runs on (which differs per platform).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Iterable, Sequence

from .errors import MissingDependencyError

# import name -> pip distribution name
PLUGIN_PACKAGES: dict[str, str] = {
    "asf_search": "asf_search",
    "hyp3_sdk": "hyp3_sdk",
    "networkx": "networkx",
}


def missing_packages(modules: Iterable[str] = PLUGIN_PACKAGES) -> list[str]:
    """Return the pip names of the given import names that cannot be imported here."""
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(PLUGIN_PACKAGES.get(module, module))
    return missing


def install_commands(packages: Sequence[str]) -> dict[str, str]:
    """The command that installs ``packages`` into QGIS's Python, per platform."""
    names = " ".join(packages)
    return {
        # shapely (an asf_search dependency) must be built against the GEOS QGIS itself loads.
        # Debian 12 / Ubuntu 23.04+ mark the system Python externally managed (PEP 668): the
        # variable lets pip install into the user's own site (older pips ignore it).
        # numpy stays at the system's version: GDAL and QGIS are built against it (numpy 2 breaks them).
        "Linux": (
            "sudo apt install python3-pip libgeos-dev python3-dev && PIP_BREAK_SYSTEM_PACKAGES=1 "
            "/usr/bin/python3 -m pip install --user --no-binary shapely "
            "\"numpy==$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')\" "
            f"{names}"
        ),
        "Windows": f"python -m pip install {names}   (in the OSGeo4W Shell, as administrator)",
        "macOS": f"/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install --user {names}",
    }


def current_platform() -> str:
    """``Linux``, ``Windows`` or ``macOS``: the key of :func:`install_commands` for this machine."""
    if sys.platform.startswith("win"):
        return "Windows"
    if sys.platform == "darwin":
        return "macOS"
    return "Linux"


def missing_message(packages: Sequence[str]) -> str:
    """One message naming the missing packages and how to install them here (and elsewhere)."""
    commands = install_commands(packages)
    here = current_platform()
    others = "; ".join(f"{name}: {cmd}" for name, cmd in commands.items() if name != here)
    return (
        f"InSARHub needs the Python package(s) {', '.join(packages)}, which QGIS's Python cannot import. "
        f"Install them with: {commands[here]}  then restart QGIS. "
        f"(On other systems: {others}.)"
    )


def require(modules: Iterable[str]) -> None:
    """Raise :class:`MissingDependencyError` naming every missing package of ``modules``."""
    missing = missing_packages(modules)
    if missing:
        raise MissingDependencyError(missing_message(missing))
