"""Version pins that keep pip from replacing what QGIS's own Python is built against.

QGIS, GDAL's Python bindings and Debian's matplotlib are compiled against the numpy of the
system they come from; a numpy from PyPI of another major version breaks them inside QGIS
("_ARRAY_API not found"). pyproj carries PROJ and shapely GEOS: a wheel's copy clashes with
the one QGIS has already loaded into the process. So whatever pip installs next to QGIS is
constrained to the versions *this* Python already has, read at install time, never written
down for one distribution.

This file has no imports from the package, so that ``make setup`` can run it with the
system's Python before anything else exists (``/usr/bin/python3 core/pins.py`` prints
pip constraint lines), and the plugin can use it inside QGIS.
"""

from __future__ import annotations

import importlib.metadata
import sys
from typing import Iterable

# Compiled packages QGIS (or the plugin inside QGIS) loads from the system: pinned to the
# installed version when installed, left free when the system does not have them.
SYSTEM_COMPILED = ("numpy", "matplotlib", "pyproj", "GDAL")

# shapely is built from source against the system's GEOS (a wheel's own GEOS clashes with
# QGIS's). 2.1.2 is the newest release known to build on Debian 12, 13 and forky: 2.2.0 needs
# pkg-config to find GEOS and does not compile against Debian's numpy 2 headers.
SHAPELY_SOURCE_PIN = "shapely==2.1.2"


def installed_version(distribution: str) -> str | None:
    """The version of ``distribution`` this Python would import, or None when it is absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_constraints(distributions: Iterable[str] = SYSTEM_COMPILED) -> list[str]:
    """pip constraint lines (``name==version``) for the given distributions this Python has."""
    lines = []
    for name in distributions:
        version = installed_version(name)
        if version and version != "0.0.0":  # Debian leaves 0.0.0 where it lost the version
            lines.append(f"{name}=={version}")
    return lines


def constraints_text() -> str:
    """The constraints file for this interpreter: the system's compiled packages and shapely."""
    header = (
        f"# Written for {sys.executable} (Python {sys.version.split()[0]}): the compiled packages it\n"
        "# already has stay at their versions; shapely is built from source against the system GEOS.\n"
    )
    return header + "\n".join([*system_constraints(), SHAPELY_SOURCE_PIN]) + "\n"


if __name__ == "__main__":
    sys.stdout.write(constraints_text())
