"""Models: gateways, their routes, live sessions, tokens, access rules, rate limits."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from wsapp.validators import (
    MAX_RULE_PERMISSIONS,
    PERMISSION_EXAMPLE,
    certificate_arn_region,
    json_type,
    normalise_domain_name,
    normalise_endpoint,
    normalise_hosted_zone_id,
    permission_name_error,
    region_error,
    tags_error,
    validate_certificate_arn,
    validate_channel_name,
    validate_channel_pattern,
    validate_domain_name,
    validate_hosted_zone_id,
    validate_region,
    validate_route_key,
    validate_route_selection_expression,
    validate_stage_name,
    validate_tags,
)

if TYPE_CHECKING:
    from wsapp.sending import SendReport


def generate_secret() -> str:
    """A fresh integration secret: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_value(value: str) -> str:
    """SHA-256 hex digest, used for tokens and session keys (both high-entropy)."""
    return hashlib.sha256(value.encode()).hexdigest()


class ApiGateway(models.Model):
    """One API Gateway WebSocket API, as recorded in Django."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        CREATING = "creating", "Creating"
        DEPLOYED = "deployed", "Deployed"
        OUT_OF_SYNC = "out_of_sync", "Out of sync"
        FAILED = "failed", "Failed"
        DELETING = "deleting", "Deleting"

    api_name = models.CharField(max_length=128, unique=True)
    api_description = models.TextField(blank=True)
    target_base_endpoint = models.CharField(
        max_length=512,
        help_text="Where API Gateway sends events, e.g. https://www.example.com/ws/. "
        "$connect goes to <endpoint>connect, $disconnect to <endpoint>disconnect and "
        "every other message to <endpoint>default.",
    )
    route_selection_expression = models.CharField(
        max_length=255,
        default="$request.body.action",
        validators=[validate_route_selection_expression],
        help_text="$request.body.<key>: the key of each message's JSON that names its route, "
        "e.g. $request.body.action.",
    )
    stage_name = models.CharField(
        max_length=128, default="production", validators=[validate_stage_name]
    )
    default_channel_name = models.CharField(
        max_length=128, default="default", validators=[validate_channel_name]
    )
    region = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_region],
        help_text="AWS region of this gateway, e.g. us-east-1. Blank: AWS_GATEWAY_REGION_NAME "
        "or AWS_REGION_NAME from settings.",
    )
    domain_name = models.CharField(
        max_length=253,
        blank=True,
        validators=[validate_domain_name],
        help_text="A host name such as ws.example.com (no scheme, path or port). "
        "Internationalised names in their ASCII 'xn--' form.",
    )
    certificate_arn = models.CharField(
        max_length=2048, blank=True, validators=[validate_certificate_arn]
    )
    hosted_zone_id = models.CharField(
        max_length=64, blank=True, validators=[validate_hosted_zone_id]
    )
    tags = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_tags],
        help_text='A JSON object of tag names to values, e.g. {"team": "web"}; at most 49 '
        "tags. Blank: no tags.",
    )

    # Identifiers AWS returns.
    api_id = models.CharField(max_length=64, blank=True, db_index=True)
    api_endpoint = models.CharField(max_length=512, blank=True)
    deployment_id = models.CharField(max_length=64, blank=True)
    api_gateway_domain_name = models.CharField(max_length=253, blank=True)
    api_mapping_id = models.CharField(max_length=64, blank=True)
    # Ids of integrations, routes and route responses, saved one by one as
    # provisioning creates them so that a failed run can resume.
    aws_resources = models.JSONField(default=dict, blank=True, editable=False)

    integration_secret = models.CharField(max_length=128, default=generate_secret, editable=False)
    # Accepted alongside the current secret while a rotation is being deployed.
    previous_integration_secret = models.CharField(max_length=128, blank=True, editable=False)

    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    # A lease held while a provisioning operation runs, so that two operators (or a
    # command and the console) never change the same gateway at once. It expires by
    # itself if the process running the operation dies.
    operation = models.CharField(max_length=32, blank=True, editable=False)
    operation_token = models.CharField(max_length=32, blank=True, editable=False)
    operation_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    state_changed_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API gateway"
        ordering = ["api_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_id"], condition=~Q(api_id=""), name="wsapp_gateway_unique_api_id"
            )
        ]

    def __str__(self) -> str:
        return self.api_name

    def save(self, *args, **kwargs) -> None:
        if self.target_base_endpoint and not self.target_base_endpoint.endswith("/"):
            self.target_base_endpoint += "/"
        if self.tags is None:  # the column is NOT NULL: no tags is {}
            self.tags = {}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # The fields' own validators (run before this) check each value's shape; this
        # normalises them and checks them against each other.
        errors: dict[str, list[str]] = {}
        try:
            endpoint = normalise_endpoint(self.target_base_endpoint, field="Target base endpoint")
            self.target_base_endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        except ValidationError as exc:
            errors["target_base_endpoint"] = exc.messages
        if self.tags is None:
            self.tags = {}
        elif not isinstance(self.tags, dict) and not self.tags:
            # An empty list or string: the field's validators skip empty values.
            errors["tags"] = [tags_error(self.tags) or ""]
        self.domain_name = normalise_domain_name(self.domain_name)
        self.hosted_zone_id = normalise_hosted_zone_id(self.hosted_zone_id)
        self.certificate_arn = (self.certificate_arn or "").strip()
        self.region = (self.region or "").strip()
        if self.certificate_arn and not self.domain_name:
            errors["domain_name"] = ["A certificate needs a domain name to apply to."]
        certificate_region = certificate_arn_region(self.certificate_arn)
        if (
            certificate_region
            and self.region
            and region_error(self.region) is None
            and certificate_region != self.region
        ):
            errors["certificate_arn"] = [
                f"Certificate {self.certificate_arn} is in {certificate_region}, but the "
                f"gateway is in {self.region}: a regional custom domain needs a certificate "
                f"in {self.region}; request or import one there."
            ]
        if errors:
            raise ValidationError(errors)

    @property
    def masked_secret(self) -> str:
        """The secret as operators may see it: the first four characters only."""
        return f"{self.integration_secret[:4]}…" if self.integration_secret else ""

    def accepts_secret(self, candidate: str) -> bool:
        """Constant-time check against the current (and, mid-rotation, previous) secret."""
        ok = secrets.compare_digest(candidate.encode(), self.integration_secret.encode())
        if self.previous_integration_secret:
            ok |= secrets.compare_digest(
                candidate.encode(), self.previous_integration_secret.encode()
            )
        return ok

    @property
    def management_endpoint(self) -> str:
        """Endpoint of the @connections API: the API endpoint, ws→http, plus the stage."""
        if not self.api_endpoint:
            return ""
        endpoint = self.api_endpoint
        if endpoint.startswith("wss://"):
            endpoint = "https://" + endpoint[len("wss://") :]
        elif endpoint.startswith("ws://"):
            endpoint = "http://" + endpoint[len("ws://") :]
        return f"{endpoint.rstrip('/')}/{self.stage_name}"

    @property
    def websocket_url(self) -> str:
        """The URL browsers connect to."""
        if self.domain_name and self.api_mapping_id:
            return f"wss://{self.domain_name}"
        if not self.api_endpoint:
            return ""
        return f"{self.api_endpoint.rstrip('/')}/{self.stage_name}"

    def set_state(self, state: str, error: str = "") -> None:
        """Record a provisioning state change and when it happened."""
        self.state = state
        self.last_error = error
        self.state_changed_at = timezone.now()
        ApiGateway.objects.filter(pk=self.pk).update(
            state=state, last_error=error, state_changed_at=self.state_changed_at
        )


class ApiGatewayAdditionalRoute(models.Model):
    """A custom route key whose messages go to their own integration URL."""

    api_gateway = models.ForeignKey(
        ApiGateway, on_delete=models.CASCADE, related_name="additional_routes"
    )
    name = models.CharField(max_length=128)
    route_key = models.CharField(max_length=128, validators=[validate_route_key])
    integration_url = models.CharField(max_length=512)
    deployed = models.BooleanField(default=False)

    class Meta:
        verbose_name = "additional route"
        ordering = ["route_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_gateway", "route_key"], name="wsapp_route_unique_key_per_gateway"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.route_key})"

    def clean(self) -> None:
        try:
            self.integration_url = normalise_endpoint(
                self.integration_url, field="Integration URL"
            )
        except ValidationError as exc:
            raise ValidationError({"integration_url": exc.messages}) from exc


class WebSocketSessionQuerySet(models.QuerySet):
    def connected(self) -> WebSocketSessionQuerySet:
        return self.filter(connected=True)

    def send_message(self, data: object) -> SendReport:
        """Send ``data`` as JSON to every connected session in this queryset."""
        from wsapp.sending import send_to_sessions

        return send_to_sessions(self, data)


class WebSocketSession(models.Model):
    """One WebSocket connection held by API Gateway."""

    connection_id = models.CharField(max_length=128, unique=True)
    channel_name = models.CharField(max_length=128, validators=[validate_channel_name])
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="websocket_sessions",
    )
    connected = models.BooleanField(default=True)
    api_gateway = models.ForeignKey(ApiGateway, on_delete=models.CASCADE, related_name="sessions")
    request_count = models.PositiveIntegerField(default=0)
    created_on = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    disconnected_on = models.DateTimeField(null=True, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    # Links the socket to the Django login it was opened with, so that logging
    # out or changing the password ends it. Hashes only, never the raw values.
    session_key_hash = models.CharField(max_length=64, blank=True)
    auth_hash = models.CharField(max_length=128, blank=True)

    objects = WebSocketSessionQuerySet.as_manager()

    class Meta:
        verbose_name = "WebSocket session"
        indexes = [
            models.Index(
                fields=["channel_name"],
                condition=Q(connected=True),
                name="wsapp_sess_live_channel",
            ),
            models.Index(
                fields=["user"], condition=Q(connected=True), name="wsapp_sess_live_user"
            ),
            models.Index(
                fields=["session_key_hash"],
                condition=Q(connected=True),
                name="wsapp_sess_live_djsession",
            ),
            models.Index(fields=["connected", "last_seen"], name="wsapp_sess_conn_seen"),
            models.Index(
                fields=["disconnected_on"],
                condition=Q(connected=False),
                name="wsapp_sess_closed_at",
            ),
            models.Index(fields=["connected", "created_on"], name="wsapp_sess_conn_created"),
            models.Index(fields=["created_on"], name="wsapp_sess_created"),
            models.Index(fields=["api_gateway", "connected"], name="wsapp_sess_gateway"),
        ]

    def __str__(self) -> str:
        return self.connection_id

    def send_message(self, data: object) -> SendReport:
        """Send ``data`` as JSON to this one session."""
        from wsapp.sending import send_to_sessions

        return send_to_sessions([self], data)

    def disconnect(self) -> bool:
        """Close the socket through the management API and mark the session closed."""
        from wsapp.sending import disconnect_session

        return disconnect_session(self)


class WebSocketToken(models.Model):
    """A single-use connect token. Only hashes are stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="websocket_tokens"
    )
    session_key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    used = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "WebSocket token"

    def __str__(self) -> str:
        return f"{self.token_hash[:8]}…"


class ChannelAccessRule(models.Model):
    """Who may join a channel, matched by exact name or by prefix ('support-*')."""

    class Access(models.TextChoices):
        EVERYONE = "everyone", "Everyone, including anonymous users"
        AUTHENTICATED = "authenticated", "Signed-in users"
        STAFF = "staff", "Staff users"
        PERMISSIONS = "permissions", "Users holding all the listed permissions"
        NOBODY = "nobody", "Nobody"

    pattern = models.CharField(
        max_length=129,
        unique=True,
        validators=[validate_channel_pattern],
        help_text="An exact channel name, a prefix ending in '*' (e.g. 'support-*'), "
        "or '*' for every channel. The most specific rule wins: an exact name, then "
        "the longest prefix.",
    )
    access = models.CharField(max_length=16, choices=Access.choices)
    permissions = models.JSONField(
        default=list,
        blank=True,
        help_text='Permission names such as ["support.view_ticket"], for "permissions" rules.',
    )
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "channel access rule"
        ordering = ["pattern"]

    def __str__(self) -> str:
        return f"{self.pattern}: {self.get_access_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.permissions is None:  # the column is NOT NULL: no permissions is []
            self.permissions = []
        super().save(*args, **kwargs)

    @property
    def is_prefix(self) -> bool:
        return self.pattern.endswith("*")

    def matches(self, channel: str) -> bool:
        if self.is_prefix:
            return channel.startswith(self.pattern[:-1])
        return channel == self.pattern

    def clean(self) -> None:
        if self.permissions is None:
            self.permissions = []
        perms = self.permissions
        if not isinstance(perms, list):
            raise ValidationError(
                {
                    "permissions": "Permissions must be a JSON list of permission names, "
                    f"e.g. [{PERMISSION_EXAMPLE}], not {json_type(perms)}."
                }
            )
        if self.access != self.Access.PERMISSIONS:
            if perms:
                raise ValidationError(
                    {"permissions": 'Permissions apply only to "permissions" rules; clear them.'}
                )
            return
        if not perms:
            raise ValidationError(
                {
                    "permissions": 'List at least one permission as "app_label.codename", '
                    f"e.g. [{PERMISSION_EXAMPLE}]."
                }
            )
        if len(perms) > MAX_RULE_PERMISSIONS:
            raise ValidationError(
                {
                    "permissions": f"Permissions: {len(perms)} names is too many; a rule may "
                    f"list at most {MAX_RULE_PERMISSIONS}."
                }
            )
        problems = [error for name in perms if (error := permission_name_error(name))]
        if problems:
            raise ValidationError({"permissions": problems[:5]})
        unknown = unknown_permissions(perms)
        if unknown:
            raise ValidationError(
                {
                    "permissions": f"Permissions: no such permission {', '.join(unknown)}. "
                    "Check the spelling (app_label.codename, as listed under the user's "
                    "permissions): nobody holds a permission that does not exist, so the "
                    "rule would let nobody join."
                }
            )


def unknown_permissions(names: list[str]) -> list[str]:
    """The "app_label.codename" names among ``names`` no permission in the database has."""
    from django.contrib.auth.models import Permission

    wanted = {tuple(name.split(".", 1)) for name in names}
    found = set(
        Permission.objects.filter(
            content_type__app_label__in={app_label for app_label, _ in wanted},
            codename__in={codename for _, codename in wanted},
        ).values_list("content_type__app_label", "codename")
    )
    return sorted(f"{app_label}.{codename}" for app_label, codename in wanted - found)


class ConnectionRateLimit(models.Model):
    """Attempts counted for one key (a user or an address) in one fixed time window."""

    class Scope(models.TextChoices):
        CONNECT_IP = "connect_ip", "Connect, by source IP"
        CONNECT_USER = "connect_user", "Connect, by user"
        TOKEN_USER = "token_user", "Token request, by user"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    key = models.CharField(max_length=255)
    window_start = models.DateTimeField()
    window_minutes = models.PositiveIntegerField()
    attempts = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    last_attempt = models.DateTimeField()

    class Meta:
        verbose_name = "rate-limit record"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key", "window_start"], name="wsapp_ratelimit_unique_window"
            )
        ]
        indexes = [
            models.Index(fields=["last_attempt"], name="wsapp_rl_last_attempt"),
            models.Index(
                fields=["window_start"], condition=Q(rejected__gt=0), name="wsapp_rl_rejected"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} @ {self.window_start:%Y-%m-%d %H:%M}"


class CleanupRun(models.Model):
    """One run of the cleanups, from a command or from the console."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=64, help_text="Command name, or 'console'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # {"disconnected_sessions": 12, "stale_sessions": 0, "tokens": 3, "rate_limits": 0}:
    # rows deleted so far, per cleanup.
    counts = models.JSONField(default=dict, blank=True)
    # Rows to delete in all, known before the run starts; drives the progress bar.
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} at {self.started_at:%Y-%m-%d %H:%M}"


class TrafficCounter(models.Model):
    """Connects and messages of one gateway in one minute.

    Written through ``wsapp.traffic`` (an in-process buffer flushed every few
    seconds), so a message costs no query of its own; read by the Overview for
    exact counts over the last hour and day. The cleanup deletes old minutes.
    """

    api_gateway = models.ForeignKey(
        ApiGateway, on_delete=models.CASCADE, related_name="traffic_counters"
    )
    bucket = models.DateTimeField(help_text="Start of the minute counted (UTC).")
    connects = models.PositiveBigIntegerField(default=0)
    messages = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_gateway", "bucket"], name="wsapp_traffic_gateway_bucket"
            ),
        ]
        # The Overview sums a range of minutes across every gateway.
        indexes = [models.Index(fields=["bucket"], name="wsapp_traffic_bucket")]

    def __str__(self) -> str:
        return f"gateway {self.api_gateway_id} @ {self.bucket:%Y-%m-%d %H:%M}"
