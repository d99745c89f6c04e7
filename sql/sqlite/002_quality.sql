-- Missing bars while the market was open, per partition (written by ohlc_bars / validated_bars).
CREATE TABLE IF NOT EXISTS data_gaps (
    instrument    TEXT        NOT NULL,
    trading_date  TEXT        NOT NULL,
    timeframe     TEXT        NOT NULL,
    gap_start     INTEGER NOT NULL,   -- first missing bar start, UTC
    gap_end       INTEGER NOT NULL,   -- end of the last missing bar, UTC
    missing_bars  INTEGER      NOT NULL,
    run_id        TEXT        NOT NULL,
    PRIMARY KEY (instrument, trading_date, timeframe, gap_start)
);
