-- Cold archive manifest: one row per archived (table, instrument, trading date) partition.
-- A partition of a table is either hot (rows in the table) or cold (a row here and a verified
-- Parquet file at ``path``), never both: the row is inserted in the transaction that deletes
-- the hot rows, and removed in the transaction that restores or rewrites them.
CREATE TABLE IF NOT EXISTS archive_manifest (
    table_name     text        NOT NULL,   -- ticks | ohlc_bars | indicators | quarantine | raw_ticks | base_bars
    instrument     text        NOT NULL,
    trading_date   date        NOT NULL,
    path           text        NOT NULL,   -- full URI of the Parquet file (local path or s3://…)
    rows           bigint      NOT NULL,
    bytes          bigint      NOT NULL,
    sha256         text        NOT NULL,   -- of the file's bytes
    min_ts         timestamptz,
    max_ts         timestamptz,
    schema_version text        NOT NULL,   -- fingerprint of the table's columns when archived
    archived_at    timestamptz NOT NULL,
    PRIMARY KEY (table_name, instrument, trading_date)
);

-- Write generation of each partition: bumped in the transaction of every partition write,
-- archive and restore; the query cache (storage/query_cache.py) compares it to refuse stale answers.
CREATE TABLE IF NOT EXISTS partition_versions (
    instrument   text   NOT NULL,
    trading_date date   NOT NULL,
    version      bigint NOT NULL,
    PRIMARY KEY (instrument, trading_date)
);
