-- Market depth (sierra_depth, book_snapshots). Source-neutral: `origin` names the feed
-- (sierra, later projectx), `command` keeps the source's own code (Sierra Chart 0-7),
-- `source` / `source_offset` the file and byte offset (or stream and sequence) a row came from.
CREATE TABLE IF NOT EXISTS depth_events (
    instrument    text        NOT NULL,
    ts            timestamptz NOT NULL,
    trading_date  date        NOT NULL,
    seq           bigint      NOT NULL,   -- ordinal of the record in the trading date's stream (kept and quarantined)
    command       smallint    NOT NULL,   -- 0 none, 1 clear book, 2/3 add bid/ask, 4/5 modify, 6/7 delete
    flags         smallint    NOT NULL,   -- 0x01 end of batch
    num_orders    bigint      NOT NULL,
    price         double precision,
    quantity      bigint      NOT NULL,
    origin        text        NOT NULL,
    source        text        NOT NULL,
    source_offset bigint      NOT NULL,
    run_id        text        NOT NULL
);
CREATE INDEX IF NOT EXISTS depth_events_partition ON depth_events (instrument, trading_date, source, source_offset);

CREATE TABLE IF NOT EXISTS book_snapshots (
    instrument    text        NOT NULL,
    ts            timestamptz NOT NULL,   -- end of the snapshot interval
    trading_date  date        NOT NULL,
    side          text        NOT NULL CHECK (side IN ('bid', 'ask')),
    level         smallint    NOT NULL,   -- 1 = best
    price         double precision NOT NULL,
    quantity      bigint      NOT NULL,
    num_orders    bigint      NOT NULL,
    as_of         timestamptz NOT NULL,   -- the end-of-batch the book is observed at
    origin        text        NOT NULL,
    run_id        text        NOT NULL,
    PRIMARY KEY (instrument, ts, origin, side, level)
);
CREATE INDEX IF NOT EXISTS book_snapshots_partition ON book_snapshots (instrument, trading_date);

CREATE TABLE IF NOT EXISTS book_bars (
    instrument        text        NOT NULL,
    ts                timestamptz NOT NULL,   -- minute start, UTC (joins ohlc_bars timeframe '1m')
    trading_date      date        NOT NULL,
    spread            double precision,       -- time-weighted over the two-sided time of the minute
    bid_size          double precision,       -- time-weighted mean best bid size
    ask_size          double precision,
    imbalance         double precision,       -- (bid_size - ask_size) / (bid_size + ask_size)
    two_sided_seconds double precision NOT NULL,
    batches           bigint      NOT NULL,
    crossed_batches   bigint      NOT NULL,   -- batch ends with a crossed or locked book
    origin            text        NOT NULL,
    run_id            text        NOT NULL,
    PRIMARY KEY (instrument, ts, origin)
);
CREATE INDEX IF NOT EXISTS book_bars_partition ON book_bars (instrument, trading_date);

-- How far each depth file has been read for a trading date, committed with the events.
CREATE TABLE IF NOT EXISTS depth_checkpoints (
    source        text        NOT NULL,
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    fingerprint   text        NOT NULL,
    byte_offset   bigint      NOT NULL,   -- after the last end-of-batch record read
    file_size     bigint      NOT NULL,
    last_ts       timestamptz,            -- latest valid time read (time-backwards rule)
    raw_count     bigint      NOT NULL,   -- records of the trading date up to byte_offset (seq base)
    run_id        text        NOT NULL,
    PRIMARY KEY (source, trading_date)
);

-- The book at the start of a trading date (point 'start') and after the last batch read
-- from each file (point 'checkpoint'): incremental reads resume from it, never from empty.
CREATE TABLE IF NOT EXISTS depth_book_state (
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    source        text        NOT NULL,
    point         text        NOT NULL CHECK (point IN ('start', 'checkpoint')),
    side          text        NOT NULL CHECK (side IN ('bid', 'ask')),
    price         double precision NOT NULL,
    quantity      bigint      NOT NULL,
    num_orders    bigint      NOT NULL,
    run_id        text        NOT NULL
);
CREATE INDEX IF NOT EXISTS depth_book_state_partition ON depth_book_state (instrument, trading_date, source, point);
