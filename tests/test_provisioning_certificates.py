"""Custom domains refuse certificates API Gateway could not use, saying why."""

from __future__ import annotations

import pytest

from tests.helpers.moto import (  # noqa: F401  (fixtures)
    issued_certificate,
    moto_aws,
    moto_server,
    pending_certificate,
)
from wsapp import provisioning
from wsapp.models import ApiGateway

NO_WAIT = provisioning.RetryPolicy(sleep=lambda seconds: None)


@pytest.fixture
def gateway(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="cert-gateway",
        target_base_endpoint="https://www.example.com/ws/",
        region="us-east-1",
        domain_name="ws.example.com",
    )


def with_certificate(gateway: ApiGateway, arn: str) -> ApiGateway:
    gateway.certificate_arn = arn
    gateway.save()
    return gateway


def test_pending_certificate_is_refused_with_its_reason(moto_aws, gateway):
    arn = pending_certificate(moto_aws, "ws.example.com", region="us-east-1")
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    assert not result.ok
    assert (
        f"Certificate {arn} is PENDING_VALIDATION: finish DNS validation in ACM" in result.message
    )


def test_refusal_is_recorded_without_changing_the_state(moto_aws, gateway):
    arn = pending_certificate(moto_aws, "ws.example.com", region="us-east-1")
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    gateway.refresh_from_db()
    assert (gateway.state, gateway.last_error) == (ApiGateway.State.DRAFT, result.message)


def test_certificate_for_another_domain_is_refused(moto_aws, gateway):
    arn = issued_certificate(moto_aws, "api.example.org", region="us-east-1")
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    assert not result.ok
    assert "does not cover ws.example.com (it covers api.example.org)" in result.message


def test_wildcard_one_level_up_is_refused(moto_aws, gateway):
    gateway.domain_name = "a.ws.example.com"
    arn = issued_certificate(moto_aws, "*.example.com", region="us-east-1")
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    assert "does not cover a.ws.example.com" in result.message


def test_certificate_in_another_region_is_refused(moto_aws, gateway):
    arn = issued_certificate(moto_aws, "ws.example.com", region="eu-west-1")
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    assert not result.ok
    assert "is in eu-west-1, but the gateway is in us-east-1" in result.message


def test_unknown_certificate_is_refused(moto_aws, gateway):
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    assert not result.ok
    assert result.message.startswith(f"Reading certificate {arn}: ResourceNotFoundException")


def test_not_an_arn_is_refused(moto_aws, gateway):
    result = provisioning.create_custom_domain(
        with_certificate(gateway, "my-certificate"), retry=NO_WAIT
    )
    assert "is not an ACM certificate ARN" in result.message


def test_issued_covering_certificate_passes_the_check(moto_aws, gateway):
    arn = issued_certificate(
        moto_aws, "example.com", region="us-east-1", alternative_names=["*.example.com"]
    )
    result = provisioning.create_custom_domain(with_certificate(gateway, arn), retry=NO_WAIT)
    # Past the certificate: the next requirement is an API to map the domain to.
    assert result.message == (
        "Gateway cert-gateway has not been created in AWS yet: run create first."
    )


@pytest.mark.parametrize(
    ("domain", "names", "covered"),
    [
        ("ws.example.com", ["ws.example.com"], True),
        ("WS.Example.com.", ["ws.example.com"], True),
        ("ws.example.com", ["example.com", "*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("a.ws.example.com", ["*.example.com"], False),
        ("ws.example.com", ["*.ws.example.com"], False),
        ("wsexample.com", ["*.example.com"], False),
        ("ws.example.com", ["other.example.com"], False),
    ],
)
def test_certificate_covers(domain, names, covered):
    assert provisioning.certificate_covers(domain, names) is covered
