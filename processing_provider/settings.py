"""The plugin's settings (QgsSettings) as the plain mapping :mod:`core.config` takes."""

from __future__ import annotations

from qgis.core import QgsSettings

from ..core.config import ENV_BY_SETTING, SETTINGS_GROUP, Endpoints, resolve_endpoints


def read_settings() -> dict[str, str]:
    """Every InSARHub setting that is set, by key (``cmr_host``, ``hyp3_url``, ...)."""
    settings = QgsSettings()
    values = {}
    for key in ENV_BY_SETTING:
        value = settings.value(f"{SETTINGS_GROUP}/{key}", "", type=str)
        if value:
            values[key] = value
    return values


def write_setting(key: str, value: str) -> None:
    """Store one setting (an empty value removes it, so the default applies again)."""
    settings = QgsSettings()
    if value:
        settings.setValue(f"{SETTINGS_GROUP}/{key}", value)
    else:
        settings.remove(f"{SETTINGS_GROUP}/{key}")


def endpoints() -> Endpoints:
    """Endpoints from the environment, then these settings, then ASF's defaults."""
    return resolve_endpoints(read_settings())
