"""Run as a process: validate one partition (``validated_ticks``: ``raw_ticks`` → ``ticks``,
``base_bars``, ``quarantine``; ``validated_bars``: ``raw_bars`` → ``base_bars``, ``quarantine``), stalling once the first table's rows are written: it prints 'between' and
waits there for the storage test to SIGKILL it."""

import sys
import time
from datetime import date

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.quality import validate, validate_provider_bars
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.storage.warehouse import postgres as pg_backend
from marketdata_assets.storage.warehouse import sqlite as sqlite_backend


def stall_before_second_table() -> None:
    """Each backend prepares a table's columns right before writing them: the second
    preparation comes after the first table's rows were written."""
    seen = []
    for module in (sqlite_backend, pg_backend):
        real = module.prepare

        def prepare(tbl, frame, constants=None, _real=real):
            seen.append(tbl.name)
            if len(seen) == 2:
                print("between", seen[0], tbl.name, flush=True)
                time.sleep(300)
            return _real(tbl, frame, constants)

        module.prepare = prepare


if __name__ == "__main__":
    url, step, instrument, day = sys.argv[1], sys.argv[2], sys.argv[3], date.fromisoformat(sys.argv[4])
    stall_before_second_table()
    with open_warehouse(url) as wh:
        run = validate if step == "validated_ticks" else validate_provider_bars
        run(wh, instrument, market_for_instrument(instrument), day, "killed", tick_size=0.25, run_gx=False)
    print("committed", flush=True)
