"""Live health checks: the troubleshooting checklist, run automatically.

Each check says pass, warn or fail, shows its evidence, says what to do, and
links to its section of docs/troubleshooting.md. Checks that read the database
run first, in the caller's thread; checks that reach AWS or DNS then run
concurrently in daemon threads, each with its own timeout, so one slow call can
neither hang the page nor keep ``checkGateway`` from exiting. Network checks get
plain data prepared beforehand and never touch the ORM (a query from a pool
thread would open a connection nobody closes, and inside a test transaction it
would not even see the test's rows).

Run them from the health page or ``python manage.py checkGateway [--pk N]``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Sum
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve
from django.utils import timezone

from wsapp import aws, conf
from wsapp.cleanup import last_finished_run
from wsapp.models import (
    ApiGateway,
    CleanupRun,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)
from wsapp.provisioning.calls import describe_exception
from wsapp.validators import normalise_endpoint

logger = logging.getLogger("wsapp")

DOCS = "docs/troubleshooting.md"
#: API Gateway closes every connection after this long.
MAX_CONNECTION_AGE = timedelta(hours=2)
#: Seconds each network check may take unless the caller says otherwise.
DEFAULT_TIMEOUT = 10.0
#: Seconds the whole run may take, client setup included: with more tasks than
#: workers, per-check timeouts alone would add up.
DEFAULT_DEADLINE = 20.0
#: Seconds the reachability probe (wsapp.H113) waits for Django: API Gateway itself
#: gives an integration 29 s, but a healthy site answers a refusal at once.
PROBE_TIMEOUT = 5.0
#: Network checks running at once. AWS's control plane allows 10 requests per second
#: (burst 40) per account, shared with everything else: stay well inside it.
MAX_WORKERS = 8
#: Asked for when no session is live: no connection has this id, so a reachable
#: management API answers 410 Gone.
PROBE_CONNECTION_ID = "AAAAAAAAAAA="


class Status(StrEnum):
    """The verdict of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass
class CheckResult:
    """The outcome of one check for one subject (a gateway, or the site)."""

    id: str
    title: str
    status: Status
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    anchor: str = ""
    subject: str = ""
    duration_ms: int = 0

    @property
    def doc_url(self) -> str:
        """Where the check is explained: ``docs/troubleshooting.md#<section>``."""
        return f"{DOCS}#{self.anchor}" if self.anchor else DOCS

    @property
    def ok(self) -> bool:
        return self.status == Status.PASS


@dataclass(frozen=True)
class CheckInfo:
    """A check's stable id, its title and its section of docs/troubleshooting.md."""

    id: str
    title: str
    anchor: str


#: Every live check, by id. docs/troubleshooting.md names these ids.
CHECKS: dict[str, CheckInfo] = {
    info.id: info
    for info in [
        CheckInfo("wsapp.H001", "AWS credentials are valid", "api-gateway-creation-fails"),
        CheckInfo("wsapp.H002", "An AWS region is configured", "api-gateway-creation-fails"),
        CheckInfo("wsapp.H101", "Gateway is created in AWS", "connection-fails-immediately"),
        CheckInfo("wsapp.H102", "Latest deployment is live", "custom-route-is-not-called"),
        CheckInfo(
            "wsapp.H103", "AWS configuration matches the record", "custom-route-is-not-called"
        ),
        CheckInfo("wsapp.H104", "Additional routes are deployed", "custom-route-is-not-called"),
        CheckInfo(
            "wsapp.H111", "Integrations reach a WebSocketView", "django-returns-bad-request"
        ),
        CheckInfo(
            "wsapp.H112",
            "Target endpoint is https and ends in '/'",
            "django-returns-bad-request",
        ),
        CheckInfo(
            "wsapp.H113",
            "Django answers at the target endpoint",
            "connection-fails-immediately",
        ),
        CheckInfo(
            "wsapp.H114",
            "Additional routes reach a handler",
            "custom-route-is-not-called",
        ),
        CheckInfo(
            "wsapp.H201",
            "Certificate is issued and covers the domain",
            "custom-domain-does-not-work",
        ),
        CheckInfo(
            "wsapp.H202",
            "Custom domain exists in the gateway's region",
            "custom-domain-does-not-work",
        ),
        CheckInfo(
            "wsapp.H203", "Domain is mapped to the right stage", "custom-domain-does-not-work"
        ),
        CheckInfo(
            "wsapp.H204", "DNS points at the gateway's domain", "custom-domain-does-not-work"
        ),
        CheckInfo(
            "wsapp.H301", "Management API is reachable", "messages-are-not-received-by-the-browser"
        ),
        CheckInfo("wsapp.H401", "No pile of disconnected sessions", "cleanup-problems"),
        CheckInfo("wsapp.H402", "No sessions older than 2 hours", "cleanup-problems"),
        CheckInfo("wsapp.H403", "No pile of expired tokens", "cleanup-problems"),
        CheckInfo("wsapp.H404", "No pile of old rate-limit records", "cleanup-problems"),
        CheckInfo("wsapp.H405", "Cleanup ran in the last day", "cleanup-problems"),
        CheckInfo("wsapp.H501", "No spike in rate-limit rejections", "rate-limit-exceeded"),
        CheckInfo("wsapp.H502", "No reconnect loop", "rate-limit-exceeded"),
    ]
}

#: Thresholds; tests and operators can tighten them. Stale data warns above the
#: plain value and fails above the ``_fail`` one (docs/troubleshooting.md#cleanup-problems).
THRESHOLDS = {
    "disconnected_sessions": 10_000,
    "disconnected_sessions_fail": 100_000,
    "stale_sessions_fail": 100,
    "expired_tokens": 10_000,
    "expired_tokens_fail": 100_000,
    "old_rate_limit_days": 7,
    "old_rate_limit_records": 10_000,
    "old_rate_limit_records_fail": 100_000,
    "rejections_last_hour": 100,
    "tokens_per_user_last_hour": 120,
    "connects_per_key_last_hour": 120,
}


def _level(count: int, warn_above: int, fail_above: int) -> Status:
    if count > fail_above:
        return Status.FAIL
    return Status.WARN if count > warn_above else Status.PASS


def result(
    check_id: str, status: Status, evidence: Iterable[str] = (), fix: str = "", subject: str = ""
) -> CheckResult:
    """A result of check ``check_id``; the fix is dropped when it passed."""
    info = CHECKS[check_id]
    return CheckResult(
        id=check_id,
        title=info.title,
        status=status,
        evidence=list(evidence),
        fix=fix if status != Status.PASS else "",
        anchor=info.anchor,
        subject=subject,
    )


# --- Checks that run in the caller's thread (database, URLconf) -----------------


def check_target_endpoint(gateway: ApiGateway) -> CheckResult:
    """H112: the target base endpoint is https (http only on loopback) and ends in '/'."""
    endpoint = gateway.target_base_endpoint
    problems = []
    try:
        normalise_endpoint(endpoint, field="Target base endpoint")
    except Exception as exc:  # ValidationError carries the message
        problems.append(" ".join(getattr(exc, "messages", [str(exc)])))
    if not endpoint.endswith("/"):
        problems.append(f"{endpoint!r} does not end in '/'.")
    if problems:
        return result(
            "wsapp.H112",
            Status.FAIL,
            problems,
            "Edit the gateway's target base endpoint to your site's https URL of the "
            "WebSocket view, ending in '/' (e.g. https://www.example.com/ws/), then Sync.",
            gateway.api_name,
        )
    return result(
        "wsapp.H112", Status.PASS, [f"Target base endpoint: {endpoint}"], subject=gateway.api_name
    )


def integration_urls(gateway: ApiGateway) -> dict[str, str]:
    """The URL each route's integration should call, by route key."""
    base = gateway.target_base_endpoint
    urls = {
        "$connect": base + "connect",
        "$disconnect": base + "disconnect",
        "$default": base + "default",
    }
    for route in gateway.additional_routes.all():
        urls[route.route_key] = route.integration_url
    return urls


def url_problem(url: str) -> str | None:
    """Why API Gateway calling ``url`` would not reach a WebSocketView here, or None."""
    from wsapp.views import WebSocketView, allowed_hosts

    parts = urlsplit(url)
    host = parts.netloc
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts()):
        return f"{url}: host {host!r} is not in ALLOWED_HOSTS"
    try:
        match = resolve(parts.path or "/")
    except Resolver404:
        return f"{url}: no URL pattern of this site matches {parts.path!r}"
    view_class = getattr(match.func, "view_class", None)
    if not (isinstance(view_class, type) and issubclass(view_class, WebSocketView)):
        return (
            f"{url}: resolves to {match.view_name or match.func!r}, which is not a WebSocketView"
        )
    if "route" not in match.kwargs:
        return f"{url}: the URL pattern has no slug named 'route'"
    return None


def check_integrations_resolve(gateway: ApiGateway) -> CheckResult:
    """H111: every integration URL reaches a WebSocketView of this site on an allowed host."""
    evidence, problems = [], []
    for key, url in integration_urls(gateway).items():
        problem = url_problem(url)
        if problem:
            problems.append(f"{key} → {problem}")
        else:
            evidence.append(f"{key} → {url}")
    if problems:
        return result(
            "wsapp.H111",
            Status.FAIL,
            problems + evidence,
            "Point the target base endpoint (or the additional route's integration URL) at a "
            'URL routed as path("ws/<slug:route>", YourView.as_view()) on this site, add its '
            "host to ALLOWED_HOSTS, then Sync.",
            gateway.api_name,
        )
    return result("wsapp.H111", Status.PASS, evidence, subject=gateway.api_name)


def _view_for(url: str) -> tuple[type, dict[str, Any]] | None:
    """The WebSocketView class ``url``'s path resolves to here, with its as_view() arguments."""
    from wsapp.views import WebSocketView

    try:
        match = resolve(urlsplit(url).path or "/")
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    if not (isinstance(view_class, type) and issubclass(view_class, WebSocketView)):
        return None
    return view_class, dict(getattr(match.func, "view_initkwargs", {}) or {})


def check_route_handlers(gateway: ApiGateway) -> CheckResult:
    """H114: each additional route's view has a handler for it, selected the same way.

    API Gateway picks the route from the message's body key named in the route
    selection expression; the view then picks its method from its own
    ``handler_selection_key``. Both must name the same key, and the view must be
    willing to dispatch to a method named like the route, or the message quietly
    goes to ``default``.
    """
    routes = list(gateway.additional_routes.all())
    if not routes:
        return result(
            "wsapp.H114", Status.PASS, ["No additional routes"], subject=gateway.api_name
        )
    expression = gateway.route_selection_expression
    evidence, problems = [], []
    for route in routes:
        found = _view_for(route.integration_url)
        if found is None:
            problems.append(f"{route.route_key}: no WebSocketView here (see wsapp.H111)")
            continue
        view_class, initkwargs = found
        key = initkwargs.get("handler_selection_key", view_class.handler_selection_key)
        wanted = f"$request.body.{key}"
        if expression != wanted:
            problems.append(
                f"{route.route_key}: the gateway selects routes with {expression!r} but "
                f"{view_class.__name__} picks handlers with {wanted!r}"
            )
        # handler_names() is the view's own rule (ALLOWED_HANDLERS, forbidden names).
        if route.route_key not in view_class.handler_names(initkwargs.get("ALLOWED_HANDLERS")):
            problems.append(
                f"{route.route_key}: {view_class.__name__} has no handler "
                f"{route.route_key!r} it will dispatch to, so messages go to default()"
            )
        else:
            evidence.append(f"{route.route_key} → {view_class.__name__}.{route.route_key}()")
    if problems:
        return result(
            "wsapp.H114",
            Status.FAIL,
            problems + evidence,
            "Add a public method named like the route key to the view (and to "
            "ALLOWED_HANDLERS when the view sets it), and make the gateway's route selection "
            "expression $request.body.<the view's handler_selection_key>, then Sync.",
            gateway.api_name,
        )
    return result("wsapp.H114", Status.PASS, evidence, subject=gateway.api_name)


def check_additional_routes_deployed(gateway: ApiGateway) -> CheckResult:
    """H104: every additional route saved in Django has been synced and deployed."""
    pending = [r.route_key for r in gateway.additional_routes.all() if not r.deployed]
    if pending:
        return result(
            "wsapp.H104",
            Status.FAIL,
            [f"Not deployed: {', '.join(sorted(pending))}"],
            "Sync the gateway: it creates the routes in AWS and redeploys the stage.",
            gateway.api_name,
        )
    total = gateway.additional_routes.count()
    return result(
        "wsapp.H104",
        Status.PASS,
        [f"{total} additional route(s), all deployed"],
        subject=gateway.api_name,
    )


def check_stale_data() -> list[CheckResult]:
    """H401-H405: rows the cleanup commands should be deleting, and whether they run.

    Each count warns above its threshold and fails above the higher ``_fail`` one.
    """
    now = timezone.now()
    results = []
    disconnected = WebSocketSession.objects.filter(connected=False).count()
    warn, fail = THRESHOLDS["disconnected_sessions"], THRESHOLDS["disconnected_sessions_fail"]
    results.append(
        result(
            "wsapp.H401",
            _level(disconnected, warn, fail),
            [f"{disconnected} disconnected session row(s) (warn above {warn}, fail above {fail})"],
            "Schedule `python manage.py clearWebSocketSessions` (see docs/cleanup.md).",
        )
    )
    stale = WebSocketSession.objects.filter(
        connected=True, created_on__lt=now - MAX_CONNECTION_AGE
    ).count()
    fail = THRESHOLDS["stale_sessions_fail"]
    results.append(
        result(
            "wsapp.H402",
            _level(stale, 0, fail),
            [
                f"{stale} session(s) marked connected for more than 2 hours "
                f"(warn above 0, fail above {fail})"
            ],
            "API Gateway closes sockets after 2 hours, so these are stale: run "
            "`python manage.py clearWebSocketSessions --stale-hours 2` regularly.",
        )
    )
    expiry = conf.get("token_expiry_seconds")
    expired = WebSocketToken.objects.filter(created_at__lt=now - timedelta(seconds=expiry)).count()
    warn, fail = THRESHOLDS["expired_tokens"], THRESHOLDS["expired_tokens_fail"]
    results.append(
        result(
            "wsapp.H403",
            _level(expired, warn, fail),
            [f"{expired} expired token row(s) (warn above {warn}, fail above {fail})"],
            "Schedule `python manage.py cleanupWebSocketTokens --token-age=86400` daily (the "
            "console's Cleanup page uses the same 24 h default).",
        )
    )
    days = THRESHOLDS["old_rate_limit_days"]
    old = ConnectionRateLimit.objects.filter(last_attempt__lt=now - timedelta(days=days)).count()
    warn, fail = THRESHOLDS["old_rate_limit_records"], THRESHOLDS["old_rate_limit_records_fail"]
    results.append(
        result(
            "wsapp.H404",
            _level(old, warn, fail),
            [
                f"{old} rate-limit record(s) older than {days} days "
                f"(warn above {warn}, fail above {fail})"
            ],
            f"Schedule `python manage.py cleanupWebSocketTokens --rate-limit-age={days}`.",
        )
    )
    # Without a cleanup, rows that one would delete are data nobody removes: red.
    to_clean = disconnected + stale + expired + old
    pending = f"{to_clean} row(s) wait for a cleanup (wsapp.H401-H404)"
    neglected = _neglected_cleanups(
        now,
        {
            "disconnected_sessions": disconnected,
            "stale_sessions": stale,
            "tokens": expired,
            "rate_limits": old,
        },
    )
    last = last_finished_run()
    if neglected:
        results.append(
            result(
                "wsapp.H405",
                Status.FAIL,
                [*neglected, pending],
                "Schedule every cleanup, at least daily: `clearWebSocketSessions --stale-hours "
                "3` for sessions and `cleanupWebSocketTokens` for tokens and rate-limit "
                "records (see docs/cleanup.md), or run them from the console's Cleanup page.",
            )
        )
    elif last is None:
        results.append(
            result(
                "wsapp.H405",
                Status.FAIL if to_clean else Status.WARN,
                ["No cleanup run has been recorded.", pending],
                "Run the cleanup commands from cron or a task scheduler (or the console's "
                "Cleanup page) at least daily.",
            )
        )
    else:
        age = now - last.started_at
        status = Status.PASS
        if age > timedelta(days=1):
            status = Status.FAIL if to_clean else Status.WARN
        results.append(
            result(
                "wsapp.H405",
                status,
                [
                    f"Last cleanup: {last.source} at {last.started_at:%Y-%m-%d %H:%M} UTC "
                    f"({_ago(age)} ago)",
                    pending,
                ],
                "Cleanup has not run for more than a day: check the scheduled task, its "
                "environment (DJANGO_SETTINGS_MODULE, DATABASE_URL) and its logs.",
            )
        )
    return results


def _ago(delta: timedelta) -> str:
    # A clock a little ahead of the database's must not print "-1 min".
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


#: What each cleanup (a key of ``CleanupRun.counts``) deletes, for the evidence.
CLEANUP_LABELS = {
    "disconnected_sessions": "disconnected sessions",
    "stale_sessions": "sessions connected for more than 2 hours",
    "tokens": "expired tokens",
    "rate_limits": "old rate-limit records",
}


def _neglected_cleanups(now: datetime, waiting: dict[str, int]) -> list[str]:
    """Cleanups with rows waiting that no finished run did in the last day.

    Any recent run is not enough: a site that schedules only
    ``cleanupWebSocketTokens`` never deletes a session. A run did a cleanup when
    its ``counts`` has that key (even with 0 rows deleted).
    """
    runs = CleanupRun.objects.filter(status=CleanupRun.Status.FINISHED, dry_run=False)
    found = []
    for key, count in waiting.items():
        if not count:
            continue
        run = runs.filter(counts__has_key=key).order_by("-started_at").first()
        label = f"{CLEANUP_LABELS[key]}: {count} waiting"
        if run is None:
            found.append(f"{label}, and no cleanup of them has ever run")
        elif now - run.started_at > timedelta(days=1):
            found.append(f"{label}, last cleaned {_ago(now - run.started_at)} ago ({run.source})")
    return found


def check_abuse() -> list[CheckResult]:
    """H501 rate-limit rejections in the last hour, H502 users fetching tokens in a loop."""
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    recent = ConnectionRateLimit.objects.filter(last_attempt__gte=hour_ago)
    rejected = recent.aggregate(n=Sum("rejected"))["n"] or 0
    limit = THRESHOLDS["rejections_last_hour"]
    worst = list(
        recent.filter(rejected__gt=0)
        .order_by("-rejected")
        .values_list("scope", "key", "rejected")[:3]
    )
    results = [
        result(
            "wsapp.H501",
            Status.WARN if rejected > limit else Status.PASS,
            [f"{rejected} rejected attempt(s) in the last hour (warn above {limit})"]
            + [f"{scope} {key}: {count} rejected" for scope, key, count in worst],
            "Look at the keys with most rejections: a client stuck in a reconnect loop, many "
            "tabs, or automated traffic. Raise the limits only for legitimate use.",
        )
    ]
    token_limit = THRESHOLDS["tokens_per_user_last_hour"]
    heavy = list(
        ConnectionRateLimit.objects.filter(
            scope=ConnectionRateLimit.Scope.TOKEN_USER, last_attempt__gte=hour_ago
        )
        .values("key")
        .annotate(total=Sum("attempts"))
        .filter(total__gt=token_limit)
        .order_by("-total")
        .values_list("key", "total")[:3]
    )
    # Connect attempts are counted whether or not tokens are on, so a loop that never
    # asks for a token still shows here (as long as RATE_LIMIT_ENABLED is on).
    connect_limit = THRESHOLDS["connects_per_key_last_hour"]
    looping = list(
        ConnectionRateLimit.objects.filter(
            scope__in=[
                ConnectionRateLimit.Scope.CONNECT_IP,
                ConnectionRateLimit.Scope.CONNECT_USER,
            ],
            last_attempt__gte=hour_ago,
        )
        .values("scope", "key")
        .annotate(total=Sum("attempts"))
        .filter(total__gt=connect_limit)
        .order_by("-total", "scope", "key")
        .values_list("scope", "key", "total")[:3]
    )
    evidence = [f"user {key}: {total} token requests in the last hour" for key, total in heavy]
    evidence += [
        f"{'user' if scope == ConnectionRateLimit.Scope.CONNECT_USER else 'address'} {key}: "
        f"{total} connect attempts in the last hour"
        for scope, key, total in looping
    ]
    results.append(
        result(
            "wsapp.H502",
            Status.WARN if evidence else Status.PASS,
            evidence
            or [
                f"No user asked for more than {token_limit} tokens, and no user or address "
                f"made more than {connect_limit} connect attempts, in the last hour"
            ],
            "A browser that connects (or asks for token after token) again and again is "
            "reconnecting in a loop: check its console, and use backoff with jitter "
            "(wsapp/static/wsapp/client.js does).",
        )
    )
    return results


# --- Checks that run concurrently (network) -------------------------------------


def check_region() -> CheckResult:
    """H002: an AWS region is configured (settings, environment or profile; no network)."""
    region = aws.configured_region()
    return result(
        "wsapp.H002",
        Status.PASS if region else Status.FAIL,
        [f"Region: {region}" if region else "No region configured"],
        "Set AWS_GATEWAY_REGION_NAME (or AWS_REGION_NAME) in the environment.",
    )


def check_credentials(region: str) -> CheckResult:
    """H001: the credentials work (STS GetCallerIdentity in ``region``)."""
    fix = (
        "Give Django credentials: an IAM role, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        "or AWS_IAM_PROFILE naming a profile. See docs/gateway_setup.md for the policy."
    )
    if not region:
        return result(
            "wsapp.H001",
            Status.FAIL,
            ["Not checked: no region is configured (wsapp.H002)"],
            "Configure a region first.",
        )
    try:
        identity = aws.client("sts", region=region).get_caller_identity()
    except Exception as exc:
        return result("wsapp.H001", Status.FAIL, [describe_exception(exc)], fix)
    return result(
        "wsapp.H001",
        Status.PASS,
        [f"Account {identity.get('Account')}", f"Identity {identity.get('Arn')}"],
    )


@dataclass(frozen=True)
class Resolution:
    """What a DNS lookup found: the addresses, and the names it went through.

    ``names`` holds the CNAME or alias targets (or the canonical name) when the
    resolver can tell; it never holds the name that was asked for.
    """

    addresses: frozenset[str]
    names: tuple[str, ...] = ()


def _dns_name(name: str) -> str:
    return name.rstrip(".").lower()


def dns_lookup(host: str) -> Resolution:
    """Resolve ``host`` with the system resolver (raises OSError).

    ``getaddrinfo`` reports the canonical name, the end of a CNAME chain; a Route 53
    alias has none, so for it only the addresses are known. It takes no timeout:
    the check's own timeout bounds the wait.
    """
    infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP, flags=socket.AI_CANONNAME)
    canonical = {_dns_name(info[3]) for info in infos if info[3]} - {_dns_name(host)}
    return Resolution(frozenset(info[4][0] for info in infos), tuple(sorted(canonical)))


def dns_addresses(host: str) -> set[str]:
    """Addresses ``host`` resolves to (the system resolver; raises OSError)."""
    return set(dns_lookup(host).addresses)


#: The resolver the DNS check uses; replaceable for tests and air-gapped sites. It
#: returns a ``Resolution``, or a plain set of addresses when it knows no names.
resolver: Callable[[str], Resolution | set[str]] = dns_lookup


def _resolve(name: str) -> Resolution:
    answer = resolver(name)
    if isinstance(answer, Resolution):
        return answer
    return Resolution(frozenset(answer))


def check_dns(name: str, domain: str, target: str) -> CheckResult:
    """H204: the custom domain points at the gateway's domain name.

    Regional API Gateway domain names share AWS's address pools, so overlapping
    addresses prove little: the names are compared when the resolver reports
    them, and addresses only as a fallback that warns.
    """
    if not target:
        return result(
            "wsapp.H204",
            Status.FAIL,
            [f"{domain}: no API Gateway domain name is recorded"],
            "Create the custom domain first (Create custom domain).",
            name,
        )
    fix = f"Point {domain} at {target} (CNAME, or a Route 53 alias record)."
    try:
        got = _resolve(domain)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
        return result(
            "wsapp.H204",
            Status.FAIL,
            [f"{domain} does not resolve: {exc}"],
            f"Create a CNAME (or Route 53 alias) record {domain} → {target}.",
            name,
        )
    addresses = ", ".join(sorted(got.addresses))
    wanted = _dns_name(target)
    if wanted in got.names:
        return result(
            "wsapp.H204",
            Status.PASS,
            [f"{domain} → {target} (addresses {addresses})"],
            subject=name,
        )
    try:
        expected = _resolve(target)
    except (OSError, UnicodeError) as exc:
        return result(
            "wsapp.H204",
            Status.WARN,
            [f"{domain} → {addresses}", f"{target} does not resolve: {exc}"],
            "The gateway's domain name does not resolve yet; recreate the custom domain if "
            "this lasts.",
            name,
        )
    # The target may itself be a CNAME: both then end at the same canonical name.
    if got.names and set(got.names) & set(expected.names):
        return result(
            "wsapp.H204",
            Status.PASS,
            [f"{domain} → {target} (both end at {', '.join(got.names)})"],
            subject=name,
        )
    if got.names:
        return result(
            "wsapp.H204",
            Status.FAIL,
            [f"{domain} → {', '.join(got.names)} ({addresses}), not {target}"],
            fix,
            name,
        )
    expected_addresses = ", ".join(sorted(expected.addresses))
    if got.addresses & expected.addresses:
        return result(
            "wsapp.H204",
            Status.WARN,
            [
                f"{domain} → {addresses}; {target} → {expected_addresses}",
                "The resolver did not say which name the record points at (an alias, or a "
                "plain A record), so only addresses were compared, and regional API "
                "Gateway domains share addresses.",
            ],
            f"Make sure the record for {domain} is a CNAME or Route 53 alias to {target}, "
            "not a copy of its addresses.",
            name,
        )
    return result(
        "wsapp.H204",
        Status.FAIL,
        [f"{domain} → {addresses}", f"{target} → {expected_addresses}"],
        fix,
        name,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # API Gateway does not follow redirects: neither may the probe.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def check_reachable(
    name: str, url: str, api_id: str = "", timeout: float = PROBE_TIMEOUT
) -> CheckResult:
    """H113: this site's WebSocketView answers a POST at the gateway's ``connect`` URL.

    The probe sends the gateway's API id (when it has one) and no secret, as nobody
    but API Gateway could. The view's own refusal proves three things at once: the
    URL reaches Django, it reaches a WebSocketView of a site that knows this gateway,
    and the ``X-Amzn-Apigateway-Api-Id`` header gets through whatever stands in front
    (a tunnel or proxy that strips it gets a different refusal). Any other answer,
    a proxy's 403 or a tunnel's login page included, fails. Like every connect, it
    counts one attempt for this server's address in the connect rate limit.
    """
    from wsapp.views import (
        API_ID_HEADER,
        NOT_FROM_GATEWAY,
        SECRET_MISMATCH,
        TOO_MANY_CONNECTS,
        UNKNOWN_GATEWAY,
    )

    fix = (
        f"Make {url} reachable from the internet over https (API Gateway calls it): check "
        "that Django runs, the host, port and path of the target base endpoint, the "
        "firewall or tunnel, and that nothing redirects it or strips headers, then Sync."
    )
    if urlsplit(url).scheme not in {"http", "https"}:
        return result(
            "wsapp.H113", Status.FAIL, [f"{url} is not an http(s) URL (see wsapp.H112)"], fix, name
        )
    headers = {"User-Agent": "wsapp-health-probe"}
    if api_id:
        headers[API_ID_HEADER] = api_id
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        url, data=b"", method="POST", headers=headers
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read(200)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(200)
    except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
        reason = getattr(exc, "reason", exc)
        return result("wsapp.H113", Status.FAIL, [f"POST {url}: no answer ({reason})"], fix, name)
    text = body.decode("utf-8", "replace").strip()
    sent = f"with API id {api_id} and no secret" if api_id else "without gateway headers"
    evidence = [f"POST {url} {sent}: {status} {text[:120]}".rstrip()]
    expected = (403, SECRET_MISMATCH) if api_id else (400, NOT_FROM_GATEWAY)
    if (status, text) == expected:
        return result("wsapp.H113", Status.PASS, evidence, subject=name)
    if (status, text) == (429, TOO_MANY_CONNECTS):
        return result(
            "wsapp.H113",
            Status.WARN,
            [*evidence, "A WebSocketView answered, but this server's address is rate limited"],
            "Re-run once the connect rate-limit window has passed (RATE_LIMIT_WINDOW_MINUTES).",
            name,
        )
    if api_id and (status, text) == (400, NOT_FROM_GATEWAY):
        problem = (
            f"the {API_ID_HEADER} header did not reach Django: a proxy or tunnel in front of "
            "it strips API Gateway's headers"
        )
    elif api_id and (status, text) == (403, UNKNOWN_GATEWAY):
        problem = (
            f"a WebSocketView answered, but it knows no gateway with API id {api_id}: the "
            "target is another site, or a site with another database"
        )
    elif status == 404:
        problem = "no URL pattern answers there"
    elif 300 <= status < 400:
        problem = "it redirects, and API Gateway does not follow redirects"
    elif status >= 500:
        problem = "the server fails with a server error"
    else:
        problem = (
            "that is not a WebSocketView's answer: something else (a proxy, a tunnel's page, "
            "another application) answers at this URL"
        )
    return result("wsapp.H113", Status.FAIL, [*evidence, problem], fix, name)


def check_management_api(name: str, endpoint: str, region: str, connection_id: str) -> CheckResult:
    """H301: the management (@connections) API answers GetConnection.

    With a live session its connection is asked for; without one, a made-up id.
    410 Gone (and, for the made-up id, 400) proves the endpoint is right and the
    call was authorised: API Gateway checks IAM before it looks at the id.
    """
    if not endpoint:
        return result(
            "wsapp.H301",
            Status.FAIL,
            ["No API endpoint is recorded for this gateway"],
            "Create the gateway in AWS first.",
            name,
        )
    probe = connection_id or PROBE_CONNECTION_ID
    try:
        info = aws.management_client(endpoint, region=region or None).get_connection(
            ConnectionId=probe
        )
    except Exception as exc:
        code = aws.error_code(exc)
        if code in {"GoneException", "410"}:
            evidence = [f"{endpoint}: reachable (GetConnection answered 410 Gone for {probe})"]
            if connection_id:
                evidence.append(
                    f"Session {connection_id} is marked connected but API Gateway no longer "
                    "has it: a stale row (see wsapp.H402)."
                )
            return result("wsapp.H301", Status.PASS, evidence, subject=name)
        if code in {"BadRequestException", "400"} and not connection_id:
            return result(
                "wsapp.H301",
                Status.PASS,
                [f"{endpoint}: reachable (GetConnection refused the probe id {probe} with 400)"],
                subject=name,
            )
        return result(
            "wsapp.H301",
            Status.FAIL,
            [f"{endpoint}: {describe_exception(exc)}"],
            "Check the gateway's endpoint and stage, and that Django's IAM identity may "
            "execute-api:ManageConnections on this API.",
            name,
        )
    return result(
        "wsapp.H301",
        Status.PASS,
        [f"{endpoint}: reachable (connection {probe} connected at {info.get('ConnectedAt')})"],
        subject=name,
    )


# --- The runner --------------------------------------------------------------------


@dataclass
class _Task:
    """A network check for the pool: the ids it reports and a callable without ORM use."""

    ids: list[str]
    subject: str
    func: Callable[[], CheckResult | list[CheckResult]]
    #: Whether it calls AWS through wsapp.aws's cached clients (built beforehand).
    aws: bool = True


def _timed_out(task: _Task, timeout: float, reason: str = "") -> list[CheckResult]:
    return [
        result(
            check_id,
            Status.FAIL,
            [reason or f"No answer within {timeout:g} s: the check timed out"],
            "The call timed out: check network access from Django to AWS (and DNS) and the "
            "AWS service health, then re-run.",
            task.subject,
        )
        for check_id in task.ids
    ]


def _crashed(task: _Task, exc: BaseException) -> list[CheckResult]:
    return [
        result(
            check_id,
            Status.FAIL,
            [f"The check itself failed: {describe_exception(exc)}"],
            "See the wsapp log for details.",
            task.subject,
        )
        for check_id in task.ids
    ]


def gateway_tasks(gateway: ApiGateway) -> list[_Task]:
    """Network checks for one gateway (AWS state, domain, DNS, management API).

    Runs in the caller's thread: every database read happens here, and the tasks
    only carry plain values (and the gateway with its routes already read).
    """
    from wsapp.health_aws import aws_state_task, domain_task

    name = gateway.api_name
    live = (
        WebSocketSession.objects.filter(api_gateway=gateway, connected=True)
        .order_by("-last_seen")
        .values_list("connection_id", flat=True)
        .first()
    )
    endpoint, region = gateway.management_endpoint, gateway.region
    tasks = [aws_state_task(gateway)]
    tasks.append(
        _Task(
            ["wsapp.H301"],
            name,
            lambda: check_management_api(name, endpoint, region, live or ""),
        )
    )
    if gateway.domain_name:
        tasks.append(domain_task(gateway))
        domain, target = gateway.domain_name, gateway.api_gateway_domain_name
        tasks.append(
            _Task(["wsapp.H204"], name, lambda: check_dns(name, domain, target), aws=False)
        )
    connect_url = gateway.target_base_endpoint + "connect"
    api_id = gateway.api_id
    tasks.append(
        _Task(["wsapp.H113"], name, lambda: check_reachable(name, connect_url, api_id), aws=False)
    )
    return tasks


#: Section of docs/troubleshooting.md for each system check id.
SYSTEM_CHECK_ANCHORS = {
    "wsapp.E001": "django-returns-bad-request",
    "wsapp.E002": "websocket-token-request-fails",
    "wsapp.E003": "user-is-anonymous-unexpectedly",
    "wsapp.E004": "configuration-checks-report-invalid-websockets-settings",
    "wsapp.E005": "user-is-anonymous-unexpectedly",
    "wsapp.W001": "debugging-websocket-views",
    "wsapp.W002": "user-is-anonymous-unexpectedly",
    "wsapp.W003": "websocket-token-request-fails",
    "wsapp.W004": "user-is-anonymous-unexpectedly",
    "wsapp.W005": "connection-fails-immediately",
    "wsapp.W006": "the-url-checks-cannot-load-the-urlconf",
    "wsapp.E006": "permission-denied",
    "wsapp.W007": "sockets-open-from-pages-you-do-not-own",
    "wsapp.W008": "user-is-anonymous-unexpectedly",
}
CONFIGURATION_ID = "wsapp.config"


def configuration_results() -> list[CheckResult]:
    """The system checks tagged ``wsapp`` (as ``check --tag wsapp`` runs them).

    One row per finding, or one passing row when there is none.
    """
    from django.core import checks as django_checks

    messages = [
        message
        for message in django_checks.run_checks(tags=["wsapp"])
        if message.level >= django_checks.WARNING
    ]
    if not messages:
        return [
            CheckResult(
                id=CONFIGURATION_ID,
                title="Configuration checks (check --tag wsapp)",
                status=Status.PASS,
                evidence=["URLs, middleware, WEBSOCKETS, cookies and client URLs: no problem"],
                anchor="check-ids",
            )
        ]
    return [
        CheckResult(
            id=message.id or CONFIGURATION_ID,
            title="Configuration",
            status=Status.FAIL if message.level >= django_checks.ERROR else Status.WARN,
            evidence=[message.msg],
            fix=message.hint or "",
            anchor=SYSTEM_CHECK_ANCHORS.get(message.id or "", "check-ids"),
        )
        for message in messages
    ]


def run_checks(
    gateways: Iterable[ApiGateway] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    include_site: bool = True,
    deadline: float = DEFAULT_DEADLINE,
) -> list[CheckResult]:
    """Run every live check; return the results, site first, then by gateway name.

    ``timeout`` bounds each network check from the moment it starts; a check that
    takes longer is reported as timed out and left to finish in the background.
    ``deadline`` bounds the network part of the run (client setup included): what
    has not finished by then is reported as timed out.
    Only reads: nothing in the database or in AWS is changed.
    """
    for label, value in (("timeout", timeout), ("deadline", deadline)):
        if not value > 0:  # also refuses NaN
            raise ValueError(f"{label} must be a positive number of seconds, not {value!r}.")
    started = time.monotonic()
    if gateways is None:
        gateways = ApiGateway.objects.prefetch_related("additional_routes").order_by("api_name")
    gateways = list(gateways)
    results: list[CheckResult] = []
    tasks: list[_Task] = []
    if include_site:
        results.append(check_region())
        region = aws.configured_region()
        if region:
            tasks.append(_Task(["wsapp.H001"], "", lambda: check_credentials(region)))
        else:
            results.append(check_credentials(""))
    for gateway in gateways:
        results.append(check_target_endpoint(gateway))
        results.append(check_integrations_resolve(gateway))
        results.append(check_route_handlers(gateway))
        results.append(check_additional_routes_deployed(gateway))
        tasks.extend(gateway_tasks(gateway))
    if include_site:
        results.extend(configuration_results())
        results.extend(check_stale_data())
        results.extend(check_abuse())
    deadline_at = time.monotonic() + deadline
    setup_limit = min(timeout, deadline)
    if tasks and not _build_clients_within(gateways, include_site, setup_limit):
        stuck = f"Not run: setting up the AWS clients took more than {setup_limit:g} s"
        results.extend(
            item for task in tasks if task.aws for item in _timed_out(task, timeout, stuck)
        )
        tasks = [task for task in tasks if not task.aws]
    results.extend(_run_concurrently(tasks, timeout, deadline_at))
    order = {check_id: index for index, check_id in enumerate(CHECKS)}
    # Configuration findings (system check ids) come first in the site group.
    results.sort(key=lambda r: (r.subject, order.get(r.id, -1), r.id))
    logger.debug("Health checks ran in %.0f ms", (time.monotonic() - started) * 1000)
    return results


def _build_clients_within(gateways: list[ApiGateway], include_site: bool, limit: float) -> bool:
    """``_build_clients`` on a daemon thread, waited for at most ``limit`` seconds.

    Building a client resolves credentials, which can wait on an instance metadata
    service or a credential process. When that takes too long the AWS checks are
    not run at all (they would build clients concurrently, which botocore does not
    allow) and the run goes on with the rest.
    """
    done = threading.Event()

    def build() -> None:
        try:
            _build_clients(gateways, include_site)
        finally:
            done.set()

    threading.Thread(target=build, name="wsapp-health-clients", daemon=True).start()
    return done.wait(limit)


def _build_clients(gateways: list[ApiGateway], include_site: bool) -> None:
    """Build every boto3 client the network checks use, here, before the threads start.

    botocore sessions are not thread-safe, so clients must not be built concurrently;
    ``wsapp.aws`` caches them, and the checks' own ``aws.client`` calls then return
    these. Building one also resolves the credentials, which is no network call
    except on EC2/ECS, where it is quick.
    """
    from wsapp.provisioning.desired import region_of

    wanted: list[tuple[str, str | None, str | None]] = []
    if include_site:
        wanted.append(("sts", None, None))
    for gateway in gateways:
        region = region_of(gateway) or None
        wanted.append(("apigatewayv2", region, None))
        if gateway.domain_name:
            wanted.append(("acm", region, None))
        if gateway.management_endpoint:
            wanted.append(
                ("apigatewaymanagementapi", gateway.region or None, gateway.management_endpoint)
            )
    for service, region, endpoint in dict.fromkeys(wanted):
        try:
            aws.client(service, region=region, endpoint_url=endpoint)
        except Exception:
            # No region, a malformed endpoint: the check makes the same call and
            # reports the error itself.
            logger.debug("Could not build the %s client for the health checks", service)


@dataclass
class _Progress:
    started: float | None = None
    finished: bool = False
    abandoned: bool = False
    outcome: Any = None
    error: BaseException | None = None
    elapsed_ms: int = 0


def _run_concurrently(
    tasks: list[_Task], timeout: float, deadline_at: float | None = None
) -> list[CheckResult]:
    """Run ``tasks`` on at most MAX_WORKERS daemon threads, each bounded by ``timeout``.

    At ``deadline_at`` (a ``time.monotonic()`` value) every task still running or
    waiting is written off, so queued tasks cannot stretch the run to
    ceil(tasks / workers) * timeout.

    Not a ThreadPoolExecutor: its threads are joined when the interpreter exits, so a
    call stuck in a read would keep ``checkGateway`` alive long after it printed.
    A worker whose task timed out is written off and replaced, so the queue keeps
    moving while the stuck call finishes (or fails) on its own.
    """
    if not tasks:
        return []
    progress = [_Progress() for _ in tasks]
    queue = deque(range(len(tasks)))
    changed = threading.Condition()

    def work() -> None:
        while True:
            with changed:
                if not queue:
                    return
                index = queue.popleft()
                state = progress[index]
                state.started = time.monotonic()
            try:
                outcome, error = tasks[index].func(), None
            except Exception as exc:
                outcome, error = None, exc
            with changed:
                state.outcome, state.error = outcome, error
                state.elapsed_ms = int((time.monotonic() - state.started) * 1000)
                state.finished = True
                changed.notify_all()
                if state.abandoned:
                    # A replacement worker took this one's place.
                    return

    def start_worker() -> None:
        threading.Thread(target=work, name="wsapp-health", daemon=True).start()

    for _ in range(min(MAX_WORKERS, len(tasks))):
        start_worker()
    with changed:
        while True:
            now = time.monotonic()
            if deadline_at is not None and now >= deadline_at:
                for state in progress:
                    if not state.finished:
                        state.abandoned = True
                queue.clear()
                break
            next_deadline = deadline_at
            waiting = False
            for state in progress:
                if state.finished or state.abandoned:
                    continue
                if state.started is None:
                    waiting = True
                    continue
                deadline = state.started + timeout
                if now >= deadline:
                    state.abandoned = True
                    if queue:
                        start_worker()
                    continue
                waiting = True
                next_deadline = deadline if next_deadline is None else min(next_deadline, deadline)
            if not waiting:
                break
            changed.wait(timeout if next_deadline is None else next_deadline - now)
        return _collect(tasks, progress, timeout, deadline_at)


def _collect(
    tasks: list[_Task],
    progress: list[_Progress],
    timeout: float,
    deadline_at: float | None = None,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    for task, state in zip(tasks, progress, strict=True):
        if state.started is None:
            results.extend(
                _timed_out(task, timeout, "Not run: the health run's overall deadline passed")
            )
            continue
        if not state.finished or state.abandoned:
            reason = ""
            if deadline_at is not None and state.started + timeout > deadline_at:
                reason = "No answer before the health run's overall deadline: it timed out"
            results.extend(_timed_out(task, timeout, reason))
            continue
        if state.error is not None:
            logger.error("Health check %s crashed", task.ids, exc_info=state.error)
            results.extend(_crashed(task, state.error))
            continue
        outcome = state.outcome
        for item in outcome if isinstance(outcome, list) else [outcome]:
            item.duration_ms = state.elapsed_ms
            results.append(item)
    return results


def summary(results: list[CheckResult]) -> dict[str, int]:
    """How many results passed, warned and failed: ``{"pass": n, "warn": n, "fail": n}``."""
    counts = {status.value: 0 for status in Status}
    for item in results:
        counts[item.status.value] += 1
    return counts
