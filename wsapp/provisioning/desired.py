"""What AWS should hold for a gateway record: routes, integrations, tags.

Everything here is derived from the Django record alone (no AWS calls), so that the
comparison in ``compare.py`` and the changes made in ``operations.py`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsapp.aws import configured_region
from wsapp.models import ApiGateway
from wsapp.validators import WSAPP_TAG

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
MANAGED_TAG = WSAPP_TAG

INTEGRATION_TIMEOUT_MS = 29000
#: Key of the route response that sends the backend's answer back to the client.
ROUTE_RESPONSE_KEY = "$default"
#: Stored in ``aws_resources`` while AWS holds changes the live deployment lacks.
UNDEPLOYED_FLAG = "undeployed_changes"
#: ``aws_resources`` key of the region the API (and domain) were created in. Every
#: later call goes there: a region edited afterwards would otherwise make teardown
#: look in the wrong region, find nothing and strand the real API.
REGION_KEY = "region"
#: ``aws_resources`` key of the custom domain name created in API Gateway, which
#: teardown deletes even if ``domain_name`` was edited or cleared since. It is written
#: before CreateDomainName is sent, so a domain whose answer was lost is not stranded.
DOMAIN_KEY = "domain_name"
#: ``aws_resources`` key of the Route 53 hosted zone the DNS alias was written to,
#: written before the UPSERT. Teardown (and a createCustomDomain run with another
#: zone) deletes the alias from that zone, whatever ``hosted_zone_id`` says now.
ZONE_KEY = "hosted_zone_id"


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


def _resources(gateway: ApiGateway) -> dict[str, Any]:
    return gateway.aws_resources if isinstance(gateway.aws_resources, dict) else {}


def pinned_region(gateway: ApiGateway) -> str:
    """The region recorded when the API was created ('' before that)."""
    region = _resources(gateway).get(REGION_KEY)
    return region if isinstance(region, str) else ""


def region_of(gateway: ApiGateway) -> str:
    """The region the gateway lives in: where it was created, else the record's, else
    the settings'."""
    return configured_region(pinned_region(gateway) or gateway.region or None)


def created_domain(gateway: ApiGateway) -> str:
    """The custom domain name this record created in API Gateway ('' if none).

    Records from before the name was remembered fall back to ``domain_name`` when
    they hold a mapping or a DNS target.
    """
    name = _resources(gateway).get(DOMAIN_KEY)
    if isinstance(name, str) and name:
        return name
    if gateway.api_mapping_id or gateway.api_gateway_domain_name:
        return gateway.domain_name
    return ""


def zone_id(value: str) -> str:
    """A hosted zone id without spaces or the ``/hostedzone/`` prefix (Route 53 takes
    both forms, so they must compare equal)."""
    return value.strip().rsplit("/", 1)[-1]


def recorded_zone(gateway: ApiGateway) -> str:
    """The hosted zone the DNS alias was written to ('' if none was)."""
    zone = _resources(gateway).get(ZONE_KEY)
    return zone_id(zone) if isinstance(zone, str) else ""


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
    """``aws_resources["routes"]``, tolerating a missing or hand-edited value.

    Entries that are not objects are left out: the ids they should hold are then
    looked up in AWS again, as for a route never recorded.
    """
    routes = _resources(gateway).get("routes")
    if not isinstance(routes, dict):
        return {}
    return {key: ids for key, ids in routes.items() if isinstance(ids, dict)}


def has_undeployed_changes(gateway: ApiGateway) -> bool:
    return bool(_resources(gateway).get(UNDEPLOYED_FLAG))
