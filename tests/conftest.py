"""Fixtures shared by the whole suite.

Fixtures for one area live in ``tests/helpers/<area>.py`` and are imported by the
test modules that need them.
"""

from __future__ import annotations

import os

import pytest

# Tests never reach real AWS: dummy credentials and a fixed region, set before any
# boto3 client exists. Endpoints are pointed at local servers by the fixtures.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
for _name in list(os.environ):
    if _name.startswith("AWS_ENDPOINT_URL"):
        del os.environ[_name]


@pytest.fixture(autouse=True)
def _fresh_aws_clients():
    """Each test builds its own boto3 clients, so settings overrides apply."""
    from wsapp import aws

    aws.clear_cache()
    yield
    aws.clear_cache()


@pytest.fixture(autouse=True)
def _empty_traffic_buffer():
    """Counts buffered by one test's views never reach another test's database."""
    from wsapp import traffic

    traffic.discard()
    yield
    traffic.discard()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness buys nothing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
