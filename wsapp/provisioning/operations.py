"""The provisioning operations: create, plan, sync, deploy, rotate_secret, teardown.

Every operation converges: it reads what AWS holds, changes only what differs from
the record, and saves each new AWS id the moment AWS returns it. Rerunning after any
failure therefore picks up where the failed run stopped, and a success state is only
recorded after the last step succeeded.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import NoCredentialsError
from django.db.models import Q
from django.utils import timezone

from wsapp import aws
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute, generate_secret
from wsapp.provisioning.calls import (
    EXPECTED_ERRORS,
    AwsCaller,
    ProvisioningError,
    RetryPolicy,
    describe_exception,
)
from wsapp.provisioning.compare import (
    NOT_FIXED_BY_SYNC,
    Code,
    Difference,
    Snapshot,
    api_is_ours,
    api_updates,
    compare,
    fetch_snapshot,
    has_route_response,
    integration_problems,
    resolve_integrations,
    route_problems,
    tag_changes,
    target_integration_id,
)
from wsapp.provisioning.desired import (
    DOMAIN_KEY,
    REGION_KEY,
    ROUTE_RESPONSE_KEY,
    UNDEPLOYED_FLAG,
    ZONE_KEY,
    DesiredRoute,
    api_arn,
    created_domain,
    desired_routes,
    desired_tags,
    integration_spec,
    pinned_region,
    recorded_routes,
    request_parameters,
    route_spec,
)

logger = logging.getLogger("wsapp")

State = ApiGateway.State

#: Seconds to keep accepting the previous secret after the deployment that stopped
#: sending it: a new deployment takes a few seconds to reach every API Gateway node.
ROTATION_GRACE_SECONDS = 10.0
#: How long to wait for a PENDING deployment before giving up (seconds, 1 s polls).
DEPLOYMENT_POLLS = 30

_DEPLOY_CODES = frozenset(
    {Code.DEPLOYMENT_NOT_LIVE, Code.CHANGES_NOT_DEPLOYED, Code.STAGE_MISSING}
)


@dataclass
class Result:
    """What an operation did, for the admin, the commands and the tests.

    ``ok`` is False when the operation failed; ``message`` is then the one-line reason
    (also saved in ``gateway.last_error``). ``actions`` lists the changes made in AWS,
    in order; ``differences`` what was found different before the run (sync, create).
    """

    operation: str
    ok: bool
    message: str
    actions: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def __str__(self) -> str:
        return self.message


class Run:
    """State of one operation on one gateway: AWS clients, retry policy, actions log."""

    def __init__(self, gateway: ApiGateway, operation: str, retry: RetryPolicy | None) -> None:
        self.gateway = gateway
        self.operation = operation
        self.retry = retry or RetryPolicy()
        self.actions: list[str] = []
        self.differences: list[Difference] = []
        self._callers: dict[str, AwsCaller] = {}

    def caller(self, service: str) -> AwsCaller:
        """An AwsCaller for ``service`` in the gateway's region (built once per run).

        Once the API exists that is the region it was created in, whatever the
        record's ``region`` says now.
        """
        if service not in self._callers:
            region = pinned_region(self.gateway) or self.gateway.region or None
            client = aws.client(service, region=region)
            self._callers[service] = AwsCaller(client, self.retry)
        return self._callers[service]

    @property
    def api(self) -> AwsCaller:
        return self.caller("apigatewayv2")

    def did(self, text: str) -> None:
        self.actions.append(text)
        logger.info("%s %s: %s", self.operation, self.gateway.api_name, text)

    def save(self, *fields: str) -> None:
        """Persist AWS ids right away, touching only the named fields."""
        self.gateway.save(update_fields=[*fields, "updated_on"])

    def resources(self) -> dict[str, Any]:
        if not isinstance(self.gateway.aws_resources, dict):
            self.gateway.aws_resources = {}
        return self.gateway.aws_resources

    def record(self, route_key: str, **ids: str) -> None:
        routes = self.resources().get("routes")
        if not isinstance(routes, dict):
            routes = self.resources()["routes"] = {}
        if not isinstance(routes.get(route_key), dict):
            routes[route_key] = {}
        if any(routes[route_key].get(k) != v for k, v in ids.items()):
            routes[route_key].update(ids)
            self.save("aws_resources")

    def forget_route(self, route_key: str) -> None:
        routes = self.resources().get("routes")
        if isinstance(routes, dict) and route_key in routes:
            del routes[route_key]
            self.save("aws_resources")

    def mark_undeployed(self) -> None:
        """Note, before changing AWS, that the live deployment will lag behind."""
        if not self.resources().get(UNDEPLOYED_FLAG):
            self.resources()[UNDEPLOYED_FLAG] = True
            self.save("aws_resources")


def _validate(gateway: ApiGateway) -> None:
    gateway.full_clean()
    for route in gateway.additional_routes.all():
        route.full_clean()


def _note_error(gateway: ApiGateway, message: str) -> None:
    """Record an error without changing the state (nothing in AWS was touched)."""
    gateway.last_error = message
    ApiGateway.objects.filter(pk=gateway.pk).update(last_error=message)


def _operate(
    gateway: ApiGateway,
    operation: str,
    body: Callable[[Run], str],
    *,
    retry: RetryPolicy | None,
    start_state: str | None = None,
    validate: bool = True,
    requires_api: bool = False,
    failure_state: str | None = State.FAILED,
) -> Result:
    """Run ``body`` with the shared checks and error handling.

    Validation, region and client errors are reported before anything changes. Once
    the body runs, an expected failure records ``failure_state`` with the message
    (or only ``last_error`` when ``failure_state`` is None) and returns a failed
    Result; anything unexpected is recorded the same way and re-raised. The body sets
    the success state itself, as its last step.
    """
    run = Run(gateway, operation, retry)
    try:
        if validate:
            _validate(gateway)
        run.api  # noqa: B018  (builds the client: a missing region fails here)
        if not aws.has_credentials():
            # Said here, before the lease and the state change: nothing was attempted.
            raise NoCredentialsError()
        if requires_api and not gateway.api_id:
            raise ProvisioningError(
                f"Gateway {gateway.api_name} has not been created in AWS yet: run create first."
            )
    except EXPECTED_ERRORS as exc:
        message = describe_exception(exc)
        _note_error(gateway, message)
        return Result(operation, False, message)
    lease = _acquire_lease(gateway, operation)
    if lease is None:
        message = _busy_message(gateway)
        return Result(operation, False, message)
    try:
        return _run_body(gateway, operation, body, run, start_state, failure_state)
    finally:
        _release_lease(gateway, lease)


#: How long an operation may hold its gateway before another may take over.
LEASE_SECONDS = 15 * 60


def _acquire_lease(gateway: ApiGateway, operation: str) -> str | None:
    """Take the gateway's operation lease in one conditional UPDATE; None when busy."""
    token = secrets.token_hex(8)
    now = timezone.now()
    taken = (
        ApiGateway.objects.filter(pk=gateway.pk)
        .filter(Q(operation_expires_at__isnull=True) | Q(operation_expires_at__lt=now))
        .update(
            operation=operation,
            operation_token=token,
            operation_expires_at=now + timedelta(seconds=LEASE_SECONDS),
        )
    )
    return token if taken else None


def _busy_message(gateway: ApiGateway) -> str:
    current = (
        ApiGateway.objects.filter(pk=gateway.pk)
        .values("operation", "operation_expires_at")
        .first()
        or {}
    )
    until = current.get("operation_expires_at")
    when = f" (its lease ends at {until:%H:%M:%S} UTC)" if until else ""
    return (
        f"Another operation ({current.get('operation') or 'unknown'}) is running on gateway "
        f"{gateway.api_name}{when}: wait for it to finish, then try again."
    )


def _release_lease(gateway: ApiGateway, token: str) -> None:
    ApiGateway.objects.filter(pk=gateway.pk, operation_token=token).update(
        operation="", operation_token="", operation_expires_at=None
    )


def _run_body(
    gateway: ApiGateway,
    operation: str,
    body: Callable[[Run], str],
    run: Run,
    start_state: str | None,
    failure_state: str | None,
) -> Result:
    if start_state:
        gateway.set_state(start_state)
    try:
        message = body(run)
    except EXPECTED_ERRORS as exc:
        message = describe_exception(exc)
        logger.warning("%s %s failed: %s", operation, gateway.api_name, message)
        state = getattr(exc, "state", "") or failure_state
        if state:
            gateway.set_state(state, message)
        else:
            _note_error(gateway, message)
        return Result(operation, False, message, run.actions, run.differences)
    except Exception as exc:
        logger.exception("%s %s failed unexpectedly", operation, gateway.api_name)
        message = f"Unexpected error ({type(exc).__name__}); see the server log."
        try:
            if failure_state:
                gateway.set_state(failure_state, message)
            else:
                _note_error(gateway, message)
        except Exception:
            logger.exception("could not record the failure of %s", gateway.api_name)
        raise
    return Result(operation, True, message, run.actions, run.differences)


# --- Public operations --------------------------------------------------------------


def create(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Result:
    """Create the WebSocket API with its integrations, routes, stage and deployment.

    Resumes a failed or partial run: recorded ids are checked against AWS, whatever is
    missing is created, whatever is there is reused. State: creating, then deployed
    (or failed with the AWS message).
    """
    return _operate(gateway, "create", _create, retry=retry, start_state=State.CREATING)


def plan(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> list[Difference]:
    """The differences between the record and AWS. Changes nothing, anywhere.

    Raises ProvisioningError (one-line message) when AWS cannot be read.
    """
    if not gateway.api_id:
        return compare(gateway, Snapshot(api=None))
    try:
        run = Run(gateway, "plan", retry)
        return compare(gateway, fetch_snapshot(run.api, gateway))
    except EXPECTED_ERRORS as exc:
        if isinstance(exc, ProvisioningError):
            raise
        raise ProvisioningError(describe_exception(exc)) from exc


def describe(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Snapshot:
    """What AWS holds for the gateway now (API, integrations, routes, stages, mapping,
    and the custom domain's configuration).

    Changes nothing, anywhere. Raises ProvisioningError (one-line message) when AWS
    cannot be read; a gateway never created gives an empty snapshot.
    """
    if not gateway.api_id:
        return Snapshot(api=None)
    try:
        run = Run(gateway, "describe", retry)
        snapshot = fetch_snapshot(run.api, gateway)
        if gateway.domain_name:
            # What browsers' DNS must point at is AWS's answer, not the record's copy.
            found = run.api.call(
                "get_domain_name",
                f"Reading domain {gateway.domain_name}",
                missing_ok=True,
                DomainName=gateway.domain_name,
            )
            if found is not None:
                snapshot.domain = (found.get("DomainNameConfigurations") or [{}])[0]
        return snapshot
    except EXPECTED_ERRORS as exc:
        if isinstance(exc, ProvisioningError):
            raise
        raise ProvisioningError(describe_exception(exc)) from exc


def sync(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Result:
    """Apply the plan: change what differs, then deploy if anything changed.

    Marks the additional routes deployed. State: deployed, out_of_sync (something only
    another operation can fix, e.g. a vanished API) or failed.
    """
    return _operate(gateway, "sync", _sync, retry=retry, requires_api=True)


def deploy(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Result:
    """Make a new deployment of the API's current configuration on the stage."""
    return _operate(
        gateway, "deploy", _deploy_operation, retry=retry, validate=False, requires_api=True
    )


def rotate_secret(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Result:
    """Replace the integration secret without refusing a single request.

    The old secret is kept as ``previous_integration_secret`` (accepted by the views)
    until the deployment carrying the new one is live. Rerunning after a failure
    finishes the same rotation instead of starting another.
    """
    return _operate(gateway, "rotate_secret", _rotate, retry=retry, requires_api=True)


def teardown(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Result:
    """Delete the mapping, the domain name and the API; the record goes back to draft."""
    from wsapp.provisioning.domain import teardown_domain

    def body(run: Run) -> str:
        teardown_domain(run)
        _teardown_api(run)
        return f"Gateway {run.gateway.api_name} torn down: nothing left in AWS."

    return _operate(
        gateway, "teardown", body, retry=retry, start_state=State.DELETING, validate=False
    )


# --- Bodies ---------------------------------------------------------------------------


def _create(run: Run) -> str:
    gateway = run.gateway
    api = None
    fresh = False
    if gateway.api_id:
        api = run.api.call(
            "get_api", "Checking the recorded API", missing_ok=True, ApiId=gateway.api_id
        )
        if api is None:
            run.did(f"recorded API {gateway.api_id} no longer exists; starting over")
            _forget_api(run)
    if api is None:
        api = _find_our_api(run)
        if api is not None:
            run.did(f"found API {api['ApiId']} created by an earlier run")
    if api is None:
        _pin_region(run)
        arguments: dict[str, Any] = {
            "Name": gateway.api_name,
            "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": gateway.route_selection_expression,
            "Tags": desired_tags(gateway),
        }
        if gateway.api_description:
            arguments["Description"] = gateway.api_description
        api = run.api.call("create_api", "Creating the API", **arguments)
        fresh = True
        run.did(f"created API {api['ApiId']}")
    _pin_region(run)
    if gateway.api_id != api["ApiId"] or gateway.api_endpoint != api.get("ApiEndpoint", ""):
        gateway.api_id = api["ApiId"]
        gateway.api_endpoint = api.get("ApiEndpoint", "")
        run.save("api_id", "api_endpoint")
    # A brand-new API is empty: no need to list what it holds.
    snapshot = Snapshot(api=api) if fresh else fetch_snapshot(run.api, gateway, api=api)
    run.differences = compare(gateway, snapshot)
    return _apply(run, snapshot, run.differences)


def _pin_region(run: Run) -> None:
    """Record the region the API is created in, before AWS is asked to create it."""
    if not pinned_region(run.gateway):
        run.resources()[REGION_KEY] = run.api.client.meta.region_name
        run.save("aws_resources")


def _sync(run: Run) -> str:
    gateway = run.gateway
    snapshot = fetch_snapshot(run.api, gateway)
    run.differences = compare(gateway, snapshot)
    blocking = [d for d in run.differences if d.code in {Code.API_MISSING, Code.API_NOT_WEBSOCKET}]
    if blocking:
        raise ProvisioningError(blocking[0].message, state=State.OUT_OF_SYNC)
    return _apply(run, snapshot, run.differences)


def _apply(run: Run, snapshot: Snapshot, differences: list[Difference]) -> str:
    """Converge AWS onto the record, deploy when needed, and record the final state."""
    gateway = run.gateway
    routes = desired_routes(gateway)
    changed = _converge(run, snapshot, routes)
    if changed or any(d.code in _DEPLOY_CODES for d in differences):
        _deploy(run)
    _fix_mapping(run, snapshot, differences)
    _delete_extra_stages(run, snapshot)
    _finish_rotation(run)
    for route in routes:
        if route.pk is not None:
            # Only rows still as deployed: an edit made during the run stays undeployed.
            ApiGatewayAdditionalRoute.objects.filter(
                pk=route.pk, route_key=route.route_key, integration_url=route.integration_uri
            ).update(deployed=True)
    left = [d for d in differences if d.code in NOT_FIXED_BY_SYNC]
    if left:
        gateway.set_state(State.OUT_OF_SYNC, " ".join(d.message for d in left))
        return f"Gateway {gateway.api_name} deployed, but: " + " ".join(d.message for d in left)
    gateway.set_state(State.DEPLOYED)
    if not run.actions:
        return f"Gateway {gateway.api_name} is already in sync; nothing to change."
    count = len(run.actions)
    return f"Gateway {gateway.api_name} deployed ({count} changes): {gateway.websocket_url}"


def _converge(run: Run, snapshot: Snapshot, routes: list[DesiredRoute]) -> bool:
    """Make the API, its integrations, routes, route responses and stage match."""
    gateway = run.gateway
    api_id = gateway.api_id
    call = run.api.call
    changed = False

    def changing() -> None:
        nonlocal changed
        if not changed:
            run.mark_undeployed()
            changed = True

    assert snapshot.api is not None
    updates = api_updates(gateway, snapshot.api)
    if updates:
        changing()
        call("update_api", "Updating the API settings", ApiId=api_id, **updates)
        run.did(f"updated API {', '.join(sorted(updates)).lower()}")
    to_set, to_remove = tag_changes(gateway, snapshot.api)
    if to_set:
        call("tag_resource", "Tagging the API", ResourceArn=api_arn(gateway), Tags=to_set)
        run.did(f"set tags {', '.join(sorted(to_set))}")
    if to_remove:
        call(
            "untag_resource", "Untagging the API", ResourceArn=api_arn(gateway), TagKeys=to_remove
        )
        run.did(f"removed tags {', '.join(to_remove)}")

    resolved = resolve_integrations(gateway, snapshot)
    used: set[str] = set()
    recorded = recorded_routes(gateway)
    secret = gateway.integration_secret
    for route in routes:
        key = route.route_key
        integration_id = resolved.get(key)  # None also for a route added mid-run
        if integration_id is None:
            changing()
            created = call(
                "create_integration",
                f"Creating the integration for {key}",
                ApiId=api_id,
                **integration_spec(route, secret),
            )
            integration_id = created["IntegrationId"]
            run.record(key, integration_id=integration_id)
            run.did(f"created integration {integration_id} for {key}")
        else:
            if integration_problems(gateway, route, snapshot.integrations[integration_id]):
                changing()
                call(
                    "update_integration",
                    f"Updating the integration for {key}",
                    ApiId=api_id,
                    IntegrationId=integration_id,
                    **integration_spec(route, secret),
                )
                run.did(f"updated integration {integration_id} of {key}")
            run.record(key, integration_id=integration_id)
        used.add(integration_id)

        existing = snapshot.routes.get(key)
        if existing is None:
            changing()
            created = call(
                "create_route",
                f"Creating route {key}",
                ApiId=api_id,
                RouteKey=key,
                **route_spec(route, integration_id),
            )
            route_id = created["RouteId"]
            run.record(key, route_id=route_id)
            run.did(f"created route {key}")
            has_response = False
        else:
            route_id = existing["RouteId"]
            if route_problems(route, existing, integration_id):
                changing()
                call(
                    "update_route",
                    f"Updating route {key}",
                    ApiId=api_id,
                    RouteId=route_id,
                    **route_spec(route, integration_id),
                )
                run.did(f"updated route {key}")
            run.record(key, route_id=route_id)
            has_response = has_route_response(snapshot, route_id)
        if route.two_way and not has_response:
            changing()
            created = call(
                "create_route_response",
                f"Creating the route response of {key}",
                ApiId=api_id,
                RouteId=route_id,
                RouteResponseKey=ROUTE_RESPONSE_KEY,
            )
            run.record(key, route_response_id=created["RouteResponseId"])
            run.did(f"created route response for {key}")
        elif route.two_way and not (recorded.get(key) or {}).get("route_response_id"):
            for item in snapshot.route_responses.get(route_id, []):
                if item.get("RouteResponseKey") == ROUTE_RESPONSE_KEY:
                    run.record(key, route_response_id=item["RouteResponseId"])

    wanted = {route.route_key for route in routes}
    for key, existing in sorted(snapshot.routes.items()):
        if key in wanted:
            continue
        changing()
        route_id = existing["RouteId"]
        responses = call(
            "get_route_responses",
            f"Listing route responses of {key}",
            missing_ok=True,
            ApiId=api_id,
            RouteId=route_id,
        )
        for item in (responses or {}).get("Items") or []:
            call(
                "delete_route_response",
                f"Deleting the route response of {key}",
                missing_ok=True,
                ApiId=api_id,
                RouteId=route_id,
                RouteResponseId=item["RouteResponseId"],
            )
        call(
            "delete_route",
            f"Deleting route {key}",
            missing_ok=True,
            ApiId=api_id,
            RouteId=route_id,
        )
        run.forget_route(key)
        run.did(f"deleted route {key}")
    for integration_id in sorted(set(snapshot.integrations) - used):
        changing()
        call(
            "delete_integration",
            f"Deleting unused integration {integration_id}",
            missing_ok=True,
            ApiId=api_id,
            IntegrationId=integration_id,
        )
        run.did(f"deleted unused integration {integration_id}")
    raw = run.resources().get("routes")
    for key in sorted(set(raw if isinstance(raw, dict) else ()) - wanted):
        run.forget_route(key)

    if gateway.stage_name not in snapshot.stages:
        changing()
        call(
            "create_stage",
            f"Creating stage {gateway.stage_name}",
            ApiId=api_id,
            StageName=gateway.stage_name,
        )
        run.did(f"created stage {gateway.stage_name}")
    return changed


def _deploy(run: Run) -> None:
    """CreateDeployment on the stage; wait for it to be live; record its id."""
    gateway = run.gateway
    deployment = run.api.call(
        "create_deployment",
        f"Deploying stage {gateway.stage_name}",
        ApiId=gateway.api_id,
        StageName=gateway.stage_name,
        Description=f"wsapp {run.operation}",
    )
    deployment_id = deployment["DeploymentId"]
    # Saved before waiting for it: if the wait fails or the process dies, the record
    # still names the deployment AWS made (the undeployed flag stays until it is live).
    gateway.deployment_id = deployment_id
    run.save("deployment_id")
    status = deployment.get("DeploymentStatus") or "DEPLOYED"
    polls = 0
    while status == "PENDING" and polls < DEPLOYMENT_POLLS:
        polls += 1
        run.retry.sleep(1.0)
        deployment = run.api.call(
            "get_deployment",
            f"Checking deployment {deployment_id}",
            ApiId=gateway.api_id,
            DeploymentId=deployment_id,
        )
        status = deployment.get("DeploymentStatus") or "DEPLOYED"
    if status != "DEPLOYED":
        reason = deployment.get("DeploymentStatusMessage") or status
        raise ProvisioningError(f"Deployment {deployment_id} did not go live: {reason}")
    run.resources().pop(UNDEPLOYED_FLAG, None)
    run.save("aws_resources")
    run.did(f"deployed {deployment_id} to stage {gateway.stage_name}")


def _fix_mapping(run: Run, snapshot: Snapshot, differences: list[Difference]) -> None:
    gateway = run.gateway
    if not any(d.code == Code.MAPPING_STAGE for d in differences):
        return
    domain = created_domain(gateway)
    run.api.call(
        "update_api_mapping",
        f"Pointing {domain} at stage {gateway.stage_name}",
        ApiMappingId=gateway.api_mapping_id,
        DomainName=domain,
        ApiId=gateway.api_id,
        Stage=gateway.stage_name,
        ApiMappingKey="",
    )
    run.did(f"mapped {domain} to stage {gateway.stage_name}")


def _delete_extra_stages(run: Run, snapshot: Snapshot) -> None:
    # After the mapping moved: a stage a mapping points at cannot be deleted.
    for name in sorted(set(snapshot.stages) - {run.gateway.stage_name}):
        run.api.call(
            "delete_stage",
            f"Deleting old stage {name}",
            missing_ok=True,
            ApiId=run.gateway.api_id,
            StageName=name,
        )
        run.did(f"deleted old stage {name}")


def _finish_rotation(run: Run) -> None:
    """Stop accepting the previous secret once a deployment carries the current one."""
    gateway = run.gateway
    if not gateway.previous_integration_secret or not gateway.deployment_id:
        return
    run.retry.sleep(ROTATION_GRACE_SECONDS)
    gateway.previous_integration_secret = ""
    run.save("previous_integration_secret")
    run.did("stopped accepting the previous secret")


def _deploy_operation(run: Run) -> str:
    gateway = run.gateway
    _deploy(run)
    return _record_checked_state(run, f"Deployed {gateway.deployment_id} to {gateway.stage_name}.")


def _record_checked_state(run: Run, message: str) -> str:
    """Read AWS again and record deployed, or out_of_sync with what still differs."""
    gateway = run.gateway
    remaining = compare(gateway, fetch_snapshot(run.api, gateway))
    if remaining:
        summary = f"{len(remaining)} difference(s) left, run sync: " + " ".join(
            d.message for d in remaining[:3]
        )
        gateway.set_state(State.OUT_OF_SYNC, summary)
        return f"{message} {summary}"
    gateway.set_state(State.DEPLOYED)
    return message


def _rotate(run: Run) -> str:
    gateway = run.gateway
    if not gateway.previous_integration_secret:
        # Saved before AWS changes: the views accept both secrets from here on.
        gateway.previous_integration_secret = gateway.integration_secret
        gateway.integration_secret = generate_secret()
        run.save("previous_integration_secret", "integration_secret")
        run.did("generated a new secret (the previous one is still accepted)")
    else:
        run.did("resuming the rotation started earlier")
    snapshot = fetch_snapshot(run.api, gateway)
    if snapshot.api is None:
        raise ProvisioningError(compare(gateway, snapshot)[0].message)
    resolved = resolve_integrations(gateway, snapshot)
    # Every integration a route in AWS sends to, not only those resolve_integrations
    # claims (it skips shared ones): once the previous secret is dropped, one left
    # with it would have all its requests refused.
    targets: dict[str, str] = {}
    for key, route in sorted(snapshot.routes.items()):
        integration_id = target_integration_id(route)
        if integration_id in snapshot.integrations:
            targets.setdefault(integration_id, key)
    for key, integration_id in sorted(resolved.items()):
        if integration_id:
            targets.setdefault(integration_id, key)
    wanted = request_parameters(gateway.integration_secret)
    for integration_id, key in targets.items():
        current = snapshot.integrations[integration_id].get("RequestParameters") or {}
        if current != wanted:
            run.mark_undeployed()
            run.api.call(
                "update_integration",
                f"Putting the new secret on the integration of {key}",
                ApiId=gateway.api_id,
                IntegrationId=integration_id,
                RequestParameters=wanted,
            )
            run.did(f"new secret on {key}")
    _deploy(run)
    _finish_rotation(run)
    return _record_checked_state(run, f"Secret rotated; now {gateway.masked_secret}.")


def _find_our_api(run: Run) -> dict[str, Any] | None:
    """An API this record created whose id never reached the database."""
    for item in run.api.items("get_apis", "Looking for an API created by an earlier run"):
        if api_is_ours(run.gateway, item):
            return item
    return None


def _forget_api(run: Run) -> None:
    gateway = run.gateway
    resources = run.resources()
    kept = {}
    if resources.get(DOMAIN_KEY):
        # The custom domain outlives the API: keep its name, region and DNS zone.
        kept = {k: resources[k] for k in (DOMAIN_KEY, REGION_KEY, ZONE_KEY) if k in resources}
    gateway.api_id = ""
    gateway.api_endpoint = ""
    gateway.deployment_id = ""
    gateway.aws_resources = kept
    run.save("api_id", "api_endpoint", "deployment_id", "aws_resources")


def _teardown_api(run: Run) -> None:
    gateway = run.gateway
    api_id = gateway.api_id
    if not api_id:
        found = _find_our_api(run)
        api_id = found["ApiId"] if found else ""
    if api_id:
        run.api.call("delete_api", f"Deleting API {api_id}", missing_ok=True, ApiId=api_id)
        run.did(f"deleted API {api_id}")
    _forget_api(run)
    gateway.previous_integration_secret = ""
    run.save("previous_integration_secret")
    gateway.additional_routes.update(deployed=False)
    gateway.set_state(State.DRAFT)


def differences_summary(differences: list[Difference]) -> str:
    """One line for the admin: how many differences and the first few."""
    if not differences:
        return "In sync."
    return f"{len(differences)} difference(s): " + " ".join(d.message for d in differences[:3])


__all__ = [
    "Result",
    "create",
    "deploy",
    "plan",
    "rotate_secret",
    "sync",
    "target_integration_id",
    "teardown",
]
