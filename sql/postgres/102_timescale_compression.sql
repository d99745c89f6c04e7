-- TimescaleDB native compression (applied only with TimescaleDB, after 101_timescale.sql):
-- chunks segmented by instrument, ordered by ts; a policy compresses chunks older than
-- marketdata.compress_after_days (set by `migrate` from MARKETDATA_COMPRESS_AFTER_DAYS, default 7).
ALTER TABLE raw_ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument', timescaledb.compress_orderby = 'ts');
ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument', timescaledb.compress_orderby = 'ts');
ALTER TABLE ohlc_bars SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument', timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy(t, compress_after => make_interval(days => coalesce(nullif(current_setting('marketdata.compress_after_days', true), '')::int, 7)), if_not_exists => TRUE)
FROM unnest(ARRAY['raw_ticks', 'ticks', 'ohlc_bars']::regclass[]) AS t;
