-- Indicators per bar (the indicators asset): TA-Lib defaults (RSI 14, EMA 20, SMA 20, MACD 12/26/9,
-- Bollinger 20/2/2, ATR 14, stochastic 14/3/3) and the session-anchored VWAP.
CREATE TABLE IF NOT EXISTS indicators (
    instrument    TEXT NOT NULL,
    timeframe     TEXT NOT NULL,
    ts            INTEGER NOT NULL,   -- bar start, UTC
    trading_date  TEXT NOT NULL,
    origin        TEXT NOT NULL,
    rsi_14        REAL,
    ema_20        REAL,
    sma_20        REAL,
    macd          REAL,
    macd_signal   REAL,
    macd_hist     REAL,
    bb_upper      REAL,
    bb_middle     REAL,
    bb_lower      REAL,
    atr_14        REAL,
    vwap          REAL,
    stoch_k       REAL,
    stoch_d       REAL,
    run_id        TEXT NOT NULL,
    PRIMARY KEY (instrument, timeframe, ts, origin)
);
CREATE INDEX IF NOT EXISTS indicators_partition ON indicators (instrument, trading_date);
