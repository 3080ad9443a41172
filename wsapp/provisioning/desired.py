"""What AWS should hold for a gateway record: routes, integrations, tags.

Everything here is derived from the Django record alone (no AWS calls), so that the
comparison in ``compare.py`` and the changes made in ``operations.py`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsapp.aws import configured_region
from wsapp.models import ApiGateway

CONNECT = "$connect"
DISCONNECT = "$disconnect"
DEFAULT = "$default"
BUILTIN_ROUTES = {CONNECT: "connect", DISCONNECT: "disconnect", DEFAULT: "default"}

#: Header names must match what ``wsapp.views`` reads.
CONNECTION_ID_PARAMETER = "integration.request.header.connectionId"
SECRET_PARAMETER = "integration.request.header.X-Gateway-Secret"
CONNECTION_ID_SOURCE = "context.connectionId"

#: Tag put on every API and domain name we create, so that a resource whose id was
#: lost (the process died between AWS creating it and Django saving the id) can be
#: found again instead of being stranded.
MANAGED_TAG = "wsapp:gateway"

INTEGRATION_TIMEOUT_MS = 29000
#: Key of the route response that sends the backend's answer back to the client.
ROUTE_RESPONSE_KEY = "$default"
#: Stored in ``aws_resources`` while AWS holds changes the live deployment lacks.
UNDEPLOYED_FLAG = "undeployed_changes"


@dataclass(frozen=True)
class DesiredRoute:
    """One route the API must have, and where its integration sends events."""

    route_key: str
    integration_uri: str
    #: With a ``$default`` route response, so the handler's answer reaches the client.
    two_way: bool
    additional: bool
    #: Primary key of the ApiGatewayAdditionalRoute row (None for built-in routes).
    pk: int | None = None


def desired_routes(gateway: ApiGateway) -> list[DesiredRoute]:
    """$connect, $disconnect, $default, then the additional routes by key."""
    base = gateway.target_base_endpoint
    if base and not base.endswith("/"):
        base += "/"
    routes = [
        # $connect's answer decides the handshake and $disconnect has no client left
        # to answer, so only message routes are two-way.
        DesiredRoute(key, base + suffix, two_way=key == DEFAULT, additional=False)
        for key, suffix in BUILTIN_ROUTES.items()
    ]
    if gateway.pk:
        routes.extend(
            DesiredRoute(r.route_key, r.integration_url, two_way=True, additional=True, pk=r.pk)
            for r in gateway.additional_routes.order_by("route_key")
        )
    return routes


def request_parameters(secret: str) -> dict[str, str]:
    """The header mappings every integration carries (static values go in quotes)."""
    return {
        CONNECTION_ID_PARAMETER: CONNECTION_ID_SOURCE,
        SECRET_PARAMETER: f"'{secret}'",
    }


def integration_spec(route: DesiredRoute, secret: str) -> dict[str, Any]:
    """Arguments for CreateIntegration/UpdateIntegration (without ApiId)."""
    return {
        "IntegrationType": "HTTP_PROXY",
        "IntegrationMethod": "POST",
        "IntegrationUri": route.integration_uri,
        "ConnectionType": "INTERNET",
        "PayloadFormatVersion": "1.0",
        "TimeoutInMillis": INTEGRATION_TIMEOUT_MS,
        "RequestParameters": request_parameters(secret),
        "Description": f"wsapp {route.route_key}",
    }


def route_spec(route: DesiredRoute, integration_id: str) -> dict[str, Any]:
    """Arguments for CreateRoute/UpdateRoute (without ApiId, RouteId)."""
    spec: dict[str, Any] = {"Target": f"integrations/{integration_id}"}
    if route.two_way:
        spec["RouteResponseSelectionExpression"] = ROUTE_RESPONSE_KEY
    return spec


def desired_tags(gateway: ApiGateway) -> dict[str, str]:
    """The record's tags plus the managed-by tag."""
    tags = dict(gateway.tags) if isinstance(gateway.tags, dict) else {}
    tags[MANAGED_TAG] = str(gateway.pk)
    return tags


def region_of(gateway: ApiGateway) -> str:
    """The region the gateway lives in (the record's, else the settings')."""
    return configured_region(gateway.region or None)


def api_arn(gateway: ApiGateway) -> str:
    """ARN used to tag the API."""
    region = region_of(gateway)
    return f"arn:{partition(region)}:apigateway:{region}::/apis/{gateway.api_id}"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def recorded_routes(gateway: ApiGateway) -> dict[str, dict[str, str]]:
    """``aws_resources["routes"]``, tolerating a missing or hand-edited value."""
    resources = gateway.aws_resources if isinstance(gateway.aws_resources, dict) else {}
    routes = resources.get("routes")
    return routes if isinstance(routes, dict) else {}


def has_undeployed_changes(gateway: ApiGateway) -> bool:
    resources = gateway.aws_resources if isinstance(gateway.aws_resources, dict) else {}
    return bool(resources.get(UNDEPLOYED_FLAG))
