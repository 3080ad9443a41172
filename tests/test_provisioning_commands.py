"""The gateway commands fail with one clear line, never a traceback, and succeed
against the local stack (the local gateway for API Gateway, moto for ACM and Route 53)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.helpers.moto import (  # noqa: F401  (fixtures)
    alias_records,
    hosted_zone,
    issued_certificate,
    moto_aws,
    moto_server,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    REGION,
    aws_gateway,
    inventory,
    local_gateway,
    make_local_gateway,
)
from wsapp.models import ApiGateway

COMMANDS = [
    "createApiGateway",
    "createCustomDomain",
    "syncApiGateway",
    "deleteApiGateway",
    "deployApiGateway",
    "rotateGatewaySecret",
]


@pytest.fixture
def gateway(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="command-gateway", target_base_endpoint="https://www.example.com/ws/"
    )


@pytest.fixture
def no_region(settings, monkeypatch, tmp_path):
    settings.AWS_GATEWAY_REGION_NAME = ""
    settings.AWS_REGION_NAME = ""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    # No instance-metadata lookups: they would only time out here.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_pk_is_one_line(db, command):
    with pytest.raises(CommandError) as caught:
        run(command, "--pk=4242")
    assert str(caught.value).startswith("No API gateway with pk=4242.")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "args, created",
    [
        (["createApiGateway"], False),
        (["deleteApiGateway"], False),
        (["syncApiGateway"], False),
        (["createCustomDomain"], True),
        # A draft's dry run needs no AWS; a created gateway's reads it.
        (["syncApiGateway", "--dry-run"], True),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_missing_region_is_one_line(gateway, no_region, args, created):
    if created:
        ApiGateway.objects.filter(pk=gateway.pk).update(
            state=ApiGateway.State.DEPLOYED,
            api_id="abc123",
            domain_name="ws.example.com",
            certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x",
        )
    with pytest.raises(CommandError) as caught:
        run(*args, f"--pk={gateway.pk}")
    assert str(caught.value).startswith("No AWS region is configured")
    assert "\n" not in str(caught.value)
    gateway.refresh_from_db()
    assert gateway.state == (ApiGateway.State.DEPLOYED if created else ApiGateway.State.DRAFT)


def test_missing_region_leaves_the_state_alone(gateway, no_region):
    with pytest.raises(CommandError):
        run("createApiGateway", f"--pk={gateway.pk}")
    gateway.refresh_from_db()
    assert gateway.state == ApiGateway.State.DRAFT
    assert gateway.last_error.startswith("No AWS region is configured")


@pytest.mark.parametrize(
    "command", ["createApiGateway", "createCustomDomain", "deleteApiGateway", "syncApiGateway"]
)
def test_missing_credentials_is_one_line_and_leaves_the_state(
    gateway, no_credentials, monkeypatch, command
):
    # Never reached: credentials are checked before any request is sent.
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", "http://127.0.0.1:9")
    ApiGateway.objects.filter(pk=gateway.pk).update(
        state=ApiGateway.State.DEPLOYED,
        api_id="abc123",
        domain_name="ws.example.com",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x",
    )
    with pytest.raises(CommandError) as caught:
        run(command, f"--pk={gateway.pk}")
    assert str(caught.value).startswith("No usable AWS credentials")
    assert "\n" not in str(caught.value)
    gateway.refresh_from_db()
    assert gateway.state == ApiGateway.State.DEPLOYED
    assert gateway.last_error == str(caught.value)
    assert gateway.operation_expires_at is None


def test_missing_credentials_in_a_dry_run_is_one_line(gateway, no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", "http://127.0.0.1:9")
    ApiGateway.objects.filter(pk=gateway.pk).update(
        state=ApiGateway.State.DEPLOYED, api_id="abc123"
    )
    with pytest.raises(CommandError) as caught:
        run("syncApiGateway", f"--pk={gateway.pk}", "--dry-run")
    assert str(caught.value).startswith("No usable AWS credentials")
    gateway.refresh_from_db()
    assert gateway.state == ApiGateway.State.DEPLOYED


def test_invalid_record_is_one_line(gateway):
    ApiGateway.objects.filter(pk=gateway.pk).update(target_base_endpoint="http://example.com/")
    with pytest.raises(CommandError) as caught:
        run("createApiGateway", f"--pk={gateway.pk}")
    assert str(caught.value) == (
        "Invalid gateway record: target_base_endpoint: Target base endpoint must use https. "
        "API Gateway may only call plain http on a loopback host (local development); "
        "'example.com' is not one."
    )


def test_dry_run_of_a_draft_needs_no_aws(gateway, no_credentials):
    output = run("syncApiGateway", f"--pk={gateway.pk}", "--dry-run")
    assert "[api_missing] The API has not been created in AWS yet." in output
    assert "1 difference(s) found; nothing changed (dry run)." in output


def test_sync_of_a_draft_says_to_create_first(gateway):
    with pytest.raises(CommandError) as caught:
        run("syncApiGateway", f"--pk={gateway.pk}")
    assert str(caught.value) == (
        "Gateway command-gateway has not been created in AWS yet: run create first."
    )


def test_sync_of_a_draft_leaves_it_draft(gateway):
    with pytest.raises(CommandError):
        run("syncApiGateway", f"--pk={gateway.pk}")
    gateway.refresh_from_db()
    assert gateway.state == ApiGateway.State.DRAFT


def test_commands_create_map_and_delete_a_gateway(db, aws_gateway, moto_aws):
    record = ApiGateway.objects.create(
        api_name="command-life", target_base_endpoint="https://www.example.com/ws/", region=REGION
    )
    out = run("createApiGateway", f"--pk={record.pk}")
    assert "  - created API " in out
    assert "Gateway command-life deployed (" in out
    record.refresh_from_db()
    assert record.state == ApiGateway.State.DEPLOYED
    assert [api["name"] for api in inventory(aws_gateway)["apis"]] == ["command-life"]

    zone = hosted_zone(moto_aws, "example.com")
    record.domain_name = "ws.example.com"
    record.hosted_zone_id = zone
    record.certificate_arn = issued_certificate(moto_aws, "ws.example.com", region=REGION)
    record.save()
    out = run("createCustomDomain", f"--pk={record.pk}")
    assert "  - created domain name ws.example.com" in out
    assert "wss://ws.example.com now serves stage production of command-life." in out
    assert inventory(aws_gateway)["domains"] == {"ws.example.com": [("production", "")]}
    assert len(alias_records(moto_aws, zone)) == 1

    out = run("deleteApiGateway", f"--pk={record.pk}")
    assert "Gateway command-life torn down: nothing left in AWS." in out
    assert inventory(aws_gateway) == {"apis": [], "domains": {}}
    assert alias_records(moto_aws, zone) == []
    record.refresh_from_db()
    assert record.state == ApiGateway.State.DRAFT
