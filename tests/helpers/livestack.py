"""The local stack for end-to-end tests: live Django + the local gateway + the demo gateway.

Import the fixtures explicitly::

    from tests.helpers.livestack import demo_stack  # noqa: F401  (fixture)

``demo_stack`` starts a local gateway in a thread on the live server's host (so the
browser sends its Django cookies with the WebSocket handshake, as it does in
production where the site and the gateway share a parent domain), creates the
``demo`` ApiGateway pointing at ``<live_server>/ws/`` and provisions it with
``wsapp.provisioning.create`` through boto3, exactly as ``make run`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from dashboard.demo import DEFAULT_GATEWAY_NAME
from wsapp import aws, provisioning
from wsapp.localgateway import Limits, LocalGateway, run_in_thread
from wsapp.models import ApiGateway

PASSWORD = "correct horse battery staple"
#: AWS's limits, but nothing that makes a failing test wait for minutes.
LIVE_LIMITS = Limits(integration_timeout=10.0, close_timeout=2.0)


@dataclass
class DemoStack:
    """What ``demo_stack`` started."""

    site_url: str
    gateway: LocalGateway
    api_gateway: ApiGateway

    def url(self, path: str = "/") -> str:
        return self.site_url.rstrip("/") + path


@pytest.fixture
def demo_stack(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoStack]:
    """Live Django, a local gateway, and the demo gateway created and deployed in it."""
    host = urlsplit(live_server.url).hostname or "localhost"
    with run_in_thread(host=host, port=0, limits=LIVE_LIMITS) as gateway:
        monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", gateway.url)
        aws.clear_cache()
        record = ApiGateway.objects.create(
            api_name=DEFAULT_GATEWAY_NAME,
            target_base_endpoint=f"{live_server.url}/ws/",
            default_channel_name="general",
            stage_name="test",
        )
        result = provisioning.create(record)
        assert result.ok, result.message
        record.refresh_from_db()
        yield DemoStack(site_url=live_server.url, gateway=gateway, api_gateway=record)


def make_user(username: str, *, staff: bool = False) -> Any:
    """A user with the shared test password (staff users can sign in through the admin)."""
    return get_user_model().objects.create_user(
        username, f"{username}@example.com", PASSWORD, is_staff=staff
    )


def wait_until(predicate: Any, *, timeout: float = 10.0, message: str = "condition") -> None:
    """Wait (bounded) for ``predicate()`` to be true.

    For effects that land in the database from another thread (the live server
    handling a gateway event), where there is nothing to subscribe to: it checks
    every 50 ms and fails with ``message`` after ``timeout`` seconds.
    """
    import threading
    import time

    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {message}.")
        tick.wait(0.05)
