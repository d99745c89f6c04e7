"""Client-side rate limiting, so we stay under each provider's quota instead of
discovering it through 429s (Alpha Vantage even burns its daily quota on throttled calls).

The providers count requests per *rolling* window (Alpha Vantage: 5 per minute). A
classic continuously refilled bucket lets up to twice the limit through in one window
(a full bucket, then the refill), so this bucket is stricter: it holds ``limit`` tokens
and a spent token comes back exactly ``window_s`` after it was spent. Equivalently, a
sliding-window log: at most ``limit`` acquisitions in any interval of ``window_s``.

The provider counts arrivals, we count departures: a request that leaves on time but
arrives late (scheduling, a slow connect) could land in the provider's next window
together with ones that left a full window later. So a token comes back ``margin_s``
after the window (default 2 % of it, at most 1 s: 1.2 s for a one-minute quota).

Clock and sleep are injected so tests run deterministically without real waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.metrics import RATE_LIMIT_WAIT

log = logging.getLogger("marketdata.http")


class BudgetExhausted(RateLimited):
    """The local limiter refused a request without sending it (the provider's budget is
    spent for now). Not a provider failure: the breaker does not count it and the client
    does not retry it; fallback moves on to the next provider."""


class RateLimiter:
    """Token bucket of ``limit`` tokens, each returning ``window_s + margin_s`` after use.
    Thread-safe."""

    def __init__(
        self,
        provider: str,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin_s: float | None = None,
    ):
        if limit < 1:
            raise ValueError(f"{provider}: rate limit must be >= 1, got {limit}")
        if window_s <= 0:
            raise ValueError(f"{provider}: rate window must be > 0 s, got {window_s}")
        self.provider = provider
        self.limit = limit
        self.window_s = window_s
        self.margin_s = min(1.0, 0.02 * window_s) if margin_s is None else margin_s
        self._clock = clock
        self._sleep = sleep
        self._spent: deque[float] = deque()
        self._lock = threading.Lock()

    def _try(self) -> float:
        """Take a token and return 0.0, or return the seconds until one comes back."""
        with self._lock:
            now = self._clock()
            hold = self.window_s + self.margin_s
            while self._spent and self._spent[0] + hold <= now:
                self._spent.popleft()
            if len(self._spent) < self.limit:
                self._spent.append(now)
                return 0.0
            return self._spent[0] + hold - now

    def try_acquire(self) -> bool:
        """Take a token if one is free now; never waits (for a polling loop that would rather
        use the next provider than queue)."""
        return self._try() == 0.0

    def remaining(self) -> int:
        """Tokens free right now (nothing is taken)."""
        with self._lock:
            now, hold = self._clock(), self.window_s + self.margin_s
            return self.limit - sum(1 for t in self._spent if t + hold > now)

    def acquire(self, max_wait_s: float | None = None) -> float:
        """Block until a token is free; return the seconds waited.

        With ``max_wait_s``, raise ``BudgetExhausted`` (a ``RateLimited``) instead of waiting
        longer than that (for callers that would rather fall back to another provider than
        queue); ``max_wait_s=0`` is the non-blocking check.
        """
        waited = 0.0
        while True:
            wait = self._try()
            if wait == 0.0:
                if waited:
                    RATE_LIMIT_WAIT.labels(self.provider).inc(waited)
                return waited
            if max_wait_s is not None and waited + wait > max_wait_s:
                raise BudgetExhausted(
                    self.provider,
                    f"local limit of {self.limit} requests per {self.window_s:g} s reached",
                    retry_after=wait,
                )
            log.debug("%s: rate limit reached, waiting %.3f s", self.provider, wait)
            self._sleep(wait)
            waited += wait
