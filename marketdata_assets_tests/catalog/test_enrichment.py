"""Enrichment: the merge rule on frames, then the asset against the fake providers with
faults injected, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from marketdata_assets.pipelines.catalog.symbols import EnrichResult
from marketdata_assets.pipelines.reference import providers_document
from marketdata_assets.transforms.enrichment import (
    Answer,
    EnrichmentRules,
    content_changed,
    merge_answers,
    provider_symbol,
    select_for_enrichment,
)
from marketdata_assets_tests.catalog.helpers import add_daily_bars, materialize_catalog, snapshot

RULES = EnrichmentRules.from_document(providers_document())
NOW = pd.Timestamp("2024-06-01", tz="UTC")
STOCK_FIELDS = RULES.fields["STOCK"]
POLYGON = {"name": "Apple Inc.", "industry": "ELECTRONIC COMPUTERS", "exchange": "XNAS", "currency": "USD",
           "market_cap": 2.5e12, "description": "Apple designs...", "asset_type": "CS"}


def test_rules_follow_the_reference_priorities_and_classes():
    assert RULES.providers["STOCK"] == ("alphavantage", "polygon", "twelvedata")
    assert RULES.providers["CRYPTO"] == ("coinmarketcap",)
    assert RULES.not_applicable == {"FUTURE", "FOREX", "COMMODITY", "INDEX"}


def test_fields_fill_in_priority_order_and_a_missing_one_makes_the_record_partial():
    answers = [Answer("alphavantage", "failed", "HTTP 500"), Answer("polygon", "served", "", POLYGON),
               Answer("twelvedata", "failed", "HTTP 500")]

    row = merge_answers("AAPL", "STOCK", STOCK_FIELDS, answers, None, NOW, "r1")

    assert row["status"] == "partial" and row["missing_fields"] == "sector"
    assert set(json.loads(row["field_providers"]).values()) == {"polygon"}
    assert json.loads(row["failed_providers"]) == {"alphavantage": "failed: HTTP 500", "twelvedata": "failed: HTTP 500"}


def test_a_later_provider_completes_what_an_earlier_one_lacks_and_the_first_value_wins():
    answers = [Answer("polygon", "served", "", POLYGON),
               Answer("twelvedata", "served", "", {"name": "APPLE", "sector": "Technology"})]

    row = merge_answers("AAPL", "STOCK", STOCK_FIELDS, answers, None, NOW, "r1")

    assert row["status"] == "complete" and row["name"] == "Apple Inc." and row["sector"] == "Technology"
    assert json.loads(row["field_providers"])["sector"] == "twelvedata"


def test_an_outage_keeps_previous_values_and_nothing_at_all_is_failed():
    before = merge_answers("AAPL", "STOCK", STOCK_FIELDS, [Answer("polygon", "served", "", POLYGON)], None, NOW, "r1")
    outage = [Answer("alphavantage", "failed", "HTTP 500"), Answer("polygon", "failed", "HTTP 500")]

    kept = merge_answers("AAPL", "STOCK", STOCK_FIELDS, outage, before, NOW, "r2")
    again = merge_answers("AAPL", "STOCK", STOCK_FIELDS, [Answer("alphavantage", "failed", "timeout"),
                                                          Answer("polygon", "failed", "HTTP 502")], kept, NOW, "r3")
    nothing = merge_answers("MSFT", "STOCK", STOCK_FIELDS, outage, None, NOW, "r2")

    assert kept["name"] == "Apple Inc." and kept["status"] == "partial"
    assert content_changed(before, kept)     # news: these providers failed
    assert not content_changed(kept, again)  # the same providers failing again: nothing to write
    assert nothing["status"] == "failed" and nothing["missing_fields"] == ",".join(STOCK_FIELDS)


def test_control_characters_from_a_provider_are_replaced():
    row = merge_answers("X", "CRYPTO", ("name", "description"),
                        [Answer("coinmarketcap", "served", "", {"name": "X\x1fcoin", "description": "a\x1eb"})],
                        None, NOW, "r")
    assert (row["name"], row["description"]) == ("X coin", "a b")


def test_selection_refreshes_stale_retries_partial_and_marks_futures_not_applicable():
    symbols = pd.DataFrame({"symbol": ["AAPL", "MSFT", "IBM", "BTCUSDT", "ESZ24", "OLD"],
                            "asset_class": ["STOCK", "STOCK", "STOCK", "CRYPTO", "FUTURE", "STOCK"],
                            "active": [1, 1, 1, 1, 1, 0]})
    existing = pd.DataFrame({"symbol": ["AAPL", "MSFT", "IBM"], "asset_class": ["STOCK"] * 3,
                             "status": ["complete", "partial", "complete"],
                             "enriched_at": [NOW - pd.Timedelta(days=1), NOW, NOW - pd.Timedelta(days=31)]})

    fetch, na = select_for_enrichment(symbols, existing, RULES, NOW, 30, overwrite=False)
    everything, _ = select_for_enrichment(symbols, existing, RULES, NOW, 30, overwrite=True)

    assert list(fetch["symbol"]) == ["MSFT", "IBM", "BTCUSDT"]  # partial, stale, new; OLD is inactive
    assert list(na["symbol"]) == ["ESZ24"]
    assert list(everything["symbol"]) == ["AAPL", "MSFT", "IBM", "BTCUSDT"]


@pytest.mark.parametrize(("symbol", "cls", "provider", "expected"), [
    ("AAPL", "STOCK", "polygon", "AAPL"),
    ("BTCUSDT", "CRYPTO", "coinmarketcap", "BTC"),
    ("BTCUSD", "CRYPTO", "coinmarketcap", "BTC"),       # from the symbol map
    ("NAS100", "INDEX", "polygon", "I:NDX"),            # from the symbol map
])
def test_provider_symbols_come_from_the_symbol_map_or_the_name(symbol, cls, provider, expected):
    from marketdata_assets.model.symbol_map import load_symbol_map

    smap = load_symbol_map()
    assert provider_symbol(symbol, cls, provider, {g: smap.provider_symbols(g) for g in smap.generics}) == expected


def test_only_a_real_outage_counts_as_a_failed_component():
    unknown = EnrichResult(attempted=2, outcomes={"polygon:refused": 2})
    down = EnrichResult(attempted=2, outcomes={"polygon:failed": 2, "alphavantage:not_configured": 2})
    served = EnrichResult(attempted=2, outcomes={"polygon:failed": 1, "polygon:served": 1})

    assert (unknown.outage, down.outage, served.outage) == (False, True, False)


def test_a_definite_unknown_symbol_from_a_healthy_provider_is_an_answer_even_with_another_provider_down():
    unknown_one_down = EnrichResult(attempted=1, outcomes={"alphavantage:failed": 1, "polygon:refused": 1,
                                                           "twelvedata:refused": 1})
    empty_one_down = EnrichResult(attempted=1, outcomes={"alphavantage:empty": 1, "polygon:failed": 1})

    assert (unknown_one_down.outage, empty_one_down.outage) == (False, False)


def test_one_provider_down_and_a_symbol_nobody_knows_does_not_fail_enrichment(instance, warehouse_url, fake):
    add_daily_bars(warehouse_url, ["INVALIDCO"])  # a stock symbol every fake provider answers "unknown" for
    fake.set_fault("alphavantage", "500")

    result = materialize_catalog(instance, warehouse_url, selection=["reference_data", "symbols", "enriched_assets"],
                                 raise_on_error=False)

    assert result.success
    row = enriched(warehouse_url).loc["INVALIDCO"]
    failed = json.loads(row["failed_providers"])
    assert row["status"] == "failed"  # nothing known about it, recorded as such
    assert failed["alphavantage"].startswith("failed") and failed["polygon"].startswith("refused")


def enriched(url: str) -> pd.DataFrame:
    return snapshot(url, ("enriched_assets",))["enriched_assets"].set_index("symbol")


def test_providers_down_fall_back_record_partial_results_and_recover(instance, warehouse_url, fake):
    add_daily_bars(warehouse_url, ["AAPL", "MSFT", "BTCUSDT", "ESZ24"])
    fake.set_fault("alphavantage", "500")
    fake.set_fault("twelvedata", "500")

    first = materialize_catalog(instance, warehouse_url, selection=["reference_data", "symbols", "enriched_assets"])
    partial = enriched(warehouse_url)
    fake.set_fault("twelvedata", "ok")
    materialize_catalog(instance, warehouse_url, selection=["enriched_assets"])
    fallback = enriched(warehouse_url)
    fake.set_fault("alphavantage", "ok")
    fake.clear_requests()
    materialize_catalog(instance, warehouse_url, selection=["enriched_assets"])

    aapl = partial.loc["AAPL"]
    assert (aapl["status"], aapl["missing_fields"], aapl["name"]) == ("partial", "sector", "Apple Inc.")
    assert set(json.loads(aapl["field_providers"]).values()) == {"polygon"}
    assert set(json.loads(aapl["failed_providers"])) == {"alphavantage", "twelvedata"}
    assert partial.loc["BTCUSDT", "status"] == "complete" and partial.loc["BTCUSDT", "name"] == "Bitcoin"
    assert partial.loc["ESZ24", "status"] == "not_applicable"
    assert first.asset_materializations_for_node("enriched_assets")[0].metadata["statuses"].value == \
        {"partial": 2, "complete": 1}
    assert fallback.loc["AAPL", "status"] == "complete"
    assert json.loads(fallback.loc["AAPL", "field_providers"])["sector"] == "twelvedata"
    assert set(json.loads(fallback.loc["AAPL", "failed_providers"])) == {"alphavantage"}
    assert fake.requests() == []  # everything complete and fresh: nothing asked


def test_keyless_providers_are_recorded_as_not_configured_and_fail_the_step(instance, warehouse_url, fake,
                                                                              monkeypatch):
    for name in ("ALPHAVANTAGE", "TWELVEDATA", "POLYGON"):
        monkeypatch.delenv(f"{name}_API_KEY")
    add_daily_bars(warehouse_url, ["IBM"])

    result = materialize_catalog(instance, warehouse_url, selection=["reference_data", "symbols", "enriched_assets"],
                                 raise_on_error=False)

    assert not result.success
    ibm = enriched(warehouse_url).loc["IBM"]
    assert ibm["status"] == "failed"
    assert json.loads(ibm["failed_providers"])["polygon"] == \
        "not_configured: provider polygon needs an API key: set POLYGON_API_KEY"
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "no metadata for any of 1 symbols" in failure and "SECRET" not in failure
