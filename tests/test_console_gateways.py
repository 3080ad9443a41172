"""Gateways in the console: the list, the form, the AWS panel and the provisioning buttons.

Provisioning runs for real against the local API Gateway (boto3 pointed at it by
``aws_gateway``); nothing of wsapp is mocked.
"""

from __future__ import annotations

import dataclasses
import json as json_module
import re

import boto3
import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from dashboard.admin import gateways as gateway_admin
from tests.helpers.console import (  # noqa: F401  (fixtures)
    client_with,
    csrf_post,
    dialog_fields,
    dialog_post,
    htmx_headers,
    last_log,
    non_staff_client,
    operator,
    operator_client,
    page_messages,
    snapshot,
    staff_client,
)
from tests.helpers.moto import hosted_zone, issued_certificate, moto_aws, moto_server  # noqa: F401
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    aws_gateway,
    clear_calls,
    clear_faults,
    control_calls,
    fail_calls,
    inventory,
    local_gateway,
    make_local_gateway,
)
from wsapp import provisioning
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute

pytestmark = pytest.mark.django_db


@pytest.fixture
def record() -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="console-gw",
        target_base_endpoint="https://backend.example.com/ws/",
        stage_name="production",
    )


@pytest.fixture
def created(record: ApiGateway, aws_gateway) -> ApiGateway:
    """The record, created and deployed in the local gateway (not through the console)."""
    result = provisioning.create(record)
    assert result.ok, result.message
    record.refresh_from_db()
    clear_calls(aws_gateway)
    return record


def action_url(record: ApiGateway, name: str) -> str:
    return reverse(f"admin:wsapp_apigateway_{name}", args=[record.pk])


def change_url(record: ApiGateway) -> str:
    return reverse("admin:wsapp_apigateway_change", args=[record.pk])


def form_data(record: ApiGateway, routes: list[dict[str, str]] | None = None, **changes) -> dict:
    """What the change form posts: the record's fields and the routes inline."""
    data = {
        "api_name": record.api_name,
        "api_description": record.api_description,
        "target_base_endpoint": record.target_base_endpoint,
        "route_selection_expression": record.route_selection_expression,
        "stage_name": record.stage_name,
        "default_channel_name": record.default_channel_name,
        "region": record.region,
        "tags": "{}",
        "domain_name": record.domain_name,
        "certificate_arn": record.certificate_arn,
        "hosted_zone_id": record.hosted_zone_id,
        "additional_routes-TOTAL_FORMS": str(len(routes or [])),
        "additional_routes-INITIAL_FORMS": "0",
        "additional_routes-MIN_NUM_FORMS": "0",
        "additional_routes-MAX_NUM_FORMS": "1000",
        "_continue": "1",
    }
    for i, route in enumerate(routes or []):
        for key, value in route.items():
            data[f"additional_routes-{i}-{key}"] = value
        data[f"additional_routes-{i}-api_gateway"] = str(record.pk)
    data.update(changes)
    return data


# --- List and form ------------------------------------------------------------------


def test_list_shows_state_badges(operator_client, record):
    ApiGateway.objects.create(
        api_name="broken", target_base_endpoint="https://x.example.com/ws/", state="failed"
    )
    content = operator_client.get(reverse("admin:wsapp_apigateway_changelist")).content.decode()
    assert "Failed" in content and "bg-red-100" in content
    assert "Draft" in content and "bg-blue-100" in content


def test_secret_is_never_shown_whole(operator_client, created):
    content = operator_client.get(change_url(created)).content.decode()
    panel = operator_client.get(action_url(created, "aws")).content.decode()
    for page in (content, panel):
        assert created.integration_secret not in page
    assert created.masked_secret in content
    assert f"the current secret ({created.masked_secret})" in panel


def test_saving_the_form_does_not_call_aws(operator_client, created, aws_gateway):
    response = csrf_post(
        operator_client,
        change_url(created),
        form_data(created, target_base_endpoint="https://other.example.com/ws/"),
    )
    assert response.status_code == 302, response.content[:3000]
    assert control_calls(aws_gateway) == []
    created.refresh_from_db()
    assert created.target_base_endpoint == "https://other.example.com/ws/"
    assert created.state == "out_of_sync"
    assert "run Sync" in created.last_error
    assert any("AWS is unchanged until you run Sync" in m for m in page_messages(response))


def test_editing_what_aws_does_not_hold_keeps_it_deployed(operator_client, created):
    response = csrf_post(
        operator_client, change_url(created), form_data(created, default_channel_name="lobby")
    )
    assert response.status_code == 302, response.content[:3000]
    created.refresh_from_db()
    assert (created.default_channel_name, created.state) == ("lobby", "deployed")


def test_region_cannot_change_while_the_api_exists(operator_client, created):
    response = csrf_post(
        operator_client, change_url(created), form_data(created, region="eu-west-1")
    )
    assert response.status_code == 200
    assert b"The API exists in AWS in us-east-1, so the region cannot change" in response.content
    created.refresh_from_db()
    assert created.region == ""


def test_naming_the_region_the_api_is_in_is_allowed(operator_client, created):
    # Created with the settings' region (the field blank); writing it down moves nothing.
    response = csrf_post(
        operator_client, change_url(created), form_data(created, region="us-east-1")
    )
    assert response.status_code == 302, response.content[:3000]
    created.refresh_from_db()
    assert created.region == "us-east-1"


def test_region_of_a_draft_can_change(operator_client, record):
    response = csrf_post(
        operator_client, change_url(record), form_data(record, region="eu-west-1")
    )
    assert response.status_code == 302, response.content[:3000]
    record.refresh_from_db()
    assert record.region == "eu-west-1"


def test_domain_name_cannot_change_while_the_domain_exists(operator_client, created):
    # As createCustomDomain leaves it (the domain itself is not needed for the form).
    ApiGateway.objects.filter(pk=created.pk).update(
        domain_name="ws.example.com", api_mapping_id="m1", api_gateway_domain_name="d-1.test"
    )
    created.refresh_from_db()
    for new_name in ("other.example.com", ""):
        response = csrf_post(
            operator_client, change_url(created), form_data(created, domain_name=new_name)
        )
        assert response.status_code == 200, new_name
        assert b"tear the gateway down first (Teardown deletes the domain)" in response.content
    created.refresh_from_db()
    assert created.domain_name == "ws.example.com"


def test_routes_edited_inline_wait_for_sync(operator_client, created, aws_gateway):
    route = {"name": "Chat", "route_key": "chat", "integration_url": "https://b.example.com/c"}
    response = csrf_post(operator_client, change_url(created), form_data(created, [route]))
    assert response.status_code == 302, response.content[:3000]
    assert control_calls(aws_gateway) == []
    saved = ApiGatewayAdditionalRoute.objects.get(api_gateway=created)
    assert not saved.deployed
    created.refresh_from_db()
    assert created.state == "out_of_sync"
    sync = action_url(created, "sync_gateway")
    dialog_post(operator_client, sync, dialog_fields(operator_client, sync))
    saved.refresh_from_db()
    assert saved.deployed
    created.refresh_from_db()
    assert created.state == "deployed"
    assert "chat" in inventory(aws_gateway)["apis"][0]["routes"]


@pytest.fixture
def routes(record: ApiGateway) -> list[ApiGatewayAdditionalRoute]:
    """Two additional routes on the draft record (saved in Django only)."""
    return [
        ApiGatewayAdditionalRoute.objects.create(
            api_gateway=record,
            name=name,
            route_key=key,
            integration_url=f"https://backend.example.com/{key}",
        )
        for name, key in (("Shout", "shout-route"), ("Whisper", "whisper-route"))
    ]


def routes_data(record: ApiGateway, existing: list[dict], new: list[dict]) -> dict:
    """The change form's POST with ``existing`` route forms (ids) and ``new`` ones."""
    data = form_data(record)
    forms = [*existing, *new]
    data["additional_routes-TOTAL_FORMS"] = str(len(forms))
    data["additional_routes-INITIAL_FORMS"] = str(len(existing))
    for i, route in enumerate(forms):
        data[f"additional_routes-{i}-api_gateway"] = str(record.pk)
        for key, value in route.items():
            data[f"additional_routes-{i}-{key}"] = value
    return data


def test_view_permission_shows_the_routes_read_only(client_with, record, routes):
    viewer = client_with("wsapp.view_apigateway")
    response = viewer.get(change_url(record))
    assert response.status_code == 200
    content = response.content.decode()
    assert "shout-route" in content and "whisper-route" in content
    assert 'name="additional_routes-0-route_key"' not in content
    assert 'name="additional_routes-0-DELETE"' not in content
    assert 'name="additional_routes-MAX_NUM_FORMS" value="0"' in content  # nothing to add
    assert viewer.post(change_url(record), routes_data(record, [], [])).status_code == 403
    assert ApiGatewayAdditionalRoute.objects.filter(api_gateway=record).count() == 2


def test_change_permission_edits_adds_and_deletes_routes(client_with, record, routes):
    changer = client_with("wsapp.view_apigateway", "wsapp.change_apigateway")
    content = changer.get(change_url(record)).content.decode()
    assert 'name="additional_routes-0-route_key"' in content
    shout, whisper = routes
    data = routes_data(
        record,
        existing=[
            {
                "id": str(shout.pk),
                "name": "Shout",
                "route_key": "shout-louder",
                "integration_url": shout.integration_url,
            },
            {
                "id": str(whisper.pk),
                "name": "Whisper",
                "route_key": "whisper-route",
                "integration_url": whisper.integration_url,
                "DELETE": "on",
            },
        ],
        new=[
            {
                "name": "Chat",
                "route_key": "chat",
                "integration_url": "https://backend.example.com/chat",
            }
        ],
    )
    response = csrf_post(changer, change_url(record), data)
    assert response.status_code == 302, response.content[:3000]
    keys = ApiGatewayAdditionalRoute.objects.filter(api_gateway=record).values_list(
        "route_key", flat=True
    )
    assert sorted(keys) == ["chat", "shout-louder"]


def test_routes_are_hidden_without_a_gateway_permission(client_with, record, routes):
    # The route model's own permissions are not what the console asks for.
    other = client_with("wsapp.view_apigatewayadditionalroute")
    assert other.get(change_url(record)).status_code == 403


def test_a_created_gateway_cannot_be_deleted_before_teardown(operator_client, created):
    delete = reverse("admin:wsapp_apigateway_delete", args=[created.pk])
    assert operator_client.get(delete).status_code == 403


def test_a_draft_gateway_can_be_deleted(operator_client, record):
    delete = reverse("admin:wsapp_apigateway_delete", args=[record.pk])
    assert operator_client.get(delete).status_code == 200


# --- The AWS panel --------------------------------------------------------------------


def test_panel_shows_what_aws_holds(operator_client, created):
    content = operator_client.get(action_url(created, "aws")).content.decode()
    for key in ("$connect", "$disconnect", "$default"):
        assert key in content
    assert "https://backend.example.com/ws/connect" in content
    assert created.api_id in content
    assert created.deployment_id in content
    assert "None: AWS matches this record." in content


def test_panel_of_a_draft_says_it_is_not_created(operator_client, record, aws_gateway):
    content = operator_client.get(action_url(record, "aws")).content.decode()
    assert "Not created in AWS yet" in content
    assert control_calls(aws_gateway) == []


def test_panel_lists_differences_and_the_last_error(operator_client, created):
    ApiGateway.objects.filter(pk=created.pk).update(
        target_base_endpoint="https://moved.example.com/ws/", last_error="Deploying: boom"
    )
    content = operator_client.get(action_url(created, "aws")).content.decode()
    assert "https://moved.example.com/ws/connect" in content  # the difference names it
    assert "Last error:" in content and "Deploying: boom" in content


def test_panel_reports_an_unreachable_aws_in_one_line(
    operator_client, created, monkeypatch, settings
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", "http://127.0.0.1:9")
    settings.WEBSOCKETS = {"aws_max_attempts": 1, "aws_connect_timeout": 1}
    content = operator_client.get(action_url(created, "aws")).content.decode()
    assert "Could not read AWS:" in content
    assert "Traceback" not in content


def test_panel_is_loaded_after_the_page(operator_client, created, aws_gateway):
    content = operator_client.get(change_url(created)).content.decode()
    assert f'hx-get="{action_url(created, "aws")}"' in content
    assert control_calls(aws_gateway) == []  # the page itself never waits for AWS


def test_panel_needs_the_view_permission(staff_client, created):
    assert staff_client.get(action_url(created, "aws")).status_code == 403


# --- Provisioning buttons -------------------------------------------------------------


def test_buttons_are_on_the_change_page(operator_client, record):
    content = operator_client.get(change_url(record)).content.decode()
    for name in (
        "create_in_aws",
        "sync_gateway",
        "deploy_gateway",
        "create_custom_domain",
        "rotate_secret",
        "teardown_gateway",
    ):
        assert action_url(record, name) in content, name


def test_create_asks_first_and_changes_nothing_on_get(operator_client, record, aws_gateway):
    before = snapshot(ApiGateway, LogEntry)
    response = operator_client.get(action_url(record, "create_in_aws"))
    assert b"Create this gateway in AWS?" in response.content
    assert snapshot(ApiGateway, LogEntry) == before
    assert control_calls(aws_gateway) == []


def test_create_provisions_and_records_it(operator_client, record, aws_gateway):
    response = dialog_post(
        operator_client, action_url(record, "create_in_aws"), **htmx_headers(change_url(record))
    )
    assert response["HX-Redirect"] == change_url(record)
    record.refresh_from_db()
    assert record.state == "deployed"
    assert record.api_id
    assert inventory(aws_gateway)["apis"][0]["stages"] == {"production": True}
    [message] = page_messages(response)
    assert message.startswith("console-gw: Create: succeeded.")
    entry = last_log(record)
    assert entry.user.username == "ops"
    assert entry.change_message.startswith("Create: succeeded.")


def test_aws_error_is_a_short_message(operator_client, record, aws_gateway):
    fail_calls(aws_gateway, 1)
    response = dialog_post(operator_client, action_url(record, "create_in_aws"))
    [message] = page_messages(response)
    assert "Create: failed." in message
    assert "BadRequestException" in message
    assert "Traceback" not in message and "\n" not in message
    record.refresh_from_db()
    assert record.state == "failed"
    assert "failed" in last_log(record).change_message


def test_sync_shows_the_plan_before_applying_it(operator_client, created, aws_gateway):
    ApiGateway.objects.filter(pk=created.pk).update(
        target_base_endpoint="https://moved.example.com/ws/"
    )
    dialog = operator_client.get(action_url(created, "sync_gateway")).content.decode()
    assert "Apply the plan?" in dialog
    assert "https://moved.example.com/ws/connect" in dialog
    assert [c for c in control_calls(aws_gateway) if c["method"] != "GET"] == []
    sync = action_url(created, "sync_gateway")
    response = dialog_post(operator_client, sync, dialog_fields(operator_client, sync))
    assert "Sync: succeeded." in page_messages(response)[0]
    routes = inventory(aws_gateway)["apis"][0]["routes"]
    assert routes["$connect"]["uri"] == "https://moved.example.com/ws/connect"


def test_sync_applies_nothing_when_the_plan_changed_after_it_was_shown(
    operator_client, created, aws_gateway
):
    ApiGateway.objects.filter(pk=created.pk).update(
        target_base_endpoint="https://moved.example.com/ws/"
    )
    sync = action_url(created, "sync_gateway")
    shown = dialog_fields(operator_client, sync)
    # Someone else edits the record while the dialog is open.
    ApiGateway.objects.filter(pk=created.pk).update(
        target_base_endpoint="https://elsewhere.example.com/ws/"
    )
    clear_calls(aws_gateway)
    response = dialog_post(operator_client, sync, shown)
    content = response.content.decode()
    assert "AWS or the record changed since this plan was shown" in content
    assert "https://elsewhere.example.com/ws/connect" in content  # the new plan
    assert [c for c in control_calls(aws_gateway) if c["method"] != "GET"] == []
    assert not LogEntry.objects.exists()
    # The re-shown dialog carries the new plan: applying it is one press.
    renewed = re.search(r'name="shown_plan" value="([^"]*)"', content)
    assert renewed and renewed[1] != shown["shown_plan"]
    response = dialog_post(operator_client, sync, {"shown_plan": renewed[1]})
    assert "Sync: succeeded." in page_messages(response)[0]
    routes = inventory(aws_gateway)["apis"][0]["routes"]
    assert routes["$connect"]["uri"] == "https://elsewhere.example.com/ws/connect"


def test_sync_dialog_of_a_gateway_in_sync(operator_client, created):
    dialog = operator_client.get(action_url(created, "sync_gateway")).content.decode()
    assert "AWS already matches this record" in dialog


def test_deploy(operator_client, created, aws_gateway):
    previous = created.deployment_id
    response = dialog_post(operator_client, action_url(created, "deploy_gateway"))
    assert "Deploy: succeeded." in page_messages(response)[0]
    created.refresh_from_db()
    assert created.deployment_id != previous


def test_rotate_secret(operator_client, created, monkeypatch):
    # The grace period lets a real deployment reach every API Gateway node; the
    # local gateway switches at once.
    monkeypatch.setattr(provisioning.operations, "ROTATION_GRACE_SECONDS", 0.0)
    old = created.integration_secret
    response = dialog_post(operator_client, action_url(created, "rotate_secret"))
    created.refresh_from_db()
    assert created.integration_secret != old
    [message] = page_messages(response)
    assert "Rotate secret: succeeded." in message
    assert created.integration_secret not in message
    assert old not in last_log(created).change_message


def test_custom_domain_without_a_domain_explains_what_is_missing(operator_client, created):
    response = dialog_post(operator_client, action_url(created, "create_custom_domain"))
    [message] = page_messages(response)
    assert "Create custom domain: failed." in message
    assert "domain name and the certificate ARN" in message
    created.refresh_from_db()
    assert created.state == "deployed"


def test_custom_domain_from_the_console_shows_its_mapping_and_dns_target(
    operator_client, created, aws_gateway, moto_aws
):
    region = created.region or "us-east-1"
    ApiGateway.objects.filter(pk=created.pk).update(
        domain_name="ws.example.com",
        certificate_arn=issued_certificate(moto_aws, "ws.example.com", region=region),
        hosted_zone_id=hosted_zone(moto_aws, "example.com"),
    )
    response = dialog_post(operator_client, action_url(created, "create_custom_domain"))
    [message] = page_messages(response)
    assert "Create custom domain: succeeded." in message
    created.refresh_from_db()
    target = created.api_gateway_domain_name
    assert target and created.api_mapping_id
    content = operator_client.get(action_url(created, "aws")).content.decode()
    assert f"ws.example.com → stage production (mapping {created.api_mapping_id})" in content
    assert f'<span class="console-code">{target}</span>' in content
    assert "TLS_1_2" in content
    assert "data-dns-target-stale" not in content


def test_panel_reads_the_dns_target_from_aws(operator_client, created, aws_gateway, moto_aws):
    region = created.region or "us-east-1"
    ApiGateway.objects.filter(pk=created.pk).update(
        domain_name="ws.example.com",
        certificate_arn=issued_certificate(moto_aws, "ws.example.com", region=region),
    )
    dialog_post(operator_client, action_url(created, "create_custom_domain"))
    created.refresh_from_db()
    actual = created.api_gateway_domain_name
    ApiGateway.objects.filter(pk=created.pk).update(
        api_gateway_domain_name="d-old.execute-api.us-east-1.amazonaws.com"
    )
    content = operator_client.get(action_url(created, "aws")).content.decode()
    assert f'<span class="console-code">{actual}</span>' in content
    assert "The record still says d-old.execute-api.us-east-1.amazonaws.com" in content
    # Gone from AWS: the panel says so instead of showing the record's copy as current.
    aws_client = boto3.client("apigatewayv2", region_name=region, endpoint_url=aws_gateway.url)
    for mapping in aws_client.get_api_mappings(DomainName="ws.example.com")["Items"]:
        aws_client.delete_api_mapping(
            DomainName="ws.example.com", ApiMappingId=mapping["ApiMappingId"]
        )
    aws_client.delete_domain_name(DomainName="ws.example.com")
    content = operator_client.get(action_url(created, "aws")).content.decode()
    assert "data-dns-target-missing" in content
    assert "ws.example.com does not exist in AWS" in content


def test_teardown_needs_the_name_typed(operator_client, created, aws_gateway):
    response = dialog_post(
        operator_client, action_url(created, "teardown_gateway"), {"confirm_name": "nope"}
    )
    assert b"That is not this gateway" in response.content
    assert len(inventory(aws_gateway)["apis"]) == 1
    response = dialog_post(
        operator_client, action_url(created, "teardown_gateway"), {"confirm_name": "console-gw"}
    )
    assert "Teardown: succeeded." in page_messages(response)[0]
    assert inventory(aws_gateway)["apis"] == []
    created.refresh_from_db()
    assert (created.state, created.api_id) == ("draft", "")


@pytest.mark.parametrize(
    "name",
    [
        "create_in_aws",
        "sync_gateway",
        "deploy_gateway",
        "create_custom_domain",
        "rotate_secret",
        "teardown_gateway",
    ],
)
def test_every_button_needs_a_permission(name, client_with, created, aws_gateway):
    viewer = client_with("wsapp.view_apigateway")
    assert viewer.get(action_url(created, name)).status_code == 403
    response = dialog_post(viewer, action_url(created, name), {"confirm_name": "console-gw"})
    assert response.status_code == 403
    assert [c for c in control_calls(aws_gateway) if c["method"] != "GET"] == []
    assert not LogEntry.objects.exists()


def test_teardown_needs_the_delete_permission(client_with, created, aws_gateway):
    changer = client_with("wsapp.view_apigateway", "wsapp.change_apigateway")
    response = dialog_post(
        changer, action_url(created, "teardown_gateway"), {"confirm_name": "console-gw"}
    )
    assert response.status_code == 403
    assert len(inventory(aws_gateway)["apis"]) == 1
    assert changer.get(action_url(created, "deploy_gateway")).status_code == 200


def test_non_staff_are_sent_to_login(non_staff_client, created):
    response = non_staff_client.post(action_url(created, "deploy_gateway"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("name", ["create_in_aws", "sync_gateway", "teardown_gateway"])
def test_an_id_that_is_not_a_number_is_not_found(operator_client, aws_gateway, name):
    url = reverse(f"admin:wsapp_apigateway_{name}", args=["abc"])
    shown = operator_client.get(url)
    assert shown.status_code == 200
    assert b"No such gateway" in shown.content
    posted = dialog_post(operator_client, url, {"confirm_name": "abc"})
    assert posted.status_code in (200, 404)
    assert control_calls(aws_gateway) == []


def test_a_throttled_button_gives_up_soon_and_says_to_press_again(
    operator_client, record, aws_gateway, monkeypatch
):
    waits: list[float] = []
    # The console's own budget, with the waits recorded instead of slept.
    policy = dataclasses.replace(gateway_admin.CONSOLE_RETRY, sleep=waits.append)
    monkeypatch.setattr(gateway_admin, "CONSOLE_RETRY", policy)
    fail_calls(aws_gateway, *range(1, 60), error="TooManyRequestsException")
    response = dialog_post(operator_client, action_url(record, "create_in_aws"))
    [message] = page_messages(response)
    assert "Create: failed." in message
    assert "this is retryable: press the button again" in message
    assert 0 < sum(waits) <= 20
    record.refresh_from_db()
    assert record.operation_expires_at is None
    clear_faults(aws_gateway)
    response = dialog_post(operator_client, action_url(record, "create_in_aws"))
    assert "Create: succeeded." in page_messages(response)[-1]


# --- Throttling budgets -------------------------------------------------------------

#: Each button, the provisioning function it runs, and the budget it must pass.
BUDGETS = [
    ("create_in_aws", "create", "CONSOLE_RETRY"),
    ("sync_gateway", "sync", "CONSOLE_RETRY"),
    ("deploy_gateway", "deploy", "CONSOLE_RETRY"),
    ("rotate_secret", "rotate_secret", "CONSOLE_RETRY"),
    ("create_custom_domain", "create_custom_domain", "DOMAIN_RETRY"),
    ("teardown_gateway", "teardown", "DOMAIN_RETRY"),
]


@pytest.mark.parametrize(("name", "function", "budget"), BUDGETS)
def test_each_button_passes_its_throttling_budget(
    name, function, budget, operator_client, record, monkeypatch
):
    passed: list[provisioning.RetryPolicy] = []

    def operation(gateway, *, retry):
        passed.append(retry)
        return provisioning.Result(operation=function, ok=True, message="done")

    monkeypatch.setattr(provisioning, function, operation)
    url = action_url(record, name)
    dialog_post(
        operator_client, url, {**dialog_fields(operator_client, url), "confirm_name": "console-gw"}
    )
    assert passed == [getattr(gateway_admin, budget)]


@pytest.mark.parametrize("jitter", [0.0, 1.0])
@pytest.mark.parametrize("operation", ["create_domain_name", "delete_domain_name"])
def test_the_domain_budget_outlasts_one_throttling_window(operation, jitter):
    # AWS allows one domain name operation per 30 s: one wait must cover it.
    policy = dataclasses.replace(gateway_admin.DOMAIN_RETRY, jitter=lambda: jitter)
    waits = list(policy.delays(operation))
    assert waits and waits[0] >= 30
    assert sum(waits) <= policy.max_total_wait == 40
    assert policy.max_single_wait == 35


def test_the_other_buttons_keep_the_short_budget():
    policy = gateway_admin.CONSOLE_RETRY
    assert (policy.max_total_wait, policy.max_single_wait) == (20, 10)


def test_a_throttled_teardown_waits_longer_and_says_it_is_retryable(
    operator_client, created, aws_gateway, monkeypatch
):
    waits: list[float] = []
    policy = dataclasses.replace(gateway_admin.DOMAIN_RETRY, sleep=waits.append)
    monkeypatch.setattr(gateway_admin, "DOMAIN_RETRY", policy)
    fail_calls(aws_gateway, *range(1, 60), error="TooManyRequestsException")
    response = dialog_post(
        operator_client, action_url(created, "teardown_gateway"), {"confirm_name": "console-gw"}
    )
    [message] = page_messages(response)
    assert "Teardown: failed." in message
    assert "for 40 s; this is retryable: press the button again" in message
    assert 20 < sum(waits) <= 40
    clear_faults(aws_gateway)
    response = dialog_post(
        operator_client, action_url(created, "teardown_gateway"), {"confirm_name": "console-gw"}
    )
    assert "Teardown: succeeded." in page_messages(response)[-1]


# --- Bad input in the form: a clear error, never a 500 --------------------------------

ADD_URL = "/admin/wsapp/apigateway/add/"


def shown(response) -> str:
    """The page's text, HTML entities decoded (error messages quote values)."""
    import html

    return html.unescape(response.content.decode())


def new_gateway_data(**changes) -> dict:
    return form_data(
        ApiGateway(api_name="new-gw", target_base_endpoint="https://backend.example.com/ws/"),
        **changes,
    )


@pytest.mark.parametrize("tags", ["", "null", "  ", " null "])
def test_blank_tags_on_the_add_form_mean_no_tags(operator_client, tags):
    response = csrf_post(operator_client, ADD_URL, new_gateway_data(tags=tags))
    assert response.status_code == 302, response.content[:3000]
    assert ApiGateway.objects.get(api_name="new-gw").tags == {}


@pytest.mark.parametrize("tags", ["", "null"])
@pytest.mark.parametrize("hidden_initial", [True, False])
def test_clearing_the_tags_clears_them(operator_client, record, tags, hidden_initial):
    ApiGateway.objects.filter(pk=record.pk).update(tags={"team": "web"})
    data = form_data(record, tags=tags)
    if hidden_initial:  # what the page carried before (Django's hidden copy)
        data["initial-tags"] = '{"team": "web"}'
    response = csrf_post(operator_client, change_url(record), data)
    assert response.status_code == 302, response.content[:3000]
    record.refresh_from_db()
    assert record.tags == {}


def test_clearing_the_tags_of_a_deployed_gateway_puts_it_out_of_sync(operator_client, created):
    ApiGateway.objects.filter(pk=created.pk).update(tags={"team": "web"})
    response = csrf_post(operator_client, change_url(created), form_data(created, tags=""))
    assert response.status_code == 302, response.content[:3000]
    created.refresh_from_db()
    assert (created.tags, created.state) == ({}, "out_of_sync")


def test_blank_tags_on_a_record_without_tags_change_nothing(operator_client, created):
    response = csrf_post(operator_client, change_url(created), form_data(created, tags=""))
    assert response.status_code == 302, response.content[:3000]
    created.refresh_from_db()
    assert (created.tags, created.state) == ({}, "deployed")


#: Tags the form refuses, and what its message says.
BAD_TAGS = [
    pytest.param("[" * 5000 + "]" * 5000, "Tags: This JSON is nested too deeply", id="deep"),
    pytest.param(
        '{"a": ' * 50 + '"x"' + "}" * 50, "Tags is nested too deeply (more than 20", id="deep-50"
    ),
    pytest.param('{"team": "w\\u0000eb"}', "Tags contains a NUL character", id="nul-escape"),
    pytest.param('{"te\\u0000am": "web"}', "Tags contains a NUL character", id="nul-key"),
    pytest.param('{"team": "w\x00eb"}', "Tags contains a NUL character", id="nul-raw"),
    pytest.param('{"team": "\\ud800"}', "Tags contains text that is not valid Unicode", id="lone"),
    pytest.param('{"team": "a", "team": "b"}', 'Tags: The key "team" appears twice', id="dup"),
    pytest.param('{"team": NaN}', "Tags: NaN is not valid JSON", id="nan"),
    pytest.param('{"team": 1e999}', "Tags: The number 1e999 is too large for JSON", id="inf"),
    pytest.param('{"team": ' + "9" * 5000 + "}", "Tags: Number too long", id="long-int"),
    pytest.param("{team: web}", "Tags: This is not valid JSON", id="not-json"),
    pytest.param('["team", "web"]', "Tags must be a JSON object", id="list"),
    pytest.param("[]", "Tags must be a JSON object", id="empty-list"),
    pytest.param('""', "Tags must be a JSON object", id="empty-string"),
    pytest.param('{"team": 1}', "tag values must be strings", id="number"),
    pytest.param('{"aws:team": "web"}', "starts with 'aws:'", id="aws-prefix"),
    pytest.param(
        json_module.dumps({f"t{i}": "v" for i in range(50)}), "at most 49", id="too-many"
    ),
]


@pytest.mark.parametrize(("tags", "message"), BAD_TAGS)
def test_bad_tags_are_refused_with_a_reason(operator_client, record, tags, message):
    ApiGateway.objects.filter(pk=record.pk).update(tags={"team": "web"})
    before = snapshot(ApiGateway)
    response = csrf_post(operator_client, change_url(record), form_data(record, tags=tags))
    assert response.status_code == 200
    assert message in shown(response)
    assert snapshot(ApiGateway) == before


@pytest.mark.parametrize(("tags", "message"), BAD_TAGS[:3])
def test_bad_tags_are_refused_on_the_add_form_too(operator_client, tags, message):
    response = csrf_post(operator_client, ADD_URL, new_gateway_data(tags=tags))
    assert response.status_code == 200
    assert message in shown(response)
    assert not ApiGateway.objects.exists()


def test_refused_json_is_shown_again_as_typed(operator_client, record):
    typed = '{"team": 1e999}'
    response = csrf_post(operator_client, change_url(record), form_data(record, tags=typed))
    assert response.status_code == 200
    assert f">{typed}</textarea>" in shown(response)


GOOD_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-aaaa"

#: Field values the form refuses: (field, value, what the message says).
BAD_FIELDS = [
    ("domain_name", "https://ws.example.com", "Custom domain name 'https://ws.example.com'"),
    ("domain_name", "ws.example.com/chat", "without a path"),
    ("domain_name", "ws.example.com:443", "without a port"),
    ("domain_name", "*.example.com", "is a wildcard"),
    ("domain_name", "ws example.com", "contains spaces"),
    ("domain_name", "bücher.example", "ASCII form: 'xn--bcher-kva.example'"),
    ("certificate_arn", "my-certificate", "is not an ACM certificate ARN"),
    ("certificate_arn", GOOD_CERTIFICATE.replace("acm", "iam"), "its service is 'iam'"),
    (
        "certificate_arn",
        GOOD_CERTIFICATE.replace("us-east-1", "eu-west-1"),
        "is in eu-west-1, but the gateway is in us-east-1",
    ),
    ("hosted_zone_id", "zone-1", "Route 53 hosted zone id 'zone-1' is not a zone id"),
    ("hosted_zone_id", "z1d633pjn98ft9", "must be in capital letters"),
    ("region", "US-EAST-1", "Region 'US-EAST-1' must be in lower case: 'us-east-1'"),
    ("region", "mars-1", "Region 'mars-1' is not an AWS region name"),
    ("route_selection_expression", "$request.body.", "Route selection expression"),
    ("route_selection_expression", "${request.body.action", "must look like $request.body"),
    ("route_selection_expression", "action", "must look like $request.body.<key>"),
    ("target_base_endpoint", "https://u:hunter2@b.example.com/ws/", "user name or password"),
    ("target_base_endpoint", "https://b.example.com/{stage}/", "contains '{' or '}'"),
    ("target_base_endpoint", "https://b.example.com/%zz/", "malformed %-escape"),
    ("api_name", "", "API name is required."),
    ("domain_name", "a" * 254, "Custom domain name must be at most 253 characters (it has 254)"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS)
def test_bad_gateway_fields_are_refused_with_a_reason(
    operator_client, record, field, value, message
):
    ApiGateway.objects.filter(pk=record.pk).update(region="us-east-1")
    record.refresh_from_db()
    others = {"domain_name": "ws.example.com"} if field == "certificate_arn" else {}
    before = snapshot(ApiGateway)
    data = form_data(record, **{**others, field: value})
    response = csrf_post(operator_client, change_url(record), data)
    assert response.status_code == 200
    assert message in shown(response)
    assert snapshot(ApiGateway) == before


def test_good_domain_values_are_saved_normalised(operator_client, record):
    data = form_data(
        record,
        region="us-east-1",
        domain_name="WS.Example.com.",
        certificate_arn=f"  {GOOD_CERTIFICATE} ",
        hosted_zone_id="/hostedzone/Z1D633PJN98FT9",
        route_selection_expression="${request.body.message.type}",
        tags='{"team": "web", "Cost centre": "R+D"}',
    )
    response = csrf_post(operator_client, change_url(record), data)
    assert response.status_code == 302, response.content[:3000]
    record.refresh_from_db()
    assert (record.domain_name, record.certificate_arn, record.hosted_zone_id) == (
        "ws.example.com",
        GOOD_CERTIFICATE,
        "Z1D633PJN98FT9",
    )
    assert record.route_selection_expression == "${request.body.message.type}"
    assert record.tags == {"team": "web", "Cost centre": "R+D"}
