"""The demo chat's page and its WebSocketView (no browser: see test_browser_chat.py)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard.demo import MAX_MESSAGE_LENGTH
from tests.helpers.apigw import ApiGatewayCaller, new_connection_id
from tests.helpers.fake_management_api import fake_management_api  # noqa: F401  (fixture)
from wsapp.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def signed_in(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def demo_gateway(fake_management_api) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="demo",
        target_base_endpoint="https://testserver/ws/",
        api_id="demo123456",
        api_endpoint=fake_management_api.api_endpoint("demo123456"),
        stage_name="production",
        default_channel_name="general",
        state=ApiGateway.State.DEPLOYED,
    )


def session(gateway: ApiGateway, user, channel: str) -> WebSocketSession:
    return WebSocketSession.objects.create(
        connection_id=new_connection_id(), channel_name=channel, user=user, api_gateway=gateway
    )


# --- The page ------------------------------------------------------------------------


def test_page_sends_anonymous_users_to_the_admin_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/"


def test_page_without_the_demo_gateway_says_what_to_run(signed_in):
    response = signed_in.get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "There is no API gateway named &#x27;demo&#x27;." in text
    assert "make run" in text
    assert "wsapp/client.js" not in text


def test_page_with_an_undeployed_gateway_says_so(signed_in):
    ApiGateway.objects.create(
        api_name="demo",
        target_base_endpoint="https://testserver/ws/",
        state=ApiGateway.State.DRAFT,
    )
    text = signed_in.get("/").content.decode()
    assert "has not been created in API Gateway yet" in text


def test_page_with_a_failed_gateway_shows_the_error(signed_in):
    ApiGateway.objects.create(
        api_name="demo",
        target_base_endpoint="https://testserver/ws/",
        api_id="abc",
        api_endpoint="ws://127.0.0.1:1/abc",
        state=ApiGateway.State.FAILED,
        last_error="BadRequestException: nope",
    )
    text = signed_in.get("/").content.decode()
    assert "is failed: BadRequestException: nope" in text


def test_page_with_a_deployed_gateway_configures_the_client(signed_in, demo_gateway):
    response = signed_in.get("/")
    text = response.content.decode()
    assert "wsapp/vendor/reconnecting-websocket/reconnecting-websocket-iife.js" in text
    assert "wsapp/client.js" in text
    config = response.context["config"]
    assert config["url"] == demo_gateway.websocket_url
    assert config["tokenUrl"] == "/ws-token/"
    assert config["channel"] == "general"
    assert config["user"] == "alice"
    assert '<script id="chat-config" type="application/json">' in text


# --- ChatView ----------------------------------------------------------------------------


@pytest.fixture
def caller(demo_gateway) -> ApiGatewayCaller:
    return ApiGatewayCaller(demo_gateway)


def test_chat_message_goes_to_everyone_on_the_channel(
    caller, demo_gateway, alice, fake_management_api
):
    bob = get_user_model().objects.create_user("bob")
    mine = session(demo_gateway, alice, "general")
    theirs = session(demo_gateway, bob, "general")
    elsewhere = session(demo_gateway, bob, "random")
    response = caller.send(mine.connection_id, {"action": "chat_message", "message": " hi! "})
    assert response.status_code == 200
    assert response.content == b""
    posts = fake_management_api.calls_for(method="POST")
    assert sorted(c.connection_id for c in posts) == sorted(
        [mine.connection_id, theirs.connection_id]
    )
    assert elsewhere.connection_id not in {c.connection_id for c in posts}
    payload = json.loads(posts[0].body)
    assert payload["type"] == "chat_message"
    assert payload["user"] == "alice"
    assert payload["channel"] == "general"
    assert payload["message"] == "hi!"
    assert payload["sent_at"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"action": "chat_message"}, '"message" must be a string.'),
        ({"action": "chat_message", "message": 42}, '"message" must be a string.'),
        ({"action": "chat_message", "message": "   "}, "Type a message before sending."),
        (
            {"action": "chat_message", "message": "x" * (MAX_MESSAGE_LENGTH + 1)},
            f"Messages are limited to {MAX_MESSAGE_LENGTH} characters; this one has "
            f"{MAX_MESSAGE_LENGTH + 1}.",
        ),
        ({"action": "shout"}, "Unknown action 'shout'; use chat_message or change_channel."),
        ({"message": "no action"}, 'Messages need an "action", e.g. "chat_message".'),
        (
            '{"action": "chat_message", "message": "\\ud800"}',
            "The message holds a broken character (a lone UTF-16 surrogate).",
        ),
    ],
)
def test_bad_input_gets_a_json_error(
    caller, demo_gateway, alice, fake_management_api, body, error
):
    mine = session(demo_gateway, alice, "general")
    response = caller.send(mine.connection_id, body)
    assert response.status_code == 200
    assert response.json() == {"type": "error", "error": error}
    assert fake_management_api.calls == []


def test_change_channel_moves_the_broadcast(caller, demo_gateway, alice, fake_management_api):
    mine = session(demo_gateway, alice, "general")
    response = caller.send(mine.connection_id, {"action": "change_channel", "channel": "random"})
    assert response.json() == {"type": "channel_changed", "channel": "random"}
    caller.send(mine.connection_id, {"action": "chat_message", "message": "moved"})
    [post] = fake_management_api.calls_for(method="POST")
    assert json.loads(post.body)["channel"] == "random"
