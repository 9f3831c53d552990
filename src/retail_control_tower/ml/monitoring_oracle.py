"""The synthetic generator's oracle, read by monitoring only where it exists."""

from __future__ import annotations

import pandas as pd
from kedro_datasets.pandas import ParquetDataset


class OptionalParquetDataset(ParquetDataset):
    """A Parquet file that loads as ``None`` while it does not exist: the churn oracle is written
    by the synthetic generator and absent on a real retailer's data."""

    def load(self) -> pd.DataFrame | None:
        return super().load() if self.exists() else None
