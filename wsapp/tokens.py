"""Single-use connect tokens bound to a Django session.

The browser asks ``WebSocketTokenView`` for a token right before it opens the
socket, then passes it as ``?ws_token=``. Only SHA-256 hashes of the token and of
the session key are stored.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import StrEnum

from django.utils import timezone

from wsapp import conf
from wsapp.models import WebSocketToken, hash_value


class TokenProblem(StrEnum):
    MISSING = "missing token"
    UNKNOWN = "unknown token"
    EXPIRED = "expired token"
    USED = "token already used"
    WRONG_SESSION = "token belongs to another browser session"


def issue_token(user, session_key: str) -> str:
    """Create a token for ``user`` in the Django session ``session_key``; return it raw."""
    raw = secrets.token_urlsafe(32)
    WebSocketToken.objects.create(
        token_hash=hash_value(raw),
        user=user,
        session_key_hash=hash_value(session_key),
    )
    return raw


def consume_token(
    raw: str, *, user_id: int | None, session_key: str | None
) -> TokenProblem | None:
    """Mark the token used if it is valid for this user and session; return the problem if not.

    The happy path is one UPDATE whose WHERE holds every condition, so two requests
    racing with one token can never both succeed.
    """
    if not raw:
        return TokenProblem.MISSING
    token_hash = hash_value(raw)
    now = timezone.now()
    cutoff = now - timedelta(seconds=conf.get("token_expiry_seconds"))
    if user_id is not None and session_key:
        updated = WebSocketToken.objects.filter(
            token_hash=token_hash,
            used=False,
            created_at__gte=cutoff,
            user_id=user_id,
            session_key_hash=hash_value(session_key),
        ).update(used=True, used_at=now)
        if updated == 1:
            return None
    # Failure path only: find out why, for the rejection reason.
    token = WebSocketToken.objects.filter(token_hash=token_hash).first()
    if token is None:
        return TokenProblem.UNKNOWN
    if token.used:
        return TokenProblem.USED
    if token.created_at < cutoff:
        return TokenProblem.EXPIRED
    return TokenProblem.WRONG_SESSION
