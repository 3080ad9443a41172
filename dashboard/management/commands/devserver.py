"""``manage.py devserver``: the whole site locally, what ``make run`` runs."""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.devstack import Options, Ports, StackError, run


def _port_problem(value: str) -> str | None:
    """Why ``value`` is not a fixed port (1-65535), or None when it is one."""
    try:
        port = int(value)
    except ValueError:
        return f"must be a port number, not {value!r}"
    if not 0 < port < 65536:
        return f"must be between 1 and 65535, not {port}"
    return None


def _env_port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    problem = _port_problem(value)
    if problem is not None:
        raise CommandError(f"{name} {problem}.")
    return int(value)


def port_number(value: str) -> int:
    """argparse ``type=`` for the port options, with the same rule as the variables."""
    problem = _port_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return int(value)


class Command(BaseCommand):
    help = (
        "Run the site locally: migrate, create the dev superuser 'admin', start moto "
        "(ACM, Route 53, STS) and the local API Gateway, provision the demo gateway, "
        "then runserver. Ctrl-C stops everything. Development only."
    )
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="Address every part listens on (loopback)."
        )
        parser.add_argument(
            "--port", type=port_number, default=None, help="Django's port (DEVSERVER_PORT, 8000)."
        )
        parser.add_argument(
            "--gateway-port",
            type=port_number,
            default=None,
            help="The local gateway's port (LOCALGATEWAY_PORT, 8001).",
        )
        parser.add_argument(
            "--moto-port", type=port_number, default=None, help="moto's port (MOTO_PORT, 8002)."
        )
        parser.add_argument(
            "--state-dir",
            default=None,
            help="Where the admin password, the local gateway state and moto.log live "
            "(default: .local/ in the project, git-ignored).",
        )
        parser.add_argument(
            "--noreload", action="store_true", help="Do not restart Django on code changes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if getattr(settings, "PRODUCTION", False):
            raise CommandError(
                "devserver is for local development only and refuses to run with "
                "DJANGO_ENV=production."
            )
        host = options["host"].strip()
        if host != "localhost":
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise CommandError(
                    f"--host must be an IPv4 address such as 127.0.0.1 (or localhost), not "
                    f"{options['host']!r}: the local stack does not listen on IPv6."
                ) from None
        ports = Ports(
            host=host,
            django=options["port"] or _env_port("DEVSERVER_PORT", 8000),
            gateway=options["gateway_port"] or _env_port("LOCALGATEWAY_PORT", 8001),
            moto=options["moto_port"] or _env_port("MOTO_PORT", 8002),
        )
        # call_command(port=...) skips argparse's type check, so check once more here.
        for option, port in (
            ("--port", ports.django),
            ("--gateway-port", ports.gateway),
            ("--moto-port", ports.moto),
        ):
            problem = _port_problem(str(port))
            if problem is not None:
                raise CommandError(f"{option} {problem}.")
        if len({ports.django, ports.gateway, ports.moto}) != 3:
            raise CommandError(
                f"Django, the local gateway and moto need three different ports, not "
                f"{ports.django}, {ports.gateway} and {ports.moto}."
            )
        state_dir = Path(options["state_dir"] or Path(settings.BASE_DIR) / ".local")
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(
                f"--state-dir {state_dir} cannot be used: {exc.strerror or exc}. Give a folder "
                "that exists or can be created."
            ) from None
        try:
            run(
                Options(
                    ports=ports, state_dir=state_dir.resolve(), reload=not options["noreload"]
                ),
                say=self.stdout.write,
            )
        except StackError as exc:
            raise CommandError(str(exc)) from None
