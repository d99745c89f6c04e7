"""Provider construction from settings, and the metadata endpoints through the fake."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from marketdata_assets.errors import ConfigError
from marketdata_assets.sources.http.client import NotSupported
from marketdata_assets.sources.http.registry import build_provider, build_providers


def test_providers_come_in_the_configured_priority(settings_for):
    settings = settings_for(MARKETDATA_PROVIDER_PRIORITY="polygon,yahoo")

    providers = build_providers(settings)

    assert [p.name for p in providers] == ["polygon", "yahoo"]
    assert providers[0].client.limiter.limit == 1000 and providers[0].breaker.failure_threshold == 5


def test_a_provider_without_its_key_is_left_out_with_a_warning(settings_for, monkeypatch, caplog):
    settings = settings_for()
    monkeypatch.delenv("POLYGON_API_KEY")
    from marketdata_assets.settings import get_settings

    with caplog.at_level(logging.WARNING, logger="marketdata.http"):
        providers = build_providers(get_settings())

    assert "polygon" not in [p.name for p in providers]
    assert "POLYGON_API_KEY" in caplog.text
    with pytest.raises(ConfigError, match="POLYGON_API_KEY"):
        build_provider("polygon", get_settings())
    assert settings.provider("polygon").api_key  # the earlier snapshot still had it


@pytest.mark.parametrize(
    ("provider", "symbol", "keys"),
    [("yahoo", "AAPL", {"name", "exchange", "currency", "asset_type"}),
     ("alphavantage", "IBM", {"name", "sector", "industry", "exchange", "currency", "market_cap", "description",
                              "asset_type"}),
     ("twelvedata", "AAPL", {"name", "sector", "industry", "exchange", "description", "asset_type"}),
     ("polygon", "AAPL", {"name", "industry", "exchange", "currency", "market_cap", "description", "asset_type"}),
     ("coinmarketcap", "BTC", {"name", "description", "asset_type"})],
)
def test_metadata_is_normalized_for_every_provider(fake, settings_for, provider, symbol, keys):
    meta = build_provider(provider, settings_for()).fetch_metadata(symbol)

    assert set(meta) == keys


def test_coinmarketcap_sends_its_key_in_a_header_and_serves_no_bars(fake, settings_for):
    cmc = build_provider("coinmarketcap", settings_for())

    assert cmc.fetch_metadata("BTC")["name"] == "Bitcoin"
    assert fake.requests("coinmarketcap")[0]["query"] == {"symbol": "BTC"}
    with pytest.raises(NotSupported):
        cmc.fetch_bars("BTC", "1d", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
