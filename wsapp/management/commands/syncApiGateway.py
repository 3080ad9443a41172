"""`manage.py syncApiGateway --pk=N [--dry-run]`: make AWS match the gateway record."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from wsapp import provisioning
from wsapp.provisioning.commands import GatewayCommand


class Command(GatewayCommand):
    help = (
        "Show how AWS differs from the gateway record, then change what differs and "
        "redeploy. With --dry-run, only show the differences."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan; change nothing anywhere."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self.get_gateway(options)
        if options["dry_run"]:
            try:
                differences = provisioning.plan(gateway)
            except provisioning.ProvisioningError as exc:
                raise CommandError(str(exc)) from None
            self.write_differences(differences)
            self.stdout.write(
                f"{len(differences)} difference(s) found; nothing changed (dry run)."
            )
            return
        result = provisioning.sync(gateway)
        self.write_differences(result.differences)
        self.stdout.write(f"{len(result.differences)} difference(s) found.")
        self.report(result)
