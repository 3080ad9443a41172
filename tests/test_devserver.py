"""``manage.py devserver`` (what ``make run`` runs): the whole local stack, then Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent
#: Bound on the stack starting (migrations on a fresh SQLite file included).
START_TIMEOUT = 90.0


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Output:
    """Lines of a process's output, readable with a bounded wait."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(0.01, remaining))
            except queue.Empty:
                line = ""
            if line is None:
                pytest.fail(f"devserver ended before printing {text!r}:\n{''.join(self.lines)}")
            self.lines.append(line)
            if text in line:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"No {text!r} within {timeout:.0f} s:\n{''.join(self.lines)}")

    def rest(self) -> str:
        self._thread.join(10)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


def start_devserver(tmp_path: Path, ports: list[int]) -> tuple[subprocess.Popen, Output]:
    """``manage.py devserver`` on ``ports`` with its database and state under ``tmp_path``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DATABASE_URL", "DJANGO_ALLOW_ASYNC"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "devserver",
            "--noreload",
            "--port",
            str(ports[0]),
            "--gateway-port",
            str(ports[1]),
            "--moto-port",
            str(ports[2]),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, Output(process.stdout)


def stop_devserver(process: subprocess.Popen, output: Output) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    output.rest()
    process.stdout.close()


@pytest.fixture
def devserver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Output, list[int], Path]]:
    ports = free_ports(3)
    process, output = start_devserver(tmp_path, ports)
    try:
        yield process, output, ports, tmp_path / "state"
    finally:
        stop_devserver(process, output)


def test_runs_the_stack_and_stops_it_on_ctrl_c(devserver):
    process, output, (site, gateway, moto), state_dir = devserver
    output.wait_for("Press Ctrl-C to stop everything.", START_TIMEOUT)
    text = "".join(output.lines)
    password = (state_dir / "dev-admin-password").read_text().strip()
    assert f"Sign in as:  admin / {password}" in text
    assert f"Demo chat:   http://127.0.0.1:{site}/" in text
    assert f"WebSocket:   ws://127.0.0.1:{gateway}/" in text
    assert all(listening(port) for port in (site, gateway, moto))
    # The demo page answers (sign-in first).
    request = urllib.request.Request(f"http://127.0.0.1:{site}/", method="GET")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(NoRedirect).open(request, timeout=10)
    answer.value.close()
    assert answer.value.code == 302
    assert answer.value.headers["Location"] == "/admin/login/?next=/"

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0, output.rest()
    assert "Stopping…" in output.rest()
    assert not any(listening(port) for port in (site, gateway, moto))


def test_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="local development only"):
        call_command("devserver")


def test_says_which_port_is_taken(tmp_path):
    site, gateway, moto = free_ports(3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", gateway))
        busy.listen()
        with pytest.raises(CommandError, match=f"local gateway port {gateway}"):
            call_command(
                "devserver",
                port=site,
                gateway_port=gateway,
                moto_port=moto,
                state_dir=str(tmp_path),
            )


@pytest.mark.parametrize("host", ["::1", "[::1]", "not a host", ""])
def test_refuses_a_host_that_is_not_an_ipv4_address(host):
    with pytest.raises(CommandError, match="--host must be an IPv4 address"):
        call_command("devserver", host=host)


def test_refuses_a_state_dir_it_cannot_create(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match=f"--state-dir {blocker} cannot be used"):
        call_command("devserver", state_dir=str(blocker))


def test_needs_three_different_ports():
    with pytest.raises(CommandError, match="three different ports"):
        call_command("devserver", port=9000, gateway_port=9000, moto_port=9001)


def test_rejects_a_bad_port_in_the_environment(monkeypatch):
    monkeypatch.setenv("DEVSERVER_PORT", "eighty")
    with pytest.raises(CommandError, match="DEVSERVER_PORT must be a port number"):
        call_command("devserver")


@pytest.mark.django_db
def test_restart_forgets_sockets_of_the_previous_run():
    from dashboard.devstack import forget_previous_sockets
    from wsapp.models import ApiGateway, CleanupRun, WebSocketSession

    gateway = ApiGateway.objects.create(
        api_name="demo", target_base_endpoint="http://127.0.0.1:8000/ws/", api_id="demo123456"
    )
    other = ApiGateway.objects.create(
        api_name="other", target_base_endpoint="https://www.example.com/ws/", api_id="o"
    )
    WebSocketSession.objects.create(connection_id="a=", channel_name="c", api_gateway=gateway)
    WebSocketSession.objects.create(connection_id="b=", channel_name="c", api_gateway=other)
    forget_previous_sockets(gateway)
    assert list(WebSocketSession.objects.values_list("connection_id", flat=True)) == ["b="]
    run = CleanupRun.objects.get()
    assert (run.source, run.status) == ("devserver", CleanupRun.Status.FINISHED)


@pytest.mark.parametrize("option", ["--port", "--gateway-port", "--moto-port"])
@pytest.mark.parametrize("value", ["70000", "0", "-1"])
def test_rejects_a_port_option_out_of_range(option, value):
    with pytest.raises(CommandError, match=rf"{option}: must be between 1 and 65535"):
        call_command("devserver", option, value)


def demo_api_id(output: Output) -> str:
    """The API id from the ``WebSocket: ws://host:port/<api_id>/<stage>`` line."""
    for line in output.lines:
        found = re.search(r"WebSocket:\s+ws://[^/]+/([a-z0-9]+)/", line)
        if found:
            return found.group(1)
    pytest.fail("No WebSocket line in:\n" + "".join(output.lines))


def test_demo_gateway_is_kept_across_restarts(tmp_path):
    ports = free_ports(3)
    runs = []
    for _ in range(2):
        process, output = start_devserver(tmp_path, ports)
        try:
            output.wait_for("Press Ctrl-C to stop everything.", START_TIMEOUT)
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 0, output.rest()
        finally:
            stop_devserver(process, output)
        runs.append(output)

    first, second = (demo_api_id(run) for run in runs)
    assert first == second
    assert "already in sync" in "".join(runs[1].lines)
    assert "already in sync" not in "".join(runs[0].lines)


def test_rejects_a_port_out_of_range_given_as_a_keyword():
    with pytest.raises(CommandError, match="--gateway-port must be between 1 and 65535"):
        call_command("devserver", port=9000, gateway_port=70000, moto_port=9001)
