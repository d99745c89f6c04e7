"""Retry timing of the shared HTTP client (see ``client`` for what is retried).

A server's ``Retry-After`` (seconds or an HTTP date, on 429 and 5xx) replaces the
exponential backoff; when it asks for more than ``retry_after_cap_s`` the client stops
retrying instead of sleeping a capped wait that would only meet the same refusal, so
fallback can move on to the next provider.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass

import tenacity


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per request (all of them count against the rate limit) and waits.

    ``limiter_max_wait_s``: how long an attempt may wait for a local rate-limit token
    (None: as long as it takes, the batch behaviour; 0: not at all, the request is refused
    with ``BudgetExhausted`` and fallback moves on). A polling loop passes its own policy
    for its calls with :func:`~marketdata_assets.sources.http.client.call_policy`.
    """

    max_attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    jitter_s: float = 0.5
    retry_after_cap_s: float = 30.0
    limiter_max_wait_s: float | None = None

    @classmethod
    def for_interval(cls, interval_s: float) -> RetryPolicy:
        """A polling loop's policy: never wait for the limiter, never sleep longer than the
        interval (a longer ``Retry-After`` ends the attempt so the next provider serves)."""
        return cls(max_attempts=2, backoff_initial_s=min(0.05, interval_s / 4), backoff_max_s=interval_s / 2,
                   jitter_s=0.0, retry_after_cap_s=interval_s, limiter_max_wait_s=0.0)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds (``"2"``) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class RetryWait(tenacity.wait.wait_base):
    """Retry-After when the server gave one, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy):
        self._cap = policy.retry_after_cap_s
        self._backoff = tenacity.wait_exponential_jitter(
            initial=policy.backoff_initial_s, max=policy.backoff_max_s, jitter=policy.jitter_s
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        retry_after = getattr(retry_state.outcome.exception(), "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self._cap)
        return self._backoff(retry_state)


class RetryAfterBeyondCap(tenacity.stop.stop_base):
    """Stop when the server asks us to wait longer than we are willing to."""

    def __init__(self, cap: float):
        self._cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        retry_after = getattr(retry_state.outcome.exception(), "retry_after", None)
        return retry_after is not None and retry_after > self._cap
