"""Which of the plugin's Python dependencies are missing, and how to install them.

The plugin must load in a user's own QGIS even when its dependencies are absent; it
then names exactly what is missing and the command that installs it into the Python
QGIS runs on (which differs per platform). The same packages can be installed from inside
QGIS into a folder of the QGIS profile (:mod:`core.deps_install`).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Iterable, Sequence

from .errors import MissingDependencyError
from .pins import SHAPELY_SOURCE_PIN

# import name -> pip distribution name: what the algorithms need (checked at start).
PLUGIN_PACKAGES: dict[str, str] = {
    "asf_search": "asf_search",
    "hyp3_sdk": "hyp3_sdk",
    "networkx": "networkx",
}
# Installed with them when missing, but never asked for: asf_search parses dates with ciso8601
# when present (3x faster parsing of large searches).
OPTIONAL_PACKAGES: dict[str, str] = {"ciso8601": "ciso8601"}

# pip name -> requirement: the releases the plugin is tested with (requirements/plugin.txt).
REQUIREMENTS: dict[str, str] = {
    "asf_search": "asf_search>=14,<15",
    "hyp3_sdk": "hyp3_sdk>=7.7,<8",
    "networkx": "networkx>=3",
    "ciso8601": "ciso8601",
}

# What the Linux command installs with apt first: pip; a C compiler, Python's headers, GEOS's
# headers and pkg-config, because shapely is built from source against the GEOS QGIS loads.
LINUX_BUILD_PACKAGES = ("python3-pip", "python3-dev", "libgeos-dev", "pkg-config", "build-essential")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(modules: Iterable[str] = PLUGIN_PACKAGES) -> list[str]:
    """Return the pip names of the given import names that cannot be imported here."""
    return [PLUGIN_PACKAGES.get(module, module) for module in modules if not _importable(module)]


def packages_to_install(missing: Sequence[str]) -> list[str]:
    """The pip names to install when ``missing`` are missing: those, and the optional ones absent too."""
    optional = [name for module, name in OPTIONAL_PACKAGES.items() if not _importable(module)]
    return [*missing, *(name for name in optional if name not in missing)]


def requirement(name: str) -> str:
    """The pip requirement for ``name`` (with the tested version range when there is one)."""
    return REQUIREMENTS.get(name, name)


def _shell_word(text: str) -> str:
    """``text`` as one word for bash and cmd alike (double quotes around version ranges)."""
    return f'"{text}"' if any(c in text for c in "<>=!; ") else text


def install_commands(packages: Sequence[str]) -> dict[str, str]:
    """The command that installs ``packages`` into QGIS's Python, per platform."""
    names = " ".join(_shell_word(requirement(name)) for name in packages)
    return {
        # Tested as written on Debian 12, 13 and forky (tests/e2e/test_readme_install.py).
        # shapely (an asf_search dependency) is built from source against the GEOS QGIS itself
        # loads (a wheel's own GEOS clashes with it), at the release known to build there
        # (core/pins.py). Debian 12+ / Ubuntu 23.04+ mark the system Python externally managed
        # (PEP 668): the variable lets pip install into the user's own site (older pips ignore
        # it). numpy stays at the system's version: GDAL and QGIS are built against it.
        "Linux": (
            f"sudo apt install {' '.join(LINUX_BUILD_PACKAGES)} && PIP_BREAK_SYSTEM_PACKAGES=1 "
            "/usr/bin/python3 -m pip install --user --no-binary shapely "
            "\"numpy==$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')\" "
            f"{SHAPELY_SOURCE_PIN} {names}"
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
    commands = install_commands(packages_to_install(packages))
    here = current_platform()
    others = "; ".join(f"{name}: {cmd}" for name, cmd in commands.items() if name != here)
    return (
        f"InSARHub needs the Python package(s) {', '.join(packages)}, which QGIS's Python cannot import. "
        "Install them from QGIS (Raster → InSARHub → Python packages and MintPy… → Install), "
        f"or with: {commands[here]}  then restart QGIS. "
        f"(On other systems: {others}.)"
    )


def require(modules: Iterable[str]) -> None:
    """Raise :class:`MissingDependencyError` naming every missing package of ``modules``."""
    missing = missing_packages(modules)
    if missing:
        raise MissingDependencyError(missing_message(missing))
