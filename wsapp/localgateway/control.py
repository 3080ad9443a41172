"""The ``apigatewayv2`` control plane over HTTP (paths under ``/v2/``)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from wsapp.localgateway.faults import CallLog, FaultInjector
from wsapp.localgateway.state import ControlPlane
from wsapp.localgateway.wire import (
    ApiError,
    bad_request,
    build_routes,
    error_response,
    json_response,
    match_route,
    parse_input,
    read_body,
    serialize,
    service_model,
)

logger = logging.getLogger("wsapp.localgateway")

SERVICE = "apigatewayv2"


class ControlPlaneHandler:
    """Routes each ``/v2/...`` request to its operation and answers in AWS's shape."""

    def __init__(
        self, state: ControlPlane, faults: FaultInjector, calls: CallLog, max_body_bytes: int
    ) -> None:
        self.state = state
        self.faults = faults
        self.calls = calls
        self.max_body_bytes = max_body_bytes
        self.routes = build_routes(SERVICE, list(state.operations))
        # Every operation of the service, to tell "not emulated" from "no such path".
        emulated = set(state.operations)
        self.other_routes = build_routes(
            SERVICE,
            [name for name in service_model(SERVICE).operation_names if name not in emulated],
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        route, path_params, path_known = match_route(self.routes, request.method, raw_path)
        if route is None:
            other, _, _ = match_route(self.other_routes, request.method, raw_path)
            if other is not None:
                error = bad_request(
                    f"Operation {other.name} is not emulated by the local gateway."
                )
                operation: str | None = other.name
            elif path_known:
                error = ApiError(
                    "BadRequestException",
                    f"Method {request.method} is not allowed on {raw_path}.",
                    status=405,
                )
                operation = None
            else:
                error = ApiError("NotFoundException", f"No operation at {raw_path}.", status=404)
                operation = None
            self.calls.record(request.method, raw_path, operation, error.status, error.code)
            return error_response(error)

        delay, injected = self.faults.control_plane_call()
        if delay:
            # The point of the fault is to be slow: this sleep is the injected latency.
            await asyncio.sleep(delay)
        try:
            if injected is not None:
                raise injected
            body = await read_body(request, self.max_body_bytes)
            if body is None:
                raise ApiError(
                    "BadRequestException",
                    f"The request body is larger than {self.max_body_bytes} bytes.",
                    status=413,
                )
            params = parse_input(route.model, path_params, request.query, body)
            result = self.state.call(route.name, params)
            payload = None
            if route.status != 204 and result is not None:
                payload = serialize(route.model.output_shape, result) or {}
        except ApiError as error:
            self.calls.record(request.method, raw_path, route.name, error.status, error.code)
            logger.info("control plane %s -> %s %s", route.name, error.code, error.message)
            return error_response(error)
        except Exception:
            # A bug here must still answer in AWS's shape, so boto3 raises a ClientError
            # the caller can handle; the traceback goes to the log, not to the client.
            logger.exception("control plane %s failed", route.name)
            error = ApiError(
                "InternalServerError",
                f"The local gateway failed on {route.name}; its log has the traceback.",
                status=500,
            )
            self.calls.record(request.method, raw_path, route.name, error.status, error.code)
            return error_response(error)
        self.calls.record(request.method, raw_path, route.name, route.status, None)
        logger.debug("control plane %s -> %s", route.name, route.status)
        return json_response(route.status, payload)
