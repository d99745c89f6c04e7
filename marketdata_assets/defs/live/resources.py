"""Where the streaming sidecar keeps its state, as a resource (the heartbeat check and sensor
read it). Unset fields fall back to the ``MARKETDATA_*`` settings when used, never at load;
a Redis URL holding a password belongs in ``MARKETDATA_REDIS_URL``, not in this config,
which the UI shows."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from marketdata_assets.settings import get_settings


class LiveStreamResource(dg.ConfigurableResource):
    """Redis of the streaming sidecar (``live_stream``)."""

    redis_url: str | None = Field(default=None, description=(
        "Redis the sidecar writes to. Unset: MARKETDATA_REDIS_URL (redis://127.0.0.1:6379/0). "
        "Keep URLs with a password in the environment."))
    prefix: str | None = Field(default=None, description="Key prefix. Unset: MARKETDATA_REDIS_PREFIX (md).")
    heartbeat_stale_s: int | None = Field(default=None, description=(
        "A heartbeat older than this many seconds means the sidecar is down. "
        "Unset: MARKETDATA_SIDECAR_HEARTBEAT_STALE_S (30)."))

    def read_heartbeat(self) -> tuple[dict | None, str | None]:
        """(heartbeat or None, None) or (None, error class name) when Redis cannot be reached."""
        import redis

        from marketdata_assets.storage.live_reader import LiveCache

        s = get_settings()
        try:
            with LiveCache(self.redis_url or s.redis_url, self.prefix or s.redis_prefix,
                           stale_s=self.heartbeat_stale_s or s.sidecar_heartbeat_stale_s) as cache:
                return cache.heartbeat(), None
        except redis.RedisError as exc:
            return None, type(exc).__name__  # the URL may hold a password: never echo it
