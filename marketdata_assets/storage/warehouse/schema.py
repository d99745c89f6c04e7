"""Logical schema of the warehouse tables: the one list both backends encode and decode by.

Types: ``text``, ``ts`` (UTC timestamp, µs; ``timestamptz`` in PostgreSQL, INTEGER Unix µs in
SQLite), ``date`` (``date`` / ISO TEXT), ``f8``, ``i8``, ``i2``, ``json`` (``jsonb`` / TEXT).
Table and column names used in SQL come only from here, never from input; the migrations
in ``sql/`` create exactly these columns (a test checks it on both backends).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    partitioned: bool = True   # has instrument + trading_date

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def type_of(self, column: str) -> str:
        return dict(self.columns)[column]


_PROVENANCE = (("source", "text"), ("source_offset", "i8"), ("run_id", "text"))

TABLES: dict[str, Table] = {t.name: t for t in (
    Table("raw_ticks", (
        ("instrument", "text"), ("trading_date", "date"), ("ts", "ts"),
        ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"),
        ("num_trades", "i8"), ("total_volume", "i8"), ("bid_volume", "i8"), ("ask_volume", "i8"),
        ("kind", "i2"), ("sub_trade", "i2"), *_PROVENANCE,
    )),
    Table("ticks", (
        ("instrument", "text"), ("ts", "ts"), ("trading_date", "date"), ("kind", "text"),
        ("price", "f8"), ("size", "i8"), ("bid", "f8"), ("ask", "f8"),
        ("num_trades", "i8"), ("sub_trade", "i2"), ("quality_score", "f8"), *_PROVENANCE,
        ("aggressor", "i2"),   # 012: replaced the text column side (model/aggressor.py)
    )),
    Table("base_bars", (
        ("instrument", "text"), ("ts", "ts"), ("trading_date", "date"),
        ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"), ("volume", "i8"),
        ("num_trades", "i8"), ("bid_volume", "i8"), ("ask_volume", "i8"), ("quality_score", "f8"),
        *_PROVENANCE, ("origin", "text"),
    )),
    Table("raw_bars", (
        ("instrument", "text"), ("trading_date", "date"), ("ts", "ts"), ("timeframe", "text"),
        ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"), ("volume", "f8"),
        ("provider", "text"), ("request", "text"), ("run_id", "text"),
    )),
    Table("ohlc_bars", (
        ("instrument", "text"), ("timeframe", "text"), ("ts", "ts"), ("trading_date", "date"),
        ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"), ("volume", "f8"),
        ("num_trades", "i8"), ("bid_volume", "f8"), ("ask_volume", "f8"), ("vwap", "f8"),
        ("origin", "text"), ("source", "text"), ("run_id", "text"),
    )),
    Table("indicators", (
        ("instrument", "text"), ("timeframe", "text"), ("ts", "ts"), ("trading_date", "date"), ("origin", "text"),
        *((c, "f8") for c in ("rsi_14", "ema_20", "sma_20", "macd", "macd_signal", "macd_hist", "bb_upper",
                              "bb_middle", "bb_lower", "atr_14", "vwap", "stoch_k", "stoch_d")),
        ("run_id", "text"),
    )),
    Table("symbol_map", (
        ("generic", "text"), ("kind", "text"), ("symbol", "text"), ("asset_class", "text"), ("version", "text"),
    ), partitioned=False),
    # -- ProjectX gateway (011_projectx_contracts.sql) ---------------------------------------
    Table("projectx_contracts", (
        ("instrument", "text"), ("contract_id", "text"), ("name", "text"), ("description", "text"),
        ("tick_size", "f8"), ("tick_value", "f8"), ("symbol_id", "text"), ("resolved_at", "ts"), ("run_id", "text"),
    ), partitioned=False),
    Table("quarantine", (
        ("stage", "text"), ("instrument", "text"), ("trading_date", "date"), ("ts", "ts"),
        ("source", "text"), ("source_offset", "i8"), ("reason", "text"), ("raw", "json"),
        ("run_id", "text"),
    )),
    Table("data_gaps", (
        ("instrument", "text"), ("trading_date", "date"), ("timeframe", "text"), ("gap_start", "ts"),
        ("gap_end", "ts"), ("missing_bars", "i8"), ("run_id", "text"),
    )),
    Table("ingest_checkpoints", (
        ("source", "text"), ("instrument", "text"), ("trading_date", "date"), ("fingerprint", "text"),
        ("byte_offset", "i8"), ("file_size", "i8"), ("last_ts", "ts"), ("run_id", "text"),
    )),
    Table("asset_classes", (("code", "text"), ("name", "text"), ("version", "text")), partitioned=False),
    Table("markets", (
        ("code", "text"), ("name", "text"), ("asset_class", "text"), ("timezone", "text"),
        ("day_start", "text"), ("weekdays", "text"), ("version", "text"),
    ), partitioned=False),
    Table("market_sessions", (
        ("market", "text"), ("name", "text"), ("start_local", "text"), ("end_local", "text"),
        ("kind", "text"), ("version", "text"),
    ), partitioned=False),
    Table("market_holidays", (("market", "text"), ("holiday", "date"), ("version", "text")),
          partitioned=False),
    # -- cold archive (009_archive.sql) -----------------------------------------------------
    Table("archive_manifest", (
        ("table_name", "text"), ("instrument", "text"), ("trading_date", "date"), ("path", "text"),
        ("rows", "i8"), ("bytes", "i8"), ("sha256", "text"), ("min_ts", "ts"), ("max_ts", "ts"),
        ("schema_version", "text"), ("archived_at", "ts"),
    )),
    Table("partition_versions", (("instrument", "text"), ("trading_date", "date"), ("version", "i8"))),
    # -- catalog (004_catalog.sql) --------------------------------------------------------
    Table("data_providers", (
        ("name", "text"), ("priority", "i8"), ("metadata_priority", "i8"), ("base_url", "text"),
        ("rate_limit", "i8"), ("rate_window_s", "f8"), ("credential_env", "text"),
        ("metadata_asset_classes", "text"), ("markets", "text"), ("version", "text"),
    ), partitioned=False),
    Table("symbols", (
        ("symbol", "text"), ("asset_class", "text"), ("market", "text"), ("venue", "text"),
        ("root", "text"), ("month_code", "text"), ("expiry", "text"), ("base", "text"), ("quote", "text"),
        ("active", "i2"), ("first_ts", "ts"), ("last_ts", "ts"), ("deactivated_at", "ts"),
        ("reference_version", "text"), ("run_id", "text"),
    ), partitioned=False),
    Table("symbol_aliases", (("alias", "text"), ("symbol", "text"), ("reason", "text"), ("run_id", "text")),
          partitioned=False),
    Table("enriched_assets", (
        ("symbol", "text"), ("asset_class", "text"), ("status", "text"), ("name", "text"), ("sector", "text"),
        ("industry", "text"), ("exchange", "text"), ("currency", "text"), ("market_cap", "f8"),
        ("description", "text"), ("asset_type", "text"), ("field_providers", "json"),
        ("missing_fields", "text"), ("failed_providers", "json"), ("enriched_at", "ts"), ("run_id", "text"),
    ), partitioned=False),
    Table("data_integrity_reports", (
        ("run_id", "text"), ("reported_at", "ts"), ("status", "text"), ("quality", "f8"),
        ("tick_quality", "f8"), ("bar_quality", "f8"), ("quarantined_share", "f8"), ("kept_records", "i8"),
        ("quarantined_records", "i8"), ("instruments", "i8"), ("instruments_with_symbol", "i8"),
        ("symbol_coverage", "f8"), ("symbols", "i8"), ("active_symbols", "i8"), ("enrichment_applicable", "i8"),
        ("enrichment_covered", "i8"), ("enrichment_coverage", "f8"), ("orphan_records", "i8"),
        ("failed_components", "json"), ("freshness", "json"), ("checks", "json"),
    ), partitioned=False),
    # -- market depth (008_depth.sql) ----------------------------------------------------
    Table("depth_events", (
        ("instrument", "text"), ("ts", "ts"), ("trading_date", "date"), ("seq", "i8"), ("command", "i2"),
        ("flags", "i2"), ("num_orders", "i8"), ("price", "f8"), ("quantity", "i8"), ("origin", "text"),
        *_PROVENANCE, ("source_code", "i2"),   # 013_depth_source_code.sql
    )),
    Table("book_snapshots", (
        ("instrument", "text"), ("ts", "ts"), ("trading_date", "date"), ("side", "text"), ("level", "i2"),
        ("price", "f8"), ("quantity", "i8"), ("num_orders", "i8"), ("as_of", "ts"), ("origin", "text"),
        ("run_id", "text"),
    )),
    Table("book_bars", (
        ("instrument", "text"), ("ts", "ts"), ("trading_date", "date"), ("spread", "f8"), ("bid_size", "f8"),
        ("ask_size", "f8"), ("imbalance", "f8"), ("two_sided_seconds", "f8"), ("batches", "i8"),
        ("crossed_batches", "i8"), ("origin", "text"), ("run_id", "text"),
    )),
    Table("depth_checkpoints", (
        ("source", "text"), ("instrument", "text"), ("trading_date", "date"), ("fingerprint", "text"),
        ("byte_offset", "i8"), ("file_size", "i8"), ("last_ts", "ts"), ("raw_count", "i8"), ("run_id", "text"),
    )),
    Table("depth_book_state", (
        ("instrument", "text"), ("trading_date", "date"), ("source", "text"), ("point", "text"), ("side", "text"),
        ("price", "f8"), ("quantity", "i8"), ("num_orders", "i8"), ("run_id", "text"),
    )),
)}


# Tables whose partitions move to the cold archive (``storage/archive.py``).
ARCHIVED_TABLES = ("ticks", "ohlc_bars", "indicators", "quarantine", "raw_ticks", "base_bars")


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError as exc:
        raise ValueError(f"unknown warehouse table {name!r}") from exc


def check_columns(tbl: Table, columns) -> list[str]:
    unknown = [c for c in columns if c not in dict(tbl.columns)]
    if unknown:
        raise ValueError(f"table {tbl.name} has no columns {unknown}")
    return list(columns)
