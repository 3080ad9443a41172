"""Users, groups and the admin history, in the console's (Unfold) look.

Django registers ``User`` and ``Group`` with its own admin classes; they are
registered again here with Unfold's forms so that they match the rest of the
console. The history (``LogEntry``) is where every console action is recorded.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from dashboard.admin.common import ConsoleModelAdmin
from dashboard.admin.readonly import ReadOnlyAdmin

for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class UserAdmin(ConsoleModelAdmin, BaseUserAdmin):
    """Django's user admin with Unfold's forms."""

    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(ConsoleModelAdmin, BaseGroupAdmin):
    """Django's group admin in Unfold's look."""


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """Who did what in the console, and how it ended."""

    list_display = ("action_time", "user", "flag", "content_type", "object_repr", "message")
    list_filter = (
        ("action_time", RangeDateTimeFilter),
        "action_flag",
        "content_type",
        ("user__username", FieldTextFilter),
    )
    list_select_related = ("user", "content_type")
    ordering = ("-action_time",)
    fields = (
        "action_time",
        "user",
        "content_type",
        "object_id",
        "object_repr",
        "action_flag",
        "message",
    )
    readonly_fields = fields

    @display(description="Action", label={1: "success", 2: "info", 3: "danger"})
    def flag(self, obj: LogEntry) -> tuple[int, str]:
        return obj.action_flag, obj.get_action_flag_display()

    @display(description="Message")
    def message(self, obj: LogEntry) -> str:
        return obj.get_change_message()
