"""Where credentials may go: the one place that decides it for every request the plugin makes.

The Earthdata token, a Basic username/password and the Earthdata/ASF login cookies are sent only

* over HTTPS to Earthdata Login (``urs.earthdata.nasa.gov``), to ASF's hosts
  (``asf.alaska.edu`` and its subdomains: the download hosts, the HyP3 API, ASF's login), and to
  the configured HyP3 API and download base (``INSARHUB_HYP3_URL``, ``INSARHUB_ASF_DOWNLOAD_BASE``);
* over plain HTTP only to an endpoint that was *configured* as a loopback address (a sandbox,
  the tests), and only to that address and port.

Every other request goes out without ``Authorization`` and ``Cookie`` headers, whatever set
them (a session header set by ``hyp3_sdk`` or ``asf_search``, a ``netrc`` entry, a redirect that
``asf_search.ASFSession.rebuild_auth`` kept the header on, a ``next`` link, a record's URL).
:func:`guard_session` enforces this at the transport (a ``requests`` adapter), so it holds for
requests made by ``hyp3_sdk`` and ``asf_search`` on the plugin's behalf too; a *strict* guard
refuses such a request altogether (the HyP3 API session: a HyP3 answer that links elsewhere is
an error, not a page to fetch).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlsplit

from .errors import ServiceError

if TYPE_CHECKING:
    from .config import Endpoints

__all__ = [
    "ASF_DOMAIN",
    "EARTHDATA_LOGIN_HOST",
    "CredentialPolicy",
    "ForeignHostError",
    "guard_session",
    "is_loopback",
    "origin_of",
]

EARTHDATA_LOGIN_HOST = "urs.earthdata.nasa.gov"
ASF_DOMAIN = "asf.alaska.edu"
#: Headers that carry credentials (``Cookie``: the Earthdata/ASF login session).
SECRET_HEADERS = ("Authorization", "Cookie")

Origin = tuple  # (scheme, host, port)


class ForeignHostError(ServiceError):
    """A request would have gone to a host that must not receive the credentials (strict guard)."""


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of a URL (default ports filled in), or ``None`` if it has none."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:  # a port that is not a number
        return None
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port or (443 if scheme == "https" else 80)


def _is_asf_host(host: str) -> bool:
    return host == ASF_DOMAIN or host.endswith("." + ASF_DOMAIN)


@dataclass(frozen=True)
class CredentialPolicy:
    """Which URLs may carry credentials (see the module docstring).

    ``configured`` are the origins of the endpoints the user (or a sandbox/test) configured:
    HTTPS ones, and loopback HTTP ones; a plain-HTTP origin that is not loopback is never
    added (:meth:`for_endpoints` drops it).
    """

    configured: frozenset = field(default_factory=frozenset)

    @classmethod
    def for_endpoints(cls, endpoints: Endpoints | None = None, *, extra_urls: Iterable[str] = ()) -> CredentialPolicy:
        """The policy for these endpoints: ASF, Earthdata Login, the configured HyP3 API and
        download base, and ``extra_urls`` (e.g. a login page a test points ``hyp3_sdk`` at)."""
        urls = list(extra_urls)
        if endpoints is not None:
            urls += [endpoints.hyp3_url, endpoints.asf_download_base]
        origins = set()
        for url in urls:
            origin = origin_of(url) if url else None
            if origin is None:
                continue
            if origin[0] == "https" or is_loopback(origin[1]):
                origins.add(origin)
        return cls(frozenset(origins))

    def allows(self, url: str) -> bool:
        """True when a request to ``url`` may carry the credentials."""
        origin = origin_of(url)
        if origin is None:
            return False
        scheme, host, port = origin
        if origin in self.configured:
            return True
        if scheme != "https" or port != 443:
            return False
        return host == EARTHDATA_LOGIN_HOST or _is_asf_host(host)

    def refusal(self, url: str, what: str = "a request") -> str:
        """Why ``url`` does not get the credentials, naming its host (for messages)."""
        origin = origin_of(url)
        if origin is None:
            return f"{what} to '{url[:120]}' is not an http(s) URL"
        scheme, host, port = origin
        shown = host if port in (80, 443) else f"{host}:{port}"
        if scheme == "http" and (_is_asf_host(host) or host == EARTHDATA_LOGIN_HOST):
            why = "it is plain HTTP"
        elif scheme == "http" and is_loopback(host):
            why = "that loopback address is not a configured endpoint"
        else:
            why = "it is not Earthdata Login, an ASF host or the configured HyP3/download endpoint"
        return f"{what} to {shown} ({scheme}) may not carry your Earthdata credentials: {why}"


def _secret_free(request: Any) -> None:
    for name in SECRET_HEADERS:
        request.headers.pop(name, None)


def guard_session(
    session: Any,
    policy: CredentialPolicy,
    *,
    strict: bool = False,
    timeout_s: Any = None,
    pool_size: int | None = None,
    service: str = "",
) -> Any:
    """Mount the credential guard on ``session`` (a ``requests.Session``, also an ``ASFSession``).

    Every request the session sends (redirects and ``next`` links included) to a URL that
    ``policy`` does not allow loses its ``Authorization`` and ``Cookie`` headers; with
    ``strict`` it is refused instead with :class:`ForeignHostError` naming the host (``service``
    names who sent the link, for the message). ``timeout_s`` applies to requests that set none;
    ``pool_size`` sizes the connection pool (parallel downloads). Returns ``session``.
    """
    from requests.adapters import HTTPAdapter

    class _GuardedAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # noqa: D401 - requests API
            if not policy.allows(request.url):
                if strict:
                    who = f"{service} sent" if service else "InSARHub was given"
                    raise ForeignHostError(
                        f"{who} a link to another host; {policy.refusal(request.url)}. It was not "
                        "followed. If the service's address is right, report this answer to its operators."
                    )
                _secret_free(request)
            if kwargs.get("timeout") is None and timeout_s is not None:
                kwargs["timeout"] = timeout_s
            return super().send(request, **kwargs)

    size = max(10, pool_size or 0)
    adapter = _GuardedAdapter(pool_connections=size, pool_maxsize=size)
    session.adapters.clear()  # no other adapter (a longer prefix) may bypass the guard
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session._insarhub_policy = policy  # for tests and for callers that check before requesting
    return session
