"""What the gateway management commands share: ``--pk``, lookup and printing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsapp.models import ApiGateway
from wsapp.provisioning.compare import Difference
from wsapp.provisioning.operations import Result


class GatewayCommand(BaseCommand):
    """Base for commands acting on one ApiGateway given by ``--pk``."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pk", type=int, required=True, help="Primary key of the ApiGateway record."
        )

    def get_gateway(self, options: dict[str, Any]) -> ApiGateway:
        pk = options["pk"]
        try:
            return ApiGateway.objects.get(pk=pk)
        except ApiGateway.DoesNotExist:
            known = ", ".join(
                f"{g.pk} ({g.api_name})" for g in ApiGateway.objects.order_by("pk")[:10]
            )
            raise CommandError(
                f"No API gateway with pk={pk}. Known gateways: {known or 'none yet'}."
            ) from None

    def write_differences(self, differences: list[Difference]) -> None:
        for difference in differences:
            self.stdout.write(f"  ~ [{difference.code}] {difference.message}")

    def report(self, result: Result) -> None:
        """Print what was done; a failure becomes a CommandError (one line, no traceback)."""
        for action in result.actions:
            self.stdout.write(f"  - {action}")
        if not result.ok:
            raise CommandError(result.message)
        self.stdout.write(self.style.SUCCESS(result.message))
        self.stdout.write(f"{len(result.actions)} change(s) made in AWS.")
