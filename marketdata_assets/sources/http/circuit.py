"""Per-provider circuit breaker, so a provider that is down costs one fast refusal
instead of a timeout (times retries) on every call, and fallback moves on at once.

States: CLOSED (requests flow; consecutive failures are counted) → OPEN after
``failure_threshold`` consecutive failures (every call is refused with ``CircuitOpen``,
no request sent) → HALF_OPEN once ``cooldown_s`` has passed: exactly one trial request
is let through and everyone else is still refused; its success closes the circuit, its
failure opens it again for another cooldown.

What counts as a failure is the caller's decision (``HttpClient`` counts timeouts,
transport errors, 5xx, 429, malformed bodies and rejected credentials; a provider that
answers "unknown symbol" is healthy). Transitions are logged on ``marketdata.http`` and
exported as the ``marketdata_http_breaker_state`` gauge.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from marketdata_assets.errors import CircuitOpen
from marketdata_assets.sources.http.metrics import BREAKER_STATE, CIRCUIT_REJECTED

log = logging.getLogger("marketdata.http")


class BreakerState(enum.Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Consecutive-failure breaker with a single-trial half-open state. Thread-safe."""

    def __init__(
        self,
        provider: str,
        failure_threshold: int,
        cooldown_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        if failure_threshold < 1:
            raise ValueError(f"{provider}: breaker threshold must be >= 1, got {failure_threshold}")
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        BREAKER_STATE.labels(provider).set(BreakerState.CLOSED.value)

    @property
    def state(self) -> BreakerState:
        """The stored state; an OPEN circuit turns HALF_OPEN on the next ``before_call``."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self) -> None:
        """Admit one request or raise ``CircuitOpen`` (no request must be sent then)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            if self._state is BreakerState.OPEN:
                remaining = self._opened_at + self.cooldown_s - self._clock()
                if remaining > 0:
                    CIRCUIT_REJECTED.labels(self.provider).inc()
                    raise CircuitOpen(
                        self.provider,
                        f"circuit open after {self.failure_threshold} consecutive failures; "
                        f"next trial in {remaining:.1f} s",
                    )
                self._transition(BreakerState.HALF_OPEN, f"cooldown of {self.cooldown_s:g} s elapsed")
                self._trial_in_flight = True
                return
            # HALF_OPEN: exactly one trial at a time
            if self._trial_in_flight:
                CIRCUIT_REJECTED.labels(self.provider).inc()
                raise CircuitOpen(self.provider, "circuit half-open and its trial request is in flight")
            self._trial_in_flight = True

    def cancel_call(self) -> None:
        """The admitted call sent nothing (e.g. the local rate limiter refused it): give a
        half-open trial slot back without counting a success or a failure."""
        with self._lock:
            self._trial_in_flight = False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            if self._state is not BreakerState.CLOSED:
                self._transition(BreakerState.CLOSED, "trial request succeeded")

    def record_failure(self, reason: str) -> None:
        """Count a failure; ``reason`` (already free of secrets) goes to the log."""
        with self._lock:
            self._trial_in_flight = False
            if self._state is BreakerState.HALF_OPEN:
                self._opened_at = self._clock()
                self._transition(BreakerState.OPEN, f"trial request failed: {reason}")
                return
            if self._state is BreakerState.OPEN:
                return
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                self._transition(
                    BreakerState.OPEN, f"{self._failures} consecutive failures, last: {reason}"
                )

    def _transition(self, new: BreakerState, why: str) -> None:
        old, self._state = self._state, new
        BREAKER_STATE.labels(self.provider).set(new.value)
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        log.log(level, "circuit %s: %s -> %s (%s)", self.provider, old.name, new.name, why)
