"""Shared validators: every bad value is a ValidationError that names the problem."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from wsapp.provisioning.desired import MANAGED_TAG
from wsapp.validators import (
    WSAPP_TAG,
    channel_name_error,
    normalise_domain_name,
    normalise_endpoint,
    normalise_hosted_zone_id,
    permission_name_error,
    validate_certificate_arn,
    validate_channel_pattern,
    validate_domain_name,
    validate_hosted_zone_id,
    validate_region,
    validate_route_key,
    validate_route_selection_expression,
    validate_stage_name,
    validate_tags,
)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("https://[bad/", "not a valid URL"),
        ("https://[::1", "not a valid URL"),
        ("https://www.example.com:99999/ws/", "not a valid URL"),
        ("https://www.example.com:http/ws/", "not a valid URL"),
        ("https://exa mple.com/ws/", "contains spaces"),
        ("https://under_score.example.com/ws/", "not a valid host name"),
        ("https://-leading.example.com/ws/", "not a valid host name"),
        ("https://" + "a" * 64 + ".example.com/ws/", "not a valid host name"),
        ("ftp://www.example.com/ws/", "full URL"),
        ("http://www.example.com/ws/", "must use https"),
        ("https://www.example.com/ws/?x=1", "query string"),
    ],
)
def test_bad_endpoints_are_validation_errors(value, mentions):
    with pytest.raises(ValidationError, match=mentions) as info:
        normalise_endpoint(value, field="Target base endpoint")
    assert "Target base endpoint" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "https://www.example.com/ws/",
        "https://www.example.com:8443/ws/",
        "https://xn--bcher-kva.example/ws/",
        "http://127.0.0.1:8000/ws/",
        "http://[::1]:8000/ws/",
        "http://localhost:8000/ws/",
        "https://203.0.113.7/ws/",
    ],
)
def test_good_endpoints_pass(value):
    assert normalise_endpoint(f"  {value} ") == value


@pytest.mark.parametrize(
    "validate",
    [validate_channel_pattern, validate_stage_name, validate_route_key],
    ids=["channel pattern", "stage", "route key"],
)
@pytest.mark.parametrize("value", ["good\n", "good\r\n", "\ngood"])
def test_names_with_line_breaks_are_refused(validate, value):
    validate("good")
    with pytest.raises(ValidationError):
        validate(value)


def test_channel_name_with_a_trailing_newline_is_refused():
    assert channel_name_error("lobby") is None
    assert channel_name_error("lobby\n") == (
        "Channel name may contain only letters, digits, '_' and '-'."
    )


@pytest.mark.parametrize(
    "value", ["https://www.example.com\n/ws/", "https://www.example.com/w s/", "https://x\t.com/"]
)
def test_urls_with_spaces_or_control_characters_are_refused(value):
    with pytest.raises(ValidationError, match="contains spaces or control characters"):
        normalise_endpoint(value, field="URL")


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("https://user:hunter2@www.example.com/ws/", "user name or password"),
        ("https://user@www.example.com/ws/", "user name or password"),
        ("https://www.example.com/{stage}/ws/", "contains '{' or '}'"),
        ("https://www.example.com/ws}/", "contains '{' or '}'"),
        ("https://www.example.com/a%zz/", "malformed %-escape ('%zz')"),
        ("https://www.example.com/a%2/", "malformed %-escape"),
        ("https://www.example.com/ws%", "malformed %-escape ('%')"),
    ],
)
def test_endpoints_with_credentials_braces_or_bad_escapes_are_refused(value, mentions):
    with pytest.raises(ValidationError) as info:
        normalise_endpoint(value, field="Target base endpoint")
    [message] = info.value.messages
    assert mentions in message
    assert message.startswith("Target base endpoint")
    assert "hunter2" not in message  # the password is not repeated back


def test_well_formed_escapes_pass():
    assert normalise_endpoint("https://www.example.com/a%2Fb%7e/") == (
        "https://www.example.com/a%2Fb%7e/"
    )


def refusal(validate, value) -> str:
    """The one message ``validate`` refuses ``value`` with."""
    with pytest.raises(ValidationError) as info:
        validate(value)
    [message] = info.value.messages
    return message


@pytest.mark.parametrize(
    "value",
    ["ws.example.com", "WS.Example.COM", "ws.example.com.", "xn--bcher-kva.example", "a-b.c.io"],
)
def test_good_domain_names_pass(value):
    validate_domain_name(value)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("https://ws.example.com", "without 'https://'"),
        ("ws.example.com/chat", "without a path"),
        ("ws.example.com:443", "without a port"),
        ("*.example.com", "is a wildcard"),
        ("ws .example.com", "contains spaces"),
        ("ws.exa\tmple.com", "contains spaces or control characters"),
        ("bücher.example", "ASCII form: 'xn--bcher-kva.example'"),
        ("203.0.113.7", "is an IP address"),
        ("localhost", "fully qualified name"),
        ("under_score.example.com", "not a valid host name"),
        ("-ws.example.com", "not a valid host name"),
        ("ws..example.com", "not a valid host name"),
        ("user@ws.example.com", "without a user name"),
    ],
)
def test_bad_domain_names_say_what_is_wrong(value, mentions):
    message = refusal(validate_domain_name, value)
    assert message.startswith("Custom domain name")
    assert mentions in message


def test_domain_names_are_stored_lower_case_without_the_trailing_dot():
    assert normalise_domain_name(" WS.Example.com. ") == "ws.example.com"


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        "arn:aws-cn:acm:cn-north-1:123456789012:certificate/abc",
        "arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/abc",
    ],
)
def test_good_certificate_arns_pass(value):
    validate_certificate_arn(value)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("my-certificate", "is not an ACM certificate ARN"),
        ("arn:aws:iam::123456789012:role/x", "its service is 'iam'"),
        ("arn:aws:acm:us-east-1:123456789012:certificate", "must end in certificate/<id>"),
        ("arn:aws:acm:us-east-1:123456789012:cert/abc", "must end in certificate/<id>"),
        ("arn:aws:acm:us-east-1:1234:certificate/abc", "must be 12 digits"),
        ("arn:aws:acm::123456789012:certificate/abc", "is not an AWS region name"),
        ("arn:aws:acm:US-EAST-1:123456789012:certificate/abc", "is not an AWS region name"),
        ("arn:nope:acm:us-east-1:123456789012:certificate/abc", "is not an AWS partition"),
        ("arn:aws:acm:us-east-1:123456789012:certificate/a b", "contains spaces"),
    ],
)
def test_bad_certificate_arns_say_what_is_wrong(value, mentions):
    message = refusal(validate_certificate_arn, value)
    assert message.startswith("Certificate ARN")
    assert mentions in message


@pytest.mark.parametrize("value", ["Z1D633PJN98FT9", "/hostedzone/Z1D633PJN98FT9", "Z9"])
def test_good_hosted_zone_ids_pass(value):
    validate_hosted_zone_id(value)
    assert normalise_hosted_zone_id(value).startswith("Z")


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("z1d633pjn98ft9", "capital letters, as Route 53 shows it: 'Z1D633PJN98FT9'"),
        ("Z1D6-33", "is not a zone id"),
        ("hostedzone/Z1D633", "is not a zone id"),
        ("/hostedzone/", "is not a zone id"),
        ("Z" * 33, "is not a zone id"),
    ],
)
def test_bad_hosted_zone_ids_say_what_is_wrong(value, mentions):
    message = refusal(validate_hosted_zone_id, value)
    assert message.startswith("Route 53 hosted zone id")
    assert mentions in message


@pytest.mark.parametrize(
    "value", ["us-east-1", "eu-west-2", "us-gov-west-1", "cn-north-1", "ap-southeast-7"]
)
def test_good_regions_pass(value):
    validate_region(value)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("US-EAST-1", "must be in lower case: 'us-east-1'"),
        ("Eu-West-2", "must be in lower case: 'eu-west-2'"),
        ("us-east", "is not an AWS region name"),
        ("useast1", "is not an AWS region name"),
        ("us east 1", "is not an AWS region name"),
        ("us-east-1\nx", "is not an AWS region name"),
    ],
)
def test_bad_regions_say_what_is_wrong(value, mentions):
    message = refusal(validate_region, value)
    assert message.startswith("Region")
    assert mentions in message


@pytest.mark.parametrize(
    "value",
    [
        "$request.body.action",
        "$request.body.message.type",
        "$request.body.my_key-2",
        "${request.body.action}",
        "${request.body.a.b}",
    ],
)
def test_good_selection_expressions_pass(value):
    validate_route_selection_expression(value)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("action", "must look like $request.body.<key>"),
        ("$request.body.", "must look like $request.body.<key>"),
        ("$request.body.a..b", "must look like $request.body.<key>"),
        ("${request.body.action", "must look like $request.body.<key>"),
        ("$request.body.action}", "must look like $request.body.<key>"),
        ("$request.header.action", "must look like $request.body.<key>"),
        ("$request.body.a b", "contains spaces"),
        ("$request.body.action\n", "contains spaces or control characters"),
        ("", "is required"),
    ],
)
def test_bad_selection_expressions_say_what_is_wrong(value, mentions):
    message = refusal(validate_route_selection_expression, value)
    assert message.startswith("Route selection expression")
    assert mentions in message


def test_selection_expressions_match_what_the_local_gateway_accepts():
    from wsapp.localgateway.expressions import selection_path
    from wsapp.localgateway.wire import ApiError

    for value in ["$request.body.a.b", "${request.body.a}", "$request.body.a..b", "${x}"]:
        try:
            selection_path(value)
            local_ok = True
        except ApiError:
            local_ok = False
        try:
            validate_route_selection_expression(value)
            ours_ok = True
        except ValidationError:
            ours_ok = False
        assert ours_ok == local_ok, value


def test_good_tags_pass():
    validate_tags({"team": "web", "Cost Centre": "R+D 1", "empty": ""})
    validate_tags({str(i): "v" for i in range(49)})
    validate_tags({"k" * 128: "v" * 256, "équipe": "accès/écrit:@=+-._"})


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        (["team", "web"], "must be a JSON object of tag names to values"),
        ("team", "not a string"),
        ({"team": 1}, "the value of 'team' is a number; tag values must be strings"),
        ({"team": None}, "the value of 'team' is null"),
        ({"team": ["web"]}, "is a list"),
        ({str(i): "v" for i in range(50)}, "50 tags is too many; at most 49"),
        ({"": "v"}, "a tag name cannot be empty"),
        ({"k" * 129: "v"}, "is 129 characters long; AWS allows at most 128"),
        ({"k": "v" * 257}, "is 257 characters long; AWS allows at most 256"),
        ({"aws:team": "web"}, "starts with 'aws:'"),
        ({"AWS:Team": "web"}, "starts with 'aws:'"),
        ({WSAPP_TAG: "1"}, "is set by wsapp itself"),
        ({"team\ud800": "web"}, "not valid Unicode"),
        ({"team": "\udfffweb"}, "not valid Unicode"),
        ({"team": "w\x00eb"}, "NUL character"),
        ({"team": "w\neb"}, "contains '\\n'"),
        ({"team!": "web"}, "contains '!'"),
    ],
)
def test_bad_tags_say_what_is_wrong(value, mentions):
    message = refusal(validate_tags, value)
    assert message.startswith("Tags")
    assert mentions in message


def test_the_reserved_tag_is_the_one_provisioning_adds():
    assert WSAPP_TAG == MANAGED_TAG


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        (".", 'is not "app_label.codename"'),
        ("auth.", 'is not "app_label.codename"'),
        (".change_user", 'is not "app_label.codename"'),
        ("change_user", 'is not "app_label.codename"'),
        ("a.b.c", 'is not "app_label.codename"'),
        (" . ", "contains spaces"),
        ("auth.change user", "contains spaces"),
        ("auth.change_user\n", "contains spaces"),
        ("auth.\x00", "NUL character"),
        ("auth.\ud800", "not valid Unicode"),
        (5, "is a number"),
        (["auth.change_user"], "is a list"),
    ],
)
def test_bad_permission_names_say_what_is_wrong(value, mentions):
    message = permission_name_error(value)
    assert message is not None and message.startswith("Permissions")
    assert mentions in message


def test_permission_names_of_the_right_shape_pass():
    assert permission_name_error("auth.change_user") is None
