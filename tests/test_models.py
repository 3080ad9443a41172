"""Model validation and helpers."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from wsapp import conf
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute, ChannelAccessRule


def make_gateway(**kwargs) -> ApiGateway:
    fields = {"api_name": "g", "target_base_endpoint": "https://www.example.com/ws/"}
    fields.update(kwargs)
    return ApiGateway(**fields)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.example.com/ws", "https://www.example.com/ws/"),
        ("https://www.example.com/ws/", "https://www.example.com/ws/"),
        ("http://127.0.0.1:8000/ws", "http://127.0.0.1:8000/ws/"),
        ("http://localhost:8000/ws/", "http://localhost:8000/ws/"),
        ("http://[::1]:8000/ws/", "http://[::1]:8000/ws/"),
    ],
)
def test_target_base_endpoint_normalised(value, expected):
    gateway = make_gateway(target_base_endpoint=value)
    gateway.full_clean(validate_unique=False, validate_constraints=False)
    assert gateway.target_base_endpoint == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://www.example.com/ws/", "must use https"),
        ("ftp://www.example.com/ws/", "full URL"),
        ("www.example.com/ws/", "full URL"),
        ("https://www.example.com/ws/?x=1", "query string"),
        ("", "required"),
    ],
)
def test_target_base_endpoint_errors_say_what_is_wrong(value, message):
    gateway = make_gateway(target_base_endpoint=value)
    with pytest.raises(ValidationError) as excinfo:
        gateway.full_clean(validate_unique=False, validate_constraints=False)
    assert message in " ".join(excinfo.value.message_dict["target_base_endpoint"])


def test_save_normalises_endpoint_too(db):
    gateway = make_gateway(target_base_endpoint="https://www.example.com/ws")
    gateway.save()
    assert ApiGateway.objects.get().target_base_endpoint == "https://www.example.com/ws/"


def test_defaults_and_secret(db):
    gateway = make_gateway()
    gateway.save()
    other = make_gateway(api_name="h")
    other.save()
    assert gateway.route_selection_expression == "$request.body.action"
    assert gateway.stage_name == "production"
    assert gateway.state == ApiGateway.State.DRAFT
    assert len(gateway.integration_secret) >= 40
    assert gateway.integration_secret != other.integration_secret
    assert gateway.masked_secret == gateway.integration_secret[:4] + "…"
    assert gateway.integration_secret not in str(gateway)


def test_bad_selection_expression_and_tags():
    gateway = make_gateway(route_selection_expression="action", tags={"a": 1})
    with pytest.raises(ValidationError) as excinfo:
        gateway.full_clean(validate_unique=False, validate_constraints=False)
    assert set(excinfo.value.message_dict) == {"route_selection_expression", "tags"}


def test_management_endpoint_follows_aws_rule():
    gateway = make_gateway(api_endpoint="wss://abc.execute-api.eu-west-1.amazonaws.com")
    assert (
        gateway.management_endpoint == "https://abc.execute-api.eu-west-1.amazonaws.com/production"
    )
    local = make_gateway(api_endpoint="ws://127.0.0.1:8001/abc", stage_name="dev")
    assert local.management_endpoint == "http://127.0.0.1:8001/abc/dev"
    assert make_gateway().management_endpoint == ""


def test_secret_check_accepts_previous_during_rotation():
    gateway = make_gateway(integration_secret="new", previous_integration_secret="old")
    assert gateway.accepts_secret("new")
    assert gateway.accepts_secret("old")
    assert not gateway.accepts_secret("other")
    gateway.previous_integration_secret = ""
    assert not gateway.accepts_secret("old")


@pytest.mark.parametrize(
    ("key", "ok"),
    [("notifications", True), ("chat.send", True), ("$connect", False), ("bad key", False)],
)
def test_route_key_validation(key, ok):
    route = ApiGatewayAdditionalRoute(
        name="n", route_key=key, integration_url="https://www.example.com/ws/notify"
    )
    if ok:
        route.full_clean(exclude=["api_gateway"], validate_constraints=False)
    else:
        with pytest.raises(ValidationError):
            route.full_clean(exclude=["api_gateway"], validate_constraints=False)


def test_route_integration_url_must_be_https():
    route = ApiGatewayAdditionalRoute(
        name="n", route_key="k", integration_url="http://www.example.com/ws/k"
    )
    with pytest.raises(ValidationError) as excinfo:
        route.full_clean(exclude=["api_gateway"], validate_constraints=False)
    assert "https" in str(excinfo.value)


def test_route_key_unique_per_gateway(db):
    from django.db import IntegrityError, transaction

    gateway = make_gateway()
    gateway.save()
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="a", route_key="k", integration_url="https://x.example/ws/"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiGatewayAdditionalRoute.objects.create(
            api_gateway=gateway, name="b", route_key="k", integration_url="https://x.example/ws/"
        )


@pytest.mark.parametrize(
    ("pattern", "access", "permissions", "ok"),
    [
        ("support", "staff", [], True),
        ("support-*", "authenticated", [], True),
        ("*", "everyone", [], True),
        ("sup port", "staff", [], False),
        ("support-*-x", "staff", [], False),
        ("admins", "permissions", ["auth.change_user"], True),
        ("admins", "permissions", [], False),
        ("admins", "permissions", ["change_user"], False),
        ("admins", "staff", ["auth.change_user"], False),
    ],
)
def test_channel_rule_validation(pattern, access, permissions, ok):
    rule = ChannelAccessRule(pattern=pattern, access=access, permissions=permissions)
    if ok:
        rule.full_clean(validate_unique=False)
    else:
        with pytest.raises(ValidationError):
            rule.full_clean(validate_unique=False)


def test_channel_rule_matching():
    assert ChannelAccessRule(pattern="support-*").matches("support-eu")
    assert not ChannelAccessRule(pattern="support-*").matches("support")
    assert ChannelAccessRule(pattern="support").matches("support")
    assert not ChannelAccessRule(pattern="support").matches("support-eu")
    assert ChannelAccessRule(pattern="*").matches("anything")


def test_settings_validation_names_each_problem():
    assert conf.validate(None) == []
    assert conf.validate({}) == []
    problems = conf.validate(
        {
            "USE_WS_TOKEN": "yes",
            "token_expiry_seconds": 0,
            "channel_default_access": "maybe",
            "allowed_origins": ["https://ok.example", "https://bad.example/path"],
            "typo_setting": 1,
        }
    )
    joined = "\n".join(problems)
    for fragment in (
        "USE_WS_TOKEN",
        "token_expiry_seconds",
        "channel_default_access",
        "bad.example/path",
        "typo_setting",
    ):
        assert fragment in joined
    assert "ok.example" not in joined
    assert conf.validate([]) == ["WEBSOCKETS must be a dict, not list."]
