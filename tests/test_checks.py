"""System checks: one test where each check passes and one where it fails."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import clear_url_caches

from wsapp import checks
from wsapp.models import ApiGateway

URLS = "tests.helpers.check_urls"


def ids(messages) -> list[str]:
    return [message.id for message in messages]


@pytest.fixture(autouse=True)
def _fresh_urlconf():
    clear_url_caches()
    yield
    clear_url_caches()


def with_urls(attr: str):
    import importlib

    module = importlib.import_module(URLS)
    return override_settings(ROOT_URLCONF=type("U", (), {"urlpatterns": getattr(module, attr)}))


@pytest.mark.parametrize("attr", ["good", "regex_good"])
def test_route_slug_present_passes(attr):
    with with_urls(attr):
        assert ids(checks.check_urls()) == []


def test_e001_route_slug_missing():
    with with_urls("misnamed_slug"):
        messages = checks.check_urls()
    assert ids(messages) == ["wsapp.E001"]
    assert "slug named 'route'" in messages[0].msg


def test_e002_token_view_missing():
    with with_urls("no_token_view"):
        assert ids(checks.check_urls()) == ["wsapp.E002"]


def test_e002_not_raised_when_tokens_off():
    with with_urls("tokenless"):
        assert ids(checks.check_urls()) == []


def test_w001_debug_view_outside_debug(settings):
    settings.DEBUG = False
    with with_urls("debug_view"):
        assert ids(checks.check_urls()) == ["wsapp.W001"]
    settings.DEBUG = True
    with with_urls("debug_view"):
        assert ids(checks.check_urls()) == []


def test_e003_middleware(settings):
    assert checks.check_middleware() == []
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"
    ]
    messages = checks.check_middleware()
    assert ids(messages) == ["wsapp.E003"]
    assert "CSRF" in messages[0].msg


def test_e004_invalid_settings(settings):
    settings.WEBSOCKETS = {"token_expiry_seconds": 60}
    assert checks.check_settings() == []
    settings.WEBSOCKETS = {"token_expiry_seconds": -1, "channel_default_access": "nope"}
    assert ids(checks.check_settings()) == ["wsapp.E004", "wsapp.E004"]


CROSS = {
    "ALLOWED_HOSTS": ["www.example.com"],
    "SESSION_COOKIE_DOMAIN": ".example.com",
    "CSRF_COOKIE_DOMAIN": ".example.com",
    "CSRF_TRUSTED_ORIGINS": ["https://www.example.com"],
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


def test_cross_domain_settings_pass():
    with override_settings(**CROSS):
        assert checks.cross_domain_problems("www.example.com", "ws.example.com") == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"SESSION_COOKIE_DOMAIN": None}, ["wsapp.W002"]),
        ({"CSRF_COOKIE_DOMAIN": ".www.example.com"}, ["wsapp.W002"]),
        ({"CSRF_TRUSTED_ORIGINS": []}, ["wsapp.W003"]),
        ({"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": False}, ["wsapp.E005"]),
        ({"CSRF_COOKIE_SAMESITE": "Strict"}, ["wsapp.W004"]),
    ],
)
def test_cross_domain_problems(overrides, expected):
    with override_settings(**{**CROSS, **overrides}):
        assert ids(checks.cross_domain_problems("www.example.com", "ws.example.com")) == expected


def test_w005_client_scheme(settings):
    settings.DEBUG = False
    assert (
        checks.client_scheme_problems("g", "wss://abc.execute-api.us-east-1.amazonaws.com") == []
    )
    assert ids(checks.client_scheme_problems("g", "ws://127.0.0.1:8001/abc")) == ["wsapp.W005"]
    assert ids(checks.client_scheme_problems("g", "https://ws.example.com")) == ["wsapp.W005"]
    settings.DEBUG = True
    assert checks.client_scheme_problems("g", "ws://127.0.0.1:8001/abc") == []


@pytest.mark.django_db
def test_database_check_reads_gateways():
    ApiGateway.objects.create(
        api_name="g",
        target_base_endpoint="https://www.example.com/ws/",
        domain_name="ws.example.com",
        api_endpoint="wss://abc.execute-api.us-east-1.amazonaws.com",
    )
    with override_settings(**CROSS):
        assert checks.check_gateway_domains(databases=["default"]) == []
    with override_settings(**{**CROSS, "SESSION_COOKIE_DOMAIN": None}):
        assert ids(checks.check_gateway_domains(databases=["default"])) == ["wsapp.W002"]
    assert checks.check_gateway_domains(databases=None) == []


@pytest.mark.django_db
def test_check_command_runs_the_wsapp_tag(capsys):
    call_command("check", "--tag", "wsapp", "--fail-level", "WARNING")
    assert "no issues" in capsys.readouterr().out
