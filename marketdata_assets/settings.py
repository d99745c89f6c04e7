"""Settings, read from the environment when asked for, never at import.

``get_settings()`` builds a frozen snapshot each call, so tests set variables with
``monkeypatch.setenv`` and simply call it again. Every variable is documented in the
README. Secrets (API keys, tokens) are kept in ``Secret`` wrappers whose ``repr`` and
``str`` never show the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from marketdata_assets.errors import ConfigError, InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument

PROVIDERS = ("yahoo", "alphavantage", "twelvedata", "polygon")
PROJECTX_API_URL = "https://gateway-api-demo.s2f.projectx.com"
PROJECTX_HUB_URL = "https://gateway-rtc-demo.s2f.projectx.com/hubs/market"


class Secret:
    """A value that must never reach a log line, metadata or an error text."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or None

    def get(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        return "Secret(***)" if self._value else "Secret(None)"

    __str__ = __repr__


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _date(name: str, default: str) -> str:
    raw = _env(name, default)
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError as exc:
        raise ConfigError(f"{name} must be an ISO date (YYYY-MM-DD), got {raw!r}") from exc


def _list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _env(name)
    if raw is None:
        return default
    return tuple(p.strip() for p in raw.split(",") if p.strip())


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    base_url: str
    api_key: Secret
    api_key_env: str | None
    rate_limit: int          # requests allowed per window
    rate_window_s: float     # window length in seconds


_PROVIDER_DEFAULTS = {
    # name: (default base URL, key variable, free-tier requests, window seconds)
    "yahoo": ("https://query1.finance.yahoo.com", None, 60, 60.0),
    "alphavantage": ("https://www.alphavantage.co", "ALPHAVANTAGE_API_KEY", 5, 60.0),
    "twelvedata": ("https://api.twelvedata.com", "TWELVEDATA_API_KEY", 8, 60.0),
    "polygon": ("https://api.polygon.io", "POLYGON_API_KEY", 5, 60.0),
    "coinmarketcap": ("https://pro-api.coinmarketcap.com", "COINMARKETCAP_API_KEY", 30, 60.0),
}


@dataclass(frozen=True)
class Settings:
    warehouse_url: str
    sierra_data_dir: Path
    redis_url: str
    redis_prefix: str
    var_dir: Path
    instrument_markets: dict[str, str] = field(default_factory=dict)
    # providers
    provider_priority: tuple[str, ...] = PROVIDERS
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    http_timeout_s: float = 10.0
    http_max_attempts: int = 4
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0
    fake_providers_port: int = 8900
    provider_sensor_interval_s: int = 300
    provider_instruments: tuple[str, ...] = ()
    # sidecar
    sidecar_host: str = "127.0.0.1"
    sidecar_port: int = 8765
    sidecar_token: Secret = field(default_factory=lambda: Secret(None))
    sidecar_instruments: tuple[str, ...] = ()
    sidecar_poll_ms: int = 10
    sidecar_buffer_max: int = 200_000
    sidecar_stream_maxlen: int = 100_000
    sidecar_bars_kept: int = 5000
    sidecar_heartbeat_stale_s: int = 30
    # sidecar provider loop
    sidecar_provider_instruments: tuple[str, ...] = ()
    collection_interval_s: float = 1.0
    stale_after_s: float = 10.0
    # ProjectX gateway
    projectx_api_url: str = PROJECTX_API_URL
    projectx_hub_url: str = PROJECTX_HUB_URL
    projectx_username: str | None = None
    projectx_api_key: Secret = field(default_factory=lambda: Secret(None))
    journal_dir: Path = Path("var/journal")
    projectx_stall_s: float = 15.0
    # operations
    alert_webhook_url: str | None = None
    freshness_minutes: int = 15
    # storage lifecycle (README "Storage lifecycle")
    archive_url: str = "var/archive"
    hot_days: int = 30
    backup_dir: Path = Path("var/backups")
    backups_kept: int = 7
    compress_after_days: int = 7
    query_cache_ttl_s: int = 3600
    query_max_days: int = 366
    query_max_tick_days: int = 7
    # first date of the date partitions (ISO); records before it are quarantined, not loaded
    partitions_start: str = "2020-01-01"
    # last date of the date partitions (ISO), None: today (UTC); records after it are quarantined
    partitions_end: str | None = None

    def provider(self, name: str) -> ProviderSettings:
        try:
            return self.providers[name]
        except KeyError as exc:
            raise ConfigError(f"unknown provider {name!r}; known: {sorted(self.providers)}") from exc


def _parse_overrides(raw: str | None) -> dict[str, str]:
    """``MARKETDATA_INSTRUMENT_MARKETS="FOO=CME,BAR=NYSE"`` → {"FOO": "CME", "BAR": "NYSE"}."""
    out: dict[str, str] = {}
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(f"MARKETDATA_INSTRUMENT_MARKETS entry {part!r} is not SYMBOL=MARKET")
        sym, market = (s.strip() for s in part.split("=", 1))
        try:  # the name becomes a lookup key: validated (full match) like every instrument name
            out[validate_instrument(sym).upper()] = market.upper()
        except InvalidInstrument as exc:
            raise ConfigError(f"MARKETDATA_INSTRUMENT_MARKETS entry {part.strip()!r}: {exc.why}") from exc
    return out


def get_settings() -> Settings:
    var_dir = Path(_env("MARKETDATA_VAR_DIR", "var"))
    providers = {}
    for name, (url, key_env, limit, window) in _PROVIDER_DEFAULTS.items():
        up = name.upper()
        providers[name] = ProviderSettings(
            name=name,
            base_url=_env(f"MARKETDATA_{up}_BASE_URL", url).rstrip("/"),
            api_key=Secret(_env(key_env) if key_env else None),
            api_key_env=key_env,
            rate_limit=_int(f"MARKETDATA_{up}_RATE_LIMIT", limit),
            rate_window_s=_float(f"MARKETDATA_{up}_RATE_WINDOW_S", window),
        )
    priority = _list("MARKETDATA_PROVIDER_PRIORITY", PROVIDERS)
    unknown = [p for p in priority if p not in providers]
    if unknown:
        raise ConfigError(f"MARKETDATA_PROVIDER_PRIORITY names unknown providers {unknown}")
    return Settings(
        warehouse_url=_env("MARKETDATA_WAREHOUSE_URL", f"sqlite:///{var_dir}/warehouse.db"),
        sierra_data_dir=Path(_env("MARKETDATA_SIERRA_DATA_DIR", str(var_dir / "sierra"))),
        redis_url=_env("MARKETDATA_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_prefix=_env("MARKETDATA_REDIS_PREFIX", "md"),
        var_dir=var_dir,
        instrument_markets=_parse_overrides(_env("MARKETDATA_INSTRUMENT_MARKETS")),
        provider_priority=priority,
        providers=providers,
        http_timeout_s=_float("MARKETDATA_HTTP_TIMEOUT_S", 10.0),
        http_max_attempts=_int("MARKETDATA_HTTP_MAX_ATTEMPTS", 4),
        breaker_failures=_int("MARKETDATA_BREAKER_FAILURES", 5),
        breaker_cooldown_s=_float("MARKETDATA_BREAKER_COOLDOWN_S", 60.0),
        fake_providers_port=_int("MARKETDATA_FAKE_PROVIDERS_PORT", 8900),
        provider_sensor_interval_s=_int("MARKETDATA_PROVIDER_SENSOR_INTERVAL_S", 300),
        provider_instruments=_list("MARKETDATA_PROVIDER_INSTRUMENTS", ()),
        sidecar_host=_env("MARKETDATA_SIDECAR_HOST", "127.0.0.1"),
        sidecar_port=_int("MARKETDATA_SIDECAR_PORT", 8765),
        sidecar_token=Secret(_env("MARKETDATA_SIDECAR_TOKEN")),
        sidecar_instruments=_list("MARKETDATA_SIDECAR_INSTRUMENTS", ()),
        sidecar_poll_ms=_int("MARKETDATA_SIDECAR_POLL_MS", 10),
        sidecar_buffer_max=_int("MARKETDATA_SIDECAR_BUFFER_MAX", 200_000),
        sidecar_stream_maxlen=_int("MARKETDATA_SIDECAR_STREAM_MAXLEN", 100_000),
        sidecar_bars_kept=_int("MARKETDATA_SIDECAR_BARS_KEPT", 5000),
        sidecar_heartbeat_stale_s=_int("MARKETDATA_SIDECAR_HEARTBEAT_STALE_S", 30),
        sidecar_provider_instruments=_list("MARKETDATA_SIDECAR_PROVIDER_INSTRUMENTS", ()),
        collection_interval_s=_float("MARKETDATA_COLLECTION_INTERVAL_S", 1.0),
        stale_after_s=_float("MARKETDATA_STALE_AFTER_S", 10.0),
        projectx_api_url=_env("MARKETDATA_PROJECTX_API_URL", PROJECTX_API_URL).rstrip("/"),
        projectx_hub_url=_env("MARKETDATA_PROJECTX_HUB_URL", PROJECTX_HUB_URL).rstrip("/"),
        projectx_username=_env("MARKETDATA_PROJECTX_USERNAME"),
        projectx_api_key=Secret(_env("MARKETDATA_PROJECTX_API_KEY")),
        journal_dir=Path(_env("MARKETDATA_JOURNAL_DIR", str(var_dir / "journal"))),
        projectx_stall_s=_float("MARKETDATA_PROJECTX_STALL_SECONDS", 15.0),
        alert_webhook_url=_env("MARKETDATA_ALERT_WEBHOOK_URL"),
        freshness_minutes=_int("MARKETDATA_FRESHNESS_MINUTES", 15),
        archive_url=_env("MARKETDATA_ARCHIVE_URL", str(var_dir / "archive")),
        hot_days=_int("MARKETDATA_HOT_DAYS", 30),
        backup_dir=Path(_env("MARKETDATA_BACKUP_DIR", str(var_dir / "backups"))),
        backups_kept=_int("MARKETDATA_BACKUPS_KEPT", 7),
        compress_after_days=_int("MARKETDATA_COMPRESS_AFTER_DAYS", 7),
        query_cache_ttl_s=_int("MARKETDATA_QUERY_CACHE_TTL_S", 3600),
        query_max_days=_int("MARKETDATA_QUERY_MAX_DAYS", 366),
        query_max_tick_days=_int("MARKETDATA_QUERY_MAX_TICK_DAYS", 7),
        partitions_start=_date("MARKETDATA_PARTITIONS_START", "2020-01-01"),
        partitions_end=_date("MARKETDATA_PARTITIONS_END", "") if _env("MARKETDATA_PARTITIONS_END") else None,
    )


@dataclass(frozen=True)
class DepthSettings:
    """Market depth (README "Market depth"): where the ``.depth`` files are, how many levels
    per side a snapshot keeps and how often one is taken."""

    depth_dir: Path
    book_levels: int = 10
    snapshot_seconds: float = 1.0
    max_quarantined_share: float = 0.01


def depth_settings() -> DepthSettings:
    base = get_settings().sierra_data_dir
    levels = _int("MARKETDATA_BOOK_LEVELS", 10)
    seconds = _float("MARKETDATA_BOOK_SNAPSHOT_SECONDS", 1.0)
    if levels < 1:
        raise ConfigError(f"MARKETDATA_BOOK_LEVELS must be >= 1, got {levels}")
    if not seconds > 0:
        raise ConfigError(f"MARKETDATA_BOOK_SNAPSHOT_SECONDS must be > 0, got {seconds}")
    return DepthSettings(
        depth_dir=Path(_env("MARKETDATA_SIERRA_DEPTH_DIR", str(base / "MarketDepthData"))),
        book_levels=levels, snapshot_seconds=seconds,
        max_quarantined_share=_float("MARKETDATA_DEPTH_MAX_QUARANTINED_SHARE", 0.01),
    )
