"""URLconfs for the system-check tests."""

from __future__ import annotations

from django.urls import path, re_path

from wsapp.views import WebSocketTokenView, WebSocketView


class TokenlessView(WebSocketView):
    USE_WS_TOKEN = False


good = [
    path("ws/<slug:route>", WebSocketView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view()),
]
regex_good = [
    re_path(r"^ws/(?P<route>[-\w]+)$", WebSocketView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view()),
]
misnamed_slug = [
    path("ws/<slug:name>", WebSocketView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view()),
]
no_token_view = [path("ws/<slug:route>", WebSocketView.as_view())]
tokenless = [path("ws/<slug:route>", TokenlessView.as_view())]
debug_view = [
    path("ws/<slug:route>", WebSocketView.as_view(debug=True)),
    path("ws-token/", WebSocketTokenView.as_view()),
]
