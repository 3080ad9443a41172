"""Channel access rules: who may join which channels. Edited here; history kept."""

from __future__ import annotations

from django.contrib import admin

from dashboard.admin.common import ConsoleModelAdmin
from dashboard.forms import ChannelAccessRuleForm
from wsapp.models import ChannelAccessRule


@admin.register(ChannelAccessRule)
class ChannelAccessRuleAdmin(ConsoleModelAdmin):
    """Exact names and prefixes ('support-*'); the most specific rule wins."""

    form = ChannelAccessRuleForm
    list_display = ("pattern", "access", "permissions", "description")
    list_filter = ("access",)
    search_fields = ("pattern", "description")
    ordering = ("pattern",)
    fields = ("pattern", "access", "permissions", "description")
