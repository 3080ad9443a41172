"""Health checks that compare a gateway with what AWS holds.

They use provisioning's own snapshot and comparison, so the health page and
``syncApiGateway --dry-run`` always agree about what differs.

These checks run in the health runner's threads, where the ORM is off limits.
Provisioning reads a gateway's additional routes through its related manager, so
each task gets a ``DetachedGateway``: the record with its routes read beforehand,
in the caller's thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from wsapp import aws
from wsapp.health import CheckResult, Status, _Task, result
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute
from wsapp.provisioning.calls import AwsCaller, ProvisioningError, RetryPolicy, describe_exception
from wsapp.provisioning.compare import Code, compare, fetch_snapshot
from wsapp.provisioning.desired import region_of
from wsapp.provisioning.domain import check_certificate

#: Health checks never wait out throttling: they report it.
NO_WAIT = RetryPolicy(max_total_wait=0.0)

CREATED_CODES = {Code.API_MISSING, Code.API_NOT_WEBSOCKET}
DEPLOYED_CODES = {Code.STAGE_MISSING, Code.DEPLOYMENT_NOT_LIVE, Code.CHANGES_NOT_DEPLOYED}
MAPPING_CODES = {Code.MAPPING_MISSING, Code.MAPPING_STAGE}


class ReadRoutes:
    """A gateway's additional routes, already read: the manager calls provisioning makes."""

    def __init__(self, routes: Iterable[ApiGatewayAdditionalRoute]) -> None:
        self._routes = list(routes)

    def all(self) -> list[ApiGatewayAdditionalRoute]:
        return list(self._routes)

    def order_by(self, *fields: str) -> list[ApiGatewayAdditionalRoute]:
        routes = list(self._routes)
        # Stable sorts, last key first, give the same order as SQL's ORDER BY.
        for name in reversed(fields):
            descending = name.startswith("-")
            attribute = name.lstrip("-")
            routes.sort(key=lambda route: getattr(route, attribute), reverse=descending)
        return routes

    def count(self) -> int:
        return len(self._routes)

    def __iter__(self) -> Iterator[ApiGatewayAdditionalRoute]:
        return iter(list(self._routes))


class DetachedGateway:
    """A gateway record that answers ``additional_routes`` without the database.

    Every other attribute is the record's own. Build it in the thread that may
    query; use it anywhere.
    """

    def __init__(self, gateway: ApiGateway) -> None:
        self._gateway = gateway
        # .all() uses the prefetched rows when the caller prefetched them.
        self.additional_routes = ReadRoutes(gateway.additional_routes.all())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


def _caller(service: str, gateway: ApiGateway | DetachedGateway) -> AwsCaller:
    return AwsCaller(aws.client(service, region=region_of(gateway) or None), NO_WAIT)


def state_ids(gateway: ApiGateway | DetachedGateway) -> list[str]:
    """The ids ``aws_state`` reports for this gateway."""
    ids = ["wsapp.H101", "wsapp.H102", "wsapp.H103"]
    if gateway.domain_name:
        ids.append("wsapp.H203")
    return ids


def _skipped(ids: Iterable[str], reason: str, fix: str, name: str) -> list[CheckResult]:
    return [result(cid, Status.FAIL, [f"Not checked: {reason}"], fix, name) for cid in ids]


def aws_state(gateway: ApiGateway | DetachedGateway) -> list[CheckResult]:
    """H101 created, H102 deployed, H103 configuration matches, H203 domain mapping.

    Pass a ``DetachedGateway`` when running outside the thread that loaded the record.
    """
    name = gateway.api_name
    ids = state_ids(gateway)
    if not gateway.api_id:
        return [
            result(
                "wsapp.H101",
                Status.FAIL,
                ["No API id is recorded: the gateway was never created in AWS."],
                "Press Create on the gateway (or run `python manage.py createApiGateway "
                f"--pk={gateway.pk}`).",
                name,
            ),
            *_skipped(ids[1:], "the gateway is not created in AWS", "Create it first.", name),
        ]
    try:
        snapshot = fetch_snapshot(_caller("apigatewayv2", gateway), gateway)
    except Exception as exc:
        message = describe_exception(exc)
        return [
            result(
                cid,
                Status.FAIL,
                [f"Could not read the API {gateway.api_id}: {message}"],
                "Check the credentials, the region and the IAM policy (apigateway:GET).",
                name,
            )
            for cid in ids
        ]
    differences = compare(gateway, snapshot)
    groups: dict[str, list[str]] = {"created": [], "deployed": [], "mapping": [], "config": []}
    for difference in differences:
        if difference.code in CREATED_CODES:
            groups["created"].append(difference.message)
        elif difference.code in DEPLOYED_CODES:
            groups["deployed"].append(difference.message)
        elif difference.code in MAPPING_CODES:
            groups["mapping"].append(difference.message)
        else:
            groups["config"].append(difference.message)
    if groups["created"]:
        return [
            result(
                "wsapp.H101",
                Status.FAIL,
                groups["created"],
                "The recorded API is gone or is not a WebSocket API: press Create to "
                "recreate it (teardown first if it is someone else's API).",
                name,
            ),
            *_skipped(
                ids[1:], f"API {gateway.api_id} is not usable", "Recreate the API first.", name
            ),
        ]
    results = [
        result(
            "wsapp.H101",
            Status.PASS,
            [f"API {gateway.api_id} exists ({gateway.api_endpoint})"],
            subject=name,
        )
    ]
    stage = snapshot.stages.get(gateway.stage_name) or {}
    results.append(
        result(
            "wsapp.H102",
            Status.FAIL if groups["deployed"] else Status.PASS,
            groups["deployed"]
            or [f"Stage {gateway.stage_name} serves deployment {stage.get('DeploymentId', '?')}"],
            "Press Deploy (or Sync) so the stage serves the current configuration.",
            name,
        )
    )
    results.append(
        result(
            "wsapp.H103",
            Status.FAIL if groups["config"] else Status.PASS,
            groups["config"]
            or [
                f"{len(snapshot.routes)} routes and {len(snapshot.integrations)} integrations "
                "match the record"
            ],
            "Press Sync: it shows the plan, applies it and redeploys.",
            name,
        )
    )
    if gateway.domain_name:
        results.append(_mapping_result(gateway, groups["mapping"]))
    return results


def _mapping_result(gateway: ApiGateway | DetachedGateway, problems: list[str]) -> CheckResult:
    name = gateway.api_name
    fix = "Press Create custom domain: it creates the API mapping to the stage."
    if not gateway.api_mapping_id:
        # compare() only looks at a recorded mapping: none recorded means none made.
        return result(
            "wsapp.H203",
            Status.FAIL,
            [f"No API mapping is recorded for {gateway.domain_name}"],
            fix,
            name,
        )
    return result(
        "wsapp.H203",
        Status.FAIL if problems else Status.PASS,
        problems or [f"{gateway.domain_name} is mapped to stage {gateway.stage_name}"],
        fix,
        name,
    )


def aws_state_task(gateway: ApiGateway) -> _Task:
    """The pool task for ``aws_state``; call it in the thread that loaded ``gateway``."""
    detached = DetachedGateway(gateway)
    return _Task(state_ids(gateway), gateway.api_name, lambda: aws_state(detached))


def domain_state(gateway: ApiGateway | DetachedGateway) -> list[CheckResult]:
    """H201 certificate, H202 domain exists in the gateway's region."""
    name = gateway.api_name
    results = []
    if not gateway.certificate_arn:
        results.append(
            result(
                "wsapp.H201",
                Status.FAIL,
                [f"No certificate ARN is recorded for {gateway.domain_name}"],
                "Request or import a certificate for the domain in ACM, in the gateway's "
                "region, and record its ARN on the gateway.",
                name,
            )
        )
    else:
        try:
            certificate = check_certificate(gateway, _caller("acm", gateway))
        except ProvisioningError as exc:
            results.append(
                result(
                    "wsapp.H201",
                    Status.FAIL,
                    [exc.message],
                    "Fix the certificate as the evidence says, then press Create custom domain.",
                    name,
                )
            )
        except Exception as exc:
            results.append(
                result(
                    "wsapp.H201",
                    Status.FAIL,
                    [describe_exception(exc)],
                    "Check the credentials and acm:DescribeCertificate.",
                    name,
                )
            )
        else:
            results.append(
                result(
                    "wsapp.H201",
                    Status.PASS,
                    [f"{gateway.certificate_arn}: ISSUED for {certificate.get('DomainName')}"],
                    subject=name,
                )
            )
    region = region_of(gateway)
    try:
        domain = _caller("apigatewayv2", gateway).call(
            "get_domain_name",
            f"Reading domain {gateway.domain_name}",
            missing_ok=True,
            DomainName=gateway.domain_name,
        )
    except Exception as exc:
        results.append(
            result(
                "wsapp.H202",
                Status.FAIL,
                [describe_exception(exc)],
                "Check the credentials and apigateway:GET on domain names.",
                name,
            )
        )
        return results
    if domain is None:
        results.append(
            result(
                "wsapp.H202",
                Status.FAIL,
                [f"{gateway.domain_name} is not an API Gateway domain name in {region}"],
                f"Press Create custom domain (the domain must be created in {region}, the "
                "gateway's region).",
                name,
            )
        )
    else:
        configs = domain.get("DomainNameConfigurations") or [{}]
        target = configs[0].get("ApiGatewayDomainName", "")
        attached = configs[0].get("CertificateArn", "")
        # Browsers see the certificate attached in AWS, whatever the record says.
        if gateway.certificate_arn and attached and attached != gateway.certificate_arn:
            # Added to what the recorded certificate's own check found, which still stands.
            recorded = results[0]
            fixes = [
                "Attach the recorded certificate to the domain name in API Gateway (or record "
                "the attached one on the gateway), so the record and AWS agree."
            ]
            results[0] = result(
                "wsapp.H201",
                Status.FAIL,
                [
                    f"{gateway.domain_name} in AWS uses the certificate {attached}",
                    f"The gateway records {gateway.certificate_arn}",
                    *(recorded.evidence if not recorded.ok else ()),
                ],
                " ".join(fixes if recorded.ok else [*fixes, recorded.fix]),
                name,
            )
        evidence = [f"{gateway.domain_name} exists in {region} (target {target})"]
        status = Status.PASS
        fix = ""
        if (
            gateway.api_gateway_domain_name
            and target
            and target != gateway.api_gateway_domain_name
        ):
            status = Status.WARN
            evidence.append(f"The record says {gateway.api_gateway_domain_name}")
            fix = "Press Create custom domain to refresh the recorded DNS target."
        results.append(result("wsapp.H202", status, evidence, fix, name))
    return results


def domain_task(gateway: ApiGateway) -> _Task:
    """The pool task for ``domain_state``."""
    detached = DetachedGateway(gateway)
    return _Task(["wsapp.H201", "wsapp.H202"], gateway.api_name, lambda: domain_state(detached))
