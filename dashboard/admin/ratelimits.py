"""Rate limits: the attempts counted per key and window, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    FieldTextFilter,
    RangeDateTimeFilter,
)

from dashboard.admin.readonly import ReadOnlyAdmin
from wsapp.models import ConnectionRateLimit


class RejectedFilter(admin.SimpleListFilter):
    """Windows in which at least one attempt was refused (a partial index serves this)."""

    title = "rejections"
    parameter_name = "rejected"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Some rejected"), ("no", "None rejected")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(rejected__gt=0)
        if self.value() == "no":
            return queryset.filter(rejected=0)
        return queryset


@admin.register(ConnectionRateLimit)
class ConnectionRateLimitAdmin(ReadOnlyAdmin):
    """Attempts and rejections per scope, key (user id or address) and window."""

    list_display = (
        "scope",
        "key",
        "window_start",
        "window_minutes",
        "attempts",
        "rejected",
        "last_attempt",
    )
    list_filter = (
        ("scope", ChoicesDropdownFilter),
        RejectedFilter,
        ("window_start", RangeDateTimeFilter),
        ("key", FieldTextFilter),
    )
    # Newest first by primary key: the admin adds "-pk" to any other ordering, and
    # ORDER BY <column>, id sorts the whole table instead of reading an index.
    ordering = ("-pk",)
    fields = list_display
    readonly_fields = list_display
