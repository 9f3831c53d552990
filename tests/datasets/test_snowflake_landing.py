"""Raw landing on Snowflake: one definition of the file format, the stage and the COPY, for the
pipeline's own landing and the bootstrap script; every statement real Snowflake SQL (parsed with
sqlglot's Snowflake dialect at error level RAISE). Executed on the Snowflake emulator by
tests/emulator/test_parity.py."""

from __future__ import annotations

from pathlib import Path

import sqlglot
import sqlglot.expressions as exp
import yaml
from conftest import PROJECT

from retail_control_tower.datasets import snowflake_landing as landing

ENTITIES = yaml.safe_load((PROJECT / "conf" / "base" / "parameters_ingest.yml").read_text())["ingest"]["entities"]


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)


def test_the_bootstrap_script_is_generated_from_the_one_definition():
    """sql/snowflake/03_raw_landing.sql is what `python -m ...snowflake_landing` writes."""
    assert (PROJECT / "sql" / "snowflake" / "03_raw_landing.sql").read_text() == landing.bootstrap_sql(ENTITIES)


def test_the_pipeline_s_statements_are_snowflake_sql_with_the_contract_s_file_format(tmp_path):
    raw = landing.RawFile(Path(tmp_path / "it's orders.csv"), "orders/it's orders.csv", "a" * 64, None, ("order_id", "customer_id"))
    put = landing.put_sql(raw.path, f"{landing.stage_name('RETAIL_DB')}/pipeline/orders/{'a' * 64}/orders/")
    assert isinstance(_parse(put), exp.Put)
    assert "AUTO_COMPRESS = FALSE OVERWRITE = TRUE" in put  # staged as it is: METADATA$FILENAME keeps its name
    stage = _parse(landing.create_stage_sql("RETAIL_DB"))
    assert isinstance(stage, exp.Create) and stage.kind == "STAGE"
    copy = landing.copy_sql(
        'RETAIL_DB.BRONZE."RAW_ORDERS_0"', ["ORDER_ID", "CUSTOMER_ID", landing.STAGED_FILE, landing.ROW_NUMBER],
        [*landing.column_values(list(raw.columns), parquet=False), "METADATA$FILENAME", "METADATA$FILE_ROW_NUMBER"],
        landing.stage_name("RETAIL_DB"), files=[raw.staged("orders")], force=True,
    )
    parsed = _parse(copy)
    assert isinstance(parsed, exp.Copy)
    select = parsed.find(exp.Select)
    assert [e.sql(dialect="snowflake") for e in select.expressions] == ["$1", "$2", "METADATA$FILENAME", "METADATA$FILE_ROW_NUMBER"]
    assert f"FILES = ('pipeline/orders/{'a' * 64}/orders/it\\'s orders.csv')" in copy
    assert "ON_ERROR = ABORT_STATEMENT" in copy
    bootstrap = landing.bootstrap_sql(ENTITIES)
    for name, value in landing.CSV_FORMAT.items():  # the same dialect inline here and in the named format there
        assert f"{name} = {value}" in copy and f"  {name} = {value}" in bootstrap
    assert landing.CSV_FORMAT["ESCAPE_UNENCLOSED_FIELD"] == "NONE" and landing.CSV_FORMAT["NULL_IF"] == "('')"


def test_a_parquet_file_is_read_by_column_name_as_text():
    values = landing.column_values(["order_id", "Order TS"], parquet=True)
    assert values == ['$1:"order_id"::VARCHAR', '$1:"Order TS"::VARCHAR']
    copy = landing.copy_sql("T", ["A", "B"], values, "S", files=["f.parquet"], format_options=landing.PARQUET_FORMAT)
    assert "TYPE = PARQUET USE_LOGICAL_TYPE = TRUE" in copy
    _parse(copy)


def test_the_staged_path_gives_back_the_file_s_lineage():
    import re

    raw = landing.RawFile(Path("/x/orders/2026-11-27.csv"), "orders/2026-11-27.csv", "0f" * 32, None, ("order_id",))
    staged = raw.staged("orders")
    # METADATA$FILENAME, with or without the stage's name before it (as COPY's answer names it)
    for name in (staged, f"raw_landing/{staged}"):
        assert re.sub(landing.SOURCE_FILE_PATTERN, "", name) == "orders/2026-11-27.csv"
        assert landing.FINGERPRINT.search(name).group(0) == "0f" * 32
