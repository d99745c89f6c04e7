"""Run as a process: rewrite partition ESH24 2024-03-08 of ``ticks`` with ROWS rows of run 'new'
and print 'committed' (a backup test runs while this write is in flight)."""

import sys

from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.storage.killed_writer import frame

if __name__ == "__main__":
    url, rows = sys.argv[1], int(sys.argv[2])
    data = frame(rows, "new")
    with open_warehouse(url) as wh:
        wh.replace_partition("ticks", data, partition_scope("ESH24", "2024-03-08"))
    print("committed", flush=True)
