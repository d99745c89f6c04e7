"""Directory sensor: new instruments, grown files and new files → partition runs, for the
``.scid`` files (job ``sierra_chain``) and the ``.depth`` files (job ``sierra_depth_load``).

Cursor: JSON ``{path: [size, mtime_ns]}`` over both kinds of files. A file seen for the
first time adds its instrument to the dynamic partitions, once its header is valid, and
requests every trading date present in it; a file that grew requests the trading dates of
the appended records (in live operation, the current trading date); a file that shrank or
was replaced is treated as new. The run key is file + size + date, so a tick that sees the
same size twice requests nothing new. A date whose partition has already read the whole
file (its checkpoint has the file's fingerprint and end) is not requested: re-creating
identical files (``make dev``) launches no run that would read nothing. A ``.depth`` file
is read in whole batches: its cursor stops at the last end-of-batch record, so a batch not
closed yet requests nothing until it is.

Records outside the date partitions (an invalid ``DateTime``, a date before
``MARKETDATA_PARTITIONS_START`` or after tomorrow) never become a run request: they are
counted and logged once per file, and quarantined by the partition that answers for
them (``transforms.partition_dates``). Records of tomorrow's trading date (CME after
17:00 Chicago) wait: the file is looked at again each tick until their partition exists. A bad file (invalid name, corrupt header) is
logged and skipped: it never stops the sensor or the other files.
"""


import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from marketdata_assets.defs.partitions import date_range, instrument_partitions, key_for
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.jobs import (
    SIERRA_CHAIN_CHECK_KEYS,
    SIERRA_CHAIN_KEYS,
    SIERRA_DEPTH_CHECK_KEYS,
    SIERRA_DEPTH_KEYS,
    sierra_chain_job,
    sierra_depth_job,
)
from marketdata_assets.errors import MarketDataError
from marketdata_assets.pipelines.sierra.depth import depth_file_dates
from marketdata_assets.pipelines.sierra.ticks import file_dates
from marketdata_assets.sources.sierra.depth import probe_depth
from marketdata_assets.sources.sierra.depth_discovery import scan_depth_directory
from marketdata_assets.sources.sierra.discovery import scan_directory
from marketdata_assets.sources.sierra.scid import probe_scid
from marketdata_assets.transforms.partition_dates import DateRange


def _read_through(wh, path: str, found) -> set[str]:
    """Trading dates whose checkpoint already covers every whole record of the ``.scid`` file."""
    header, size, fingerprint = probe_scid(path)
    end = size - (size - header.header_size) % header.record_size
    cps = wh.read("ingest_checkpoints", {"source": path}, columns=["trading_date", "fingerprint", "byte_offset"])
    return {str(r.trading_date) for r in cps.itertuples() if r.fingerprint == fingerprint and r.byte_offset >= end}


def _depth_read_through(wh, path: str, found) -> set[str]:
    """Trading dates whose checkpoint already covers every closed batch of the ``.depth`` file."""
    _, _, fingerprint = probe_depth(path)
    cps = wh.read("depth_checkpoints", {"source": path}, columns=["trading_date", "fingerprint", "byte_offset"])
    return {str(r.trading_date) for r in cps.itertuples()
            if r.fingerprint == fingerprint and r.byte_offset >= found.read_to}


@dataclass(frozen=True)
class _Kind:
    """What the sensor does with one kind of file: the dates it asks for, what its partitions
    have read of it already, the size its cursor keeps, and the run it requests."""

    dates: Callable
    read_through: Callable
    looked_at: Callable          # (found, size) → the size to compare with next tick
    unowned_why: str             # why a record outside the partitions has no partition answering for it
    job: str
    assets: list
    checks: list


SCID = _Kind(file_dates, _read_through, lambda found, size: size, "no record of the file is in range",
             sierra_chain_job.name, SIERRA_CHAIN_KEYS, SIERRA_CHAIN_CHECK_KEYS)
DEPTH = _Kind(depth_file_dates, _depth_read_through, lambda found, size: found.read_to,
              "their trading date has no partition", sierra_depth_job.name, SIERRA_DEPTH_KEYS,
              SIERRA_DEPTH_CHECK_KEYS)


def evaluate(context, sierra: SierraResource, known_instruments: set[str], dates: DateRange,
             warehouse: WarehouseResource | None = None, depth_dir: Path | None = None) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    new_cursor, wants, new_instruments, skipped = {}, {}, [], 0
    files = [(f, SCID) for f in scan_directory(sierra.directory())]
    if depth_dir is not None:
        files += [(f, DEPTH) for f in scan_depth_directory(depth_dir)]
    wh = None
    try:
        for f, kind in files:
            if f.instrument is None:
                context.log.warning("skipping %s: %s", f.path, f.error)
                continue
            previous = cursor.get(f.path)
            new_cursor[f.path] = [f.size, f.mtime_ns]
            if previous == [f.size, f.mtime_ns]:
                continue
            grew = previous is not None and f.size >= previous[0]
            try:
                found = kind.dates(f.path, sierra.market(f.instrument), dates, previous[0] if grew else None)
            except MarketDataError as exc:
                context.log.error("cannot read %s: %s", f.path, exc)
                new_cursor[f.path] = previous  # try again when it changes
                continue
            if found.pending:  # tomorrow's trading date has no partition yet: look at this file again
                context.log.info("%s: %d records of the trading date after %s wait for its partition",
                                 f.path, found.pending, dates.last)
                new_cursor[f.path] = previous
            elif kind.looked_at(found, f.size) != f.size:   # a .depth batch not closed yet: look from its start
                new_cursor[f.path] = [kind.looked_at(found, f.size), f.mtime_ns]
            if f.instrument not in known_instruments:  # only a file with a valid header adds its instrument
                new_instruments.append(f.instrument)
                known_instruments.add(f.instrument)
            if found.out_of_range:
                skipped += found.out_of_range
                context.log.warning(
                    "%s: %d records outside the date partitions %s..%s are not requested; %s", f.path,
                    found.out_of_range, dates.first, dates.last,
                    f"{found.unowned} of them have no partition to quarantine them ({kind.unowned_why})"
                    if found.unowned else "the partition of their neighbours quarantines them")
            wanted = found.dates
            if wanted and warehouse is not None:
                try:
                    wh = wh or warehouse.open()
                    done = kind.read_through(wh, f.path, found)
                except MarketDataError as exc:
                    context.log.warning("cannot read the checkpoints of %s (%s): requesting every date", f.path, exc)
                    done = set()
                wanted = [d for d in wanted if d not in done]
            for d in wanted:  # a trading date spans two UTC-day .depth files: one request names both
                wants.setdefault((kind.job, f.instrument, d), (kind, []))[1].append(f"{f.path}:{f.size}")
    finally:
        if wh is not None:
            wh.close()
    requests = [dg.RunRequest(run_key=f"{'|'.join(sorted(files))}:{d}", partition_key=key_for(d, instrument),
                              job_name=kind.job, asset_selection=kind.assets, asset_check_keys=kind.checks)
                for (_, instrument, d), (kind, files) in wants.items()]
    if skipped:
        context.log.info("%d out-of-range records skipped in this tick", skipped)
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({k: v for k, v in new_cursor.items() if v is not None}, sort_keys=True),
        dynamic_partitions_requests=[instrument_partitions.build_add_request(new_instruments)] if new_instruments else [],
    )


def target_partitions(context, asset: str = "sierra_ticks") -> dg.PartitionsDefinition | None:
    """The partitions of ``asset`` as built in the Definitions (None outside them); works
    for sensor and schedule contexts (a schedule's raises when it has no repository)."""
    try:
        repo = context.repository_def
    except (AttributeError, dg.DagsterInvariantViolationError):
        repo = None
    key = dg.AssetKey(asset)
    if repo is None or key not in repo.assets_defs_by_key:
        return None
    return repo.assets_defs_by_key[key].partitions_def


@dg.sensor(
    name="sierra_files_sensor",
    jobs=[sierra_chain_job, sierra_depth_job],
    description="Watches MARKETDATA_SIERRA_DATA_DIR for new, grown and replaced .scid files and "
                "MARKETDATA_SIERRA_DEPTH_DIR for .depth files; launches sierra_chain for every trading date a "
                ".scid file touches and sierra_depth_load for every trading date a .depth file touches "
                "(book_snapshots follows by automation); new instruments become partitions.",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sierra_files_sensor(context: dg.SensorEvaluationContext, sierra: SierraResource,
                        warehouse: WarehouseResource, depth: DepthResource) -> dg.SensorResult:
    """Loads what Sierra Chart wrote: watches MARKETDATA_SIERRA_DATA_DIR for new and grown .scid files and
    MARKETDATA_SIERRA_DEPTH_DIR for new and grown .depth files."""
    known = set(context.instance.get_dynamic_partitions(instrument_partitions.name))
    return evaluate(context, sierra, known, date_range(target_partitions(context)), warehouse,
                    depth.settings().depth_dir)
