"""The deployed model: the promoted configuration refitted on the newest labelled snapshots.

The version train_eval validates on the holdout was trained on snapshots whose label window ended
by the holdout snapshot, so it is months older than the data it will score. When a challenger is
promoted and ``deployment.refit`` is on, the same configuration (variant and screened feature sets)
is fitted again, by the rule a split uses, on the newest ``train_snapshots`` labelled snapshots,
the holdout among them, and that refit is deployed as champion; why is measured in
benchmarks/refit_backtest.py and said in conf/base/parameters_train_eval.yml. The refit cannot be
evaluated before deployment: its expected performance is the validated version's holdout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from retail_control_tower.pipelines.train_eval.nodes import fit_split
from retail_control_tower.pipelines.train_eval.splits import Split, rows
from retail_control_tower.pipelines.train_eval.variants import feature_columns

logger = logging.getLogger(__name__)


@dataclass
class Refit:
    """The promoted variant fitted on the refit split."""

    variant: str
    split: Split  # validation_date: the day every label of its snapshots was known
    model: Any
    input_example: pd.DataFrame  # a few feature rows: the model signature is inferred from them


@dataclass
class Deployment:
    """What this run deploys beside the decision: a refit, or None and why not."""

    refit: Refit | None
    reason: str


def refit_split(frame: pd.DataFrame, params: dict[str, Any]) -> Split:
    """The newest ``train_snapshots`` labelled snapshots of ``frame`` (all of them when that is
    null), the last ``calibration_snapshots`` of them to calibrate: ``plan_splits``' rule with
    the day the last label became known in place of a validation snapshot."""
    ends = frame.groupby("SNAPSHOT_DATE")["LABEL_WINDOW_END"].max().sort_index()
    snapshots = [pd.Timestamp(d).date() for d in ends.index]
    keep, held = params["train_snapshots"], params["calibration_snapshots"]
    eligible = snapshots[-keep:] if keep else snapshots
    if len(eligible) <= held:
        raise ValueError(f"{len(eligible)} labelled snapshot(s) cannot refit a model that calibrates on {held}.")
    cut = len(eligible) - held
    return Split("refit", pd.Timestamp(ends.max()).date(), tuple(eligible[:cut]), tuple(eligible[cut:]))


def refit_promoted(frame: pd.DataFrame, params: dict[str, Any], decision: dict[str, Any]) -> Deployment:
    """The promoted challenger's configuration fitted on :func:`refit_split`, as train_eval fits
    a split; no refit when nothing was promoted or ``deployment.refit`` is off."""
    if not decision["promote"]:
        return Deployment(None, "nothing promoted: no refit")
    if not (params.get("deployment") or {}).get("refit"):
        return Deployment(None, "train_eval.deployment.refit is off: the validated version is the champion")
    name = decision["challenger"]
    variant = params["variants"][name]
    split = refit_split(frame, params)
    with threadpool_limits(limits=params["threads"]):
        model = fit_split(variant, params, frame, split)
    example = rows(frame, split.training_dates[-1:])[feature_columns(variant, params["feature_sets"])].head(5)
    logger.info("Refitted the promoted %s on the labelled snapshots %s", name, split.window)
    return Deployment(Refit(name, split, model, example), f"{name} refitted on the labelled snapshots {split.window}")
