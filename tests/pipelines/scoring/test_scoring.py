"""The scoring contract: every eligible customer once, deciles, bands, chunking, no champion, and
the atomic replacement of a score date in a real DuckDB file."""

from __future__ import annotations

from datetime import date, datetime

import ibis
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from retail_control_tower.datasets import PartitionReplaceTableDataset
from retail_control_tower.ml import tables
from retail_control_tower.ml.publication import RegisteredModel
from retail_control_tower.pipelines.scoring import nodes

RUN = {"run_id": "run-9", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
PARAMS = {
    "chunk_rows": 1000,
    "risk_bands": [{"band": "high", "max_decile": 2}, {"band": "medium", "max_decile": 5}, {"band": "low", "max_decile": 10}],
}


@pytest.fixture
def features():
    rng = np.random.default_rng(5)
    n = 2503
    frame = pd.DataFrame(
        {
            "CUSTOMER_ID": [f"C{i:05d}" for i in range(n)],
            "SNAPSHOT_DATE": [date(2026, 11, 26)] * n,
            "IS_SCORING": True,
            "RECENCY_DAYS": rng.gamma(2, 20, n),
            "FREQUENCY": rng.gamma(2, 3, n),
            "MONETARY": rng.gamma(2, 50, n),
            "CHURNED": pd.array([None] * n, dtype="Int8"),
        }
    )
    history = frame.assign(SNAPSHOT_DATE=date(2026, 10, 31), IS_SCORING=False, CHURNED=pd.array([0] * n, dtype="Int8"))
    return ibis.memtable(pd.concat([frame, history], ignore_index=True))


@pytest.fixture
def champion():
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"RECENCY_DAYS": rng.gamma(2, 20, 2000), "FREQUENCY": rng.gamma(2, 3, 2000), "MONETARY": rng.gamma(2, 50, 2000)})
    y = (rng.random(2000) < 1 / (1 + np.exp(-(x.RECENCY_DAYS / 20 - 2)))).astype(int)
    model = LogisticRegression().fit(x, y)
    return RegisteredModel(model_name="retail_churn", version="3", variant="logreg", mlflow_run_id="abc", model=model)


def test_every_eligible_customer_is_scored_once_with_deciles_and_bands(features, champion):
    con = ibis.duckdb.connect()
    table, outcome = nodes.score_customers(features, champion, None, PARAMS, RUN)
    scores = con.to_pyarrow(table).to_pandas()
    assert outcome["scored"] is True and "v3" in outcome["message"]
    assert list(scores.columns) == list(tables.CUSTOMER_CHURN_SCORE.names)
    assert len(scores) == 2503 and scores.CUSTOMER_ID.is_unique
    assert set(scores.SCORE_DATE) == {date(2026, 11, 26)}
    sizes = scores.DECILE.value_counts().sort_index()
    assert list(sizes.index) == list(range(1, 11)) and sizes.max() - sizes.min() <= 1
    means = scores.groupby("DECILE").CHURN_PROBABILITY.mean()
    assert means.is_monotonic_decreasing
    bands = scores.groupby("RISK_BAND").DECILE.agg(["min", "max"])
    assert bands.loc["high"].tolist() == [1, 2] and bands.loc["medium"].tolist() == [3, 5] and bands.loc["low"].tolist() == [6, 10]
    assert set(scores.MODEL_VERSION) == {"3"} and set(scores.VARIANT) == {"logreg"} and set(scores.RUN_ID) == {"run-9"}


def test_chunk_size_does_not_change_the_scores(features, champion):
    con = ibis.duckdb.connect()
    one = con.to_pyarrow(nodes.score_customers(features, champion, None, {**PARAMS, "chunk_rows": 100_000}, RUN)[0]).to_pandas()
    many = con.to_pyarrow(nodes.score_customers(features, champion, None, {**PARAMS, "chunk_rows": 97}, RUN)[0]).to_pandas()
    merged = one.merge(many, on="CUSTOMER_ID", suffixes=("_one", "_many"))
    assert len(merged) == 2503
    np.testing.assert_allclose(merged.CHURN_PROBABILITY_one, merged.CHURN_PROBABILITY_many)
    assert (merged.DECILE_one == merged.DECILE_many).all()


def test_legacy_scores_have_the_same_shape(features):
    con = ibis.duckdb.connect()
    legacy = con.to_pyarrow(nodes.score_legacy(features, PARAMS, RUN)).to_pandas()
    assert list(legacy.columns) == list(tables.CUSTOMER_CHURN_SCORE.names) and len(legacy) == 2503
    assert set(legacy.VARIANT) == {"legacy_rfm"} and legacy.CHURN_PROBABILITY.between(0, 1).all()


def test_scoring_without_a_champion_writes_nothing_and_then_says_what_to_run(features):
    # Scoring writes no row (so the report can still be built), and require_champion then fails
    # the run with the reason.
    table, outcome = nodes.score_customers(features, None, {}, PARAMS, RUN)
    assert ibis.duckdb.connect().to_pyarrow(table).num_rows == 0 and outcome["scored"] is False
    with pytest.raises(nodes.NoChampionError, match="kedro run --pipeline train_eval"):
        nodes.require_champion(outcome)
    registry = ibis.memtable(
        {
            "RUN_ID": ["r0", "r1"],
            "DECIDED_AT": [datetime(2026, 10, 1), datetime(2026, 11, 1)],
            "REASON": ["logreg promoted", "hgb_ext not promoted: holdout ECE 0.0500 > 0.02"],
        }
    )
    last_decision = nodes.latest_training_decision(registry)
    assert last_decision == {"RUN_ID": "r1", "REASON": "hgb_ext not promoted: holdout ECE 0.0500 > 0.02"}
    _, outcome = nodes.score_customers(features, None, last_decision, PARAMS, RUN)
    with pytest.raises(nodes.NoChampionError, match=r"the last training run \(r1\) did not promote one: hgb_ext not promoted: holdout ECE"):
        nodes.require_champion(outcome, "the report, written first")


def test_the_latest_decision_is_empty_before_any_training_run():
    # ML.MODEL_REGISTRY does not exist yet (OptionalTableDataset loads None) or holds no row; a
    # Kedro dataset cannot hold None.
    assert nodes.latest_training_decision(None) == {}
    empty = ibis.memtable(pd.DataFrame({"RUN_ID": pd.Series([], dtype="string"), "DECIDED_AT": pd.to_datetime([]), "REASON": pd.Series([], dtype="string")}))
    assert nodes.latest_training_decision(empty) == {}


def _scores(day: date, customers: list[str], probability: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "CUSTOMER_ID": customers, "SCORE_DATE": [day] * len(customers), "CHURN_PROBABILITY": [probability] * len(customers),
            "DECILE": [1] * len(customers), "RISK_BAND": ["high"] * len(customers), "MODEL_NAME": "m", "MODEL_VERSION": "1",
            "VARIANT": "v", "RUN_ID": "r", "SCORED_AT": datetime(2026, 11, 26),
        }
    )


def test_a_score_date_is_replaced_atomically_and_other_dates_are_kept(tmp_path):
    connection = {"backend": "duckdb", "database": str(tmp_path / "w.duckdb")}
    dataset = PartitionReplaceTableDataset(table_name="CUSTOMER_CHURN_SCORE", database="ML", connection=connection, partition_column="SCORE_DATE")
    dataset.connection.create_database("ML")
    october, november = date(2026, 10, 31), date(2026, 11, 26)
    dataset.save(tables.as_table(_scores(october, ["A", "B", "C"]), tables.CUSTOMER_CHURN_SCORE))
    dataset.save(tables.as_table(_scores(november, ["A", "B", "C", "D"]), tables.CUSTOMER_CHURN_SCORE))
    dataset.save(tables.as_table(_scores(november, ["A", "B"], 0.9), tables.CUSTOMER_CHURN_SCORE))  # re-score
    stored = dataset.load().to_pandas()
    stored["SCORE_DATE"] = pd.to_datetime(stored.SCORE_DATE).dt.date
    assert sorted(stored[stored.SCORE_DATE == october].CUSTOMER_ID) == ["A", "B", "C"]
    latest = stored[stored.SCORE_DATE == november]
    assert sorted(latest.CUSTOMER_ID) == ["A", "B"] and (latest.CHURN_PROBABILITY == 0.9).all()

    broken = _scores(november, ["X"]).assign(CHURN_PROBABILITY="not a number")  # the insert fails mid-save
    with pytest.raises(Exception):
        dataset.save(ibis.memtable(broken[list(tables.CUSTOMER_CHURN_SCORE.names)]))
    after = dataset.load().to_pandas()
    after["SCORE_DATE"] = pd.to_datetime(after.SCORE_DATE).dt.date
    assert sorted(after[after.SCORE_DATE == november].CUSTOMER_ID) == ["A", "B"]  # rolled back, nothing lost
    assert len(after) == 5


def test_tied_probabilities_get_the_same_deciles_whatever_order_the_rows_arrive_in():
    """The legacy rule ties many customers: deciles follow the customer id among equal scores,
    not the order the warehouse returned the rows in."""
    ids = np.array([f"C{i:03d}" for i in range(20)])
    probability = np.array([0.9] * 6 + [0.5] * 8 + [0.1] * 6)
    deciles = nodes._deciles(probability, ids)
    assert deciles.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10]
    shuffled = np.random.default_rng(7).permutation(20)
    again = dict(zip(ids[shuffled], nodes._deciles(probability[shuffled], ids[shuffled])))
    assert [again[i] for i in ids] == deciles.tolist()
