"""Domain exceptions. Each keeps its cause (``raise X(...) from exc``) and names the
file, offset, field or source it is about. None of them ever carries a secret."""

from __future__ import annotations


class MarketDataError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MarketDataError):
    """A setting is missing or malformed (names the variable, never its value if secret)."""


class InvalidInstrument(MarketDataError):
    """An instrument name from a file or an API failed validation before use."""

    def __init__(self, name: str, why: str):
        self.name = name
        self.why = why
        super().__init__(f"invalid instrument {name!r}: {why}")


class CorruptFile(MarketDataError):
    """A source file cannot be read as its format says (bad header, record size, ...)."""

    def __init__(self, path: str, offset: int | None, why: str):
        self.path = str(path)
        self.offset = offset
        self.why = why
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{self.path}{where}: {why}")


class SchemaMismatch(MarketDataError):
    """A payload or frame does not have the fields/columns we expect (names the field)."""


class SourceUnavailable(MarketDataError):
    """A remote source could not serve a request (names the source and the reason)."""

    def __init__(self, source: str, why: str):
        self.source = source
        self.why = why
        super().__init__(f"{source}: {why}")


class CircuitOpen(SourceUnavailable):
    """The circuit breaker of a source is open; no request was sent."""


class RateLimited(SourceUnavailable):
    """The source answered that we exceed its limit (HTTP 429 or an in-band note)."""

    def __init__(self, source: str, why: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(source, why)


class StorageError(MarketDataError):
    """The warehouse or cache could not complete an operation (names the backend)."""
