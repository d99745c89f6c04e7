-- Missing bars while the market was open, per partition (written by ohlc_bars / validated_bars).
CREATE TABLE IF NOT EXISTS data_gaps (
    instrument    text        NOT NULL,
    trading_date  date        NOT NULL,
    timeframe     text        NOT NULL,
    gap_start     timestamptz NOT NULL,   -- first missing bar start, UTC
    gap_end       timestamptz NOT NULL,   -- end of the last missing bar, UTC
    missing_bars  bigint      NOT NULL,
    run_id        text        NOT NULL,
    PRIMARY KEY (instrument, trading_date, timeframe, gap_start)
);
