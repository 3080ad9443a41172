"""The live health checks (wsapp.health): each one passes when things are right and
fails (or warns) with its id and a useful message when they are not.

API Gateway is the local gateway and ACM, Route 53 and STS are moto; gateways are
provisioned with wsapp.provisioning and broken on purpose with plain boto3 calls.
Only the DNS resolver is replaced: it answers from moto's Route 53 zones.
"""

from __future__ import annotations

import http.server
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import botocore.session
import pytest
from django.db.backends.signals import connection_created
from django.test import Client
from django.utils import timezone

from dashboard.health import doc_sections
from tests.helpers.health import (  # noqa: F401  (fixtures)
    DOMAIN,
    GATEWAY_ADDRESS,
    HEALTH_URLS,
    SITE_CHECKS,
    aws_gateway,
    blackhole,
    by_id,
    evidence,
    green_run,
    health_stack,
    local_gateway,
    make_local_gateway,
    moto_aws,
    moto_server,
    provision,
    record_cleanup_run,
    refusing_url,
    set_faults,
    stuck_resolver,
)
from tests.helpers.moto import issued_certificate, pending_certificate
from tests.helpers.provisioning import (
    NO_WAIT,
    REGION,
    clear_calls,
    clear_faults,
    control_calls,
    fail_calls,
)
from wsapp import aws, cleanup, health, provisioning, ratelimit, tokens
from wsapp.health import CHECKS, Status, run_checks
from wsapp.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    CleanupRun,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.urls(HEALTH_URLS)

#: Short enough to keep the suite fast, long enough for a loaded CI machine.
TIMEOUT = 5.0


def gateway_results(gateway: ApiGateway, timeout: float = TIMEOUT):
    """Only this gateway's checks (no site checks)."""
    return run_checks([gateway], include_site=False, timeout=timeout)


def assert_fails(item, *texts: str, status: Status = Status.FAIL) -> None:
    assert item.status == status, (item.id, item.status, item.evidence)
    for text in texts:
        assert text in evidence(item), (item.id, text, item.evidence)
    assert item.fix, f"{item.id} gives no fix"


# --- Everything right -------------------------------------------------------------

#: What each check shows when it passes on the green site.
PASS_EVIDENCE = {
    "wsapp.H001": "Account 123456789012",
    "wsapp.H002": f"Region: {REGION}",
    "wsapp.H101": "exists (ws://",
    "wsapp.H102": "Stage test serves deployment",
    "wsapp.H103": "4 routes and 4 integrations match the record",
    "wsapp.H104": "1 additional route(s), all deployed",
    "wsapp.H111": "/ws/echo",
    "wsapp.H112": "Target base endpoint: http://localhost:",
    "wsapp.H113": "and no secret: 403 Gateway secret mismatch.",
    "wsapp.H114": "echo → HealthTestView.echo()",
    "wsapp.H201": f"ISSUED for {DOMAIN}",
    "wsapp.H202": f"{DOMAIN} exists in {REGION}",
    "wsapp.H203": f"{DOMAIN} is mapped to stage test",
    "wsapp.H204": f"(addresses {GATEWAY_ADDRESS})",
    "wsapp.H301": "reachable (GetConnection answered 410 Gone",
    "wsapp.H401": "0 disconnected session row(s)",
    "wsapp.H402": "0 session(s) marked connected for more than 2 hours",
    "wsapp.H403": "0 expired token row(s)",
    "wsapp.H404": "0 rate-limit record(s) older than 7 days",
    "wsapp.H405": "Last cleanup: clearWebSocketSessions at",
    "wsapp.H501": "0 rejected attempt(s) in the last hour",
    "wsapp.H502": "no user or address made more than",
}


def test_every_check_has_pass_evidence_listed():
    assert set(PASS_EVIDENCE) == set(CHECKS)


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_check_passes_when_everything_is_right(green_run, check_id):
    item = by_id(green_run.results, check_id)
    assert item.status == Status.PASS, item.evidence
    assert PASS_EVIDENCE[check_id] in evidence(item)
    assert item.fix == ""
    assert item.subject == ("" if check_id in SITE_CHECKS else green_run.gateway)


def test_all_green_site_reports_each_check_once_site_first(green_run):
    assert [r.id for r in green_run.results] == [
        *SITE_CHECKS,
        *[i for i in CHECKS if i not in SITE_CHECKS],
    ]
    # Every live check, plus the one row of the configuration checks.
    assert health.summary(green_run.results) == {"pass": len(CHECKS) + 1, "warn": 0, "fail": 0}
    assert all(
        r.doc_url == f"docs/troubleshooting.md#{CHECKS[r.id].anchor}"
        for r in green_run.results
        if r.id in CHECKS
    )


# --- Site: credentials and region -------------------------------------------------


def test_unreachable_sts_fails_h001_fast(db, refusing_url, monkeypatch, settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", refusing_url)
    settings.WEBSOCKETS = {"aws_max_attempts": 1}
    started = time.monotonic()
    results = run_checks([], timeout=TIMEOUT)
    assert time.monotonic() - started < 2.5
    assert_fails(by_id(results, "wsapp.H001"), "Could not connect to the endpoint URL")
    assert by_id(results, "wsapp.H002").ok


def test_missing_credentials_fail_h001(db, moto_aws, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    # No instance metadata service here: without this botocore would wait for one.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.clear_cache()
    item = by_id(run_checks([], timeout=TIMEOUT), "wsapp.H001")
    assert_fails(item, "No usable AWS credentials")
    assert "AWS_ACCESS_KEY_ID" in item.fix


def test_no_region_fails_h002(db, monkeypatch, settings, tmp_path):
    settings.AWS_GATEWAY_REGION_NAME = ""
    settings.AWS_REGION_NAME = ""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    aws.clear_cache()
    results = run_checks([], timeout=TIMEOUT)
    assert_fails(by_id(results, "wsapp.H002"), "No region configured")
    assert "AWS_GATEWAY_REGION_NAME" in by_id(results, "wsapp.H002").fix
    assert_fails(by_id(results, "wsapp.H001"), "Not checked: no region")


# --- Gateway in AWS -----------------------------------------------------------------


def test_gateway_never_created_fails_h101(db):
    gateway = ApiGateway.objects.create(
        api_name="draft", target_base_endpoint="http://localhost/ws/"
    )
    results = gateway_results(gateway)
    assert_fails(by_id(results, "wsapp.H101"), "never created in AWS")
    assert f"createApiGateway --pk={gateway.pk}" in by_id(results, "wsapp.H101").fix
    assert_fails(by_id(results, "wsapp.H102"), "Not checked")
    assert_fails(by_id(results, "wsapp.H301"), "No API endpoint is recorded")


def test_deleted_api_fails_h101(db, health_stack, provision):
    gateway = provision(routes={})
    health_stack.apigw().delete_api(ApiId=gateway.api_id)
    results = gateway_results(gateway)
    assert_fails(by_id(results, "wsapp.H101"), f"API {gateway.api_id} no longer exists in AWS")
    assert_fails(by_id(results, "wsapp.H103"), "Not checked")


def test_undeployed_change_fails_h102(db, health_stack, provision):
    gateway = provision(routes={})
    local = health_stack.local
    # Move the endpoint, and let the sync's deployment fail: AWS holds the new
    # integrations, the stage still serves the old ones.
    gateway.target_base_endpoint = "http://127.0.0.1/ws/"
    gateway.save()
    clear_calls(local)
    differences = provisioning.plan(gateway, retry=NO_WAIT)
    reads = len(control_calls(local))
    fail_calls(local, reads + len(differences) + 1)
    synced = provisioning.sync(gateway, retry=NO_WAIT)
    clear_faults(local)
    assert not synced.ok and "Deploying stage test" in synced.message, synced.message
    gateway.refresh_from_db()
    results = gateway_results(gateway)
    assert_fails(by_id(results, "wsapp.H102"), "Changes made by an earlier run are not deployed")
    assert by_id(results, "wsapp.H103").ok, by_id(results, "wsapp.H103").evidence


def test_deployment_made_outside_django_fails_h102(db, health_stack, provision):
    gateway = provision(routes={})
    other = health_stack.apigw().create_deployment(ApiId=gateway.api_id, StageName="test")
    item = by_id(gateway_results(gateway), "wsapp.H102")
    assert_fails(item, f"serves deployment {other['DeploymentId']}, not the recorded")


def test_missing_route_fails_h103(db, health_stack, provision):
    gateway = provision(routes={})
    client = health_stack.apigw()
    route = next(
        r for r in client.get_routes(ApiId=gateway.api_id)["Items"] if r["RouteKey"] == "$connect"
    )
    client.delete_route(ApiId=gateway.api_id, RouteId=route["RouteId"])
    item = by_id(gateway_results(gateway), "wsapp.H103")
    assert_fails(item, "Route $connect is missing.")
    assert "Sync" in item.fix


def test_changed_selection_expression_fails_h103(db, health_stack, provision):
    gateway = provision(routes={})
    health_stack.apigw().update_api(
        ApiId=gateway.api_id, RouteSelectionExpression="$request.body.type"
    )
    item = by_id(gateway_results(gateway), "wsapp.H103")
    assert_fails(item, "Route selection expression is '$request.body.type'")


def connect_integration(client, api_id: str) -> dict:
    route = next(
        r for r in client.get_routes(ApiId=api_id)["Items"] if r["RouteKey"] == "$connect"
    )
    integration_id = route["Target"].removeprefix("integrations/")
    return client.get_integration(ApiId=api_id, IntegrationId=integration_id)


def test_integration_uri_edited_in_aws_fails_h103(db, health_stack, provision):
    gateway = provision(routes={})
    client = health_stack.apigw()
    integration = connect_integration(client, gateway.api_id)
    client.update_integration(
        ApiId=gateway.api_id,
        IntegrationId=integration["IntegrationId"],
        IntegrationUri="http://localhost/elsewhere/connect",
    )
    item = by_id(gateway_results(gateway), "wsapp.H103")
    assert_fails(
        item,
        "Route $connect: integration URL is 'http://localhost/elsewhere/connect', record says "
        "'http://localhost/ws/connect'.",
    )
    assert "Sync" in item.fix


@pytest.mark.parametrize(
    ("removed", "message"),
    [
        (
            "integration.request.header.X-Gateway-Secret",
            "Route $connect: the X-Gateway-Secret header does not carry the current secret",
        ),
        (
            "integration.request.header.connectionId",
            "Route $connect: the connectionId header is not mapped to context.connectionId.",
        ),
    ],
)
def test_mapping_removed_in_aws_fails_h103(db, health_stack, provision, removed, message):
    gateway = provision(routes={})
    client = health_stack.apigw()
    integration = connect_integration(client, gateway.api_id)
    parameters = dict(integration["RequestParameters"])
    del parameters[removed]
    client.update_integration(
        ApiId=gateway.api_id,
        IntegrationId=integration["IntegrationId"],
        RequestParameters=parameters,
    )
    assert_fails(by_id(gateway_results(gateway), "wsapp.H103"), message)


def test_route_saved_but_not_synced_fails_h104(db, provision):
    gateway = provision()
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway,
        name="Shout",
        route_key="shout",
        integration_url="http://localhost/ws/shout",
    )
    results = gateway_results(gateway)
    assert_fails(by_id(results, "wsapp.H104"), "Not deployed: shout")
    # The same route, seen from AWS's side.
    assert_fails(by_id(results, "wsapp.H103"), "Route shout will be added.")


# --- Integrations and the target endpoint ---------------------------------------------


def test_integration_to_a_view_that_is_not_a_websocket_view_fails_h111(db, provision):
    gateway = provision(endpoint="http://localhost/plain/", routes={})
    results = gateway_results(gateway)
    assert_fails(
        by_id(results, "wsapp.H111"),
        "$connect → http://localhost/plain/connect: resolves to 'health_plain', which is not a "
        "WebSocketView",
    )
    # AWS matches the record: the record itself points at the wrong place.
    assert by_id(results, "wsapp.H103").ok


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("http://localhost/nowhere/", "no URL pattern of this site matches '/nowhere/connect'"),
        ("https://ws.attacker.example/ws/", "host 'ws.attacker.example' is not in ALLOWED_HOSTS"),
        ("http://localhost/noslug/", "the URL pattern has no slug named 'route'"),
    ],
)
def test_integration_urls_that_reach_no_websocket_view_fail_h111(db, endpoint, problem, settings):
    from tests.helpers.health_urls import MisroutedUrls

    settings.ROOT_URLCONF = MisroutedUrls
    gateway = ApiGateway.objects.create(api_name="wrong", target_base_endpoint=endpoint)
    item = by_id(gateway_results(gateway), "wsapp.H111")
    assert_fails(item, problem)
    assert 'path("ws/<slug:route>"' in item.fix


def test_additional_route_to_a_wrong_url_fails_h111(db):
    gateway = ApiGateway.objects.create(
        api_name="routes", target_base_endpoint="http://localhost/ws/"
    )
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway,
        name="Echo",
        route_key="echo",
        integration_url="http://localhost/plain/echo",
    )
    item = by_id(gateway_results(gateway), "wsapp.H111")
    assert_fails(item, "echo → http://localhost/plain/echo: resolves to 'health_plain'")
    assert "$connect → http://localhost/ws/connect" in evidence(item)


def test_django_answering_at_the_target_passes_h113(transactional_db, live_server):
    item = health.check_reachable("g", f"{live_server.url}/ws/connect")
    assert item.status == Status.PASS, item.evidence
    assert "without gateway headers: 400 Request did not come through API Gateway." in (
        evidence(item)
    )


def test_this_sites_view_knowing_the_gateway_passes_h113(transactional_db, live_server):
    gateway = ApiGateway.objects.create(
        api_name="known", target_base_endpoint=f"{live_server.url}/ws/", api_id="knownapi01"
    )
    item = health.check_reachable("g", f"{live_server.url}/ws/connect", gateway.api_id)
    assert item.status == Status.PASS, item.evidence
    assert "with API id knownapi01 and no secret: 403 Gateway secret mismatch." in evidence(item)


def test_a_view_that_does_not_know_the_gateway_fails_h113(transactional_db, live_server):
    item = health.check_reachable("g", f"{live_server.url}/ws/connect", "otherapi99")
    assert_fails(item, "403 Unknown gateway.", "knows no gateway with API id otherapi99")


@contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


class ForbiddingProxy(QuietHandler):
    """Not Django: a proxy or tunnel page that refuses everything."""

    def do_POST(self) -> None:
        self.send_response(403)
        self.end_headers()
        self.wfile.write(b"Forbidden by some proxy")


def test_another_servers_403_fails_h113():
    with http_server(ForbiddingProxy) as url:
        item = health.check_reachable("g", f"{url}/ws/connect", "knownapi01")
    assert_fails(item, "403 Forbidden by some proxy", "that is not a WebSocketView's answer")


def stripping_proxy(backend: str) -> type[http.server.BaseHTTPRequestHandler]:
    """A tunnel that forwards to ``backend`` but drops every X-Amzn-* header."""

    class StrippingProxy(QuietHandler):
        def do_POST(self) -> None:
            headers = {
                k: v
                for k, v in self.headers.items()
                if not k.lower().startswith("x-amzn-") and k.lower() != "host"
            }
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            forwarded = urllib.request.Request(
                backend + self.path, data=body, method="POST", headers=headers
            )
            try:
                with urllib.request.urlopen(forwarded, timeout=5) as answer:
                    status, content = answer.status, answer.read()
            except urllib.error.HTTPError as refused:
                status, content = refused.code, refused.read()
            self.send_response(status)
            self.end_headers()
            self.wfile.write(content)

    return StrippingProxy


def test_a_tunnel_stripping_gateway_headers_fails_h113(transactional_db, live_server):
    gateway = ApiGateway.objects.create(
        api_name="known", target_base_endpoint=f"{live_server.url}/ws/", api_id="knownapi01"
    )
    with http_server(stripping_proxy(live_server.url)) as url:
        item = health.check_reachable("g", f"{url}/ws/connect", gateway.api_id)
    assert_fails(
        item,
        "400 Request did not come through API Gateway.",
        "the X-Amzn-Apigateway-Api-Id header did not reach Django",
    )
    assert "strips headers" in item.fix


def test_nothing_listening_at_the_target_fails_h113(refusing_url):
    item = health.check_reachable("g", f"{refusing_url}/ws/connect")
    assert_fails(item, f"POST {refusing_url}/ws/connect: no answer (")
    assert "reachable from the internet over https" in item.fix


def test_target_path_without_a_view_fails_h113(transactional_db, live_server):
    item = health.check_reachable("g", f"{live_server.url}/nowhere/connect")
    assert_fails(item, ": 404", "no URL pattern answers there")


def test_target_that_never_answers_fails_h113(blackhole):
    item = health.check_reachable("g", f"{blackhole}/ws/connect", timeout=0.5)
    assert_fails(item, "no answer (")


def test_gateway_run_probes_the_target_h113(db, refusing_url):
    gateway = ApiGateway.objects.create(
        api_name="probe", target_base_endpoint=f"{refusing_url}/ws/"
    )
    assert_fails(by_id(gateway_results(gateway), "wsapp.H113"), f"POST {refusing_url}/ws/connect")


def route_gateway(route_key: str, url: str = "http://localhost/ws/", **fields) -> ApiGateway:
    gateway = ApiGateway.objects.create(
        api_name="handlers", target_base_endpoint="http://localhost/ws/", **fields
    )
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name=route_key.title(), route_key=route_key, integration_url=url
    )
    return ApiGateway.objects.prefetch_related("additional_routes").get(pk=gateway.pk)


def test_route_with_a_handler_passes_h114(db):
    item = health.check_route_handlers(route_gateway("echo", "http://localhost/ws/echo"))
    assert item.status == Status.PASS, item.evidence
    assert evidence(item) == "echo → HealthTestView.echo()"


def test_route_without_a_handler_fails_h114(db):
    item = health.check_route_handlers(route_gateway("shout", "http://localhost/ws/shout"))
    assert_fails(
        item,
        "shout: HealthTestView has no handler 'shout' it will dispatch to, so messages go to "
        "default()",
    )
    assert "ALLOWED_HANDLERS" in item.fix


def test_route_to_a_handler_outside_allowed_handlers_fails_h114(db, settings):
    from tests.helpers.health_urls import MisroutedUrls

    settings.ROOT_URLCONF = MisroutedUrls
    item = health.check_route_handlers(route_gateway("echo", "http://localhost/strict/echo"))
    assert_fails(item, "echo: StrictHandlersView has no handler 'echo'")


def test_route_key_named_like_a_view_internal_fails_h114(db):
    # "dispatch" is a method, but never one a message may select.
    item = health.check_route_handlers(route_gateway("dispatch", "http://localhost/ws/dispatch"))
    assert_fails(item, "dispatch: HealthTestView has no handler 'dispatch'")


def test_selection_expression_other_than_the_views_key_fails_h114(db):
    gateway = route_gateway(
        "echo", "http://localhost/ws/echo", route_selection_expression="$request.body.type"
    )
    item = health.check_route_handlers(gateway)
    assert_fails(
        item,
        "echo: the gateway selects routes with '$request.body.type' but HealthTestView picks "
        "handlers with '$request.body.action'",
    )


def test_plain_http_endpoint_without_slash_fails_h112(db):
    gateway = ApiGateway.objects.create(
        api_name="insecure", target_base_endpoint="https://www.example.com/ws/"
    )
    # save() would add the slash: write the row as a bulk update or an old release could.
    ApiGateway.objects.filter(pk=gateway.pk).update(
        target_base_endpoint="http://www.example.com/ws"
    )
    gateway.refresh_from_db()
    item = by_id(gateway_results(gateway), "wsapp.H112")
    assert_fails(item, "must use https", "'http://www.example.com/ws' does not end in '/'")


# --- Custom domain ----------------------------------------------------------------------


def test_pending_certificate_fails_h201(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    gateway.certificate_arn = pending_certificate(health_stack.moto_url, DOMAIN, region=REGION)
    gateway.save()
    results = gateway_results(gateway)
    assert_fails(
        by_id(results, "wsapp.H201"),
        f"Certificate {gateway.certificate_arn} is PENDING_VALIDATION: finish DNS validation",
    )
    assert by_id(results, "wsapp.H202").ok


def test_certificate_not_covering_the_domain_fails_h201(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    gateway.certificate_arn = issued_certificate(
        health_stack.moto_url, "other.example.org", region=REGION
    )
    gateway.save()
    item = by_id(gateway_results(gateway), "wsapp.H201")
    assert_fails(item, f"Certificate {gateway.certificate_arn} does not cover {DOMAIN}")


def test_certificate_attached_in_aws_differs_from_the_record_fails_h201(
    db, health_stack, provision
):
    gateway = provision(routes={}, domain=True)
    attached = gateway.certificate_arn
    # Another valid certificate for the domain is recorded; AWS still serves the first.
    gateway.certificate_arn = issued_certificate(health_stack.moto_url, DOMAIN, region=REGION)
    gateway.save()
    item = by_id(gateway_results(gateway), "wsapp.H201")
    assert_fails(
        item,
        f"{DOMAIN} in AWS uses the certificate {attached}",
        f"The gateway records {gateway.certificate_arn}",
    )
    assert "Attach the recorded certificate" in item.fix


def test_recorded_dns_target_out_of_date_warns_h202(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    actual = gateway.api_gateway_domain_name
    gateway.api_gateway_domain_name = "d-old.execute-api.us-east-1.amazonaws.com"
    gateway.save()
    item = by_id(gateway_results(gateway), "wsapp.H202")
    assert_fails(
        item,
        f"(target {actual})",
        "The record says d-old.execute-api.us-east-1.amazonaws.com",
        status=Status.WARN,
    )
    assert "refresh the recorded DNS target" in item.fix


def test_domain_missing_in_the_region_fails_h202(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    client = health_stack.apigw()
    client.delete_api_mapping(ApiMappingId=gateway.api_mapping_id, DomainName=DOMAIN)
    client.delete_domain_name(DomainName=DOMAIN)
    item = by_id(gateway_results(gateway), "wsapp.H202")
    assert_fails(item, f"{DOMAIN} is not an API Gateway domain name in {REGION}")
    assert "Create custom domain" in item.fix


def test_unmapped_domain_fails_h203(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    health_stack.apigw().delete_api_mapping(ApiMappingId=gateway.api_mapping_id, DomainName=DOMAIN)
    results = gateway_results(gateway)
    assert_fails(by_id(results, "wsapp.H203"), f"The mapping of {DOMAIN} is gone")
    assert by_id(results, "wsapp.H202").ok


def test_domain_mapped_to_another_stage_fails_h203(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    client = health_stack.apigw()
    deployment = client.create_deployment(ApiId=gateway.api_id)
    client.create_stage(
        ApiId=gateway.api_id, StageName="other", DeploymentId=deployment["DeploymentId"]
    )
    client.update_api_mapping(
        ApiId=gateway.api_id,
        ApiMappingId=gateway.api_mapping_id,
        DomainName=DOMAIN,
        Stage="other",
    )
    item = by_id(gateway_results(gateway), "wsapp.H203")
    assert_fails(
        item, f"{DOMAIN} maps to stage other of API {gateway.api_id}, record says stage test."
    )


def test_domain_mapped_under_a_path_fails_h203_until_sync(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    client = health_stack.apigw()
    client.update_api_mapping(
        ApiId=gateway.api_id,
        ApiMappingId=gateway.api_mapping_id,
        DomainName=DOMAIN,
        ApiMappingKey="v1",
    )
    item = by_id(gateway_results(gateway), "wsapp.H203")
    assert_fails(item, f"{DOMAIN} maps stage test under the path /v1, so wss://{DOMAIN} itself")
    assert provisioning.sync(gateway, retry=NO_WAIT).ok
    mapping = client.get_api_mapping(ApiMappingId=gateway.api_mapping_id, DomainName=DOMAIN)
    assert mapping.get("ApiMappingKey", "") == ""
    assert by_id(gateway_results(gateway), "wsapp.H203").ok


def test_domain_never_mapped_fails_h203(db, health_stack, provision):
    gateway = provision(routes={})
    gateway.domain_name = DOMAIN
    gateway.save()
    results = gateway_results(gateway)
    assert_fails(by_id(results, "wsapp.H203"), f"No API mapping is recorded for {DOMAIN}")
    assert_fails(by_id(results, "wsapp.H201"), f"No certificate ARN is recorded for {DOMAIN}")
    assert_fails(by_id(results, "wsapp.H204"), "no API Gateway domain name is recorded")


def test_dns_pointing_elsewhere_fails_h204(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    health_stack.dns.point(DOMAIN, "192.0.2.55")
    item = by_id(gateway_results(gateway), "wsapp.H204")
    assert_fails(
        item, f"{DOMAIN} → 192.0.2.55", f"{gateway.api_gateway_domain_name} → {GATEWAY_ADDRESS}"
    )
    target = gateway.api_gateway_domain_name
    assert item.fix == f"Point {DOMAIN} at {target} (CNAME, or a Route 53 alias record)."


def test_dns_cname_to_the_gateway_passes_h204(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    health_stack.dns.cname(DOMAIN, gateway.api_gateway_domain_name.upper() + ".")
    item = by_id(gateway_results(gateway), "wsapp.H204")
    assert item.status == Status.PASS, item.evidence
    assert f"{DOMAIN} → {gateway.api_gateway_domain_name}" in evidence(item)


def test_dns_cname_to_another_gateway_sharing_addresses_fails_h204(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    other = "d-other.execute-api.us-east-1.amazonaws.com"
    # Regional API Gateway domains share AWS's address pools.
    health_stack.dns.external[other] = {GATEWAY_ADDRESS}
    health_stack.dns.cname(DOMAIN, other)
    item = by_id(gateway_results(gateway), "wsapp.H204")
    assert_fails(item, f"{DOMAIN} → {other} ({GATEWAY_ADDRESS}), not")
    assert item.fix.startswith(f"Point {DOMAIN} at {gateway.api_gateway_domain_name}")


def test_dns_without_names_falls_back_to_addresses_and_warns_h204(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    health_stack.dns.names = False  # like getaddrinfo for an alias record
    item = by_id(gateway_results(gateway), "wsapp.H204")
    assert_fails(
        item,
        f"{DOMAIN} → {GATEWAY_ADDRESS}; {gateway.api_gateway_domain_name} → {GATEWAY_ADDRESS}",
        "so only addresses were compared",
        status=Status.WARN,
    )


def test_dns_name_that_does_not_resolve_fails_h204(db, health_stack, provision):
    gateway = provision(routes={}, domain=True)
    route53 = health_stack.aws("route53")
    zone_id = gateway.hosted_zone_id
    [alias] = [
        r
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if r["Type"] == "A"
    ]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": alias}]},
    )
    item = by_id(gateway_results(gateway), "wsapp.H204")
    assert_fails(item, f"{DOMAIN} does not resolve")
    assert f"Create a CNAME (or Route 53 alias) record {DOMAIN} →" in item.fix


# --- Management API -----------------------------------------------------------------------


def test_management_api_with_a_live_session_passes_h301(
    transactional_db, live_server, health_stack, provision
):
    from websockets.sync.client import connect

    gateway = provision(endpoint=f"{live_server.url}/ws/", routes={})
    with connect(
        gateway.websocket_url,
        origin="http://localhost",
        proxy=None,
        open_timeout=5,
        close_timeout=2,
    ):
        session = WebSocketSession.objects.get(api_gateway=gateway, connected=True)
        item = by_id(gateway_results(gateway), "wsapp.H301")
    assert item.status == Status.PASS, item.evidence
    assert f"reachable (connection {session.connection_id} connected at" in evidence(item)


def test_management_api_with_a_stale_session_row_passes_h301_and_says_so(db, provision):
    gateway = provision(routes={})
    WebSocketSession.objects.create(
        connection_id="GoneGoneGon=", channel_name="c", api_gateway=gateway
    )
    item = by_id(gateway_results(gateway), "wsapp.H301")
    assert item.status == Status.PASS
    assert "Session GoneGoneGon= is marked connected but API Gateway no longer has it" in evidence(
        item
    )


def test_management_api_refusing_django_fails_h301(db, health_stack, provision):
    gateway = provision(routes={})
    set_faults(
        health_stack.local, management_error_rate=1.0, management_error="ForbiddenException"
    )
    item = by_id(gateway_results(gateway), "wsapp.H301")
    assert_fails(item, "ForbiddenException")
    assert "execute-api:ManageConnections" in item.fix


# --- Stale data ---------------------------------------------------------------------------


@pytest.fixture
def gateway_row(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="rows", target_base_endpoint="http://localhost/ws/")


def make_sessions(gateway: ApiGateway, count: int, **fields) -> None:
    for number in range(count):
        WebSocketSession.objects.create(
            connection_id=f"row{number}", channel_name="c", api_gateway=gateway, **fields
        )


def stale_result(check_id: str):
    return by_id(health.check_stale_data(), check_id)


def test_pile_of_disconnected_sessions_warns_h401(gateway_row, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "disconnected_sessions", 2)
    make_sessions(gateway_row, 3, connected=False)
    assert_fails(
        stale_result("wsapp.H401"),
        "3 disconnected session row(s) (warn above 2, fail above 100000)",
        status=Status.WARN,
    )
    assert "clearWebSocketSessions" in stale_result("wsapp.H401").fix


def test_session_connected_for_more_than_two_hours_warns_h402(gateway_row):
    WebSocketSession.objects.create(
        connection_id="ancient",
        channel_name="c",
        api_gateway=gateway_row,
        created_on=timezone.now() - timezone.timedelta(hours=3),
    )
    WebSocketSession.objects.create(
        connection_id="fresh", channel_name="c", api_gateway=gateway_row
    )
    item = stale_result("wsapp.H402")
    assert_fails(
        item,
        "1 session(s) marked connected for more than 2 hours (warn above 0, fail above 100)",
        status=Status.WARN,
    )
    assert "--stale-hours 2" in item.fix


def test_pile_of_expired_tokens_warns_h403(db, django_user_model, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "expired_tokens", 1)
    user = django_user_model.objects.create_user("tokens")
    for number in range(3):
        tokens.issue_token(user, f"session-{number}")
    WebSocketToken.objects.update(created_at=timezone.now() - timezone.timedelta(minutes=10))
    item = stale_result("wsapp.H403")
    assert_fails(
        item, "3 expired token row(s) (warn above 1, fail above 100000)", status=Status.WARN
    )
    assert "cleanupWebSocketTokens --token-age=86400" in item.fix


def test_pile_of_old_rate_limit_records_warns_h404(db, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "old_rate_limit_records", 1)
    for address in ("192.0.2.1", "192.0.2.2"):
        ratelimit.hit([("connect_ip", address)], max_attempts=5, window_minutes=5)
    ConnectionRateLimit.objects.update(last_attempt=timezone.now() - timezone.timedelta(days=8))
    item = stale_result("wsapp.H404")
    assert_fails(
        item,
        "2 rate-limit record(s) older than 7 days (warn above 1, fail above 100000)",
        status=Status.WARN,
    )


def test_no_cleanup_ever_warns_h405(db):
    item = stale_result("wsapp.H405")
    assert_fails(
        item,
        "No cleanup run has been recorded.",
        "0 row(s) wait for a cleanup",
        status=Status.WARN,
    )
    assert "at least daily" in item.fix


def test_no_cleanup_ever_with_rows_to_clean_fails_h405(gateway_row):
    WebSocketSession.objects.create(
        connection_id="old", channel_name="c", api_gateway=gateway_row, connected=False
    )
    item = stale_result("wsapp.H405")
    assert_fails(
        item,
        "disconnected sessions: 1 waiting, and no cleanup of them has ever run",
        "1 row(s) wait for a cleanup",
    )
    assert "clearWebSocketSessions" in item.fix


def test_cleanup_not_run_for_two_days_with_rows_to_clean_fails_h405(gateway_row):
    record_cleanup_run()
    CleanupRun.objects.update(started_at=timezone.now() - timezone.timedelta(days=2))
    WebSocketSession.objects.create(
        connection_id="old", channel_name="c", api_gateway=gateway_row, connected=False
    )
    item = stale_result("wsapp.H405")
    assert_fails(item, "disconnected sessions: 1 waiting, last cleaned 2 d ago", "1 row(s) wait")


def test_cleanup_not_run_for_two_days_with_nothing_waiting_warns_h405(db):
    record_cleanup_run()
    CleanupRun.objects.update(started_at=timezone.now() - timezone.timedelta(days=2))
    item = stale_result("wsapp.H405")
    assert_fails(item, "(2 d ago)", "0 row(s) wait", status=Status.WARN)
    assert "has not run for more than a day" in item.fix


def test_only_one_cleanup_scheduled_fails_h405_for_the_other(gateway_row):
    """A recent token cleanup does not cover sessions nobody deletes."""
    cleanup.run_cleanup(token_age=300, rate_limit_age=7, source="cleanupWebSocketTokens")
    WebSocketSession.objects.create(
        connection_id="old", channel_name="c", api_gateway=gateway_row, connected=False
    )
    item = stale_result("wsapp.H405")
    assert_fails(item, "disconnected sessions: 1 waiting, and no cleanup of them has ever run")
    # Once the sessions are cleaned too, it passes.
    cleanup.run_cleanup(disconnected_sessions=True, source="clearWebSocketSessions")
    assert stale_result("wsapp.H405").ok


def test_huge_pile_of_disconnected_sessions_fails_h401(gateway_row, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "disconnected_sessions", 1)
    monkeypatch.setitem(health.THRESHOLDS, "disconnected_sessions_fail", 2)
    make_sessions(gateway_row, 3, connected=False)
    assert_fails(
        stale_result("wsapp.H401"), "3 disconnected session row(s) (warn above 1, fail above 2)"
    )


def test_many_sessions_older_than_two_hours_fail_h402(gateway_row, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "stale_sessions_fail", 1)
    make_sessions(gateway_row, 2, created_on=timezone.now() - timezone.timedelta(hours=3))
    assert_fails(
        stale_result("wsapp.H402"),
        "2 session(s) marked connected for more than 2 hours (warn above 0, fail above 1)",
    )


def test_huge_pile_of_expired_tokens_fails_h403(db, django_user_model, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "expired_tokens", 0)
    monkeypatch.setitem(health.THRESHOLDS, "expired_tokens_fail", 1)
    user = django_user_model.objects.create_user("tokens")
    for number in range(2):
        tokens.issue_token(user, f"session-{number}")
    WebSocketToken.objects.update(created_at=timezone.now() - timezone.timedelta(minutes=10))
    assert_fails(stale_result("wsapp.H403"), "2 expired token row(s) (warn above 0, fail above 1)")


def test_huge_pile_of_old_rate_limit_records_fails_h404(db, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "old_rate_limit_records", 0)
    monkeypatch.setitem(health.THRESHOLDS, "old_rate_limit_records_fail", 1)
    for address in ("192.0.2.1", "192.0.2.2"):
        ratelimit.hit([("connect_ip", address)], max_attempts=5, window_minutes=5)
    ConnectionRateLimit.objects.update(last_attempt=timezone.now() - timezone.timedelta(days=8))
    assert_fails(
        stale_result("wsapp.H404"),
        "2 rate-limit record(s) older than 7 days (warn above 0, fail above 1)",
    )


def test_cleanup_not_run_for_two_days_warns_h405(db):
    record_cleanup_run()
    CleanupRun.objects.update(started_at=timezone.now() - timezone.timedelta(days=2))
    item = stale_result("wsapp.H405")
    assert_fails(
        item,
        "Last cleanup: clearWebSocketSessions",
        "(2 d ago)",
        "0 row(s) wait for a cleanup",
        status=Status.WARN,
    )
    assert "has not run for more than a day" in item.fix


def test_dry_run_cleanup_does_not_count_for_h405(db):
    from wsapp.cleanup import run_cleanup

    run_cleanup(disconnected_sessions=True, dry_run=True)
    assert stale_result("wsapp.H405").status == Status.WARN


# --- Abuse --------------------------------------------------------------------------------


@pytest.fixture
def token_spammer(db, django_user_model, settings):
    """A signed-in user who asked the real token view for 6 tokens; the limit is 2."""
    settings.WEBSOCKETS = {"token_rate_limit_max_attempts": 2}
    user = django_user_model.objects.create_user("looper")
    client = Client()
    client.force_login(user)
    codes = [client.post("/ws-token/").status_code for _ in range(6)]
    assert codes == [200, 200, 429, 429, 429, 429]
    return user


def abuse_result(check_id: str):
    return by_id(health.check_abuse(), check_id)


def test_quiet_site_passes_abuse_checks(token_spammer):
    # Under the default thresholds six requests are nothing.
    assert abuse_result("wsapp.H501").ok
    assert abuse_result("wsapp.H502").ok


def test_spike_of_rejections_warns_h501(token_spammer, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "rejections_last_hour", 3)
    item = abuse_result("wsapp.H501")
    assert_fails(
        item,
        "4 rejected attempt(s) in the last hour (warn above 3)",
        f"token_user {token_spammer.pk}: 4 rejected",
        status=Status.WARN,
    )


def test_user_fetching_tokens_in_a_loop_warns_h502(token_spammer, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "tokens_per_user_last_hour", 5)
    item = abuse_result("wsapp.H502")
    assert_fails(
        item, f"user {token_spammer.pk}: 6 token requests in the last hour", status=Status.WARN
    )
    assert "backoff" in item.fix


def connect_attempts(scope: str, key: str, count: int) -> None:
    for _ in range(count):
        ratelimit.hit([(scope, key)], max_attempts=1000, window_minutes=5)


def test_address_connecting_in_a_loop_warns_h502_with_tokens_off(db, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "connects_per_key_last_hour", 3)
    connect_attempts("connect_ip", "192.0.2.7", 4)
    connect_attempts("connect_ip", "192.0.2.8", 3)  # at the limit: not a loop
    item = abuse_result("wsapp.H502")
    assert_fails(
        item, "address 192.0.2.7: 4 connect attempts in the last hour", status=Status.WARN
    )
    assert "192.0.2.8" not in evidence(item)
    assert "backoff" in item.fix


def test_user_connecting_in_a_loop_warns_h502(db, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "connects_per_key_last_hour", 3)
    connect_attempts("connect_user", "42", 5)
    assert_fails(
        abuse_result("wsapp.H502"),
        "user 42: 5 connect attempts in the last hour",
        status=Status.WARN,
    )


def test_old_connect_attempts_do_not_count_for_h502(db, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "connects_per_key_last_hour", 3)
    connect_attempts("connect_ip", "192.0.2.7", 5)
    ConnectionRateLimit.objects.update(last_attempt=timezone.now() - timezone.timedelta(hours=2))
    assert abuse_result("wsapp.H502").ok


def test_old_rejections_do_not_count_for_h501(token_spammer, monkeypatch):
    monkeypatch.setitem(health.THRESHOLDS, "rejections_last_hour", 3)
    ConnectionRateLimit.objects.update(last_attempt=timezone.now() - timezone.timedelta(hours=2))
    assert abuse_result("wsapp.H501").ok


# --- The runner -------------------------------------------------------------------------


def test_check_that_times_out_says_so_without_hanging_the_run(db, blackhole, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", blackhole)
    aws.configured_region()  # botocore's first load of its data files is not the point here
    started = time.monotonic()
    results = run_checks([], timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"the run took {elapsed:.1f} s"
    item = by_id(results, "wsapp.H001")
    assert_fails(item, "No answer within 0.5 s: the check timed out")
    # Everything that needed no network still reported.
    assert by_id(results, "wsapp.H002").ok
    assert by_id(results, "wsapp.H405").status == Status.WARN


def test_network_checks_run_concurrently_each_with_its_timeout(
    db, health_stack, provision, blackhole, stuck_resolver, monkeypatch
):
    gateway = provision(routes={}, domain=True)
    for service in ("APIGATEWAYV2", "ACM", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", blackhole)
    aws.clear_cache()
    # Just over the timeout: the local gateway finishes the call before it stops.
    set_faults(health_stack.local, management_latency_ms=1200)
    monkeypatch.setattr(health, "resolver", stuck_resolver)
    started = time.monotonic()
    results = run_checks([gateway], timeout=1.0)
    elapsed = time.monotonic() - started
    clear_faults(health_stack.local)
    # Five network checks hang: one after the other they would take 5 s at least.
    assert elapsed < 3.5, f"the run took {elapsed:.1f} s"
    hung = [
        "wsapp.H001",
        "wsapp.H101",
        "wsapp.H102",
        "wsapp.H103",
        "wsapp.H201",
        "wsapp.H202",
        "wsapp.H203",
        "wsapp.H204",
        "wsapp.H301",
    ]
    for check_id in hung:
        assert_fails(by_id(results, check_id), "No answer within 1 s")
    assert stuck_resolver.calls == 1
    assert by_id(results, "wsapp.H111").ok


def test_check_that_crashes_is_reported_and_logged(
    db, health_stack, provision, monkeypatch, caplog
):
    gateway = provision(routes={}, domain=True)

    def broken_resolver(name: str) -> set[str]:
        raise RuntimeError(f"resolver bug for {name}")

    monkeypatch.setattr(health, "resolver", broken_resolver)
    results = gateway_results(gateway)
    assert_fails(
        by_id(results, "wsapp.H204"), f"The check itself failed: resolver bug for {DOMAIN}"
    )
    assert by_id(results, "wsapp.H202").ok
    assert "Health check ['wsapp.H204'] crashed" in caplog.text


def test_more_tasks_than_workers_all_run(db, monkeypatch):
    monkeypatch.setattr(health, "MAX_WORKERS", 2)
    gateways = [
        ApiGateway.objects.create(api_name=f"g{n}", target_base_endpoint="http://localhost/ws/")
        for n in range(5)
    ]
    results = run_checks(gateways, include_site=False, timeout=TIMEOUT)
    assert sorted({r.subject for r in results}) == [f"g{n}" for n in range(5)]
    assert len(results) == 5 * 9


def test_network_threads_use_no_database_and_build_no_client(
    transactional_db, live_server, provision, monkeypatch
):
    """Pool threads neither query (no connection of their own) nor build boto3 clients
    (botocore sessions are not thread-safe): queries happen in the caller's thread, and
    every client is built on the one setup thread before the pool starts."""
    gateway = provision(endpoint=f"{live_server.url}/ws/", domain=True)
    aws.clear_cache()
    connections: list[str] = []
    clients: list[tuple[str, str]] = []

    def record_connection(sender, connection, **kwargs):
        connections.append(threading.current_thread().name)

    real_create_client = botocore.session.Session.create_client

    def recording_create_client(self, service_name, *args, **kwargs):
        clients.append((service_name, threading.current_thread().name))
        return real_create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", recording_create_client)
    connection_created.connect(record_connection)
    try:
        fresh = ApiGateway.objects.get(pk=gateway.pk)
        results = run_checks([fresh], timeout=TIMEOUT)
    finally:
        connection_created.disconnect(record_connection)
    # The live server's own threads connect; the health pool must not.
    assert "wsapp-health" not in connections
    assert {service for service, _ in clients} == {
        "sts",
        "apigatewayv2",
        "acm",
        "apigatewaymanagementapi",
    }
    assert {thread for _, thread in clients} == {"wsapp-health-clients"}
    # The additional route was read before the threads started, and compared.
    assert by_id(results, "wsapp.H103").ok, by_id(results, "wsapp.H103").evidence
    assert all(r.ok for r in results if r.id != "wsapp.H405"), [
        (r.id, r.evidence) for r in results if not r.ok
    ]


def test_timeout_must_be_positive(db):
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        run_checks([], timeout=0)
    with pytest.raises(ValueError, match="deadline must be a positive number of seconds"):
        run_checks([], deadline=float("nan"))


def test_overall_deadline_reports_unfinished_checks_as_timed_out(db, stuck_resolver, monkeypatch):
    monkeypatch.setattr(health, "MAX_WORKERS", 1)
    monkeypatch.setattr(health, "resolver", stuck_resolver)
    gateways = []
    for number in range(3):
        gateway = ApiGateway.objects.create(
            api_name=f"dns{number}",
            target_base_endpoint="http://localhost/ws/",
            domain_name=f"ws{number}.example.com",
            api_gateway_domain_name="d-x.execute-api.us-east-1.amazonaws.com",
        )
        gateways.append(gateway)
    started = time.monotonic()
    results = run_checks(gateways, include_site=False, timeout=5.0, deadline=0.5)
    elapsed = time.monotonic() - started
    # One worker, three DNS checks stuck for their 5 s each: 15 s without the deadline.
    assert elapsed < 4.0, f"the run took {elapsed:.1f} s"
    dns = [r for r in results if r.id == "wsapp.H204"]
    assert len(dns) == 3
    assert all(r.status == Status.FAIL for r in dns)
    # The one worker was busy with some task when the deadline came (a stuck DNS
    # lookup, or another check of the run): that one timed out, the rest never ran.
    texts = [evidence(r) for r in results]
    assert texts.count("No answer before the health run's overall deadline: it timed out") >= 1
    assert "Not run: the health run's overall deadline passed" in [evidence(r) for r in dns]


def test_slow_client_setup_skips_the_aws_checks_only(db, refusing_url, monkeypatch):
    release = threading.Event()
    real_build = health._build_clients

    def slow_build(*args, **kwargs):
        release.wait(30)  # bounded; released below
        real_build(*args, **kwargs)

    monkeypatch.setattr(health, "_build_clients", slow_build)
    gateway = ApiGateway.objects.create(
        api_name="slow", target_base_endpoint=f"{refusing_url}/ws/"
    )
    try:
        started = time.monotonic()
        results = run_checks([gateway], include_site=False, timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert elapsed < 4.0, f"the run took {elapsed:.1f} s"
    assert_fails(
        by_id(results, "wsapp.H101"), "Not run: setting up the AWS clients took more than 0.5 s"
    )
    # Checks that need no AWS client still ran.
    assert_fails(by_id(results, "wsapp.H113"), "no answer (")


def test_each_check_is_named_in_the_doc_section_it_links_to():
    sections = doc_sections()
    system = [
        health.CheckInfo(check_id, "", anchor)
        for check_id, anchor in health.SYSTEM_CHECK_ANCHORS.items()
    ]
    for info in system:
        assert f"`{info.id}`" in sections[info.anchor], (
            f"section #{info.anchor} does not name {info.id}"
        )
    for info in CHECKS.values():
        named = set(re.findall(r"`(wsapp\.H\d{3})`", sections[info.anchor]))
        # A range ("`wsapp.H401`, en dash, `wsapp.H405`") names the ids in between too.
        for first, last in re.findall(
            r"`wsapp\.H(\d{3})`\u2013`wsapp\.H(\d{3})`", sections[info.anchor]
        ):
            named |= {f"wsapp.H{n:03d}" for n in range(int(first), int(last) + 1)}
        assert info.id in named, f"section #{info.anchor} does not name {info.id}"
