"""Console at scale: time to serve the live sessions page and the Overview with 1,000,000 sessions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wsapp_dev \\
        .venv/bin/python -m benchmarks.console_scale [--sessions 1000000] [--connected 5000]
        [--days 30] [--repeat 5] [--max-ms 1000] [--keep NAME]

PostgreSQL only (the console's figures are about its query plans). The benchmark
makes a database of its own on the DATABASE_URL server (as the test runner makes
``test_...`` ones) and drops it at the end, unless ``--keep NAME`` names one to
create once and reuse (seeding takes a minute). It seeds, with ``generate_series``
in a few INSERT ... SELECT statements:

* ``--sessions`` sessions over ``--days`` days, 3 gateways, 200 channels and 5,000
  users; ``--connected`` of them connected now (opened in the last 2 hours, as API
  Gateway allows), the others closed after at most 2 hours;
* 50,000 tokens over the last day and 20,000 rate-limit windows (one in ten with
  rejections) over the last week;
* a traffic counter row for every gateway and every minute of ``--days`` (the
  Overview's connects and messages).

Then it requests each page ``--repeat`` times through Django's test client, signed
in as a superuser (the whole stack: middleware, queries, templates), and prints
the median and slowest time, the number of SQL queries and the slowest query.
Exit status 0 when every median is under ``--max-ms`` (or, without DATABASE_URL,
after saying it skipped), 1 otherwise, 2 for bad arguments or a DATABASE_URL that is
not PostgreSQL. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Channel names the seeded sessions spread over (a few busy ones, a long tail).
CHANNELS = 200
USERS = 5_000
GATEWAYS = 3
TOKENS = 50_000
RATE_LIMIT_WINDOWS = 20_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.console_scale",
        description=__doc__.strip().splitlines()[0],
    )
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--connected", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--max-ms", type=float, default=1000.0, help="fail when a median is slower"
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        default="",
        help="seed the database NAME once and keep it for the next runs",
    )
    args = parser.parse_args(argv)
    if not 1_000 <= args.sessions <= 50_000_000:
        parser.error("--sessions must be between 1,000 and 50,000,000.")
    if not 0 <= args.connected <= args.sessions:
        parser.error("--connected must be between 0 and --sessions.")
    if not 1 <= args.days <= 3650:
        parser.error("--days must be between 1 and 3650.")
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat must be between 1 and 100.")
    return args


# --- Database ---------------------------------------------------------------------------


def prepare_database(keep: str) -> tuple[str, Callable[[], None], bool]:
    """Set up Django on a database of its own; returns (name, teardown, needs seeding)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    os.environ.setdefault("WSAPP_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit(
            "console_scale measures PostgreSQL query plans: set DATABASE_URL to a "
            "PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/wsapp_dev."
        )
    if keep:
        # The server's maintenance database, as Django's test database creation uses.
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [keep])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{keep}"')
        connection.close()
        connection.settings_dict["NAME"] = keep
        call_command("migrate", verbosity=0, interactive=False)
        return keep, connection.close, not _seeded()
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"benchmark_console_{os.getpid()}"
    old_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=False
    )
    name = connection.settings_dict["NAME"]

    def teardown() -> None:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    return name, teardown, True


def _seeded() -> bool:
    from wsapp.models import WebSocketSession

    return WebSocketSession.objects.exists()


def seed(args: argparse.Namespace) -> float:
    """Fill the tables; returns the seconds it took."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from wsapp.models import ApiGateway

    started = time.monotonic()
    with transaction.atomic():
        users = get_user_model()
        users.objects.bulk_create(
            users(username=f"user{n:05d}", password="!") for n in range(USERS)
        )
        for n in range(GATEWAYS):
            ApiGateway.objects.create(
                api_name=f"gateway-{n}",
                target_base_endpoint="https://www.example.com/ws/",
                api_id=f"api{n:07d}",
                api_endpoint=f"wss://api{n:07d}.execute-api.us-east-1.amazonaws.com",
                state="deployed",
            )
    user_low = users.objects.order_by("pk").values_list("pk", flat=True).first()
    gateway_low = ApiGateway.objects.order_by("pk").values_list("pk", flat=True).first()
    with connection.cursor() as cursor:
        # Channel n is picked with weight ~ 1/n (a few busy channels, a long tail);
        # a third of the sessions are anonymous.
        columns = (
            "connection_id, channel_name, user_id, connected, api_gateway_id, request_count, "
            "created_on, last_seen, disconnected_on, source_ip, session_key_hash, auth_hash"
        )
        cursor.execute(
            f"""
            INSERT INTO wsapp_websocketsession ({columns})
            SELECT
                'c' || lpad(to_hex(g), 11, '0') || '=',
                'channel-' || floor(power({CHANNELS}, random()))::int,
                CASE WHEN mod(g, 3) = 0 THEN NULL ELSE %(user_low)s + (mod(g, {USERS})) END,
                true,
                %(gateway_low)s + (mod(g, {GATEWAYS})),
                floor(random() * 60)::int,
                opened,
                opened + (now() - opened) * random(),
                NULL,
                ('203.0.113.' || (mod(g, 250) + 1))::inet,
                '',
                ''
            FROM generate_series(1, %(connected)s) AS g,
                 LATERAL (SELECT now() - random() * interval '2 hours' AS opened) AS t
            """,
            {"user_low": user_low, "gateway_low": gateway_low, "connected": args.connected},
        )
        cursor.execute(
            f"""
            INSERT INTO wsapp_websocketsession ({columns})
            SELECT
                'c' || lpad(to_hex(g), 11, '0') || '=',
                'channel-' || floor(power({CHANNELS}, random()))::int,
                CASE WHEN mod(g, 3) = 0 THEN NULL ELSE %(user_low)s + (mod(g, {USERS})) END,
                false,
                %(gateway_low)s + (mod(g, {GATEWAYS})),
                floor(random() * 60)::int,
                opened,
                least(closed, now()),
                least(closed, now()),
                ('203.0.113.' || (mod(g, 250) + 1))::inet,
                '',
                ''
            FROM generate_series(%(first)s, %(last)s) AS g,
                 LATERAL (
                     SELECT now() - random() * %(days)s * interval '1 day' AS opened
                 ) AS t,
                 LATERAL (SELECT opened + random() * interval '2 hours' AS closed) AS c
            """,
            {
                "user_low": user_low,
                "gateway_low": gateway_low,
                "first": args.connected + 1,
                "last": args.sessions,
                "days": args.days,
            },
        )
        cursor.execute(
            f"""
            INSERT INTO wsapp_websockettoken
                (token_hash, user_id, session_key_hash, created_at, used, used_at)
            SELECT md5(g::text) || md5((g + 1)::text), %(user_low)s + (mod(g, {USERS})), '',
                   issued, mod(g, 5) <> 0, CASE WHEN mod(g, 5) <> 0 THEN issued END
            FROM generate_series(1, {TOKENS}) AS g,
                 LATERAL (SELECT now() - random() * interval '1 day' AS issued) AS t
            """,
            {"user_low": user_low},
        )
        cursor.execute(
            f"""
            INSERT INTO wsapp_connectionratelimit
                (scope, key, window_start, window_minutes, attempts, rejected, last_attempt)
            SELECT 'connect_ip', '198.51.100.' || g, start, 5,
                   CASE WHEN mod(g, 10) = 0 THEN 60 ELSE 3 END,
                   CASE WHEN mod(g, 10) = 0 THEN 20 ELSE 0 END,
                   start + interval '4 minutes'
            FROM generate_series(1, {RATE_LIMIT_WINDOWS}) AS g,
                 LATERAL (
                     SELECT date_trunc('minute', now() - random() * interval '7 days') AS start
                 ) AS t
            """
        )
        # A busy site: every gateway has a counter row for every minute of --days.
        cursor.execute(
            """
            INSERT INTO wsapp_trafficcounter (api_gateway_id, bucket, connects, messages)
            SELECT gateway, minute, floor(random() * 40)::int, floor(random() * 400)::int
            FROM generate_series(%(gateway_low)s, %(gateway_high)s) AS gateway,
                 generate_series(
                     date_trunc('minute', now()) - %(days)s * interval '1 day',
                     date_trunc('minute', now()),
                     interval '1 minute'
                 ) AS minute
            """,
            {
                "gateway_low": gateway_low,
                "gateway_high": gateway_low + GATEWAYS - 1,
                "days": args.days,
            },
        )
        cursor.execute("ANALYZE")
    return time.monotonic() - started


# --- Measuring --------------------------------------------------------------------------


@dataclass
class Timing:
    """One page, requested ``repeat`` times."""

    name: str
    path: str
    times_ms: list[float]
    queries: int
    slowest_query_ms: float
    status: int

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def worst(self) -> float:
        return max(self.times_ms)


def measure(client: Any, name: str, path: str, repeat: int, htmx: bool) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HX-Request": "true"} if htmx else {}
    client.get(path, headers=headers)  # warm: templates compiled, plans cached
    times: list[float] = []
    queries: list[dict[str, str]] = []
    status = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
        queries = captured.captured_queries
    slowest = max((float(q["time"]) * 1000 for q in queries), default=0.0)
    return Timing(name, path, times, len(queries), slowest, status)


def pages(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """(name, path, htmx) of each request measured."""
    from django.contrib.auth import get_user_model

    from wsapp.models import ApiGateway, WebSocketSession

    user = get_user_model().objects.filter(username="user00001").first()
    gateway = ApiGateway.objects.order_by("pk").first()
    connection_id = (
        WebSocketSession.objects.filter(connected=False)
        .values_list("connection_id", flat=True)
        .first()
    )
    sessions = "/admin/console/sessions/"
    return [
        ("Overview (admin index)", "/admin/", False),
        ("Sessions page, first load", sessions, False),
        ("Sessions table, htmx refresh", sessions, True),
        ("  sorted by last seen", f"{sessions}?sort=-last_seen", True),
        ("  page 40 (OFFSET 975)", f"{sessions}?page=40", True),
        ("  channel filter (busiest)", f"{sessions}?channel=channel-1", True),
        ("  user filter", f"{sessions}?user={user.username if user else 'x'}", True),
        ("  gateway filter", f"{sessions}?gateway={gateway.pk if gateway else 0}", True),
        ("  seen in the last minute", f"{sessions}?last_seen=1m", True),
        ("  disconnected (~1M rows)", f"{sessions}?connected=no", True),
        ("  any state, newest first", f"{sessions}?connected=any", True),
        ("  search: a connection id", f"{sessions}?connected=any&q={connection_id}", True),
        ("Tokens list", "/admin/wsapp/websockettoken/", False),
        ("Rate limits list", "/admin/wsapp/connectionratelimit/", False),
        ("Cleanup counts", "/admin/wsapp/cleanuprun/counts/", False),
    ]


def print_table(timings: list[Timing]) -> None:
    width = max(len(t.name) for t in timings)
    print(f"{'request'.ljust(width)}  median ms  worst ms  queries  slowest query ms  status")
    for t in timings:
        print(
            f"{t.name.ljust(width)}  {t.median:9.1f}  {t.worst:8.1f}  {t.queries:7d}"
            f"  {t.slowest_query_ms:16.1f}  {t.status}"
        )


def run(args: argparse.Namespace) -> int:
    name, teardown, needs_seeding = prepare_database(args.keep)
    try:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from wsapp.models import WebSocketSession

        if needs_seeding:
            print(f"Seeding {args.sessions:,} sessions into {name}…", flush=True)
            print(f"Seeded in {seed(args):.1f} s.", flush=True)
        else:
            print(f"Reusing the seeded database {name}.", flush=True)
        admin = get_user_model().objects.filter(username="benchmark-admin").first()
        if admin is None:
            admin = get_user_model().objects.create_superuser("benchmark-admin", password="!")
        client = Client(SERVER_NAME="localhost")
        client.force_login(admin)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
        total = WebSocketSession.objects.count()
        connected = WebSocketSession.objects.filter(connected=True).count()
        print(
            f"PostgreSQL {server}; {total:,} sessions ({connected:,} connected); "
            f"Python {platform.python_version()}; {os.cpu_count()} CPUs; "
            f"{args.repeat} requests each, after one warm-up.\n"
        )
        timings = [
            measure(client, name, path, args.repeat, htmx) for name, path, htmx in pages(args)
        ]
        print_table(timings)
        failed = [t for t in timings if t.status != 200 or t.median > args.max_ms]
        if failed:
            names = ", ".join(t.name.strip() for t in failed)
            print(f"\nOver {args.max_ms:.0f} ms or not 200: {names}.")
            return 1
        print(f"\nEvery median is under {args.max_ms:.0f} ms.")
        return 0
    finally:
        teardown()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.console_scale``."""
    args = parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        # `make benchmark` runs every benchmark: without a server this one has nothing
        # to measure, which is not a failure.
        print("Skipped: set DATABASE_URL to a PostgreSQL server to run console_scale.")
        return 0
    try:
        return run(args)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
