"""Baseline for timing ``train_eval``: ONE scikit-learn HistGradientBoosting fit (scikit-learn's
defaults, one thread; fixed, so the ratio moves only with the pipeline) on the holdout split's
training rows of the same warehouse, read the same way. ``train_eval`` fits seven variants for four CV folds and the holdout; its time over this
fit's says what the pipeline costs beyond the model it could not do without.

    .venv/bin/python benchmarks/train_baseline.py data/benchmarks/churn_default_default
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import ibis
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
from retail_control_tower.pipelines.train_eval.nodes import labelled_frame, screen_features  # noqa: E402
from retail_control_tower.pipelines.train_eval.splits import plan_splits, rows  # noqa: E402


def main() -> None:
    data_dir = Path(sys.argv[1])
    params = yaml.safe_load((PROJECT / "conf/base/parameters_train_eval.yml").read_text())["train_eval"]
    started = time.perf_counter()
    con = ibis.duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    frame = labelled_frame(con.table("CUSTOMER_FEATURES", database="ML"), params)
    config = screen_features(frame, params)
    split = plan_splits(frame, config)[-1]
    train = rows(frame, split.training_dates)
    numeric = config["feature_sets"]["ext"]["numeric"]
    with threadpool_limits(limits=1):
        HistGradientBoostingClassifier(random_state=0).fit(train[numeric], train["CHURNED"])
    print(f"{len(frame):,} labelled rows read, one fit on {len(train):,} rows: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
