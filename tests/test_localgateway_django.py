"""Forwarded requests as a real Django view sees them (pytest-django's live_server)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import localgateway_urls
from tests.helpers.localgateway import (  # noqa: F401  (fixtures)
    apigw_client,
    deploy_api,
    local_gateway,
    make_local_gateway,
    ws_connect,
)

MAPPINGS = {
    "integration.request.header.connectionId": "context.connectionId",
    "integration.request.header.X-Gateway-Secret": "'s3cr3t'",
    "integration.request.header.X-Route-Key": "context.routeKey",
    "integration.request.querystring.source": "context.identity.sourceIp",
}


@pytest.fixture
def echo_backend(live_server, settings):
    """The echo view behind live_server; returns the base URL of its integrations."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "127.0.0.1"]
    localgateway_urls.SEEN.clear()
    localgateway_urls.DISCONNECTED.clear()
    return f"{live_server.url}/lg-echo/"


@pytest.mark.urls("tests.helpers.localgateway_urls")
def test_django_view_sees_connect_message_and_disconnect(
    echo_backend, apigw_client, local_gateway
):
    api = deploy_api(apigw_client, local_gateway, echo_backend, request_parameters=MAPPINGS)

    async def scenario() -> dict:
        async with asyncio.timeout(10):
            async with ws_connect(
                f"{api.url}?ws_token=t0k&channel=support",
                additional_headers={"Cookie": "sessionid=abc", "Origin": "http://localhost"},
            ) as ws:
                await ws.send(json.dumps({"action": "hello"}))
                return json.loads(await ws.recv())

    message = asyncio.run(scenario())
    assert localgateway_urls.DISCONNECTED.wait(5)
    connect, disconnect = localgateway_urls.SEEN[0], localgateway_urls.SEEN[-1]

    assert connect["event"] == "connect"
    assert connect["cookies"] == {"sessionid": "abc"}
    assert connect["get"] == {"ws_token": "t0k", "channel": "support", "source": "127.0.0.1"}
    assert connect["meta"]["HTTP_ORIGIN"] == "http://localhost"
    assert connect["meta"]["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"

    assert message["event"] == "default"
    assert message["method"] == "POST"
    assert message["body"] == '{"action": "hello"}'
    assert message["meta"]["HTTP_CONNECTIONID"] == connect["meta"]["HTTP_CONNECTIONID"]
    assert message["meta"]["HTTP_X_GATEWAY_SECRET"] == "s3cr3t"
    assert message["meta"]["HTTP_X_ROUTE_KEY"] == "$default"
    assert message["meta"]["HTTP_USER_AGENT"] == f"AmazonAPIGateway_{api.api_id}"
    assert message["meta"]["HTTP_X_AMZN_APIGATEWAY_API_ID"] == api.api_id
    assert message["cookies"] == {}
    assert "HTTP_ORIGIN" not in message["meta"]
    assert message["get"] == {"source": "127.0.0.1"}

    assert disconnect["event"] == "disconnect"
    assert disconnect["meta"]["HTTP_CONNECTIONID"] == connect["meta"]["HTTP_CONNECTIONID"]
    assert disconnect["body"] == ""
