-- Bars from REST providers: raw as received (with the provider and the request that served
-- them), then validated into base_bars, which now tells its origin (sierra | provider).
CREATE TABLE IF NOT EXISTS raw_bars (
    instrument    TEXT    NOT NULL,
    trading_date  TEXT    NOT NULL,
    ts            INTEGER NOT NULL,   -- bar start, Unix µs UTC
    timeframe     TEXT    NOT NULL,   -- as requested from the provider (1m)
    open          REAL,
    high          REAL,
    low           REAL,
    close         REAL,
    volume        REAL,
    provider      TEXT    NOT NULL,
    request       TEXT    NOT NULL,   -- method, path and parameters, never a key
    run_id        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_bars_partition ON raw_bars (instrument, trading_date);

CREATE TABLE base_bars_003 (
    instrument    TEXT    NOT NULL,
    ts            INTEGER NOT NULL,
    trading_date  TEXT    NOT NULL,
    open          REAL    NOT NULL,
    high          REAL    NOT NULL,
    low           REAL    NOT NULL,
    close         REAL    NOT NULL,
    volume        INTEGER NOT NULL,
    num_trades    INTEGER,
    bid_volume    INTEGER,
    ask_volume    INTEGER,
    quality_score REAL    NOT NULL DEFAULT 1.0,
    source        TEXT    NOT NULL,
    source_offset INTEGER,
    run_id        TEXT    NOT NULL,
    origin        TEXT    NOT NULL DEFAULT 'sierra',
    PRIMARY KEY (instrument, ts, origin)
);
INSERT INTO base_bars_003 (instrument, ts, trading_date, open, high, low, close, volume, num_trades, bid_volume,
                           ask_volume, quality_score, source, source_offset, run_id)
    SELECT instrument, ts, trading_date, open, high, low, close, volume, num_trades, bid_volume,
           ask_volume, quality_score, source, source_offset, run_id FROM base_bars;
DROP TABLE base_bars;
ALTER TABLE base_bars_003 RENAME TO base_bars;
CREATE INDEX IF NOT EXISTS base_bars_partition ON base_bars (instrument, trading_date);
