"""One contract per table: an edit of an entity's contract reaches Silver's typing and rules, DQ's
checks and the Snowflake landing, with nothing else changed; the catalog's upsert keys are the
contract's; a contradictory contract is refused naming what is wrong."""

from __future__ import annotations

import copy
from datetime import date, datetime

import ibis
import pyarrow as pa
import pytest
from conftest import PROJECT
from kedro.config import OmegaConfigLoader

from retail_control_tower.contracts import ENTITIES, ContractError, check_entities, grain
from retail_control_tower.datasets import snowflake_landing
from retail_control_tower.pipelines.bronze.nodes import bronze_schema
from retail_control_tower.pipelines.dq import checks
from retail_control_tower.pipelines.silver import nodes as silver
from retail_control_tower.pipelines.silver.profile import profile_batches
from retail_control_tower.settings import CONFIG_LOADER_ARGS

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
LINEAGE = {"LOAD_ID": "string", "LOADED_AT": "timestamp", "SOURCE_FILE": "string", "SOURCE_ROW": "int64"}


def _config(kind: str) -> dict:
    return OmegaConfigLoader(conf_source=str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})[kind]


@pytest.fixture(scope="module")
def params() -> dict:
    return _config("parameters")


def _silver(contract: dict, event_dates: dict, quantities: list[str]):
    """SILVER.ORDER_ITEMS of lines with these quantities (of order O1, product P1): (quarantine rows, Silver rows, Silver's schema)."""
    con = ibis.duckdb.connect()
    spec = contract["order_items"]
    values = {"ORDER_ID": "O1", "PRODUCT_ID": "P1", "UNIT_PRICE": "2.50", "DISCOUNT_AMOUNT": None, "PROMO_CODE": None, "GIFT_WRAP": "yes"}
    rows = [
        {**{c: values.get(c) for c in spec["columns"]}, "LINE_NUMBER": str(n), "QUANTITY": q,
         "LOAD_ID": "L1", "LOADED_AT": datetime(2026, 1, 1), "SOURCE_FILE": "order_items.csv", "SOURCE_ROW": n}
        for n, q in enumerate(quantities, start=1)
    ]
    schema = ibis.schema({**{c: "string" for c in spec["columns"]}, **LINEAGE})
    bronze = con.create_table("bronze", ibis.memtable(pa.Table.from_pylist(rows, schema=schema.to_pyarrow())))
    orders = con.create_table("orders", ibis.memtable({"ORDER_ID": ["O1"]}))
    no_products = con.create_table("products", schema=ibis.schema({"PRODUCT_ID": "string", "LIST_PRICE": "decimal(18, 2)"}))
    tables = {"SILVER_ORDERS": orders, "SILVER_PRODUCTS": no_products}
    batch = profile_batches({"order_items": spec}, BRONZE_ORDER_ITEMS=bronze, prior_SILVER_ORDER_ITEMS=None, prior_SILVER_ORDER_ITEMS_QUARANTINE=None)
    batch = {**batch["order_items"], "supplied": {"orders": True, "products": False}}
    quarantine = con.create_table("quarantine", silver.quarantine_batch(bronze, None, None, RUN, spec, event_dates, contract, batch=batch, **tables))
    applied = silver.apply_silver(bronze, None, quarantine, spec, event_dates, batch)
    reasons = [tuple(r.values()) for r in con.to_pyarrow(quarantine.select("SOURCE_ROW", "REASON_CODE", "REASON_DETAIL").order_by("SOURCE_ROW")).to_pylist()]
    typed = [tuple(r.values()) for r in con.to_pyarrow(applied.select("LINE_NUMBER", "QUANTITY").order_by("LINE_NUMBER")).to_pylist()]
    return reasons, typed, {n: str(t) for n, t in applied.schema().items() if n not in LINEAGE}


def _quantity_checks(contract: dict, event_dates: dict, quantity: float) -> list[tuple]:
    """DQ's value_ranges rows about QUANTITY for one fact line with this quantity."""
    con = ibis.duckdb.connect()
    lines = ibis.memtable({
        "ORDER_ID": ["O1"], "LINE_NUMBER": [1], "QUANTITY": [quantity], "UNIT_PRICE": [1.0], "DISCOUNT_AMOUNT": [0.0],
        "GROSS_AMOUNT": [1.0], "ORDER_DATE": [date(2026, 1, 1)],
    })
    returns = ibis.memtable(ibis.schema(
        {"RETURN_ID": "string", "ORDER_ID": "string", "LINE_NUMBER": "int64", "QUANTITY": "int64", "RETURN_DATE": "date", "ORDER_DATE": "date"}
    ).to_pyarrow().empty_table())
    result = checks.check_value_ranges({"severity": "error", "sample_size": 5}, event_dates, RUN, lines, returns, contract)
    rows = con.to_pyarrow(result).to_pylist()
    return [(r["DETAIL"], r["STATUS"]) for r in rows if r["DETAIL"].startswith("QUANTITY")]


def test_one_edit_of_a_column_s_contract_reaches_silver_dq_and_the_landing(params):
    """Order lines may sell fractions (QUANTITY int → decimal, at least 0.5) and carry a GIFT_WRAP flag."""
    contract, event_dates = params["ingest"]["entities"], params["event_dates"]
    edited = copy.deepcopy(contract)
    edited["order_items"]["columns"]["QUANTITY"] = {"type": "decimal", "nullable": False, "min": 0.5, "max": 10000}
    edited["order_items"]["columns"]["GIFT_WRAP"] = {"type": "string"}

    # Silver: the type and the rule.
    reasons, typed, schema = _silver(contract, event_dates, ["2", "1.5", "0.25"])
    assert reasons == [(2, "INVALID_TYPE", "QUANTITY='1.5' is not a valid int"), (3, "INVALID_TYPE", "QUANTITY='0.25' is not a valid int")]
    assert typed == [(1, 2)] and schema["QUANTITY"] == "int64" and "GIFT_WRAP" not in schema
    reasons, typed, schema = _silver(edited, event_dates, ["2", "1.5", "0.25"])
    assert reasons == [(3, "OUT_OF_RANGE", "QUANTITY=0.25 must be >= 0.5")]
    assert [(n, float(q)) for n, q in typed] == [(1, 2.0), (2, 1.5)]
    assert schema["QUANTITY"] == "decimal(18, 2)" and schema["GIFT_WRAP"] == "string"

    # DQ: the fact's quantities are checked against the contract's bound.
    assert _quantity_checks(contract, event_dates, 0.25) == [("QUANTITY <= 0", "pass")]
    assert _quantity_checks(edited, event_dates, 0.25) == [("QUANTITY < 0.5", "fail")]

    # Bronze and the Snowflake landing: the new column is landed as text.
    assert "GIFT_WRAP" not in bronze_schema(contract["order_items"]).names
    assert bronze_schema(edited["order_items"])["GIFT_WRAP"] == ibis.dtype("string")
    assert "  GIFT_WRAP VARCHAR" not in snowflake_landing.bootstrap_sql(contract)
    assert "  PROMO_CODE VARCHAR,\n  GIFT_WRAP VARCHAR,\n  SOURCE_FILE" in snowflake_landing.bootstrap_sql(edited)


def test_a_key_is_declared_once_for_silver_dq_and_the_upsert(params):
    contract = params["ingest"]["entities"]
    upsert = _config("catalog")["SILVER_{table}"]["save_args"]["on"]
    assert upsert == {entity.upper(): contract[entity]["key"] for entity in ENTITIES}
    assert grain(contract)["SILVER_ORDER_ITEMS"] == contract["order_items"]["key"] == ["ORDER_ID", "LINE_NUMBER"]


def test_the_catalog_requires_the_files_of_the_entities_the_contract_requires(params):
    """A required entity's raw file must be there (the reader's switch) and its keys are always checked (Silver's)."""
    catalog = _config("catalog")
    required = {entity for entity, spec in params["ingest"]["entities"].items() if spec["required"]}
    assert required == {"orders", "order_items"}
    assert {entity for entity in ENTITIES if catalog.get(f"raw_{entity}", catalog["raw_{entity}"])["required"]} == required


def test_a_contradictory_contract_is_refused_naming_each_problem(params):
    contract = copy.deepcopy(params["ingest"]["entities"])
    check_entities(contract)
    contract["orders"]["columns"]["CHANNEL"]["type"] = "text"
    contract["orders"]["references"].append({"entity": "returns", "columns": ["ORDER_ID"]})
    contract["stores"]["key"] = ["STORE_CODE"]
    contract["order_items"]["columns"]["DISCOUNT_AMOUNT"]["max_product_of"] = ["QUANTITY", "PROMO_CODE"]
    with pytest.raises(ContractError) as refused:
        check_entities(contract)
    message = str(refused.value)
    assert "orders.CHANNEL: type 'text' is not one of" in message
    assert "orders: a reference to 'returns' must name an entity loaded before it" in message
    assert "stores: key ['STORE_CODE'] must name its columns" in message
    assert "order_items.DISCOUNT_AMOUNT: max_product_of ['QUANTITY', 'PROMO_CODE'] must name numeric columns of order_items" in message
