"""File sources: Parquet, CSV or JSON-lines files read through DuckDB as just another SQL source.

`path:` is a glob (or a `{table: glob}` mapping when a preset reads several tables). The engine is
an in-memory DuckDB database in which every new connection gets one view per table, named as the
config names the table (`calls.table`, `examples.table`), over `read_parquet` / `read_csv_auto` /
`read_json_auto` chosen by the files' extension. Everything after that is the warehouse connector
unchanged: the same reflection, presets and pushdown queries, run by DuckDB over the files.

Nested columns (STRUCT, MAP, LIST: OTel attributes, Langfuse metadata, Helicone properties in
Parquet or JSON-lines) are exposed as JSON, so presets read their keys with the same `json_text`
they use on a database; text columns holding ISO-8601 timestamps (judged on a sample) as TIMESTAMP.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.tables import split_table_name
from monitor.errors import SourceError, first_line
from monitor.settings import SourceSettings

READERS = {
    ".parquet": "read_parquet", ".pq": "read_parquet",
    ".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".txt": "read_csv_auto",
    ".jsonl": "read_json_auto", ".ndjson": "read_json_auto", ".json": "read_json_auto",
}  # fmt: skip
COMPRESSIONS = (".gz", ".zst")
_NESTED = ("STRUCT", "MAP", "UNION")


def file_views(source: SourceSettings) -> dict[tuple[str | None, str], str]:
    """(schema, view name) → file glob, for every table the source reads."""
    if source.path is None:
        raise SourceError(f"source {source.name!r} has no `path`")
    if isinstance(source.path, dict):
        return {split_table_name(name, None): pattern for name, pattern in source.path.items()}
    views: dict[tuple[str | None, str], str] = {}
    for section in (source.calls, source.examples):
        if section is not None:
            views[split_table_name(section.table, section.schema_)] = source.path
    return views


def reader_for(pattern: str, source: str) -> str:
    """The DuckDB table function for a glob, by its extension or else that of the files it matches."""
    suffix = _suffix(pattern)
    if suffix in READERS:
        return READERS[suffix]
    suffixes = {_suffix(f) for f in _matches(pattern)}
    if len(suffixes) == 1 and next(iter(suffixes)) in READERS:
        return READERS[suffixes.pop()]
    raise SourceError(
        f"source {source!r}: path {pattern!r}: cannot tell the file format "
        f"(found {sorted(s or '(none)' for s in suffixes)}); use a glob ending in "
        f"{', '.join(sorted(READERS))}, optionally compressed ({', '.join(COMPRESSIONS)})"
    )


def resolve_pattern(pattern: str, source: str) -> str:
    """The glob DuckDB reads: `~` expanded, a directory read whole; a local glob must match a file."""
    if "://" in pattern:  # s3://, https://: DuckDB resolves it (httpfs)
        return pattern
    expanded = os.path.expanduser(pattern)
    if Path(expanded).is_dir():
        expanded = os.path.join(expanded, "*")
    if not _matches(expanded):
        raise SourceError(f"source {source!r}: path {pattern!r} matches no files")
    return expanded


def create_file_engine(source: SourceSettings) -> Engine:
    """An in-memory DuckDB engine whose connections all carry the source's views."""
    try:
        import duckdb  # noqa: F401  (the driver duckdb-engine needs)
    except ImportError:
        raise SourceError(
            f"source {source.name!r}: file sources are read through DuckDB, which is not installed; "
            "pip install 'ftready[duckdb]'"
        ) from None
    views = {}
    for (schema, name), pattern in file_views(source).items():
        resolved = resolve_pattern(pattern, source.name)
        views[(schema, name)] = (reader_for(resolved, source.name), resolved, pattern)
    engine = sa.create_engine("duckdb:///:memory:")
    preparer = engine.dialect.identifier_preparer
    quote_text = sa.String().literal_processor(engine.dialect)
    assert quote_text is not None

    @sa.event.listens_for(engine, "connect")
    def _create_views(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            for (schema, name), (reader, resolved, pattern) in views.items():
                relation = f"{reader}({quote_text(resolved)}, union_by_name = true)"
                if reader == "read_csv_auto":
                    relation = _sniffed_csv(cursor, resolved, quote_text) or relation
                qualified = preparer.quote(name)
                if schema is not None:
                    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {preparer.quote_schema(schema)}")
                    qualified = f"{preparer.quote_schema(schema)}.{qualified}"
                try:
                    cursor.execute(f"DESCRIBE SELECT * FROM {relation}")
                    described = [(str(row[0]), str(row[1]).upper()) for row in cursor.fetchall()]
                    replace = [f"to_json({preparer.quote(c)}) AS {preparer.quote(c)}" for c, t in described if _is_nested(t)]
                    replace += [
                        f"TRY_CAST({preparer.quote(c)} AS TIMESTAMP) AS {preparer.quote(c)}"
                        for c in _text_timestamps(cursor, relation, [c for c, t in described if t == "VARCHAR"], preparer)
                    ]
                    columns = f"* REPLACE ({', '.join(replace)})" if replace else "*"
                    cursor.execute(f"CREATE OR REPLACE VIEW {qualified} AS SELECT {columns} FROM {relation}")
                except Exception as exc:  # duckdb.Error: a file that is not what its name says
                    raise SourceError(
                        f"source {source.name!r}: cannot read {pattern!r} with {reader}: {first_line(exc)}"
                    ) from None
        finally:
            cursor.close()

    return engine


def _suffix(path: str) -> str:
    lowered = path.lower()
    for compression in COMPRESSIONS:
        lowered = lowered.removesuffix(compression)
    return Path(lowered).suffix


def _matches(pattern: str) -> list[str]:
    return [f for f in glob.glob(pattern, recursive=True) if os.path.isfile(f)]


def _sniffed_csv(cursor: Any, pattern: str, quote_text: Any) -> str | None:
    """`read_csv(glob, auto_detect=false, <options sniffed once>)` when every file has the same layout.
    DuckDB otherwise re-sniffs the CSV dialect on every query, which costs far more than reading
    a small file; files that differ keep `read_csv_auto(..., union_by_name = true)`."""
    files = sorted(_matches(pattern)) if "://" not in pattern else []
    if not files or any(_suffix(f) != ".csv" or f.lower().endswith(COMPRESSIONS) for f in files):
        return None
    prompts = set()
    for file in files:
        cursor.execute(f"SELECT Prompt FROM sniff_csv({quote_text(file)})")
        prompt = str(cursor.fetchone()[0]).strip().removesuffix(";")
        prefix = f"FROM read_csv({quote_text(file)}, "
        if not prompt.startswith(prefix):
            return None
        prompts.add(prompt.removeprefix(prefix))
    if len(prompts) != 1:
        return None
    return f"read_csv({quote_text(pattern)}, {prompts.pop()}"


def _text_timestamps(cursor: Any, relation: str, columns: list[str], preparer: Any) -> list[str]:
    """Text columns whose values are ISO-8601 timestamps (JSON readers leave some spellings as text),
    judged on a sample, so they compare and group as timestamps."""
    if not columns:
        return []
    checks = []
    for column in columns:
        quoted = preparer.quote(column)
        checks.append(
            f"count({quoted}) > 0 AND count({quoted}) = count(TRY_CAST({quoted} AS TIMESTAMP)) "
            f"AND bool_and(regexp_matches({quoted}, '^\\d{{4}}-\\d{{2}}-\\d{{2}}[ T]\\d{{2}}:\\d{{2}}'))"
        )
    cursor.execute(f"SELECT {', '.join(checks)} FROM (SELECT * FROM {relation} LIMIT 1000)")
    flags = cursor.fetchone()
    return [column for column, flag in zip(columns, flags, strict=True) if flag]


def _is_nested(data_type: str) -> bool:
    return data_type.startswith(_NESTED) or data_type.endswith("]")
