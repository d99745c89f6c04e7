-- ProjectX gateway contracts as the projectx_bars asset resolved them (ESZ24 -> CON.F.US.EP.Z24),
-- with the gateway's tick size and value. Its own table, so the symbol_map asset's refresh
-- (which deletes every symbol_map row not in its file) never wipes them.
CREATE TABLE IF NOT EXISTS projectx_contracts (
    instrument   text             NOT NULL PRIMARY KEY,  -- the platform's name (ESZ24)
    contract_id  text             NOT NULL,              -- CON.F.US.EP.Z24
    name         text             NOT NULL,              -- the gateway's name, one-digit year (ESZ4)
    description  text,
    tick_size    double precision NOT NULL,
    tick_value   double precision NOT NULL,
    symbol_id    text,
    resolved_at  timestamptz      NOT NULL,
    run_id       text             NOT NULL
);
