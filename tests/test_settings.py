"""Settings come from the environment; production fails fast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_settings(
    show: str = "settings.DEBUG, settings.DATABASES['default']['ENGINE']", **env: str
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_ENV"}}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    code = f"import django; django.setup(); from django.conf import settings; print({show})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_local_defaults_need_no_configuration():
    result = load_settings(DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3"]


def test_production_refuses_without_secret_key():
    result = load_settings(DJANGO_ENV="production", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_debug():
    result = load_settings(DJANGO_ENV="production", SECRET_KEY="x" * 50, DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_starts_when_configured():
    result = load_settings(
        DJANGO_ENV="production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="www.example.com"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "perhaps"),
        ("DJANGO_ENV", "staging"),
        ("CONN_MAX_AGE", "sixty"),
        ("CONN_MAX_AGE", "-5"),
    ],
)
def test_bad_values_are_named(name, value):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert value in result.stderr


def test_database_url_selects_postgresql():
    result = load_settings(DATABASE_URL="postgres://postgres@127.0.0.1:5432/whatever")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "django.db.backends.postgresql"


def test_conn_max_age_is_read_from_the_environment():
    result = load_settings(
        "settings.DATABASES['default']['CONN_MAX_AGE']",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/whatever",
        CONN_MAX_AGE="7",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7"]
