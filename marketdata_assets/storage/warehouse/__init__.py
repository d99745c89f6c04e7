"""One warehouse interface; the backend is chosen from the URL."""

from marketdata_assets.storage.warehouse.base import Checkpoint, PartitionWrite, Warehouse, partition_scope
from marketdata_assets.storage.warehouse.factory import open_warehouse

__all__ = ["Checkpoint", "PartitionWrite", "Warehouse", "open_warehouse", "partition_scope"]
