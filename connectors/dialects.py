"""Per-dialect SQL pieces, written once as SQLAlchemy constructs and compiled for each database.

- `utc_day(ts)`: the UTC calendar day of a timestamp. Sessions are put in UTC on connect
  (`prepare_engine`), so `CAST(ts AS DATE)` is the UTC day on PostgreSQL, MySQL/MariaDB and
  DuckDB; SQLite keeps ISO-8601 text and uses `date(ts)`, which is NULL for unparseable text.
- `json_text(column, key)`: a string value from a JSON/map column (PostgreSQL `->>`,
  SQLite/DuckDB `json_extract`, MySQL `JSON_UNQUOTE(JSON_EXTRACT())`).
- `json_member(column, key)`: like `json_text`, for one top-level key whose name holds dots.
- `epoch_ms_between(start, end)`: milliseconds between two timestamps.

`execute(conn, statement)` runs a warehouse query; on DuckDB with its values written into the SQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable, FunctionElement


class utc_day(FunctionElement[Any]):  # noqa: N801 - reads like the SQL function it stands for
    type = sa.Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


class json_text(FunctionElement[Any]):  # noqa: N801
    """`json_text(column, 'a.b')`: the text at a (dotted) key path of a JSON column."""

    type = sa.String()
    name = "json_text"
    inherit_cache = False  # the key is rendered into the SQL text, so compiled forms must not be shared


def _json_parts(element: json_text, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    column, key = list(element.clauses)
    return compiler.process(column, **kw), key.value  # type: ignore[attr-defined]


def _json_path_literal(key: str) -> str:
    path = "$" + "".join(f'."{part}"' for part in key.split("."))
    return "'" + path.replace("'", "''") + "'"


@compiles(json_text)
def _json_text_default(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)
    return f"json_extract({column}, {_json_path_literal(key)})"


@compiles(json_text, "duckdb")
def _json_text_duckdb(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)
    return f"json_extract_string({column}, {_json_path_literal(key)})"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)
    parts = ", ".join("'" + p.replace("'", "''") + "'" for p in key.split("."))
    return f"(CAST({column} AS JSONB) #>> ARRAY[{parts}])"


@compiles(json_text, "mysql")
@compiles(json_text, "mariadb")
def _json_text_mysql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)
    return f"JSON_UNQUOTE(JSON_EXTRACT({column}, {_json_path_literal(key)}))"


class json_member(FunctionElement[Any]):  # noqa: N801
    """`json_member(column, 'gen_ai.request.model')`: the text of ONE top-level key taken whole, dots
    included, as OpenTelemetry attribute maps and exported ClickHouse maps store their keys."""

    type = sa.String()
    name = "json_member"
    inherit_cache = False  # the key is rendered into the SQL text


def _member_path_literal(key: str) -> str:
    return "'" + ('$."' + key.replace('"', '\\"') + '"').replace("'", "''") + "'"


@compiles(json_member)
def _json_member_default(element: json_member, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)  # type: ignore[arg-type]
    return f"json_extract({column}, {_member_path_literal(key)})"


@compiles(json_member, "duckdb")
def _json_member_duckdb(element: json_member, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)  # type: ignore[arg-type]
    return f"json_extract_string({column}, {_member_path_literal(key)})"


@compiles(json_member, "postgresql")
def _json_member_postgresql(element: json_member, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)  # type: ignore[arg-type]
    return f"(CAST({column} AS JSONB) ->> '{key.replace(chr(39), chr(39) * 2)}')"


@compiles(json_member, "mysql")
@compiles(json_member, "mariadb")
def _json_member_mysql(element: json_member, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _json_parts(element, compiler, **kw)  # type: ignore[arg-type]
    return f"JSON_UNQUOTE(JSON_EXTRACT({column}, {_member_path_literal(key)}))"


class epoch_ms_between(FunctionElement[Any]):  # noqa: N801
    type = sa.Float()
    name = "epoch_ms_between"
    inherit_cache = True


@compiles(epoch_ms_between)
def _ms_between_default(element: epoch_ms_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) * 1000.0)"


@compiles(epoch_ms_between, "duckdb")
def _ms_between_duckdb(element: epoch_ms_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(date_diff('millisecond', {start}, {end}) AS DOUBLE)"


@compiles(epoch_ms_between, "sqlite")
def _ms_between_sqlite(element: epoch_ms_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400000.0)"


@compiles(epoch_ms_between, "mysql")
@compiles(epoch_ms_between, "mariadb")
def _ms_between_mysql(element: epoch_ms_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000.0)"


def execute(conn: Connection, statement: Executable) -> CursorResult[Any]:
    """Run a warehouse query whose values are in the statement (no separate parameters).

    DuckDB's Python client imports pandas and numpy the first time a statement arrives with
    parameters (to see whether a value is a DataFrame): ~0.4 s and ~50 MB in a process that did not
    need them. On DuckDB the values are therefore rendered into the SQL by SQLAlchemy's literal
    renderer (quotes escaped per dialect) and the text is run without parameters. Its rows carry
    the driver's own Python types: callers convert by position, as they do on every backend.
    """
    if conn.dialect.name != "duckdb":
        return conn.execute(statement)
    sql = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})  # type: ignore[attr-defined]
    return conn.exec_driver_sql(str(sql))


_HASH_AGGREGATION = ("SET enable_sort = off", "SET work_mem = '64MB'")
"""PostgreSQL session settings for ftready's GROUP BY queries. Without extended statistics the
planner estimates the groups of (workload, model, prompt version, day, reason) as about the rows
(it multiplies the columns' distinct counts), so it sorts every row of a chunk by its text keys
under the collation, on disk at the default 4MB work_mem, then aggregates the sorted runs. The groups
are in fact few (workloads × models × days), and a hash aggregate reads each row once: a month of
the benchmark's 10M-row table took 1.9 to 2.4 s sorted and 1.5 s hashed (bench/RESULTS.md).
`enable_sort = off` only discourages a sort where another plan exists (a keyset page without an
index still sorts); 64MB holds a month's hash table, and PostgreSQL 13+ spills a hash aggregate
that outgrows it (work_mem × hash_mem_multiplier) to disk instead of growing, hence the version
check. Both are session settings: nothing changes on the server."""


def prepare_engine(engine: Engine, query_timeout: timedelta | None, *, duckdb_memory_limit: str | None = None) -> None:
    """Put every new connection in UTC and, where the database supports it, a statement timeout
    (and, on PostgreSQL, JIT compilation off and `_HASH_AGGREGATION`; on DuckDB, which runs in this
    process, a memory limit)."""
    backend = engine.dialect.name
    timeout_ms = int(query_timeout.total_seconds() * 1000) if query_timeout else None

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        statements: list[str] = []
        if backend == "postgresql":
            statements.append("SET TIME ZONE 'UTC'")
            version = _server_version(dbapi_conn)
            if version >= 110000:
                # JIT compiles the histogram's 23 CASE sums anew for every chunk query: seconds each,
                # more than it saves on a chunk's rows (measured in bench/RESULTS.md).
                statements.append("SET jit = off")
            if version >= 130000:
                statements.extend(_HASH_AGGREGATION)
            if timeout_ms:
                statements.append(f"SET statement_timeout = {timeout_ms}")
        elif backend in ("mysql", "mariadb"):
            statements.append("SET time_zone = '+00:00'")
            if timeout_ms:
                is_mariadb = "mariadb" in str(getattr(dbapi_conn, "get_server_info", lambda: "")()).lower()
                statements.append(
                    f"SET SESSION max_statement_time = {timeout_ms / 1000:.3f}"
                    if is_mariadb
                    else f"SET SESSION max_execution_time = {timeout_ms}"
                )
        elif backend == "duckdb":
            statements.append("SET TimeZone = 'UTC'")
            if duckdb_memory_limit:  # validated by settings: digits and a unit
                statements.append(f"SET memory_limit = '{duckdb_memory_limit}'")
        elif backend == "sqlite":
            # A byte sequence that is not UTF-8 must not abort the whole query: decode it lossily.
            dbapi_conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
        if not statements:
            return
        cursor = dbapi_conn.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        if backend == "postgresql":
            dbapi_conn.commit()


def _server_version(dbapi_conn: Any) -> int:
    """PostgreSQL's server_version_num from the driver (psycopg 3 or psycopg2), 0 when unknown."""
    info = getattr(dbapi_conn, "info", None)
    return int(getattr(info, "server_version", None) or getattr(dbapi_conn, "server_version", 0) or 0)


def uses_text_timestamps(engine: Engine) -> bool:
    """SQLite keeps timestamps as ISO text: bounds are bound as 'YYYY-MM-DD' strings there."""
    return engine.dialect.name == "sqlite"
