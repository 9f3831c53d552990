"""Project datasets: raw input files read through the warehouse engine, and prior table state."""

from retail_control_tower.datasets.prior_table import PriorTableDataset
from retail_control_tower.datasets.raw_files import RawFilesDataset

__all__ = ["PriorTableDataset", "RawFilesDataset"]
