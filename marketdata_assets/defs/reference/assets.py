"""Reference data: asset classes, markets, their sessions and holidays."""


import dagster as dg
import pandas as pd

from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.model.sessions import markets, reference_document


@dg.asset(group_name="reference", kinds={"python", "sql"})
def reference_data(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Asset classes, markets (timezone, trading-date start, weekdays), their session windows
    and holidays, loaded from the versioned ``reference/markets.json`` shipped in the package.
    Every other asset places timestamps into trading dates and sessions with this data, so
    the warehouse keeps the version it used. Upsert: re-running changes nothing."""
    doc = reference_document()
    version = doc["version"]
    loaded = markets()  # parses and validates every market before anything is written
    classes = pd.DataFrame(doc["asset_classes"]).assign(version=version)
    mk = pd.DataFrame([{
        "code": m["code"], "name": m["name"], "asset_class": m["asset_class"], "timezone": m["timezone"],
        "day_start": m["day_start"], "weekdays": ",".join(map(str, m["weekdays"])), "version": version,
    } for m in doc["markets"]])
    sessions = pd.DataFrame([{
        "market": m["code"], "name": s["name"], "start_local": s["start"], "end_local": s["end"],
        "kind": s.get("kind", "regular"), "version": version,
    } for m in doc["markets"] for s in m["sessions"]])
    holidays = pd.DataFrame([{"market": m["code"], "holiday": h, "version": version}
                             for m in doc["markets"] for h in m["holidays"]])
    with warehouse.open() as wh:
        wh.upsert("asset_classes", classes, ("code",))
        wh.upsert("markets", mk, ("code",))
        wh.upsert("market_sessions", sessions, ("market", "name"))
        wh.upsert("market_holidays", holidays, ("market", "holiday"))
    context.log.info("reference data %s: %d markets", version, len(loaded))
    return dg.MaterializeResult(metadata={
        "version": version, "asset_classes": len(classes), "markets": len(mk),
        "sessions": len(sessions), "holidays": len(holidays),
    })
