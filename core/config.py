"""Endpoints and paths the plugin talks to, resolved from the environment and settings.

An environment variable wins over the plugin's setting (QgsSettings, passed in here as a
plain mapping so this module stays Qt-free), which wins over the default.

``INSARHUB_ASF_DOWNLOAD_BASE`` (setting ``asf_download_base``) is a sandbox/testing
setting: when set, the scheme and host of every ASF download URL (``datapool.asf.alaska.edu``,
``sentinel1-burst.asf.alaska.edu``, any ``*.asf.alaska.edu``) are replaced by this base, so
that scene downloads go to a local stand-in (see :func:`rewrite_asf_url`). Empty (the
default): ASF's own hosts.
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
    "asf_download_base": "INSARHUB_ASF_DOWNLOAD_BASE",
}
ASF_DOMAIN = "asf.alaska.edu"


@dataclass(frozen=True)
class Endpoints:
    """Where CMR and HyP3 are, which CA file to trust, the MintPy interpreter, and (sandbox
    and tests only) where ASF's download hosts are replaced (``asf_download_base``)."""

    cmr_host: str = DEFAULT_CMR_HOST
    hyp3_url: str = DEFAULT_HYP3_URL
    ca_bundle: str = ""
    mintpy_python: str = ""
    asf_download_base: str = ""

    @property
    def is_default(self) -> bool:
        """True when both services are ASF's production ones."""
        return self.cmr_host == DEFAULT_CMR_HOST and self.hyp3_url == DEFAULT_HYP3_URL

    def describe(self, service: str) -> str:
        """How to name the ``"cmr"`` or ``"hyp3"`` endpoint to the user: ASF's, a SANDBOX, or another."""
        address = self.cmr_host if service == "cmr" else self.hyp3_url
        default = DEFAULT_CMR_HOST if service == "cmr" else DEFAULT_HYP3_URL
        name = "CMR" if service == "cmr" else "HyP3"
        if address == default:
            return f"ASF's {name} ({address})"
        host = address.split("://")[-1].split("/")[0].rsplit(":", 1)[0].strip("[]")
        if _is_loopback(host):
            return f"the SANDBOX {name} at {address} (a local emulator: not real Sentinel-1 data)"
        return f"the {name} at {address} (not ASF's production service)"

    def asf_download_url(self, url: str) -> str:
        """``url`` with ASF's download host replaced by ``asf_download_base`` when that is set."""
        return rewrite_asf_url(url, self.asf_download_base)


def is_asf_download_host(host: str | None) -> bool:
    """True for ``asf.alaska.edu`` and its subdomains (datapool, sentinel1-burst, ...)."""
    host = (host or "").lower().rstrip(".")
    return host == ASF_DOMAIN or host.endswith("." + ASF_DOMAIN)


def rewrite_asf_url(url: str, base: str) -> str:
    """Replace the scheme and host of an ASF download URL by ``base`` (a sandbox stand-in).

    ``https://datapool.asf.alaska.edu/SLC/SA/x.zip`` with base ``http://127.0.0.1:8000/asf``
    becomes ``http://127.0.0.1:8000/asf/SLC/SA/x.zip`` (path and query kept). URLs of other
    hosts, and every URL when ``base`` is empty, are returned unchanged.
    """
    if not base:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_asf_download_host(parts.hostname):
        return url
    rebuilt = base.rstrip("/") + (parts.path or "/")
    return f"{rebuilt}?{parts.query}" if parts.query else rebuilt


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

    download_base = values["asf_download_base"].rstrip("/")
    if download_base:
        parts = urlsplit(download_base)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigurationError(
                f"The ASF download base '{download_base}' (INSARHUB_ASF_DOWNLOAD_BASE, a sandbox/testing "
                "setting) is not a URL; use something like http://127.0.0.1:8000, or leave it empty "
                "to download from ASF."
            )
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ConfigurationError(
                f"The ASF download base '{download_base}' uses plain http; only a loopback address (a "
                "local sandbox) may; use https."
            )
    values["asf_download_base"] = download_base

    ca_bundle = values["ca_bundle"]
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise ConfigurationError(
            f"The CA certificate file '{ca_bundle}' (INSARHUB_CA_BUNDLE or the options page) does not exist."
        )
    return Endpoints(**values)
