"""The console's Health page (``dashboard_health``): staff only, htmx partial, read-only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from dashboard.health import doc_sections, slugify_heading
from tests.helpers.health import (  # noqa: F401  (fixtures)
    SITE_CHECKS,
    aws_gateway,
    health_stack,
    local_gateway,
    make_local_gateway,
    moto_aws,
    moto_server,
    provision,
    record_cleanup_run,
)
from tests.helpers.livestack import demo_stack  # noqa: F401  (fixture)
from tests.helpers.provisioning import clear_calls, control_calls
from wsapp.health import CHECKS
from wsapp.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    CleanupRun,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

URL = "/admin/health/"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def staff_client(db, django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user("operator", is_staff=True))
    return client


def checks_shown(html: str) -> list[tuple[str, str]]:
    """(check id, status) of each result in the page, in order."""
    return re.findall(r'data-check-id="([^"]+)" data-status="([^"]+)"', html)


def groups_shown(html: str) -> list[str]:
    return re.findall(r'<section[^>]*data-subject="([^"]*)"', html)


def test_url_is_named_and_under_the_admin():
    assert reverse("dashboard_health") == URL


def test_anonymous_users_are_sent_to_the_admin_login(db):
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={URL}"


def test_users_who_are_not_staff_are_sent_to_the_admin_login(db, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("visitor"))
    for headers in ({}, HTMX):
        response = client.get(URL, headers=headers)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_page_sits_in_the_console_and_loads_results_with_htmx(
    staff_client, health_stack, provision
):
    provision()
    clear_calls(health_stack.local)
    response = staff_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title> Health |" in html
    assert 'id="nav-sidebar"' in html
    # The results arrive by htmx; Unfold's own htmx is the only copy on the page.
    assert re.search(
        r'id="health-results" data-state="loading"\s+hx-get="/admin/health/" hx-trigger="load"',
        html,
    )
    assert html.count("htmx.js") == 1
    # Rendering the page ran no check.
    assert checks_shown(html) == []
    assert control_calls(health_stack.local) == []


def test_htmx_request_gets_only_the_results_with_every_check(
    transactional_db, live_server, staff_client, health_stack, provision
):
    # The site's own ChatView answers at the live server (wsapp.H113), and its
    # chat_message handler serves the additional route (wsapp.H114).
    endpoint = f"{live_server.url}/ws/"
    gateway = provision(
        endpoint=endpoint, domain=True, routes={"chat_message": endpoint + "chat_message"}
    )
    record_cleanup_run()
    response = staff_client.get(URL, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="nav-sidebar"' not in html
    assert "HX-Request" in response["Vary"]
    assert checks_shown(html) and html.lstrip().startswith(
        '<div id="health-results" data-state="done" data-overall="pass"'
    ), [c for c in checks_shown(html) if c[1] != "pass"]
    assert groups_shown(html) == ["", gateway.api_name]
    assert checks_shown(html) == [
        *[(i, "pass") for i in SITE_CHECKS],
        *[(i, "pass") for i in CHECKS if i not in SITE_CHECKS],
    ]
    # Every live check, plus the one row of the configuration checks.
    assert re.search(rf'data-count="pass">.*?{len(CHECKS) + 1} passed', html, re.S)
    assert f"Gateway {gateway.api_name}" in html
    # Each check names its doc section, and shows it.
    assert "<code>docs/troubleshooting.md#cleanup-problems</code>" in html
    assert "## Cleanup problems" in html
    # Re-run asks again, with a GET (running the checks changes nothing).
    rerun = re.search(r'<button type="button" id="health-rerun"([^>]*)>', html)
    assert rerun
    assert 'hx-get="/admin/health/" hx-target="#health-results" hx-swap="outerHTML"' in rerun[1]
    assert "hx-post" not in html


def test_failures_and_warnings_show_badges_evidence_and_fix(staff_client, health_stack, provision):
    gateway = provision(routes={})
    health_stack.apigw().delete_api(ApiId=gateway.api_id)
    html = staff_client.get(URL, headers=HTMX).content.decode()
    shown = dict(checks_shown(html))
    assert shown["wsapp.H101"] == "fail"
    assert shown["wsapp.H405"] == "warn"
    assert 'data-overall="fail"' in html
    assert f"API {gateway.api_id} no longer exists in AWS" in html
    assert "Fix:</span> The recorded API is gone" in html
    # The failing gateway's group says so.
    assert re.search(rf'data-subject="{gateway.api_name}" data-worst="fail"', html)


def snapshot() -> dict[str, Any]:
    """Every row the checks could touch, as plain values."""
    models = (
        ApiGateway,
        ApiGatewayAdditionalRoute,
        WebSocketSession,
        WebSocketToken,
        ConnectionRateLimit,
        CleanupRun,
        LogEntry,
    )
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def test_running_the_checks_changes_nothing(staff_client, health_stack, provision):
    gateway = provision(domain=True)
    WebSocketSession.objects.create(
        connection_id="GoneGoneGon=", channel_name="c", api_gateway=gateway
    )
    before = snapshot()
    clear_calls(health_stack.local)
    for _ in range(2):
        assert staff_client.get(URL, headers=HTMX).status_code == 200
    assert snapshot() == before
    operations = [call["operation"] for call in control_calls(health_stack.local)]
    assert operations, "the checks read nothing from API Gateway"
    assert all(name.startswith("Get") for name in operations), operations


def test_health_page_is_green_for_the_demo_gateway(
    demo_stack, moto_aws, django_user_model, settings
):
    """The gateway ``make run`` creates, pointing at the live site: every check passes."""
    settings.DEBUG = True  # as under make run
    record_cleanup_run()
    client = Client()
    client.force_login(django_user_model.objects.create_user("operator", is_staff=True))
    html = client.get(URL, headers=HTMX).content.decode()
    shown = checks_shown(html)
    assert [i for i, _ in shown] == [
        *SITE_CHECKS,
        *[i for i in CHECKS if i not in SITE_CHECKS and not i.startswith("wsapp.H2")],
    ]
    assert {status for _, status in shown} == {"pass"}, shown
    assert groups_shown(html) == ["", demo_stack.api_gateway.api_name]


def test_doc_sections_are_split_by_heading():
    sections = doc_sections()
    assert sections["cleanup-problems"].startswith("## Cleanup problems")
    assert "## " not in sections["cleanup-problems"][3:]
    assert {info.anchor for info in CHECKS.values()} <= set(sections)
    assert slugify_heading("API gateway creation fails") == "api-gateway-creation-fails"
