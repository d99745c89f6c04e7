"""Symbol map: the packaged, versioned map and its lookups in every direction; the
validation that keeps unsafe or ambiguous symbols out."""

from __future__ import annotations

import copy

import pytest

from marketdata_assets.errors import ConfigError, InvalidInstrument
from marketdata_assets.model.symbol_map import SymbolMap, load_symbol_map, validate_instrument

EXPECTED = {
    # generic: (yahoo, alphavantage, twelvedata, polygon)
    "NAS100": ("NQ=F", "NDX", "NAS100", "I:NDX"),
    "XAUUSD": ("GC=F", "FX:XAU/USD", "XAU/USD", "C:XAUUSD"),
    "EURUSD": ("EURUSD=X", "FX:EUR/USD", "EUR/USD", "C:EURUSD"),
    "BTCUSD": ("BTC-USD", "CRYPTO:BTC/USD", "BTC/USD", "X:BTCUSD"),
    "SPX500": ("ES=F", "SPY", "SPX", "I:SPX"),
    "AAPL": ("AAPL",) * 4,
    "MSFT": ("MSFT",) * 4,
    "IBM": ("IBM",) * 4,
}
PROVIDERS = ("yahoo", "alphavantage", "twelvedata", "polygon")


def _minimal(**instruments) -> dict:
    return {"version": 1, "providers": list(PROVIDERS), "instruments": instruments}


@pytest.mark.parametrize("generic", sorted(EXPECTED))
def test_packaged_map_has_the_agreed_provider_symbols(generic):
    smap = load_symbol_map()

    assert tuple(smap.provider_symbol(generic, p) for p in PROVIDERS) == EXPECTED[generic]


def test_map_is_versioned():
    assert isinstance(load_symbol_map().version, int) and load_symbol_map().version >= 1


def test_nas100_resolves_in_every_direction():
    smap = load_symbol_map()

    assert smap.broker_symbol("NAS100") == "US100.e"
    assert smap.from_broker("US100.e") == "NAS100"
    assert smap.resolve("US100.e") == smap.resolve("NAS100") == "NAS100"
    assert {p: smap.from_provider(p, s) for p, s in smap.provider_symbols("NAS100").items()} == {
        p: "NAS100" for p in PROVIDERS}


def test_unknown_names_are_reported_not_guessed():
    smap = load_symbol_map()

    assert smap.from_provider("yahoo", "ZZZ") is None and smap.from_broker("ZZZ.e") is None
    with pytest.raises(InvalidInstrument):
        smap.provider_symbols("ZZZ")
    with pytest.raises(InvalidInstrument):
        smap.resolve("ZZZ")


def test_records_list_one_row_per_instrument_and_provider():
    rows = load_symbol_map().to_records()

    assert {"generic": "NAS100", "broker": "US100.e", "asset_class": "index", "provider": "polygon",
            "provider_symbol": "I:NDX", "version": 1} in rows


def test_two_instruments_on_one_provider_symbol_are_rejected():
    data = _minimal(A={"asset_class": "equity", "providers": {"yahoo": "X"}},
                    B={"asset_class": "equity", "providers": {"yahoo": "X"}})

    with pytest.raises(ConfigError, match="yahoo symbol 'X' maps to both"):
        SymbolMap.from_dict(data)


def test_two_instruments_on_one_broker_symbol_are_rejected():
    data = _minimal(A={"asset_class": "equity", "broker": "A.e"}, B={"asset_class": "equity", "broker": "A.e"})

    with pytest.raises(ConfigError, match="broker symbol"):
        SymbolMap.from_dict(data)


def test_generic_names_differing_only_in_case_are_rejected():
    with pytest.raises(ConfigError, match="case"):
        SymbolMap.from_dict(_minimal(aapl={"asset_class": "equity"}, AAPL={"asset_class": "equity"}))


@pytest.mark.parametrize(
    ("provider", "symbol"),
    [("yahoo", "AAPL?x=1"), ("yahoo", "../etc"), ("twelvedata", "A B"), ("yahoo", "EUR/USD"),
     ("polygon", "A&apiKey=1"), ("twelvedata", "%2F")],
)
def test_unsafe_provider_symbols_are_rejected(provider, symbol):
    with pytest.raises(InvalidInstrument):
        SymbolMap.from_dict(_minimal(A={"asset_class": "equity", "providers": {provider: symbol}}))


def test_missing_version_is_rejected():
    data = copy.deepcopy(_minimal(A={"asset_class": "equity"}))
    del data["version"]

    with pytest.raises(ConfigError, match="version"):
        SymbolMap.from_dict(data)


@pytest.mark.parametrize("name", ["NAS100", "ESZ24", "US100.e", "a", "X" * 40, "EUR_USD-1"])
def test_valid_generic_names_pass(name):
    assert validate_instrument(name) == name


@pytest.mark.parametrize("name", ["", "-ES", ".hidden", "A" * 41, "ES Z24", "ES/Z24", "ES;DROP", "é"])
def test_invalid_generic_names_fail(name):
    with pytest.raises(InvalidInstrument):
        validate_instrument(name)


@pytest.mark.parametrize("name", ["NAS100\n", "ESZ24\n", "A\nB"])
def test_generic_names_with_a_newline_fail(name):
    with pytest.raises(InvalidInstrument):
        validate_instrument(name)


@pytest.mark.parametrize(("provider", "symbol"), [("yahoo", "NQ=F\n"), ("polygon", "I:NDX\n"), ("twelvedata", "SPX\n")])
def test_provider_symbols_with_a_trailing_newline_are_rejected(provider, symbol):
    with pytest.raises(InvalidInstrument):
        SymbolMap.from_dict(_minimal(A={"asset_class": "equity", "providers": {provider: symbol}}))
