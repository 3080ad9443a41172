"""End to end through the operator console: Chromium ↔ live Django ↔ local API Gateway.

An operator signs in, creates and deploys a gateway from the console, syncs an
additional route after reading the plan, watches a chat page's socket appear in
the live sessions table (sorting and filtering it), opens the session's record,
sends it a test message (which the page receives), disconnects it, runs the
cleanup and watches its progress bar move and finish. Every console page is
screenshotted into test-artifacts/.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.admin import cleanup as console_cleanup
from dashboard.demo import DEFAULT_GATEWAY_NAME
from tests.helpers.browser import browser, new_page, screenshot  # noqa: F401  (fixtures)
from tests.helpers.console import (  # noqa: F401  (fixtures)
    ConsoleStack,
    HeldCleanup,
    console_stack,
    held_cleanup,
    make_sessions,
)
from tests.helpers.livestack import PASSWORD, wait_until
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute, CleanupRun, WebSocketSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: The live table refreshes every 5 s: a new row must show within one refresh
#: (plus the time the request takes).
ONE_REFRESH_MS = 8_000


def sign_in(page, stack: ConsoleStack, username: str) -> None:
    page.goto(stack.url("/admin/login/?next=/admin/"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(stack.url("/admin/"))


def confirm_dialog(page, button: str) -> None:
    """Submit the Unfold dialog an action button opened (htmx then reloads the page)."""
    dialog = page.locator("#modal-content #dialog")
    expect(dialog).to_be_visible()
    dialog.locator("button[type=submit]").filter(has_text=button).click()


def run_detail_action(page, url_path: str, submit: str) -> None:
    """Click a change-page button (found by its URL) and confirm its dialog."""
    page.locator(f'a[href$="/{url_path}/"]').first.click()
    confirm_dialog(page, submit)


def expect_message(page, text: str) -> None:
    expect(page.locator("body")).to_contain_text(text)


def test_operator_console_end_to_end(
    console_stack: ConsoleStack, new_page, held_cleanup: HeldCleanup
):
    get_user_model().objects.create_superuser("ops", password=PASSWORD)
    page = new_page("operator")
    sign_in(page, console_stack, "ops")
    screenshot(page, "console-overview")

    # --- Create the gateway record, then create and deploy it in the local gateway.
    page.goto(console_stack.url("/admin/wsapp/apigateway/add/"))
    page.fill("#id_api_name", DEFAULT_GATEWAY_NAME)
    page.fill("#id_target_base_endpoint", console_stack.url("/ws/"))
    page.fill("#id_stage_name", "test")
    page.fill("#id_default_channel_name", "general")
    page.locator("button[name=_continue]").click()
    expect(page).to_have_url(re.compile(r"/admin/wsapp/apigateway/\d+/change/$"))
    expect(page.locator("[data-not-created]")).to_be_visible()
    record = ApiGateway.objects.get(api_name=DEFAULT_GATEWAY_NAME)
    assert record.state == "draft"

    run_detail_action(page, "create-in-aws", "Create")
    expect_message(page, f"{DEFAULT_GATEWAY_NAME}: Create: succeeded.")
    expect(page.locator("[data-routes]")).to_contain_text("$connect")
    record.refresh_from_db()
    assert record.state == "deployed"

    run_detail_action(page, "deploy", "Deploy")
    expect_message(page, f"{DEFAULT_GATEWAY_NAME}: Deploy: succeeded.")
    expect(page.locator("[data-differences]")).to_contain_text("None: AWS matches this record.")
    screenshot(page, "console-gateway")

    # --- Sync shows its plan first: a route the record has and AWS does not.
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=record,
        name="Shout",
        route_key="shout",
        integration_url=console_stack.url("/ws/default"),
    )
    page.locator('a[href$="/sync/"]').first.click()
    plan = page.locator("#modal-content #dialog #sync-plan")
    expect(plan).to_contain_text("shout")
    screenshot(page, "console-sync-plan")
    confirm_dialog(page, "Apply the plan")
    expect_message(page, f"{DEFAULT_GATEWAY_NAME}: Sync: succeeded.")
    expect(page.locator("[data-routes]")).to_contain_text("shout")

    # --- The live sessions table picks up a new socket within one refresh.
    page.goto(console_stack.url("/admin/console/sessions/"))
    expect(page.locator("#sessions tbody")).to_contain_text("No sessions match these filters.")
    chat = page.context.new_page()  # same login: the demo chat opens a socket
    chat.goto(console_stack.url("/"))
    expect(chat.locator("#ws-state")).to_have_attribute("data-ws-state", "open")
    # A background tab gets no animation frames, which Playwright's clicks wait for.
    page.bring_to_front()
    session = WebSocketSession.objects.get(connected=True)
    row = page.locator(f'tr[data-connection-id="{session.connection_id}"]')
    expect(row).to_be_visible(timeout=ONE_REFRESH_MS)
    screenshot(page, "console-sessions")

    # --- Sort through htmx, then filter: the filter keeps the sort.
    page.locator('th[data-column="connection_id"] a[data-sort]').click()
    expect(page).to_have_url(re.compile(r"[?&]sort=connection_id(&|$)"))
    page.select_option("#id_connected", "any")
    expect(page).to_have_url(re.compile(r"[?&]connected=any(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]sort=connection_id(&|$)"))
    expect(page.locator('th[data-column="connection_id"]')).to_contain_text("↑")
    expect(row).to_be_visible()

    # --- The session's record, with what API Gateway knows about the connection.
    row.locator("a.console-link").click()
    expect(page).to_have_url(re.compile(r"/admin/wsapp/websocketsession/\d+/change/$"))
    expect(page.locator("#connection-panel")).to_contain_text("Source IP")
    screenshot(page, "console-session-record")
    page.goto(console_stack.url("/admin/console/sessions/"))

    # --- Send it a test message: the page receives it.
    row.locator("[data-action=send-test-message]").click()
    confirm_dialog(page, "Send")
    expect_message(page, f"{session.connection_id}: Send test message: succeeded. delivered.")
    expect(chat.locator("#messages .pushed")).to_have_text("Test message from the console")

    # --- Disconnect it through the management API.
    row = page.locator(f'tr[data-connection-id="{session.connection_id}"]')
    row.locator("[data-action=disconnect]").click()
    confirm_dialog(page, "Disconnect")
    expect_message(page, f"{session.connection_id}: Disconnect: succeeded. closed.")
    session.refresh_from_db()
    assert not session.connected
    # The chat client reconnects by design; wait for it so nothing is in flight.
    expect(chat.locator("#ws-state")).to_have_attribute("data-ws-state", "open")
    wait_until(
        lambda: WebSocketSession.objects.filter(connected=True).exists(),
        message="the chat page to reconnect",
    )
    chat.close()
    wait_until(
        lambda: not WebSocketSession.objects.filter(connected=True).exists(),
        message="the closed tab's $disconnect",
    )

    # --- Cleanup: the counts, then a run whose progress bar moves, then finishes. A
    # day passes first: by default the console keeps sessions closed in the last 24
    # hours. With 8 rows in batches of 2, the run is held after its first batch.
    closed_on = timezone.now() - timedelta(hours=30)
    make_sessions(record, 6, prefix="old", connected=False, disconnected_on=closed_on)
    WebSocketSession.objects.update(disconnected_on=closed_on)
    page.goto(console_stack.url("/admin/wsapp/cleanuprun/"))
    expect(page.locator('[data-cleanup="disconnected_sessions"] [data-count]')).to_have_text("8")
    page.locator('a[href$="/cleanuprun/run/"]').click()
    confirm_dialog(page, "Delete now")
    expect_message(page, "Cleanup started: 8 rows to delete.")
    progress = page.locator("#cleanup-progress")
    expect(progress).to_have_attribute("data-status", "running")
    expect(progress.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "25")
    expect(progress.locator(".console-progress-bar")).to_have_attribute("style", "width: 25%")
    expect(progress.locator("[data-progress-text]")).to_contain_text(
        "Deleting: 2 of 8 rows (25%)."
    )
    screenshot(page, "console-cleanup-running")
    page.evaluate("window.consoleNotReloaded = true")
    held_cleanup.release()
    expect(progress).to_have_attribute("data-status", "finished")
    # htmx's polling moved the bar: the page itself was not reloaded.
    assert page.evaluate("window.consoleNotReloaded === true")
    expect(progress.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    expect(progress.locator("[data-progress-text]")).to_contain_text("Finished: 8 rows deleted.")
    assert console_cleanup.join_runs(timeout=10)
    assert CleanupRun.objects.get().status == "finished"
    assert not WebSocketSession.objects.exists()
    screenshot(page, "console-cleanup")

    # --- Every other page renders; a screenshot of each.
    for path, name in [
        ("/admin/", "console-overview-after"),
        ("/admin/wsapp/apigateway/", "console-gateways"),
        ("/admin/wsapp/websockettoken/", "console-tokens"),
        ("/admin/wsapp/connectionratelimit/", "console-ratelimits"),
        ("/admin/wsapp/channelaccessrule/", "console-rules"),
        ("/admin/admin/logentry/", "console-history"),
    ]:
        page.goto(console_stack.url(path))
        expect(page.locator("#main")).to_be_visible()
        screenshot(page, name)
    expect(page.locator("body")).to_contain_text("Send test message: succeeded. delivered.")
    assert page.js_errors == []
