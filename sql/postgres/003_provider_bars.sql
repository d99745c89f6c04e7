-- Bars from REST providers: raw as received (with the provider and the request that served
-- them), then validated into base_bars, which now tells its origin (sierra | provider).
CREATE TABLE IF NOT EXISTS raw_bars (
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    ts            timestamptz NOT NULL,   -- bar start, UTC
    timeframe     text        NOT NULL,   -- as requested from the provider (1m)
    open          double precision,
    high          double precision,
    low           double precision,
    close         double precision,
    volume        double precision,
    provider      text        NOT NULL,
    request       text        NOT NULL,   -- method, path and parameters, never a key
    run_id        text        NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_bars_partition ON raw_bars (instrument, trading_date);

ALTER TABLE base_bars ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'sierra';
ALTER TABLE base_bars DROP CONSTRAINT IF EXISTS base_bars_pkey;
ALTER TABLE base_bars ADD PRIMARY KEY (instrument, ts, origin);
