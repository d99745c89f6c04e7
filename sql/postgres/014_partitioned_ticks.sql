-- raw_ticks and ticks become declaratively partitioned BY RANGE (instrument, trading_date),
-- one leaf table per partition, so a partition rewrite is a swap of its leaf
-- (storage/warehouse/pgswap.py) instead of DELETE + COPY under MVCC.
--
-- Plain PostgreSQL only: with TimescaleDB (marketdata.timescale = 'on', set by `migrate`, or
-- the extension already installed) the tables are or will become hypertables (101), which
-- cannot be partitioned tables, and this migration changes nothing.
--
-- A populated warehouse is converted in place, in the migration's transaction: each table is
-- renamed, a partitioned table with the same columns (and any column an earlier migration
-- added) takes its name, one leaf per (instrument, trading_date) present is created with the
-- name pgswap.leaf_name computes, the rows are copied, and the old table is dropped.
-- Keys: ticks' primary key (instrument, ts) becomes a unique index of each leaf (pgswap.LEAF_KEYS):
-- a key on the parent would have to hold trading_date, and pg_restore --clean cannot drop a
-- leaf's inherited key (backup.py). A leaf holds one trading date, and the trading date is a
-- function of ts, so the rows admitted are the same. ticks_partition (instrument,
-- trading_date) is dropped: the partitions are that index now. raw_ticks keeps its
-- (instrument, trading_date, source_offset) index for appends from an offset.
DO $$
DECLARE
    t text;
    r record;
    leaf text;
BEGIN
    IF coalesce(current_setting('marketdata.timescale', true), '') = 'on'
       OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['raw_ticks', 'ticks'] LOOP
        IF (SELECT relkind FROM pg_class WHERE oid = t::regclass) = 'p' THEN
            CONTINUE;
        END IF;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_unpartitioned');
        FOR r IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                 WHERE i.indrelid = (t || '_unpartitioned')::regclass LOOP
            EXECUTE format('ALTER INDEX %I RENAME TO %I', r.relname, left(r.relname, 40) || '_unpartitioned');
        END LOOP;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                       'PARTITION BY RANGE (instrument, trading_date)', t, t || '_unpartitioned');
        IF t = 'raw_ticks' THEN
            CREATE INDEX raw_ticks_partition ON raw_ticks (instrument, trading_date, source_offset);
        END IF;
        FOR r IN EXECUTE format('SELECT DISTINCT instrument, trading_date FROM %I', t || '_unpartitioned') LOOP
            leaf := format('%s_%s_%s_%s', t, to_char(r.trading_date, 'YYYYMMDD'),
                           left(regexp_replace(lower(r.instrument), '[^a-z0-9]', '_', 'g'), 30),
                           left(md5(r.instrument), 8));
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L, %L) TO (%L, %L)',
                           leaf, t, r.instrument, r.trading_date, r.instrument, r.trading_date + 1);
            IF t = 'ticks' THEN
                EXECUTE format('CREATE UNIQUE INDEX ON %I (instrument, ts)', leaf);
            END IF;
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t, t || '_unpartitioned');
        EXECUTE format('DROP TABLE %I', t || '_unpartitioned');
    END LOOP;
END
$$;
