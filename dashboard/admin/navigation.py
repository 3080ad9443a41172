"""The console's sidebar and stylesheet, referenced by dotted path from ``UNFOLD``.

Each sidebar entry carries a ``permission`` callback so that a staff user only
sees the pages they may open; the pages check the same permissions themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse

from dashboard.health import can_view_health


def console_stylesheet(request: HttpRequest) -> str:
    """URL of the few styles the console adds to Unfold's."""
    return static("dashboard/console.css")


def _can(*permissions: str) -> Callable[[HttpRequest], bool]:
    """A callback true when the user holds any of ``permissions``."""

    def check(request: HttpRequest) -> bool:
        return any(request.user.has_perm(p) for p in permissions)

    return check


def viewer(model: str) -> Callable[[HttpRequest], bool]:
    """True for users who may view (or change) ``wsapp.<model>``."""
    return _can(f"wsapp.view_{model}", f"wsapp.change_{model}")


def _staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """``UNFOLD["SIDEBAR"]["navigation"]``: the console's pages, grouped."""
    return [
        {
            "title": "Operations",
            "items": [
                {"title": "Overview", "icon": "monitoring", "link": reverse("admin:index")},
                {
                    "title": "Live sessions",
                    "icon": "cable",
                    "link": reverse("admin:console_sessions"),
                    "permission": viewer("websocketsession"),
                },
                {
                    "title": "Gateways",
                    "icon": "hub",
                    "link": reverse("admin:wsapp_apigateway_changelist"),
                    "permission": viewer("apigateway"),
                },
                {
                    "title": "Cleanup",
                    "icon": "cleaning_services",
                    "link": reverse("admin:wsapp_cleanuprun_changelist"),
                    "permission": viewer("cleanuprun"),
                },
                {
                    "title": "Health",
                    "icon": "health_and_safety",
                    "link": reverse("dashboard_health"),
                    "permission": can_view_health,
                },
            ],
        },
        {
            "title": "Access",
            "separator": True,
            "items": [
                {
                    "title": "Channel access rules",
                    "icon": "lock",
                    "link": reverse("admin:wsapp_channelaccessrule_changelist"),
                    "permission": viewer("channelaccessrule"),
                },
                {
                    "title": "Tokens",
                    "icon": "key",
                    "link": reverse("admin:wsapp_websockettoken_changelist"),
                    "permission": viewer("websockettoken"),
                },
                {
                    "title": "Rate limits",
                    "icon": "speed",
                    "link": reverse("admin:wsapp_connectionratelimit_changelist"),
                    "permission": viewer("connectionratelimit"),
                },
            ],
        },
        {
            "title": "Administration",
            "separator": True,
            "items": [
                {
                    "title": "Users",
                    "icon": "person",
                    "link": reverse("admin:auth_user_changelist"),
                    "permission": _can("auth.view_user", "auth.change_user"),
                },
                {
                    "title": "Groups",
                    "icon": "group",
                    "link": reverse("admin:auth_group_changelist"),
                    "permission": _can("auth.view_group", "auth.change_group"),
                },
                {
                    "title": "History",
                    "icon": "history",
                    "link": reverse("admin:admin_logentry_changelist"),
                    "permission": _can("admin.view_logentry"),
                },
            ],
        },
    ]
