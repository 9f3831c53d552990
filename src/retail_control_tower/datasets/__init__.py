"""Project datasets: raw input files read through the warehouse engine, prior table state,
date-partitioned tables replaced atomically. The MLflow registry's datasets are in
``datasets.mlflow_registry``."""

from __future__ import annotations

from retail_control_tower.datasets.partition_table import PartitionReplaceTableDataset
from retail_control_tower.datasets.prior_table import OptionalTableDataset, PriorTableDataset
from retail_control_tower.datasets.raw_files import RawFilesDataset
from retail_control_tower.datasets.raw_manifest import RawFileManifestDataset
from retail_control_tower.datasets.warehouse_table import WarehouseConnectionDataset, WarehouseTableDataset

__all__ = [
    "OptionalTableDataset",
    "PartitionReplaceTableDataset",
    "PriorTableDataset",
    "RawFileManifestDataset",
    "RawFilesDataset",
    "WarehouseConnectionDataset",
    "WarehouseTableDataset",
]

