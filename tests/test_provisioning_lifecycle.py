"""The whole life of a gateway, with real sockets end to end.

A ``websockets`` client talks to the local gateway, which forwards each event to
Django's WebSocketView on pytest-django's live server. Provisioning drives the
local gateway through boto3; ACM and Route 53 are moto.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from django.urls import path

from tests.helpers.localgateway import ws_connect
from tests.helpers.moto import (  # noqa: F401  (fixtures)
    alias_records,
    hosted_zone,
    issued_certificate,
    moto_aws,
    moto_server,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    NO_WAIT,
    REGION,
    apigw,
    aws_gateway,
    clear_faults,
    inventory,
    local_gateway,
    make_local_gateway,
    slow_control_plane,
)
from wsapp import provisioning
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute, WebSocketSession
from wsapp.views import WebSocketView

ORIGIN = "http://localhost"
REPLY_TIMEOUT = 10
#: The X-Gateway-Secret of every message the views answered, in order.
SECRETS_SEEN: list[str] = []


class LifeView(WebSocketView):
    """Answers every message with which view and handler saw it."""

    USE_WS_TOKEN = False
    RATE_LIMIT_ENABLED = False
    SEND_EXCEPTION_MAIL = False
    tag = "v1"

    def _answer(self, handler: str) -> dict[str, Any]:
        SECRETS_SEEN.append(self.request.headers.get("X-Gateway-Secret", ""))
        return {"view": self.tag, "handler": handler, "body": self.body}

    def default(self, request, *args, **kwargs):
        return self._answer("default")

    def echo(self, request, *args, **kwargs):
        return self._answer("echo")

    def shout(self, request, *args, **kwargs):
        return self._answer("shout")


class LifeViewV2(LifeView):
    tag = "v2"


urlpatterns = [
    path("ws/<slug:route>", LifeView.as_view()),
    path("ws2/<slug:route>", LifeViewV2.as_view()),
]

pytestmark = pytest.mark.urls(__name__)


async def exchange(url: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open a socket, send each message, collect each reply."""
    replies = []
    async with ws_connect(url, origin=ORIGIN) as socket:
        for message in messages:
            await socket.send(json.dumps(message))
            replies.append(json.loads(await asyncio.wait_for(socket.recv(), REPLY_TIMEOUT)))
    return replies


def talk(record: ApiGateway, *messages: dict[str, Any]) -> list[tuple[str, str]]:
    """(view, handler) of each reply, through the gateway's current URL."""
    replies = asyncio.run(exchange(record.websocket_url, list(messages)))
    assert [r["body"] for r in replies] == list(messages)
    return [(r["view"], r["handler"]) for r in replies]


def traffic_during(url: str, operation) -> tuple[Any, list[Any], int]:
    """Keep one socket busy while ``operation`` runs; return its result and all replies.

    The socket lives in a background thread. ``operation`` runs in this thread
    because the live server shares its database connection: with SQLite's in-memory
    test database, writes from a third connection would fail with "table is locked".
    """
    replies: list[Any] = []
    flowing = threading.Event()
    done = threading.Event()
    failures: list[BaseException] = []

    async def pump() -> None:
        async with ws_connect(url, origin=ORIGIN) as socket:
            number = 0
            while not done.is_set() or number < stop_after[0]:
                await socket.send(json.dumps({"action": "echo", "n": number}))
                raw = await asyncio.wait_for(socket.recv(), REPLY_TIMEOUT)
                replies.append(json.loads(raw) if raw.startswith("{") else raw)
                number += 1
                flowing.set()

    def run() -> None:
        try:
            asyncio.run(pump())
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            flowing.set()

    stop_after = [1 << 30]
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert flowing.wait(REPLY_TIMEOUT), "no reply before the operation started"
    before = len(replies)
    result = operation()
    during = len(replies) - before
    stop_after[0] = len(replies) + 3  # a few more once the operation is over
    done.set()
    thread.join(REPLY_TIMEOUT * 2)
    assert not thread.is_alive(), "the traffic thread did not finish"
    assert not failures, failures
    return result, replies, during


def sync_ok(record: ApiGateway) -> provisioning.Result:
    result = provisioning.sync(record, retry=NO_WAIT)
    assert result.ok, result.message
    assert provisioning.plan(record, retry=NO_WAIT) == []
    return result


def test_full_life(transactional_db, live_server, aws_gateway, moto_aws):
    base = f"{live_server.url}/ws/"
    v2 = f"{live_server.url}/ws2/"
    record = ApiGateway.objects.create(
        api_name="life", target_base_endpoint=base, region=REGION, tags={"team": "web"}
    )
    echo = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record, name="Echo", route_key="echo", integration_url=f"{base}echo"
    )

    # Create, then a round trip through the gateway to Django and back.
    created = provisioning.create(record, retry=NO_WAIT)
    assert created.ok, created.message
    assert record.state == ApiGateway.State.DEPLOYED
    assert talk(record, {"action": "echo", "text": "hi"}, {"text": "no action"}) == [
        ("v1", "echo"),
        ("v1", "default"),
    ]
    assert WebSocketSession.objects.filter(api_gateway=record).count() == 1

    # Add a route, edit one: each message reaches the view its route now names.
    shout = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record, name="Shout", route_key="shout", integration_url=f"{v2}shout"
    )
    echo.integration_url = f"{v2}echo"
    echo.save()
    codes = {d.code for d in provisioning.plan(record, retry=NO_WAIT)}
    assert codes == {provisioning.Code.ROUTE_ADDED, provisioning.Code.ROUTE_EDITED}
    sync_ok(record)
    assert set(record.additional_routes.values_list("deployed", flat=True)) == {True}
    assert talk(record, {"action": "shout"}, {"action": "echo"}) == [
        ("v2", "shout"),
        ("v2", "echo"),
    ]

    # Delete a route: its messages fall back to $default (the v1 view).
    shout.delete()
    sync_ok(record)
    assert talk(record, {"action": "shout"}) == [("v1", "shout")]
    assert "shout" not in inventory(aws_gateway)["apis"][0]["routes"]

    # Change the endpoint: $default now reaches the v2 view.
    record.target_base_endpoint = v2
    record.save()
    assert {d.code for d in provisioning.plan(record, retry=NO_WAIT)} == {
        provisioning.Code.ENDPOINT_CHANGED
    }
    sync_ok(record)
    assert talk(record, {"text": "after the move"}) == [("v2", "default")]

    # Rotate the secret while messages flow: none is refused.
    old_secret = record.integration_secret
    SECRETS_SEEN.clear()
    slow_control_plane(aws_gateway, 150)
    result, replies, during = traffic_during(
        record.websocket_url, lambda: provisioning.rotate_secret(record, retry=NO_WAIT)
    )
    clear_faults(aws_gateway)
    assert result.ok, result.message
    assert during >= 3, "too few messages were in flight during the rotation"
    assert all(isinstance(r, dict) and r.get("handler") == "echo" for r in replies), replies
    record.refresh_from_db()
    assert record.integration_secret != old_secret
    # Traffic spanned the switch: requests came with the old secret, then the new.
    assert SECRETS_SEEN[0] == old_secret
    assert SECRETS_SEEN[-1] == record.integration_secret
    assert record.previous_integration_secret == ""
    assert record.state == ApiGateway.State.DEPLOYED
    assert talk(record, {"action": "echo"}) == [("v2", "echo")]

    # Map a custom domain, with its DNS alias.
    zone = hosted_zone(moto_aws, "example.com")
    record.domain_name = "ws.example.com"
    record.hosted_zone_id = zone
    record.certificate_arn = issued_certificate(
        moto_aws, "*.example.com", region=REGION, alternative_names=["example.com"]
    )
    record.save()
    mapped = provisioning.create_custom_domain(record, retry=NO_WAIT)
    assert mapped.ok, mapped.message
    assert record.websocket_url == "wss://ws.example.com"
    assert inventory(aws_gateway)["domains"] == {"ws.example.com": [("production", "")]}
    [alias] = alias_records(moto_aws, zone)
    assert alias["Name"].rstrip(".") == "ws.example.com"
    assert alias["AliasTarget"]["DNSName"].rstrip(".") == record.api_gateway_domain_name
    # Rerunning changes nothing.
    again = provisioning.create_custom_domain(record, retry=NO_WAIT)
    assert again.ok
    assert [a for a in again.actions if not a.startswith("DNS alias")] == []

    # Tear down: nothing left in AWS, the record is a draft again.
    removed = provisioning.teardown(record, retry=NO_WAIT)
    assert removed.ok, removed.message
    assert inventory(aws_gateway) == {"apis": [], "domains": {}}
    assert alias_records(moto_aws, zone) == []
    record.refresh_from_db()
    assert record.state == ApiGateway.State.DRAFT
    assert (record.api_id, record.deployment_id, record.api_mapping_id) == ("", "", "")
    assert record.aws_resources == {}
    assert list(record.additional_routes.values_list("deployed", flat=True)) == [False]
    assert apigw(aws_gateway).get_apis()["Items"] == []
