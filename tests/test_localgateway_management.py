"""The local gateway's @connections API, driven by boto3's apigatewaymanagementapi."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from aiohttp import web
from botocore.exceptions import ClientError

from tests.helpers.localgateway import (  # noqa: F401  (fixtures)
    TEST_LIMITS,
    RecordingBackend,
    apigw_client,
    boto3_client,
    deploy_api,
    local_gateway,
    make_local_gateway,
    management_client,
    run_async,
    ws_connect,
)


async def open_socket(client, gateway, backend, **kwargs):
    api = await asyncio.to_thread(deploy_api, client, gateway, backend.url, **kwargs)
    return api


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@run_async
async def test_post_sends_a_frame_to_the_client(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, api.stage)

        async with ws_connect(api.url) as ws:
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=b'{"n": 1}'
            )
            received = await ws.recv()

    assert received == '{"n": 1}'


@run_async
async def test_get_connection_reports_times_and_identity(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, api.stage)

        async with ws_connect(api.url, user_agent_header="TestBrowser/2.0"):
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]
            info = await asyncio.to_thread(manager.get_connection, ConnectionId=connection_id)

    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "TestBrowser/2.0"}
    assert info["ConnectedAt"] <= info["LastActiveAt"]


@run_async
async def test_delete_connection_closes_the_socket(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, api.stage)

        async with ws_connect(api.url) as ws:
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]
            await asyncio.to_thread(manager.delete_connection, ConnectionId=connection_id)
            await ws.wait_closed()
            await backend.next_request("/disconnect")

        with pytest.raises(ClientError) as excinfo:
            await asyncio.to_thread(manager.get_connection, ConnectionId=connection_id)

    assert code_of(excinfo) == "GoneException"


@run_async
async def test_unknown_connection_is_gone(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, api.stage)

        with pytest.raises(manager.exceptions.GoneException) as excinfo:
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId="AAAAAAAAAAA=", Data=b"x"
            )

    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


@run_async
async def test_posting_during_the_connections_own_connect_is_gone(apigw_client, local_gateway):
    outcome = {}

    async def connect_handler(seen):
        manager = management_client(local_gateway, api.api_id, api.stage)
        try:
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=seen.headers["connectionId"], Data=b"x"
            )
        except ClientError as exc:
            outcome["code"] = exc.response["Error"]["Code"]
        return web.Response(status=200)

    async with RecordingBackend() as backend:
        backend.responders["/connect"] = connect_handler
        api = await open_socket(apigw_client, local_gateway, backend)

        async with ws_connect(api.url):
            pass

    assert outcome == {"code": "GoneException"}


@run_async
async def test_payload_over_128_kb_is_refused_with_413(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, api.stage)

        async with ws_connect(api.url) as ws:
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]
            with pytest.raises(manager.exceptions.PayloadTooLargeException):
                await asyncio.to_thread(
                    manager.post_to_connection,
                    ConnectionId=connection_id,
                    Data=b"x" * (128 * 1024 + 1),
                )
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=b"x" * (128 * 1024)
            )
            received = await ws.recv()

    assert len(received) == 128 * 1024


@run_async
async def test_full_send_buffer_answers_429(apigw_client, make_local_gateway):
    gateway = make_local_gateway(limits=TEST_LIMITS.replace(send_queue_size=2))
    client = boto3_client("apigatewayv2", gateway.url)
    async with RecordingBackend() as backend:
        api = await open_socket(client, gateway, backend)
        manager = management_client(gateway, api.api_id, api.stage)
        # A client that reads nothing, with a tiny receive window: the gateway's
        # writes back up and its per-connection queue fills.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gateway.port))
        sock.setblocking(False)

        async with ws_connect(api.url, sock=sock, max_queue=1) as ws:
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]

            def post_until_refused() -> tuple[int, str]:
                for attempt in range(1, 501):
                    try:
                        manager.post_to_connection(
                            ConnectionId=connection_id, Data=b"x" * (64 * 1024)
                        )
                    except ClientError as exc:
                        return attempt, exc.response["Error"]["Code"]
                return attempt, "never refused"

            attempts, code = await asyncio.to_thread(post_until_refused)
            ws.transport.abort()

    assert code == "LimitExceededException"
    assert attempts > 2


@run_async
async def test_unsigned_call_is_forbidden_even_for_a_live_connection(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)

        async with ws_connect(api.url) as ws:
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]
            # The same URL boto3 signs; without a signature the gateway must refuse it.
            url = f"{local_gateway.management_url(api.api_id, api.stage)}/@connections/"
            request = urllib.request.Request(url + connection_id, data=b"hi", method="POST")

            def unsigned_post() -> urllib.error.HTTPError:
                try:
                    urllib.request.urlopen(request, timeout=5).close()
                except urllib.error.HTTPError as error:
                    return error
                raise AssertionError("an unsigned POST was accepted")

            error = await asyncio.to_thread(unsigned_post)
            with error:
                body = json.loads(error.read())
            # The connection was live: a signed call reaches it, so the 403 above
            # came from the missing signature alone.
            manager = management_client(local_gateway, api.api_id, api.stage)
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=b"signed"
            )
            received = await ws.recv()

    assert error.code == 403
    assert error.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert body["message"] == "Missing Authentication Token"
    assert received == "signed"


@run_async
async def test_unknown_stage_is_forbidden(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await open_socket(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, "nostage")

        with pytest.raises(manager.exceptions.ForbiddenException):
            await asyncio.to_thread(manager.get_connection, ConnectionId="AAAAAAAAAAA=")


def test_injected_error_rate_and_latency(local_gateway):
    manager = management_client(local_gateway, "aaaaaaaaaa", "test")
    local_gateway.set_faults({"management_error_rate": 1.0, "management_latency_ms": 50})

    started = time.monotonic()
    with pytest.raises(manager.exceptions.LimitExceededException):
        manager.post_to_connection(ConnectionId="AAAAAAAAAAA=", Data=b"x")

    assert time.monotonic() - started >= 0.05


def test_injected_error_rate_is_repeatable_with_a_seed(local_gateway):
    manager = management_client(local_gateway, "aaaaaaaaaa", "test")

    def outcomes() -> list[str]:
        local_gateway.set_faults({"management_error_rate": 0.5, "seed": 7})
        codes = []
        for _ in range(12):
            try:
                manager.get_connection(ConnectionId="AAAAAAAAAAA=")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
        return codes

    first = outcomes()
    assert first == outcomes()
    assert {"LimitExceededException", "ForbiddenException"} == set(first)
