"""Deleting what WebSocket traffic leaves behind.

Five cleanups, each as a queryset (the first four also as a ``count_*`` and a
``delete_*`` function):

* disconnected sessions (``connected=False``);
* stale sessions: still marked connected but opened more than ``stale_hours`` ago.
  API Gateway ends every connection after 2 hours, so such a row missed its
  ``$disconnect`` event;
* tokens created more than ``token_age`` seconds ago, used or not;
* rate-limit records whose ``last_attempt`` is more than ``rate_limit_age`` days old;
* traffic counters (``TrafficCounter``, the Overview's per-minute connects and
  messages) of minutes more than ``traffic_age`` days ago.

Deletes run in batches (a batch of primary keys, then a delete by primary key,
each batch in its own short transaction), so memory stays flat and locks stay
short on big tables. ``run_cleanup`` runs several cleanups and records a
``CleanupRun`` row, updated after every batch, which the management commands, the
console and the health page share.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, models, transaction
from django.db.models import Q
from django.utils import timezone

from wsapp import conf
from wsapp.models import (
    CleanupRun,
    ConnectionRateLimit,
    TrafficCounter,
    WebSocketSession,
    WebSocketToken,
)

logger = logging.getLogger("wsapp")

DEFAULT_BATCH_SIZE = 1000
# A batch's primary keys go into one IN list: keep it well inside every backend's
# parameter limit and each transaction short.
MAX_BATCH_SIZE = 10_000
DEFAULT_TOKEN_AGE = 300  # seconds
#: The console's default: a day of tokens, so that the Overview's "issued and used in
#: the last 24 hours" counts them all.
CONSOLE_TOKEN_AGE = 24 * 60 * 60  # seconds
#: Traffic counters older than this go: the Overview reads 24 hours; a week more
#: is kept for a look back.
DEFAULT_TRAFFIC_AGE = 8  # days
DEFAULT_RATE_LIMIT_AGE = 7  # days
#: API Gateway closes every connection after this long.
CONNECTION_LIFETIME_HOURS = 2

# Ten years in each unit: far beyond any real setting, and small enough that
# ``now - timedelta(...)`` cannot overflow.
MAX_STALE_HOURS = 24 * 365 * 10
MAX_TOKEN_AGE = 60 * 60 * 24 * 365 * 10
MAX_RATE_LIMIT_AGE = 365 * 10

#: Keys of ``CleanupRun.counts`` -> (singular, plural) labels.
LABELS: dict[str, tuple[str, str]] = {
    "disconnected_sessions": ("disconnected session", "disconnected sessions"),
    "stale_sessions": ("stale session", "stale sessions"),
    "tokens": ("token", "tokens"),
    "rate_limits": ("rate-limit record", "rate-limit records"),
    "traffic_counters": ("traffic counter", "traffic counters"),
}

#: Called after each batch with the number of rows that batch deleted.
BatchProgress = Callable[[int], None]
#: Called after each batch of a run with the run, its ``done``/``total`` up to date.
RunProgress = Callable[[CleanupRun], None]


# --- Validation (shared by the commands, the console and the functions below) -----


def check_age(value: object, *, name: str, unit: str, maximum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is a number of ``unit`` from 0 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of {unit}, not {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be 0 or more {unit}, not {value}.")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum:,} {unit}, not {value:,}.")


def check_batch_size(value: object, *, name: str = "batch_size") -> None:
    """Raise ``ValueError`` unless ``value`` is a whole number from 1 to ``MAX_BATCH_SIZE``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, not {value!r}.")
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise ValueError(f"{name} must be between 1 and {MAX_BATCH_SIZE:,}, not {value}.")


def check_stale_hours(value: object, *, name: str = "stale_hours") -> None:
    check_age(value, name=name, unit="hours", maximum=MAX_STALE_HOURS)


def check_closed_hours(value: object, *, name: str = "closed_hours") -> None:
    check_age(value, name=name, unit="hours", maximum=MAX_STALE_HOURS)


def check_token_age(value: object, *, name: str = "token_age") -> None:
    check_age(value, name=name, unit="seconds", maximum=MAX_TOKEN_AGE)


def check_rate_limit_age(value: object, *, name: str = "rate_limit_age") -> None:
    check_age(value, name=name, unit="days", maximum=MAX_RATE_LIMIT_AGE)


def check_traffic_age(value: object, *, name: str = "traffic_age") -> None:
    check_age(value, name=name, unit="days", maximum=MAX_RATE_LIMIT_AGE)


# --- What each cleanup selects ----------------------------------------------------


def disconnected_sessions(
    closed_hours: float | None = None, *, now: datetime | None = None
) -> models.QuerySet[WebSocketSession]:
    """Sessions whose socket is known to be closed.

    With ``closed_hours``, only those closed more than that many hours ago (sessions
    closed before ``disconnected_on`` was recorded count from when they were last seen).
    """
    queryset = WebSocketSession.objects.filter(connected=False)
    if closed_hours is None:
        return queryset
    check_closed_hours(closed_hours)
    cutoff = (now or timezone.now()) - timedelta(hours=closed_hours)
    return queryset.filter(
        Q(disconnected_on__lt=cutoff) | Q(disconnected_on__isnull=True, last_seen__lt=cutoff)
    )


def stale_sessions(
    stale_hours: float, *, now: datetime | None = None
) -> models.QuerySet[WebSocketSession]:
    """Sessions still marked connected, opened more than ``stale_hours`` ago."""
    check_stale_hours(stale_hours)
    cutoff = (now or timezone.now()) - timedelta(hours=stale_hours)
    return WebSocketSession.objects.filter(connected=True, created_on__lt=cutoff)


def old_tokens(
    token_age: float, *, now: datetime | None = None
) -> models.QuerySet[WebSocketToken]:
    """Tokens issued more than ``token_age`` seconds ago, used or not."""
    check_token_age(token_age)
    cutoff = (now or timezone.now()) - timedelta(seconds=token_age)
    return WebSocketToken.objects.filter(created_at__lt=cutoff)


def old_rate_limits(
    rate_limit_age: float, *, now: datetime | None = None
) -> models.QuerySet[ConnectionRateLimit]:
    """Rate-limit records last touched more than ``rate_limit_age`` days ago."""
    check_rate_limit_age(rate_limit_age)
    cutoff = (now or timezone.now()) - timedelta(days=rate_limit_age)
    return ConnectionRateLimit.objects.filter(last_attempt__lt=cutoff)


def old_traffic_counters(
    traffic_age: float, *, now: datetime | None = None
) -> models.QuerySet[TrafficCounter]:
    """Per-minute traffic counters of minutes more than ``traffic_age`` days ago."""
    check_traffic_age(traffic_age)
    cutoff = (now or timezone.now()) - timedelta(days=traffic_age)
    return TrafficCounter.objects.filter(bucket__lt=cutoff)


# --- Batched deletion -------------------------------------------------------------


def delete_in_batches(
    queryset: models.QuerySet,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: BatchProgress | None = None,
) -> int:
    """Delete every row of ``queryset``, ``batch_size`` rows per transaction.

    Each batch selects the lowest primary keys still matching, then deletes them
    by primary key with the queryset's conditions re-applied (a row that stopped
    matching in between is left alone). Returns the rows of ``queryset.model``
    deleted; calls ``progress(deleted_in_batch)`` after each batch.
    """
    check_batch_size(batch_size)
    model = queryset.model
    database = queryset.db
    deleted_total = 0
    while True:
        with transaction.atomic(using=database):
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not pks:
                break
            _, per_model = queryset.filter(pk__in=pks).delete()
        deleted = per_model.get(model._meta.label, 0)
        deleted_total += deleted
        if progress is not None:
            progress(deleted)
        if len(pks) < batch_size:
            break
    return deleted_total


def _delete(
    queryset: models.QuerySet,
    *,
    batch_size: int,
    dry_run: bool,
    progress: BatchProgress | None,
) -> int:
    check_batch_size(batch_size)
    if dry_run:
        return queryset.count()
    return delete_in_batches(queryset, batch_size=batch_size, progress=progress)


def count_disconnected_sessions(closed_hours: float | None = None) -> int:
    """How many sessions ``delete_disconnected_sessions`` would delete."""
    return disconnected_sessions(closed_hours).count()


def delete_disconnected_sessions(
    closed_hours: float | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: BatchProgress | None = None,
) -> int:
    """Delete closed sessions; returns how many (with ``dry_run``: would be)."""
    return _delete(
        disconnected_sessions(closed_hours),
        batch_size=batch_size,
        dry_run=dry_run,
        progress=progress,
    )


def count_stale_sessions(stale_hours: float) -> int:
    """How many sessions ``delete_stale_sessions(stale_hours)`` would delete."""
    return stale_sessions(stale_hours).count()


def delete_stale_sessions(
    stale_hours: float,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: BatchProgress | None = None,
) -> int:
    """Delete sessions marked connected but opened more than ``stale_hours`` ago."""
    return _delete(
        stale_sessions(stale_hours), batch_size=batch_size, dry_run=dry_run, progress=progress
    )


def count_old_tokens(token_age: float = DEFAULT_TOKEN_AGE) -> int:
    """How many tokens ``delete_old_tokens(token_age)`` would delete."""
    return old_tokens(token_age).count()


def delete_old_tokens(
    token_age: float = DEFAULT_TOKEN_AGE,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: BatchProgress | None = None,
) -> int:
    """Delete tokens issued more than ``token_age`` seconds ago, used or not."""
    return _delete(
        old_tokens(token_age), batch_size=batch_size, dry_run=dry_run, progress=progress
    )


def count_old_rate_limits(rate_limit_age: float = DEFAULT_RATE_LIMIT_AGE) -> int:
    """How many records ``delete_old_rate_limits(rate_limit_age)`` would delete."""
    return old_rate_limits(rate_limit_age).count()


def delete_old_rate_limits(
    rate_limit_age: float = DEFAULT_RATE_LIMIT_AGE,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: BatchProgress | None = None,
) -> int:
    """Delete rate-limit records last touched more than ``rate_limit_age`` days ago."""
    return _delete(
        old_rate_limits(rate_limit_age),
        batch_size=batch_size,
        dry_run=dry_run,
        progress=progress,
    )


# --- Recorded runs ----------------------------------------------------------------


@dataclass(frozen=True)
class CleanupOptions:
    """Which cleanups a run does. ``None`` leaves a cleanup out.

    Raises ``ValueError`` naming the bad option when built with bad values, so a
    form or a command can show the message as is.
    """

    disconnected_sessions: bool = False
    #: With ``disconnected_sessions``: keep sessions closed in the last N hours.
    closed_hours: float | None = None
    stale_hours: float | None = None
    token_age: float | None = None
    rate_limit_age: float | None = None
    traffic_age: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.closed_hours is not None:
            check_closed_hours(self.closed_hours)
        if self.stale_hours is not None:
            check_stale_hours(self.stale_hours)
        if self.token_age is not None:
            check_token_age(self.token_age)
        if self.rate_limit_age is not None:
            check_rate_limit_age(self.rate_limit_age)
        if self.traffic_age is not None:
            check_traffic_age(self.traffic_age)
        check_batch_size(self.batch_size)
        if not self.querysets():
            raise ValueError("Choose at least one cleanup to run.")

    def querysets(self, now: datetime | None = None) -> dict[str, models.QuerySet]:
        """The selected cleanups, keyed as in ``CleanupRun.counts``, in run order."""
        now = now or timezone.now()
        selected: dict[str, models.QuerySet] = {}
        if self.disconnected_sessions:
            selected["disconnected_sessions"] = disconnected_sessions(self.closed_hours, now=now)
        if self.stale_hours is not None:
            selected["stale_sessions"] = stale_sessions(self.stale_hours, now=now)
        if self.token_age is not None:
            selected["tokens"] = old_tokens(self.token_age, now=now)
        if self.rate_limit_age is not None:
            selected["rate_limits"] = old_rate_limits(self.rate_limit_age, now=now)
        if self.traffic_age is not None:
            selected["traffic_counters"] = old_traffic_counters(self.traffic_age, now=now)
        return selected


def start_cleanup(
    options: CleanupOptions,
    *,
    source: str,
    user: Any = None,
    dry_run: bool = False,
) -> CleanupRun:
    """Count what ``options`` would delete and record a running ``CleanupRun``.

    Quick (one COUNT per cleanup): a console view can call this in the request,
    hand the run to ``perform_cleanup`` elsewhere and poll ``done``/``total``.
    """
    planned = {key: qs.count() for key, qs in options.querysets().items()}
    total = sum(planned.values())
    return CleanupRun.objects.create(
        source=source[:64],
        user=user if getattr(user, "is_authenticated", False) else None,
        dry_run=dry_run,
        status=CleanupRun.Status.RUNNING,
        # A dry run's counts are what it would delete; a real run's count up from 0.
        counts=planned if dry_run else dict.fromkeys(planned, 0),
        total=total,
    )


def _record_failure(run: CleanupRun, exc: BaseException) -> None:
    run.status = CleanupRun.Status.FAILED
    run.error = f"{type(exc).__name__}: {exc}"[:2000]
    run.finished_at = timezone.now()
    try:
        with transaction.atomic():
            CleanupRun.objects.filter(pk=run.pk).update(
                status=run.status,
                error=run.error,
                finished_at=run.finished_at,
                counts=run.counts,
                done=run.done,
                total=run.total,
            )
    except DatabaseError:
        # The database itself is failing: the log is all that is left.
        logger.exception("Could not record the failure of cleanup run %s", run.pk)


def perform_cleanup(
    run: CleanupRun, options: CleanupOptions, *, progress: RunProgress | None = None
) -> CleanupRun:
    """Do the deletions of a run made by ``start_cleanup``, updating the row per batch.

    Marks the run finished at the end, or failed (with the error) and re-raises.
    A dry run deletes nothing and finishes at once.
    """
    try:
        if run.dry_run:
            run.done = run.total
        else:
            for key, queryset in options.querysets().items():
                run.counts.setdefault(key, 0)

                def on_batch(deleted: int, key: str = key) -> None:
                    run.counts[key] += deleted
                    run.done += deleted
                    # Rows that started matching after the count: keep done <= total.
                    run.total = max(run.total, run.done)
                    CleanupRun.objects.filter(pk=run.pk).update(
                        counts=run.counts, done=run.done, total=run.total
                    )
                    if progress is not None:
                        progress(run)

                delete_in_batches(queryset, batch_size=options.batch_size, progress=on_batch)
    except Exception as exc:
        _record_failure(run, exc)
        logger.error("Cleanup run %s (%s) failed: %s", run.pk, run.source, run.error)
        raise
    run.status = CleanupRun.Status.FINISHED
    run.finished_at = timezone.now()
    CleanupRun.objects.filter(pk=run.pk).update(
        status=run.status,
        finished_at=run.finished_at,
        counts=run.counts,
        done=run.done,
        total=run.total,
    )
    logger.info(
        "Cleanup run %s (%s%s): %s",
        run.pk,
        run.source,
        ", dry run" if run.dry_run else "",
        " ".join(describe_counts(run)) or "nothing to do",
    )
    return run


def run_cleanup(
    options: CleanupOptions | None = None,
    *,
    source: str = "clearWebSocketSessions",
    user: Any = None,
    dry_run: bool = False,
    progress: RunProgress | None = None,
    **option_values: Any,
) -> CleanupRun:
    """Run cleanups from start to end and return the finished ``CleanupRun``.

    Pass ``options``, or the ``CleanupOptions`` fields as keywords::

        run_cleanup(disconnected_sessions=True, stale_hours=3, source="console", user=u)

    Raises ``ValueError`` for bad options (before anything is recorded) and
    re-raises database errors after recording the run as failed.
    """
    if options is None:
        options = CleanupOptions(**option_values)
    elif option_values:
        raise TypeError("Pass either options or option keywords, not both.")
    run = start_cleanup(options, source=source, user=user, dry_run=dry_run)
    return perform_cleanup(run, options, progress=progress)


def describe_counts(run: CleanupRun) -> list[str]:
    """One sentence per cleanup of ``run``: "Deleted 12 disconnected sessions."."""
    verb = "Would delete" if run.dry_run else "Deleted"
    lines = []
    for key, count in run.counts.items():
        singular, plural = LABELS.get(key, (key, key))
        lines.append(f"{verb} {count:,} {singular if count == 1 else plural}.")
    return lines


def last_finished_run(source: str | None = None) -> CleanupRun | None:
    """The latest real (not dry) run that finished, optionally from one source."""
    runs = CleanupRun.objects.filter(status=CleanupRun.Status.FINISHED, dry_run=False)
    if source is not None:
        runs = runs.filter(source=source)
    return runs.order_by("-started_at").first()


def token_age_below_expiry(token_age: float) -> bool:
    """True when ``token_age`` would delete tokens that are still valid."""
    return token_age < conf.get("token_expiry_seconds")
