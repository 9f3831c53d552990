"""reconciliation_model_gold: each GOLD table's totals add up to the MODEL facts it is built from,
checked on GOLD tables made by the real GOLD nodes from the hand-made MODEL tables of
tests/pipelines/gold, and failing when a row goes missing or is counted twice on the way."""

from __future__ import annotations

import ibis
import pytest
from pipelines.gold.test_gold_tables import LINES, PRODUCTS, RETURNS, STORES, _table

from retail_control_tower.contracts import GOLD_TABLES, grain
from retail_control_tower.pipelines.dq import checks, reconciliation
from retail_control_tower.pipelines.gold import nodes

PARAMS = {"severity": "error", "sample_size": 5}
CUSTOMERS = _table(
    {"CUSTOMER_ID": ["C1", "C2", "C3"], "SIGNUP_DATE": [None, None, None], "HOME_STORE_ID": ["S1", "S2", "S1"],
     "LOYALTY_TIER": ["gold", "unknown", "bronze"], "IS_DERIVED": [False, True, False]},
    {"CUSTOMER_ID": "string", "SIGNUP_DATE": "date", "HOME_STORE_ID": "string", "LOYALTY_TIER": "string", "IS_DERIVED": "boolean"},
)


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _model(**replaced) -> dict[str, ibis.Table]:
    return {"MODEL_FCT_ORDER_LINE": LINES, "MODEL_FCT_RETURN": RETURNS, "MODEL_DIM_PRODUCT": PRODUCTS,
            "MODEL_DIM_CUSTOMER": CUSTOMERS, "MODEL_DIM_STORE": STORES, **replaced}


def _gold(model: dict[str, ibis.Table]) -> dict[str, ibis.Table]:
    lines, returns = model["MODEL_FCT_ORDER_LINE"], model["MODEL_FCT_RETURN"]
    return {
        "GOLD_SALES_DAILY": nodes.sales_daily(lines, returns, model["MODEL_DIM_PRODUCT"]),
        "GOLD_CUSTOMER_360": nodes.customer_360(model["MODEL_DIM_CUSTOMER"], lines, returns, model["MODEL_DIM_PRODUCT"]),
        "GOLD_PRODUCT_PERFORMANCE": nodes.product_performance(model["MODEL_DIM_PRODUCT"], lines, returns),
        "GOLD_STORE_PERFORMANCE": nodes.store_performance(model["MODEL_DIM_STORE"], lines, returns, {"window_days": 28}),
    }


def _check(con, model, gold) -> dict[str, dict]:
    tables = {**model, **gold}
    rows = con.to_pyarrow(reconciliation.check_model_gold(PARAMS, **{n: tables[n] for n in reconciliation.model_gold_inputs()})).to_pylist()
    return {row["TABLE_NAME"]: row for row in rows}


def test_every_gold_table_adds_up_to_the_facts_it_is_built_from(con):
    model = _model()
    results = _check(con, model, _gold(model))
    assert sorted(results) == ["GOLD.CUSTOMER_360", "GOLD.PRODUCT_PERFORMANCE", "GOLD.SALES_DAILY", "GOLD.STORE_PERFORMANCE"]
    assert {(name, r["STATUS"], r["OBSERVED"], r["SAMPLE_KEYS"]) for name, r in results.items()} == {
        (name, "pass", 0, None) for name in results
    }
    # 4 lines, 8 units, gross 26.00, discount 3.00, net 23.00; one return of 1 unit refunded 6.00
    assert results["GOLD.SALES_DAILY"]["DETAIL"] == (
        "ORDER_LINES 4 = MODEL.FCT_ORDER_LINE rows 4; UNITS 8 = MODEL.FCT_ORDER_LINE.QUANTITY 8; "
        "GROSS_AMOUNT 26.00 = MODEL.FCT_ORDER_LINE.GROSS_AMOUNT 26.00; DISCOUNT_AMOUNT 3.00 = MODEL.FCT_ORDER_LINE.DISCOUNT_AMOUNT 3.00; "
        "NET_AMOUNT 23.00 = MODEL.FCT_ORDER_LINE.NET_AMOUNT 23.00; RETURNED_UNITS 1 = MODEL.FCT_RETURN.QUANTITY 1; "
        "REFUND_AMOUNT 6.00 = MODEL.FCT_RETURN.REFUND_AMOUNT 6.00"
    )
    assert results["GOLD.STORE_PERFORMANCE"]["DETAIL"] == (
        "NET_AMOUNT 23.00 = MODEL.FCT_ORDER_LINE.NET_AMOUNT 23.00; RETURNS 1 = MODEL.FCT_RETURN rows 1; "
        "REFUND_AMOUNT 6.00 = MODEL.FCT_RETURN.REFUND_AMOUNT 6.00; rows 3 = MODEL.DIM_STORE rows 3"
    )


def test_sales_of_a_product_missing_from_its_dimension_are_named_where_gold_loses_them(con):
    """P3's line (1 unit, net 3.00, no discount) has no product row: the GOLD tables that join
    the product drop it, and say which totals no longer add up; the others still pass."""
    model = _model(MODEL_DIM_PRODUCT=PRODUCTS.filter(PRODUCTS.PRODUCT_ID != "P3"))
    results = _check(con, model, _gold(model))
    sales = results["GOLD.SALES_DAILY"]
    assert (sales["STATUS"], sales["OBSERVED"], sales["SAMPLE_KEYS"]) == ("fail", 4, "ORDER_LINES, UNITS, GROSS_AMOUNT, NET_AMOUNT")
    assert sales["DETAIL"].startswith("ORDER_LINES 3 = MODEL.FCT_ORDER_LINE rows 4; UNITS 7 = MODEL.FCT_ORDER_LINE.QUANTITY 8;")
    products = results["GOLD.PRODUCT_PERFORMANCE"]
    assert (products["STATUS"], products["SAMPLE_KEYS"]) == ("fail", "UNITS, NET_AMOUNT")
    assert products["SEVERITY"] == "error"
    assert (results["GOLD.CUSTOMER_360"]["STATUS"], results["GOLD.STORE_PERFORMANCE"]["STATUS"]) == ("pass", "pass")


def test_a_gold_row_counted_twice_or_a_customer_left_out_fails(con):
    model = _model()
    gold = _gold(model)
    gold["GOLD_STORE_PERFORMANCE"] = gold["GOLD_STORE_PERFORMANCE"].union(
        gold["GOLD_STORE_PERFORMANCE"].filter(lambda t: t.STORE_ID == "S1"), distinct=False)
    gold["GOLD_CUSTOMER_360"] = gold["GOLD_CUSTOMER_360"].filter(lambda t: t.CUSTOMER_ID != "C3")  # C3 never ordered
    results = _check(con, model, gold)
    stores = results["GOLD.STORE_PERFORMANCE"]
    assert (stores["STATUS"], stores["SAMPLE_KEYS"]) == ("fail", "NET_AMOUNT, RETURNS, REFUND_AMOUNT, rows")
    assert stores["DETAIL"].endswith("rows 4 = MODEL.DIM_STORE rows 3")
    # C3 had no sale: the totals still add up, the row count does not
    customers = results["GOLD.CUSTOMER_360"]
    assert (customers["STATUS"], customers["OBSERVED"], customers["SAMPLE_KEYS"]) == ("fail", 1, "rows")
    # and duplicate_keys, reading the same contract, names the store counted twice
    duplicated = checks.check_duplicate_keys(PARAMS, {}, GOLD_STORE_PERFORMANCE=gold["GOLD_STORE_PERFORMANCE"])
    assert con.to_pyarrow(duplicated).to_pylist()[0] | {"DETAIL": None} == {
        "CHECK_NAME": "duplicate_keys", "TABLE_NAME": "GOLD.STORE_PERFORMANCE", "SEVERITY": "error", "STATUS": "fail",
        "OBSERVED": 1.0, "THRESHOLD": 0.0, "DETAIL": None, "SAMPLE_KEYS": "S1",
    }


def test_the_gold_contract_names_real_columns_of_its_tables_and_facts(con):
    """A total or grain naming a column the table does not have would fail at run time: caught here."""
    model = _model()
    gold = _gold(model)
    for name, contract in GOLD_TABLES.items():
        assert set(grain({})[name]) <= set(gold[name].columns), name
        for total in contract.totals:
            assert total.column in gold[name].columns, (name, total.column)
            assert total.fact_column is None or total.fact_column in model[total.fact].columns, (name, total)


def test_the_check_compiles_to_snowflake_sql(con):
    import sqlglot

    model = _model()
    sql = ibis.to_sql(reconciliation.check_model_gold(PARAMS, **{**model, **_gold(model)}), dialect="snowflake")
    sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
