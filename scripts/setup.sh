#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian (12 bookworm, 13 trixie, forky/sid) or Ubuntu 24.04+
# machine: QGIS from the distribution, a venv over the distribution's Python (QGIS is bound to
# it), the Python dependencies constrained to what that Python already has (numpy, matplotlib,
# pyproj, GDAL: read at set-up time by core/pins.py, never hard-coded for one distribution).
# One line per stage; quiet when everything is already in place.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"
# pkg-config: shapely's build finds GEOS with it. python3-pip: the README's install command for
# users' own QGIS (its test runs it). build-essential + python3-dev: shapely is built from source.
APT_PACKAGES="qgis python3-qgis qgis-providers xvfb xauth gdal-bin python3-gdal python3-venv python3-pip \
libgeos-dev pkg-config build-essential python3-dev"
SYSTEM_PYTHON=/usr/bin/python3

stage() { echo "[setup] $*"; }

missing=()
for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    stage "Installing ${#missing[@]} Debian packages (QGIS and build tools; a few minutes the first time): ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# What pip must not replace, as this system ships it (see core/pins.py).
pins=$("$SYSTEM_PYTHON" -I "$REPO/core/pins.py")

# Everything pip installs depends on these: reinstall when any of them changes.
stamp_value=$( { cat "$REPO"/requirements/*.txt "$REPO/scripts/setup.sh"; echo "$pins"; } | sha256sum | cut -c1-16)
stamp="$VENV/.setup-done"
link_plugin() { mkdir -p "$VENV/qgis-plugins"; ln -sfn "$REPO" "$VENV/qgis-plugins/insarhub_qgis"; }
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$stamp_value" ]; then
    link_plugin
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    stage "Creating $VENV over $SYSTEM_PYTHON ($("$SYSTEM_PYTHON" -V); with the system's site packages: QGIS, GDAL, numpy)"
    "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
fi
echo "$pins" > "$VENV/constraints-system.txt"
stage "Pinned to this system's versions: $(grep -v '^#' "$VENV/constraints-system.txt" | tr '\n' ' ')"
pip_install() {
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -c "$VENV/constraints-system.txt" -c "$REPO/requirements/constraints.txt" "$@" \
        2> >(grep -v -e "^WARNING: Location" -e "^WARNING: Skipping" >&2)
}
stage "Installing the plugin's Python packages (asf_search, hyp3_sdk, networkx; shapely built against the system GEOS)"
pip_install -r "$REPO/requirements/plugin.txt"
stage "Installing MintPy (the time-series engine, run as a subprocess)"
pip_install -r "$REPO/requirements/mintpy.txt"
stage "Installing the test tools (pytest, pytest-qgis, ruff, ...)"
pip_install -r "$REPO/requirements/dev.txt"
grep -q PROJ_DATA "$VENV/bin/activate" || echo 'export PROJ_DATA=/usr/share/proj' >> "$VENV/bin/activate"
link_plugin
stage "Installing QGIS's PyQt6 migration checker in its own venv (.venv/tools/pyqt5to6; the Qt6 test runs it)"
"$VENV/bin/python" "$REPO/scripts/qt6_check.py" --ensure-only
stage "Checking that QGIS, GDAL and the packages import together"
"$VENV/bin/python" -c "import numpy, osgeo.gdal, osgeo.gdal_array, qgis.core, shapely, asf_search, hyp3_sdk, networkx, mintpy" \
    || { echo "The environment does not import; see the messages above." >&2; exit 1; }
echo "$stamp_value" > "$stamp"
stage "Environment ready: $VENV"
