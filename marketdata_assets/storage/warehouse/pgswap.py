"""PostgreSQL declarative partitions of the tick tables: a partition rewrite is a swap.

On plain PostgreSQL, ``raw_ticks`` and ``ticks`` are partitioned ``BY RANGE (instrument,
trading_date)`` with one leaf table per partition (``014_partitioned_ticks.sql``), created
on demand and named by :func:`leaf_name`. Rewriting a whole partition (scope exactly
instrument + trading date, no ``min_offset``) then costs what a first write costs:

1. ``CREATE TABLE`` a staging table with the parent's columns (read from the catalog: no
   lock on the parent yet), with a ``CHECK`` of its partition;
2. ``COPY … (FORMAT BINARY, FREEZE)`` the rows into it (new table: no old tuples, no
   hint-bit writes later), then build its indexes in one sorted pass each;
3. at the end of the write transaction, ``DROP`` the old leaf, ``ATTACH`` the staging table
   (the ``CHECK`` proves the partition constraint: no scan) and rename it to the leaf name.

All of it inside ``replace_partitions``' one transaction, with the checkpoint: readers see
the old leaf until commit; a writer that dies leaves it in place. Step 3 holds an
``ACCESS EXCLUSIVE`` lock on the parent for milliseconds (no data is touched under it);
it waits for queries already reading the parent. A whole-partition write of no rows drops
the leaf and attaches nothing. Narrower writes (``scope`` beyond instrument/date, or
``min_offset``: an incremental append) keep ``DELETE`` + ``COPY``, straight into the leaf,
creating it empty first when needed.

TimescaleDB hypertables cannot be declaratively partitioned: with the extension, 014 leaves
the tables as they are (hypertables, ``101_timescale.sql``) and writes keep ``DELETE`` +
``COPY`` on their chunks. Which tables are partitioned is read from the catalog
(:func:`declarative_tables`), never assumed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

from psycopg import sql as pgsql

# tables 014 partitions (plain PostgreSQL only)
PARTITIONED_TABLES = ("raw_ticks", "ticks")
# unique keys each leaf carries on its own: a primary key on the parent would have to hold the
# partition key, and `pg_restore --clean` (backup.py) cannot drop a leaf's inherited key
LEAF_KEYS = {"ticks": ("instrument", "ts")}
_SLUG = re.compile(r"[^a-z0-9]")


def leaf_name(table_name: str, instrument: str, trading_date) -> str:
    """``<table>_<yyyymmdd>_<instrument slug>_<md5 of instrument, 8 hex>``: at most 58
    characters, safe as an identifier, distinct per instrument (the hash) and readable.
    ``014_partitioned_ticks.sql`` computes the same name in SQL."""
    day = date.fromisoformat(str(trading_date)[:10])
    slug = _SLUG.sub("_", instrument.lower())[:30]
    digest = hashlib.md5(instrument.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return f"{table_name}_{day:%Y%m%d}_{slug}_{digest}"


def declarative_tables(conn) -> frozenset[str]:
    """Which of :data:`PARTITIONED_TABLES` are partitioned tables in this database."""
    rows = conn.execute("SELECT relname FROM pg_class WHERE relkind = 'p' AND relname = ANY(%s) "
                        "AND pg_table_is_visible(oid)", (list(PARTITIONED_TABLES),)).fetchall()
    return frozenset(r[0] for r in rows)


def _bounds(instrument: str, trading_date) -> pgsql.Composed:
    day = date.fromisoformat(str(trading_date)[:10])
    return pgsql.SQL("FOR VALUES FROM ({}, {}) TO ({}, {})").format(
        pgsql.Literal(instrument), pgsql.Literal(day), pgsql.Literal(instrument), pgsql.Literal(day + timedelta(days=1)))


def ensure_leaf(cur, table_name: str, instrument: str, trading_date) -> str:
    """The partition's leaf, created empty when it does not exist yet; returns its name."""
    leaf = leaf_name(table_name, instrument, trading_date)
    if cur.execute("SELECT to_regclass(%s)", (leaf,)).fetchone()[0] is None:
        cur.execute(pgsql.SQL("CREATE TABLE {} PARTITION OF {} ").format(
            pgsql.Identifier(leaf), pgsql.Identifier(table_name)) + _bounds(instrument, trading_date))
        add_leaf_keys(cur, table_name, leaf)
    return leaf


def add_leaf_keys(cur, table_name: str, target: str) -> None:
    """The unique keys of :data:`LEAF_KEYS` on one leaf (or a table standing in for one)."""
    if table_name in LEAF_KEYS:
        cur.execute(pgsql.SQL("CREATE UNIQUE INDEX ON {} ({})").format(
            pgsql.Identifier(target), pgsql.SQL(", ").join(map(pgsql.Identifier, LEAF_KEYS[table_name]))))


def create_staging(cur, table_name: str, instrument: str, trading_date) -> str:
    """An empty table with ``table_name``'s columns, defaults and checks that may hold only the
    partition's rows; returns its name (unique per transaction: the txid).

    Built from the catalog rather than ``LIKE``: ``LIKE`` would hold a lock on the parent from
    here to the commit, and two writers of different partitions would each wait, at their
    swap, for the other's lock (a deadlock). The parent is locked only by the swap itself."""
    txid = cur.execute("SELECT txid_current()").fetchone()[0]
    staging = f"{leaf_name(table_name, instrument, trading_date)[:50]}_w{txid % 10**6}"
    day = date.fromisoformat(str(trading_date)[:10])
    cols = cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table_name,)).fetchall()
    checks = [r[0] for r in cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                         "WHERE conrelid = %s::regclass AND contype = 'c'", (table_name,))]
    # names, types and expressions come from the catalog of our own migrated table
    parts = [pgsql.SQL("{} {}{}{}").format(pgsql.Identifier(name), pgsql.SQL(kind),
                                           pgsql.SQL(" NOT NULL" if notnull else ""),
                                           pgsql.SQL(f" DEFAULT {default}" if default else ""))
             for name, kind, notnull, default in cols]
    parts += [pgsql.SQL(check) for check in checks]
    parts.append(pgsql.SQL("CONSTRAINT {} CHECK (instrument = {} AND trading_date = {})").format(
        pgsql.Identifier(f"{staging}_part"), pgsql.Literal(instrument), pgsql.Literal(day)))
    cur.execute(pgsql.SQL("CREATE TABLE {} ({})").format(pgsql.Identifier(staging), pgsql.SQL(", ").join(parts)))
    return staging


def index_staging(cur, table_name: str, staging: str) -> None:
    """The parent's indexes and the leaf keys on the filled staging table (``ATTACH`` adopts
    the parent's)."""
    specs = cur.execute(
        "SELECT i.indisprimary, i.indisunique, array_agg(a.attname ORDER BY k.ord) "
        "FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s::regclass AND i.indexprs IS NULL AND i.indpred IS NULL "
        "GROUP BY i.indexrelid, i.indisprimary, i.indisunique ORDER BY i.indexrelid",
        (table_name,)).fetchall()
    for primary, unique, cols in specs:
        columns = pgsql.SQL(", ").join(map(pgsql.Identifier, cols))
        if primary:
            cur.execute(pgsql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(pgsql.Identifier(staging), columns))
        else:
            cur.execute(pgsql.SQL("CREATE {}INDEX ON {} ({})").format(
                pgsql.SQL("UNIQUE " if unique else ""), pgsql.Identifier(staging), columns))
    add_leaf_keys(cur, table_name, staging)


def swap_in(cur, table_name: str, instrument: str, trading_date, staging: str | None) -> None:
    """Replace the partition's leaf by ``staging`` (``None``: by nothing)."""
    leaf = leaf_name(table_name, instrument, trading_date)
    cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(leaf)))
    if staging is None:
        return
    cur.execute(pgsql.SQL("ALTER TABLE {} ATTACH PARTITION {} ").format(
        pgsql.Identifier(table_name), pgsql.Identifier(staging)) + _bounds(instrument, trading_date))
    cur.execute(pgsql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
        pgsql.Identifier(staging), pgsql.Identifier(f"{staging}_part")))
    cur.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(pgsql.Identifier(staging), pgsql.Identifier(leaf)))
