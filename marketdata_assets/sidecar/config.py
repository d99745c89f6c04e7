"""Sidecar configuration: the ``MARKETDATA_*`` settings, with command-line overrides.

Everything comes from :func:`marketdata_assets.settings.get_settings` (read when the
process starts, never at import); the command line may override the non-secret values.
The HTTP face's token is read from ``MARKETDATA_SIDECAR_TOKEN`` only, never from argv
(argv is visible to every user in ``ps``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.settings import Secret, get_settings


@dataclass(frozen=True)
class SidecarConfig:
    data_dir: Path
    instruments: tuple[str, ...]          # empty: every *.scid of data_dir
    instrument_markets: dict[str, str]
    redis_url: str
    prefix: str
    host: str
    port: int                             # 0: no HTTP face
    token: Secret
    poll_ms: int
    buffer_max: int                       # records read but not yet in Redis, at most
    stream_maxlen: int
    bars_kept: int
    heartbeat_stale_s: int
    provider_instruments: tuple[str, ...] = ()  # REST provider loop (sidecar/providers.py); empty: off
    collection_interval_s: float = 1.0
    stale_after_s: float = 10.0
    projectx: tuple[str, ...] = ()        # instruments streamed from the ProjectX hub (journal in data_dir)
    read_chunk: int = 5000                # records per file per read (bounds one loop turn)
    commit_max: int = 20_000              # records per transaction
    heartbeat_every_s: float = 1.0
    rescan_every_s: float = 1.0
    shutdown_timeout_s: float = 10.0
    depth_dir: Path | None = None         # .depth files to tail into the live book (None: depth feed off)
    book_levels: int = 10


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m marketdata_assets.sidecar",
                                description="Tail .scid files into Redis: ticks, live bars, indicators.")
    p.add_argument("--data-dir", type=Path, help="directory of .scid files (MARKETDATA_SIERRA_DATA_DIR)")
    p.add_argument("--instruments", help="comma-separated instruments (MARKETDATA_SIDECAR_INSTRUMENTS)")
    p.add_argument("--redis-url", help="MARKETDATA_REDIS_URL")
    p.add_argument("--prefix", help="Redis key prefix (MARKETDATA_REDIS_PREFIX)")
    p.add_argument("--host", help="HTTP bind address (MARKETDATA_SIDECAR_HOST)")
    p.add_argument("--port", type=int, help="HTTP port, 0 disables the HTTP face (MARKETDATA_SIDECAR_PORT)")
    p.add_argument("--poll-ms", type=int, help="poll interval in ms (MARKETDATA_SIDECAR_POLL_MS)")
    p.add_argument("--providers", help="comma-separated instruments polled from the REST providers "
                                       "(MARKETDATA_SIDECAR_PROVIDER_INSTRUMENTS)")
    p.add_argument("--depth", action=argparse.BooleanOptionalAction, default=None,
                   help="tail .depth files into the live book (default: on when MARKETDATA_SIERRA_DEPTH_DIR exists)")
    p.add_argument("--projectx", help="comma-separated instruments to stream from the ProjectX market hub "
                                      "(journaled under MARKETDATA_JOURNAL_DIR/projectx and tailed from there)")
    p.add_argument("--log-level", default="INFO")
    return p


def load_config(args: argparse.Namespace) -> SidecarConfig:
    s = get_settings()
    instruments = (tuple(x.strip() for x in args.instruments.split(",") if x.strip())
                   if args.instruments else s.sidecar_instruments)
    projectx = tuple(validate_instrument(x.strip()) for x in (getattr(args, "projectx", None) or "").split(",")
                     if x.strip())
    if projectx:  # the sidecar tails the hub's journal instead of Sierra files
        instruments = projectx
    return SidecarConfig(
        data_dir=s.journal_dir / "projectx" if projectx else (args.data_dir or s.sierra_data_dir),
        projectx=projectx,
        instruments=tuple(validate_instrument(i) for i in instruments),
        instrument_markets=s.instrument_markets,
        redis_url=args.redis_url or s.redis_url,
        prefix=args.prefix or s.redis_prefix,
        host=args.host or s.sidecar_host,
        port=s.sidecar_port if args.port is None else args.port,
        token=s.sidecar_token,
        poll_ms=args.poll_ms or s.sidecar_poll_ms,
        buffer_max=s.sidecar_buffer_max,
        stream_maxlen=s.sidecar_stream_maxlen,
        bars_kept=s.sidecar_bars_kept,
        heartbeat_stale_s=s.sidecar_heartbeat_stale_s,
        provider_instruments=tuple(validate_instrument(i) for i in (
            [x.strip() for x in args.providers.split(",") if x.strip()] if getattr(args, "providers", None)
            else s.sidecar_provider_instruments)),
        collection_interval_s=s.collection_interval_s,
        stale_after_s=s.stale_after_s,
        **_depth(args, args.data_dir or s.sierra_data_dir),
    )


def _depth(args: argparse.Namespace, data_dir: Path) -> dict:
    """The depth feed is on when ``--depth`` says so, or by default when the folder exists."""
    import os

    from marketdata_assets.settings import depth_settings

    d = depth_settings()
    depth_dir = d.depth_dir if os.environ.get("MARKETDATA_SIERRA_DEPTH_DIR") else Path(data_dir) / "MarketDepthData"
    on = depth_dir.is_dir() if getattr(args, "depth", None) is None else args.depth
    return {"depth_dir": depth_dir if on else None, "book_levels": d.book_levels}
