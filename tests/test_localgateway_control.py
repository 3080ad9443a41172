"""The local gateway's apigatewayv2 control plane, driven by real boto3 calls."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.helpers.localgateway import (  # noqa: F401  (fixtures)
    apigw_client,
    boto3_client,
    local_endpoint,
    local_gateway,
    make_local_gateway,
)
from wsapp.localgateway import LocalGateway, StateFileError

API_ID_RE = re.compile(r"^[a-z0-9]{10}$")
RESOURCE_ID_RE = re.compile(r"^[a-z0-9]{7}$")


def make_api(client, **kwargs):
    kwargs.setdefault("Name", "chat")
    kwargs.setdefault("ProtocolType", "WEBSOCKET")
    kwargs.setdefault("RouteSelectionExpression", "$request.body.action")
    return client.create_api(**kwargs)


def make_integration(client, api_id, **kwargs):
    kwargs.setdefault("IntegrationType", "HTTP_PROXY")
    kwargs.setdefault("IntegrationMethod", "POST")
    kwargs.setdefault("IntegrationUri", "http://127.0.0.1:8000/ws/default")
    return client.create_integration(ApiId=api_id, **kwargs)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


# ---------------------------------------------------------------------- APIs


def test_create_api_returns_id_and_local_endpoint(apigw_client, local_gateway):
    api = make_api(apigw_client, Description="d", Tags={"team": "web"})

    assert API_ID_RE.match(api["ApiId"])
    assert api["ApiEndpoint"] == f"ws://127.0.0.1:{local_gateway.port}/{api['ApiId']}"
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    assert api["Tags"] == {"team": "web"}
    assert api["CreatedDate"].year >= 2024


def test_get_api_and_get_apis(apigw_client):
    first = make_api(apigw_client, Name="one")
    second = make_api(apigw_client, Name="two")

    assert apigw_client.get_api(ApiId=first["ApiId"])["Name"] == "one"
    items = apigw_client.get_apis()["Items"]
    assert [item["ApiId"] for item in items] == [first["ApiId"], second["ApiId"]]


def test_get_apis_pages_with_max_results(apigw_client):
    for name in ("a", "b", "c"):
        make_api(apigw_client, Name=name)

    page = apigw_client.get_apis(MaxResults="2")
    rest = apigw_client.get_apis(MaxResults="2", NextToken=page["NextToken"])

    assert [i["Name"] for i in page["Items"]] == ["a", "b"]
    assert [i["Name"] for i in rest["Items"]] == ["c"]
    assert "NextToken" not in rest


def test_update_api_changes_selection_expression(apigw_client):
    api = make_api(apigw_client)

    updated = apigw_client.update_api(
        ApiId=api["ApiId"], RouteSelectionExpression="$request.body.meta.type"
    )

    assert updated["RouteSelectionExpression"] == "$request.body.meta.type"


def test_delete_api_removes_everything_under_it(apigw_client):
    api = make_api(apigw_client)
    integration = make_integration(apigw_client, api["ApiId"])
    apigw_client.create_route(
        ApiId=api["ApiId"],
        RouteKey="$default",
        Target=f"integrations/{integration['IntegrationId']}",
    )
    apigw_client.create_stage(ApiId=api["ApiId"], StageName="prod")
    apigw_client.create_domain_name(DomainName="ws.example.com")
    apigw_client.create_api_mapping(DomainName="ws.example.com", ApiId=api["ApiId"], Stage="prod")

    apigw_client.delete_api(ApiId=api["ApiId"])

    with pytest.raises(ClientError) as excinfo:
        apigw_client.get_routes(ApiId=api["ApiId"])
    assert error_code(excinfo) == "NotFoundException"
    assert apigw_client.get_api_mappings(DomainName="ws.example.com")["Items"] == []


def test_wsapp_clients_find_the_gateway_through_the_environment(local_gateway, monkeypatch):
    from wsapp import aws

    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", local_gateway.url)
    client = aws.client("apigatewayv2", cached=False)

    api_id = make_api(client)["ApiId"]

    assert local_gateway.state.apis[api_id]["api"]["Name"] == "chat"


# ---------------------------------------------------------------------- integrations


def test_integration_create_get_update_delete(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    created = make_integration(
        apigw_client,
        api_id,
        RequestParameters={
            "integration.request.header.connectionId": "context.connectionId",
            "integration.request.header.X-Gateway-Secret": "'s3cr3t'",
        },
        TimeoutInMillis=10000,
    )
    integration_id = created["IntegrationId"]

    assert RESOURCE_ID_RE.match(integration_id)
    assert created["ConnectionType"] == "INTERNET"
    assert created["PayloadFormatVersion"] == "1.0"
    fetched = apigw_client.get_integration(ApiId=api_id, IntegrationId=integration_id)
    assert (
        fetched["RequestParameters"]["integration.request.header.X-Gateway-Secret"] == "'s3cr3t'"
    )
    assert fetched["TimeoutInMillis"] == 10000

    updated = apigw_client.update_integration(
        ApiId=api_id, IntegrationId=integration_id, IntegrationUri="http://127.0.0.1:9000/x"
    )
    assert updated["IntegrationUri"] == "http://127.0.0.1:9000/x"
    listed = apigw_client.get_integrations(ApiId=api_id)["Items"]
    assert [i["IntegrationId"] for i in listed] == [integration_id]

    apigw_client.delete_integration(ApiId=api_id, IntegrationId=integration_id)
    assert apigw_client.get_integrations(ApiId=api_id)["Items"] == []


def test_integration_used_by_a_route_cannot_be_deleted(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    integration_id = make_integration(apigw_client, api_id)["IntegrationId"]
    apigw_client.create_route(
        ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration_id}"
    )

    with pytest.raises(ClientError) as excinfo:
        apigw_client.delete_integration(ApiId=api_id, IntegrationId=integration_id)
    assert error_code(excinfo) == "ConflictException"


# ---------------------------------------------------------------------- routes


def test_route_and_route_response_crud(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    integration_id = make_integration(apigw_client, api_id)["IntegrationId"]

    route = apigw_client.create_route(
        ApiId=api_id, RouteKey="sendmessage", Target=f"integrations/{integration_id}"
    )
    route_id = route["RouteId"]
    assert RESOURCE_ID_RE.match(route_id)
    assert route["AuthorizationType"] == "NONE"
    assert apigw_client.get_route(ApiId=api_id, RouteId=route_id)["RouteKey"] == "sendmessage"

    response = apigw_client.create_route_response(
        ApiId=api_id, RouteId=route_id, RouteResponseKey="$default"
    )
    response_id = response["RouteResponseId"]
    assert RESOURCE_ID_RE.match(response_id)
    assert (
        apigw_client.get_route_response(
            ApiId=api_id, RouteId=route_id, RouteResponseId=response_id
        )["RouteResponseKey"]
        == "$default"
    )
    assert [
        r["RouteResponseId"]
        for r in apigw_client.get_route_responses(ApiId=api_id, RouteId=route_id)["Items"]
    ] == [response_id]

    updated = apigw_client.update_route(ApiId=api_id, RouteId=route_id, RouteKey="send")
    assert updated["RouteKey"] == "send"
    assert [r["RouteKey"] for r in apigw_client.get_routes(ApiId=api_id)["Items"]] == ["send"]

    apigw_client.delete_route_response(ApiId=api_id, RouteId=route_id, RouteResponseId=response_id)
    apigw_client.delete_route(ApiId=api_id, RouteId=route_id)
    assert apigw_client.get_routes(ApiId=api_id)["Items"] == []


# ---------------------------------------------------------------------- stages, deployments


def test_stage_crud(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]

    stage = apigw_client.create_stage(
        ApiId=api_id, StageName="production", StageVariables={"a": "b"}
    )
    assert stage["StageName"] == "production"
    assert "DeploymentId" not in stage

    updated = apigw_client.update_stage(ApiId=api_id, StageName="production", Description="x")
    assert updated["Description"] == "x"
    assert apigw_client.get_stage(ApiId=api_id, StageName="production")["StageVariables"] == {
        "a": "b"
    }
    assert [s["StageName"] for s in apigw_client.get_stages(ApiId=api_id)["Items"]] == [
        "production"
    ]

    apigw_client.delete_stage(ApiId=api_id, StageName="production")
    assert apigw_client.get_stages(ApiId=api_id)["Items"] == []


def test_deployment_with_stage_name_points_the_stage_at_it(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    integration_id = make_integration(apigw_client, api_id)["IntegrationId"]
    apigw_client.create_route(
        ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration_id}"
    )
    apigw_client.create_stage(ApiId=api_id, StageName="production")

    deployment = apigw_client.create_deployment(ApiId=api_id, StageName="production")

    assert RESOURCE_ID_RE.match(deployment["DeploymentId"])
    assert deployment["DeploymentStatus"] == "DEPLOYED"
    stage = apigw_client.get_stage(ApiId=api_id, StageName="production")
    assert stage["DeploymentId"] == deployment["DeploymentId"]
    assert (
        apigw_client.get_deployment(ApiId=api_id, DeploymentId=deployment["DeploymentId"])[
            "DeploymentId"
        ]
        == deployment["DeploymentId"]
    )
    assert [d["DeploymentId"] for d in apigw_client.get_deployments(ApiId=api_id)["Items"]] == [
        deployment["DeploymentId"]
    ]


def test_update_stage_can_point_at_an_earlier_deployment(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    integration_id = make_integration(apigw_client, api_id)["IntegrationId"]
    apigw_client.create_route(
        ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration_id}"
    )
    first = apigw_client.create_deployment(ApiId=api_id)["DeploymentId"]
    apigw_client.create_stage(ApiId=api_id, StageName="production", DeploymentId=first)
    apigw_client.create_deployment(ApiId=api_id, StageName="production")

    apigw_client.update_stage(ApiId=api_id, StageName="production", DeploymentId=first)

    assert apigw_client.get_stage(ApiId=api_id, StageName="production")["DeploymentId"] == first


def test_deployment_needs_a_route(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]

    with pytest.raises(ClientError) as excinfo:
        apigw_client.create_deployment(ApiId=api_id)
    assert error_code(excinfo) == "BadRequestException"


# ---------------------------------------------------------------------- domains, mappings, tags


def test_domain_name_and_api_mapping(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.create_stage(ApiId=api_id, StageName="production")

    domain = apigw_client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[
            {"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}
        ],
        Tags={"team": "web"},
    )
    config = domain["DomainNameConfigurations"][0]
    assert re.match(
        r"^d-[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com$", config["ApiGatewayDomainName"]
    )
    assert config["HostedZoneId"] == "Z1UJRXOUMOOFQ8"
    assert config["EndpointType"] == "REGIONAL"
    assert apigw_client.get_domain_name(DomainName="ws.example.com")["DomainName"] == (
        "ws.example.com"
    )
    assert [d["DomainName"] for d in apigw_client.get_domain_names()["Items"]] == [
        "ws.example.com"
    ]

    mapping = apigw_client.create_api_mapping(
        DomainName="ws.example.com", ApiId=api_id, Stage="production"
    )
    mapping_id = mapping["ApiMappingId"]
    assert mapping["ApiMappingKey"] == ""
    assert (
        apigw_client.get_api_mapping(DomainName="ws.example.com", ApiMappingId=mapping_id)["Stage"]
        == "production"
    )
    assert [
        m["ApiMappingId"]
        for m in apigw_client.get_api_mappings(DomainName="ws.example.com")["Items"]
    ] == [mapping_id]

    apigw_client.delete_api_mapping(DomainName="ws.example.com", ApiMappingId=mapping_id)
    apigw_client.delete_domain_name(DomainName="ws.example.com")
    assert apigw_client.get_domain_names()["Items"] == []


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/{}"


def test_update_domain_name_replaces_the_configuration_and_keeps_the_target(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.create_stage(ApiId=api_id, StageName="production")
    created = apigw_client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": CERTIFICATE.format("old")}],
    )["DomainNameConfigurations"][0]
    mapping_id = apigw_client.create_api_mapping(
        DomainName="ws.example.com", ApiId=api_id, Stage="production"
    )["ApiMappingId"]

    updated = apigw_client.update_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[
            {
                "CertificateArn": CERTIFICATE.format("new"),
                "EndpointType": "REGIONAL",
                "SecurityPolicy": "TLS_1_0",
            }
        ],
    )

    assert updated["DomainName"] == "ws.example.com"
    for config in (
        updated["DomainNameConfigurations"][0],
        apigw_client.get_domain_name(DomainName="ws.example.com")["DomainNameConfigurations"][0],
    ):
        assert config["CertificateArn"] == CERTIFICATE.format("new")
        assert config["SecurityPolicy"] == "TLS_1_0"
        assert config["EndpointType"] == "REGIONAL"
        assert config["DomainNameStatus"] == "AVAILABLE"
        # DNS pointing at the domain keeps working: same target, same hosted zone.
        assert config["ApiGatewayDomainName"] == created["ApiGatewayDomainName"]
        assert config["HostedZoneId"] == created["HostedZoneId"]
    assert [
        m["ApiMappingId"]
        for m in apigw_client.get_api_mappings(DomainName="ws.example.com")["Items"]
    ] == [mapping_id]


def test_update_domain_name_validates_like_create(apigw_client):
    apigw_client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": CERTIFICATE.format("old")}],
    )
    bad_request = apigw_client.exceptions.BadRequestException

    with pytest.raises(bad_request, match="REGIONAL"):
        apigw_client.update_domain_name(
            DomainName="ws.example.com",
            DomainNameConfigurations=[
                {"CertificateArn": CERTIFICATE.format("new"), "EndpointType": "EDGE"}
            ],
        )
    with pytest.raises(bad_request, match="Exactly one"):
        apigw_client.update_domain_name(
            DomainName="ws.example.com",
            DomainNameConfigurations=[
                {"CertificateArn": CERTIFICATE.format("a")},
                {"CertificateArn": CERTIFICATE.format("b")},
            ],
        )
    with pytest.raises(apigw_client.exceptions.NotFoundException):
        apigw_client.update_domain_name(
            DomainName="missing.example.com",
            DomainNameConfigurations=[{"CertificateArn": CERTIFICATE.format("new")}],
        )

    config = apigw_client.get_domain_name(DomainName="ws.example.com")["DomainNameConfigurations"][
        0
    ]
    assert config["CertificateArn"] == CERTIFICATE.format("old")


def test_updated_domain_name_survives_a_restart(make_local_gateway, tmp_path):
    state_file = tmp_path / "gateway.json"
    client = boto3_client("apigatewayv2", make_local_gateway(state_file=state_file).url)
    target = client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": CERTIFICATE.format("old")}],
    )["DomainNameConfigurations"][0]["ApiGatewayDomainName"]
    client.update_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": CERTIFICATE.format("new")}],
    )

    client = boto3_client("apigatewayv2", make_local_gateway(state_file=state_file).url)

    config = client.get_domain_name(DomainName="ws.example.com")["DomainNameConfigurations"][0]
    assert config["CertificateArn"] == CERTIFICATE.format("new")
    assert config["ApiGatewayDomainName"] == target


def test_domain_names_are_found_whatever_the_case_or_a_final_dot(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.create_stage(ApiId=api_id, StageName="production")
    apigw_client.create_domain_name(DomainName="foo.example.com")
    spelled = "Foo.Example.com."

    assert apigw_client.get_domain_name(DomainName=spelled)["DomainName"] == "foo.example.com"
    mapping_id = apigw_client.create_api_mapping(
        DomainName=spelled, ApiId=api_id, Stage="production"
    )["ApiMappingId"]
    assert apigw_client.get_api_mapping(DomainName=spelled, ApiMappingId=mapping_id)
    arn = "arn:aws:apigateway:us-east-1::/domainnames/Foo.Example.com."
    apigw_client.tag_resource(ResourceArn=arn, Tags={"team": "web"})
    assert apigw_client.get_tags(ResourceArn=arn)["Tags"] == {"team": "web"}

    apigw_client.delete_domain_name(DomainName=spelled)

    assert apigw_client.get_domain_names()["Items"] == []
    with pytest.raises(apigw_client.exceptions.NotFoundException):
        apigw_client.get_domain_name(DomainName="foo.example.com")


def test_tag_resource_and_get_tags(apigw_client):
    api_id = make_api(apigw_client, Tags={"a": "1"})["ApiId"]
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}"

    apigw_client.tag_resource(ResourceArn=arn, Tags={"b": "2"})

    assert apigw_client.get_tags(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2"}
    assert apigw_client.get_api(ApiId=api_id)["Tags"] == {"a": "1", "b": "2"}


# ---------------------------------------------------------------------- errors


def test_unknown_ids_raise_not_found(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]

    with pytest.raises(apigw_client.exceptions.NotFoundException):
        apigw_client.get_api(ApiId="doesnotexist")
    with pytest.raises(apigw_client.exceptions.NotFoundException):
        apigw_client.get_route(ApiId=api_id, RouteId="nothere")
    with pytest.raises(apigw_client.exceptions.NotFoundException):
        apigw_client.get_stage(ApiId=api_id, StageName="nostage")
    with pytest.raises(apigw_client.exceptions.NotFoundException):
        apigw_client.get_domain_name(DomainName="missing.example.com")


def test_duplicate_route_key_raises_conflict(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.create_route(ApiId=api_id, RouteKey="$default")

    with pytest.raises(apigw_client.exceptions.ConflictException):
        apigw_client.create_route(ApiId=api_id, RouteKey="$default")


def test_duplicate_stage_and_domain_raise_conflict(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.create_stage(ApiId=api_id, StageName="production")
    apigw_client.create_domain_name(DomainName="ws.example.com")

    with pytest.raises(apigw_client.exceptions.ConflictException):
        apigw_client.create_stage(ApiId=api_id, StageName="production")
    with pytest.raises(apigw_client.exceptions.ConflictException):
        apigw_client.create_domain_name(DomainName="WS.example.com")


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("create_api", {"Name": "x", "ProtocolType": "HTTP"}),
        ("create_api", {"Name": "x", "ProtocolType": "WEBSOCKET"}),
        (
            "create_api",
            {"Name": "x", "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "action"},
        ),
        ("create_integration", {"IntegrationType": "HTTP_PROXY", "IntegrationMethod": "POST"}),
        (
            "create_integration",
            {"IntegrationType": "HTTP_PROXY", "IntegrationUri": "http://127.0.0.1:1/"},
        ),
        (
            "create_integration",
            {
                "IntegrationType": "HTTP_PROXY",
                "IntegrationMethod": "POST",
                "IntegrationUri": "not a url",
            },
        ),
        (
            "create_integration",
            {
                "IntegrationType": "HTTP_PROXY",
                "IntegrationMethod": "POST",
                "IntegrationUri": "http://127.0.0.1:1/",
                "RequestParameters": {"request.header.connectionId": "context.connectionId"},
            },
        ),
        (
            "create_integration",
            {
                "IntegrationType": "HTTP_PROXY",
                "IntegrationMethod": "POST",
                "IntegrationUri": "http://127.0.0.1:1/",
                "RequestParameters": {"integration.request.header.X": "context.nosuchthing"},
            },
        ),
        (
            "create_integration",
            {
                "IntegrationType": "HTTP_PROXY",
                "IntegrationMethod": "POST",
                "IntegrationUri": "http://127.0.0.1:1/",
                "TimeoutInMillis": 30000,
            },
        ),
        ("create_route", {"RouteKey": "$default", "Target": "integrations/missing"}),
        ("create_route", {"RouteKey": "$default", "Target": "lambda"}),
        ("create_stage", {"StageName": "bad name"}),
    ],
)
def test_bad_input_raises_bad_request(apigw_client, operation, kwargs):
    if operation != "create_api":
        kwargs = {"ApiId": make_api(apigw_client)["ApiId"], **kwargs}

    with pytest.raises(apigw_client.exceptions.BadRequestException):
        getattr(apigw_client, operation)(**kwargs)


def test_operation_not_emulated_is_named_in_the_error(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]

    with pytest.raises(apigw_client.exceptions.BadRequestException) as excinfo:
        apigw_client.get_authorizers(ApiId=api_id)
    assert "GetAuthorizers" in str(excinfo.value)


# ---------------------------------------------------------------------- state file


def test_state_survives_a_restart(make_local_gateway, tmp_path):
    state_file = tmp_path / "gateway.json"
    first = make_local_gateway(state_file=state_file)
    client = boto3_client("apigatewayv2", first.url)
    api_id = make_api(client)["ApiId"]
    integration_id = make_integration(client, api_id)["IntegrationId"]
    client.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration_id}")
    client.create_stage(ApiId=api_id, StageName="production")
    deployment_id = client.create_deployment(ApiId=api_id, StageName="production")["DeploymentId"]

    second = make_local_gateway(state_file=state_file)
    client = boto3_client("apigatewayv2", second.url)

    api = client.get_api(ApiId=api_id)
    assert api["ApiEndpoint"] == f"ws://127.0.0.1:{second.port}/{api_id}"
    assert client.get_stage(ApiId=api_id, StageName="production")["DeploymentId"] == deployment_id
    assert client.get_integration(ApiId=api_id, IntegrationId=integration_id)
    assert list(tmp_path.iterdir()) == [state_file]  # no temporary file left behind


def test_unreadable_state_file_is_a_clear_error(tmp_path):
    state_file = tmp_path / "gateway.json"
    state_file.write_text("{not json")

    with pytest.raises(StateFileError, match=r"gateway\.json"):
        LocalGateway(port=0, state_file=state_file)


# ---------------------------------------------------------------------- call log, faults


def test_call_log_records_method_and_operation_in_order(apigw_client, local_gateway):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.get_api(ApiId=api_id)
    apigw_client.delete_api(ApiId=api_id)

    calls = local_endpoint(local_gateway, "GET", "calls")["calls"]

    assert [(c["method"], c["operation"]) for c in calls] == [
        ("POST", "CreateApi"),
        ("GET", "GetApi"),
        ("DELETE", "DeleteApi"),
    ]
    assert local_gateway.calls.operations() == ["CreateApi", "GetApi", "DeleteApi"]


def test_fault_fails_the_nth_call_after_reset(apigw_client, local_gateway):
    make_api(apigw_client)
    local_endpoint(local_gateway, "POST", "faults", {"control_plane_fail_calls": [2]})

    make_api(apigw_client)
    with pytest.raises(ClientError) as excinfo:
        make_api(apigw_client)
    make_api(apigw_client)

    assert error_code(excinfo) == "InternalServerError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(apigw_client.get_apis()["Items"]) == 3


def test_fault_can_answer_a_chosen_error(apigw_client, local_gateway):
    local_endpoint(
        local_gateway,
        "POST",
        "faults",
        {"control_plane_fail_calls": [1], "control_plane_error": "TooManyRequestsException"},
    )

    with pytest.raises(apigw_client.exceptions.TooManyRequestsException):
        make_api(apigw_client)


def test_faults_can_be_read_and_reset(local_gateway):
    local_endpoint(local_gateway, "POST", "faults", {"management_error_rate": 0.5, "seed": 1})

    assert local_endpoint(local_gateway, "GET", "faults")["management_error_rate"] == 0.5
    assert local_endpoint(local_gateway, "DELETE", "faults")["management_error_rate"] == 0


def test_bad_faults_are_refused_with_the_reason(local_gateway):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        local_endpoint(local_gateway, "POST", "faults", {"control_plane_fail_calls": "3"})

    with excinfo.value as response:
        body = json.loads(response.read())
    assert excinfo.value.code == 400
    assert "control_plane_fail_calls" in body["message"]


# ---------------------------------------------------------------------- audit: bad input


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:99999/", "http://127.0.0.1:0/", "http://[::1", "http://[::1/x"],
)
def test_integration_uri_the_data_plane_cannot_call_is_refused(apigw_client, uri):
    api_id = make_api(apigw_client)["ApiId"]
    good = make_integration(apigw_client, api_id)["IntegrationId"]

    with pytest.raises(apigw_client.exceptions.BadRequestException, match="IntegrationUri"):
        make_integration(apigw_client, api_id, IntegrationUri=uri)
    with pytest.raises(apigw_client.exceptions.BadRequestException, match="IntegrationUri"):
        apigw_client.update_integration(ApiId=api_id, IntegrationId=good, IntegrationUri=uri)
    assert apigw_client.get_integration(ApiId=api_id, IntegrationId=good)["IntegrationUri"] == (
        "http://127.0.0.1:8000/ws/default"
    )


@pytest.mark.parametrize(
    "expression", ["${request.body.action", "$request.body.action}", "${request.body}"]
)
def test_unbalanced_selection_expression_is_refused(apigw_client, expression):
    api_id = make_api(apigw_client)["ApiId"]

    with pytest.raises(apigw_client.exceptions.BadRequestException):
        make_api(apigw_client, RouteSelectionExpression=expression)
    with pytest.raises(apigw_client.exceptions.BadRequestException):
        apigw_client.update_api(ApiId=api_id, RouteSelectionExpression=expression)


def test_braced_selection_expression_is_accepted(apigw_client):
    api = make_api(apigw_client, RouteSelectionExpression="${request.body.action}")

    assert api["RouteSelectionExpression"] == "${request.body.action}"


def test_route_response_key_other_than_default_is_refused(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    route_id = apigw_client.create_route(ApiId=api_id, RouteKey="$default")["RouteId"]
    response_id = apigw_client.create_route_response(
        ApiId=api_id, RouteId=route_id, RouteResponseKey="$default"
    )["RouteResponseId"]

    with pytest.raises(apigw_client.exceptions.BadRequestException, match=r"\$default"):
        apigw_client.create_route_response(
            ApiId=api_id, RouteId=route_id, RouteResponseKey="$other"
        )
    with pytest.raises(apigw_client.exceptions.BadRequestException, match=r"\$default"):
        apigw_client.update_route_response(
            ApiId=api_id, RouteId=route_id, RouteResponseId=response_id, RouteResponseKey="x"
        )


def test_update_route_response_changes_it(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    route_id = apigw_client.create_route(ApiId=api_id, RouteKey="$default")["RouteId"]
    response_id = apigw_client.create_route_response(
        ApiId=api_id, RouteId=route_id, RouteResponseKey="$default"
    )["RouteResponseId"]

    updated = apigw_client.update_route_response(
        ApiId=api_id,
        RouteId=route_id,
        RouteResponseId=response_id,
        RouteResponseKey="$default",
        ModelSelectionExpression="$request.body.kind",
    )

    assert updated["ModelSelectionExpression"] == "$request.body.kind"
    fetched = apigw_client.get_route_response(
        ApiId=api_id, RouteId=route_id, RouteResponseId=response_id
    )
    assert fetched["ModelSelectionExpression"] == "$request.body.kind"
    assert fetched["RouteResponseKey"] == "$default"


def test_unknown_ids_under_an_api_or_domain_raise_not_found(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    route_id = apigw_client.create_route(ApiId=api_id, RouteKey="$default")["RouteId"]
    apigw_client.create_domain_name(DomainName="ws.example.com")
    not_found = apigw_client.exceptions.NotFoundException

    with pytest.raises(not_found, match="Integration"):
        apigw_client.get_integration(ApiId=api_id, IntegrationId="nothere")
    with pytest.raises(not_found, match="RouteResponse"):
        apigw_client.get_route_response(ApiId=api_id, RouteId=route_id, RouteResponseId="nothere")
    with pytest.raises(not_found, match="Deployment"):
        apigw_client.get_deployment(ApiId=api_id, DeploymentId="nothere")
    with pytest.raises(not_found, match="ApiMapping"):
        apigw_client.get_api_mapping(DomainName="ws.example.com", ApiMappingId="nothere")


def test_duplicate_api_mapping_key_raises_conflict(apigw_client):
    api_id = make_api(apigw_client)["ApiId"]
    apigw_client.create_stage(ApiId=api_id, StageName="production")
    apigw_client.create_domain_name(DomainName="ws.example.com")
    apigw_client.create_api_mapping(
        DomainName="ws.example.com", ApiId=api_id, Stage="production", ApiMappingKey="chat"
    )

    with pytest.raises(apigw_client.exceptions.ConflictException):
        apigw_client.create_api_mapping(
            DomainName="ws.example.com", ApiId=api_id, Stage="production", ApiMappingKey="chat"
        )


def raw_control_call(gateway: LocalGateway, path: str, body: bytes):
    """POST a raw body to the control plane (boto3 cannot send malformed JSON)."""
    request = urllib.request.Request(
        f"{gateway.url}{path}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.loads(error.read() or b"null")


def test_deeply_nested_control_plane_body_is_a_bad_request(local_gateway):
    status, headers, body = raw_control_call(local_gateway, "/v2/apis", b"[" * 20000)

    assert status == 400
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "nested" in body["message"]


def test_deeply_nested_faults_body_is_refused_with_the_reason(local_gateway):
    status, _, body = raw_control_call(local_gateway, "/_local/faults", b"[" * 20000)

    assert status == 400
    assert "nested" in body["message"]


def test_unexpected_failure_answers_internal_server_error_and_logs(
    apigw_client, local_gateway, caplog
):
    # A damaged record, as a bug elsewhere could leave: the control plane must
    # still answer in AWS's error shape.
    local_gateway.state.apis["broken0000"] = 5

    with (
        caplog.at_level("ERROR", logger="wsapp.localgateway"),
        pytest.raises(ClientError) as excinfo,
    ):
        apigw_client.get_apis()

    assert error_code(excinfo) == "InternalServerError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "GetApis" in excinfo.value.response["Error"]["Message"]
    failures = [r for r in caplog.records if "GetApis" in r.getMessage()]
    assert failures and failures[0].exc_info is not None


@pytest.mark.parametrize(
    ("apis", "named"),
    [
        ({"x": 5}, "apis['x']"),
        (
            {
                "x": {
                    "api": {"ApiId": "x", "RouteSelectionExpression": "$request.body.action"},
                    "integrations": {},
                    "routes": {"r1": {"Target": "integrations/i"}},
                    "route_responses": {},
                    "stages": {},
                    "deployments": {},
                }
            },
            "apis['x'].routes['r1'] has no valid RouteKey",
        ),
        (
            {
                "x": {
                    "api": {"ApiId": "x", "RouteSelectionExpression": "$request.body.action"},
                    "integrations": {},
                    "routes": {},
                    "route_responses": {},
                    "stages": {},
                    "deployments": {"d1": {"deployment": {"DeploymentId": "d1"}, "snapshot": []}},
                }
            },
            "apis['x'].deployments['d1']",
        ),
    ],
)
def test_damaged_state_file_is_refused_naming_the_entry(tmp_path, apis, named):
    state_file = tmp_path / "gateway.json"
    state_file.write_text(json.dumps({"version": 1, "apis": apis, "domains": {}}))

    with pytest.raises(StateFileError) as excinfo:
        LocalGateway(port=0, state_file=state_file)

    assert named in str(excinfo.value)
    assert "gateway.json" in str(excinfo.value)


def test_damaged_domain_in_state_file_is_refused(tmp_path):
    state_file = tmp_path / "gateway.json"
    state_file.write_text(
        json.dumps(
            {
                "version": 1,
                "apis": {},
                "domains": {"ws.example.com": {"domain": {}, "mappings": {"m": {"ApiId": 1}}}},
            }
        )
    )

    with pytest.raises(StateFileError, match=r"domains\['ws.example.com'\].mappings\['m'\]"):
        LocalGateway(port=0, state_file=state_file)
