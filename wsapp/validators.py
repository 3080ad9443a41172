"""Validators shared by the models, the view and the forms."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
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


def has_space_or_control(value: str) -> bool:
    """Whether ``value`` holds white space or a control character."""
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)


#: A URL whose authority holds "user:pass@" (or "user@").
CREDENTIALS_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")
#: A '%' not followed by two hex digits (and what follows it, for the message).
BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2}).{0,2}")


def normalise_endpoint(value: str, *, field: str = "URL") -> str:
    """Validate an integration URL and return it normalised.

    It must be https, or plain http on a loopback host (the local gateway). A base
    endpoint is normalised to end in '/' by the caller.
    """
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{field} is required.", code="required")
    # urlsplit() silently drops tabs and line breaks, so they would survive in the value.
    if has_space_or_control(value):
        raise ValidationError(
            f"{field} {value!r} contains spaces or control characters; a URL has none.",
            code="invalid_url",
        )
    # Said without the value: it would show the password.
    if CREDENTIALS_RE.match(value):
        raise ValidationError(
            f"{field} must not contain a user name or password ('user:pass@' before the "
            "host): an integration URL is shown to operators and stored in AWS. Your "
            "backend knows API Gateway by the integration secret instead.",
            code="credentials_in_url",
        )
    if "{" in value or "}" in value:
        raise ValidationError(
            f"{field} {value!r} contains '{{' or '}}': API Gateway reads them as a path "
            "variable. Percent-encode them (%7B, %7D) if they are part of the path.",
            code="invalid_url",
        )
    bad_escape = BAD_PERCENT_RE.search(value)
    if bad_escape:
        raise ValidationError(
            f"{field} {value!r} has a malformed %-escape ({bad_escape.group()!r}): '%' must "
            "be followed by two hex digits; write %25 for a literal '%'.",
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


def _shown(value: object, limit: int = 80) -> str:
    """``value`` as an error message quotes it: its repr, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}…{text[-4:]}"


def json_type(value: object) -> str:
    """What ``value`` is, in JSON's words ('a list', 'a string'...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def unicode_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL or a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains text that is not valid Unicode (a lone surrogate such as \\ud800)"
    return None


# --- Gateway fields -----------------------------------------------------------------

# us-east-1, eu-west-2, us-gov-west-1, cn-north-1, us-isob-east-1, eusc-de-east-1.
REGION_RE = re.compile(r"[a-z]{2,4}(?:-[a-z]+){1,3}-[0-9]{1,2}")
REGION_EXAMPLES = "us-east-1, eu-west-2 or us-gov-west-1"


def region_error(value: str, *, field: str = "Region") -> str | None:
    """Why ``value`` is not an AWS region name, or None."""
    if REGION_RE.fullmatch(value):
        return None
    if REGION_RE.fullmatch(value.lower()):
        return f"{field} {_shown(value)} must be in lower case: {value.lower()!r}."
    return (
        f"{field} {_shown(value)} is not an AWS region name: use one such as "
        f"{REGION_EXAMPLES} (lower case)."
    )


def validate_region(value: str) -> None:
    # Surrounding spaces are accepted: the model's clean() strips them.
    error = region_error(value.strip())
    if error:
        raise ValidationError(error, code="invalid_region")


def domain_name_error(value: str) -> str | None:
    """Why ``value`` is no custom domain name (a DNS host name), or None.

    Upper case and one trailing dot are accepted here: ``normalise_domain_name``
    removes them.
    """
    field = "Custom domain name"
    shown = _shown(value)
    example = "such as ws.example.com"
    if has_space_or_control(value):
        return f"{field} {shown} contains spaces or control characters; a host name has none."
    if "://" in value:
        scheme = value.split("://", 1)[0]
        return f"{field} {shown} must be a host name {example}, without {scheme + '://'!r}."
    if "/" in value:
        return f"{field} {shown} must be a host name {example}, without a path ('/...')."
    if "@" in value:
        return f"{field} {shown} must be a host name {example}, without a user name ('...@')."
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        pass
    else:
        return f"{field} {shown} is an IP address: a custom domain needs a DNS name {example}."
    if ":" in value:
        return f"{field} {shown} must be a host name {example}, without a port (':...')."
    if "*" in value:
        return (
            f"{field} {shown} is a wildcard: name one host {example} (a wildcard "
            "certificate such as *.example.com can cover it)."
        )
    if not value.isascii():
        try:
            ascii_form = value.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_form = ""
        hint = f": {ascii_form!r}" if ascii_form else " ('xn--...')"
        return (
            f"{field} {shown} contains non-ASCII characters: give an internationalised "
            f"name in its ASCII form{hint}."
        )
    name = value[:-1] if value.endswith(".") else value
    if "." not in name:
        return f"{field} {shown} must be a fully qualified name with a dot, {example}."
    if hostname_error(value):
        return (
            f"{field} {shown} is not a valid host name: use letters, digits, '-' and '.' "
            "only, in labels of at most 63 characters that neither start nor end with '-'."
        )
    if name.rsplit(".", 1)[-1].isdigit():
        return f"{field} {shown} cannot end in a label of digits only; use a DNS name {example}."
    return None


def normalise_domain_name(value: str) -> str:
    """A domain name as it is stored: no surrounding spaces, lower case, no trailing dot."""
    value = (value or "").strip().lower()
    return value[:-1] if value.endswith(".") else value


def validate_domain_name(value: str) -> None:
    # Surrounding spaces are accepted: the model's clean() strips them.
    error = domain_name_error(value.strip())
    if error:
        raise ValidationError(error, code="invalid_domain_name")


PARTITION_RE = re.compile(r"aws(?:-[a-z]+)*")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
CERTIFICATE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")
CERTIFICATE_ARN_SHAPE = "arn:<partition>:acm:<region>:<12-digit account>:certificate/<id>"
CERTIFICATE_ARN_EXAMPLE = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)


def certificate_arn_error(value: str) -> str | None:
    """Why ``value`` is not the ARN of an ACM certificate, or None."""
    field = "Certificate ARN"
    shown = _shown(value)
    if has_space_or_control(value):
        return f"{field} {shown} contains spaces or control characters; an ARN has none."
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return (
            f"{field} {shown} is not an ACM certificate ARN: it must look like "
            f"{CERTIFICATE_ARN_SHAPE}, e.g. {CERTIFICATE_ARN_EXAMPLE}."
        )
    _, partition, service, region, account, resource = parts
    if service != "acm":
        return (
            f"{field} {shown} is not an ACM certificate ARN (its service is "
            f"{service!r}, not 'acm'): it must look like {CERTIFICATE_ARN_SHAPE}."
        )
    if not PARTITION_RE.fullmatch(partition):
        return (
            f"{field} {shown}: {partition!r} is not an AWS partition (aws, aws-cn, aws-us-gov...)."
        )
    if not REGION_RE.fullmatch(region):
        return f"{field} {shown}: {region!r} is not an AWS region name such as us-east-1."
    if not ACCOUNT_RE.fullmatch(account):
        return f"{field} {shown}: the account {account!r} must be 12 digits."
    kind, _, certificate_id = resource.partition("/")
    if kind != "certificate" or not CERTIFICATE_ID_RE.fullmatch(certificate_id):
        return (
            f"{field} {shown} must end in certificate/<id> (letters, digits and '-'), "
            f"not {_shown(resource, 60)}."
        )
    return None


def certificate_arn_region(value: str) -> str:
    """The region of a certificate ARN ('' when it is not one)."""
    return value.split(":", 5)[3] if certificate_arn_error(value) is None else ""


def validate_certificate_arn(value: str) -> None:
    # Surrounding spaces are accepted: the model's clean() strips them.
    error = certificate_arn_error(value.strip())
    if error:
        raise ValidationError(error, code="invalid_certificate_arn")


HOSTED_ZONE_PREFIX = "/hostedzone/"
HOSTED_ZONE_ID_RE = re.compile(r"[A-Z0-9]{1,32}")


def normalise_hosted_zone_id(value: str) -> str:
    """A hosted zone id as it is stored: without spaces or the ``/hostedzone/`` prefix."""
    value = (value or "").strip()
    return value[len(HOSTED_ZONE_PREFIX) :] if value.startswith(HOSTED_ZONE_PREFIX) else value


def hosted_zone_id_error(value: str) -> str | None:
    """Why ``value`` is not a Route 53 hosted zone id (e.g. Z1D633PJN98FT9), or None."""
    field = "Route 53 hosted zone id"
    zone = value[len(HOSTED_ZONE_PREFIX) :] if value.startswith(HOSTED_ZONE_PREFIX) else value
    if HOSTED_ZONE_ID_RE.fullmatch(zone):
        return None
    if HOSTED_ZONE_ID_RE.fullmatch(zone.upper()):
        return (
            f"{field} {_shown(value)} must be in capital letters, as Route 53 shows it: "
            f"{zone.upper()!r}."
        )
    return (
        f"{field} {_shown(value)} is not a zone id: use the id Route 53 shows, capital "
        "letters and digits such as Z1D633PJN98FT9 (a /hostedzone/ prefix is allowed)."
    )


def validate_hosted_zone_id(value: str) -> None:
    # Surrounding spaces are accepted: the model's clean() strips them.
    error = hosted_zone_id_error(value.strip())
    if error:
        raise ValidationError(error, code="invalid_hosted_zone_id")


# What the local gateway accepts too (wsapp/localgateway/expressions.py): a dotted
# body path, with braces on both sides or on neither.
_BODY_PATH = r"request\.body\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"
SELECTION_EXPRESSION_RE = re.compile(rf"\$(?:{_BODY_PATH}|\{{{_BODY_PATH}\}})")


def route_selection_expression_error(value: str) -> str | None:
    """Why ``value`` is not a route selection expression wsapp can use, or None."""
    if SELECTION_EXPRESSION_RE.fullmatch(value):
        return None
    field = "Route selection expression"
    if not value:
        return f"{field} is required, e.g. $request.body.action."
    if has_space_or_control(value):
        return f"{field} {_shown(value)} contains spaces or control characters; remove them."
    return (
        f"{field} {_shown(value)} must look like $request.body.<key> or "
        "${request.body.<key>}, where <key> is a dot-separated path of letters, digits, "
        "'_' and '-', e.g. $request.body.action."
    )


def validate_route_selection_expression(value: str) -> None:
    error = route_selection_expression_error(value)
    if error:
        raise ValidationError(error, code="invalid_route_selection_expression")


#: AWS allows 50 tags per resource; provisioning adds this one to every API
#: (``wsapp.provisioning.desired.MANAGED_TAG``), leaving 49 for the record.
WSAPP_TAG = "wsapp:gateway"
MAX_TAGS = 49
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
TAGS_EXAMPLE = '{"team": "web"}'
#: Besides letters, digits and spaces (any script), AWS tags may hold these.
TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_text_error(text: str) -> str | None:
    problem = unicode_problem(text)
    if problem:
        return problem
    for ch in text:
        category = unicodedata.category(ch)
        if ch not in TAG_PUNCTUATION and category[0] not in "LNZ":
            return (
                f"contains {ch!r}: AWS allows letters, digits, spaces and "
                f"{' '.join(sorted(TAG_PUNCTUATION))} only"
            )
    return None


def tags_error(tags: object) -> str | None:
    """Why ``tags`` breaks AWS's tag rules (as API Gateway applies them), or None."""
    if not isinstance(tags, dict):
        return (
            f"Tags must be a JSON object of tag names to values, e.g. {TAGS_EXAMPLE}, "
            f"not {json_type(tags)}."
        )
    if len(tags) > MAX_TAGS:
        return (
            f"Tags: {len(tags)} tags is too many; at most {MAX_TAGS} (AWS allows 50 per "
            f"API and wsapp adds its own {WSAPP_TAG!r} tag)."
        )
    for key, value in tags.items():
        if not isinstance(key, str):
            return f"Tags: the tag name {_shown(key)} must be a string."
        problem = _tag_text_error(key)
        if problem:
            return f"Tags: the tag name {_shown(key)} {problem}."
        if not key:
            return "Tags: a tag name cannot be empty."
        if len(key) > MAX_TAG_KEY:
            return (
                f"Tags: the tag name {_shown(key)} is {len(key)} characters long; AWS "
                f"allows at most {MAX_TAG_KEY}."
            )
        if key.lower().startswith("aws:"):
            return (
                f"Tags: the tag name {_shown(key)} starts with 'aws:', which AWS reserves "
                "for its own tags; choose another name."
            )
        if key == WSAPP_TAG:
            return f"Tags: {WSAPP_TAG!r} is set by wsapp itself; choose another name."
        if not isinstance(value, str):
            return (
                f"Tags: the value of {_shown(key)} is {json_type(value)}; tag values must "
                f"be strings, e.g. {TAGS_EXAMPLE}."
            )
        problem = _tag_text_error(value)
        if problem:
            return f"Tags: the value of {_shown(key)} {problem}."
        if len(value) > MAX_TAG_VALUE:
            return (
                f"Tags: the value of {_shown(key)} is {len(value)} characters long; AWS "
                f"allows at most {MAX_TAG_VALUE}."
            )
    return None


def validate_tags(value: object) -> None:
    error = tags_error(value)
    if error:
        raise ValidationError(error, code="invalid_tags")


# --- Channel access rules -----------------------------------------------------------

MAX_RULE_PERMISSIONS = 100
PERMISSION_EXAMPLE = '"support.view_ticket"'


def permission_name_error(name: object) -> str | None:
    """Why ``name`` is not shaped like a permission name ("app_label.codename"), or None."""
    if not isinstance(name, str):
        return (
            f"Permissions: {_shown(name)} is {json_type(name)}; list permission names as "
            f"strings, e.g. [{PERMISSION_EXAMPLE}]."
        )
    problem = unicode_problem(name)
    if problem:
        return f"Permissions: {_shown(name)} {problem}."
    if has_space_or_control(name):
        return (
            f"Permissions: {_shown(name)} contains spaces; a permission name has none, "
            f"e.g. {PERMISSION_EXAMPLE}."
        )
    app_label, _, codename = name.partition(".")
    if name.count(".") != 1 or not app_label or not codename or len(name) > 255:
        return (
            f'Permissions: {_shown(name)} is not "app_label.codename" (both parts '
            f"non-empty, one dot), e.g. {PERMISSION_EXAMPLE}."
        )
    return None
