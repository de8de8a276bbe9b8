"""A loopback HTTP proxy that records requests and injects faults in front of a real server.

Each request takes the next queued :class:`Fault` (none left: it passes through unchanged). A fault
answers with an error status, waits before answering, or forwards but cuts the connection after
some bytes of the response body. With ``azure=True`` the proxy accepts Azure OpenAI's request shape
(``/openai/deployments/<name>/chat/completions?api-version=...`` with an ``api-key`` header) and
maps it onto an OpenAI-style server (``/v1/chat/completions`` with a bearer token).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "trailer", "upgrade"}
AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)(/.*)$")


@dataclass
class Fault:
    status: int | None = None  # answer with this status instead of forwarding
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": {"message": "injected fault", "type": "server_error"}}'
    delay: float = 0.0  # seconds to wait before answering or forwarding
    drop_after: int | None = None  # forward, but cut the connection after this many body bytes


@dataclass
class RecordedRequest:
    method: str
    path: str  # as the client sent it, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    response_bytes: int = 0  # body bytes sent back to the client (after any cut)

    def json(self):
        return json.loads(self.body)


class FaultProxy:
    """``with FaultProxy(upstream_url) as proxy:`` then point clients at ``proxy.url``."""

    def __init__(self, upstream: str, *, azure: bool = False, azure_api_version: str | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.azure = azure
        self.azure_api_version = azure_api_version
        self.faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            return self.faults.popleft() if self.faults else None

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = RecordedRequest(self.command, parts.path, parse_qs(parts.query), headers, body)
                fault = proxy._next(record)
                try:
                    if fault and fault.delay:
                        time.sleep(fault.delay)
                    if fault and fault.status is not None:
                        self._reply(fault.status, fault.body, fault.headers)
                        return
                    path, headers = self._map(parts, headers)
                    if path is None:
                        return
                    self._forward(record, path, headers, fault.drop_after if fault else None)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout test)

            def _map(self, parts, headers):
                """The upstream path and headers; Azure's shape becomes OpenAI's."""
                forwarded = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
                if not proxy.azure:
                    return parts.path + (f"?{parts.query}" if parts.query else ""), forwarded
                match = AZURE_PATH.match(parts.path)
                version = parse_qs(parts.query).get("api-version", [None])[0]
                key = forwarded.pop("api-key", None)
                if not match or not key or (proxy.azure_api_version and version != proxy.azure_api_version):
                    self._reply(401 if not key else 404, json.dumps(
                        {"error": {"code": "NotAzureShaped", "message": f"unexpected {parts.path}?{parts.query}"}}
                    ).encode())
                    return None, None
                forwarded.pop("authorization", None)
                forwarded["authorization"] = f"Bearer {key}"
                return "/v1" + match.group(2), forwarded

            def _forward(self, record: RecordedRequest, path: str, headers: dict[str, str],
                         drop_after: int | None) -> None:
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
                try:
                    upstream.request(self.command, path, body=record.body or None, headers=headers)
                    response = upstream.getresponse()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while data := response.read1(65536):
                        if drop_after is not None and record.response_bytes + len(data) >= drop_after:
                            self._write_chunk(data[: max(0, drop_after - record.response_bytes)])
                            record.response_bytes = drop_after
                            self._drop()
                            return
                        # Counted before the write: the client may finish and read the record at once.
                        record.response_bytes += len(data)
                        self._write_chunk(data)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                finally:
                    upstream.close()

            def _write_chunk(self, data: bytes) -> None:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

            def _drop(self) -> None:
                """Cut the connection with the body unfinished, as a crashed server would."""
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

        return Handler
