"""wsapp.cleanup and the clearWebSocketSessions / cleanupWebSocketTokens commands."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wsapp import cleanup, traffic
from wsapp.models import (
    ApiGateway,
    CleanupRun,
    ConnectionRateLimit,
    TrafficCounter,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway() -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="cleanup-tests", target_base_endpoint="https://backend.example.com/ws/"
    )


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("cleaner", password="not-used-here")


def ago(**delta: float):
    return timezone.now() - timedelta(**delta)


def add_sessions(gateway, count: int, *, prefix: str, **fields) -> None:
    WebSocketSession.objects.bulk_create(
        WebSocketSession(
            connection_id=f"{prefix}-{i}", channel_name="default", api_gateway=gateway, **fields
        )
        for i in range(count)
    )


def add_tokens(user, count: int, *, prefix: str, **fields) -> None:
    WebSocketToken.objects.bulk_create(
        WebSocketToken(token_hash=f"{prefix}-{i}", user=user, session_key_hash="s", **fields)
        for i in range(count)
    )


def add_rate_limits(count: int, *, prefix: str, last_attempt) -> None:
    ConnectionRateLimit.objects.bulk_create(
        ConnectionRateLimit(
            scope=ConnectionRateLimit.Scope.CONNECT_IP,
            key=f"{prefix}-{i}",
            window_start=last_attempt,
            window_minutes=5,
            last_attempt=last_attempt,
        )
        for i in range(count)
    )


def remaining_ids() -> list[str]:
    return sorted(WebSocketSession.objects.values_list("connection_id", flat=True))


def run_command(name: str, *args: str, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err, no_color=True, **options)
    return out.getvalue(), err.getvalue()


# --- each cleanup -----------------------------------------------------------------


def test_disconnected_sessions_are_deleted(gateway):
    add_sessions(gateway, 3, prefix="closed", connected=False, disconnected_on=ago(minutes=1))
    add_sessions(gateway, 2, prefix="live")

    assert cleanup.count_disconnected_sessions() == 3
    assert cleanup.delete_disconnected_sessions() == 3

    assert remaining_ids() == ["live-0", "live-1"]


def test_recently_closed_sessions_can_be_kept(gateway):
    add_sessions(gateway, 2, prefix="old", connected=False, disconnected_on=ago(hours=30))
    add_sessions(gateway, 1, prefix="recent", connected=False, disconnected_on=ago(hours=2))
    # Closed before disconnected_on was recorded: its last_seen tells its age.
    add_sessions(gateway, 1, prefix="legacy", connected=False, last_seen=ago(hours=48))
    add_sessions(gateway, 1, prefix="live")

    assert cleanup.count_disconnected_sessions(closed_hours=24) == 3
    assert cleanup.delete_disconnected_sessions(closed_hours=24) == 3

    assert remaining_ids() == ["live-0", "recent-0"]


def test_clear_sessions_command_with_closed_hours(gateway):
    add_sessions(gateway, 1, prefix="old", connected=False, disconnected_on=ago(hours=30))
    add_sessions(gateway, 1, prefix="recent", connected=False, disconnected_on=ago(hours=2))

    out, _ = run_command("clearWebSocketSessions", "--closed-hours", "24")

    assert "Deleted 1 disconnected session." in out
    assert remaining_ids() == ["recent-0"]


def test_stale_sessions_are_those_marked_connected_and_opened_long_ago(gateway):
    add_sessions(gateway, 2, prefix="stale", created_on=ago(hours=3))
    add_sessions(gateway, 1, prefix="recent", created_on=ago(hours=1))
    add_sessions(gateway, 1, prefix="closed-old", connected=False, created_on=ago(hours=5))

    assert cleanup.count_stale_sessions(2) == 2
    assert cleanup.delete_stale_sessions(2) == 2

    assert remaining_ids() == ["closed-old-0", "recent-0"]


def test_old_tokens_are_deleted_used_or_not(user):
    add_tokens(user, 2, prefix="old-unused", created_at=ago(seconds=301))
    add_tokens(user, 1, prefix="old-used", created_at=ago(seconds=400), used=True)
    add_tokens(user, 2, prefix="fresh", created_at=ago(seconds=10))

    assert cleanup.count_old_tokens(300) == 3
    assert cleanup.delete_old_tokens(300) == 3

    assert sorted(WebSocketToken.objects.values_list("token_hash", flat=True)) == [
        "fresh-0",
        "fresh-1",
    ]


def test_old_traffic_counters_are_deleted(gateway):
    TrafficCounter.objects.create(
        api_gateway=gateway, bucket=traffic.minute_of(ago(days=9)), messages=5
    )
    kept = TrafficCounter.objects.create(
        api_gateway=gateway, bucket=traffic.minute_of(ago(days=1)), messages=3
    )
    run = cleanup.run_cleanup(traffic_age=cleanup.DEFAULT_TRAFFIC_AGE, source="test")
    assert run.counts == {"traffic_counters": 1}
    assert list(TrafficCounter.objects.values_list("pk", flat=True)) == [kept.pk]


def test_tokens_command_deletes_old_traffic_counters(gateway):
    TrafficCounter.objects.create(api_gateway=gateway, bucket=traffic.minute_of(ago(days=3)))
    TrafficCounter.objects.create(api_gateway=gateway, bucket=traffic.minute_of(ago(hours=1)))
    out, _ = run_command("cleanupWebSocketTokens", "--traffic-age=2")
    assert "Deleted 1 traffic counter." in out
    assert TrafficCounter.objects.count() == 1
    out, _ = run_command("cleanupWebSocketTokens")  # default: 8 days
    assert TrafficCounter.objects.count() == 1


def test_tokens_command_refuses_a_bad_traffic_age():
    with pytest.raises(CommandError, match="--traffic-age"):
        run_command("cleanupWebSocketTokens", "--traffic-age=-1")


def test_tokens_command_keeps_the_300_second_example_working(user):
    add_tokens(user, 1, prefix="old", created_at=ago(seconds=400))
    add_tokens(user, 1, prefix="fresh", created_at=ago(seconds=10))
    out, _ = run_command("cleanupWebSocketTokens", "--token-age=300")
    assert "Deleted 1 token." in out
    assert list(WebSocketToken.objects.values_list("token_hash", flat=True)) == ["fresh-0"]


def test_old_rate_limit_records_are_deleted():
    add_rate_limits(3, prefix="old", last_attempt=ago(days=8))
    add_rate_limits(1, prefix="recent", last_attempt=ago(days=6))

    assert cleanup.count_old_rate_limits(7) == 3
    assert cleanup.delete_old_rate_limits(7) == 3

    assert list(ConnectionRateLimit.objects.values_list("key", flat=True)) == ["recent-0"]


# --- batches ----------------------------------------------------------------------


def test_deletion_runs_in_batches_with_progress(gateway):
    add_sessions(gateway, 25, prefix="closed", connected=False)
    add_sessions(gateway, 1, prefix="live")
    batches: list[int] = []

    with CaptureQueriesContext(connection) as queries:
        deleted = cleanup.delete_disconnected_sessions(batch_size=10, progress=batches.append)

    assert deleted == 25
    assert batches == [10, 10, 5]
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    assert remaining_ids() == ["live-0"]


def test_an_exact_multiple_of_the_batch_size_stops_cleanly(gateway):
    add_sessions(gateway, 20, prefix="closed", connected=False)
    batches: list[int] = []
    assert cleanup.delete_disconnected_sessions(batch_size=10, progress=batches.append) == 20
    assert batches == [10, 10]


def test_delete_in_batches_takes_any_queryset(user):
    add_tokens(user, 7, prefix="t", created_at=ago(days=1))
    assert cleanup.delete_in_batches(WebSocketToken.objects.all(), batch_size=3) == 7
    assert not WebSocketToken.objects.exists()


# --- dry run ----------------------------------------------------------------------


def test_dry_run_counts_and_changes_nothing(gateway, user):
    add_sessions(gateway, 4, prefix="closed", connected=False)
    add_sessions(gateway, 2, prefix="stale", created_on=ago(hours=3))
    add_tokens(user, 3, prefix="old", created_at=ago(hours=1))
    add_rate_limits(2, prefix="old", last_attempt=ago(days=30))

    assert cleanup.delete_disconnected_sessions(dry_run=True) == 4
    assert cleanup.delete_stale_sessions(2, dry_run=True) == 2
    assert cleanup.delete_old_tokens(300, dry_run=True) == 3
    assert cleanup.delete_old_rate_limits(7, dry_run=True) == 2

    assert WebSocketSession.objects.count() == 6
    assert WebSocketToken.objects.count() == 3
    assert ConnectionRateLimit.objects.count() == 2


# --- recorded runs ----------------------------------------------------------------


def test_run_cleanup_records_a_finished_run(gateway, user):
    add_sessions(gateway, 3, prefix="closed", connected=False)
    add_sessions(gateway, 1, prefix="stale", created_on=ago(hours=4))

    run = cleanup.run_cleanup(
        disconnected_sessions=True, stale_hours=2, source="console", user=user
    )

    run.refresh_from_db()
    assert run.source == "console"
    assert run.user == user
    assert run.dry_run is False
    assert run.status == CleanupRun.Status.FINISHED
    assert run.finished_at is not None
    assert run.counts == {"disconnected_sessions": 3, "stale_sessions": 1}
    assert (run.done, run.total) == (4, 4)
    assert run.error == ""
    assert cleanup.last_finished_run() == run


def test_a_dry_run_is_recorded_with_what_it_would_delete(gateway):
    add_sessions(gateway, 2, prefix="closed", connected=False)

    run = cleanup.run_cleanup(disconnected_sessions=True, dry_run=True)

    run.refresh_from_db()
    assert run.dry_run is True
    assert run.status == CleanupRun.Status.FINISHED
    assert run.counts == {"disconnected_sessions": 2}
    assert (run.done, run.total) == (2, 2)
    assert WebSocketSession.objects.count() == 2
    # Dry runs do not count as cleanup having run.
    assert cleanup.last_finished_run() is None


def test_the_run_row_is_updated_after_each_batch(gateway):
    add_sessions(gateway, 5, prefix="closed", connected=False)
    plan = cleanup.CleanupOptions(disconnected_sessions=True, batch_size=2)
    run = cleanup.start_cleanup(plan, source="console")

    stored = CleanupRun.objects.get(pk=run.pk)
    assert (stored.status, stored.done, stored.total) == ("running", 0, 5)
    seen: list[tuple[int, int]] = []

    def poll(current: CleanupRun) -> None:
        # What a console polling the row would read mid-run.
        row = CleanupRun.objects.get(pk=current.pk)
        seen.append((row.done, row.total))

    cleanup.perform_cleanup(run, plan, progress=poll)

    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert CleanupRun.objects.get(pk=run.pk).status == CleanupRun.Status.FINISHED


def test_a_failing_run_is_recorded_as_failed(gateway):
    add_sessions(gateway, 5, prefix="closed", connected=False)
    plan = cleanup.CleanupOptions(disconnected_sessions=True, batch_size=2)

    def stop(run: CleanupRun) -> None:
        raise RuntimeError("stopped by test")

    with pytest.raises(RuntimeError):
        cleanup.run_cleanup(plan, source="console", progress=stop)

    run = CleanupRun.objects.get()
    assert run.status == CleanupRun.Status.FAILED
    assert run.error == "RuntimeError: stopped by test"
    assert run.finished_at is not None
    # The first batch was committed and counted before the failure.
    assert run.done == 2
    assert WebSocketSession.objects.count() == 3


def test_cleanup_options_are_validated():
    with pytest.raises(ValueError, match="at least one cleanup"):
        cleanup.CleanupOptions()
    with pytest.raises(ValueError, match="stale_hours must be 0 or more hours, not -1"):
        cleanup.CleanupOptions(stale_hours=-1)
    with pytest.raises(ValueError, match="batch_size must be between 1 and 10,000, not 0"):
        cleanup.CleanupOptions(disconnected_sessions=True, batch_size=0)
    with pytest.raises(ValueError, match="token_age must be a number of seconds"):
        cleanup.CleanupOptions(token_age="300")
    with pytest.raises(ValueError, match="rate_limit_age must be at most"):
        cleanup.CleanupOptions(rate_limit_age=10**9)


# --- commands ---------------------------------------------------------------------


def test_clear_sessions_command_prints_counts(gateway):
    add_sessions(gateway, 2, prefix="closed", connected=False)
    add_sessions(gateway, 1, prefix="stale", created_on=ago(hours=5))

    out, _ = run_command("clearWebSocketSessions")

    assert "Deleted 2 disconnected sessions." in out
    assert "stale" not in out
    assert remaining_ids() == ["stale-0"]
    run = CleanupRun.objects.get()
    assert run.source == "clearWebSocketSessions"
    assert f"cleanup run #{run.pk}" in out


def test_clear_sessions_command_with_stale_hours(gateway):
    add_sessions(gateway, 1, prefix="closed", connected=False)
    add_sessions(gateway, 1, prefix="stale", created_on=ago(hours=5))
    add_sessions(gateway, 1, prefix="live", created_on=ago(hours=1))

    out, err = run_command("clearWebSocketSessions", "--stale-hours", "3", "--batch-size", "1")

    assert "Deleted 1 disconnected session." in out
    assert "Deleted 1 stale session." in out
    assert err == ""
    assert remaining_ids() == ["live-0"]


def test_clear_sessions_command_dry_run(gateway):
    add_sessions(gateway, 2, prefix="closed", connected=False)

    out, _ = run_command("clearWebSocketSessions", "--dry-run")

    assert "Would delete 2 disconnected sessions." in out
    assert "Dry run: nothing was deleted." in out
    assert WebSocketSession.objects.count() == 2
    assert CleanupRun.objects.get().dry_run is True


def test_clear_sessions_command_warns_below_the_connection_limit(gateway):
    _, err = run_command("clearWebSocketSessions", "--stale-hours", "1")
    assert "under API Gateway's 2-hour connection limit" in err


def test_clear_sessions_command_shows_progress_at_verbosity_2(gateway):
    add_sessions(gateway, 3, prefix="closed", connected=False)
    out, _ = run_command("clearWebSocketSessions", "--batch-size", "2", verbosity=2)
    assert "2 of 3 rows deleted" in out
    assert "3 of 3 rows deleted" in out


def test_clear_sessions_command_is_quiet_at_verbosity_0(gateway):
    add_sessions(gateway, 1, prefix="closed", connected=False)
    out, _ = run_command("clearWebSocketSessions", verbosity=0)
    assert out == ""


def test_tokens_command_prints_counts(user):
    add_tokens(user, 2, prefix="old", created_at=ago(seconds=600))
    add_tokens(user, 1, prefix="new", created_at=ago(seconds=5))
    add_rate_limits(1, prefix="old", last_attempt=ago(days=10))
    add_rate_limits(1, prefix="new", last_attempt=ago(days=1))

    out, err = run_command("cleanupWebSocketTokens")

    assert "Deleted 2 tokens." in out
    assert "Deleted 1 rate-limit record." in out
    assert err == ""
    assert list(WebSocketToken.objects.values_list("token_hash", flat=True)) == ["new-0"]
    assert list(ConnectionRateLimit.objects.values_list("key", flat=True)) == ["new-0"]
    assert CleanupRun.objects.get().source == "cleanupWebSocketTokens"


def test_tokens_command_takes_ages(user):
    add_tokens(user, 1, prefix="t", created_at=ago(seconds=120))
    add_rate_limits(1, prefix="r", last_attempt=ago(days=2))

    out, _ = run_command("cleanupWebSocketTokens", "--token-age=100", "--rate-limit-age=1")

    assert "Deleted 1 token." in out
    assert "Deleted 1 rate-limit record." in out


def test_tokens_command_dry_run(user):
    add_tokens(user, 2, prefix="old", created_at=ago(hours=1))
    out, _ = run_command("cleanupWebSocketTokens", "--dry-run")
    assert "Would delete 2 tokens." in out
    assert "Would delete 0 rate-limit records." in out
    assert WebSocketToken.objects.count() == 2


def test_tokens_command_warns_when_valid_tokens_would_go(settings, user):
    settings.WEBSOCKETS = {"token_expiry_seconds": 60}
    _, err = run_command("cleanupWebSocketTokens", "--token-age", "30")
    assert "shorter than the token lifetime" in err


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("clearWebSocketSessions", ["--stale-hours", "-1"], "--stale-hours must be 0 or more"),
        ("clearWebSocketSessions", ["--closed-hours", "-1"], "--closed-hours must be 0 or more"),
        ("clearWebSocketSessions", ["--batch-size", "0"], "--batch-size must be between 1"),
        ("clearWebSocketSessions", ["--batch-size", "100000"], "--batch-size must be between"),
        ("clearWebSocketSessions", ["--stale-hours", "soon"], "invalid int value: 'soon'"),
        ("cleanupWebSocketTokens", ["--token-age", "-5"], "--token-age must be 0 or more"),
        ("cleanupWebSocketTokens", ["--rate-limit-age=-1"], "--rate-limit-age must be 0 or"),
        ("cleanupWebSocketTokens", ["--rate-limit-age=99999"], "--rate-limit-age must be at"),
    ],
)
def test_bad_arguments_are_command_errors(command, args, message):
    with pytest.raises(CommandError, match=message):
        run_command(command, *args)
    assert not CleanupRun.objects.exists()


def test_bad_keyword_arguments_are_command_errors():
    with pytest.raises(CommandError, match="--stale-hours must be 0 or more hours, not -2"):
        run_command("clearWebSocketSessions", stale_hours=-2)
