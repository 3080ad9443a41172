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


class ClassDebugView(WebSocketView):
    debug = True


class PermissionView(WebSocketView):
    USE_WS_TOKEN = False
    permissions_required = ("auth.view_user", "auth.no_such_codename")
    all_permissions_required = ("view_user",)


class ExistingPermissionView(WebSocketView):
    USE_WS_TOKEN = False
    permissions_required = ("auth.view_user",)


class BrokenUrls:
    """A URLconf whose patterns raise when read, like one with an import error."""

    @property
    def urlpatterns(self):
        raise ImportError("No module named 'missing_app'")


class_debug_view = [
    path("ws/<slug:route>", ClassDebugView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view()),
]
tokens_in_as_view = [path("ws/<slug:route>", TokenlessView.as_view(USE_WS_TOKEN=True))]
int_route = [
    path("ws/<int:route>", WebSocketView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view()),
]
str_route = [
    path("ws/<str:route>", WebSocketView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view()),
]
permission_names = [path("ws/<slug:route>", PermissionView.as_view())]
existing_permission = [path("ws/<slug:route>", ExistingPermissionView.as_view())]
