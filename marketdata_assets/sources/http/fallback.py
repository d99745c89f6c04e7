"""Priority fallback across providers: the first healthy provider serves, and the
caller learns who served and why the ones before it did not.

A provider is passed over when it has no symbol for the instrument, its circuit is
open, it is rate limited or failing after its own retries, its answer does not parse,
or it returns no data (an empty frame is not an answer when another provider may have
the bars). Programming errors (anything that is not a ``MarketDataError`` about the
source) propagate: a bug must not masquerade as an outage.

If nobody serves, ``AllProvidersFailed`` (a ``SourceUnavailable``) lists every
provider's reason; these reasons come from our own typed errors and carry no keys.
``only_empty`` tells a no-data day (holiday, every provider answered "nothing") from an
outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd

from marketdata_assets.errors import (
    CircuitOpen,
    InvalidInstrument,
    RateLimited,
    SchemaMismatch,
    SourceUnavailable,
)
from marketdata_assets.sources.http.base import Provider, Timeframe
from marketdata_assets.sources.http.client import NotSupported
from marketdata_assets.sources.http.ratelimit import BudgetExhausted

log = logging.getLogger("marketdata.http")

SymbolFor = Mapping[str, str] | Callable[[str], "str | None"]
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    provider: str
    outcome: str  # served | empty | no_symbol | circuit_open | budget | rate_limited | unsupported | failed | ...
    reason: str
    elapsed_s: float


class AllProvidersFailed(SourceUnavailable):
    """No provider in the chain could serve; ``attempts`` says why, provider by provider."""

    def __init__(self, subject: str, attempts: Sequence[Attempt]):
        self.attempts = list(attempts)
        reasons = "; ".join(f"{a.provider}: {a.reason}" for a in attempts) or "no provider in the chain"
        super().__init__("providers", f"no provider could serve {subject}: {reasons}")

    @property
    def only_empty(self) -> bool:
        """Every provider that answered said "no data" (none failed)."""
        answered = [a for a in self.attempts if a.outcome not in ("no_symbol", "unsupported")]
        return bool(answered) and all(a.outcome == "empty" for a in answered)


def _symbol(symbol_for_provider: SymbolFor, provider: str) -> str | None:
    if isinstance(symbol_for_provider, Mapping):
        return symbol_for_provider.get(provider)
    return symbol_for_provider(provider)


def _classify(exc: Exception) -> str:
    if isinstance(exc, CircuitOpen):
        return "circuit_open"
    if isinstance(exc, BudgetExhausted):
        return "budget"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, NotSupported):
        return "unsupported"
    if isinstance(exc, SchemaMismatch):
        return "schema_mismatch"
    if isinstance(exc, InvalidInstrument):
        return "invalid_symbol"
    return "failed"


def _first_serving(
    providers: Sequence[Provider],
    symbol_for_provider: SymbolFor,
    call: Callable[[Provider, str], T],
    is_empty: Callable[[T], bool],
    subject: str,
) -> tuple[T, str, list[Attempt]]:
    attempts: list[Attempt] = []
    for provider in providers:
        symbol = _symbol(symbol_for_provider, provider.name)
        if not symbol:
            attempts.append(Attempt(provider.name, "no_symbol", "no symbol mapped", 0.0))
            continue
        started = time.monotonic()
        try:
            result = call(provider, symbol)
        except (SourceUnavailable, SchemaMismatch, InvalidInstrument) as exc:
            reason = getattr(exc, "why", None) or str(exc)
            attempts.append(Attempt(provider.name, _classify(exc), reason, time.monotonic() - started))
            log.warning("%s: %s passed over (%s): %s", subject, provider.name, attempts[-1].outcome, reason)
            continue
        elapsed = time.monotonic() - started
        if is_empty(result):
            attempts.append(Attempt(provider.name, "empty", f"no data for {symbol}", elapsed))
            log.info("%s: %s has no data for %s", subject, provider.name, symbol)
            continue
        attempts.append(Attempt(provider.name, "served", f"served {symbol}", elapsed))
        log.info("%s: served by %s after %d passed over", subject, provider.name, len(attempts) - 1)
        return result, provider.name, attempts
    raise AllProvidersFailed(subject, attempts)


def fetch_with_fallback(
    providers_in_priority: Sequence[Provider],
    symbol_for_provider: SymbolFor,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
    *,
    instrument: str | None = None,
) -> tuple[pd.DataFrame, str, list[Attempt]]:
    """Bars from the first provider that serves a non-empty frame.

    ``symbol_for_provider`` maps a provider name to its symbol (a mapping such as
    ``SymbolMap.provider_symbols("NAS100")`` or a function); providers without one are
    skipped. Returns ``(frame, provider_name, attempts)``; the frame's ``provider`` and
    ``request`` columns label every row with where it came from.
    """
    subject = f"{instrument or 'bars'} {timeframe} [{start.isoformat()}, {end.isoformat()})"
    return _first_serving(
        providers_in_priority,
        symbol_for_provider,
        lambda p, s: p.fetch_bars(s, timeframe, start, end),
        lambda frame: frame.empty,
        subject,
    )


def fetch_metadata_with_fallback(
    providers_in_priority: Sequence[Provider],
    symbol_for_provider: SymbolFor,
    *,
    instrument: str | None = None,
) -> tuple[dict[str, Any], str, list[Attempt]]:
    """Instrument metadata from the first provider that knows anything about it."""
    return _first_serving(
        providers_in_priority,
        symbol_for_provider,
        lambda p, s: p.fetch_metadata(s),
        lambda meta: not meta,
        f"{instrument or 'metadata'} metadata",
    )
