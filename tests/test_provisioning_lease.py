"""One operation at a time per gateway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.helpers.localgateway import local_gateway, make_local_gateway  # noqa: F401
from tests.helpers.provisioning import aws_gateway, control_calls  # noqa: F401
from wsapp import provisioning
from wsapp.models import ApiGateway

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="leased", target_base_endpoint="https://www.example.com/ws/"
    )


def test_operation_refused_while_another_holds_the_lease(aws_gateway, record):
    ApiGateway.objects.filter(pk=record.pk).update(
        operation="sync",
        operation_token="someone-else",
        operation_expires_at=timezone.now() + timedelta(minutes=5),
    )
    result = provisioning.create(record)
    assert not result.ok
    assert "Another operation (sync) is running" in result.message
    assert control_calls(aws_gateway) == []
    record.refresh_from_db()
    assert record.state == ApiGateway.State.DRAFT
    assert not record.api_id


def test_expired_lease_is_taken_over_and_released(aws_gateway, record):
    ApiGateway.objects.filter(pk=record.pk).update(
        operation="create",
        operation_token="crashed-process",
        operation_expires_at=timezone.now() - timedelta(seconds=1),
    )
    result = provisioning.create(record)
    assert result.ok, result.message
    record.refresh_from_db()
    assert record.state == ApiGateway.State.DEPLOYED
    assert (record.operation, record.operation_token, record.operation_expires_at) == (
        "",
        "",
        None,
    )


def test_lease_released_after_a_failure(aws_gateway, record):
    from tests.helpers.provisioning import fail_calls

    fail_calls(aws_gateway, 1)
    assert not provisioning.create(record).ok
    record.refresh_from_db()
    assert record.operation_expires_at is None
    assert provisioning.create(record).ok
