"""The local gateway's data plane: real WebSocket clients, a real HTTP backend."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from aiohttp import web
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers.localgateway import (  # noqa: F401  (fixtures)
    TEST_LIMITS,
    RecordingBackend,
    apigw_client,
    boto3_client,
    deploy_api,
    local_endpoint,
    local_gateway,
    make_local_gateway,
    management_client,
    run_async,
    ws_connect,
)

CONNECTION_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{11}=$")


async def deploy(client, gateway, backend, **kwargs):
    return await asyncio.to_thread(deploy_api, client, gateway, backend.url, **kwargs)


# ---------------------------------------------------------------------- $connect


@run_async
async def test_connect_is_forwarded_before_the_handshake_with_client_headers(
    apigw_client, local_gateway
):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(
            f"{api.url}?ws_token=abc&channel=support",
            additional_headers={"Cookie": "sessionid=s1", "Origin": "http://localhost:8000"},
            user_agent_header="TestBrowser/1.0",
        ):
            seen = await backend.next_request("/connect")

    assert seen.method == "POST"
    assert seen.body == b""
    assert seen.query == {"ws_token": "abc", "channel": "support"}
    assert seen.headers["Cookie"] == "sessionid=s1"
    assert seen.headers["Origin"] == "http://localhost:8000"
    assert seen.headers["User-Agent"] == "TestBrowser/1.0"
    assert seen.headers["Sec-WebSocket-Version"] == "13"
    assert "Sec-WebSocket-Key" in seen.headers
    assert CONNECTION_ID_RE.match(seen.headers["connectionId"])
    assert seen.headers["X-Amzn-Apigateway-Api-Id"] == api.api_id
    assert seen.headers["X-Forwarded-For"] == "127.0.0.1"
    assert seen.headers["X-Forwarded-Port"] == str(local_gateway.port)
    assert seen.headers["X-Amzn-Trace-Id"].startswith("Root=1-")


@run_async
async def test_connect_rejected_by_the_backend_refuses_the_handshake(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        backend.responders["/connect"] = lambda seen: web.Response(status=401)
        api = await deploy(apigw_client, local_gateway, backend)

        with pytest.raises(InvalidStatus) as excinfo:
            async with ws_connect(api.url):
                pass

    assert excinfo.value.response.status_code == 401
    assert local_gateway.connections() == []
    assert [r.path for r in backend.requests] == ["/connect"]


@run_async
async def test_without_a_connect_route_the_handshake_is_accepted(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, routes=("$default",))

        async with ws_connect(api.url) as ws:
            await ws.send("hello")
            reply = await ws.recv()

    assert reply == "reply:hello"


@pytest.mark.parametrize("target", ["unknown-api", "unknown-stage", "undeployed-stage"])
@run_async
async def test_unknown_or_undeployed_stage_refuses_with_403(apigw_client, local_gateway, target):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)
        await asyncio.to_thread(apigw_client.create_stage, ApiId=api.api_id, StageName="fresh")
        url = {
            "unknown-api": local_gateway.websocket_url("aaaaaaaaaa", "test"),
            "unknown-stage": local_gateway.websocket_url(api.api_id, "nope"),
            "undeployed-stage": local_gateway.websocket_url(api.api_id, "fresh"),
        }[target]

        with pytest.raises(InvalidStatus) as excinfo:
            async with ws_connect(url):
                pass

    assert excinfo.value.response.status_code == 403
    assert backend.requests == []


# ---------------------------------------------------------------------- messages


@run_async
async def test_messages_are_routed_by_the_selection_expression(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(
            apigw_client,
            local_gateway,
            backend,
            routes=("$default", "chat.send"),
            two_way=(),
            selection_expression="$request.body.meta.kind",
        )

        async with ws_connect(api.url) as ws:
            await ws.send(json.dumps({"meta": {"kind": "chat.send"}, "text": "hi"}))
            routed = await backend.next_request("/chat.send")

    assert json.loads(routed.body) == {"meta": {"kind": "chat.send"}, "text": "hi"}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        json.dumps({"action": "nosuchroute"}),
        json.dumps(["action"]),
        # Deeper than json can parse (RecursionError, not ValueError): still $default.
        "[" * 20000,
    ],
)
@run_async
async def test_unmatched_and_non_json_messages_go_to_default(apigw_client, local_gateway, frame):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, routes=("$default", "echo"))

        async with ws_connect(api.url) as ws:
            await ws.send(frame)
            seen = await backend.next_request("/default")

    assert seen.body == frame.encode()


@run_async
async def test_without_a_default_route_the_client_gets_a_forbidden_frame(
    apigw_client, local_gateway
):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, routes=("echo",))

        async with ws_connect(api.url) as ws:
            await ws.send(json.dumps({"action": "other"}))
            error = json.loads(await ws.recv())

    assert error["message"] == "Forbidden"
    assert CONNECTION_ID_RE.match(error["connectionId"])
    assert error["requestId"]
    assert backend.requests == []


@run_async
async def test_route_response_sends_the_backend_answer_and_one_way_drops_it(
    apigw_client, local_gateway
):
    async with RecordingBackend() as backend:
        api = await deploy(
            apigw_client,
            local_gateway,
            backend,
            routes=("$default", "quiet"),
            two_way=("$default",),
        )

        async with ws_connect(api.url) as ws:
            await ws.send(json.dumps({"action": "quiet"}))
            await backend.next_request("/quiet")
            await ws.send("loud")
            first_frame = await ws.recv()

    assert first_frame == "reply:loud"


@run_async
async def test_empty_backend_answer_sends_no_frame(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        backend.responders["/quiet"] = lambda seen: web.Response(status=200)
        api = await deploy(
            apigw_client,
            local_gateway,
            backend,
            routes=("$default", "quiet"),
            two_way=("$default", "quiet"),
        )

        async with ws_connect(api.url) as ws:
            await ws.send(json.dumps({"action": "quiet"}))
            await ws.send("loud")
            first_frame = await ws.recv()

    assert first_frame == "reply:loud"


@run_async
async def test_messages_carry_gateway_headers_and_no_client_headers(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(
            f"{api.url}?ws_token=abc", additional_headers={"Cookie": "sessionid=s1"}
        ) as ws:
            await ws.send("hello")
            seen = await backend.next_request("/default")

    assert seen.headers["User-Agent"] == f"AmazonAPIGateway_{api.api_id}"
    assert "Cookie" not in seen.headers
    assert "Origin" not in seen.headers
    assert seen.query == {}
    assert seen.headers["X-Forwarded-Proto"] == "http"
    assert seen.headers["X-Amzn-Apigateway-Api-Id"] == api.api_id
    assert CONNECTION_ID_RE.match(seen.headers["connectionId"])


@run_async
async def test_parameter_mappings_static_and_context_values(apigw_client, local_gateway):
    mappings = {
        "integration.request.header.connectionId": "context.connectionId",
        "integration.request.header.X-Gateway-Secret": "'s3cr3t'",
        "integration.request.header.X-Event": "context.eventType",
        "integration.request.querystring.route": "context.routeKey",
        "integration.request.querystring.stage": "context.stage",
    }
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, request_parameters=mappings)

        async with ws_connect(api.url) as ws:
            connect = await backend.next_request("/connect")
            await ws.send("hello")
            message = await backend.next_request("/default")
        disconnect = await backend.next_request("/disconnect")

    assert [r.headers["X-Event"] for r in (connect, message, disconnect)] == [
        "CONNECT",
        "MESSAGE",
        "DISCONNECT",
    ]
    assert {r.headers["X-Gateway-Secret"] for r in (connect, message, disconnect)} == {"s3cr3t"}
    assert message.query == {"route": "$default", "stage": "test"}
    assert connect.headers["connectionId"] == disconnect.headers["connectionId"]


@run_async
async def test_x_forwarded_for_appends_the_peer_to_the_clients_chain(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(
            api.url, additional_headers={"X-Forwarded-For": "203.0.113.9"}
        ) as ws:
            connect = await backend.next_request("/connect")
            await ws.send("hello")
            message = await backend.next_request("/default")

    assert connect.headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert message.headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"


# ---------------------------------------------------------------------- $disconnect


@run_async
async def test_disconnect_is_forwarded_when_the_client_closes(apigw_client, local_gateway):
    mappings = {
        "integration.request.header.connectionId": "context.connectionId",
        "integration.request.header.X-Close-Code": "context.disconnectStatusCode",
    }
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, request_parameters=mappings)

        async with ws_connect(api.url) as ws:
            connect = await backend.next_request("/connect")
            await ws.close(code=4000, reason="bye")
        disconnect = await backend.next_request("/disconnect")

    assert disconnect.headers["connectionId"] == connect.headers["connectionId"]
    assert disconnect.headers["X-Close-Code"] == "4000"
    assert disconnect.body == b""
    assert "Cookie" not in disconnect.headers


@run_async
async def test_disconnect_is_forwarded_when_the_server_deletes_the_connection(
    apigw_client, local_gateway
):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)
        manager = management_client(local_gateway, api.api_id, api.stage)

        async with ws_connect(api.url) as ws:
            connection_id = (await backend.next_request("/connect")).headers["connectionId"]
            await asyncio.to_thread(manager.delete_connection, ConnectionId=connection_id)
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
            disconnect = await backend.next_request("/disconnect")

    assert excinfo.value.rcvd.code == 1000
    assert disconnect.headers["connectionId"] == connection_id


@run_async
async def test_deleting_the_api_closes_its_sockets(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(api.url) as ws:
            await backend.next_request("/connect")
            await asyncio.to_thread(apigw_client.delete_api, ApiId=api.api_id)
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
            await backend.next_request("/disconnect")

    assert excinfo.value.rcvd.code == 1001


# ---------------------------------------------------------------------- limits


@run_async
async def test_frame_over_32_kb_closes_the_socket_with_1009(apigw_client, local_gateway):
    mappings = {"integration.request.header.X-Close-Code": "context.disconnectStatusCode"}
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, request_parameters=mappings)

        async with ws_connect(api.url) as ws:
            await ws.send("x" * (32 * 1024 + 1))
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
        disconnect = await backend.next_request("/disconnect")

    assert excinfo.value.rcvd.code == 1009
    assert disconnect.headers["X-Close-Code"] == "1009"
    assert [r.path for r in backend.requests] == ["/connect", "/disconnect"]


@run_async
async def test_shortened_max_frame_size_closes_the_socket_with_1009(make_local_gateway):
    gateway = make_local_gateway(limits=TEST_LIMITS.replace(max_frame_bytes=1024))
    client = boto3_client("apigatewayv2", gateway.url)
    mappings = {"integration.request.header.X-Close-Code": "context.disconnectStatusCode"}
    async with RecordingBackend() as backend:
        api = await deploy(client, gateway, backend, request_parameters=mappings)

        async with ws_connect(api.url) as ws:
            # A frame of exactly the limit passes; one byte more closes the socket.
            await ws.send("a" * 1024)
            assert await ws.recv() == "reply:" + "a" * 1024
            await ws.send("b" * 1025)
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
        disconnect = await backend.next_request("/disconnect")

    assert excinfo.value.rcvd.code == 1009
    assert disconnect.headers["X-Close-Code"] == "1009"
    assert [r.path for r in backend.requests] == ["/connect", "/default", "/disconnect"]


@run_async
async def test_message_of_32_kb_frames_up_to_128_kb_is_forwarded(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, two_way=())

        async with ws_connect(api.url) as ws:
            await ws.send(["y" * (32 * 1024)] * 4)
            seen = await backend.next_request("/default")

    assert len(seen.body) == 128 * 1024


@run_async
async def test_message_over_128_kb_closes_the_socket_with_1009(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(api.url) as ws:
            await ws.send(["z" * (32 * 1024)] * 4 + ["z"])
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()

    assert excinfo.value.rcvd.code == 1009
    assert "/default" not in [r.path for r in backend.requests]


@run_async
async def test_idle_connection_is_closed_and_disconnect_forwarded(
    apigw_client, make_local_gateway
):
    gateway = make_local_gateway(limits=TEST_LIMITS.replace(idle_timeout=0.3))
    client = boto3_client("apigatewayv2", gateway.url)
    async with RecordingBackend() as backend:
        api = await deploy(client, gateway, backend)

        async with ws_connect(api.url) as ws:
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
        await backend.next_request("/disconnect")

    assert excinfo.value.rcvd.code == 1001


@run_async
async def test_connection_is_closed_after_the_maximum_duration(apigw_client, make_local_gateway):
    gateway = make_local_gateway(limits=TEST_LIMITS.replace(max_connection_duration=0.3))
    client = boto3_client("apigatewayv2", gateway.url)
    async with RecordingBackend() as backend:
        api = await deploy(client, gateway, backend, two_way=())

        async with ws_connect(api.url) as ws:
            # Activity does not extend the maximum duration.
            for _ in range(3):
                await ws.send("keepalive")
                await backend.next_request("/default")
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()

    assert excinfo.value.rcvd.code == 1001


@run_async
async def test_slow_backend_gives_the_client_a_timeout_error(apigw_client, local_gateway):
    release = asyncio.Event()

    async def stall(seen):
        await release.wait()
        return web.Response(status=200)

    async with RecordingBackend() as backend:
        backend.responders["/default"] = stall
        api = await deploy(apigw_client, local_gateway, backend, timeout_ms=100)

        async with ws_connect(api.url) as ws:
            await ws.send("hello")
            error = json.loads(await ws.recv())
        release.set()

    assert error["message"] == "Endpoint request timed out"


@run_async
async def test_gateway_integration_timeout_caps_the_integrations_own(make_local_gateway):
    # The integration keeps its default TimeoutInMillis (29 s): the gateway-wide bound
    # is what answers the client, well before the backend does.
    gateway = make_local_gateway(limits=TEST_LIMITS.replace(integration_timeout=0.2))
    client = boto3_client("apigatewayv2", gateway.url)
    release = asyncio.Event()

    async def stall(seen):
        # Slower than the 0.2 s bound, but bounded itself so the test cannot hang.
        await asyncio.wait_for(release.wait(), timeout=3)
        return web.Response(status=200, body=b"too late")

    async with RecordingBackend() as backend:
        backend.responders["/default"] = stall
        api = await deploy(client, gateway, backend)
        integration = await asyncio.to_thread(
            client.get_integration, ApiId=api.api_id, IntegrationId=api.integrations["$default"]
        )
        assert integration["TimeoutInMillis"] == 29000

        async with ws_connect(api.url) as ws:
            await ws.send("hello")
            async with asyncio.timeout(2):
                error = json.loads(await ws.recv())
        release.set()

    assert error["message"] == "Endpoint request timed out"
    assert set(error) >= {"connectionId", "requestId"}


@run_async
async def test_slow_connect_backend_rejects_the_handshake(apigw_client, local_gateway):
    release = asyncio.Event()

    async def stall(seen):
        await release.wait()
        return web.Response(status=200)

    async with RecordingBackend() as backend:
        backend.responders["/connect"] = stall
        api = await deploy(apigw_client, local_gateway, backend, timeout_ms=100)

        with pytest.raises(InvalidStatus) as excinfo:
            async with ws_connect(api.url):
                pass
        release.set()

    assert excinfo.value.response.status_code == 500
    assert local_gateway.connections() == []


# ---------------------------------------------------------------------- deployments


@run_async
async def test_undeployed_changes_are_not_served_until_the_next_deployment(
    apigw_client, local_gateway
):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend, routes=("$default",), two_way=())
        integration = await asyncio.to_thread(
            apigw_client.create_integration,
            ApiId=api.api_id,
            IntegrationType="HTTP_PROXY",
            IntegrationMethod="POST",
            IntegrationUri=f"{backend.url}new",
        )
        await asyncio.to_thread(
            apigw_client.create_route,
            ApiId=api.api_id,
            RouteKey="new",
            Target=f"integrations/{integration['IntegrationId']}",
        )
        frame = json.dumps({"action": "new"})

        async with ws_connect(api.url) as ws:
            await ws.send(frame)
            before = await backend.next_request("/default")
            await asyncio.to_thread(
                apigw_client.create_deployment, ApiId=api.api_id, StageName=api.stage
            )
            await ws.send(frame)
            after = await backend.next_request("/new")

    assert before.body == after.body == frame.encode()


@run_async
async def test_connection_ids_and_listing(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(api.url), ws_connect(api.url):
            first = (await backend.next_request("/connect")).headers["connectionId"]
            second = (await backend.next_request("/connect")).headers["connectionId"]
            listing = await asyncio.to_thread(local_endpoint, local_gateway, "GET", "connections")
            listed = {c["connection_id"]: c for c in listing["connections"]}

    assert first != second
    assert set(listed) == {first, second}
    assert listed[first]["api_id"] == api.api_id
    assert listed[first]["stage"] == "test"
    assert listed[first]["source_ip"] == "127.0.0.1"


@run_async
async def test_subprotocol_chosen_by_the_connect_backend_is_answered(apigw_client, local_gateway):
    async with RecordingBackend() as backend:
        backend.responders["/connect"] = lambda seen: web.Response(
            status=200, headers={"Sec-WebSocket-Protocol": "chat.v1"}
        )
        api = await deploy(apigw_client, local_gateway, backend)

        async with ws_connect(api.url, subprotocols=["chat.v1", "chat.v0"]) as ws:
            chosen = ws.subprotocol
            offered = (await backend.next_request("/connect")).headers["Sec-WebSocket-Protocol"]

    assert chosen == "chat.v1"
    assert offered == "chat.v1, chat.v0"


# ---------------------------------------------------------------------- damaged state


def restart_with_integration_field(make_local_gateway, state_file, route_key, field, value):
    """Edit one field of the deployed integration of ``route_key`` in the state file, as a
    person could by hand, and start a new gateway from it."""
    document = json.loads(state_file.read_text())
    for record in document["apis"].values():
        for deployment in record["deployments"].values():
            deployment["snapshot"]["Routes"][route_key]["Integration"][field] = value
    state_file.write_text(json.dumps(document))
    return make_local_gateway(state_file=state_file)


@run_async
async def test_stored_connect_uri_that_cannot_be_parsed_rejects_the_handshake(
    make_local_gateway, tmp_path
):
    state_file = tmp_path / "gateway.json"
    first = make_local_gateway(state_file=state_file)
    async with RecordingBackend() as backend:
        api = await deploy(boto3_client("apigatewayv2", first.url), first, backend)
        gateway = restart_with_integration_field(
            make_local_gateway,
            state_file,
            "$connect",
            "IntegrationUri",
            "http://127.0.0.1:99999/connect",
        )

        with pytest.raises(InvalidStatus) as excinfo:
            async with ws_connect(gateway.websocket_url(api.api_id, api.stage)):
                pass

    assert excinfo.value.response.status_code == 500
    assert b"Internal server error" in excinfo.value.response.body
    assert gateway.connections() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("IntegrationUri", "http://[::1/default"),
        ("RequestParameters", {"nonsense": "context.connectionId"}),
        ("TimeoutInMillis", "soon"),
        ("IntegrationMethod", "PO ST"),
    ],
)
@run_async
async def test_stored_message_integration_that_cannot_be_used_answers_an_error_frame(
    make_local_gateway, tmp_path, field, value
):
    state_file = tmp_path / "gateway.json"
    first = make_local_gateway(state_file=state_file)
    async with RecordingBackend() as backend:
        api = await deploy(boto3_client("apigatewayv2", first.url), first, backend)
        gateway = restart_with_integration_field(
            make_local_gateway, state_file, "$default", field, value
        )

        async with ws_connect(gateway.websocket_url(api.api_id, api.stage)) as ws:
            await ws.send("hello")
            error = json.loads(await ws.recv())
            # The socket survives the failed event: a later message still gets an answer.
            await ws.send("again")
            again = json.loads(await ws.recv())

    assert error["message"] == "Internal server error"
    assert again["message"] == "Internal server error"
