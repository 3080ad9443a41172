"""Client sockets (``ws://HOST:PORT/<api_id>/<stage>``) and the @connections API."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from wsapp.localgateway import ids
from wsapp.localgateway.connections import Connection, ConnectionRegistry, State
from wsapp.localgateway.expressions import select_route_key
from wsapp.localgateway.faults import FaultInjector
from wsapp.localgateway.forwarding import CONNECT, DISCONNECT, MESSAGE, Forwarder
from wsapp.localgateway.frames import GatewayWebSocketResponse
from wsapp.localgateway.limits import Limits
from wsapp.localgateway.state import ControlPlane
from wsapp.localgateway.wire import (
    ApiError,
    error_response,
    iso_timestamp,
    json_response,
    read_body,
)

logger = logging.getLogger("wsapp.localgateway")

_CONNECTION_ID_RE = re.compile(r"^[A-Za-z0-9+/_=\-]{1,128}$")

#: Close codes and reasons the gateway uses when it ends a socket itself.
GOING_AWAY = 1001
CLOSED_BY_SERVER = 1000

_FAILURE_MESSAGES = {
    "timeout": "Endpoint request timed out",
    "unreachable": "Internal server error",
    "too_large": "Internal server error",
    "unsupported": "Internal server error",
}


def _http_error(status: int = 403, message: str = "Forbidden") -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode(),
        content_type="application/json",
    )


class DataPlane:
    """Holds client sockets, forwards their events and serves @connections."""

    def __init__(
        self,
        state: ControlPlane,
        limits: Limits,
        faults: FaultInjector,
        forwarder: Callable[[], Forwarder],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        self.state = state
        self.limits = limits
        self.faults = faults
        self._forwarder = forwarder
        self._spawn = spawn
        self.registry = ConnectionRegistry(limits.max_connections)
        self.accepting = True

    @property
    def forwarder(self) -> Forwarder:
        return self._forwarder()

    # ------------------------------------------------------------------ sockets

    async def handle_socket(
        self, request: web.Request, api_id: str, stage: str
    ) -> web.StreamResponse:
        """One client socket, from the held handshake to the forwarded $disconnect."""
        config = self.state.served(api_id, stage)
        if config is None or not self.accepting:
            # Unknown API or stage, or a stage with no deployment: AWS answers 403.
            return _http_error()
        if not web.WebSocketResponse().can_prepare(request).ok:
            return _http_error(426, "Upgrade Required: connect with a WebSocket client.")

        peer = request.remote or ""
        previous = request.headers.get("X-Forwarded-For")
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        connection = Connection(
            connection_id=ids.connection_id(),
            api_id=api_id,
            stage=stage,
            source_ip=peer,
            user_agent=request.headers.get("User-Agent", ""),
            forwarded_for=f"{previous}, {peer}" if previous else peer,
            scheme=request.scheme,
            port=sockname[1] if sockname else 0,
            domain_name=request.host,
            client_headers=request.headers,
            client_query=list(request.query.items()),
            send_queue_size=self.limits.send_queue_size,
            config=config,
        )
        while connection.connection_id in self.registry:
            connection.connection_id = ids.connection_id()
        if not self.registry.add(connection):
            return _http_error(429, "Too Many Requests")

        try:
            ws = await self._handshake(request, connection, config)
        except ConnectionError:
            # The client left while $connect was held. If the backend had accepted
            # it, it must still hear that the socket is gone.
            self.registry.remove(connection)
            if connection.connect_accepted:
                connection.close_code = 1006
                self._spawn(self._forward_disconnect(connection))
            raise
        except BaseException:
            self.registry.remove(connection)
            raise
        if not isinstance(ws, GatewayWebSocketResponse):
            self.registry.remove(connection)
            return ws

        connection.open(ws)
        logger.info("connected %s to %s/%s from %s", connection.connection_id, api_id, stage, peer)
        try:
            await self._read_loop(connection, ws)
        finally:
            await connection.finish(self.limits.close_timeout)
            self.registry.remove(connection)
            if connection.close_code is None:
                connection.close_code = ws.close_code or 1006
            logger.info(
                "disconnected %s (%s %s)",
                connection.connection_id,
                connection.close_code,
                connection.close_reason,
            )
            # Forwarded in the background so that a slow backend never holds the
            # socket's handler; the gateway waits for these tasks when it stops.
            self._spawn(self._forward_disconnect(connection))
        return ws

    async def _handshake(
        self, request: web.Request, connection: Connection, config: dict[str, Any]
    ) -> web.StreamResponse:
        protocols: tuple[str, ...] = ()
        route = config["Routes"].get("$connect")
        if route is not None:
            result = await self.forwarder.forward(
                connection,
                event_type=CONNECT,
                route_key="$connect",
                integration=route["Integration"],
            )
            if result.error is not None:
                return _http_error(500, "Internal server error")
            if not result.ok:
                assert result.status is not None
                return web.Response(status=result.status)
            chosen = result.headers.get("Sec-WebSocket-Protocol")
            if chosen:
                # API Gateway answers the subprotocol only when the backend picked one.
                protocols = (chosen.split(",")[0].strip(),)
        connection.connect_accepted = True
        ws = GatewayWebSocketResponse(
            max_frame_bytes=self.limits.max_frame_bytes,
            # aiohttp rejects a message whose size reaches max_msg_size, so +1
            # lets a message of exactly the limit through.
            max_msg_size=self.limits.max_message_bytes + 1,
            compress=False,
            protocols=protocols,
            timeout=self.limits.close_timeout,
        )
        await ws.prepare(request)
        return ws

    async def _read_loop(self, connection: Connection, ws: web.WebSocketResponse) -> None:
        inflight = asyncio.Semaphore(self.limits.max_inflight_messages)
        while True:
            left, why = connection.seconds_left(
                self.limits.idle_timeout, self.limits.max_connection_duration
            )
            if left <= 0:
                logger.info("closing %s: %s", connection.connection_id, why)
                connection.request_close(GOING_AWAY, "Going away")
                return
            try:
                message = await ws.receive(timeout=left)
            except TimeoutError:
                continue
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                connection.touch()
                await inflight.acquire()
                task = asyncio.create_task(self._on_message(connection, message.data))
                connection.tasks.add(task)
                task.add_done_callback(connection.tasks.discard)
                task.add_done_callback(lambda _task: inflight.release())
                continue
            if message.type is WSMsgType.CLOSE:
                connection.close_code = message.data
                connection.close_reason = message.extra or ""
            elif message.type is WSMsgType.ERROR:
                # The code aiohttp closed with (1009 for a too-big frame or message);
                # ws.close_code may already say 1006 if the client hung up first.
                connection.close_code = getattr(message.data, "code", None) or ws.close_code
                connection.close_reason = str(message.data)
            return

    async def _on_message(self, connection: Connection, data: str | bytes) -> None:
        body = data.encode() if isinstance(data, str) else data
        config = self.state.served(connection.api_id, connection.stage)
        if config is None:
            connection.request_close(GOING_AWAY, "Going away")
            return
        route_key = select_route_key(config["RouteSelectionExpression"], body)
        routes = config["Routes"]
        route = None
        if route_key is not None and route_key not in ("$connect", "$disconnect"):
            route = routes.get(route_key)
        if route is None:
            route_key, route = "$default", routes.get("$default")
        request_id = ids.request_id()
        if route is None:
            self._send_error(connection, "Forbidden", request_id)
            return
        result = await self.forwarder.forward(
            connection,
            event_type=MESSAGE,
            route_key=route_key,
            integration=route["Integration"],
            body=body,
            request_id=request_id,
            message_id=ids.request_id(),
        )
        if result.error is not None:
            self._send_error(connection, _FAILURE_MESSAGES[result.error], request_id)
            return
        if "$default" in route["RouteResponseKeys"] and result.body:
            # Two-way route: the integration's answer goes back to the client.
            try:
                reply: str | bytes = result.body.decode()
            except UnicodeDecodeError:
                reply = result.body
            if not connection.send(reply):
                logger.warning(
                    "route response for %s dropped: queue full", connection.connection_id
                )

    def _send_error(self, connection: Connection, message: str, request_id: str) -> None:
        frame = json.dumps(
            {
                "message": message,
                "connectionId": connection.connection_id,
                "requestId": request_id,
            }
        )
        connection.send(frame)

    async def _forward_disconnect(self, connection: Connection) -> None:
        # The stage's current deployment; if the API or stage was just deleted
        # (which is what closed the socket), the one the socket was opened under.
        config = self.state.served(connection.api_id, connection.stage) or connection.config
        route = config["Routes"].get("$disconnect") if config else None
        if route is None:
            return
        await self.forwarder.forward(
            connection,
            event_type=DISCONNECT,
            route_key="$disconnect",
            integration=route["Integration"],
        )

    def close_matching(self, api_id: str, stage: str | None) -> None:
        """Close every socket of an API (or one stage of it) that is going away."""
        for connection in self.registry.matching(api_id, stage):
            connection.request_close(GOING_AWAY, "Going away")

    def close_all(self) -> None:
        for connection in self.registry.all():
            connection.request_close(GOING_AWAY, "Going away")

    def describe(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.registry.all()]

    # ------------------------------------------------------------------ @connections

    async def handle_management(
        self, request: web.Request, api_id: str, stage: str, raw_connection_id: str
    ) -> web.StreamResponse:
        """``POST``/``GET``/``DELETE`` ``/<api>/<stage>/@connections/<id>``."""
        try:
            return await self._management(request, api_id, stage, raw_connection_id)
        except ApiError as error:
            logger.debug("@connections %s %s -> %s", request.method, raw_connection_id, error.code)
            return error_response(error)

    async def _management(
        self, request: web.Request, api_id: str, stage: str, raw_connection_id: str
    ) -> web.StreamResponse:
        if "Authorization" not in request.headers and "X-Amz-Signature" not in request.query:
            # boto3 always signs; an unsigned call is someone's curl without credentials.
            raise ApiError("ForbiddenException", "Missing Authentication Token")
        if request.method not in ("POST", "GET", "DELETE"):
            raise ApiError("ForbiddenException", "Missing Authentication Token")
        delay, injected = self.faults.management_call()
        if delay:
            # Injected latency: sleeping is the fault being simulated.
            await asyncio.sleep(delay)
        if injected is not None:
            raise injected
        record = self.state.apis.get(api_id)
        if record is None or stage not in record["stages"]:
            raise ApiError("ForbiddenException", "Forbidden")
        connection_id = unquote(raw_connection_id)
        if not _CONNECTION_ID_RE.fullmatch(connection_id):
            raise ApiError("BadRequestException", f"Invalid connectionId: {connection_id}")
        connection = self.registry.get(connection_id)
        if (
            connection is None
            or connection.api_id != api_id
            or connection.stage != stage
            or connection.state is not State.OPEN
        ):
            raise ApiError("GoneException", f"No connection {connection_id} on {api_id}/{stage}")

        if request.method == "GET":
            return json_response(
                200,
                {
                    "connectedAt": iso_timestamp(connection.connected_at),
                    "lastActiveAt": iso_timestamp(connection.last_active),
                    "identity": {
                        "sourceIp": connection.source_ip,
                        "userAgent": connection.user_agent,
                    },
                },
            )
        if request.method == "DELETE":
            connection.request_close(CLOSED_BY_SERVER, "")
            return json_response(204, None)

        body = await read_body(request, self.limits.max_message_bytes)
        if body is None:
            raise ApiError(
                "PayloadTooLargeException",
                f"Message too long: the limit is {self.limits.max_message_bytes} bytes.",
            )
        try:
            data: str | bytes = body.decode()
        except UnicodeDecodeError:
            data = body
        if not connection.send(data):
            raise ApiError(
                "LimitExceededException",
                f"The send buffer of connection {connection_id} is full.",
            )
        return json_response(200, None)
