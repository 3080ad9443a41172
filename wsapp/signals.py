"""Ending sockets with the login they were opened under; writing out traffic counts."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_out
from django.core.signals import request_finished
from django.db import close_old_connections
from django.dispatch import receiver

from wsapp import traffic
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


@receiver(request_finished, dispatch_uid="wsapp_write_traffic_counts")
def write_traffic_counts(sender, **kwargs) -> None:
    """Write the buffered connect and message counts out once they are due."""
    if traffic.flush_if_due():
        # Django's own request_finished receiver may already have closed this
        # request's connection (CONN_MAX_AGE = 0): apply the same rule to the one
        # the write opened again.
        close_old_connections()
