"""Tick sizes (minimum price increments) from the versioned ``reference/contracts.json``.

Lookup order for an instrument: the per-instrument override (exact symbol, case-insensitive),
then its futures root (``ESH24`` → ``ES``), then the asset-class default (``FOREX_JPY`` when
the quote currency is JPY). Whether an off-grid price is an *error* depends on the asset
class (``enforce_grid``): futures and FX trade on an exchange/ECN grid, stocks print
sub-penny midpoint trades and crypto increments differ per pair, so their defaults are
informative only. A finer grid than the venue's is always safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from marketdata_assets.errors import ConfigError
from marketdata_assets.model.instruments import parse_instrument


@dataclass(frozen=True)
class ContractSpec:
    instrument: str
    tick_size: float
    enforce_grid: bool
    origin: str          # "instrument", "root:ES", "default:FOREX_JPY"
    version: str


@lru_cache(maxsize=1)
def contracts_document() -> dict:
    text = resources.files("marketdata_assets.reference").joinpath("contracts.json").read_text()
    doc = json.loads(text)
    for section in ("futures", "instruments"):
        for key, entry in doc[section].items():
            if not float(entry["tick_size"]) > 0:
                raise ConfigError(f"contracts.json {section}.{key}: tick_size must be > 0")
    return doc


def contract_spec(instrument: str) -> ContractSpec:
    """Tick size of ``instrument`` and whether its grid is enforced (raises ConfigError
    for a future whose root has no entry: guessing a grid would quarantine good data)."""
    doc = contracts_document()
    version = doc["version"]
    info = parse_instrument(instrument)
    enforce = bool(doc["enforce_grid"].get(info.asset_class, False))
    override = {k.upper(): v for k, v in doc["instruments"].items()}.get(instrument.upper())
    if override:
        return ContractSpec(instrument, float(override["tick_size"]),
                            bool(override.get("enforce_grid", enforce)), "instrument", version)
    if info.asset_class == "FUTURE":
        entry = doc["futures"].get(info.root or "")
        if entry is None:
            raise ConfigError(f"no tick size for futures root {info.root!r} ({instrument}) in contracts.json")
        return ContractSpec(instrument, float(entry["tick_size"]), enforce, f"root:{info.root}", version)
    key = "FOREX_JPY" if info.asset_class == "FOREX" and info.quote == "JPY" else info.asset_class
    if key not in doc["defaults"]:
        raise ConfigError(f"no default tick size for asset class {key!r} ({instrument}) in contracts.json")
    return ContractSpec(instrument, float(doc["defaults"][key]), enforce, f"default:{key}", version)


def tick_size_for(instrument: str) -> float:
    """Minimum price increment of ``instrument`` in its quoted units."""
    return contract_spec(instrument).tick_size


def grid_tick_size(instrument: str) -> float | None:
    """The tick size to check prices against, or ``None`` when the grid is not enforced
    (stocks, crypto defaults) or unknown (a futures root missing from the file)."""
    try:
        spec = contract_spec(instrument)
    except ConfigError:
        return None
    return spec.tick_size if spec.enforce_grid else None
