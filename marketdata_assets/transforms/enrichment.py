"""Enrichment wranglers: which symbols need provider metadata, which provider symbol to ask
for, and how the answers of several providers merge into one record. Pure, no I/O.

Merge rule: providers are asked in metadata priority order; each fills the fields still
missing (a field keeps the value of the first provider that supplied it), and asking stops
once every expected field of the asset class is filled. Fields no provider supplied this
time keep their previous value, so an outage never erases good metadata. Status:
``complete`` (every expected field), ``partial`` (some), ``failed`` (none),
``not_applicable`` (asset classes without company metadata: futures, FX, commodities,
indices; no provider is asked).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from marketdata_assets.model.instruments import parse_instrument
from marketdata_assets.sources.http.base import METADATA_KEYS

ENRICHED_COLUMNS = ["symbol", "asset_class", "status", *METADATA_KEYS, "field_providers", "missing_fields",
                    "failed_providers", "enriched_at", "run_id"]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_TEXT = 4000


@dataclass(frozen=True)
class EnrichmentRules:
    fields: Mapping[str, tuple[str, ...]]      # asset class -> expected fields
    providers: Mapping[str, tuple[str, ...]]   # asset class -> providers, metadata priority order
    not_applicable: frozenset[str]

    @classmethod
    def from_document(cls, providers_doc: Mapping) -> EnrichmentRules:
        ranked = sorted((p for p in providers_doc["providers"] if p.get("metadata_priority") is not None),
                        key=lambda p: p["metadata_priority"])
        fields = {c: tuple(f) for c, f in providers_doc["enrichment_fields"].items()}
        return cls(fields=fields,
                   providers={c: tuple(p["name"] for p in ranked if c in p.get("metadata_asset_classes", []))
                              for c in fields},
                   not_applicable=frozenset(providers_doc["enrichment_not_applicable"]))

    def applies(self, asset_class: str) -> bool:
        return asset_class in self.fields


@dataclass(frozen=True)
class Answer:
    """What one provider gave for one symbol."""

    provider: str
    outcome: str            # served | empty | refused | unsupported | no_symbol | not_configured | failed
    reason: str = ""
    metadata: Mapping | None = None


def provider_symbol(symbol: str, asset_class: str, provider: str,
                    mapped: Mapping[str, Mapping[str, str]]) -> str | None:
    """The provider's symbol: the symbol map's when the symbol is a generic there, the base
    currency for crypto on CoinMarketCap, the ticker itself for stocks and ETFs."""
    if symbol in mapped:
        return mapped[symbol].get(provider)
    if asset_class == "CRYPTO":
        return parse_instrument(symbol).base if provider == "coinmarketcap" else None
    return symbol


def select_for_enrichment(symbols: pd.DataFrame, existing: pd.DataFrame, rules: EnrichmentRules,
                          now: pd.Timestamp, refresh_after_days: int, overwrite: bool
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(to_fetch, not_applicable)`` among the active symbols. Fetched: symbols never enriched,
    entries ``partial``/``failed`` (retried every run), entries older than
    ``refresh_after_days``, and every entry when ``overwrite``. ``not_applicable``: symbols of
    such classes without an up-to-date ``not_applicable`` row."""
    active = symbols[symbols["active"].astype(int) == 1][["symbol", "asset_class"]]
    prev = existing.set_index("symbol") if len(existing) else pd.DataFrame(
        columns=["asset_class", "status", "enriched_at"])
    joined = active.join(prev[["asset_class", "status", "enriched_at"]], on="symbol", rsuffix="_prev")
    joined["enriched_at"] = pd.to_datetime(joined["enriched_at"], utc=True)
    applies = joined["asset_class"].map(rules.applies).astype(bool)
    stale = joined["enriched_at"].isna() | (joined["enriched_at"] < now - pd.Timedelta(days=refresh_after_days))
    due = (overwrite | joined["status"].isna() | joined["status"].isin(["partial", "failed"]) | stale
           | (joined["asset_class_prev"] != joined["asset_class"]))
    na_due = (joined["status"] != "not_applicable") | (joined["asset_class_prev"] != joined["asset_class"])
    return (joined[applies & due][["symbol", "asset_class"]].reset_index(drop=True),
            joined[~applies & na_due][["symbol", "asset_class"]].reset_index(drop=True))


def clean_text(value):
    """Provider text without control characters (the warehouse refuses some), bounded in size."""
    if isinstance(value, str):
        return _CONTROL.sub(" ", value)[:MAX_TEXT].strip()
    return value


def merge_answers(symbol: str, asset_class: str, expected: Sequence[str], answers: Sequence[Answer],
                  previous: Mapping | None, now: pd.Timestamp, run_id: str) -> dict:
    """One ``enriched_assets`` row from the providers' answers (see the module's merge rule)."""
    values: dict = {}
    sources: dict[str, str] = {}
    for answer in answers:
        for key, value in (answer.metadata or {}).items():
            if key in METADATA_KEYS and key not in values and value is not None:
                values[key], sources[key] = clean_text(value), answer.provider
    if previous is not None:
        old_sources = _json(previous.get("field_providers"))
        for key in METADATA_KEYS:
            old = previous.get(key)
            if key not in values and old is not None and not (isinstance(old, float) and pd.isna(old)):
                values[key], sources[key] = old, old_sources.get(key, "previous")
    missing = [f for f in expected if f not in values]
    status = "complete" if not missing else ("failed" if len(missing) == len(expected) else "partial")
    return {
        "symbol": symbol, "asset_class": asset_class, "status": status,
        **{k: values.get(k) for k in METADATA_KEYS},
        "field_providers": json.dumps(dict(sorted(sources.items()))),
        "missing_fields": ",".join(missing),
        "failed_providers": json.dumps({a.provider: f"{a.outcome}: {a.reason}" for a in answers
                                        if a.outcome != "served"}),
        "enriched_at": now, "run_id": run_id,
    }


def not_applicable_row(symbol: str, asset_class: str, now: pd.Timestamp, run_id: str) -> dict:
    return {"symbol": symbol, "asset_class": asset_class, "status": "not_applicable",
            **dict.fromkeys(METADATA_KEYS), "field_providers": "{}", "missing_fields": "",
            "failed_providers": "{}", "enriched_at": now, "run_id": run_id}


def content_changed(old: Mapping | None, new: Mapping) -> bool:
    """Whether ``new`` says something ``old`` did not (time, run and failure texts aside)."""
    if old is None:
        return True
    for key in ("asset_class", "status", "missing_fields", *METADATA_KEYS):
        a, b = old.get(key), new.get(key)
        if _blank(a) and _blank(b):
            continue
        if key == "market_cap" and not (_blank(a) or _blank(b)):
            if abs(float(a) - float(b)) > 1e-6 * max(1.0, abs(float(b))):
                return True
        elif a != b:
            return True
    return (_json(old.get("field_providers")) != _json(new.get("field_providers"))
            or set(_json(old.get("failed_providers"))) != set(_json(new.get("failed_providers"))))


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v)) or v == ""


def _json(v) -> dict:
    if isinstance(v, dict):
        return v
    if not v or (isinstance(v, float) and pd.isna(v)):
        return {}
    return json.loads(v)
