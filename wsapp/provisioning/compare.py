"""Compare a gateway record with what AWS holds.

``fetch_snapshot`` only reads from AWS; ``compare`` is a pure function of the record
and a snapshot. ``plan()``, ``sync()`` and the health page all use these two, so
"what the plan shows" and "what sync changes" cannot drift apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wsapp.models import ApiGateway
from wsapp.provisioning.calls import AwsCaller
from wsapp.provisioning.desired import (
    CONNECTION_ID_PARAMETER,
    CONNECTION_ID_SOURCE,
    MANAGED_TAG,
    ROUTE_RESPONSE_KEY,
    SECRET_PARAMETER,
    DesiredRoute,
    created_domain,
    desired_routes,
    desired_tags,
    has_undeployed_changes,
    integration_spec,
    recorded_routes,
    route_spec,
)


class Code(StrEnum):
    """Stable identifiers of the kinds of difference (the health page keys on them)."""

    API_MISSING = "api_missing"
    API_NOT_WEBSOCKET = "api_not_websocket"
    API_SETTINGS = "api_settings"
    SELECTION_EXPRESSION = "selection_expression_changed"
    TAGS = "tags_changed"
    ROUTE_ADDED = "route_added"
    ROUTE_EDITED = "route_edited"
    ROUTE_DELETED = "route_deleted"
    ROUTE_MISSING = "route_missing"
    ROUTE_SETTINGS = "route_settings"
    ROUTE_RESPONSE_MISSING = "route_response_missing"
    ENDPOINT_CHANGED = "endpoint_changed"
    SECRET_ROTATED = "secret_rotated"
    CONNECTION_ID_MAPPING_MISSING = "connection_id_mapping_missing"
    INTEGRATION_MISSING = "integration_missing"
    INTEGRATION_SETTINGS = "integration_settings"
    ORPHAN_INTEGRATION = "orphan_integration"
    STAGE_MISSING = "stage_missing"
    STAGE_EXTRA = "stage_extra"
    DEPLOYMENT_NOT_LIVE = "deployment_not_live"
    CHANGES_NOT_DEPLOYED = "changes_not_deployed"
    MAPPING_MISSING = "mapping_missing"
    MAPPING_STAGE = "mapping_stage"


#: Differences sync cannot fix by itself (the operator must run another operation).
NOT_FIXED_BY_SYNC = frozenset({Code.API_MISSING, Code.API_NOT_WEBSOCKET, Code.MAPPING_MISSING})


@dataclass(frozen=True)
class Difference:
    """One way AWS differs from the record. ``message`` is written for operators."""

    code: Code
    subject: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Snapshot:
    """What AWS holds for one API, as read by ``fetch_snapshot``."""

    api: dict[str, Any] | None
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by IntegrationId
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # by RouteKey
    route_responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by RouteId
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by StageName
    #: The recorded custom-domain mapping; None when none is recorded or it is gone.
    mapping: dict[str, Any] | None = None
    #: The custom domain's configuration in AWS (GetDomainName's first entry), read
    #: only by ``describe``; None when not read, or no such domain exists.
    domain: dict[str, Any] | None = None


def fetch_snapshot(
    caller: AwsCaller, gateway: ApiGateway, *, api: dict[str, Any] | None = None
) -> Snapshot:
    """Read the API, its integrations, routes, route responses, stages and mapping.

    Makes no change anywhere. ``api`` skips the GetApi call when the caller has it.
    """
    if not gateway.api_id:
        return Snapshot(api=None)
    if api is None:
        api = caller.call("get_api", "Reading the API", missing_ok=True, ApiId=gateway.api_id)
        if api is None:
            return Snapshot(api=None)
    api_id = gateway.api_id
    snapshot = Snapshot(api=api)
    for item in caller.items("get_integrations", "Listing integrations", ApiId=api_id):
        snapshot.integrations[item["IntegrationId"]] = item
    for item in caller.items("get_routes", "Listing routes", ApiId=api_id):
        snapshot.routes[item["RouteKey"]] = item
    for item in caller.items("get_stages", "Listing stages", ApiId=api_id):
        snapshot.stages[item["StageName"]] = item
    for route in desired_routes(gateway):
        existing = snapshot.routes.get(route.route_key)
        if route.two_way and existing:
            snapshot.route_responses[existing["RouteId"]] = caller.items(
                "get_route_responses",
                f"Listing route responses of {route.route_key}",
                ApiId=api_id,
                RouteId=existing["RouteId"],
            )
    domain = created_domain(gateway)
    if gateway.api_mapping_id and domain:
        snapshot.mapping = caller.call(
            "get_api_mapping",
            "Reading the custom domain mapping",
            missing_ok=True,
            ApiMappingId=gateway.api_mapping_id,
            DomainName=domain,
        )
    return snapshot


def target_integration_id(route: dict[str, Any] | None) -> str:
    target = (route or {}).get("Target") or ""
    return target.split("/", 1)[1] if target.startswith("integrations/") else ""


def resolve_integrations(gateway: ApiGateway, snapshot: Snapshot) -> dict[str, str | None]:
    """Which existing integration serves each desired route key (None: must be created).

    The route's own target wins; else the id recorded when the integration was created
    (a run that failed before creating the route). An integration shared with another
    route is never claimed: editing it would change both routes.
    """
    references = Counter(target_integration_id(r) for r in snapshot.routes.values())
    recorded = recorded_routes(gateway)
    resolved: dict[str, str | None] = {}
    for route in desired_routes(gateway):
        key = route.route_key
        current = target_integration_id(snapshot.routes.get(key))
        if current and current in snapshot.integrations and references[current] == 1:
            resolved[key] = current
            continue
        noted = (recorded.get(key) or {}).get("integration_id") or ""
        if noted and noted in snapshot.integrations and references[noted] == 0:
            resolved[key] = noted
            continue
        resolved[key] = None
    return resolved


def api_updates(gateway: ApiGateway, api: dict[str, Any]) -> dict[str, str]:
    """UpdateApi arguments needed to bring the API's settings in line with the record."""
    updates: dict[str, str] = {}
    if api.get("RouteSelectionExpression") != gateway.route_selection_expression:
        updates["RouteSelectionExpression"] = gateway.route_selection_expression
    if (api.get("Description") or "") != gateway.api_description:
        updates["Description"] = gateway.api_description
    if api.get("Name") != gateway.api_name:
        updates["Name"] = gateway.api_name
    return updates


def tag_changes(gateway: ApiGateway, api: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Tags to set and tag keys to remove. AWS's own ``aws:`` tags are left alone.

    When AWS returns no Tags at all (some answers omit them) nothing is compared.
    """
    current = api.get("Tags")
    if current is None:
        return {}, []
    wanted = desired_tags(gateway)
    to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
    to_remove = sorted(k for k in current if k not in wanted and not k.startswith("aws:"))
    return to_set, to_remove


def integration_problems(
    gateway: ApiGateway, route: DesiredRoute, integration: dict[str, Any]
) -> list[Difference]:
    """How an existing integration differs from the desired one (empty: it matches)."""
    key = route.route_key
    spec = integration_spec(route, gateway.integration_secret)
    problems: list[Difference] = []
    if integration.get("IntegrationUri") != spec["IntegrationUri"]:
        code = Code.ROUTE_EDITED if route.additional else Code.ENDPOINT_CHANGED
        problems.append(
            Difference(
                code,
                key,
                f"Route {key}: integration URL is {integration.get('IntegrationUri')!r}, "
                f"record says {spec['IntegrationUri']!r}.",
            )
        )
    parameters = integration.get("RequestParameters") or {}
    if parameters.get(CONNECTION_ID_PARAMETER) != CONNECTION_ID_SOURCE:
        problems.append(
            Difference(
                Code.CONNECTION_ID_MAPPING_MISSING,
                key,
                f"Route {key}: the connectionId header is not mapped to context.connectionId.",
            )
        )
    if parameters.get(SECRET_PARAMETER) != spec["RequestParameters"][SECRET_PARAMETER]:
        problems.append(
            Difference(
                Code.SECRET_ROTATED,
                key,
                f"Route {key}: the X-Gateway-Secret header does not carry the current secret "
                f"({gateway.masked_secret}).",
            )
        )
    extra = sorted(set(parameters) - set(spec["RequestParameters"]))
    # Settings AWS may omit from an answer are compared only when present.
    settings = ("IntegrationType", "IntegrationMethod", "ConnectionType", "PayloadFormatVersion")
    wrong = [name for name in settings if name in integration and integration[name] != spec[name]]
    timeout = integration.get("TimeoutInMillis")
    if timeout is not None and int(timeout) != spec["TimeoutInMillis"]:
        wrong.append("TimeoutInMillis")
    if extra or wrong:
        detail = ", ".join(wrong + [f"unexpected mapping {name}" for name in extra])
        problems.append(
            Difference(
                Code.INTEGRATION_SETTINGS, key, f"Route {key}: integration differs: {detail}."
            )
        )
    return problems


def route_problems(
    route: DesiredRoute, existing: dict[str, Any], integration_id: str
) -> list[Difference]:
    """How an existing route differs from the desired one (empty: it matches)."""
    key = route.route_key
    spec = route_spec(route, integration_id)
    problems = []
    if existing.get("Target") != spec["Target"]:
        problems.append(
            Difference(
                Code.ROUTE_SETTINGS,
                key,
                f"Route {key}: targets {existing.get('Target') or 'nothing'}, "
                f"should target {spec['Target']}.",
            )
        )
    if existing.get("RouteResponseSelectionExpression") != spec.get(
        "RouteResponseSelectionExpression"
    ):
        problems.append(
            Difference(
                Code.ROUTE_SETTINGS,
                key,
                f"Route {key}: route response selection expression should be "
                f"{spec.get('RouteResponseSelectionExpression') or 'unset'}.",
            )
        )
    return problems


def has_route_response(snapshot: Snapshot, route_id: str) -> bool:
    return any(
        item.get("RouteResponseKey") == ROUTE_RESPONSE_KEY
        for item in snapshot.route_responses.get(route_id, [])
    )


def compare(gateway: ApiGateway, snapshot: Snapshot) -> list[Difference]:
    """Every difference between the record and ``snapshot``; empty when in sync."""
    if snapshot.api is None:
        if gateway.api_id:
            message = f"API {gateway.api_id} no longer exists in AWS: run create to rebuild it."
        else:
            message = "The API has not been created in AWS yet."
        return [Difference(Code.API_MISSING, "api", message)]
    api = snapshot.api
    diffs: list[Difference] = []
    if api.get("ProtocolType", "WEBSOCKET") != "WEBSOCKET":
        return [
            Difference(
                Code.API_NOT_WEBSOCKET,
                "api",
                f"API {gateway.api_id} is a {api.get('ProtocolType')} API, not WEBSOCKET: "
                "tear the record down and create it again.",
            )
        ]
    updates = api_updates(gateway, api)
    if "RouteSelectionExpression" in updates:
        diffs.append(
            Difference(
                Code.SELECTION_EXPRESSION,
                "api",
                f"Route selection expression is {api.get('RouteSelectionExpression')!r}, "
                f"record says {gateway.route_selection_expression!r}.",
            )
        )
    other = sorted(set(updates) - {"RouteSelectionExpression"})
    if other:
        diffs.append(
            Difference(Code.API_SETTINGS, "api", f"API {' and '.join(other).lower()} differ.")
        )
    to_set, to_remove = tag_changes(gateway, api)
    if to_set or to_remove:
        names = sorted(set(to_set) | set(to_remove))
        diffs.append(Difference(Code.TAGS, "api", f"Tags differ: {', '.join(names)}."))

    resolved = resolve_integrations(gateway, snapshot)
    wanted_keys = set()
    for route in desired_routes(gateway):
        key = route.route_key
        wanted_keys.add(key)
        integration_id = resolved[key]
        existing = snapshot.routes.get(key)
        if existing is None and route.additional:
            diffs.append(Difference(Code.ROUTE_ADDED, key, f"Route {key} will be added."))
            continue
        if existing is None:
            diffs.append(Difference(Code.ROUTE_MISSING, key, f"Route {key} is missing."))
            continue
        if integration_id is None:
            diffs.append(
                Difference(
                    Code.INTEGRATION_MISSING, key, f"Route {key}: its integration is missing."
                )
            )
            continue
        diffs.extend(integration_problems(gateway, route, snapshot.integrations[integration_id]))
        diffs.extend(route_problems(route, existing, integration_id))
        if route.two_way and not has_route_response(snapshot, existing["RouteId"]):
            diffs.append(
                Difference(
                    Code.ROUTE_RESPONSE_MISSING,
                    key,
                    f"Route {key}: no $default route response, so replies never reach clients.",
                )
            )
    for key in sorted(set(snapshot.routes) - wanted_keys):
        diffs.append(Difference(Code.ROUTE_DELETED, key, f"Route {key} will be deleted."))
    referenced = {target_integration_id(r) for r in snapshot.routes.values()}
    used = {i for i in resolved.values() if i}
    for integration_id in sorted(set(snapshot.integrations) - used - referenced):
        diffs.append(
            Difference(
                Code.ORPHAN_INTEGRATION,
                integration_id,
                f"Integration {integration_id} is used by no route and will be deleted.",
            )
        )

    stage = snapshot.stages.get(gateway.stage_name)
    if stage is None:
        diffs.append(
            Difference(
                Code.STAGE_MISSING, gateway.stage_name, f"Stage {gateway.stage_name} is missing."
            )
        )
    else:
        live = stage.get("DeploymentId") or ""
        if not live:
            diffs.append(
                Difference(
                    Code.DEPLOYMENT_NOT_LIVE,
                    gateway.stage_name,
                    f"Stage {gateway.stage_name} has no deployment: nothing is live.",
                )
            )
        elif live != gateway.deployment_id:
            diffs.append(
                Difference(
                    Code.DEPLOYMENT_NOT_LIVE,
                    gateway.stage_name,
                    f"Stage {gateway.stage_name} serves deployment {live}, "
                    f"not the recorded {gateway.deployment_id or '(none)'}.",
                )
            )
    for name in sorted(set(snapshot.stages) - {gateway.stage_name}):
        diffs.append(Difference(Code.STAGE_EXTRA, name, f"Stage {name} will be deleted."))
    if has_undeployed_changes(gateway):
        diffs.append(
            Difference(
                Code.CHANGES_NOT_DEPLOYED,
                gateway.stage_name,
                "Changes made by an earlier run are not deployed yet.",
            )
        )

    domain = created_domain(gateway)
    if gateway.api_mapping_id and domain:
        mapping = snapshot.mapping
        if mapping is None:
            diffs.append(
                Difference(
                    Code.MAPPING_MISSING,
                    domain,
                    f"The mapping of {domain} is gone: run createCustomDomain.",
                )
            )
        elif mapping.get("Stage") != gateway.stage_name or mapping.get("ApiId") != gateway.api_id:
            diffs.append(
                Difference(
                    Code.MAPPING_STAGE,
                    domain,
                    f"{domain} maps to stage {mapping.get('Stage')} of API "
                    f"{mapping.get('ApiId')}, record says stage {gateway.stage_name}.",
                )
            )
        elif mapping.get("ApiMappingKey"):
            diffs.append(
                Difference(
                    Code.MAPPING_STAGE,
                    domain,
                    f"{domain} maps stage {gateway.stage_name} under the path "
                    f"/{mapping['ApiMappingKey']}, so wss://{domain} itself reaches nothing; "
                    "the record maps the domain's root.",
                )
            )
    return diffs


def mapping_matches(gateway: ApiGateway, mapping: dict[str, Any]) -> bool:
    """Whether an API mapping serves the gateway's stage at the domain's root."""
    return (
        mapping.get("Stage") == gateway.stage_name
        and mapping.get("ApiId") == gateway.api_id
        and not mapping.get("ApiMappingKey")
    )


def api_is_ours(gateway: ApiGateway, item: dict[str, Any]) -> bool:
    """An API in a GetApis listing that this record created (found by name and tag)."""
    return (
        item.get("Name") == gateway.api_name
        and item.get("ProtocolType", "WEBSOCKET") == "WEBSOCKET"
        and (item.get("Tags") or {}).get(MANAGED_TAG) == str(gateway.pk)
    )
