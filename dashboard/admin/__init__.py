"""The operator console: wsapp's models in the (Unfold) admin, one module per area.

Importing this package registers everything; ``UNFOLD`` in settings points at
``overview.dashboard_callback``, ``sessions.LiveSessionsView`` and
``navigation``. See docs/operator_guide.md.
"""

from __future__ import annotations

from django.contrib import admin

from dashboard.admin import cleanup, gateways, ratelimits, rules, sessions, tokens, users

# The index is the console's Overview (UNFOLD["DASHBOARD_CALLBACK"]).
admin.site.index_title = "Overview"

__all__ = ["cleanup", "gateways", "ratelimits", "rules", "sessions", "tokens", "users"]
