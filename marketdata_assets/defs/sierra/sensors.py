"""Directory sensor: new instruments, grown files and new files → partition runs.

Cursor: JSON ``{path: [size, mtime_ns]}``. A file seen for the first time adds its
instrument to the dynamic partitions and requests every trading date present in it; a
file that grew requests the trading dates of the appended records (in live operation,
the current trading date); a file that shrank or was replaced is treated as new. The
run key is file + size, so a tick that sees the same size twice requests nothing new.
A bad file (invalid name, corrupt header) is logged and skipped: it never stops the
sensor or the other files.
"""


import json

import dagster as dg

from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import SierraResource
from marketdata_assets.defs.sierra.jobs import SIERRA_CHAIN_CHECK_KEYS, SIERRA_CHAIN_KEYS, sierra_chain_job
from marketdata_assets.errors import MarketDataError
from marketdata_assets.sources.sierra.discovery import scan_directory, trading_dates_in


def evaluate(context, sierra: SierraResource, known_instruments: set[str]) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    new_cursor, requests, new_instruments = {}, [], []
    for f in scan_directory(sierra.directory()):
        if f.instrument is None:
            context.log.warning("skipping %s: %s", f.path, f.error)
            continue
        previous = cursor.get(f.path)
        new_cursor[f.path] = [f.size, f.mtime_ns]
        if previous == [f.size, f.mtime_ns]:
            continue
        if f.instrument not in known_instruments:
            new_instruments.append(f.instrument)
            known_instruments.add(f.instrument)
        grew = previous is not None and f.size >= previous[0]
        try:
            dates = trading_dates_in(f.path, sierra.market(f.instrument), previous[0] if grew else None)
        except MarketDataError as exc:
            context.log.error("cannot read %s: %s", f.path, exc)
            new_cursor[f.path] = previous  # try again when it changes
            continue
        for d in dates:
            requests.append(dg.RunRequest(run_key=f"{f.path}:{f.size}:{d}", partition_key=key_for(d, f.instrument),
                                          asset_selection=SIERRA_CHAIN_KEYS, asset_check_keys=SIERRA_CHAIN_CHECK_KEYS))
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({k: v for k, v in new_cursor.items() if v is not None}, sort_keys=True),
        dynamic_partitions_requests=[instrument_partitions.build_add_request(new_instruments)] if new_instruments else [],
    )


@dg.sensor(
    name="sierra_files_sensor",
    job=sierra_chain_job,
    description="Watches MARKETDATA_SIERRA_DATA_DIR for new, grown and replaced .scid files and launches "
                "sierra_chain for every trading date they touch (new instruments become partitions).",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sierra_files_sensor(context: dg.SensorEvaluationContext, sierra: SierraResource) -> dg.SensorResult:
    """Loads what Sierra Chart wrote: watches MARKETDATA_SIERRA_DATA_DIR for new and grown .scid files."""
    known = set(context.instance.get_dynamic_partitions(instrument_partitions.name))
    return evaluate(context, sierra, known)
