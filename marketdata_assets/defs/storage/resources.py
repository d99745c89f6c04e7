"""Where the cold archive lives and how long partitions stay hot."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from marketdata_assets.settings import get_settings


class ArchiveResource(dg.ConfigurableResource):
    """The cold archive; unset values come from ``MARKETDATA_ARCHIVE_URL`` / ``MARKETDATA_HOT_DAYS``."""

    url: str | None = Field(default=None, description="archive root: a directory or any pyarrow filesystem "
                                                      "URI (s3://bucket/prefix); default MARKETDATA_ARCHIVE_URL")
    hot_days: int | None = Field(default=None, description="partitions older than this many days (from the "
                                                           "instrument's current trading date) go cold")

    def root(self) -> str:
        return self.url or get_settings().archive_url

    def days(self) -> int:
        return self.hot_days if self.hot_days is not None else get_settings().hot_days
