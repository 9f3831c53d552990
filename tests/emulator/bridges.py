"""Bridges between what Ibis, Snowpark and the project send and what fakesnow 0.11.19 executes.

Every bridge is here, in the emulator's request handling (never in ``src/``), and is listed with
its reason in ``GAPS.md`` beside this file. A request the bridges do not touch reaches fakesnow
unchanged.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import sqlglot
from sqlglot import exp
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import fakesnow.server as fake

import dateadd_bridge
import stage_bridge
import wire

# Session parameters fakesnow does not take, and why answering them as no-ops is faithful here.
NO_OP_SESSION_PARAMETERS = {
    "MULTI_STATEMENT_COUNT": "multi-statement text is split by the emulator (bridge 2)",
    "JSON_INDENT": "results travel as Arrow, never as JSON text",
    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "fakesnow always answers queries in Arrow",
    "STRICT_JSON_OUTPUT": "results travel as Arrow, never as JSON text",
    "TIMEZONE": "fakesnow's DuckDB runs in UTC, the value Ibis sets",
}
DESCRIBE_LAST = re.compile(r"^\s*DESCRIBE\s+RESULT\s+LAST_QUERY_ID\s*\(\s*\)\s*;?\s*$", re.IGNORECASE)
ALTER_SESSION = re.compile(r"^\s*ALTER\s+SESSION\s+SET\s+(.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
COPY_INTO = re.compile(r"^\s*COPY\s+INTO\b", re.IGNORECASE)
GET_FIRST_COLUMN = re.compile(r"\bGET\(\$1,\s*'((?:[^']|'')*)'\)", re.IGNORECASE)
TEMP_TABLE = re.compile(
    r"^(\s*CREATE\s+(?:OR\s+REPLACE\s+)?)(?:LOCAL\s+|GLOBAL\s+)?TEMP(?:ORARY)?\s+(TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)"
    r"((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))+)",
    re.IGNORECASE,
)
SESSION_PARAMETER = re.compile(r"(\w+)\s*=\s*('(?:[^']|'')*'|\S+)")

# The row type of each session's last query (by session token), for DESCRIBE RESULT.
_last_rowtype: dict[str, list[dict[str, Any]]] = {}
TRANSACTION_START = re.compile(r"^\s*(BEGIN(\s+(TRANSACTION|WORK))?|START\s+TRANSACTION)\s*;?\s*$", re.IGNORECASE)
TRANSACTION_END = re.compile(r"^\s*(COMMIT|ROLLBACK)\b", re.IGNORECASE)
DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|COMMENT|UNDROP)\b", re.IGNORECASE)
# Explicit transactions per session (bridge 10): the statements since BEGIN.
_transactions: dict[str, list[str]] = {}
# DDL that committed an open transaction, as Snowflake does: (what the transaction held, the DDL).
implicit_commits: list[dict[str, Any]] = []
CURRENT_CONTEXT = re.compile(r"\bCURRENT_(WAREHOUSE|ROLE)\s*\(\s*\)", re.IGNORECASE)
# The warehouse and role each session logged in with (bridge 11), by session token.
_logins: dict[str, dict[str, str]] = {}
# Tables a session created as TEMPORARY with a qualified name (bridge 5), dropped when it closes.
_session_tables: dict[str, list[str]] = {}


def memtable_copy(statement: str) -> str:
    """Bridge 4, Ibis's upload of an in-memory table: a Parquet file PUT to a temporary stage whose
    own FILE_FORMAT says Parquet, then ``COPY INTO`` reading ``GET($1, 'col')``. fakesnow reads a
    staged Parquet column only as ``$1:"col"`` and does not take the format from the stage."""
    copied = GET_FIRST_COLUMN.sub(lambda m: f'$1:"{m.group(1)}"', statement.rstrip().rstrip(";"))
    return copied if re.search(r"\bFILE_FORMAT\b", copied, re.IGNORECASE) else f"{copied} FILE_FORMAT = (TYPE = PARQUET)"


def _describe_last(token: str) -> JSONResponse:
    columns = _last_rowtype.get(token, [])
    text = {"type": "text", "length": 16777216, "nullable": True}
    rowtype = [{"name": n, **text} for n in ("name", "type", "kind", "null?", "default", "primary key", "unique key", "check", "expression", "comment", "policy name")]
    rows = [[c["name"], wire.snowflake_type(c), "COLUMN", "Y" if c.get("nullable", True) else "N", None, "N", "N", None, None, None, None] for c in columns]
    return wire.rows_response(rowtype, rows)


async def _forward(request: Request, body: dict[str, Any], sql: str) -> Response:
    response = await fake.query_request(wire.Forwarded(request, {**body, "sqlText": sql}))
    try:
        data = json.loads(response.body)
    except ValueError:
        return response
    if data.get("success") and isinstance(data.get("data"), dict) and data["data"].get("rowtype") is not None:
        _last_rowtype[fake.to_token(request)] = data["data"]["rowtype"]
    return response


TRACE = os.environ.get("EMULATOR_TRACE")  # a file: one line per request, its seconds and SQL


async def query_request(request: Request) -> Response:
    started = time.perf_counter()
    try:
        response = await _query_request(request)
    except Exception as failure:  # a bridge's own failure: the statement fails, the test says why
        response = wire.error(f"Snowflake emulator bridge failed: {type(failure).__name__}: {failure}")
    if response.status_code >= 500:
        response = wire.error(json.loads(response.body).get("message") or "Snowflake emulator: internal error")
    if TRACE:
        with open(TRACE, "a", encoding="utf-8") as trace:
            trace.write(f"{time.perf_counter() - started:.3f}\t{_last_sql.get('text', '')[:160]}\n")
    return response


_last_sql: dict[str, str] = {}


async def _query_request(request: Request) -> Response:
    body = await wire.body_of(request)
    _last_sql["text"] = " ".join(body.get("sqlText", "").split())
    sql = body.get("sqlText", "")
    token = request.headers.get("Authorization", "")[17:-1]
    # Bridge 3: the schema of the last query.
    if DESCRIBE_LAST.match(sql):
        return _describe_last(token)
    # Bridge 2: several statements in one text.
    statements = wire.split_statements(sql) if not body.get("bindings") else [sql]
    response: Response = wire.ok()
    for statement in statements:
        # Bridge 10: an explicit transaction, and the commit Snowflake makes before DDL inside it.
        if TRANSACTION_START.match(statement):
            response = await run_in_threadpool(_begin, token)
            continue
        if token in _transactions:
            if TRANSACTION_END.match(statement):
                _transactions.pop(token)
            elif DDL.match(statement):
                await run_in_threadpool(_implicit_commit, token, statement)
            else:
                _transactions[token].append(" ".join(statement.split())[:200])
        # Bridge 1: several session parameters in one ALTER SESSION.
        altered = ALTER_SESSION.match(statement)
        if altered:
            response = await _alter_session(request, body, altered.group(1))
        elif COPY_INTO.match(statement) and GET_FIRST_COLUMN.search(statement):
            response = await _forward(request, body, memtable_copy(statement))
        elif CURRENT_CONTEXT.search(statement):
            # Bridge 11: the session's warehouse and role, as it logged in with them.
            login = _logins.get(token, {})
            response = await _forward(request, body, CURRENT_CONTEXT.sub(lambda m: _quote(login.get(m.group(1).upper())), statement))
        elif TEMP_TABLE.match(statement):
            response = await _temporary_table(request, body, statement, token)
        elif stage_bridge.split_put(statement):
            response = await _put_into_folder(request, body, statement)
        elif stage_bridge.is_stage_copy(statement):
            response = await _copy_from_stage(statement, token)
        else:
            if "DATEADD" in statement.upper() and token in fake.sessions:
                statement = await run_in_threadpool(_cast_date_arithmetic, statement, fake.sessions[token])
            response = await _forward(request, body, statement)
        if not json.loads(response.body).get("success", False):
            return response
    return response


async def _alter_session(request: Request, body: dict[str, Any], assignments: str) -> Response:
    response: Response = wire.ok()
    for name, value in SESSION_PARAMETER.findall(assignments):
        if name.upper() in NO_OP_SESSION_PARAMETERS:
            continue
        response = await _forward(request, body, f"ALTER SESSION SET {name} = {value}")
        if not json.loads(response.body).get("success", False):
            return response
    return response


def _begin(token: str) -> Response:
    """fakesnow answers BEGIN by describing it as a query, which fails after the transaction has
    begun. Here the session's DuckDB transaction begins and the answer is a success."""
    connection = fake.to_conn(token)
    connection._duck_conn.begin()
    connection._in_transaction = True
    _transactions[token] = []
    return wire.ok()


def _implicit_commit(token: str, ddl: str) -> None:
    """Snowflake commits the open transaction before a DDL statement runs (its own transaction),
    so what the transaction did is committed whether or not the rest of it succeeds. DuckDB would
    refuse the DDL instead (a write to another catalog, fakesnow's stage list). Commit, and keep
    a record: a test can tell a transaction that was not atomic on Snowflake."""
    connection = fake.to_conn(token)
    held = _transactions.pop(token)
    connection._duck_conn.commit()
    connection._in_transaction = False
    implicit_commits.append({"transaction": held, "ddl": " ".join(ddl.split())[:200]})


def _cast_date_arithmetic(statement: str, connection) -> str:
    """Bridge 8 (``dateadd_bridge``), with DuckDB's binder as the judge of an operand's type."""

    def binds(tree) -> bool:
        query = tree.expression if isinstance(tree, (exp.Create, exp.Insert)) else tree
        if not isinstance(query, exp.Query):
            return False
        cursor = connection.cursor()
        try:
            duck = cursor._transform(query.copy(), None).sql(dialect="duckdb")
            cursor._duck_conn.execute(f"EXPLAIN {duck}")
            return True
        except Exception:  # a binder error: the operand is not a DATE
            return False

    try:
        return dateadd_bridge.cast_date_arithmetic(statement, binds)
    except sqlglot.errors.ParseError:
        return statement


async def _temporary_table(request: Request, body: dict[str, Any], statement: str, token: str) -> Response:
    """Bridge 5: fakesnow's DuckDB keeps temporary tables in a catalog of their own and refuses
    ``CREATE TEMPORARY TABLE <db>.<schema>.<name>``: a table is created instead, and dropped when
    the session that created it closes, as Snowflake drops a temporary table."""
    match = TEMP_TABLE.match(statement)
    response = await _forward(request, body, TEMP_TABLE.sub(r"\1\2\3", statement, count=1))
    if json.loads(response.body).get("success"):
        _session_tables.setdefault(token, []).append(match.group(3))
    return response


async def _put_into_folder(request: Request, body: dict[str, Any], statement: str) -> Response:
    """Bridge 6: ``PUT`` to a folder of a stage (fakesnow stages at the root only)."""
    put, folder = stage_bridge.split_put(statement)
    response = await _forward(request, body, put)
    data = json.loads(response.body)
    if not data.get("success") or "stageInfo" not in (data.get("data") or {}):
        return response
    data["data"] = stage_bridge.into_folder(data["data"], folder)
    data["data"]["overwrite"] = bool(re.search(r"\bOVERWRITE\s*=\s*TRUE\b", statement, re.IGNORECASE))
    return JSONResponse(data)


async def _copy_from_stage(statement: str, token: str) -> Response:
    """Bridge 7: ``COPY INTO`` a table from staged files with their lineage (``stage_bridge``)."""
    connection = fake.to_conn(token)
    try:
        rows = await run_in_threadpool(stage_bridge.copy_into, statement, connection._duck_conn, connection.database, connection.schema)
    except stage_bridge.CopyError as error:
        code = f"{error.errno:06d}"
        return JSONResponse({"data": {"errorCode": code, "sqlState": "22000"}, "code": code, "message": str(error), "success": False})
    text = {"type": "text", "length": 16777216}
    number = {"type": "fixed", "precision": 38, "scale": 0}
    rowtype = [
        {"name": "file", **text}, {"name": "status", **text}, {"name": "rows_parsed", **number}, {"name": "rows_loaded", **number},
        {"name": "error_limit", **number}, {"name": "errors_seen", **number}, {"name": "first_error", **text},
        {"name": "first_error_line", **number}, {"name": "first_error_character", **number}, {"name": "first_error_column_name", **text},
    ]
    return wire.rows_response(rowtype, [list(row) for row in rows])


async def _end_session(token: str) -> None:
    """Bridge 5's other half: the session's temporary tables are dropped, as Snowflake drops them."""
    connection = fake.sessions.get(token)
    for name in _session_tables.pop(token, []):
        if connection is None:
            break
        try:
            await run_in_threadpool(connection.cursor().execute, f"DROP TABLE IF EXISTS {name}")
        except Exception:  # the table went another way; the session ends regardless
            pass
    _last_rowtype.pop(token, None)


def _quote(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


async def login_request(request: Request) -> Response:
    """fakesnow has no warehouses or roles: remember what the session asked for (bridge 11)."""
    response = await fake.login_request(request)
    data = json.loads(response.body).get("data") or {}
    if data.get("token"):
        _logins[data["token"]] = {
            "WAREHOUSE": request.query_params.get("warehouse"),
            "ROLE": request.query_params.get("roleName"),
        }
    return response


async def session(request: Request) -> Response:
    """A client closing its session."""
    token = request.headers.get("Authorization", "")[17:-1]
    if request.query_params.get("delete") and token in fake.sessions:
        await _end_session(token)
    return await fake.session(request)


async def end_sessions(request: Request) -> Response:
    """``POST /emulator/end-sessions``: ends every session, as Snowflake ends the session of a
    client that went away without closing it (a Kedro run does not close its connection; its
    temporary tables are then gone for everyone, which a test can only see here)."""
    tokens = list(fake.sessions)
    for token in tokens:
        _transactions.pop(token, None)
        await _end_session(token)
        fake.sessions.pop(token, None)
    return JSONResponse({"ended": len(tokens)})


def bridged_app() -> Starlette:
    replaced = {"/queries/v1/query-request": query_request, "/session": session, "/session/v1/login-request": login_request}
    routes = [
        Route(r.path, replaced[r.path], methods=list(r.methods or [])) if getattr(r, "path", "") in replaced else r
        for r in fake.routes
    ]
    routes.append(Route("/emulator/end-sessions", end_sessions, methods=["POST"]))
    routes.append(Route("/emulator/implicit-commits", lambda _: JSONResponse(implicit_commits), methods=["GET"]))
    return Starlette(debug=False, routes=routes)
