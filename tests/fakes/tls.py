"""TLS material for the loopback stand-ins (CMR, HyP3, download servers, ...).

Every stand-in speaks real HTTPS so that the code under test exercises the same
``requests``/``urllib3``/``ssl`` path it uses against the real services. The certificate
authority and the server certificate are generated at run time with ``trustme``; nothing
is stored in the repository and no private key ever leaves the temporary folder.

Usage::

    server_ctx, ca_pem = make_tls_context(tmp_path)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    requests.get(url, verify=ca_pem)
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Tuple, Union

import trustme

__all__ = ["make_tls_context", "SERVER_NAMES"]

#: Names the server certificate is valid for (loopback only).
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


def make_tls_context(tmpdir: Union[str, os.PathLike[str]]) -> Tuple[ssl.SSLContext, str]:
    """Create a fresh CA and a server certificate for the loopback addresses.

    Args:
        tmpdir: existing folder where the CA certificate (``ca.pem``) is written. Only the
            public CA certificate is written there; the server key stays in memory.

    Returns:
        ``(server_ctx, ca_pem_path)``: an :class:`ssl.SSLContext` for the server side
        (TLS 1.2 or newer, certificate for ``127.0.0.1``, ``localhost`` and ``::1``) and
        the path of the PEM file a client must trust (``requests``' ``verify=``,
        ``REQUESTS_CA_BUNDLE``, ``INSARHUB_CA_BUNDLE``, ...).
    """
    folder = Path(tmpdir)
    folder.mkdir(parents=True, exist_ok=True)

    ca = trustme.CA(organization_name="InSARHub test CA")
    leaf = ca.issue_cert(*SERVER_NAMES, common_name="127.0.0.1")

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(server_ctx)

    ca_path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return server_ctx, str(ca_path)
