"""URLs of the dashboard site."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from wsapp.views import WebSocketTokenView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ws-token/", WebSocketTokenView.as_view(), name="ws_token"),
]
