"""wsapp.sending against a real local management API, through real boto3 clients."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.helpers.fake_management_api import (  # noqa: F401  (fixtures)
    FakeManagementApi,
    fake_management_api,
    fake_management_api_factory,
    make_gateway,
)
from wsapp import conf
from wsapp.models import ApiGateway, WebSocketSession
from wsapp.sending import (
    DisconnectReport,
    ManagementApiError,
    MessageTooLarge,
    SendReport,
    disconnect_session,
    disconnect_sessions,
    encode_message,
    get_connection_info,
    send_to_sessions,
)

pytestmark = pytest.mark.django_db


def make_sessions(gateway: ApiGateway, *connection_ids: str, **fields) -> list[WebSocketSession]:
    return WebSocketSession.objects.bulk_create(
        WebSocketSession(connection_id=cid, channel_name="default", api_gateway=gateway, **fields)
        for cid in connection_ids
    )


def statements(queries: CaptureQueriesContext, verb: str) -> list[str]:
    """Captured statements of one kind; a PostgreSQL server-side cursor counts as SELECT."""
    found = []
    for query in queries.captured_queries:
        sql = query["sql"].lstrip().upper()
        if sql.startswith("DECLARE ") and " CURSOR FOR " in sql:
            sql = sql.split(" CURSOR FOR ", 1)[1]
        if sql.startswith(verb):
            found.append(query["sql"])
    return found


@pytest.fixture
def gateway(fake_management_api: FakeManagementApi) -> ApiGateway:
    return make_gateway(fake_management_api, "api1")


# --- encode_message ---------------------------------------------------------------


def test_encode_message_is_compact_utf8_json():
    assert encode_message({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode()


def test_encode_message_handles_django_types():
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    decoded = json.loads(encode_message({"when": when, "price": Decimal("1.50"), "id": ident}))
    assert decoded == {
        "when": "2030-01-02T03:04:05Z",
        "price": "1.50",
        "id": "12345678-1234-5678-1234-567812345678",
    }


def test_encode_message_sends_str_and_bytes_as_they_are():
    assert encode_message("plain text") == b"plain text"
    assert encode_message(b"\x00\x01") == b"\x00\x01"


def test_encode_message_refuses_unserialisable_data():
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        encode_message({"x": object()})


@pytest.mark.parametrize("data", ["a\ud800b", {"x": ["\udfff"]}])
def test_encode_message_refuses_text_that_is_not_unicode(data):
    with pytest.raises(TypeError, match="not valid Unicode"):
        encode_message(data)


def test_encode_message_accepts_exactly_the_limit():
    assert len(encode_message("x" * conf.MAX_MESSAGE_BYTES)) == conf.MAX_MESSAGE_BYTES


def test_encode_message_counts_bytes_not_characters():
    # 65,537 two-byte characters: under the limit in characters, over it in bytes.
    with pytest.raises(MessageTooLarge) as caught:
        encode_message("é" * 65_537)
    assert caught.value.size == 131_074
    assert "131,074 bytes" in str(caught.value)
    assert "128 KB" in str(caught.value)


# --- the report -------------------------------------------------------------------


def test_send_report_summary_and_truth():
    report = SendReport(
        delivered=["a", "b"],
        gone=["c"],
        failed={"d": "LimitExceededException: Rate exceeded", "e": "ForbiddenException: x"},
    )
    assert (report.delivered_count, report.gone_count, report.failed_count) == (2, 1, 2)
    assert report.total == 5
    assert not report
    assert report.summary() == (
        "2 delivered, 1 gone, 2 failed: LimitExceededException (1), ForbiddenException (1)"
    )
    assert SendReport(delivered=["a"], gone=["b"])
    assert not SendReport()
    assert str(SendReport()) == "no connected sessions to send to"


# --- sending ----------------------------------------------------------------------


def test_send_sorts_connections_into_delivered_gone_and_failed(fake_management_api, gateway):
    make_sessions(gateway, "ok-1", "ok-2", "gone-1", "denied-1")
    fake_management_api.script("gone-1", 410)
    fake_management_api.script("denied-1", 403)

    report = WebSocketSession.objects.all().send_message({"hello": "world"})

    assert sorted(report.delivered) == ["ok-1", "ok-2"]
    assert report.gone == ["gone-1"]
    assert report.failed == {"denied-1": "ForbiddenException: Forbidden"}
    bodies = {c.connection_id: c.body for c in fake_management_api.calls_for(method="POST")}
    assert bodies["ok-1"] == b'{"hello":"world"}'
    assert {c.api_id for c in fake_management_api.calls} == {"api1"}
    assert {c.stage for c in fake_management_api.calls} == {"production"}


def test_connection_ids_are_url_encoded_and_round_trip(fake_management_api, gateway):
    make_sessions(gateway, "L0SM9cOFvHcCIhw=")
    report = WebSocketSession.objects.send_message("hi")
    assert report.delivered == ["L0SM9cOFvHcCIhw="]
    assert fake_management_api.calls[0].connection_id == "L0SM9cOFvHcCIhw="


def test_gone_sessions_are_marked_disconnected_in_one_update(fake_management_api, gateway):
    make_sessions(gateway, "live", "gone-1", "gone-2", "gone-3")
    for cid in ("gone-1", "gone-2", "gone-3"):
        fake_management_api.script(cid, 410)

    with CaptureQueriesContext(connection) as queries:
        report = send_to_sessions(WebSocketSession.objects.all(), "ping")

    assert sorted(report.gone) == ["gone-1", "gone-2", "gone-3"]
    assert len(statements(queries, "SELECT")) == 1
    assert len(statements(queries, "UPDATE")) == 1
    assert len(queries.captured_queries) == 2
    closed = WebSocketSession.objects.filter(connected=False)
    assert sorted(closed.values_list("connection_id", flat=True)) == ["gone-1", "gone-2", "gone-3"]
    assert all(s.disconnected_on is not None for s in closed)
    assert WebSocketSession.objects.get(connection_id="live").disconnected_on is None


def test_nothing_gone_means_no_update(fake_management_api, gateway):
    make_sessions(gateway, "a", "b")
    with CaptureQueriesContext(connection) as queries:
        WebSocketSession.objects.send_message("ping")
    assert statements(queries, "UPDATE") == []


def test_disconnected_sessions_are_not_sent_to(fake_management_api, gateway):
    make_sessions(gateway, "live")
    make_sessions(gateway, "closed", connected=False)

    report = WebSocketSession.objects.all().send_message("ping")

    assert report.delivered == ["live"]
    assert [c.connection_id for c in fake_management_api.calls] == ["live"]


def test_a_sliced_queryset_sends_to_its_slice_only(fake_management_api, gateway):
    make_sessions(gateway, "s1", "s2", "s3")
    report = WebSocketSession.objects.order_by("connection_id")[:2].send_message("x")
    assert sorted(report.delivered) == ["s1", "s2"]


def test_one_queryset_reaches_every_gateway(fake_management_api, fake_management_api_factory):
    other_server = fake_management_api_factory()
    first = make_gateway(fake_management_api, "api1")
    second = make_gateway(fake_management_api, "api2", stage_name="staging")
    third = make_gateway(other_server, "api3")
    make_sessions(first, "g1-a", "g1-b")
    make_sessions(second, "g2-a")
    make_sessions(third, "g3-a", "g3-b")

    with CaptureQueriesContext(connection) as queries:
        report = WebSocketSession.objects.send_message({"n": 1})

    assert sorted(report.delivered) == ["g1-a", "g1-b", "g2-a", "g3-a", "g3-b"]
    assert len(statements(queries, "SELECT")) == 1
    seen = {(c.api_id, c.stage, c.connection_id) for c in fake_management_api.calls}
    assert seen == {
        ("api1", "production", "g1-a"),
        ("api1", "production", "g1-b"),
        ("api2", "staging", "g2-a"),
    }
    assert {(c.api_id, c.connection_id) for c in other_server.calls} == {
        ("api3", "g3-a"),
        ("api3", "g3-b"),
    }


def test_sends_run_concurrently(fake_management_api, gateway):
    # Long enough that starting 32 calls (signing each costs ~1 ms of CPU) takes a
    # fraction of one call's time, even on a busy 2-core machine.
    fake_management_api.latency = 0.5
    make_sessions(gateway, *(f"c{i}" for i in range(32)))

    report = WebSocketSession.objects.send_message("ping")

    assert report.delivered_count == 32
    # One at a time would never exceed 1; a pool of 32 overlaps most of them.
    assert fake_management_api.max_in_flight >= 16


def test_concurrency_is_bounded_by_send_pool_size(settings, fake_management_api, gateway):
    settings.WEBSOCKETS = {"send_pool_size": 4}
    fake_management_api.latency = 0.05
    make_sessions(gateway, *(f"c{i}" for i in range(16)))

    report = WebSocketSession.objects.send_message("ping")

    assert report.delivered_count == 16
    assert 2 <= fake_management_api.max_in_flight <= 4


def test_too_large_a_message_is_refused_before_any_call(fake_management_api, gateway):
    make_sessions(gateway, "a", "b")
    with pytest.raises(MessageTooLarge, match="128 KB"):
        WebSocketSession.objects.send_message("x" * (conf.MAX_MESSAGE_BYTES + 1))
    assert fake_management_api.calls == []


def test_throttling_is_retried_and_a_persistent_429_fails_alone(
    settings, fake_management_api, gateway
):
    settings.WEBSOCKETS = {"aws_max_attempts": 2}
    make_sessions(gateway, "ok", "recovers", "throttled", "broken")
    fake_management_api.script("recovers", 429, 200)
    fake_management_api.script("throttled", 429)
    fake_management_api.script("broken", 500)

    report = WebSocketSession.objects.send_message("ping")

    assert sorted(report.delivered) == ["ok", "recovers"]
    assert report.failed == {
        "throttled": "LimitExceededException: Rate exceeded",
        "broken": "InternalServerErrorException: Internal server error",
    }
    assert len(fake_management_api.calls_for("recovers")) == 2
    # Retried, then given up. (Not an exact count: wsapp.aws passes the setting as
    # botocore's retries["max_attempts"], which counts retries after the first call.)
    assert len(fake_management_api.calls_for("throttled")) >= 2
    # Failed is not gone: those sessions stay connected.
    assert WebSocketSession.objects.filter(connected=True).count() == 4


def test_a_gateway_without_endpoint_fails_its_sessions_only(fake_management_api, gateway):
    undeployed = ApiGateway.objects.create(
        api_name="undeployed", target_base_endpoint="https://backend.example.com/ws/"
    )
    make_sessions(gateway, "ok")
    make_sessions(undeployed, "nowhere")

    report = WebSocketSession.objects.send_message("ping")

    assert report.delivered == ["ok"]
    assert "no API endpoint" in report.failed["nowhere"]
    assert "'undeployed'" in report.failed["nowhere"]


def test_an_unreachable_endpoint_fails_without_raising(settings, fake_management_api_factory):
    settings.WEBSOCKETS = {"aws_max_attempts": 1, "aws_connect_timeout": 1}
    server = fake_management_api_factory()
    gateway = make_gateway(server, "api1")
    server.stop()  # nothing listens on that port any more
    make_sessions(gateway, "a", "b")

    report = WebSocketSession.objects.send_message("ping")

    assert report.delivered == []
    assert set(report.failed) == {"a", "b"}
    assert report.failed["a"].startswith("EndpointConnectionError: ")


def test_failures_are_logged_as_warnings(caplog, fake_management_api, gateway):
    make_sessions(gateway, "ok", "denied")
    fake_management_api.script("denied", 403)
    with caplog.at_level(logging.WARNING, logger="wsapp"):
        WebSocketSession.objects.send_message("ping")
    assert "1 delivered, 0 gone, 1 failed: ForbiddenException (1)" in caplog.text
    assert "denied: ForbiddenException: Forbidden" in caplog.text


def test_send_to_a_list_of_sessions(fake_management_api, gateway):
    sessions = make_sessions(gateway, "a", "b", "gone")
    fake_management_api.script("gone", 410)
    fresh = list(WebSocketSession.objects.order_by("connection_id"))

    with CaptureQueriesContext(connection) as queries:
        report = send_to_sessions(fresh, [1, 2])

    assert sorted(report.delivered) == ["a", "b"]
    # One query for the gateways, one UPDATE for the gone session.
    assert len(queries.captured_queries) == 2
    assert fresh[2].connected is False
    assert sessions  # created


def test_session_send_message(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "solo")

    report = session.send_message({"to": "you"})

    assert report
    assert report.delivered == ["solo"]
    assert fake_management_api.calls[0].body == b'{"to":"you"}'


def test_session_send_message_to_a_gone_connection(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "solo")
    fake_management_api.script("solo", 410)

    report = session.send_message("x")

    assert not report
    assert report.gone == ["solo"]
    assert session.connected is False
    session.refresh_from_db()
    assert session.connected is False
    assert session.disconnected_on is not None


def test_sending_to_something_else_is_a_type_error(gateway):
    with pytest.raises(TypeError, match="WebSocketSession"):
        send_to_sessions(ApiGateway.objects.all(), "x")
    with pytest.raises(TypeError, match="got a str"):
        send_to_sessions("not sessions", "x")


# --- disconnecting ----------------------------------------------------------------


def test_disconnect_session_deletes_the_connection(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "bye")

    assert session.disconnect() is True

    (call,) = fake_management_api.calls
    assert (call.method, call.connection_id) == ("DELETE", "bye")
    session.refresh_from_db()
    assert session.connected is False
    assert session.disconnected_on is not None


def test_disconnect_session_counts_gone_as_closed(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "bye")
    fake_management_api.script("bye", 410)
    assert disconnect_session(session) is True
    assert WebSocketSession.objects.get().connected is False


def test_disconnect_session_never_raises_for_aws_errors(caplog, fake_management_api, gateway):
    (session,) = make_sessions(gateway, "bye")
    fake_management_api.script("bye", 403)

    with caplog.at_level(logging.WARNING, logger="wsapp"):
        assert disconnect_session(session) is False

    assert "ForbiddenException" in caplog.text
    # The login is ending regardless: Django stops treating the socket as live.
    assert WebSocketSession.objects.get().connected is False


def test_disconnect_sessions_closes_a_queryset_in_one_update(fake_management_api, gateway):
    make_sessions(gateway, "a", "b", "gone", "denied")
    make_sessions(gateway, "old", connected=False)
    fake_management_api.script("gone", 410)
    fake_management_api.script("denied", 403)

    with CaptureQueriesContext(connection) as queries:
        report = disconnect_sessions(WebSocketSession.objects.all())

    assert isinstance(report, DisconnectReport)
    assert sorted(report.closed) == ["a", "b"]
    assert report.gone == ["gone"]
    assert report.failed == {"denied": "ForbiddenException: Forbidden"}
    assert not report
    assert len(statements(queries, "UPDATE")) == 1
    assert {c.method for c in fake_management_api.calls} == {"DELETE"}
    assert "old" not in {c.connection_id for c in fake_management_api.calls}
    assert not WebSocketSession.objects.filter(connected=True).exists()


def test_disconnect_sessions_with_nothing_to_close(fake_management_api, gateway):
    report = disconnect_sessions(WebSocketSession.objects.all())
    assert report
    assert report.total == 0
    assert fake_management_api.calls == []


# --- connection info --------------------------------------------------------------


def test_get_connection_info(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "who")

    info = get_connection_info(session)

    assert info is not None
    assert info["connection_id"] == "who"
    assert info["source_ip"] == "203.0.113.9"
    assert info["user_agent"] == "agent-who"
    assert info["connected_at"] == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert fake_management_api.calls[0].method == "GET"


def test_get_connection_info_returns_none_when_gone(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "who")
    fake_management_api.script("who", 410)
    assert get_connection_info(session) is None
    # Read-only: the row is left alone.
    assert WebSocketSession.objects.get().connected is True


def test_get_connection_info_raises_a_clear_error(fake_management_api, gateway):
    (session,) = make_sessions(gateway, "who")
    fake_management_api.script("who", 403)
    with pytest.raises(ManagementApiError, match="ForbiddenException: Forbidden"):
        get_connection_info(session)
