"""Benchmark call tables, generated inside the warehouse (no rows cross the wire while building).

A table per size lives in the schema `ftready_bench`: `calls_1m`, `calls_10m`, ... in the native
layout (`NATIVE_COLUMNS`, as in the tests). Rows cover 13 months up to `NOW` with realistic skew:

- time: traffic grows 4× over the 13 months; rows are stored in time order, as an append-only
  log table is (so `created_at` and `loaded_at` are physically correlated, like a real one);
- workloads: 50, Zipf-like (the biggest takes ~21 % of the calls, the smallest ~0.8 %);
- models: 15 overall, each workload on 3 of them (a primary ~58 %, two others);
- prompt versions: one per workload at a time, a new one every 30 to 150 days;
- latency: log-normal per model; 2 % errors; 70 % of calls without a provided cost;
  10 % staging traffic and 10 % non-LLM spans (filtered out by the configured source).

PostgreSQL builds with `generate_series` in one INSERT (so the heap is in time order), then indexes
`created_at` and `loaded_at` (the indexes README "Indexes for incremental syncs" recommends); DuckDB builds from `range()`.
A table is reused when its recorded generator version and row count match (`--rebuild` forces).
Appended rows for the incremental benchmark get `call_id` > the table's size and are removed again.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SCHEMA = "ftready_bench"
GENERATOR_VERSION = 2
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
"""The benchmark's clock: tables end here, so they stay valid (and reusable) on any later day."""
SPAN_DAYS = 395  # 13 months
START = (NOW - timedelta(days=SPAN_DAYS)).replace(tzinfo=None)
INCREMENT_NOW = NOW + timedelta(days=1)
"""The clock of the incremental sync: a day later, after 1 % new rows arrived."""
BACKFILL_DAYS = 400
LOOKBACK_DAYS = 3

WORKLOADS: tuple[str, ...] = (
    "support-triage", "ticket-summary", "claims-extraction", "search-rerank", "kb-answer",
    "email-draft", "contract-review", "invoice-parse", "code-review", "sql-assistant",
    "chat-concierge", "product-tagging", "review-moderation", "sentiment", "translation",
    "meeting-notes", "lead-scoring", "fraud-narrative", "clinical-coding", "kyc-check",
    "returns-agent", "faq-bot", "resume-screen", "doc-classify", "entity-linking",
    "pii-scrub", "ad-copy", "seo-meta", "churn-reason", "call-summary",
    "policy-qa", "tax-assist", "onboarding-guide", "release-notes", "alert-triage",
    "log-explain", "spec-writer", "test-gen", "catalog-enrich", "recipe-gen",
    "travel-plan", "legal-memo", "grant-review", "survey-coding", "quote-builder",
    "shipping-eta", "warranty-claims", "hr-helpdesk", "it-helpdesk", "compliance-scan",
)  # fmt: skip
MODELS: tuple[str, ...] = (
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "gpt-4-turbo",
    "gpt-3.5-turbo", "claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-opus", "gemini-1.5-pro",
    "gemini-1.5-flash", "mistral-large", "llama-3.1-70b",
)  # fmt: skip

NATIVE_COLUMNS = {
    "id": "call_id", "timestamp": "created_at", "workload": "feature", "model": "model",
    "input_tokens": "prompt_tokens", "output_tokens": "completion_tokens", "latency_ms": "latency_ms",
    "status": "status", "cost_usd": "cost", "prompt_version": "prompt_version", "operation": "operation",
    "ingested_at": "loaded_at",
}  # fmt: skip
"""The mapping of tests/factories.py (the smoke test checks they agree), kept here so the
benchmark's child processes never import pandas through the test factories."""

COLUMN_TYPES: tuple[tuple[str, str, str], ...] = (  # name, PostgreSQL type, DuckDB type
    ("call_id", "bigint", "BIGINT"),
    ("created_at", "timestamp", "TIMESTAMP"),
    ("feature", "text", "VARCHAR"),
    ("model", "text", "VARCHAR"),
    ("prompt_tokens", "integer", "INTEGER"),
    ("completion_tokens", "integer", "INTEGER"),
    ("latency_ms", "double precision", "DOUBLE"),
    ("status", "text", "VARCHAR"),
    ("cost", "double precision", "DOUBLE"),
    ("prompt_version", "text", "VARCHAR"),
    ("environment", "text", "VARCHAR"),
    ("operation", "text", "VARCHAR"),
    ("loaded_at", "timestamp", "TIMESTAMP"),
)


@dataclass(frozen=True)
class BenchTable:
    backend: str  # postgresql | duckdb
    url: str
    rows: int

    @property
    def name(self) -> str:
        return table_name(self.rows)

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"


def table_name(rows: int) -> str:
    """calls_1m, calls_10m, calls_20k, calls_1500."""
    for unit, size in (("m", 1_000_000), ("k", 1_000)):
        if rows >= size and rows % size == 0:
            return f"calls_{rows // size}{unit}"
    return f"calls_{rows}"


def duckdb_url(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"duckdb:///{data_dir / 'warehouse.duckdb'}"


def source_config(table: BenchTable, *, ingested_at: bool = True) -> dict[str, Any]:
    """The ftready source for a bench table: the native mapping, production LLM calls only."""
    columns = dict(NATIVE_COLUMNS)
    if not ingested_at:
        del columns["ingested_at"]
    return {
        "name": "bench",
        "url": table.url,
        "calls": {
            "table": table.qualified,
            "columns": columns,
            "filters": [{"column": "environment", "op": "=", "value": "production"}],
        },
        "backfill_days": BACKFILL_DAYS,
        "lookback_days": LOOKBACK_DAYS,
    }


# -- generation -----------------------------------------------------------------------------------


def _sql_list(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _interval(backend: str, seconds: str) -> str:
    if backend == "postgresql":
        return f"make_interval(secs => {seconds})"
    return f"to_microseconds(CAST(({seconds}) * 1000000 AS BIGINT))"


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.replace(tzinfo=None):%Y-%m-%d %H:%M:%S}'"


def _series(conn: sa.Connection, backend: str, first: int, last: int) -> str:
    """The FROM item numbering rows first..last as `g.i`. DuckDB runs `range()` on one thread but
    scans a table on all of them, so it numbers the rows into a temporary table first."""
    if backend == "postgresql":
        return f"generate_series({first}, {last}) AS g(i)"
    conn.exec_driver_sql(f"CREATE OR REPLACE TEMP TABLE bench_seq AS SELECT i FROM range({first}, {last + 1}) AS r(i)")
    return "bench_seq AS g"


def _select(backend: str, series: str, day_expr: str, loaded_expr: str) -> str:
    """Rows numbered by `series`. `day_expr` is the fractional day since START, from `i` and a
    uniform draw `r0`; `loaded_expr` is loaded_at, from `s.ts` and a uniform draw `s.u3`."""
    return f"""
SELECT
  s.i AS call_id,
  s.ts AS created_at,
  ({_sql_list(WORKLOADS)})[s.w + 1] AS feature,
  ({_sql_list(MODELS)})[s.mi + 1] AS model,
  CAST(100 + floor(4000 * s.u2 * s.u2) AS INTEGER) AS prompt_tokens,
  CAST(10 + floor(600 * random()) AS INTEGER) AS completion_tokens,
  floor(10 * exp(6.0 + 0.1 * s.mi + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))) / 10
    AS latency_ms,
  CASE WHEN s.u3 < 0.02 THEN 'error' ELSE 'ok' END AS status,
  CASE WHEN s.u3 > 0.7 THEN s.u2 * 0.01 END AS cost,
  'v' || CAST(1 + floor(s.d / (30 + mod(s.w * 13, 120))) AS INTEGER) AS prompt_version,
  CASE WHEN s.u2 < 0.9 THEN 'production' ELSE 'staging' END AS environment,
  CASE WHEN s.u < 0.9 THEN 'chat' WHEN s.u < 0.95 THEN 'invoke_agent' ELSE 'text_completion' END AS operation,
  {loaded_expr} AS loaded_at
FROM (
  SELECT i, d, {_timestamp(START)} + {_interval(backend, "d * 86400")} AS ts, w,
    mod(w * 7 + m, {len(MODELS)}) AS mi, u, u2, u3
  FROM (
    SELECT i, {day_expr} AS d,
      CAST(floor({len(WORKLOADS)} * power(random(), 2.5)) AS INTEGER) AS w,
      CAST(floor(3 * random() * random()) AS INTEGER) AS m,
      random() AS u, random() AS u2, random() AS u3
    FROM (SELECT i, random() AS r0 FROM {series}) AS numbered
  ) AS drawn
) AS s"""


def _base_select(backend: str, rows: int, series: str) -> str:
    # Traffic grows linearly 1 → 4 over the span: the inverse CDF of p(f) ∝ 1 + 3f on [0, 1],
    # applied to (i - r0) / rows so rows stay in time order.
    day_expr = f"{SPAN_DAYS} * (sqrt(1 + 15 * ((i - r0) / {float(rows)})) - 1) / 3"
    loaded = "s.ts + " + _interval(backend, "1 + 600 * s.u3")
    return _select(backend, series, day_expr, loaded)


def _increment_select(backend: str, series: str) -> str:
    """New rows: calls of the last 2 days and the new day, loaded in the hour before INCREMENT_NOW."""
    day_expr = f"{SPAN_DAYS - 2} + 2.96 * r0"
    loaded = f"{_timestamp(INCREMENT_NOW - timedelta(hours=1))} + " + _interval(backend, "3000 * s.u3")
    return _select(backend, series, day_expr, loaded)


def _create_table_sql(backend: str, qualified: str) -> str:
    position = 1 if backend == "postgresql" else 2
    columns = ", ".join(f"{spec[0]} {spec[position]}" for spec in COLUMN_TYPES)
    return f"CREATE TABLE {qualified} ({columns})"


def _engine(table: BenchTable) -> sa.Engine:
    engine = sa.create_engine(table.url)
    if table.backend == "duckdb":

        @sa.event.listens_for(engine, "connect")
        def _quiet(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("SET enable_progress_bar = false")

    return engine


def ensure_table(table: BenchTable, *, rebuild: bool = False) -> float | None:
    """Build the table unless an intact one exists; the build time in seconds, or None if reused."""
    engine = _engine(table)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA}.bench_tables "
                "(name VARCHAR(64) PRIMARY KEY, row_count BIGINT NOT NULL, generator INTEGER NOT NULL)"
            )
        if not rebuild and _intact(engine, table):
            return None
        started = time.perf_counter()
        _build(engine, table)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def _intact(engine: sa.Engine, table: BenchTable) -> bool:
    with engine.begin() as conn:
        recorded = conn.exec_driver_sql(
            f"SELECT row_count, generator FROM {SCHEMA}.bench_tables WHERE name = '{table.name}'"
        ).first()
    if recorded is None or tuple(recorded) != (table.rows, GENERATOR_VERSION):
        return False
    remove_appended(table)  # left behind by an interrupted run
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM {table.qualified}").scalar() == table.rows


def _build(engine: sa.Engine, table: BenchTable) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {SCHEMA}.bench_tables WHERE name = '{table.name}'")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.qualified}")
        conn.exec_driver_sql(_create_table_sql(table.backend, table.qualified))
    with engine.begin() as conn:
        if table.backend == "postgresql":  # generate_series materialises its rows: keep them in memory
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        series = _series(conn, table.backend, 1, table.rows)
        conn.exec_driver_sql(f"INSERT INTO {table.qualified} {_base_select(table.backend, table.rows, series)}")
    if table.backend == "postgresql":
        with engine.begin() as conn:
            for column in ("created_at", "loaded_at"):
                conn.exec_driver_sql(f"CREATE INDEX {table.name}_{column} ON {table.qualified} ({column})")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {table.qualified}")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {SCHEMA}.bench_tables (name, row_count, generator) "
            f"VALUES ('{table.name}', {table.rows}, {GENERATOR_VERSION})"
        )


@contextmanager
def with_appended_rows(table: BenchTable, work: Path, fraction: float = 0.01) -> Iterator[tuple[BenchTable, int]]:
    """The table with `fraction` × rows new calls, for B2, and how many; afterwards as it was built.

    On PostgreSQL the rows are appended, then deleted and the table vacuumed. On DuckDB they go to a
    copy of the database file, deleted afterwards: rows deleted from a DuckDB table stay in its
    row groups, and the next run's 10M backfill of the table peaked at ~207 MB instead of ~174 MB.
    """
    target, copy = table, work / "warehouse-b2.duckdb"
    if table.backend == "duckdb":
        built = sa.make_url(table.url).database
        for suffix in ("", ".wal"):  # the write-ahead log too, if changes are not checkpointed yet
            if Path(f"{built}{suffix}").exists():
                shutil.copyfile(f"{built}{suffix}", f"{copy}{suffix}")
        target = BenchTable(table.backend, f"duckdb:///{copy}", table.rows)
    try:
        yield target, append_rows(target, fraction)
    finally:
        if target is table:
            remove_appended(table)
        else:
            for suffix in ("", ".wal"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)


def append_rows(table: BenchTable, fraction: float = 0.01) -> int:
    """Append `fraction` × rows new calls (call_id > rows); the number appended."""
    count = max(1, round(table.rows * fraction))
    engine = _engine(table)
    try:
        with engine.begin() as conn:
            series = _series(conn, table.backend, table.rows + 1, table.rows + count)
            conn.exec_driver_sql(f"INSERT INTO {table.qualified} {_increment_select(table.backend, series)}")
    finally:
        engine.dispose()
    return count


def remove_appended(table: BenchTable) -> None:
    """Delete the rows `append_rows` added, so the table is back to its built state."""
    engine = _engine(table)
    try:
        with engine.begin() as conn:
            deleted = conn.exec_driver_sql(f"DELETE FROM {table.qualified} WHERE call_id > {table.rows}").rowcount
        if deleted and table.backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM ANALYZE {table.qualified}")
    finally:
        engine.dispose()
