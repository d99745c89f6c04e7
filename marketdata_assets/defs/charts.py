"""Charts for the materialization metadata, rendered off-screen (matplotlib's Agg canvas, no
pyplot state) and embedded as base64 PNG in markdown, as Dagster's tutorial does. Each stays
well under 200 KB: a fixed small canvas, at most ``MAX_BARS`` bars."""

from __future__ import annotations

import base64
import io

import dagster as dg
import numpy as np
import pandas as pd

MAX_BARS = 300          # the partition's last bars of the chosen timeframe
SIZE_IN, DPI = (10, 5), 80


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def candlestick_png(bars: pd.DataFrame, title: str) -> bytes:
    """Candles (green up, red down) with volume below; ``bars`` has ts, open, high, low, close, volume."""
    bars = bars.tail(MAX_BARS).reset_index(drop=True)
    fig = _figure()
    price, vol = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    x = np.arange(len(bars))
    up = (bars["close"] >= bars["open"]).to_numpy()
    colors = np.where(up, "#26a69a", "#ef5350")
    price.vlines(x, bars["low"], bars["high"], colors=colors, linewidth=0.8)
    body_lo = np.minimum(bars["open"], bars["close"])
    body_h = np.maximum((bars["close"] - bars["open"]).abs(), 1e-9)
    price.bar(x, body_h, bottom=body_lo, width=0.7, color=colors, edgecolor=colors)
    vol.bar(x, bars["volume"].fillna(0), width=0.7, color=colors)
    price.set_title(title, fontsize=10)
    price.set_ylabel("price")
    vol.set_ylabel("volume")
    _time_axis(vol, bars["ts"])
    return _png(fig)


def indicator_png(frame: pd.DataFrame, title: str) -> bytes:
    """Close with EMA 20, SMA 20 and the Bollinger band; RSI 14 below."""
    frame = frame.tail(MAX_BARS).reset_index(drop=True)
    fig = _figure()
    price, rsi = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    x = np.arange(len(frame))
    price.plot(x, frame["close"], color="black", linewidth=0.9, label="close")
    price.plot(x, frame["ema_20"], linewidth=0.8, label="EMA 20")
    price.plot(x, frame["sma_20"], linewidth=0.8, label="SMA 20")
    price.fill_between(x, frame["bb_lower"], frame["bb_upper"], alpha=0.15, label="Bollinger 20, 2")
    price.legend(loc="upper left", fontsize=7)
    price.set_title(title, fontsize=10)
    rsi.plot(x, frame["rsi_14"], linewidth=0.8, color="purple")
    rsi.axhline(70, color="grey", linewidth=0.5)
    rsi.axhline(30, color="grey", linewidth=0.5)
    rsi.set_ylabel("RSI 14")
    _time_axis(rsi, frame["ts"])
    return _png(fig)


def _time_axis(ax, ts: pd.Series) -> None:
    if not len(ts):
        return
    ticks = np.linspace(0, len(ts) - 1, num=min(8, len(ts))).astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([pd.Timestamp(ts.iloc[i]).strftime("%m-%d %H:%M") for i in ticks], fontsize=7)
    ax.set_xlabel("UTC")
