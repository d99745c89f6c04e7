"""Symbol parsing, merging of spellings and (de)activation, on frames (no I/O)."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata_assets.defs.catalog.steps import symbol_reference
from marketdata_assets.transforms.symbols import (
    SYMBOL_COLUMNS,
    canonical_symbol,
    plan_new_symbols,
    refresh_activity,
    symbol_attributes,
)

REF = symbol_reference()
T0 = pd.Timestamp("2024-03-11 14:00", tz="UTC")


def observed(*names: str, last: pd.Timestamp = T0) -> pd.DataFrame:
    return pd.DataFrame({"instrument": list(names), "first_ts": [last - pd.Timedelta(hours=1)] * len(names),
                         "last_ts": [last] * len(names)})


def no_symbols() -> pd.DataFrame:
    return pd.DataFrame(columns=SYMBOL_COLUMNS)


def no_aliases() -> pd.DataFrame:
    return pd.DataFrame(columns=["alias", "symbol", "reason", "run_id"])


@pytest.mark.parametrize(("name", "canonical", "reason"), [
    ("ESZ24", "ESZ24", None),
    ("esz24", "ESZ24", "case"),
    ("ESZ24-CME", "ESZ24", "suffix"),
    ("ESM25_FUT_CME", "ESM25", "suffix"),
    ("US100.e", "NAS100", "broker"),
    ("aapl", "AAPL", "case"),
    ("IBM-NYSE", "IBM", "suffix"),
    ("THYAO.IS", "THYAO", "suffix"),
    ("BRK.B", "BRK.B", None),          # a share class, not a venue: kept
    ("EURUSD", "EURUSD", None),
])
def test_spellings_resolve_to_one_canonical_symbol(name, canonical, reason):
    assert canonical_symbol(name, REF) == (canonical, reason)


def test_future_attributes_come_from_the_name_and_the_venue_from_the_file_suffix():
    es = symbol_attributes("ESH24", ["ESH24"], REF)
    nq = symbol_attributes("NQH24", ["NQH24-CME"], REF)
    gc = symbol_attributes("GCJ24", ["GCJ24_FUT_COMEX"], REF)

    assert es == {"symbol": "ESH24", "asset_class": "FUTURE", "market": "CME", "venue": "CME", "root": "ES",
                  "month_code": "H", "expiry": "2024-03-15", "base": None, "quote": None}
    assert (nq["root"], nq["market"], nq["venue"]) == ("NQ", "CME", "CME")
    assert (gc["root"], gc["month_code"], gc["expiry"], gc["market"], gc["venue"]) == \
        ("GC", "J", "2024-04-19", "COMEX", "COMEX")


def test_fx_crypto_stock_and_reference_overrides_get_class_market_and_currencies():
    fx = symbol_attributes("EURUSD", ["EURUSD"], REF)
    btc = symbol_attributes("BTCUSDT", ["BTCUSDT"], REF)
    bist = symbol_attributes("THYAO", ["THYAO.IS"], REF)

    assert (fx["asset_class"], fx["market"], fx["venue"], fx["base"], fx["quote"]) == \
        ("FOREX", "FOREX_MARKET", "FOREX_MARKET", "EUR", "USD")
    assert (btc["asset_class"], btc["market"], btc["base"], btc["quote"]) == ("CRYPTO", "BINANCE", "BTC", "USDT")
    assert (bist["asset_class"], bist["market"], bist["venue"]) == ("STOCK_BIST", "BIST", "IS")
    assert symbol_attributes("SPY", ["SPY"], REF)["asset_class"] == "ETF"                  # asset_class_overrides
    assert symbol_attributes("XAUUSD", ["XAUUSD"], REF)["asset_class"] == "COMMODITY"      # symbol map
    nas = symbol_attributes("NAS100", ["US100.e"], REF)                                    # override + map
    assert (nas["market"], nas["asset_class"]) == ("CME", "INDEX")
    assert symbol_attributes("AAPL", ["AAPL"], REF)["market"] == "NASDAQ"


def test_spellings_seen_together_become_one_symbol_with_aliases_and_are_reported_merged():
    plan = plan_new_symbols(observed("ESZ24-CME", "esz24", "ESZ24", "CLJ24"), no_symbols(), no_aliases(), REF, "r1")

    assert list(plan.new_symbols["symbol"]) == ["CLJ24", "ESZ24"]
    assert dict(zip(plan.new_aliases["alias"], plan.new_aliases["reason"], strict=True)) == \
        {"ESZ24-CME": "suffix", "esz24": "case"}
    assert set(plan.new_aliases["symbol"]) == {"ESZ24"}
    assert plan.merged == {"ESZ24": ["ESZ24", "ESZ24-CME", "esz24"]}


def test_a_new_spelling_of_a_catalogued_symbol_only_adds_an_alias():
    existing = plan_new_symbols(observed("ESZ24"), no_symbols(), no_aliases(), REF, "r1").new_symbols

    plan = plan_new_symbols(observed("ESZ24", "ESZ24_FUT_CME"), existing, no_aliases(), REF, "r2")

    assert plan.new_symbols.empty
    assert plan.new_aliases[["alias", "symbol", "run_id"]].values.tolist() == [["ESZ24_FUT_CME", "ESZ24", "r2"]]
    assert plan.merged == {"ESZ24": ["ESZ24", "ESZ24_FUT_CME"]}


def test_filters_keep_other_asset_classes_and_venues_out_and_say_why():
    names = observed("ESZ24", "CLJ24", "EURUSD", "AAPL")

    by_class = plan_new_symbols(names, no_symbols(), no_aliases(), REF, "r", asset_classes=["future"])
    by_venue = plan_new_symbols(names, no_symbols(), no_aliases(), REF, "r", venues=["NYMEX", "NASDAQ"])

    assert list(by_class.new_symbols["symbol"]) == ["CLJ24", "ESZ24"]
    assert set(by_class.filtered) == {"EURUSD", "AAPL"}
    assert list(by_venue.new_symbols["symbol"]) == ["AAPL", "CLJ24"]


def test_unsafe_names_are_reported_not_added():
    plan = plan_new_symbols(observed("ESZ24", "bad name"), no_symbols(), no_aliases(), REF, "r")

    assert list(plan.new_symbols["symbol"]) == ["ESZ24"]
    assert "bad name" in plan.invalid


def test_symbols_without_data_for_n_days_are_deactivated_on_the_data_clock_and_come_back_with_data():
    plan = plan_new_symbols(observed("ESH24", "CLJ24"), no_symbols(), no_aliases(), REF, "r").new_symbols
    now = pd.Timestamp("2030-01-01", tz="UTC")  # wall clock far ahead: does not matter
    day40 = T0 + pd.Timedelta(days=40)

    changed, off, on = refresh_activity(plan, {"ESH24": (T0, day40), "CLJ24": (T0, T0)}, 30, now)

    assert (off, on) == (["CLJ24"], [])
    clj = changed.set_index("symbol").loc["CLJ24"]
    assert clj["active"] == 0 and clj["deactivated_at"] == now
    assert changed.set_index("symbol").loc["ESH24", "last_ts"] == day40

    table = plan.set_index("symbol")
    table.update(changed.set_index("symbol"))
    back, off2, on2 = refresh_activity(table.reset_index(), {"CLJ24": (T0, day40)}, 30, now)
    assert (off2, on2) == ([], ["CLJ24"])
    assert back.set_index("symbol").loc["CLJ24", "active"] == 1
    assert pd.isna(back.set_index("symbol").loc["CLJ24", "deactivated_at"])


def test_unchanged_spans_and_activity_change_nothing():
    plan = plan_new_symbols(observed("ESH24"), no_symbols(), no_aliases(), REF, "r").new_symbols

    changed, off, on = refresh_activity(plan, {"ESH24": (T0 - pd.Timedelta(hours=1), T0)}, 30, T0)

    assert changed.empty and off == [] and on == []


def test_the_sierra_resource_market_overrides_reach_the_symbol_reference(monkeypatch):
    from marketdata_assets.defs.resources import SierraResource

    monkeypatch.delenv("MARKETDATA_INSTRUMENT_MARKETS", raising=False)
    plain = symbol_reference(SierraResource().markets())
    overridden = symbol_reference(SierraResource(instrument_markets={"ZZTOP": "FX"}).markets())

    assert "ZZTOP" not in plain.market_overrides
    assert overridden.market_overrides["ZZTOP"] == "FX"
