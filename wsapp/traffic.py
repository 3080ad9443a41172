"""Per-minute connect and message counters, buffered in the process.

The message view is the hot path (at most 2 queries before the handler), so a
message does not write its counter row itself. ``count`` adds to a buffer in
this process; when a request finishes (Django's ``request_finished``, after the
response went out) and the buffer is older than ``FLUSH_SECONDS``, it is written
out, one UPDATE (or INSERT) per gateway and minute. No request waits for it and
no request's query budget includes it, and a busy site writes a few rows every
few seconds per worker process.

The price: counts still in a buffer are lost when a worker process dies, or
when it goes quiet and is stopped before another request arrives, so the
figures can miss up to ``FLUSH_SECONDS`` of one process's traffic. They are for
the Overview, not for billing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger("wsapp")

#: Longest time counts wait in the buffer before a request writes them out.
FLUSH_SECONDS = 5.0

_lock = threading.Lock()
# (gateway id, minute) -> [connects, messages]
_buffer: defaultdict[tuple[int, datetime], list[int]] = defaultdict(lambda: [0, 0])
# time.monotonic() of the oldest count in the buffer; None when it is empty.
_oldest: float | None = None


def minute_of(moment: datetime) -> datetime:
    """The start of the minute ``moment`` falls in: the counter row it belongs to."""
    return moment.replace(second=0, microsecond=0)


def count(gateway_id: int | None, *, connects: int = 0, messages: int = 0) -> None:
    """Count connects and messages of a gateway now, in this process's buffer (no query)."""
    global _oldest
    if gateway_id is None:
        return
    key = (gateway_id, minute_of(timezone.now()))
    with _lock:
        row = _buffer[key]
        row[0] += connects
        row[1] += messages
        if _oldest is None:
            _oldest = time.monotonic()


def flush_if_due() -> int:
    """``flush`` when the oldest buffered count is ``FLUSH_SECONDS`` old; rows written.

    Never raises: a failed write is logged and its counts dropped.
    """
    with _lock:
        due = _oldest is not None and time.monotonic() - _oldest >= FLUSH_SECONDS
    return flush() if due else 0


def pending() -> dict[tuple[int, datetime], tuple[int, int]]:
    """What the buffer holds now: (gateway id, minute) -> (connects, messages)."""
    with _lock:
        return {key: (row[0], row[1]) for key, row in _buffer.items()}


def discard() -> None:
    """Drop the buffered counts unwritten (a forked worker's copy, or between tests)."""
    global _oldest
    with _lock:
        _buffer.clear()
        _oldest = None


def flush() -> int:
    """Write every buffered count to ``TrafficCounter``; return the rows written.

    Each (gateway, minute) is an UPDATE adding to the row, or an INSERT when the
    minute has no row yet; two processes inserting the same minute at once are
    resolved by the unique constraint and a second UPDATE.
    """
    global _oldest
    with _lock:
        items = [(key, tuple(row)) for key, row in _buffer.items() if any(row)]
        _buffer.clear()
        _oldest = None
    written = 0
    for (gateway_id, bucket), (connects, messages) in items:
        try:
            _add(gateway_id, bucket, connects, messages)
            written += 1
        except DatabaseError:
            logger.exception(
                "Could not write traffic counts for gateway %s at %s; dropped %s connects "
                "and %s messages",
                gateway_id,
                bucket,
                connects,
                messages,
            )
    return written


def _add(gateway_id: int, bucket: datetime, connects: int, messages: int) -> None:
    from wsapp.models import TrafficCounter

    rows = TrafficCounter.objects.filter(api_gateway_id=gateway_id, bucket=bucket)
    # Its own (sub)transaction: a failed write must not break the request's.
    with transaction.atomic():
        if rows.update(connects=F("connects") + connects, messages=F("messages") + messages):
            return
        try:
            with transaction.atomic():
                TrafficCounter.objects.create(
                    api_gateway_id=gateway_id, bucket=bucket, connects=connects, messages=messages
                )
        except IntegrityError:
            # Another process inserted this minute first (or the gateway was just
            # deleted, and the UPDATE below then changes nothing).
            rows.update(connects=F("connects") + connects, messages=F("messages") + messages)
