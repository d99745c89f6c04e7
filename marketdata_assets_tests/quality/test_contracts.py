"""Tick sizes by futures root, asset-class defaults and per-instrument overrides."""

from __future__ import annotations

import pytest

from marketdata_assets.errors import ConfigError
from marketdata_assets.model import contracts
from marketdata_assets.model.contracts import contract_spec, grid_tick_size, tick_size_for
from marketdata_assets.model.instruments import FUTURE_ROOTS


@pytest.mark.parametrize(("instrument", "tick"), [
    ("ESH24", 0.25), ("NQH24-CME", 0.25), ("MESM25", 0.25), ("MNQZ24", 0.25), ("RTYH24", 0.1),
    ("YMH24", 1.0), ("CLJ24", 0.01), ("NGK24", 0.001), ("GCJ24_FUT_COMEX", 0.1), ("SIK24", 0.005),
    ("HGK24", 0.0005), ("ZNM24", 1 / 64), ("ZBM24", 1 / 32), ("6EM24", 0.00005),
    ("EURUSD", 0.00001), ("USDJPY", 0.001), ("BTCUSDT", 0.01), ("AAPL", 0.01), ("xauusd", 0.001),
])
def test_tick_size_for_roots_defaults_and_overrides(instrument, tick):
    assert tick_size_for(instrument) == pytest.approx(tick, rel=1e-12)


def test_every_futures_root_the_parser_knows_has_a_tick_size():
    missing = [root for root in FUTURE_ROOTS if root not in contracts.contracts_document()["futures"]]

    assert missing == []


def test_grid_is_enforced_for_futures_and_fx_only():
    assert grid_tick_size("ESH24") == 0.25
    assert grid_tick_size("EURUSD") == 0.00001
    assert grid_tick_size("AAPL") is None      # sub-penny midpoint prints are real
    assert grid_tick_size("ETHUSDT") is None   # increments differ per pair and venue


def test_spec_names_its_origin_and_the_file_version():
    spec = contract_spec("ESH24")

    assert (spec.origin, spec.enforce_grid) == ("root:ES", True)
    assert spec.version == contracts.contracts_document()["version"]
    assert contract_spec("USDJPY").origin == "default:FOREX_JPY"
    assert contract_spec("XAUUSD").origin == "instrument"


def test_a_root_without_an_entry_raises_and_has_no_grid(monkeypatch):
    doc = {**contracts.contracts_document()}
    doc["futures"] = {k: v for k, v in doc["futures"].items() if k != "ES"}
    monkeypatch.setattr(contracts, "contracts_document", lambda: doc)

    with pytest.raises(ConfigError, match="'ES'"):
        tick_size_for("ESH24")
    assert grid_tick_size("ESH24") is None
