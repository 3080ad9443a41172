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
