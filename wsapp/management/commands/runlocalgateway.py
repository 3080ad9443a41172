"""``manage.py runlocalgateway``: API Gateway for WebSockets on this machine."""

from __future__ import annotations

import argparse
import asyncio
import errno
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsapp.localgateway import Limits, LocalGateway, StateFileError, serve

DEFAULTS = Limits()


def port_number(value: str) -> int:
    """argparse ``type=`` for --port: a whole number from 0 (any free port) to 65535."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be between 0 (pick a free port) and 65535, not {port}"
        )
    return port


class Command(BaseCommand):
    help = (
        "Run the local API Gateway: the apigatewayv2 control plane, WebSocket clients on "
        "ws://HOST:PORT/<api_id>/<stage> and the @connections management API, all on one "
        "port. Runs until Ctrl-C. See docs/local_development.md."
    )
    # The gateway is independent of the site: a broken view or URLconf elsewhere
    # must not stop it from starting.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument(
            "--port", type=port_number, default=8001, help="Port (0 picks a free one)."
        )
        parser.add_argument(
            "--state",
            metavar="FILE",
            help="Save the control-plane state to this JSON file and reload it on start.",
        )
        parser.add_argument(
            "--region", default="us-east-1", help="Region shown in ARNs and domain names."
        )
        limits = parser.add_argument_group("limits (AWS's values by default)")
        limits.add_argument("--max-message-bytes", type=int, default=DEFAULTS.max_message_bytes)
        limits.add_argument("--max-frame-bytes", type=int, default=DEFAULTS.max_frame_bytes)
        limits.add_argument(
            "--idle-timeout", type=float, default=DEFAULTS.idle_timeout, metavar="SECONDS"
        )
        limits.add_argument(
            "--max-connection-duration",
            type=float,
            default=DEFAULTS.max_connection_duration,
            metavar="SECONDS",
        )
        limits.add_argument(
            "--integration-timeout",
            type=float,
            default=DEFAULTS.integration_timeout,
            metavar="SECONDS",
        )
        limits.add_argument(
            "--send-queue-size",
            type=int,
            default=DEFAULTS.send_queue_size,
            help="Messages queued per client before @connections POST answers 429.",
        )
        limits.add_argument("--max-connections", type=int, default=DEFAULTS.max_connections)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["host"].strip():
            raise CommandError(
                "--host is empty: give an address such as 127.0.0.1 (or 0.0.0.0 to listen on "
                "every interface)."
            )
        state = options["state"]
        if state:
            path = Path(state)
            if path.is_dir():
                raise CommandError(f"--state {state} is a folder: give the path of a file.")
            if not path.parent.is_dir():
                raise CommandError(
                    f"--state {state}: the folder {path.parent} does not exist, so the state "
                    "could never be saved. Create it first."
                )
        try:
            limits = Limits(
                max_message_bytes=options["max_message_bytes"],
                max_frame_bytes=options["max_frame_bytes"],
                idle_timeout=options["idle_timeout"],
                max_connection_duration=options["max_connection_duration"],
                integration_timeout=options["integration_timeout"],
                send_queue_size=options["send_queue_size"],
                max_connections=options["max_connections"],
            )
            gateway = LocalGateway(
                options["host"],
                options["port"],
                state_file=options["state"],
                limits=limits,
                region=options["region"],
            )
        except (ValueError, StateFileError) as exc:
            raise CommandError(str(exc)) from exc

        try:
            asyncio.run(serve(gateway, handle_signals=True, on_started=self._started))
        except OSError as exc:
            hint = (
                " Is another local gateway running? Use --port to pick another port."
                if exc.errno == errno.EADDRINUSE
                else " Check --host: it must be an address of this machine."
            )
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc.strerror or exc}."
                + hint
            ) from exc
        except KeyboardInterrupt:
            pass
        self.stdout.write("Local API Gateway stopped.")

    def _started(self, gateway: LocalGateway) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"Local API Gateway listening on {gateway.url}")
            + f"\n  control plane: AWS_ENDPOINT_URL_APIGATEWAYV2={gateway.url}"
            + f"\n  clients:       ws://{gateway.url.removeprefix('http://')}/<api_id>/<stage>"
            + f"\n  @connections:  {gateway.url}/<api_id>/<stage>"
            + (
                f"\n  state file:    {gateway.state.state_file}"
                if gateway.state.state_file
                else ""
            )
            + "\nQuit with Ctrl-C."
        )
        self.stdout.flush()
