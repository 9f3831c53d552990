"""The Snowflake wire protocol as the emulator's bridges speak it: a request forwarded to
fakesnow with another statement, multi-statement text cut into statements, and answers the
emulator makes up itself."""

from __future__ import annotations

import gzip
import json
from typing import Any

import sqlglot
from sqlglot.tokens import TokenType
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse


class Forwarded:
    """The parts of a Starlette request fakesnow's handler reads, with another statement."""

    def __init__(self, request: Request, body: dict[str, Any]) -> None:
        self.headers = Headers(raw=[(k, v) for k, v in request.headers.raw if k.lower() != b"content-encoding"])
        self.url = request.url
        self.query_params = request.query_params
        self._body = json.dumps(body).encode()

    async def body(self) -> bytes:
        return self._body


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if request.headers.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def split_statements(sql: str) -> list[str]:
    """The statements of a multi-statement text, cut at top-level semicolons (string literals,
    quoted identifiers and $$ bodies stay whole), each as written."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("snowflake").tokenize(sql)
    except Exception:
        return [sql]
    statements, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append(sql[start : token.start])
            start = token.end + 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if s.strip()]


def ok(status: str = "Statement executed successfully.") -> JSONResponse:
    return rows_response([{"name": "status", "type": "text", "length": 16777216, "nullable": True}], [[status]])


def rows_response(rowtype: list[dict[str, Any]], rows: list[list[Any]]) -> JSONResponse:
    full = [
        {"name": c["name"], "database": "", "schema": "", "table": "", "byteLength": c.get("length"), "length": c.get("length"),
         "type": c["type"], "nullable": c.get("nullable", True), "precision": c.get("precision"), "scale": c.get("scale"),
         "collation": None}
        for c in rowtype
    ]
    return JSONResponse(
        {
            "data": {
                "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
                "rowtype": full,
                "rowset": [[None if v is None else str(v) for v in row] for row in rows],
                "total": len(rows),
                "returned": len(rows),
                "queryId": "emulator-bridge",
                "queryResultFormat": "json",
                "statementTypeId": 4096,
            },
            "success": True,
        }
    )


def snowflake_type(column: dict[str, Any]) -> str:
    """Snowflake's type name for a result column of the wire protocol's row type."""
    kind = column["type"].lower()
    if kind == "fixed":
        return f"NUMBER({column.get('precision') or 38},{column.get('scale') or 0})"
    if kind == "text":
        return f"VARCHAR({column.get('length') or 16777216})"
    if kind == "real":
        return "FLOAT"
    if kind.startswith("timestamp"):
        return f"{kind.upper()}({column.get('scale') if column.get('scale') is not None else 9})"
    if kind == "binary":
        return f"BINARY({column.get('length') or 8388608})"
    return kind.upper()  # BOOLEAN, DATE, TIME, VARIANT, OBJECT, ARRAY


def error(message: str, code: str = "000603") -> JSONResponse:
    """A failed statement, as Snowflake answers one: the client raises at once. (An HTTP 500,
    which is how fakesnow answers what it cannot do, makes the connector retry for minutes.)"""
    return JSONResponse({"data": {"errorCode": code, "sqlState": "XX000"}, "code": code, "message": message, "success": False})
