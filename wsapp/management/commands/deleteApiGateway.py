"""`manage.py deleteApiGateway --pk=N`: delete the gateway's resources from AWS."""

from __future__ import annotations

from typing import Any

from wsapp import provisioning
from wsapp.provisioning.commands import GatewayCommand


class Command(GatewayCommand):
    help = (
        "Delete the gateway's API, custom domain mapping and domain name from AWS; "
        "the record goes back to draft."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self.get_gateway(options)
        self.report(provisioning.teardown(gateway))
