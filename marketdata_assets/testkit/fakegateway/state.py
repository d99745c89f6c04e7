"""Mutable state of the fake gateway: issued tokens, rate-limit windows, faults, request log.

Rate limits are the gateway docs' table, enforced per token over a sliding window:
``retrieveBars`` 30 per 30 s, every other call 200 per 60 s; beyond them HTTP 429. Tests
shrink them through ``Limits``. Faults target ``rest`` (every REST call), one endpoint
(``retrieveBars``, ``loginKey``, ``search``) or ``hub``, and apply to the next ``count``
requests (all when ``count`` is None):

- ``429`` / ``500``: answer with that status instead;
- ``expire_token``: every issued token stops being valid at once (the next call gets 401);
- ``stall`` (hub): the hub keeps the connection but sends nothing for ``delay_s``;
- ``drop`` (hub): the hub closes every connection (and refuses ``count`` reconnects, if set).

The request log never holds a token or an API key.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any

TARGETS = ("rest", "loginKey", "search", "retrieveBars", "hub", "*")
MODES = ("ok", "429", "500", "expire_token", "stall", "drop")


@dataclass(frozen=True)
class Limits:
    bars: int = 30
    bars_window_s: float = 30.0
    other: int = 200
    other_window_s: float = 60.0
    token_ttl_s: float = 24 * 3600.0


@dataclass(frozen=True)
class Fault:
    mode: str = "ok"
    count: int | None = None
    delay_s: float = 30.0
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count must be >= 1, got {self.count}")


def parse_fault(text: str) -> tuple[str, Fault]:
    """``"retrieveBars=429,count=2"`` / ``"hub=stall,delay_s=20"`` → (target, Fault)."""
    target, sep, rest = text.partition("=")
    if not sep or target not in TARGETS:
        raise ValueError(f"--fault wants target=mode[,count=N][,delay_s=S], target in {TARGETS}; got {text!r}")
    mode, *options = rest.split(",")
    data: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("count", "delay_s", "retry_after"):
            raise ValueError(f"unknown fault option {option!r} (count, delay_s, retry_after)")
        data[key] = int(value) if key == "count" else float(value)
    return target, Fault(mode=mode, **data)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class GatewayState:
    """Thread-safe: handlers, the control API and test code all touch it."""

    def __init__(self, limits: Limits | None = None, faults: dict[str, Fault] | None = None,
                 clock=time.time):
        self.limits = limits or Limits()
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}       # token → expiry (unix s)
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._faults: dict[str, Fault] = {}
        self._log: list[dict[str, Any]] = []
        self.logins = 0
        for target, fault in (faults or {}).items():
            self.set_fault(target, fault)

    # -- tokens ---------------------------------------------------------------------
    def issue_token(self, user: str) -> str:
        now = self._clock()
        exp = now + self.limits.token_ttl_s
        token = ".".join((_b64({"alg": "HS256", "typ": "JWT"}),
                          _b64({"sub": user, "iat": int(now), "exp": exp}), secrets.token_urlsafe(24)))
        with self._lock:
            self._tokens[token] = exp
            self.logins += 1
        return token

    def token_valid(self, token: str | None) -> bool:
        with self._lock:
            exp = self._tokens.get(token or "")
        return exp is not None and exp > self._clock()

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- limits ---------------------------------------------------------------------
    def admit(self, token: str, endpoint: str) -> float | None:
        """Count the call; None when within the limit, else seconds until a slot frees."""
        is_bars = endpoint == "retrieveBars"
        limit = self.limits.bars if is_bars else self.limits.other
        window = self.limits.bars_window_s if is_bars else self.limits.other_window_s
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault((token, "bars" if is_bars else "other"), deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= limit:
                return calls[0] + window - now
            calls.append(now)
            return None

    # -- faults ---------------------------------------------------------------------
    def set_fault(self, target: str, fault: Fault) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown fault target {target!r}; known: {TARGETS}")
        with self._lock:
            for t in (TARGETS[:-1] if target == "*" else (target,)):
                if fault.mode == "ok":
                    self._faults.pop(t, None)
                else:
                    self._faults[t] = fault

    def faults(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {t: asdict(f) for t, f in self._faults.items()}

    def take_fault(self, *targets: str) -> Fault | None:
        """The fault for the first target that has one (consuming one from ``count``)."""
        with self._lock:
            for target in targets:
                fault = self._faults.get(target)
                if fault is None:
                    continue
                if fault.count is not None:
                    if fault.count <= 1:
                        del self._faults[target]
                    else:
                        self._faults[target] = replace(fault, count=fault.count - 1)
                return fault
        return None

    # -- request log ----------------------------------------------------------------
    def record(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        entry = {"endpoint": endpoint, "body": {k: ("***" if k == "apiKey" else v) for k, v in body.items()},
                 "t": self._clock(), "monotonic": time.monotonic(), "status": None, "fault": None}
        with self._lock:
            self._log.append(entry)
        return entry

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._log if endpoint is None or e["endpoint"] == endpoint]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()
