"""Production parity, proven by execution: the whole control tower runs on the Snowflake emulator
(``--env emulator``: Snowpark session, Ibis on Snowflake SQL, raw files staged with PUT and
landed with COPY INTO) and on DuckDB, on the same small retailer with bad rows and a second
batch, and every table and view of the two warehouses is compared (``parity.py``).

The emulator costs about 0.1-0.5 s a statement, so the retailer is small (100 customers) and the
DuckDB and emulator runs of a batch go side by side.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import ibis
import pytest
from fixtures import Engine, clean_environ, connect, emulator, end_sessions  # noqa: F401  (emulator: a fixture)

import parity

GENERATE = "synthetic.customers=100,synthetic.stores=3,synthetic.products=20,synthetic.history_days=540,synthetic.target_order_lines=3000"
DEFAULT = ("ingest", "dq", "features", "train_eval", "scoring", "monitoring", "reporting")


def _ago(days: float) -> str:
    return (datetime.now() - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def first_batch_bad_rows(raw: Path) -> None:
    """Bad rows of several reason codes, in batch files beside the generated ones."""
    customer, store = _rows(raw / "customers.csv")[0], _rows(raw / "stores.csv")[0]
    _write(raw / "customers_extra.csv", list(customer), [
        ["", "2024-01-01", store["store_id"], "gold"],  # NULL_KEY
        ["C_BADDATE", "2024-13-45", store["store_id"], "gold"],  # INVALID_TYPE
        ["C_TWICE", "2024-02-01", store["store_id"], "gold"],  # an earlier copy of a key: DUPLICATE_KEY
        ["C_TWICE", "2024-02-02", store["store_id"], "silver"],
    ])
    order = _rows(raw / "orders.csv")[0]
    _write(raw / "orders_extra.csv", list(order), [
        ["O_NOBODY", "C_UNKNOWN", store["store_id"], _ago(3), "online"],  # UNKNOWN_CUSTOMER_ID
        ["O_ANCIENT", customer["customer_id"], store["store_id"], "1990-05-01 10:00:00", "store"],  # DATE_OUT_OF_RANGE
        ["O_NOSTORE", customer["customer_id"], "", _ago(2), "store"],  # MISSING_VALUE
    ])
    line = _rows(raw / "order_items.csv")[0]
    _write(raw / "order_items_extra.csv", list(line), [
        [order["order_id"], "91", line["product_id"], "0", "2.50", "0", ""],  # OUT_OF_RANGE (quantity)
        [order["order_id"], "92", line["product_id"], "1", "abc", "0", ""],  # INVALID_TYPE
        ["O_MISSING", "1", line["product_id"], "1", "2.50", "0", ""],  # UNKNOWN_ORDER_ID
    ])


def second_batch(raw: Path) -> dict[str, str]:
    """New orders, a corrected order, a late return and a re-sent file; what to look for."""
    orders = _rows(raw / "orders.csv")
    lines = _rows(raw / "order_items.csv")
    customer, product = orders[-1]["customer_id"], lines[-1]["product_id"]
    corrected = orders[5]
    channel = "store" if corrected["channel"] == "online" else "online"
    _write(raw / "orders_batch2.csv", list(orders[0]), [
        ["O_NEW_1", customer, corrected["store_id"], _ago(0.5), "online"],
        ["O_NEW_2", customer, corrected["store_id"], _ago(0.4), "store"],
        [corrected["order_id"], corrected["customer_id"], corrected["store_id"], corrected["order_ts"], channel],
    ])
    _write(raw / "order_items_batch2.csv", list(lines[0]), [
        ["O_NEW_1", "1", product, "2", "9.99", "0", ""],
        ["O_NEW_2", "1", product, "1", "9.99", "1.00", "SPRING"],
    ])
    sold = next(line for line in lines if line["order_id"] == orders[10]["order_id"])
    _write(raw / "returns_batch2.csv", ["return_id", "order_id", "line_number", "return_ts", "quantity", "refund_amount", "reason"], [
        ["R_LATE", sold["order_id"], sold["line_number"], _ago(0.2), "1", sold["unit_price"], "damaged"],
    ])
    shutil.copy(raw / "stores.csv", raw / "stores_resent.csv")
    return {"corrected_order": corrected["order_id"], "channel": channel}


def _run_side_by_side(*engines: Engine, emulator=None) -> None:
    started = time.perf_counter()
    processes = [(engine, engine.start()) for engine in engines]
    for engine, process in processes:
        assert process.wait(timeout=900) == 0, f"{engine.name} run failed: see {process.args} log in {engine.data.parent}"
    if emulator is not None:
        end_sessions(emulator)  # the runs' sessions end with their processes, as on Snowflake
    print(f"batch on {', '.join(e.name for e in engines)}: {time.perf_counter() - started:.0f} s")


@pytest.fixture(scope="module")
def parity_runs(tmp_path_factory, emulator):  # noqa: F811
    root = tmp_path_factory.mktemp("parity")
    raw = root / "raw"
    raw.mkdir()
    duckdb = Engine("duckdb", root / "duckdb", raw, None, clean_environ(root, root / "duckdb", raw))
    snowflake = Engine("emulator", root / "emulator", raw, "emulator", {**clean_environ(root, root / "emulator", raw), **emulator.environ})
    generator = Engine("generate", root / "generate", raw, None, clean_environ(root, root / "generate", raw))  # its own run log
    generated = generator.run("--pipelines", "generate", "--params", GENERATE)
    assert generated.returncode == 0, generated.stdout[-3000:]
    first_batch_bad_rows(raw)
    _run_side_by_side(duckdb, snowflake, emulator=emulator)
    expected = second_batch(raw)
    _run_side_by_side(duckdb, snowflake, emulator=emulator)
    local = ibis.duckdb.connect(str(duckdb.data / "warehouse.duckdb"), read_only=True)
    remote = connect(emulator)
    yield {
        "duckdb": duckdb, "emulator": snowflake, "server": emulator, "expected": expected,
        "tables": (parity.snapshot(local), parity.snapshot(remote)),
    }
    local.disconnect()


def test_every_table_and_view_matches_duckdb(parity_runs):
    on_duckdb, on_emulator = parity_runs["tables"]
    assert len(on_duckdb) >= 45, sorted(on_duckdb)  # every schema's tables and views were found
    problems, seen = parity.compare(on_duckdb, on_emulator)
    print("Known differences seen:\n  " + "\n  ".join(seen))
    assert problems == [], "\n".join(problems)


def test_both_batches_ran_merge_quarantine_and_the_load_log_on_the_emulator(parity_runs):
    tables = parity_runs["tables"][1]
    frame = lambda name: tables[name].frame  # noqa: E731
    reasons = set()
    for name in tables:
        if name.endswith("_QUARANTINE"):
            reasons |= set(frame(name).REASON_CODE)
    assert {"NULL_KEY", "INVALID_TYPE", "DUPLICATE_KEY", "UNKNOWN_CUSTOMER_ID", "DATE_OUT_OF_RANGE", "OUT_OF_RANGE", "UNKNOWN_ORDER_ID"} <= reasons
    orders = frame("SILVER.ORDERS").set_index("ORDER_ID")
    expected = parity_runs["expected"]
    assert orders.loc[expected["corrected_order"], "CHANNEL"] == expected["channel"]  # the upsert's MERGE replaced it
    assert {"O_NEW_1", "O_NEW_2"} <= set(orders.index)
    assert "R_LATE" in set(frame("MODEL.FCT_RETURN").RETURN_ID)
    log = frame("OPS.LOAD_LOG")
    assert set(log[log.SOURCE_FILE == "stores_resent.csv"].STATUS) == {"already_loaded"}
    assert frame("BRONZE.ORDERS").groupby("SOURCE_FILE").SOURCE_ROW.min().eq(1).all()  # METADATA$FILE_ROW_NUMBER, from 1


def test_a_successful_run_is_logged_in_the_warehouse_not_in_the_fallback_file(parity_runs):
    runs = parity_runs["tables"][1]["OPS.PIPELINE_RUN_LOG"].frame
    defaults = runs[runs.PIPELINES.str.startswith(",".join(DEFAULT))]  # the default run (and pipelines added to it)
    assert list(defaults.STATUS) == ["success", "success"], runs[["PIPELINES", "STATUS", "ERROR_MESSAGE"]].to_string()
    assert defaults.FAILED_NODE.isna().all() and (defaults.NODES_RUN > 50).all()
    assert not (parity_runs["emulator"].data / "08_reporting" / "run_log_fallback.jsonl").exists()


def test_no_transaction_is_cut_short_by_snowflake_s_implicit_commit(parity_runs):
    """Snowflake commits an open transaction before any DDL; the emulator does the same and
    records it. A transaction that does DDL is not atomic on Snowflake (DuckDB would keep it)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{parity_runs['server'].port}/emulator/implicit-commits", timeout=30) as answer:
        commits = json.loads(answer.read())
    unknown = [c for c in commits if not any(re.search(pattern, " ".join(c["transaction"])) for pattern in parity.KNOWN_NON_ATOMIC)]
    assert unknown == []


def test_the_cutover_rehearsal_smoke_is_green_on_the_emulator(parity_runs):
    engine = parity_runs["emulator"]
    result = engine.run("--pipelines", "smoke")
    end_sessions(parity_runs["server"])
    assert result.returncode == 0, result.stdout[-3000:]
    checks = _rows(engine.data / "08_reporting" / "smoke_results.csv")
    assert [c["STATUS"] for c in checks] == ["pass"] * len(checks) and len(checks) >= 6
    identity = next(c for c in checks if c["CHECK"] == "identity")["DETAIL"]
    assert "role_name=RETAIL_PIPELINE" in identity and "warehouse_name=RETAIL_WH" in identity and "database_name=RETAIL_DB" in identity


# A defect in the Snowflake SQL of one node only: Ibis's Snowflake compiler numbers the weekday
# one too high (DuckDB's SQL is untouched), as a wrong dialect translation would.
OFF_BY_ONE_WEEKDAY = """
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.snowflake import SnowflakeCompiler
_weekday = SnowflakeCompiler.visit_DayOfWeekIndex
SnowflakeCompiler.visit_DayOfWeekIndex = lambda self, op, *, arg: sge.Add(this=_weekday(self, op, arg=arg), expression=sge.convert(1))
"""


def test_a_snowflake_only_defect_in_a_node_fails_parity(parity_runs):
    """Run last: it rebuilds MODEL.DIM_DATE on the emulator with the defect, then without it."""
    engine, server = parity_runs["emulator"], parity_runs["server"]
    on_duckdb = parity_runs["tables"][0]
    broken = engine.run("--pipelines", "ingest", "--nodes", "dim_date", prelude=OFF_BY_ONE_WEEKDAY)
    end_sessions(server)
    assert broken.returncode == 0, broken.stdout[-3000:]  # the run itself is green: only the data is wrong
    remote = connect(server)
    table = remote.table("DIM_DATE", database="MODEL")
    after = {"MODEL.DIM_DATE": parity.Table("MODEL.DIM_DATE", dict(table.schema().items()), table.to_pandas())}
    problems, _ = parity.compare({"MODEL.DIM_DATE": on_duckdb["MODEL.DIM_DATE"]}, after)
    assert problems and "MODEL.DIM_DATE: rows differ in ['DAY_OF_WEEK', 'IS_WEEKEND']" in problems[0], problems
    repaired = engine.run("--pipelines", "ingest", "--nodes", "dim_date")
    end_sessions(server)
    assert repaired.returncode == 0, repaired.stdout[-3000:]
