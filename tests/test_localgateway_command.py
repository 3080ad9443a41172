"""``manage.py runlocalgateway`` as a developer runs it: a real process, a real port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers.localgateway import boto3_client

BASE_DIR = Path(__file__).resolve().parent.parent


def read_line(stream, timeout: float = 20.0) -> str:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(stream.readline).result(timeout=timeout)


def test_command_serves_until_interrupted_and_saves_state(tmp_path):
    state_file = tmp_path / "gateway.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runlocalgateway",
            "--port",
            "0",
            "--state",
            str(state_file),
        ],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = read_line(process.stdout)
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        client = boto3_client("apigatewayv2", url)
        api_id = client.create_api(
            Name="cli", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
        )["ApiId"]
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert "stopped" in stdout
    assert api_id in json.loads(state_file.read_text())["apis"]


def test_command_refuses_bad_limits_with_a_clear_error():
    with pytest.raises(CommandError, match="idle_timeout must be a positive number"):
        call_command("runlocalgateway", "--idle-timeout", "0")


@pytest.mark.parametrize(
    "option", ["--idle-timeout", "--max-connection-duration", "--integration-timeout"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_command_refuses_limits_that_are_not_positive_numbers(option, value):
    with pytest.raises(CommandError, match="must be a positive number"):
        call_command("runlocalgateway", option, value)


def test_command_refuses_a_state_file_it_could_never_save(tmp_path):
    with pytest.raises(CommandError, match="does not exist, so the state could never be saved"):
        call_command("runlocalgateway", "--state", str(tmp_path / "missing" / "state.json"))
    with pytest.raises(CommandError, match="is a folder: give the path of a file"):
        call_command("runlocalgateway", "--state", str(tmp_path))


def test_command_refuses_an_empty_host():
    with pytest.raises(CommandError, match="--host is empty"):
        call_command("runlocalgateway", "--host", " ")


def test_command_names_an_address_it_cannot_listen_on():
    with pytest.raises(CommandError, match="Check --host: it must be an address of this machine"):
        call_command("runlocalgateway", "--host", "192.0.2.123", "--port", "0")


@pytest.mark.parametrize("port", ["70000", "-1", "eighty"])
def test_command_refuses_a_port_out_of_range(port):
    with pytest.raises(CommandError, match=r"--port: must be"):
        call_command("runlocalgateway", "--port", port)


def test_gateway_refuses_a_port_out_of_range():
    from wsapp.localgateway import LocalGateway

    with pytest.raises(ValueError, match=r"between 0 .* and 65535, not 70000"):
        LocalGateway(port=70000)


def test_command_names_the_damaged_entry_of_a_state_file(tmp_path):
    state_file = tmp_path / "gateway.json"
    state_file.write_text(json.dumps({"version": 1, "apis": {"x": 5}, "domains": {}}))

    with pytest.raises(CommandError) as excinfo:
        call_command("runlocalgateway", "--port", "0", "--state", str(state_file))

    message = str(excinfo.value)
    assert "apis['x'] is int, not an object" in message
    assert "\n" not in message
