"""Bad input and misconfiguration reach the caller as a clear 4xx, never a traceback."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from tests.helpers import ws_urls
from tests.helpers.apigw import ApiGatewayCaller
from tests.helpers.views import (  # noqa: F401  (fixtures)
    browser,
    caller,
    fresh_token,
    gateway,
    user,
)
from wsapp.models import WebSocketSession
from wsapp.views import WebSocketView, client_ip

pytestmark = [pytest.mark.urls("tests.helpers.ws_urls"), pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _clear_calls():
    ws_urls.CALLS.clear()


@pytest.fixture
def connected(caller, fresh_token) -> str:
    response = caller.connect(token=fresh_token())
    assert response.status_code == 200, response.content
    return response.connection_id


def test_deeply_nested_json_is_400(caller, connected):
    response = caller.send(connected, "[" * 100_000)
    assert response.status_code == 400
    assert b"nested too deeply" in response.content
    assert ws_urls.CALLS == []


@pytest.mark.parametrize("origin", ["https://[::1", "https://[bad/", "https://testserver:99999"])
def test_malformed_origin_is_403(caller, fresh_token, origin):
    response = caller.connect(token=fresh_token(), headers={"Origin": origin})
    assert response.status_code == 403
    assert b"Origin not allowed" in response.content
    assert not WebSocketSession.objects.exists()


def test_unencodable_handler_result_is_logged_mailed_and_bare_500(
    caller, connected, caplog, settings
):
    settings.ADMINS = ["ops@example.com"]
    with caplog.at_level(logging.ERROR, logger="wsapp"):
        response = caller.send(connected, {"action": "unencodable"})
    assert response.status_code == 500
    assert response.content == b""
    assert "EchoView.unencodable failed" in caplog.text
    assert len(mail.outbox) == 1
    assert "not JSON serializable" in mail.outbox[0].body


def test_connect_hook_that_raises_leaves_session_closed(gateway, caplog):
    caller = ApiGatewayCaller(gateway, prefix="/crash-ws/")
    with caplog.at_level(logging.ERROR, logger="wsapp"):
        response = caller.connect()
    assert response.status_code == 500
    assert "connect hook exploded" in caplog.text
    session = WebSocketSession.objects.get()
    assert not session.connected
    assert session.disconnected_on is not None


def test_message_count_adds_to_the_stored_value(caller, connected):
    """A message that lands between this one's read and write still counts."""
    table = WebSocketSession._meta.db_table
    raced = []

    def concurrent_message(execute, sql, params, many, context):
        if not raced and sql.startswith(f'UPDATE "{table}"') and "request_count" in sql:
            raced.append(True)
            # Another worker's message commits first.
            WebSocketSession.objects.update(request_count=10)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(concurrent_message):
        assert caller.send(connected, {"action": "echo"}).status_code == 200
    assert raced
    assert WebSocketSession.objects.get().request_count == 11


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMIT_WINDOW_MINUTES", 0),
        ("RATE_LIMIT_MAX_ATTEMPTS", -1),
        ("RATE_LIMIT_WINDOW_MINUTES", "5"),
        ("USE_WS_TOKEN", "no"),
        ("permissions_required", "auth.view_user"),
        ("handler_selection_key", ""),
    ],
)
def test_bad_view_attribute_is_named_when_the_urlconf_loads(name, value):
    bad = type("BadView", (WebSocketView,), {name: value})
    with pytest.raises(ImproperlyConfigured, match=f"BadView.{name} must be"):
        bad.as_view()
    with pytest.raises(ImproperlyConfigured, match=f"WebSocketView.{name} must be"):
        WebSocketView.as_view(**{name: value})


def test_good_view_attributes_accepted():
    good = type("GoodView", (WebSocketView,), {"RATE_LIMIT_WINDOW_MINUTES": 1})
    assert callable(good.as_view())


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        # client-written, API Gateway's view of the client, our proxy's view of API Gateway
        ("10.9.9.9, 203.0.113.7, 198.51.100.2", "203.0.113.7"),
        ("203.0.113.7, 198.51.100.2", "203.0.113.7"),
        # Too few entries to trust any: the socket's own peer.
        ("198.51.100.2", "192.0.2.50"),
    ],
)
def test_trusted_proxy_count_one_skips_our_proxy(rf, forwarded, expected):
    request = rf.post("/ws/connect", REMOTE_ADDR="192.0.2.50", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(WEBSOCKETS={"trusted_proxy_count": 1}):
        assert client_ip(request) == expected


def test_trusted_proxy_count_one_rate_limits_the_real_client(gateway):
    """Behind one proxy, the limit follows API Gateway's entry, not the proxy's."""
    caller = ApiGatewayCaller(gateway, prefix="/strict-ws/")
    with override_settings(WEBSOCKETS={"trusted_proxy_count": 1}):
        statuses = [
            caller.connect(
                headers={"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.7, 198.51.100.{n}"}
            ).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 200, 429]
    assert WebSocketSession.objects.filter(source_ip="203.0.113.7").count() == 3
