-- SQLite: ts = INTEGER Unix microseconds UTC, dates = ISO TEXT (same tables as sql/postgres/008_depth.sql).
-- Market depth (sierra_depth, book_snapshots). Source-neutral: `origin` names the feed
-- (sierra, later projectx), `command` keeps the source's own code (Sierra Chart 0-7),
-- `source` / `source_offset` the file and byte offset (or stream and sequence) a row came from.
CREATE TABLE IF NOT EXISTS depth_events (
    instrument    TEXT        NOT NULL,
    ts            INTEGER NOT NULL,
    trading_date  date        NOT NULL,
    seq           INTEGER      NOT NULL,   -- ordinal of the record in the trading date's stream (kept and quarantined)
    command       INTEGER    NOT NULL,   -- 0 none, 1 clear book, 2/3 add bid/ask, 4/5 modify, 6/7 delete
    flags         INTEGER    NOT NULL,   -- 0x01 end of batch
    num_orders    INTEGER      NOT NULL,
    price         REAL,
    quantity      INTEGER      NOT NULL,
    origin        TEXT        NOT NULL,
    source        TEXT        NOT NULL,
    source_offset INTEGER      NOT NULL,
    run_id        TEXT        NOT NULL
);
CREATE INDEX IF NOT EXISTS depth_events_partition ON depth_events (instrument, trading_date, source, source_offset);

CREATE TABLE IF NOT EXISTS book_snapshots (
    instrument    TEXT        NOT NULL,
    ts            INTEGER NOT NULL,   -- end of the snapshot interval
    trading_date  date        NOT NULL,
    side          TEXT        NOT NULL CHECK (side IN ('bid', 'ask')),
    level         INTEGER    NOT NULL,   -- 1 = best
    price         REAL NOT NULL,
    quantity      INTEGER      NOT NULL,
    num_orders    INTEGER      NOT NULL,
    as_of         INTEGER NOT NULL,   -- the end-of-batch the book is observed at
    origin        TEXT        NOT NULL,
    run_id        TEXT        NOT NULL,
    PRIMARY KEY (instrument, ts, origin, side, level)
);
CREATE INDEX IF NOT EXISTS book_snapshots_partition ON book_snapshots (instrument, trading_date);

CREATE TABLE IF NOT EXISTS book_bars (
    instrument        TEXT        NOT NULL,
    ts                INTEGER NOT NULL,   -- minute start, UTC (joins ohlc_bars timeframe '1m')
    trading_date      date        NOT NULL,
    spread            REAL,       -- time-weighted over the two-sided time of the minute
    bid_size          REAL,       -- time-weighted mean best bid size
    ask_size          REAL,
    imbalance         REAL,       -- (bid_size - ask_size) / (bid_size + ask_size)
    two_sided_seconds REAL NOT NULL,
    batches           INTEGER      NOT NULL,
    crossed_batches   INTEGER      NOT NULL,   -- batch ends with a crossed or locked book
    origin            TEXT        NOT NULL,
    run_id            TEXT        NOT NULL,
    PRIMARY KEY (instrument, ts, origin)
);
CREATE INDEX IF NOT EXISTS book_bars_partition ON book_bars (instrument, trading_date);

-- How far each depth file has been read for a trading date, committed with the events.
CREATE TABLE IF NOT EXISTS depth_checkpoints (
    source        TEXT        NOT NULL,
    instrument    TEXT        NOT NULL,
    trading_date  date        NOT NULL,
    fingerprint   TEXT        NOT NULL,
    byte_offset   INTEGER      NOT NULL,   -- after the last end-of-batch record read
    file_size     INTEGER      NOT NULL,
    last_ts       INTEGER,            -- latest valid time read (time-backwards rule)
    raw_count     INTEGER      NOT NULL,   -- records of the trading date up to byte_offset (seq base)
    run_id        TEXT        NOT NULL,
    PRIMARY KEY (source, trading_date)
);

-- The book at the start of a trading date (point 'start') and after the last batch read
-- from each file (point 'checkpoint'): incremental reads resume from it, never from empty.
CREATE TABLE IF NOT EXISTS depth_book_state (
    instrument    TEXT        NOT NULL,
    trading_date  date        NOT NULL,
    source        TEXT        NOT NULL,
    point         TEXT        NOT NULL CHECK (point IN ('start', 'checkpoint')),
    side          TEXT        NOT NULL CHECK (side IN ('bid', 'ask')),
    price         REAL NOT NULL,
    quantity      INTEGER      NOT NULL,
    num_orders    INTEGER      NOT NULL,
    run_id        TEXT        NOT NULL
);
CREATE INDEX IF NOT EXISTS depth_book_state_partition ON depth_book_state (instrument, trading_date, source, point);
