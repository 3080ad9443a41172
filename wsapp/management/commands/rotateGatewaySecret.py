"""`manage.py rotateGatewaySecret --pk=N`: replace the integration secret."""

from __future__ import annotations

from typing import Any

from wsapp import provisioning
from wsapp.provisioning.commands import GatewayCommand


class Command(GatewayCommand):
    help = (
        "Replace the integration secret without refusing requests (both secrets are "
        "accepted until the new one is live)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self.get_gateway(options)
        self.report(provisioning.rotate_secret(gateway))
