"""A test-only URLconf: a Django view that echoes what the local gateway forwards.

Use with ``@pytest.mark.urls("tests.helpers.localgateway_urls")`` and pytest-django's
``live_server``; integrations point at ``<live_server.url>/lg-echo/<event>``.
"""

from __future__ import annotations

import threading

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

#: Every request the view received, in order (the live server runs in another thread).
SEEN: list[dict] = []
#: Set when a request for ``disconnect`` arrives.
DISCONNECTED = threading.Event()


@csrf_exempt
def echo(request: HttpRequest, event: str) -> JsonResponse:
    """Record the request as Django sees it and answer it as JSON."""
    seen = {
        "event": event,
        "method": request.method,
        "headers": dict(request.headers),
        "meta": {
            key: value
            for key, value in request.META.items()
            if key.startswith("HTTP_") or key in ("REMOTE_ADDR", "QUERY_STRING", "CONTENT_TYPE")
        },
        "get": request.GET.dict(),
        "cookies": dict(request.COOKIES),
        "body": request.body.decode(),
    }
    SEEN.append(seen)
    if event == "disconnect":
        DISCONNECTED.set()
    return JsonResponse(seen)


urlpatterns = [path("lg-echo/<str:event>", echo)]
