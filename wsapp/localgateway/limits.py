"""The quotas the local gateway enforces, with API Gateway's values as defaults."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class Limits:
    """Every bound the local gateway applies.

    The defaults are API Gateway's own quotas (see the facts file); tests shorten
    the timeouts and shrink the buffers so that each limit can be reached quickly.
    """

    #: One message, in either direction (API Gateway: 128 KB, hard).
    max_message_bytes: int = 128 * KIB
    #: One WebSocket frame from a client; a bigger one closes the socket with 1009.
    max_frame_bytes: int = 32 * KIB
    #: Seconds without a message before the gateway closes the socket (10 minutes).
    idle_timeout: float = 600.0
    #: Seconds a connection may stay open at all (2 hours).
    max_connection_duration: float = 7200.0
    #: Upper bound in seconds on every call to an integration (29 s).
    integration_timeout: float = 29.0
    #: Messages queued for one client before @connections POST answers 429.
    send_queue_size: int = 256
    #: Messages from one client being forwarded at once; more wait their turn.
    max_inflight_messages: int = 16
    #: Open sockets across all APIs; a handshake over this answers 429.
    max_connections: int = 10_000
    #: Largest control-plane request body accepted.
    max_control_body_bytes: int = 1024 * KIB
    #: Control-plane calls kept in the call log (oldest dropped first).
    call_log_size: int = 10_000
    #: Seconds to wait for a client's close frame, and for shutdown to finish.
    close_timeout: float = 5.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            # "not value > 0" also refuses NaN; infinity is no limit at all.
            if not number or not value > 0 or value == math.inf:
                raise ValueError(f"Limits.{field.name} must be a positive number, not {value!r}.")
        if self.max_frame_bytes > self.max_message_bytes:
            raise ValueError("Limits.max_frame_bytes cannot exceed Limits.max_message_bytes.")

    def replace(self, **changes: float) -> Limits:
        """A copy with some values changed."""
        return dataclasses.replace(self, **changes)
