# Sourced by the wrappers: the environment in which QGIS sees this plugin and its dependencies.
# Usage: . scripts/_env.sh   (sets REPO, VENV and exports what QGIS needs)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"
if [ ! -x "$VENV/bin/python" ] || [ ! -e "$VENV/.setup-done" ]; then
    echo "InSARHub: setting up the environment first (make setup)..." >&2
    make -s -C "$REPO" setup >&2
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export QGIS_PLUGINPATH="$VENV/qgis-plugins${QGIS_PLUGINPATH:+:$QGIS_PLUGINPATH}"
# A QGIS profile of its own, so the wrappers never change the user's profile.
export QGIS_CUSTOM_CONFIG_PATH="${INSARHUB_QGIS_PROFILE:-$VENV/qgis-profile}"
export INSARHUB_MINTPY_PYTHON="${INSARHUB_MINTPY_PYTHON:-$VENV/bin/python}"
export PROJ_DATA="${PROJ_DATA:-/usr/share/proj}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
fi

# Enable the plugin in the wrapper's profile once (qgis_process lists but does not load it otherwise).
insarhub_enable_plugin() {
    local ini="$QGIS_CUSTOM_CONFIG_PATH/profiles/default/QGIS/QGIS3.ini"
    if ! grep -qs '^insarhub_qgis=true' "$ini"; then
        qgis_process.bin plugins enable insarhub_qgis >/dev/null 2>&1 || true
    fi
}
