"""Raw ``.scid`` records → canonical raw/tick/base-bar frames. Pure: no I/O.

``raw_ticks`` keeps the records exactly as read (plus trading date and provenance);
``split_raw`` turns them into tick candidates (trades and bid/ask updates, in the ``ticks``
columns) and base-bar candidates (``base_bars`` columns), both still unvalidated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata_assets.model import aggressor
from marketdata_assets.model.sessions import Market
from marketdata_assets.sources.sierra.scid import KIND_BAR, KIND_QUOTE, KIND_TRADE


def f32_decimal(values: np.ndarray) -> np.ndarray:
    """Float32-stored prices as the shortest decimal that reads back as the same float32.

    Sierra Chart stores prices as f32, so 1.08615 comes back as 1.0861500501632690;
    users expect 1.08615. Vectorized: try 6, 7, 8, then 9 significant digits per value.
    """
    x = np.asarray(values, dtype=np.float64)
    out = x.copy()
    finite = np.isfinite(x) & (x != 0)
    if not finite.any():
        return out
    target = x.astype(np.float32)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, x, 1.0))))
    pending = finite.copy()
    for digits in (6, 7, 8, 9):
        scale = 10.0 ** (digits - 1 - magnitude)
        candidate = np.round(x * scale) / scale
        ok = pending & (candidate.astype(np.float32) == target)
        out[ok] = candidate[ok]
        pending &= ~ok
    return out


def ts_us(series: pd.Series) -> np.ndarray:
    return series.dt.as_unit("us").astype("int64").to_numpy()


def raw_frame(records: pd.DataFrame, instrument: str, market: Market, source: str, run_id: str) -> pd.DataFrame:
    """Records of a chunk with their trading date and provenance (``raw_ticks`` columns)."""
    out = records.rename(columns={"byte_offset": "source_offset"})
    out = out.assign(
        instrument=instrument,
        trading_date=market.trading_dates(ts_us(records["ts"])) if len(records) else np.empty(0, "datetime64[D]"),
        source=source,
        run_id=run_id,
    )
    return out


def split_raw(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tick candidates, base-bar candidates) from ``raw_ticks`` rows of one partition."""
    kind = raw["kind"].to_numpy()
    t = raw[(kind == KIND_TRADE) | (kind == KIND_QUOTE)]
    trade = t["kind"].to_numpy() == KIND_TRADE
    side = aggressor.from_volumes(trade, t["bid_volume"].to_numpy(), t["ask_volume"].to_numpy())
    ticks = pd.DataFrame({
        "instrument": t["instrument"].to_numpy(dtype=object),
        "ts": t["ts"].array,
        "trading_date": t["trading_date"].to_numpy(),
        "kind": np.where(trade, "trade", "quote").astype(object),
        "price": np.where(trade, f32_decimal(t["close"].to_numpy()), np.nan),
        "size": t["total_volume"].to_numpy(),
        "bid": f32_decimal(t["low"].to_numpy()),
        "ask": f32_decimal(t["high"].to_numpy()),
        "aggressor": side,
        "num_trades": t["num_trades"].to_numpy(),
        "sub_trade": t["sub_trade"].to_numpy(),
        "source": t["source"].to_numpy(dtype=object),
        "source_offset": t["source_offset"].to_numpy(),
        "run_id": t["run_id"].to_numpy(dtype=object),
    })
    b = raw[kind == KIND_BAR]
    bars = pd.DataFrame({
        "instrument": b["instrument"].to_numpy(dtype=object),
        "ts": b["ts"].array,
        "trading_date": b["trading_date"].to_numpy(),
        "open": f32_decimal(b["open"].to_numpy()), "high": f32_decimal(b["high"].to_numpy()),
        "low": f32_decimal(b["low"].to_numpy()), "close": f32_decimal(b["close"].to_numpy()),
        "volume": b["total_volume"].to_numpy(), "num_trades": b["num_trades"].to_numpy(),
        "bid_volume": b["bid_volume"].to_numpy(), "ask_volume": b["ask_volume"].to_numpy(),
        "source": b["source"].to_numpy(dtype=object), "source_offset": b["source_offset"].to_numpy(),
        "run_id": b["run_id"].to_numpy(dtype=object),
    })
    return ticks, bars


def as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``trading_date`` as datetime64 (warehouse reads return ISO text; GX compares timestamps)."""
    if len(frame) and not pd.api.types.is_datetime64_any_dtype(frame["trading_date"]):
        frame = frame.assign(trading_date=pd.to_datetime(frame["trading_date"]))
    return frame
