"""``marketdata archive …`` (and the other storage-lifecycle commands): parsers and handlers,
hooked into ``cli.py`` by two calls so the main command table stays small."""

from __future__ import annotations

import argparse
import sys
from datetime import date


def add_parsers(sub) -> None:
    a = sub.add_parser("archive", help="cold archive: archive, restore or verify partitions (README 'Storage lifecycle')")
    asub = a.add_subparsers(dest="archive_command", required=True)
    p = asub.add_parser("partition", help="archive one partition now (all archived tables)")
    p.add_argument("--instrument", required=True)
    p.add_argument("--date", required=True, type=date.fromisoformat)
    r = asub.add_parser("restore", help="bring archived partitions back to the hot tables")
    r.add_argument("--instrument", required=True)
    r.add_argument("--from", dest="first", required=True, type=date.fromisoformat, help="first trading date (inclusive)")
    r.add_argument("--to", dest="last", required=True, type=date.fromisoformat, help="last trading date (inclusive)")
    asub.add_parser("verify", help="re-check every archive file against the manifest")


def run(args: argparse.Namespace) -> int | None:
    """Exit code of a lifecycle command, or None when ``args`` is not one."""
    if args.command == "archive":
        return _archive(args)
    return None


def _archive(args: argparse.Namespace) -> int:
    from marketdata_assets.model.instruments import validate_instrument
    from marketdata_assets.settings import get_settings
    from marketdata_assets.storage.archive import archive_partition, restore_partitions, verify_archive
    from marketdata_assets.storage.archive_files import ArchiveChecksumError
    from marketdata_assets.storage.warehouse import open_warehouse

    settings = get_settings()
    with open_warehouse(settings.warehouse_url) as wh:
        if args.archive_command == "partition":
            done = archive_partition(wh, settings.archive_url, validate_instrument(args.instrument), args.date)
            for item in done:
                print(f"archived {item.table} {item.instrument} {item.trading_date}: {item.rows} rows → {item.path}")
            if not done:
                print(f"nothing hot to archive for {args.instrument} {args.date}")
            return 0
        if args.archive_command == "restore":
            if args.last < args.first:
                print("error: --to is before --from", file=sys.stderr)
                return 2
            try:
                done = restore_partitions(wh, validate_instrument(args.instrument), args.first, args.last)
            except ArchiveChecksumError as exc:
                print(f"error: {exc}; that partition stays archived", file=sys.stderr)
                return 1
            for item in done:
                print(f"restored {item.table} {item.instrument} {item.trading_date}: {item.rows} rows")
            print(f"{len(done)} archived table partitions restored")
            return 0
        report = verify_archive(wh)
        for path in report.missing:
            print(f"missing: {path}")
        for path in report.corrupt:
            print(f"corrupt: {path}")
        print(f"{report.checked} files checked, {len(report.missing)} missing, {len(report.corrupt)} corrupt")
        return 0 if report.ok else 1
