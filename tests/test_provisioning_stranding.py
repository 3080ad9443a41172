"""Nothing is stranded in AWS: edits after create, shared domains, rotation, lost answers."""

from __future__ import annotations

import json

import pytest

from dashboard.forms import GatewayForm
from tests.helpers.moto import (  # noqa: F401  (fixtures)
    alias_records,
    delete_hosted_zone,
    delete_records,
    hosted_zone,
    issued_certificate,
    moto_aws,
    moto_server,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    NO_WAIT,
    REGION,
    apigw,
    aws_gateway,
    boto_faults,
    inventory,
    local_gateway,
    make_local_gateway,
)
from wsapp import provisioning
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute
from wsapp.provisioning.desired import MANAGED_TAG, created_domain

EMPTY = {"apis": [], "domains": {}}


@pytest.fixture
def created(db, aws_gateway) -> ApiGateway:
    record = ApiGateway.objects.create(
        api_name="stranding", target_base_endpoint="https://www.example.com/ws/", region=REGION
    )
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record, name="Echo", route_key="echo", integration_url="https://e.test/echo"
    )
    result = provisioning.create(record, retry=NO_WAIT)
    assert result.ok, result.message
    return record


@pytest.fixture
def zone(moto_aws) -> str:
    return hosted_zone(moto_aws, "example.com")


@pytest.fixture
def with_domain(created, moto_aws, zone) -> ApiGateway:
    created.domain_name = "ws.example.com"
    created.hosted_zone_id = zone
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert result.ok, result.message
    return created


@pytest.mark.parametrize("new_name", ["other.example.com", ""])
def test_teardown_deletes_the_domain_created_even_after_a_rename(
    aws_gateway, moto_aws, zone, with_domain, new_name
):
    with_domain.domain_name = new_name
    with_domain.save()
    assert provisioning.teardown(with_domain, retry=NO_WAIT).ok
    assert inventory(aws_gateway) == EMPTY
    assert alias_records(moto_aws, zone) == []
    with_domain.refresh_from_db()
    assert with_domain.aws_resources == {}


def test_create_custom_domain_refuses_to_switch_domains(aws_gateway, with_domain):
    with_domain.domain_name = "other.example.com"
    with_domain.save()
    result = provisioning.create_custom_domain(with_domain, retry=NO_WAIT)
    assert not result.ok
    assert "already has the custom domain ws.example.com in AWS" in result.message
    assert list(inventory(aws_gateway)["domains"]) == ["ws.example.com"]


def test_teardown_uses_the_region_the_api_was_created_in(created, boto_faults, aws_gateway):
    ApiGateway.objects.filter(pk=created.pk).update(region="eu-west-1")
    created.refresh_from_db()
    assert provisioning.teardown(created, retry=NO_WAIT).ok
    assert {call.region for call in boto_faults.calls} == {REGION}
    assert inventory(aws_gateway) == EMPTY


def test_sync_uses_the_region_the_api_was_created_in(created, boto_faults):
    ApiGateway.objects.filter(pk=created.pk).update(region="eu-west-1")
    created.refresh_from_db()
    assert provisioning.sync(created, retry=NO_WAIT).ok
    assert boto_faults.calls
    assert {call.region for call in boto_faults.calls} == {REGION}


def test_teardown_keeps_dns_of_a_domain_other_apis_still_use(
    aws_gateway, moto_aws, zone, with_domain
):
    client = apigw(aws_gateway)
    other = client.create_api(
        Name="other", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    client.create_stage(ApiId=other["ApiId"], StageName="v2")
    client.create_api_mapping(
        DomainName="ws.example.com", ApiId=other["ApiId"], Stage="v2", ApiMappingKey="v2"
    )
    result = provisioning.teardown(with_domain, retry=NO_WAIT)
    assert result.ok, result.message
    assert inventory(aws_gateway)["domains"] == {"ws.example.com": [("v2", "v2")]}
    assert len(alias_records(moto_aws, zone)) == 1


def test_a_certificate_arn_with_spaces_is_used_stripped(aws_gateway, moto_aws, created):
    arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.domain_name = "ws.example.com"
    created.certificate_arn = f"  {arn}\n"
    created.save()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert result.ok, result.message
    domain = apigw(aws_gateway).get_domain_name(DomainName="ws.example.com")
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == arn
    # No hosted zone: the operator is told which record to add.
    target = domain["DomainNameConfigurations"][0]["ApiGatewayDomainName"]
    assert result.message.endswith(f"a CNAME (or alias) record ws.example.com -> {target}.")


@pytest.mark.parametrize(
    "routes", [{"$connect": "not an object", "echo": ["x"]}, ["not", "a", "mapping"]]
)
def test_hand_edited_route_ids_are_looked_up_again(aws_gateway, created, routes):
    # echo's route is gone from AWS, so its recorded ids are the ones consulted.
    client = apigw(aws_gateway)
    [echo] = [
        r for r in client.get_routes(ApiId=created.api_id)["Items"] if r["RouteKey"] == "echo"
    ]
    client.delete_route(ApiId=created.api_id, RouteId=echo["RouteId"])
    ApiGateway.objects.filter(pk=created.pk).update(
        aws_resources={**created.aws_resources, "routes": routes}
    )
    created.refresh_from_db()
    codes = {d.code for d in provisioning.plan(created, retry=NO_WAIT)}
    assert provisioning.Code.ROUTE_ADDED in codes
    result = provisioning.sync(created, retry=NO_WAIT)
    assert result.ok, result.message
    created.refresh_from_db()
    assert all(ids.get("route_id") for ids in created.aws_resources["routes"].values())
    assert provisioning.plan(created, retry=NO_WAIT) == []


def test_rotation_keeps_the_old_secret_until_every_route_has_the_new_one(aws_gateway, created):
    client = apigw(aws_gateway)
    routes = {r["RouteKey"]: r for r in client.get_routes(ApiId=created.api_id)["Items"]}
    # echo now shares $default's integration: neither is claimed as a route's own.
    client.update_route(
        ApiId=created.api_id,
        RouteId=routes["echo"]["RouteId"],
        Target=routes["$default"]["Target"],
    )
    old = created.integration_secret
    provisioning.rotate_secret(created, retry=NO_WAIT)
    created.refresh_from_db()
    assert created.integration_secret != old
    integrations = {
        i["IntegrationId"]: i for i in client.get_integrations(ApiId=created.api_id)["Items"]
    }
    for route in client.get_routes(ApiId=created.api_id)["Items"]:
        integration = integrations[route["Target"].removeprefix("integrations/")]
        secret = integration["RequestParameters"]["integration.request.header.X-Gateway-Secret"]
        if created.previous_integration_secret != old:
            assert secret == f"'{created.integration_secret}'", route["RouteKey"]


def test_deployment_id_is_saved_before_waiting_for_it(aws_gateway, created, boto_faults):
    boto_faults.answer("CreateDeployment", DeploymentStatus="PENDING")
    boto_faults.fail_operation("GetDeployment", "BadRequestException")
    result = provisioning.deploy(created, retry=NO_WAIT)
    assert not result.ok
    stage = apigw(aws_gateway).get_stage(ApiId=created.api_id, StageName=created.stage_name)
    created.refresh_from_db()
    assert created.deployment_id == stage["DeploymentId"]


def test_domain_changes_wait_30_seconds_when_throttled(
    aws_gateway, moto_aws, created, boto_faults
):
    created.domain_name = "ws.example.com"
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    boto_faults.fail_operation("CreateDomainName", "TooManyRequestsException")
    waits: list[float] = []
    result = provisioning.create_custom_domain(
        created, retry=provisioning.RetryPolicy(sleep=waits.append)
    )
    assert result.ok, result.message
    assert len(waits) == 1
    assert 30 <= waits[0] <= 37.5


def test_route53_prior_request_not_complete_is_retried(
    aws_gateway, moto_aws, zone, created, boto_faults
):
    created.domain_name = "ws.example.com"
    created.hosted_zone_id = zone
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    boto_faults.fail_operation("ChangeResourceRecordSets", "PriorRequestNotComplete")
    waits: list[float] = []
    result = provisioning.create_custom_domain(
        created, retry=provisioning.RetryPolicy(sleep=waits.append)
    )
    assert result.ok, result.message
    assert len(waits) == 1 and 1 <= waits[0] <= 1.25
    assert len(alias_records(moto_aws, zone)) == 1


# --- The Route 53 zone the alias was written to ------------------------------------------


def aliases_pointing_at(moto_url: str, zone: str, target: str) -> list[str]:
    """Names of the zone's alias records whose target is ``target``."""
    return [
        r["Name"].rstrip(".")
        for r in alias_records(moto_url, zone)
        if r["AliasTarget"]["DNSName"].rstrip(".").lower() == target.lower()
    ]


@pytest.mark.parametrize("change", ["cleared", "changed"])
def test_teardown_removes_the_alias_from_the_zone_it_was_written_to(
    aws_gateway, moto_aws, zone, with_domain, change
):
    other = hosted_zone(moto_aws, "example.com", copy="new")
    assert with_domain.aws_resources["hosted_zone_id"] == zone
    with_domain.hosted_zone_id = other if change == "changed" else ""
    with_domain.save()
    result = provisioning.teardown(with_domain, retry=NO_WAIT)
    assert result.ok, result.message
    assert alias_records(moto_aws, zone) == []
    assert alias_records(moto_aws, other) == []
    assert inventory(aws_gateway) == EMPTY
    with_domain.refresh_from_db()
    assert with_domain.aws_resources == {}


@pytest.mark.parametrize("change", ["cleared", "changed"])
def test_remapping_moves_the_alias_out_of_the_old_zone(
    aws_gateway, moto_aws, zone, with_domain, change
):
    other = hosted_zone(moto_aws, "example.com", copy="new")
    target = with_domain.api_gateway_domain_name
    new_zone = other if change == "changed" else ""
    with_domain.hosted_zone_id = new_zone
    with_domain.save()
    result = provisioning.create_custom_domain(with_domain, retry=NO_WAIT)
    assert result.ok, result.message
    assert f"removed DNS alias ws.example.com from zone {zone}" in result.actions
    assert alias_records(moto_aws, zone) == []
    assert aliases_pointing_at(moto_aws, other, target) == (["ws.example.com"] if new_zone else [])
    with_domain.refresh_from_db()
    assert with_domain.aws_resources.get("hosted_zone_id") == (new_zone or None)
    # Rerunning changes nothing, and teardown leaves no alias anywhere.
    again = provisioning.create_custom_domain(with_domain, retry=NO_WAIT)
    assert [a for a in again.actions if not a.startswith("DNS alias")] == []
    assert provisioning.teardown(with_domain, retry=NO_WAIT).ok
    assert alias_records(moto_aws, zone) == alias_records(moto_aws, other) == []


def test_an_old_zone_deleted_since_holds_nothing_to_remove(
    aws_gateway, moto_aws, zone, with_domain
):
    # The operator removed the alias and the zone by hand, then cleared the field.
    delete_records(moto_aws, zone, alias_records(moto_aws, zone))
    delete_hosted_zone(moto_aws, zone)
    with_domain.hosted_zone_id = ""
    with_domain.save()
    result = provisioning.teardown(with_domain, retry=NO_WAIT)
    assert result.ok, result.message
    assert inventory(aws_gateway) == EMPTY


def test_an_alias_whose_upsert_answer_was_lost_is_removed(
    aws_gateway, moto_aws, zone, created, boto_faults
):
    created.domain_name = "ws.example.com"
    created.hosted_zone_id = zone
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    boto_faults.fail_operation("ChangeResourceRecordSets", "BadRequestException", after=True)
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert not result.ok and "Injected failure" in result.message
    assert len(alias_records(moto_aws, zone)) == 1
    created.hosted_zone_id = ""
    created.save()
    assert provisioning.teardown(created, retry=NO_WAIT).ok
    assert alias_records(moto_aws, zone) == []


# --- The domain name is recorded before CreateDomainName -----------------------------------


def form_data(record: ApiGateway, **changes: str) -> dict[str, str]:
    """What the console's gateway form posts for ``record``, with ``changes``."""
    data = {name: getattr(record, name) for name in GatewayForm.Meta.fields}
    data["tags"] = json.dumps(record.tags)
    return {**data, **changes}


def test_a_domain_whose_create_answer_was_lost_is_deleted_after_a_rename(
    aws_gateway, moto_aws, created, boto_faults
):
    created.domain_name = "ws.example.com"
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    boto_faults.fail_operation("CreateDomainName", "BadRequestException", after=True)
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert not result.ok and "Injected failure" in result.message
    assert [d["DomainName"] for d in apigw(aws_gateway).get_domain_names()["Items"]] == [
        "ws.example.com"
    ]
    created.refresh_from_db()
    assert created_domain(created) == "ws.example.com"
    # The console refuses the rename...
    form = GatewayForm(data=form_data(created, domain_name=""), instance=created)
    assert not form.is_valid()
    assert "The custom domain ws.example.com exists in AWS" in form.errors["domain_name"][0]
    # ...and when the record is changed another way, teardown still deletes the domain.
    ApiGateway.objects.filter(pk=created.pk).update(domain_name="")
    created.refresh_from_db()
    result = provisioning.teardown(created, retry=NO_WAIT)
    assert result.ok, result.message
    assert apigw(aws_gateway).get_domain_names()["Items"] == []
    created.refresh_from_db()
    assert created.aws_resources == {}


def test_a_domain_aws_refused_to_create_is_not_kept_as_created(
    aws_gateway, moto_aws, created, boto_faults
):
    created.domain_name = "ws.example.com"
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    boto_faults.fail_operation("CreateDomainName", "BadRequestException")
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert not result.ok
    created.refresh_from_db()
    # Nothing exists in AWS, so the name can still be corrected in the console.
    assert created_domain(created) == ""
    form = GatewayForm(data=form_data(created, domain_name="wss.example.com"), instance=created)
    assert form.is_valid(), form.errors


def test_a_domain_owned_by_another_gateway_is_neither_kept_nor_deleted(
    aws_gateway, moto_aws, created
):
    arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    apigw(aws_gateway).create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": arn}],
        Tags={MANAGED_TAG: "999"},
    )
    created.domain_name = "ws.example.com"
    created.certificate_arn = arn
    created.save()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert not result.ok and "made by gateway record 999" in result.message
    created.refresh_from_db()
    assert created_domain(created) == ""
    # Even with the name recorded (say the run died before forgetting it), teardown
    # leaves a domain tagged by another gateway alone.
    ApiGateway.objects.filter(pk=created.pk).update(
        aws_resources={**created.aws_resources, "domain_name": "ws.example.com"}
    )
    created.refresh_from_db()
    assert provisioning.teardown(created, retry=NO_WAIT).ok
    assert list(inventory(aws_gateway)["domains"]) == ["ws.example.com"]


# --- A reused domain gets the whole configuration -----------------------------------------


def test_a_drifted_domain_gets_tls_1_2_again(aws_gateway, moto_aws, zone, with_domain):
    client = apigw(aws_gateway)
    target = with_domain.api_gateway_domain_name
    client.update_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[
            {"CertificateArn": with_domain.certificate_arn, "SecurityPolicy": "TLS_1_0"}
        ],
    )
    result = provisioning.create_custom_domain(with_domain, retry=NO_WAIT)
    assert result.ok, result.message
    assert "set ws.example.com to security policy TLS_1_2" in result.actions
    [configuration] = client.get_domain_name(DomainName="ws.example.com")[
        "DomainNameConfigurations"
    ]
    assert (configuration["SecurityPolicy"], configuration["EndpointType"]) == (
        "TLS_1_2",
        "REGIONAL",
    )
    assert configuration["ApiGatewayDomainName"] == target
    assert aliases_pointing_at(moto_aws, zone, target) == ["ws.example.com"]


def test_a_domain_left_by_a_lost_answer_is_reused_with_tls_1_2(aws_gateway, moto_aws, created):
    arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    client = apigw(aws_gateway)
    client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": arn, "SecurityPolicy": "TLS_1_0"}],
        Tags={MANAGED_TAG: str(created.pk)},
    )
    created.domain_name = "ws.example.com"
    created.certificate_arn = arn
    created.save()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert result.ok, result.message
    assert "reusing domain name ws.example.com created by an earlier run" in result.actions
    assert "set ws.example.com to security policy TLS_1_2" in result.actions
    [configuration] = client.get_domain_name(DomainName="ws.example.com")[
        "DomainNameConfigurations"
    ]
    assert configuration["SecurityPolicy"] == "TLS_1_2"


def test_a_domain_with_another_endpoint_type_is_updated(
    aws_gateway, moto_aws, with_domain, boto_faults
):
    # The local gateway only makes REGIONAL domains: AWS's answer is altered instead.
    [configuration] = apigw(aws_gateway).get_domain_name(DomainName="ws.example.com")[
        "DomainNameConfigurations"
    ]
    boto_faults.answer(
        "GetDomainName", DomainNameConfigurations=[{**configuration, "EndpointType": "EDGE"}]
    )
    result = provisioning.create_custom_domain(with_domain, retry=NO_WAIT)
    assert result.ok, result.message
    assert "set ws.example.com to endpoint type REGIONAL" in result.actions
    assert "UpdateDomainName" in [c.operation for c in boto_faults.calls]


def test_teardown_waits_30_seconds_when_domain_deletion_is_throttled(
    aws_gateway, moto_aws, zone, with_domain, boto_faults
):
    boto_faults.fail_operation("DeleteDomainName", "TooManyRequestsException")
    waits: list[float] = []
    result = provisioning.teardown(with_domain, retry=provisioning.RetryPolicy(sleep=waits.append))
    assert result.ok, result.message
    assert len(waits) == 1
    assert 30 <= waits[0] <= 37.5
    assert inventory(aws_gateway) == EMPTY
    assert alias_records(moto_aws, zone) == []
    with_domain.refresh_from_db()
    assert with_domain.state == ApiGateway.State.DRAFT
