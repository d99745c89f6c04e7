"""What each warehouse column means, for the column schema the Dagster UI shows (the types
come from ``schema.py``, which the migrations in ``sql/`` match). A column name means the
same in every table unless ``TABLE_COLUMN_DOCS`` says otherwise."""

from __future__ import annotations

COLUMN_DOCS = {
    "instrument": "instrument symbol as in the file name or the symbol map (validated, e.g. ESH24)",
    "trading_date": "trading date of the instrument's market (the session containing ts), not a UTC day",
    "ts": "UTC timestamp, microseconds; for bars the bar start",
    "open": "first price", "high": "highest price", "low": "lowest price", "close": "last price",
    "num_trades": "number of trades", "total_volume": "volume as stored by Sierra Chart",
    "bid_volume": "volume traded at the bid (seller-initiated)", "ask_volume": "volume traded at the ask (buyer-initiated)",
    "volume": "traded volume", "sub_trade": "Sierra Chart sub-trade marker: 0 single, 1 first, 2 last of an unbundled trade",
    "source": "provenance: file path (or provider request) the row was read from",
    "source_offset": "provenance: byte offset of the record in its file",
    "run_id": "the Dagster run that wrote the row",
    "price": "trade price (NULL for a bid/ask update)", "size": "trade size", "bid": "best bid", "ask": "best ask",
    "aggressor": "aggressor side: 0 unknown, 1 buy, 2 sell (the read API adds it as text, side)",
    "side": "order book side: bid or ask",
    "quality_score": "1 minus the weights of the quality flags the row carries, in [0, 1]",
    "origin": "what the bars were built from: sierra (files) or provider (REST)",
    "timeframe": "bar length: 1m 5m 15m 1h 4h 1d (1d = the session bar)",
    "vwap": "volume-weighted average price (NULL when built from bars)",
    "provider": "REST provider that served the bar", "request": "provider request (method, path, parameters; never a key)",
    "stage": "asset that quarantined the row", "reason": "failed rules, ';'-joined", "raw": "the row's values as JSON",
    "gap_start": "first missing bar (UTC)", "gap_end": "end of the last missing bar (UTC)",
    "missing_bars": "number of missing bars in the gap",
    "rsi_14": "RSI, 14 bars", "ema_20": "EMA, 20 bars", "sma_20": "SMA, 20 bars", "macd": "MACD line (12, 26)",
    "macd_signal": "MACD signal (9)", "macd_hist": "MACD histogram", "bb_upper": "Bollinger upper band (20, 2)",
    "bb_middle": "Bollinger middle band", "bb_lower": "Bollinger lower band", "atr_14": "ATR, 14 bars",
    "stoch_k": "stochastic %K (14, 3)", "stoch_d": "stochastic %D (3)",
    "generic": "generic instrument name (e.g. NAS100)", "kind": "kind of row (see the table's documentation)",
    "symbol": "symbol", "asset_class": "asset class code", "version": "version of the reference file",
    "code": "code", "name": "name", "market": "market code", "timezone": "IANA time zone",
    "day_start": "local time the trading date starts", "weekdays": "trading weekdays",
    "start_local": "session start, local time", "end_local": "session end, local time", "holiday": "closed date",
    "fingerprint": "hash of the file header and first record", "byte_offset": "bytes read so far",
    "file_size": "file size when read", "last_ts": "last timestamp", "first_ts": "first timestamp",
}
TABLE_COLUMN_DOCS = {
    ("raw_ticks", "kind"): "0 trade, 1 bid/ask update, 2 bar",
    ("ticks", "kind"): "trade or quote (bid/ask update)",
    ("symbol_map", "kind"): "broker or a provider name",
    ("archive_manifest", "table_name"): "hot table the rows came from (ticks, raw_ticks, base_bars, ohlc_bars, ...)",
    ("archive_manifest", "path"): "full URI of the Parquet file (local path or s3://...)",
    ("archive_manifest", "rows"): "rows in the file, checked when read back",
    ("archive_manifest", "bytes"): "size of the file in bytes",
    ("archive_manifest", "sha256"): "SHA-256 of the file's bytes, checked when read back",
    ("archive_manifest", "min_ts"): "first timestamp in the file (UTC)",
    ("archive_manifest", "max_ts"): "last timestamp in the file (UTC)",
    ("archive_manifest", "schema_version"): "fingerprint of the table's columns when archived",
    ("archive_manifest", "archived_at"): "when the partition was archived (UTC)",
}


def column_doc(table: str, column: str) -> str:
    return TABLE_COLUMN_DOCS.get((table, column)) or COLUMN_DOCS.get(column, "")
