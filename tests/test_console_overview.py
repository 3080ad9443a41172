"""The Overview: each KPI from its rows, the charts, and which cards a user sees."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.admin import overview
from tests.helpers.console import (  # noqa: F401  (fixtures)
    ago,
    capture,
    client_with,
    make_sessions,
    operator,
    operator_client,
)
from wsapp import traffic
from wsapp.models import (
    ApiGateway,
    ConnectionRateLimit,
    TrafficCounter,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


@pytest.fixture
def gateway() -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="overview", target_base_endpoint="https://backend.example.com/ws/"
    )


def kpi(content: bytes, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">([^<]*)<', content.decode())
    assert match, f"no KPI {name}"
    return match.group(1).strip()


def chart_data(content: bytes, name: str) -> dict:
    import html

    block = content.decode().split(f'data-chart="{name}"', 1)[1]
    value = re.search(r'data-value="([^"]*)"', block).group(1)
    return json.loads(html.unescape(value))


def test_connected_now_counts_connected_sessions(operator_client, gateway):
    make_sessions(gateway, 3, prefix="on", last_seen=ago(minutes=1))
    make_sessions(gateway, 2, prefix="idle", last_seen=ago(minutes=30))
    make_sessions(gateway, 4, prefix="off", connected=False)
    content = operator_client.get(INDEX).content
    assert kpi(content, "connected-now") == "5"
    assert b"3 seen in the last 10 minutes" in content


def counters(gateway: ApiGateway, *rows: tuple[timedelta, int, int]) -> None:
    """Per-minute traffic rows: (age, connects, messages)."""
    TrafficCounter.objects.bulk_create(
        TrafficCounter(
            api_gateway=gateway,
            bucket=traffic.minute_of(timezone.now() - age),
            connects=connects,
            messages=messages,
        )
        for age, connects, messages in rows
    )


def test_connects_and_messages_sum_the_counters_of_each_window(operator_client, gateway):
    other = ApiGateway.objects.create(
        api_name="other", target_base_endpoint="https://backend.example.com/ws/"
    )
    counters(gateway, (timedelta(minutes=10), 2, 20), (timedelta(hours=5), 3, 7))
    counters(other, (timedelta(minutes=1), 1, 1), (timedelta(days=3), 400, 1000))
    content = operator_client.get(INDEX).content
    assert kpi(content, "connects-hour") == "3"
    assert kpi(content, "connects-day") == "6"
    assert kpi(content, "messages-hour") == "21"
    assert kpi(content, "messages-day") == "28"


def test_counts_not_written_out_yet_are_included(operator_client, gateway):
    counters(gateway, (timedelta(minutes=10), 2, 20))
    traffic.count(gateway.pk, connects=1, messages=5)
    content = operator_client.get(INDEX).content
    assert kpi(content, "connects-hour") == "3"
    assert kpi(content, "messages-day") == "25"


def test_cleaning_up_sessions_keeps_the_counts(operator_client, gateway):
    make_sessions(gateway, 3, prefix="gone", created_on=ago(minutes=5), connected=False)
    counters(gateway, (timedelta(minutes=5), 3, 9))
    WebSocketSession.objects.all().delete()
    content = operator_client.get(INDEX).content
    assert kpi(content, "connects-hour") == "3"
    assert kpi(content, "messages-hour") == "9"


def test_tokens_issued_and_used(operator_client, operator):
    def token(n: int, age: timedelta, used: bool) -> WebSocketToken:
        return WebSocketToken(
            token_hash=f"{n:064d}",
            user=operator,
            session_key_hash="x",
            created_at=timezone.now() - age,
            used=used,
        )

    WebSocketToken.objects.bulk_create(
        [
            token(1, timedelta(minutes=5), True),
            token(2, timedelta(minutes=5), False),
            token(3, timedelta(hours=3), True),
            token(4, timedelta(days=2), True),
        ]
    )
    content = operator_client.get(INDEX).content
    assert kpi(content, "tokens-issued-hour") == "2"
    assert kpi(content, "tokens-used-hour") == "1"
    assert b"3 / 2 in 24 hours" in content


def test_rate_limit_rejections(operator_client):
    now = timezone.now()

    def window(key: str, start: timedelta, rejected: int) -> ConnectionRateLimit:
        return ConnectionRateLimit(
            scope="connect_ip",
            key=key,
            window_start=now - start,
            window_minutes=5,
            attempts=rejected + 40,
            rejected=rejected,
            last_attempt=now,
        )

    ConnectionRateLimit.objects.bulk_create(
        [
            window("a", timedelta(minutes=10), 3),
            window("b", timedelta(hours=5), 4),
            window("c", timedelta(days=2), 50),
            window("d", timedelta(minutes=1), 0),
        ]
    )
    content = operator_client.get(INDEX).content
    assert kpi(content, "rejections-hour") == "3"
    assert kpi(content, "rejections-day") == "7"


def test_gateways_by_state(operator_client):
    for name, state in [("a", "deployed"), ("b", "deployed"), ("c", "failed")]:
        ApiGateway.objects.create(api_name=name, target_base_endpoint="https://x/ws/", state=state)
    content = operator_client.get(INDEX).content.decode()
    assert kpi(content.encode(), "gateways") == "3"
    states = content.split("data-gateway-states", 1)[1].split("</div>", 1)[0]
    assert "Deployed: 2" in states
    assert "Failed: 1" in states
    assert "Draft" not in states


def test_connected_series_counts_sessions_open_at_each_hour(gateway):
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    top = now.replace(minute=0)
    make_sessions(gateway, 1, prefix="still", created_on=top - timedelta(minutes=80))
    make_sessions(
        gateway,
        1,
        prefix="ended",
        created_on=top - timedelta(minutes=150),
        disconnected_on=top - timedelta(minutes=30),
        connected=False,
    )
    # Marked connected but opened long before any connection can live: stale, not counted.
    make_sessions(gateway, 1, prefix="stale", created_on=top - timedelta(hours=10))
    series = dict(overview.connected_series(now))
    assert series[now] == 1  # only "still"
    assert series[top] == 1
    assert series[top - timedelta(hours=1)] == 2  # "still" and "ended"
    assert series[top - timedelta(hours=2)] == 1  # "ended" only
    assert series[top - timedelta(hours=3)] == 0
    assert len(series) == 25


def test_series_is_one_query_over_the_created_on_range(gateway):
    _, sql = capture(lambda: overview.connected_series(timezone.now()))
    assert len(sql) == 1
    assert '"created_on" >' in sql[0]


def test_charts_hold_the_series_and_the_busiest_channels(operator_client, gateway):
    make_sessions(gateway, 3, prefix="r", channel_name="red")
    make_sessions(gateway, 1, prefix="b", channel_name="blue")
    make_sessions(gateway, 5, prefix="x", channel_name="gone", connected=False)
    content = operator_client.get(INDEX).content
    line = chart_data(content, "connected")
    assert line["datasets"][0]["data"][-1] == 4
    bar = chart_data(content, "channels")
    assert bar["labels"] == ["red", "blue"]
    assert bar["datasets"][0]["data"] == [3, 1]


def test_overview_runs_a_fixed_number_of_queries(operator_client, gateway):
    make_sessions(gateway, 50)
    _, few = capture(lambda: operator_client.get(INDEX))
    make_sessions(gateway, 500, prefix="more")
    _, many = capture(lambda: operator_client.get(INDEX))
    assert len(few) == len(many)


def test_cards_follow_view_permissions(client_with, gateway):
    make_sessions(gateway, 1)
    content = client_with("wsapp.view_websockettoken").get(INDEX).content
    assert b'data-kpi="tokens-issued-hour"' in content
    assert b'data-kpi="connected-now"' not in content
    assert b'data-kpi="gateways"' not in content
    assert b'data-kpi="rejections-hour"' not in content


def test_staff_without_any_permission_see_a_note(client_with):
    content = client_with().get(reverse("admin:index")).content
    assert b"You may not view any of the console" in content
