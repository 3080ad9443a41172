"""The demo chat: a WebSocketView subclass and the page that talks to it.

API Gateway forwards the demo gateway's events to ``ws/<route>`` (``ChatView``);
the page at ``/`` loads ``wsapp/client.js`` and connects to the gateway's
WebSocket URL. ``make run`` creates and deploys the gateway (see
``dashboard/management/commands/devserver.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from wsapp.models import ApiGateway, WebSocketSession
from wsapp.validators import unicode_problem
from wsapp.views import WebSocketView

logger = logging.getLogger("wsapp")

#: Name of the ApiGateway record the demo uses (``DEMO_GATEWAY_NAME`` setting overrides).
DEFAULT_GATEWAY_NAME = "demo"
#: Channels offered by the switcher; any valid channel name can be typed in too.
CHANNELS = ("general", "random", "help")
#: Longest chat message accepted, in characters.
MAX_MESSAGE_LENGTH = 1000


def demo_gateway_name() -> str:
    """The api_name of the demo's gateway."""
    return getattr(settings, "DEMO_GATEWAY_NAME", "") or DEFAULT_GATEWAY_NAME


def error(message: str) -> dict[str, str]:
    """What a handler sends back for bad input (the route response carries it)."""
    return {"type": "error", "error": message}


class ChatView(WebSocketView):
    """The demo's WebSocket backend: ``chat_message`` plus the built-in ``change_channel``."""

    def chat_message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict | None:
        """Broadcast ``{"action": "chat_message", "message": "..."}`` to the sender's channel.

        Everyone connected to the channel (the sender included) receives
        ``{"type": "chat_message", "user", "channel", "message", "sent_at"}``.
        """
        session = self.websocket_session
        assert session is not None
        message = self.body.get("message")
        if not isinstance(message, str):
            return error('"message" must be a string.')
        message = message.strip()
        if not message:
            return error("Type a message before sending.")
        if unicode_problem(message):
            # JSON's "\ud800" escapes decode to lone surrogates, which no text can carry.
            return error("The message holds a broken character (a lone UTF-16 surrogate).")
        if len(message) > MAX_MESSAGE_LENGTH:
            return error(
                f"Messages are limited to {MAX_MESSAGE_LENGTH} characters; "
                f"this one has {len(message)}."
            )
        payload = {
            "type": "chat_message",
            "user": request.user.get_username() if request.user.is_authenticated else "anonymous",
            "channel": session.channel_name,
            "message": message,
            "sent_at": timezone.now().isoformat(),
        }
        report = WebSocketSession.objects.filter(
            api_gateway_id=session.api_gateway_id,
            channel_name=session.channel_name,
            connected=True,
        ).send_message(payload)
        if report.failed:
            logger.warning("Demo chat broadcast to %r: %s", session.channel_name, report.summary())
        return None

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        """Anything else gets a clear error instead of silence."""
        action = self.body.get(self.handler_selection_key)
        if action is None:
            return error('Messages need an "action", e.g. "chat_message".')
        return error(f"Unknown action {action!r}; use chat_message or change_channel.")


def gateway_problem(gateway: ApiGateway | None) -> str:
    """Why the demo cannot connect to ``gateway``, or "" when it can."""
    name = demo_gateway_name()
    if gateway is None:
        return f"There is no API gateway named {name!r}."
    if not gateway.api_id or not gateway.websocket_url:
        return f"The gateway {name!r} has not been created in API Gateway yet."
    if gateway.state not in (ApiGateway.State.DEPLOYED, ApiGateway.State.OUT_OF_SYNC):
        detail = f": {gateway.last_error}" if gateway.last_error else "."
        return f"The gateway {name!r} is {gateway.get_state_display().lower()}{detail}"
    return ""


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    """The demo chat page (sign-in required)."""
    gateway = ApiGateway.objects.filter(api_name=demo_gateway_name()).first()
    problem = gateway_problem(gateway)
    config: dict[str, Any] = {}
    if not problem:
        assert gateway is not None
        channels = list(CHANNELS)
        if gateway.default_channel_name not in channels:
            channels.insert(0, gateway.default_channel_name)
        config = {
            "url": gateway.websocket_url,
            "tokenUrl": reverse("ws_token"),
            "channel": gateway.default_channel_name,
            "channels": channels,
            "user": request.user.get_username(),
            "maxLength": MAX_MESSAGE_LENGTH,
        }
    return render(
        request,
        "demo/chat.html",
        {
            "gateway": gateway,
            "gateway_name": demo_gateway_name(),
            "problem": problem,
            "config": config,
        },
    )
