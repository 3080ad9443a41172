"""Every boto3 client the app uses is built here.

Region: ``settings.AWS_GATEWAY_REGION_NAME``, else ``settings.AWS_REGION_NAME``, else
boto3's own lookup (``AWS_DEFAULT_REGION``, the profile). Profile:
``settings.AWS_IAM_PROFILE`` when set. Timeouts and retries come from
``WEBSOCKETS`` (see ``wsapp.conf``). boto3's ``AWS_ENDPOINT_URL_<SERVICE>``
environment variables keep working because no endpoint is forced unless the
caller passes one. The management API always has its own (each gateway stage has
one), except that ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``, when set, replaces
it for every gateway (a tunnel or proxy in front of one stage).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

from wsapp import conf

_lock = threading.Lock()
_sessions: dict[str, boto3.session.Session] = {}
_clients: dict[tuple, Any] = {}


class AwsConfigurationError(Exception):
    """AWS is not configured well enough to make a call (no region, no credentials)."""


def configured_region(region: str | None = None) -> str:
    """The region to use: an explicit one, then the settings, then boto3's lookup."""
    region = (
        region
        or getattr(settings, "AWS_GATEWAY_REGION_NAME", "")
        or getattr(settings, "AWS_REGION_NAME", "")
        or _session().region_name
        or ""
    )
    return region


def _session() -> boto3.session.Session:
    profile = getattr(settings, "AWS_IAM_PROFILE", "") or ""
    with _lock:
        session = _sessions.get(profile)
        if session is None:
            session = boto3.session.Session(profile_name=profile or None)
            _sessions[profile] = session
        return session


def botocore_config(*, pool_size: int | None = None) -> Config:
    return Config(
        connect_timeout=conf.get("aws_connect_timeout"),
        read_timeout=conf.get("aws_read_timeout"),
        retries={"mode": "standard", "total_max_attempts": conf.get("aws_max_attempts")},
        max_pool_connections=pool_size or conf.get("send_pool_size"),
    )


#: Closing the socket of an ended login runs inside a request API Gateway abandons
#: after 29 s; the default client (5 s connect, 15 s read, 3 attempts) could take a minute.
LOGIN_CLOSE_CONNECT_TIMEOUT = 2
LOGIN_CLOSE_READ_TIMEOUT = 3


def login_close_config() -> Config:
    """One short attempt, for calls made while API Gateway waits on the request."""
    return Config(
        connect_timeout=LOGIN_CLOSE_CONNECT_TIMEOUT,
        read_timeout=LOGIN_CLOSE_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=1,
    )


def client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    pool_size: int | None = None,
    cached: bool = True,
    config: Config | None = None,
) -> Any:
    """Return a boto3 client for ``service``.

    Clients are thread-safe and costly to build, so one is kept per
    (service, region, endpoint, profile, pool size, timeouts, attempts). ``config``
    replaces the configured timeouts and retries for this client. Raises
    ``AwsConfigurationError`` with a one-line explanation when no region is set.
    """
    region_name = configured_region(region)
    if not region_name:
        raise AwsConfigurationError(
            "No AWS region is configured: set AWS_GATEWAY_REGION_NAME (or AWS_REGION_NAME) "
            "in the environment or settings."
        )
    if endpoint_url is None and service == "route53":
        # botocore reads AWS_ENDPOINT_URL_ROUTE_53 (from the service id "Route 53");
        # honour the spelling people usually type too.
        endpoint_url = (
            None
            if os.environ.get("AWS_ENDPOINT_URL_ROUTE_53")
            else os.environ.get("AWS_ENDPOINT_URL_ROUTE53") or None
        )
    config = config or botocore_config(pool_size=pool_size)
    profile = getattr(settings, "AWS_IAM_PROFILE", "") or ""
    key = (
        service,
        region_name,
        endpoint_url,
        profile,
        config.max_pool_connections,
        config.connect_timeout,
        config.read_timeout,
        (config.retries or {}).get("total_max_attempts"),
    )
    session = _session()
    # Building clients concurrently is not thread-safe in botocore: build under the lock.
    with _lock:
        if cached and key in _clients:
            return _clients[key]
        new = session.client(
            service, region_name=region_name, endpoint_url=endpoint_url, config=config
        )
        if cached:
            _clients[key] = new
    return new


def has_credentials() -> bool:
    """Whether boto3's credential chain finds any credentials (they may still be refused).

    Lets an operation say "no credentials" before it starts, instead of on its first call.
    """
    return _session().get_credentials() is not None


def management_client(
    endpoint_url: str, *, region: str | None = None, config: Config | None = None
) -> Any:
    """Client for a gateway stage's @connections API.

    ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`` in the environment wins over
    ``endpoint_url``, as it would for any boto3 client without an explicit endpoint.
    """
    override = os.environ.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "").strip()
    return client(
        "apigatewaymanagementapi",
        region=region,
        endpoint_url=override or endpoint_url,
        config=config,
    )


def clear_cache() -> None:
    """Forget cached sessions and clients (after settings or credentials change)."""
    with _lock:
        _sessions.clear()
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """A short, operator-facing description of an AWS failure (never a traceback)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = error.get("Code") or type(exc).__name__
        message = error.get("Message") or ""
        return f"{code}: {message}".rstrip(": ")
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
