"""The catalog's resources: the metadata providers of its enrichment, and the webhook the
run-failure sensor alerts."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from marketdata_assets.defs.providers.resources import ProviderConfigResource
from marketdata_assets.pipelines.catalog.symbols import ProviderPool


class MetadataProvidersResource(ProviderConfigResource):
    """Provider clients for `enriched_assets` (Alpha Vantage, Polygon, Twelve Data, CoinMarketCap),
    configured by this resource on top of the environment (base URLs, keys, quotas). A provider
    without a key is recorded as `not_configured`; the others serve."""

    def pool(self) -> ProviderPool:
        return ProviderPool(self.settings())


class AlertWebhookResource(dg.ConfigurableResource):
    """Where the run-failure sensor posts its JSON alerts. ``build_defs`` sets ``url`` to
    ``EnvVar("MARKETDATA_ALERT_WEBHOOK_URL")`` when that variable is set, so the UI names the
    variable and never shows the URL (which usually embeds a token); unset: no alerts."""

    url: str | None = Field(default=None, description=(
        "Webhook receiving one JSON POST per failed run. It usually holds a token: set it with "
        "EnvVar (MARKETDATA_ALERT_WEBHOOK_URL), never as a literal. Unset: alerts are skipped."))
    timeout_s: float = Field(default=10.0, description="Seconds the POST may take before it counts as failed.")
