"""WebSocketView and WebSocketTokenView, driven with requests shaped like API Gateway's."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from tests.helpers import ws_urls
from tests.helpers.apigw import ApiGatewayCaller, new_connection_id
from tests.helpers.views import (  # noqa: F401  (fixtures)
    browser,
    caller,
    fresh_token,
    gateway,
    get_token,
    user,
)
from wsapp.models import (
    ChannelAccessRule,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
    hash_value,
)

pytestmark = [pytest.mark.urls("tests.helpers.ws_urls"), pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _clear_calls():
    ws_urls.CALLS.clear()


@pytest.fixture
def connected(caller, fresh_token) -> str:
    response = caller.connect(token=fresh_token())
    assert response.status_code == 200, response.content
    return response.connection_id


# --- Token view -------------------------------------------------------------------------


def test_token_view_issues_hashed_single_use_token(browser, user):
    response = get_token(browser)
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == {"token", "expires_in"}
    assert payload["expires_in"] == 60
    stored = WebSocketToken.objects.get()
    assert stored.user == user
    assert stored.token_hash == hash_value(payload["token"])
    assert stored.session_key_hash == hash_value(browser.session.session_key)
    assert payload["token"] not in (stored.token_hash, stored.session_key_hash)


def test_token_view_requires_login(db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = get_token(client)
    assert response.status_code == 403
    assert not WebSocketToken.objects.exists()


def test_token_view_requires_csrf(browser):
    response = browser.post("/ws-token/")
    assert response.status_code == 403
    assert not WebSocketToken.objects.exists()


def test_token_view_requires_csrf_without_the_middleware(browser, settings):
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"
    ]
    assert browser.post("/ws-token/").status_code == 403
    assert not WebSocketToken.objects.exists()
    assert get_token(browser).status_code == 200


def test_token_view_refuses_get(browser):
    assert browser.get("/ws-token/").status_code == 405


@override_settings(WEBSOCKETS={"token_rate_limit_max_attempts": 2})
def test_token_view_rate_limited_per_user(browser):
    assert get_token(browser).status_code == 200
    assert get_token(browser).status_code == 200
    response = get_token(browser)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert WebSocketToken.objects.count() == 2


# --- Connect: accepted -------------------------------------------------------------------


def test_connect_creates_session(caller, fresh_token, user, gateway):
    response = caller.connect(token=fresh_token(), channel="general")
    assert response.status_code == 200
    session = WebSocketSession.objects.get(connection_id=response.connection_id)
    assert session.user == user
    assert session.channel_name == "general"
    assert session.connected
    assert session.api_gateway == gateway
    assert session.source_ip == "203.0.113.7"
    assert session.session_key_hash and session.auth_hash


def test_connect_without_channel_uses_gateway_default(caller, fresh_token):
    response = caller.connect(token=fresh_token())
    assert WebSocketSession.objects.get().channel_name == "lobby"
    assert response.status_code == 200


def test_connect_hook_can_refuse(gateway, db):
    caller = ApiGatewayCaller(gateway, prefix="/refuse-ws/")
    response = caller.connect()
    assert response.status_code == 403
    assert not WebSocketSession.objects.get().connected


# --- Connect: rejections ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "headers", "status", "reason"),
    [
        (("X-Amzn-Apigateway-Api-Id",), {}, 400, b"did not come through API Gateway"),
        ((), {"X-Amzn-Apigateway-Api-Id": "zzzzzzzzzz"}, 403, b"Unknown gateway"),
        (("X-Gateway-Secret",), {}, 403, b"secret mismatch"),
        ((), {"X-Gateway-Secret": "wrong"}, 403, b"secret mismatch"),
        (("connectionId",), {}, 400, b"Invalid connection id"),
        ((), {"Origin": "https://evil.example"}, 403, b"Origin not allowed"),
        ((), {"Origin": "https://testserver.evil.example"}, 403, b"Origin not allowed"),
        ((), {"Origin": "https://eviltestserver"}, 403, b"Origin not allowed"),
        ((), {"Origin": "http://testserver"}, 403, b"Origin not allowed"),
        ((), {"Origin": "https://testserver/path"}, 403, b"Origin not allowed"),
        (("Origin",), {}, 403, b"Origin not allowed"),
    ],
)
def test_connect_rejections(caller, fresh_token, drop, headers, status, reason):
    response = caller.connect(token=fresh_token(), drop=drop, headers=headers)
    assert response.status_code == status
    assert reason in response.content
    assert not WebSocketSession.objects.exists()
    # The token was not consumed by a rejected connect.
    assert not WebSocketToken.objects.filter(used=True).exists()


def test_connect_rejects_disallowed_host(caller, fresh_token):
    response = caller.connect(token=fresh_token(), headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert not WebSocketSession.objects.exists()


@override_settings(ALLOWED_HOSTS=["testserver", ".example.com"])
def test_origin_derived_from_allowed_hosts_with_subdomain_wildcard(gateway, browser, fresh_token):
    caller = ApiGatewayCaller(gateway, browser=browser, origin="https://www.example.com")
    response = caller.connect(token=fresh_token(), headers={"Host": "api.example.com"})
    assert response.status_code == 200, response.content
    caller.origin = "https://example.com.evil.net"
    response = caller.connect(token=fresh_token(), headers={"Host": "api.example.com"})
    assert response.status_code == 403


@override_settings(WEBSOCKETS={"allowed_origins": ["https://app.example.org"]})
def test_allowed_origins_setting_overrides_allowed_hosts(gateway, browser, fresh_token):
    caller = ApiGatewayCaller(gateway, browser=browser, origin="https://app.example.org")
    assert caller.connect(token=fresh_token()).status_code == 200
    caller.origin = "https://testserver"
    assert caller.connect(token=fresh_token()).status_code == 403
    caller.origin = "https://app.example.org.evil"
    assert caller.connect(token=fresh_token()).status_code == 403


def test_duplicate_connection_id_is_4xx(caller, fresh_token):
    first = caller.connect(token=fresh_token())
    assert first.status_code == 200
    second = caller.connect(first.connection_id, token=fresh_token())
    assert second.status_code == 409
    assert WebSocketSession.objects.count() == 1


def test_anonymous_connect_without_token_view_setting(gateway):
    caller = ApiGatewayCaller(gateway, prefix="/notoken-ws/")
    response = caller.connect()
    assert response.status_code == 200
    assert WebSocketSession.objects.get().user is None


def test_missing_route_slug_is_reported(gateway):
    caller = ApiGatewayCaller(gateway, prefix="/badroute-ws/")
    response = caller.connect()
    assert response.status_code == 500
    assert b"misconfigured" in response.content


# --- Tokens -----------------------------------------------------------------------------


def test_connect_requires_token(caller):
    response = caller.connect()
    assert response.status_code == 403
    assert b"Invalid token" in response.content


def test_token_is_single_use(caller, fresh_token):
    token = fresh_token()
    assert caller.connect(token=token).status_code == 200
    again = caller.connect(token=token)
    assert again.status_code == 403
    assert WebSocketSession.objects.count() == 1


def test_unknown_token_rejected(caller):
    assert caller.connect(token="not-a-real-token").status_code == 403


@override_settings(WEBSOCKETS={"token_expiry_seconds": 30})
def test_expired_token_rejected(caller, fresh_token):
    token = fresh_token()
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    assert caller.connect(token=token).status_code == 403
    assert not WebSocketSession.objects.exists()


def test_token_bound_to_its_django_session(gateway, browser, fresh_token, user):
    from django.test import Client

    token = fresh_token()
    other_browser = Client()
    other_browser.force_login(user)  # same user, another Django session
    caller = ApiGatewayCaller(gateway, browser=other_browser)
    assert caller.connect(token=token).status_code == 403
    assert not WebSocketToken.objects.filter(used=True).exists()


def test_token_without_cookie_rejected(gateway, fresh_token):
    caller = ApiGatewayCaller(gateway)  # a browser with no session cookie
    assert caller.connect(token=fresh_token()).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_one_token_twenty_threads_one_session(gateway, browser, fresh_token):
    """Twenty simultaneous connects with one token: exactly one session results."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrency is checked on PostgreSQL (SQLite serialises writers)")
    token = fresh_token()
    cookies = browser.cookies
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        from django.db import connections
        from django.test import Client

        client = Client()
        client.cookies = cookies
        caller = ApiGatewayCaller(gateway, browser=client)
        barrier.wait()
        try:
            status = caller.connect(token=token).status_code
        finally:
            connections.close_all()
        with lock:
            statuses.append(status)

    with override_settings(WEBSOCKETS={"RATE_LIMIT_ENABLED": False}):
        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(statuses) == [200] + [403] * 19
    assert WebSocketSession.objects.count() == 1


# --- Rate limits ---------------------------------------------------------------------------


def test_connect_rate_limited_by_ip(gateway):
    caller = ApiGatewayCaller(gateway, prefix="/strict-ws/")
    assert [caller.connect().status_code for _ in range(4)] == [200, 200, 200, 429]
    record = ConnectionRateLimit.objects.get(scope="connect_ip")
    assert record.key == "203.0.113.7"
    assert record.attempts == 4
    assert record.rejected == 1
    other = ApiGatewayCaller(gateway, prefix="/strict-ws/", source_ip="198.51.100.1")
    assert other.connect().status_code == 200


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"X-Gateway-Secret": "wrong"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"X-Amzn-Apigateway-Api-Id": ""}, 400),
    ],
    ids=["gateway secret", "origin", "no api id"],
)
def test_rate_limit_counts_attempts_that_fail_later_checks(gateway, headers, refused):
    """The rate limit is checked first: refused attempts use up the allowance too."""
    caller = ApiGatewayCaller(gateway, prefix="/strict-ws/")
    statuses = [caller.connect(headers=headers).status_code for _ in range(4)]
    assert statuses == [refused, refused, refused, 429]
    # Even a correct attempt from that address is now refused.
    assert caller.connect().status_code == 429


def test_connect_rate_limited_by_user_across_addresses(gateway, browser, user):
    statuses = []
    for n in range(4):
        caller = ApiGatewayCaller(
            gateway, prefix="/strict-ws/", browser=browser, source_ip=f"198.51.100.{n}"
        )
        statuses.append(caller.connect().status_code)
    assert statuses == [200, 200, 200, 429]
    assert ConnectionRateLimit.objects.get(scope="connect_user").key == str(user.pk)


def test_rate_limit_counts_rightmost_forwarded_address(gateway):
    """A client-supplied X-Forwarded-For entry cannot dodge the limit."""
    caller = ApiGatewayCaller(gateway, prefix="/strict-ws/")
    statuses = [
        caller.connect(headers={"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.7"}).status_code
        for n in range(4)
    ]
    assert statuses[-1] == 429


@override_settings(WEBSOCKETS={"RATE_LIMIT_ENABLED": False})
def test_rate_limit_can_be_disabled(gateway):
    # The view sets its own limit of 3 but leaves RATE_LIMIT_ENABLED to the setting.
    caller = ApiGatewayCaller(gateway, prefix="/strict-ws/")
    assert all(caller.connect().status_code == 200 for _ in range(5))
    assert not ConnectionRateLimit.objects.exists()


# --- Channels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel", ["bad channel", "a" * 129, "naïve", "semi;colon", "slash/es", "lobby\n"]
)
def test_invalid_channel_rejected_before_token_consumed(caller, fresh_token, channel):
    response = caller.connect(token=fresh_token(), channel=channel)
    assert response.status_code == 400
    assert not WebSocketToken.objects.filter(used=True).exists()


def test_channel_name_limit_128_accepted(caller, fresh_token):
    assert caller.connect(token=fresh_token(), channel="a" * 128).status_code == 200


def test_channel_rule_staff_only(caller, fresh_token, user):
    ChannelAccessRule.objects.create(pattern="support-*", access="staff")
    response = caller.connect(token=fresh_token(), channel="support-eu")
    assert response.status_code == 403
    assert not WebSocketToken.objects.filter(used=True).exists()
    user.is_staff = True
    user.save()
    assert caller.connect(token=fresh_token(), channel="support-eu").status_code == 200


def test_exact_rule_beats_prefix_and_longest_prefix_wins(caller, fresh_token):
    ChannelAccessRule.objects.create(pattern="support-*", access="nobody")
    ChannelAccessRule.objects.create(pattern="support-public", access="authenticated")
    ChannelAccessRule.objects.create(pattern="support-open-*", access="everyone")
    assert caller.connect(token=fresh_token(), channel="support-public").status_code == 200
    assert caller.connect(token=fresh_token(), channel="support-open-1").status_code == 200
    assert caller.connect(token=fresh_token(), channel="support-x").status_code == 403


def test_channel_rule_permissions(caller, fresh_token, user):
    ChannelAccessRule.objects.create(
        pattern="admins", access="permissions", permissions=["auth.change_user"]
    )
    assert caller.connect(token=fresh_token(), channel="admins").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_user"))
    assert caller.connect(token=fresh_token(), channel="admins").status_code == 200


def test_channel_rule_authenticated_refuses_anonymous(gateway):
    ChannelAccessRule.objects.create(pattern="members", access="authenticated")
    caller = ApiGatewayCaller(gateway, prefix="/notoken-ws/")
    assert caller.connect(channel="members").status_code == 403
    assert caller.connect(channel="public").status_code == 200


@override_settings(WEBSOCKETS={"channel_default_access": "deny"})
def test_default_deny_for_channels_without_rule(caller, fresh_token):
    ChannelAccessRule.objects.create(pattern="open", access="everyone")
    assert caller.connect(token=fresh_token(), channel="unruled").status_code == 403
    assert caller.connect(token=fresh_token(), channel="open").status_code == 200


def test_change_channel(caller, connected):
    response = caller.send(connected, {"action": "change_channel", "channel": "support"})
    assert response.status_code == 200
    assert response.json() == {"type": "channel_changed", "channel": "support"}
    assert WebSocketSession.objects.get().channel_name == "support"


@pytest.mark.parametrize("channel", ["", "bad name", "x" * 129, 5, None, "support\n"])
def test_change_channel_validates(caller, connected, channel):
    response = caller.send(connected, {"action": "change_channel", "channel": channel})
    assert response.status_code == 400
    assert WebSocketSession.objects.get().channel_name == "lobby"


def test_change_channel_checks_rules(caller, connected):
    ChannelAccessRule.objects.create(pattern="vip", access="staff")
    response = caller.send(connected, {"action": "change_channel", "channel": "vip"})
    assert response.status_code == 403
    assert WebSocketSession.objects.get().channel_name == "lobby"


# --- Messages and handlers ------------------------------------------------------------------


def test_message_dispatches_to_named_handler(caller, connected):
    response = caller.send(connected, {"action": "echo", "text": "hi"})
    assert response.status_code == 200
    assert response.json() == {
        "handled_by": "echo",
        "body": {"action": "echo", "text": "hi"},
        "user": "alice",
    }
    session = WebSocketSession.objects.get()
    assert session.request_count == 1


def test_message_updates_last_seen(caller, connected):
    WebSocketSession.objects.update(last_seen=timezone.now() - timedelta(hours=1))
    caller.send(connected, {"action": "echo"})
    assert timezone.now() - WebSocketSession.objects.get().last_seen < timedelta(minutes=1)


def test_unknown_handler_goes_to_default(caller, connected):
    response = caller.send(connected, {"action": "nope"})
    assert response.json() == {"handled_by": "default"}


def test_handler_returning_response(caller, connected):
    response = caller.send(connected, {"action": "reply"})
    assert response.content == b"plain"


@pytest.mark.parametrize(
    "name",
    [
        "connect",
        "disconnect",
        "dispatch",
        "setup",
        "http_method_not_allowed",
        "options",
        "get",
        "post",
        "_private",
        "__init__",
        "static_thing",
        "prop",
        "not_a_method",
        "handler_names",
        "setting",
        "as_view",
    ],
)
def test_forbidden_handler_names_go_to_default(caller, connected, name):
    response = caller.send(connected, {"action": name})
    assert response.status_code == 200
    assert response.json() == {"handled_by": "default"}
    assert ws_urls.CALLS == [("default", {"action": name})]


@pytest.mark.parametrize(
    "name", ["audit_label", "get_context_data", "extra_context", "get", "echo_missing"]
)
def test_mixin_methods_are_not_handlers(gateway, db, name):
    """Public methods of a mixin before WebSocketView in the MRO go to default."""
    caller = ApiGatewayCaller(gateway, prefix="/mixed-ws/")
    with override_settings(WEBSOCKETS={"USE_WS_TOKEN": False}):
        connection_id = caller.connect().connection_id
    response = caller.send(connection_id, {"action": name})
    assert response.status_code == 200
    assert response.json() == {"handled_by": "default"}
    # The subclass's own handlers still work.
    assert caller.send(connection_id, {"action": "echo"}).json()["handled_by"] == "echo"


def test_allowed_handlers_whitelist(gateway, db):
    caller = ApiGatewayCaller(gateway, prefix="/white-ws/")
    with override_settings(WEBSOCKETS={"USE_WS_TOKEN": False}):
        connection_id = caller.connect().connection_id
    assert caller.send(connection_id, {"action": "echo"}).json()["handled_by"] == "echo"
    # Not listed: goes to default. Listed but forbidden: still never dispatched.
    for name in ("boom", "dispatch", "_private", "setup", "get", "post"):
        assert caller.send(connection_id, {"action": name}).json() == {"handled_by": "default"}


def test_allowed_handlers_given_to_as_view(gateway, db):
    caller = ApiGatewayCaller(gateway, prefix="/narrow-ws/")
    with override_settings(WEBSOCKETS={"USE_WS_TOKEN": False}):
        connection_id = caller.connect().connection_id
    assert caller.send(connection_id, {"action": "echo"}).json() == {"handled_by": "default"}
    # The class itself, routed without the argument, still dispatches echo.
    plain = ApiGatewayCaller(gateway, prefix="/ws/")
    with override_settings(WEBSOCKETS={"USE_WS_TOKEN": False}):
        other = plain.connect().connection_id
    assert plain.send(other, {"action": "echo"}).json()["handled_by"] == "echo"


def test_custom_selection_key(gateway, db):
    caller = ApiGatewayCaller(gateway, prefix="/keyed-ws/")
    connection_id = caller.connect().connection_id
    assert caller.send(connection_id, {"type": "echo"}).json()["handled_by"] == "echo"
    assert caller.send(connection_id, {"action": "echo"}).json()["handled_by"] == "default"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", b"not valid JSON"),
        ("[1, 2]", b"JSON object"),
        ('"string"', b"JSON object"),
        ("x" * (128 * 1024 + 1), b"128 KB"),
    ],
)
def test_bad_bodies_get_400(caller, connected, body, reason):
    response = caller.send(connected, body)
    assert response.status_code == 400
    assert reason in response.content
    assert ws_urls.CALLS == []


def test_message_for_unknown_connection_is_4xx(caller, db, gateway):
    response = caller.send(new_connection_id(), {"action": "echo"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("drop", "headers", "status"),
    [
        (("X-Gateway-Secret",), {}, 403),
        ((), {"X-Gateway-Secret": "wrong"}, 403),
        ((), {"User-Agent": "curl/8.0"}, 403),
        ((), {"X-Amzn-Apigateway-Api-Id": "zzzzzzzzzz"}, 403),
        (("X-Amzn-Apigateway-Api-Id",), {}, 400),
    ],
)
def test_unknown_connection_id_not_revealed_to_non_gateway_callers(
    caller, gateway, drop, headers, status
):
    """Without the gateway's proof, an unknown id and a known one answer alike."""
    response = caller.send(new_connection_id(), {"action": "echo"}, drop=drop, headers=headers)
    assert response.status_code == status


def test_message_for_disconnected_session_is_4xx(caller, connected):
    caller.disconnect(connected)
    response = caller.send(connected, {"action": "echo"})
    assert response.status_code == 410


@pytest.mark.parametrize(
    ("drop", "headers"),
    [
        (("X-Amzn-Apigateway-Api-Id",), {}),
        ((), {"X-Gateway-Secret": "nope"}),
        ((), {"User-Agent": "curl/8.0"}),
        ((), {"User-Agent": "AmazonAPIGateway_otherapi"}),
        ((), {"X-Amzn-Apigateway-Api-Id": "otherapi"}),
    ],
)
def test_message_requires_gateway_origin(caller, connected, drop, headers):
    response = caller.send(connected, {"action": "echo"}, drop=drop, headers=headers)
    assert response.status_code in (400, 403)
    assert ws_urls.CALLS == []


def test_previous_secret_accepted_during_rotation(caller, connected, gateway):
    old = gateway.integration_secret
    gateway.previous_integration_secret = old
    gateway.integration_secret = "new-secret-value"
    gateway.save()
    response = caller.send(connected, {"action": "echo"}, headers={"X-Gateway-Secret": old})
    assert response.status_code == 200
    response = caller.send(
        connected, {"action": "echo"}, headers={"X-Gateway-Secret": "new-secret-value"}
    )
    assert response.status_code == 200
    gateway.previous_integration_secret = ""
    gateway.save()
    response = caller.send(connected, {"action": "echo"}, headers={"X-Gateway-Secret": old})
    assert response.status_code == 403


def test_handler_exception_logged_mailed_and_bare_500(caller, connected, caplog, settings):
    settings.ADMINS = ["ops@example.com"]
    with caplog.at_level(logging.ERROR, logger="wsapp"):
        response = caller.send(connected, {"action": "boom"})
    assert response.status_code == 500
    assert response.content == b""
    assert "handler exploded" in caplog.text
    assert len(mail.outbox) == 1
    assert "handler exploded" in mail.outbox[0].body


@override_settings(WEBSOCKETS={"SEND_EXCEPTION_MAIL": False})
def test_exception_mail_can_be_turned_off(caller, connected, settings):
    settings.ADMINS = ["ops@example.com"]
    assert caller.send(connected, {"action": "boom"}).status_code == 500
    assert mail.outbox == []


def test_debug_logs_reason_not_sent_to_client(gateway, caplog):
    caller = ApiGatewayCaller(gateway, prefix="/debug-ws/")
    with caplog.at_level(logging.WARNING, logger="wsapp"):
        response = caller.connect(headers={"X-Gateway-Secret": "wrong"})
    assert response.status_code == 403
    assert "sync the gateway" in caplog.text
    assert b"sync the gateway" not in response.content


def test_no_debug_log_without_debug(caller, caplog):
    with caplog.at_level(logging.WARNING, logger="wsapp"):
        caller.connect(headers={"X-Gateway-Secret": "wrong"})
    assert [record for record in caplog.records if record.name == "wsapp"] == []


# --- Permissions -------------------------------------------------------------------------


def _connect_to(prefix, gateway, browser):
    caller = ApiGatewayCaller(gateway, prefix=prefix, browser=browser)
    with override_settings(WEBSOCKETS={"USE_WS_TOKEN": False}):
        return caller, caller.connect()


def test_any_permission_required(gateway, browser, user):
    caller, response = _connect_to("/anyperm-ws/", gateway, browser)
    assert response.status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    caller, response = _connect_to("/anyperm-ws/", gateway, browser)
    assert response.status_code == 200
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200


def test_all_permissions_required(gateway, browser, user):
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    _, response = _connect_to("/allperm-ws/", gateway, browser)
    assert response.status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_user"))
    caller, response = _connect_to("/allperm-ws/", gateway, browser)
    assert response.status_code == 200
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200


def test_permission_removed_refuses_messages(gateway, browser, user):
    perm = Permission.objects.get(codename="view_user")
    user.user_permissions.add(perm)
    caller, response = _connect_to("/anyperm-ws/", gateway, browser)
    user.user_permissions.remove(perm)
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 403


def test_message_permissions_granted_through_a_group(gateway, browser, user):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="viewers")
    group.permissions.add(Permission.objects.get(codename="view_user"))
    user.groups.add(group)
    caller, response = _connect_to("/anyperm-ws/", gateway, browser)
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200
    group.permissions.clear()
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 403


def test_message_all_permissions_need_every_one(gateway, browser, user):
    view, change = (Permission.objects.get(codename=c) for c in ("view_user", "change_user"))
    user.user_permissions.add(view, change)
    caller, response = _connect_to("/allperm-ws/", gateway, browser)
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200
    user.user_permissions.remove(change)
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 403


def test_message_permissions_of_a_superuser(gateway, browser, user):
    user.is_superuser = True
    user.save()
    caller, response = _connect_to("/allperm-ws/", gateway, browser)
    assert response.status_code == 200
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200


class GrantEverythingBackend:
    """An authentication backend that grants every permission (like an LDAP group map)."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None):
        return user_obj.is_active


def test_other_authentication_backends_decide_message_permissions(
    gateway, browser, user, settings
):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        f"{__name__}.GrantEverythingBackend",
    ]
    caller, response = _connect_to("/allperm-ws/", gateway, browser)
    assert response.status_code == 200
    assert caller.send(response.connection_id, {"action": "echo"}).status_code == 200


# --- Disconnect -------------------------------------------------------------------------------


def test_disconnect_marks_session(caller, connected):
    response = caller.disconnect(connected)
    assert response.status_code == 200
    session = WebSocketSession.objects.get()
    assert not session.connected
    assert session.disconnected_on is not None


def test_disconnect_unknown_id_is_noop(caller, db, gateway):
    assert caller.disconnect(new_connection_id()).status_code == 200


def test_disconnect_requires_gateway(caller, connected):
    response = caller.disconnect(connected, headers={"X-Gateway-Secret": "wrong"})
    assert response.status_code == 403
    assert WebSocketSession.objects.get().connected


@pytest.mark.parametrize("agent", ["curl/8.0", "AmazonAPIGateway_otherapi", ""])
def test_disconnect_requires_gateway_user_agent(caller, connected, agent):
    response = caller.disconnect(connected, headers={"User-Agent": agent})
    assert response.status_code == 403
    assert WebSocketSession.objects.get().connected


@pytest.mark.parametrize("connection_id", ["", "x" * 129])
def test_message_without_a_usable_connection_id_is_400(caller, connected, connection_id):
    headers = {"connectionId": connection_id} if connection_id else {}
    drop = () if connection_id else ("connectionId",)
    response = caller.send(connected, {"action": "echo"}, headers=headers, drop=drop)
    assert response.status_code == 400
    assert response.content == b"Invalid connection id."


@pytest.mark.parametrize("connection_id", ["", "x" * 129])
def test_disconnect_without_a_usable_connection_id_is_400(caller, connected, connection_id):
    response = caller.disconnect(connected, headers={"connectionId": connection_id})
    assert response.status_code == 400
    assert WebSocketSession.objects.get().connected


@pytest.mark.parametrize("connection_id", ["a\x00b", "caf\u00e9=", "a b", "a;b"])
def test_connection_ids_not_shaped_like_api_gateways_are_400(caller, connected, connection_id):
    """Refused before any query: a NUL would even break PostgreSQL's."""
    headers = {"connectionId": connection_id}
    for response in (
        caller.send(connected, {"action": "echo"}, headers=headers),
        caller.disconnect(connected, headers=headers),
    ):
        assert response.status_code == 400
        assert response.content == b"Invalid connection id."
    assert caller.connect(connection_id).status_code == 400
    assert WebSocketSession.objects.count() == 1


@pytest.mark.parametrize("forwarded", ["\x00", "not-an-address", "203.0.113.7, \x00"])
def test_a_forwarded_for_that_is_no_address_is_one_unknown_key(gateway, forwarded):
    caller = ApiGatewayCaller(gateway, prefix="/strict-ws/")
    response = caller.connect(headers={"X-Forwarded-For": forwarded})
    assert response.status_code == 200
    assert list(ConnectionRateLimit.objects.values_list("key", flat=True)) == ["unknown"]
