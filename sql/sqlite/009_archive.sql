-- Cold archive manifest: one row per archived (table, instrument, trading date) partition.
-- A partition of a table is either hot (rows in the table) or cold (a row here and a verified
-- Parquet file at ``path``), never both: the row is inserted in the transaction that deletes
-- the hot rows, and removed in the transaction that restores or rewrites them.
CREATE TABLE IF NOT EXISTS archive_manifest (
    table_name     TEXT    NOT NULL,   -- ticks | ohlc_bars | indicators | quarantine | raw_ticks | base_bars
    instrument     TEXT    NOT NULL,
    trading_date   TEXT    NOT NULL,
    path           TEXT    NOT NULL,   -- full URI of the Parquet file (local path or s3://…)
    rows           INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    sha256         TEXT    NOT NULL,   -- of the file's bytes
    min_ts         INTEGER,            -- Unix µs
    max_ts         INTEGER,
    schema_version TEXT    NOT NULL,   -- fingerprint of the table's columns when archived
    archived_at    INTEGER NOT NULL,
    PRIMARY KEY (table_name, instrument, trading_date)
);


-- Write generation of each partition: bumped in the transaction of every partition write,
-- archive and restore; the query cache (storage/query_cache.py) compares it to refuse stale answers.
CREATE TABLE IF NOT EXISTS partition_versions (
    instrument   TEXT    NOT NULL,
    trading_date TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    PRIMARY KEY (instrument, trading_date)
);
