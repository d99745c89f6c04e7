"""Mutable state of a fake provider server: injected faults and the request log.

Faults are set per provider at start-up (CLI ``--fault``) or at runtime
(``POST /_control/faults``) and apply to the next ``count`` requests (all requests when
``count`` is None). The request log records arrival times so tests can check, from the
server's side, how many requests each provider received per window. API keys are
redacted from the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

PROVIDERS = ("yahoo", "alphavantage", "twelvedata", "polygon", "coinmarketcap")
MODES = ("ok", "429", "500", "timeout", "malformed", "empty", "401")
SECRET_PARAMS = frozenset({"apikey", "cmc_pro_api_key"})


@dataclass(frozen=True)
class Fault:
    mode: str = "ok"
    retry_after: float | None = None  # seconds, sent as Retry-After on 429/500
    count: int | None = None          # requests affected; None = until changed
    delay_s: float = 30.0             # how long "timeout" holds the answer back

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count must be >= 1, got {self.count}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(
            mode=str(data.get("mode", "ok")),
            retry_after=None if data.get("retry_after") is None else float(data["retry_after"]),
            count=None if data.get("count") is None else int(data["count"]),
            delay_s=float(data.get("delay_s", 30.0)),
        )


def parse_fault(text: str) -> tuple[str, Fault]:
    """``"yahoo=429,retry_after=1,count=3"`` → ("yahoo", Fault("429", 1.0, 3))."""
    provider, sep, rest = text.partition("=")
    if not sep or provider not in (*PROVIDERS, "*"):
        raise ValueError(f"--fault wants provider=mode[,key=value...], provider in {PROVIDERS}; got {text!r}")
    mode, *options = rest.split(",")
    data: dict[str, Any] = {"mode": mode}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("retry_after", "count", "delay_s"):
            raise ValueError(f"unknown fault option {option!r} (retry_after, count, delay_s)")
        data[key] = value
    return provider, Fault.from_dict(data)


class FakeState:
    """Thread-safe: the control API, the handlers and test code all touch it."""

    def __init__(self, faults: dict[str, Fault] | None = None, clock: Callable[[], float] | None = None):
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._log: list[dict[str, Any]] = []
        self.clock = clock  # live mode (epoch s): nothing after it is served, its minute is forming
        self._corrections: dict[tuple[str, int], dict[str, float]] = {}
        for provider, fault in (faults or {}).items():
            self.set_fault(provider, fault)

    def set_fault(self, provider: str, fault: Fault) -> None:
        targets = PROVIDERS if provider == "*" else (provider,)
        if any(p not in PROVIDERS for p in targets):
            raise ValueError(f"unknown provider {provider!r}; known: {PROVIDERS}")
        with self._lock:
            for target in targets:
                if fault.mode == "ok":
                    self._faults.pop(target, None)
                else:
                    self._faults[target] = fault

    def now(self) -> float | None:
        return None if self.clock is None else float(self.clock())

    def correct(self, instrument: str, minute_epoch_s: int, **values: float) -> None:
        """From now on every provider serves the 1m bar of ``instrument`` (generic name)
        starting at ``minute_epoch_s`` with these field values (a late revision)."""
        with self._lock:
            self._corrections[(instrument, int(minute_epoch_s))] = dict(values)

    def corrections(self) -> dict[tuple[str, int], dict[str, float]]:
        with self._lock:
            return dict(self._corrections)

    def faults(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {p: asdict(f) for p, f in self._faults.items()}

    def take_fault(self, provider: str) -> Fault | None:
        """The fault to apply to this request (consuming one from ``count``)."""
        with self._lock:
            fault = self._faults.get(provider)
            if fault is None or fault.count is None:
                return fault
            if fault.count <= 1:
                del self._faults[provider]
            else:
                self._faults[provider] = replace(fault, count=fault.count - 1)
            return fault

    def record(self, provider: str, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        entry = {
            "provider": provider,
            "method": method,
            "path": path,
            "query": {k: ("***" if k.lower() in SECRET_PARAMS else v) for k, v in query.items()},
            "t": time.time(),
            "monotonic": time.monotonic(),
            "clock": self.now(),  # the live-mode clock at arrival (None without one)
            "status": None,
            "fault": None,
        }
        with self._lock:
            self._log.append(entry)
        return entry

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._log if provider is None or e["provider"] == provider]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()
