"""The views API Gateway calls, and the token endpoint browsers call.

Subclass :class:`WebSocketView` and route it with a slug named ``route``::

    path("ws/<slug:route>", ChatView.as_view(), name="chat_ws")

API Gateway then POSTs ``$connect`` to ``ws/connect``, ``$disconnect`` to
``ws/disconnect`` and every message to ``ws/default`` (or to an additional
route's URL). See docs/quickstart.md.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import mail_admins
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.http.request import split_domain_port, validate_host
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from wsapp import aws, conf, ratelimit, traffic
from wsapp.access import channel_access_error
from wsapp.models import ApiGateway, ConnectionRateLimit, WebSocketSession, hash_value
from wsapp.tokens import consume_token, issue_token
from wsapp.validators import channel_name_error, is_loopback_host

logger = logging.getLogger("wsapp")

#: Header API Gateway sets to the id of the API that forwarded the event.
API_ID_HEADER = "X-Amzn-Apigateway-Api-Id"
#: Header mapped by provisioning to the gateway's secret, as a static value.
SECRET_HEADER = "X-Gateway-Secret"
#: Header mapped by provisioning from ``context.connectionId``.
CONNECTION_ID_HEADER = "connectionId"
GATEWAY_USER_AGENT_PREFIX = "AmazonAPIGateway_"


class Rejection(Exception):
    """A request refused with ``status``: ``reason`` goes to the caller, ``detail`` to the log."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail or reason


def client_ip(request: HttpRequest) -> str:
    """The address that opened the socket.

    API Gateway appends the client's address to ``X-Forwarded-For``; every proxy
    between API Gateway and Django (``WEBSOCKETS["trusted_proxy_count"]``) appends
    one more. Entries further left were written by the client and are not trusted.
    """
    forwarded = [
        part.strip()
        for part in request.headers.get("X-Forwarded-For", "").split(",")
        if part.strip()
    ]
    index = len(forwarded) - 1 - conf.get("trusted_proxy_count")
    address = forwarded[index] if forwarded and index >= 0 else request.META.get("REMOTE_ADDR")
    # Only an address counts: anything else (a request that bypassed API Gateway
    # can send any bytes, NUL included) shares one bucket instead of making a key.
    return _valid_ip(address or "") or "unknown"


def allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        # Django's own default in DEBUG (see HttpRequest.get_host).
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_error(origin: str) -> str | None:
    """Why ``origin`` may not open a socket, or None.

    ``WEBSOCKETS["allowed_origins"]`` lists exact origins. Without it, an origin is
    allowed when its host passes ALLOWED_HOSTS (Django's matching, so
    ``.example.com`` covers subdomains) and it uses https (http only for loopback
    hosts or in DEBUG). Origins are compared whole, never as substrings.
    """
    if not origin:
        return "missing Origin header"
    configured = conf.get("allowed_origins")
    if configured is not None:
        normalised = origin.strip().lower()
        if any(normalised == allowed.strip().lower() for allowed in configured):
            return None
        return f"origin {origin!r} is not in WEBSOCKETS['allowed_origins']"
    try:
        # urlsplit itself raises on a broken IPv6 literal such as "https://[::1".
        parts = urlsplit(origin)
        hostname = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return f"malformed origin {origin!r}"
    if parts.scheme not in {"http", "https"} or not hostname or parts.path or parts.query:
        return f"malformed origin {origin!r}"
    if parts.scheme == "http" and not (settings.DEBUG or is_loopback_host(hostname)):
        return f"origin {origin!r} must use https"
    host = f"[{hostname}]" if ":" in hostname else hostname
    if not validate_host(host, allowed_hosts()):
        return f"origin {origin!r} does not match ALLOWED_HOSTS"
    return None


def _is_plain_method(cls: type, name: str) -> bool:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return inspect.isfunction(klass.__dict__[name])
    return False


#: Never dispatched to a message, even when a subclass defines or lists them: they
#: are the view's own machinery, and HTTP verbs would answer a message as a page.
FORBIDDEN_HANDLERS = frozenset(
    {"connect", "disconnect", "dispatch", "setup", "http_method_not_allowed", "options"}
    | set(View.http_method_names)
)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _names(value: object) -> bool:
    return isinstance(value, (list, tuple, set, frozenset)) and all(
        isinstance(item, str) for item in value
    )


#: View attributes checked by ``as_view``: (attribute, test, what it must be).
_ATTRIBUTE_RULES: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("USE_WS_TOKEN", lambda v: v is None or isinstance(v, bool), "None, True or False"),
    ("RATE_LIMIT_ENABLED", lambda v: v is None or isinstance(v, bool), "None, True or False"),
    ("SEND_EXCEPTION_MAIL", lambda v: v is None or isinstance(v, bool), "None, True or False"),
    ("RATE_LIMIT_MAX_ATTEMPTS", lambda v: v is None or _positive_int(v), "None or an int >= 1"),
    (
        "RATE_LIMIT_WINDOW_MINUTES",
        lambda v: v is None or _positive_int(v),
        "None or a number of minutes >= 1",
    ),
    ("handler_selection_key", lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    ("ALLOWED_HANDLERS", _names, "a set, list or tuple of handler names"),
    ("permissions_required", _names, "a list or tuple of permission names"),
    ("all_permissions_required", _names, "a list or tuple of permission names"),
)


#: API Gateway's connection ids are URL-safe base64 ("L0SM9cOFvHcCIhw="); anything
#: else is refused before it reaches a query.
CONNECTION_ID_RE = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")

#: Refusals the health check wsapp.H113 recognises as this view's own answers.
NOT_FROM_GATEWAY = "Request did not come through API Gateway."
UNKNOWN_GATEWAY = "Unknown gateway."
SECRET_MISMATCH = "Gateway secret mismatch."
TOO_MANY_CONNECTS = "Too many connection attempts."

_PERMISSION_PREFIX = "wsapp_has_perm_"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _permissions_in_sql() -> bool:
    """Whether ``ModelBackend`` alone decides permissions, so SQL can answer them."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import PermissionsMixin

    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", [_MODEL_BACKEND]))
    return backends == [_MODEL_BACKEND] and issubclass(get_user_model(), PermissionsMixin)


class WebSocketView(View):
    """Handles the requests API Gateway forwards for one WebSocket API.

    Override ``default`` and add public methods; a message's
    ``handler_selection_key`` (``"action"``) picks the method. Handlers return
    None (nothing is sent back), a dict or list (sent back as JSON when the route
    has a route response) or any HttpResponse.
    """

    #: Log each rejection's reason to the "wsapp" logger: ``as_view(debug=True)``.
    debug: bool = False
    #: Body key that names the handler; matches ``$request.body.action``.
    handler_selection_key: str = "action"
    #: Handler names allowed. Empty: ``default`` plus public methods the subclass defines.
    ALLOWED_HANDLERS: ClassVar[set[str] | list[str] | tuple[str, ...]] = ()
    #: The user needs ANY of these permissions.
    permissions_required: ClassVar[list[str] | tuple[str, ...]] = ()
    #: The user needs ALL of these permissions.
    all_permissions_required: ClassVar[list[str] | tuple[str, ...]] = ()
    #: None means: take the value from settings.WEBSOCKETS (see wsapp.conf).
    USE_WS_TOKEN: bool | None = None
    RATE_LIMIT_ENABLED: bool | None = None
    RATE_LIMIT_MAX_ATTEMPTS: int | None = None
    RATE_LIMIT_WINDOW_MINUTES: int | None = None
    SEND_EXCEPTION_MAIL: bool | None = None

    #: Set for the request being handled.
    body: dict[str, Any]
    websocket_session: WebSocketSession | None
    gateway: ApiGateway | None

    _handler_cache: ClassVar[dict[tuple[type, frozenset[str]], frozenset[str]]] = {}

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        """Build the view function, refusing attribute values that would fail per request.

        A bad value (say ``RATE_LIMIT_WINDOW_MINUTES = 0``) raises
        ImproperlyConfigured when the URLconf loads, instead of a 500 on every connect.
        """
        for name, valid, expected in _ATTRIBUTE_RULES:
            value = initkwargs.get(name, getattr(cls, name, None))
            if not valid(value):
                raise ImproperlyConfigured(
                    f"{cls.__name__}.{name} must be {expected}, not {value!r}."
                )
        return super().as_view(**initkwargs)

    # --- Hooks -----------------------------------------------------------------

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase | None:
        """Called once a connection passed every check and its session exists.

        Return None to accept, or a non-2xx response to refuse the handshake.
        """
        return None

    def disconnect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        """Called after a session has been marked disconnected."""
        return None

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Handles messages that name no known handler."""
        return None

    def change_channel(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Built-in handler: ``{"action": "change_channel", "channel": "support"}``."""
        session = self.websocket_session
        assert session is not None
        channel = self.body.get("channel")
        error = channel_name_error(channel)
        if error:
            raise Rejection(400, error)
        access_error = channel_access_error(request.user, channel)
        if access_error:
            raise Rejection(403, "Channel not allowed.", access_error)
        WebSocketSession.objects.filter(pk=session.pk).update(channel_name=channel)
        session.channel_name = channel
        return {"type": "channel_changed", "channel": channel}

    # --- Settings ---------------------------------------------------------------

    def setting(self, name: str) -> Any:
        value = getattr(self, name, None)
        return conf.get(name) if value is None else value

    @classmethod
    def handler_names(cls, allowed: Iterable[str] | None = None) -> frozenset[str]:
        """Names a message may select.

        ``allowed`` stands for ``ALLOWED_HANDLERS`` when it was given to ``as_view()``
        (the class attribute otherwise); the forbidden names stay forbidden either way.
        """
        allowed = frozenset(cls.ALLOWED_HANDLERS if allowed is None else allowed)
        cached = cls._handler_cache.get((cls, allowed))
        if cached is not None:
            return cached
        forbidden = FORBIDDEN_HANDLERS | (
            {name for klass in WebSocketView.__mro__ for name in klass.__dict__}
            - {"default", "change_channel"}
        )
        if allowed:
            candidates = set(allowed)
        else:
            candidates = {"default", "change_channel"}
            # Only the site's own WebSocketView subclasses contribute: a mixin's
            # public methods (LoginRequiredMixin.get_login_url, ...) were never
            # written to answer a message.
            for klass in cls.__mro__:
                if klass is not WebSocketView and issubclass(klass, WebSocketView):
                    candidates.update(klass.__dict__)
        names = frozenset(
            name
            for name in candidates
            if isinstance(name, str)
            and not name.startswith("_")
            and name not in forbidden
            and _is_plain_method(cls, name)
        )
        cls._handler_cache[(cls, allowed)] = names
        return names

    # --- Dispatch ---------------------------------------------------------------

    @method_decorator(csrf_exempt)
    @method_decorator(never_cache)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return self.http_method_not_allowed(request, *args, **kwargs)
        self.body = {}
        self.websocket_session = None
        self.gateway = None
        # What this request adds to the Overview's traffic counters, once accepted.
        self._traffic: dict[str, int] = {}
        response = self._route(request, *args, **kwargs)
        if self._traffic and self.gateway is not None:
            # Buffered: written out after the response (wsapp.signals), never here.
            traffic.count(self.gateway.pk, **self._traffic)
        return response

    def _route(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        route = kwargs.get("route")
        try:
            if route is None:
                raise Rejection(
                    500,
                    "Server misconfigured.",
                    "the URL pattern has no slug named 'route': use "
                    'path("ws/<slug:route>", View.as_view())',
                )
            if route == "connect":
                return self._connect(request, *args, **kwargs)
            if route == "disconnect":
                return self._disconnect(request, *args, **kwargs)
            return self._message(request, *args, **kwargs)
        except Rejection as rejection:
            log = logger.warning if self.debug else logger.debug
            log(
                "WebSocket %s rejected (%s): %s",
                route,
                rejection.status,
                rejection.detail,
                extra={"status_code": rejection.status, "request": request},
            )
            response = HttpResponse(
                rejection.reason, status=rejection.status, content_type="text/plain"
            )
            if isinstance(rejection, _HandlerFailed):
                # Already logged (and mailed when asked): keep django.request from
                # logging and mailing the same failure again.
                response._has_been_logged = True
            return response

    # --- Gateway origin ---------------------------------------------------------

    def _check_gateway(
        self, request: HttpRequest, gateway: ApiGateway | None, api_id: str
    ) -> None:
        if not api_id:
            raise Rejection(400, NOT_FROM_GATEWAY, f"missing {API_ID_HEADER} header")
        if gateway is None or gateway.api_id != api_id:
            raise Rejection(403, UNKNOWN_GATEWAY, f"no gateway has api_id {api_id!r}")
        secret = request.headers.get(SECRET_HEADER, "")
        if not secret or not gateway.accepts_secret(secret):
            raise Rejection(
                403,
                SECRET_MISMATCH,
                f"{SECRET_HEADER} is missing or wrong for gateway {gateway.api_name!r}; "
                "sync the gateway so its integrations carry the current secret",
            )

    def _check_gateway_agent(self, request: HttpRequest, api_id: str) -> None:
        agent = request.headers.get("User-Agent", "")
        if not constant_time_compare(agent, GATEWAY_USER_AGENT_PREFIX + api_id):
            raise Rejection(
                403,
                NOT_FROM_GATEWAY,
                f"user agent {agent!r} is not {GATEWAY_USER_AGENT_PREFIX}{api_id}",
            )

    def _check_permissions(self, user, held: frozenset[str] | None = None) -> None:
        """Refuse unless ``user`` has the view's permissions.

        ``held`` is which of them the session query already found the user to hold
        (``_permission_annotations``); without it, ``user.has_perm`` asks the
        authentication backends.
        """
        any_of = self.permissions_required
        all_of = self.all_permissions_required
        if not any_of and not all_of:
            return
        if not user.is_authenticated:
            raise Rejection(403, "Permission denied.", "anonymous user; permissions required")
        has_perm = held.__contains__ if held is not None else user.has_perm
        if any_of and not any(has_perm(perm) for perm in any_of):
            raise Rejection(
                403, "Permission denied.", f"user lacks every one of {', '.join(any_of)}"
            )
        if all_of and not all(has_perm(perm) for perm in all_of):
            raise Rejection(403, "Permission denied.", f"user lacks some of {', '.join(all_of)}")

    def _required_permissions(self) -> list[str]:
        """Every permission the view names, in the order the annotations number them."""
        return sorted({*self.permissions_required, *self.all_permissions_required})

    def _permission_annotations(self) -> dict[str, Any]:
        """Per required permission, whether the session's user holds it, as SQL.

        Added to the session query of a message, so checking the view's permissions
        costs no query of its own. Only when Django's ``ModelBackend`` is the one
        authentication backend (and the user model has its permission tables): any
        other backend may decide differently, so ``has_perm`` asks it instead.
        """
        names = self._required_permissions()
        if not names or not _permissions_in_sql():
            return {}
        from django.contrib.auth.models import Permission

        annotations = {}
        for index, name in enumerate(names):
            app_label, _, codename = str(name).partition(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            )
            annotations[f"{_PERMISSION_PREFIX}{index}"] = ExpressionWrapper(
                Q(Exists(permission.filter(user=OuterRef("user_id"))))
                | Q(Exists(permission.filter(group__user=OuterRef("user_id")))),
                output_field=BooleanField(),
            )
        return annotations

    def _held_permissions(self, session: WebSocketSession) -> frozenset[str] | None:
        """The required permissions the annotated session query found, or None."""
        if not hasattr(session, f"{_PERMISSION_PREFIX}0"):
            return None
        user = session.user
        names = self._required_permissions()
        if user is not None and user.is_active and user.is_superuser:
            return frozenset(names)  # as PermissionsMixin.has_perm decides
        return frozenset(
            name
            for index, name in enumerate(names)
            if getattr(session, f"{_PERMISSION_PREFIX}{index}")
        )

    # --- $connect -----------------------------------------------------------------

    def _connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        ip = client_ip(request)
        # 1. Rate limit, before anything costly.
        if self.setting("RATE_LIMIT_ENABLED"):
            keys = [(ConnectionRateLimit.Scope.CONNECT_IP.value, ip)]
            if user.is_authenticated:
                keys.append((ConnectionRateLimit.Scope.CONNECT_USER.value, str(user.pk)))
            result = ratelimit.hit(
                keys,
                max_attempts=self.setting("RATE_LIMIT_MAX_ATTEMPTS"),
                window_minutes=self.setting("RATE_LIMIT_WINDOW_MINUTES"),
            )
            if not result.allowed:
                raise Rejection(
                    429,
                    TOO_MANY_CONNECTS,
                    f"rate limit exceeded for {result.exceeded}: {result.attempts} attempts, "
                    f"retry in {result.retry_after} s",
                )
        # 2. Gateway origin.
        api_id = request.headers.get(API_ID_HEADER, "")
        gateway = ApiGateway.objects.filter(api_id=api_id).first() if api_id else None
        self._check_gateway(request, gateway, api_id)
        assert gateway is not None
        self.gateway = gateway
        connection_id = request.headers.get(CONNECTION_ID_HEADER, "")
        if not CONNECTION_ID_RE.fullmatch(connection_id):
            raise Rejection(
                400,
                "Invalid connection id.",
                f"missing or malformed {CONNECTION_ID_HEADER} header; map "
                "integration.request.header.connectionId to context.connectionId",
            )
        # 3. Host and Origin.
        domain, _port = split_domain_port(request._get_raw_host())
        if not domain or not validate_host(domain, allowed_hosts()):
            raise Rejection(
                400, "Invalid host.", f"host {request._get_raw_host()!r} is not in ALLOWED_HOSTS"
            )
        error = origin_error(request.headers.get("Origin", ""))
        if error:
            raise Rejection(403, "Origin not allowed.", error)
        self._check_permissions(user)
        # 5 (checked before the token is consumed). Channel name and access.
        channel = request.GET.get("channel") or gateway.default_channel_name
        error = channel_name_error(channel)
        if error:
            raise Rejection(400, "Invalid channel name.", error)
        error = channel_access_error(user, channel)
        if error:
            raise Rejection(403, "Channel not allowed.", error)
        # 4. Single-use token bound to the Django session.
        session_key = getattr(request.session, "session_key", None) or ""
        if self.setting("USE_WS_TOKEN"):
            problem = consume_token(
                request.GET.get("ws_token", ""),
                user_id=user.pk if user.is_authenticated else None,
                session_key=session_key,
            )
            if problem is not None:
                raise Rejection(403, "Invalid token.", str(problem))
        # 6. The session.
        now = timezone.now()
        session = WebSocketSession(
            connection_id=connection_id,
            channel_name=channel,
            user=user if user.is_authenticated else None,
            api_gateway=gateway,
            created_on=now,
            last_seen=now,
            source_ip=_valid_ip(ip),
            session_key_hash=hash_value(session_key) if session_key else "",
            auth_hash=user.get_session_auth_hash() if user.is_authenticated else "",
        )
        try:
            if connection.in_atomic_block:
                # Inside a transaction a failed INSERT needs its own savepoint.
                with transaction.atomic():
                    session.save(force_insert=True)
            else:
                session.save(force_insert=True)
        except IntegrityError as exc:
            raise Rejection(
                409, "Duplicate connection id.", f"connection {connection_id!r} already exists"
            ) from exc
        self.websocket_session = session
        try:
            response = self._call(self.connect, request, *args, **kwargs)
        except BaseException:
            # API Gateway refuses the handshake on any error answer, so the row must not
            # claim a live socket.
            self._mark_refused(session)
            raise
        if response is not None and isinstance(response, HttpResponseBase):
            if not 200 <= response.status_code < 300:
                self._mark_refused(session)
                return response
        else:
            response = HttpResponse(status=200)
        self._traffic = {"connects": 1}
        return response

    def _mark_refused(self, session: WebSocketSession) -> None:
        WebSocketSession.objects.filter(pk=session.pk).update(
            connected=False, disconnected_on=timezone.now()
        )
        session.connected = False

    # --- $disconnect ---------------------------------------------------------------

    def _load_session(
        self, request: HttpRequest, annotations: dict[str, Any] | None = None
    ) -> tuple[WebSocketSession | None, str]:
        connection_id = request.headers.get(CONNECTION_ID_HEADER, "")
        if not CONNECTION_ID_RE.fullmatch(connection_id):
            raise Rejection(
                400,
                "Invalid connection id.",
                f"missing or malformed {CONNECTION_ID_HEADER} header",
            )
        session = (
            WebSocketSession.objects.select_related("api_gateway", "user")
            .annotate(**(annotations or {}))
            .filter(connection_id=connection_id)
            .first()
        )
        return session, connection_id

    def _disconnect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        api_id = request.headers.get(API_ID_HEADER, "")
        session, _ = self._load_session(request)
        if session is None:
            # Unknown ids are harmless: the socket is gone either way.
            if not api_id:
                self._check_gateway(request, None, api_id)
            return HttpResponse(status=200)
        self._check_gateway(request, session.api_gateway, api_id)
        self._check_gateway_agent(request, api_id)
        self.gateway = session.api_gateway
        self.websocket_session = session
        if session.connected:
            now = timezone.now()
            WebSocketSession.objects.filter(pk=session.pk).update(
                connected=False, disconnected_on=now, last_seen=now
            )
            session.connected = False
            request.user = session.user or AnonymousUser()
            self._call(self.disconnect, request, *args, **kwargs)
        return HttpResponse(status=200)

    # --- Messages ---------------------------------------------------------------------

    def _message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        api_id = request.headers.get(API_ID_HEADER, "")
        if not api_id:
            self._check_gateway(request, None, api_id)
        session, connection_id = self._load_session(request, self._permission_annotations())
        if session is None:
            # Prove the caller is the gateway before saying the id is unknown, so that
            # nobody else can probe which connection ids exist. The extra query is on
            # this failure path only.
            gateway = ApiGateway.objects.filter(api_id=api_id).first()
            self._check_gateway(request, gateway, api_id)
            self._check_gateway_agent(request, api_id)
            raise Rejection(
                404, "Unknown connection.", f"no session has connection id {connection_id!r}"
            )
        self._check_gateway(request, session.api_gateway, api_id)
        self._check_gateway_agent(request, api_id)
        if not session.connected:
            raise Rejection(
                410, "Connection closed.", f"session {connection_id!r} is marked disconnected"
            )
        self.gateway = session.api_gateway
        self.websocket_session = session
        user = session.user
        if user is not None:
            ended = None
            if not user.is_active:
                ended = "the user was deactivated"
            elif session.auth_hash and not constant_time_compare(
                session.auth_hash, user.get_session_auth_hash()
            ):
                ended = "the user's password changed since the socket opened"
            if ended:
                self._end_login(session)
                raise Rejection(403, "Login ended.", ended)
        request.user = user or AnonymousUser()
        self.body = self._parse_body(request)
        now = timezone.now()
        # F(): messages of one socket can run concurrently; each must count.
        WebSocketSession.objects.filter(pk=session.pk).update(
            request_count=F("request_count") + 1, last_seen=now
        )
        session.request_count += 1
        session.last_seen = now
        self._traffic = {"messages": 1}
        self._check_permissions(request.user, self._held_permissions(session))
        handler_name = self.body.get(self.handler_selection_key)
        if not isinstance(handler_name, str) or handler_name not in self.handler_names(
            self.ALLOWED_HANDLERS
        ):
            handler_name = "default"
        handler = getattr(self, handler_name)
        # Encoding the answer (a dict that is not JSON) fails like the handler itself.
        return self._guarded(
            handler_name, lambda: self._respond(handler(request, *args, **kwargs))
        )

    def _end_login(self, session: WebSocketSession) -> None:
        """Close the socket of a login that ended, within API Gateway's 29 s budget.

        One short attempt (``aws.login_close_config``): the default client's retries
        could outlast the integration timeout. A failure is logged, not raised; the
        session is marked closed either way, so later messages get 410.
        """
        gateway = session.api_gateway
        endpoint = gateway.management_endpoint
        try:
            if not endpoint:
                raise aws.AwsConfigurationError(f"gateway {gateway.api_name!r} has no endpoint")
            client = aws.management_client(
                endpoint, region=gateway.region or None, config=aws.login_close_config()
            )
            client.delete_connection(ConnectionId=session.connection_id)
        except ClientError as exc:
            if aws.error_code(exc) != "GoneException":
                logger.warning(
                    "Could not close socket %s of an ended login: %s",
                    session.connection_id,
                    aws.error_message(exc),
                )
        except Exception as exc:  # timeouts, refused connections, no region
            logger.warning(
                "Could not close socket %s of an ended login: %s",
                session.connection_id,
                aws.error_message(exc),
            )
        self._mark_refused(session)

    def _parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > conf.MAX_MESSAGE_BYTES:
            raise Rejection(400, "Message larger than 128 KB.", f"{length} bytes")
        raw = request.body
        if len(raw) > conf.MAX_MESSAGE_BYTES:
            raise Rejection(400, "Message larger than 128 KB.", f"{len(raw)} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejection(400, "Message is not valid JSON.", str(exc)) from exc
        except RecursionError as exc:
            raise Rejection(
                400, "Message JSON is nested too deeply.", "json.loads hit the recursion limit"
            ) from exc
        if not isinstance(body, dict):
            raise Rejection(400, "Message must be a JSON object.", f"got {type(body).__name__}")
        return body

    def _call(self, handler, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(handler.__name__, lambda: handler(request, *args, **kwargs))

    def _guarded(self, name: str, work: Callable[[], Any]) -> Any:
        """Run ``work``; any exception but a Rejection is logged, mailed and becomes a 500."""
        try:
            return work()
        except Rejection:
            raise
        except Exception as exc:
            logger.exception("WebSocket handler %s.%s failed", type(self).__name__, name)
            if self.setting("SEND_EXCEPTION_MAIL"):
                try:
                    mail_admins(
                        f"WebSocket handler {type(self).__name__}.{name} failed",
                        traceback.format_exc(),
                    )
                except Exception:
                    logger.exception("Could not mail the admins about a handler failure")
            raise _HandlerFailed from exc

    def _respond(self, result: Any) -> HttpResponseBase:
        if result is None:
            return HttpResponse(status=200)
        if isinstance(result, HttpResponseBase):
            return result
        if isinstance(result, (dict, list)):
            return JsonResponse(result, safe=False)
        return HttpResponse(str(result), content_type="text/plain")


class _HandlerFailed(Rejection):
    def __init__(self) -> None:
        super().__init__(500, "", "handler raised an exception")


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


# csrf_protect as well as the middleware: a site that dropped CsrfViewMiddleware
# (wsapp.E003 warns) still gets no token for a cross-site POST.
@method_decorator(never_cache, name="dispatch")
@method_decorator(csrf_protect, name="dispatch")
class WebSocketTokenView(View):
    """POST (with CSRF, signed in): a single-use token for the next connect.

    Answers ``{"token": "...", "expires_in": 60}``. Token requests are rate
    limited per user (``token_rate_limit_*`` in ``WEBSOCKETS``).
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return JsonResponse({"error": "Sign in to get a WebSocket token."}, status=403)
        result = ratelimit.hit(
            [(ConnectionRateLimit.Scope.TOKEN_USER.value, str(user.pk))],
            max_attempts=conf.get("token_rate_limit_max_attempts"),
            window_minutes=conf.get("token_rate_limit_window_minutes"),
        )
        if not result.allowed:
            response = JsonResponse(
                {
                    "error": "Too many token requests; slow down.",
                    "retry_after": result.retry_after,
                },
                status=429,
            )
            response["Retry-After"] = str(result.retry_after)
            return response
        if not request.session.session_key:
            request.session.save()
        token = issue_token(user, request.session.session_key)
        return JsonResponse({"token": token, "expires_in": conf.get("token_expiry_seconds")})
