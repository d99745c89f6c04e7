"""Depth sensor: new and grown ``.depth`` files → ``sierra_depth`` partition runs.

The same rules as the ``.scid`` directory sensor (``sensors.py``): a JSON cursor of
``{path: [size, mtime_ns]}``, the run key from file + size + date, new instruments added to
the dynamic partitions, a bad file logged and skipped without stopping the others. A
``.depth`` file holds one UTC day, so a trading date usually spans two files: a tick that
sees both new asks for the partition once (the run reads every file of the date), with a run
key naming each file and size, instead of one run per file doing the same work twice.
"""

import json

import dagster as dg

from marketdata_assets.defs.partitions import date_range, instrument_partitions, key_for
from marketdata_assets.defs.resources import DepthResource, SierraResource
from marketdata_assets.defs.sierra.sensors import target_partitions
from marketdata_assets.errors import MarketDataError
from marketdata_assets.sources.sierra.depth_discovery import depth_trading_dates, scan_depth_directory
from marketdata_assets.transforms.partition_dates import ALL_DATES, DateRange


def evaluate_depth(context, sierra: SierraResource, depth_dir, known_instruments: set[str],
                   dates: DateRange = ALL_DATES) -> dg.SensorResult:
    """Like the ``.scid`` sensor's ``evaluate``, for ``.depth`` files (cursor ``{path: [size, mtime_ns]}``): a new
    or grown file requests ``sierra_depth`` for the trading dates of its new records
    (dates outside the date partitions are skipped with a warning: a request for a key that
    does not exist would fail the whole tick)."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    new_cursor, new_instruments = {}, []
    wanted: dict[tuple[str, str], list[str]] = {}    # (date, instrument) -> ["path:size", ...]
    for f in scan_depth_directory(depth_dir):
        if f.instrument is None:
            context.log.warning("skipping %s: %s", f.path, f.error)
            continue
        previous = cursor.get(f.path)
        new_cursor[f.path] = [f.size, f.mtime_ns]
        if previous == [f.size, f.mtime_ns]:
            continue
        grew = previous is not None and f.size >= previous[0]
        try:
            found = depth_trading_dates(f.path, sierra.market(f.instrument), previous[0] if grew else None)
        except MarketDataError as exc:
            context.log.error("cannot read %s: %s", f.path, exc)
            new_cursor[f.path] = previous
            continue
        if f.instrument not in known_instruments and found:
            new_instruments.append(f.instrument)
            known_instruments.add(f.instrument)
        for d in found:
            if d not in dates:
                context.log.warning("skipping %s: trading date %s is outside the partitions %s..%s",
                                    f.path, d, dates.first, dates.last)
                continue
            wanted.setdefault((str(d), f.instrument), []).append(f"{f.path}:{f.size}")
    requests = [dg.RunRequest(run_key=f"{'|'.join(sorted(files))}:{d}", partition_key=key_for(d, instrument))
                for (d, instrument), files in sorted(wanted.items())]
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({k: v for k, v in new_cursor.items() if v is not None}, sort_keys=True),
        dynamic_partitions_requests=[instrument_partitions.build_add_request(new_instruments)] if new_instruments else [],
    )


@dg.sensor(
    name="sierra_depth_sensor",
    target=dg.AssetSelection.assets("sierra_depth"),
    description="Watches MARKETDATA_SIERRA_DEPTH_DIR for new and grown .depth files and requests sierra_depth "
                "for every trading date they touch (book_snapshots follows by automation). Runs beside "
                "sierra_files_sensor, which launches sierra_chain for the .scid files.",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sierra_depth_sensor(context: dg.SensorEvaluationContext, sierra: SierraResource,
                        depth: DepthResource) -> dg.SensorResult:
    """Loads the market depth Sierra Chart wrote: watches MARKETDATA_SIERRA_DEPTH_DIR for new and grown .depth files."""
    known = set(context.instance.get_dynamic_partitions(instrument_partitions.name))
    return evaluate_depth(context, sierra, depth.settings().depth_dir, known,
                          date_range(target_partitions(context, "sierra_depth")))
