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
def test_channel_rule_validation(pattern, access, permissions, ok, db):
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


def clean_errors(obj) -> dict[str, list[str]]:
    """The messages ``full_clean`` refuses ``obj`` with, by field ({} when it passes)."""
    try:
        obj.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return exc.message_dict
    return {}


@pytest.mark.parametrize(
    ("field", "value", "mentions"),
    [
        ("domain_name", "https://ws.example.com/", "Custom domain name"),
        ("domain_name", "*.example.com", "is a wildcard"),
        ("domain_name", "ws.example.com:443", "without a port"),
        ("domain_name", "bücher.example", "xn--bcher-kva.example"),
        ("certificate_arn", "my-certificate", "is not an ACM certificate ARN"),
        ("hosted_zone_id", "zone-1", "is not a zone id"),
        ("region", "US-EAST-1", "must be in lower case"),
        ("region", "us-east", "is not an AWS region name"),
        ("route_selection_expression", "$request.body.", "must look like $request.body.<key>"),
        ("route_selection_expression", "${request.body.x", "must look like $request.body.<key>"),
        ("target_base_endpoint", "https://u:p@www.example.com/ws/", "user name or password"),
        ("target_base_endpoint", "https://www.example.com/{x}/", "'{' or '}'"),
        ("target_base_endpoint", "https://www.example.com/%zz/", "malformed %-escape"),
        ("tags", ["team"], "must be a JSON object"),
        ("tags", [], "must be a JSON object"),
        ("tags", "", "must be a JSON object"),
        ("tags", {"aws:team": "web"}, "starts with 'aws:'"),
        ("tags", {"team": 5}, "tag values must be strings"),
    ],
)
def test_gateway_fields_are_validated(field, value, mentions):
    fields = {"domain_name": "ws.example.com"} if field == "certificate_arn" else {}
    gateway = make_gateway(**{**fields, field: value})
    errors = clean_errors(gateway)
    assert list(errors) == [field], errors
    [message] = errors[field]
    assert mentions in message


def test_gateway_values_are_normalised():
    gateway = make_gateway(
        domain_name="WS.Example.COM.",
        certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/abc",
        hosted_zone_id="/hostedzone/Z1D633PJN98FT9",
        region="eu-west-1",
        route_selection_expression="${request.body.message.type}",
        tags=None,
    )
    assert clean_errors(gateway) == {}
    assert gateway.domain_name == "ws.example.com"
    assert gateway.hosted_zone_id == "Z1D633PJN98FT9"
    assert gateway.tags == {}


def test_surrounding_spaces_are_stripped():
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    gateway = make_gateway(
        domain_name=" ws.example.com\n",
        certificate_arn=f"  {arn}\n",
        hosted_zone_id=" Z1D633PJN98FT9 ",
        region=" eu-west-1 ",
    )
    assert clean_errors(gateway) == {}
    assert (gateway.domain_name, gateway.certificate_arn) == ("ws.example.com", arn)
    assert (gateway.hosted_zone_id, gateway.region) == ("Z1D633PJN98FT9", "eu-west-1")


def test_certificate_must_be_in_the_gateways_region():
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    gateway = make_gateway(domain_name="ws.example.com", certificate_arn=arn, region="us-east-1")
    assert clean_errors(gateway) == {
        "certificate_arn": [
            f"Certificate {arn} is in eu-west-1, but the gateway is in us-east-1: a regional "
            "custom domain needs a certificate in us-east-1; request or import one there."
        ]
    }
    # Without a region of its own the gateway uses the settings': provisioning checks it.
    gateway.region = ""
    assert clean_errors(gateway) == {}


def test_tags_none_are_saved_as_no_tags(db):
    gateway = make_gateway(tags=None)
    gateway.save()
    assert ApiGateway.objects.get().tags == {}


def test_existing_records_still_load_and_save(db):
    # Written before the fields were validated: loading and saving never validates.
    gateway = make_gateway()
    gateway.save()
    ApiGateway.objects.filter(pk=gateway.pk).update(
        region="Somewhere", domain_name="https://old.example.com", tags=["old"]
    )
    gateway = ApiGateway.objects.get()
    gateway.save()
    assert set(clean_errors(gateway)) == {"region", "domain_name", "tags"}


def rule_errors(**fields) -> list[str]:
    rule = ChannelAccessRule(pattern="vip", **fields)
    return clean_errors(rule).get("permissions", [])


@pytest.mark.parametrize(
    ("permissions", "mentions"),
    [
        (["."], "Permissions: '.' is not \"app_label.codename\""),
        ([" . "], "contains spaces"),
        (["auth."], 'is not "app_label.codename"'),
        (["auth.change_user", 5], "5 is a number"),
        (["auth.change user"], "contains spaces"),
        ({}, "Permissions must be a JSON list of permission names"),
        ({"auth": "change_user"}, "not an object"),
        ("auth.change_user", "not a string"),
        ([], "List at least one permission"),
        (["auth.change_user"] * 101, "at most 100"),
    ],
)
def test_rule_permission_names_are_validated(permissions, mentions, db):
    [message] = rule_errors(access="permissions", permissions=permissions)
    assert mentions in message


def test_rule_permissions_must_exist(db):
    [message] = rule_errors(
        access="permissions",
        permissions=["auth.change_user", "nonexistent.perm", "auth.chnage_user"],
    )
    assert message.startswith(
        "Permissions: no such permission auth.chnage_user, nonexistent.perm."
    )
    assert "auth.change_user," not in message
    assert rule_errors(access="permissions", permissions=["auth.change_user"]) == []
    assert rule_errors(access="permissions", permissions=["wsapp.view_apigateway"]) == []


@pytest.mark.parametrize("access", ["staff", "everyone", "nobody"])
def test_other_rules_refuse_an_object_for_permissions(access, db):
    [message] = rule_errors(access=access, permissions={})
    assert "must be a JSON list" in message
    assert rule_errors(access=access, permissions=None) == []
    assert rule_errors(access=access, permissions=[]) == []


def test_rule_permissions_none_are_saved_as_none(db):
    ChannelAccessRule(pattern="vip", access="staff", permissions=None).save()
    assert ChannelAccessRule.objects.get().permissions == []
