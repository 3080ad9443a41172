"""Forwarding events to HTTP integrations, the way API Gateway does."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from wsapp.localgateway import ids
from wsapp.localgateway.connections import Connection
from wsapp.localgateway.expressions import resolve_parameters
from wsapp.localgateway.limits import Limits
from wsapp.localgateway.wire import ApiError, read_limited

logger = logging.getLogger("wsapp.localgateway")

CONNECT = "CONNECT"
MESSAGE = "MESSAGE"
DISCONNECT = "DISCONNECT"


@dataclass(frozen=True)
class HeaderPolicy:
    """Which headers an integration request carries (see the facts file)."""

    #: Client handshake headers passed through on $connect only.
    client_on_connect: tuple[str, ...]
    #: Headers the gateway sets on every request (Host and Content-Length come from
    #: the HTTP client itself; the others are set in ``Forwarder.headers``).
    gateway: tuple[str, ...]
    #: User-Agent on messages and $disconnect, where no client header is passed.
    user_agent: str


#: The one list of forwarded header names. The facts file calls the exact set
#: unverified: change it here, and only here, when AWS is seen to differ.
FORWARDED_HEADERS = HeaderPolicy(
    client_on_connect=(
        "Cookie",
        "Origin",
        "User-Agent",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Version",
    ),
    gateway=(
        "Host",
        "Content-Length",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Port",
        "X-Amzn-Trace-Id",
        "X-Amzn-Apigateway-Api-Id",
    ),
    user_agent="AmazonAPIGateway_{api_id}",
)

#: What the control plane lets an integration use (it stores the method upper-cased).
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})

# aiohttp adds these by itself; API Gateway sends none of them.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass
class ForwardResult:
    """What an integration answered, or why it could not."""

    status: int | None = None
    body: bytes = b""
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    #: None, "timeout", "unreachable", "too_large" or "unsupported".
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


class Forwarder:
    """Sends one event to one integration."""

    def __init__(self, session: aiohttp.ClientSession, limits: Limits) -> None:
        self.session = session
        self.limits = limits

    def context(
        self,
        connection: Connection,
        event_type: str,
        route_key: str,
        request_id: str,
        message_id: str | None,
    ) -> dict[str, str]:
        """The ``context.*`` variables of one event, as strings."""
        now = time.time()
        context = {
            "apiId": connection.api_id,
            "connectedAt": str(int(connection.connected_at * 1000)),
            "connectionId": connection.connection_id,
            "domainName": connection.domain_name,
            "domainPrefix": connection.api_id,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "identity.sourceIp": connection.source_ip,
            "identity.userAgent": connection.user_agent,
            "messageDirection": "IN",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": str(int(now * 1000)),
            "routeKey": route_key,
            "stage": connection.stage,
        }
        if message_id is not None:
            context["messageId"] = message_id
        if event_type == DISCONNECT:
            context["disconnectStatusCode"] = str(connection.close_code or 1005)
            context["disconnectReason"] = connection.close_reason
        return context

    def headers(
        self, connection: Connection, event_type: str, mapped: list[tuple[str, str]]
    ) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        if event_type == CONNECT:
            for name in FORWARDED_HEADERS.client_on_connect:
                value = connection.client_headers.get(name)
                if value is not None:
                    headers[name] = value
        else:
            headers["User-Agent"] = FORWARDED_HEADERS.user_agent.format(api_id=connection.api_id)
        headers["X-Forwarded-For"] = connection.forwarded_for
        headers["X-Forwarded-Proto"] = connection.scheme
        headers["X-Forwarded-Port"] = str(connection.port)
        headers["X-Amzn-Trace-Id"] = ids.trace_id()
        headers["X-Amzn-Apigateway-Api-Id"] = connection.api_id
        for name, value in mapped:
            headers[name] = value
        return headers

    async def forward(
        self,
        connection: Connection,
        *,
        event_type: str,
        route_key: str,
        integration: dict[str, Any] | None,
        body: bytes = b"",
        request_id: str | None = None,
        message_id: str | None = None,
    ) -> ForwardResult:
        """Call the integration for one event; never raises for backend failures."""
        request_id = request_id or ids.request_id()
        if integration is None:
            # A route without a target: nothing to call, the event is accepted.
            return ForwardResult(status=200)
        kind = integration.get("IntegrationType")
        if kind == "MOCK":
            return ForwardResult(status=200)
        if kind not in ("HTTP", "HTTP_PROXY"):
            logger.warning(
                "%s on %s/%s: integration type %s is not emulated; answering an error.",
                route_key,
                connection.api_id,
                connection.stage,
                kind,
            )
            return ForwardResult(error="unsupported")

        context = self.context(connection, event_type, route_key, request_id, message_id)
        client_headers = connection.client_headers if event_type == CONNECT else {}
        client_query = dict(connection.client_query) if event_type == CONNECT else {}
        try:
            mapped_headers, mapped_query = resolve_parameters(
                integration.get("RequestParameters") or {}, context, client_headers, client_query
            )
            url = URL(integration["IntegrationUri"])
            query = list(url.query.items())
            if event_type == CONNECT:
                query.extend(connection.client_query)
            query.extend(mapped_query)
            if query:
                url = url.with_query(query)
            timeout = min(
                integration.get("TimeoutInMillis", 29000) / 1000, self.limits.integration_timeout
            )
            method = integration.get("IntegrationMethod", "POST")
            if method not in _METHODS:
                raise ValueError(f"IntegrationMethod {method!r} is not an HTTP method")
        except (ApiError, AttributeError, KeyError, TypeError, ValueError) as exc:
            # The control plane refuses such integrations, but a hand-edited or older
            # state file can still hold one: fail this event like an unreachable backend
            # rather than crash the handshake or the message task.
            logger.error(
                "%s on %s/%s: the deployed integration to %r is invalid (%s: %s); answering "
                "an error. Fix it with update_integration and deploy again.",
                route_key,
                connection.api_id,
                connection.stage,
                integration.get("IntegrationUri"),
                type(exc).__name__,
                exc,
            )
            return ForwardResult(error="unreachable")
        headers = self.headers(connection, event_type, mapped_headers)
        started = time.monotonic()
        result = ForwardResult()
        try:
            async with self.session.request(
                "POST" if method == "ANY" else method,
                url,
                data=body,
                headers=headers,
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                result.status = response.status
                result.headers = CIMultiDict(response.headers)
                data = await read_limited(
                    response.content_length, response.content, self.limits.max_message_bytes
                )
                if data is None:
                    result.error = "too_large"
                else:
                    result.body = data
        except TimeoutError:
            result.error = "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            result.error = "unreachable"
            logger.warning("%s: cannot reach %s: %s", route_key, url, exc)
        elapsed = (time.monotonic() - started) * 1000
        logger.info(
            "%s %s/%s %s -> %s %s (%.0f ms)",
            route_key,
            connection.api_id,
            connection.stage,
            connection.connection_id,
            f"{method} {url}",
            result.error or result.status,
            elapsed,
        )
        return result
