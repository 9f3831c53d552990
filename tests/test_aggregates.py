"""most_frequent: the value a group holds most often, the same on every engine and run."""

from __future__ import annotations

import ibis
import sqlglot

from retail_control_tower.aggregates import most_frequent


def test_the_most_frequent_value_wins_and_a_tie_goes_to_the_smallest_value():
    lines = {
        "CUSTOMER_ID": ["C1", "C1", "C1", "C2", "C2", "C2", "C2", "C3"],
        "STORE_ID": ["S2", "S1", "S2", "S9", "S3", "S3", "S9", "S5"],
    }
    con = ibis.duckdb.connect()
    for order in (list(range(8)), list(reversed(range(8)))):
        table = ibis.memtable({k: [v[i] for i in order] for k, v in lines.items()})
        result = con.to_pyarrow(most_frequent(table, "CUSTOMER_ID", "STORE_ID", "FAVOURITE").order_by("CUSTOMER_ID")).to_pylist()
        # C2 holds S3 and S9 twice each: S3
        assert result == [{"CUSTOMER_ID": "C1", "FAVOURITE": "S2"}, {"CUSTOMER_ID": "C2", "FAVOURITE": "S3"},
                          {"CUSTOMER_ID": "C3", "FAVOURITE": "S5"}]
    sql = ibis.to_sql(most_frequent(ibis.memtable(lines), "CUSTOMER_ID", "STORE_ID", "FAVOURITE"), dialect="snowflake")
    sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
