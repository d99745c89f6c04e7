"""Reference data: asset classes, markets (sessions, holidays) and data providers."""

import dagster as dg
from pydantic import Field

from marketdata_assets.defs.metadata import table_metadata
from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.errors import ConfigError
from marketdata_assets.model.sessions import markets, reference_document
from marketdata_assets.pipelines.reference import load_reference, providers_document


class ReferenceConfig(dg.Config):
    overwrite_existing: bool = Field(default=False, description=(
        "False: keep rows already present and insert new keys; True: replace the tables with the files' contents."))


@dg.asset(group_name="reference", kinds={"python", "sqlite", "postgres"}, owners=["team:data-platform"],
          tags={"domain": "reference"}, code_version="1")
def reference_data(context: dg.AssetExecutionContext, config: ReferenceConfig,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Asset classes, markets (timezone, trading-date start, weekdays, session windows,
    holidays) and the data providers (priority, plan rate limits, the name of the variable
    holding each credential, never its value), loaded from the versioned
    `reference/markets.json` and `reference/providers.json` shipped in the package.
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
        **table_metadata("markets", counts["markets"]["in_files"]),
        "version": doc["version"], "providers_version": providers["version"],
        "overwrite_existing": config.overwrite_existing,
        **{name: dg.MetadataValue.int(c["in_files"]) for name, c in counts.items()},
        **{f"written/{name}": dg.MetadataValue.int(int(c["written"])) for name, c in counts.items()},
        **{f"kept_existing/{name}": dg.MetadataValue.int(int(c["kept_existing"])) for name, c in counts.items()},
    })
