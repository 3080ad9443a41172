"""Nothing is stranded in AWS: edits after create, shared domains, rotation, lost answers."""

from __future__ import annotations

import pytest

from tests.helpers.moto import (  # noqa: F401  (fixtures)
    alias_records,
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
