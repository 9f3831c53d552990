"""The retraining signal: a rule (``params:monitoring.signal``) over the champion's realised
performance and this run's drift. Retraining is recommended when any of these holds:

- over its latest ``realised_dates`` realised score dates, the champion's mean realised ROC AUC
  is below its holdout ROC AUC by more than ``max_roc_auc_drop``, or its mean realised ECE is
  above its holdout ECE by more than ``max_ece_rise`` (a mean, because one date of a few hundred
  customers is noisy and some dates are harder to predict than others for any model; against
  the holdout, because that is what the model was accepted on, at that sample's noise);
- in this run the score distribution is at 'act' drift, or ``min_act`` or more features are at
  'act', or ``min_watch`` or more at 'watch'. Features in ``exempt_features`` are measured and
  shown but not counted: they grow with the calendar for every customer (tenure, lifetime
  totals), so against a training window months old their PSI measures time, not a changed
  customer base.

A recommendation carries ``RECOMMENDED_SINCE``: the time of the first of the runs in a row that
recommended retraining this model version (this run's, when the one before did not). The alert
hook tells chat when a recommendation is raised, not again while it holds.
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
import pandas as pd

from retail_control_tower.ml import tables
from retail_control_tower.ml.publication import RegisteredModel

SCORE = "CHURN_PROBABILITY"


def _performance_reasons(realised: pd.DataFrame, rule: dict[str, Any]) -> list[str]:
    dates = sorted(realised.SCORE_DATE.unique())[-rule["realised_dates"]:]
    if not dates:
        return []
    recent = realised[realised.SCORE_DATE.isin(dates)]
    span = f"{len(dates)} latest realised score date(s) {pd.Timestamp(dates[0]).date()}..{pd.Timestamp(dates[-1]).date()}"
    reasons = []
    auc = recent[recent.METRIC == "roc_auc"].dropna(subset=["VALUE", "EXPECTED"])
    if len(auc):
        value, expected = auc.VALUE.mean(), auc.EXPECTED.mean()
        if value < expected - rule["max_roc_auc_drop"]:
            reasons.append(f"mean realised ROC AUC {value:.3f} over the {span} is below the holdout's {expected:.3f} by more than {rule['max_roc_auc_drop']}")
    ece = recent[recent.METRIC == "ece"].dropna(subset=["VALUE", "EXPECTED"])
    if len(ece):
        value, expected = ece.VALUE.mean(), ece.EXPECTED.mean()
        if value > expected + rule["max_ece_rise"]:
            reasons.append(f"mean realised ECE {value:.3f} over the {span} is above the holdout's {expected:.3f} by more than {rule['max_ece_rise']}")
    return reasons


def _drift_reasons(drift: pd.DataFrame, rule: dict[str, Any]) -> list[str]:
    score = drift[(drift.FEATURE == SCORE) & (drift.STATUS == "act")]
    counted = drift[(drift.FEATURE != SCORE) & ~drift.FEATURE.isin(rule["exempt_features"])]
    act = counted[counted.STATUS == "act"].sort_values("PSI", ascending=False)
    watch = counted[counted.STATUS == "watch"]
    reasons = []
    if len(score):
        reasons.append(f"the score distribution is at 'act' drift (PSI {score.PSI.iloc[0]:.2f} against the holdout's)")
    if len(act) >= rule["min_act"]:
        named = ", ".join(f"{r.FEATURE} {r.PSI:.2f}" for r in act.head(5).itertuples())
        reasons.append(f"{len(act)} features at 'act' drift (PSI): {named}")
    if len(watch) >= rule["min_watch"]:
        reasons.append(f"{len(watch)} features at 'watch' drift (at least {rule['min_watch']})")
    return reasons


def _evidence_versions(champion: RegisteredModel, registry: ir.Table | None) -> list[str]:
    """The champion's version and, for a refit, the version it was validated as: the backfill
    scores past dates with the validated one (the refit's training window covers them), and both
    are the same configuration, so its realised performance is the refit's evidence too."""
    versions = [str(champion.version)]
    if registry is not None and "VALIDATED_VERSION" in registry.columns:
        link = registry.filter((registry.MODEL_NAME == champion.model_name) & (registry.MODEL_VERSION == str(champion.version)))
        versions += [v for v in link.VALIDATED_VERSION.to_pyarrow().to_pylist() if v and v not in versions]
    return versions


def _recommended_since(prior: ir.Table | None, model_name: str, version: str, run_context: dict[str, Any]) -> pd.Timestamp:
    """When the recommendation this run makes for the model version began: the previous run's
    ``RECOMMENDED_SINCE`` if that run recommended it too, else now."""
    now = pd.Timestamp(run_context["started_at"])
    if prior is None:
        return now
    mine = prior.filter((prior.MODEL_NAME == model_name) & (prior.MODEL_VERSION == version) & (prior.RUN_ID != run_context["run_id"]))
    last = mine.order_by(mine.DECIDED_AT.desc()).limit(1).select("RECOMMENDED", "RECOMMENDED_SINCE").to_pyarrow().to_pylist()
    if last and last[0]["RECOMMENDED"] and last[0]["RECOMMENDED_SINCE"] is not None:
        return pd.Timestamp(last[0]["RECOMMENDED_SINCE"])
    return now


def retraining_signal(
    realised: ir.Table | None,
    drift: ir.Table | None,
    champion: RegisteredModel | None,
    params: dict[str, Any],
    run_context: dict[str, Any],
    registry: ir.Table | None = None,
    prior: ir.Table | None = None,
) -> ir.Table:
    """This run's ML.RETRAINING_SIGNAL row for the champion (none without a champion); a refit
    champion is judged on its validated version's realised performance too (``registry``);
    ``prior`` is the signal's table before this run."""
    rows = []
    if champion is not None:
        version = str(champion.version)
        mine_realised = pd.DataFrame(columns=["SCORE_DATE", "METRIC", "VALUE", "EXPECTED"])
        if realised is not None:
            mine = realised.filter(
                (realised.MODEL_NAME == champion.model_name)
                & realised.MODEL_VERSION.isin(_evidence_versions(champion, registry))
            )
            mine_realised = mine.select("SCORE_DATE", "METRIC", "VALUE", "EXPECTED").to_pandas()
        mine_drift = pd.DataFrame(columns=["FEATURE", "PSI", "STATUS"])
        if drift is not None:
            this_run = drift.filter((drift.RUN_ID == run_context["run_id"]) & (drift.MODEL_VERSION == version))
            mine_drift = this_run.select("FEATURE", "PSI", "STATUS").to_pandas()
        reasons = _performance_reasons(mine_realised, params) + _drift_reasons(mine_drift, params)
        if reasons:
            reason = "; ".join(reasons)
        else:
            dates = mine_realised.SCORE_DATE.nunique()
            status = mine_drift.STATUS
            reason = (f"no rule met: {dates} realised score date(s), {len(mine_drift)} drift measures "
                      f"({int((status == 'act').sum())} at 'act', {int((status == 'watch').sum())} at 'watch', exempt ones included)")
        since = _recommended_since(prior, champion.model_name, version, run_context) if reasons else pd.NaT
        rows.append({"MODEL_NAME": champion.model_name, "MODEL_VERSION": version, "RECOMMENDED": bool(reasons), "REASON": reason,
                     "RECOMMENDED_SINCE": since})
    frame = pd.DataFrame(rows, columns=["MODEL_NAME", "MODEL_VERSION", "RECOMMENDED", "REASON", "RECOMMENDED_SINCE"])
    frame = frame.assign(RUN_ID=run_context["run_id"], DECIDED_AT=pd.Timestamp(run_context["started_at"]), RECOMMENDED=frame.RECOMMENDED.astype(bool))
    return tables.as_table(frame, tables.RETRAINING_SIGNAL)
