"""Channel access rules in the console: the permissions box refuses bad input, saying why."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from tests.helpers.console import (  # noqa: F401  (fixtures)
    csrf_post,
    operator,
    operator_client,
    snapshot,
)
from wsapp.models import ChannelAccessRule

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:wsapp_channelaccessrule_add")


def shown(response) -> str:
    return html.unescape(response.content.decode())


def rule_data(**changes) -> dict[str, str]:
    return {"pattern": "vip", "access": "staff", "permissions": "", "description": "", **changes}


def test_the_rule_admin_uses_the_console_form():
    from django.contrib import admin

    from dashboard.forms import ChannelAccessRuleForm

    assert admin.site._registry[ChannelAccessRule].form is ChannelAccessRuleForm


@pytest.mark.parametrize("permissions", ["", "null", "[]", "  "])
def test_blank_permissions_mean_none(operator_client, permissions):
    response = csrf_post(operator_client, ADD_URL, rule_data(permissions=permissions))
    assert response.status_code == 302, response.content[:3000]
    assert ChannelAccessRule.objects.get().permissions == []


def test_existing_permissions_are_saved(operator_client):
    data = rule_data(
        access="permissions", permissions='["auth.change_user", "wsapp.view_apigateway"]'
    )
    response = csrf_post(operator_client, ADD_URL, data)
    assert response.status_code == 302, response.content[:3000]
    assert ChannelAccessRule.objects.get().permissions == [
        "auth.change_user",
        "wsapp.view_apigateway",
    ]


BAD_PERMISSIONS = [
    pytest.param(
        '["nonexistent.perm"]', "Permissions: no such permission nonexistent.perm.", id="unknown"
    ),
    pytest.param(
        '["auth.change_user", "auth.chnage_user"]',
        "Permissions: no such permission auth.chnage_user.",
        id="typo",
    ),
    pytest.param('["."]', """Permissions: '.' is not "app_label.codename\"""", id="dot"),
    pytest.param('[" . "]', "Permissions: ' . ' contains spaces", id="spaced-dot"),
    pytest.param('["auth."]', 'is not "app_label.codename"', id="no-codename"),
    pytest.param("{}", "Permissions must be a JSON list of permission names", id="object"),
    pytest.param('"auth.change_user"', "not a string", id="string"),
    pytest.param("[5]", "Permissions: 5 is a number", id="number"),
    pytest.param("[]", "List at least one permission", id="empty"),
    pytest.param(
        "[" * 5000 + "]" * 5000, "Permissions: This JSON is nested too deeply", id="deep"
    ),
    pytest.param('["auth.\\u0000"]', "Permissions contains a NUL character", id="nul"),
    pytest.param('["auth.\x00"]', "Permissions contains a NUL character", id="nul-raw"),
    pytest.param('["auth.\\udc00"]', "not valid Unicode", id="lone-surrogate"),
    pytest.param('["auth.change_user"', "Permissions: This is not valid JSON", id="not-json"),
]


@pytest.mark.parametrize(("permissions", "message"), BAD_PERMISSIONS)
def test_bad_permissions_are_refused_with_a_reason(operator_client, permissions, message):
    data = rule_data(access="permissions", permissions=permissions)
    response = csrf_post(operator_client, ADD_URL, data)
    assert response.status_code == 200
    assert message in shown(response)
    assert not ChannelAccessRule.objects.exists()


@pytest.mark.parametrize(("permissions", "message"), BAD_PERMISSIONS[5:7] + BAD_PERMISSIONS[9:12])
def test_bad_permissions_are_refused_for_other_rules_too(operator_client, permissions, message):
    response = csrf_post(operator_client, ADD_URL, rule_data(permissions=permissions))
    assert response.status_code == 200
    assert message in shown(response)
    assert not ChannelAccessRule.objects.exists()


def test_a_typo_on_the_change_form_keeps_the_rule(operator_client):
    rule = ChannelAccessRule.objects.create(
        pattern="vip", access="permissions", permissions=["auth.change_user"]
    )
    before = snapshot(ChannelAccessRule)
    url = reverse("admin:wsapp_channelaccessrule_change", args=[rule.pk])
    data = rule_data(access="permissions", permissions='["auth.chnage_user"]')
    response = csrf_post(operator_client, url, data)
    assert response.status_code == 200
    assert "no such permission auth.chnage_user" in shown(response)
    assert snapshot(ChannelAccessRule) == before


def test_clearing_the_permissions_on_the_change_form_clears_them(operator_client):
    rule = ChannelAccessRule.objects.create(
        pattern="vip", access="permissions", permissions=["auth.change_user"]
    )
    url = reverse("admin:wsapp_channelaccessrule_change", args=[rule.pk])
    response = csrf_post(operator_client, url, rule_data(access="staff", permissions=""))
    assert response.status_code == 302, response.content[:3000]
    rule.refresh_from_db()
    assert (rule.access, rule.permissions) == ("staff", [])


def test_generic_messages_name_the_field(operator_client):
    response = csrf_post(operator_client, ADD_URL, rule_data(pattern="", access="maybe"))
    assert response.status_code == 200
    assert "Pattern is required." in shown(response)
    assert "Access: maybe is not one of the choices." in shown(response)
    assert not ChannelAccessRule.objects.exists()
