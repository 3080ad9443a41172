"""Run the live health checks from the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsapp.health import DEFAULT_TIMEOUT, Status, run_checks, summary
from wsapp.models import ApiGateway


class Command(BaseCommand):
    help = (
        "Run every live troubleshooting check (AWS state, custom domain, DNS, management "
        "API, stale data, abuse) and print pass/warn/fail with evidence and fixes. Exits "
        "with status 1 when a check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pk", type=int, help="Check only this gateway (and skip the site checks)."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT,
            help=f"Seconds each network check may take (default {DEFAULT_TIMEOUT:g}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        timeout = options["timeout"]
        if not timeout > 0:  # also refuses NaN
            raise CommandError(f"--timeout must be a positive number of seconds, not {timeout}.")
        gateways = None
        pk = options["pk"]
        if pk is not None:
            gateway = (
                ApiGateway.objects.prefetch_related("additional_routes").filter(pk=pk).first()
            )
            if gateway is None:
                known = ", ".join(
                    f"{g.pk} ({g.api_name})" for g in ApiGateway.objects.order_by("pk")[:10]
                )
                raise CommandError(
                    f"No gateway has pk={pk}. "
                    + (f"Gateways: {known}." if known else "No gateway exists yet.")
                )
            gateways = [gateway]
        results = run_checks(gateways, timeout=timeout, include_site=pk is None)
        styles = {
            Status.PASS: self.style.SUCCESS,
            Status.WARN: self.style.WARNING,
            Status.FAIL: self.style.ERROR,
        }
        for item in results:
            subject = f" [{item.subject}]" if item.subject else ""
            label = styles[item.status](item.status.value.upper().ljust(4))
            self.stdout.write(f"{label} {item.id}{subject} {item.title}")
            for line in item.evidence:
                self.stdout.write(f"       {line}")
            if item.fix:
                self.stdout.write(f"       fix: {item.fix}")
                self.stdout.write(f"       see: {item.doc_url}")
        counts = summary(results)
        self.stdout.write(
            f"{counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed"
        )
        if counts["fail"]:
            # CommandError makes manage.py exit with status 1, after one line on stderr.
            raise CommandError(
                f"{counts['fail']} check(s) failed: see the fixes above.", returncode=1
            )
