"""Build requests exactly as API Gateway sends them to an HTTP_PROXY integration."""

from __future__ import annotations

import base64
import itertools
import json
from urllib.parse import urlencode

from django.test import Client

from wsapp.models import ApiGateway

_ids = itertools.count(1)


def new_connection_id() -> str:
    """An id shaped like API Gateway's (12 URL-safe characters ending in '=')."""
    raw = next(_ids).to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode()[:11] + "="


class ApiGatewayCaller:
    """Sends $connect, $disconnect and messages for one gateway to a Django URL prefix.

    ``browser`` is the Django test client playing the user's browser: its cookies
    travel with $connect only, as they do through API Gateway.
    """

    def __init__(
        self,
        gateway: ApiGateway,
        *,
        prefix: str = "/ws/",
        browser: Client | None = None,
        origin: str = "https://testserver",
        source_ip: str = "203.0.113.7",
    ) -> None:
        self.gateway = gateway
        self.prefix = prefix
        self.browser = browser or Client()
        self.origin = origin
        self.source_ip = source_ip
        self.backend = Client()  # no cookies: messages carry none

    def base_headers(self, connection_id: str | None) -> dict[str, str]:
        headers = {
            "X-Amzn-Apigateway-Api-Id": self.gateway.api_id,
            "X-Gateway-Secret": self.gateway.integration_secret,
            "X-Forwarded-For": self.source_ip,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
            "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000",
        }
        if connection_id is not None:
            headers["connectionId"] = connection_id
        return headers

    def connect(
        self,
        connection_id: str | None = None,
        *,
        token: str | None = None,
        channel: str | None = None,
        headers: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
    ):
        connection_id = connection_id or new_connection_id()
        query = {}
        if token is not None:
            query["ws_token"] = token
        if channel is not None:
            query["channel"] = channel
        merged = {
            **self.base_headers(connection_id),
            "Origin": self.origin,
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            **(headers or {}),
        }
        for name in drop:
            merged.pop(name, None)
        path = self.prefix + "connect"
        if query:
            path += "?" + urlencode(query)
        response = self.browser.post(path, data=b"", content_type="", headers=merged)
        response.connection_id = connection_id
        return response

    def gateway_headers(self, connection_id: str | None) -> dict[str, str]:
        return {
            **self.base_headers(connection_id),
            "User-Agent": f"AmazonAPIGateway_{self.gateway.api_id}",
        }

    def send(
        self,
        connection_id: str,
        body: object,
        *,
        route: str = "default",
        headers: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
    ):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        merged = {**self.gateway_headers(connection_id), **(headers or {})}
        for name in drop:
            merged.pop(name, None)
        return self.backend.post(
            self.prefix + route, data=data, content_type="application/json", headers=merged
        )

    def disconnect(self, connection_id: str, *, headers: dict[str, str] | None = None):
        merged = {**self.gateway_headers(connection_id), **(headers or {})}
        return self.backend.post(
            self.prefix + "disconnect", data=b"", content_type="", headers=merged
        )
