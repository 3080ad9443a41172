"""The AWS environment ``make run`` gives the site: every client reaches the local stack."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from dashboard import devstack
from tests.helpers.moto import moto_server  # noqa: F401  (fixture)
from wsapp import aws

#: Set by a developer's shell; none may leak into the local stack.
USER_VARIABLES = {
    "AWS_PROFILE": "production-admin",
    "AWS_SESSION_TOKEN": "a-real-session",
    "AWS_ROLE_ARN": "arn:aws:iam::111111111111:role/deploy",
    "AWS_ENDPOINT_URL_S3": "https://s3.example.com",
    "AWS_ENDPOINT_URL_APIGATEWAYV2": "https://apigateway.example.com",
}


@pytest.fixture
def local_environment(moto_server, monkeypatch, settings):
    """The variables of a stack whose moto is the test's and whose gateway is nowhere."""
    ports = devstack.Ports(moto=urlsplit(moto_server).port, gateway=9)
    # Through monkeypatch, so every variable apply_environment touches is restored.
    for name in [*devstack.local_aws_environment(ports), *devstack.AWS_VARIABLES_DROPPED]:
        monkeypatch.delenv(name, raising=False)
    for name, value in USER_VARIABLES.items():
        monkeypatch.setenv(name, value)
    devstack.apply_environment(devstack.local_aws_environment(ports))
    with devstack.local_aws_settings():
        yield ports
    aws.clear_cache()


def test_the_users_aws_setup_is_dropped(local_environment):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL_S3"):
        assert name not in os.environ, name
    assert os.environ["AWS_ENDPOINT_URL_APIGATEWAYV2"] == local_environment.gateway_url
    assert os.environ["AWS_ACCESS_KEY_ID"] == devstack.LOCAL_ACCESS_KEY


def test_sts_acm_and_route53_reach_moto(local_environment):
    """Real calls through wsapp.aws: a misspelt endpoint variable would reach AWS instead."""
    identity = aws.client("sts").get_caller_identity()
    assert identity["Account"] == "123456789012"  # moto's account
    assert "CertificateSummaryList" in aws.client("acm").list_certificates()
    assert "HostedZones" in aws.client("route53").list_hosted_zones()


def test_apigatewayv2_is_pointed_at_the_local_gateway(local_environment):
    assert aws.client("apigatewayv2").meta.endpoint_url == local_environment.gateway_url
