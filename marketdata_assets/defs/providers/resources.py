"""The provider chain as a resource: built once per run process, so a single-run backfill
shares its rate limiters and circuit breakers across all its partitions."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from marketdata_assets.settings import get_settings


class ProvidersResource(dg.ConfigurableResource):
    """REST providers in priority order (``MARKETDATA_PROVIDER_PRIORITY``); keyed providers
    whose key variable is unset are left out with a warning."""

    names: list[str] | None = None
    _chain: list | None = PrivateAttr(default=None)

    def chain(self) -> list:
        if self._chain is None:
            from marketdata_assets.sources.http import build_providers

            self._chain = build_providers(get_settings(), self.names)
        return self._chain
