"""Hostile loopback servers: they record every request and answer what the test tells them.

The stand-ins in this folder behave like the real services; these do not. A
:class:`HostileServer` runs on ``127.0.0.1`` (plain HTTP, or HTTPS with a CA from
:mod:`fakes.tls`), records each request (method, path, query, headers) and answers with what
``respond(request)`` returns: status, headers, body, and optionally how many body bytes to send
before cutting the connection. Tests use them as the third host a token must never reach, as a
HyP3 whose ``next`` link points elsewhere, as a CMR that never stops paging, as a file server
that keeps dropping and ignores ``Range``.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["Answer", "HostileServer", "Seen"]


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Answer:
    """What to send back: ``cut_after`` sends only that many body bytes, then drops the connection."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
        pass

    def _handle(self) -> None:
        owner: HostileServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        seen = Seen(self.command, split.path, parse_qs(split.query), dict(self.headers.items()), body)
        with owner.lock:
            owner.seen.append(seen)
        try:
            answer = owner.respond(seen)
        except Exception as exc:  # a bug in the test's responder: answer 500 and keep it
            owner.errors.append(exc)
            answer = Answer(500, b"responder failed")
        self.send_response(answer.status)
        headers = {"Content-Length": str(len(answer.body)), **answer.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        if answer.cut_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if answer.cut_after is None:
                self.wfile.write(answer.body)
                return
            self.wfile.write(answer.body[: answer.cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815


class HostileServer:
    """A loopback server that records everything and answers ``respond(request)``.

    ``tls_dir`` (a folder) makes it HTTPS with a fresh CA whose certificate is :attr:`ca_file`.
    """

    def __init__(self, respond: Callable[[Seen], Answer] | None = None, *, tls_dir: str | Path | None = None) -> None:
        self.respond = respond or (lambda _seen: Answer(200, b"ok"))
        self.seen: list[Seen] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.ca_file = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if tls_dir is not None:
            from fakes.tls import make_tls_context

            context, self.ca_file = make_tls_context(tls_dir)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port>``."""
        return f"{self.scheme}://{self.host}"

    def secrets_seen(self) -> list[Seen]:
        """The requests that carried an ``Authorization`` or ``Cookie`` header."""
        return [s for s in self.seen if s.header("Authorization") or s.header("Cookie")]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
