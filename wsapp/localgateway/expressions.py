"""Route selection expressions and request parameter mappings.

Both are checked when the control plane receives them (so a typo fails at
provisioning time, as on AWS) and evaluated by the data plane for each event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wsapp.localgateway.wire import ApiError, bad_request

_BODY_PATH = r"request\.body\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)"
# Braces on both sides or on neither: "${request.body.action" is a typo, not a path.
_SELECTION_RE = re.compile(rf"^\$(?:{_BODY_PATH}|\{{{_BODY_PATH}\}})$")
_TARGET_RE = re.compile(r"^integration\.request\.(header|querystring)\.([A-Za-z0-9_.\-]{1,128})$")
_ROUTE_SOURCE_RE = re.compile(r"^route\.request\.(header|querystring)\.([A-Za-z0-9_.\-]{1,128})$")
_STATIC_RE = re.compile(r"^'([^']*)'$")

#: The ``context.*`` variables a WebSocket integration mapping may use.
CONTEXT_VARIABLES = frozenset(
    {
        "apiId",
        "connectedAt",
        "connectionId",
        "disconnectReason",
        "disconnectStatusCode",
        "domainName",
        "domainPrefix",
        "eventType",
        "extendedRequestId",
        "identity.sourceIp",
        "identity.userAgent",
        "messageDirection",
        "messageId",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "routeKey",
        "stage",
    }
)


def selection_path(expression: str) -> tuple[str, ...]:
    """The body path of ``$request.body.<key>``; raises BadRequest for anything else."""
    match = _SELECTION_RE.fullmatch(expression or "")
    if match is None:
        raise bad_request(
            f"Invalid route selection expression {expression!r}: the local gateway "
            "supports $request.body.<key> (dotted paths allowed), e.g. $request.body.action."
        )
    return tuple((match.group(1) or match.group(2)).split("."))


def select_route_key(expression: str, body: str | bytes) -> str | None:
    """The route key a message selects, or None (not JSON, or no such key)."""
    try:
        path = selection_path(expression)
    except ApiError:  # never stored: the control plane rejects it
        return None
    try:
        document: Any = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        # Not JSON (UnicodeDecodeError is a ValueError), or nested deeper than json's
        # recursion allows: either way no route matches and $default gets it.
        return None
    for part in path:
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    if isinstance(document, str):
        return document
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        return json.dumps(document)
    return None


@dataclass(frozen=True)
class ParameterMapping:
    """One parsed ``integration.request.<where>.<name>`` = ``<source>`` entry."""

    where: str  # "header" or "querystring"
    name: str
    kind: str  # "context", "static", "route_header" or "route_querystring"
    source: str


def parse_request_parameters(parameters: Mapping[str, str]) -> list[ParameterMapping]:
    """Validate an integration's RequestParameters; raises BadRequest naming the bad entry."""
    parsed = []
    for key, value in parameters.items():
        target = _TARGET_RE.fullmatch(key)
        if target is None:
            raise bad_request(
                f"Invalid mapping expression specified: {key!r}. Keys must look like "
                "integration.request.header.<Name> or integration.request.querystring.<name>."
            )
        if not isinstance(value, str):
            raise bad_request(f"Invalid mapping expression specified: {key!r} needs a string.")
        where, name = target.groups()
        static = _STATIC_RE.fullmatch(value)
        route = _ROUTE_SOURCE_RE.fullmatch(value)
        if static is not None:
            parsed.append(ParameterMapping(where, name, "static", static.group(1)))
        elif value.startswith("context."):
            variable = value[len("context.") :]
            if variable not in CONTEXT_VARIABLES:
                raise bad_request(
                    f"Invalid mapping expression specified: {value!r} for {key!r}. Known "
                    f"context variables: {', '.join(sorted(CONTEXT_VARIABLES))}."
                )
            parsed.append(ParameterMapping(where, name, "context", variable))
        elif route is not None:
            parsed.append(ParameterMapping(where, name, f"route_{route.group(1)}", route.group(2)))
        else:
            raise bad_request(
                f"Invalid mapping expression specified: {value!r} for {key!r}. Use "
                "context.<variable>, route.request.header.<Name>, "
                "route.request.querystring.<name> or a static 'value' in single quotes."
            )
    return parsed


def resolve_parameters(
    parameters: Mapping[str, str],
    context: Mapping[str, str],
    client_headers: Mapping[str, str],
    client_query: Mapping[str, str],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(headers, query parameters) an event's mappings produce; unknown values are left out."""
    headers: list[tuple[str, str]] = []
    query: list[tuple[str, str]] = []
    for mapping in parse_request_parameters(parameters):
        if mapping.kind == "static":
            value: str | None = mapping.source
        elif mapping.kind == "context":
            value = context.get(mapping.source)
        elif mapping.kind == "route_header":
            value = client_headers.get(mapping.source)
        else:
            value = client_query.get(mapping.source)
        if value is None:
            continue
        (headers if mapping.where == "header" else query).append((mapping.name, str(value)))
    return headers, query
