"""Symbol catalog wranglers: canonical names, parsed attributes, merges and (de)activation.

Pure functions over frames and the reference documents; no I/O.

Canonical name: a broker symbol of the symbol map resolves to its generic name
(``US100.e`` → ``NAS100``); a future is ``ROOT + month code + two-digit year``
(``ESZ24``, ``esz24``, ``ESZ24-CME``, ``ESZ24_FUT_CME`` → ``ESZ24``); anything else is
upper-cased and loses trailing venue suffixes (``-NYSE``, ``.IS``) that name a market or a
venue alias of the reference data. Spellings that are not canonical become aliases, so a
market-data row always resolves to exactly one symbol.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import parse_instrument, validate_instrument

_SUFFIX = re.compile(r"[-_.](?P<token>[A-Z0-9]+)$")
_FUTURE_SUFFIX_TOKENS = frozenset({"FUT"})
SYMBOL_MAP_CLASSES = {"index": "INDEX", "commodity": "COMMODITY", "fx": "FOREX", "crypto": "CRYPTO",
                      "equity": "STOCK", "etf": "ETF"}
SYMBOL_COLUMNS = ["symbol", "asset_class", "market", "venue", "root", "month_code", "expiry", "base", "quote",
                  "active", "first_ts", "last_ts", "deactivated_at", "reference_version", "run_id"]


@dataclass(frozen=True)
class SymbolReference:
    """What symbol parsing needs from the reference data (built by ``from_documents``)."""

    version: str
    asset_classes: frozenset[str]
    market_classes: Mapping[str, str]          # market code -> its asset class
    market_overrides: Mapping[str, str]        # SYMBOL -> market (package, then settings)
    class_overrides: Mapping[str, str]         # SYMBOL -> asset class (ETFs...)
    venue_aliases: Mapping[str, str]           # suffix token -> market code
    broker_aliases: Mapping[str, str] = field(default_factory=dict)   # BROKER SYMBOL -> generic
    generic_classes: Mapping[str, str] = field(default_factory=dict)  # generic -> asset class

    @classmethod
    def from_documents(cls, markets_doc: Mapping, symbol_records: Iterable[Mapping] = (),
                       settings_overrides: Mapping[str, str] | None = None) -> SymbolReference:
        """``markets_doc``: ``reference/markets.json``; ``symbol_records``: one mapping per
        symbol-map instrument (``generic``, ``broker``, ``asset_class``); ``settings_overrides``:
        ``MARKETDATA_INSTRUMENT_MARKETS``, which wins over the package's overrides."""
        brokers, classes = {}, {}
        for rec in symbol_records:
            if rec.get("broker"):
                brokers[str(rec["broker"]).upper()] = rec["generic"]
            classes[rec["generic"]] = SYMBOL_MAP_CLASSES.get(str(rec.get("asset_class", "")).lower(), "STOCK")
        return cls(
            version=str(markets_doc["version"]),
            asset_classes=frozenset(c["code"] for c in markets_doc["asset_classes"]),
            market_classes={m["code"]: m["asset_class"] for m in markets_doc["markets"]},
            market_overrides={**{k.upper(): v for k, v in markets_doc.get("instrument_overrides", {}).items()},
                              **{k.upper(): v for k, v in (settings_overrides or {}).items()}},
            class_overrides={k.upper(): v for k, v in markets_doc.get("asset_class_overrides", {}).items()},
            venue_aliases={k.upper(): v for k, v in markets_doc.get("venue_aliases", {}).items()},
            broker_aliases=brokers, generic_classes=classes,
        )

    @property
    def venue_tokens(self) -> frozenset[str]:
        return frozenset(self.market_classes) | frozenset(self.venue_aliases)


def canonical_symbol(name: str, ref: SymbolReference) -> tuple[str, str | None]:
    """``(canonical name, reason)``; reason is None when ``name`` already is canonical,
    else ``broker``, ``case`` or ``suffix``. Raises ``InvalidInstrument`` for unsafe names."""
    validate_instrument(name)
    upper = name.upper()
    if upper in ref.broker_aliases:
        canon = ref.broker_aliases[upper]
        return canon, None if canon == name else "broker"
    info = parse_instrument(name)
    if info.asset_class == "FUTURE":
        canon = f"{info.root}{info.month_code}{info.expiry_year % 100:02d}"
    else:
        canon = upper
        while (m := _SUFFIX.search(canon)) and m.group("token") in ref.venue_tokens and m.start() > 0:
            canon = canon[: m.start()]
    if canon == name:
        return canon, None
    return canon, "case" if canon == upper else "suffix"


def _suffix_venue(name: str, ref: SymbolReference) -> str | None:
    """The venue a spelling names in its suffix (``NQH24-CME`` → ``CME``, ``GCJ24_FUT_COMEX`` → ``COMEX``)."""
    m = _SUFFIX.search(name.upper())
    if m and m.start() > 0 and m.group("token") not in _FUTURE_SUFFIX_TOKENS \
            and m.group("token") in ref.venue_tokens:
        return m.group("token")
    return None


def symbol_attributes(canonical: str, spellings: Iterable[str], ref: SymbolReference) -> dict:
    """Parsed attributes of a symbol: asset class, market, venue (from a spelling's suffix, else
    the market), futures root / month code / expiry, FX and crypto base / quote."""
    info = parse_instrument(canonical, dict(ref.market_overrides))
    venue = next((v for v in (_suffix_venue(s, ref) for s in spellings) if v), None)
    market = info.market
    venue_market = ref.venue_aliases.get(venue, venue) if venue else None
    # a suffix names the market of a stock (THYAO.IS → BIST); a future's root already does
    if venue_market in ref.market_classes and info.asset_class != "FUTURE" \
            and canonical.upper() not in ref.market_overrides:
        market = venue_market
    asset_class = (ref.class_overrides.get(canonical.upper()) or ref.generic_classes.get(canonical)
                   or (ref.market_classes[market] if info.asset_class == "STOCK" and market in ref.market_classes
                       else info.asset_class))
    expiry = info.expiry
    return {
        "symbol": canonical, "asset_class": asset_class, "market": market, "venue": venue or market,
        "root": info.root, "month_code": info.month_code, "expiry": expiry.isoformat() if expiry else None,
        "base": info.base, "quote": info.quote,
    }


@dataclass
class SymbolPlan:
    new_symbols: pd.DataFrame                        # SYMBOL_COLUMNS, one row per new canonical symbol
    new_aliases: pd.DataFrame                        # alias, symbol, reason, run_id
    merged: dict[str, list[str]]                     # canonical -> its spellings, where several were seen
    filtered: dict[str, str] = field(default_factory=dict)   # spelling -> why it was not added
    invalid: dict[str, str] = field(default_factory=dict)    # spelling -> validation error


def plan_new_symbols(observed: pd.DataFrame, symbols: pd.DataFrame, aliases: pd.DataFrame,
                     ref: SymbolReference, run_id: str, asset_classes: Iterable[str] = (),
                     venues: Iterable[str] = ()) -> SymbolPlan:
    """Symbols and aliases to add for the instrument names in ``observed`` (columns
    ``instrument, first_ts, last_ts``) that resolve to nothing yet. Names sharing a canonical
    form become one symbol; a name whose canonical symbol exists becomes an alias of it.
    ``asset_classes`` / ``venues`` (empty = all) restrict which new symbols are added."""
    known = set(symbols["symbol"]) if len(symbols) else set()
    alias_of = dict(zip(aliases["alias"], aliases["symbol"], strict=True)) if len(aliases) else {}
    wanted_classes, wanted_venues = {c.upper() for c in asset_classes}, {v.upper() for v in venues}
    groups: dict[str, list[tuple[str, str | None]]] = {}
    new_aliases, invalid = [], {}
    for name in sorted(observed["instrument"]):
        if name in known or name in alias_of:
            continue
        try:
            canon, reason = canonical_symbol(name, ref)
        except InvalidInstrument as exc:
            invalid[name] = exc.why
            continue
        if canon in known:
            new_aliases.append({"alias": name, "symbol": canon, "reason": reason or "case", "run_id": run_id})
        else:
            groups.setdefault(canon, []).append((name, reason))
    spans = observed.set_index("instrument")
    rows, filtered, merged = [], {}, {}
    for canon, members in sorted(groups.items()):
        names = [n for n, _ in members]
        attrs = symbol_attributes(canon, names, ref)
        if wanted_classes and attrs["asset_class"] not in wanted_classes:
            filtered.update({n: f"asset class {attrs['asset_class']} not in {sorted(wanted_classes)}" for n in names})
            continue
        if wanted_venues and not wanted_venues & {attrs["venue"], attrs["market"]}:
            filtered.update({n: f"venue {attrs['venue']} not in {sorted(wanted_venues)}" for n in names})
            continue
        rows.append({**attrs, "active": 1, "first_ts": spans.loc[names, "first_ts"].min(),
                     "last_ts": spans.loc[names, "last_ts"].max(), "deactivated_at": pd.NaT,
                     "reference_version": ref.version, "run_id": run_id})
        new_aliases.extend({"alias": n, "symbol": canon, "reason": r, "run_id": run_id} for n, r in members if r)
        if len(names) > 1:
            merged[canon] = names
    for alias in new_aliases:
        if alias["symbol"] in known:  # a new spelling of a symbol already in the catalog
            merged.setdefault(alias["symbol"], [alias["symbol"]]).append(alias["alias"])
    frame = pd.DataFrame(rows, columns=SYMBOL_COLUMNS)
    frame[["first_ts", "last_ts", "deactivated_at"]] = frame[["first_ts", "last_ts", "deactivated_at"]].apply(
        lambda s: pd.to_datetime(s, utc=True))
    return SymbolPlan(frame, pd.DataFrame(new_aliases, columns=["alias", "symbol", "reason", "run_id"]),
                      {k: sorted(v) for k, v in merged.items()}, filtered, invalid)


def refresh_activity(symbols: pd.DataFrame, last_seen: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
                     inactive_after_days: int, now: pd.Timestamp) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Symbols whose data span or activity changes: ``(changed rows, deactivated, reactivated)``.

    ``last_seen``: symbol → (first, last) market-data timestamp now in the warehouse. A symbol
    keeps the widest span ever seen (data archived away does not shrink it). Inactivity is
    measured on the data's clock: a symbol is inactive when its last timestamp is more than
    ``inactive_after_days`` before the newest timestamp of any instrument, so a historical
    backfill does not deactivate everything. ``now`` stamps ``deactivated_at``."""
    if symbols.empty:
        return symbols.copy(), [], []
    out = symbols.copy()
    seen = pd.DataFrame.from_dict(dict(last_seen), orient="index", columns=["seen_first", "seen_last"])
    out = out.join(seen, on="symbol")
    for col in ("first_ts", "last_ts", "seen_first", "seen_last", "deactivated_at"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.as_unit("us")
    out["first_ts"] = _widest(out["first_ts"], out["seen_first"], earliest=True)
    out["last_ts"] = _widest(out["last_ts"], out["seen_last"], earliest=False)
    clock = out["seen_last"].max()
    deactivated, reactivated = [], []
    if pd.notna(clock):
        cutoff = clock - pd.Timedelta(days=inactive_after_days)
        should = out["last_ts"].notna() & (out["last_ts"] >= cutoff)
        was = out["active"].astype(int) == 1
        off, on = was & ~should, ~was & should
        out.loc[off, "active"], out.loc[off, "deactivated_at"] = 0, now
        out.loc[on, "active"], out.loc[on, "deactivated_at"] = 1, pd.NaT
        deactivated, reactivated = sorted(out.loc[off, "symbol"]), sorted(out.loc[on, "symbol"])
    out = out.drop(columns=["seen_first", "seen_last"])
    before = {c: pd.to_datetime(symbols[c], utc=True).dt.as_unit("us") for c in ("first_ts", "last_ts")}
    changed = ~(_same(out["first_ts"], before["first_ts"]) & _same(out["last_ts"], before["last_ts"])
                & (out["active"].astype(int) == symbols["active"].astype(int)))
    return out[changed].reset_index(drop=True), deactivated, reactivated


def _widest(stored: pd.Series, seen: pd.Series, earliest: bool) -> pd.Series:
    """Element-wise min (``earliest``) or max of two timestamp columns, NaT ignored."""
    better = (stored <= seen) if earliest else (stored >= seen)
    return stored.where(seen.isna() | (stored.notna() & better), seen)


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a == b) | (a.isna() & b.isna())
