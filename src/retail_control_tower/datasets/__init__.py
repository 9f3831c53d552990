"""Project datasets: raw input files read through the warehouse engine, prior table state,
date-partitioned tables replaced atomically, and the MLflow model registry."""

from __future__ import annotations

from typing import Any

from retail_control_tower.datasets.partition_table import PartitionReplaceTableDataset
from retail_control_tower.datasets.prior_table import OptionalTableDataset, PriorTableDataset
from retail_control_tower.datasets.raw_files import RawFilesDataset
from retail_control_tower.datasets.raw_manifest import RawFileManifestDataset
from retail_control_tower.datasets.warehouse_table import WarehouseConnectionDataset, WarehouseTableDataset

__all__ = [
    "MlflowModelRegistryDataset",
    "OptionalTableDataset",
    "PartitionReplaceTableDataset",
    "PriorTableDataset",
    "RawFileManifestDataset",
    "RawFilesDataset",
    "WarehouseConnectionDataset",
    "WarehouseTableDataset",
]


def __getattr__(name: str) -> Any:
    # MLflow takes ~2 s to import; only runs that touch the registry should pay for it.
    if name == "MlflowModelRegistryDataset":
        from retail_control_tower.datasets.mlflow_registry import MlflowModelRegistryDataset

        return MlflowModelRegistryDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
