"""Earthdata credentials for HyP3, resolved without Qt, and the ``hyp3_sdk`` client factory.

Order (shared/API.md): credentials passed in explicitly (the QGIS layer builds them from the
``AUTH`` configuration), then the ``EARTHDATA_TOKEN`` environment variable, then ``~/.netrc``
(``machine urs.earthdata.nasa.gov``). Nothing here prompts, prints or writes; a
:class:`Credentials` object's ``repr`` masks its secrets, and every message names the
*source* of a credential, never its value.

How HyP3 is reached with each kind of credential (:func:`connect`):

* a **token** is sent as ``Authorization: Bearer <token>``; no request is made until the
  first API call, so a wrong token shows up there as HTTP 401 (reported by
  :class:`~insarhub_qgis.core.hyp3.client.Hyp3Client` as :class:`CredentialsError`);
* a **username/password** is used by ``hyp3_sdk`` to log in at Earthdata Login
  (``urs.earthdata.nasa.gov``), which hands back an ``asf-urs`` session cookie; a refused
  login raises :class:`CredentialsError` at once. Against a loopback HyP3 (tests, sandboxes)
  this login still goes to Earthdata: use a token there. The test stand-in
  (``tests/fakes/hyp3.py``) accepts any bearer token (or only its ``token=``), and an
  ``asf-urs`` cookie only when it was started without ``token``; the tests exercise the
  password path by pointing ``hyp3_sdk.util.AUTH_URL`` at a loopback login page.
"""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qs, urlsplit

from ..config import Endpoints
from ..deps import require
from ..errors import ConfigurationError, TransientServiceError
from ..netpolicy import CredentialPolicy, guard_session

if TYPE_CHECKING:
    from hyp3_sdk import HyP3

__all__ = [
    "EARTHDATA_HOST",
    "TOKEN_ENV",
    "Credentials",
    "CredentialsError",
    "connect",
    "netrc_credentials",
    "resolve_credentials",
]

EARTHDATA_HOST = "urs.earthdata.nasa.gov"
TOKEN_ENV = "EARTHDATA_TOKEN"
DEFAULT_TIMEOUT_S = (15.0, 120.0)  # (connect, read); hyp3_sdk sets none and could wait forever


class CredentialsError(ConfigurationError):
    """Earthdata credentials are missing, unreadable or were refused (the message names the source)."""


@dataclass(frozen=True, repr=False)
class Credentials:
    """An Earthdata Login bearer token, or a username and password, and where it came from.

    ``source`` describes the origin for messages (e.g. ``"QGIS authentication configuration
    'abc1234'"``, ``"the EARTHDATA_TOKEN environment variable"``); it must not contain a secret.
    """

    token: str = ""
    username: str = ""
    password: str = ""
    source: str = "the credentials given"

    def __post_init__(self) -> None:
        if self.token and (self.username or self.password):
            raise CredentialsError(f"{self.source} holds both a token and a username/password; keep one.")
        if not self.token and not (self.username and self.password):
            if self.username or self.password:
                raise CredentialsError(
                    f"{self.source} has a username or a password but not both; Earthdata Login needs both."
                )
            raise CredentialsError(f"{self.source} holds neither a token nor a username and password.")

    @classmethod
    def from_token(cls, token: str, source: str = "the token given") -> Credentials:
        """Credentials from an Earthdata Login bearer token (surrounding blanks removed)."""
        return cls(token=(token or "").strip(), source=source)

    @classmethod
    def from_password(
        cls, username: str, password: str, source: str = "the username and password given"
    ) -> Credentials:
        """Credentials from an Earthdata Login username and password."""
        return cls(username=(username or "").strip(), password=password or "", source=source)

    @property
    def kind(self) -> str:
        """``"token"`` or ``"password"``."""
        return "token" if self.token else "password"

    @property
    def described(self) -> str:
        """``"the Earthdata token from <source>"`` or ``"the username 'x' and password from <source>"``."""
        if self.token:
            return f"the Earthdata token from {self.source}"
        return f"the Earthdata username '{self.username}' and password from {self.source}"

    def secrets(self) -> list[str]:
        """The secret values (for redaction checks in tests and logs); never print them."""
        return [s for s in (self.token, self.password) if s]

    def __repr__(self) -> str:
        if self.token:
            return f"Credentials(token='***', source={self.source!r})"
        return f"Credentials(username={self.username!r}, password='***', source={self.source!r})"

    __str__ = __repr__


def _netrc_path(environ: Mapping[str, str]) -> Path:
    """The netrc file requests would use: ``$NETRC``, else ``~/.netrc`` (``~/_netrc`` on Windows)."""
    if environ.get("NETRC"):
        return Path(environ["NETRC"]).expanduser()
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    for name in (".netrc", "_netrc"):
        if (home / name).is_file():
            return home / name
    return home / ".netrc"


def netrc_credentials(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The ``machine urs.earthdata.nasa.gov`` login of a netrc file, or ``None`` if it has none.

    Raises :class:`CredentialsError` (naming the file and line, not its content) when the file
    cannot be parsed.
    """
    environ = os.environ if environ is None else environ
    netrc_file = Path(path) if path is not None else _netrc_path(environ)
    if not netrc_file.is_file():
        return None
    try:
        entry = netrc.netrc(str(netrc_file)).authenticators(EARTHDATA_HOST)
    except netrc.NetrcParseError as exc:
        # exc.msg may quote a token of the file (a password): name only the place.
        raise CredentialsError(
            f"{netrc_file} cannot be read as a netrc file (error near line {exc.lineno}); fix it or "
            "give the credentials another way (AUTH configuration or EARTHDATA_TOKEN)."
        ) from None
    except OSError as exc:
        raise CredentialsError(f"{netrc_file} cannot be read ({exc.strerror}).") from None
    if not entry:
        return None
    login, _account, password = entry
    if not login or not password:
        raise CredentialsError(
            f"{netrc_file} has 'machine {EARTHDATA_HOST}' without both a login and a password."
        )
    return Credentials.from_password(login, password, source=f"{netrc_file} (machine {EARTHDATA_HOST})")


def resolve_credentials(
    explicit: Credentials | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    netrc_path: str | Path | None = None,
) -> Credentials:
    """The credentials to use: ``explicit``, else ``EARTHDATA_TOKEN``, else the netrc file.

    Raises :class:`CredentialsError` when none of the three gives credentials, saying how to
    provide them.
    """
    if explicit is not None:
        return explicit
    environ = os.environ if environ is None else environ
    token = (environ.get(TOKEN_ENV) or "").strip()
    if token:
        return Credentials.from_token(token, source=f"the {TOKEN_ENV} environment variable")
    found = netrc_credentials(netrc_path, environ)
    if found is not None:
        return found
    where = Path(netrc_path) if netrc_path is not None else _netrc_path(environ)
    raise CredentialsError(
        "No Earthdata credentials found. Choose a QGIS authentication configuration (AUTH: Basic "
        f"with your Earthdata username and password, or a token), or set {TOKEN_ENV}, or add "
        f"'machine {EARTHDATA_HOST} login <user> password <password>' to {where}."
    )


def _login_session(policy: Any, username: str, password: str, timeout_s: Any) -> Any:
    """A ``requests`` session logged in at Earthdata Login (``hyp3_sdk.util.AUTH_URL``), as
    ``hyp3_sdk.util.get_authenticated_session`` does it, but through the credential guard."""
    import hyp3_sdk.util
    import requests
    from hyp3_sdk.exceptions import AuthenticationError

    session = guard_session(requests.Session(), policy, timeout_s=timeout_s)
    response = session.get(hyp3_sdk.util.AUTH_URL, auth=(username, password))
    query = parse_qs(urlsplit(response.url).query)
    error = query.get("error_msg")
    if error:
        raise AuthenticationError(error[0])
    try:
        response.raise_for_status()
    except requests.HTTPError:
        raise AuthenticationError("login refused") from None
    return session


def connect(endpoints: Endpoints, credentials: Credentials, *, timeout_s: Any = DEFAULT_TIMEOUT_S) -> HyP3:
    """A ``hyp3_sdk.HyP3`` for ``endpoints.hyp3_url`` authenticated with ``credentials``.

    The session trusts ``endpoints.ca_bundle`` when set, applies ``timeout_s`` to every
    request, and is guarded (:func:`~insarhub_qgis.core.netpolicy.guard_session`, strict): it
    talks only to the HyP3 API and Earthdata Login, and a link to any other host (a ``next``
    page, a redirect) is refused with a message naming it. A token makes no request here; a
    username/password logs in at Earthdata Login through the same guard.

    Raises:
        CredentialsError: Earthdata Login refused the username/password (names the source).
        TransientServiceError: Earthdata Login could not be reached.
        MissingDependencyError: ``hyp3_sdk`` is not installed in this Python.
    """
    require(["hyp3_sdk"])
    import hyp3_sdk
    import hyp3_sdk.util
    import requests
    from hyp3_sdk.exceptions import AuthenticationError

    policy = CredentialPolicy.for_endpoints(endpoints, extra_urls=[hyp3_sdk.util.AUTH_URL])
    try:
        if credentials.token:
            hyp3 = hyp3_sdk.HyP3(api_url=endpoints.hyp3_url, token=credentials.token)
        else:
            login = _login_session(policy, credentials.username, credentials.password, timeout_s)
            # The SDK's token path makes no request; the login's cookies replace the token.
            hyp3 = hyp3_sdk.HyP3(api_url=endpoints.hyp3_url, token="-")
            hyp3.session.headers.pop("Authorization", None)
            hyp3.session.cookies.update(login.cookies)
            host = urlsplit(endpoints.hyp3_url).hostname or ""
            if not host.endswith(".asf.alaska.edu") and "asf-urs" in login.cookies:
                # as hyp3_sdk does: the ASF login cookie for a HyP3 deployment elsewhere
                hyp3.session.cookies.set("asf-urs", login.cookies["asf-urs"], domain=host)
            login.close()
    except AuthenticationError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "login refused"
        raise CredentialsError(
            f"Earthdata Login refused {credentials.described} ({reason}). Check them at "
            f"https://{EARTHDATA_HOST} (and that your account is approved for HyP3)."
        ) from None
    except requests.RequestException as exc:
        raise TransientServiceError(
            f"Could not reach Earthdata Login ({EARTHDATA_HOST}) to log in with {credentials.described} "
            f"({type(exc).__name__}). Check the network connection and try again."
        ) from None
    guard_session(hyp3.session, policy, strict=True, timeout_s=timeout_s, service=f"HyP3 at {endpoints.hyp3_url}")
    if endpoints.ca_bundle:
        hyp3.session.verify = endpoints.ca_bundle
        # REQUESTS_CA_BUNDLE and friends would otherwise override the bundle given here.
        hyp3.session.trust_env = False
    return hyp3
