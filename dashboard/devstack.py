"""The local stack behind ``make run``: moto, the local gateway and Django, supervised.

``manage.py devserver`` (dashboard/management/commands/devserver.py) is a thin
wrapper around :func:`run`. Everything here is for local development only: it
uses dummy AWS credentials and refuses nothing but production, which the command
checks first.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test.utils import override_settings

from wsapp import aws
from wsapp.models import ApiGateway, WebSocketSession

logger = logging.getLogger("wsapp")

#: Dummy credentials for the local stack only; real AWS rejects them.
LOCAL_ACCESS_KEY = "local-dev-not-a-real-key"
LOCAL_SECRET_KEY = "local-dev-not-a-real-secret"
LOCAL_REGION = "us-east-1"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_FILE = "dev-admin-password"
DEMO_GATEWAY_NAME = "demo"
DEMO_DEFAULT_CHANNEL = "general"
#: Seconds each child gets to accept connections, and to exit when asked.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: Environment variables of the user's own AWS setup that must not leak into the
#: local stack (a profile or session token would point boto3 at real AWS).
AWS_VARIABLES_DROPPED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IAM_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


class StackError(Exception):
    """The local stack could not start or a part of it stopped; ``str()`` says what to do."""


@dataclass(frozen=True)
class Ports:
    """Where each part of the stack listens (all on ``host``)."""

    host: str = "127.0.0.1"
    django: int = 8000
    gateway: int = 8001
    moto: int = 8002

    @property
    def site_url(self) -> str:
        return f"http://{self.host}:{self.django}/"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto}"


def local_aws_environment(ports: Ports) -> dict[str, str]:
    """Variables that point boto3 at the local gateway and moto, with dummy credentials."""
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        "AWS_REGION_NAME": LOCAL_REGION,
        "AWS_GATEWAY_REGION_NAME": LOCAL_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_APIGATEWAYV2": ports.gateway_url,
        "AWS_ENDPOINT_URL_ACM": ports.moto_url,
        "AWS_ENDPOINT_URL_ROUTE_53": ports.moto_url,
        "AWS_ENDPOINT_URL_STS": ports.moto_url,
    }


def apply_environment(variables: dict[str, str]) -> None:
    """Set ``variables`` in this process, drop the user's AWS profile, forget cached clients."""
    for name in AWS_VARIABLES_DROPPED:
        os.environ.pop(name, None)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") and name not in variables:
            del os.environ[name]
    os.environ.update(variables)
    aws.clear_cache()


@contextmanager
def local_aws_settings() -> Iterator[None]:
    """Settings read at startup from the user's environment, pinned to the local stack."""
    with override_settings(
        AWS_GATEWAY_REGION_NAME=LOCAL_REGION, AWS_REGION_NAME=LOCAL_REGION, AWS_IAM_PROFILE=""
    ):
        aws.clear_cache()
        try:
            yield
        finally:
            aws.clear_cache()


def port_in_use(host: str, port: int) -> bool:
    """True when something already accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


# --- The dev superuser ---------------------------------------------------------------


@dataclass(frozen=True)
class DevAdmin:
    username: str
    password: str
    #: The stored password no longer works (someone changed it in the admin).
    password_changed: bool = False
    created: bool = False


def ensure_dev_admin(state_dir: Path) -> DevAdmin:
    """Create the ``admin`` superuser once; its password lives in ``state_dir``.

    The password is generated on the first run and kept in
    ``<state_dir>/dev-admin-password`` (git-ignored) so that it stays the same
    across restarts. Delete that file to get a new one.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    password_file = state_dir / ADMIN_PASSWORD_FILE
    fresh_password = not password_file.exists()
    if fresh_password:
        password_file.write_text(secrets.token_urlsafe(12) + "\n")
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        User.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", password)
        return DevAdmin(ADMIN_USERNAME, password, created=True)
    if fresh_password:
        # A new password file for an existing user: make them match.
        user.set_password(password)
        user.save(update_fields=["password"])
        return DevAdmin(ADMIN_USERNAME, password)
    return DevAdmin(ADMIN_USERNAME, password, password_changed=not user.check_password(password))


# --- The demo gateway ------------------------------------------------------------------


def ensure_demo_gateway(target_base_endpoint: str) -> tuple[ApiGateway, str]:
    """Create (first run) or re-check (later runs) the demo gateway in the local gateway.

    Returns the gateway and a one-line message. ``provisioning.create`` converges:
    an API that vanished (state file deleted) is made again, a changed endpoint is
    synced, and an API that is already right is left alone.
    """
    from wsapp import provisioning

    gateway, created = ApiGateway.objects.get_or_create(
        api_name=DEMO_GATEWAY_NAME,
        defaults={
            "api_description": "Demo chat served by make run (local gateway).",
            "target_base_endpoint": target_base_endpoint,
            "default_channel_name": DEMO_DEFAULT_CHANNEL,
            "region": LOCAL_REGION,
        },
    )
    if not created and gateway.target_base_endpoint != target_base_endpoint:
        gateway.target_base_endpoint = target_base_endpoint
        gateway.save(update_fields=["target_base_endpoint", "updated_on"])
    with local_aws_settings():
        result = provisioning.create(gateway)
    gateway.refresh_from_db()
    if not result.ok:
        raise StackError(
            f"Could not provision the demo gateway: {result.message}. "
            f"Delete the local gateway state file and the {DEMO_GATEWAY_NAME!r} gateway "
            "in the admin to start over."
        )
    forget_previous_sockets(gateway)
    return gateway, result.message


def forget_previous_sockets(gateway: ApiGateway) -> None:
    """Start from a clean slate: the local gateway just started, so it holds no socket.

    Sessions a previous run left marked connected are closed, then the usual cleanup
    runs (recorded like any other, as a scheduled job would be in production).
    """
    from django.utils import timezone

    from wsapp import cleanup

    WebSocketSession.objects.filter(api_gateway=gateway, connected=True).update(
        connected=False, disconnected_on=timezone.now()
    )
    cleanup.run_cleanup(
        disconnected_sessions=True,
        token_age=cleanup.DEFAULT_TOKEN_AGE,
        rate_limit_age=cleanup.DEFAULT_RATE_LIMIT_AGE,
        source="devserver",
    )


# --- Child processes --------------------------------------------------------------------


@dataclass
class Child:
    """One supervised process."""

    name: str
    process: subprocess.Popen
    log_path: Path | None = None
    log_file: IO[bytes] | None = None

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if devserver itself is killed (Linux only).

    Ctrl-C and SIGTERM are handled by devserver, which stops its children; this
    covers ``kill -9`` of devserver, after which the children would otherwise keep
    their ports.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    # Best effort: without prctl the stack still stops cleanly on Ctrl-C and SIGTERM.
    with suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Supervisor:
    """Starts child processes in their own process groups and stops them all.

    Own process groups: runserver's autoreloader forks a grandchild that must go
    too, and the terminal's Ctrl-C reaches only this process, which then stops
    the children in order.
    """

    env: dict[str, str]
    cwd: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, log_path: Path | None = None) -> Child:
        log_file = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = log_path.open("ab")
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and manage.py)
            argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file else None,
            start_new_session=True,
            # preexec_fn is unsafe only with threads running, and devserver starts none.
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process, log_path, log_file)
        self.children.append(child)
        return child

    def wait_until_listening(
        self,
        child: Child,
        host: str,
        port: int,
        *,
        timeout: float = START_TIMEOUT,
        stop: threading.Event | None = None,
    ) -> None:
        """Return once ``child`` accepts TCP connections; raise StackError if it dies or stalls.

        Raises StopRequested as soon as ``stop`` is set (Ctrl-C during startup).
        """
        stop = stop or threading.Event()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stop.is_set():
                raise StopRequested
            code = child.process.poll()
            if code is not None:
                raise StackError(self._death_message(child, code, "while starting"))
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                # Nothing to wait on but the port itself: try again shortly.
                stop.wait(0.1)
        raise StackError(
            f"{child.name} did not accept connections on {host}:{port} within "
            f"{timeout:.0f} s." + self._tail_hint(child)
        )

    def dead_child(self) -> tuple[Child, int] | None:
        """The first child that has exited, with its exit code."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                return child, code
        return None

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every child's process group (newest first), then SIGKILL stragglers."""
        for child in reversed(self.children):
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing it", child.name)
                self._signal(child, signal.SIGKILL)
                child.process.wait(5)
            # The group may outlive its leader (runserver's reloaded child).
            self._signal(child, signal.SIGKILL)
            if child.log_file is not None:
                child.log_file.close()
        self.children.clear()

    @staticmethod
    def _signal(child: Child, signum: int) -> None:
        # Already gone (or its pid reused by someone else's process): nothing to do.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signum)

    def _tail_hint(self, child: Child) -> str:
        tail = child.log_tail()
        if tail:
            return f"\nLast lines of {child.log_path}:\n{tail}"
        return ""

    def _death_message(self, child: Child, code: int, when: str) -> str:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"{child.name} {how} {when}." + self._tail_hint(child)


# --- The whole stack -----------------------------------------------------------------------


@dataclass
class Options:
    ports: Ports
    state_dir: Path
    reload: bool = True


class StopRequested(Exception):
    """Ctrl-C (or SIGTERM) arrived while the stack was starting."""


def run(options: Options, say: Callable[[str], None], *, python: str | None = None) -> None:
    """Run moto, the local gateway and Django until Ctrl-C or until one of them stops.

    ``say`` prints a line for the user. Raises StackError when something fails
    (after stopping everything it started).
    """
    from django.core.management import call_command

    ports = options.ports
    python = python or sys.executable
    base_dir = Path(settings.BASE_DIR)
    manage = str(base_dir / "manage.py")
    state_dir = options.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)

    busy = [
        f"{name} port {port}"
        for name, port in (
            ("Django", ports.django),
            ("local gateway", ports.gateway),
            ("moto", ports.moto),
        )
        if port_in_use(ports.host, port)
    ]
    if busy:
        raise StackError(
            f"Already in use on {ports.host}: {', '.join(busy)}. Stop what runs there "
            "(another make run?) or pick other ports: manage.py devserver --port/"
            "--gateway-port/--moto-port, or DEVSERVER_PORT/LOCALGATEWAY_PORT/MOTO_PORT."
        )

    say("Applying migrations…")
    call_command("migrate", interactive=False, verbosity=0)
    admin = ensure_dev_admin(state_dir)

    aws_env = local_aws_environment(ports)
    apply_environment(aws_env)
    child_env = dict(os.environ)
    child_env["PYTHONUNBUFFERED"] = "1"

    stop = threading.Event()
    previous = {}

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, on_signal)

    supervisor = Supervisor(child_env, base_dir)
    try:
        say(f"Starting moto (ACM, Route 53, STS) on {ports.moto_url} …")
        moto = supervisor.start(
            "moto",
            [python, "-m", "moto.server", "-H", ports.host, "-p", str(ports.moto)],
            log_path=state_dir / "moto.log",
        )
        say(f"Starting the local gateway on {ports.gateway_url} …")
        gateway_child = supervisor.start(
            "local gateway",
            [
                python,
                manage,
                "runlocalgateway",
                "--host",
                ports.host,
                "--port",
                str(ports.gateway),
                "--state",
                str(state_dir / "localgateway.json"),
            ],
        )
        for child, port in ((moto, ports.moto), (gateway_child, ports.gateway)):
            supervisor.wait_until_listening(child, ports.host, port, stop=stop)

        say("Provisioning the demo gateway…")
        gateway, message = ensure_demo_gateway(f"{ports.site_url}ws/")
        say(f"  {message}")

        argv = [python, manage, "runserver", f"{ports.host}:{ports.django}"]
        if not options.reload:
            argv.append("--noreload")
        django = supervisor.start("Django runserver", argv)
        supervisor.wait_until_listening(django, ports.host, ports.django, stop=stop)

        say("")
        say(f"  Demo chat:   {ports.site_url}")
        say(f"  Admin:       {ports.site_url}admin/")
        if admin.password_changed:
            say(
                f"  Sign in as:  {admin.username} (your own password: the one in "
                f"{state_dir / ADMIN_PASSWORD_FILE} was changed since; delete that file "
                "to reset it)"
            )
        else:
            say(f"  Sign in as:  {admin.username} / {admin.password}")
        say(f"  WebSocket:   {gateway.websocket_url}")
        say("  Press Ctrl-C to stop everything.")
        say("")

        while not stop.wait(0.5):
            dead = supervisor.dead_child()
            if dead is not None:
                child, code = dead
                raise StackError(
                    supervisor._death_message(child, code, "unexpectedly")
                    + " Stopped the rest of the stack."
                )
        say("Stopping…")
    except StopRequested:
        say("Stopping…")
    finally:
        supervisor.stop_all()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
