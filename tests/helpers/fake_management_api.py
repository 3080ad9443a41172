"""A local stand-in for API Gateway's management ("@connections") API.

A real HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` in a background thread)
that answers ``POST``/``GET``/``DELETE /<api_id>/<stage>/@connections/<id>`` the
way API Gateway does, so tests drive real boto3 clients end to end. Each
connection id can be scripted to answer with a status (200, 410, 429, 500, 403,
...); error answers carry the ``x-amzn-ErrorType`` header and JSON body that
botocore's rest-json parser turns into ``GoneException`` and friends. The server
records every call and the largest number of calls it held at once, and can add
latency to each call.

Usage::

    from tests.helpers.fake_management_api import fake_management_api, make_gateway

    def test_send(fake_management_api):
        gateway = make_gateway(fake_management_api, "api1")
        fake_management_api.script("conn-1", 410)
        ...
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

#: Status -> (x-amzn-ErrorType, message), as API Gateway answers them.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequestException", "Invalid connectionId"),
    403: ("ForbiddenException", "Forbidden"),
    404: ("NotFoundException", "Not Found"),
    410: ("GoneException", "Connection is gone"),
    413: ("PayloadTooLargeException", "Request entity too large"),
    429: ("LimitExceededException", "Rate exceeded"),
    500: ("InternalServerErrorException", "Internal server error"),
}

# Upper bound on any scripted latency, so a mistaken value cannot hang a test run.
MAX_LATENCY = 5.0


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake API received."""

    method: str
    api_id: str
    stage: str
    connection_id: str
    body: bytes
    headers: dict[str, str] = field(repr=False)
    status: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway: exercises the client pool
    timeout = 10  # idle keep-alive connections close on their own

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        api = self.server.api
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path).path.split("/")
        # ["", api_id, stage, "@connections", connection_id]
        if len(parts) != 5 or parts[3] != "@connections" or not parts[4]:
            self._answer(404, None)
            return
        api_id, stage, connection_id = parts[1], parts[2], unquote(parts[4])
        api.enter()
        try:
            api.wait_latency()
            status = api.next_status(connection_id)
            if status < 300 and self.command == "DELETE":
                status = 204
            api.record(
                RecordedCall(
                    method=self.command,
                    api_id=api_id,
                    stage=stage,
                    connection_id=connection_id,
                    body=body,
                    headers=dict(self.headers.items()),
                    status=status,
                )
            )
        finally:
            api.leave()
        if status < 300 and self.command == "GET":
            self._answer(status, api.connection_info(connection_id))
        else:
            self._answer(status, None)

    def _answer(self, status: int, payload: dict[str, Any] | None) -> None:
        headers: dict[str, str] = {"x-amzn-RequestId": "fake-request-id"}
        if status >= 300:
            code, message = ERRORS.get(status, ("UnknownError", f"HTTP {status}"))
            headers["x-amzn-ErrorType"] = code
            payload = {"message": message}
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and status != 204:
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeManagementApi

    def process_request(self, request: Any, client_address: Any) -> None:
        self.api.track(request)
        super().process_request(request, client_address)


class FakeManagementApi:
    """A running fake management API. ``str(api)`` and ``api.base_url`` give its URL."""

    def __init__(self, *, latency: float = 0.0, default_status: int = 200) -> None:
        self.latency = latency
        self.default_status = default_status
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[int]] = {}
        self._calls: list[RecordedCall] = []
        self._sockets: list[socket.socket] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-management-api",
            daemon=True,
        )

    # --- lifecycle

    def start(self) -> FakeManagementApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            # Unblock handler threads waiting on idle keep-alive connections.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    # --- addresses

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __str__(self) -> str:
        return self.base_url

    def api_endpoint(self, api_id: str) -> str:
        """What to store in ``ApiGateway.api_endpoint`` so its management endpoint is here."""
        return f"ws://127.0.0.1:{self.port}/{api_id}"

    # --- scripting

    def script(self, connection_id: str, *statuses: int) -> None:
        """Answer ``connection_id`` with these statuses in turn; the last one repeats."""
        if not statuses:
            raise ValueError("script() needs at least one status")
        unknown = [s for s in statuses if s >= 300 and s not in ERRORS]
        if unknown:
            raise ValueError(f"No error shape for status {unknown}; add it to ERRORS")
        with self._lock:
            self._scripts[connection_id] = deque(statuses)

    def next_status(self, connection_id: str) -> int:
        with self._lock:
            queue = self._scripts.get(connection_id)
            if not queue:
                return self.default_status
            return queue.popleft() if len(queue) > 1 else queue[0]

    def connection_info(self, connection_id: str) -> dict[str, Any]:
        """Body of a successful GET, shaped like API Gateway's GetConnection answer."""
        return {
            "connectedAt": "2030-01-02T03:04:05.000Z",
            "lastActiveAt": "2030-01-02T03:09:05.000Z",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": f"agent-{connection_id}"},
        }

    # --- recording

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def wait_latency(self) -> None:
        if self.latency:
            # An Event wait, not a sleep: stop() cuts it short.
            self._stopping.wait(min(self.latency, MAX_LATENCY))

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def calls_for(
        self, connection_id: str | None = None, *, method: str | None = None
    ) -> list[RecordedCall]:
        """Recorded calls, optionally for one connection id and/or HTTP method."""
        return [
            c
            for c in self.calls
            if (connection_id is None or c.connection_id == connection_id)
            and (method is None or c.method == method)
        ]

    @property
    def max_in_flight(self) -> int:
        """The most calls the server was handling at the same moment."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded calls, scripts and the in-flight high-water mark."""
        with self._lock:
            self._calls.clear()
            self._scripts.clear()
            self._max_in_flight = self._in_flight


def make_gateway(api: FakeManagementApi, api_id: str, **fields: Any) -> Any:
    """Create an ``ApiGateway`` row whose management endpoint is ``api``/<api_id>/<stage>."""
    from wsapp.models import ApiGateway

    fields.setdefault("api_name", f"gateway-{api_id}-{api.port}")
    fields.setdefault("target_base_endpoint", "https://backend.example.com/ws/")
    fields.setdefault("stage_name", "production")
    return ApiGateway.objects.create(
        api_id=f"{api_id}-{api.port}", api_endpoint=api.api_endpoint(api_id), **fields
    )


@pytest.fixture
def fake_management_api() -> Iterator[FakeManagementApi]:
    """A running fake management API; ``.base_url`` is its address."""
    api = FakeManagementApi().start()
    yield api
    api.stop()


@pytest.fixture
def fake_management_api_factory() -> Iterator[Any]:
    """Make more fake management APIs (each on its own port); all stop after the test."""
    started: list[FakeManagementApi] = []

    def make(**kwargs: Any) -> FakeManagementApi:
        api = FakeManagementApi(**kwargs).start()
        started.append(api)
        return api

    yield make
    for api in started:
        api.stop()
