"""Generic instrument names ↔ broker symbols ↔ data-provider symbols.

The same instrument is ``NAS100`` in our tables, ``US100.e`` at the broker and ``NQ=F``
/ ``NDX`` / ``NAS100`` / ``I:NDX`` at Yahoo / Alpha Vantage / Twelve Data / Polygon. The
map is a versioned reference file (``reference/symbol_map.json``) so a change is
reviewed and its version recorded with the data it produced.

Validation at load time, because these strings end up in URLs and file names: generic
and broker names match ``[A-Za-z0-9][A-Za-z0-9._-]{0,39}`` in full; provider symbols are
limited to ``A-Z a-z 0-9 . = : / ^ _ -`` (no ``/`` for providers that put the symbol
in the URL path); no two instruments share a generic name (case-insensitively), a
broker symbol or one provider's symbol, so every reverse lookup is unambiguous.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from marketdata_assets.errors import ConfigError, InvalidInstrument

GENERIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
PROVIDER_SYMBOL = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9.=:/^_-]{0,39}$")
PATH_SYMBOL_PROVIDERS = frozenset({"yahoo", "polygon"})  # symbol is a URL path segment


def validate_instrument(name: str) -> str:
    """Return ``name`` if it is a valid generic instrument name, else ``InvalidInstrument``."""
    if not isinstance(name, str) or not GENERIC_NAME.fullmatch(name):
        raise InvalidInstrument(str(name), f"must match {GENERIC_NAME.pattern}")
    return name


def validate_provider_symbol(provider: str, symbol: str) -> str:
    if not isinstance(symbol, str) or not PROVIDER_SYMBOL.fullmatch(symbol) or ".." in symbol:
        raise InvalidInstrument(str(symbol), f"unsafe {provider} symbol (allowed: {PROVIDER_SYMBOL.pattern})")
    if provider in PATH_SYMBOL_PROVIDERS and "/" in symbol:
        raise InvalidInstrument(symbol, f"{provider} puts the symbol in the URL path; '/' is not allowed")
    return symbol


@dataclass(frozen=True)
class Instrument:
    generic: str
    asset_class: str
    broker: str | None = None
    description: str | None = None
    providers: Mapping[str, str] = field(default_factory=dict)


class SymbolMap:
    """Lookups in every direction over a validated set of ``Instrument``s."""

    def __init__(self, version: int, instruments: Mapping[str, Instrument], providers: tuple[str, ...]):
        self.version = version
        self.providers = providers
        self._by_generic = dict(instruments)
        self._by_broker: dict[str, str] = {}
        self._by_provider: dict[str, dict[str, str]] = {p: {} for p in providers}
        seen: dict[str, str] = {}
        for generic, inst in self._by_generic.items():
            validate_instrument(generic)
            if generic.upper() in seen:
                raise ConfigError(f"symbol map: {generic!r} and {seen[generic.upper()]!r} differ only in case")
            seen[generic.upper()] = generic
            if inst.broker is not None:
                validate_instrument(inst.broker)
                _claim(self._by_broker, inst.broker, generic, "broker symbol")
            for provider, symbol in inst.providers.items():
                if provider not in self._by_provider:
                    raise ConfigError(f"symbol map: {generic} names unknown provider {provider!r}")
                validate_provider_symbol(provider, symbol)
                _claim(self._by_provider[provider], symbol, generic, f"{provider} symbol")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SymbolMap:
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigError(f"symbol map: 'version' must be a positive integer, got {version!r}")
        providers = tuple(data.get("providers") or ())
        raw = data.get("instruments")
        if not providers or not isinstance(raw, Mapping):
            raise ConfigError("symbol map: needs a 'providers' list and an 'instruments' object")
        instruments = {}
        for generic, entry in raw.items():
            if not isinstance(entry, Mapping) or not entry.get("asset_class"):
                raise ConfigError(f"symbol map: {generic!r} needs an object with an 'asset_class'")
            instruments[generic] = Instrument(
                generic=generic,
                asset_class=str(entry["asset_class"]),
                broker=entry.get("broker"),
                description=entry.get("description"),
                providers=dict(entry.get("providers") or {}),
            )
        return cls(version, instruments, providers)

    # -- generic → others
    @property
    def generics(self) -> tuple[str, ...]:
        return tuple(self._by_generic)

    def __contains__(self, generic: object) -> bool:
        return generic in self._by_generic

    def instrument(self, generic: str) -> Instrument:
        try:
            return self._by_generic[generic]
        except KeyError:
            raise InvalidInstrument(generic, f"not in symbol map v{self.version}") from None

    def broker_symbol(self, generic: str) -> str | None:
        return self.instrument(generic).broker

    def provider_symbol(self, generic: str, provider: str) -> str | None:
        return self.instrument(generic).providers.get(provider)

    def provider_symbols(self, generic: str) -> dict[str, str]:
        """All provider symbols of ``generic``: what ``fetch_with_fallback`` takes."""
        return dict(self.instrument(generic).providers)

    # -- others → generic
    def from_broker(self, broker_symbol: str) -> str | None:
        return self._by_broker.get(broker_symbol)

    def from_provider(self, provider: str, symbol: str) -> str | None:
        return self._by_provider.get(provider, {}).get(symbol)

    def resolve(self, name: str) -> str:
        """A generic name or a broker symbol → the generic name (``InvalidInstrument`` if neither)."""
        if name in self._by_generic:
            return name
        generic = self._by_broker.get(name)
        if generic is None:
            raise InvalidInstrument(name, f"neither a generic name nor a broker symbol in symbol map v{self.version}")
        return generic

    def to_records(self) -> list[dict[str, Any]]:
        """One row per (instrument, provider), e.g. for the ``symbol_map`` table."""
        rows = []
        for inst in self._by_generic.values():
            for provider, symbol in sorted(inst.providers.items()):
                rows.append({
                    "generic": inst.generic, "broker": inst.broker, "asset_class": inst.asset_class,
                    "provider": provider, "provider_symbol": symbol, "version": self.version,
                })
        return rows


def _claim(index: dict[str, str], key: str, generic: str, what: str) -> None:
    if key in index and index[key] != generic:
        raise ConfigError(f"symbol map: {what} {key!r} maps to both {index[key]!r} and {generic!r}")
    index[key] = generic


def load_symbol_map(path: str | Path | None = None) -> SymbolMap:
    """Load and validate the map (default: the packaged ``reference/symbol_map.json``)."""
    if path is None:
        text = resources.files("marketdata_assets").joinpath("reference/symbol_map.json").read_text("utf-8")
        origin = "reference/symbol_map.json"
    else:
        text, origin = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"symbol map {origin} is not valid JSON: {exc}") from exc
    return SymbolMap.from_dict(data)
