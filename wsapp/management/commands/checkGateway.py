"""Run the live health checks from the command line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from wsapp.health import Status, run_checks, summary
from wsapp.models import ApiGateway


class Command(BaseCommand):
    help = (
        "Run every live troubleshooting check (AWS state, custom domain, DNS, management "
        "API, stale data, abuse) and print pass/warn/fail with evidence and fixes. Exits "
        "with status 1 when a check fails."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--pk", type=int, help="Check only this gateway (and skip site checks)."
        )
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="Seconds each network check may take."
        )

    def handle(self, *args, **options) -> None:
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        gateways = None
        if options["pk"] is not None:
            gateway = (
                ApiGateway.objects.prefetch_related("additional_routes")
                .filter(pk=options["pk"])
                .first()
            )
            if gateway is None:
                raise CommandError(f"No gateway has pk={options['pk']}.")
            gateways = [gateway]
        results = run_checks(
            gateways, timeout=options["timeout"], include_site=options["pk"] is None
        )
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
            raise SystemExit(1)
