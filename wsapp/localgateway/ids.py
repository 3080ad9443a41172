"""Identifiers shaped like the ones API Gateway hands out."""

from __future__ import annotations

import base64
import secrets
import string
import time
from collections.abc import Container

_ALPHABET = string.ascii_lowercase + string.digits


def _random_word(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def unique_id(length: int, taken: Container[str] = ()) -> str:
    """Lowercase alphanumerics, like ``a1b2c3d4e5`` (APIs) or ``x7y8z9q`` (the rest)."""
    while True:
        candidate = _random_word(length)
        if candidate not in taken:
            return candidate


def api_id(taken: Container[str] = ()) -> str:
    """Ten characters, as API ids are."""
    return unique_id(10, taken)


def resource_id(taken: Container[str] = ()) -> str:
    """Seven characters: integrations, routes, route responses, deployments, mappings."""
    return unique_id(7, taken)


def domain_target() -> str:
    """The ``d-xxxxxxxxxx`` part of an API Gateway domain name target."""
    return "d-" + _random_word(10)


def connection_id() -> str:
    """Twelve URL-safe base64 characters ending in ``=``, like ``L0SM9cOFvHc=``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(8)).decode()


def request_id() -> str:
    """Sixteen URL-safe base64 characters ending in ``=``, as WebSocket request ids are."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def trace_id() -> str:
    """An X-Ray style ``Root=1-<hex time>-<24 hex>`` value for X-Amzn-Trace-Id."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
