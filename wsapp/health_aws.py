"""Health checks that compare a gateway with what AWS holds.

They use provisioning's own snapshot and comparison, so the health page and
``syncApiGateway --dry-run`` always agree about what differs.
"""

from __future__ import annotations

from wsapp import aws
from wsapp.health import CheckResult, Status, _Task, result
from wsapp.models import ApiGateway
from wsapp.provisioning.calls import AwsCaller, ProvisioningError, RetryPolicy, describe_exception
from wsapp.provisioning.compare import Code, compare, fetch_snapshot
from wsapp.provisioning.desired import region_of
from wsapp.provisioning.domain import check_certificate

#: Health checks never wait out throttling: they report it.
NO_WAIT = RetryPolicy(max_total_wait=0.0)

CREATED_CODES = {Code.API_MISSING, Code.API_NOT_WEBSOCKET}
DEPLOYED_CODES = {Code.STAGE_MISSING, Code.DEPLOYMENT_NOT_LIVE, Code.CHANGES_NOT_DEPLOYED}
MAPPING_CODES = {Code.MAPPING_MISSING, Code.MAPPING_STAGE}


def _caller(service: str, gateway: ApiGateway) -> AwsCaller:
    return AwsCaller(aws.client(service, region=region_of(gateway) or None), NO_WAIT)


def aws_state(gateway: ApiGateway) -> list[CheckResult]:
    """H101 created, H102 deployed, H103 configuration matches, H203 domain mapping."""
    name = gateway.api_name
    if not gateway.api_id:
        results = [
            result(
                "wsapp.H101",
                Status.FAIL,
                ["No API id is recorded: the gateway was never created in AWS."],
                "Press Create on the gateway (or run `python manage.py createApiGateway "
                f"--pk={gateway.pk}`).",
                name,
            )
        ]
        results += [
            result(
                cid, Status.FAIL, ["Skipped: the gateway is not created"], "Create it first.", name
            )
            for cid in ("wsapp.H102", "wsapp.H103")
        ]
        return results
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
            for cid in ("wsapp.H101", "wsapp.H102", "wsapp.H103")
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
    results = []
    if groups["created"]:
        results.append(
            result(
                "wsapp.H101",
                Status.FAIL,
                groups["created"],
                "The recorded API is gone or is not a WebSocket API: press Create to "
                "recreate it (teardown first if it is someone else's API).",
                name,
            )
        )
        return results
    results.append(
        result(
            "wsapp.H101",
            Status.PASS,
            [f"API {gateway.api_id} exists ({gateway.api_endpoint})"],
            subject=name,
        )
    )
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
        results.append(
            result(
                "wsapp.H203",
                Status.FAIL if groups["mapping"] else Status.PASS,
                groups["mapping"]
                or [f"{gateway.domain_name} is mapped to stage {gateway.stage_name}"],
                "Press Create custom domain: it recreates the API mapping to the stage.",
                name,
            )
        )
    return results


def aws_state_task(gateway: ApiGateway) -> _Task:
    ids = ["wsapp.H101", "wsapp.H102", "wsapp.H103"]
    if gateway.domain_name:
        ids.append("wsapp.H203")
    return _Task(ids, gateway.api_name, lambda: aws_state(gateway))


def domain_state(gateway: ApiGateway) -> list[CheckResult]:
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
                    "Fix the certificate as the evidence says.",
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
    return _Task(["wsapp.H201", "wsapp.H202"], gateway.api_name, lambda: domain_state(gateway))
