"""The ProjectX gateway client as a resource: built once per run process, so a single-run
backfill shares one login, one rate-limit window and one circuit breaker."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from marketdata_assets.settings import get_settings


class ProjectXResource(dg.ConfigurableResource):
    """The gateway at ``MARKETDATA_PROJECTX_API_URL`` with ``MARKETDATA_PROJECTX_USERNAME`` and
    the secret ``MARKETDATA_PROJECTX_API_KEY`` (read when a run first needs them)."""

    _client: object | None = PrivateAttr(default=None)

    def client(self):
        if self._client is None:
            from marketdata_assets.sources.projectx import build_projectx_client

            self._client = build_projectx_client(get_settings())
        return self._client
