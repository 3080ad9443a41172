"""Cleanup in the console: counts, the run button, the progress bar, the run history.

A run deletes in a background thread, so the tests that start one use a
transactional database (the thread has its own connection) and wait for the
thread with ``join_runs`` (bounded).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse
from django.utils import timezone

from dashboard.admin import cleanup as console_cleanup
from tests.helpers.console import (  # noqa: F401  (fixtures)
    ago,
    client_with,
    dialog_post,
    htmx_headers,
    make_sessions,
    non_staff_client,
    operator,
    operator_client,
    page_messages,
    snapshot,
    staff_client,
)
from wsapp.models import ApiGateway, CleanupRun, WebSocketSession, WebSocketToken

LIST = "/admin/wsapp/cleanuprun/"
RUN = "/admin/wsapp/cleanuprun/run/"
COUNTS = "/admin/wsapp/cleanuprun/counts/"


def progress_url(run: CleanupRun) -> str:
    return reverse("admin:wsapp_cleanuprun_progress", args=[run.pk])


@pytest.fixture
def gateway(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="cleanup", target_base_endpoint="https://backend.example.com/ws/"
    )


@pytest.fixture
def leftovers(gateway) -> None:
    """5 sessions closed a day and more ago, 1 closed just now, 2 stale ones, 3 live ones.

    The console keeps sessions closed in the last 24 hours by default.
    """
    make_sessions(gateway, 5, prefix="closed", connected=False, disconnected_on=ago(hours=30))
    make_sessions(gateway, 1, prefix="recent", connected=False, disconnected_on=ago(hours=1))
    make_sessions(gateway, 2, prefix="stale", created_on=ago(hours=5))
    make_sessions(gateway, 3, prefix="live")


@pytest.fixture
def wait_for_runs():
    yield lambda: _join()
    _join()


def _join() -> None:
    assert console_cleanup.join_runs(timeout=30), "the cleanup thread did not finish"


def planned(content: bytes) -> dict[str, str]:
    rows = re.findall(
        r'data-cleanup="(\w+)"><td>[^<]*</td><td data-count>([^<]*)<', content.decode()
    )
    return dict(rows)


def test_counts_show_what_each_cleanup_would_delete(operator_client, leftovers):
    counts = planned(operator_client.get(COUNTS).content)
    assert counts == {
        "disconnected_sessions": "5",
        "stale_sessions": "2",
        "tokens": "0",
        "rate_limits": "0",
        "traffic_counters": "0",
    }


def test_console_default_keeps_a_day_of_tokens(operator_client, operator):
    # The Overview counts tokens issued and used in the last 24 hours from these rows.
    for name, age in (("hour", timedelta(hours=2)), ("old", timedelta(hours=25))):
        WebSocketToken.objects.create(
            token_hash=name, user=operator, created_at=timezone.now() - age
        )
    assert planned(operator_client.get(COUNTS).content)["tokens"] == "1"


def test_page_loads_the_counts_after_itself(operator_client, leftovers):
    content = operator_client.get(LIST).content.decode()
    assert f'hx-get="{COUNTS}"' in content
    assert "Run cleanup" in content


def test_dialog_shows_the_counts_and_deletes_nothing(operator_client, leftovers):
    before = snapshot(WebSocketSession, CleanupRun, LogEntry)
    content = operator_client.get(RUN).content.decode()
    assert "Run the cleanups?" in content
    assert "5 disconnected sessions" in content
    assert snapshot(WebSocketSession, CleanupRun, LogEntry) == before


@pytest.mark.django_db(transaction=True)
def test_run_deletes_in_the_background_and_records_the_run(
    operator_client, leftovers, wait_for_runs
):
    response = dialog_post(
        operator_client,
        RUN,
        {
            "disconnected_sessions": "on",
            "closed_hours": "24",
            "stale_sessions": "on",
            "stale_hours": "3",
            "token_age": "300",
            "rate_limit_age": "7",
        },
        **htmx_headers(LIST),
    )
    assert response["HX-Redirect"] == LIST
    assert page_messages(response) == ["Cleanup started: 7 rows to delete."]
    wait_for_runs()
    assert sorted(WebSocketSession.objects.values_list("connection_id", flat=True)) == [
        "live-0",
        "live-1",
        "live-2",
        "recent-0",
    ]
    run = CleanupRun.objects.get()
    assert (run.status, run.source, run.done, run.total) == ("finished", "console", 7, 7)
    assert run.user.username == "ops"
    assert run.counts == {"disconnected_sessions": 5, "stale_sessions": 2}
    started, ended = LogEntry.objects.filter(object_id=str(run.pk)).order_by("pk")
    assert started.action_flag == ADDITION
    assert started.change_message.startswith("Cleanup run started: 7 rows")
    # PostgreSQL's jsonb keeps CleanupRun.counts in its own key order.
    assert ended.change_message.startswith("Cleanup run: succeeded. Deleted ")
    assert "Deleted 5 disconnected sessions." in ended.change_message
    assert "Deleted 2 stale sessions." in ended.change_message
    assert ended.user.username == "ops"


@pytest.mark.django_db(transaction=True)
def test_progress_polls_until_the_run_ends(operator_client, leftovers, wait_for_runs):
    dialog_post(operator_client, RUN, {"disconnected_sessions": "on", **_ages()})
    wait_for_runs()
    run = CleanupRun.objects.get()
    response = operator_client.get(progress_url(run), headers=htmx_headers(LIST))
    assert response.status_code == 286  # htmx stops polling
    content = response.content.decode()
    assert 'data-status="finished"' in content
    assert "hx-trigger" not in content
    assert 'aria-valuenow="100"' in content
    assert "Deleted 5 disconnected sessions." in content


def _ages() -> dict[str, str]:
    return {"closed_hours": "24", "stale_hours": "3", "token_age": "300", "rate_limit_age": "7"}


def test_progress_of_a_running_run_keeps_polling(operator_client, operator):
    run = CleanupRun.objects.create(source="console", total=200, done=50, user=operator)
    response = operator_client.get(progress_url(run))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'hx-trigger="every 1s"' in content
    assert 'aria-valuenow="25"' in content
    assert "Deleting: 50 of 200 rows (25%)." in content


def test_list_polls_the_active_run(operator_client, operator):
    run = CleanupRun.objects.create(source="console", total=10, user=operator)
    content = operator_client.get(LIST).content.decode()
    assert f'hx-get="{progress_url(run)}"' in content


def test_only_one_run_at_a_time(operator_client, operator, leftovers):
    CleanupRun.objects.create(source="clearWebSocketSessions", total=10)
    response = dialog_post(operator_client, RUN, {"disconnected_sessions": "on", **_ages()})
    assert page_messages(response) == [
        "A cleanup run is already in progress; wait for it to finish."
    ]
    assert CleanupRun.objects.count() == 1
    assert WebSocketSession.objects.count() == 11


def test_a_refused_run_is_recorded_in_the_history(operator_client, operator, leftovers):
    running = CleanupRun.objects.create(source="clearWebSocketSessions", total=10)
    dialog_post(operator_client, RUN, {"disconnected_sessions": "on", **_ages()})
    entry = LogEntry.objects.get()
    assert entry.user == operator
    assert entry.object_id == str(running.pk)
    assert entry.change_message == (
        "Cleanup run: failed. refused: A cleanup run is already in progress; wait for it "
        "to finish."
    )


@pytest.mark.django_db(transaction=True)
def test_a_run_abandoned_long_ago_does_not_block(operator_client, leftovers, wait_for_runs):
    CleanupRun.objects.create(source="console", started_at=timezone.now() - timedelta(hours=3))
    dialog_post(operator_client, RUN, {"disconnected_sessions": "on", **_ages()})
    wait_for_runs()
    assert CleanupRun.objects.filter(status="finished").count() == 1


def test_at_least_one_cleanup_must_be_chosen(operator_client, leftovers):
    response = dialog_post(operator_client, RUN, _ages())
    assert b"Choose at least one cleanup" in response.content
    assert not CleanupRun.objects.exists()


def test_token_age_below_the_expiry_is_refused(operator_client, leftovers):
    response = dialog_post(operator_client, RUN, {"tokens": "on", **_ages(), "token_age": "10"})
    assert b"may still be valid" in response.content
    assert not CleanupRun.objects.exists()


def test_running_needs_the_add_permission(client_with, leftovers):
    viewer = client_with("wsapp.view_cleanuprun")
    assert viewer.get(LIST).status_code == 200
    assert viewer.get(RUN).status_code == 403
    response = dialog_post(viewer, RUN, {"disconnected_sessions": "on", **_ages()})
    assert response.status_code == 403
    assert not CleanupRun.objects.exists()
    assert b"Run cleanup" not in viewer.get(LIST).content


def test_progress_needs_the_view_permission(staff_client, operator):
    run = CleanupRun.objects.create(source="console")
    assert staff_client.get(progress_url(run)).status_code == 403


def test_non_staff_are_sent_to_login(non_staff_client, db):
    response = non_staff_client.post(RUN, {"_form_submitted": "on"})
    assert response.status_code == 302


def test_runs_are_read_only(operator_client, operator):
    run = CleanupRun.objects.create(source="console", status="finished")
    assert operator_client.get(f"{LIST}add/").status_code == 403
    assert operator_client.get(f"{LIST}{run.pk}/delete/").status_code == 403
