"""System checks: one test where each check passes and one where it fails."""

from __future__ import annotations

import socket

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


def test_e001_route_with_a_converter_that_rejects_route_keys():
    with with_urls("int_route"):
        messages = checks.check_urls()
    assert ids(messages) == ["wsapp.E001"]
    assert "'route' uses the IntConverter" in messages[0].msg
    assert "slug converter" in messages[0].hint


def test_e001_route_with_the_str_converter_passes():
    with with_urls("str_route"):
        assert ids(checks.check_urls()) == []


def test_e002_token_view_missing():
    with with_urls("no_token_view"):
        messages = checks.check_urls()
    assert ids(messages) == ["wsapp.E002"]
    assert messages[0].msg == (
        "A WebSocketView requires connect tokens but WebSocketTokenView is not routed."
    )
    assert "WebSocketTokenView.as_view()" in messages[0].hint


def test_e002_not_raised_when_tokens_off():
    with with_urls("tokenless"):
        assert ids(checks.check_urls()) == []


def test_e002_sees_tokens_turned_on_in_as_view():
    # The class says no tokens; as_view(USE_WS_TOKEN=True) overrides it.
    with with_urls("tokens_in_as_view"):
        messages = checks.check_urls()
    assert ids(messages) == ["wsapp.E002"]
    assert "WebSocketTokenView is not routed" in messages[0].msg


@pytest.mark.parametrize("attr", ["debug_view", "class_debug_view"])
def test_w001_debug_view_outside_debug(settings, attr):
    settings.DEBUG = False
    with with_urls(attr):
        messages = checks.check_urls()
    assert ids(messages) == ["wsapp.W001"]
    assert "at 'ws/<slug:route>' runs with debug=True while DEBUG is off" in messages[0].msg


@pytest.mark.parametrize("attr", ["debug_view", "class_debug_view"])
def test_w001_debug_view_in_debug_passes(settings, attr):
    settings.DEBUG = True
    with with_urls(attr):
        assert ids(checks.check_urls()) == []


def test_w006_urlconf_that_raises():
    from tests.helpers.check_urls import BrokenUrls

    with override_settings(ROOT_URLCONF=BrokenUrls()):
        messages = checks.check_urls()
    assert ids(messages) == ["wsapp.W006"]
    assert messages[0].msg == "Could not load the URLconf: No module named 'missing_app'"


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
    ("overrides", "expected", "text"),
    [
        (
            {"SESSION_COOKIE_DOMAIN": None},
            ["wsapp.W002"],
            "SESSION_COOKIE_DOMAIN is None, which does not cover both the site "
            "(www.example.com) and the WebSocket domain (ws.example.com).",
        ),
        (
            {"CSRF_COOKIE_DOMAIN": ".www.example.com"},
            ["wsapp.W002"],
            "CSRF_COOKIE_DOMAIN is '.www.example.com', which does not cover both",
        ),
        (
            {"CSRF_TRUSTED_ORIGINS": []},
            ["wsapp.W003"],
            "CSRF_TRUSTED_ORIGINS does not hold the site's origin https://www.example.com.",
        ),
        (
            {"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": False},
            ["wsapp.E005"],
            "SESSION_COOKIE_SAMESITE is 'None' but SESSION_COOKIE_SECURE is off",
        ),
        (
            {"CSRF_COOKIE_SAMESITE": "Strict"},
            ["wsapp.W004"],
            "CSRF_COOKIE_SAMESITE is 'Strict': the cookie is not sent",
        ),
    ],
)
def test_cross_domain_problems(overrides, expected, text):
    with override_settings(**{**CROSS, **overrides}):
        messages = checks.cross_domain_problems("www.example.com", "ws.example.com")
    assert ids(messages) == expected
    assert text in messages[0].msg


def test_w005_client_scheme(settings):
    settings.DEBUG = False
    assert (
        checks.client_scheme_problems("g", "wss://abc.execute-api.us-east-1.amazonaws.com") == []
    )
    messages = checks.client_scheme_problems("g", "ws://127.0.0.1:8001/abc")
    assert ids(messages) == ["wsapp.W005"]
    assert messages[0].msg == (
        "Gateway 'g' gives browsers the URL 'ws://127.0.0.1:8001/abc', which is not wss://."
    )
    assert ids(checks.client_scheme_problems("g", "https://ws.example.com")) == ["wsapp.W005"]
    settings.DEBUG = True
    assert checks.client_scheme_problems("g", "ws://127.0.0.1:8001/abc") == []


def test_w007_any_host_without_allowed_origins(settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.WEBSOCKETS = {}
    messages = checks.check_settings()
    assert ids(messages) == ["wsapp.W007"]
    assert "ALLOWED_HOSTS contains '*' and WEBSOCKETS['allowed_origins'] is not set" in (
        messages[0].msg
    )
    assert "allowed_origins" in messages[0].hint


def test_w007_any_host_with_allowed_origins_passes(settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.WEBSOCKETS = {"allowed_origins": ["https://www.example.com"]}
    assert checks.check_settings() == []


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
def test_w002_w003_look_at_every_site_host():
    ApiGateway.objects.create(
        api_name="g",
        target_base_endpoint="https://www.example.com/ws/",
        domain_name="ws.example.com",
        api_endpoint="wss://ws.example.com",
    )
    # The first host is covered; the second, another domain, is not.
    with override_settings(**{**CROSS, "ALLOWED_HOSTS": ["www.example.com", "www.example.org"]}):
        messages = checks.check_gateway_domains(databases=["default"])
    assert ids(messages) == ["wsapp.W002", "wsapp.W002", "wsapp.W003"]
    assert all("www.example.org" in m.msg for m in messages)


@pytest.mark.django_db
def test_w002_leaves_out_single_label_and_loopback_hosts():
    ApiGateway.objects.create(
        api_name="g",
        target_base_endpoint="https://www.example.com/ws/",
        domain_name="ws.example.com",
        api_endpoint="wss://ws.example.com",
    )
    # Internal names answer probes; no cookie domain can cover them and ws.example.com.
    hosts = ["www.example.com", "web", "testserver", "127.0.0.1", "localhost"]
    with override_settings(**{**CROSS, "ALLOWED_HOSTS": hosts}):
        assert checks.check_gateway_domains(databases=["default"]) == []


@pytest.mark.django_db
def test_cookie_checks_still_run_when_allowed_hosts_is_any():
    ApiGateway.objects.create(
        api_name="g",
        target_base_endpoint="https://www.example.com/ws/",
        domain_name="ws.example.com",
        api_endpoint="wss://ws.example.com",
    )
    loose = {
        "ALLOWED_HOSTS": ["*"],
        "WEBSOCKETS": {"allowed_origins": ["https://www.example.com"]},
        "SESSION_COOKIE_DOMAIN": None,
        "CSRF_COOKIE_DOMAIN": None,
        "CSRF_TRUSTED_ORIGINS": [],
    }
    with override_settings(**loose):
        messages = checks.check_gateway_domains(databases=["default"])
    assert ids(messages) == ["wsapp.W002", "wsapp.W002", "wsapp.W003"]
    assert all("www.example.com" in m.msg for m in messages)


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        (["https://*.example.com"], []),
        (["https://*.example.org"], ["wsapp.W003"]),
        (["http://*.example.com"], ["wsapp.W003"]),
    ],
)
def test_w003_reads_wildcard_trusted_origins_as_django_does(trusted, expected):
    with override_settings(**{**CROSS, "CSRF_TRUSTED_ORIGINS": trusted}):
        messages = checks.cross_domain_problems("www.example.com", "ws.example.com")
    assert ids(messages) == expected


def execute_api_gateway(domain: str = "") -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="g",
        target_base_endpoint="https://www.example.com/ws/",
        domain_name=domain,
        api_endpoint="wss://abc.execute-api.us-east-1.amazonaws.com/prod",
    )


@pytest.mark.django_db
def test_w008_tokens_off_without_a_custom_domain():
    execute_api_gateway()
    with with_urls("tokenless"), override_settings(**CROSS):
        messages = checks.check_gateway_domains(databases=["default"])
    assert ids(messages) == ["wsapp.W008"]
    assert (
        "TokenlessView connect(s) without tokens (USE_WS_TOKEN off) but gateway 'g' has no "
        "custom domain: browsers connect to abc.execute-api.us-east-1.amazonaws.com"
    ) in messages[0].msg


@pytest.mark.django_db
def test_w008_tokens_off_with_a_custom_domain_passes():
    execute_api_gateway("ws.example.com")
    with with_urls("tokenless"), override_settings(**CROSS):
        assert checks.check_gateway_domains(databases=["default"]) == []


@pytest.mark.django_db
def test_w008_tokens_on_without_a_custom_domain_passes():
    execute_api_gateway()
    with with_urls("good"), override_settings(**CROSS):
        assert checks.check_gateway_domains(databases=["default"]) == []


@pytest.mark.django_db
def test_e006_unknown_permission_names():
    with with_urls("permission_names"):
        messages = checks.check_permission_names(databases=["default"])
    assert ids(messages) == ["wsapp.E006", "wsapp.E006"]
    assert messages[0].msg == (
        "PermissionView.permissions_required names the permission 'auth.no_such_codename', "
        "which does not exist."
    )
    assert messages[1].msg == (
        "PermissionView.all_permissions_required names the permission 'view_user', which "
        "does not exist (permissions are written 'app_label.codename')."
    )


@pytest.mark.django_db
def test_e006_existing_permission_passes():
    with with_urls("existing_permission"):
        assert checks.check_permission_names(databases=["default"]) == []
    # Without the database the check does nothing.
    with with_urls("permission_names"):
        assert checks.check_permission_names(databases=None) == []


@pytest.mark.django_db
def test_checks_without_the_database_tag_use_neither_database_nor_network(
    django_assert_num_queries, monkeypatch, settings
):
    from django.core import checks as django_checks

    def refuse(*args, **kwargs):
        raise AssertionError("a system check opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    settings.ALLOWED_HOSTS = ["*"]  # so at least one check has something to say
    # run_checks() passes every database alias when tags are given: call them directly.
    plain = [
        check
        for check in django_checks.registry.registry.get_checks(include_deployment_checks=True)
        if "wsapp" in check.tags and django_checks.Tags.database not in check.tags
    ]
    assert len(plain) >= 3
    messages = []
    with django_assert_num_queries(0):
        for check in plain:
            messages.extend(check(app_configs=None, databases=["default"]))
    assert "wsapp.W007" in ids(messages)


@pytest.mark.django_db
def test_check_command_runs_the_wsapp_tag(capsys):
    call_command("check", "--tag", "wsapp", "--fail-level", "WARNING")
    assert "no issues" in capsys.readouterr().out
