"""Provider bars → Redis, in the ``.scid`` path's layout, one ``MULTI``/``EXEC`` per cycle.

Keys written (``{p}`` prefix, ``{i}`` instrument, see :mod:`marketdata_assets.storage.live_keys`):
``{p}:bars:{i}:{tf}`` (closed-bar rings), ``{p}:bar:{i}`` (forming bars), ``{p}:ind:{i}:{tf}``
(indicators of the last closed bar), ``{p}:events:bar:{i}`` (one JSON event per closed bar,
with its ``provider`` for 1m bars), and two keys of provider instruments only:

- ``{p}:src:{i}`` hash: 1m bar start (µs, as text) → provider that served it, for the kept
  bars, plus field ``forming`` → provider of the forming minute;
- ``{p}:poll:{i}`` hash: ``seq`` (commits so far: the guard), ``provider`` (serving now),
  ``served_us`` (when it last served), ``corrections`` (late corrections applied).

A correction rewrites the ring slots from the replayed minutes on (an event with
``"correction": true`` per corrected 1m bar); a rebuild rewrites the instrument's rings,
indicators and sources from scratch; either inside the cycle's transaction, so a reader never
sees half of it. Before each commit
the ``seq`` of every instrument is read: a value other than the last one written means
Redis lost or replaced the data (a restart without persistence, a flush), and the caller
rewrites that instrument from its kept bars instead of appending to nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from redis.asyncio import Redis

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.timeframes import TIMEFRAMES
from marketdata_assets.sidecar.provider_state import Update
from marketdata_assets.storage.live_codec import fmt_float, pack_bar, ring_append_commands
from marketdata_assets.storage.live_keys import Keys


def src_key(keys: Keys, instrument: str) -> str:
    return f"{keys.prefix}:src:{validate_instrument(instrument)}"


def poll_key(keys: Keys, instrument: str) -> str:
    return f"{keys.prefix}:poll:{validate_instrument(instrument)}"


def _clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


class ProviderPublisher:
    def __init__(self, redis: Redis, keys: Keys, bars_kept: int):
        self.redis = redis
        self.keys = keys
        self.bars_kept = bars_kept

    async def seqs(self, instruments: Iterable[str]) -> dict[str, int | None]:
        names = list(instruments)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hget(poll_key(self.keys, name), "seq")
        values = await pipe.execute()
        return {n: None if v is None else int(v) for n, v in zip(names, values, strict=True)}

    async def commit(self, items: list[tuple[str, Update, dict]], heartbeat: tuple[dict, int] | None = None) -> None:
        """``items``: (instrument, update, poll fields incl. ``seq``) — all in one transaction,
        with the sidecar heartbeat ``(beat, ttl_s)`` when the loop is the one writing it."""
        pipe = self.redis.pipeline(transaction=True)
        for instrument, update, poll in items:
            for cmd in self.commands(instrument, update, poll):
                pipe.execute_command(*cmd)
        if heartbeat is not None:
            pipe.set(self.keys.heartbeat, json.dumps(heartbeat[0]), ex=max(1, int(heartbeat[1])))
        await pipe.execute()

    def commands(self, inst: str, up: Update, poll: dict) -> list[tuple]:
        k = self.keys
        cmds: list[tuple] = []
        if up.snapshot:
            cmds.append(("DEL", *(k.bars(inst, tf) for tf in TIMEFRAMES), *(k.indicators(inst, tf) for tf in TIMEFRAMES),
                         k.forming(inst), src_key(k, inst)))
        by_tf: dict[str, list] = {}
        for c in up.closed:
            by_tf.setdefault(c.timeframe, []).append(c)
        for tf, closed in by_tf.items():
            cmds += ring_append_commands(k.bars(inst, tf), self.bars_kept, closed[0].seq, [c.packed() for c in closed])
            last = closed[-1]
            cmds.append(("HSET", k.indicators(inst, tf), "ts", last.bar.start,
                         *(x for name, v in last.indicators.items() for x in (name, fmt_float(v)))))
        sources = {m.ts: m.provider for m in up.minutes}
        if sources:
            cmds.append(("HSET", src_key(k, inst), *(x for ts, p in sources.items() for x in (str(ts), p))))
        if up.evicted:
            cmds.append(("HDEL", src_key(k, inst), *(str(ts) for ts in up.evicted)))
        if not up.snapshot:  # a rebuild publishes no history of events; a replay only the corrections
            providers = {m.ts: m.provider for m in up.minutes}
            for c in up.closed:
                if up.replayed and not (c.timeframe == "1m" and c.bar.start in providers):
                    continue
                event = bar_event(inst, c, providers)
                if up.replayed:
                    event["correction"] = True
                cmds.append(("PUBLISH", k.bar_events(inst), json.dumps(event)))
        forming = [x for tf, b in up.forming.items() if b is not None for x in (tf, _pack(b))]
        if forming:
            cmds.append(("HSET", k.forming(inst), *forming))
        gone = [tf for tf, b in up.forming.items() if b is None]
        if gone:
            cmds.append(("HDEL", k.forming(inst), *gone))
        if up.forming_provider:
            cmds.append(("HSET", src_key(k, inst), "forming", up.forming_provider))
        elif "1m" in up.forming:
            cmds.append(("HDEL", src_key(k, inst), "forming"))
        cmds.append(("HSET", poll_key(k, inst), *(x for kv in poll.items() for x in (kv[0], str(kv[1])))))
        return cmds


def bar_event(instrument: str, closed, providers: dict[int, str]) -> dict:
    """The JSON event of a closed bar (``ClosedBar.event``): NaN as null, ``provider`` on 1m bars."""
    event = {key: _clean(v) for key, v in closed.event(instrument).items()}
    if closed.timeframe == "1m":
        event["provider"] = providers.get(closed.bar.start)
    return event


def _pack(b) -> bytes:
    return pack_bar(b.start, b.open, b.high, b.low, b.close, b.volume, b.num_trades, b.bid_volume, b.ask_volume, b.vwap)
