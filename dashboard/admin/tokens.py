"""Tokens: single-use connect tokens, read-only. Only a short prefix of the hash shows."""

from __future__ import annotations

from django.contrib import admin
from unfold.contrib.filters.admin import BooleanRadioFilter, FieldTextFilter, RangeDateTimeFilter
from unfold.decorators import display

from dashboard.admin.readonly import ReadOnlyAdmin
from wsapp.models import WebSocketToken

#: Characters of the SHA-256 hash shown: enough to tell tokens apart, useless to an attacker.
HASH_PREFIX = 8


@admin.register(WebSocketToken)
class WebSocketTokenAdmin(ReadOnlyAdmin):
    """Who was issued a token, when, and whether it was used. Never the token."""

    list_display = ("hash_prefix", "user", "created_at", "used", "used_at")
    list_filter = (
        ("used", BooleanRadioFilter),
        ("created_at", RangeDateTimeFilter),
        ("user__username", FieldTextFilter),
    )
    list_select_related = ("user",)
    # Newest first by primary key: the admin adds "-pk" to any other ordering, and
    # ORDER BY <column>, id sorts the whole table instead of reading an index.
    ordering = ("-pk",)
    fields = ("hash_prefix", "user", "created_at", "used", "used_at")
    readonly_fields = fields

    @display(description="Token hash")
    def hash_prefix(self, obj: WebSocketToken) -> str:
        return f"{obj.token_hash[:HASH_PREFIX]}…"
