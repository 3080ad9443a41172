"""Fixtures for the health-check tests: provisioned gateways, DNS, servers that misbehave.

Import the fixtures explicitly, with the ones they build on::

    from tests.helpers.health import (  # noqa: F401  (fixtures)
        aws_gateway, health_stack, local_gateway, make_local_gateway, moto_aws,
        moto_server, provision,
    )

``health_stack`` points boto3 at the local gateway (API Gateway) and moto (ACM,
Route 53, STS) and makes the DNS check resolve names from moto's Route 53 zones.
``provision`` creates gateways with ``wsapp.provisioning`` exactly as the console
does, custom domain included. Misconfigurations are then made on purpose with
plain boto3 calls (``apigw``, ``route53``), never by editing the checks' input.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.test import override_settings

from tests.helpers.localgateway import TEST_LIMITS
from tests.helpers.moto import (  # noqa: F401  (fixtures)
    MOTO_SERVICES,
    hosted_zone,
    issued_certificate,
    moto_aws,
    moto_server,
)
from tests.helpers.provisioning import (  # noqa: F401  (fixtures)
    NO_WAIT,
    REGION,
    apigw,
    aws_gateway,
    local_gateway,
    make_local_gateway,
)
from wsapp import aws, cleanup, health, provisioning
from wsapp.health import CheckResult
from wsapp.localgateway import LocalGateway, run_in_thread
from wsapp.models import ApiGateway, ApiGatewayAdditionalRoute, CleanupRun, ConnectionRateLimit

#: The URLconf provisioned gateways point into (``pytest.mark.urls(HEALTH_URLS)``).
HEALTH_URLS = "tests.helpers.health_urls"
#: Where provisioned gateways send events: ``ws/<route>`` of HEALTH_URLS, on a host
#: the development settings allow. Nothing calls it unless a socket connects.
ENDPOINT = "http://localhost/ws/"
DOMAIN = "ws.example.com"
ZONE = "example.com"
#: The address the DNS answers for API Gateway's own host names (TEST-NET-2).
GATEWAY_ADDRESS = "198.51.100.10"
#: Checks about the whole site (credentials, region, stale data, abuse), in report
#: order; every other check is reported per gateway, after them.
SITE_CHECKS = [
    health.CONFIGURATION_ID,
    *[i for i in health.CHECKS if i.startswith(("wsapp.H0", "wsapp.H4", "wsapp.H5"))],
]


class ZoneResolver:
    """Resolves names from moto's Route 53 zones, as public DNS would serve them.

    A records give their addresses; alias A records and CNAMEs are followed, and
    the names followed are reported (as a resolver that sees the records does).
    Names outside every zone are looked up in ``external`` (the rest of the
    internet, e.g. API Gateway's ``d-….execute-api…`` host names). Anything else
    raises ``socket.gaierror``, like ``getaddrinfo``. With ``names=False`` it
    reports addresses only, like ``getaddrinfo`` for an alias record.
    """

    def __init__(self, moto_url: str) -> None:
        self.client = boto3.client("route53", region_name="us-east-1", endpoint_url=moto_url)
        self.external: dict[str, set[str]] = {}
        self.names = True

    def __call__(self, name: str) -> health.Resolution:
        followed: list[str] = []
        addresses = self._resolve(name, 0, followed)
        return health.Resolution(frozenset(addresses), tuple(followed) if self.names else ())

    def _resolve(self, name: str, hops: int, followed: list[str]) -> set[str]:
        name = name.rstrip(".").lower()
        if hops > 8:
            raise socket.gaierror(socket.EAI_FAIL, f"Too many CNAME hops at {name}")
        for zone in self.client.list_hosted_zones()["HostedZones"]:
            zone_name = zone["Name"].rstrip(".").lower()
            if name != zone_name and not name.endswith("." + zone_name):
                continue
            records = self.client.list_resource_record_sets(HostedZoneId=zone["Id"])
            for record in records["ResourceRecordSets"]:
                if record["Name"].rstrip(".").lower() != name:
                    continue
                if record["Type"] == "A" and "AliasTarget" in record:
                    target = record["AliasTarget"]["DNSName"].rstrip(".").lower()
                    followed.append(target)
                    return self._resolve(target, hops + 1, followed)
                if record["Type"] == "A":
                    return {r["Value"] for r in record["ResourceRecords"]}
                if record["Type"] == "CNAME":
                    target = record["ResourceRecords"][0]["Value"].rstrip(".").lower()
                    followed.append(target)
                    return self._resolve(target, hops + 1, followed)
            raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {name}")
        if name in self.external:
            return set(self.external[name])
        raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {name}")

    def cname(self, name: str, target: str) -> None:
        """Replace ``name``'s A record with a CNAME to ``target``."""
        self._replace_a_record(name, "CNAME", target)

    def point(self, name: str, address: str) -> None:
        """Replace ``name``'s record with a plain A record (DNS pointing elsewhere)."""
        self._replace_a_record(name, "A", address)

    def _replace_a_record(self, name: str, record_type: str, value: str) -> None:
        zone_id = self._zone_id(name)
        records = self.client.list_resource_record_sets(HostedZoneId=zone_id)
        deletes = [
            {"Action": "DELETE", "ResourceRecordSet": record}
            for record in records["ResourceRecordSets"]
            if record["Name"].rstrip(".") == name and record["Type"] == "A"
        ]
        create = {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": name,
                "Type": record_type,
                "TTL": 60,
                "ResourceRecords": [{"Value": value}],
            },
        }
        self.client.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": [*deletes, create]}
        )

    def _zone_id(self, name: str) -> str:
        for zone in self.client.list_hosted_zones()["HostedZones"]:
            if name.endswith("." + zone["Name"].rstrip(".")):
                return zone["Id"]
        raise LookupError(f"no hosted zone holds {name}")


@dataclass
class HealthStack:
    """What ``health_stack`` set up."""

    local: LocalGateway
    moto_url: str
    dns: ZoneResolver

    def apigw(self) -> Any:
        """A plain boto3 apigatewayv2 client on the local gateway (not wsapp's)."""
        return apigw(self.local)

    def aws(self, service: str) -> Any:
        """A plain boto3 client on moto."""
        return boto3.client(service, region_name=REGION, endpoint_url=self.moto_url)


def site_settings(allowed_hosts: list[str]) -> dict[str, Any]:
    """Settings of a site set up right for its gateways (the configuration checks pass).

    DEBUG is on, as under ``make run``, so browsers may use the local gateway's ws://
    URL (wsapp.W005). The site is www.example.com beside the gateways' ws.example.com,
    with cookies and CSRF set up for both (wsapp.W002, W003).
    """
    return {
        "DEBUG": True,
        "ALLOWED_HOSTS": ["www.example.com", *allowed_hosts],
        "SESSION_COOKIE_DOMAIN": ".example.com",
        "CSRF_COOKIE_DOMAIN": ".example.com",
        "CSRF_TRUSTED_ORIGINS": ["https://www.example.com"],
    }


@pytest.fixture
def health_stack(
    aws_gateway: LocalGateway, moto_aws: str, monkeypatch: pytest.MonkeyPatch, settings
) -> HealthStack:
    """Local gateway for API Gateway, moto for the rest, DNS answered from Route 53.

    DEBUG is on, as under ``make run``: browsers may then use the local gateway's
    ``ws://`` URL (wsapp.W005 warns about it otherwise).
    """
    for name, value in site_settings(settings.ALLOWED_HOSTS).items():
        setattr(settings, name, value)
    dns = ZoneResolver(moto_aws)
    monkeypatch.setattr(health, "resolver", dns)
    return HealthStack(local=aws_gateway, moto_url=moto_aws, dns=dns)


def provision_gateway(
    stack: HealthStack,
    name: str = "health",
    *,
    endpoint: str = ENDPOINT,
    routes: dict[str, str] | None = None,
    domain: bool = False,
) -> ApiGateway:
    """A gateway created and deployed in the local gateway with ``wsapp.provisioning``.

    ``routes`` maps additional route keys to integration URLs (default: ``echo``);
    ``domain=True`` also serves it at ``ws.example.com`` with an ISSUED certificate
    and a Route 53 alias, as the console's "Create custom domain" does.
    """
    gateway = ApiGateway.objects.create(
        api_name=name, target_base_endpoint=endpoint, region=REGION, stage_name="test"
    )
    for key, url in (routes if routes is not None else {"echo": endpoint + "echo"}).items():
        ApiGatewayAdditionalRoute.objects.create(
            api_gateway=gateway, name=key.title(), route_key=key, integration_url=url
        )
    created = provisioning.create(gateway, retry=NO_WAIT)
    assert created.ok, created.message
    if domain:
        gateway.domain_name = DOMAIN
        gateway.hosted_zone_id = hosted_zone(stack.moto_url, ZONE)
        gateway.certificate_arn = issued_certificate(stack.moto_url, DOMAIN, region=REGION)
        gateway.save()
        mapped = provisioning.create_custom_domain(gateway, retry=NO_WAIT)
        assert mapped.ok, mapped.message
        stack.dns.external[gateway.api_gateway_domain_name] = {GATEWAY_ADDRESS}
    gateway.refresh_from_db()
    return gateway


@pytest.fixture
def provision(health_stack: HealthStack) -> Callable[..., ApiGateway]:
    """Factory: ``provision_gateway`` on the test's ``health_stack``."""

    def make(name: str = "health", **options: Any) -> ApiGateway:
        return provision_gateway(health_stack, name, **options)

    return make


@dataclass(frozen=True)
class GreenRun:
    """The results of ``run_checks()`` for a site where everything is right."""

    results: list[CheckResult]
    gateway: str


@pytest.fixture(scope="module")
def green_run(
    moto_server: str, django_db_setup: None, django_db_blocker: Any, live_server: Any
) -> GreenRun:
    """Every check, once per module, for a correctly provisioned gateway.

    The gateway (additional route, custom domain, DNS alias) is provisioned and the
    cleanup run recorded, committed so that the live server (its target, with its
    own database connection) knows the gateway the reachability probe (H113) names;
    both are deleted again before any test runs: the tests get the results, plain
    data, and a clean database.
    """
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        local = stack.enter_context(run_in_thread(limits=TEST_LIMITS))
        stack.enter_context(
            override_settings(
                ROOT_URLCONF=HEALTH_URLS,
                WEBSOCKETS={"aws_max_attempts": 1},
                **site_settings(settings.ALLOWED_HOSTS),
            )
        )
        stack.enter_context(django_db_blocker.unblock())
        request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        for service in MOTO_SERVICES:
            patch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_server)
        patch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", local.url)
        dns = ZoneResolver(moto_server)
        patch.setattr(health, "resolver", dns)
        aws.clear_cache()
        stack.callback(aws.clear_cache)
        try:
            gateway = provision_gateway(
                HealthStack(local=local, moto_url=moto_server, dns=dns),
                endpoint=f"{live_server.url}/ws/",
                domain=True,
            )
            record_cleanup_run()
            results = health.run_checks()
        finally:
            for model in (ApiGateway, CleanupRun, ConnectionRateLimit):
                model.objects.all().delete()
    return GreenRun(results=results, gateway=gateway.api_name)


def set_faults(local: LocalGateway, **faults: Any) -> None:
    """Replace the local gateway's injected faults (see wsapp.localgateway.faults)."""
    request = urllib.request.Request(
        f"{local.url}/_local/faults",
        data=json.dumps(faults).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def record_cleanup_run() -> None:
    """Run the real cleanup once (nothing old to delete), as the scheduled job would."""
    cleanup.run_cleanup(disconnected_sessions=True, stale_hours=2, token_age=300, rate_limit_age=7)


def by_id(results: list[CheckResult], check_id: str, subject: str | None = None) -> CheckResult:
    """The one result of ``check_id`` (for ``subject`` when given); fails otherwise."""
    found = [r for r in results if r.id == check_id and (subject is None or r.subject == subject)]
    assert len(found) == 1, f"expected one {check_id} result, got {found}"
    return found[0]


def evidence(item: CheckResult) -> str:
    """A result's evidence as one string, for ``in`` assertions."""
    return "\n".join(item.evidence)


@pytest.fixture
def blackhole() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a TCP server that accepts and never answers.

    The socket listens but never accepts: the kernel completes each handshake, the
    request is sent, and no byte ever comes back. Closing it at teardown resets the
    pending connections, so clients stuck on it fail at once.
    """
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` where every connection is refused at once.

    The port stays bound (so nothing else takes it) but never listens.
    """
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{holder.getsockname()[1]}"
    finally:
        holder.close()


class StuckResolver:
    """A DNS resolver that never answers until released (at fixture teardown)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, name: str) -> set[str]:
        self.calls += 1
        # Bounded: the fixture releases it, and it gives up after a minute anyway.
        self.release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, f"Temporary failure resolving {name}")


@pytest.fixture
def stuck_resolver() -> Iterator[StuckResolver]:
    """A resolver that hangs (like getaddrinfo with a dead DNS server); released at teardown.

    Install it with ``monkeypatch.setattr(wsapp.health, "resolver", stuck_resolver)``.
    """
    resolver = StuckResolver()
    try:
        yield resolver
    finally:
        resolver.release.set()
