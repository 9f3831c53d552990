"""Bad input: structural problems stop the run naming the file; bad rows are quarantined with a reason."""

from __future__ import annotations

import pytest
from conftest import HEADERS, days_ago, small_retailer


def _without(tables: dict, name: str) -> dict:
    return {k: v for k, v in tables.items() if k != name}


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda ws: ws.write_retailer(_without(small_retailer(), "orders")), r"Required input 'orders' not found"),
        (lambda ws: (ws.raw / "orders.csv").write_bytes(b""), r"orders\.csv: the file is empty"),
        (lambda ws: ws.write_csv("orders", []), r"orders\.csv: has a header but no data rows"),
        (
            lambda ws: ws.write_csv("orders", [["O1", "C1", "S1", days_ago(1)]], header=HEADERS["orders"][:-1]),
            r"orders input \['orders\.csv'\]: missing columns \['CHANNEL'\]",
        ),
        (
            lambda ws: ws.write_csv("orders", [["O1", "C1", "S1", days_ago(1), "store", "x"]], header=[*HEADERS["orders"], "coupon"]),
            r"orders input \['orders\.csv'\]: unexpected columns \['COUPON'\]",
        ),
        (
            lambda ws: (ws.raw / "orders.csv").write_bytes(
                (",".join(HEADERS["orders"]) + "\nO1,C1,S1,2026-01-01 10:00:00,st\xf6re\n").encode("latin-1")
            ),
            r"orders\.csv: is not UTF-8 encoded at line 2",
        ),
        (
            lambda ws: (ws.raw / "orders.csv").write_text(
                ",".join(HEADERS["orders"]) + '\nO1,C1,S1,2026-01-01 10:00:00,store\nO2,C1,"S1,2026-01-01 11:00:00,store\n'
                + "".join(f"O{n},C2,S2,2026-01-02 10:00:00,store\n" for n in range(3, 40)) + 'O40,C2,S2,2026-01-02 10:00:00,"online\n'
            ),
            r"orders\.csv: cannot be parsed as CSV at line 3: a quoted value opened on line 3 runs on to line 41 \(an unclosed quote\?\)",
        ),
    ],
    ids=["missing-required-file", "empty-file", "header-only", "missing-column", "extra-column", "non-utf8", "unclosed-quote"],
)
def test_structural_problems_stop_the_run_naming_the_file(workspace, prepare, message):
    tables = small_retailer()
    workspace.write_retailer(_without(tables, "orders"))
    prepare(workspace)
    with pytest.raises(Exception, match=message):
        workspace.run("ingest")


def test_bad_rows_are_quarantined_with_a_reason_and_counts_reconcile(workspace):
    tables = small_retailer()
    tables["orders"] += [
        ["", "C1", "S1", days_ago(2), "store"],                 # null key
        ["O10", "C404", "S1", days_ago(2), "store"],            # unknown customer
        ["O11", "C1", "S404", days_ago(2), "store"],            # unknown store
        ["O12", "C1", "S1", "2099-01-01 10:00:00", "store"],   # in the future
        ["O13", "C1", "S1", "1999-12-31 10:00:00", "store"],   # before 2000
        ["O14", "C1", "S1", "yesterday", "store"],              # not a timestamp
        ["O15", "C2", "S1", days_ago(3), "store"],              # exact duplicate rows ...
        ["O15", "C2", "S1", days_ago(3), "store"],              # ... the later one is kept
        ["O16", "C2", "S1", days_ago(3), "store"],              # same key, different values ...
        ["O16", "C3", "S2", days_ago(3), "online"],             # ... the later one wins
    ]
    tables["order_items"] += [
        ["O4", "2", "P1", "-1", "2.50", "0", ""],                # negative quantity
        ["O4", "3", "P1", "0", "2.50", "0", ""],                 # zero quantity
        ["O4", "4", "P1", "1", "12,5x", "0", ""],                # non-numeric amount
        ["O4", "five", "P1", "1", "2.50", "0", ""],              # wrong type in a key column
        ["O4", "6", "P404", "1", "2.50", "0", ""],               # unknown product
        ["O404", "1", "P1", "1", "2.50", "0", ""],               # unknown order
        ["O4", "7", "P1", "1", "2.50", "3.00", ""],              # a discount above the line's amount
    ]
    workspace.write_retailer(tables)
    workspace.run("ingest")

    reasons = dict(
        workspace.rows("SELECT BUSINESS_KEY || '@' || SOURCE_ROW, REASON_CODE FROM SILVER.ORDERS_QUARANTINE")
    )
    assert reasons == {
        None: "NULL_KEY",
        "O10@6": "UNKNOWN_CUSTOMER_ID",
        "O11@7": "UNKNOWN_STORE_ID",
        "O12@8": "DATE_OUT_OF_RANGE",
        "O13@9": "DATE_OUT_OF_RANGE",
        "O14@10": "INVALID_TYPE",
        "O15@11": "DUPLICATE_ROW",
        "O16@13": "DUPLICATE_KEY",
    }
    assert workspace.rows("SELECT CUSTOMER_ID, STORE_ID FROM SILVER.ORDERS WHERE ORDER_ID = 'O16'") == [("C3", "S2")]
    raw_values = workspace.rows("SELECT ORDER_TS, REASON_DETAIL FROM SILVER.ORDERS_QUARANTINE WHERE BUSINESS_KEY = 'O14'")
    assert raw_values == [("yesterday", "ORDER_TS='yesterday' is not a valid timestamp")]

    item_reasons = dict(workspace.rows("SELECT RAW_KEY, REASON_CODE FROM (SELECT ORDER_ID || '|' || LINE_NUMBER AS RAW_KEY, REASON_CODE FROM SILVER.ORDER_ITEMS_QUARANTINE)"))
    assert item_reasons == {
        "O4|2": "OUT_OF_RANGE",
        "O4|3": "OUT_OF_RANGE",
        "O4|4": "INVALID_TYPE",
        "O4|five": "INVALID_TYPE",
        "O4|6": "UNKNOWN_PRODUCT_ID",
        "O404|1": "UNKNOWN_ORDER_ID",
        "O4|7": "OUT_OF_RANGE",
    }
    # Nothing lost: every Bronze row is in Silver, in quarantine, or an older copy of a kept key.
    for table in ("ORDERS", "ORDER_ITEMS"):
        bronze = workspace.count(f"BRONZE.{table}")
        assert bronze == workspace.count(f"SILVER.{table}") + workspace.count(f"SILVER.{table}_QUARANTINE")
    assert workspace.count("BRONZE.ORDERS") == len(tables["orders"])
    assert workspace.count("MODEL.FCT_ORDER_LINE") == 6
    # Quarantined in Silver, the bad rows do not reach MODEL: data quality passes (value_ranges
    # would stop the run on a discount above a line's amount in the fact)
    workspace.run("dq")
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    assert workspace.scalar(
        "SELECT STATUS FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'value_ranges' AND DETAIL = 'DISCOUNT_AMOUNT > QUANTITY x UNIT_PRICE'"
    ) == "pass"
