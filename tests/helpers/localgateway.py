"""Fixtures and helpers for tests that use the local API Gateway.

Import what you need explicitly, e.g.::

    from tests.helpers.localgateway import apigw_client, local_gateway  # noqa: F401
"""

from __future__ import annotations

import asyncio
import functools
import json
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botocore.config import Config

from wsapp.localgateway import Limits, LocalGateway, run_in_thread

#: Limits for tests: AWS's sizes, but nothing that waits for minutes.
TEST_LIMITS = Limits(integration_timeout=5.0, close_timeout=2.0)

#: Bound on every wait in an async test body.
ASYNC_TEST_TIMEOUT = 20.0


def boto3_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for a local endpoint: dummy credentials, one attempt, short timeouts."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            connect_timeout=2,
            read_timeout=10,
            retries={"total_max_attempts": 1},
        ),
    )


@pytest.fixture
def make_local_gateway() -> Iterator[Callable[..., LocalGateway]]:
    """Factory: start a gateway in a thread with any ``run_in_thread`` arguments."""
    stack: list[Any] = []

    def start(**kwargs: Any) -> LocalGateway:
        kwargs.setdefault("limits", TEST_LIMITS)
        context = run_in_thread(**kwargs)
        gateway = context.__enter__()
        stack.append(context)
        return gateway

    yield start
    while stack:
        stack.pop().__exit__(None, None, None)


@pytest.fixture
def local_gateway(make_local_gateway: Callable[..., LocalGateway]) -> LocalGateway:
    """A running local gateway on a free port, with the test limits."""
    return make_local_gateway()


@pytest.fixture
def apigw_client(local_gateway: LocalGateway) -> Any:
    """boto3 ``apigatewayv2`` client pointed at ``local_gateway``."""
    return boto3_client("apigatewayv2", local_gateway.url)


def management_client(gateway: LocalGateway, api_id: str, stage: str) -> Any:
    """boto3 ``apigatewaymanagementapi`` client for one stage of ``gateway``."""
    return boto3_client("apigatewaymanagementapi", gateway.management_url(api_id, stage))


def local_endpoint(gateway: LocalGateway, method: str, name: str, body: Any = None) -> Any:
    """Call a private ``/_local/<name>`` endpoint and return its JSON (None for 204)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{gateway.url}/_local/{name}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


@dataclass
class DeployedApi:
    """What ``deploy_api`` made."""

    api_id: str
    stage: str
    url: str
    integrations: dict[str, str] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)


def deploy_api(
    client: Any,
    gateway: LocalGateway,
    backend_url: str,
    *,
    routes: tuple[str, ...] = ("$connect", "$disconnect", "$default"),
    two_way: tuple[str, ...] = ("$default",),
    request_parameters: dict[str, str] | None = None,
    selection_expression: str = "$request.body.action",
    stage: str = "test",
    timeout_ms: int = 29000,
) -> DeployedApi:
    """Provision and deploy an API whose route ``K`` posts to ``<backend_url>/<K without $>``."""
    api = client.create_api(
        Name="test-api", ProtocolType="WEBSOCKET", RouteSelectionExpression=selection_expression
    )
    api_id = api["ApiId"]
    deployed = DeployedApi(api_id=api_id, stage=stage, url=gateway.websocket_url(api_id, stage))
    parameters = (
        {"integration.request.header.connectionId": "context.connectionId"}
        if request_parameters is None
        else request_parameters
    )
    for key in routes:
        integration = client.create_integration(
            ApiId=api_id,
            IntegrationType="HTTP_PROXY",
            IntegrationMethod="POST",
            IntegrationUri=f"{backend_url.rstrip('/')}/{key.lstrip('$')}",
            RequestParameters=parameters,
            TimeoutInMillis=timeout_ms,
        )
        route = client.create_route(
            ApiId=api_id, RouteKey=key, Target=f"integrations/{integration['IntegrationId']}"
        )
        if key in two_way:
            client.create_route_response(
                ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default"
            )
        deployed.integrations[key] = integration["IntegrationId"]
        deployed.routes[key] = route["RouteId"]
    client.create_stage(ApiId=api_id, StageName=stage)
    client.create_deployment(ApiId=api_id, StageName=stage)
    return deployed


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an ``async def`` test body in a fresh event loop, bounded in time."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(ASYNC_TEST_TIMEOUT):
                await test(*args, **kwargs)

        asyncio.run(bounded())

    return wrapper


@dataclass
class Seen:
    """One request the recording backend received."""

    path: str
    method: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes


Responder = Callable[[Seen], Awaitable[web.StreamResponse] | web.StreamResponse]


class RecordingBackend:
    """An aiohttp test server standing in for Django: records requests, answers on demand.

    By default every request gets ``200`` with the body ``reply:<request body>`` for
    messages and an empty body for connect/disconnect. Set ``responders[path]`` to
    answer differently. Await ``next_request(path)`` to wait for one.
    """

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.responders: dict[str, Responder] = {}
        self._queues: dict[str, asyncio.Queue[Seen]] = {}
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    def _queue(self, path: str) -> asyncio.Queue[Seen]:
        return self._queues.setdefault(path, asyncio.Queue())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            path=request.path,
            method=request.method,
            headers=dict(request.headers),
            query=dict(request.query),
            body=await request.read(),
        )
        self.requests.append(seen)
        self._queue(seen.path).put_nowait(seen)
        responder = self.responders.get(seen.path)
        if responder is not None:
            answer = responder(seen)
            if asyncio.iscoroutine(answer):
                answer = await answer
            return answer  # type: ignore[return-value]
        if seen.path in ("/connect", "/disconnect"):
            return web.Response(status=200)
        return web.Response(status=200, body=b"reply:" + seen.body)

    async def next_request(self, path: str, timeout: float = 5.0) -> Seen:
        """Wait for the next request to ``path`` (e.g. ``/default``)."""
        async with asyncio.timeout(timeout):
            return await self._queue(path).get()

    async def __aenter__(self) -> RecordingBackend:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.close()


def ws_connect(url: str, **kwargs: Any) -> Any:
    """``websockets`` client connect with bounded timeouts and no proxy lookup."""
    from websockets.asyncio.client import connect

    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    kwargs.setdefault("proxy", None)
    return connect(url, **kwargs)
