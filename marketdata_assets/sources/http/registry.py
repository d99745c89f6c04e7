"""Provider construction from ``Settings``: one place that turns the environment's
base URLs, keys, quotas and breaker parameters into ready clients.

Each provider object owns its rate limiter and circuit breaker, so keep the objects for
as long as the process lives (e.g. inside a Dagster resource) when the breaker state
and the rate-limit window should carry over from one call to the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import httpx

from marketdata_assets.errors import ConfigError
from marketdata_assets.settings import Settings
from marketdata_assets.sources.http.alphavantage import AlphaVantageProvider
from marketdata_assets.sources.http.base import HttpProvider
from marketdata_assets.sources.http.circuit import CircuitBreaker
from marketdata_assets.sources.http.coinmarketcap import CoinMarketCapProvider
from marketdata_assets.sources.http.polygon import PolygonProvider
from marketdata_assets.sources.http.ratelimit import RateLimiter
from marketdata_assets.sources.http.retry import RetryPolicy
from marketdata_assets.sources.http.twelvedata import TwelveDataProvider
from marketdata_assets.sources.http.yahoo import YahooProvider

log = logging.getLogger("marketdata.http")

PROVIDER_CLASSES: dict[str, type[HttpProvider]] = {
    cls.name: cls
    for cls in (YahooProvider, AlphaVantageProvider, TwelveDataProvider, PolygonProvider, CoinMarketCapProvider)
}


def build_provider(
    name: str,
    settings: Settings,
    *,
    timeout_s: float | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> HttpProvider:
    """The provider ``name`` configured from ``settings`` (base URL, key, quota, breaker).

    Raises ``ConfigError`` naming the missing variable when the provider needs a key.
    ``clock``/``sleep`` drive the rate limiter, the breaker and the retry waits.
    """
    try:
        cls = PROVIDER_CLASSES[name]
    except KeyError as exc:
        raise ConfigError(f"no client for provider {name!r}; known: {sorted(PROVIDER_CLASSES)}") from exc
    conf = settings.provider(name)
    if cls.requires_key() and not conf.api_key:
        raise ConfigError(f"provider {name} needs an API key: set {conf.api_key_env}")
    return cls.create(
        conf.base_url,
        conf.api_key,
        timeout_s=settings.http_timeout_s if timeout_s is None else timeout_s,
        policy=policy or RetryPolicy(max_attempts=settings.http_max_attempts),
        limiter=RateLimiter(name, conf.rate_limit, conf.rate_window_s, clock=clock, sleep=sleep),
        breaker=CircuitBreaker(name, settings.breaker_failures, settings.breaker_cooldown_s, clock=clock),
        transport=transport,
        sleep=sleep,
    )


def build_providers(
    settings: Settings,
    names: Iterable[str] | None = None,
    *,
    skip_unconfigured: bool = True,
    **kwargs,
) -> list[HttpProvider]:
    """Providers in ``names`` order (default: ``settings.provider_priority``).

    With ``skip_unconfigured`` a keyed provider whose key is not set is left out with a
    warning (so a missing Polygon key does not stop Yahoo from serving); otherwise the
    ``ConfigError`` propagates.
    """
    providers = []
    for name in names or settings.provider_priority:
        try:
            providers.append(build_provider(name, settings, **kwargs))
        except ConfigError as exc:
            if not skip_unconfigured or name not in PROVIDER_CLASSES:
                raise
            log.warning("provider %s left out of the chain: %s", name, exc)
    return providers
