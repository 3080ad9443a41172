"""Gateways: the list with state badges, the record form with its additional routes,
the provisioning buttons and a panel showing what AWS holds now.

Saving the form or its routes never calls AWS: provisioning is an explicit
operation, started with a button on the change page (each one a POST from an
Unfold confirmation dialog, recorded in the admin history).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from dashboard.admin.common import (
    ConsoleModelAdmin,
    back_to,
    label_html,
    notify,
    outcome_message,
    record,
    short,
)
from dashboard.forms import GatewayDialogForm, GatewayForm, SyncDialogForm, TeardownDialogForm
from wsapp import provisioning
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute
from wsapp.provisioning import Difference, ProvisioningError, Snapshot
from wsapp.provisioning.calls import RetryPolicy
from wsapp.provisioning.compare import target_integration_id
from wsapp.provisioning.desired import SECRET_PARAMETER, desired_routes

logger = logging.getLogger("wsapp")

VIEW = "wsapp.view_apigateway"
CHANGE = "wsapp.change_apigateway"
DELETE = "wsapp.delete_apigateway"

#: Badge colour of each state (Unfold label variants).
STATE_BADGES = {
    ApiGateway.State.DRAFT: "info",
    ApiGateway.State.CREATING: "warning",
    ApiGateway.State.DEPLOYED: "success",
    ApiGateway.State.OUT_OF_SYNC: "warning",
    ApiGateway.State.FAILED: "danger",
    ApiGateway.State.DELETING: "warning",
}

#: The status panel reads AWS while an operator waits: give up on throttling quickly.
PANEL_RETRY = RetryPolicy(max_total_wait=5.0, max_single_wait=2.0)
#: What a button's failure says once throttling outlasts its budget. Every operation
#: resumes where it stopped, so pressing again loses nothing.
RETRY_ADVICE = (
    "this is retryable: press the button again in a minute "
    "(the operation resumes where it stopped)"
)
#: A button runs its operation inside the web request: wait out at most 20 s of
#: throttling (not the 300 s a command may), then say to press it again.
CONSOLE_RETRY = RetryPolicy(max_total_wait=20.0, max_single_wait=10.0, advice=RETRY_ADVICE)
#: The buttons that change a domain name (Create custom domain, Teardown). AWS allows
#: one domain name operation per 30 s per account, and a throttled one first waits
#: 30 s plus up to 25% jitter (``calls.FIRST_WAIT``): with CONSOLE_RETRY's 10 s waits
#: it could never outlast the window. One full wait (at most 37.5 s) fits in 40 s.
DOMAIN_RETRY = RetryPolicy(max_total_wait=40.0, max_single_wait=35.0, advice=RETRY_ADVICE)
#: Record fields that sync carries to AWS: editing one leaves AWS behind the record.
SYNCED_FIELDS = frozenset(
    {
        "api_name",
        "api_description",
        "target_base_endpoint",
        "route_selection_expression",
        "stage_name",
        "tags",
    }
)
OUT_OF_SYNC_MESSAGE = "Changed in the console since the last deployment: run Sync to apply it."


# --- Reading AWS (read-only) --------------------------------------------------------


def read_snapshot(gateway: ApiGateway) -> tuple[Snapshot | None, str]:
    """What AWS holds for ``gateway`` now, or ``(None, one-line reason)``. Changes nothing."""
    try:
        return provisioning.describe(gateway, retry=PANEL_RETRY), ""
    except ProvisioningError as exc:
        return None, exc.message
    except Exception as exc:  # the panel must render whatever AWS or botocore does
        logger.exception("Reading AWS for gateway %s failed", gateway.api_name)
        return None, f"Unexpected error ({type(exc).__name__}); see the server log."


def read_plan(gateway: ApiGateway) -> tuple[list[Difference], str]:
    """``provisioning.plan`` for a dialog: ``(differences, "")`` or ``([], reason)``."""
    try:
        return provisioning.plan(gateway, retry=PANEL_RETRY), ""
    except ProvisioningError as exc:
        return [], exc.message
    except Exception as exc:  # a dialog shows a reason, never a traceback
        logger.exception("Planning gateway %s failed", gateway.api_name)
        return [], f"Unexpected error ({type(exc).__name__}); see the server log."


def _mapping_value(gateway: ApiGateway, name: str, value: str) -> str:
    """A request parameter's value as an operator may see it: never the secret."""
    if name != SECRET_PARAMETER:
        return value
    literal = value.strip("'")
    if literal == gateway.integration_secret:
        return f"the current secret ({gateway.masked_secret})"
    if gateway.previous_integration_secret and literal == gateway.previous_integration_secret:
        return "the previous secret (rotation in progress)"
    return "a secret that is not this gateway's (run Sync)"


def panel_context(gateway: ApiGateway, snapshot: Snapshot) -> dict[str, Any]:
    """Tables for the AWS panel, built from a snapshot; secrets masked."""
    integrations = []
    for integration_id, item in sorted(snapshot.integrations.items()):
        parameters = item.get("RequestParameters") or {}
        integrations.append(
            {
                "id": integration_id,
                "uri": item.get("IntegrationUri", ""),
                "type": item.get("IntegrationType", ""),
                "method": item.get("IntegrationMethod", ""),
                "timeout": item.get("TimeoutInMillis"),
                "parameters": [
                    (name.rsplit(".", 1)[-1], _mapping_value(gateway, name, str(value)))
                    for name, value in sorted(parameters.items())
                ],
            }
        )
    routes = []
    for key, item in sorted(snapshot.routes.items()):
        target = target_integration_id(item)
        routes.append(
            {
                "key": key,
                "integration": target,
                "uri": (snapshot.integrations.get(target) or {}).get("IntegrationUri", ""),
                "two_way": bool(snapshot.route_responses.get(item.get("RouteId", ""))),
            }
        )
    stage = snapshot.stages.get(gateway.stage_name)
    return {
        "api": snapshot.api,
        "routes": routes,
        "integrations": integrations,
        "stage": stage,
        "other_stages": sorted(set(snapshot.stages) - {gateway.stage_name}),
        "mapping": snapshot.mapping,
        "domain": snapshot.domain,
        "dns_target": (snapshot.domain or {}).get("ApiGatewayDomainName", ""),
        "differences": provisioning.compare(gateway, snapshot),
        "expected_routes": [r.route_key for r in desired_routes(gateway)],
    }


# --- Admin --------------------------------------------------------------------------


def _mark_out_of_sync(gateway: ApiGateway) -> None:
    """A deployed gateway whose record was just edited no longer matches AWS.

    One conditional UPDATE: a gateway in any other state (an operation running, a
    failure to read) keeps it, and a draft has nothing in AWS to be out of sync with.
    """
    if not gateway.api_id:
        return
    ApiGateway.objects.filter(pk=gateway.pk, state=ApiGateway.State.DEPLOYED).update(
        state=ApiGateway.State.OUT_OF_SYNC,
        last_error=OUT_OF_SYNC_MESSAGE,
        state_changed_at=timezone.now(),
    )


class AdditionalRouteInline(TabularInline):
    """Custom route keys; saved in Django only until the operator runs Sync."""

    model = ApiGatewayAdditionalRoute
    fields = ("name", "route_key", "integration_url", "deployed")
    readonly_fields = ("deployed",)
    extra = 0
    tab = False

    # A route is part of its gateway's record: the gateway's permissions govern it, as
    # docs/operator_guide.md tells operators, not the route model's own (which Django
    # would check by default). ``obj`` is the gateway whose form the inline is on.

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW) or request.user.has_perm(CHANGE)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(CHANGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(CHANGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(CHANGE)


def _dialog(
    title: str, description: str, submit: str, form: type = GatewayDialogForm
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "form_class": form,
        "form_submit_text": submit,
    }


@admin.register(ApiGateway)
class ApiGatewayAdmin(ConsoleModelAdmin):
    """Gateway records and the operations that provision them in AWS."""

    list_display = ("api_name", "state_badge", "api_id", "stage_name", "websocket_url_display")
    list_filter = ("state",)
    search_fields = ("api_name", "=api_id", "domain_name")
    ordering = ("api_name",)
    inlines = (AdditionalRouteInline,)
    change_form_outer_before_template = "dashboard/gateways/aws_panel_loader.html"
    form = GatewayForm
    readonly_fields = (
        "state_field",
        "state_changed_at",
        "last_error",
        "api_id_field",
        "api_endpoint_field",
        "websocket_url_display",
        "deployment_id_field",
        "dns_target_field",
        "api_mapping_id_field",
        "masked_secret_display",
        "created_on",
        "updated_on",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "api_name",
                    "api_description",
                    "target_base_endpoint",
                    "route_selection_expression",
                    "stage_name",
                    "default_channel_name",
                    "region",
                    "tags",
                )
            },
        ),
        (
            "Custom domain",
            {"fields": ("domain_name", "certificate_arn", "hosted_zone_id")},
        ),
        (
            "State in AWS (recorded)",
            {
                "fields": (
                    "state_field",
                    "state_changed_at",
                    "last_error",
                    "api_id_field",
                    "api_endpoint_field",
                    "websocket_url_display",
                    "deployment_id_field",
                    "dns_target_field",
                    "api_mapping_id_field",
                    "masked_secret_display",
                    "created_on",
                    "updated_on",
                )
            },
        ),
    )
    actions_detail = (
        "create_in_aws",
        "sync_gateway",
        "deploy_gateway",
        {
            "title": "More",
            "icon": "more_horiz",
            "items": ["create_custom_domain", "rotate_secret", "teardown_gateway"],
        },
    )

    # --- list and form

    @display(description="State", label=STATE_BADGES, ordering="state")
    def state_badge(self, obj: ApiGateway) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    @display(description="State")
    def state_field(self, obj: ApiGateway) -> str:
        return label_html(obj.get_state_display(), STATE_BADGES.get(obj.state, ""))

    @display(description="API id")
    def api_id_field(self, obj: ApiGateway) -> str:
        return obj.api_id or "-"

    @display(description="API endpoint")
    def api_endpoint_field(self, obj: ApiGateway) -> str:
        return obj.api_endpoint or "-"

    @display(description="Live deployment")
    def deployment_id_field(self, obj: ApiGateway) -> str:
        return obj.deployment_id or "-"

    @display(description="DNS target (API Gateway domain name)")
    def dns_target_field(self, obj: ApiGateway) -> str:
        return obj.api_gateway_domain_name or "-"

    @display(description="API mapping id")
    def api_mapping_id_field(self, obj: ApiGateway) -> str:
        return obj.api_mapping_id or "-"

    @display(description="WebSocket URL")
    def websocket_url_display(self, obj: ApiGateway) -> str:
        return obj.websocket_url or "-"

    @display(description="Integration secret")
    def masked_secret_display(self, obj: ApiGateway) -> str:
        return obj.masked_secret

    # Unfold's @action(permissions=["provision"]) calls has_provision_permission. Named
    # methods, not "wsapp.change_apigateway" strings: Unfold checks such strings against
    # the database in a system check, which fails before the first migrate.
    def has_provision_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Create, Sync, Deploy, Create custom domain, Rotate secret."""
        return request.user.has_perm(CHANGE)

    def has_teardown_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Teardown deletes the API in AWS."""
        return request.user.has_perm(DELETE)

    def has_delete_permission(self, request: HttpRequest, obj: ApiGateway | None = None) -> bool:
        # Deleting a record whose API still exists would strand it in AWS.
        if obj is not None and (obj.api_id or obj.api_mapping_id):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiGateway, form: Any, change: bool) -> None:
        """Write only what the operator edited.

        Provisioning saves AWS ids, state and secrets as it goes; a full save of a
        form loaded earlier would put the old values back.
        """
        if not change:
            obj.save()
            return
        concrete = {field.name for field in obj._meta.concrete_fields}
        fields = [name for name in form.changed_data if name in concrete]
        synced = sorted(SYNCED_FIELDS.intersection(fields))
        # changed_data also flags values that only look different (a JSON re-typed with
        # other spacing): compare with what is stored before calling it out of sync.
        stored = (
            (ApiGateway.objects.filter(pk=obj.pk).values(*synced).first() or {}) if synced else {}
        )
        edited = any(stored.get(name) != getattr(obj, name) for name in synced)
        if fields:
            obj.save(update_fields=[*fields, "updated_on"])
        if edited:
            _mark_out_of_sync(obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is ApiGatewayAdditionalRoute:
            for route_form in formset.forms:
                if route_form.has_changed() and route_form.instance is not None:
                    # Edited here, not in AWS: Sync deploys it and sets the flag again.
                    route_form.instance.deployed = False
        super().save_formset(request, form, formset, change)
        if formset.model is ApiGatewayAdditionalRoute and formset.has_changed():
            _mark_out_of_sync(form.instance)

    def response_change(self, request: HttpRequest, obj: ApiGateway) -> HttpResponse:
        if obj.api_id:
            messages.info(
                request,
                "Saved in Django only: AWS is unchanged until you run Sync on this gateway.",
            )
        return super().response_change(request, obj)

    # --- the AWS panel (read-only, loaded by htmx after the page)

    def get_urls(self) -> list[URLPattern]:
        panel = path(
            "<path:object_id>/aws/",
            self.admin_site.admin_view(self.aws_panel_view),
            name="wsapp_apigateway_aws",
        )
        return [panel, *super().get_urls()]

    def aws_panel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """What AWS holds for the gateway now, next to what Django recorded."""
        gateway = self.get_object(request, object_id)
        if gateway is None:
            raise Http404("No such gateway.")
        if not self.has_view_or_change_permission(request, gateway):
            raise PermissionDenied
        context: dict[str, Any] = {"gateway": gateway, "error": ""}
        if gateway.api_id:
            snapshot, context["error"] = read_snapshot(gateway)
            if snapshot is not None:
                context.update(panel_context(gateway, snapshot))
        return TemplateResponse(request, "dashboard/gateways/aws_panel.html", context)

    # --- provisioning buttons

    def _operate(
        self,
        request: HttpRequest,
        object_id: str,
        label: str,
        operation: Callable[..., provisioning.Result],
        retry: RetryPolicy | None = None,
    ) -> HttpResponse:
        gateway = self.get_object(request, object_id)
        if gateway is None:
            raise Http404("No such gateway.")
        try:
            result = operation(gateway, retry=retry or CONSOLE_RETRY)
            ok, detail = result.ok, result.message
        except Exception as exc:  # provisioning records and re-raises the unexpected
            logger.exception("%s of gateway %s failed unexpectedly", label, gateway.api_name)
            ok, detail = False, f"Unexpected error ({type(exc).__name__}); see the server log."
        text = outcome_message(label, ok, short(detail, 500))
        record(request.user.pk, gateway, text)
        notify(request, ok, f"{gateway.api_name}: {text}")
        return back_to(request, reverse("admin:wsapp_apigateway_change", args=[gateway.pk]))

    @action(
        description="Create in AWS",
        url_path="create-in-aws",
        icon="add_circle",
        permissions=["provision"],
        variant=ActionVariant.PRIMARY,
        dialog=_dialog(
            "Create this gateway in AWS?",
            "Creates the WebSocket API with its integrations, routes, stage and a first "
            "deployment. Rerunning it resumes a failed or partial run.",
            "Create",
        ),
    )
    def create_in_aws(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        return self._operate(request, object_id, "Create", provisioning.create)

    @action(
        description="Sync",
        url_path="sync",
        icon="sync",
        permissions=["provision"],
        dialog=_dialog(
            "Apply the plan?",
            "Sync changes AWS to match this record: it applies the differences listed "
            "below, then deploys the stage if anything changed.",
            "Apply the plan",
            SyncDialogForm,
        ),
    )
    def sync_gateway(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        return self._operate(request, object_id, "Sync", provisioning.sync)

    @action(
        description="Deploy",
        url_path="deploy",
        icon="rocket_launch",
        permissions=["provision"],
        dialog=_dialog(
            "Deploy the stage?",
            "Makes a new deployment of the API's current configuration in AWS on the "
            "gateway's stage (CreateDeployment). It does not change routes or integrations.",
            "Deploy",
        ),
    )
    def deploy_gateway(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        return self._operate(request, object_id, "Deploy", provisioning.deploy)

    @action(
        description="Create custom domain",
        url_path="custom-domain",
        icon="language",
        permissions=["provision"],
        dialog=_dialog(
            "Create the custom domain?",
            "Checks the ACM certificate, creates the regional domain name in API Gateway, "
            "maps it to the stage and, with a hosted zone, points Route 53 at it.",
            "Create the domain",
        ),
    )
    def create_custom_domain(
        self, request: HttpRequest, form: Any, object_id: str
    ) -> HttpResponse:
        return self._operate(
            request,
            object_id,
            "Create custom domain",
            provisioning.create_custom_domain,
            retry=DOMAIN_RETRY,
        )

    @action(
        description="Rotate secret",
        url_path="rotate-secret",
        icon="key",
        permissions=["provision"],
        dialog=_dialog(
            "Rotate the integration secret?",
            "Generates a new secret, puts it on every integration and deploys. The old "
            "secret stays accepted until the new deployment is live, so no request is "
            "refused. Takes about 15 seconds.",
            "Rotate",
        ),
    )
    def rotate_secret(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        return self._operate(request, object_id, "Rotate secret", provisioning.rotate_secret)

    @action(
        description="Teardown",
        url_path="teardown",
        icon="delete_forever",
        permissions=["teardown"],
        variant=ActionVariant.DANGER,
        dialog=_dialog(
            "Tear this gateway down in AWS?",
            "Deletes the DNS alias, the API mapping, the domain name and the API itself. "
            "Every connected client is cut off. The record stays, back in draft.",
            "Tear down",
            TeardownDialogForm,
        ),
    )
    def teardown_gateway(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        # Deletes the domain name too: the domain operations' budget.
        return self._operate(
            request, object_id, "Teardown", provisioning.teardown, retry=DOMAIN_RETRY
        )
