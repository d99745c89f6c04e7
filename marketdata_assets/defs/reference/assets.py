"""Reference data: asset classes, markets (sessions, holidays) and data providers."""

import dagster as dg

from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.errors import ConfigError
from marketdata_assets.model.sessions import markets, reference_document
from marketdata_assets.pipelines.reference import load_reference, providers_document


class ReferenceConfig(dg.Config):
    overwrite_existing: bool = False  # False: keep rows already present, insert new keys; True: replace the tables


@dg.asset(group_name="reference", kinds={"python", "sql"})
def reference_data(context: dg.AssetExecutionContext, config: ReferenceConfig,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Asset classes, markets (timezone, trading-date start, weekdays, session windows,
    holidays) and the data providers (priority, plan rate limits, the name of the variable
    holding each credential, never its value), loaded from the versioned
    ``reference/markets.json`` and ``reference/providers.json`` shipped in the package.
    Every other asset places timestamps into trading dates with this data and asks providers
    in this order, so the warehouse keeps the version it used. The whole set is validated
    before anything is written; re-running changes nothing."""
    doc, providers = reference_document(), providers_document()
    try:
        loaded = markets()  # parses every market (sessions, zones) as the pipelines will
        with warehouse.open() as wh:
            counts = load_reference(wh, doc, providers, config.overwrite_existing)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info("reference data %s / providers %s: %d markets", doc["version"], providers["version"],
                     len(loaded))
    return dg.MaterializeResult(metadata={
        "version": doc["version"], "providers_version": providers["version"],
        "overwrite_existing": config.overwrite_existing,
        **{name: dg.MetadataValue.int(c["in_files"]) for name, c in counts.items()},
        "written": dg.MetadataValue.json({name: c["written"] for name, c in counts.items()}),
        "kept_existing": dg.MetadataValue.json({name: c["kept_existing"] for name, c in counts.items()}),
    })
