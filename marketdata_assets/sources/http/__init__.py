"""REST data providers: one client module per provider over a shared resilient HTTP
client (timeouts, retries, rate limits, circuit breakers), and priority fallback.

Public entry points: ``build_providers(settings)``, ``fetch_with_fallback(...)``,
``fetch_metadata_with_fallback(...)``. No Dagster imports here.
"""

from marketdata_assets.sources.http.base import FRAME_COLUMNS, HttpProvider, Provider, Timeframe
from marketdata_assets.sources.http.client import (
    AuthenticationFailed,
    NoData,
    NotSupported,
    ProviderError,
    TransientError,
    call_policy,
)
from marketdata_assets.sources.http.fallback import (
    AllProvidersFailed,
    Attempt,
    fetch_metadata_with_fallback,
    fetch_with_fallback,
)
from marketdata_assets.sources.http.ratelimit import BudgetExhausted
from marketdata_assets.sources.http.registry import PROVIDER_CLASSES, build_provider, build_providers
from marketdata_assets.sources.http.retry import RetryPolicy

__all__ = [
    "FRAME_COLUMNS", "HttpProvider", "Provider", "Timeframe",
    "AuthenticationFailed", "NoData", "NotSupported", "ProviderError", "RetryPolicy", "TransientError",
    "BudgetExhausted", "call_policy",
    "AllProvidersFailed", "Attempt", "fetch_metadata_with_fallback", "fetch_with_fallback",
    "PROVIDER_CLASSES", "build_provider", "build_providers",
]
