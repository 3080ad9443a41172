"""Delete old connect tokens, old rate-limit records and old traffic counters."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from wsapp import cleanup, conf
from wsapp.management.commands._cleanup import CleanupCommand


class Command(CleanupCommand):
    help = (
        "Delete WebSocket connect tokens issued more than --token-age seconds ago (used or "
        "not), rate-limit records last touched more than --rate-limit-age days ago and the "
        "Overview's per-minute traffic counters older than --traffic-age days. Each run is "
        "recorded as a CleanupRun."
    )
    source = "cleanupWebSocketTokens"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token-age",
            type=int,
            default=cleanup.DEFAULT_TOKEN_AGE,
            metavar="SECONDS",
            help=f"Delete tokens older than this (default {cleanup.DEFAULT_TOKEN_AGE}).",
        )
        parser.add_argument(
            "--rate-limit-age",
            type=int,
            default=cleanup.DEFAULT_RATE_LIMIT_AGE,
            metavar="DAYS",
            help="Delete rate-limit records whose last attempt is older than this "
            f"(default {cleanup.DEFAULT_RATE_LIMIT_AGE}).",
        )
        parser.add_argument(
            "--traffic-age",
            type=int,
            default=cleanup.DEFAULT_TRAFFIC_AGE,
            metavar="DAYS",
            help="Delete the Overview's per-minute traffic counters older than this "
            f"(default {cleanup.DEFAULT_TRAFFIC_AGE}; the Overview shows the last day).",
        )
        super().add_arguments(parser)

    def plan(self, options: dict[str, Any]) -> cleanup.CleanupOptions:
        token_age = options["token_age"]
        rate_limit_age = options["rate_limit_age"]
        cleanup.check_token_age(token_age, name="--token-age")
        cleanup.check_rate_limit_age(rate_limit_age, name="--rate-limit-age")
        cleanup.check_traffic_age(options["traffic_age"], name="--traffic-age")
        if cleanup.token_age_below_expiry(token_age):
            self.warn(
                f"--token-age {token_age} is shorter than the token lifetime "
                f"(WEBSOCKETS['token_expiry_seconds'] = {conf.get('token_expiry_seconds')}): "
                "tokens that are still valid will be deleted."
            )
        return cleanup.CleanupOptions(
            token_age=token_age,
            rate_limit_age=rate_limit_age,
            traffic_age=options["traffic_age"],
            batch_size=options["batch_size"],
        )
