"""Every console action refuses a POST without Django's CSRF token (403), changing nothing.

The posts carry everything the action would otherwise need (a valid dialog form,
the typed gateway name), so the missing token is the only reason to refuse them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from dashboard.admin.common import ConsoleModelAdmin
from tests.helpers.console import (  # noqa: F401  (fixtures)
    make_sessions,
    operator,
    operator_client,
    snapshot,
)
from tests.helpers.fake_management_api import (  # noqa: F401  (fixtures)
    FakeManagementApi,
    fake_management_api,
    make_gateway,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    aws_gateway,
    control_calls,
    local_gateway,
    make_local_gateway,
)
from wsapp.models import ApiGateway, CleanupRun, WebSocketSession

pytestmark = pytest.mark.django_db

MESSAGE = '{"type": "console_test"}'

#: URL name of each console action -> what its dialog posts.
ACTIONS: dict[str, dict[str, str]] = {
    "wsapp_apigateway_create_in_aws": {},
    "wsapp_apigateway_sync_gateway": {},
    "wsapp_apigateway_deploy_gateway": {},
    "wsapp_apigateway_create_custom_domain": {},
    "wsapp_apigateway_rotate_secret": {},
    "wsapp_apigateway_teardown_gateway": {"confirm_name": "csrf-gw"},
    "wsapp_websocketsession_send_test_message": {"message": MESSAGE},
    "wsapp_websocketsession_disconnect": {},
    "wsapp_websocketsession_send_to_channel": {"channel": "lobby", "message": MESSAGE},
    "wsapp_cleanuprun_run_cleanup": {
        "disconnected_sessions": "on",
        "closed_hours": "0",
        "stale_hours": "3",
        "token_age": "86400",
        "rate_limit_age": "7",
        "traffic_age": "8",
    },
}


def registered_actions() -> set[str]:
    """URL names of every Unfold action the console's model admins declare."""
    names: set[str] = set()
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, ConsoleModelAdmin):
            continue
        declared = [
            *model_admin.actions_list,
            *model_admin.actions_detail,
            *model_admin.actions_row,
            *model_admin.actions_submit_line,
        ]
        for entry in declared:
            for action in entry["items"] if isinstance(entry, dict) else [entry]:
                names.add(f"{model._meta.app_label}_{model._meta.model_name}_{action}")
    return names


def test_every_console_action_is_covered():
    assert registered_actions() == set(ACTIONS)


@pytest.fixture
def action_url(aws_gateway, fake_management_api: FakeManagementApi) -> Callable[[str], str]:
    """Factory: the URL of an action, on a gateway and a session it would act on.

    The gateway is in the local API Gateway (so a provisioning call, if one were
    made, would be seen there), and its session answers through the fake
    management API (which records any call).
    """
    gateway = make_gateway(fake_management_api, "csrf", api_name="csrf-gw")
    session = make_sessions(gateway, 1, channel_name="lobby")[0]
    make_sessions(gateway, 2, prefix="closed", connected=False)

    def url(name: str) -> str:
        if name.startswith("wsapp_apigateway_"):
            return reverse(f"admin:{name}", args=[gateway.pk])
        if name in (
            "wsapp_websocketsession_send_test_message",
            "wsapp_websocketsession_disconnect",
        ):
            return reverse(f"admin:{name}", args=[session.pk])
        return reverse(f"admin:{name}")

    return url


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_a_post_without_a_csrf_token_is_refused(
    name, action_url, operator_client, aws_gateway, fake_management_api
):
    before = snapshot(ApiGateway, WebSocketSession, CleanupRun, LogEntry)
    data = {"_form_submitted": "on", **ACTIONS[name]}
    response = operator_client.post(action_url(name), data)
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert snapshot(ApiGateway, WebSocketSession, CleanupRun, LogEntry) == before
    assert control_calls(aws_gateway) == []
    assert fake_management_api.calls == []
