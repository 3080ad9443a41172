"""Failures injected on purpose, and the record of control-plane calls.

Both are served on the private ``/_local/faults`` and ``/_local/calls``
endpoints so that tests and benchmarks can make provisioning fail at a chosen
step, or make the management API slow and flaky, then check what was called.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from wsapp.localgateway.wire import ERROR_STATUS, ApiError

#: Codes a control-plane fault may answer with.
CONTROL_PLANE_FAULT_CODES = (
    "InternalServerError",
    "ServiceUnavailableException",
    "TooManyRequestsException",
    "BadRequestException",
    "NotFoundException",
    "ConflictException",
    "AccessDeniedException",
)
#: Codes a management-API fault may answer with.
MANAGEMENT_FAULT_CODES = (
    "LimitExceededException",
    "InternalServerError",
    "GoneException",
    "ForbiddenException",
)


class FaultsError(ValueError):
    """A fault description that cannot be used; the message says which key is wrong."""


@dataclass(frozen=True)
class Faults:
    """What to break, as set by ``POST /_local/faults``."""

    #: 1-based numbers of the control-plane calls (counted from the last reset) that fail.
    control_plane_fail_calls: tuple[int, ...] = ()
    #: The error code those calls answer with.
    control_plane_error: str = "InternalServerError"
    #: Extra delay before each control-plane answer.
    control_plane_latency_ms: int = 0
    #: Extra delay before each @connections answer.
    management_latency_ms: int = 0
    #: Share (0 to 1) of @connections calls that fail.
    management_error_rate: float = 0.0
    #: The error code those calls answer with.
    management_error: str = "LimitExceededException"
    #: Seed for the error-rate dice, for repeatable runs.
    seed: int | None = None

    @classmethod
    def from_json(cls, document: Any) -> Faults:
        """Build from the JSON body of ``POST /_local/faults``; raises FaultsError."""
        if not isinstance(document, dict):
            raise FaultsError("The faults must be a JSON object.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(document) - known)
        if unknown:
            raise FaultsError(
                f"Unknown fault key(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        calls = document.get("control_plane_fail_calls", [])
        if not isinstance(calls, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in calls
        ):
            raise FaultsError(
                "control_plane_fail_calls must be a list of call numbers (1 = first)."
            )
        for key in ("control_plane_latency_ms", "management_latency_ms"):
            value = document.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60_000:
                raise FaultsError(f"{key} must be a whole number of milliseconds, 0 to 60000.")
        rate = document.get("management_error_rate", 0.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise FaultsError("management_error_rate must be a number from 0 to 1.")
        control_error = document.get("control_plane_error", "InternalServerError")
        if control_error not in CONTROL_PLANE_FAULT_CODES:
            raise FaultsError(
                f"control_plane_error must be one of {', '.join(CONTROL_PLANE_FAULT_CODES)}."
            )
        management_error = document.get("management_error", "LimitExceededException")
        if management_error not in MANAGEMENT_FAULT_CODES:
            raise FaultsError(
                f"management_error must be one of {', '.join(MANAGEMENT_FAULT_CODES)}."
            )
        seed = document.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FaultsError("seed must be an integer or null.")
        return cls(
            control_plane_fail_calls=tuple(sorted(set(calls))),
            control_plane_error=control_error,
            control_plane_latency_ms=document.get("control_plane_latency_ms", 0),
            management_latency_ms=document.get("management_latency_ms", 0),
            management_error_rate=float(rate),
            management_error=management_error,
            seed=seed,
        )

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["control_plane_fail_calls"] = list(self.control_plane_fail_calls)
        return document


@dataclass
class FaultInjector:
    """Applies the current ``Faults``; thread-safe so tests may change them from outside."""

    faults: Faults = field(default_factory=Faults)
    calls_since_reset: int = 0
    _random: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, faults: Faults) -> None:
        """Replace the faults and restart the call count."""
        with self._lock:
            self.faults = faults
            self.calls_since_reset = 0
            self._random = random.Random(faults.seed)

    def reset(self) -> None:
        self.set(Faults())

    def control_plane_call(self) -> tuple[float, ApiError | None]:
        """Count one control-plane call: (delay in seconds, error to answer or None)."""
        with self._lock:
            self.calls_since_reset += 1
            faults = self.faults
            number = self.calls_since_reset
        error = None
        if number in faults.control_plane_fail_calls:
            code = faults.control_plane_error
            error = ApiError(
                code,
                f"Injected failure of control-plane call {number}.",
                status=ERROR_STATUS[code],
            )
        return faults.control_plane_latency_ms / 1000, error

    def management_call(self) -> tuple[float, ApiError | None]:
        """Roll for one @connections call: (delay in seconds, error to answer or None)."""
        with self._lock:
            faults = self.faults
            failed = faults.management_error_rate > 0 and (
                self._random.random() < faults.management_error_rate
            )
        error = None
        if failed:
            code = faults.management_error
            error = ApiError(code, "Injected management API failure.", status=ERROR_STATUS[code])
        return faults.management_latency_ms / 1000, error

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {**self.faults.to_json(), "calls_since_reset": self.calls_since_reset}


class CallLog:
    """Control-plane calls in the order they arrived (bounded: oldest dropped first)."""

    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._sequence = 0
        self._lock = threading.Lock()

    def record(
        self, method: str, path: str, operation: str | None, status: int, error: str | None
    ) -> None:
        with self._lock:
            self._sequence += 1
            self._entries.append(
                {
                    "seq": self._sequence,
                    "time": time.time(),
                    "method": method,
                    "path": path,
                    "operation": operation,
                    "status": status,
                    "error": error,
                }
            )

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def operations(self) -> list[str | None]:
        """Just the operation names, in order: handy in assertions."""
        return [entry["operation"] for entry in self.entries()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
