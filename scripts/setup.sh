#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: QGIS from Debian, a venv over Debian's Python
# (QGIS is bound to it), the Python dependencies pinned to the system numpy.
# Quiet when everything is already in place.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"
APT_PACKAGES="qgis python3-qgis qgis-providers xvfb xauth gdal-bin python3-gdal python3-venv libgeos-dev build-essential python3-dev"

missing=()
for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Everything pip installs depends on these files: reinstall when they change.
stamp_value=$(cat "$REPO"/requirements/*.txt | sha256sum | cut -c1-16)
stamp="$VENV/.setup-done"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$stamp_value" ]; then
    mkdir -p "$VENV/qgis-plugins"; ln -sfn "$REPO" "$VENV/qgis-plugins/insarhub_qgis"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV over /usr/bin/python3 (with Debian's site packages: QGIS, GDAL, numpy)"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
echo "Installing Python dependencies into $VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c "$REPO/requirements/constraints.txt" \
    -r "$REPO/requirements/plugin.txt" -r "$REPO/requirements/mintpy.txt" -r "$REPO/requirements/dev.txt" \
    2> >(grep -v "^WARNING: Location" >&2)
grep -q PROJ_DATA "$VENV/bin/activate" || echo 'export PROJ_DATA=/usr/share/proj' >> "$VENV/bin/activate"
mkdir -p "$VENV/qgis-plugins"; ln -sfn "$REPO" "$VENV/qgis-plugins/insarhub_qgis"
"$VENV/bin/python" -c "import numpy, osgeo.gdal, qgis.core, asf_search, hyp3_sdk, networkx, mintpy" \
    || { echo "The environment does not import; see the messages above." >&2; exit 1; }
echo "$stamp_value" > "$stamp"
echo "Environment ready: $VENV"
