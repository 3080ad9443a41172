"""Delete closed WebSocket sessions, and optionally stale ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from wsapp import cleanup
from wsapp.management.commands._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = (
        "Delete WebSocket sessions that are disconnected. With --stale-hours N, also delete "
        "sessions still marked connected that were opened more than N hours ago (API Gateway "
        "closes every connection after 2 hours, so those missed their $disconnect). Each run "
        "is recorded as a CleanupRun."
    )
    source = "clearWebSocketSessions"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--closed-hours",
            type=int,
            default=None,
            metavar="N",
            help="Keep sessions closed in the last N hours (the console's Overview counts "
            "them in its 24-hour figures). Default: delete every closed session.",
        )
        parser.add_argument(
            "--stale-hours",
            type=int,
            default=None,
            metavar="N",
            help="Also delete sessions marked connected but opened more than N hours ago "
            f"({cleanup.CONNECTION_LIFETIME_HOURS} or more is safe).",
        )
        super().add_arguments(parser)

    def plan(self, options: dict[str, Any]) -> cleanup.CleanupOptions:
        stale_hours = options["stale_hours"]
        if stale_hours is not None:
            cleanup.check_stale_hours(stale_hours, name="--stale-hours")
            if stale_hours < cleanup.CONNECTION_LIFETIME_HOURS:
                self.warn(
                    f"--stale-hours {stale_hours} is under API Gateway's "
                    f"{cleanup.CONNECTION_LIFETIME_HOURS}-hour connection limit: sessions "
                    "that are still open will be deleted."
                )
        closed_hours = options["closed_hours"]
        if closed_hours is not None:
            cleanup.check_closed_hours(closed_hours, name="--closed-hours")
        return cleanup.CleanupOptions(
            disconnected_sessions=True,
            closed_hours=closed_hours,
            stale_hours=stale_hours,
            batch_size=options["batch_size"],
        )
