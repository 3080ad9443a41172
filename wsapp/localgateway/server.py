"""``LocalGateway``: the control plane, data plane and management API on one port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import aiohttp
from aiohttp import web

from wsapp.localgateway.control import ControlPlaneHandler
from wsapp.localgateway.dataplane import DataPlane
from wsapp.localgateway.faults import CallLog, FaultInjector, Faults, FaultsError
from wsapp.localgateway.forwarding import Forwarder
from wsapp.localgateway.limits import Limits
from wsapp.localgateway.state import ControlPlane

logger = logging.getLogger("wsapp.localgateway")

_SOCKET_PATH_RE = re.compile(r"^/([a-z0-9]{1,64})/([^/]+)/?$")
_MANAGEMENT_PATH_RE = re.compile(r"^/([a-z0-9]{1,64})/([^/]+)/@connections/([^/]+)$")


class LocalGateway:
    """A local stand-in for one region's API Gateway WebSocket service.

    One port serves the ``apigatewayv2`` control plane under ``/v2/``, client
    sockets at ``/<api_id>/<stage>``, the management API at
    ``/<api_id>/<stage>/@connections/<id>`` and private helpers under ``/_local/``.
    Use ``async with LocalGateway(...)`` (or ``start()``/``stop()``) inside an
    event loop, or ``run_in_thread()`` from synchronous code.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8001,
        *,
        state_file: str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        region: str = "us-east-1",
        advertised_host: str | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"The port must be between 0 (any free port) and 65535, not {port}.")
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self.region = region
        if advertised_host is None:
            advertised_host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104
        self.advertised_host = advertised_host
        self.calls = CallLog(self.limits.call_log_size)
        self.faults = FaultInjector()
        self.state = ControlPlane(
            region=region, state_file=state_file, endpoint_for=self._api_endpoint
        )
        self.state.on_removed = self._on_removed
        self.dataplane = DataPlane(
            self.state, self.limits, self.faults, self._get_forwarder, self._spawn
        )
        self.control = ControlPlaneHandler(
            self.state, self.faults, self.calls, self.limits.max_control_body_bytes
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._forwarder: Forwarder | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ addresses

    @property
    def _host_in_url(self) -> str:
        host = self.advertised_host
        return f"[{host}]" if ":" in host else host

    @property
    def url(self) -> str:
        """Base URL of the control plane: pass it as boto3's ``endpoint_url``."""
        return f"http://{self._host_in_url}:{self.port}"

    def _api_endpoint(self, api_id: str) -> str:
        return f"ws://{self._host_in_url}:{self.port}/{api_id}"

    def websocket_url(self, api_id: str, stage: str) -> str:
        """Where clients connect: ``ws://HOST:PORT/<api_id>/<stage>``."""
        return f"{self._api_endpoint(api_id)}/{stage}"

    def management_url(self, api_id: str, stage: str) -> str:
        """``endpoint_url`` for boto3's ``apigatewaymanagementapi`` client."""
        return f"{self.url}/{api_id}/{stage}"

    # ------------------------------------------------------------------ lifecycle

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=max(self.limits.max_control_body_bytes, self.limits.max_message_bytes)
            + 1024
        )
        app.router.add_route("*", "/_local/{name}", self._handle_local)
        app.router.add_route("*", "/v2/{tail:.*}", self.control.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle_api_path)
        return app

    async def start(self) -> None:
        """Bind the port and start serving (``port=0`` picks a free one)."""
        self.loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100), auto_decompress=False
        )
        self._forwarder = Forwarder(self._session, self.limits)
        self._runner = web.AppRunner(
            self._build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.limits.close_timeout,
        )
        await self._runner.setup()
        try:
            if self.port == 0:
                for sock in await self._bind_free_port():
                    await web.SockSite(self._runner, sock).start()
            else:
                await web.TCPSite(self._runner, self.host, self.port).start()
        except (OSError, OverflowError):
            # OverflowError is what the socket layer raises for a port past 65535.
            await self._runner.cleanup()
            await self._session.close()
            raise
        self.port = self._runner.addresses[0][1]
        self.dataplane.accepting = True
        logger.info("local API Gateway listening on %s", self.url)

    async def _bind_free_port(self) -> list[socket.socket]:
        # A name such as "localhost" can resolve to both 127.0.0.1 and ::1; binding
        # each to port 0 would give them different ports, so the first address
        # picks the port and the others reuse it (or are skipped if they cannot).
        assert self.loop is not None
        infos = await self.loop.getaddrinfo(
            self.host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        sockets: list[socket.socket] = []
        seen: set[tuple[int, str]] = set()
        port = 0
        for family, kind, proto, _, address in infos:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address[0], port, *address[2:]))
            except OSError as exc:
                sock.close()
                logger.debug("not listening on %s: %s", address[0], exc)
                continue
            port = sock.getsockname()[1]
            sockets.append(sock)
        if not sockets:
            raise OSError(f"Cannot bind a free port on {self.host!r}.")
        return sockets

    async def stop(self) -> None:
        """Close every socket (forwarding $disconnect), then stop serving."""
        if self._runner is None:
            return
        self.dataplane.accepting = False
        self.dataplane.close_all()
        deadline = self.limits.close_timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                # Each socket's handler removes its connection once it has closed.
                await self.dataplane.registry.emptied.wait()
        await self._runner.cleanup()
        self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=deadline)
            for task in pending:
                task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
        logger.info("local API Gateway stopped")

    async def __aenter__(self) -> LocalGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _get_forwarder(self) -> Forwarder:
        if self._forwarder is None:
            raise RuntimeError("The local gateway is not started.")
        return self._forwarder

    def _on_removed(self, api_id: str, stage: str | None) -> None:
        self.dataplane.close_matching(api_id, stage)

    # ------------------------------------------------------------------ inspection

    def connections(self) -> list[dict[str, Any]]:
        """Live connections (safe to call from any thread)."""
        return self.dataplane.describe()

    def set_faults(self, faults: Faults | dict[str, Any]) -> None:
        """Replace the injected faults (a ``Faults`` or its JSON form); restarts the count."""
        if isinstance(faults, dict):
            faults = Faults.from_json(faults)
        self.faults.set(faults)

    # ------------------------------------------------------------------ HTTP

    async def _handle_api_path(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        management = _MANAGEMENT_PATH_RE.fullmatch(raw_path)
        if management is not None:
            api_id, stage, connection_id = management.groups()
            return await self.dataplane.handle_management(request, api_id, stage, connection_id)
        socket = _SOCKET_PATH_RE.fullmatch(raw_path)
        if socket is not None and request.method == "GET":
            return await self.dataplane.handle_socket(request, *socket.groups())
        # AWS answers unknown paths on an API endpoint with 403.
        return web.json_response({"message": "Forbidden"}, status=403)

    async def _handle_local(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        method = request.method
        if name == "calls" and method == "GET":
            return web.json_response({"calls": self.calls.entries()})
        if name == "calls" and method == "DELETE":
            self.calls.clear()
            return web.Response(status=204)
        if name == "connections" and method == "GET":
            return web.json_response({"connections": self.connections()})
        if name == "state" and method == "GET":
            return web.json_response(self.state.to_json())
        if name == "faults" and method == "GET":
            return web.json_response(self.faults.to_json())
        if name == "faults" and method == "DELETE":
            self.faults.reset()
            return web.json_response(self.faults.to_json())
        if name == "faults" and method == "POST":
            try:
                document = json.loads(await request.read() or b"{}")
                self.set_faults(Faults.from_json(document))
            except ValueError as exc:  # FaultsError and bad JSON alike
                message = str(exc) if isinstance(exc, FaultsError) else f"Invalid JSON: {exc}"
                return web.json_response({"message": message}, status=400)
            except RecursionError:  # json's answer to very deep nesting, not a ValueError
                return web.json_response(
                    {"message": "Invalid JSON: nested too deeply."}, status=400
                )
            return web.json_response(self.faults.to_json())
        return web.json_response(
            {
                "message": f"No private endpoint {method} /_local/{name}. Available: "
                "GET/DELETE /_local/calls, GET /_local/connections, GET /_local/state, "
                "GET/POST/DELETE /_local/faults."
            },
            status=404,
        )


class GatewayThread:
    """A ``LocalGateway`` running in a background thread with its own event loop."""

    def __init__(self, gateway: LocalGateway, startup_timeout: float = 10.0) -> None:
        self.gateway = gateway
        self.startup_timeout = startup_timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="local-gateway", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.gateway.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.gateway.stop()

    def start(self) -> LocalGateway:
        """Start the thread; returns once the port is bound (or raises what went wrong)."""
        self._thread.start()
        if not self._ready.wait(self.startup_timeout):
            raise RuntimeError("The local gateway did not start in time.")
        if self._error is not None:
            raise self._error
        return self.gateway

    def stop(self) -> None:
        """Stop the gateway and wait for the thread to end."""
        loop, stop = self.gateway.loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(self.gateway.limits.close_timeout * 3 + 5)


@contextlib.contextmanager
def run_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state_file: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
    region: str = "us-east-1",
) -> Iterator[LocalGateway]:
    """Run a ``LocalGateway`` in a background thread for the ``with`` block.

    ``port=0`` picks a free port; read it back from ``gateway.port`` or use
    ``gateway.url``.
    """
    runner = GatewayThread(
        LocalGateway(host, port, state_file=state_file, limits=limits, region=region)
    )
    gateway = runner.start()
    try:
        yield gateway
    finally:
        runner.stop()


async def serve(
    gateway: LocalGateway,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = False,
    on_started: Callable[[LocalGateway], None] | None = None,
) -> None:
    """Run ``gateway`` until ``stop`` is set (or SIGINT/SIGTERM with ``handle_signals``)."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    await gateway.start()
    try:
        if on_started is not None:
            on_started(gateway)
        await stop.wait()
    finally:
        await gateway.stop()
