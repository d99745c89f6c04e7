"""The metadata providers of the catalog's enrichment, as a resource."""

from __future__ import annotations

import dagster as dg

from marketdata_assets.pipelines.catalog import ProviderPool
from marketdata_assets.settings import get_settings


class MetadataProvidersResource(dg.ConfigurableResource):
    """Provider clients for ``enriched_assets``, configured from the environment when a run
    uses them (base URLs, ``*_API_KEY`` variables, quotas: ``settings.get_settings()``). A
    provider whose key variable is unset is recorded as ``not_configured``; the others serve."""

    def pool(self) -> ProviderPool:
        return ProviderPool(get_settings())
