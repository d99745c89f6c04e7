"""Instrument names are validated before they touch a path, key or query."""

from __future__ import annotations

from datetime import date

import pytest

from marketdata_assets.errors import ConfigError, InvalidInstrument
from marketdata_assets.model.instruments import parse_instrument, validate_instrument
from marketdata_assets.settings import get_settings


@pytest.mark.parametrize("name", ["ESZ24", "ESZ24-CME", "ESM25_FUT_CME", "US100.e", "EURUSD", "6EH24"])
def test_valid_names_pass(name):
    assert validate_instrument(name) == name


@pytest.mark.parametrize("name", ["", "../etc/passwd", "ES Z24", "ES;DROP", "a" * 41, "-ES", "ES..Z", "ES|Z", 7])
def test_unsafe_names_are_refused(name):
    with pytest.raises(InvalidInstrument):
        validate_instrument(name)


def test_futures_symbols_parse_root_month_and_expiry():
    info = parse_instrument("ESM25_FUT_CME")

    assert (info.asset_class, info.root, info.month_code, info.expiry_year, info.venue) == \
        ("FUTURE", "ES", "M", 2025, "CME")
    assert info.expiry == date(2025, 6, 20)  # third Friday of June 2025


def test_fx_and_crypto_pairs_parse_base_and_quote():
    assert (parse_instrument("EURUSD").base, parse_instrument("EURUSD").quote) == ("EUR", "USD")
    assert (parse_instrument("BTCUSDT").base, parse_instrument("BTCUSDT").quote) == ("BTC", "USDT")


def test_settings_read_overrides_when_asked_not_at_import(monkeypatch):
    monkeypatch.setenv("MARKETDATA_INSTRUMENT_MARKETS", "FOO=NYSE, bar=binance")
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", "SECRET-KEY-123")

    s = get_settings()

    assert s.instrument_markets == {"FOO": "NYSE", "BAR": "BINANCE"}
    assert "SECRET-KEY-123" not in repr(s)
    assert s.provider("alphavantage").api_key.get() == "SECRET-KEY-123"


@pytest.mark.parametrize("name", ["ESH25\n", "ESH25\r\n", "ESH25\n../x", "ES\nH25"])
def test_names_with_a_newline_are_refused(name):
    with pytest.raises(InvalidInstrument):
        validate_instrument(name)


def test_parse_refuses_a_trailing_newline_too():
    with pytest.raises(InvalidInstrument):
        parse_instrument("ESZ24\n")


@pytest.mark.parametrize("entry", ["../x=CME", "ES H25=CME", "ESH25/x=CME", "=CME"])
def test_instrument_market_overrides_with_an_invalid_name_are_refused_naming_the_entry(monkeypatch, entry):
    monkeypatch.setenv("MARKETDATA_INSTRUMENT_MARKETS", f"FOO=NYSE,{entry}")

    with pytest.raises(ConfigError, match="MARKETDATA_INSTRUMENT_MARKETS"):
        get_settings()
