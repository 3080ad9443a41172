"""plan() and --dry-run change nothing; sync fixes each kind of drift; deploy and rotation."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from tests.helpers.moto import (  # noqa: F401  (fixtures)
    issued_certificate,
    moto_aws,
    moto_server,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    NO_WAIT,
    REGION,
    apigw,
    aws_gateway,
    clear_calls,
    clear_faults,
    control_calls,
    fail_calls,
    inventory,
    live_matches_config,
    local_gateway,
    make_local_gateway,
    recorded_ids_exist,
)
from wsapp import provisioning
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute, generate_secret

Code = provisioning.Code
State = ApiGateway.State


@pytest.fixture
def created(db, aws_gateway) -> ApiGateway:
    record = ApiGateway.objects.create(
        api_name="planned", target_base_endpoint="https://www.example.com/ws/", region=REGION
    )
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record,
        name="Echo",
        route_key="echo",
        integration_url="https://www.example.com/ws/echo",
    )
    result = provisioning.create(record, retry=NO_WAIT)
    assert result.ok, result.message
    return record


def frozen(record: ApiGateway) -> dict[str, Any]:
    """Every column of the record and its routes, straight from the database."""
    return {
        "gateway": ApiGateway.objects.filter(pk=record.pk).values().get(),
        "routes": list(record.additional_routes.order_by("pk").values()),
    }


def change_in_django(record: ApiGateway) -> None:
    record.target_base_endpoint = "https://ws.example.org/v2/"
    record.save()
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record,
        name="Shout",
        route_key="shout",
        integration_url="https://ws.example.org/v2/shout",
    )


def only_reads(calls: list[dict[str, Any]]) -> bool:
    return bool(calls) and all(c["method"] == "GET" for c in calls)


def test_plan_changes_nothing(aws_gateway, created):
    change_in_django(created)
    before = (frozen(created), inventory(aws_gateway))
    clear_calls(aws_gateway)
    differences = provisioning.plan(created, retry=NO_WAIT)
    assert {d.code for d in differences} == {Code.ENDPOINT_CHANGED, Code.ROUTE_ADDED}
    assert only_reads(control_calls(aws_gateway))
    assert (frozen(created), inventory(aws_gateway)) == before


def test_dry_run_changes_nothing(aws_gateway, created):
    change_in_django(created)
    before = (frozen(created), inventory(aws_gateway))
    clear_calls(aws_gateway)
    out = StringIO()
    call_command("syncApiGateway", f"--pk={created.pk}", "--dry-run", stdout=out)
    assert "[route_added] Route shout will be added." in out.getvalue()
    assert "[endpoint_changed] Route $connect: integration URL is" in out.getvalue()
    assert "4 difference(s) found; nothing changed (dry run)." in out.getvalue()
    assert only_reads(control_calls(aws_gateway))
    assert (frozen(created), inventory(aws_gateway)) == before


def test_sync_command_applies_the_plan(aws_gateway, created):
    change_in_django(created)
    out = StringIO()
    call_command("syncApiGateway", f"--pk={created.pk}", stdout=out)
    assert "Gateway planned deployed (" in out.getvalue()
    created.refresh_from_db()
    assert provisioning.plan(created, retry=NO_WAIT) == []
    assert created.additional_routes.get(route_key="shout").deployed


def test_sync_without_differences_only_reads(aws_gateway, created):
    deployment = created.deployment_id
    clear_calls(aws_gateway)
    result = provisioning.sync(created, retry=NO_WAIT)
    assert result.message == "Gateway planned is already in sync; nothing to change."
    assert only_reads(control_calls(aws_gateway))
    assert created.deployment_id == deployment


def test_drift_in_aws_is_reported_then_fixed(aws_gateway, created):
    client = apigw(aws_gateway)
    api_id = created.api_id
    ids = created.aws_resources["routes"]
    client.update_integration(
        ApiId=api_id,
        IntegrationId=ids["$connect"]["integration_id"],
        RequestParameters={
            "integration.request.header.X-Gateway-Secret": f"'{created.integration_secret}'"
        },
    )
    client.delete_route_response(
        ApiId=api_id,
        RouteId=ids["echo"]["route_id"],
        RouteResponseId=ids["echo"]["route_response_id"],
    )
    stray = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="https://stray.example.com/",
    )
    client.create_route(
        ApiId=api_id, RouteKey="stray", Target=f"integrations/{stray['IntegrationId']}"
    )
    client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="https://orphan.example.com/",
    )
    client.update_api(ApiId=api_id, RouteSelectionExpression="$request.body.type")
    client.create_stage(ApiId=api_id, StageName="old")
    client.create_deployment(ApiId=api_id, StageName=created.stage_name)
    created.integration_secret = generate_secret()
    created.save()

    codes = {d.code for d in provisioning.plan(created, retry=NO_WAIT)}
    assert codes == {
        Code.CONNECTION_ID_MAPPING_MISSING,
        Code.SECRET_ROTATED,
        Code.ROUTE_RESPONSE_MISSING,
        Code.ROUTE_DELETED,
        Code.ORPHAN_INTEGRATION,
        Code.SELECTION_EXPRESSION,
        Code.STAGE_EXTRA,
        Code.DEPLOYMENT_NOT_LIVE,
    }
    result = provisioning.sync(created, retry=NO_WAIT)
    assert result.ok, result.message
    assert provisioning.plan(created, retry=NO_WAIT) == []
    assert recorded_ids_exist(aws_gateway, created)
    assert live_matches_config(aws_gateway, created)
    [api] = inventory(aws_gateway)["apis"]
    assert (api["integrations"], api["stages"]) == (4, {"production": True})


def test_missing_stage_is_recreated_and_deployed(aws_gateway, created):
    apigw(aws_gateway).delete_stage(ApiId=created.api_id, StageName=created.stage_name)
    assert [d.code for d in provisioning.plan(created, retry=NO_WAIT)] == [Code.STAGE_MISSING]
    assert provisioning.sync(created, retry=NO_WAIT).ok
    assert live_matches_config(aws_gateway, created)


def test_vanished_api_is_out_of_sync_until_created_again(aws_gateway, created):
    old_api = created.api_id
    apigw(aws_gateway).delete_api(ApiId=old_api)
    assert [d.code for d in provisioning.plan(created, retry=NO_WAIT)] == [Code.API_MISSING]
    result = provisioning.sync(created, retry=NO_WAIT)
    assert not result.ok
    assert result.message == f"API {old_api} no longer exists in AWS: run create to rebuild it."
    assert created.state == State.OUT_OF_SYNC
    rebuilt = provisioning.create(created, retry=NO_WAIT)
    assert rebuilt.ok, rebuilt.message
    assert created.api_id not in ("", old_api)
    assert provisioning.plan(created, retry=NO_WAIT) == []


def test_deploy_makes_a_new_live_deployment(aws_gateway, created):
    old = created.deployment_id
    result = provisioning.deploy(created, retry=NO_WAIT)
    assert result.ok, result.message
    assert created.deployment_id != old
    stage = apigw(aws_gateway).get_stage(ApiId=created.api_id, StageName=created.stage_name)
    assert stage["DeploymentId"] == created.deployment_id
    assert created.state == State.DEPLOYED


def test_rotation_converges_after_any_failed_call(aws_gateway, created):
    clear_calls(aws_gateway)
    assert provisioning.rotate_secret(created, retry=NO_WAIT).ok
    calls = len(control_calls(aws_gateway))
    assert calls > 8

    for n in range(1, calls + 1):
        old = created.integration_secret
        fail_calls(aws_gateway, n)
        assert not provisioning.rotate_secret(created, retry=NO_WAIT).ok, n
        created.refresh_from_db()
        assert created.state == State.FAILED, n
        new = created.integration_secret
        if created.previous_integration_secret:
            # Mid-rotation: whichever secret an integration carries is accepted.
            assert created.previous_integration_secret == old, n
            assert created.accepts_secret(old) and created.accepts_secret(new), n
        clear_faults(aws_gateway)
        resumed = created.previous_integration_secret != ""
        assert provisioning.rotate_secret(created, retry=NO_WAIT).ok, n
        created.refresh_from_db()
        if resumed:
            assert created.integration_secret == new, "the rerun started another rotation"
        assert created.previous_integration_secret == "", n
        assert created.state == State.DEPLOYED, n
        assert provisioning.plan(created, retry=NO_WAIT) == [], n
        assert live_matches_config(aws_gateway, created), n


def test_custom_domain_lost_track_of_is_reused(aws_gateway, moto_aws, created):
    created.domain_name = "ws.example.com"
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    assert provisioning.create_custom_domain(created, retry=NO_WAIT).ok
    # As if the ids never reached the database.
    ApiGateway.objects.filter(pk=created.pk).update(api_gateway_domain_name="", api_mapping_id="")
    created.refresh_from_db()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert result.ok, result.message
    assert result.actions == []
    assert created.api_gateway_domain_name and created.api_mapping_id
    assert inventory(aws_gateway)["domains"] == {"ws.example.com": [("production", "")]}


def other_api_on_domain(aws_gateway, tags: dict[str, str]) -> str:
    """Another API, mapped to ws.example.com (a domain tagged ``tags``); returns its id."""
    client = apigw(aws_gateway)
    other = client.create_api(
        Name="other", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    client.create_stage(ApiId=other["ApiId"], StageName="production")
    client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": "arn:aws:acm:us-east-1:1:certificate/x"}],
        Tags=tags,
    )
    client.create_api_mapping(
        DomainName="ws.example.com", ApiId=other["ApiId"], Stage="production"
    )
    return other["ApiId"]


def test_domain_made_outside_this_gateway_is_refused_and_kept(aws_gateway, moto_aws, created):
    other_api_on_domain(aws_gateway, {"wsapp:gateway": str(created.pk + 1)})
    created.domain_name = "ws.example.com"
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert not result.ok
    assert result.message == (
        "The domain name ws.example.com already exists in API Gateway, made by gateway "
        f"record {created.pk + 1}: use another domain name, or delete that one in AWS first."
    )
    created.refresh_from_db()
    assert (created.api_mapping_id, created.api_gateway_domain_name) == ("", "")
    assert provisioning.teardown(created, retry=NO_WAIT).ok
    assert inventory(aws_gateway)["domains"] == {"ws.example.com": [("production", "")]}


def test_domain_mapped_to_another_api_is_refused(aws_gateway, moto_aws, created):
    # Made by this gateway (a run whose answer was lost), since mapped to another API.
    other = other_api_on_domain(aws_gateway, {"wsapp:gateway": str(created.pk)})
    created.domain_name = "ws.example.com"
    created.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    created.save()
    result = provisioning.create_custom_domain(created, retry=NO_WAIT)
    assert not result.ok
    assert result.message == (
        f"ws.example.com is already mapped to API {other}: remove that mapping "
        "first, or use another domain name."
    )
    # Tearing this gateway down leaves the other API's domain alone.
    assert provisioning.teardown(created, retry=NO_WAIT).ok
    assert inventory(aws_gateway)["domains"] == {"ws.example.com": [("production", "")]}
