"""Forms of the operator console: action dialogs and the live sessions filters.

Dialog forms subclass Unfold's ``BaseDialogForm``: Unfold renders them in a modal
when an action URL is fetched (GET), and calls the action only when the form posted
back is valid, so a GET never runs an action.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput, JSONString
from django.http import HttpRequest
from django.utils.html import format_html
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from wsapp import cleanup
from wsapp.models import ApiGateway, ChannelAccessRule, WebSocketSession
from wsapp.provisioning.desired import created_domain, pinned_region
from wsapp.sending import MessageTooLarge, encode_message
from wsapp.validators import unicode_problem, validate_channel_name

#: What the "Send test message" box holds at first.
DEFAULT_TEST_MESSAGE = '{"type": "console_test", "message": "Test message from the console"}'


#: Longest number accepted in JSON (Python's own limit for converting digits to int).
MAX_NUMBER_DIGITS = 4300


class JsonProblem(ValueError):
    """Why a JSON text is refused, in words for the operator."""


def _refuse_constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not valid JSON: use a number or null instead.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 30 else f"{text[:25]}…"
        raise JsonProblem(
            f"The number {shown} is too large for JSON: it would become "
            f"{'-' if value < 0 else ''}Infinity, which JSON cannot hold."
        )
    return value


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise JsonProblem(
            f"Number too long: a number of {digits} digits (at most {MAX_NUMBER_DIGITS})."
        )
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            shown = json.dumps(key)
            shown = shown if len(shown) <= 60 else f'{shown[:55]}…"'
            raise JsonProblem(
                f"The key {shown} appears twice in one object: each key may appear once."
            )
        result[key] = value
    return result


def load_json(text: str, field: str) -> Any:
    """Parse an operator's JSON strictly; raises ``ValidationError`` naming ``field``.

    Refused besides bad JSON: NaN and Infinity (not JSON; browsers' ``JSON.parse``
    refuses them), numbers that overflow to infinity (``1e999``), numbers of more
    than ``MAX_NUMBER_DIGITS`` digits, a key given twice in one object, and nesting
    too deep to parse.
    """
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=_unique_keys,
        )
    except JsonProblem as exc:
        raise ValidationError(f"{field}: {exc}", code="invalid_json") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{field}: This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            code="invalid_json",
        ) from exc
    except RecursionError as exc:
        raise ValidationError(
            f"{field}: This JSON is nested too deeply to handle; keep it to a few dozen levels.",
            code="invalid_json",
        ) from exc
    except ValueError as exc:  # what int() or float() refuse, said by Python
        raise ValidationError(f"{field}: This JSON cannot be read. {exc}") from exc


def parse_json_message(text: str, field: str = "Message") -> str:
    """Check an operator's JSON and return it as the compact JSON text to send.

    The text sent is always JSON (``json.dumps`` of the parsed value), so a
    top-level string goes out quoted rather than as its bare characters. Raises
    ``ValidationError`` naming ``field`` and the problem: what ``load_json``
    refuses, text that is not valid Unicode (a lone surrogate such as
    ``"\\ud800"``), or a message over the size limit.
    """
    data = load_json(text, field)
    try:
        payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        encode_message(payload)
    except MessageTooLarge as exc:
        raise ValidationError(f"{field}: {exc}") from exc
    except RecursionError as exc:
        raise ValidationError(
            f"{field}: This JSON is nested too deeply to handle; keep it to a few dozen levels."
        ) from exc
    except (TypeError, ValueError) as exc:
        # encode_message's TypeError names the problem (text that is not Unicode).
        raise ValidationError(f"{field}: This JSON cannot be sent. {exc}") from exc
    return payload


class JsonMessageField(forms.CharField):
    """A textarea whose cleaned value is the checked, compact JSON text to send."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", UnfoldAdminTextareaWidget(attrs={"rows": 5}))
        kwargs.setdefault("help_text", "JSON, at most 128 KB once encoded.")
        super().__init__(strip=True, **kwargs)

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        return parse_json_message(text, self.label or "Message")


#: Deepest nesting a record's JSON field accepts (tags and permissions need one level).
MAX_RECORD_JSON_DEPTH = 20


def stored_json_problem(data: Any, max_depth: int = MAX_RECORD_JSON_DEPTH) -> str | None:
    """Why parsed JSON cannot be stored in a JSON column, or None.

    PostgreSQL's jsonb cannot hold NUL (``\\u0000``) and no database takes text
    that is not valid Unicode. Walks the value without recursion.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > max_depth:
                return f"is nested too deeply (more than {max_depth} levels)"
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            problem = unicode_problem(value)
            if problem:
                return f"{problem}; remove it"
        elif isinstance(value, float) and not math.isfinite(value):
            return "contains a number too large for JSON (Infinity)"
    return None


class RecordJsonField(forms.JSONField):
    """A record's JSON field: blank (or null) is empty, and the refusals say why.

    Django's own field answers deep nesting with a RecursionError, lets NUL through
    to the database (PostgreSQL refuses it with a DataError) and turns blank into
    None, which a NOT NULL column refuses.
    """

    #: What a blank box (or ``null``) means.
    make_empty: Callable[[], Any] = dict

    def __init__(self, **kwargs: Any) -> None:
        # Django sets show_hidden_initial for fields with a callable default, and then
        # compares what is posted with a hidden copy the browser sends back: a client
        # that sends none makes an emptied box look unchanged. Compare with the record.
        kwargs["show_hidden_initial"] = False
        super().__init__(**kwargs)

    def _label(self) -> str:
        return str(self.label or "This field")

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if value in self.empty_values:
            return self.make_empty()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationError(
                    f"{self._label()} contains a NUL character, which cannot be stored; "
                    "remove it.",
                    code="invalid",
                )
            if not value.strip():
                return self.make_empty()
            value = load_json(value, self._label())
        if value is None:
            return self.make_empty()
        problem = stored_json_problem(value)
        if problem:
            raise ValidationError(f"{self._label()} {problem}.", code="invalid")
        return JSONString(value) if isinstance(value, str) else value

    def bound_data(self, data: Any, initial: Any) -> Any:
        # What the box shows again: a refused text exactly as typed (Django's own
        # would parse it again, and fail the same way the refusal did).
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return self.to_python(data)
        except ValidationError:
            return InvalidJSONInput(data)

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        try:
            value = self.to_python(data)
        except ValidationError:
            return True
        if initial is None:
            # Nothing to compare with: an emptied box counts as a change too.
            return True
        dump = functools.partial(json.dumps, sort_keys=True, cls=self.encoder)
        try:
            return dump(initial) != dump(value)
        except (TypeError, ValueError):
            return True


class JsonObjectField(RecordJsonField):
    """Blank means ``{}``."""

    make_empty = dict


class JsonListField(RecordJsonField):
    """Blank means ``[]``."""

    make_empty = list


class NamedErrorsMixin:
    """Django's generic messages ("This field is required.") name the field instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # type: ignore[attr-defined]
            label = str(field.label or "This field")
            messages = {
                "required": f"{label} is required.",
                "max_length": f"{label} must be at most %(limit_value)d characters "
                "(it has %(show_value)d).",
                "invalid_choice": f"{label}: %(value)s is not one of the choices.",
            }
            if any(getattr(v, "code", None) == "max_length" for v in field.validators):
                field.error_messages["max_length"] = messages["max_length"]
            for code in ("required", "invalid_choice"):
                if code in field.error_messages:
                    field.error_messages[code] = messages[code]


# --- Gateways -----------------------------------------------------------------------


class GatewayForm(NamedErrorsMixin, forms.ModelForm):
    """The gateway record, with labels operators know from the AWS console."""

    class Meta:
        model = ApiGateway
        field_classes = {"tags": JsonObjectField}
        fields = (
            "api_name",
            "api_description",
            "target_base_endpoint",
            "route_selection_expression",
            "stage_name",
            "default_channel_name",
            "region",
            "tags",
            "domain_name",
            "certificate_arn",
            "hosted_zone_id",
        )
        labels = {
            "api_name": "API name",
            "api_description": "Description",
            "stage_name": "Stage",
            "default_channel_name": "Default channel",
            "domain_name": "Custom domain name",
            "certificate_arn": "ACM certificate ARN",
            "hosted_zone_id": "Route 53 hosted zone id",
        }
        help_texts = {
            "certificate_arn": "An ISSUED certificate in the gateway's region that covers "
            "the domain name.",
            "hosted_zone_id": "Optional: Create custom domain then points the domain at API "
            "Gateway in this zone. Without it, add the DNS record yourself.",
        }

    # Provisioning keeps acting on the region and domain AWS resources were made in;
    # letting them change here would only make the record lie about where those are.

    def clean_region(self) -> str:
        region = self.cleaned_data["region"]
        gateway = self.instance
        # Naming the region it was created in (rather than leaving it to the settings)
        # changes nothing in AWS, so that stays allowed.
        unchanged = region == gateway.region or (gateway.pk and region == pinned_region(gateway))
        if gateway.pk and gateway.api_id and not unchanged:
            raise ValidationError(
                f"The API exists in AWS in {pinned_region(gateway) or gateway.region}, so the "
                "region cannot change: tear the gateway down first (Teardown), then change "
                "the region and create it again."
            )
        return region

    def clean_domain_name(self) -> str:
        domain = self.cleaned_data["domain_name"]
        gateway = self.instance
        created = created_domain(gateway) if gateway.pk else ""
        if created and domain.strip().rstrip(".").lower() != created.rstrip(".").lower():
            raise ValidationError(
                f"The custom domain {created} exists in AWS, so the domain name cannot "
                "change: tear the gateway down first (Teardown deletes the domain), then "
                "change it and create the gateway and its domain again."
            )
        return domain


# --- Channel access rules -----------------------------------------------------------


class ChannelAccessRuleForm(NamedErrorsMixin, forms.ModelForm):
    """A channel access rule; its permissions box is a JSON list (blank: none)."""

    class Meta:
        model = ChannelAccessRule
        fields = ("pattern", "access", "permissions", "description")
        field_classes = {"permissions": JsonListField}


class GatewayDialogForm(BaseDialogForm):
    """Confirmation of a provisioning action; shows which gateway it applies to."""

    form_before_template = "dashboard/gateways/dialog_target.html"

    def gateway(self) -> ApiGateway | None:
        """The gateway of the action's URL; None when the id names none (or is no id)."""
        try:
            return ApiGateway.objects.filter(pk=self.object_id).first()
        except (ValueError, TypeError, ValidationError):
            return None

    def get_before_template_context(
        self, request: HttpRequest, object_id: int | str | None = None
    ) -> dict[str, Any]:
        return {"gateway": self.gateway()}


def plan_digest(differences: list[Any], error: str) -> str:
    """A fingerprint of a plan as shown, so that Sync applies only what was reviewed."""
    text = "\n".join(f"{d.code}|{d.subject}|{d.message}" for d in differences)
    return hashlib.sha256(f"{text}\n{error}".encode()).hexdigest()


class SyncDialogForm(GatewayDialogForm):
    """Shows the plan (read from AWS, changing nothing) before sync applies it.

    The plan's digest travels with the form. When the operator applies it, the
    plan is read again; if AWS or the record changed in between, nothing is applied
    and the dialog shows the new plan to review instead.
    """

    form_before_template = "dashboard/gateways/dialog_plan.html"

    shown_plan = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plan: tuple[list[Any], str] | None = None
        if not self.is_bound and self.gateway() is not None:
            self.fields["shown_plan"].initial = plan_digest(*self.plan())

    def plan(self) -> tuple[list[Any], str]:
        """``(differences, error)`` as AWS answers now; read once per form."""
        from dashboard.admin.gateways import read_plan

        if self._plan is None:
            gateway = self.gateway()
            self._plan = read_plan(gateway) if gateway is not None else ([], "")
        return self._plan

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.gateway() is None:
            return data
        current = plan_digest(*self.plan())
        if data.get("shown_plan") != current:
            # The re-shown dialog carries the new plan's digest: applying it is one press.
            self.data = self.data.copy()
            self.data["shown_plan"] = current
            raise ValidationError(
                "AWS or the record changed since this plan was shown, so nothing was "
                "applied: review the plan below, then apply it.",
                code="plan_changed",
            )
        return data

    def get_before_template_context(
        self, request: HttpRequest, object_id: int | str | None = None
    ) -> dict[str, Any]:
        gateway = self.gateway()
        # Unfold's dialog renders field errors only: the plan's own refusal goes here.
        context: dict[str, Any] = {
            "gateway": gateway,
            "form_errors": self.non_field_errors() if self.is_bound else [],
        }
        if gateway is not None:
            context["differences"], context["plan_error"] = self.plan()
        return context


class TeardownDialogForm(GatewayDialogForm):
    """Teardown deletes the API in AWS: the operator types the gateway's name to confirm."""

    confirm_name = forms.CharField(
        label="Type the gateway's name to confirm",
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        gateway = self.gateway()
        if gateway is None or typed != gateway.api_name:
            raise ValidationError("That is not this gateway's name; nothing was deleted.")
        return typed


# --- Session actions ----------------------------------------------------------------


NO_SUCH_SESSION = (
    "No such session: the address names no session record. Go back to the live "
    "sessions page and open the session from there."
)


class SessionDialogForm(BaseDialogForm):
    """A dialog acting on the session of its URL; says so when the URL names none.

    Refusing in ``clean`` keeps the action from running at all, so submitting the
    dialog for a missing session shows the same words instead of a bare 404.
    """

    def session(self) -> WebSocketSession | None:
        """The session of the action's URL; None when the id names none (or is no id)."""
        if not hasattr(self, "_session"):
            try:
                self._session = WebSocketSession.objects.filter(pk=self.object_id).first()
            except (ValueError, TypeError, OverflowError, ValidationError):
                self._session = None
        return self._session

    def render_before_template(self) -> str:
        if self.session() is None:
            return format_html('<p class="text-red-600" data-no-session>{}</p>', NO_SUCH_SESSION)
        return super().render_before_template()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.session() is None:
            raise ValidationError(NO_SUCH_SESSION, code="no_such_session")
        return data


class SendTestMessageForm(SessionDialogForm):
    """The JSON to send to one session."""

    message = JsonMessageField(label="Message", initial=DEFAULT_TEST_MESSAGE)


class SendToChannelForm(BaseDialogForm):
    """A message for every connected session of a channel, optionally on one gateway."""

    form_after_template = "dashboard/sessions/dialog_channel_note.html"

    channel = forms.CharField(
        label="Channel",
        max_length=128,
        validators=[validate_channel_name],
        widget=UnfoldAdminTextInputWidget(),
    )
    gateway = forms.ModelChoiceField(
        label="Gateway",
        queryset=ApiGateway.objects.all(),
        required=False,
        empty_label="Every gateway",
        widget=UnfoldAdminSelectWidget(),
    )
    message = JsonMessageField(label="Message", initial=DEFAULT_TEST_MESSAGE)

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        # Opened from the live sessions page: start from the channel and gateway
        # the table is filtered on.
        channel = request.GET.get("channel", "")
        if channel:
            self.fields["channel"].initial = channel
        gateway = request.GET.get("gateway", "")
        if gateway.isdigit():
            self.fields["gateway"].initial = int(gateway)

    def sessions(self) -> Any:
        """The connected sessions the message goes to (the form must be valid)."""
        sessions = WebSocketSession.objects.filter(
            channel_name=self.cleaned_data["channel"], connected=True
        )
        if self.cleaned_data.get("gateway"):
            sessions = sessions.filter(api_gateway=self.cleaned_data["gateway"])
        return sessions


class DisconnectDialogForm(SessionDialogForm):
    """Confirmation of a disconnect; nothing to fill in."""


# --- Cleanup ------------------------------------------------------------------------

_switch = UnfoldBooleanSwitchWidget


class CleanupForm(BaseDialogForm):
    """Which cleanups to run, and their ages. Builds ``wsapp.cleanup.CleanupOptions``."""

    form_before_template = "dashboard/cleanup/dialog_counts.html"

    disconnected_sessions = forms.BooleanField(
        label="Disconnected sessions", required=False, initial=True, widget=_switch()
    )
    closed_hours = forms.IntegerField(
        label="Closed more than (hours) ago",
        required=False,
        min_value=0,
        max_value=cleanup.MAX_STALE_HOURS,
        initial=24,
        help_text="Keeps recently closed sessions, which the Overview's 24-hour chart "
        "counts. Empty: delete every closed session.",
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    stale_sessions = forms.BooleanField(
        label="Stale sessions", required=False, initial=True, widget=_switch()
    )
    stale_hours = forms.IntegerField(
        label="Stale after (hours)",
        min_value=cleanup.CONNECTION_LIFETIME_HOURS,
        max_value=cleanup.MAX_STALE_HOURS,
        initial=cleanup.CONNECTION_LIFETIME_HOURS + 1,
        help_text="Sessions still marked connected but opened longer ago than this. API "
        f"Gateway ends every connection after {cleanup.CONNECTION_LIFETIME_HOURS} hours.",
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    tokens = forms.BooleanField(label="Old tokens", required=False, initial=True, widget=_switch())
    token_age = forms.IntegerField(
        label="Tokens older than (seconds)",
        min_value=1,
        max_value=cleanup.MAX_TOKEN_AGE,
        initial=cleanup.CONSOLE_TOKEN_AGE,
        help_text="A day by default: the Overview counts tokens issued and used in the "
        "last 24 hours from the rows kept.",
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    rate_limits = forms.BooleanField(
        label="Old rate-limit records", required=False, initial=True, widget=_switch()
    )
    rate_limit_age = forms.IntegerField(
        label="Rate-limit records older than (days)",
        min_value=1,
        max_value=cleanup.MAX_RATE_LIMIT_AGE,
        initial=cleanup.DEFAULT_RATE_LIMIT_AGE,
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    traffic_counters = forms.BooleanField(
        label="Old traffic counters", required=False, initial=True, widget=_switch()
    )
    traffic_age = forms.IntegerField(
        label="Traffic counters older than (days)",
        required=False,
        min_value=2,
        max_value=cleanup.MAX_RATE_LIMIT_AGE,
        initial=cleanup.DEFAULT_TRAFFIC_AGE,
        help_text="Per-minute connects and messages; the Overview reads the last 24 hours. "
        f"Empty: {cleanup.DEFAULT_TRAFFIC_AGE} days.",
        widget=UnfoldAdminIntegerFieldWidget(),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if data.get("tokens") and cleanup.token_age_below_expiry(data["token_age"]):
            from wsapp import conf

            self.add_error(
                "token_age",
                "Tokens this young may still be valid: use at least "
                f"{conf.get('token_expiry_seconds')} seconds (the token expiry).",
            )
            return data
        try:
            data["options"] = self.options_from(data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        return data

    @staticmethod
    def options_from(data: dict[str, Any]) -> cleanup.CleanupOptions:
        """CleanupOptions for cleaned (or initial) form values."""
        return cleanup.CleanupOptions(
            disconnected_sessions=bool(data.get("disconnected_sessions")),
            closed_hours=data.get("closed_hours") if data.get("disconnected_sessions") else None,
            stale_hours=data["stale_hours"] if data.get("stale_sessions") else None,
            token_age=data["token_age"] if data.get("tokens") else None,
            rate_limit_age=data["rate_limit_age"] if data.get("rate_limits") else None,
            traffic_age=(data.get("traffic_age") or cleanup.DEFAULT_TRAFFIC_AGE)
            if data.get("traffic_counters")
            else None,
        )

    @classmethod
    def default_options(cls) -> cleanup.CleanupOptions:
        """The options the dialog starts with."""
        return cls.options_from({name: field.initial for name, field in cls.base_fields.items()})

    def get_before_template_context(
        self, request: HttpRequest, object_id: int | str | None = None
    ) -> dict[str, Any]:
        from dashboard.admin.cleanup import planned_counts

        # Unfold's dialog lists field errors only: show the form-wide ones here.
        errors = self.non_field_errors() if self.is_bound else []
        return {"planned": planned_counts(self.default_options()), "errors": errors}


# --- Live sessions filters ----------------------------------------------------------

CONNECTED_CHOICES = [("yes", "Connected"), ("no", "Disconnected"), ("any", "Any")]
#: Last-seen filter choices -> (newer than, older than).
LAST_SEEN_WINDOWS: dict[str, tuple[timedelta | None, timedelta | None]] = {
    "1m": (timedelta(minutes=1), None),
    "10m": (timedelta(minutes=10), None),
    "1h": (timedelta(hours=1), None),
    "24h": (timedelta(hours=24), None),
    # API Gateway drops a connection idle for 10 minutes.
    "idle": (None, timedelta(minutes=10)),
}
LAST_SEEN_CHOICES = [
    ("", "Any time"),
    ("1m", "In the last minute"),
    ("10m", "In the last 10 minutes"),
    ("1h", "In the last hour"),
    ("24h", "In the last 24 hours"),
    ("idle", "More than 10 minutes ago"),
]


class SessionFilterForm(forms.Form):
    """The live sessions page's filters, read from the query string."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=128,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "Connection id or username"}),
    )
    gateway = forms.ModelChoiceField(
        label="Gateway",
        queryset=ApiGateway.objects.all(),
        required=False,
        empty_label="Every gateway",
        widget=UnfoldAdminSelectWidget(),
    )
    channel = forms.CharField(
        label="Channel", required=False, max_length=128, widget=UnfoldAdminTextInputWidget()
    )
    user = forms.CharField(
        label="User",
        required=False,
        max_length=150,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "Exact username"}),
    )
    connected = forms.ChoiceField(
        label="State",
        choices=CONNECTED_CHOICES,
        required=False,
        widget=UnfoldAdminSelectWidget(),
    )
    last_seen = forms.ChoiceField(
        label="Last seen",
        choices=LAST_SEEN_CHOICES,
        required=False,
        widget=UnfoldAdminSelectWidget(),
    )

    def connected_value(self) -> str:
        """'yes' (the default), 'no' or 'any'."""
        if self.is_valid():
            return self.cleaned_data.get("connected") or "yes"
        return "yes"
