-- Generic instrument ↔ broker ↔ provider symbols (the symbol_map asset, from reference/symbol_map.json).
CREATE TABLE IF NOT EXISTS symbol_map (
    generic     TEXT NOT NULL,   -- the platform's instrument name (a partition key)
    kind        TEXT NOT NULL,   -- 'broker' or a provider name
    symbol      TEXT NOT NULL,   -- the symbol that broker/provider uses
    asset_class TEXT,
    version     TEXT NOT NULL,
    PRIMARY KEY (generic, kind)
);
CREATE UNIQUE INDEX IF NOT EXISTS symbol_map_reverse ON symbol_map (kind, symbol);
