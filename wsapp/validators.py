"""Validators shared by the models, the view and the forms."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

# Matched with fullmatch(): "$" alone would also accept a trailing newline.
CHANNEL_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
CHANNEL_PATTERN_RE = re.compile(r"[A-Za-z0-9_-]{1,128}\*?|\*")
STAGE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
ROUTE_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

LOOPBACK_NAMES = {"localhost"}


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def hostname_error(host: str) -> str | None:
    """Why ``host`` (as ``urlsplit`` returns it, without brackets) is no host name, or None.

    An IP address, or dot-separated labels of letters, digits and inner '-' (at most 63
    characters each, 253 in all). Internationalised names must be given in their
    ASCII ('xn--') form, which is what API Gateway is given.
    """
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(HOST_LABEL_RE.fullmatch(label) for label in name.split(".")):
        return (
            f"{host!r} is not a valid host name: use letters, digits, '-' and '.' only "
            "(internationalised names in their 'xn--' form), or an IP address."
        )
    return None


def channel_name_error(name: object) -> str | None:
    """Return why ``name`` is not a valid channel name, or None when it is."""
    if not isinstance(name, str) or name == "":
        return "Channel name must be a non-empty string."
    if len(name) > 128:
        return "Channel name must be at most 128 characters."
    if not CHANNEL_NAME_RE.fullmatch(name):
        return "Channel name may contain only letters, digits, '_' and '-'."
    return None


def validate_channel_name(value: str) -> None:
    error = channel_name_error(value)
    if error:
        raise ValidationError(error, code="invalid_channel")


def validate_channel_pattern(value: str) -> None:
    if not CHANNEL_PATTERN_RE.fullmatch(value or ""):
        raise ValidationError(
            "Use an exact channel name such as 'support', a prefix ending in '*' such as "
            "'support-*', or '*' for every channel. Letters, digits, '_' and '-' only.",
            code="invalid_channel_pattern",
        )


def validate_stage_name(value: str) -> None:
    if not STAGE_NAME_RE.fullmatch(value or ""):
        raise ValidationError(
            "Stage name may contain only letters, digits, '_' and '-' (1 to 128 characters).",
            code="invalid_stage",
        )


def validate_route_key(value: str) -> None:
    if value.startswith("$"):
        raise ValidationError(
            "Route keys starting with '$' are reserved for API Gateway's own routes "
            "($connect, $disconnect, $default), which every gateway gets automatically.",
            code="reserved_route_key",
        )
    if not ROUTE_KEY_RE.fullmatch(value or ""):
        raise ValidationError(
            "Route key may contain only letters, digits, '_', '-', '.' and ':' "
            "(1 to 128 characters).",
            code="invalid_route_key",
        )


def normalise_endpoint(value: str, *, field: str = "URL") -> str:
    """Validate an integration URL and return it normalised.

    It must be https, or plain http on a loopback host (the local gateway). A base
    endpoint is normalised to end in '/' by the caller.
    """
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{field} is required.", code="required")
    # urlsplit() silently drops tabs and line breaks, so they would survive in the value.
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError(
            f"{field} {value!r} contains spaces or control characters; a URL has none.",
            code="invalid_url",
        )
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        # Reading the port is what checks it (a non-number or one above 65535 raises).
        parts.port  # noqa: B018
    except ValueError as exc:
        raise ValidationError(
            f"{field} {value!r} is not a valid URL ({exc}). Use a full URL such as "
            "https://www.example.com/ws/.",
            code="invalid_url",
        ) from exc
    if parts.scheme not in {"http", "https"} or not hostname:
        raise ValidationError(
            f"{field} must be a full URL such as https://www.example.com/ws/, not {value!r}.",
            code="invalid_url",
        )
    host_error = hostname_error(hostname)
    if host_error:
        raise ValidationError(f"{field}: {host_error}", code="invalid_host")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValidationError(
            f"{field} must use https. API Gateway may only call plain http on a loopback "
            f"host (local development); {parts.hostname!r} is not one.",
            code="insecure_url",
        )
    if parts.query or parts.fragment:
        raise ValidationError(
            f"{field} must not contain a query string or fragment.", code="invalid_url"
        )
    return value
