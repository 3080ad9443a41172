"""Fixtures for the WebSocketView tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.helpers.apigw import ApiGatewayCaller
from wsapp.models import ApiGateway

PASSWORD = "correct horse battery staple"


@pytest.fixture
def gateway(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="test-gateway",
        target_base_endpoint="https://testserver/ws/",
        api_id="abc123defg",
        api_endpoint="wss://abc123defg.execute-api.us-east-1.amazonaws.com",
        default_channel_name="lobby",
    )


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def browser(user) -> Client:
    """Alice's browser: signed in, CSRF enforced as in a real browser."""
    client = Client(enforce_csrf_checks=True)
    client.login(username="alice", password=PASSWORD)
    return client


def csrf_token(client: Client) -> str:
    from django.middleware.csrf import _get_new_csrf_string

    token = client.cookies.get("csrftoken")
    if token is None:
        client.cookies["csrftoken"] = _get_new_csrf_string()
        token = client.cookies["csrftoken"]
    return token.value


def get_token(client: Client, url: str = "/ws-token/"):
    return client.post(url, headers={"X-CSRFToken": csrf_token(client)})


@pytest.fixture
def caller(gateway, browser) -> ApiGatewayCaller:
    return ApiGatewayCaller(gateway, browser=browser)


@pytest.fixture
def fresh_token(browser):
    def make() -> str:
        response = get_token(browser)
        assert response.status_code == 200, response.content
        return response.json()["token"]

    return make
