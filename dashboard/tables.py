"""django-tables2 tables of the operator console.

Only columns backed by an index are sortable, so that sorting stays fast on a
table of a million sessions (see docs/performance.md).
"""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from wsapp.models import WebSocketSession


class SessionTable(tables.Table):
    """Sessions on the live sessions page, with their row buttons."""

    connection_id = tables.Column(verbose_name="Connection", order_by=("connection_id",))
    gateway = tables.Column(
        accessor="api_gateway__api_name", verbose_name="Gateway", orderable=False
    )
    channel_name = tables.Column(verbose_name="Channel", orderable=False)
    user = tables.Column(
        accessor="user__username", verbose_name="User", orderable=False, default="anonymous"
    )
    connected = tables.Column(verbose_name="State", orderable=False)
    # One column per ordering, no primary-key tie-breaker: ORDER BY created_on, id
    # cannot be read off the created_on index, and PostgreSQL then sorts every
    # matching row (0.8 s for a million; docs/performance.md). Microsecond
    # timestamps make ties, and so rows shifting between pages, rare.
    created_on = tables.DateTimeColumn(verbose_name="Connected at", format="m-d H:i:s")
    last_seen = tables.DateTimeColumn(verbose_name="Last seen", format="m-d H:i:s")
    request_count = tables.Column(verbose_name="Requests", orderable=False)
    source_ip = tables.Column(verbose_name="Source IP", orderable=False, default="-")
    actions = tables.TemplateColumn(
        template_name="dashboard/sessions/row_actions.html",
        verbose_name="",
        orderable=False,
        empty_values=(),
    )

    class Meta:
        template_name = "dashboard/sessions/table.html"
        order_by = "-created_on"
        per_page = 25
        attrs = {"id": "sessions"}
        row_attrs = {"data-connection-id": lambda record: record.connection_id}
        empty_text = "No sessions match these filters."

    def __init__(self, *args: Any, can_act: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The row buttons need the change permission; without it they are left out.
        if not can_act:
            self.columns.hide("actions")

    def render_connection_id(self, value: str, record: WebSocketSession) -> str:
        url = reverse("admin:wsapp_websocketsession_change", args=[record.pk])
        return format_html('<a class="console-link" href="{}">{}</a>', url, value)

    def render_connected(self, value: bool) -> str:
        # Unfold's own label, so the badge looks like the admin's other badges.
        return render_to_string(
            "unfold/helpers/label.html",
            {"text": "connected", "variant": "success"} if value else {"text": "disconnected"},
        )
