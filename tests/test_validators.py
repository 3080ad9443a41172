"""Shared validators: every bad value is a ValidationError that names the problem."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from wsapp.validators import normalise_endpoint


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("https://[bad/", "not a valid URL"),
        ("https://[::1", "not a valid URL"),
        ("https://www.example.com:99999/ws/", "not a valid URL"),
        ("https://www.example.com:http/ws/", "not a valid URL"),
        ("https://exa mple.com/ws/", "not a valid host name"),
        ("https://under_score.example.com/ws/", "not a valid host name"),
        ("https://-leading.example.com/ws/", "not a valid host name"),
        ("https://" + "a" * 64 + ".example.com/ws/", "not a valid host name"),
        ("ftp://www.example.com/ws/", "full URL"),
        ("http://www.example.com/ws/", "must use https"),
        ("https://www.example.com/ws/?x=1", "query string"),
    ],
)
def test_bad_endpoints_are_validation_errors(value, mentions):
    with pytest.raises(ValidationError, match=mentions) as info:
        normalise_endpoint(value, field="Target base endpoint")
    assert "Target base endpoint" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "https://www.example.com/ws/",
        "https://www.example.com:8443/ws/",
        "https://xn--bcher-kva.example/ws/",
        "http://127.0.0.1:8000/ws/",
        "http://[::1]:8000/ws/",
        "http://localhost:8000/ws/",
        "https://203.0.113.7/ws/",
    ],
)
def test_good_endpoints_pass(value):
    assert normalise_endpoint(f"  {value} ") == value
