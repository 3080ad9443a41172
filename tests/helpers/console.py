"""Fixtures and helpers for the operator console tests.

Import what you need explicitly::

    from tests.helpers.console import operator_client, staff_client  # noqa: F401
"""

from __future__ import annotations

import dataclasses
import html as html_module
import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wsapp.models import ApiGateway, WebSocketSession

#: Headers htmx sends with every request it makes.
HTMX = {"HX-Request": "true"}
_serial = itertools.count(1)


def htmx_headers(current_url: str = "") -> dict[str, str]:
    """Headers of an htmx request made from ``current_url``."""
    headers = dict(HTMX)
    if current_url:
        headers["HX-Current-URL"] = f"http://testserver{current_url}"
    return headers


def make_user(*permissions: str, staff: bool = True, username: str = "") -> Any:
    """A user holding ``permissions`` ("app_label.codename")."""
    user = get_user_model().objects.create_user(
        username or f"operator{next(_serial)}", password="x", is_staff=staff
    )
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def client_for(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def client_with(db) -> Callable[..., Client]:
    """Factory: a logged-in staff client holding the given permissions."""

    def make(*permissions: str, staff: bool = True) -> Client:
        return client_for(make_user(*permissions, staff=staff))

    return make


@pytest.fixture
def staff_client(client_with) -> Client:
    """Staff, but no permission at all: every console page and action answers 403."""
    return client_with()


@pytest.fixture
def non_staff_client(client_with) -> Client:
    """Signed in, not staff: the admin sends it to the login page."""
    return client_with(staff=False)


@pytest.fixture
def operator(db) -> Any:
    return get_user_model().objects.create_superuser("ops", password="x")


@pytest.fixture
def operator_client(operator) -> Client:
    """A superuser (every permission), CSRF checks on as in a browser."""
    return client_for(operator, csrf=True)


def csrf_post(client: Client, url: str, data: dict[str, Any], **headers: Any) -> Any:
    """POST like a browser form: fetch a CSRF cookie first, send the token back."""
    if "csrftoken" not in client.cookies:
        # What a page with a form would have set: the secret, as the cookie.
        request = RequestFactory().get("/")
        get_token(request)
        client.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    token = client.cookies["csrftoken"].value
    return client.post(url, {**data, "csrfmiddlewaretoken": token}, headers=headers)


def dialog_fields(client: Client, url: str) -> dict[str, str]:
    """The hidden fields an action dialog carries (e.g. the Sync plan's digest), as a
    browser that opened the dialog submits them."""
    html = client.get(url).content.decode()
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        if 'type="hidden"' not in tag:
            continue
        name = re.search(r'\bname="([^"]*)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        if name and name[1] not in {"csrfmiddlewaretoken", "_form_submitted"}:
            fields[name[1]] = html_module.unescape(value[1]) if value else ""
    return fields


def dialog_post(client: Client, url: str, data: dict[str, Any] | None = None, **headers: Any):
    """Submit an Unfold action dialog (its hidden ``_form_submitted`` field included)."""
    return csrf_post(client, url, {"_form_submitted": "on", **(data or {})}, **headers)


def make_sessions(
    gateway: ApiGateway, count: int, *, prefix: str = "conn", **fields: Any
) -> list[WebSocketSession]:
    """``count`` sessions on ``gateway`` named ``<prefix>-<n>``."""
    fields.setdefault("channel_name", "default")
    return WebSocketSession.objects.bulk_create(
        WebSocketSession(connection_id=f"{prefix}-{i}", api_gateway=gateway, **fields)
        for i in range(count)
    )


def last_log(obj: Any = None) -> LogEntry:
    """The newest admin history entry (for ``obj`` when given)."""
    entries = LogEntry.objects.order_by("-pk")
    if obj is not None:
        entries = entries.filter(object_id=str(obj.pk))
    entry = entries.first()
    assert entry is not None, "no admin history entry was recorded"
    return entry


def snapshot(*models: Any) -> list[list[dict[str, Any]]]:
    """Every row of ``models``, to assert that a request changed nothing."""
    return [list(model.objects.order_by("pk").values()) for model in models]


def captured_sql(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def capture(callable_: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run ``callable_`` and return its result and the SQL it ran."""
    with CaptureQueriesContext(connection) as queries:
        result = callable_()
    return result, captured_sql(queries)


def page_messages(response: Any) -> list[str]:
    """The texts of the Django messages a response carries (or the next page shows)."""
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


def ago(**delta: Any) -> datetime:
    from datetime import timedelta

    return timezone.now() - timedelta(**delta)


# --- Browser tests ----------------------------------------------------------------


@dataclass
class ConsoleStack:
    """Live Django plus a local API Gateway that boto3 (and so provisioning) talks to."""

    site_url: str
    gateway: Any

    def url(self, path: str = "/") -> str:
        return self.site_url.rstrip("/") + path


@pytest.fixture
def console_stack(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ConsoleStack]:
    """A local gateway on the live server's host, with no gateway created in it yet.

    Unlike ``tests.helpers.livestack.demo_stack``, nothing is provisioned: the
    browser test creates and deploys the gateway through the console.
    """
    from tests.helpers.livestack import LIVE_LIMITS
    from wsapp import aws
    from wsapp.localgateway import run_in_thread

    host = urlsplit(live_server.url).hostname or "localhost"
    with run_in_thread(host=host, port=0, limits=LIVE_LIMITS) as gateway:
        monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", gateway.url)
        aws.clear_cache()
        yield ConsoleStack(site_url=live_server.url, gateway=gateway)
    aws.clear_cache()


@dataclass
class HeldCleanup:
    """A console cleanup run held after its first batch until ``release()``."""

    batch_size: int
    released: threading.Event

    def release(self) -> None:
        self.released.set()


#: Bound on how long a held run waits for ``release()`` (the test's own waits are shorter).
HOLD_SECONDS = 30.0


@pytest.fixture
def held_cleanup(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldCleanup]:
    """Console cleanup runs delete 2 rows per batch and stop after the first batch.

    The run's row then shows it in progress (``done`` < ``total``) for as long as the
    test needs to look at the progress bar; ``release()`` lets it finish. Wraps the
    real ``perform_cleanup``: the deleting and the progress updates are wsapp's own.
    """
    from dashboard.admin import cleanup as console_cleanup
    from wsapp import cleanup

    held = HeldCleanup(batch_size=2, released=threading.Event())
    perform = cleanup.perform_cleanup

    def perform_held(run: Any, options: Any, *, progress: Any = None) -> Any:
        def after_batch(current: Any) -> None:
            if progress is not None:
                progress(current)
            if current.done < current.total:
                held.released.wait(HOLD_SECONDS)

        options = dataclasses.replace(options, batch_size=held.batch_size)
        return perform(run, options, progress=after_batch)

    monkeypatch.setattr(cleanup, "perform_cleanup", perform_held)
    yield held
    held.release()
    assert console_cleanup.join_runs(timeout=HOLD_SECONDS), "the cleanup thread did not finish"
