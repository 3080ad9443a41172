"""A base for the console's read-only tables (tokens, rate limits, history)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from unfold.paginator import InfinitePaginator

from dashboard.admin.common import ConsoleModelAdmin


class ReadOnlyAdmin(ConsoleModelAdmin):
    """View-only: no add, change or delete, and no COUNT of the whole table per page."""

    paginator = InfinitePaginator
    show_full_result_count = False
    list_per_page = 50
    list_filter_submit = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
