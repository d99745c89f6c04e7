"""Small partitions of every archived table, with NULLs, NaN, unicode and JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata_assets_tests.storage.killed_writer import frame as ticks_frame

DAY, NEXT = "2024-03-08", "2024-03-11"
T0 = 1_709_852_400_000_000


def ts(n: int, start: int = T0, step: int = 60_000_000) -> pd.Series:
    return pd.Series(pd.to_datetime(start + np.arange(n, dtype=np.int64) * step, unit="us", utc=True))


def partitions(day: str = DAY, shift_days: int = 0) -> dict[str, pd.DataFrame]:
    """One partition of each archived table on ``day`` (timestamps shifted by ``shift_days``)."""
    start = T0 + shift_days * 86_400_000_000
    n = 50
    ticks = ticks_frame(n, "r1").assign(
        trading_date=day, ts=ts(n, start, 1), aggressor=[0, 1] * (n // 2), source=["é€"] * n,
        price=lambda f: f["price"].where(np.arange(n) % 7 != 0))
    raw = pd.DataFrame({
        "instrument": "ESH24", "trading_date": day, "ts": ts(n, start, 1), "open": 0.0, "high": 5001.0,
        "low": 4999.0, "close": 5000.0, "num_trades": 1, "total_volume": np.arange(n), "bid_volume": 0,
        "ask_volume": 1, "kind": 0, "sub_trade": 0, "source": "/data/ESH24.scid",
        "source_offset": 56 + 40 * np.arange(n), "run_id": "r1"})
    bars = pd.concat([pd.DataFrame({
        "instrument": "ESH24", "timeframe": tf, "ts": ts(10, start, step), "trading_date": day,
        "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0,
        "num_trades": pd.array([None] + [3] * 9, dtype="Int64"), "bid_volume": 4.0, "ask_volume": 6.0,
        "vwap": np.nan, "origin": "sierra", "source": "ticks", "run_id": "r1"})
        for tf, step in (("1m", 60_000_000), ("5m", 300_000_000))], ignore_index=True)
    base = pd.DataFrame({
        "instrument": "ESH24", "ts": ts(10, start), "trading_date": day, "open": 1.0, "high": 2.0,
        "low": 0.5, "close": 1.5, "volume": 7, "num_trades": 2, "bid_volume": 3, "ask_volume": 4,
        "quality_score": 0.5, "source": "f", "source_offset": None, "run_id": "r1", "origin": "sierra"})
    ind = bars[["instrument", "timeframe", "ts", "trading_date", "origin", "run_id"]].assign(
        rsi_14=np.linspace(0, 100, 20), ema_20=np.nan, sma_20=1.0, macd=0.1, macd_signal=0.2, macd_hist=-0.1,
        bb_upper=2.0, bb_middle=1.0, bb_lower=0.0, atr_14=0.3, vwap=1.2, stoch_k=50.0, stoch_d=None)
    quarantine = pd.DataFrame({
        "stage": "validated_ticks", "instrument": "ESH24", "trading_date": day,
        "ts": [ts(3, start)[0], None, ts(3, start)[2]], "source": ["f", None, "f"],
        "source_offset": pd.array([56, None, 96], dtype="Int64"), "reason": ["price <= 0", "no ts", "é"],
        "raw": [{"price": -1.0}, {"price": None}, {}], "run_id": "r1"})
    return {"ticks": ticks, "raw_ticks": raw, "ohlc_bars": bars, "base_bars": base, "indicators": ind,
            "quarantine": quarantine}


SCOPES = {"quarantine": {"stage": "validated_ticks"}}


def write_partitions(wh, day: str = DAY, shift_days: int = 0) -> None:
    from marketdata_assets.storage.warehouse import partition_scope

    for name, rows in partitions(day, shift_days).items():
        wh.replace_partition(name, rows, {**partition_scope("ESH24", day), **SCOPES.get(name, {})})
