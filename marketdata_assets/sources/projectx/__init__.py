"""ProjectX gateway: REST history (``rest``). No Dagster imports here."""

from marketdata_assets.sources.projectx.rest import (
    BARS_LIMIT,
    Contract,
    GatewayError,
    ProjectXClient,
    build_projectx_client,
    contract_name,
)

__all__ = ["BARS_LIMIT", "Contract", "GatewayError", "ProjectXClient", "build_projectx_client", "contract_name"]
