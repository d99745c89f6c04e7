"""Run as a process: archive partition ESH24 2024-03-08 into ARCHIVE_ROOT, then print 'committed'.
The archive test SIGKILLs it at some point of that work (file write, verification, commit)."""

import sys

from marketdata_assets.storage.archive import archive_partition
from marketdata_assets.storage.warehouse import open_warehouse

if __name__ == "__main__":
    url, root = sys.argv[1], sys.argv[2]
    with open_warehouse(url) as wh:
        print("archiving", flush=True)
        archive_partition(wh, root, "ESH24", "2024-03-08", tables=("ticks",))
    print("committed", flush=True)
