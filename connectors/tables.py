"""Reflecting warehouse tables and resolving configured column names, with errors that say where."""

from __future__ import annotations

import difflib

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import NoSuchTableError, ProgrammingError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from monitor.errors import SourceError, first_line


def split_table_name(table: str, schema: str | None) -> tuple[str | None, str]:
    """`analytics.llm_calls` → (analytics, llm_calls). With an explicit `schema:` the name is taken whole."""
    if schema is not None or "." not in table:
        return schema, table
    head, _, tail = table.partition(".")
    return head, tail


def reflect_table(conn: Connection, table: str, schema: str | None, source: str, key: str) -> sa.Table:
    """The table as the database describes it; names are always quoted identifiers, never SQL text."""
    schema_name, table_name = split_table_name(table, schema)
    try:
        if conn.dialect.name == "duckdb":
            return _reflect_duckdb(conn, table_name, schema_name)
        return _reflect_columns(conn, table_name, schema_name)
    except NoSuchTableError:
        qualified = f"{schema_name}.{table_name}" if schema_name else table_name
        raise SourceError(
            f"source {source!r}: table {qualified!r} (from {key}) does not exist or is not visible "
            "to this user; check the name and the SELECT grant"
        ) from None
    except SQLAlchemyError as exc:
        raise SourceError(f"source {source!r}: cannot read the definition of {table!r}: {first_line(exc)}") from exc


def _reflect_columns(conn: Connection, table: str, schema: str | None) -> sa.Table:
    """Only the columns and their types: a full reflection also reads keys, indexes, constraints
    and comments, a handful of catalog queries more per sync (most of an incremental sync's fixed
    cost on PostgreSQL)."""
    columns = sa.inspect(conn).get_columns(table, schema=schema)
    if not columns:
        raise NoSuchTableError(table)
    return sa.Table(table, sa.MetaData(), *(sa.Column(c["name"], c["type"]) for c in columns), schema=schema)


def column_for(table: sa.Table, name: str, key: str, source: str) -> ColumnElement:
    if name in table.c:
        return table.c[name]
    close = difflib.get_close_matches(name, list(table.c.keys()), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; columns are: {', '.join(table.c.keys())}"
    raise SourceError(f"source {source!r}: {key}: table {table.name!r} has no column {name!r}{hint}")


_DUCKDB_TYPES: tuple[tuple[str, type[sa.types.TypeEngine]], ...] = (
    ("TIMESTAMP", sa.DateTime), ("DATE", sa.Date), ("INT", sa.BigInteger), ("DOUBLE", sa.Float),
    ("FLOAT", sa.Float), ("REAL", sa.Float), ("DECIMAL", sa.Numeric), ("BOOL", sa.Boolean), ("JSON", sa.JSON),
)  # fmt: skip


def _reflect_duckdb(conn: Connection, table: str, schema: str | None) -> sa.Table:
    """duckdb-engine's inherited PostgreSQL reflection queries catalogs DuckDB lacks; `DESCRIBE`
    answers the only question we ask, which columns of which type, about the very relation the
    sync's queries will read (the same name resolution). On a newly opened database it takes ~1 ms
    where the information schema took ~10 ms, its views being bound on first use (bench/RESULTS.md)."""
    preparer = conn.dialect.identifier_preparer
    name = ".".join(preparer.quote_identifier(part) for part in (schema, table) if part is not None)
    try:
        rows = conn.exec_driver_sql(f"DESCRIBE {name}").all()
    except ProgrammingError as exc:
        if str(exc.orig).startswith("Catalog Error"):
            raise NoSuchTableError(table) from None
        raise
    columns = []
    for column_name, data_type, *_rest in rows:
        kind = next((t for prefix, t in _DUCKDB_TYPES if prefix in str(data_type).upper()), sa.String)
        columns.append(sa.Column(column_name, kind()))
    return sa.Table(table, sa.MetaData(), *columns, schema=schema)
