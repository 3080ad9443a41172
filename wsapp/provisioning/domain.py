"""Custom domain names: certificate checks, the domain, the API mapping, DNS."""

from __future__ import annotations

from typing import Any

from wsapp.models import ApiGateway
from wsapp.provisioning.calls import EXPECTED_ERRORS, AwsCaller, ProvisioningError, RetryPolicy
from wsapp.provisioning.compare import mapping_matches
from wsapp.provisioning.desired import (
    DOMAIN_KEY,
    MANAGED_TAG,
    REGION_KEY,
    ZONE_KEY,
    created_domain,
    pinned_region,
    recorded_zone,
    region_of,
    zone_id,
)
from wsapp.provisioning.operations import Result, Run, _operate

#: The domain name configuration every gateway's custom domain must have (the
#: certificate is added per gateway), with how a difference is described.
DOMAIN_SETTINGS = {
    "EndpointType": ("REGIONAL", "endpoint type"),
    "SecurityPolicy": ("TLS_1_2", "security policy"),
}

#: What to do about a certificate that is not ISSUED, by ACM status.
_STATUS_ADVICE = {
    "PENDING_VALIDATION": "finish DNS validation in ACM (add the CNAME records ACM lists)",
    "VALIDATION_TIMED_OUT": "validation timed out: request a new certificate in ACM",
    "EXPIRED": "it has expired: renew it or request a new one",
    "REVOKED": "it was revoked: request a new one",
    "INACTIVE": "it is inactive: request or import another",
    "FAILED": "ACM could not issue it: request a new one",
}


def certificate_covers(domain: str, names: list[str]) -> bool:
    """Whether a certificate for ``names`` is valid for ``domain``.

    A wildcard ``*.example.com`` covers exactly one extra label: ``ws.example.com``
    but neither ``example.com`` nor ``a.ws.example.com``.
    """
    domain = domain.strip().rstrip(".").lower()
    for name in names:
        name = name.strip().rstrip(".").lower()
        if name == domain:
            return True
        if name.startswith("*."):
            suffix = name[1:]
            label = domain[: -len(suffix)] if domain.endswith(suffix) else ""
            if label and "." not in label:
                return True
    return False


def arn_region(arn: str) -> str:
    """The region field of an ARN ('' when it is not an ARN)."""
    parts = arn.split(":", 5)
    return parts[3] if len(parts) == 6 and parts[0] == "arn" else ""


def check_certificate(gateway: ApiGateway, acm: AwsCaller) -> dict[str, Any]:
    """Refuse a certificate API Gateway could not use for this gateway's domain.

    Returns ACM's description when it is ISSUED, covers the domain and lives in the
    gateway's region; otherwise raises ProvisioningError saying what to fix.
    """
    arn = gateway.certificate_arn.strip()
    region = region_of(gateway)
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "acm":
        raise ProvisioningError(
            f"Certificate {arn!r} is not an ACM certificate ARN "
            "(arn:aws:acm:<region>:<account>:certificate/<id>)."
        )
    if arn_region(arn) != region:
        raise ProvisioningError(
            f"Certificate {arn} is in {arn_region(arn)}, but the gateway is in {region}: "
            f"a regional API needs a certificate in {region}; request or import one there."
        )
    described = acm.call("describe_certificate", f"Reading certificate {arn}", CertificateArn=arn)
    certificate = described.get("Certificate") or {}
    status = certificate.get("Status") or "UNKNOWN"
    if status != "ISSUED":
        advice = _STATUS_ADVICE.get(status, "use an ISSUED certificate")
        raise ProvisioningError(f"Certificate {arn} is {status}: {advice}.")
    names = [
        certificate.get("DomainName") or "",
        *(certificate.get("SubjectAlternativeNames") or []),
    ]
    if not certificate_covers(gateway.domain_name, names):
        listed = ", ".join(sorted({n for n in names if n})) or "no names"
        raise ProvisioningError(
            f"Certificate {arn} does not cover {gateway.domain_name} (it covers {listed}): "
            "use a certificate for that name or a matching wildcard."
        )
    return certificate


def create_custom_domain(gateway: ApiGateway, *, retry: RetryPolicy | None = None) -> Result:
    """Serve the gateway at ``wss://<domain_name>``.

    Checks the certificate, creates (or reuses) the REGIONAL domain name, maps it to
    the stage and, with a hosted zone, UPSERTs the alias record. Rerunnable. Failures
    are recorded in ``last_error``; the gateway's state (which describes the API)
    is left alone.
    """

    def body(run: Run) -> str:
        return _create_domain(run)

    return _operate(gateway, "create_custom_domain", body, retry=retry, failure_state=None)


def _create_domain(run: Run) -> str:
    gateway = run.gateway
    domain = gateway.domain_name
    certificate_arn = gateway.certificate_arn.strip()
    if not domain or not certificate_arn:
        raise ProvisioningError(
            "Set both the domain name and the certificate ARN on the gateway first."
        )
    created = created_domain(gateway)
    if created and created.lower() != domain.lower():
        raise ProvisioningError(
            f"Gateway {gateway.api_name} already has the custom domain {created} in AWS, "
            f"so it cannot switch to {domain}: put {created} back in the record, or tear "
            "the gateway down first (teardown deletes its domain) and create it again."
        )
    # The certificate first: fixing it takes longest (DNS validation), so say so early.
    check_certificate(gateway, run.caller("acm"))
    if not gateway.api_id:
        raise ProvisioningError(
            f"Gateway {gateway.api_name} has not been created in AWS yet: run create first."
        )
    call = run.api.call
    existing = None
    if created:
        existing = call(
            "get_domain_name", f"Reading domain {domain}", missing_ok=True, DomainName=domain
        )
    configuration = {
        "CertificateArn": certificate_arn,
        **{key: value for key, (value, _) in DOMAIN_SETTINGS.items()},
    }
    if existing is None:
        # Recorded before AWS is asked: if the answer is lost, teardown still finds the
        # domain, and the console refuses to rename it meanwhile.
        _remember_domain(run, domain)
        try:
            existing = call(
                "create_domain_name",
                f"Creating domain {domain}",
                DomainName=domain,
                DomainNameConfigurations=[configuration],
                Tags={MANAGED_TAG: str(gateway.pk)},
            )
            run.did(f"created domain name {domain}")
            _record_target(run, existing)
        except ProvisioningError as exc:
            if exc.code != "ConflictException":
                _forget_domain_unless_made(run, domain)
                raise
            existing = call("get_domain_name", f"Reading domain {domain}", DomainName=domain)
            # Reused only when an earlier run of this gateway made it (its answer never
            # reached us): teardown deletes what it remembers, so never adopt another's.
            owner = (existing.get("Tags") or {}).get(MANAGED_TAG)
            if owner != str(gateway.pk):
                _forget_domain(run)
                made_by = f"gateway record {owner}" if owner else "something other than wsapp"
                raise ProvisioningError(
                    f"The domain name {domain} already exists in API Gateway, made by "
                    f"{made_by}: use another domain name, or delete that one in AWS first."
                ) from None
            run.did(f"reusing domain name {domain} created by an earlier run")
    _remember_domain(run, domain)
    # The mapping first: it refuses a domain that serves another API before we touch it.
    _ensure_mapping(run)
    current = (existing.get("DomainNameConfigurations") or [{}])[0]
    stale = [label for key, (value, label) in DOMAIN_SETTINGS.items() if current.get(key) != value]
    if current.get("CertificateArn") != certificate_arn:
        stale.insert(0, "certificate")
    if stale:
        existing = call(
            "update_domain_name",
            f"Updating the {' and '.join(stale)} of {domain}",
            DomainName=domain,
            DomainNameConfigurations=[configuration],
        )
        current = (existing.get("DomainNameConfigurations") or [{}])[0]
        if "certificate" in stale:
            run.did(f"switched {domain} to certificate {certificate_arn}")
        fixed = [f"{label} {value}" for value, label in DOMAIN_SETTINGS.values() if label in stale]
        if fixed:
            run.did(f"set {domain} to {', '.join(fixed)}")
    target = _record_target(run, existing)
    _converge_alias(run, target, current.get("HostedZoneId") or "")
    gateway.last_error = ""
    ApiGateway.objects.filter(pk=gateway.pk).update(last_error="")
    served = f"wss://{domain} now serves stage {gateway.stage_name} of {gateway.api_name}."
    if gateway.hosted_zone_id:
        return served
    return f"{served} Point DNS at it yourself: a CNAME (or alias) record {domain} -> {target}."


def _remember_domain(run: Run, domain: str) -> None:
    """Note which domain name (and region) this gateway makes or made, for teardown."""
    resources = run.resources()
    region = run.api.client.meta.region_name
    if resources.get(DOMAIN_KEY) != domain or not pinned_region(run.gateway):
        resources[DOMAIN_KEY] = domain
        resources.setdefault(REGION_KEY, region)
        run.save("aws_resources")


def _forget_domain(run: Run) -> None:
    if DOMAIN_KEY in run.resources():
        del run.resources()[DOMAIN_KEY]
        run.save("aws_resources")


def _forget_domain_unless_made(run: Run, domain: str) -> None:
    """After CreateDomainName failed: keep the name recorded only if AWS made it anyway.

    A refused create leaves nothing to delete, so the record goes back to having no
    custom domain (and ``domain_name`` can be corrected). When AWS cannot be asked,
    the name stays recorded: teardown then checks for itself.
    """
    try:
        found = run.api.call(
            "get_domain_name", f"Reading domain {domain}", missing_ok=True, DomainName=domain
        )
    except EXPECTED_ERRORS:
        return
    if found is None or (found.get("Tags") or {}).get(MANAGED_TAG) != str(run.gateway.pk):
        _forget_domain(run)


def _record_target(run: Run, domain: dict[str, Any]) -> str:
    """Save the domain's API Gateway host name (the DNS alias target); return it."""
    target = (domain.get("DomainNameConfigurations") or [{}])[0].get("ApiGatewayDomainName") or ""
    if run.gateway.api_gateway_domain_name != target:
        run.gateway.api_gateway_domain_name = target
        run.save("api_gateway_domain_name")
    return target


def _ensure_mapping(run: Run) -> None:
    gateway = run.gateway
    domain = gateway.domain_name
    call = run.api.call
    mapping = None
    if gateway.api_mapping_id:
        mapping = call(
            "get_api_mapping",
            f"Reading the mapping of {domain}",
            missing_ok=True,
            ApiMappingId=gateway.api_mapping_id,
            DomainName=domain,
        )
    if mapping is None:
        for item in run.api.items(
            "get_api_mappings", f"Listing the mappings of {domain}", DomainName=domain
        ):
            if item.get("ApiMappingKey") or "":
                continue
            if item.get("ApiId") != gateway.api_id:
                raise ProvisioningError(
                    f"{domain} is already mapped to API {item.get('ApiId')}: remove that "
                    "mapping first, or use another domain name."
                )
            mapping = item
    if mapping is None:
        mapping = call(
            "create_api_mapping",
            f"Mapping {domain} to stage {gateway.stage_name}",
            DomainName=domain,
            ApiId=gateway.api_id,
            Stage=gateway.stage_name,
        )
        run.did(f"mapped {domain} to stage {gateway.stage_name}")
    elif not mapping_matches(gateway, mapping):
        mapping = call(
            "update_api_mapping",
            f"Pointing {domain} at stage {gateway.stage_name}",
            ApiMappingId=mapping["ApiMappingId"],
            DomainName=domain,
            ApiId=gateway.api_id,
            Stage=gateway.stage_name,
            ApiMappingKey="",
        )
        run.did(f"pointed {domain} at stage {gateway.stage_name}")
    if gateway.api_mapping_id != mapping["ApiMappingId"]:
        gateway.api_mapping_id = mapping["ApiMappingId"]
        run.save("api_mapping_id")


def _alias_change(action: str, domain: str, target: str, zone: str) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": domain,
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": zone,
                "DNSName": target,
                "EvaluateTargetHealth": False,
            },
        },
    }


def _converge_alias(run: Run, target: str, target_zone: str) -> None:
    """The alias in ``hosted_zone_id`` only: first out of a zone it was written to
    before (the zone was changed or cleared), then UPSERTed into the current one."""
    gateway = run.gateway
    wanted = zone_id(gateway.hosted_zone_id)
    written = recorded_zone(gateway)
    if not wanted and not written:
        return
    if not target or not target_zone:
        # Without the host name our alias cannot be told from another record.
        raise ProvisioningError(
            f"AWS did not return the API Gateway host name of {gateway.domain_name}; "
            "run createCustomDomain again in a minute."
        )
    if written and written != wanted:
        _delete_alias(run, written, gateway.domain_name, target)
        del run.resources()[ZONE_KEY]
        run.save("aws_resources")
    if wanted:
        _upsert_alias(run, wanted, target, target_zone)


def _upsert_alias(run: Run, zone: str, target: str, target_zone: str) -> None:
    gateway = run.gateway
    # Recorded before the UPSERT: teardown must find the alias even if its answer is lost.
    if run.resources().get(ZONE_KEY) != zone:
        run.resources()[ZONE_KEY] = zone
        run.save("aws_resources")
    run.caller("route53").call(
        "change_resource_record_sets",
        f"Pointing DNS for {gateway.domain_name} at API Gateway",
        HostedZoneId=zone,
        ChangeBatch={
            "Comment": f"wsapp gateway {gateway.api_name}",
            "Changes": [_alias_change("UPSERT", gateway.domain_name, target, target_zone)],
        },
    )
    run.did(f"DNS alias {gateway.domain_name} -> {target}")


def _delete_alias(run: Run, zone: str, domain: str, target: str) -> None:
    """Remove the alias record of ``domain`` from ``zone``, if it still points at our
    API Gateway domain. A zone that no longer exists holds nothing to remove."""
    route53 = run.caller("route53")
    name = domain.rstrip(".").lower()
    try:
        listing = route53.call(
            "list_resource_record_sets",
            f"Reading DNS records for {domain} in zone {zone}",
            HostedZoneId=zone,
            StartRecordName=domain,
            StartRecordType="A",
            MaxItems="1",
        )
    except ProvisioningError as exc:
        if exc.code == "NoSuchHostedZone":
            return
        raise
    for record in listing.get("ResourceRecordSets") or []:
        alias = record.get("AliasTarget") or {}
        if (
            record.get("Name", "").rstrip(".").lower() == name
            and record.get("Type") == "A"
            and alias.get("DNSName", "").rstrip(".").lower() == target.rstrip(".").lower()
        ):
            route53.call(
                "change_resource_record_sets",
                f"Removing the DNS alias of {domain} from zone {zone}",
                HostedZoneId=zone,
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]},
            )
            run.did(f"removed DNS alias {domain} from zone {zone}")


def teardown_domain(run: Run) -> None:
    """Delete our mapping; then, unless other APIs still use it, our DNS alias and the
    domain name. Acts on the domain this gateway created, even if ``domain_name`` was
    edited or cleared since."""
    gateway = run.gateway
    remembered = created_domain(gateway)
    domain = remembered or gateway.domain_name
    call = run.api.call
    existing = None
    if domain:
        existing = call(
            "get_domain_name", f"Reading domain {domain}", missing_ok=True, DomainName=domain
        )
    if existing is not None:
        mappings = run.api.items(
            "get_api_mappings", f"Listing the mappings of {domain}", DomainName=domain
        )
        ours = [
            m
            for m in mappings
            if (gateway.api_id and m.get("ApiId") == gateway.api_id)
            or (gateway.api_mapping_id and m.get("ApiMappingId") == gateway.api_mapping_id)
        ]
        for mapping in ours:
            call(
                "delete_api_mapping",
                f"Deleting the mapping of {domain}",
                missing_ok=True,
                ApiMappingId=mapping["ApiMappingId"],
                DomainName=domain,
            )
            run.did(f"deleted mapping {mapping['ApiMappingId']} of {domain}")
        # The name is recorded before AWS is asked to create it, so it proves nothing by
        # itself: a domain carrying another owner's tag is never deleted.
        owner = (existing.get("Tags") or {}).get(MANAGED_TAG)
        made_here = owner == str(gateway.pk) or (bool(remembered) and not owner)
        if made_here and len(ours) == len(mappings):
            target = (existing.get("DomainNameConfigurations") or [{}])[0].get(
                "ApiGatewayDomainName"
            ) or gateway.api_gateway_domain_name
            # The zone the alias was written to; records from before it was kept fall
            # back to the record's zone. Only with the domain itself: a domain other
            # APIs keep must keep its DNS.
            zone = recorded_zone(gateway) or zone_id(gateway.hosted_zone_id)
            if zone and target:
                _delete_alias(run, zone, domain, target)
            call(
                "delete_domain_name",
                f"Deleting domain {domain}",
                missing_ok=True,
                DomainName=domain,
            )
            run.did(f"deleted domain name {domain}")
        elif made_here:
            run.did(f"kept domain name {domain}: other APIs are mapped to it")
    resources = run.resources()
    if (
        gateway.api_mapping_id
        or gateway.api_gateway_domain_name
        or DOMAIN_KEY in resources
        or ZONE_KEY in resources
    ):
        gateway.api_mapping_id = ""
        gateway.api_gateway_domain_name = ""
        resources.pop(DOMAIN_KEY, None)
        resources.pop(ZONE_KEY, None)
        run.save("api_mapping_id", "api_gateway_domain_name", "aws_resources")
