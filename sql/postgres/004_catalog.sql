-- Catalog: data providers (reference data), symbols discovered in market data with their
-- aliases, provider metadata per symbol, and one integrity report row per run.
CREATE TABLE IF NOT EXISTS data_providers (
    name                   text PRIMARY KEY,
    priority               bigint,            -- bars fallback order; NULL = serves no bars
    metadata_priority      bigint,            -- enrichment order; NULL = not used for metadata
    base_url               text NOT NULL,
    rate_limit             bigint NOT NULL,   -- requests per window (plan quota)
    rate_window_s          double precision NOT NULL,
    credential_env         text,              -- NAME of the variable holding the key, never the key
    metadata_asset_classes text NOT NULL,     -- comma-separated asset class codes
    markets                text NOT NULL,     -- comma-separated markets listing it in data_providers
    version                text NOT NULL
);

CREATE TABLE IF NOT EXISTS symbols (
    symbol            text PRIMARY KEY,       -- canonical: ESZ24, EURUSD, AAPL
    asset_class       text NOT NULL,
    market            text NOT NULL,
    venue             text,
    root              text,                   -- futures
    month_code        text,
    expiry            text,                   -- ISO date (estimated: third Friday of the month)
    base              text,                   -- FX and crypto
    quote             text,
    active            smallint NOT NULL DEFAULT 1,
    first_ts          timestamptz,            -- first market-data timestamp seen
    last_ts           timestamptz,            -- last market-data timestamp seen
    deactivated_at    timestamptz,
    reference_version text NOT NULL,
    run_id            text NOT NULL           -- run that added the symbol
);
CREATE INDEX IF NOT EXISTS symbols_class ON symbols (asset_class, active);

CREATE TABLE IF NOT EXISTS symbol_aliases (
    alias  text PRIMARY KEY,                  -- a spelling seen in market data: ESZ24-CME, esz24
    symbol text NOT NULL,                     -- the canonical symbol it resolves to
    reason text NOT NULL,                     -- case | suffix | broker
    run_id text NOT NULL
);
CREATE INDEX IF NOT EXISTS symbol_aliases_symbol ON symbol_aliases (symbol);

CREATE TABLE IF NOT EXISTS enriched_assets (
    symbol           text PRIMARY KEY,
    asset_class      text NOT NULL,
    status           text NOT NULL CHECK (status IN ('complete', 'partial', 'failed', 'not_applicable')),
    name             text,
    sector           text,
    industry         text,
    exchange         text,
    currency         text,
    market_cap       double precision,
    description      text,
    asset_type       text,
    field_providers  jsonb NOT NULL,          -- field -> provider that supplied it
    missing_fields   text NOT NULL,           -- expected fields no provider supplied (comma-separated)
    failed_providers jsonb NOT NULL,          -- provider -> why it gave nothing
    enriched_at      timestamptz NOT NULL,
    run_id           text NOT NULL
);

CREATE TABLE IF NOT EXISTS data_integrity_reports (
    run_id                  text PRIMARY KEY,
    reported_at             timestamptz NOT NULL,
    status                  text NOT NULL,    -- pass | fail
    quality                 double precision,
    tick_quality            double precision,
    bar_quality             double precision,
    quarantined_share       double precision,
    kept_records            bigint NOT NULL,
    quarantined_records     bigint NOT NULL,
    instruments             bigint NOT NULL,
    instruments_with_symbol bigint NOT NULL,
    symbol_coverage         double precision,
    symbols                 bigint NOT NULL,
    active_symbols          bigint NOT NULL,
    enrichment_applicable   bigint NOT NULL,
    enrichment_covered      bigint NOT NULL,
    enrichment_coverage     double precision,
    orphan_records          bigint NOT NULL,
    failed_components       jsonb NOT NULL,
    freshness               jsonb NOT NULL,
    checks                  jsonb NOT NULL
);
