"""Live sessions: the table, its htmx refresh, filters, and the session actions.

The actions go through real boto3 clients to the fake management API
(tests/helpers/fake_management_api.py).
"""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from tests.helpers.console import (  # noqa: F401  (fixtures)
    ago,
    capture,
    client_with,
    dialog_post,
    htmx_headers,
    last_log,
    make_sessions,
    make_user,
    non_staff_client,
    operator,
    operator_client,
    page_messages,
    snapshot,
    staff_client,
)
from tests.helpers.fake_management_api import (  # noqa: F401  (fixtures)
    FakeManagementApi,
    fake_management_api,
    make_gateway,
)
from wsapp.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db

PAGE = "/admin/console/sessions/"


@pytest.fixture
def gateway(fake_management_api: FakeManagementApi) -> ApiGateway:
    return make_gateway(fake_management_api, "live")


def send_url(session: WebSocketSession) -> str:
    return reverse("admin:wsapp_websocketsession_send_test_message", args=[session.pk])


def disconnect_url(session: WebSocketSession) -> str:
    return reverse("admin:wsapp_websocketsession_disconnect", args=[session.pk])


CHANNEL_URL = "/admin/wsapp/websocketsession/send-to-channel/"


def row_ids(content: bytes) -> list[str]:
    """Connection ids of the table rows, in order."""
    import re

    return re.findall(r'data-connection-id="([^"]+)"', content.decode())


# --- The page and its table ---------------------------------------------------------


def test_page_url_is_the_one_reversed():
    assert reverse("admin:console_sessions") == PAGE


def test_shows_connected_sessions_newest_first(operator_client, gateway):
    make_sessions(gateway, 2, prefix="old", created_on=ago(minutes=30))
    make_sessions(gateway, 2, prefix="new", created_on=ago(minutes=1))
    make_sessions(gateway, 1, prefix="gone", connected=False)
    ids = row_ids(operator_client.get(PAGE).content)
    assert sorted(ids[:2]) == ["new-0", "new-1"]
    assert sorted(ids[2:]) == ["old-0", "old-1"]


def test_htmx_request_gets_only_the_table_partial(operator_client, gateway):
    make_sessions(gateway, 1)
    response = operator_client.get(PAGE + "?channel=default", headers=htmx_headers())
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="sessions-table"')
    assert "<html" not in content
    assert 'id="session-filters"' not in content
    assert "conn-0" in content


def test_table_refreshes_itself_with_the_same_query(operator_client, gateway):
    make_sessions(gateway, 1)
    url = PAGE + "?channel=default&sort=-last_seen&page=1"
    content = operator_client.get(url, headers=htmx_headers()).content.decode()
    assert 'hx-trigger="every 5s"' in content
    assert 'hx-swap="outerHTML"' in content
    assert 'hx-get="/admin/console/sessions/?channel=default&amp;sort=-last_seen&amp;page=1"' in (
        content
    )


def test_sort_links_keep_filters_and_reset_the_page(operator_client, gateway):
    make_sessions(gateway, 1)
    content = operator_client.get(PAGE + "?channel=default&page=1").content.decode()
    assert 'href="?channel=default&amp;sort=connection_id"' in content
    assert 'hx-get="?channel=default&amp;sort=connection_id"' in content


def test_pages_without_count(operator_client, gateway):
    make_sessions(gateway, 30)
    response, sql = capture(lambda: operator_client.get(PAGE, headers=htmx_headers()))
    session_sql = [q for q in sql if "wsapp_websocketsession" in q]
    assert len(session_sql) == 1
    assert "COUNT(" not in session_sql[0].upper()
    assert "LIMIT 26" in session_sql[0]  # one page of 25, plus one to know a next page exists
    assert len(row_ids(response.content)) == 25
    assert b'rel="next"' in response.content
    second = operator_client.get(PAGE + "?page=2", headers=htmx_headers())
    assert len(row_ids(second.content)) == 5
    assert b'rel="next"' not in second.content


def test_a_page_past_the_end_shows_the_first(operator_client, gateway):
    make_sessions(gateway, 3)
    response = operator_client.get(PAGE + "?page=40")
    assert response.status_code == 200
    assert len(row_ids(response.content)) == 3
    assert b"Page 40 is past the end of the list: showing page 1." in response.content


@pytest.mark.parametrize(
    "query",
    ["page=9223372036854775807", "page=-3", "page=0", "page=abc", f"page={'9' * 5000}"],
)
def test_a_page_number_out_of_range_shows_the_first_page(query, operator_client, gateway):
    make_sessions(gateway, 3)
    response = operator_client.get(f"{PAGE}?{query}")
    assert response.status_code == 200
    assert len(row_ids(response.content)) == 3
    assert b'data-page="1"' in response.content
    assert b"showing page 1." in response.content


@pytest.mark.parametrize(("per_page", "rows"), [("-5", 1), ("0", 1), ("100000", 100), ("x", 25)])
def test_per_page_is_clamped(per_page, rows, operator_client, gateway):
    make_sessions(gateway, 120)
    response = operator_client.get(f"{PAGE}?per_page={per_page}")
    assert response.status_code == 200
    assert len(row_ids(response.content)) == rows
    note = f"Rows per page must be a number from 1 to 100, not &#x27;{per_page}&#x27;"
    assert note in response.content.decode()


@pytest.mark.parametrize("sort", ["nonsense", "-user", "source_ip"])
def test_a_sort_the_table_does_not_offer_is_named(sort, operator_client, gateway):
    make_sessions(gateway, 2)
    response = operator_client.get(f"{PAGE}?sort={sort}")
    assert response.status_code == 200
    assert len(row_ids(response.content)) == 2
    assert f"The table cannot be sorted by &#x27;{sort}&#x27;" in response.content.decode()


def test_a_valid_page_and_sort_add_no_note(operator_client, gateway):
    make_sessions(gateway, 2)
    response = operator_client.get(f"{PAGE}?sort=-created_on&page=1&per_page=25")
    assert b"data-paging-note" not in response.content


def test_history_restore_gets_the_whole_page(operator_client, gateway):
    make_sessions(gateway, 1)
    headers = {**htmx_headers(), "HX-History-Restore-Request": "true"}
    content = operator_client.get(PAGE, headers=headers).content.decode()
    assert "<html" in content
    assert "session-filters" in content


def test_boosted_navigation_gets_the_whole_page(operator_client, gateway):
    make_sessions(gateway, 1)
    headers = {**htmx_headers(), "HX-Boosted": "true"}
    assert "session-filters" in operator_client.get(PAGE, headers=headers).content.decode()


def test_page_and_partial_vary_on_hx_request(operator_client, gateway):
    for headers in ({}, htmx_headers()):
        response = operator_client.get(PAGE, headers=headers)
        assert "HX-Request" in response.headers["Vary"]


def test_one_bad_filter_keeps_the_others(operator_client, gateway):
    make_sessions(gateway, 1, prefix="r", channel_name="red")
    make_sessions(gateway, 1, prefix="b", channel_name="blue")
    response = operator_client.get(f"{PAGE}?gateway=abc&channel=red")
    assert response.status_code == 200
    assert row_ids(response.content) == ["r-0"]
    assert b"Select a valid choice" in response.content


def filter_state(content: bytes) -> dict[str, str]:
    """The hidden inputs the filter form submits besides its fields (sort, page size)."""
    import re

    inputs = re.findall(
        r'<input type="hidden" form="session-filters" name="(\w+)" value="([^"]*)">',
        content.decode(),
    )
    return dict(inputs)


def test_filter_form_keeps_the_sort(operator_client, gateway):
    make_sessions(gateway, 1)
    content = operator_client.get(f"{PAGE}?sort=-last_seen").content
    assert filter_state(content) == {"sort": "-last_seen"}
    assert filter_state(operator_client.get(PAGE).content) == {}


def test_an_htmx_sort_updates_what_the_filter_form_submits(operator_client, gateway):
    # The sort link swaps only the table: the form's sort and page size must come with it.
    make_sessions(gateway, 1)
    sorted_table = operator_client.get(
        f"{PAGE}?sort=connection_id&per_page=10", headers=htmx_headers(PAGE)
    )
    assert 'id="session-filters"' not in sorted_table.content.decode()  # only the partial
    assert filter_state(sorted_table.content) == {"sort": "connection_id", "per_page": "10"}


def test_filtering_after_an_htmx_sort_keeps_the_sort(operator_client, gateway):
    make_sessions(gateway, 3, prefix="red", channel_name="red")
    make_sessions(gateway, 1, prefix="blue", channel_name="blue")
    current = f"{PAGE}?sort=-connection_id"
    table = operator_client.get(current, headers=htmx_headers(PAGE))
    state = filter_state(table.content)
    # What the filter form sends after that swap: its fields plus the table's state.
    query = "&".join(["channel=red", *(f"{k}={v}" for k, v in state.items())])
    filtered = operator_client.get(f"{PAGE}?{query}", headers=htmx_headers(current))
    assert row_ids(filtered.content) == ["red-2", "red-1", "red-0"]
    assert filter_state(filtered.content) == {"sort": "-connection_id"}


@pytest.mark.parametrize("field", ["q", "channel", "user"])
def test_a_nul_character_in_a_filter_is_an_error_not_a_500(field, operator_client, gateway):
    make_sessions(gateway, 1)
    response = operator_client.get(f"{PAGE}?{field}=a%00b")
    assert response.status_code == 200
    assert b"Null characters are not allowed" in response.content
    assert row_ids(response.content) == ["conn-0"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("connected=no", ["closed-0"]),
        ("connected=any&sort=connection_id", ["a-0", "b-0", "closed-0"]),
        ("channel=blue", ["b-0"]),
        ("user=carol", ["a-0"]),
        ("q=b-0", ["b-0"]),
        ("q=car", ["a-0"]),
        ("last_seen=1h", ["a-0"]),
        ("last_seen=idle", ["b-0"]),
    ],
)
def test_filters(query, expected, operator_client, gateway):
    carol = make_user(username="carol")
    make_sessions(gateway, 1, prefix="a", channel_name="red", user=carol, last_seen=ago(minutes=2))
    make_sessions(gateway, 1, prefix="b", channel_name="blue", last_seen=ago(hours=3))
    make_sessions(gateway, 1, prefix="closed", connected=False)
    assert row_ids(operator_client.get(f"{PAGE}?{query}").content) == expected


def test_gateway_filter(operator_client, gateway, fake_management_api):
    other = make_gateway(fake_management_api, "other")
    make_sessions(gateway, 1, prefix="here")
    make_sessions(other, 1, prefix="there")
    ids = row_ids(operator_client.get(f"{PAGE}?gateway={other.pk}").content)
    assert ids == ["there-0"]


def test_bad_filter_values_are_reported_not_500(operator_client, gateway):
    make_sessions(gateway, 1)
    response = operator_client.get(f"{PAGE}?gateway=999999&connected=maybe")
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content


def test_last_seen_is_not_sortable_across_both_states(operator_client, gateway):
    make_sessions(gateway, 1)
    content = operator_client.get(f"{PAGE}?connected=any").content.decode()
    assert 'data-sort="last_seen"' not in content
    assert 'data-sort="created_on"' in content
    connected = operator_client.get(PAGE).content.decode()
    assert 'data-sort="last_seen"' in connected


def test_unsortable_column_in_the_query_is_ignored(operator_client, gateway):
    make_sessions(gateway, 2)
    response = operator_client.get(f"{PAGE}?sort=request_count")
    assert response.status_code == 200


def test_row_buttons_need_the_change_permission(client_with, gateway):
    make_sessions(gateway, 1)
    viewer = client_with("wsapp.view_websocketsession").get(PAGE).content
    assert b'data-action="send-test-message"' not in viewer
    assert b"send-to-channel" not in viewer
    changer = client_with("wsapp.view_websocketsession", "wsapp.change_websocketsession")
    content = changer.get(PAGE).content
    assert b'data-action="send-test-message"' in content
    assert b'data-action="disconnect"' in content


def test_stock_session_list_redirects_to_the_live_page(operator_client):
    response = operator_client.get("/admin/wsapp/websocketsession/?channel=x")
    assert response.status_code == 302
    assert response["Location"] == PAGE + "?channel=x"


def test_session_record_is_read_only(operator_client, gateway):
    session = make_sessions(gateway, 1)[0]
    url = reverse("admin:wsapp_websocketsession_change", args=[session.pk])
    content = operator_client.get(url).content
    assert b'name="channel_name"' not in content
    assert operator_client.get("/admin/wsapp/websocketsession/add/").status_code == 403


def test_connection_panel_shows_what_api_gateway_knows(operator_client, gateway):
    session = make_sessions(gateway, 1)[0]
    url = reverse("admin:wsapp_websocketsession_connection", args=[session.pk])
    content = operator_client.get(url).content.decode()
    assert "203.0.113.9" in content  # the fake answers GetConnection with this address
    assert "agent-conn-0" in content


def test_connection_panel_reports_aws_errors_in_one_line(
    operator_client, gateway, fake_management_api
):
    session = make_sessions(gateway, 1)[0]
    fake_management_api.script("conn-0", 403)
    url = reverse("admin:wsapp_websocketsession_connection", args=[session.pk])
    content = operator_client.get(url).content.decode()
    assert "ForbiddenException" in content
    assert "Traceback" not in content


# --- Send test message ------------------------------------------------------------


def test_opening_the_dialog_sends_nothing(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = operator_client.get(send_url(session))
    assert response.status_code == 200
    assert b'id="dialog"' in response.content
    assert b"console_test" in response.content
    assert fake_management_api.calls == []
    assert not LogEntry.objects.exists()


def test_send_test_message_is_delivered(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = dialog_post(
        operator_client,
        send_url(session),
        {"message": '{"hello": "there"}'},
        **htmx_headers(PAGE + "?channel=default&page=1"),
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == PAGE + "?channel=default&page=1"
    [call] = fake_management_api.calls
    assert call.method == "POST"
    assert call.connection_id == "conn-0"
    assert json.loads(call.body) == {"hello": "there"}
    assert page_messages(response) == ["conn-0: Send test message: succeeded. delivered."]
    entry = last_log(session)
    assert entry.user.username == "ops"
    assert entry.change_message == "Send test message: succeeded. delivered."


def test_send_test_message_to_a_gone_connection(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    fake_management_api.script("conn-0", 410)
    response = dialog_post(operator_client, send_url(session), {"message": "{}"})
    assert "gone" in page_messages(response)[0]
    session.refresh_from_db()
    assert not session.connected


def test_send_test_message_failure_shows_the_aws_reason(
    operator_client, gateway, fake_management_api
):
    session = make_sessions(gateway, 1)[0]
    fake_management_api.script("conn-0", 403)
    response = dialog_post(operator_client, send_url(session), {"message": "{}"})
    [text] = page_messages(response)
    assert text == "conn-0: Send test message: failed. failed: ForbiddenException: Forbidden"
    assert "failed" in last_log(session).change_message


def test_invalid_json_is_refused_in_the_dialog(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = dialog_post(operator_client, send_url(session), {"message": "{nope"})
    assert response.status_code == 200
    assert b"This is not valid JSON" in response.content
    assert fake_management_api.calls == []


BAD_MESSAGES = [
    pytest.param('"\\ud800"', "not valid Unicode", id="lone-surrogate"),
    pytest.param('{"a": ["\\udfff"]}', "not valid Unicode", id="nested-lone-surrogate"),
    pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deep-nesting"),
    pytest.param('{"x": NaN}', "NaN is not valid JSON", id="nan"),
    pytest.param("-Infinity", "-Infinity is not valid JSON", id="infinity"),
]


@pytest.mark.parametrize(("message", "reason"), BAD_MESSAGES)
@pytest.mark.parametrize("target", ["session", "channel"])
def test_unsendable_json_is_refused_in_the_dialog(
    target, message, reason, operator_client, gateway, fake_management_api
):
    session = make_sessions(gateway, 1)[0]
    if target == "session":
        response = dialog_post(operator_client, send_url(session), {"message": message})
    else:
        data = {"channel": "default", "message": message}
        response = dialog_post(operator_client, CHANNEL_URL, data)
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert fake_management_api.calls == []
    assert not LogEntry.objects.exists()


def test_a_top_level_json_string_is_sent_as_json(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    dialog_post(operator_client, send_url(session), {"message": '  "hi \\"there\\""  '})
    [call] = fake_management_api.calls
    assert json.loads(call.body) == 'hi "there"'


def test_oversized_message_is_refused(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    big = json.dumps({"x": "a" * 140_000})
    response = dialog_post(operator_client, send_url(session), {"message": big})
    assert b"128 KB" in response.content
    assert fake_management_api.calls == []


def test_send_needs_the_change_permission(client_with, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    viewer = client_with("wsapp.view_websocketsession")
    assert viewer.get(send_url(session)).status_code == 403
    response = dialog_post(viewer, send_url(session), {"message": "{}"})
    assert response.status_code == 403
    assert fake_management_api.calls == []


def test_send_without_csrf_token_is_refused(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = operator_client.post(send_url(session), {"_form_submitted": "on", "message": "{}"})
    assert response.status_code == 403
    assert fake_management_api.calls == []


def test_non_staff_cannot_send(non_staff_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = non_staff_client.post(send_url(session), {"_form_submitted": "on"})
    assert response.status_code == 302
    assert fake_management_api.calls == []


# --- Disconnect ---------------------------------------------------------------------


def test_disconnect_asks_first(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = operator_client.get(disconnect_url(session))
    assert b"Disconnect this session?" in response.content
    session.refresh_from_db()
    assert session.connected
    assert fake_management_api.calls == []


def test_disconnect_closes_the_connection(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = dialog_post(operator_client, disconnect_url(session))
    [call] = fake_management_api.calls
    assert (call.method, call.connection_id) == ("DELETE", "conn-0")
    session.refresh_from_db()
    assert not session.connected
    assert session.disconnected_on is not None
    assert page_messages(response) == ["conn-0: Disconnect: succeeded. closed."]
    assert last_log(session).change_message == "Disconnect: succeeded. closed."


def test_disconnect_failure_is_reported(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    fake_management_api.script("conn-0", 500)
    response = dialog_post(operator_client, disconnect_url(session))
    [text] = page_messages(response)
    assert "failed" in text
    assert "InternalServerErrorException" in text


def test_disconnecting_a_closed_row_shows_the_aws_reason(
    operator_client, gateway, fake_management_api
):
    # From the session's record page: the row already says disconnected.
    closed_on = ago(minutes=5)
    session = make_sessions(gateway, 1, connected=False, disconnected_on=closed_on)[0]
    fake_management_api.script("conn-0", 403)
    record_page = reverse("admin:wsapp_websocketsession_change", args=[session.pk])
    response = dialog_post(operator_client, disconnect_url(session), **htmx_headers(record_page))
    [call] = fake_management_api.calls
    assert (call.method, call.connection_id) == ("DELETE", "conn-0")
    [text] = page_messages(response)
    assert text == "conn-0: Disconnect: failed. failed: ForbiddenException: Forbidden"
    assert "server log" not in text
    assert last_log(session).change_message == text.removeprefix("conn-0: ")
    session.refresh_from_db()
    assert (session.connected, session.disconnected_on) == (False, closed_on)


@pytest.mark.parametrize(
    ("status", "detail"),
    [(204, "closed."), (410, "the connection was already gone.")],
)
def test_disconnecting_a_closed_row_still_asks_api_gateway(
    status, detail, operator_client, gateway, fake_management_api
):
    # The row may be wrong (a failed close marks it closed anyway).
    session = make_sessions(gateway, 1, connected=False, disconnected_on=ago(minutes=5))[0]
    fake_management_api.script("conn-0", status)
    response = dialog_post(operator_client, disconnect_url(session))
    assert [c.method for c in fake_management_api.calls] == ["DELETE"]
    assert page_messages(response) == [f"conn-0: Disconnect: succeeded. {detail}"]


def test_disconnect_needs_the_change_permission(client_with, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    response = dialog_post(client_with("wsapp.view_websocketsession"), disconnect_url(session))
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.connected


# --- Send to channel ------------------------------------------------------------------


def test_send_to_channel_dialog_starts_from_the_filters(operator_client, gateway):
    response = operator_client.get(f"{CHANNEL_URL}?channel=lobby&gateway={gateway.pk}")
    content = response.content.decode()
    assert 'value="lobby"' in content
    assert f'<option value="{gateway.pk}" selected' in content


def test_send_to_channel_reports_counts(operator_client, gateway, fake_management_api):
    make_sessions(gateway, 3, prefix="lobby", channel_name="lobby")
    make_sessions(gateway, 1, prefix="elsewhere", channel_name="other")
    make_sessions(gateway, 1, prefix="closed", channel_name="lobby", connected=False)
    fake_management_api.script("lobby-1", 410)
    fake_management_api.script("lobby-2", 403)
    response = dialog_post(
        operator_client, CHANNEL_URL, {"channel": "lobby", "message": '{"n": 1}'}
    )
    assert sorted(c.connection_id for c in fake_management_api.calls) == [
        "lobby-0",
        "lobby-1",
        "lobby-2",
    ]
    [text] = page_messages(response)
    assert "1 delivered, 1 gone, 1 failed" in text
    entry = last_log()
    assert entry.object_repr == "channel lobby"
    assert "1 delivered, 1 gone, 1 failed" in entry.change_message


def test_send_to_channel_on_one_gateway(operator_client, gateway, fake_management_api):
    other = make_gateway(fake_management_api, "other")
    make_sessions(gateway, 1, prefix="here", channel_name="lobby")
    make_sessions(other, 1, prefix="there", channel_name="lobby")
    dialog_post(
        operator_client,
        CHANNEL_URL,
        {"channel": "lobby", "gateway": str(gateway.pk), "message": "{}"},
    )
    assert [c.connection_id for c in fake_management_api.calls] == ["here-0"]


def test_send_to_an_empty_channel(operator_client, gateway, fake_management_api):
    response = dialog_post(operator_client, CHANNEL_URL, {"channel": "nobody", "message": "{}"})
    assert "no connected sessions to send to" in page_messages(response)[0]


def test_send_to_channel_validates_the_channel(operator_client, gateway, fake_management_api):
    response = dialog_post(operator_client, CHANNEL_URL, {"channel": "bad name!", "message": "{}"})
    assert response.status_code == 200
    assert b'id="dialog"' in response.content
    assert fake_management_api.calls == []


def test_send_to_channel_needs_the_change_permission(client_with, gateway):
    viewer = client_with("wsapp.view_websocketsession")
    assert viewer.get(CHANNEL_URL).status_code == 403


@pytest.mark.parametrize("permissions", [(), ("wsapp.view_websocketsession",)])
def test_posting_send_to_channel_needs_the_change_permission(
    permissions, client_with, gateway, fake_management_api
):
    make_sessions(gateway, 2, prefix="lobby", channel_name="lobby")
    staff = client_with(*permissions)
    data = {"channel": "lobby", "message": '{"n": 1}'}
    response = dialog_post(staff, CHANNEL_URL, data)
    assert response.status_code == 403
    assert fake_management_api.calls == []
    assert not LogEntry.objects.exists()


def test_no_session_changes_on_get_of_any_action(operator_client, gateway, fake_management_api):
    session = make_sessions(gateway, 1)[0]
    before = snapshot(WebSocketSession, LogEntry)
    for url in (send_url(session), disconnect_url(session), CHANNEL_URL):
        assert operator_client.get(url).status_code == 200
    assert snapshot(WebSocketSession, LogEntry) == before
    assert fake_management_api.calls == []


@pytest.mark.parametrize("object_id", ["abc", "999999", "99999999999999999999999"])
@pytest.mark.parametrize("name", ["send_test_message", "disconnect"])
def test_a_dialog_for_a_missing_session_says_so(
    name, object_id, operator_client, gateway, fake_management_api
):
    make_sessions(gateway, 1)
    url = reverse(f"admin:wsapp_websocketsession_{name}", args=[object_id])
    opened = operator_client.get(url)
    assert opened.status_code == 200
    assert b"No such session" in opened.content
    posted = dialog_post(operator_client, url, {"message": "{}"})
    assert posted.status_code == 200
    assert b"No such session" in posted.content
    assert fake_management_api.calls == []
    assert not LogEntry.objects.exists()


def test_a_dialog_for_a_session_that_exists_does_not_say_it_is_missing(operator_client, gateway):
    session = make_sessions(gateway, 1)[0]
    for url in (send_url(session), disconnect_url(session)):
        assert b"No such session" not in operator_client.get(url).content
