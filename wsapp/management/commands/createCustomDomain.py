"""`manage.py createCustomDomain --pk=N`: serve the gateway at wss://<domain_name>."""

from __future__ import annotations

from typing import Any

from wsapp import provisioning
from wsapp.provisioning.commands import GatewayCommand


class Command(GatewayCommand):
    help = (
        "Check the certificate, create the custom domain name, map it to the stage "
        "and point DNS at it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self.get_gateway(options)
        self.report(provisioning.create_custom_domain(gateway))
