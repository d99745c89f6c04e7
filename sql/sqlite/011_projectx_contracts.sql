-- ProjectX gateway contracts as the projectx_bars asset resolved them (ESZ24 -> CON.F.US.EP.Z24),
-- with the gateway's tick size and value. Its own table, so the symbol_map asset's refresh
-- (which deletes every symbol_map row not in its file) never wipes them.
CREATE TABLE IF NOT EXISTS projectx_contracts (
    instrument   TEXT    NOT NULL PRIMARY KEY,  -- the platform's name (ESZ24)
    contract_id  TEXT    NOT NULL,              -- CON.F.US.EP.Z24
    name         TEXT    NOT NULL,              -- the gateway's name, one-digit year (ESZ4)
    description  TEXT,
    tick_size    REAL    NOT NULL,
    tick_value   REAL    NOT NULL,
    symbol_id    TEXT,
    resolved_at  INTEGER NOT NULL,              -- Unix µs UTC
    run_id       TEXT    NOT NULL
);
