"""Provisioning of API Gateway WebSocket APIs from Django records.

One module for the admin, the management commands and the tests::

    from wsapp import provisioning

    result = provisioning.create(gateway)      # or sync, deploy, rotate_secret, ...
    if not result.ok:
        print(result.message)                  # one line; also in gateway.last_error

    for difference in provisioning.plan(gateway):   # read-only
        print(difference.code, difference.message)

Every operation converges: rerun it after any failure and it reaches the same end
state. See docs/gateway_setup.md.
"""

from __future__ import annotations

from wsapp.provisioning.calls import ProvisioningError, RetryPolicy
from wsapp.provisioning.compare import (
    Code,
    Difference,
    Snapshot,
    compare,
    fetch_snapshot,
)
from wsapp.provisioning.domain import certificate_covers, check_certificate, create_custom_domain
from wsapp.provisioning.operations import (
    ROTATION_GRACE_SECONDS,
    Result,
    create,
    deploy,
    describe,
    differences_summary,
    plan,
    rotate_secret,
    sync,
    teardown,
)

__all__ = [
    "ROTATION_GRACE_SECONDS",
    "Code",
    "Difference",
    "ProvisioningError",
    "Result",
    "RetryPolicy",
    "Snapshot",
    "certificate_covers",
    "check_certificate",
    "compare",
    "create",
    "create_custom_domain",
    "deploy",
    "describe",
    "differences_summary",
    "fetch_snapshot",
    "plan",
    "rotate_secret",
    "sync",
    "teardown",
]
