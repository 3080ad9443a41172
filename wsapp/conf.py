"""Typed access to ``settings.WEBSOCKETS``, with documented defaults.

Values are read on every access so that ``override_settings`` works in tests.
Every key is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

#: 128 KB: API Gateway's hard limit for one message, in either direction.
MAX_MESSAGE_BYTES = 128 * 1024

DEFAULTS: dict[str, Any] = {
    # Connect requests must carry a single-use ?ws_token= from WebSocketTokenView.
    "USE_WS_TOKEN": True,
    # Seconds a token stays valid after it is issued.
    "token_expiry_seconds": 60,
    # Per-user limit on token requests.
    "token_rate_limit_max_attempts": 30,
    "token_rate_limit_window_minutes": 5,
    # Connect rate limit, counted per user and per source IP.
    "RATE_LIMIT_ENABLED": True,
    "RATE_LIMIT_MAX_ATTEMPTS": 40,
    "RATE_LIMIT_WINDOW_MINUTES": 5,
    # None: derive the allowed origins from ALLOWED_HOSTS. A list: exact origins.
    "allowed_origins": None,
    # What happens on a channel that no ChannelAccessRule matches: "allow" or "deny".
    "channel_default_access": "allow",
    # Proxies between API Gateway and Django that append to X-Forwarded-For.
    "trusted_proxy_count": 0,
    # Mail the admins when a handler raises.
    "SEND_EXCEPTION_MAIL": True,
    # Concurrent management API calls in one queryset send.
    "send_pool_size": 32,
    # botocore timeouts (seconds) and attempts for every AWS client.
    "aws_connect_timeout": 5,
    "aws_read_timeout": 15,
    "aws_max_attempts": 3,
}

CHANNEL_ACCESS_CHOICES = ("allow", "deny")


def get(name: str) -> Any:
    """Return the value of ``settings.WEBSOCKETS[name]`` or its default."""
    configured = getattr(settings, "WEBSOCKETS", None) or {}
    if name in configured:
        return configured[name]
    return DEFAULTS[name]


def validate(configured: Any) -> list[str]:
    """Return one message per invalid value in a ``WEBSOCKETS`` dict."""
    if configured is None:
        return []
    if not isinstance(configured, dict):
        return [f"WEBSOCKETS must be a dict, not {type(configured).__name__}."]
    problems = []
    for key in configured:
        if key not in DEFAULTS:
            problems.append(f"WEBSOCKETS[{key!r}] is not a known setting.")
    for key in ("USE_WS_TOKEN", "RATE_LIMIT_ENABLED", "SEND_EXCEPTION_MAIL"):
        if key in configured and not isinstance(configured[key], bool):
            problems.append(f"WEBSOCKETS[{key!r}] must be True or False.")
    for key in (
        "token_expiry_seconds",
        "token_rate_limit_max_attempts",
        "token_rate_limit_window_minutes",
        "RATE_LIMIT_MAX_ATTEMPTS",
        "RATE_LIMIT_WINDOW_MINUTES",
        "send_pool_size",
        "aws_max_attempts",
    ):
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"WEBSOCKETS[{key!r}] must be a positive integer, not {value!r}.")
    proxies = configured.get("trusted_proxy_count", 0)
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        problems.append(
            f"WEBSOCKETS['trusted_proxy_count'] must be 0 or a positive integer, not {proxies!r}."
        )
    for key in ("aws_connect_timeout", "aws_read_timeout"):
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(f"WEBSOCKETS[{key!r}] must be a positive number of seconds.")
    access = configured.get("channel_default_access", "allow")
    if access not in CHANNEL_ACCESS_CHOICES:
        problems.append(
            f"WEBSOCKETS['channel_default_access'] must be 'allow' or 'deny', not {access!r}."
        )
    origins = configured.get("allowed_origins")
    if origins is not None:
        if not isinstance(origins, (list, tuple)) or not all(isinstance(o, str) for o in origins):
            problems.append("WEBSOCKETS['allowed_origins'] must be a list of origin strings.")
        else:
            for origin in origins:
                if "://" not in origin or origin.rstrip("/") != origin or origin.count("/") > 2:
                    problems.append(
                        f"WEBSOCKETS['allowed_origins'] entry {origin!r} must look like "
                        "'https://www.example.com' (scheme and host, no path)."
                    )
    return problems
