"""``python -m marketdata_assets.sidecar``: the streaming sidecar process (never imports Dagster).

Tails the ``.scid`` files of ``MARKETDATA_SIERRA_DATA_DIR`` (or ``MARKETDATA_SIDECAR_INSTRUMENTS``)
into Redis and serves ``/health``, ``/metrics`` and ``/ws`` on
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
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    http = None
    if cfg.port:
        try:
            app = make_app(runner.status, metrics, hub, cfg.token)
            add_query_routes(app, metrics.registry,   # GET /bars, /ticks (query_http.py)
                             replace(get_settings(), redis_url=cfg.redis_url, redis_prefix=cfg.prefix))
            http = await start_http(app, cfg.host, cfg.port)
        except OSError as exc:
            log.error("cannot serve HTTP on %s:%d: %s", cfg.host, cfg.port, exc.strerror)
            await runner.redis.aclose()
            return 2
        if not cfg.token:
            log.warning("MARKETDATA_SIDECAR_TOKEN is not set: the HTTP face refuses every request")
    try:
        await runner.run()
    finally:
        if http is not None:
            await hub.close_all()
            await http.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args)
    except (ConfigError, InvalidInstrument) as exc:
        log.error("configuration: %s", exc)
        return 2
    if not cfg.data_dir.is_dir():
        log.error("configuration: data directory %s does not exist", cfg.data_dir)
        return 2
    return asyncio.run(serve(cfg))


if __name__ == "__main__":
    sys.exit(main())
