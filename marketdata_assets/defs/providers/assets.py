"""REST providers: the symbol map and 1m bars with runtime fallback."""

import dagster as dg
import pandas as pd

from marketdata_assets.defs.partitions import key_for, market_partitions
from marketdata_assets.defs.providers.resources import ProvidersResource
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.symbol_map import load_symbol_map
from marketdata_assets.pipelines.providers import load_provider_bars


@dg.asset(group_name="reference", kinds={"python", "sql"})
def symbol_map(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Generic instrument ↔ broker ↔ provider symbols (NAS100 ↔ US100.e ↔ NQ=F / NDX / NAS100 /
    I:NDX …) from the versioned ``reference/symbol_map.json``, validated (no symbol claimed
    twice, every symbol safe) before it is written. Provider assets translate partitions
    with it; the table lets users look symbols up in both directions."""
    smap = load_symbol_map()
    rows = []
    for generic in smap.generics:
        asset_class = smap.instrument(generic).asset_class
        kinds = {"broker": smap.broker_symbol(generic), **smap.provider_symbols(generic)}
        rows += [{"generic": generic, "kind": kind, "symbol": symbol, "asset_class": asset_class}
                 for kind, symbol in kinds.items() if symbol]
    frame = pd.DataFrame(rows).assign(version=str(smap.version))
    with warehouse.open() as wh:
        wh.upsert("symbol_map", frame, ("generic", "kind"))
        stale = wh.query("SELECT generic, kind FROM symbol_map WHERE version <> %(v)s", {"v": str(smap.version)})
        for g, k in stale.itertuples(index=False):  # entries removed from the file
            wh.execute("DELETE FROM symbol_map WHERE generic = %(g)s AND kind = %(k)s", {"g": g, "k": k})
    context.log.info("symbol map v%s: %d instruments, %d symbols", smap.version, len(smap.generics), len(frame))
    return dg.MaterializeResult(metadata={"version": str(smap.version), "instruments": len(smap.generics),
                                          "symbols": len(frame), "removed": len(stale)})


def _partitions(context) -> tuple[list[tuple[str, str]], list[str]]:
    """(instrument, date) of the run's partitions whose instrument key is valid, and a reason
    for each other one: a key added from the UI (``../x``) fails only its own partitions."""
    keys = context.partition_keys if context.has_partition_key_range else [context.partition_key]
    out, invalid = [], []
    for key in keys:
        dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else \
            dict(zip(("date", "instrument"), str(key).split("|"), strict=True))
        try:
            out.append((validate_instrument(dims["instrument"]), dims["date"]))
        except InvalidInstrument as exc:
            invalid.append(f"{dims['date']}|{dims['instrument']}: {exc}")
    return out, invalid


@dg.asset(
    group_name="providers",
    partitions_def=market_partitions,
    kinds={"python", "sql"},
    deps=["symbol_map"],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def provider_bars(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sierra: SierraResource,
                  providers: ProvidersResource) -> dg.MaterializeResult:
    """1m bars of the partition's trading date from the first healthy REST provider in
    priority order (Yahoo, Alpha Vantage, Twelve Data, Polygon by default), falling back on
    errors, open circuits and empty answers; every bar keeps the provider and the request
    that served it in ``raw_bars``. A partition no provider can serve fails with each
    provider's reason. Runs as one run per backfill, so limits and breakers span it; there a
    day no provider can serve (or a partition whose instrument key is invalid, e.g. ``../x``
    added from the UI) fails on its own: the days that were served are recorded as
    materialized (one materialization each, so downstream follows them) and the run fails
    naming the others."""
    from datetime import date

    from marketdata_assets.errors import SourceUnavailable

    smap = load_symbol_map()
    partitions, failures = _partitions(context)
    for failure in failures:
        context.log.error("%s", failure)
    loads = []
    with warehouse.open() as wh:
        for instrument, day in partitions:
            try:
                loads.append(load_provider_bars(wh, providers.chain(), smap, instrument, sierra.market(instrument),
                                                date.fromisoformat(day), context.run_id))
            except SourceUnavailable as exc:
                failures.append(f"{day}|{instrument}: {exc}")
                context.log.error("%s|%s: %s", day, instrument, exc)
    served = pd.DataFrame([{"partition": f"{x.trading_date}|{x.instrument}", "rows": x.rows,
                            "provider": x.provider or "-", "passed_over": ", ".join(
                                f"{a.provider} ({a.outcome})" for a in x.attempts if a.outcome != "served") or "-",
                            "note": x.note} for x in loads])
    if failures:
        # Dagster records the run's whole range only when the step succeeds; a ranged run that
        # fails keeps exactly the partitions it recorded itself (its backfill retries the rest).
        for load, row in zip(loads, served.to_dict(orient="records"), strict=True):
            context.log_event(dg.AssetMaterialization(
                asset_key=context.asset_key, partition=key_for(load.trading_date, load.instrument),
                metadata={"dagster/row_count": load.rows, **{k: row[k] for k in ("provider", "passed_over", "note")}}))
        raise dg.Failure(description="; ".join(failures)[:4000],
                         metadata={"failed_partitions": len(failures), "served_partitions": len(loads)})
    return dg.MaterializeResult(metadata={
        "rows": int(served["rows"].sum()) if len(served) else 0,
        "providers": dg.MetadataValue.json(served["provider"].value_counts().to_dict() if len(served) else {}),
        "partitions": dg.MetadataValue.md(_md(served)),
    })


def _md(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_"
    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns)
    return head + "\n" + "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in frame.head(50).values)
