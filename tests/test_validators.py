"""Shared validators: every bad value is a ValidationError that names the problem."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from wsapp.validators import (
    channel_name_error,
    normalise_endpoint,
    validate_channel_pattern,
    validate_route_key,
    validate_stage_name,
)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("https://[bad/", "not a valid URL"),
        ("https://[::1", "not a valid URL"),
        ("https://www.example.com:99999/ws/", "not a valid URL"),
        ("https://www.example.com:http/ws/", "not a valid URL"),
        ("https://exa mple.com/ws/", "contains spaces"),
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


@pytest.mark.parametrize(
    "validate",
    [validate_channel_pattern, validate_stage_name, validate_route_key],
    ids=["channel pattern", "stage", "route key"],
)
@pytest.mark.parametrize("value", ["good\n", "good\r\n", "\ngood"])
def test_names_with_line_breaks_are_refused(validate, value):
    validate("good")
    with pytest.raises(ValidationError):
        validate(value)


def test_channel_name_with_a_trailing_newline_is_refused():
    assert channel_name_error("lobby") is None
    assert channel_name_error("lobby\n") == (
        "Channel name may contain only letters, digits, '_' and '-'."
    )


@pytest.mark.parametrize(
    "value", ["https://www.example.com\n/ws/", "https://www.example.com/w s/", "https://x\t.com/"]
)
def test_urls_with_spaces_or_control_characters_are_refused(value):
    with pytest.raises(ValidationError, match="contains spaces or control characters"):
        normalise_endpoint(value, field="URL")
