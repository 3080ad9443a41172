"""Pushing messages to sockets, and closing sockets, through the @connections API.

Every call goes through a boto3 ``apigatewaymanagementapi`` client from
``wsapp.aws`` (timeouts, ``standard`` retries, a connection pool sized
``WEBSOCKETS["send_pool_size"]``). Sends and disconnects never raise for an AWS
failure: each connection ends up delivered, gone or failed-with-a-reason in the
returned report, because one closed tab or one throttled call must not stop a
broadcast, a logout or a view.

All database work happens on the calling thread; the worker threads only make
HTTP calls, so they never open database connections of their own.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from botocore.exceptions import ClientError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from wsapp import aws, conf
from wsapp.models import ApiGateway, WebSocketSession

logger = logging.getLogger("wsapp")

#: Error code API Gateway returns for a connection that is closed or never existed.
GONE_CODE = "GoneException"

# Rows fetched per round trip when streaming a large queryset.
FETCH_CHUNK_SIZE = 2000
# Ids per UPDATE when marking sessions closed: keeps each IN list well under
# SQLite's bound-parameter limit and the statement small on every backend.
UPDATE_CHUNK_SIZE = 1000
# Futures allowed to wait per worker thread, so a 100,000-session send holds a few
# hundred pending calls in memory rather than all of them.
QUEUE_FACTOR = 4
# Failure reasons are shown to operators and logged: one short line is enough.
MAX_REASON_LENGTH = 300

_DELIVERED = "delivered"
_GONE = "gone"
_FAILED = "failed"


class MessageTooLarge(ValueError):
    """The encoded message is over API Gateway's per-message limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"The message is {size:,} bytes once encoded; API Gateway accepts at most "
            f"{limit:,} bytes ({limit // 1024} KB) per message. Send less data, or split "
            "it into several messages."
        )


class ManagementApiError(Exception):
    """A management API call failed for a reason other than the connection being gone."""


def _failure_counts(failed: dict[str, str]) -> str:
    codes = Counter(reason.split(":", 1)[0] for reason in failed.values())
    return ", ".join(f"{code} ({count})" for code, count in codes.most_common())


@dataclass
class SendReport:
    """What happened to each connection a message was sent to.

    ``delivered`` and ``gone`` hold connection ids; ``failed`` maps a connection id
    to a short reason such as ``"LimitExceededException: Rate exceeded"``. A report
    is truthy when at least one message was delivered and none failed.
    """

    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def delivered_count(self) -> int:
        return len(self.delivered)

    @property
    def gone_count(self) -> int:
        return len(self.gone)

    @property
    def failed_count(self) -> int:
        return len(self.failed)

    @property
    def total(self) -> int:
        """Connections attempted."""
        return len(self.delivered) + len(self.gone) + len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no call failed (gone connections are not failures)."""
        return not self.failed

    def __bool__(self) -> bool:
        return bool(self.delivered) and not self.failed

    def summary(self) -> str:
        """One line for logs and operator messages."""
        if not self.total:
            return "no connected sessions to send to"
        text = f"{self.delivered_count} delivered, {self.gone_count} gone"
        if self.failed:
            text += f", {self.failed_count} failed: {_failure_counts(self.failed)}"
        else:
            text += ", 0 failed"
        return text

    def __str__(self) -> str:
        return self.summary()


@dataclass
class DisconnectReport:
    """What happened to each connection we asked API Gateway to close.

    ``closed``: closed by this call; ``gone``: already closed; ``failed``:
    connection id -> reason. Truthy when no call failed.
    """

    closed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Connections attempted."""
        return len(self.closed) + len(self.gone) + len(self.failed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def __bool__(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line for logs and operator messages."""
        if not self.total:
            return "no connected sessions to close"
        text = f"{len(self.closed)} closed, {len(self.gone)} already gone"
        if self.failed:
            text += f", {len(self.failed)} failed: {_failure_counts(self.failed)}"
        else:
            text += ", 0 failed"
        return text

    def __str__(self) -> str:
        return self.summary()


def encode_message(data: object) -> bytes:
    """Encode ``data`` for ``post_to_connection`` and check its size.

    ``bytes`` and ``str`` (as UTF-8) go out unchanged; anything else is compact
    JSON through ``DjangoJSONEncoder`` (dates, decimals, UUIDs). Raises
    ``MessageTooLarge`` over 128 KB: botocore does not check, and API Gateway would
    only refuse it after the call. Raises ``TypeError`` when the data cannot be
    JSON-encoded, including text that is not valid Unicode (a lone surrogate).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    elif isinstance(data, str):
        payload = _utf8(data)
    else:
        try:
            text = json.dumps(
                data, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
            )
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Cannot send a {type(data).__name__} as a WebSocket message: it is not "
                f"JSON-serialisable ({exc}). Send str, bytes, or JSON-compatible data."
            ) from exc
        payload = _utf8(text)
    limit = conf.MAX_MESSAGE_BYTES
    if len(payload) > limit:
        raise MessageTooLarge(len(payload), limit)
    return payload


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate ("\\ud800" in JSON) parses in Python but has no UTF-8 form.
        raise TypeError(
            "Cannot send this text as a WebSocket message: it is not valid Unicode "
            f"({exc.reason} at character {exc.start})."
        ) from exc


# --- Which connections, on which endpoint ------------------------------------------


class _Target(NamedTuple):
    pk: int | None
    connection_id: str
    endpoint: str
    region: str
    gateway_name: str
    instance: WebSocketSession | None = None


_VALUE_FIELDS = (
    "pk",
    "connection_id",
    "connected",
    "api_gateway__api_name",
    "api_gateway__api_endpoint",
    "api_gateway__stage_name",
    "api_gateway__region",
)


class _Endpoints:
    """Management endpoint per (api_endpoint, stage), computed once per send."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], str] = {}

    def get(self, api_endpoint: str, stage: str) -> str:
        key = (api_endpoint, stage)
        endpoint = self._cache.get(key)
        if endpoint is None:
            # The model owns the ws->http and stage rules: reuse them, unsaved.
            endpoint = ApiGateway(api_endpoint=api_endpoint, stage_name=stage).management_endpoint
            self._cache[key] = endpoint
        return endpoint


def _queryset_targets(queryset: models.QuerySet, *, only_connected: bool) -> Iterator[_Target]:
    if queryset.model is not WebSocketSession:
        raise TypeError(
            f"Expected a WebSocketSession queryset, got a {queryset.model.__name__} queryset."
        )
    endpoints = _Endpoints()
    if queryset.query.is_sliced:
        # A sliced queryset cannot be filtered further: filter the slice in Python.
        rows: Iterable[dict[str, Any]] = queryset.values(*_VALUE_FIELDS)
    else:
        if only_connected:
            queryset = queryset.filter(connected=True)
        # One query (a join to the gateway), streamed so large sends use bounded memory.
        rows = queryset.order_by().values(*_VALUE_FIELDS).iterator(chunk_size=FETCH_CHUNK_SIZE)
    seen: set[int] = set()
    for row in rows:
        if (only_connected and not row["connected"]) or row["pk"] in seen:
            continue
        seen.add(row["pk"])
        yield _Target(
            pk=row["pk"],
            connection_id=row["connection_id"],
            endpoint=endpoints.get(
                row["api_gateway__api_endpoint"], row["api_gateway__stage_name"]
            ),
            region=row["api_gateway__region"],
            gateway_name=row["api_gateway__api_name"],
        )


def _instance_targets(
    sessions: Iterable[WebSocketSession], *, only_connected: bool
) -> Iterator[_Target]:
    chosen: list[WebSocketSession] = []
    seen: set[int] = set()
    for session in sessions:
        if not isinstance(session, WebSocketSession):
            raise TypeError(f"Expected WebSocketSession objects, got a {type(session).__name__}.")
        if only_connected and not session.connected:
            continue
        key = session.pk if session.pk is not None else id(session)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(session)
    # Sessions loaded without select_related: fetch all their gateways in one query.
    missing = {s.api_gateway_id for s in chosen if not WebSocketSession.api_gateway.is_cached(s)}
    gateways = (
        ApiGateway.objects.only("api_name", "api_endpoint", "stage_name", "region").in_bulk(
            missing
        )
        if missing
        else {}
    )
    for session in chosen:
        if WebSocketSession.api_gateway.is_cached(session):
            gateway = session.api_gateway
        else:
            gateway = gateways.get(session.api_gateway_id)
        yield _Target(
            pk=session.pk,
            connection_id=session.connection_id,
            endpoint=gateway.management_endpoint if gateway else "",
            region=gateway.region if gateway else "",
            gateway_name=gateway.api_name if gateway else f"#{session.api_gateway_id}",
            instance=session,
        )


def _targets(sessions: object, *, only_connected: bool) -> Iterator[_Target]:
    if isinstance(sessions, models.Manager):
        sessions = sessions.all()
    if isinstance(sessions, models.QuerySet):
        return _queryset_targets(sessions, only_connected=only_connected)
    if isinstance(sessions, WebSocketSession):
        sessions = [sessions]
    if not isinstance(sessions, Iterable):
        raise TypeError(
            "Expected a WebSocketSession queryset or an iterable of WebSocketSession "
            f"objects, got a {type(sessions).__name__}."
        )
    return _instance_targets(sessions, only_connected=only_connected)


# --- Making the calls ---------------------------------------------------------------


class _Clients:
    """One management client per (endpoint, region); built on the calling thread,
    because building boto3 clients concurrently is not thread-safe."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[Any, str]] = {}

    def get(self, target: _Target) -> tuple[Any, str]:
        """Return ``(client, "")``, or ``(None, reason)`` when no call can be made."""
        if not target.endpoint:
            return None, (
                f"NoEndpoint: API gateway {target.gateway_name!r} has no API endpoint yet; "
                "deploy it before sending."
            )
        key = (target.endpoint, target.region)
        entry = self._cache.get(key)
        if entry is None:
            try:
                entry = (aws.management_client(target.endpoint, region=target.region or None), "")
            except Exception as exc:  # no region, bad endpoint URL: fail these sessions only
                entry = (None, _reason(exc))
            self._cache[key] = entry
        return entry


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        text = aws.error_message(exc)
    else:
        name = type(exc).__name__
        message = aws.error_message(exc)
        text = message if message == name else f"{name}: {message}"
    return text[:MAX_REASON_LENGTH]


_Call = Callable[[Any, str], object]


def _attempt(call: _Call, client: Any, connection_id: str) -> tuple[str, str]:
    try:
        call(client, connection_id)
    except ClientError as exc:
        if aws.error_code(exc) == GONE_CODE:
            return _GONE, ""
        return _FAILED, _reason(exc)
    except Exception as exc:  # timeouts, refused connections: this connection fails, not the send
        logger.debug("Management API call for %s failed", connection_id, exc_info=True)
        return _FAILED, _reason(exc)
    return _DELIVERED, ""


def _execute(targets: Iterator[_Target], call: _Call) -> Iterator[tuple[_Target, str, str]]:
    """Run ``call`` for every target; yield ``(target, outcome, reason)``.

    A lone target is called on this thread. Otherwise one bounded pool serves every
    gateway at once, and submission pauses while ``QUEUE_FACTOR`` calls per worker
    are waiting, so memory stays flat however many sessions are streamed in.
    """
    clients = _Clients()
    first = next(targets, None)
    if first is None:
        return
    second = next(targets, None)
    if second is None:
        client, problem = clients.get(first)
        if problem:
            yield first, _FAILED, problem
        else:
            yield first, *_attempt(call, client, first.connection_id)
        return

    pool_size = conf.get("send_pool_size")
    pending: dict[Any, _Target] = {}
    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="wsapp-send") as pool:
        for target in itertools.chain((first, second), targets):
            client, problem = clients.get(target)
            if problem:
                yield target, _FAILED, problem
                continue
            pending[pool.submit(_attempt, call, client, target.connection_id)] = target
            if len(pending) >= pool_size * QUEUE_FACTOR:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), *future.result()
        for future in as_completed(list(pending)):
            yield pending.pop(future), *future.result()


def _mark_disconnected(targets: list[_Target], now: datetime) -> int:
    """Mark sessions closed: one UPDATE per ``UPDATE_CHUNK_SIZE`` ids."""
    pks = [t.pk for t in targets if t.pk is not None]
    updated = 0
    for chunk in itertools.batched(pks, UPDATE_CHUNK_SIZE):
        # connected=True keeps the time a $disconnect event already recorded.
        updated += WebSocketSession.objects.filter(pk__in=chunk, connected=True).update(
            connected=False, disconnected_on=now
        )
    for target in targets:
        if target.instance is not None and target.instance.connected:
            target.instance.connected = False
            target.instance.disconnected_on = now
    return updated


def _log(action: str, report: SendReport | DisconnectReport, started: float) -> None:
    elapsed = time.monotonic() - started
    if report.failed:
        examples = "; ".join(
            f"{cid}: {reason}" for cid, reason in itertools.islice(report.failed.items(), 3)
        )
        logger.warning("%s: %s in %.2fs (e.g. %s)", action, report.summary(), elapsed, examples)
    elif report.total > 1:
        logger.info("%s: %s in %.2fs", action, report.summary(), elapsed)
    else:
        logger.debug("%s: %s in %.2fs", action, report.summary(), elapsed)


# --- Public API ---------------------------------------------------------------------


def send_to_sessions(
    sessions: models.QuerySet[WebSocketSession] | Iterable[WebSocketSession], data: object
) -> SendReport:
    """Send ``data`` to every connected session in ``sessions``.

    ``sessions`` is a ``WebSocketSession`` queryset (read in one query, streamed) or
    an iterable of sessions; sessions not marked connected are skipped. The message
    is encoded and size-checked before anything else (``MessageTooLarge``,
    ``TypeError``). Calls run concurrently on one pool of
    ``WEBSOCKETS["send_pool_size"]`` threads across all gateways involved. Gone
    connections are marked disconnected with one UPDATE at the end. AWS failures
    never raise: they are in ``report.failed``.
    """
    payload = encode_message(data)
    started = time.monotonic()
    targets = _targets(sessions, only_connected=True)

    def post(client: Any, connection_id: str) -> object:
        return client.post_to_connection(ConnectionId=connection_id, Data=payload)

    report = SendReport()
    gone: list[_Target] = []
    for target, outcome, reason in _execute(targets, post):
        if outcome == _DELIVERED:
            report.delivered.append(target.connection_id)
        elif outcome == _GONE:
            report.gone.append(target.connection_id)
            gone.append(target)
        else:
            report.failed[target.connection_id] = reason
    if gone:
        _mark_disconnected(gone, timezone.now())
    _log(f"Sent {len(payload)} bytes", report, started)
    return report


def _disconnect(sessions: object, *, only_connected: bool) -> DisconnectReport:
    started = time.monotonic()
    targets = _targets(sessions, only_connected=only_connected)

    def delete(client: Any, connection_id: str) -> object:
        return client.delete_connection(ConnectionId=connection_id)

    report = DisconnectReport()
    attempted: list[_Target] = []
    for target, outcome, reason in _execute(targets, delete):
        attempted.append(target)
        if outcome == _DELIVERED:
            report.closed.append(target.connection_id)
        elif outcome == _GONE:
            report.gone.append(target.connection_id)
        else:
            report.failed[target.connection_id] = reason
    if attempted:
        # Failed ones too: the caller is ending this login (logout, a revoked
        # session), so Django must stop treating the socket as live even if AWS
        # could not close it; API Gateway ends it at the idle or 2-hour limit.
        _mark_disconnected(attempted, timezone.now())
    _log("Disconnect", report, started)
    return report


def disconnect_sessions(
    sessions: models.QuerySet[WebSocketSession] | Iterable[WebSocketSession],
) -> DisconnectReport:
    """Close the sockets of every connected session in ``sessions`` and mark them closed.

    Calls ``delete_connection`` for each (concurrently, like sends); a connection
    that is already gone counts as closed. Every session attempted is marked
    disconnected in one UPDATE. AWS failures are logged and reported, never raised,
    because this runs from the logout signal and from request handling.
    """
    return _disconnect(sessions, only_connected=True)


def close_connection(session: WebSocketSession) -> DisconnectReport:
    """Close one session's socket and mark the session closed; the report says how.

    The management API is asked even when the row already says disconnected, in
    case the row is wrong (a row already closed keeps the time it was closed). AWS
    failures are in ``report.failed``, never raised.
    """
    return _disconnect([session], only_connected=False)


def disconnect_session(session: WebSocketSession) -> bool:
    """``close_connection``, as True when the socket is closed (now or already)."""
    return close_connection(session).ok


def get_connection_info(session: WebSocketSession) -> dict[str, Any] | None:
    """What API Gateway knows about a session's connection, or None when it is gone.

    Returns ``connection_id``, ``connected_at``, ``last_active_at`` (aware
    datetimes), ``source_ip`` and ``user_agent``. Read-only: a gone connection is
    not marked disconnected here, so pages that show this stay side-effect free.
    Raises ``ManagementApiError`` with a one-line reason for any other failure.
    """
    target = next(_targets([session], only_connected=False))
    client, problem = _Clients().get(target)
    if problem:
        raise ManagementApiError(problem)
    try:
        response = client.get_connection(ConnectionId=target.connection_id)
    except ClientError as exc:
        if aws.error_code(exc) == GONE_CODE:
            return None
        raise ManagementApiError(_reason(exc)) from exc
    except Exception as exc:  # timeouts, refused connections
        raise ManagementApiError(_reason(exc)) from exc
    identity = response.get("Identity") or {}
    return {
        "connection_id": target.connection_id,
        "connected_at": response.get("ConnectedAt"),
        "last_active_at": response.get("LastActiveAt"),
        "source_ip": identity.get("SourceIp", ""),
        "user_agent": identity.get("UserAgent", ""),
    }
