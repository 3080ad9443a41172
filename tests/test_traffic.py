"""Per-minute traffic counters: what WebSocketView counts, and how the buffer is written."""

from __future__ import annotations

import pytest

from tests.helpers.apigw import ApiGatewayCaller
from tests.helpers.views import (  # noqa: F401  (fixtures)
    browser,
    fresh_token,
    gateway,
    user,
)
from wsapp import traffic
from wsapp.models import TrafficCounter

pytestmark = [pytest.mark.urls("tests.helpers.ws_urls"), pytest.mark.django_db(transaction=True)]


def totals() -> tuple[int, int]:
    """(connects, messages) buffered in this process, over every gateway and minute."""
    values = list(traffic.pending().values())
    return sum(c for c, _ in values), sum(m for _, m in values)


def test_accepted_connects_and_messages_are_counted(gateway, browser, fresh_token):
    caller = ApiGatewayCaller(gateway, browser=browser)
    connection_id = caller.connect(token=fresh_token()).connection_id
    for text in ("one", "two"):
        assert caller.send(connection_id, {"action": "echo", "message": text}).status_code == 200
    assert caller.disconnect(connection_id).status_code == 200
    assert totals() == (1, 2)
    assert {gateway_id for gateway_id, _ in traffic.pending()} == {gateway.pk}


def test_refused_requests_are_not_counted(gateway, browser, fresh_token):
    caller = ApiGatewayCaller(gateway, browser=browser)
    assert caller.connect(token="not-a-token").status_code == 403
    assert caller.send("unknownid000=", {"action": "echo"}).status_code == 404
    assert totals() == (0, 0)


def test_flush_writes_one_row_per_gateway_and_minute_and_adds_to_it(gateway):
    traffic.count(gateway.pk, connects=1)
    traffic.count(gateway.pk, messages=3)
    assert traffic.flush() == 1
    assert traffic.pending() == {}
    traffic.count(gateway.pk, messages=2)
    traffic.flush()
    row = TrafficCounter.objects.get()
    assert (row.api_gateway_id, row.connects, row.messages) == (gateway.pk, 1, 5)
    assert row.bucket.second == 0 and row.bucket.microsecond == 0


def test_a_request_finishing_with_the_buffer_due_writes_it_out(
    gateway, browser, fresh_token, monkeypatch
):
    caller = ApiGatewayCaller(gateway, browser=browser)
    connection_id = caller.connect(token=fresh_token()).connection_id
    assert TrafficCounter.objects.count() == 0  # buffered, not written
    monkeypatch.setattr(traffic, "FLUSH_SECONDS", 0.0)
    assert caller.send(connection_id, {"action": "echo"}).status_code == 200
    row = TrafficCounter.objects.get()
    assert (row.connects, row.messages) == (1, 1)
    assert traffic.pending() == {}


def test_a_failed_write_is_logged_and_dropped(gateway, caplog):
    traffic.count(gateway.pk + 1000, messages=4)  # no such gateway: the INSERT fails
    assert traffic.flush() == 0
    assert traffic.pending() == {}
    assert TrafficCounter.objects.count() == 0
    assert "dropped 0 connects and 4 messages" in caplog.text


def test_flush_if_due_waits_for_the_oldest_count(gateway, monkeypatch):
    traffic.count(gateway.pk, messages=1)
    assert traffic.flush_if_due() == 0
    assert TrafficCounter.objects.count() == 0
    monkeypatch.setattr(traffic, "FLUSH_SECONDS", 0.0)
    assert traffic.flush_if_due() == 1
    assert TrafficCounter.objects.get().messages == 1
    assert traffic.flush_if_due() == 0  # nothing buffered
