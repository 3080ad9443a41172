"""``manage.py checkGateway [--pk N] [--timeout S]``: the health checks on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.helpers.health import (  # noqa: F401  (fixtures)
    HEALTH_URLS,
    aws_gateway,
    blackhole,
    health_stack,
    local_gateway,
    make_local_gateway,
    moto_aws,
    moto_server,
    provision,
)
from wsapp.models import ApiGateway

pytestmark = pytest.mark.urls(HEALTH_URLS)

ROOT = Path(__file__).resolve().parent.parent


def check_gateway(*args: str) -> str:
    out = StringIO()
    call_command("checkGateway", *args, stdout=out)
    return out.getvalue()


def test_healthy_gateway_passes_every_check(transactional_db, live_server, provision):
    # The live server answers the reachability probe (wsapp.H113).
    gateway = provision(endpoint=f"{live_server.url}/ws/")
    output = check_gateway("--pk", str(gateway.pk))
    assert "PASS wsapp.H101 [health] Gateway is created in AWS" in output
    assert "PASS wsapp.H301 [health] Management API is reachable" in output
    # --pk checks the gateway only: no site checks.
    assert "wsapp.H001" not in output
    assert "PASS wsapp.H113 [health] Django answers at the target endpoint" in output
    assert output.rstrip().endswith("9 passed, 0 warned, 0 failed")


def test_failed_check_prints_evidence_fix_and_doc_and_exits_1(
    transactional_db, live_server, health_stack, provision
):
    gateway = provision(endpoint=f"{live_server.url}/ws/", routes={})
    health_stack.apigw().delete_api(ApiId=gateway.api_id)
    out = StringIO()
    with pytest.raises(CommandError, match=r"4 check\(s\) failed") as raised:
        call_command("checkGateway", "--pk", str(gateway.pk), stdout=out)
    assert raised.value.returncode == 1
    output = out.getvalue()
    assert "FAIL wsapp.H101 [health] Gateway is created in AWS" in output
    assert f"API {gateway.api_id} no longer exists in AWS" in output
    assert "fix: The recorded API is gone" in output
    assert "see: docs/troubleshooting.md#connection-fails-immediately" in output
    assert "5 passed, 0 warned, 4 failed" in output


def test_unknown_pk_names_the_gateways_that_exist(db):
    gateway = ApiGateway.objects.create(
        api_name="only", target_base_endpoint="http://localhost/ws/"
    )
    with pytest.raises(
        CommandError, match=rf"No gateway has pk=999\. Gateways: {gateway.pk} \(only\)\."
    ):
        check_gateway("--pk", "999")


def test_unknown_pk_without_any_gateway(db):
    with pytest.raises(CommandError, match=r"No gateway has pk=1\. No gateway exists yet\."):
        check_gateway("--pk", "1")


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_timeout_must_be_positive(db, value):
    with pytest.raises(CommandError, match="--timeout must be a positive number of seconds"):
        check_gateway("--timeout", value)


SCRIPT = textwrap.dedent(
    """
    import sys

    import django
    from django.core.management import call_command, execute_from_command_line

    django.setup()
    call_command("migrate", verbosity=0)
    execute_from_command_line(["manage.py", "checkGateway", *sys.argv[1:]])
    """
)


def test_hung_check_neither_hangs_the_process_nor_hides_the_failure(blackhole, tmp_path):
    """The real command, in its own process: STS never answers.

    The check times out after 0.5 s, the command exits with status 1, and the
    thread still stuck in the call does not keep the interpreter alive.
    """
    script = tmp_path / "run_check_gateway.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": "sqlite://:memory:",
        "AWS_ENDPOINT_URL_STS": blackhole,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, str(script), "--timeout", "0.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert finished.returncode == 1, finished.stderr
    assert "FAIL wsapp.H001 AWS credentials are valid" in finished.stdout
    assert "No answer within 0.5 s" in finished.stdout
    assert "CommandError: 1 check(s) failed" in finished.stderr
    # botocore would wait 15 s per attempt for an answer; the process does not.
    assert elapsed < 12, f"the command took {elapsed:.1f} s"
