"""A socket must not outlive its login: logout, password change, deactivation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.helpers.apigw import ApiGatewayCaller
from tests.helpers.fake_management_api import fake_management_api  # noqa: F401  (fixture)
from tests.helpers.views import PASSWORD, browser, fresh_token, user  # noqa: F401
from wsapp.models import ApiGateway, WebSocketSession

pytestmark = [pytest.mark.urls("tests.helpers.ws_urls"), pytest.mark.django_db]


@pytest.fixture
def gateway(fake_management_api) -> ApiGateway:
    """A gateway whose management API is the fake server."""
    return ApiGateway.objects.create(
        api_name="lifecycle",
        target_base_endpoint="https://testserver/ws/",
        api_id="lifecycle1",
        api_endpoint=fake_management_api.api_endpoint("lifecycle1"),
    )


@pytest.fixture
def socket_id(gateway, browser, fresh_token) -> str:
    caller = ApiGatewayCaller(gateway, browser=browser)
    response = caller.connect(token=fresh_token())
    assert response.status_code == 200
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200
    return response.connection_id


def deletes(api, connection_id: str) -> int:
    return len(api.calls_for(connection_id, method="DELETE"))


def test_logout_closes_the_sockets_of_that_session(
    gateway, browser, socket_id, fake_management_api
):
    # A second socket of the same user in another browser stays open.
    from django.test import Client

    other = Client()
    other.force_login(get_user_model().objects.get(username="alice"))
    other_caller = ApiGatewayCaller(gateway, browser=other)
    other_socket = other_caller.connect(
        token=_token_for(other)  # a token of the other browser's own session
    )
    assert other_socket.status_code == 200

    browser.logout()
    session = WebSocketSession.objects.get(connection_id=socket_id)
    assert not session.connected
    assert deletes(fake_management_api, socket_id) == 1
    assert WebSocketSession.objects.get(connection_id=other_socket.connection_id).connected
    caller = ApiGatewayCaller(gateway)
    assert caller.send(socket_id, {"action": "echo"}).status_code == 410


def _token_for(client) -> str:
    from tests.helpers.views import get_token

    response = get_token(client)
    assert response.status_code == 200
    return response.json()["token"]


def test_password_change_ends_the_socket(gateway, socket_id, user, fake_management_api):
    user.set_password("a completely new password")
    user.save()
    caller = ApiGatewayCaller(gateway)
    response = caller.send(socket_id, {"action": "echo"})
    assert response.status_code == 403
    assert b"Login ended" in response.content
    assert not WebSocketSession.objects.get(connection_id=socket_id).connected
    assert deletes(fake_management_api, socket_id) == 1


def test_deactivation_ends_the_socket(gateway, socket_id, user, fake_management_api):
    user.is_active = False
    user.save()
    caller = ApiGatewayCaller(gateway)
    assert caller.send(socket_id, {"action": "echo"}).status_code == 403
    assert not WebSocketSession.objects.get(connection_id=socket_id).connected
    assert deletes(fake_management_api, socket_id) == 1


def test_unchanged_login_keeps_working(gateway, socket_id, fake_management_api):
    caller = ApiGatewayCaller(gateway)
    for _ in range(3):
        assert caller.send(socket_id, {"action": "echo"}).status_code == 200
    assert deletes(fake_management_api, socket_id) == 0
    assert WebSocketSession.objects.get(connection_id=socket_id).request_count == 4


def test_ended_login_close_is_one_short_attempt(gateway, socket_id, user, fake_management_api):
    """Retries could outlast API Gateway's 29 s integration timeout: one attempt only."""
    fake_management_api.script(socket_id, 500)
    user.is_active = False
    user.save()
    caller = ApiGatewayCaller(gateway)
    response = caller.send(socket_id, {"action": "echo"})
    assert response.status_code == 403
    # The default client would have tried three times against a failing endpoint.
    assert deletes(fake_management_api, socket_id) == 1
    # Closed in Django's eyes even though AWS failed: the login is over.
    assert not WebSocketSession.objects.get(connection_id=socket_id).connected
