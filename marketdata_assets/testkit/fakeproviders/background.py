"""An aiohttp app served on a background thread with its own event loop: the lifecycle the
local stand-ins for the outside network (fake providers, fake gateway) share."""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
from collections.abc import Callable

from aiohttp import web


def parse_server_args(parser: argparse.ArgumentParser, argv: list[str] | None,
                      parse_fault: Callable[[str], tuple]) -> tuple[argparse.Namespace, dict]:
    """The command line of a fake server: ``parser``'s own options plus ``--log-level``; the
    ``--fault`` texts parsed (a bad one is a usage error) and logging set up."""
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        faults = dict(parse_fault(text) for text in args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return args, faults


class BackgroundServer:
    """``with Server(...) as s:`` serves ``app`` on ``host:port`` (``port=0``: a free one,
    known after start) until the block ends; a start-up error is raised in the caller."""

    def __init__(self, app: web.Application, host: str, port: int, name: str):
        self.host, self.port = host, port
        self._app, self._name = app, name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self):
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"{self._name} did not start within 15 s")
        if self._error is not None:
            raise RuntimeError(f"{self._name} failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start_site())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._runner.cleanup())
            # handlers still holding back an answer (timeouts, stalls): cancel them and let them unwind
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
