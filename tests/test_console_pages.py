"""Every console page: who may open it, that it renders, and that a GET changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import NoReverseMatch, reverse

from tests.helpers.console import (  # noqa: F401  (fixtures)
    client_with,
    make_sessions,
    non_staff_client,
    operator,
    operator_client,
    snapshot,
    staff_client,
)
from wsapp.models import (
    ApiGateway,
    ChannelAccessRule,
    CleanupRun,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.django_db

ALL_MODELS = (
    ApiGateway,
    WebSocketSession,
    WebSocketToken,
    ChannelAccessRule,
    ConnectionRateLimit,
    CleanupRun,
    LogEntry,
)


@pytest.fixture
def gateway() -> ApiGateway:
    gateway = ApiGateway.objects.create(
        api_name="pages-gateway", target_base_endpoint="https://backend.example.com/ws/"
    )
    make_sessions(gateway, 3, channel_name="lobby")
    return gateway


def pages(gateway: ApiGateway) -> dict[str, tuple[str, str]]:
    """Page name -> (URL, the permission that opens it)."""
    session = WebSocketSession.objects.first()
    return {
        "overview": (reverse("admin:index"), ""),
        "sessions": (reverse("admin:console_sessions"), "wsapp.view_websocketsession"),
        "session": (
            reverse("admin:wsapp_websocketsession_change", args=[session.pk]),
            "wsapp.view_websocketsession",
        ),
        "gateways": (reverse("admin:wsapp_apigateway_changelist"), "wsapp.view_apigateway"),
        "gateway": (
            reverse("admin:wsapp_apigateway_change", args=[gateway.pk]),
            "wsapp.view_apigateway",
        ),
        "tokens": (reverse("admin:wsapp_websockettoken_changelist"), "wsapp.view_websockettoken"),
        "ratelimits": (
            reverse("admin:wsapp_connectionratelimit_changelist"),
            "wsapp.view_connectionratelimit",
        ),
        "rules": (
            reverse("admin:wsapp_channelaccessrule_changelist"),
            "wsapp.view_channelaccessrule",
        ),
        "cleanup": (reverse("admin:wsapp_cleanuprun_changelist"), "wsapp.view_cleanuprun"),
        "cleanup counts": (reverse("admin:wsapp_cleanuprun_counts"), "wsapp.view_cleanuprun"),
        "history": (reverse("admin:admin_logentry_changelist"), "admin.view_logentry"),
    }


PAGE_NAMES = [
    "overview",
    "sessions",
    "session",
    "gateways",
    "gateway",
    "tokens",
    "ratelimits",
    "rules",
    "cleanup",
    "cleanup counts",
    "history",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_superuser_opens_every_page(name, operator_client, gateway):
    url, _ = pages(gateway)[name]
    response = operator_client.get(url)
    assert response.status_code == 200, response.content[:2000]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_a_get_changes_nothing(name, operator_client, gateway):
    url, _ = pages(gateway)[name]
    before = snapshot(*ALL_MODELS)
    operator_client.get(url)
    assert snapshot(*ALL_MODELS) == before


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_non_staff_are_sent_to_the_login_page(name, non_staff_client, gateway):
    url, _ = pages(gateway)[name]
    response = non_staff_client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("name", [n for n in PAGE_NAMES if n != "overview"])
def test_staff_without_the_permission_get_403(name, staff_client, gateway):
    url, _ = pages(gateway)[name]
    assert staff_client.get(url).status_code == 403


@pytest.mark.parametrize("name", [n for n in PAGE_NAMES if n != "overview"])
def test_the_view_permission_opens_the_page(name, client_with, gateway):
    url, permission = pages(gateway)[name]
    assert client_with(permission).get(url).status_code == 200


def test_branding_is_the_projects_own(operator_client):
    response = operator_client.get(reverse("admin:index"))
    assert b"WebSockets console" in response.content
    assert b"Django administration" not in response.content
    assert b"Django site admin" not in response.content


def test_sidebar_links_every_console_page(operator_client, gateway):
    content = operator_client.get(reverse("admin:index")).content.decode()
    for name in ("sessions", "gateways", "tokens", "ratelimits", "rules", "cleanup", "history"):
        assert f'href="{pages(gateway)[name][0]}"' in content, name


def test_sidebar_links_the_health_page_when_the_site_has_one(operator_client):
    content = operator_client.get(reverse("admin:index")).content.decode()
    try:
        health = reverse("dashboard_health")
    except NoReverseMatch:
        assert ">Health<" not in content
    else:
        assert f'href="{health}"' in content


def test_sidebar_links_health(operator_client):
    content = operator_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("dashboard_health")}"' in content
    assert 'href="/admin/console/sessions/"' in content


def test_sidebar_hides_pages_the_user_may_not_open(client_with, gateway):
    content = client_with("wsapp.view_websockettoken").get(reverse("admin:index")).content
    assert pages(gateway)["tokens"][0].encode() in content
    assert pages(gateway)["sessions"][0].encode() not in content
    assert pages(gateway)["gateways"][0].encode() not in content


def test_htmx_is_loaded_once(operator_client):
    content = operator_client.get(reverse("admin:console_sessions")).content.decode()
    assert content.count("htmx.js") == 1


@pytest.mark.parametrize("page", ["abc", "-1", "0", "999", "1"])
def test_console_search_with_any_page_number_answers(operator_client, page):
    response = operator_client.get(f"/admin/search/?s=gate&page={page}")
    assert response.status_code == 200


def test_console_search_is_for_staff_only(client):
    response = client.get("/admin/search/?s=gate")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
