"""The warehouse engine: where the Snowflake session's credentials come from, and the error when
there are none (only the resolution is exercised: no connection to Snowflake is ever attempted);
one shared connection per engine block; the Snowflake SQL a connection of ours compiles."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT

from retail_control_tower.datasets import RawFilesDataset, WarehouseTableDataset
from retail_control_tower.warehouse import Connections, WarehouseConnectionError, snowflake_settings

ENGINE = {"backend": "snowflake", "connection_name": "retail-dev", "database": "RETAIL_DB"}


def test_a_named_connection_in_connections_toml_comes_first(tmp_path):
    (tmp_path / ".snowflake").mkdir()
    (tmp_path / ".snowflake" / "connections.toml").write_text('[retail-dev]\naccount = "x"\nuser = "u"\n')
    env = {"HOME": str(tmp_path), "SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PASSWORD": "p"}
    settings = snowflake_settings(ENGINE, env)
    assert settings["connection_name"] == "retail-dev" and "connections.toml" in settings["source"]
    # the Snowflake CLI's layout ([connections.<name>]) and SNOWFLAKE_HOME are honoured too
    home = tmp_path / "sfhome"
    home.mkdir()
    (home / "connections.toml").write_text('[connections.retail-dev]\naccount = "x"\n')
    assert snowflake_settings(ENGINE, {"HOME": "/nonexistent", "SNOWFLAKE_HOME": str(home)})["connection_name"] == "retail-dev"


def test_environment_variables_with_a_password_or_a_key_pair(tmp_path):
    env = {"HOME": str(tmp_path), "SNOWFLAKE_ACCOUNT": "acme-xy", "SNOWFLAKE_USER": "pipeline", "SNOWFLAKE_PASSWORD": "s3cret", "SNOWFLAKE_ROLE": "RETAIL_PIPELINE"}
    settings = snowflake_settings(ENGINE, env)
    assert settings == {"account": "acme-xy", "user": "pipeline", "password": "s3cret", "role": "RETAIL_PIPELINE", "source": "environment variables"}
    key_pair = {**env, "SNOWFLAKE_PASSWORD": "", "SNOWFLAKE_PRIVATE_KEY_FILE": "/keys/rsa.p8"}
    settings = snowflake_settings(ENGINE, key_pair)
    assert settings["private_key_file"] == "/keys/rsa.p8" and settings["authenticator"] == "SNOWFLAKE_JWT" and "password" not in settings


def test_nothing_found_names_every_place_it_looked(tmp_path):
    engine = {**ENGINE, "secret_scope": "retail-control-tower-dev"}
    with pytest.raises(WarehouseConnectionError) as error:
        snowflake_settings(engine, {"HOME": str(tmp_path), "SNOWFLAKE_ACCOUNT": "only-the-account"})
    message = str(error.value)
    for expected in ("'retail-dev'", str(tmp_path / ".snowflake" / "connections.toml"), "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER",
                     "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_FILE", "retail-control-tower-dev", "only on Databricks"):
        assert expected in message


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_smoke_without_credentials_fails_within_seconds_naming_what_it_looked_for(env, tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "DATABRICKS_"))}
    clean.update(HOME=str(tmp_path), RCT_DATA_DIR=str(tmp_path / "data"), KEDRO_DISABLE_TELEMETRY="1", MLFLOW_DISABLE_TELEMETRY="true")
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "run", "--env", env, "--pipeline", "smoke"],
        cwd=PROJECT, env=clean, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.perf_counter() - started
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert f"No Snowflake credentials for connection 'retail-{env}'" in output and "SNOWFLAKE_ACCOUNT" in output
    assert elapsed < 60  # start-up included; the credential lookup itself makes no network call
    fallback = tmp_path / "data" / "08_reporting" / "run_log_fallback.jsonl"
    assert '"STATUS": "failed"' in fallback.read_text()  # the failed run is still recorded


def test_datasets_on_one_engine_block_share_one_connection_which_close_all_closes(tmp_path):
    (tmp_path / "stores.csv").write_text("store_id,region\nS1,north\n")
    engine = {"backend": "duckdb", "database": str(tmp_path / "warehouse.duckdb")}
    table = WarehouseTableDataset(table_name="STORES", database="main", connection=engine, save_args={"materialized": "table"})
    raw = RawFilesDataset(directory=str(tmp_path), entity="stores", connection=dict(engine))
    assert table.connection is raw.connection  # so raw rows can be joined with warehouse tables in one query
    table.save(raw.load().select("STORE_ID"))
    assert raw.load().join(table.load(), "STORE_ID").count().execute() == 1

    connections = Connections()
    first = connections.get(engine)
    assert connections.get(dict(reversed(engine.items()))) is first
    connections.close_all()
    with pytest.raises(Exception, match="closed"):
        first.raw_sql("SELECT 1")
    assert connections.get(engine) is not first
    connections.close_all()


def test_snowflake_sql_types_text_with_try_cast_and_importing_the_project_patches_nothing():
    import ibis

    import retail_control_tower.settings  # noqa: F401  (everything a run imports)
    from retail_control_tower.warehouse import SNOWFLAKE_COMPILER, SnowflakeBackend, snowflake_sql

    rows = ibis.table({"QUANTITY": "string", "LINE_NUMBER": "int64"}, name="ROWS")
    typed = rows.select(QUANTITY=rows.QUANTITY.try_cast("int64"), DAY=rows.LINE_NUMBER.try_cast("date"))
    sql = snowflake_sql(typed)
    assert 'TRY_CAST("t0"."QUANTITY" AS BIGINT)' in sql
    assert '  CAST("t0"."LINE_NUMBER" AS DATE)' in sql  # Snowflake's TRY_CAST takes text only
    assert SnowflakeBackend.compiler is SNOWFLAKE_COMPILER
    # Ibis's own compiler is as Ibis ships it: no import changed it behind its back.
    assert "TRY_CAST" not in ibis.to_sql(typed, dialect="snowflake")
