"""REST-JSON on the wire, driven by botocore's own service models.

The paths, the lowerCamelCase member names, the status codes and the shapes of
requests and responses all come from the JSON models that ship with botocore, so
the emulator speaks exactly what boto3 and the AWS CLI send and expect.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
import botocore.session
from aiohttp import web
from botocore.model import OperationModel, ServiceModel, Shape


class ApiError(Exception):
    """An error answered in AWS's shape: ``x-amzn-ErrorType`` plus ``{"message": ...}``."""

    def __init__(self, code: str, message: str, *, status: int | None = None, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or ERROR_STATUS.get(code, 400)
        self.extra = extra


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequestException", message)


def not_found(message: str, resource_type: str | None = None) -> ApiError:
    extra = {"resourceType": resource_type} if resource_type else {}
    return ApiError("NotFoundException", message, **extra)


def conflict(message: str) -> ApiError:
    return ApiError("ConflictException", message)


#: HTTP status of each error code either service uses (as in botocore's models),
#: plus the generic server-side ones that are in no model.
ERROR_STATUS: dict[str, int] = {
    "BadRequestException": 400,
    "AccessDeniedException": 403,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ConflictException": 409,
    "GoneException": 410,
    "PayloadTooLargeException": 413,
    "TooManyRequestsException": 429,
    "LimitExceededException": 429,
    "InternalServerError": 500,
    "ServiceUnavailableException": 503,
}


def error_response(error: ApiError) -> web.Response:
    """The HTTP response botocore turns into ``client.exceptions.<code>``."""
    body = {"message": error.message, **error.extra}
    return web.Response(
        status=error.status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def json_response(status: int, payload: dict[str, Any] | None) -> web.Response:
    """A successful REST-JSON answer (no body for 204)."""
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if status == 204 or payload is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


@functools.cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of ``name`` (e.g. ``apigatewayv2``), loaded once."""
    return botocore.session.get_session().get_service_model(name)


@dataclass(frozen=True)
class OperationRoute:
    """One operation's HTTP method and path, compiled for matching."""

    name: str
    method: str
    pattern: re.Pattern[str]
    model: OperationModel
    #: Regex group name -> input member name, for the path's labels.
    labels: dict[str, str] = field(default_factory=dict)
    status: int = 200


def build_routes(service: str, operations: list[str]) -> list[OperationRoute]:
    """Compile the request URIs of ``operations`` from the service model."""
    model = service_model(service)
    routes = []
    for name in operations:
        op = model.operation_model(name)
        uri = op.http["requestUri"].split("?", 1)[0]
        uri_members = {}
        if op.input_shape is not None:
            for member_name, member in op.input_shape.members.items():
                if member.serialization.get("location") == "uri":
                    uri_members[member.serialization.get("name", member_name)] = member_name
        labels: dict[str, str] = {}
        regex = ""
        position = 0
        for match in re.finditer(r"\{([^}]+)\}", uri):
            regex += re.escape(uri[position : match.start()])
            label = match.group(1)
            greedy = label.endswith("+")
            label = label.rstrip("+")
            group = f"g{len(labels)}"
            labels[group] = uri_members[label]
            regex += f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)"
            position = match.end()
        regex += re.escape(uri[position:])
        route = OperationRoute(
            name=name,
            method=op.http["method"],
            pattern=re.compile(f"^{regex}/?$"),
            model=op,
            labels=labels,
            status=int(op.http.get("responseCode", 200)),
        )
        routes.append(route)
    return routes


def match_route(
    routes: list[OperationRoute], method: str, raw_path: str
) -> tuple[OperationRoute | None, dict[str, str], bool]:
    """Find the operation for a request.

    Returns (route, path members, path matched): the last is True when some
    operation has this path but not this method (a 405 rather than a 404).
    """
    path_known = False
    for route in routes:
        found = route.pattern.fullmatch(raw_path)
        if found is None:
            continue
        path_known = True
        if route.method != method:
            continue
        params = {route.labels[g]: unquote(v) for g, v in found.groupdict().items()}
        return route, params, True
    return None, {}, path_known


def parse_input(
    op: OperationModel, path_params: dict[str, str], query: Any, body: bytes
) -> dict[str, Any]:
    """Turn a request into the operation's input members (boto3's PascalCase names).

    Raises ``ApiError`` (BadRequestException) naming the first problem found.
    """
    shape = op.input_shape
    if shape is None:
        return {}
    document: Any = {}
    if body.strip():
        try:
            document = json.loads(body)
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None
        except RecursionError:
            # json raises this, not ValueError, for arrays or objects nested thousands deep.
            raise bad_request("The request body is nested too deeply.") from None
        if not isinstance(document, dict):
            raise bad_request("The request body must be a JSON object.")
    values: dict[str, Any] = {}
    for member_name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", member_name)
        if location == "uri":
            if member_name in path_params:
                values[member_name] = path_params[member_name]
        elif location == "querystring":
            if wire_name in query:
                if member.type_name == "list":
                    values[member_name] = list(query.getall(wire_name))
                else:
                    values[member_name] = query[wire_name]
        elif location in ("header", "headers", "statusCode"):
            continue
        elif wire_name in document and document[wire_name] is not None:
            values[member_name] = _convert(member, document[wire_name], member_name)
    for required in shape.required_members:
        if values.get(required) in (None, ""):
            raise bad_request(f"{required} is required.")
    return values


_TYPE_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "long": "an integer",
    "double": "a number",
    "float": "a number",
    "list": "a list",
    "map": "an object",
    "structure": "an object",
    "timestamp": "a timestamp",
    "blob": "a base64 string",
}


def _convert(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    ok = True
    if kind == "structure":
        if not isinstance(value, dict):
            ok = False
        else:
            result = {}
            for member_name, member in shape.members.items():
                wire_name = member.serialization.get("name", member_name)
                if wire_name in value and value[wire_name] is not None:
                    result[member_name] = _convert(
                        member, value[wire_name], f"{path}.{member_name}"
                    )
            return result
    elif kind == "list":
        if not isinstance(value, list):
            ok = False
        else:
            return [_convert(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    elif kind == "map":
        if not isinstance(value, dict):
            ok = False
        else:
            return {
                str(key): _convert(shape.value, item, f"{path}.{key}")
                for key, item in value.items()
            }
    elif kind == "string":
        ok = isinstance(value, str)
        enum = getattr(shape, "enum", None)
        if ok and enum and value not in enum:
            raise bad_request(f"Invalid value {value!r} for {path}: use one of {', '.join(enum)}.")
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind in ("double", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind in ("timestamp", "blob"):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if not ok:
        raise bad_request(
            f"Invalid value for {path}: expected {_TYPE_WORDS.get(kind, kind)}, "
            f"got {type(value).__name__}."
        )
    return value


def serialize(shape: Shape | None, value: Any) -> Any:
    """Turn a stored resource (PascalCase, epoch timestamps) into the wire document."""
    if shape is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for member_name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            item = value.get(member_name)
            if item is None:
                continue
            out[member.serialization.get("name", member_name)] = serialize(member, item)
        return out
    if kind == "list":
        return [serialize(shape.member, item) for item in value]
    if kind == "map":
        return {key: serialize(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return iso_timestamp(value)
    return value


def iso_timestamp(value: float | datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: the ISO 8601 form both services use."""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit`` bytes."""
    return await read_limited(request.content_length, request.content, limit)


async def read_limited(
    declared_length: int | None, stream: aiohttp.StreamReader, limit: int
) -> bytes | None:
    """A request or response body, or None when it is longer than ``limit`` bytes.

    Stops reading as soon as the limit is passed, whatever Content-Length claimed.
    """
    if declared_length is not None and declared_length > limit:
        return None
    chunks = []
    size = 0
    async for chunk in stream.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
