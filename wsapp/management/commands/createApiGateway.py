"""`manage.py createApiGateway --pk=N`: create the API in AWS, or resume a failed create."""

from __future__ import annotations

from typing import Any

from wsapp import provisioning
from wsapp.provisioning.commands import GatewayCommand


class Command(GatewayCommand):
    help = "Create the gateway's WebSocket API in AWS, or resume a create that failed."

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self.get_gateway(options)
        self.report(provisioning.create(gateway))
