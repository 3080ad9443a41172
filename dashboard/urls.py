"""URLs of the dashboard site."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import path

from dashboard.admin.search import console_search
from dashboard.demo import ChatView, chat_page
from dashboard.health import health_view
from wsapp.views import WebSocketTokenView

urlpatterns = [
    path("admin/health/", health_view, name="dashboard_health"),
    # In front of Unfold's own search view (admin:search), which fails on a bad ?page=.
    path("admin/search/", console_search, name="dashboard_search"),
    path("admin/", admin.site.urls),
    path("ws-token/", WebSocketTokenView.as_view(), name="ws_token"),
    # The demo chat: its page, and the views its API Gateway forwards events to.
    path("", chat_page, name="demo_chat"),
    path("logout/", LogoutView.as_view(next_page="demo_chat"), name="demo_logout"),
    path("ws/<slug:route>", ChatView.as_view(), name="chat_ws"),
]
