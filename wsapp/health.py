"""Live health checks: the troubleshooting checklist, run automatically.

Each check says pass, warn or fail, shows its evidence, says what to do, and
links to its section of docs/troubleshooting.md. Checks that read the database
run first, in the caller's thread; checks that reach AWS or DNS then run
concurrently, each with its own timeout, so one slow call cannot hang the page.
Network checks get plain data prepared beforehand and never touch the ORM.

Run them from the health page or ``python manage.py checkGateway [--pk N]``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Sum
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve
from django.utils import timezone

from wsapp import aws, conf
from wsapp.models import (
    ApiGateway,
    CleanupRun,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)
from wsapp.validators import normalise_endpoint

logger = logging.getLogger("wsapp")

DOCS = "docs/troubleshooting.md"
#: API Gateway closes every connection after this long.
MAX_CONNECTION_AGE = timedelta(hours=2)


class Status(StrEnum):
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
        return f"{DOCS}#{self.anchor}" if self.anchor else DOCS

    @property
    def ok(self) -> bool:
        return self.status == Status.PASS


@dataclass(frozen=True)
class CheckInfo:
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

#: Thresholds; tests and operators can tighten them.
THRESHOLDS = {
    "disconnected_sessions": 10_000,
    "expired_tokens": 10_000,
    "old_rate_limit_days": 7,
    "old_rate_limit_records": 10_000,
    "rejections_last_hour": 100,
    "tokens_per_user_last_hour": 120,
    "connects_per_session_last_hour": 30,
}


def result(
    check_id: str, status: Status, evidence: Iterable[str] = (), fix: str = "", subject: str = ""
) -> CheckResult:
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


def check_additional_routes_deployed(gateway: ApiGateway) -> CheckResult:
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
    now = timezone.now()
    results = []
    disconnected = WebSocketSession.objects.filter(connected=False).count()
    limit = THRESHOLDS["disconnected_sessions"]
    results.append(
        result(
            "wsapp.H401",
            Status.WARN if disconnected > limit else Status.PASS,
            [f"{disconnected} disconnected session row(s) (warn above {limit})"],
            "Schedule `python manage.py clearWebSocketSessions` (see docs/cleanup.md).",
        )
    )
    stale = WebSocketSession.objects.filter(
        connected=True, created_on__lt=now - MAX_CONNECTION_AGE
    ).count()
    results.append(
        result(
            "wsapp.H402",
            Status.WARN if stale else Status.PASS,
            [f"{stale} session(s) marked connected for more than 2 hours"],
            "API Gateway closes sockets after 2 hours, so these are stale: run "
            "`python manage.py clearWebSocketSessions --stale-hours 2` regularly.",
        )
    )
    expiry = conf.get("token_expiry_seconds")
    expired = WebSocketToken.objects.filter(created_at__lt=now - timedelta(seconds=expiry)).count()
    limit = THRESHOLDS["expired_tokens"]
    results.append(
        result(
            "wsapp.H403",
            Status.WARN if expired > limit else Status.PASS,
            [f"{expired} expired token row(s) (warn above {limit})"],
            "Schedule `python manage.py cleanupWebSocketTokens --token-age=300`.",
        )
    )
    days = THRESHOLDS["old_rate_limit_days"]
    old = ConnectionRateLimit.objects.filter(last_attempt__lt=now - timedelta(days=days)).count()
    limit = THRESHOLDS["old_rate_limit_records"]
    results.append(
        result(
            "wsapp.H404",
            Status.WARN if old > limit else Status.PASS,
            [f"{old} rate-limit record(s) older than {days} days (warn above {limit})"],
            f"Schedule `python manage.py cleanupWebSocketTokens --rate-limit-age={days}`.",
        )
    )
    last = (
        CleanupRun.objects.filter(status=CleanupRun.Status.FINISHED, dry_run=False)
        .order_by("-started_at")
        .first()
    )
    if last is None:
        results.append(
            result(
                "wsapp.H405",
                Status.WARN,
                ["No cleanup run has been recorded."],
                "Run the cleanup commands from cron or a task scheduler (or the console's "
                "Cleanup page) at least daily.",
            )
        )
    else:
        age = now - last.started_at
        status = Status.WARN if age > timedelta(days=1) else Status.PASS
        results.append(
            result(
                "wsapp.H405",
                status,
                [
                    f"Last cleanup: {last.source} at {last.started_at:%Y-%m-%d %H:%M} UTC "
                    f"({_ago(age)} ago)"
                ],
                "Cleanup has not run for more than a day: check the scheduled task, its "
                "environment (DJANGO_SETTINGS_MODULE, DATABASE_URL) and its logs.",
            )
        )
    return results


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def check_abuse() -> list[CheckResult]:
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
    results.append(
        result(
            "wsapp.H502",
            Status.WARN if heavy else Status.PASS,
            [f"user {key}: {total} token requests in the last hour" for key, total in heavy]
            or [f"No user asked for more than {token_limit} tokens in the last hour"],
            "A browser that asks for token after token is reconnecting in a loop: check its "
            "console, and use backoff with jitter (wsapp/static/wsapp/client.js does).",
        )
    )
    return results


# --- Checks that run concurrently (network) -------------------------------------


def check_credentials() -> list[CheckResult]:
    region = aws.configured_region()
    results = [
        result(
            "wsapp.H002",
            Status.PASS if region else Status.FAIL,
            [f"Region: {region}" if region else "No region configured"],
            "Set AWS_GATEWAY_REGION_NAME (or AWS_REGION_NAME) in the environment.",
        )
    ]
    if not region:
        results.append(
            result("wsapp.H001", Status.FAIL, ["Skipped: no region"], "Configure a region first.")
        )
        return results
    try:
        identity = aws.client("sts").get_caller_identity()
    except Exception as exc:
        results.append(
            result(
                "wsapp.H001",
                Status.FAIL,
                [aws.error_message(exc)],
                "Give Django credentials: an IAM role, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "or AWS_IAM_PROFILE naming a profile. See docs/gateway_setup.md for the policy.",
            )
        )
    else:
        results.append(
            result(
                "wsapp.H001",
                Status.PASS,
                [f"Account {identity.get('Account')}", f"Identity {identity.get('Arn')}"],
            )
        )
    return results


def dns_addresses(host: str) -> set[str]:
    """Addresses ``host`` resolves to (the system resolver; raises OSError)."""
    return {info[4][0] for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)}


#: The resolver the DNS check uses; replaceable for tests and air-gapped sites.
resolver: Callable[[str], set[str]] = dns_addresses


def check_dns(name: str, domain: str, target: str) -> CheckResult:
    if not target:
        return result(
            "wsapp.H204",
            Status.FAIL,
            [f"{domain}: no API Gateway domain name is recorded"],
            "Create the custom domain first (Create custom domain).",
            name,
        )
    try:
        got = resolver(domain)
    except OSError as exc:
        return result(
            "wsapp.H204",
            Status.FAIL,
            [f"{domain} does not resolve: {exc}"],
            f"Create a CNAME (or Route 53 alias) record {domain} → {target}.",
            name,
        )
    try:
        expected = resolver(target)
    except OSError as exc:
        return result(
            "wsapp.H204",
            Status.WARN,
            [f"{domain} → {', '.join(sorted(got))}", f"{target} does not resolve: {exc}"],
            "The gateway's domain name does not resolve yet; recreate the custom domain if "
            "this lasts.",
            name,
        )
    if got & expected:
        return result(
            "wsapp.H204",
            Status.PASS,
            [f"{domain} → {', '.join(sorted(got))} ({target})"],
            subject=name,
        )
    return result(
        "wsapp.H204",
        Status.FAIL,
        [f"{domain} → {', '.join(sorted(got))}", f"{target} → {', '.join(sorted(expected))}"],
        f"Point {domain} at {target} (CNAME, or a Route 53 alias record).",
        name,
    )


def check_management_api(name: str, endpoint: str, region: str, connection_id: str) -> CheckResult:
    if not endpoint:
        return result(
            "wsapp.H301",
            Status.FAIL,
            ["No API endpoint is recorded for this gateway"],
            "Create the gateway in AWS first.",
            name,
        )
    probe = connection_id or "AAAAAAAAAAA="
    try:
        info = aws.management_client(endpoint, region=region or None).get_connection(
            ConnectionId=probe
        )
    except Exception as exc:
        code = aws.error_code(exc)
        if code in {"GoneException", "410"}:
            return result(
                "wsapp.H301",
                Status.PASS,
                [f"{endpoint}: reachable (GetConnection answered 410 Gone for {probe})"],
                subject=name,
            )
        return result(
            "wsapp.H301",
            Status.FAIL,
            [f"{endpoint}: {aws.error_message(exc)}"],
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
    ids: list[str]
    subject: str
    func: Callable[[], CheckResult | list[CheckResult]]


def _timed_out(task: _Task, timeout: float) -> list[CheckResult]:
    return [
        result(
            check_id,
            Status.FAIL,
            [f"No answer within {timeout:g} s"],
            "The call timed out: check network access from Django to AWS and the AWS "
            "service health, then re-run.",
            task.subject,
        )
        for check_id in task.ids
    ]


def _crashed(task: _Task, exc: BaseException) -> list[CheckResult]:
    return [
        result(
            check_id,
            Status.FAIL,
            [f"The check itself failed: {aws.error_message(exc)}"],
            "See the wsapp log for details.",
            task.subject,
        )
        for check_id in task.ids
    ]


def gateway_tasks(gateway: ApiGateway) -> list[_Task]:
    """Network checks for one gateway (AWS state, domain, DNS, management API)."""
    from wsapp.health_aws import aws_state_task, domain_task

    name = gateway.api_name
    live = (
        WebSocketSession.objects.filter(api_gateway=gateway, connected=True)
        .order_by("-last_seen")
        .values_list("connection_id", flat=True)
        .first()
    )
    tasks = [aws_state_task(gateway)]
    tasks.append(
        _Task(
            ["wsapp.H301"],
            name,
            lambda: check_management_api(
                name, gateway.management_endpoint, gateway.region, live or ""
            ),
        )
    )
    if gateway.domain_name:
        tasks.append(domain_task(gateway))
        domain, target = gateway.domain_name, gateway.api_gateway_domain_name
        tasks.append(_Task(["wsapp.H204"], name, lambda: check_dns(name, domain, target)))
    return tasks


def run_checks(
    gateways: Iterable[ApiGateway] | None = None,
    *,
    timeout: float = 10.0,
    include_site: bool = True,
) -> list[CheckResult]:
    """Run every live check; return the results in a stable order."""
    started = time.monotonic()
    if gateways is None:
        gateways = ApiGateway.objects.prefetch_related("additional_routes").order_by("api_name")
    gateways = list(gateways)
    results: list[CheckResult] = []
    tasks: list[_Task] = []
    if include_site:
        tasks.append(_Task(["wsapp.H002", "wsapp.H001"], "", check_credentials))
    for gateway in gateways:
        results.append(check_target_endpoint(gateway))
        results.append(check_integrations_resolve(gateway))
        results.append(check_additional_routes_deployed(gateway))
        tasks.extend(gateway_tasks(gateway))
    if include_site:
        results.extend(check_stale_data())
        results.extend(check_abuse())
    results.extend(_run_concurrently(tasks, timeout))
    order = list(CHECKS)
    results.sort(key=lambda r: (r.subject, order.index(r.id)))
    logger.debug("Health checks ran in %.0f ms", (time.monotonic() - started) * 1000)
    return results


def _run_concurrently(tasks: list[_Task], timeout: float) -> list[CheckResult]:
    if not tasks:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(tasks)))
    futures: dict[concurrent.futures.Future, tuple[_Task, float]] = {}
    for task in tasks:
        futures[pool.submit(_timed, task.func)] = (task, time.monotonic())
    results: list[CheckResult] = []
    deadline = time.monotonic() + timeout
    _, not_done = concurrent.futures.wait(futures, timeout=max(deadline - time.monotonic(), 0))
    for future in futures:
        task, _ = futures[future]
        if future in not_done:
            results.extend(_timed_out(task, timeout))
            continue
        try:
            outcome, elapsed = future.result()
        except Exception as exc:
            logger.exception("Health check %s crashed", task.ids)
            results.extend(_crashed(task, exc))
            continue
        for item in outcome if isinstance(outcome, list) else [outcome]:
            item.duration_ms = elapsed
            results.append(item)
    # Do not wait for checks that timed out: their threads finish on their own.
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def _timed(func: Callable[[], Any]) -> tuple[Any, int]:
    started = time.monotonic()
    outcome = func()
    return outcome, int((time.monotonic() - started) * 1000)


def summary(results: list[CheckResult]) -> dict[str, int]:
    counts = {status.value: 0 for status in Status}
    for item in results:
        counts[item.status.value] += 1
    return counts
