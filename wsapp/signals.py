"""Ending sockets with the login they were opened under."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from wsapp.models import WebSocketSession, hash_value

logger = logging.getLogger("wsapp")


@receiver(user_logged_out, dispatch_uid="wsapp_close_sockets_on_logout")
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    """Close every socket opened with the Django session that is logging out."""
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if not session_key:
        return
    from wsapp.sending import disconnect_sessions

    sessions = WebSocketSession.objects.filter(
        connected=True, session_key_hash=hash_value(session_key)
    )
    disconnect_sessions(sessions)
