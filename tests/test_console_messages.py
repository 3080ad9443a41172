"""The console's JSON message boxes (Send test message, Send to channel): only JSON is sent.

Python's json module reads numbers that overflow (1e999) as infinity and would write
it back as ``Infinity``, keeps the last of two equal keys, and answers a number of
thousands of digits with its own advice about sys.set_int_max_str_digits().
"""

from __future__ import annotations

import html
import json

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.urls import reverse

from dashboard.forms import parse_json_message
from tests.helpers.console import (  # noqa: F401  (fixtures)
    dialog_post,
    make_sessions,
    operator,
    operator_client,
)
from tests.helpers.fake_management_api import (  # noqa: F401  (fixtures)
    FakeManagementApi,
    fake_management_api,
    make_gateway,
)
from wsapp.models import ApiGateway

pytestmark = pytest.mark.django_db

CHANNEL_URL = "/admin/wsapp/websocketsession/send-to-channel/"

BAD_MESSAGES = [
    pytest.param("1e999", "The number 1e999 is too large for JSON", id="overflow"),
    pytest.param('{"x":-1e999}', "The number -1e999 is too large for JSON", id="negative"),
    pytest.param("[1.5e400]", "it would become Infinity", id="in-a-list"),
    pytest.param('{"a":1,"a":2}', 'The key "a" appears twice in one object', id="duplicate"),
    pytest.param('{"x": {"b": 1, "b": 1}}', 'The key "b" appears twice', id="nested-dup"),
    pytest.param("9" * 5000, "Number too long: a number of 5000 digits", id="long"),
    pytest.param('{"n": -' + "1" * 4301 + "}", "Number too long", id="long-negative"),
    pytest.param("{nope", "Message: This is not valid JSON", id="not-json"),
    pytest.param("NaN", "Message: NaN is not valid JSON", id="nan"),
]


@pytest.fixture
def gateway(fake_management_api: FakeManagementApi) -> ApiGateway:
    return make_gateway(fake_management_api, "live")


@pytest.mark.parametrize(("message", "reason"), BAD_MESSAGES)
@pytest.mark.parametrize("target", ["session", "channel"])
def test_what_is_not_json_is_refused_in_the_dialog(
    target, message, reason, operator_client, gateway, fake_management_api
):
    session = make_sessions(gateway, 1)[0]
    if target == "session":
        url = reverse("admin:wsapp_websocketsession_send_test_message", args=[session.pk])
        response = dialog_post(operator_client, url, {"message": message})
    else:
        response = dialog_post(
            operator_client, CHANNEL_URL, {"channel": "default", "message": message}
        )
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    assert reason in text
    assert "set_int_max_str_digits" not in text
    assert fake_management_api.calls == []
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(("message", "reason"), BAD_MESSAGES)
def test_refusals_name_the_field(message, reason):
    with pytest.raises(ValidationError) as info:
        parse_json_message(message)
    [text] = info.value.messages
    assert text.startswith("Message: ")
    assert reason in text


@pytest.mark.parametrize(
    ("message", "sent"),
    [
        ("1e308", "1e+308"),
        ('{"x": -1.5e-400}', '{"x":-0.0}'),
        ("9" * 4300, "9" * 4300),
        ('{"a": 1, "b": {"a": 2}}', '{"a":1,"b":{"a":2}}'),
        ('"\\u00e9t\\u00e9"', '"été"'),
    ],
)
def test_json_numbers_and_keys_that_are_fine_are_sent(message, sent):
    assert parse_json_message(message) == sent
    json.loads(sent)  # what is sent is JSON
