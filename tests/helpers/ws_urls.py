"""A URLconf with WebSocketView subclasses used by the view tests."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path
from django.views.generic.base import ContextMixin

from wsapp.views import WebSocketTokenView, WebSocketView

CALLS: list[tuple[str, dict]] = []


class EchoView(WebSocketView):
    """Records what it handled; ``echo`` answers with the body."""

    def default(self, request, *args, **kwargs):
        CALLS.append(("default", self.body))
        return {"handled_by": "default"}

    def echo(self, request, *args, **kwargs):
        CALLS.append(("echo", self.body))
        return {"handled_by": "echo", "body": self.body, "user": request.user.get_username()}

    def boom(self, request, *args, **kwargs):
        raise RuntimeError("handler exploded")

    def reply(self, request, *args, **kwargs):
        return HttpResponse("plain", content_type="text/plain")

    def unencodable(self, request, *args, **kwargs):
        return {"tags": {"a", "b"}}  # a set: not JSON

    # HTTP verbs defined on a subclass must still never answer a message.
    def get(self, request, *args, **kwargs):
        CALLS.append(("get", self.body))
        return {"handled_by": "get"}

    def post(self, request, *args, **kwargs):
        CALLS.append(("post", self.body))
        return {"handled_by": "post"}

    def _private(self, request, *args, **kwargs):
        CALLS.append(("_private", self.body))

    @staticmethod
    def static_thing(request, *args, **kwargs):
        CALLS.append(("static_thing", {}))

    @property
    def prop(self):
        return "prop"

    not_a_method = "value"


class WhitelistView(EchoView):
    ALLOWED_HANDLERS = {"default", "echo", "dispatch", "_private", "setup", "get", "post"}


class AuditMixin:
    """A mixin placed before WebSocketView: its public methods are not handlers."""

    def audit_label(self):
        return "audit"


class MixedView(AuditMixin, ContextMixin, EchoView):
    pass


class AnyPermView(EchoView):
    permissions_required = ["auth.view_user", "auth.change_user"]


class AllPermView(EchoView):
    all_permissions_required = ["auth.view_user", "auth.change_user"]


class NoTokenView(EchoView):
    USE_WS_TOKEN = False


class KeyedView(NoTokenView):
    handler_selection_key = "type"


class StrictRateView(NoTokenView):
    RATE_LIMIT_MAX_ATTEMPTS = 3
    RATE_LIMIT_WINDOW_MINUTES = 5


class RefusingView(NoTokenView):
    def connect(self, request, *args, **kwargs):
        return HttpResponse("no thanks", status=403)


class CrashingConnectView(NoTokenView):
    def connect(self, request, *args, **kwargs):
        raise RuntimeError("connect hook exploded")


urlpatterns = [
    path("ws/<slug:route>", EchoView.as_view(), name="echo_ws"),
    path("debug-ws/<slug:route>", EchoView.as_view(debug=True)),
    path("white-ws/<slug:route>", WhitelistView.as_view()),
    # ALLOWED_HANDLERS given to as_view() instead of the class: echo is left out.
    path("narrow-ws/<slug:route>", EchoView.as_view(ALLOWED_HANDLERS={"default"})),
    path("anyperm-ws/<slug:route>", AnyPermView.as_view()),
    path("allperm-ws/<slug:route>", AllPermView.as_view()),
    path("notoken-ws/<slug:route>", NoTokenView.as_view()),
    path("keyed-ws/<slug:route>", KeyedView.as_view()),
    path("strict-ws/<slug:route>", StrictRateView.as_view()),
    path("refuse-ws/<slug:route>", RefusingView.as_view()),
    path("crash-ws/<slug:route>", CrashingConnectView.as_view()),
    path("mixed-ws/<slug:route>", MixedView.as_view()),
    path("badroute-ws/<slug:name>", EchoView.as_view()),
    path("ws-token/", WebSocketTokenView.as_view(), name="ws_token"),
]
