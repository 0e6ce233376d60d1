"""The SQL warehouse connector: any SQLAlchemy URL, read-only, aggregation pushed down.

Call logs never cross the wire row by row: `rollups()` sends one `GROUP BY workload, model,
prompt_version, day` query per chunk of days, with counts, token sums, provided-cost sums and the
fixed latency histogram as `SUM(CASE WHEN latency < edge ...)`. Rows that break the contract
(negative tokens or latency) are grouped under a `reason` so they are counted, never summed.
Labeled examples are pulled in keyset pages ordered by (updated_at or created_at, id).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from datetime import date, datetime, time
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from connectors.dialects import execute, prepare_engine, utc_day, uses_text_timestamps
from connectors.presets import CallExprs, CallsContext, ExampleExprs, call_exprs, example_exprs
from connectors.tables import reflect_table
from monitor.errors import SourceError, first_line
from monitor.gc_pause import gc_paused
from monitor.histogram import BUCKETS, EDGES_MS, buckets_from_cumulative
from monitor.settings import SourceSettings, memory_bytes

UNKNOWN_MODEL = "unknown"
# A row whose tokens, latency or cost is not a plausible number (NaN, infinite, negative cost, or
# beyond these bounds) breaks the contract: it is quarantined by reason, never summed. Summed, one
# such row turns a day's totals into NaN or overflows them, and the whole sync fails with it.
MAX_TOKENS = 1_000_000_000  # per call
MAX_LATENCY_MS = 1_000_000_000  # about 11.6 days
MAX_COST_USD = 1_000_000  # per call
# a statement timeout: PostgreSQL query_canceled, MariaDB max_statement_time, MySQL max_execution_time
_TIMEOUT_CODES = frozenset({"57014", 1969, 3024})
EPOCH = date(1970, 1, 1)  # calls timestamped before this are quarantined as implausible_timestamp
_DUCKDB_EVICT_TO = "8MB"  # the momentary DuckDB memory limit that empties its block cache after a chunk
_DUCKDB_WORKING_MB = 16  # a DuckDB query's first memory limit (`Warehouse._working_limit`), at least
_DUCKDB_WORKING_MB_PER_THREAD = 4
_LIMIT_SET = "ftready_duckdb_memory_limit"  # Connection.info: the memory limit ftready last set on it
_ROLLUP_COLUMNS = (
    "workload", "model", "prompt_version", "day", "reason", "calls", "errors", "input_tokens", "output_tokens",
    "cost_usd", "cost_calls", "uncosted_input_tokens", "uncosted_output_tokens",
)  # fmt: skip


class RollupRow(NamedTuple):
    """One group of the pushdown query. `reason` is set for groups of rows that break the contract.

    A named tuple, not a dataclass: a backfill builds tens of thousands of them, and the sync takes
    `calls` to `buckets` (named and ordered as the store's value columns) as they are."""

    workload: str | None
    model: str
    prompt_version: str
    day: date | None
    reason: str | None
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    cost_calls: int
    uncosted_input_tokens: int
    uncosted_output_tokens: int
    latency_count: int
    buckets: tuple[int, ...]  # latency histogram, one count per `histogram.BUCKET_COLUMNS`


class Warehouse:
    """One configured source. Create per sync; `close()` releases its connections."""

    def __init__(self, source: SourceSettings, engine: Engine | None = None) -> None:
        self.source = source
        self.name = source.name
        self.engine = engine or create_source_engine(source)
        self._calls: tuple[sa.Table, CallExprs] | None = None
        self._examples: sa.Table | None = None
        self._example_exprs: ExampleExprs | None = None
        self._working: str | None = None  # DuckDB's memory limit for the next query (`_working_limit`)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SourceError:
            raise
        except OperationalError as exc:
            raise SourceError(self._operational_problem(exc)) from exc
        except ProgrammingError as exc:
            raise SourceError(f"source {self.name!r}: the warehouse rejected a query: {first_line(exc)}") from exc
        except SQLAlchemyError as exc:
            raise SourceError(f"source {self.name!r}: {first_line(exc)}") from exc

    def _operational_problem(self, exc: OperationalError) -> str:
        """What an OperationalError means for the operator: a statement timeout, a table or column that
        went away while syncing (SQLite reports those as operational errors), else the connection."""
        text = first_line(exc)
        orig = exc.orig
        codes = {getattr(orig, "sqlstate", None), getattr(orig, "pgcode", None)}  # psycopg 3, psycopg2
        codes.add(orig.args[0] if orig is not None and orig.args else None)  # PyMySQL: (code, message)
        if codes & _TIMEOUT_CODES:
            limit = self.source.query_timeout
            return (
                f"source {self.name!r}: a query ran longer than the statement timeout"
                f"{f' (query_timeout: {limit.total_seconds():g}s)' if limit else ''}: {text}; "
                "raise query_timeout, or sync smaller chunks of days (chunk: week or day)"
            )
        if "Out of Memory Error" in text and self.engine.dialect.name == "duckdb":
            return (
                f"source {self.name!r}: DuckDB needed more than its memory limit "
                f"(duckdb_memory_limit: {self.source.duckdb_memory}): {text}; raise duckdb_memory_limit"
            )
        if text.startswith(("no such table", "no such column")):
            return f"source {self.name!r}: the warehouse rejected a query: {text} (renamed or dropped while syncing?)"
        return (
            f"source {self.name!r} ({self.source.display_location}): {text}; "
            "check that the warehouse is reachable and the credentials are right"
        )

    # -- calls --------------------------------------------------------------------------------

    def calls(self, conn: Connection) -> tuple[sa.Table, CallExprs]:
        if self._calls is None:
            settings = self.source.calls
            if settings is None:
                raise SourceError(f"source {self.name!r} has no `calls:` section")
            table = reflect_table(conn, settings.table, settings.schema_, self.name, "calls.table")
            self._calls = (table, call_exprs(table, settings, self.name))
        return self._calls

    @property
    def query_concurrency(self) -> int:
        """How many chunk queries a sync keeps running at once: the source's `concurrent_queries`,
        else 1 on DuckDB, which already spreads one query over every core inside this process and
        whose memory limit, lowered between queries to empty its cache (`_release_duckdb_cache`), is
        shared by all its connections (settings refuse more there), and 2 elsewhere, as a server (or
        SQLite, which releases the GIL while it steps) runs each query on one core."""
        return self.source.concurrent_queries or (1 if self.source.runs_on_duckdb else 2)

    @property
    def has_ingested_at(self) -> bool:
        return self.source.calls is not None and "ingested_at" in self.source.calls.columns

    def _day_range(self, exprs: CallExprs, start: date, end: date) -> list[ColumnElement]:
        """Conditions for start ≤ timestamp < end (days), bound in the form the column compares with."""
        return [exprs.timestamp >= self._bound(start), exprs.timestamp < self._bound(end)]

    def _bound(self, day: date) -> Any:
        if uses_text_timestamps(self.engine):
            return sa.literal(day.isoformat(), sa.String)
        return sa.literal(datetime.combine(day, time()), sa.DateTime)

    def rollup_query(self, conn: Connection, start: date, end: date) -> sa.Select:
        _table, e = self.calls(conn)
        zero = sa.literal(0)
        day = utc_day(e.timestamp)
        # Grouped expressions hold no bound parameters: PostgreSQL matches GROUP BY expressions
        # by text, and two parameters are two different expressions to it.
        def too_big(expr: ColumnElement, bound: int) -> ColumnElement:
            # also true for NaN (PostgreSQL and DuckDB sort NaN above every number) and for text in a
            # numeric column on SQLite (text sorts above numbers there)
            return expr > sa.literal_column(str(bound))

        checks = [
            (e.input_tokens, lambda x: x < 0, "negative_tokens"),
            (e.output_tokens, lambda x: x < 0, "negative_tokens"),
            (e.latency_ms, lambda x: x < 0, "negative_latency"),
            (e.input_tokens, lambda x: too_big(x, MAX_TOKENS), "invalid_tokens"),
            (e.output_tokens, lambda x: too_big(x, MAX_TOKENS), "invalid_tokens"),
            (e.latency_ms, lambda x: too_big(x, MAX_LATENCY_MS), "invalid_latency"),
            (e.cost_usd, lambda x: sa.or_(x < 0, too_big(x, MAX_COST_USD)), "invalid_cost"),
        ]
        invalid = [(test(expr), sa.literal_column(f"'{name}'")) for expr, test, name in checks if expr is not None]
        reason = sa.case(*invalid, else_=sa.null()) if invalid else sa.null()
        prompt_version = e.prompt_version if e.prompt_version is not None else sa.literal_column("''")
        group_keys = [k for k in (e.workload, e.model, prompt_version, day, reason) if not _is_constant(k)]

        # SQLite's SUM raises "integer overflow" on a group of huge (quarantined) values, failing the
        # query; TOTAL, its float sum, never raises and is exact below 2**53 (far above any valid
        # group). Elsewhere SUM widens: PostgreSQL numeric, MySQL DECIMAL, DuckDB HUGEINT.
        add_up = sa.func.total if self.engine.dialect.name == "sqlite" else sa.func.sum

        def total(expr: ColumnElement | None) -> ColumnElement:
            return sa.func.coalesce(add_up(expr), zero) if expr is not None else zero

        def uncosted(expr: ColumnElement | None) -> ColumnElement:
            if expr is None:
                return zero
            if e.cost_usd is None:
                return total(expr)
            return total(sa.case((e.cost_usd.is_(None), expr), else_=zero))

        latency_columns = []
        if e.latency_ms is not None:
            latency_columns = [sa.func.count(e.latency_ms).label("latency_count")] + [
                sa.func.count(sa.case((e.latency_ms < edge, 1))).label(f"below_{i:02d}") for i, edge in enumerate(EDGES_MS)
            ]  # COUNT, not SUM: a BIGINT everywhere (DuckDB sums integers as HUGEINT, MySQL as DECIMAL, both slow to fetch)
        return (
            sa.select(
                e.workload.label("workload"),
                e.model.label("model"),
                prompt_version.label("prompt_version"),
                day.label("day"),
                reason.label("reason"),
                sa.func.count().label("calls"),
                (sa.func.count(sa.case((e.is_error, 1))) if e.is_error is not None else zero).label("errors"),
                total(e.input_tokens).label("input_tokens"),
                total(e.output_tokens).label("output_tokens"),
                (sa.func.sum(e.cost_usd) if e.cost_usd is not None else sa.null()).label("cost_usd"),
                (sa.func.count(e.cost_usd) if e.cost_usd is not None else zero).label("cost_calls"),
                uncosted(e.input_tokens).label("uncosted_input_tokens"),
                uncosted(e.output_tokens).label("uncosted_output_tokens"),
                *latency_columns,
            )
            .where(*self._day_range(e, start, end), *e.conditions)
            .group_by(*group_keys)
        )

    @gc_paused()
    def rollups(self, conn: Connection, start: date, end: date) -> list[RollupRow]:
        """Aggregated call rows for days in [start, end), computed by the warehouse, built with the
        cyclic garbage collector paused (see `monitor.gc_pause`)."""
        return list(self._rollups(conn, start, end))

    def _rollups(self, conn: Connection, start: date, end: date) -> Iterator[RollupRow]:
        """The groups of `rollups()`, one by one.

        A chunk's groups (a few thousand at most) are fetched at once and read by position: fetching
        row by row (one driver call per row on DuckDB) and looking up 23 histogram keys by name per
        row cost more than the query itself on a fast warehouse (see bench/RESULTS.md). Each group
        costs a few microseconds here: values are read by position and built into a named tuple.
        """
        keys, rows = self._fetch(conn, self.rollup_query(conn, start, end))
        position = {name: i for i, name in enumerate(keys)}
        (workload, model, prompt_version, day, reason, calls, errors, input_tokens, output_tokens, cost_usd,
         cost_calls, uncosted_input, uncosted_output) = (position[name] for name in _ROLLUP_COLUMNS)  # fmt: skip
        latency_count = position.get("latency_count")
        below = itemgetter(*(position[f"below_{i:02d}"] for i in range(len(EDGES_MS)))) if latency_count else None
        no_latency = (0,) * BUCKETS
        for row in rows:
            if row[reason] is not None:  # bad rows are only counted: their sums may be NaN or huge
                yield RollupRow(
                    row[workload], UNKNOWN_MODEL, "", _as_date(row[day]), row[reason], int(row[calls]),
                    0, 0, 0, None, 0, 0, 0, 0, no_latency,
                )  # fmt: skip
                continue
            name, cost = row[model], row[cost_usd]
            count = int(row[latency_count] or 0) if latency_count is not None else 0
            yield RollupRow(  # by position: keyword arguments would cost more than all the int() calls
                row[workload],
                UNKNOWN_MODEL if name is None else str(name),
                str(row[prompt_version] or ""),
                _as_date(row[day]),
                None,
                int(row[calls]),
                int(row[errors] or 0),
                int(row[input_tokens] or 0),
                int(row[output_tokens] or 0),
                None if cost is None else float(cost),
                int(row[cost_calls] or 0),
                int(row[uncosted_input] or 0),
                int(row[uncosted_output] or 0),
                count,
                # each below_NN sums 0 or 1 over the group's rows: never NULL
                tuple(buckets_from_cumulative(below(row), count)) if below and count else no_latency,
            )

    def _fetch(self, conn: Connection, statement: sa.Executable) -> tuple[list[str], Sequence[sa.Row[Any]]]:
        """A query's column names and all its rows. On a DuckDB database the query runs under the
        working memory limit (`_working_limit`), raised to the configured one for this and every
        later query of the sync if DuckDB runs out of it; then its block cache is emptied."""
        working = self._working_limit(conn)
        if working is not None and conn.info.get(_LIMIT_SET) != working:
            _set_memory_limit(conn, working)
        try:
            result = execute(conn, statement)
        except OperationalError as exc:
            configured = self.source.duckdb_memory
            if working is None or working == configured or "Out of Memory Error" not in first_line(exc):
                raise
            conn.rollback()
            self._working = configured
            _set_memory_limit(conn, configured)
            result = execute(conn, statement)
        keys, rows = list(result.keys()), result.all()
        self._release_duckdb_cache(conn)
        return keys, rows

    def _working_limit(self, conn: Connection) -> str | None:
        """The memory limit a DuckDB query starts with: for a DuckDB database 16MB, or 4MB per DuckDB
        thread where that is more, never above the configured `duckdb_memory`; for `path:` files
        with a `duckdb_memory_limit`, that limit (their CSV and JSON readers need 32 MB buffers per
        thread); None where ftready sets no limit.

        DuckDB caches every table block a query reads up to its limit, though a sync reads each block
        once: under 128MB, the blocks of a month of a 10M-row table and the watermark's scan of the
        whole table made the sync's peak ~17 MB higher at 10M rows than at 1M (bench/RESULTS.md);
        under 16MB it is the same at both. What a query holds at once (a chunk's groups, a few
        blocks per thread) fits; a query that needs more gets the configured limit (`_fetch`)."""
        configured = self.source.duckdb_memory
        if configured is None or self.engine.dialect.name != "duckdb":
            return None
        if self._working is None:
            self._working = (  # the configured one on a tie
                configured if self.source.path is not None else min(configured, self._per_threads(conn), key=memory_bytes)
            )
        return self._working

    @staticmethod
    def _per_threads(conn: Connection) -> str:
        threads = int(conn.exec_driver_sql("SELECT current_setting('threads')").scalar() or 1)
        return f"{max(_DUCKDB_WORKING_MB, _DUCKDB_WORKING_MB_PER_THREAD * threads)}MB"

    def _release_duckdb_cache(self, conn: Connection) -> None:
        """Empty DuckDB's cache of the table blocks the last query read.

        DuckDB runs in this process and keeps the blocks it reads cached up to its memory limit,
        so a sync's memory grew with the table until the limit (bench/RESULTS.md), though a sync
        reads each block once (each chunk its own days; the watermark and undated scans once).
        Lowering the limit makes DuckDB drop its unpinned blocks; the working limit is then set
        again for whatever runs on the connection next.
        """
        if self._working is None:
            return
        try:
            conn.exec_driver_sql(f"SET memory_limit = '{_DUCKDB_EVICT_TO}'")
        except SQLAlchemyError:
            pass  # blocks still pinned: they stay cached until the next query
        _set_memory_limit(conn, self._working)

    def undated_counts(self, conn: Connection, tomorrow: date) -> dict[str, int]:
        """Rows that belong to no day we can count: NULL or unparseable timestamps, in the future, or
        implausibly old (before 1970: no LLM call is, and a labeled example that old is quarantined too).

        Where the timestamp is a DATE/TIMESTAMP column that always has a day (not SQLite text, not
        MySQL/MariaDB, whose zero dates have none), "unparseable" cannot happen and is left out of
        the WHERE: the rest (`ts IS NULL OR ts >= tomorrow`) can use an index on the timestamp
        instead of reading the whole table on every sync.
        """
        _table, e = self.calls(conn)
        day = utc_day(e.timestamp)
        bound = self._bound(tomorrow)
        future = sa.and_(day.is_not(None), e.timestamp >= bound)
        always_dated = self.engine.dialect.name not in ("sqlite", "mysql", "mariadb") and isinstance(
            e.timestamp.type, (sa.DateTime, sa.Date)
        )
        unparseable = sa.and_(e.timestamp.is_not(None), day.is_(None))
        epoch = self._bound(EPOCH)
        implausible = sa.and_(day.is_not(None), e.timestamp < epoch)
        query = sa.select(
            sa.func.sum(sa.case((e.timestamp.is_(None), 1), else_=0)).label("null_timestamp"),
            (sa.literal(0) if always_dated else sa.func.sum(sa.case((unparseable, 1), else_=0))).label(
                "unparseable_timestamp"
            ),
            sa.func.sum(sa.case((future, 1), else_=0)).label("future_timestamp"),
            sa.func.sum(sa.case((implausible, 1), else_=0)).label("implausible_timestamp"),
        ).where(
            sa.or_(
                e.timestamp.is_(None), e.timestamp >= bound, e.timestamp < epoch,
                *([] if always_dated else [day.is_(None)]),
            ),  # fmt: skip
            *e.conditions,
        )
        keys, [row] = self._fetch(conn, query)
        return {reason: int(count) for reason, count in zip(keys, row) if count}

    def touched_days(self, conn: Connection, since: str | None) -> tuple[list[date], str | None]:
        """Days with rows ingested at or after `since`, and the newest ingested_at (ISO text), from
        one query: each day's newest ingested_at, the newest of them the watermark."""
        e, conditions = self._ingested_since(conn, since)
        day = utc_day(e.timestamp)
        _keys, rows = self._fetch(conn, sa.select(day, sa.func.max(e.ingested_at)).where(*conditions).group_by(day))
        days = sorted(d for d in (_as_date(v) for v, _ in rows) if d is not None)
        try:
            return days, _as_text(max((ingested for _day, ingested in rows if ingested is not None), default=None))
        except TypeError:  # a SQLite column can hold numbers and text: let the database order them
            return days, self.newest_ingested(conn, since)

    def newest_ingested(self, conn: Connection, since: str | None = None) -> str | None:
        """The newest ingested_at (ISO text) of rows ingested at or after `since`. A backfill needs
        only this, not `touched_days`' scan of every day in the table."""
        e, conditions = self._ingested_since(conn, since)
        _keys, [(newest,)] = self._fetch(conn, sa.select(sa.func.max(e.ingested_at)).where(*conditions))
        return _as_text(newest)

    def _ingested_since(self, conn: Connection, since: str | None) -> tuple[CallExprs, list[ColumnElement]]:
        """The call expressions and the conditions selecting rows ingested at or after `since`."""
        _table, e = self.calls(conn)
        if e.ingested_at is None:
            raise SourceError(f"source {self.name!r}: calls.columns.ingested_at is not mapped")
        conditions = [*e.conditions]
        if since is not None:
            conditions.append(e.ingested_at >= _bind_like(e.ingested_at, since))
        return e, conditions

    # -- examples -----------------------------------------------------------------------------

    def examples_table(self, conn: Connection) -> sa.Table:
        if self._examples is None:
            settings = self.source.examples
            if settings is None:
                raise SourceError(f"source {self.name!r} has no `examples:` section")
            self._examples = reflect_table(conn, settings.table, settings.schema_, self.name, "examples.table")
        return self._examples

    def example_exprs(self, conn: Connection) -> ExampleExprs:
        """The label roles as SQL expressions, from `examples.preset` (native: one column per role)."""
        if self._example_exprs is None:
            settings = self.source.examples
            assert settings is not None
            table = self.examples_table(conn)
            calls = None
            if settings.preset != "native" and self.source.calls is not None:
                calls = CallsContext(self.calls(conn)[0], self.source.calls)
            self._example_exprs = example_exprs(table, settings, self.name, calls)
        return self._example_exprs

    def _example_columns(self, conn: Connection) -> dict[str, ColumnElement]:
        return dict(self.example_exprs(conn).columns)

    def _example_key(self, columns: dict[str, ColumnElement]) -> ColumnElement:
        if "updated_at" in columns:
            return sa.func.coalesce(columns["updated_at"], columns["created_at"])
        return columns["created_at"]

    def examples_page(
        self, conn: Connection, cursor: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """The next page of labeled examples after `cursor` = (key timestamp text, id text)."""
        columns = self._example_columns(conn)
        key = self._example_key(columns)
        ident = columns["id"]
        query = sa.select(*(c.label(role) for role, c in columns.items()), key.label("_key")).where(
            key.is_not(None), *self.example_exprs(conn).conditions
        )
        if cursor is not None:
            cursor_key = _bind_like(columns.get("updated_at", columns["created_at"]), cursor[0])
            cursor_id = _bind_like(ident, cursor[1])
            query = query.where(sa.or_(key > cursor_key, sa.and_(key == cursor_key, ident > cursor_id)))
        keys, rows = self._fetch(conn, query.order_by(key, ident).limit(limit))
        return [dict(zip(keys, row)) for row in rows]

    def examples_without_timestamp(self, conn: Connection) -> int:
        columns = self._example_columns(conn)
        key = self._example_key(columns)
        query = sa.select(sa.func.count()).select_from(self.examples_table(conn))
        _keys, [(count,)] = self._fetch(conn, query.where(key.is_(None), *self.example_exprs(conn).conditions))
        return int(count or 0)

    # -- check --------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems that would stop a sync (missing table or column), as actionable sentences."""
        problems: list[str] = []
        with self.connect() as conn:
            if self.source.calls is not None:
                try:
                    self.calls(conn)
                except SourceError as exc:
                    problems.append(str(exc))
            if self.source.examples is not None:
                try:
                    self._example_columns(conn)
                except SourceError as exc:
                    problems.append(str(exc))
        return problems


def create_source_engine(source: SourceSettings) -> Engine:
    if source.url is None:
        from connectors.files import create_file_engine

        engine = create_file_engine(source)
    else:
        url = source.url.get_secret_value()
        try:
            engine = sa.create_engine(url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise SourceError(
                f"source {source.name!r}: url {source.display_location!r} is not a usable SQLAlchemy URL: "
                f"{first_line(exc)}"
            ) from None
        except ImportError as exc:
            raise SourceError(
                f"source {source.name!r}: the driver for {source.display_location} is not installed ({exc}); "
                "install the matching extra, e.g. pip install 'ftready[postgres]'"
            ) from None
    prepare_engine(engine, source.query_timeout, duckdb_memory_limit=source.duckdb_memory)
    return engine


def _set_memory_limit(conn: Connection, limit: str) -> None:
    """Set DuckDB's memory limit (a size validated by settings: digits and a unit) and note it on the
    connection (`_LIMIT_SET`), so that a query already under it sets nothing."""
    conn.exec_driver_sql(f"SET memory_limit = '{limit}'")
    conn.info[_LIMIT_SET] = limit


def _is_constant(expr: ColumnElement) -> bool:
    return isinstance(expr, (sa.BindParameter, sa.Null)) or (
        isinstance(expr, sa.sql.elements.ColumnClause) and expr.is_literal
    )


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


def _bind_like(column: ColumnElement, text: str) -> Any:
    """A cursor value stored as text, bound with the type the column compares with."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is datetime:
        return datetime.fromisoformat(text)
    if python_type is date:
        return date.fromisoformat(text)
    if python_type is int:
        try:
            return int(text)
        except ValueError:
            return text
    return text
