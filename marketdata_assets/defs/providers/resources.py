"""The REST providers as resources carrying their configuration, so the UI (Deployment →
Resources) shows the effective setup. Unset fields fall back to the ``MARKETDATA_*`` and
``*_API_KEY`` settings when a run uses them, never at code-location load. Keys belong in the
environment: set a key field to ``dg.EnvVar("POLYGON_API_KEY")`` (resolved at run start), never
to a literal in code.

``ProvidersResource`` is the bar chain, built once per run process so a single-run backfill
shares its rate limiters and circuit breakers across all its partitions;
``MetadataProvidersResource`` (``defs/catalog/resources.py``) the catalog's enrichment."""

from __future__ import annotations

import dataclasses

import dagster as dg
from pydantic import Field, PrivateAttr

from marketdata_assets.settings import Secret, Settings, get_settings

KEYED = ("alphavantage", "twelvedata", "polygon", "coinmarketcap")


class ProviderConfigResource(dg.ConfigurableResource):
    """Provider settings shared by the bar chain and the metadata pool."""

    base_urls: dict[str, str] = Field(default={}, description=(
        "Provider → base URL (yahoo, alphavantage, twelvedata, polygon, coinmarketcap). "
        "Unset: MARKETDATA_<PROVIDER>_BASE_URL or the public API."))
    rate_limits: dict[str, int] = Field(default={}, description=(
        "Provider → requests allowed per rate window. Unset: MARKETDATA_<PROVIDER>_RATE_LIMIT or the free tier."))
    max_attempts: int | None = Field(default=None, description=(
        "Attempts per request (retries on timeouts, 429, 5xx). Unset: MARKETDATA_HTTP_MAX_ATTEMPTS (4)."))
    alphavantage_api_key: str | None = Field(default=None, description=(
        "Alpha Vantage key; use EnvVar. Unset: ALPHAVANTAGE_API_KEY (provider left out when missing)."))
    twelvedata_api_key: str | None = Field(default=None, description="Twelve Data key; use EnvVar. "
                                           "Unset: TWELVEDATA_API_KEY.")
    polygon_api_key: str | None = Field(default=None, description="Polygon key; use EnvVar. Unset: POLYGON_API_KEY.")
    coinmarketcap_api_key: str | None = Field(default=None, description=(
        "CoinMarketCap key (crypto metadata); use EnvVar. Unset: COINMARKETCAP_API_KEY."))

    def settings(self) -> Settings:
        """The environment's settings with this resource's values on top."""
        base = get_settings()
        providers = {}
        for name, p in base.providers.items():
            key = getattr(self, f"{name}_api_key", None) if name in KEYED else None
            providers[name] = dataclasses.replace(
                p, base_url=self.base_urls.get(name, p.base_url).rstrip("/"),
                rate_limit=self.rate_limits.get(name, p.rate_limit),
                api_key=Secret(key) if key else p.api_key)
        return dataclasses.replace(base, providers=providers,
                                   http_max_attempts=self.max_attempts or base.http_max_attempts)


class ProvidersResource(ProviderConfigResource):
    """REST bar providers in priority order (``names``, default ``MARKETDATA_PROVIDER_PRIORITY``);
    keyed providers without a key are left out with a warning."""

    names: list[str] | None = Field(default=None, description=(
        "Providers in priority order. Unset: MARKETDATA_PROVIDER_PRIORITY (yahoo, alphavantage, twelvedata, polygon)."))
    instruments: list[str] | None = Field(default=None, description=(
        "Instruments the intraday sensor polls while their markets are open. "
        "Unset: MARKETDATA_PROVIDER_INSTRUMENTS (empty: the sensor skips)."))
    sensor_interval_s: int | None = Field(default=None, description=(
        "Seconds between two polls of the intraday sensor. Unset: MARKETDATA_PROVIDER_SENSOR_INTERVAL_S (300)."))
    _chain: list | None = PrivateAttr(default=None)

    def intraday_instruments(self) -> list[str]:
        return list(self.instruments if self.instruments is not None else get_settings().provider_instruments)

    def poll_interval_s(self) -> int:
        return max(1, self.sensor_interval_s or get_settings().provider_sensor_interval_s)

    def chain(self) -> list:
        if self._chain is None:
            from marketdata_assets.sources.http import build_providers

            self._chain = build_providers(self.settings(), self.names)
        return self._chain



