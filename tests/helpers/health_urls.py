"""A URLconf for the health tests: a WebSocketView, and paths that are not one.

``ws/<route>`` is where provisioned test gateways point; ``plain/<route>`` is a
plain view (integrations pointing there fail wsapp.H111); ``noslug/<name>``
routes a WebSocketView without the ``route`` slug and ``strict/<route>`` a view whose
ALLOWED_HANDLERS leave ``echo`` out (both only in ``MisroutedUrls``, since the system
check wsapp.E001 rightly flags the first); ``ws-token/`` is the real token
view (the abuse checks count its rate-limit records).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from wsapp.views import WebSocketTokenView, WebSocketView


class HealthTestView(WebSocketView):
    """Accepts every connect: the health tests are about the gateway, not the view."""

    USE_WS_TOKEN = False
    RATE_LIMIT_ENABLED = False
    SEND_EXCEPTION_MAIL = False

    def echo(self, request: HttpRequest, *args: object, **kwargs: object) -> dict:
        """The handler of the ``echo`` route test gateways get (wsapp.H114)."""
        return {"echo": self.body.get("message")}


class StrictHandlersView(HealthTestView):
    """Lists its handlers, and leaves out the ``echo`` it inherits (wsapp.H114)."""

    ALLOWED_HANDLERS = ("default",)


def plain_view(request: HttpRequest, route: str) -> HttpResponse:
    return HttpResponse(f"not a socket: {route}")


urlpatterns = [
    path("ws/<slug:route>", HealthTestView.as_view(), name="health_ws"),
    path("plain/<slug:route>", plain_view, name="health_plain"),
    path("ws-token/", WebSocketTokenView.as_view(), name="ws_token"),
]


class MisroutedUrls:
    """A URLconf with everything above plus a WebSocketView routed without ``route``."""

    urlpatterns = [
        *urlpatterns,
        path("noslug/<slug:name>", HealthTestView.as_view(), name="health_noslug"),
        path("strict/<slug:route>", StrictHandlersView.as_view(), name="health_strict"),
    ]
