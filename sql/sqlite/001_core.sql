-- Core market-data tables (SQLite: ts = INTEGER Unix microseconds UTC, dates = ISO TEXT). Applied once, recorded in schema_migrations.
CREATE TABLE IF NOT EXISTS raw_ticks (
    instrument    TEXT        NOT NULL,
    trading_date  TEXT        NOT NULL,
    ts            INTEGER NOT NULL,
    open          REAL,
    high          REAL,
    low           REAL,
    close         REAL,
    num_trades    INTEGER,
    total_volume  INTEGER,
    bid_volume    INTEGER,
    ask_volume    INTEGER,
    kind          INTEGER    NOT NULL,   -- 0 trade, 1 bid/ask update, 2 bar
    sub_trade     INTEGER    NOT NULL,   -- 0 none, 1 first, 2 last sub-trade of an unbundled trade
    source        TEXT        NOT NULL,   -- file path as read
    source_offset INTEGER      NOT NULL,   -- byte offset of the record in that file
    run_id        TEXT        NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_ticks_partition ON raw_ticks (instrument, trading_date, source_offset);

CREATE TABLE IF NOT EXISTS ticks (
    instrument    TEXT        NOT NULL,
    ts            INTEGER NOT NULL,
    trading_date  TEXT        NOT NULL,
    kind          TEXT        NOT NULL,   -- trade | quote
    price         REAL,       -- NULL for quote updates
    size          INTEGER      NOT NULL,
    bid           REAL,
    ask           REAL,
    side          text,                   -- buy | sell (aggressor), NULL when unknown
    num_trades    INTEGER      NOT NULL,
    sub_trade     INTEGER    NOT NULL,
    quality_score REAL NOT NULL DEFAULT 1.0,
    source        TEXT        NOT NULL,
    source_offset INTEGER,
    run_id        TEXT        NOT NULL,
    PRIMARY KEY (instrument, ts)
);
CREATE INDEX IF NOT EXISTS ticks_partition ON ticks (instrument, trading_date);

CREATE TABLE IF NOT EXISTS base_bars (
    instrument    TEXT        NOT NULL,
    ts            INTEGER NOT NULL,
    trading_date  TEXT        NOT NULL,
    open          REAL NOT NULL,
    high          REAL NOT NULL,
    low           REAL NOT NULL,
    close         REAL NOT NULL,
    volume        INTEGER      NOT NULL,
    num_trades    INTEGER,
    bid_volume    INTEGER,
    ask_volume    INTEGER,
    quality_score REAL NOT NULL DEFAULT 1.0,
    source        TEXT        NOT NULL,
    source_offset INTEGER,
    run_id        TEXT        NOT NULL,
    PRIMARY KEY (instrument, ts)
);
CREATE INDEX IF NOT EXISTS base_bars_partition ON base_bars (instrument, trading_date);

CREATE TABLE IF NOT EXISTS ohlc_bars (
    instrument    TEXT        NOT NULL,
    timeframe     TEXT        NOT NULL CHECK (timeframe IN ('1m', '5m', '15m', '1h', '4h', '1d')),
    ts            INTEGER NOT NULL,   -- bar start, UTC
    trading_date  TEXT        NOT NULL,
    open          REAL NOT NULL,
    high          REAL NOT NULL,
    low           REAL NOT NULL,
    close         REAL NOT NULL,
    volume        REAL NOT NULL,
    num_trades    INTEGER,
    bid_volume    REAL,
    ask_volume    REAL,
    vwap          REAL,
    origin        TEXT        NOT NULL,   -- sierra | provider | projectx
    source        TEXT        NOT NULL,
    run_id        TEXT        NOT NULL,
    PRIMARY KEY (instrument, timeframe, ts, origin)
);
CREATE INDEX IF NOT EXISTS ohlc_bars_partition ON ohlc_bars (instrument, trading_date, origin);

CREATE TABLE IF NOT EXISTS quarantine (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    stage         TEXT        NOT NULL,   -- the asset that rejected the row
    instrument    TEXT        NOT NULL,
    trading_date  TEXT        NOT NULL,
    ts            INTEGER,
    source        text,
    source_offset INTEGER,
    reason        TEXT        NOT NULL,
    raw           TEXT       NOT NULL,
    run_id        TEXT        NOT NULL,
    created_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);
CREATE INDEX IF NOT EXISTS quarantine_partition ON quarantine (instrument, trading_date, stage);

CREATE TABLE IF NOT EXISTS ingest_checkpoints (
    source        TEXT        NOT NULL,
    instrument    TEXT        NOT NULL,
    trading_date  TEXT        NOT NULL,
    fingerprint   TEXT        NOT NULL,
    byte_offset   INTEGER      NOT NULL,
    file_size     INTEGER      NOT NULL,
    last_ts       INTEGER,
    run_id        TEXT        NOT NULL,
    updated_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    PRIMARY KEY (source, trading_date)
);

CREATE TABLE IF NOT EXISTS asset_classes (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS markets (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, asset_class TEXT NOT NULL, timezone TEXT NOT NULL,
    day_start TEXT NOT NULL, weekdays TEXT NOT NULL, version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS market_sessions (
    market TEXT NOT NULL, name TEXT NOT NULL, start_local TEXT NOT NULL, end_local TEXT NOT NULL,
    kind TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (market, name)
);
CREATE TABLE IF NOT EXISTS market_holidays (
    market TEXT NOT NULL, holiday TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (market, holiday)
);
