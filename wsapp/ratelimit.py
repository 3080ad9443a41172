"""Fixed-window attempt counters, one upsert per check.

Each (scope, key, window) has one ``ConnectionRateLimit`` row. A check inserts the
rows for every key it counts (for a connect: the user and the source IP) or
increments them, and reads the new counts back, in a single SQL statement
(``INSERT … ON CONFLICT … DO UPDATE … RETURNING``, supported by PostgreSQL and
SQLite 3.35+). Attempts beyond the limit are counted in ``rejected`` so that
operators can see abuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from wsapp.models import ConnectionRateLimit


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    #: The (scope, key) whose limit was exceeded, when not allowed.
    exceeded: tuple[str, str] | None = None
    attempts: int = 0
    retry_after: int = 0


def window_start(now: datetime, minutes: int) -> datetime:
    """Start of the fixed window of ``minutes`` that holds ``now``."""
    width = minutes * 60
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % width, tz=now.tzinfo)


def hit(keys: list[tuple[str, str]], *, max_attempts: int, window_minutes: int) -> RateLimitResult:
    """Count one attempt for each (scope, key) and say whether all are within the limit."""
    if not keys:
        return RateLimitResult(allowed=True)
    now = timezone.now()
    start = window_start(now, window_minutes)
    table = connection.ops.quote_name(ConnectionRateLimit._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s, 1, %s, %s)"] * len(keys))
    params: list = []
    for scope, key in keys:
        params += [scope, key[:255], start, window_minutes, 0, now]
    # Only the quoted table name is interpolated; every value is a parameter.
    sql = (
        f"INSERT INTO {table} "  # noqa: S608
        "(scope, key, window_start, window_minutes, attempts, rejected, last_attempt) "
        f"VALUES {rows} "
        "ON CONFLICT (scope, key, window_start) DO UPDATE SET "
        f"attempts = {table}.attempts + 1, "
        f"rejected = {table}.rejected + CASE WHEN {table}.attempts + 1 > %s THEN 1 ELSE 0 END, "
        "last_attempt = excluded.last_attempt "
        "RETURNING scope, key, attempts"
    )
    params.append(max_attempts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        results = cursor.fetchall()
    for scope, key, attempts in results:
        if attempts > max_attempts:
            retry_after = int((start + timedelta(minutes=window_minutes) - now).total_seconds())
            return RateLimitResult(
                allowed=False,
                exceeded=(scope, key),
                attempts=attempts,
                retry_after=max(retry_after, 1),
            )
    return RateLimitResult(allowed=True, attempts=max(a for _, _, a in results))
