"""Endpoints and paths the plugin talks to, resolved from the environment and settings.

An environment variable wins over the plugin's setting (QgsSettings, passed in here as a
plain mapping so this module stays Qt-free), which wins over the default.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from .errors import ConfigurationError

DEFAULT_CMR_HOST = "cmr.earthdata.nasa.gov"
DEFAULT_HYP3_URL = "https://hyp3-api.asf.alaska.edu"

# setting key (QgsSettings, under SETTINGS_GROUP) -> environment variable
SETTINGS_GROUP = "insarhub"
ENV_BY_SETTING: dict[str, str] = {
    "cmr_host": "INSARHUB_CMR_HOST",
    "hyp3_url": "INSARHUB_HYP3_URL",
    "ca_bundle": "INSARHUB_CA_BUNDLE",
    "mintpy_python": "INSARHUB_MINTPY_PYTHON",
}


@dataclass(frozen=True)
class Endpoints:
    """Where CMR and HyP3 are, which CA file to trust, and the MintPy interpreter."""

    cmr_host: str = DEFAULT_CMR_HOST
    hyp3_url: str = DEFAULT_HYP3_URL
    ca_bundle: str = ""
    mintpy_python: str = ""

    @property
    def is_default(self) -> bool:
        """True when both services are ASF's production ones."""
        return self.cmr_host == DEFAULT_CMR_HOST and self.hyp3_url == DEFAULT_HYP3_URL


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoints(
    settings: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> Endpoints:
    """Resolve :class:`Endpoints`: environment variable, then setting, then default.

    Raises :class:`ConfigurationError` for values that cannot work (an ``http://`` HyP3
    URL that is not loopback, a CA file that does not exist, a CMR host with a scheme).
    """
    settings = settings or {}
    environ = os.environ if environ is None else environ
    defaults = Endpoints()
    values: dict[str, str] = {}
    for key, env_name in ENV_BY_SETTING.items():
        value = environ.get(env_name) or settings.get(key) or getattr(defaults, key)
        values[key] = str(value).strip()

    cmr_host = values["cmr_host"]
    if "://" in cmr_host or "/" in cmr_host:
        raise ConfigurationError(
            f"The CMR host '{cmr_host}' must be a host name with an optional port "
            "(like cmr.earthdata.nasa.gov or 127.0.0.1:8443), without https:// or a path."
        )

    hyp3_url = values["hyp3_url"].rstrip("/")
    parts = urlsplit(hyp3_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"The HyP3 API URL '{hyp3_url}' is not a URL; use something like {DEFAULT_HYP3_URL}."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"The HyP3 API URL '{hyp3_url}' uses plain http; only a loopback address (a local "
            "sandbox) may; use https."
        )
    values["hyp3_url"] = hyp3_url

    ca_bundle = values["ca_bundle"]
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise ConfigurationError(
            f"The CA certificate file '{ca_bundle}' (INSARHUB_CA_BUNDLE or the options page) does not exist."
        )
    return Endpoints(**values)
