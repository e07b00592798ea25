"""Loopback stand-in for ASF's download hosts (``datapool.asf.alaska.edu``, the burst extractor
``sentinel1-burst.asf.alaska.edu``), for the scene downloads.

``FileServer`` serves plain HTTP on ``127.0.0.1`` (an ephemeral port) the files it is given,
under their URL paths (optionally below a ``prefix``)::

    with FileServer(token="secret") as server:
        server.add_for_url("https://datapool.asf.alaska.edu/SLC/SB/x.zip", data)
        # INSARHUB_ASF_DOWNLOAD_BASE=server.url sends https://datapool.asf.alaska.edu/SLC/SB/x.zip
        # to server.url + "/SLC/SB/x.zip"

What it does like the real hosts
    ``GET``/``HEAD``; single ``Range: bytes=`` requests (206 with ``Content-Range``, 416 with
    ``Content-Range: bytes */<size>`` when unsatisfiable, 200 for what it does not support);
    ``Content-Length``, ``Accept-Ranges`` and an S3-style ``ETag`` (MD5 of the intact file; off
    with ``etag=False``); 404 for unknown paths. With ``token`` set, a request without
    ``Authorization: Bearer <token>`` gets 401 (ASF answers a wrong token so; without any
    credentials it redirects to Earthdata Login, which a loopback test cannot follow);
    :meth:`FileServer.deny` answers 403 to authenticated requests (an account that has not
    accepted the EULA).

Faults (thread-safe; the counted ones are consumed in request order; cleared by
:meth:`FileServer.reset_faults`). ``path`` selects the files: ``None`` = any, else a full
request path or its tail (a file name)
    :meth:`~FileServer.fail_next` (5xx/429, with ``Retry-After``), :meth:`~FileServer.drop_after`
    (close the connection after n body bytes), :meth:`~FileServer.pending` (202 Accepted, as the
    burst extractor answers while it works), :meth:`~FileServer.delay`; and, until reset,
    :meth:`~FileServer.truncate` (a shorter file served as if whole: wrong size) and
    :meth:`~FileServer.corrupt` (same size, flipped bytes: MD5 mismatch).

Every request is recorded (:attr:`FileServer.requests`, header names lower-cased, with the
status and the body bytes actually sent), up to ``max_requests``.
:meth:`~FileServer.bandwidth_limit` paces bodies (for cancel tests).

Small honest content for real CMR records (:func:`give_small_files`)
    The fixture records describe multi-GB files. :func:`give_small_files` generates a small file
    for each record (an SLC: a real zip holding a ``.SAFE`` folder; a burst: TIFF-like bytes and
    an XML) and rewrites the record's own size and checksum attributes (``BYTES``/``MD5SUM`` for
    SLCs, as asf_search reads them; ``BYTE_LENGTH`` for bursts, set a little *below* the file's
    size as for real bursts, whose GeoTIFF is larger than the raw samples CMR counts) so that the
    CMR stand-in serves records that describe exactly the files the file server serves.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import socket
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["BURST_HEADER_BYTES", "FileServer", "RecordedRequest", "give_small_files"]

#: How much bigger a generated burst file is than its record's BYTE_LENGTH.
BURST_HEADER_BYTES = 1_000


@dataclass
class RecordedRequest:
    """One request as the server saw it; ``sent`` counts the body bytes written."""

    method: str
    path: str
    headers: dict[str, str]
    status: int | None = None
    sent: int = 0


@dataclass
class _Fault:
    kind: str
    path: str | None
    count: int | None  # None: until reset
    status: int = 503
    nbytes: int = 0
    seconds: float = 0.0
    retry_after: str | None = None
    keep: int | None = None
    used: int = field(default=0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    owner: FileServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ASFFileStandIn/1.0"
    timeout = 30  # an idle kept-alive connection does not hold a thread for ever
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
        """Quiet; requests are recorded instead."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def _dispatch(self, method: str) -> None:
        owner: FileServer = self.server.owner  # type: ignore[attr-defined]
        if owner._closed:
            self.close_connection = True
            return
        try:
            owner._handle(self, method)
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception as exc:  # a bug in the stand-in: visible to the test
            with owner._lock:
                owner.errors.append(exc)
            self.close_connection = True


class FileServer:
    """Serve files over loopback HTTP with Range, auth and faults (see the module docstring)."""

    def __init__(
        self,
        files: dict[str, bytes | Path] | None = None,
        *,
        prefix: str = "",
        token: str | None = None,
        etag: bool = True,
        max_requests: int = 100_000,
    ) -> None:
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.token = token
        self.etag = etag
        self.max_requests = max_requests
        self.errors: list[BaseException] = []
        self._files: dict[str, bytes | Path] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._deny_status: int | None = None
        self._bandwidth: float | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for path, data in (files or {}).items():
            self.add(path, data)

    # ---- life cycle -------------------------------------------------------------------------

    def start(self) -> FileServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>[/prefix]``): what INSARHUB_ASF_DOWNLOAD_BASE gets."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # ---- content ------------------------------------------------------------------------------

    def add(self, path: str, data: bytes | Path) -> str:
        """Serve ``data`` at ``prefix + path``; return the full loopback URL."""
        full = self.prefix + "/" + path.lstrip("/")
        with self._lock:
            self._files[full] = data
        return f"http://127.0.0.1:{self.port}{full}" if self._server else full

    def add_for_url(self, url: str, data: bytes | Path) -> str:
        """Serve ``data`` where a rewritten ``url`` (e.g. an ASF URL) lands; return the server path."""
        path = urlsplit(url).path
        self.add(path, data)
        return self.prefix + path

    # ---- faults -------------------------------------------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def fail_next(
        self, status: int = 503, path: str | None = None, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` (and ``Retry-After``)."""
        after = None if retry_after is None else f"{retry_after:g}"
        self._add_fault(_Fault("fail", path, count, status=status, retry_after=after))

    def drop_after(self, nbytes: int, path: str | None = None, count: int = 1) -> None:
        """Send only ``nbytes`` of the next ``count`` matching bodies, then close the connection."""
        self._add_fault(_Fault("drop", path, count, nbytes=nbytes))

    def pending(self, path: str | None = None, count: int = 1, retry_after: float | None = None) -> None:
        """Answer ``202 Accepted`` (still preparing the file) to the next ``count`` matching requests."""
        after = None if retry_after is None else f"{retry_after:g}"
        self._add_fault(_Fault("pending", path, count, retry_after=after))

    def delay(self, seconds: float, path: str | None = None, count: int = 1) -> None:
        """Wait ``seconds`` before answering the next ``count`` matching requests."""
        self._add_fault(_Fault("delay", path, count, seconds=seconds))

    def truncate(self, path: str, keep: int | None = None) -> None:
        """Until reset, serve only the first ``keep`` bytes (default half) of ``path``, as if whole."""
        self._add_fault(_Fault("truncate", path, None, keep=keep))

    def corrupt(self, path: str) -> None:
        """Until reset, serve ``path`` with a few bytes flipped (same size, other MD5)."""
        self._add_fault(_Fault("corrupt", path, None))

    def deny(self, status: int | None = 403) -> None:
        """Answer ``status`` to authenticated requests (403: EULA not accepted); ``None`` stops."""
        with self._lock:
            self._deny_status = status

    def bandwidth_limit(self, bytes_per_second: float | None) -> None:
        """Pace every body at ``bytes_per_second`` (``None``: as fast as possible)."""
        with self._lock:
            self._bandwidth = bytes_per_second

    def serve(self, contents: dict[str, bytes]) -> None:
        """``add_for_url`` for every ``{url: content}`` (e.g. from :func:`give_small_files`)."""
        for url, data in contents.items():
            self.add_for_url(url, data)

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._deny_status = None
            self._bandwidth = None

    @staticmethod
    def _matches(fault_path: str | None, path: str) -> bool:
        if fault_path is None:
            return True
        tail = fault_path.lstrip("/")
        return path == fault_path or path.endswith("/" + tail)

    def _take(self, kind: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and self._matches(fault.path, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    fault.used += 1
                    return fault
        return None

    # ---- what was asked -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for ``path`` (a full path or its tail)."""
        return [r for r in self.requests if self._matches(path, r.path)]

    def bytes_sent(self, path: str | None = None) -> int:
        """Body bytes sent for ``path`` (or for everything)."""
        return sum(r.sent for r in self.requests if self._matches(path, r.path))

    # ---- serving --------------------------------------------------------------------------------

    def _content(self, path: str) -> tuple[bytes, str] | None:
        with self._lock:
            source = self._files.get(path)
        if source is None:
            return None
        data = source.read_bytes() if isinstance(source, Path) else source
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        truncate = self._take("truncate", path)
        if truncate is not None:
            keep = len(data) // 2 if truncate.keep is None else max(0, min(truncate.keep, len(data) - 1))
            data = data[:keep]
        if self._take("corrupt", path) is not None and data:
            buf = bytearray(data)
            for k in range(8):
                buf[(len(buf) // 3 + k * 131) % len(buf)] ^= 0xFF
            data = bytes(buf)
        return data, etag

    def _handle(self, handler: _Handler, method: str) -> None:
        path = unquote(urlsplit(handler.path).path)
        record = RecordedRequest(method, path, {k.lower(): v for k, v in handler.headers.items()})
        with self._lock:
            if len(self._requests) < self.max_requests:
                self._requests.append(record)

        delay = self._take("delay", path)
        if delay is not None:
            time.sleep(delay.seconds)
        if self.token is not None:
            if record.headers.get("authorization", "") != f"Bearer {self.token}":
                self._send(
                    handler, record, 401, b"HTTP Basic: Access denied.\n", {"WWW-Authenticate": "Bearer"}
                )
                return
        with self._lock:
            deny = self._deny_status
        if deny is not None:
            body = b"Access denied: the EULA for this data set has not been accepted.\n"
            self._send(handler, record, deny, body)
            return
        failure = self._take("fail", path)
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            self._send(handler, record, failure.status, b"Service Unavailable\n", extra)
            return
        content = self._content(path)
        if content is None:
            self._send(handler, record, 404, b"Not Found\n")
            return
        pending = self._take("pending", path)
        if pending is not None:
            extra = {"Retry-After": pending.retry_after} if pending.retry_after else {}
            self._send(handler, record, 202, b"Burst is being extracted; try again shortly.\n", extra)
            return
        data, etag = content
        total = len(data)
        status, start, end = 200, 0, total - 1
        wanted = _parse_range(handler.headers.get("Range"), total)
        if wanted == "unsatisfiable":
            self._send(
                handler,
                record,
                416,
                b"Requested Range Not Satisfiable\n",
                {"Content-Range": f"bytes */{total}"},
            )
            return
        if isinstance(wanted, tuple):
            status, (start, end) = 206, wanted
        body = data[start : end + 1]
        headers = {"Accept-Ranges": "bytes", "Content-Type": _content_type(path)}
        if self.etag:
            headers["ETag"] = etag
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        drop = self._take("drop", path) if method == "GET" else None
        self._send(handler, record, status, body, headers, limit=None if drop is None else drop.nbytes)

    def _send(
        self,
        handler: _Handler,
        record: RecordedRequest,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        record.status = status
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        if "Content-Type" not in (headers or {}):
            handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        payload = body if limit is None else body[:limit]
        with self._lock:
            bps = self._bandwidth
        if not bps:
            handler.wfile.write(payload)
            handler.wfile.flush()
            record.sent = len(payload)
        else:
            step = max(1, int(bps / 20))
            started = time.monotonic()
            for offset in range(0, len(payload), step):
                piece = payload[offset : offset + step]
                handler.wfile.write(piece)
                handler.wfile.flush()
                record.sent += len(piece)
                wait = started + record.sent / bps - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
        if limit is not None:
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _content_type(path: str) -> str:
    return {".zip": "application/zip", ".tiff": "image/tiff", ".tif": "image/tiff", ".xml": "text/xml"}.get(
        Path(path).suffix.lower(), "application/octet-stream"
    )


def _parse_range(header: str | None, total: int) -> tuple[int, int] | str | None:
    """``(start, end)`` for a satisfiable single range, ``"unsatisfiable"``, or ``None`` (serve all)."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multi-range or malformed: a 200 with everything is allowed (RFC 9110)
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), total - 1) if last else total - 1
        if last and int(last) < start:
            return None
        if start >= total:
            return "unsatisfiable"
        return start, end
    suffix = int(last)
    if suffix == 0 or total == 0:
        return "unsatisfiable"
    return max(0, total - suffix), total - 1


# ---- small files for real CMR records -------------------------------------------------------------


def _attribute(umm: dict[str, Any], name: str, value: str) -> None:
    attributes = umm.setdefault("AdditionalAttributes", [])
    for attribute in attributes:
        if attribute.get("Name") == name:
            attribute["Values"] = [value]
            return
    attributes.append({"Name": name, "Values": [value]})


def _urls(umm: dict[str, Any], kind: str) -> list[str]:
    return [
        u["URL"]
        for u in umm.get("RelatedUrls", [])
        if u.get("Type") == kind and str(u.get("URL", "")).startswith("http")
    ]


def give_small_files(
    items: list[dict[str, Any]], *, seed: int = 7, slc_bytes: int = 160_000, burst_bytes: int = 120_000
) -> dict[str, bytes]:
    """Generate a small file for every CMR record of ``items`` and describe it in the record.

    Mutates ``items`` (pass fresh fixture copies); returns ``{download URL: content}`` for every
    file (SLC zip; burst GeoTIFF and XML), ready for :meth:`FileServer.serve`. Sizes vary a little
    from record to record; the content is deterministic for a given ``seed``.
    """
    rng = random.Random(seed)
    contents: dict[str, bytes] = {}
    for item in items:
        umm = item["umm"]
        props = item.setdefault("asf_properties", {})
        attributes = {
            a.get("Name"): (a.get("Values") or [None])[0] for a in umm.get("AdditionalAttributes", [])
        }
        if attributes.get("PROCESSING_TYPE") == "BURST":
            tiff_url, xml_url = _urls(umm, "USE SERVICE API")[:2]
            size = burst_bytes + rng.randrange(0, 4096)
            tiff = b"II*\x00" + rng.randbytes(size - 4)
            name = props.get("fileID") or umm.get("GranuleUR", "burst")
            xml = f'<?xml version="1.0"?>\n<burst name="{name}">{rng.randrange(10**9)}</burst>\n'.encode()
            contents[tiff_url] = tiff
            contents[xml_url] = xml
            _attribute(umm, "BYTE_LENGTH", str(len(tiff) - BURST_HEADER_BYTES))
            props["bytes"] = len(tiff) - BURST_HEADER_BYTES
            continue
        url = _urls(umm, "GET DATA")[0]
        scene = url.rsplit("/", 1)[1].rsplit(".", 1)[0]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(f"{scene}.SAFE/manifest.safe", f"<manifest scene='{scene}'/>\n")
            archive.writestr(
                f"{scene}.SAFE/measurement/s1-iw1-slc-vv.tiff",
                rng.randbytes(slc_bytes + rng.randrange(0, 4096)),
            )
        data = buffer.getvalue()
        md5 = hashlib.md5(data).hexdigest()
        contents[url] = data
        _attribute(umm, "BYTES", str(len(data)))
        _attribute(umm, "MD5SUM", md5)
        for info in (umm.get("DataGranule") or {}).get("ArchiveAndDistributionInformation", []):
            info["Size"], info["SizeUnit"] = len(data) / 1024 / 1024, "MB"
        props["bytes"], props["md5sum"] = len(data), md5
    return contents
