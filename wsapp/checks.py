"""Django system checks for the WebSocket configuration.

Run with ``python manage.py check --tag wsapp``. None of these touches the
network; only the ones tagged ``database`` read the database. The live checks
(AWS, DNS, stale data) are in ``wsapp.health`` and run from the health page and
``manage.py checkGateway``.

Every id is stable and documented in docs/troubleshooting.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import SlugConverter, StringConverter
from django.utils.http import is_same_domain

from wsapp import conf
from wsapp.validators import is_loopback_host

TAG = "wsapp"

REQUIRED_MIDDLEWARE = {
    "django.contrib.sessions.middleware.SessionMiddleware": "session",
    "django.middleware.csrf.CsrfViewMiddleware": "CSRF",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "authentication",
}


#: Converters that accept every route key the gateway sends ("connect", "$default"
#: arrives as "default", additional keys are slugs). An int or uuid converter would
#: make most routes 404 before the view runs.
ROUTE_CONVERTERS = (SlugConverter, StringConverter)


@dataclass(frozen=True)
class RoutedView:
    """One URL pattern that routes a WebSocketView or WebSocketTokenView."""

    view_class: type
    initkwargs: dict[str, Any]
    route: str
    converters: frozenset[str]
    #: The converter class of each path() parameter (empty for re_path()).
    converter_types: dict[str, type] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        """An attribute as the routed view sees it: ``as_view()`` arguments win."""
        if name in self.initkwargs:
            return self.initkwargs[name]
        return getattr(self.view_class, name, None)

    def uses_tokens(self) -> bool:
        """Whether connects through this view must present a token."""
        value = self.option("USE_WS_TOKEN")
        return bool(conf.get("USE_WS_TOKEN") if value is None else value)


def _iter_patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[URLPattern, str]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _iter_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield entry, prefix + str(entry.pattern)


def _parameters(pattern: URLPattern) -> set[str]:
    inner = pattern.pattern
    converters = getattr(inner, "converters", None)
    names = set(converters) if converters else set()
    regex = getattr(inner, "regex", None)
    if regex is not None:
        names |= set(regex.groupindex)
    return names


def routed_views(urlconf: str | None = None) -> list[RoutedView]:
    """Every URL pattern whose view is a WebSocketView or WebSocketTokenView."""
    from wsapp.views import WebSocketTokenView, WebSocketView

    found = []
    for pattern, route in _iter_patterns(get_resolver(urlconf)):
        view_class = getattr(pattern.callback, "view_class", None)
        if isinstance(view_class, type) and issubclass(
            view_class, (WebSocketView, WebSocketTokenView)
        ):
            found.append(
                RoutedView(
                    view_class=view_class,
                    initkwargs=dict(getattr(pattern.callback, "view_initkwargs", {}) or {}),
                    route=route,
                    converters=frozenset(_parameters(pattern)),
                    converter_types={
                        name: type(converter)
                        for name, converter in (
                            getattr(pattern.pattern, "converters", None) or {}
                        ).items()
                    },
                )
            )
    return found


@register(TAG, Tags.urls)
def check_urls(app_configs=None, **kwargs) -> list:
    from wsapp.views import WebSocketTokenView, WebSocketView

    errors: list = []
    try:
        views = routed_views()
    except Exception as exc:  # a broken URLconf is reported by Django's own checks
        return [Warning(f"Could not load the URLconf: {exc}", id="wsapp.W006")]
    socket_views = [v for v in views if issubclass(v.view_class, WebSocketView)]
    for view in socket_views:
        name = view.view_class.__name__
        converter = view.converter_types.get("route")
        if "route" not in view.converters:
            errors.append(
                Error(
                    f"{name} is routed at {view.route!r} without a slug named 'route'.",
                    hint=f'Route it as path("ws/<slug:route>", {name}.as_view()).',
                    obj=view.view_class,
                    id="wsapp.E001",
                )
            )
        elif converter is not None and not issubclass(converter, ROUTE_CONVERTERS):
            errors.append(
                Error(
                    f"{name} is routed at {view.route!r}, where 'route' uses the "
                    f"{converter.__name__}, which does not match route keys such as "
                    "'connect' and 'default'.",
                    hint=f'Use the slug converter: path("ws/<slug:route>", {name}.as_view()).',
                    obj=view.view_class,
                    id="wsapp.E001",
                )
            )
        # A class attribute debug = True is as risky as as_view(debug=True).
        if view.option("debug") and not settings.DEBUG:
            errors.append(
                Warning(
                    f"{name} at {view.route!r} runs with debug=True while DEBUG is off.",
                    hint="Remove debug=True (from as_view() or the class) outside "
                    "development: it logs every rejection's details.",
                    obj=view.view_class,
                    id="wsapp.W001",
                )
            )
    uses_tokens = any(v.uses_tokens() for v in socket_views)
    has_token_view = any(issubclass(v.view_class, WebSocketTokenView) for v in views)
    if uses_tokens and not has_token_view:
        errors.append(
            Error(
                "A WebSocketView requires connect tokens but WebSocketTokenView is not routed.",
                hint='Add path("ws-token/", WebSocketTokenView.as_view(), name="ws_token") to '
                "your URLconf, or set USE_WS_TOKEN = False.",
                id="wsapp.E002",
            )
        )
    return errors


@register(TAG)
def check_middleware(app_configs=None, **kwargs) -> list:
    installed = set(settings.MIDDLEWARE)
    return [
        Error(
            f"The {label} middleware ({path}) is not in MIDDLEWARE.",
            hint="WebSocketView restores users from the Django session and the token "
            "endpoint needs CSRF protection.",
            id="wsapp.E003",
        )
        for path, label in REQUIRED_MIDDLEWARE.items()
        if path not in installed
    ]


@register(TAG)
def check_settings(app_configs=None, **kwargs) -> list:
    problems: list = [
        Error(problem, hint="See docs/configuration.md.", id="wsapp.E004")
        for problem in conf.validate(getattr(settings, "WEBSOCKETS", None))
    ]
    websockets = getattr(settings, "WEBSOCKETS", None)
    origins = websockets.get("allowed_origins") if isinstance(websockets, dict) else None
    # Without allowed_origins, origins are checked against ALLOWED_HOSTS, which "*"
    # turns into "any https page on the internet may open a socket as the user".
    if "*" in settings.ALLOWED_HOSTS and origins is None:
        problems.append(
            Warning(
                "ALLOWED_HOSTS contains '*' and WEBSOCKETS['allowed_origins'] is not set, so "
                "a WebSocket connect from any https origin is accepted.",
                hint="Set WEBSOCKETS['allowed_origins'] to the exact origins of your pages, "
                "e.g. ['https://www.example.com'], or list your hosts in ALLOWED_HOSTS.",
                id="wsapp.W007",
            )
        )
    return problems


def _site_hosts() -> list[str]:
    """The hosts where a browser may sign in and fetch tokens.

    Those of ALLOWED_HOSTS, and of the origins the site names (WEBSOCKETS
    ``allowed_origins`` and CSRF_TRUSTED_ORIGINS), so that ``ALLOWED_HOSTS = ["*"]``
    does not silence the cookie checks. Left out: wildcards, loopback hosts, and
    single-label names (``web``, ``testserver``, a container's service name): those
    answer internal probes, and no cookie domain can ever be shared between them and
    another host, so no setting could help.
    """
    websockets = getattr(settings, "WEBSOCKETS", None)
    origins = websockets.get("allowed_origins") if isinstance(websockets, dict) else None
    candidates = [host.lstrip(".") for host in settings.ALLOWED_HOSTS if "*" not in host]
    for origin in [*(origins or []), *getattr(settings, "CSRF_TRUSTED_ORIGINS", [])]:
        if isinstance(origin, str) and "*" not in origin:
            candidates.append(urlsplit(origin).hostname or "")
    hosts: list[str] = []
    for host in candidates:
        if "." in host and not is_loopback_host(host) and host not in hosts:
            hosts.append(host)
    return hosts


def _origin_trusted(origin: str) -> bool:
    """Whether CSRF_TRUSTED_ORIGINS admits ``origin``, wildcards as Django reads them."""
    scheme, _, netloc = origin.partition("://")
    for trusted in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        if trusted == origin:
            return True
        parts = urlsplit(trusted)
        wildcard = "*" in parts.netloc and parts.scheme == scheme
        if wildcard and is_same_domain(netloc, parts.netloc.lstrip("*")):
            return True
    return False


def _covers(cookie_domain: str | None, host: str) -> bool:
    if not cookie_domain:
        return False
    domain = cookie_domain.lstrip(".").lower()
    host = host.lower()
    return host == domain or host.endswith("." + domain)


def cross_domain_problems(site_host: str, ws_host: str) -> list:
    """Cookie and CSRF settings needed when the site and the WebSocket domain differ."""
    problems: list = []
    for setting_name in ("SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN"):
        value = getattr(settings, setting_name, None)
        if not (_covers(value, site_host) and _covers(value, ws_host)):
            problems.append(
                Warning(
                    f"{setting_name} is {value!r}, which does not cover both the site "
                    f"({site_host}) and the WebSocket domain ({ws_host}).",
                    hint="Set it to the shared parent domain, e.g. '.example.com', so the "
                    "browser sends its session to the WebSocket domain on connect.",
                    id="wsapp.W002",
                )
            )
    origin = f"https://{site_host}"
    if not _origin_trusted(origin):
        problems.append(
            Warning(
                f"CSRF_TRUSTED_ORIGINS does not hold the site's origin {origin}.",
                hint=f"Add {origin!r} so token requests pass CSRF checks across subdomains.",
                id="wsapp.W003",
            )
        )
    for prefix in ("SESSION_COOKIE", "CSRF_COOKIE"):
        samesite = getattr(settings, f"{prefix}_SAMESITE", "Lax")
        secure = getattr(settings, f"{prefix}_SECURE", False)
        if samesite in (None, "None", False) and not secure:
            problems.append(
                Error(
                    f"{prefix}_SAMESITE is 'None' but {prefix}_SECURE is off: browsers drop "
                    "such cookies.",
                    hint=f"Set {prefix}_SECURE = True, or use SameSite 'Lax'.",
                    id="wsapp.E005",
                )
            )
        elif samesite == "Strict":
            problems.append(
                Warning(
                    f"{prefix}_SAMESITE is 'Strict': the cookie is not sent when a user "
                    "arrives from another site, so their first connect may be anonymous.",
                    hint="Use 'Lax' unless you need 'Strict'.",
                    id="wsapp.W004",
                )
            )
    return problems


@register(TAG, Tags.database)
def check_gateway_domains(app_configs=None, databases=None, **kwargs) -> list:
    """Needs the database: cross-domain cookies and wss:// for each recorded gateway."""
    if not databases:
        return []
    from django.db import DatabaseError

    from wsapp.models import ApiGateway

    try:
        gateways = list(ApiGateway.objects.values_list("api_name", "domain_name", "api_endpoint"))
    except DatabaseError:
        return []  # not migrated yet: Django reports that itself
    problems: list = []
    seen: set[str] = set()
    site_hosts = _site_hosts()
    for name, domain, endpoint in gateways:
        # Every host the site answers on may be where a user signs in.
        for site_host in site_hosts if domain and domain not in site_hosts else []:
            for problem in cross_domain_problems(site_host, domain):
                if problem.id + problem.msg not in seen:
                    seen.add(problem.id + problem.msg)
                    problems.append(problem)
        problems.extend(client_scheme_problems(name, endpoint))
    problems.extend(tokenless_problems(gateways))
    return problems


def tokenless_problems(gateways: list[tuple[str, str, str]]) -> list:
    """W008: a view without tokens relies on the session cookie reaching the gateway.

    On the execute-api host the site's cookie is never sent, so every user connects
    anonymously. A local gateway shares the site's loopback host (cookies ignore
    the port), so it is left out.
    """
    try:
        views = routed_views()
    except Exception:
        return []  # wsapp.W006 reports it
    from wsapp.views import WebSocketView

    tokenless = sorted(
        {
            v.view_class.__name__
            for v in views
            if issubclass(v.view_class, WebSocketView) and not v.uses_tokens()
        }
    )
    if not tokenless:
        return []
    problems = []
    for name, domain, endpoint in gateways:
        host = urlsplit(endpoint or "").hostname or ""
        if domain or not host or is_loopback_host(host):
            continue
        problems.append(
            Warning(
                f"{', '.join(tokenless)} connect(s) without tokens (USE_WS_TOKEN off) but "
                f"gateway {name!r} has no custom domain: browsers connect to {host}, where "
                "the site's session cookie is never sent, so every user is anonymous.",
                hint="Turn tokens on (USE_WS_TOKEN = True and route WebSocketTokenView), or "
                "give the gateway a custom domain under the site's cookie domain.",
                id="wsapp.W008",
            )
        )
    return problems


@register(TAG, Tags.database)
def check_permission_names(app_configs=None, databases=None, **kwargs) -> list:
    """E006: every permission a routed WebSocketView requires exists."""
    if not databases:
        return []
    from django.contrib.auth.models import Permission
    from django.db import DatabaseError

    from wsapp.views import WebSocketView

    try:
        views = [v for v in routed_views() if issubclass(v.view_class, WebSocketView)]
    except Exception:
        return []  # wsapp.W006 reports it
    wanted: dict[str, set[str]] = {}
    for view in views:
        for option in ("permissions_required", "all_permissions_required"):
            for name in view.option(option) or ():
                wanted.setdefault(str(name), set()).add(f"{view.view_class.__name__}.{option}")
    if not wanted:
        return []
    try:
        known = {
            f"{app_label}.{codename}"
            for app_label, codename in Permission.objects.values_list(
                "content_type__app_label", "codename"
            )
        }
    except DatabaseError:
        return []  # not migrated yet: Django reports that itself
    return [
        Error(
            f"{', '.join(sorted(where))} names the permission {name!r}, which does not exist"
            + ("" if "." in name else " (permissions are written 'app_label.codename')")
            + ".",
            hint="Use an existing permission such as 'auth.view_user' (see the Permissions "
            "in the admin), or create it in a model's Meta.permissions and migrate.",
            id="wsapp.E006",
        )
        for name, where in sorted(wanted.items())
        if name not in known
    ]


def client_scheme_problems(name: str, endpoint: str) -> list:
    """Browsers must use wss:// except against a local gateway during development."""
    if not endpoint:
        return []
    parts = urlsplit(endpoint)
    if parts.scheme == "wss":
        return []
    if parts.scheme == "ws" and settings.DEBUG and is_loopback_host(parts.hostname or ""):
        return []
    return [
        Warning(
            f"Gateway {name!r} gives browsers the URL {endpoint!r}, which is not wss://.",
            hint="Browsers on an https page refuse ws:// (and https:// is not a WebSocket "
            "URL): use the gateway's wss:// endpoint or custom domain.",
            id="wsapp.W005",
        )
    ]
