"""Backtest: should the deployed churn model be refitted on every labelled snapshot before it scores?

    nice -n 10 .venv/bin/python benchmarks/refit_backtest.py                    # default preset, 20,000 customers
    nice -n 10 .venv/bin/python benchmarks/refit_backtest.py --preset sparse --synthetic sparse.history_days=720
    nice -n 10 .venv/bin/python benchmarks/refit_backtest.py --data-dir DIR     # a data folder prepared before (kept)
    nice -n 10 .venv/bin/python benchmarks/refit_backtest.py --variant hgb_calibrated_ext   # skip CV selection

For each past deployment date D (the last ``--dates`` month-end snapshots whose own label window
has since elapsed), ``train_eval`` is replayed as it would have run on D: its frame holds only the
snapshots whose label window had ended by D (LABEL_WINDOW_END <= D); ``screen_features`` and
``plan_splits`` work on that frame, the promoted configuration is ``choose_challenger`` over
``cross_validate`` (or ``--variant``). Two models of that configuration are fitted with
``fit_variant``:

- validated: the holdout split of that run (the latest labelled snapshot h is held out; it trains on
  the newest ``train_snapshots`` snapshots whose label ended by h, the last
  ``calibration_snapshots`` of them set aside for a calibrated variant's calibrator) — the model
  train_eval registers today;
- refit: the same rule with D in place of h — the newest ``train_snapshots`` snapshots labelled as
  of D, the last ``calibration_snapshots`` of them for the calibrator (h is now among them).

Both score snapshot D (and the next ``--horizon`` - 1 snapshots), features as ML.CUSTOMER_FEATURES
holds them at that snapshot, against the labels that arrived later. Differences are refit minus
validated, with a paired bootstrap over customers (drawn once for all dates) per date and for the
mean of the dates; on the default preset the generator's oracle on the same rows is the ceiling.

Verdict, on the mean over dates: the refit wins when its bootstrap interval lies on its side of
zero for the selection metric train_eval would use (lift@10 %, or ROC AUC where lift is saturated)
or for the Brier score, and on the other side for none of the compared metrics; it loses in the
mirror case. Whether its gain would also clear ``promotion.min_gain`` (the bar for replacing a
champion by another model) and whether each model's ECE is within the calibration limit is shown.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_dq import KEDRO, PROJECT, SCALES, timed  # noqa: E402

sys.path.insert(0, str(PROJECT / "src"))
from retail_control_tower.ml import metrics  # noqa: E402
from retail_control_tower.pipelines.train_eval.nodes import (  # noqa: E402
    choose_challenger,
    cross_validate,
    labelled_frame,
    screen_features,
)
from retail_control_tower.pipelines.train_eval.splits import Split, plan_splits, rows  # noqa: E402
from retail_control_tower.pipelines.train_eval.variants import LABEL, fit_variant  # noqa: E402

# name → (score function, True when higher is better)
COMPARED = {
    "roc_auc": (roc_auc_score, True),
    "pr_auc": (average_precision_score, True),
    "lift_at_10": (metrics.lift_at, True),
    "ece": (metrics.expected_calibration_error, False),
    "brier": (brier_score_loss, False),
}


def prepare(data_dir: Path, preset: str, extra: list[str], env: dict[str, str]) -> None:
    """generate → ingest → dq → features on a fresh data folder, as ``make run`` would."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {**SCALES["default"], "preset": preset, **dict(item.split("=", 1) for item in extra)}
    overrides = ",".join(f"synthetic.{key}={value}" for key, value in settings.items())
    for step in (["generate", "--params", overrides], ["ingest"], ["dq"], ["features"]):
        wall, rss = timed([*KEDRO, "run", "--pipelines", *step], env)
        print(f"prepare {step[0]:<10} {wall:8.1f} s  {rss:6.2f} GiB peak", flush=True)


def refit_split(frame: pd.DataFrame, params: dict, deployment: date, every_snapshot: bool = False) -> Split:
    """``plan_splits``' rule for a split validating ``deployment``: the newest ``train_snapshots``
    (or, with ``every_snapshot``, all) snapshots whose label window ended by then, the last
    ``calibration_snapshots`` of them to calibrate."""
    ends = frame.groupby("SNAPSHOT_DATE")["LABEL_WINDOW_END"].max()
    eligible = [pd.Timestamp(s).date() for s, end in ends.items() if pd.Timestamp(end).date() <= deployment]
    keep, held = params["train_snapshots"], params["calibration_snapshots"]
    eligible = eligible[-keep:] if keep and not every_snapshot else eligible
    cut = len(eligible) - held
    return Split("refit", deployment, tuple(eligible[:cut]), tuple(eligible[cut:]))


def fit_split(variant: dict, params: dict, frame: pd.DataFrame, split: Split):
    """As train_eval fits a split: a calibrated variant fits on the earlier snapshots and
    calibrates on the later ones; an uncalibrated one fits on all of them."""
    calibrated = bool(variant.get("calibration"))
    fit_rows = rows(frame, split.fit_dates if calibrated else split.training_dates)
    calibration_rows = rows(frame, split.calibration_dates) if calibrated else None
    with threadpool_limits(limits=params["threads"]):
        return fit_variant(variant, params, fit_rows, calibration_rows)


def replay(frame: pd.DataFrame, params: dict, deployment: date, horizon: list[date], fixed_variant: str | None, every_snapshot: bool) -> dict:
    """train_eval as of ``deployment``; both models' scores on the ``horizon`` snapshots."""
    known = frame[frame["LABEL_WINDOW_END"] <= pd.Timestamp(deployment)]
    try:
        config = screen_features(known, params)
    except ValueError as error:
        raise SystemExit(f"train_eval cannot run as of {deployment}: {error} Use fewer --dates or a longer history.") from error
    if fixed_variant:
        chosen = {"variant": fixed_variant, "reason": "--variant"}
    else:
        chosen = choose_challenger(cross_validate(known, config), config)
    variant = config["variants"][chosen["variant"]]
    validated_split = plan_splits(known, config)[-1]
    refit = refit_split(known, config, deployment, every_snapshot)
    models = {"validated": fit_split(variant, config, known, validated_split), "refit": fit_split(variant, config, known, refit)}
    scored = rows(frame, horizon).reset_index(drop=True)
    scores = scored[["CUSTOMER_ID", "SNAPSHOT_DATE", LABEL]].copy()
    for name, model in models.items():
        scores[name] = model.predict_proba(scored)[:, 1]
    return {"variant": chosen["variant"], "calibrated": bool(variant.get("calibration")), "validated": validated_split,
            "refit": refit, "scores": scores}


def bootstrap_draws(scored: dict[date, pd.DataFrame], n_boot: int, seed: int) -> dict[date, dict[str, np.ndarray]]:
    """Per date and compared metric, ``n_boot`` paired resamples of customers: metric(refit) -
    metric(validated). A resample draws customers once for every date (a drawn customer brings
    all their scored rows on each date), so the dates' differences keep the correlation the
    same customers give them and their mean's interval is not too narrow."""
    rng = np.random.default_rng(seed)
    everyone, _ = pd.factorize(pd.concat([scores.CUSTOMER_ID for scores in scored.values()]))
    customers, start, frames = everyone.max() + 1, 0, {}
    for deployment, scores in scored.items():
        codes, start = everyone[start:start + len(scores)], start + len(scores)
        frames[deployment] = (codes, scores[LABEL].to_numpy(), scores.refit.to_numpy(), scores.validated.to_numpy())
    draws = {deployment: {name: np.empty(n_boot) for name in COMPARED} for deployment in scored}
    for i in range(n_boot):
        drawn = np.bincount(rng.integers(0, customers, size=customers), minlength=customers)
        for deployment, (codes, y, new, old) in frames.items():
            pick = np.repeat(np.arange(len(codes)), drawn[codes])
            for name, (score, _) in COMPARED.items():
                draws[deployment][name][i] = score(y[pick], new[pick]) - score(y[pick], old[pick])
    return draws


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def oracle_scores(data_dir: Path, scores: pd.DataFrame) -> np.ndarray | None:
    """The generator's true churn probability of the scored rows, where the preset writes one."""
    path = data_dir / "00_synthetic_truth" / "churn_oracle.parquet"
    if not path.exists():
        return None
    oracle = pd.read_parquet(path, columns=["customer_id", "snapshot_date", "churn_probability"])
    oracle = oracle.assign(snapshot_date=pd.to_datetime(oracle.snapshot_date), customer_id=oracle.customer_id.str.upper())
    keyed = oracle.set_index(["customer_id", "snapshot_date"]).churn_probability
    truth = keyed.reindex(pd.MultiIndex.from_arrays([scores.CUSTOMER_ID, scores.SNAPSHOT_DATE])).to_numpy()
    return None if np.isnan(truth).any() else truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["default", "sparse"])
    parser.add_argument("--data-dir", type=Path, help="use (or prepare and keep) this data folder")
    parser.add_argument("--synthetic", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more generator settings, e.g. sparse.history_days=720 (the sparse default's 540 days "
                             "leave too few labelled snapshots to replay train_eval's CV at past dates)")
    parser.add_argument("--dates", type=int, default=4, help="how many past deployment dates")
    parser.add_argument("--horizon", type=int, default=1, help="snapshots scored from each deployment date on")
    parser.add_argument("--variant", help="fix the configuration instead of choosing it by CV at each date")
    parser.add_argument("--boot", type=int, default=500, help="bootstrap resamples")
    parser.add_argument("--refit-window", default="config", choices=["config", "all"],
                        help="refit on the newest train_snapshots labelled snapshots (config) or on all of them")
    args = parser.parse_args()
    os.nice(10)  # a shared machine: the other work keeps its share whatever way this was started
    logging.basicConfig(level=logging.ERROR)
    params = yaml.safe_load((PROJECT / "conf/base/parameters_train_eval.yml").read_text())["train_eval"]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix=f"refit_{args.preset}_"))
    env = {**os.environ, "RCT_DATA_DIR": str(data_dir), "RCT_RAW_DIR": str(data_dir / "01_raw"),
           "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    if not (data_dir / "warehouse.duckdb").exists():
        prepare(data_dir, args.preset, args.synthetic, env)
    con = ibis.duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    frame = labelled_frame(con.table("CUSTOMER_FEATURES", database="ML"), params)
    con.disconnect()
    snapshots = sorted(pd.Timestamp(s).date() for s in frame.SNAPSHOT_DATE.unique())
    last = len(snapshots) - args.horizon
    deployments = snapshots[last - args.dates + 1:last + 1]
    print(f"{data_dir}: {len(frame):,} labelled rows, {len(snapshots)} labelled snapshots "
          f"{snapshots[0]}..{snapshots[-1]}; deployment dates {', '.join(map(str, deployments))}", flush=True)

    per_date, scored, confidence, seed = [], {}, params["promotion"]["confidence"], params["seed"]
    limit = params["calibration_limit"]
    for deployment in deployments:
        start = snapshots.index(deployment)
        run = replay(frame, params, deployment, snapshots[start:start + args.horizon], args.variant, args.refit_window == "all")
        scores, y = run["scores"], run["scores"][LABEL].to_numpy()
        v, r = run["validated"], run["refit"]

        def window(split: Split) -> str:
            calibration = f", calibrated on {split.calibration_dates[0]}..{split.calibration_dates[-1]}" if run["calibrated"] else ""
            return f"{split.window}{calibration}"

        print(f"\nD = {deployment}: {run['variant']}; validated (holdout {v.validation_date}) trained {window(v)}; "
              f"refit trained {window(r)}; scored {len(scores):,} rows, churn rate {y.mean():.3f}", flush=True)
        figures = {name: metrics.classification_metrics(y, scores[name].to_numpy()) for name in ("validated", "refit")}
        truth = oracle_scores(data_dir, scores)
        if truth is not None:
            figures["oracle"] = metrics.classification_metrics(y, truth)
        table = pd.DataFrame(figures).T[list(COMPARED)]
        print(table.round(5).to_string())
        scored[deployment] = scores
        row = {"deployment": deployment, "variant": run["variant"], "n": len(y), "event_rate": y.mean()}
        for name in ("validated", "refit"):
            noise = metrics.ece_noise(scores[name].to_numpy(), limit["ece_noise_draws"], limit["ece_noise_quantile"], seed)
            row[f"ece_limit_{name}"] = max(limit["max_ece"], noise)
        for name in COMPARED:
            row.update({f"{name}_validated": table.loc["validated", name], f"{name}_refit": table.loc["refit", name],
                        f"{name}_diff": table.loc["refit", name] - table.loc["validated", name]})
        per_date.append(row)
    draws = bootstrap_draws(scored, args.boot, seed)
    for row in per_date:
        for name in COMPARED:
            row[f"{name}_low"], row[f"{name}_high"] = interval(draws[row["deployment"]][name], confidence)
    report(pd.DataFrame(per_date), draws, params, confidence)
    if not args.data_dir:
        shutil.rmtree(data_dir)


def report(per_date: pd.DataFrame, draws: dict, params: dict, confidence: float) -> None:
    """Per-date differences, their mean with a bootstrap interval, and the verdict."""
    print(f"\nrefit - validated per deployment date ({confidence:.0%} paired bootstrap over customers):")
    lines = []
    for name, (_, higher) in COMPARED.items():
        cells = [f"{r[f'{name}_diff']:+.5f} [{r[f'{name}_low']:+.5f}, {r[f'{name}_high']:+.5f}]" for _, r in per_date.iterrows()]
        pooled = np.mean([draws[d][name] for d in per_date.deployment], axis=0)
        low, high = interval(pooled, confidence)
        mean = per_date[f"{name}_diff"].mean()
        better = int(((per_date[f"{name}_diff"] > 0) if higher else (per_date[f"{name}_diff"] < 0)).sum())
        lines.append({"metric": name, "mean": mean, "low": low, "high": high, "better_on": better, "cells": cells,
                      "validated": per_date[f"{name}_validated"].mean(), "refit": per_date[f"{name}_refit"].mean()})
    header = "".join(f"{str(d):>31}" for d in per_date.deployment)
    print(f"{'metric':<11}{header}")
    for line in lines:
        print(f"{line['metric']:<11}" + "".join(f"{c:>31}" for c in line["cells"]))
    print(f"\nmean over {len(per_date)} dates (validated → refit; difference, {confidence:.0%} CI; dates where the refit is better):")
    for line in lines:
        print(f"  {line['metric']:<11} {line['validated']:.5f} → {line['refit']:.5f}  {line['mean']:+.5f} "
              f"[{line['low']:+.5f}, {line['high']:+.5f}]  {line['better_on']}/{len(per_date)}")
    by_metric = {line["metric"]: line for line in lines}
    rule = params["selection"]
    # The metric train_eval selects by: lift@10% unless the validated model is within
    # `saturation_share` of its ceiling 1 / churn rate, where every good model ties on it.
    ceiling = (1 / per_date.event_rate).mean()
    chosen = rule["saturated_metric"] if by_metric["lift_at_10"]["validated"] >= rule["saturation_share"] * ceiling else rule["metric"]
    gain, needed = by_metric[chosen], params["promotion"]["min_gain"][chosen]

    def significant(line: dict, favour_refit: bool) -> bool:
        higher = COMPARED[line["metric"]][1]
        return (line["low"] > 0 if higher == favour_refit else line["high"] < 0)

    better = [m for m in (chosen, "brier") if significant(by_metric[m], True)]
    worse = [line["metric"] for line in lines if significant(line, False)]
    if better and not worse:
        verdict = "wins"
    elif worse:
        verdict = "does not win (mixed)" if better else "loses"
    else:
        verdict = "does not win (no measurable difference)"
    within = {m: int((per_date[f"ece_{m}"] <= per_date[f"ece_limit_{m}"]).sum()) for m in ("validated", "refit")}
    print(f"\nselection metric: {chosen}" + (f" (lift@10% saturated: {by_metric['lift_at_10']['validated']:.3f} of a ceiling "
          f"{ceiling:.3f})" if chosen != rule["metric"] else ""))
    print(f"ECE within the calibration limit on: validated {within['validated']}/{len(per_date)}, refit {within['refit']}/{len(per_date)} dates")
    print(f"refit's gain in {chosen} {'meets' if gain['mean'] >= needed and gain['low'] > 0 else 'does not meet'} the bar to "
          f"replace a champion (promotion.min_gain {needed}, CI above 0)")
    print(f"\nVERDICT: refit {verdict}: {chosen} {gain['mean']:+.4f} ({confidence:.0%} CI [{gain['low']:+.4f}, "
          f"{gain['high']:+.4f}], better on {gain['better_on']}/{len(per_date)} dates) and Brier {by_metric['brier']['mean']:+.5f} "
          f"([{by_metric['brier']['low']:+.5f}, {by_metric['brier']['high']:+.5f}], better on {by_metric['brier']['better_on']}/"
          f"{len(per_date)}); significantly better on {', '.join(better) or 'neither'}, significantly worse on {', '.join(worse) or 'nothing'}")


if __name__ == "__main__":
    main()
