-- Core market-data tables (PostgreSQL). Applied once, recorded in schema_migrations.
CREATE TABLE IF NOT EXISTS raw_ticks (
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    ts            timestamptz NOT NULL,
    open          double precision,
    high          double precision,
    low           double precision,
    close         double precision,
    num_trades    bigint,
    total_volume  bigint,
    bid_volume    bigint,
    ask_volume    bigint,
    kind          smallint    NOT NULL,   -- 0 trade, 1 bid/ask update, 2 bar
    sub_trade     smallint    NOT NULL,   -- 0 none, 1 first, 2 last sub-trade of an unbundled trade
    source        text        NOT NULL,   -- file path as read
    source_offset bigint      NOT NULL,   -- byte offset of the record in that file
    run_id        text        NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_ticks_partition ON raw_ticks (instrument, trading_date, source_offset);

CREATE TABLE IF NOT EXISTS ticks (
    instrument    text        NOT NULL,
    ts            timestamptz NOT NULL,
    trading_date  date        NOT NULL,
    kind          text        NOT NULL,   -- trade | quote
    price         double precision,       -- NULL for quote updates
    size          bigint      NOT NULL,
    bid           double precision,
    ask           double precision,
    side          text,                   -- buy | sell (aggressor), NULL when unknown
    num_trades    bigint      NOT NULL,
    sub_trade     smallint    NOT NULL,
    quality_score double precision NOT NULL DEFAULT 1.0,
    source        text        NOT NULL,
    source_offset bigint,
    run_id        text        NOT NULL,
    PRIMARY KEY (instrument, ts)
);
CREATE INDEX IF NOT EXISTS ticks_partition ON ticks (instrument, trading_date);

CREATE TABLE IF NOT EXISTS base_bars (
    instrument    text        NOT NULL,
    ts            timestamptz NOT NULL,
    trading_date  date        NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        bigint      NOT NULL,
    num_trades    bigint,
    bid_volume    bigint,
    ask_volume    bigint,
    quality_score double precision NOT NULL DEFAULT 1.0,
    source        text        NOT NULL,
    source_offset bigint,
    run_id        text        NOT NULL,
    PRIMARY KEY (instrument, ts)
);
CREATE INDEX IF NOT EXISTS base_bars_partition ON base_bars (instrument, trading_date);

CREATE TABLE IF NOT EXISTS ohlc_bars (
    instrument    text        NOT NULL,
    timeframe     text        NOT NULL CHECK (timeframe IN ('1m', '5m', '15m', '1h', '4h', '1d')),
    ts            timestamptz NOT NULL,   -- bar start, UTC
    trading_date  date        NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision NOT NULL,
    num_trades    bigint,
    bid_volume    double precision,
    ask_volume    double precision,
    vwap          double precision,
    origin        text        NOT NULL,   -- sierra | provider | projectx
    source        text        NOT NULL,
    run_id        text        NOT NULL,
    PRIMARY KEY (instrument, timeframe, ts, origin)
);
CREATE INDEX IF NOT EXISTS ohlc_bars_partition ON ohlc_bars (instrument, trading_date, origin);

CREATE TABLE IF NOT EXISTS quarantine (
    id            bigserial   PRIMARY KEY,
    stage         text        NOT NULL,   -- the asset that rejected the row
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    ts            timestamptz,
    source        text,
    source_offset bigint,
    reason        text        NOT NULL,
    raw           jsonb       NOT NULL,
    run_id        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quarantine_partition ON quarantine (instrument, trading_date, stage);

CREATE TABLE IF NOT EXISTS ingest_checkpoints (
    source        text        NOT NULL,
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    fingerprint   text        NOT NULL,
    byte_offset   bigint      NOT NULL,
    file_size     bigint      NOT NULL,
    last_ts       timestamptz,
    run_id        text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, trading_date)
);

CREATE TABLE IF NOT EXISTS asset_classes (
    code text PRIMARY KEY, name text NOT NULL, version text NOT NULL
);
CREATE TABLE IF NOT EXISTS markets (
    code text PRIMARY KEY, name text NOT NULL, asset_class text NOT NULL, timezone text NOT NULL,
    day_start text NOT NULL, weekdays text NOT NULL, version text NOT NULL
);
CREATE TABLE IF NOT EXISTS market_sessions (
    market text NOT NULL, name text NOT NULL, start_local text NOT NULL, end_local text NOT NULL,
    kind text NOT NULL, version text NOT NULL, PRIMARY KEY (market, name)
);
CREATE TABLE IF NOT EXISTS market_holidays (
    market text NOT NULL, holiday date NOT NULL, version text NOT NULL, PRIMARY KEY (market, holiday)
);
