"""SQL query budgets of the hot paths.

Run without an enclosing test transaction (as production runs, in autocommit) so
that savepoints the tests would add are not counted.
"""

from __future__ import annotations

import pytest

from tests.helpers.apigw import ApiGatewayCaller
from tests.helpers.views import (  # noqa: F401  (fixtures)
    browser,
    fresh_token,
    gateway,
    user,
)
from wsapp.models import ChannelAccessRule, WebSocketSession

pytestmark = [pytest.mark.urls("tests.helpers.ws_urls"), pytest.mark.django_db(transaction=True)]


def test_connect_with_token_rate_limit_and_channel_rules_at_most_7_queries(
    gateway, browser, fresh_token, django_assert_max_num_queries
):
    ChannelAccessRule.objects.create(pattern="support-*", access="authenticated")
    ChannelAccessRule.objects.create(pattern="support-eu", access="authenticated")
    caller = ApiGatewayCaller(gateway, browser=browser)
    token = fresh_token()
    with django_assert_max_num_queries(7):
        response = caller.connect(token=token, channel="support-eu")
    assert response.status_code == 200
    assert WebSocketSession.objects.get().channel_name == "support-eu"


def test_message_at_most_2_queries_before_handler(
    gateway, browser, fresh_token, django_assert_max_num_queries
):
    caller = ApiGatewayCaller(gateway, browser=browser)
    connection_id = caller.connect(token=fresh_token()).connection_id
    # The "default" handler of EchoView runs no query, so the whole request counts.
    with django_assert_max_num_queries(2):
        response = caller.send(connection_id, {"action": "nothing-in-particular"})
    assert response.status_code == 200
    assert WebSocketSession.objects.get().request_count == 1


def test_disconnect_at_most_2_queries(
    gateway, browser, fresh_token, django_assert_max_num_queries
):
    caller = ApiGatewayCaller(gateway, browser=browser)
    connection_id = caller.connect(token=fresh_token()).connection_id
    with django_assert_max_num_queries(2):
        assert caller.disconnect(connection_id).status_code == 200
    assert not WebSocketSession.objects.get().connected


@pytest.mark.parametrize("prefix", ["/anyperm-ws/", "/allperm-ws/"])
def test_message_to_a_view_with_permissions_at_most_2_queries(
    gateway, browser, user, prefix, django_assert_max_num_queries, settings
):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="staff-ish")
    group.permissions.add(Permission.objects.get(codename="change_user"))
    user.groups.add(group)
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    settings.WEBSOCKETS = {"USE_WS_TOKEN": False}
    caller = ApiGatewayCaller(gateway, prefix=prefix, browser=browser)
    connection_id = caller.connect().connection_id
    # Permissions are answered inside the session query.
    with django_assert_max_num_queries(2):
        response = caller.send(connection_id, {"action": "nothing-in-particular"})
    assert response.status_code == 200
