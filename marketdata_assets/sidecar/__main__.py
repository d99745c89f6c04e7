"""``python -m marketdata_assets.sidecar``: the streaming sidecar process (never imports Dagster).

Tails the ``.scid`` files of ``MARKETDATA_SIERRA_DATA_DIR`` (or ``MARKETDATA_SIDECAR_INSTRUMENTS``)
into Redis, polls the REST providers for ``--providers`` / ``MARKETDATA_SIDECAR_PROVIDER_INSTRUMENTS``
(:mod:`.providers`; alone when there is no data directory), and serves ``/health``, ``/metrics`` and ``/ws`` on
``MARKETDATA_SIDECAR_HOST:MARKETDATA_SIDECAR_PORT``. SIGTERM or SIGINT: final drain, offsets
committed, exit 0. Exit 2 on a configuration error.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from marketdata_assets.errors import ConfigError, InvalidInstrument
from marketdata_assets.sidecar.config import SidecarConfig, load_config, parser
from marketdata_assets.sidecar.malloc import tune_malloc

log = logging.getLogger("marketdata_assets.sidecar")


async def serve(cfg: SidecarConfig) -> int:
    """Run the sidecar until SIGTERM/SIGINT; returns the exit code."""
    from dataclasses import replace

    from marketdata_assets.settings import get_settings
    from marketdata_assets.sidecar.http import Hub, Metrics, make_app, start_http
    from marketdata_assets.sidecar.query_http import add_query_routes
    from marketdata_assets.sidecar.runner import Runner

    metrics = Metrics()
    hub = Hub(metrics)
    runner = Runner(cfg, metrics, hub)
    status = runner.status
    tails = cfg.data_dir.is_dir()
    providers = None
    if cfg.provider_instruments:  # the REST provider loop (sidecar/providers.py)
        from marketdata_assets.sidecar.providers import combined_status, start_provider_loop

        try:
            providers = start_provider_loop(cfg, metrics.registry, heartbeat=not tails, hub=hub)
        except (ConfigError, InvalidInstrument) as exc:  # e.g. an instrument the symbol map lacks
            log.error("configuration: %s", exc)
            await runner.aclose()
            return 2
        status = combined_status(runner.status if tails else None, providers)
    projectx = None
    if cfg.projectx:  # the ProjectX market hub, journaled into data_dir (sidecar/projectx.py)
        from marketdata_assets.sidecar.projectx import start_projectx

        projectx = start_projectx(cfg, runner, metrics)
        status = _with_projectx(status, projectx)
    depth = _depth_feeder(cfg, metrics, hub)
    status = _status(status, depth)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if projectx is not None:  # no more hub input first, so the final drain covers all that was journaled
            projectx.task.cancel()
        runner.stop()
        if providers is not None:
            providers.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    http = None
    if cfg.port:
        try:
            app = make_app(status, metrics, hub, cfg.token)
            add_query_routes(app, metrics.registry,   # GET /bars, /ticks (query_http.py)
                             replace(get_settings(), redis_url=cfg.redis_url, redis_prefix=cfg.prefix))
            http = await start_http(app, cfg.host, cfg.port)
        except OSError as exc:
            log.error("cannot serve HTTP on %s:%d: %s", cfg.host, cfg.port, exc.strerror)
            if projectx is not None:
                await projectx.stop()
            await runner.redis.aclose()
            return 2
        if not cfg.token:
            log.warning("MARKETDATA_SIDECAR_TOKEN is not set: the HTTP face refuses every request")
    depth_task = asyncio.create_task(depth.run(runner.stopping)) if depth is not None else None
    try:
        if providers is None:
            await runner.run()
        elif tails:
            await asyncio.gather(runner.run(), providers.run())
        else:
            await providers.run()
            await runner.aclose()
        if depth_task is not None:
            await depth_task
    finally:
        if projectx is not None:
            await projectx.stop()
        if http is not None:
            await hub.close_all()
            await http.cleanup()
    return 0


def _depth_feeder(cfg: SidecarConfig, metrics, hub):
    """The depth feed (``sidecar/depth.py``) when ``cfg.depth_dir`` is set."""
    if cfg.depth_dir is None:
        return None
    from marketdata_assets.sidecar.depth import DepthFeeder

    return DepthFeeder(cfg.depth_dir, cfg.redis_url, cfg.prefix, levels=cfg.book_levels,
                       instruments=cfg.instruments, poll_s=cfg.poll_ms / 1000, hub=hub, registry=metrics.registry)


def _with_projectx(feeds_status, projectx):
    """``/health`` with the hub input's state under ``projectx`` (degraded while it stalls)."""

    def status() -> tuple[bool, dict]:
        ok, body = feeds_status()
        body["projectx"] = projectx.source.status()
        return ok and not body["projectx"]["stalled"], body

    return status


def _status(feeds_status, depth):
    """``/health``: the tick and provider feeds' status, plus the depth feed's under ``depth``."""
    if depth is None:
        return feeds_status

    def status() -> tuple[bool, dict]:
        ok, body = feeds_status()
        depth_ok, body["depth"] = depth.status()
        return ok and depth_ok, body

    return status


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args)
    except (ConfigError, InvalidInstrument) as exc:
        log.error("configuration: %s", exc)
        return 2
    if cfg.projectx:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.data_dir.is_dir() and not cfg.provider_instruments:
        log.error("configuration: data directory %s does not exist", cfg.data_dir)
        return 2
    tune_malloc()  # process-wide: here, in the sidecar's own process, and nowhere else
    return asyncio.run(serve(cfg))


if __name__ == "__main__":
    sys.exit(main())
