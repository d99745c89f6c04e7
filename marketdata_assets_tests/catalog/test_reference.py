"""reference_data: the packaged files, validated as a whole, upserted on both backends."""

from __future__ import annotations

import copy

import pytest

from marketdata_assets.errors import ConfigError
from marketdata_assets.model.sessions import reference_document
from marketdata_assets.pipelines.reference import providers_document
from marketdata_assets.settings import get_settings
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.transforms.reference import reference_frames, validate_reference
from marketdata_assets_tests.catalog.helpers import materialize_catalog, snapshot

ASSET_CLASSES = {"CRYPTO", "STOCK", "STOCK_BIST", "FOREX", "COMMODITY", "ETF", "FUTURE", "INDEX"}
MARKETS = {"BINANCE", "BIST", "NASDAQ", "NYSE", "FOREX_MARKET", "CME", "CBOT", "NYMEX", "COMEX"}


def test_reference_data_loads_every_table_with_credential_variable_names_never_values(
        instance, warehouse_url, monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", "SECRET-KEY-123-PG")

    result = materialize_catalog(instance, warehouse_url, selection=["reference_data"])

    snap = snapshot(warehouse_url, ("asset_classes", "markets", "market_sessions", "market_holidays",
                                    "data_providers"))
    assert set(snap["asset_classes"]["code"]) == ASSET_CLASSES
    assert set(snap["markets"]["code"]) == MARKETS
    assert set(snap["market_sessions"]["market"]) == MARKETS  # every market has sessions
    frames = reference_frames(reference_document(), providers_document())
    assert {t: len(f) for t, f in snap.items()} == {t: len(frames[t]) for t in snap}
    providers = snap["data_providers"].set_index("name")
    assert providers.loc["polygon", "credential_env"] == "POLYGON_API_KEY"
    assert providers.loc["yahoo", "credential_env"] is None
    assert providers.loc["alphavantage", ["rate_limit", "rate_window_s"]].tolist() == [5, 60.0]
    assert providers.loc["coinmarketcap", "markets"] == "BINANCE"
    every_cell = "".join(str(v) for f in snap.values() for v in f.to_numpy().ravel())
    assert "SECRET-KEY-123-PG" not in every_cell
    meta = result.asset_materializations_for_node("reference_data")[0].metadata
    assert meta["data_providers"].value == 5 and meta["version"].value == reference_document()["version"]


def test_overwrite_existing_false_keeps_present_rows_and_true_replaces_them(instance, warehouse_url):
    materialize_catalog(instance, warehouse_url, selection=["reference_data"])
    with open_warehouse(warehouse_url) as wh:
        wh.execute("UPDATE markets SET name = %(n)s WHERE code = %(c)s", {"n": "hand edit", "c": "CME"})
        wh.execute("DELETE FROM market_holidays WHERE market = %(m)s", {"m": "BIST"})
        wh.execute("DELETE FROM data_providers WHERE name = %(n)s", {"n": "polygon"})

    materialize_catalog(instance, warehouse_url, selection=["reference_data"])
    kept = snapshot(warehouse_url, ("markets", "market_holidays", "data_providers"))
    materialize_catalog(instance, warehouse_url, selection=["reference_data"],
                        run_config={"ops": {"reference_data": {"config": {"overwrite_existing": True}}}})
    replaced = snapshot(warehouse_url, ("markets", "market_holidays", "data_providers"))

    assert kept["markets"].set_index("code").loc["CME", "name"] == "hand edit"        # present: kept
    assert (kept["market_holidays"]["market"] == "BIST").sum() == 19                    # missing: inserted
    assert "polygon" in set(kept["data_providers"]["name"])
    assert replaced["markets"].set_index("code").loc["CME", "name"] == "CME Globex"
    assert len(replaced["market_holidays"]) == len(kept["market_holidays"])


def test_validation_names_every_problem_of_the_set_before_anything_is_written():
    markets, providers = copy.deepcopy(reference_document()), copy.deepcopy(providers_document())
    markets["markets"][0]["sessions"] = []
    markets["markets"][1]["asset_class"] = "BONDS"
    markets["markets"][2]["data_providers"] = ["yahoo", "bloomberg"]
    providers["providers"][1]["credential_env"] = "sk-live-0123456789"

    with pytest.raises(ConfigError) as err:
        validate_reference(markets, providers)

    message = str(err.value)
    assert "market CME: has no sessions" in message
    assert "market CBOT: asset class 'BONDS' is not in asset_classes" in message
    assert "market NYMEX: data provider 'bloomberg' is not in providers.json" in message
    assert "provider alphavantage: credential_env must be a variable NAME" in message
    assert "sk-live" not in message


def test_the_packaged_set_is_valid_and_its_quotas_are_what_the_clients_enforce(monkeypatch):
    for name in ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON", "COINMARKETCAP"):
        monkeypatch.delenv(f"MARKETDATA_{name}_RATE_LIMIT", raising=False)
        monkeypatch.delenv(f"MARKETDATA_{name}_RATE_WINDOW_S", raising=False)
    settings = get_settings()

    validate_reference(reference_document(), providers_document())

    for p in providers_document()["providers"]:
        conf = settings.provider(p["name"])
        assert (conf.rate_limit, conf.rate_window_s, conf.api_key_env) == \
            (p["rate_limit"], p["rate_window_s"], p["credential_env"]), p["name"]
