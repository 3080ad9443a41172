"""`manage.py deployApiGateway --pk=N`: a new deployment on the stage."""

from __future__ import annotations

from typing import Any

from wsapp import provisioning
from wsapp.provisioning.commands import GatewayCommand


class Command(GatewayCommand):
    help = "Make a new deployment of the gateway's API on its stage."

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self.get_gateway(options)
        self.report(provisioning.deploy(gateway))
