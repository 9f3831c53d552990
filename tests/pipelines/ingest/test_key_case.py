"""Identifiers are case-insensitive (issue 14): a key that differs from another only by case is the
same entity, in supplied master data and in members derived from the facts alike."""

from __future__ import annotations

from conftest import days_ago, small_retailer


def test_master_data_keys_that_differ_by_case_are_one_entity(workspace):
    tables = small_retailer()
    tables["customers"].append(["c1", "2024-01-10", "s1", "platinum"])  # C1 again, in lower case: the later row wins
    tables["orders"].append(["O5", " c1 ", "s2", days_ago(2), "online"])  # facts may name it in any case too
    tables["order_items"].append(["O5", "1", "p3", "1", "20.00", "0", ""])
    workspace.write_retailer(tables)
    workspace.run("ingest", "dq")

    assert workspace.rows("SELECT CUSTOMER_ID, HOME_STORE_ID, LOYALTY_TIER FROM SILVER.CUSTOMERS ORDER BY 1") == [
        ("C1", "S1", "platinum"), ("C2", "S2", "silver"), ("C3", "S1", "bronze"),
    ]
    assert workspace.rows("SELECT CUSTOMER_ID, IS_DERIVED FROM MODEL.DIM_CUSTOMER ORDER BY 1") == [
        ("C1", False), ("C2", False), ("C3", False),
    ]
    # The earlier C1 row is quarantined as superseded; Bronze keeps every value as it was sent.
    assert workspace.rows("SELECT BUSINESS_KEY, CUSTOMER_ID, REASON_CODE FROM SILVER.CUSTOMERS_QUARANTINE") == [
        ("C1", "C1", "DUPLICATE_KEY")
    ]
    assert workspace.rows("SELECT CUSTOMER_ID, STORE_ID FROM BRONZE.ORDERS WHERE ORDER_ID = 'O5'") == [(" c1 ", "s2")]
    assert workspace.rows("SELECT CUSTOMER_ID, STORE_ID, PRODUCT_ID FROM MODEL.FCT_ORDER_LINE WHERE ORDER_ID = 'O5'") == [
        ("C1", "S2", "P3")
    ]
    assert workspace.count("SILVER.ORDERS_QUARANTINE") == workspace.count("SILVER.ORDER_ITEMS_QUARANTINE") == 0
    assert workspace.scalar("SELECT ORDERS FROM GOLD.CUSTOMER_360 WHERE CUSTOMER_ID = 'C1'") == 3
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True

    # A later load naming the customer in lower case corrects the same customer.
    workspace.write_csv("customers_batch2", [["c1", "2024-01-10", "S1", "gold"]], entity="customers")
    workspace.run("ingest", "dq")
    assert workspace.rows("SELECT CUSTOMER_ID, LOYALTY_TIER FROM SILVER.CUSTOMERS WHERE UPPER(CUSTOMER_ID) = 'C1'") == [("C1", "gold")]
    assert workspace.count("MODEL.DIM_CUSTOMER") == 3


def test_derived_members_do_not_split_by_case(workspace):
    """Minimal input: an order of customer c1 beside orders of C1 is one derived customer."""
    tables = small_retailer()
    orders = [*tables["orders"], ["O5", "c1", "s1", days_ago(2), "store"]]
    items = [*tables["order_items"], ["O5", "1", "p1", "1", "2.50", "0", ""], ["o5", "2", "P2", "1", "8.00", "0", ""]]
    workspace.write_retailer({"orders": orders, "order_items": items})
    workspace.run("ingest", "dq")

    assert workspace.rows("SELECT CUSTOMER_ID FROM MODEL.DIM_CUSTOMER ORDER BY 1") == [("C1",), ("C2",), ("C3",)]
    assert workspace.rows("SELECT STORE_ID FROM MODEL.DIM_STORE ORDER BY 1") == [("S1",), ("S2",)]
    assert workspace.rows("SELECT PRODUCT_ID FROM MODEL.DIM_PRODUCT ORDER BY 1") == [("P1",), ("P2",), ("P3",)]
    # o5|2 is a line of O5: order ids are matched case-insensitively too.
    assert workspace.rows("SELECT ORDER_ID, LINE_NUMBER, CUSTOMER_ID FROM MODEL.FCT_ORDER_LINE WHERE ORDER_ID = 'O5' ORDER BY 2") == [
        ("O5", 1, "C1"), ("O5", 2, "C1"),
    ]
    assert workspace.scalar("SELECT ORDERS FROM GOLD.CUSTOMER_360 WHERE CUSTOMER_ID = 'C1'") == 3
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True


def test_a_silver_loaded_before_the_rule_is_rebuilt_from_bronze_by_the_stage_pipelines(workspace):
    workspace.write_retailer(small_retailer())
    workspace.run("ingest")
    workspace.write_csv("orders_batch2", [["O5", "C2", "S1", days_ago(0.5), "store"], ["O2", "C2", "S1", days_ago(20), "store"]], entity="orders")
    workspace.write_csv("order_items_batch2", [["O5", "1", "P2", "3", "8.00", "0", ""]], entity="order_items")
    workspace.run("ingest")
    # A warehouse of before: a customer key kept in the case it was sent.
    workspace.rows("UPDATE SILVER.CUSTOMERS SET CUSTOMER_ID = 'c1' WHERE CUSTOMER_ID = 'C1'")
    before = {table: workspace.count(f"SILVER.{table}") for table in ("ORDERS", "ORDER_ITEMS", "RETURNS", "CUSTOMERS")}

    for entity in ("CUSTOMERS", "PRODUCTS", "STORES", "ORDERS", "ORDER_ITEMS", "RETURNS"):
        workspace.rows(f"DROP TABLE SILVER.{entity}; DROP TABLE IF EXISTS SILVER.{entity}_QUARANTINE")
    workspace.run("silver", "model", "gold")
    workspace.run("dq")

    assert {table: workspace.count(f"SILVER.{table}") for table in before} == before
    assert workspace.rows("SELECT CUSTOMER_ID FROM SILVER.CUSTOMERS ORDER BY 1") == [("C1",), ("C2",), ("C3",)]
    assert workspace.scalar("SELECT STORE_ID FROM SILVER.ORDERS WHERE ORDER_ID = 'O2'") == "S1"  # the newer load won
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
