"""Fixtures and inspection helpers for the provisioning tests.

``aws_gateway`` starts the local gateway (the ``local_gateway`` fixture of
tests/helpers/localgateway.py) and points wsapp's apigatewayv2 clients at it.
``inventory`` lists everything AWS holds through plain boto3 calls, so tests can
assert what exists without trusting the code under test. ``boto_faults`` fails chosen
calls of wsapp's own boto3 clients (API Gateway, ACM and Route 53 alike) inside
botocore, before the request is sent or after AWS has applied it.
"""

from __future__ import annotations

import functools
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from tests.helpers.localgateway import local_gateway, make_local_gateway  # noqa: F401
from wsapp import aws, provisioning
from wsapp.localgateway import LocalGateway
from wsapp.models import ApiGateway

REGION = "us-east-1"

#: Retry policy for tests: throttling is retried at once, never slept through.
NO_WAIT = provisioning.RetryPolicy(sleep=lambda seconds: None)

#: Timeouts of the tests' own boto3 clients: a stuck local server fails the test.
CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 1}
)


@pytest.fixture
def aws_gateway(local_gateway: LocalGateway, monkeypatch, settings) -> LocalGateway:
    """boto3's apigatewayv2 pointed at the local gateway.

    botocore makes one attempt per call (``aws_max_attempts`` = 1), so an injected
    failure fails exactly the call it hits; provisioning's own throttling retries
    still apply.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", local_gateway.url)
    settings.WEBSOCKETS = {"aws_max_attempts": 1}
    return local_gateway


def apigw(gateway: LocalGateway) -> Any:
    """A plain boto3 client on the local gateway, independent of wsapp.aws."""
    return _client_for(gateway.url)


@functools.lru_cache(maxsize=8)
def _client_for(url: str) -> Any:
    # Building a client costs tens of milliseconds; each gateway has its own port.
    return boto3.client("apigatewayv2", region_name=REGION, endpoint_url=url, config=CLIENT_CONFIG)


def _local(gateway: LocalGateway, method: str, name: str, document: Any = None) -> Any:
    data = json.dumps(document).encode() if document is not None else None
    request = urllib.request.Request(
        f"{gateway.url}/_local/{name}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def fail_calls(gateway: LocalGateway, *numbers: int, error: str = "BadRequestException") -> None:
    """Make the given control-plane calls (1 = the next one) fail; restarts the count.

    The default code is one botocore never retries, whatever its retry settings.
    """
    _local(
        gateway,
        "POST",
        "faults",
        {"control_plane_fail_calls": list(numbers), "control_plane_error": error},
    )


def slow_control_plane(gateway: LocalGateway, milliseconds: int) -> None:
    """Delay every control-plane answer (to keep traffic flowing during an operation)."""
    _local(gateway, "POST", "faults", {"control_plane_latency_ms": milliseconds})


def clear_faults(gateway: LocalGateway) -> None:
    _local(gateway, "DELETE", "faults")


def control_calls(gateway: LocalGateway) -> list[dict[str, Any]]:
    """Control-plane calls since the last ``clear_calls``: method, path, operation, status."""
    return _local(gateway, "GET", "calls")["calls"]


def clear_calls(gateway: LocalGateway) -> None:
    _local(gateway, "DELETE", "calls")


def _all(method, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = method(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get("Items") or [])
        token = page.get("NextToken")
        if not token:
            return items


def inventory(gateway: LocalGateway) -> dict[str, Any]:
    """Everything the control plane holds, without ids (so two runs compare equal)."""
    client = apigw(gateway)
    apis = []
    for api in _all(client.get_apis):
        api_id = api["ApiId"]
        integrations = {i["IntegrationId"]: i for i in _all(client.get_integrations, ApiId=api_id)}
        routes = {}
        targets = set()
        for route in _all(client.get_routes, ApiId=api_id):
            target = (route.get("Target") or "").removeprefix("integrations/")
            targets.add(target)
            integration = integrations.get(target) or {}
            responses = _all(client.get_route_responses, ApiId=api_id, RouteId=route["RouteId"])
            routes[route["RouteKey"]] = {
                "uri": integration.get("IntegrationUri"),
                "parameters": integration.get("RequestParameters"),
                "responses": sorted(r["RouteResponseKey"] for r in responses),
                "response_selection": route.get("RouteResponseSelectionExpression"),
            }
        stages = {
            s["StageName"]: bool(s.get("DeploymentId"))
            for s in _all(client.get_stages, ApiId=api_id)
        }
        apis.append(
            {
                "name": api["Name"],
                "selection": api["RouteSelectionExpression"],
                "tags": api.get("Tags") or {},
                "routes": routes,
                "integrations": len(integrations),
                "unused_integrations": len(set(integrations) - targets),
                "stages": stages,
            }
        )
    domains = {
        d["DomainName"]: sorted(
            (m["Stage"], m.get("ApiMappingKey") or "")
            for m in _all(client.get_api_mappings, DomainName=d["DomainName"])
        )
        for d in _all(client.get_domain_names)
    }
    return {"apis": sorted(apis, key=lambda a: a["name"]), "domains": domains}


def live_matches_config(local: LocalGateway, record: ApiGateway) -> bool:
    """Whether the stage serves exactly the routes and integrations AWS now holds."""
    served = local.state.served(record.api_id, record.stage_name)
    if served is None:
        return False
    client = apigw(local)
    integrations = {
        i["IntegrationId"]: i for i in _all(client.get_integrations, ApiId=record.api_id)
    }
    routes = _all(client.get_routes, ApiId=record.api_id)
    current = {
        r["RouteKey"]: integrations[(r.get("Target") or "").removeprefix("integrations/")]
        for r in routes
    }
    live = {key: route["Integration"] for key, route in served["Routes"].items()}
    return served["RouteSelectionExpression"] == record.route_selection_expression and {
        k: (v["IntegrationUri"], v.get("RequestParameters")) for k, v in current.items()
    } == {k: (v["IntegrationUri"], v.get("RequestParameters")) for k, v in live.items()}


def record_summary(record: ApiGateway) -> dict[str, Any]:
    """The parts of the record that must be the same after any converged run."""
    record.refresh_from_db()
    routes = record.aws_resources.get("routes", {}) if record.aws_resources else {}
    return {
        "state": record.state,
        "last_error": record.last_error,
        "has_api": bool(record.api_id),
        "has_deployment": bool(record.deployment_id),
        "route_keys": sorted(routes),
        "route_ids_complete": all(
            ids.get("integration_id") and ids.get("route_id") for ids in routes.values()
        ),
        "undeployed": bool(record.aws_resources.get("undeployed_changes"))
        if record.aws_resources
        else False,
        "previous_secret": bool(record.previous_integration_secret),
        "additional_deployed": sorted(
            record.additional_routes.values_list("route_key", "deployed")
        ),
    }


def recorded_ids_exist(local: LocalGateway, record: ApiGateway) -> bool:
    """Every id saved in the record names something that exists in AWS."""
    record.refresh_from_db()
    client = apigw(local)
    integrations = {i["IntegrationId"] for i in _all(client.get_integrations, ApiId=record.api_id)}
    routes = {r["RouteId"]: r for r in _all(client.get_routes, ApiId=record.api_id)}
    stage = client.get_stage(ApiId=record.api_id, StageName=record.stage_name)
    if stage.get("DeploymentId") != record.deployment_id:
        return False
    for key, ids in record.aws_resources.get("routes", {}).items():
        route = routes.get(ids.get("route_id"))
        if route is None or route["RouteKey"] != key:
            return False
        if ids.get("integration_id") not in integrations:
            return False
        if route.get("Target") != f"integrations/{ids['integration_id']}":
            return False
    return True


# --- Faults inside botocore -------------------------------------------------------------


class Interrupted(BaseException):
    """Stands for the process dying mid-operation: no ``except Exception`` catches it,
    so nothing records a failure (only the lease is given back, by ``finally``)."""


@dataclass
class Call:
    """One call made by a wsapp boto3 client, as botocore saw it."""

    number: int
    service: str
    operation: str
    region: str


@dataclass
class BotoFaults:
    """Counts every call of wsapp's boto3 clients and fails the chosen ones.

    ``fail(n)`` answers call n with an error without sending it; ``fail(n, after=True)``
    lets AWS apply call n, then replaces its answer with the error (the answer was lost).
    ``fail_operation`` fails the next calls of one operation, one code each (with
    ``after=True``: applied by AWS, answer lost). ``answer`` changes fields of every
    answer of an operation (e.g. a PENDING status). ``interrupt(n)`` raises Interrupted
    instead of sending call n; ``watch`` is called with each call before it is sent.
    """

    calls: list[Call] = field(default_factory=list)
    before: dict[int, str] = field(default_factory=dict)
    after: dict[int, str] = field(default_factory=dict)
    by_operation: dict[str, list[str]] = field(default_factory=dict)
    lost_by_operation: dict[str, list[str]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupt_at: int | None = None
    watch: Callable[[Call], None] | None = None

    def fail(self, *numbers: int, code: str = "BadRequestException", after: bool = False) -> None:
        """Fail the given calls, counted from the next one (1); restarts the count."""
        self.calls.clear()
        self.before.clear()
        self.after.clear()
        (self.after if after else self.before).update(dict.fromkeys(numbers, code))

    def fail_operation(self, operation: str, *codes: str, after: bool = False) -> None:
        (self.lost_by_operation if after else self.by_operation)[operation] = list(codes)

    def interrupt(self, number: int) -> None:
        """Raise Interrupted at the given call, counted from the next one (1)."""
        self.calls.clear()
        self.interrupt_at = number

    def answer(self, operation: str, **fields: Any) -> None:
        self.overrides[operation] = fields

    def reset(self) -> None:
        self.calls.clear()
        self.before.clear()
        self.after.clear()
        self.by_operation.clear()
        self.lost_by_operation.clear()
        self.overrides.clear()
        self.interrupt_at = None
        self.watch = None

    @staticmethod
    def _error(code: str, number: int, when: str) -> dict[str, Any]:
        status = 429 if code in {"TooManyRequestsException", "Throttling"} else 400
        return {
            "Error": {"Code": code, "Message": f"Injected failure {when} (call {number})."},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    def before_call(self, model: Any, context: dict[str, Any], **kwargs: Any) -> Any:
        number = len(self.calls) + 1
        self.calls.append(
            Call(number, model.service_model.service_name, model.name, context["client_region"])
        )
        context["test_call_number"] = number
        if self.watch is not None:
            self.watch(self.calls[-1])
        if number == self.interrupt_at:
            self.interrupt_at = None
            raise Interrupted(f"process died at call {number} ({model.name})")
        code = self.before.get(number)
        queued = self.by_operation.get(model.name)
        if code is None and queued:
            code = queued.pop(0)
        if code is None:
            return None
        error = self._error(code, number, "before the call was sent")
        # A non-None answer here stands in for the HTTP exchange: nothing is sent.
        return AWSResponse("", error["ResponseMetadata"]["HTTPStatusCode"], {}, None), error

    def after_call(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict, **kwargs
    ) -> None:
        number = context.get("test_call_number")
        if http_response.status_code < 300 and model.name in self.overrides:
            parsed.update(self.overrides[model.name])
        code = self.after.get(number)
        lost = self.lost_by_operation.get(model.name)
        if code is None and lost and http_response.status_code < 300:
            code = lost.pop(0)
        if code is None or http_response.status_code >= 300:
            return
        error = self._error(code, number, "after AWS applied the call")
        http_response.status_code = error["ResponseMetadata"]["HTTPStatusCode"]
        parsed.clear()
        parsed.update(error)


@pytest.fixture
def boto_faults() -> Iterator[BotoFaults]:
    """A BotoFaults hooked into every boto3 client wsapp builds during the test."""
    faults = BotoFaults()
    # Clients copy their session's event hooks when built: start from fresh ones.
    aws.clear_cache()
    events = aws._session().events
    events.register("before-call", faults.before_call, unique_id="test-faults-before")
    events.register("after-call", faults.after_call, unique_id="test-faults-after")
    yield faults
    events.unregister("before-call", unique_id="test-faults-before")
    events.unregister("after-call", unique_id="test-faults-after")
    aws.clear_cache()
