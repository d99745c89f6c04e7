"""The metadata providers of the catalog's enrichment, as a resource."""

from __future__ import annotations

from marketdata_assets.defs.providers.resources import ProviderConfigResource
from marketdata_assets.pipelines.catalog.symbols import ProviderPool


class MetadataProvidersResource(ProviderConfigResource):
    """Provider clients for `enriched_assets` (Alpha Vantage, Polygon, Twelve Data, CoinMarketCap),
    configured by this resource on top of the environment (base URLs, keys, quotas). A provider
    without a key is recorded as `not_configured`; the others serve."""

    def pool(self) -> ProviderPool:
        return ProviderPool(self.settings())
