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
    b = sub.add_parser("backup", help="back up the warehouse (verified by a scratch restore)")
    b.add_argument("--to", dest="directory", help="directory (default MARKETDATA_BACKUP_DIR)")
    r = sub.add_parser("restore", help="restore a backup file into an empty warehouse")
    r.add_argument("file")
    r.add_argument("--to", dest="url", required=True, help="warehouse URL (sqlite:///path or postgresql://…)")
    r.add_argument("--force", action="store_true", help="replace the contents of a non-empty warehouse")


def run(args: argparse.Namespace) -> int | None:
    """Exit code of a lifecycle command, or None when ``args`` is not one."""
    if args.command == "archive":
        return _archive(args)
    if args.command == "backup":
        return _backup(args)
    if args.command == "restore":
        return _restore(args)
    return None


def _backup(args: argparse.Namespace) -> int:
    from marketdata_assets.errors import MarketDataError
    from marketdata_assets.settings import get_settings
    from marketdata_assets.storage.backup import take_backup, verify_backup

    settings = get_settings()
    try:
        backup = take_backup(settings.warehouse_url, args.directory or settings.backup_dir)
        check = verify_backup(backup, settings.warehouse_url)
    except MarketDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"backup {backup.path}: {len(backup.tables)} tables, {backup.rows} rows, "
          f"{len(backup.archive_files)} archive files referenced")
    if not check.ok:
        print(f"error: restoring the backup gave different tables: {sorted(check.mismatches)}", file=sys.stderr)
        return 1
    print("verified: a scratch restore matches every table (rows and checksum)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from marketdata_assets.errors import MarketDataError
    from marketdata_assets.storage.backup import restore_backup

    try:
        tables = restore_backup(args.file, args.url, force=args.force)
    except MarketDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.file}: {sum(t['rows'] for t in tables.values())} rows in {len(tables)} tables")
    return 0


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
