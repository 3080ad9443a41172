"""The Health page also shows the configuration (system check) findings."""

from __future__ import annotations

import pytest

from wsapp.health import CONFIGURATION_ID, Status, configuration_results

pytestmark = pytest.mark.django_db


def test_clean_configuration_is_one_passing_row():
    results = configuration_results()
    assert [(r.id, r.status) for r in results] == [(CONFIGURATION_ID, Status.PASS)]


def test_each_finding_is_a_row_with_its_id_hint_and_section(settings):
    settings.WEBSOCKETS = {"channel_default_access": "maybe"}
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"
    ]
    results = {r.id: r for r in configuration_results()}
    assert set(results) == {"wsapp.E003", "wsapp.E004"}
    assert results["wsapp.E004"].status == Status.FAIL
    assert "channel_default_access" in results["wsapp.E004"].evidence[0]
    assert "docs/configuration.md" in results["wsapp.E004"].fix
    assert results["wsapp.E003"].anchor == "user-is-anonymous-unexpectedly"
