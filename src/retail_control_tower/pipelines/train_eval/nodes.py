"""Train every variant out of time, choose a challenger on CV, decide promotion on the holdout.

Only the labelled customer-level frame comes into Python; everything before it was computed in
the warehouse by the ``features`` pipeline.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

from retail_control_tower.ml import metrics
from retail_control_tower.ml.publication import RegisteredModel
from retail_control_tower.pipelines.train_eval.splits import Split, plan_splits, rows
from retail_control_tower.pipelines.train_eval.variants import LABEL, feature_columns, fit_variant

KEYS = ["CUSTOMER_ID", "SNAPSHOT_DATE", "LABEL_WINDOW_END", LABEL]
logger = logging.getLogger(__name__)


@dataclass
class HoldoutEvaluation:
    split: Split
    models: dict[str, Any]  # variant → fitted estimator
    features: pd.DataFrame  # the holdout snapshot's rows, as every variant (and the champion) sees them
    predictions: pd.DataFrame  # CUSTOMER_ID, SNAPSHOT_DATE, CHURNED, one probability column per variant
    metrics: pd.DataFrame  # VARIANT, SPLIT, VALIDATION_DATE, METRIC, VALUE


def labelled_frame(features: ir.Table, params: dict[str, Any]) -> pd.DataFrame:
    """The labelled snapshots with the columns any variant uses.

    Beyond ``max_training_rows`` labelled rows, a deterministic sample of customers (by a hash
    of the id, taken in the warehouse) keeps every snapshot of the customers it keeps, so the
    frame that comes into Python stays bounded whatever the number of customers.
    """
    read = [c for variant in params["variants"].values() for c in feature_columns(variant, params["feature_sets"])]
    wanted = list(dict.fromkeys(KEYS + read))
    labelled = features.filter(features[LABEL].notnull())
    limit = params.get("max_training_rows")
    if limit:
        total = labelled.count().to_pyarrow().as_py()
        if total > limit:
            buckets = params["sample_buckets"]
            kept = math.ceil(buckets * limit / total)
            labelled = labelled.filter(labelled.CUSTOMER_ID.hash().abs() % buckets < kept)
            logger.info("Training on a %.1f%% sample of customers (%d labelled rows > max_training_rows %d)", 100 * kept / buckets, total, limit)
    frame = labelled.select(*wanted).order_by(["SNAPSHOT_DATE", "CUSTOMER_ID"]).to_pandas()
    if frame.empty:
        raise ValueError("ML.CUSTOMER_FEATURES holds no labelled snapshot: run the `features` pipeline on enough history.")
    for column in ("SNAPSHOT_DATE", "LABEL_WINDOW_END"):
        frame[column] = pd.to_datetime(frame[column])
    frame[LABEL] = frame[LABEL].astype("int8")
    return frame


def screen_features(frame: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """``params:train_eval`` for this run: each feature set without the features that are
    entirely null or constant in the labelled snapshots before the holdout.

    Every input the contract allows must train: with no returns file the return features are
    null throughout, with no customers file the loyalty tier is one value. Such a column carries
    no information and breaks some estimators (a gradient-boosting binner cannot bin an all-null
    column), so it is dropped for the run; ``dropped_features`` says which and why.
    """
    holdout = plan_splits(frame, params)[-1]
    training = frame[frame["SNAPSHOT_DATE"] < pd.Timestamp(holdout.validation_date)]
    used = {c for fs in params["feature_sets"].values() for part in ("numeric", "categorical") for c in fs.get(part, [])}
    dropped: dict[str, str] = {}
    for column in sorted(used):
        values = training[column]
        if values.isna().all():
            dropped[column] = "entirely null"
        elif values.nunique(dropna=False) == 1:
            dropped[column] = f"constant ({values.iloc[0]})"
    feature_sets = {}
    for name, columns in params["feature_sets"].items():
        kept = {part: [c for c in values if c not in dropped] for part, values in columns.items()}
        if not kept.get("numeric") and not kept.get("categorical"):
            raise ValueError(f"Feature set {name!r} has no feature left that varies in the training window: {dropped}")
        feature_sets[name] = kept
    if dropped:
        logger.warning("Features dropped for this run: %s", dropped_text(dropped))
    return {**params, "feature_sets": feature_sets, "dropped_features": dropped}


def dropped_text(dropped: dict[str, str]) -> str:
    return ", ".join(f"{column} ({why})" for column, why in dropped.items())


def fit_split(variant: dict[str, Any], params: dict[str, Any], frame: pd.DataFrame, split: Split) -> Any:
    """Uncalibrated variants train on all of the split's training snapshots; calibrated ones
    fit on the earlier ones and calibrate on the latest."""
    calibrated = bool(variant.get("calibration"))
    fit_rows = rows(frame, split.fit_dates if calibrated else split.training_dates)
    calibration_rows = rows(frame, split.calibration_dates) if calibrated else None
    return fit_variant(variant, params, fit_rows, calibration_rows)


def _fit_all(frame: pd.DataFrame, params: dict[str, Any], splits: list[Split]) -> dict[tuple[str, Split], Any]:
    """Every variant fitted for every split, ``fit_jobs`` fits side by side, each on ``threads``
    threads (threadpoolctl caps OpenMP and BLAS for the whole process while they run).

    Fits run in threads of this process: the estimators' heavy loops release the GIL, and the
    training frame is shared instead of copied to worker processes. One thread per fit and one
    fit per core keeps a busy machine from oversubscribing its cores: a gradient-boosting fit
    whose OpenMP threads compete with another process slows down several times over. Fits that
    neighbouring folds share (the same training and calibration snapshots) run once.
    """
    keys: dict[tuple, tuple[str, Split]] = {}
    for split in splits:
        for name in params["variants"]:
            keys.setdefault((name, split.fit_dates, split.calibration_dates), (name, split))
    jobs = params.get("fit_jobs") or os.cpu_count() or 1
    with threadpool_limits(limits=params["threads"]):
        fitted = Parallel(n_jobs=jobs, backend="threading")(
            delayed(fit_split)(params["variants"][name], params, frame, split) for name, split in keys.values()
        )
    by_key = dict(zip(keys, fitted))
    return {
        (name, split): by_key[(name, split.fit_dates, split.calibration_dates)] for split in splits for name in params["variants"]
    }


def _metric_rows(variant: str, split: Split, y_true: np.ndarray, y_prob: np.ndarray, params: dict[str, Any]) -> list[dict[str, Any]]:
    limit = params["calibration_limit"]
    values = {
        **metrics.classification_metrics(y_true, y_prob),
        "ece_noise": metrics.ece_noise(y_prob, limit["ece_noise_draws"], limit["ece_noise_quantile"], params["seed"]),
    }
    return [
        {"VARIANT": variant, "SPLIT": split.name, "VALIDATION_DATE": pd.Timestamp(split.validation_date), "METRIC": key, "VALUE": float(value)}
        for key, value in values.items()
    ]


def cross_validate(frame: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Per variant and CV fold, every metric on the fold's validation snapshot (long format)."""
    folds = plan_splits(frame, params)[:-1]
    fitted = _fit_all(frame, params, folds)
    records: list[dict[str, Any]] = []
    for split in folds:
        validation = rows(frame, [split.validation_date])
        for name in params["variants"]:
            scores = fitted[(name, split)].predict_proba(validation)[:, 1]
            records += _metric_rows(name, split, validation[LABEL].to_numpy(), scores, params)
    return pd.DataFrame.from_records(records)


def evaluate_holdout(frame: pd.DataFrame, params: dict[str, Any]) -> HoldoutEvaluation:
    """Fits every variant for the holdout split and scores the holdout snapshot."""
    split = plan_splits(frame, params)[-1]
    fitted = _fit_all(frame, params, [split])
    validation = rows(frame, [split.validation_date]).reset_index(drop=True)
    predictions = validation[["CUSTOMER_ID", "SNAPSHOT_DATE", LABEL]].copy()
    models, records = {}, []
    for name in params["variants"]:
        models[name] = fitted[(name, split)]
        predictions[name] = models[name].predict_proba(validation)[:, 1]
        records += _metric_rows(name, split, validation[LABEL].to_numpy(), predictions[name].to_numpy(), params)
    return HoldoutEvaluation(split, models, validation, predictions, pd.DataFrame.from_records(records))


def _ece_limit(max_ece: float, noise: float) -> float:
    return max(max_ece, noise)


def _figures(means: pd.DataFrame, columns: list[str]) -> str:
    """Every variant's mean CV figures, e.g. ``logreg (roc_auc 0.837, ece 0.028 > limit 0.020)``."""
    parts = []
    for name, row in means.iterrows():
        values = ", ".join(f"{c} {row[c]:.3f}" for c in columns)
        ok = "<=" if row["ece"] <= row["ece_limit"] else ">"
        parts.append(f"{name} ({values}, ece {row['ece']:.4f} {ok} limit {row['ece_limit']:.4f})")
    return "; ".join(parts)


def choose_challenger(cv_metrics: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The trainable variant with the best mean CV selection metric among those within the
    promotion's calibration limit (so the challenger chosen is one the promotion can accept).

    lift@10% cannot exceed 1 / churn rate; when the best variant comes within
    ``saturation_share`` of that ceiling every good model ties on it, and the
    ``saturated_metric`` (ROC AUC by default) decides instead.
    """
    rule, limit = params["selection"], params["calibration_limit"]
    baselines = set(params.get("baselines", []))
    candidates = [n for n in params["variants"] if n not in baselines]
    means = cv_metrics.groupby(["VARIANT", "METRIC"])["VALUE"].mean().unstack("METRIC").loc[candidates]
    means["ece_limit"] = [_ece_limit(limit["max_ece"], noise) for noise in means["ece_noise"]]
    metric, tolerance = rule["metric"], rule["tie_tolerance"]
    ceiling = 1 / means["event_rate"].mean() if metric.startswith("lift") else math.inf
    saturated = means[metric].max() >= rule["saturation_share"] * ceiling
    if saturated:
        metric, tolerance = rule["saturated_metric"], rule["saturated_tie_tolerance"]
    saturation_note = (
        f"{rule['metric']} is saturated (best {means[rule['metric']].max():.3f} >= {rule['saturation_share']:.0%} of its "
        f"ceiling 1 / churn rate = {ceiling:.3f}), so {metric} decides; " if saturated else ""
    )
    breaker = rule["tie_breaker"]
    shown = list(dict.fromkeys([metric, rule["metric"], breaker]))
    eligible = means[means["ece"] <= means["ece_limit"]]
    if eligible.empty:
        best = means.sort_values("ece").index[0]
        return {
            "variant": best,
            "eligible": False,
            "metric": metric,
            "reason": f"{saturation_note}no variant's mean CV ECE is within its calibration limit; mean CV figures: "
            + _figures(means, shown),
        }
    tied = eligible[eligible[metric] >= eligible[metric].max() - tolerance]
    ranked = tied.sort_values([breaker, metric], ascending=False)
    best = ranked.index[0]
    tie_note = (
        f"; tied within {tolerance} with {', '.join(ranked.index[1:])}, decided by mean CV {breaker} "
        f"{ranked.iloc[0][breaker]:.4f}" if len(ranked) > 1 else ""
    )
    return {
        "variant": best,
        "eligible": True,
        "metric": metric,
        "reason": (
            f"{saturation_note}best mean CV {metric} {ranked.iloc[0][metric]:.3f} among variants within the calibration "
            f"limit{tie_note}; mean CV figures: {_figures(means, shown)}"
        ),
    }


BOOTSTRAP_METRICS = {"lift_at_10": metrics.lift_at, "roc_auc": roc_auc_score, "pr_auc": average_precision_score}


def decide_promotion(
    holdout: HoldoutEvaluation, challenger: dict[str, Any], champion: RegisteredModel | None, params: dict[str, Any]
) -> dict[str, Any]:
    """Promote or not, by the rule in ``params:train_eval.promotion``; the reason says why in figures."""
    rule, limit = params["promotion"], params["calibration_limit"]
    name, metric = challenger["variant"], challenger["metric"]
    y_true = holdout.predictions[LABEL].to_numpy()
    new_scores = holdout.predictions[name].to_numpy()
    ece = metrics.expected_calibration_error(y_true, new_scores)
    noise = metrics.ece_noise(new_scores, limit["ece_noise_draws"], limit["ece_noise_quantile"], params["seed"])
    allowed = _ece_limit(limit["max_ece"], noise)
    decision: dict[str, Any] = {"challenger": name, "champion_version": None, "holdout_ece": ece}
    dropped = params.get("dropped_features") or {}
    dropped_note = f"; features dropped for this run: {dropped_text(dropped)}" if dropped else ""
    if not challenger["eligible"]:
        return {**decision, "promote": False, "reason": f"{name} not promoted: {challenger['reason']}{dropped_note}"}
    ece_ok = ece <= allowed
    widened = f", widened from {limit['max_ece']} to the noise of a calibrated model on {len(y_true)} customers" if allowed > limit["max_ece"] else ""
    ece_text = f"holdout ECE {ece:.4f} {'<=' if ece_ok else '>'} limit {allowed:.4f}{widened}"
    if champion is None:
        verdict = "promoted: no champion yet" if ece_ok else "not promoted although there is no champion"
        return {**decision, "promote": ece_ok, "reason": f"{name} {verdict}; {ece_text}; selected by {challenger['reason']}{dropped_note}"}

    champion_scores = champion.model.predict_proba(holdout.features)[:, 1]
    score = BOOTSTRAP_METRICS[metric]
    boot = metrics.bootstrap_difference(
        y_true, new_scores, champion_scores, metric=score,
        n_boot=rule["bootstrap_resamples"], confidence=rule["confidence"], seed=params["seed"],
    )
    min_gain = rule["min_gain"][metric]
    gain_ok = boot.difference >= min_gain and boot.low > 0
    promote = bool(gain_ok and ece_ok)
    gain_text = (
        f"holdout {metric} {score(y_true, new_scores):.3f} vs champion v{champion.version} "
        f"({champion.variant}) {score(y_true, champion_scores):.3f}: difference {boot.difference:+.3f}, "
        f"{rule['confidence']:.0%} CI [{boot.low:+.3f}, {boot.high:+.3f}], required >= {min_gain} with CI above 0"
    )
    return {
        **decision,
        "promote": promote,
        "champion_version": champion.version,
        "lift_difference": boot.difference,
        "reason": f"{name} {'promoted' if promote else 'not promoted'}: {gain_text}; {ece_text}{dropped_note}",
    }
