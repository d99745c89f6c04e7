"""Catalog steps over the warehouse: symbol sync and asset enrichment (the integrity report
is in ``pipelines/catalog/integrity.py``). The Dagster assets and the daily catalog job call these.

Write rules. ``sync_symbols`` inserts new symbols (and their aliases) in batches of
``batch_size`` rows, one transaction per table and batch, and stops starting batches once
``time_budget_s`` is spent (the rest is reported as pending and added by the next run);
span and activity changes are then upserted in one transaction. ``enrich_assets`` upserts
one row per symbol, flushed every ``FLUSH_EVERY`` symbols; a row is rewritten only when its
content changed or a due refresh got an answer. Re-running either step on unchanged data
and providers writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from marketdata_assets.errors import ConfigError, InvalidInstrument, SchemaMismatch, SourceUnavailable
from marketdata_assets.settings import Settings
from marketdata_assets.sources.http import build_provider
from marketdata_assets.sources.http.client import AuthenticationFailed, NotSupported, ProviderError
from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.transforms.enrichment import (
    ENRICHED_COLUMNS,
    Answer,
    EnrichmentRules,
    content_changed,
    merge_answers,
    not_applicable_row,
    provider_symbol,
    select_for_enrichment,
)
from marketdata_assets.transforms.symbols import SymbolReference, plan_new_symbols, refresh_activity

log = logging.getLogger("marketdata.catalog")
MARKET_DATA_TABLES = ("ticks", "ohlc_bars")
FLUSH_EVERY = 50


def utc(series: pd.Series) -> pd.Series:
    """Timestamps from ``Warehouse.query`` (Unix µs on SQLite, datetimes on PostgreSQL) → UTC."""
    if pd.api.types.is_numeric_dtype(series):
        return pd.to_datetime(series.astype("Int64"), unit="us", utc=True).dt.as_unit("us")
    return pd.to_datetime(series, utc=True).dt.as_unit("us")


def market_data_spans(wh: Warehouse) -> pd.DataFrame:
    """One row per instrument name in ``ticks`` and ``ohlc_bars``: ``rows`` (both tables),
    ``first_ts``, ``last_ts``."""
    parts = [frame for frame in (wh.spans(tbl) for tbl in MARKET_DATA_TABLES) if len(frame)]  # hot and cold
    if not parts:
        return pd.DataFrame({"instrument": pd.Series(dtype=object), "rows": pd.Series(dtype="int64"),
                             "first_ts": pd.Series(dtype="datetime64[us, UTC]"),
                             "last_ts": pd.Series(dtype="datetime64[us, UTC]")})
    both = pd.concat(parts, ignore_index=True)
    return both.groupby("instrument", as_index=False).agg(rows=("n", "sum"), first_ts=("first_ts", "min"),
                                                          last_ts=("last_ts", "max"))


def resolution(wh: Warehouse) -> dict[str, str]:
    """Every name that resolves to a symbol: the symbols themselves and their aliases."""
    names = {s: s for s in wh.read("symbols", columns=["symbol"])["symbol"]}
    aliases = wh.read("symbol_aliases", columns=["alias", "symbol"])
    names.update(zip(aliases["alias"], aliases["symbol"], strict=True))
    return names


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    aliases_added: dict[str, str] = field(default_factory=dict)
    merged: dict[str, list[str]] = field(default_factory=dict)
    filtered: dict[str, str] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    spans_updated: int = 0
    batches: int = 0
    orphan_records: int = 0
    orphan_instruments: list[str] = field(default_factory=list)
    symbols: int = 0
    active_symbols: int = 0


def sync_symbols(wh: Warehouse, ref: SymbolReference, run_id: str, now: pd.Timestamp, *,
                 asset_classes: Iterable[str] = (), venues: Iterable[str] = (), batch_size: int = 500,
                 time_budget_s: float = 300.0, inactive_after_days: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> SyncResult:
    """Add every instrument of the market data that resolves to no symbol, merge spellings,
    refresh spans and (de)activate symbols (see ``transforms.symbols``)."""
    unknown = sorted({c.upper() for c in asset_classes} - ref.asset_classes)
    if unknown:
        raise ConfigError(f"symbols: asset_classes {unknown} are not in the reference data "
                          f"(known: {sorted(ref.asset_classes)})")
    if batch_size < 1:
        raise ConfigError("symbols: batch_size must be >= 1")
    started = clock()
    spans = market_data_spans(wh)
    plan = plan_new_symbols(spans, wh.read("symbols"), wh.read("symbol_aliases"), ref, run_id,
                            asset_classes, venues)
    res = SyncResult(merged=plan.merged, filtered=plan.filtered, invalid=plan.invalid)
    new, aliases = plan.new_symbols, plan.new_aliases
    to_existing = aliases[~aliases["symbol"].isin(new["symbol"])]
    if len(to_existing):
        wh.upsert("symbol_aliases", to_existing, ("alias",))
        res.aliases_added.update(zip(to_existing["alias"], to_existing["symbol"], strict=True))
    for start in range(0, len(new), batch_size):
        if start and clock() - started > time_budget_s:
            res.pending = list(new["symbol"].iloc[start:])
            log.warning("symbols: time budget of %.0f s spent, %d symbols left for the next run",
                        time_budget_s, len(res.pending))
            break
        batch = new.iloc[start:start + batch_size]
        batch_aliases = aliases[aliases["symbol"].isin(batch["symbol"])]
        wh.upsert("symbols", batch, ("symbol",))
        if len(batch_aliases):
            wh.upsert("symbol_aliases", batch_aliases, ("alias",))
        res.added += list(batch["symbol"])
        res.aliases_added.update(zip(batch_aliases["alias"], batch_aliases["symbol"], strict=True))
        res.batches += 1
    names = resolution(wh)
    spans["symbol"] = spans["instrument"].map(names)
    seen = spans.dropna(subset=["symbol"]).groupby("symbol").agg(lo=("first_ts", "min"), hi=("last_ts", "max"))
    current = wh.read("symbols")
    changed, res.deactivated, res.reactivated = refresh_activity(
        current, dict(zip(seen.index, zip(seen["lo"], seen["hi"], strict=True), strict=True)),
        inactive_after_days, now)
    if len(changed):
        wh.upsert("symbols", changed, ("symbol",))
    res.spans_updated = len(changed)
    orphans = spans[spans["symbol"].isna()]
    res.orphan_records, res.orphan_instruments = int(orphans["rows"].sum()), sorted(orphans["instrument"])
    res.symbols = len(current)
    res.active_symbols = int(wh.count("symbols", {"active": 1}))
    return res


class ProviderPool:
    """Provider clients built on first use and kept for the step, so each provider's rate
    limiter and circuit breaker see every request of the run."""

    def __init__(self, settings: Settings, build: Callable = build_provider):
        self._settings, self._build = settings, build
        self._providers: dict = {}

    def get(self, name: str):
        """The client, or ``ConfigError`` naming the missing key variable (never a value)."""
        if name not in self._providers:
            self._providers[name] = self._build(name, self._settings)
        return self._providers[name]

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self._providers.clear()


@dataclass
class EnrichResult:
    attempted: int = 0
    written: int = 0
    unchanged: int = 0
    not_applicable: int = 0
    pending: int = 0
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)   # "provider:outcome" -> count
    failures: dict[str, str] = field(default_factory=dict)  # a sample: symbol -> why it got nothing

    @property
    def outage(self) -> bool:
        """Providers failed and none answered anything about any attempted symbol. A healthy
        provider's definite answer counts, including "unknown symbol" (``refused``) and "no
        metadata" (``empty``): then the chain works and the symbol is what is wrong."""
        answered = sum(n for k, n in self.outcomes.items() if k.endswith((":served", ":refused", ":empty")))
        broken = sum(n for k, n in self.outcomes.items() if k.endswith((":failed", ":not_configured")))
        return self.attempted > 0 and answered == 0 and broken > 0


def ask(pool: ProviderPool, provider: str, symbol: str) -> Answer:
    """One provider's metadata for one symbol, its failure classified (no exception escapes
    except programming errors)."""
    try:
        meta = pool.get(provider).fetch_metadata(symbol)
    except ConfigError as exc:
        return Answer(provider, "not_configured", str(exc))
    except NotSupported as exc:
        return Answer(provider, "unsupported", exc.why)
    except AuthenticationFailed as exc:
        return Answer(provider, "failed", exc.why)
    except ProviderError as exc:  # a healthy provider refusing this symbol (unknown, bad parameter)
        return Answer(provider, "refused", exc.why)
    except SourceUnavailable as exc:
        return Answer(provider, "failed", exc.why)
    except (SchemaMismatch, InvalidInstrument) as exc:
        return Answer(provider, "failed", str(exc))
    return Answer(provider, "served" if meta else "empty", "" if meta else f"no metadata for {symbol}", meta)


def enrich_assets(wh: Warehouse, pool: ProviderPool, rules: EnrichmentRules,
                  mapped: Mapping[str, Mapping[str, str]], run_id: str, now: pd.Timestamp, *,
                  overwrite: bool = False, refresh_after_days: int = 30, time_budget_s: float = 600.0,
                  clock: Callable[[], float] = time.monotonic) -> EnrichResult:
    """Metadata of the active symbols from the providers in priority order (see
    ``transforms.enrichment`` for the merge rule and statuses). ``mapped``: symbol-map
    generics → provider symbols. Raises ``SourceUnavailable`` after writing when providers
    failed and no healthy provider answered at all (an outage, not a quiet empty catalog)."""
    started = clock()
    existing = wh.read("enriched_assets")
    previous = {r["symbol"]: r for r in existing.to_dict(orient="records")}
    to_fetch, na = select_for_enrichment(wh.read("symbols"), existing, rules, now, refresh_after_days, overwrite)
    res = EnrichResult(not_applicable=len(na))
    rows = [not_applicable_row(s, c, now, run_id) for s, c in na.itertuples(index=False)]
    stale_before = now - pd.Timedelta(days=refresh_after_days)
    for i, (symbol, asset_class) in enumerate(to_fetch.itertuples(index=False)):
        if clock() - started > time_budget_s:
            res.pending = len(to_fetch) - i
            log.warning("enrichment: time budget of %.0f s spent, %d symbols left", time_budget_s, res.pending)
            break
        expected, answers, filled = rules.fields[asset_class], [], set()
        for provider in rules.providers[asset_class]:
            if set(expected) <= filled:
                break
            psym = provider_symbol(symbol, asset_class, provider, mapped)
            answer = ask(pool, provider, psym) if psym else Answer(provider, "no_symbol", "no symbol mapped")
            answers.append(answer)
            filled |= set(answer.metadata or {})
            res.outcomes[f"{provider}:{answer.outcome}"] += 1
        res.attempted += 1
        prev = previous.get(symbol)
        row = merge_answers(symbol, asset_class, expected, answers, prev, now, run_id)
        res.statuses[row["status"]] += 1
        if row["status"] == "failed":
            res.failures[symbol] = "; ".join(f"{a.provider} {a.outcome}" for a in answers)
        served = any(a.outcome == "served" for a in answers)
        due = prev is None or overwrite or pd.isna(prev["enriched_at"]) or prev["enriched_at"] < stale_before
        if prev is not None and not served:
            row["enriched_at"] = prev["enriched_at"]  # nothing fetched: still as old (and due) as before
        if content_changed(prev, row) or (served and due):
            rows.append(row)
        else:
            res.unchanged += 1
        if len(rows) >= FLUSH_EVERY:
            res.written += _flush(wh, rows)
    res.written += _flush(wh, rows)
    if res.outage:
        raise SourceUnavailable("metadata providers", f"no metadata for any of {res.attempted} symbols: "
                                + ", ".join(f"{k}={n}" for k, n in sorted(res.outcomes.items())))
    return res


def _flush(wh: Warehouse, rows: list[dict]) -> int:
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=ENRICHED_COLUMNS).astype({"market_cap": "float64"})
    n = wh.upsert("enriched_assets", frame, ("symbol",))
    rows.clear()
    return n
