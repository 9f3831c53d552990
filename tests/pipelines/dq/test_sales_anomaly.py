"""The anomaly check on GOLD.SALES_DAILY (issue 14): a robust z-score (median / MAD) per store ×
category flags the absurd cell and leaves ordinary peaks, short series and flat series alone."""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import sqlglot

from retail_control_tower.pipelines.dq import anomalies

PARAMS = {"severity": "warn", "sample_size": 3, "max_robust_z": 20, "min_days": 14, "measures": ["NET_AMOUNT", "UNITS"]}


def _cells(store: str, category: str, net: list[float], units: list[int] | None = None) -> list[dict]:
    units = units or [10] * len(net)
    return [
        {"DATE_DAY": date(2026, 1, 1) + timedelta(days=n), "STORE_ID": store, "CATEGORY": category,
         "ORDER_LINES": 1, "NET_AMOUNT": value, "UNITS": unit}
        for n, (value, unit) in enumerate(zip(net, units))
    ]


def _result(rows: list[dict]) -> dict:
    daily = ibis.memtable(rows)
    return ibis.duckdb.connect().to_pyarrow(anomalies.check_sales_anomaly(PARAMS, daily)).to_pylist()[0]


def test_the_absurd_cell_is_flagged_with_its_day_store_and_category():
    usual = [100.0 + 15 * (n % 7) for n in range(30)]
    peak = [*usual[:29], 400.0]  # four times a usual day: a busy day, not an error
    absurd = [*usual[:20], 3.99e9, *usual[21:]]
    rows = _cells("S1", "grocery", peak) + _cells("S2", "grocery", absurd) + _cells("S2", "home", usual[:10] + [1e9])
    result = _result(rows)
    assert (result["CHECK_NAME"], result["SEVERITY"], result["STATUS"], result["OBSERVED"]) == ("sales_anomaly", "warn", "fail", 1)
    assert result["SAMPLE_KEYS"] == "2026-01-21|S2|grocery"  # S2/home has too few days to judge
    assert result["TABLE_NAME"] == "GOLD.SALES_DAILY"


def test_units_alone_can_make_a_cell_absurd():
    net = [100.0 + 15 * (n % 7) for n in range(30)]
    units = [10 + n % 4 for n in range(29)] + [100000]
    result = _result(_cells("S1", "toys", net, units))
    assert (result["STATUS"], result["SAMPLE_KEYS"]) == ("fail", "2026-01-30|S1|toys")


def test_a_series_with_most_days_alike_is_scaled_by_its_mean_deviation_and_a_constant_one_passes():
    mostly_alike = [50.0] * 20 + [51.0] * 9 + [58.0]  # the MAD is 0: without a fallback every other day would be infinitely far
    assert _result(_cells("S1", "toys", mostly_alike))["STATUS"] == "pass"
    assert _result(_cells("S1", "toys", [50.0] * 30))["STATUS"] == "pass"


def test_the_check_compiles_to_snowflake_sql():
    daily = ibis.table({"DATE_DAY": "date", "STORE_ID": "string", "CATEGORY": "string", "ORDER_LINES": "int64",
                        "NET_AMOUNT": "decimal(18, 2)", "UNITS": "int64"}, name="SALES_DAILY")
    sql = ibis.to_sql(anomalies.check_sales_anomaly(PARAMS, daily), dialect="snowflake")
    sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    assert "MEDIAN(" in sql
