"""Calling AWS from provisioning: throttling retries, paging, one-line errors.

API Gateway limits ``CreateDeployment`` to one request per 5 seconds and the domain
name operations to one per 30 seconds, per account. Hitting those limits is normal
during provisioning, so a ``TooManyRequestsException`` is waited out (exponential
backoff with jitter) and retried; only once the policy's total budget is spent does the
call fail, saying to rerun later.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from django.core.exceptions import ValidationError

from wsapp import aws

logger = logging.getLogger("wsapp")

#: Error codes that mean "slow down", not "this request is wrong". Route 53 answers
#: PriorRequestNotComplete while an earlier change to the same zone is still applying.
THROTTLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "ThrottlingException",
        "Throttling",
        "PriorRequestNotComplete",
    }
)
NOT_FOUND_CODES = frozenset({"NotFoundException", "ResourceNotFoundException"})

#: First wait after a throttled call, per operation (seconds). AWS's documented rates:
#: one deployment per 5 s, one domain name change per 30 s; 1 s for everything else.
FIRST_WAIT = {
    "create_deployment": 5.0,
    "create_domain_name": 30.0,
    "update_domain_name": 30.0,
    "delete_domain_name": 30.0,
}


class ProvisioningError(Exception):
    """A provisioning step failed; ``str()`` is one line an operator can act on."""

    def __init__(self, message: str, *, code: str = "", state: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        #: The gateway state to record instead of "failed" (e.g. "out_of_sync").
        self.state = state


@dataclass(frozen=True)
class RetryPolicy:
    """How throttled calls are retried. Tests pass a ``sleep`` that does not wait.

    ``max_total_wait`` bounds the sum of the waits for one call; past it the call
    fails with a message asking to rerun later.
    """

    sleep: Callable[[float], None] = time.sleep
    max_total_wait: float = 300.0
    max_single_wait: float = 60.0
    jitter: Callable[[], float] = field(default=random.random)
    #: What the operator should do once the budget is spent (ends the error message).
    advice: str = "run the operation again in a minute (it resumes where it stopped)"

    def delays(self, operation: str):
        """Yield successive waits for ``operation``: doubling, each with up to +25% jitter."""
        base = FIRST_WAIT.get(operation, 1.0)
        total = 0.0
        attempt = 0
        while True:
            delay = min(self.max_single_wait, base * (2**attempt)) * (1 + 0.25 * self.jitter())
            if total + delay > self.max_total_wait:
                return
            total += delay
            attempt += 1
            yield delay


def describe_exception(exc: BaseException) -> str:
    """One operator-facing line for any failure provisioning expects."""
    if isinstance(exc, ProvisioningError):
        return exc.message
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            "No usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_IAM_PROFILE, or run with an IAM role."
        )
    if isinstance(exc, aws.AwsConfigurationError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return validation_message(exc)
    return aws.error_message(exc)


def validation_message(exc: ValidationError) -> str:
    """Flatten a model ValidationError into one line: 'field: message; ...'."""
    if hasattr(exc, "error_dict"):
        parts = []
        for name, messages in exc.message_dict.items():
            label = "" if name == "__all__" else f"{name}: "
            parts.extend(f"{label}{message}" for message in messages)
        return "Invalid gateway record: " + "; ".join(parts)
    return "Invalid gateway record: " + "; ".join(exc.messages)


#: Exceptions a provisioning operation reports as a failed result instead of raising.
EXPECTED_ERRORS = (
    ProvisioningError,
    ClientError,
    BotoCoreError,
    aws.AwsConfigurationError,
    ValidationError,
)


class AwsCaller:
    """A boto3 client plus the retry policy; turns AWS errors into ProvisioningError."""

    def __init__(self, client: Any, retry: RetryPolicy) -> None:
        self.client = client
        self.retry = retry

    def call(self, operation: str, what: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """Call ``client.<operation>(**kwargs)``; ``what`` names the step in errors.

        With ``missing_ok`` a NotFound answer returns None (deleting something already
        gone, or checking whether a recorded id still exists).
        """
        delays = self.retry.delays(operation)
        while True:
            try:
                response = getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                code = aws.error_code(exc)
                if missing_ok and code in NOT_FOUND_CODES:
                    return None
                if code in THROTTLE_CODES:
                    delay = next(delays, None)
                    if delay is not None:
                        logger.info("AWS throttled %s; retrying in %.1f s", operation, delay)
                        self.retry.sleep(delay)
                        continue
                    raise ProvisioningError(
                        f"{what}: AWS kept throttling {operation} for "
                        f"{self.retry.max_total_wait:.0f} s; {self.retry.advice}.",
                        code=code,
                    ) from exc
                raise ProvisioningError(f"{what}: {aws.error_message(exc)}", code=code) from exc
            except (NoCredentialsError, PartialCredentialsError):
                raise
            except BotoCoreError as exc:
                raise ProvisioningError(f"{what}: {aws.error_message(exc)}") from exc
            response.pop("ResponseMetadata", None)
            return response

    def items(self, operation: str, what: str, **kwargs: Any) -> list[dict]:
        """Every item of a paged ``get_*`` listing (``Items`` + ``NextToken``)."""
        items: list[dict] = []
        token = None
        while True:
            page = self.call(operation, what, **kwargs, **({"NextToken": token} if token else {}))
            items.extend(page.get("Items") or [])
            token = page.get("NextToken")
            if not token:
                return items
