"""Reference data: the versioned files in the package → validated → warehouse tables.

``reference/markets.json`` holds asset classes, markets (timezone, sessions, holidays, the
providers that carry them) and symbol conventions; ``reference/providers.json`` the data
providers (priorities, plan rate limits, the NAME of the variable holding each credential)
and what enrichment expects per asset class. The whole set is validated before anything is
written, so a broken file never leaves half-updated tables.

Write rule: ``overwrite_existing=False`` inserts only rows whose key is not in the table yet
(rows already present are kept as they are, e.g. a hand correction); ``True`` replaces each
table's contents by the file's rows, one transaction per table.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.transforms.reference import reference_frames, validate_reference

TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "asset_classes": ("code",), "markets": ("code",), "market_sessions": ("market", "name"),
    "market_holidays": ("market", "holiday"), "data_providers": ("name",),
}


@lru_cache(maxsize=1)
def providers_document() -> dict:
    """The versioned ``reference/providers.json`` shipped in the package."""
    return json.loads(resources.files("marketdata_assets.reference").joinpath("providers.json").read_text())


def load_reference(wh: Warehouse, markets_doc: dict, providers_doc: dict, overwrite_existing: bool) -> dict:
    """Validate, then write every reference table; returns per-table counts."""
    validate_reference(markets_doc, providers_doc)
    counts = {}
    for name, frame in reference_frames(markets_doc, providers_doc).items():
        key = TABLE_KEYS[name]
        if overwrite_existing:
            written = wh.replace_partition(name, frame, {})
            kept = 0
        else:
            present = wh.read(name, columns=list(key))
            seen = set(present.itertuples(index=False, name=None))
            new = frame[[tuple(r) not in seen for r in frame[list(key)].itertuples(index=False, name=None)]]
            written = wh.upsert(name, new, key) if len(new) else 0
            kept = len(frame) - len(new)
        counts[name] = {"in_files": len(frame), "written": int(written), "kept_existing": int(kept)}
    return counts


def reference_is_empty(wh: Warehouse) -> list[str]:
    """The reference tables that hold no row (what a bootstrap has to load)."""
    return [name for name in TABLE_KEYS if wh.count(name) == 0]
