"""Fail each AWS call in turn; rerunning must converge to the clean run's end state.

For create, sync and teardown: count the calls of a clean run, then for every N make
call N fail, rerun, and compare everything AWS holds (listed through boto3) and the
record with the clean result. Create and sync fail API Gateway calls in the local
gateway (/_local/faults); teardown fails calls inside botocore (``boto_faults``), so its
Route 53 calls fail too. The "answer lost" loops let AWS apply call N and fail only its
answer, as when a connection drops after AWS acted.
"""

from __future__ import annotations

import pytest

from tests.helpers.moto import (  # noqa: F401  (fixtures)
    alias_records,
    hosted_zone,
    issued_certificate,
    moto_aws,
    moto_server,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    NO_WAIT,
    REGION,
    Interrupted,
    aws_gateway,
    boto_faults,
    clear_calls,
    clear_faults,
    control_calls,
    fail_calls,
    inventory,
    live_matches_config,
    local_gateway,
    make_local_gateway,
    record_summary,
    recorded_ids_exist,
)
from wsapp import provisioning
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute

EMPTY = {"apis": [], "domains": {}}
State = ApiGateway.State


@pytest.fixture
def record(db) -> ApiGateway:
    return reset_record(
        ApiGateway.objects.create(api_name="faulty", target_base_endpoint="https://x.test/")
    )


def reset_record(record: ApiGateway) -> ApiGateway:
    """The starting configuration: two additional routes."""
    record.target_base_endpoint = "https://www.example.com/ws/"
    record.route_selection_expression = "$request.body.action"
    record.stage_name = "production"
    record.api_description = "fault test"
    record.region = REGION
    record.tags = {"team": "web"}
    record.save()
    record.additional_routes.all().delete()
    for key in ("echo", "shout"):
        ApiGatewayAdditionalRoute.objects.create(
            api_gateway=record,
            name=key,
            route_key=key,
            integration_url=f"https://www.example.com/ws/{key}",
        )
    return record


def change_record(record: ApiGateway) -> None:
    """Everything sync must carry over: endpoint, expression, routes, stage, tags."""
    record.target_base_endpoint = "https://ws.example.org/v2/"
    record.route_selection_expression = "$request.body.type"
    record.stage_name = "live"
    record.api_description = "changed"
    record.tags = {"team": "platform"}
    record.save()
    record.additional_routes.filter(route_key="echo").update(
        integration_url="https://ws.example.org/v2/echo"
    )
    record.additional_routes.filter(route_key="shout").delete()
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record,
        name="whisper",
        route_key="whisper",
        integration_url="https://ws.example.org/v2/whisper",
    )


def assert_failed(result: provisioning.Result, record: ApiGateway, n: int) -> None:
    assert not result.ok, f"call {n} was injected to fail, yet the run succeeded"
    record.refresh_from_db()
    assert record.state == State.FAILED, n
    assert "Injected failure" in record.last_error, (n, record.last_error)


def assert_converged(local, record, expected_inventory, expected_record, n) -> None:
    assert inventory(local) == expected_inventory, f"AWS differs after failing call {n}"
    assert record_summary(record) == expected_record, f"record differs after failing call {n}"
    assert recorded_ids_exist(local, record), n
    assert live_matches_config(local, record), n
    assert provisioning.plan(record, retry=NO_WAIT) == [], n


def test_create_converges_after_any_failed_call(aws_gateway, record):
    clear_calls(aws_gateway)
    assert provisioning.create(record, retry=NO_WAIT).ok
    calls = len(control_calls(aws_gateway))
    expected_inventory = inventory(aws_gateway)
    expected_record = record_summary(record)
    assert expected_record["state"] == State.DEPLOYED
    assert provisioning.teardown(record, retry=NO_WAIT).ok

    for n in range(1, calls + 1):
        fail_calls(aws_gateway, n)
        assert_failed(provisioning.create(record, retry=NO_WAIT), record, n)
        clear_faults(aws_gateway)
        assert provisioning.create(record, retry=NO_WAIT).ok, n
        assert_converged(aws_gateway, record, expected_inventory, expected_record, n)
        assert provisioning.teardown(record, retry=NO_WAIT).ok, n
        assert inventory(aws_gateway) == EMPTY, n


def test_create_converges_after_any_lost_answer(aws_gateway, boto_faults, record):
    boto_faults.reset()
    assert provisioning.create(record, retry=NO_WAIT).ok
    calls = len(boto_faults.calls)
    expected_inventory = inventory(aws_gateway)
    expected_record = record_summary(record)
    assert provisioning.teardown(record, retry=NO_WAIT).ok

    for n in range(1, calls + 1):
        boto_faults.fail(n, after=True)
        assert_failed(provisioning.create(record, retry=NO_WAIT), record, n)
        boto_faults.reset()
        assert provisioning.create(record, retry=NO_WAIT).ok, n
        assert_converged(aws_gateway, record, expected_inventory, expected_record, n)
        assert provisioning.teardown(record, retry=NO_WAIT).ok, n
        assert inventory(aws_gateway) == EMPTY, n


def add_domain(moto_url: str, record: ApiGateway) -> None:
    record.domain_name = "ws.example.com"
    record.certificate_arn = issued_certificate(moto_url, "ws.example.com", region=REGION)
    record.save()


def recreate_and_change(record: ApiGateway, n: int) -> None:
    """Tear down, create the gateway and its domain again, then edit the record."""
    assert provisioning.teardown(record, retry=NO_WAIT).ok, n
    reset_record(record)
    assert provisioning.create(record, retry=NO_WAIT).ok, n
    assert provisioning.create_custom_domain(record, retry=NO_WAIT).ok, n
    change_record(record)


def test_sync_converges_after_any_failed_call(aws_gateway, moto_aws, record):
    # With a mapped domain, so that moving the mapping to the new stage fails too.
    add_domain(moto_aws, record)
    assert provisioning.create(record, retry=NO_WAIT).ok
    assert provisioning.create_custom_domain(record, retry=NO_WAIT).ok
    change_record(record)
    clear_calls(aws_gateway)
    assert provisioning.sync(record, retry=NO_WAIT).ok
    operations = [c["operation"] for c in control_calls(aws_gateway)]
    calls = len(operations)
    assert "UpdateApiMapping" in operations
    expected_inventory = inventory(aws_gateway)
    expected_record = record_summary(record)
    assert expected_inventory["apis"][0]["stages"] == {"live": True}
    assert expected_inventory["domains"] == {"ws.example.com": [("live", "")]}
    assert set(expected_inventory["apis"][0]["routes"]) == {
        "$connect", "$disconnect", "$default", "echo", "whisper"
    }  # fmt: skip

    for n in range(1, calls + 1):
        recreate_and_change(record, n)
        fail_calls(aws_gateway, n)
        assert_failed(provisioning.sync(record, retry=NO_WAIT), record, n)
        clear_faults(aws_gateway)
        assert provisioning.plan(record, retry=NO_WAIT), f"nothing left to do after call {n}?"
        assert provisioning.sync(record, retry=NO_WAIT).ok, n
        assert_converged(aws_gateway, record, expected_inventory, expected_record, n)


def test_sync_converges_after_any_lost_answer(aws_gateway, moto_aws, boto_faults, record):
    add_domain(moto_aws, record)
    assert provisioning.create(record, retry=NO_WAIT).ok
    assert provisioning.create_custom_domain(record, retry=NO_WAIT).ok
    change_record(record)
    boto_faults.reset()
    assert provisioning.sync(record, retry=NO_WAIT).ok
    operations = [c.operation for c in boto_faults.calls]
    calls = len(operations)
    assert {"UpdateApiMapping", "CreateDeployment", "DeleteStage"} <= set(operations)
    expected_inventory = inventory(aws_gateway)
    expected_record = record_summary(record)
    assert expected_inventory["domains"] == {"ws.example.com": [("live", "")]}

    for n in range(1, calls + 1):
        recreate_and_change(record, n)
        boto_faults.fail(n, after=True)
        assert_failed(provisioning.sync(record, retry=NO_WAIT), record, n)
        boto_faults.reset()
        assert provisioning.sync(record, retry=NO_WAIT).ok, n
        assert_converged(aws_gateway, record, expected_inventory, expected_record, n)


@pytest.mark.parametrize("after", [False, True], ids=["failed", "answer-lost"])
def test_teardown_converges_after_any_failed_call(
    aws_gateway, moto_aws, boto_faults, record, after
):
    zone = hosted_zone(moto_aws, "example.com")
    add_domain(moto_aws, record)
    record.hosted_zone_id = zone
    record.save()

    def set_up() -> None:
        assert provisioning.create(record, retry=NO_WAIT).ok
        assert provisioning.create_custom_domain(record, retry=NO_WAIT).ok
        assert len(alias_records(moto_aws, zone)) == 1

    set_up()
    boto_faults.reset()
    assert provisioning.teardown(record, retry=NO_WAIT).ok
    calls = len(boto_faults.calls)
    assert {c.service for c in boto_faults.calls} == {"apigatewayv2", "route53"}
    expected_record = record_summary(record)
    assert expected_record["state"] == State.DRAFT

    for n in range(1, calls + 1):
        set_up()
        boto_faults.fail(n, after=after)
        assert_failed(provisioning.teardown(record, retry=NO_WAIT), record, n)
        boto_faults.reset()
        assert provisioning.teardown(record, retry=NO_WAIT).ok, n
        assert inventory(aws_gateway) == EMPTY, n
        assert alias_records(moto_aws, zone) == [], n
        assert record_summary(record) == expected_record, n
        assert (record.api_id, record.api_mapping_id, record.api_gateway_domain_name) == (
            "",
            "",
            "",
        )


def test_throttled_calls_are_waited_out(aws_gateway, record):
    clear_calls(aws_gateway)
    assert provisioning.create(record, retry=NO_WAIT).ok
    operations = [c["operation"] for c in control_calls(aws_gateway)]
    assert provisioning.teardown(record, retry=NO_WAIT).ok

    waits: list[float] = []
    # GetApis throttled once, CreateDeployment twice (numbers shift by the extra call).
    deployment = operations.index("CreateDeployment") + 1 + 1
    fail_calls(aws_gateway, 1, deployment, deployment + 1, error="TooManyRequestsException")
    result = provisioning.create(record, retry=provisioning.RetryPolicy(sleep=waits.append))
    assert result.ok, result.message
    # 1 s base for GetApis; 5 s then 10 s for CreateDeployment; up to +25% jitter.
    assert len(waits) == 3
    assert 1 <= waits[0] <= 1.25
    assert 5 <= waits[1] <= 6.25
    assert 10 <= waits[2] <= 12.5


def test_throttling_past_the_bound_fails_with_advice(aws_gateway, record):
    waits: list[float] = []
    fail_calls(aws_gateway, *range(1, 50), error="TooManyRequestsException")
    policy = provisioning.RetryPolicy(sleep=waits.append, max_total_wait=4)
    result = provisioning.create(record, retry=policy)
    assert not result.ok
    assert "AWS kept throttling get_apis for 4 s" in result.message
    assert 3 <= sum(waits) <= 4
    assert len(control_calls(aws_gateway)) == len(waits) + 1


def test_api_whose_id_was_lost_is_found_not_duplicated(aws_gateway, record):
    operations = []
    clear_calls(aws_gateway)
    assert provisioning.create(record, retry=NO_WAIT).ok
    operations = [c["operation"] for c in control_calls(aws_gateway)]
    expected = inventory(aws_gateway)
    assert provisioning.teardown(record, retry=NO_WAIT).ok

    fail_calls(aws_gateway, operations.index("CreateStage") + 1)
    assert not provisioning.create(record, retry=NO_WAIT).ok
    # As if the process died before saving the ids AWS returned.
    ApiGateway.objects.filter(pk=record.pk).update(api_id="", api_endpoint="", aws_resources={})
    record.refresh_from_db()
    clear_faults(aws_gateway)
    result = provisioning.create(record, retry=NO_WAIT)
    assert result.ok
    assert any("created by an earlier run" in action for action in result.actions)
    assert inventory(aws_gateway) == expected


def test_interrupted_runs_stay_creating_and_deleting(aws_gateway, boto_faults, record):
    """A run that dies leaves its in-progress state; each state change is timestamped."""

    def stored() -> tuple[str, object]:
        return ApiGateway.objects.values_list("state", "state_changed_at").get(pk=record.pk)

    seen: list[tuple[str, object]] = []
    _, last = stored()

    def check(expected: str) -> None:
        """The state now is ``expected``, stamped later than the previous change."""
        nonlocal last
        state, changed_at = stored()
        assert state == expected
        assert changed_at > last, (expected, changed_at, last)
        last = changed_at

    # Create dies at its third call: "creating" from before the first call, and after.
    boto_faults.reset()
    boto_faults.watch = lambda call: seen.append(stored())
    boto_faults.interrupt(3)
    with pytest.raises(Interrupted):
        provisioning.create(record, retry=NO_WAIT)
    assert len(seen) == 3 and {state for state, _ in seen} == {State.CREATING}
    check(State.CREATING)
    record.refresh_from_db()
    assert record.operation_expires_at is None  # the lease was given back

    # The rerun sets "creating" anew, then "deployed".
    seen.clear()
    assert provisioning.create(record, retry=NO_WAIT).ok
    assert {state for state, _ in seen} == {State.CREATING}
    assert all(changed_at > last for _, changed_at in seen)
    check(State.DEPLOYED)

    # Teardown dies at DeleteApi: "deleting" from before its first call, and left so.
    seen.clear()
    boto_faults.reset()
    assert provisioning.teardown(record, retry=NO_WAIT).ok
    delete_api = [c.operation for c in boto_faults.calls].index("DeleteApi") + 1
    assert provisioning.create(record, retry=NO_WAIT).ok
    check(State.DEPLOYED)
    boto_faults.watch = lambda call: seen.append(stored())
    boto_faults.interrupt(delete_api)
    with pytest.raises(Interrupted):
        provisioning.teardown(record, retry=NO_WAIT)
    assert len(seen) == delete_api and {state for state, _ in seen} == {State.DELETING}
    check(State.DELETING)
    record.refresh_from_db()
    assert record.api_id  # the API is still there, and recorded

    # The rerun finishes the job.
    boto_faults.reset()
    assert provisioning.teardown(record, retry=NO_WAIT).ok
    check(State.DRAFT)
    assert inventory(aws_gateway) == EMPTY
