"""Bronze nodes on in-memory tables: files loaded once by fingerprint, columns checked against the contract."""

from __future__ import annotations

from datetime import datetime

import ibis
import pytest

from retail_control_tower.pipelines.bronze import nodes as bronze

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
STORES = {"columns": {"STORE_ID": {"type": "string"}, "REGION": {"type": "string"}}, "key": ["STORE_ID"]}


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _rows(con, expr, *columns: str) -> list[list]:
    table = con.to_pyarrow(expr.select(*columns) if columns else expr)
    return [list(row.values()) for row in table.to_pylist()]


def _raw(rows: list[tuple[str, str]], source: str = "stores.csv", fingerprint: str = "f1", duplicate_of: str | None = None):
    return ibis.memtable(
        {
            "STORE_ID": [r[0] for r in rows],
            "REGION": [r[1] for r in rows],
            "SOURCE_FILE": [source] * len(rows),
            "SOURCE_ROW": list(range(1, len(rows) + 1)),
            "FILE_FINGERPRINT": [fingerprint] * len(rows),
            "DUPLICATE_OF": [duplicate_of] * len(rows),
        }
    ).cast({"DUPLICATE_OF": "string"})


def test_bronze_loads_only_files_it_has_not_seen(con):
    first = con.create_table("bronze", bronze.load_bronze(_raw([("S1", "north")]), None, RUN, STORES, "stores"))
    assert con.execute(first)[["STORE_ID", "LOAD_ID"]].values.tolist() == [["S1", RUN["run_id"]]]
    again = bronze.load_bronze(_raw([("S1", "north")], "renamed.csv"), first, {**RUN, "run_id": "later"}, STORES, "stores")
    assert con.execute(again).empty
    twin = ibis.union(_raw([("S2", "south")], "b.csv", "f2"), _raw([("S2", "south")], "c.csv", "f2", duplicate_of="b.csv"))
    assert _rows(con, bronze.load_bronze(twin, first, RUN, STORES, "stores"), "SOURCE_FILE") == [["b.csv"]]


def test_bronze_names_the_file_when_columns_do_not_match(con):
    raw = _raw([("S1", "north")]).rename(AREA="REGION")
    with pytest.raises(bronze.InputContractError, match=r"\['stores.csv'\]: missing columns \['REGION'\]; unexpected columns \['AREA'\]"):
        bronze.load_bronze(raw, None, RUN, STORES, "stores")
