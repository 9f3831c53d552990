"""Out-of-time splits over snapshot dates: rolling-origin CV folds and the holdout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Split:
    """Fit on ``fit_dates``, calibrate (if the variant does) on ``calibration_dates``, evaluate on ``validation_date``."""

    name: str  # "fold_1", ..., "holdout"
    validation_date: date
    fit_dates: tuple[date, ...]
    calibration_dates: tuple[date, ...]

    @property
    def training_dates(self) -> tuple[date, ...]:
        return self.fit_dates + self.calibration_dates

    @property
    def window(self) -> str:
        return f"{self.training_dates[0]}..{self.training_dates[-1]}"


def plan_splits(frame: pd.DataFrame, params: dict[str, Any]) -> list[Split]:
    """The CV folds (oldest first) followed by the holdout split.

    Snapshots are those with a label in ``frame``. A split validating snapshot ``v`` trains on
    snapshots whose label window ended on or before ``v`` — the newest ``train_snapshots`` of
    them — so no training label reaches into the validated period.
    """
    windows = frame.groupby("SNAPSHOT_DATE")["LABEL_WINDOW_END"].max().sort_index()
    snapshots = [pd.Timestamp(d).date() for d in windows.index]
    ends = {pd.Timestamp(d).date(): pd.Timestamp(e).date() for d, e in windows.items()}
    folds, keep, held = params["folds"], params["train_snapshots"], params["calibration_snapshots"]
    if len(snapshots) < folds + 1:
        raise ValueError(
            f"{len(snapshots)} labelled snapshot(s) in ML.CUSTOMER_FEATURES; {folds} CV folds and a holdout "
            "need at least one more. Provide more history or lower train_eval.folds."
        )
    validation = snapshots[-(folds + 1):]
    splits = []
    for index, validation_date in enumerate(validation):
        eligible = [s for s in snapshots if ends[s] <= validation_date][-keep:] if keep else [s for s in snapshots if ends[s] <= validation_date]
        if len(eligible) <= held:
            raise ValueError(
                f"Validation snapshot {validation_date} has {len(eligible)} training snapshot(s) whose label window "
                f"ended before it; at least {held + 1} are needed ({held} for calibration). Provide more history."
            )
        name = "holdout" if index == folds else f"fold_{index + 1}"
        cut = len(eligible) - held
        splits.append(Split(name, validation_date, tuple(eligible[:cut]), tuple(eligible[cut:])))
    return splits


def rows(frame: pd.DataFrame, dates: tuple[date, ...] | list[date]) -> pd.DataFrame:
    return frame[frame["SNAPSHOT_DATE"].isin([pd.Timestamp(d) for d in dates])]
