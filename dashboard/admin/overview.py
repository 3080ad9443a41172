"""The Overview (the admin index): KPI cards and two charts.

``dashboard_callback`` is ``UNFOLD["DASHBOARD_CALLBACK"]``. Every figure is one
aggregate over an indexed range, so the page stays fast with a million session
rows (measured in docs/performance.md):

==========================  ====================================================
figure                      index used
==========================  ====================================================
connected now, active       ``wsapp_sess_conn_seen`` (connected, last_seen)
connects, messages          ``wsapp_traffic_bucket``: per-minute counters
connected over 24 h         ``wsapp_sess_created``: the last 26 hours of rows
busiest channels            ``wsapp_sess_live_channel`` (partial, connected)
tokens issued / used        ``created_at`` index of WebSocketToken
rate-limit rejections       ``wsapp_rl_rejected`` (partial, rejected > 0)
gateways by state           a handful of rows
==========================  ====================================================

Connects and messages come from ``TrafficCounter``, which ``WebSocketView``
feeds through ``wsapp.traffic`` (a buffer per process, written out every few
seconds): exact counts that a cleanup of the session table does not erase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from wsapp import traffic
from wsapp.models import (
    ApiGateway,
    ConnectionRateLimit,
    TrafficCounter,
    WebSocketSession,
    WebSocketToken,
)

#: API Gateway closes every connection after 2 hours, so a session connected at
#: time t was opened after t - 2 h; older rows still marked connected are stale.
CONNECTION_LIFETIME = timedelta(hours=2)
#: API Gateway closes a connection idle for 10 minutes.
IDLE_TIMEOUT = timedelta(minutes=10)
CHART_HOURS = 24
ZERO = timedelta(0)
#: Bucket of a session that has not ended (larger than any moment's index).
NEVER = 10_000
BUSIEST_CHANNELS = 10

#: Unfold label variant of each gateway state (same colours as the gateway list).
STATE_VARIANTS = {
    ApiGateway.State.DRAFT: "info",
    ApiGateway.State.CREATING: "warning",
    ApiGateway.State.DEPLOYED: "success",
    ApiGateway.State.OUT_OF_SYNC: "warning",
    ApiGateway.State.FAILED: "danger",
    ApiGateway.State.DELETING: "warning",
}


@dataclass
class Windowed:
    """One figure over the last hour and the last 24 hours."""

    hour: int = 0
    day: int = 0


@dataclass
class SessionFigures:
    connected_now: int = 0
    active_now: int = 0
    connects: Windowed = field(default_factory=Windowed)
    messages: Windowed = field(default_factory=Windowed)
    connected_series: list[tuple[datetime, int]] = field(default_factory=list)
    busiest_channels: list[tuple[str, int]] = field(default_factory=list)


def session_figures(now: datetime) -> SessionFigures:
    """Connected sessions, connects, messages, the 24-hour series and busiest channels."""
    live = WebSocketSession.objects.filter(connected=True)
    figures = SessionFigures(
        connected_now=live.count(),
        active_now=live.filter(last_seen__gte=now - IDLE_TIMEOUT).count(),
    )
    figures.connects, figures.messages = traffic_figures(now)
    figures.connected_series = connected_series(now)
    figures.busiest_channels = [
        (row["channel_name"], row["sessions"])
        for row in live.values("channel_name")
        .annotate(sessions=Count("channel_name"))
        .order_by("-sessions", "channel_name")[:BUSIEST_CHANNELS]
    ]
    return figures


def traffic_figures(now: datetime) -> tuple[Windowed, Windowed]:
    """Connects and messages in the last hour and day, from the per-minute counters.

    One query over at most 1,441 minutes per gateway (the ``bucket`` index),
    whatever the session table holds, plus the counts this process has not
    written out yet. The windows start at the minute ``now - 1 h`` (``now - 24 h``)
    falls in.
    """
    hour_from = traffic.minute_of(now - timedelta(hours=1))
    day_from = traffic.minute_of(now - timedelta(hours=24))
    in_hour = Q(bucket__gte=hour_from)
    row = TrafficCounter.objects.filter(bucket__gte=day_from).aggregate(
        connects_day=Sum("connects"),
        connects_hour=Sum("connects", filter=in_hour),
        messages_day=Sum("messages"),
        messages_hour=Sum("messages", filter=in_hour),
    )
    connects = Windowed(hour=row["connects_hour"] or 0, day=row["connects_day"] or 0)
    messages = Windowed(hour=row["messages_hour"] or 0, day=row["messages_day"] or 0)
    for (_gateway, bucket), (connected, sent) in traffic.pending().items():
        if bucket >= day_from:
            connects.day += connected
            messages.day += sent
        if bucket >= hour_from:
            connects.hour += connected
            messages.hour += sent
    return connects, messages


def _first_moment_at_or_after(
    moments: list[datetime], lookup: str, *, never: Q | None = None, shift: timedelta = ZERO
) -> Case:
    """SQL: the index of the first moment m with ``<lookup> <= m - shift``.

    ``len(moments)`` when there is none; ``NEVER`` for rows matching ``never``.
    Only comparisons with constants: the same SQL on PostgreSQL and SQLite.
    """
    whens = [When(never, then=Value(NEVER))] if never is not None else []
    whens += [
        When(**{f"{lookup}__lte": moment - shift}, then=Value(i))
        for i, moment in enumerate(moments)
    ]
    return Case(*whens, default=Value(len(moments)), output_field=IntegerField())


def connected_series(now: datetime, hours: int = CHART_HOURS) -> list[tuple[datetime, int]]:
    """Sessions connected at each whole hour of the last ``hours``, and now.

    A session was open at moment m when it was created at or before m, less than
    2 hours before m (API Gateway's limit: older rows still marked connected are
    stale), and had not ended by m (ended: ``disconnected_on``, else ``last_seen``
    for a closed session; a connected one has not ended). One grouped query over
    the rows created in the last ``hours`` + 2 hours (a range of the created_on
    index) buckets each session by the first moment it was open (``start``), the
    first it had ended (``end``) and the first it was too old (``cap``); the counts
    per moment are summed here. Per row, it compares a few timestamps with
    constants, so a million rows take a fraction of a second.
    """
    top = now.replace(minute=0, second=0, microsecond=0)
    moments = [top - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    if moments[-1] != now:
        moments.append(now)
    rows = (
        WebSocketSession.objects.filter(
            created_on__gt=moments[0] - CONNECTION_LIFETIME, created_on__lte=now
        )
        .alias(ended=Coalesce("disconnected_on", "last_seen"))
        .annotate(
            start=_first_moment_at_or_after(moments, "created_on"),
            cap=_first_moment_at_or_after(moments, "created_on", shift=CONNECTION_LIFETIME),
            end=_first_moment_at_or_after(
                moments,
                "ended",
                never=Q(connected=True, disconnected_on__isnull=True),
            ),
        )
        .values("start", "cap", "end")
        .annotate(sessions=Count("created_on"))
        .order_by()
    )
    counts = [0] * len(moments)
    for row in rows:
        for i in range(row["start"], min(row["cap"], row["end"], len(moments))):
            counts[i] += row["sessions"]
    return list(zip(moments, counts, strict=True))


@dataclass
class TokenFigures:
    issued: Windowed
    used: Windowed


def token_figures(now: datetime) -> TokenFigures:
    """Tokens issued and used in the last hour and day (rows the cleanup has kept)."""
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(hours=24)
    in_hour = Q(created_at__gte=hour_ago)
    row = WebSocketToken.objects.filter(created_at__gte=day_ago).aggregate(
        issued_day=Count("created_at"),
        issued_hour=Count("created_at", filter=in_hour),
        used_day=Count("created_at", filter=Q(used=True)),
        used_hour=Count("created_at", filter=in_hour & Q(used=True)),
    )
    return TokenFigures(
        issued=Windowed(hour=row["issued_hour"], day=row["issued_day"]),
        used=Windowed(hour=row["used_hour"], day=row["used_day"]),
    )


def rejection_figures(now: datetime) -> Windowed:
    """Rate-limit rejections in windows that started in the last hour and day."""
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(hours=24)
    row = ConnectionRateLimit.objects.filter(rejected__gt=0, window_start__gte=day_ago).aggregate(
        day=Sum("rejected"), hour=Sum("rejected", filter=Q(window_start__gte=hour_ago))
    )
    return Windowed(hour=row["hour"] or 0, day=row["day"] or 0)


def gateway_states() -> list[dict[str, Any]]:
    """How many gateways are in each state, in the order of the state choices."""
    counts = {
        row["state"]: row["n"]
        for row in ApiGateway.objects.order_by().values("state").annotate(n=Count("pk"))
    }
    return [
        {
            "state": label,
            "count": counts[value],
            "text": f"{label}: {counts[value]}",
            "variant": STATE_VARIANTS[value],
        }
        for value, label in ApiGateway.State.choices
        if counts.get(value)
    ]


def line_chart(series: list[tuple[datetime, int]]) -> str:
    """Chart.js data for Unfold's line chart component."""
    return json.dumps(
        {
            "labels": [timezone.localtime(moment).strftime("%H:%M") for moment, _ in series],
            "datasets": [
                {
                    "label": "Connected sessions",
                    "data": [count for _, count in series],
                    "borderColor": "var(--color-primary-600)",
                    "displayYAxis": True,
                }
            ],
        }
    )


def bar_chart(channels: list[tuple[str, int]]) -> str:
    """Chart.js data for Unfold's bar chart component."""
    return json.dumps(
        {
            "labels": [name for name, _ in channels],
            "datasets": [
                {
                    "label": "Connected sessions",
                    "data": [count for _, count in channels],
                    "backgroundColor": "var(--color-primary-600)",
                    "displayYAxis": True,
                }
            ],
        }
    )


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """Add the overview's figures to the admin index, for what the user may view."""
    user = request.user
    now = timezone.now()

    def may_view(model: str) -> bool:
        return user.has_perm(f"wsapp.view_{model}") or user.has_perm(f"wsapp.change_{model}")

    overview: dict[str, Any] = {"generated_at": now}
    if may_view("websocketsession"):
        sessions = session_figures(now)
        overview["sessions"] = sessions
        overview["connected_chart"] = line_chart(sessions.connected_series)
        overview["channels_chart"] = bar_chart(sessions.busiest_channels)
    if may_view("websockettoken"):
        overview["tokens"] = token_figures(now)
    if may_view("connectionratelimit"):
        overview["rejections"] = rejection_figures(now)
    if may_view("apigateway"):
        overview["gateway_states"] = gateway_states()
        overview["gateway_count"] = sum(item["count"] for item in overview["gateway_states"])
    context["overview"] = overview
    return context
