"""Fan-out: messages/s of WebSocketSession.objects.filter(...).send_message() per send pool size.

    .venv/bin/python -m benchmarks.sending_fanout [--connections 300] [--latency-ms 30]
        [--pools 1,8,32] [--rounds 3] [--payload-bytes 256] [--min-speedup 5]

Everything runs in this process, on 127.0.0.1 only: a throwaway database (a SQLite
file in a temporary folder, or a database of its own on the DATABASE_URL server),
the local API Gateway (``wsapp.localgateway.run_in_thread``, a free port), and N
real WebSocket clients (the ``websockets`` library, one event loop in a background
thread) that count every frame they receive. The @connections API is made slow on
purpose (``POST /_local/faults {"management_latency_ms": ...}``) because on AWS
every call is a network round trip; that wait is what the send pool overlaps.

For each pool size the benchmark sends one untimed warm-up message (it builds the
boto3 client for that pool size and opens its HTTP connections), then ``--rounds``
timed sends to every session, and reports messages/s (the median round), the
ratio to the smallest pool, and the SQL queries per send, which must not grow with
the number of sessions. A last send goes to every session after half the clients
have closed: the closed ones must come back Gone and be marked disconnected with
one UPDATE (one per ``wsapp.sending.UPDATE_CHUNK_SIZE`` sessions).

Exit status 0 when every message reached every open client exactly once, no call
failed, the query count held, and the largest pool beat the smallest by at least
``--min-speedup`` (default 5x when ``--latency-ms`` is 20 or more, else not
checked: with little latency a send is CPU-bound and threads gain little).
Exit status 1 otherwise, 2 for bad arguments. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: Pool 32 must be at least this many times faster than pool 1 at 30 ms latency.
#: The ideal is 32x (pure waiting); on 2 cores, with the gateway and the clients
#: in this same process, signing and parsing every call caps it far lower (about
#: 12-20x measured). 5x still fails loudly if the pool stops overlapping calls.
DEFAULT_MIN_SPEEDUP = 5.0
#: Below this injected latency the default speedup check is skipped.
SPEEDUP_CHECK_MIN_LATENCY_MS = 20
#: Sessions in one send cost this many queries at most, whatever their number:
#: one SELECT (streamed), plus the UPDATE for Gone ones.
MAX_QUERIES_PER_SEND = 2

STAGE = "bench"
CHANNEL = "fanout"
#: Each client sends "<prefix><index>" as its User-Agent; GET /_local/connections
#: echoes it, which is how a connection id is matched to its client.
AGENT_PREFIX = "fanout-bench/"
#: Never called: the clients send nothing, so the $default route never forwards.
#: (A deployment needs one route; without $connect the gateway accepts every socket.)
UNUSED_BACKEND = "http://127.0.0.1:9/unused"

#: Handshakes in flight at once while opening the clients.
OPEN_CONCURRENCY = 50
#: Bound on opening all clients, on each wait for frames, on each gateway helper call.
OPEN_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 20.0
HTTP_TIMEOUT = 5.0
#: Bound on waiting for the gateway to forget the sockets closed for the Gone scenario.
CLOSE_SETTLE_TIMEOUT = 10.0
CLOSE_POLL_INTERVAL = 0.02
#: botocore read timeout during the benchmark: a stuck call fails in seconds, not 15 s.
READ_TIMEOUT = 5


# --- Arguments -------------------------------------------------------------------------


def _pool_list(text: str) -> list[int]:
    try:
        pools = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--pools must be comma-separated whole numbers such as 1,8,32, not {text!r}."
        ) from None
    if len(pools) < 2 or pools[0] < 1 or pools[-1] > 256:
        raise argparse.ArgumentTypeError(
            f"--pools needs at least two different sizes from 1 to 256, got {text!r}."
        )
    return pools


def _bounded_int(name: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, not {text!r}."
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be from {low} to {high}, not {value}.")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; bad values exit with status 2 and a message naming them."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sending_fanout",
        description="Messages/s of a queryset send per WEBSOCKETS['send_pool_size'], "
        "against the local API Gateway with N real WebSocket clients.",
    )
    parser.add_argument(
        "--connections",
        type=_bounded_int("--connections", 2, 5000),
        default=300,
        help="WebSocket clients (and sessions) to send to (default 300).",
    )
    parser.add_argument(
        "--latency-ms",
        type=_bounded_int("--latency-ms", 0, 1000),
        default=30,
        help="Latency added to every @connections call (default 30).",
    )
    parser.add_argument(
        "--pools",
        type=_pool_list,
        default=[1, 8, 32],
        help="Send pool sizes to compare, comma-separated (default 1,8,32).",
    )
    parser.add_argument(
        "--rounds",
        type=_bounded_int("--rounds", 1, 20),
        default=3,
        help="Timed sends per pool size; the median is reported (default 3).",
    )
    parser.add_argument(
        "--payload-bytes",
        type=_bounded_int("--payload-bytes", 64, 128 * 1024),
        default=256,
        help="Size of each message (default 256).",
    )
    parser.add_argument(
        "--min-speedup",
        type=float,
        default=None,
        help=f"Fail unless the largest pool is this many times faster than the smallest "
        f"(default {DEFAULT_MIN_SPEEDUP:g} when --latency-ms >= {SPEEDUP_CHECK_MIN_LATENCY_MS}, "
        "else not checked; 0 disables).",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="Log the app and the gateway at INFO."
    )
    args = parser.parse_args(argv)
    if args.min_speedup is None:
        args.min_speedup = (
            DEFAULT_MIN_SPEEDUP if args.latency_ms >= SPEEDUP_CHECK_MIN_LATENCY_MS else 0.0
        )
    elif args.min_speedup < 0:
        parser.error("--min-speedup must be 0 (no check) or more.")
    return args


# --- Environment and database ------------------------------------------------------------


def configure_environment(*, verbose: bool) -> None:
    """Settings module, local-only AWS credentials and quiet logs, before Django loads."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    # The local gateway checks that calls are signed, not by whom: dummy keys, so a
    # developer's real profile or SSO session is never read or sent anywhere.
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_IAM_PROFILE"):
        os.environ.pop(name, None)
    os.environ["AWS_GATEWAY_REGION_NAME"] = "us-east-1"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    # A proxy from the environment must not see calls meant for 127.0.0.1.
    no_proxy = os.environ.get("NO_PROXY", "")
    os.environ["NO_PROXY"] = ",".join(filter(None, [no_proxy, "127.0.0.1", "localhost"]))
    if not verbose:
        # One INFO line per send and per socket would bury the table.
        os.environ["WSAPP_LOG_LEVEL"] = "WARNING"


def raise_file_limit(connections: int) -> None:
    """Each client costs two sockets in this process (its own and the gateway's)."""
    needed = connections * 2 + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def prepare_database(tmp: str) -> tuple[str, Callable[[], None]]:
    """Set up Django on a migrated throwaway database; returns (description, teardown).

    Without DATABASE_URL: a SQLite file in ``tmp``. With it: a database of its own on
    that server (as the test runner makes ``test_...`` ones), dropped at the end, so
    the benchmark never writes rows into a development database.
    """
    given = bool(os.environ.get("DATABASE_URL"))
    if not given:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/fanout.sqlite3"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if not given:
        call_command("migrate", verbosity=0, interactive=False)
        return f"SQLite file in {tmp}", connection.close

    test_settings = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test_settings["NAME"] = os.path.join(tmp, "fanout.sqlite3")
    else:
        # The pid keeps two runs (or a test run's test_ database) from colliding.
        test_settings["NAME"] = f"benchmark_fanout_{os.getpid()}"
    old_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=False
    )
    name = connection.settings_dict["NAME"]

    def teardown() -> None:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    return f"{connection.vendor} database {name} (dropped at the end)", teardown


# --- The clients ----------------------------------------------------------------------------


def _tag_of(message: str | bytes) -> str:
    try:
        document = json.loads(message)
    except ValueError:
        return "<not JSON>"
    if isinstance(document, dict) and isinstance(document.get("tag"), str):
        return document["tag"]
    return "<no tag>"


class ClientFleet:
    """N WebSocket clients on one event loop in a background thread, counting frames.

    Every frame is expected to be a benchmark message ``{"tag": ...}``; frames are
    counted per (client, tag). ``expect(tag, n)`` before a send and ``wait(tag)``
    after it tell when ``n`` frames of that tag have arrived in all.
    """

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fanout-clients", daemon=True)
        self._sockets: dict[int, Any] = {}
        self._readers: dict[int, asyncio.Task[None]] = {}
        self._frames: Counter[tuple[int, str]] = Counter()
        self._totals: Counter[str] = Counter()
        self._waiting: dict[str, tuple[int, asyncio.Event]] = {}
        self._completed_at: dict[str, float] = {}

    # Runs on the fleet's thread.

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _open_all(self) -> None:
        from websockets.asyncio.client import connect

        limit = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def open_one(index: int) -> None:
            async with limit:
                ws = await connect(
                    self.url,
                    user_agent_header=f"{AGENT_PREFIX}{index}",
                    open_timeout=10,
                    close_timeout=2,
                    proxy=None,
                    compression=None,
                    # The run is far shorter than the gateway's idle timeout.
                    ping_interval=None,
                )
            self._sockets[index] = ws
            self._readers[index] = asyncio.create_task(self._read(index, ws))

        await asyncio.gather(*(open_one(index) for index in range(self.count)))

    async def _read(self, index: int, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in ws:
                tag = _tag_of(message)
                self._frames[index, tag] += 1
                self._totals[tag] += 1
                waiting = self._waiting.get(tag)
                if waiting is not None and self._totals[tag] >= waiting[0]:
                    self._completed_at.setdefault(tag, time.perf_counter())
                    waiting[1].set()
        except ConnectionClosed:
            pass

    async def _expect(self, tag: str, frames: int) -> None:
        self._waiting[tag] = (frames, asyncio.Event())

    async def _wait(self, tag: str, timeout: float) -> float | None:
        _, event = self._waiting[tag]
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return None
        return self._completed_at[tag]

    async def _close(self, indices: Iterable[int]) -> None:
        chosen = [index for index in indices if index in self._sockets]
        await asyncio.gather(*(self._sockets.pop(index).close() for index in chosen))
        await asyncio.gather(*(self._readers.pop(index) for index in chosen))

    async def _snapshot(self) -> Counter[tuple[int, str]]:
        return Counter(self._frames)

    # Called from the main thread.

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def start(self) -> None:
        """Start the loop and open every client (raises if any handshake fails)."""
        self._thread.start()
        self._call(self._open_all(), OPEN_TIMEOUT)

    def expect(self, tag: str, frames: int) -> None:
        """Announce that ``frames`` frames tagged ``tag`` are about to be sent."""
        self._call(self._expect(tag, frames), HTTP_TIMEOUT)

    def wait(self, tag: str, timeout: float = DELIVERY_TIMEOUT) -> float | None:
        """``time.perf_counter()`` when the expected frames had all arrived, or None."""
        return self._call(self._wait(tag, timeout), timeout + HTTP_TIMEOUT)

    def close(self, indices: Iterable[int]) -> None:
        """Close these clients (a clean close handshake) and wait for their readers."""
        self._call(self._close(list(indices)), OPEN_TIMEOUT)

    def frames(self) -> Counter[tuple[int, str]]:
        """Frames received so far, per (client index, tag)."""
        return self._call(self._snapshot(), HTTP_TIMEOUT)

    def stop(self) -> None:
        """Close every client still open, then end the loop and its thread."""
        if self._thread.is_alive():
            try:
                self.close(list(self._sockets))
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(OPEN_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


# --- Gateway helpers ------------------------------------------------------------------------

# No proxy handler: private endpoints on 127.0.0.1 are never sent through a proxy.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def local_endpoint(base_url: str, method: str, name: str, body: object = None) -> Any:
    """Call the gateway's private ``/_local/<name>`` endpoint; returns its JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base_url}/_local/{name}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with _opener.open(request, timeout=HTTP_TIMEOUT) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def create_api(gateway: Any) -> Any:
    """Create and deploy an API on the local gateway with boto3; record it in Django."""
    from wsapp import aws
    from wsapp.models import ApiGateway

    client = aws.client("apigatewayv2", endpoint_url=gateway.url, cached=False)
    api = client.create_api(
        Name="fanout-benchmark",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression="$request.body.action",
    )
    api_id = api["ApiId"]
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=UNUSED_BACKEND,
    )
    client.create_route(
        ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration['IntegrationId']}"
    )
    client.create_stage(ApiId=api_id, StageName=STAGE)
    client.create_deployment(ApiId=api_id, StageName=STAGE)
    return ApiGateway.objects.create(
        api_name=f"fanout-benchmark-{api_id}",
        target_base_endpoint=UNUSED_BACKEND,
        stage_name=STAGE,
        region=gateway.region,
        api_id=api_id,
        api_endpoint=api["ApiEndpoint"],
        state=ApiGateway.State.DEPLOYED,
    )


def connection_ids(base_url: str, api_id: str, count: int) -> list[str]:
    """Connection id of each client, by index, from GET /_local/connections."""
    listed = local_endpoint(base_url, "GET", "connections")["connections"]
    by_agent = {
        item["user_agent"]: item["connection_id"]
        for item in listed
        if item["api_id"] == api_id and item["state"] == "open"
    }
    missing = [i for i in range(count) if f"{AGENT_PREFIX}{i}" not in by_agent]
    if missing:
        raise RuntimeError(
            f"{len(missing)} of {count} clients are not listed as open by the gateway "
            f"(e.g. client {missing[0]})."
        )
    return [by_agent[f"{AGENT_PREFIX}{i}"] for i in range(count)]


# --- Measuring ------------------------------------------------------------------------------


@dataclass
class Round:
    """One timed send to every session."""

    seconds: float
    delivered: int
    queries: int
    #: Seconds from the start of the send until the last client had its frame.
    received_after: float | None

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


@dataclass
class PoolResult:
    """The timed rounds of one pool size."""

    pool: int
    rounds: list[Round] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Messages/s of the median round."""
        return statistics.median(r.rate for r in self.rounds)


@dataclass
class GoneResult:
    """The send after half the clients closed."""

    pool: int
    sessions: int
    delivered: int
    gone: int
    failed: int
    marked_disconnected: int
    updates: int
    expected_updates: int
    queries: int
    seconds: float


def websockets_settings(pool: int) -> dict[str, Any]:
    """``WEBSOCKETS`` for one pool size: the site's own values plus the pool size."""
    from django.conf import settings

    return {
        **(getattr(settings, "WEBSOCKETS", None) or {}),
        "send_pool_size": pool,
        "aws_read_timeout": READ_TIMEOUT,
    }


@dataclass
class Sent:
    """One send as the benchmark saw it."""

    #: The ``wsapp.sending.SendReport``.
    report: Any
    seconds: float
    #: SQL statements run during the send (``CaptureQueriesContext.captured_queries``).
    queries: list[dict[str, Any]]
    #: Seconds from the start of the send until every recipient had its frame, or None.
    received_after: float | None


class Benchmark:
    """Holds the running pieces and the expectations, and does the sends."""

    def __init__(
        self, args: argparse.Namespace, gateway: Any, record: Any, fleet: ClientFleet
    ) -> None:
        self.args = args
        self.gateway = gateway
        #: The ApiGateway row the sessions belong to.
        self.record = record
        self.fleet = fleet
        self.problems: list[str] = []
        #: tag -> client indices that must receive it exactly once.
        self.recipients: dict[str, set[int]] = {}
        #: Connection id of each client, by index.
        self.ids: list[str] = []
        #: (sessions sent to, SQL queries) of every send before the Gone scenario.
        self.send_queries: list[tuple[int, int]] = []

    def message(self, tag: str) -> dict[str, str]:
        """The message for one send: its tag, padded to ``--payload-bytes``."""
        body = {"tag": tag, "pad": ""}
        size = len(json.dumps(body, separators=(",", ":")))
        body["pad"] = "x" * max(0, self.args.payload_bytes - size)
        return body

    def setup_sessions(self, api_id: str) -> None:
        from wsapp.models import WebSocketSession

        self.ids = connection_ids(self.gateway.url, api_id, self.args.connections)
        WebSocketSession.objects.bulk_create(
            [
                WebSocketSession(connection_id=cid, channel_name=CHANNEL, api_gateway=self.record)
                for cid in self.ids
            ],
            batch_size=500,
        )

    def queryset(self) -> Any:
        from wsapp.models import WebSocketSession

        return WebSocketSession.objects.filter(api_gateway=self.record, channel_name=CHANNEL)

    def send(self, tag: str, queryset: Any, recipients: set[int]) -> Sent:
        """Send one tagged message to ``queryset``; ``recipients`` are the client indices."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.recipients[tag] = recipients
        self.fleet.expect(tag, len(recipients))
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            report = queryset.send_message(self.message(tag))
            seconds = time.perf_counter() - started
        arrived = self.fleet.wait(tag)
        if arrived is None:
            self.problems.append(
                f"{tag}: not every client received its frame within {DELIVERY_TIMEOUT:g} s."
            )
        if report.failed:
            self.problems.append(f"{tag}: {report.summary()}")
        return Sent(
            report,
            seconds,
            list(queries.captured_queries),
            arrived - started if arrived is not None else None,
        )

    def measure(self, pool: int) -> PoolResult:
        """A warm-up send, then the timed rounds, with ``send_pool_size`` = ``pool``."""
        from django.test import override_settings

        everyone = set(range(self.args.connections))
        result = PoolResult(pool)
        with override_settings(WEBSOCKETS=websockets_settings(pool)):
            # Untimed: builds this pool size's boto3 client and opens its connections.
            warm = min(self.args.connections, pool * 2)
            warm_ids = {self.ids[i] for i in range(warm)}
            sent = self.send(
                f"pool{pool}-warm-up",
                self.queryset().filter(connection_id__in=warm_ids),
                set(range(warm)),
            )
            self.send_queries.append((warm, len(sent.queries)))
            for number in range(1, self.args.rounds + 1):
                tag = f"pool{pool}-round{number}"
                sent = self.send(tag, self.queryset(), everyone)
                report = sent.report
                if report.delivered_count != self.args.connections or report.gone:
                    self.problems.append(f"{tag}: expected all delivered, got {report.summary()}")
                result.rounds.append(
                    Round(
                        sent.seconds,
                        report.delivered_count,
                        len(sent.queries),
                        sent.received_after,
                    )
                )
                self.send_queries.append((self.args.connections, len(sent.queries)))
            print(
                f"  pool {pool:>3}: {result.rate:8.1f} messages/s "
                f"(rounds: {', '.join(f'{r.rate:.1f}' for r in result.rounds)})",
                flush=True,
            )
        return result

    def gone_scenario(self, pool: int) -> GoneResult:
        """Close every other client, send to all, check the Gone ones and their UPDATE."""
        from django.test import override_settings

        from wsapp.sending import UPDATE_CHUNK_SIZE

        count = self.args.connections
        closing = set(range(0, count, 2))
        staying = set(range(count)) - closing
        self.fleet.close(closing)
        closed_ids = {self.ids[i] for i in closing}
        # The gateway drops a socket just after the close handshake; wait for that
        # (bounded) so each closed one is Gone rather than racing the send.
        deadline = time.monotonic() + CLOSE_SETTLE_TIMEOUT
        while True:
            listed = {c["connection_id"] for c in self.gateway.connections()}
            if not listed & closed_ids:
                break
            if time.monotonic() > deadline:
                self.problems.append("gone: the gateway still lists closed clients.")
                break
            time.sleep(CLOSE_POLL_INTERVAL)

        with override_settings(WEBSOCKETS=websockets_settings(pool)):
            sent = self.send("gone", self.queryset(), staying)
        report = sent.report
        updates = [q for q in sent.queries if q["sql"].lstrip().upper().startswith("UPDATE")]
        marked = set(
            self.queryset().filter(connected=False).values_list("connection_id", flat=True)
        )
        result = GoneResult(
            pool=pool,
            sessions=count,
            delivered=report.delivered_count,
            gone=report.gone_count,
            failed=report.failed_count,
            marked_disconnected=len(marked),
            updates=len(updates),
            expected_updates=math.ceil(len(closing) / UPDATE_CHUNK_SIZE),
            queries=len(sent.queries),
            seconds=sent.seconds,
        )
        if set(report.gone) != closed_ids:
            self.problems.append(
                f"gone: {report.gone_count} Gone, expected the {len(closing)} closed clients."
            )
        if marked != closed_ids:
            self.problems.append(
                f"gone: {len(marked)} sessions marked disconnected, "
                f"expected the {len(closing)} closed ones."
            )
        if result.updates != result.expected_updates:
            self.problems.append(
                f"gone: {result.updates} UPDATE statements, expected {result.expected_updates}."
            )
        return result

    def audit(self) -> tuple[int, int, int]:
        """(frames lost, duplicated, unexpected) over every send, checked per client."""
        frames = self.fleet.frames()
        lost = duplicated = 0
        for tag, recipients in self.recipients.items():
            for index in recipients:
                got = frames[index, tag]
                lost += got == 0
                duplicated += max(0, got - 1)
        unexpected = sum(
            n for (index, tag), n in frames.items() if index not in self.recipients.get(tag, set())
        )
        return lost, duplicated, unexpected


# --- Reporting --------------------------------------------------------------------------


def print_table(results: list[PoolResult], connections: int) -> None:
    base = results[0]
    header = (
        f"{'pool':>5} {'messages/s':>11} {'min-max':>15} {'vs pool ' + str(base.pool):>10} "
        f"{'send ms':>8} {'all recv ms':>11} {'SQL/send':>9} {'delivered':>11}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        rates = [r.rate for r in result.rounds]
        median_round = sorted(result.rounds, key=lambda r: r.rate)[len(result.rounds) // 2]
        received = median_round.received_after
        queries = sorted({r.queries for r in result.rounds})
        delivered = sum(r.delivered for r in result.rounds)
        print(
            f"{result.pool:>5} {result.rate:>11.1f} "
            f"{f'{min(rates):.0f}-{max(rates):.0f}':>15} "
            f"{result.rate / base.rate:>9.1f}x "
            f"{median_round.seconds * 1000:>8.0f} "
            f"{(f'{received * 1000:.0f}' if received is not None else 'n/a'):>11} "
            f"{'/'.join(map(str, queries)):>9} "
            f"{f'{delivered}/{connections * len(result.rounds)}':>11}"
        )


def run(args: argparse.Namespace, database: str) -> int:
    """The benchmark proper, once Django is set up."""
    from django.db import connection

    from wsapp.localgateway import Limits, run_in_thread

    limits = Limits(close_timeout=2.0, max_connections=max(10_000, args.connections + 100))
    print(
        f"sending_fanout: {args.connections} connections, {args.latency_ms} ms management-API "
        f"latency, pools {','.join(map(str, args.pools))}, {args.rounds} timed round(s) each, "
        f"{args.payload_bytes}-byte messages"
    )
    print(
        f"machine: {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; database: {database}"
    )
    started = time.perf_counter()
    with run_in_thread(limits=limits) as gateway:
        record = create_api(gateway)
        url = gateway.websocket_url(record.api_id, STAGE)
        fleet = ClientFleet(url, args.connections)
        bench = Benchmark(args, gateway, record, fleet)
        opening = time.perf_counter()
        try:
            fleet.start()
            print(
                f"opened {args.connections} WebSocket clients on {url} in "
                f"{time.perf_counter() - opening:.1f} s",
                flush=True,
            )
            bench.setup_sessions(record.api_id)
            local_endpoint(
                gateway.url, "POST", "faults", {"management_latency_ms": args.latency_ms}
            )
            results = [bench.measure(pool) for pool in args.pools]
            gone = bench.gone_scenario(args.pools[-1])
            lost, duplicated, unexpected = bench.audit()
        finally:
            fleet.stop()
    elapsed = time.perf_counter() - started

    print()
    print_table(results, args.connections)
    print()
    print(
        f"Gone: {gone.sessions} sessions, half the clients closed, pool {gone.pool}: "
        f"{gone.delivered} delivered, {gone.gone} Gone, {gone.failed} failed in "
        f"{gone.seconds * 1000:.0f} ms; {gone.marked_disconnected} marked disconnected by "
        f"{gone.updates} UPDATE statement(s) (expected {gone.expected_updates}); "
        f"{gone.queries} SQL queries in all."
    )
    print(
        f"Frames: {lost} lost, {duplicated} duplicated, {unexpected} unexpected "
        f"(every send checked per client). Took {elapsed:.1f} s."
    )

    problems = list(bench.problems)
    if lost or duplicated or unexpected:
        problems.append(
            f"{lost} message(s) lost, {duplicated} duplicated, {unexpected} unexpected."
        )
    query_counts = {queries for _, queries in bench.send_queries}
    sizes = sorted({sessions for sessions, _ in bench.send_queries})
    print(
        f"SQL queries per send: {'/'.join(map(str, sorted(query_counts)))} for each of "
        f"{len(bench.send_queries)} sends to {sizes[0]} to {sizes[-1]} sessions."
    )
    if len(query_counts) != 1 or max(query_counts) > MAX_QUERIES_PER_SEND:
        problems.append(
            f"SQL queries per send were {sorted(query_counts)}: expected one constant count "
            f"of at most {MAX_QUERIES_PER_SEND}, whatever the number of sessions."
        )
    if gone.queries > MAX_QUERIES_PER_SEND + gone.expected_updates - 1:
        problems.append(f"gone: {gone.queries} SQL queries for one send.")
    smallest, largest = results[0], results[-1]
    speedup = largest.rate / smallest.rate if smallest.rate else 0.0
    if args.min_speedup:
        verdict = "ok" if speedup >= args.min_speedup else "TOO LOW"
        print(
            f"Speedup pool {largest.pool} over pool {smallest.pool}: {speedup:.1f}x "
            f"(threshold {args.min_speedup:g}x): {verdict}"
        )
        if speedup < args.min_speedup:
            problems.append(
                f"pool {largest.pool} is only {speedup:.1f}x faster than pool {smallest.pool}; "
                f"the threshold is {args.min_speedup:g}x (--min-speedup)."
            )
    else:
        print(
            f"Speedup pool {largest.pool} over pool {smallest.pool}: {speedup:.1f}x (not checked)"
        )
    connection.close()
    if problems:
        print("FAILED:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.sending_fanout``."""
    args = parse_args(argv)
    configure_environment(verbose=args.verbose)
    raise_file_limit(args.connections)
    try:
        with tempfile.TemporaryDirectory(prefix="wsapp-fanout-") as tmp:
            database, teardown = prepare_database(tmp)
            try:
                return run(args, database)
            finally:
                teardown()
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 1
    except Exception as exc:  # a database or port problem: one line, unless --verbose
        if args.verbose:
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(
            f"sending_fanout could not run: {type(exc).__name__}: {first_line} "
            "(run with --verbose for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
