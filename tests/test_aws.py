"""wsapp.aws builds every boto3 client."""

from __future__ import annotations

import pytest

from wsapp import aws


def test_region_from_settings(settings):
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-2"
    settings.AWS_REGION_NAME = "us-west-1"
    assert aws.client("apigatewayv2").meta.region_name == "eu-west-2"
    settings.AWS_GATEWAY_REGION_NAME = ""
    aws.clear_cache()
    assert aws.client("apigatewayv2").meta.region_name == "us-west-1"


def test_missing_region_is_one_clear_error(settings, monkeypatch):
    settings.AWS_GATEWAY_REGION_NAME = ""
    settings.AWS_REGION_NAME = ""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    aws.clear_cache()
    with pytest.raises(aws.AwsConfigurationError, match="AWS_GATEWAY_REGION_NAME"):
        aws.client("apigatewayv2")


def test_timeouts_and_retries_from_settings(settings):
    settings.WEBSOCKETS = {"aws_connect_timeout": 2, "aws_read_timeout": 7, "aws_max_attempts": 4}
    config = aws.client("sts").meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 7)
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}


@pytest.mark.parametrize(("settings_value", "expected"), [({}, 32), ({"send_pool_size": 8}, 8)])
def test_management_clients_pool_as_many_connections_as_the_send_pool(
    settings, settings_value, expected
):
    """A send runs send_pool_size calls at once on one client: each needs a connection."""
    settings.WEBSOCKETS = settings_value
    client = aws.management_client("https://abc.execute-api.us-east-1.amazonaws.com/prod")
    assert client.meta.config.max_pool_connections == expected


def test_endpoint_environment_variables_keep_working(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", "http://127.0.0.1:9")
    assert aws.client("apigatewayv2").meta.endpoint_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("name", ["AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL_ROUTE53"])
def test_route53_endpoint_both_spellings(monkeypatch, name):
    monkeypatch.setenv(name, "http://127.0.0.1:7")
    assert aws.client("route53").meta.endpoint_url == "http://127.0.0.1:7"


def test_clients_are_cached_per_endpoint():
    first = aws.management_client("http://127.0.0.1:1/a/prod")
    assert aws.management_client("http://127.0.0.1:1/a/prod") is first
    assert aws.management_client("http://127.0.0.1:1/b/prod") is not first


def test_error_message_is_one_line():
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": "GoneException", "Message": "gone"}}, "PostToConnection")
    assert aws.error_code(exc) == "GoneException"
    assert aws.error_message(exc) == "GoneException: gone"
    assert aws.error_message(RuntimeError("line one\nline two")) == "line one"


def test_management_endpoint_environment_variable_wins(monkeypatch):
    monkeypatch.setenv(
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "http://127.0.0.1:5/abc123defg/production"
    )
    client = aws.management_client("https://abc123defg.execute-api.us-east-1.amazonaws.com/prod")
    assert client.meta.endpoint_url == "http://127.0.0.1:5/abc123defg/production"


def test_management_endpoint_is_the_gateways_own_without_the_variable():
    endpoint = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
    assert aws.management_client(endpoint).meta.endpoint_url == endpoint


def test_login_close_config_is_one_short_attempt():
    config = aws.management_client(
        "http://127.0.0.1:1/a/prod", config=aws.login_close_config()
    ).meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 3)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    # A different config is a different cached client.
    assert aws.management_client("http://127.0.0.1:1/a/prod").meta.config.read_timeout == 15


def test_iam_profile_setting_selects_the_profile(settings, tmp_path, monkeypatch):
    config_file = tmp_path / "config"
    config_file.write_text("[profile wsapp-test]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    settings.AWS_IAM_PROFILE = "wsapp-test"
    settings.AWS_GATEWAY_REGION_NAME = ""
    settings.AWS_REGION_NAME = ""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    aws.clear_cache()
    assert aws._session().profile_name == "wsapp-test"
    # The profile's own region is used when no setting names one.
    assert aws.client("sts").meta.region_name == "ap-southeast-2"
