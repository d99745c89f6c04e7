"""Redis key layout of the streaming sidecar: what each key holds (codecs in :mod:`.live_codec`,
the read API in :mod:`.live_reader`).

The sidecar (``python -m marketdata_assets.sidecar``) is the only writer; anything else
reads through :class:`~.live_reader.LiveCache`. ``{p}`` is ``MARKETDATA_REDIS_PREFIX`` (default ``md``),
``{i}`` an instrument (validated with ``validate_instrument`` before it touches a key, so it
never holds ``:``), ``{tf}`` one of ``1m 5m 15m 1h 4h 1d``. Times are UTC microseconds.

=============================  =======  ==================================================
key                            type     content
=============================  =======  ==================================================
``{p}:ticks:{i}``              stream   one entry per trade / bid-ask update, capped with
                                        ``XTRIM MAXLEN ~ MARKETDATA_SIDECAR_STREAM_MAXLEN``
                                        once per commit. Entry ID ``<ts_us // 1000>-<ts_us %
                                        1000>`` (bumped by one when a record does not advance
                                        time), so a replayed record is refused by XADD. One
                                        field ``t``: 56 bytes ``TICK_DTYPE`` = ts (µs, i8),
                                        price (f8, NaN for a quote), bid, ask (f8), size,
                                        offset (i8; byte offset of the record in the file),
                                        num_trades (i4), kind (u1: the ``.scid`` reader's
                                        codes ``KIND_TRADE`` 0, ``KIND_QUOTE`` 1), side
                                        (u1: 0 none, 1 buy, 2 sell), sub_trade (u2).
``{p}:bars:{i}:{tf}``          string   ring buffer of the last ``capacity`` closed bars
                                        (``MARKETDATA_SIDECAR_BARS_KEPT``, 5000). Bytes 0-15:
                                        header ``<qq`` = (total bars ever appended,
                                        capacity); then ``capacity`` slots of 80 bytes
                                        ``<qdddddqddd`` (``BAR_DTYPE``): ts (bar start, µs),
                                        open, high, low, close, volume, num_trades,
                                        bid_volume, ask_volume, vwap (NaN when unknown).
                                        Bar number ``k`` (0-based, ``k < total``) is in slot
                                        ``k % capacity``, i.e. at byte ``16 + 80 * (k %
                                        capacity)``: the ring holds bars ``max(0, total -
                                        capacity)`` … ``total - 1``. Bars are appended in
                                        time order, never updated, with SETRANGE
                                        (:func:`ring_append_commands`); the string grows
                                        to ``16 + 80 * capacity`` bytes once full. Read in
                                        one atomic round trip: a Lua script (header, then one
                                        or two GETRANGEs), or GET when all of it is wanted.
``{p}:bar:{i}``                hash     the forming bar of each timeframe: field ``{tf}``,
                                        value as in ``bars`` (field absent: none forming).
``{p}:last:{i}``               hash     last trade (``trade_ts``, ``price``, ``size``,
                                        ``side``) and last quote (``quote_ts``, ``bid``,
                                        ``ask``).
``{p}:ind:{i}:{tf}``           hash     indicators of the last closed bar: ``ts`` and one
                                        field per ``indicator_columns()`` (``nan`` in warm-up).
``{p}:events:bar:{i}``         pub/sub  JSON event per closed bar (bar fields, indicators),
                                        published in the same transaction that stores it.
``{p}:heartbeat``              string   JSON ``{ts_us, pid, host, status, instruments}``,
                                        ``EX MARKETDATA_SIDECAR_HEARTBEAT_STALE_S``.
``{p}:offsets``                hash     ``{i}`` → byte offset up to which the file is in Redis.
``{p}:state:{i}``              hash     the sidecar's resume state (offset, file fingerprint,
                                        last stream ID, forming-bar builders, indicator
                                        state); internal, written with ``offsets``.
=============================  =======  ==================================================

Write rule: everything derived from a range of file records - ticks, closed and forming
bars, last trade/quote, indicators, bar events - and the offset and resume state at the
end of that range are written in ONE ``MULTI``/``EXEC``. A reader never sees bars without
the offset that covers them, and a restarted sidecar resumes exactly after the last range.
"""

from __future__ import annotations

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.timeframes import check_timeframe


class Keys:
    """Key names under one prefix; every instrument is validated before use."""

    def __init__(self, prefix: str):
        if not prefix or any(c in prefix for c in " \r\n*?[]"):
            raise ValueError(f"invalid Redis key prefix {prefix!r}")
        self.prefix = prefix
        self.offsets = f"{prefix}:offsets"
        self.heartbeat = f"{prefix}:heartbeat"

    def ticks(self, instrument: str) -> str:
        return f"{self.prefix}:ticks:{validate_instrument(instrument)}"

    def bars(self, instrument: str, timeframe: str) -> str:
        return f"{self.prefix}:bars:{validate_instrument(instrument)}:{check_timeframe(timeframe)}"

    def forming(self, instrument: str) -> str:
        return f"{self.prefix}:bar:{validate_instrument(instrument)}"

    def last(self, instrument: str) -> str:
        return f"{self.prefix}:last:{validate_instrument(instrument)}"

    def indicators(self, instrument: str, timeframe: str) -> str:
        return f"{self.prefix}:ind:{validate_instrument(instrument)}:{check_timeframe(timeframe)}"

    def bar_events(self, instrument: str) -> str:
        return f"{self.prefix}:events:bar:{validate_instrument(instrument)}"

    def state(self, instrument: str) -> str:
        return f"{self.prefix}:state:{validate_instrument(instrument)}"

    def instrument_keys(self, instrument: str, timeframes: tuple[str, ...]) -> list[str]:
        """Every data key of one instrument (what a reset deletes), not ``offsets``."""
        return [self.ticks(instrument), self.forming(instrument), self.last(instrument),
                self.state(instrument),
                *(self.bars(instrument, tf) for tf in timeframes),
                *(self.indicators(instrument, tf) for tf in timeframes)]
