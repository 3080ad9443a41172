"""Live client connections and their outgoing queues."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from wsapp.localgateway.wire import iso_timestamp

logger = logging.getLogger("wsapp.localgateway")


class State(enum.Enum):
    #: $connect is being forwarded: @connections answers 410, as on AWS.
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(eq=False)
class Connection:
    """One client socket as the gateway holds it."""

    connection_id: str
    api_id: str
    stage: str
    source_ip: str
    user_agent: str
    #: X-Forwarded-For as sent to integrations: the client's own chain plus its address.
    forwarded_for: str
    scheme: str
    port: int
    #: Host the client connected to (context.domainName).
    domain_name: str
    client_headers: Mapping[str, str]
    client_query: list[tuple[str, str]]
    send_queue_size: int
    #: The deployed configuration the socket was opened under.
    config: dict[str, Any] | None = None
    connected_at: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.time)
    state: State = State.CONNECTING
    #: The $connect integration answered 2xx (so $disconnect is owed later).
    connect_accepted: bool = False
    ws: web.WebSocketResponse | None = None
    close_code: int | None = None
    close_reason: str = ""
    outbox: asyncio.Queue[str | bytes] = field(init=False)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _writer: asyncio.Task[None] | None = None
    _closer: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.outbox = asyncio.Queue(maxsize=self.send_queue_size)
        self._monotonic_connected = time.monotonic()
        self._monotonic_active = self._monotonic_connected

    def touch(self) -> None:
        """Record activity (resets the idle timeout)."""
        self.last_active = time.time()
        self._monotonic_active = time.monotonic()

    def seconds_left(self, idle_timeout: float, max_duration: float) -> tuple[float, str]:
        """Seconds until the idle or duration limit closes the socket, and which one."""
        now = time.monotonic()
        idle = self._monotonic_active + idle_timeout - now
        duration = self._monotonic_connected + max_duration - now
        if duration <= idle:
            return duration, "max connection duration"
        return idle, "idle timeout"

    def open(self, ws: web.WebSocketResponse) -> None:
        """The handshake completed: start delivering queued messages."""
        self.ws = ws
        self.state = State.OPEN
        self._writer = asyncio.create_task(self._write_loop())

    def send(self, data: str | bytes) -> bool:
        """Queue a message for the client; False when the queue is full."""
        if self.state is not State.OPEN:
            return False
        try:
            self.outbox.put_nowait(data)
        except asyncio.QueueFull:
            return False
        self.touch()
        return True

    async def _write_loop(self) -> None:
        assert self.ws is not None
        while True:
            data = await self.outbox.get()
            try:
                if isinstance(data, str):
                    await self.ws.send_str(data)
                else:
                    await self.ws.send_bytes(data)
            except Exception as exc:  # the socket went away mid-send
                logger.debug("send to %s failed: %s", self.connection_id, exc)
                return

    def request_close(self, code: int, reason: str) -> None:
        """Close the socket from the gateway side (does not wait)."""
        if self.state is State.CONNECTING or self.ws is None:
            return
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSING
        self.close_code = code
        self.close_reason = reason
        self._closer = asyncio.create_task(self.ws.close(code=code, message=reason.encode()))

    async def finish(self, timeout: float) -> None:
        """After the read loop ends: wait for a pending close, stop the writer."""
        self.state = State.CLOSED
        if self._closer is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._closer
            except (TimeoutError, Exception) as exc:
                logger.debug("closing %s: %s", self.connection_id, exc)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    def describe(self) -> dict[str, Any]:
        """What ``GET /_local/connections`` shows."""
        return {
            "api_id": self.api_id,
            "stage": self.stage,
            "connection_id": self.connection_id,
            "state": self.state.value,
            "connected_at": iso_timestamp(self.connected_at),
            "last_active": iso_timestamp(self.last_active),
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "queued_messages": self.outbox.qsize(),
        }


class ConnectionRegistry:
    """Connections by id; the lock lets other threads (tests, the console) list them."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()
        #: Set whenever no connection is left (add and remove run on the gateway's loop).
        self.emptied = asyncio.Event()
        self.emptied.set()

    def add(self, connection: Connection) -> bool:
        with self._lock:
            if len(self._connections) >= self.max_connections:
                return False
            self._connections[connection.connection_id] = connection
            self.emptied.clear()
            return True

    def remove(self, connection: Connection) -> None:
        with self._lock:
            if self._connections.get(connection.connection_id) is connection:
                del self._connections[connection.connection_id]
            if not self._connections:
                self.emptied.set()

    def get(self, connection_id: str) -> Connection | None:
        with self._lock:
            return self._connections.get(connection_id)

    def __contains__(self, connection_id: object) -> bool:
        with self._lock:
            return connection_id in self._connections

    def all(self) -> list[Connection]:
        with self._lock:
            return list(self._connections.values())

    def matching(self, api_id: str, stage: str | None = None) -> list[Connection]:
        return [
            c for c in self.all() if c.api_id == api_id and (stage is None or c.stage == stage)
        ]
