-- Catalog: data providers (reference data), symbols discovered in market data with their
-- aliases, provider metadata per symbol, and one integrity report row per run.
-- (SQLite: ts = INTEGER Unix microseconds UTC, dates = ISO TEXT, json = TEXT.)
CREATE TABLE IF NOT EXISTS data_providers (
    name                   TEXT PRIMARY KEY,
    priority               INTEGER,            -- bars fallback order; NULL = serves no bars
    metadata_priority      INTEGER,            -- enrichment order; NULL = not used for metadata
    base_url               TEXT NOT NULL,
    rate_limit             INTEGER NOT NULL,   -- requests per window (plan quota)
    rate_window_s          REAL NOT NULL,
    credential_env         TEXT,               -- NAME of the variable holding the key, never the key
    metadata_asset_classes TEXT NOT NULL,
    markets                TEXT NOT NULL,
    version                TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS symbols (
    symbol            TEXT PRIMARY KEY,
    asset_class       TEXT NOT NULL,
    market            TEXT NOT NULL,
    venue             TEXT,
    root              TEXT,
    month_code        TEXT,
    expiry            TEXT,      -- ISO date (estimated: third Friday of the month)
    base              TEXT,
    quote             TEXT,
    active            INTEGER NOT NULL DEFAULT 1,
    first_ts          INTEGER,
    last_ts           INTEGER,
    deactivated_at    INTEGER,
    reference_version TEXT NOT NULL,
    run_id            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS symbols_class ON symbols (asset_class, active);

CREATE TABLE IF NOT EXISTS symbol_aliases (
    alias  TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    reason TEXT NOT NULL,
    run_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS symbol_aliases_symbol ON symbol_aliases (symbol);

CREATE TABLE IF NOT EXISTS enriched_assets (
    symbol           TEXT PRIMARY KEY,
    asset_class      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'failed', 'not_applicable')),
    name             TEXT,
    sector           TEXT,
    industry         TEXT,
    exchange         TEXT,
    currency         TEXT,
    market_cap       REAL,
    description      TEXT,
    asset_type       TEXT,
    field_providers  TEXT NOT NULL,
    missing_fields   TEXT NOT NULL,
    failed_providers TEXT NOT NULL,
    enriched_at      INTEGER NOT NULL,
    run_id           TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS data_integrity_reports (
    run_id                  TEXT PRIMARY KEY,
    reported_at             INTEGER NOT NULL,
    status                  TEXT NOT NULL,
    quality                 REAL,
    tick_quality            REAL,
    bar_quality             REAL,
    quarantined_share       REAL,
    kept_records            INTEGER NOT NULL,
    quarantined_records     INTEGER NOT NULL,
    instruments             INTEGER NOT NULL,
    instruments_with_symbol INTEGER NOT NULL,
    symbol_coverage         REAL,
    symbols                 INTEGER NOT NULL,
    active_symbols          INTEGER NOT NULL,
    enrichment_applicable   INTEGER NOT NULL,
    enrichment_covered      INTEGER NOT NULL,
    enrichment_coverage     REAL,
    orphan_records          INTEGER NOT NULL,
    failed_components       TEXT NOT NULL,
    freshness               TEXT NOT NULL,
    checks                  TEXT NOT NULL
);
