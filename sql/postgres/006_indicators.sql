-- Indicators per bar (the indicators asset): TA-Lib defaults (RSI 14, EMA 20, SMA 20, MACD 12/26/9,
-- Bollinger 20/2/2, ATR 14, stochastic 14/3/3) and the session-anchored VWAP.
CREATE TABLE IF NOT EXISTS indicators (
    instrument    text NOT NULL,
    timeframe     text NOT NULL,
    ts            timestamptz NOT NULL,   -- bar start, UTC
    trading_date  date NOT NULL,
    origin        text NOT NULL,
    rsi_14        double precision,
    ema_20        double precision,
    sma_20        double precision,
    macd          double precision,
    macd_signal   double precision,
    macd_hist     double precision,
    bb_upper      double precision,
    bb_middle     double precision,
    bb_lower      double precision,
    atr_14        double precision,
    vwap          double precision,
    stoch_k       double precision,
    stoch_d       double precision,
    run_id        text NOT NULL,
    PRIMARY KEY (instrument, timeframe, ts, origin)
);
CREATE INDEX IF NOT EXISTS indicators_partition ON indicators (instrument, trading_date);
