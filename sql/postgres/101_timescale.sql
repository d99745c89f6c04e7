-- TimescaleDB features: applied only when 'timescaledb' is in pg_available_extensions.
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('raw_ticks', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('ticks', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('ohlc_bars', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
