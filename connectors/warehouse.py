"""The SQL warehouse connector: any SQLAlchemy URL, read-only, aggregation pushed down.

Call logs never cross the wire row by row: `rollups()` sends one `GROUP BY workload, model,
prompt_version, day` query per chunk of days, with counts, token sums, provided-cost sums and the
fixed latency histogram as `SUM(CASE WHEN latency < edge ...)`. Rows that break the contract
(negative tokens or latency) are grouped under a `reason` so they are counted, never summed.
Labeled examples are pulled in keyset pages ordered by (updated_at or created_at, id).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from connectors.dialects import prepare_engine, utc_day, uses_text_timestamps
from connectors.presets import CallExprs, call_exprs
from connectors.tables import column_for, reflect_table
from monitor.errors import SourceError, first_line
from monitor.histogram import EDGES_MS
from monitor.settings import SourceSettings

UNKNOWN_MODEL = "unknown"


@dataclass(frozen=True)
class RollupRow:
    """One group of the pushdown query. `reason` is set for groups of rows that break the contract."""

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
    below_edges: tuple[int, ...]


class Warehouse:
    """One configured source. Create per sync; `close()` releases its connections."""

    def __init__(self, source: SourceSettings, engine: Engine | None = None) -> None:
        self.source = source
        self.name = source.name
        self.engine = engine or create_source_engine(source)
        self._calls: tuple[sa.Table, CallExprs] | None = None
        self._examples: sa.Table | None = None

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
            raise SourceError(
                f"source {self.name!r} ({self.source.display_location}): {first_line(exc)}; "
                "check that the warehouse is reachable and the credentials are right"
            ) from exc
        except ProgrammingError as exc:
            raise SourceError(f"source {self.name!r}: the warehouse rejected a query: {first_line(exc)}") from exc
        except SQLAlchemyError as exc:
            raise SourceError(f"source {self.name!r}: {first_line(exc)}") from exc

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
        negative_tokens, negative_latency = sa.literal_column("'negative_tokens'"), sa.literal_column("'negative_latency'")
        invalid = []
        if e.input_tokens is not None:
            invalid.append((e.input_tokens < 0, negative_tokens))
        if e.output_tokens is not None:
            invalid.append((e.output_tokens < 0, negative_tokens))
        if e.latency_ms is not None:
            invalid.append((e.latency_ms < 0, negative_latency))
        reason = sa.case(*invalid, else_=sa.null()) if invalid else sa.null()
        prompt_version = e.prompt_version if e.prompt_version is not None else sa.literal_column("''")
        group_keys = [k for k in (e.workload, e.model, prompt_version, day, reason) if not _is_constant(k)]

        def total(expr: ColumnElement | None) -> ColumnElement:
            return sa.func.coalesce(sa.func.sum(expr), zero) if expr is not None else zero

        def uncosted(expr: ColumnElement | None) -> ColumnElement:
            if expr is None:
                return zero
            if e.cost_usd is None:
                return total(expr)
            return total(sa.case((e.cost_usd.is_(None), expr), else_=zero))

        latency_columns = []
        if e.latency_ms is not None:
            latency_columns = [sa.func.count(e.latency_ms).label("latency_count")] + [
                sa.func.sum(sa.case((e.latency_ms < edge, 1), else_=0)).label(f"below_{i:02d}")
                for i, edge in enumerate(EDGES_MS)
            ]
        return (
            sa.select(
                e.workload.label("workload"),
                e.model.label("model"),
                prompt_version.label("prompt_version"),
                day.label("day"),
                reason.label("reason"),
                sa.func.count().label("calls"),
                (total(sa.case((e.is_error, 1), else_=0)) if e.is_error is not None else zero).label("errors"),
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

    def rollups(self, conn: Connection, start: date, end: date) -> Iterator[RollupRow]:
        """Aggregated call rows for days in [start, end), computed by the warehouse."""
        result = conn.execute(self.rollup_query(conn, start, end)).mappings()
        for row in result:
            latency_count = int(row.get("latency_count") or 0)
            yield RollupRow(
                workload=row["workload"],
                model=str(row["model"]) if row["model"] is not None else UNKNOWN_MODEL,
                prompt_version=str(row["prompt_version"] or ""),
                day=_as_date(row["day"]),
                reason=row["reason"],
                calls=int(row["calls"]),
                errors=int(row["errors"] or 0),
                input_tokens=int(row["input_tokens"] or 0),
                output_tokens=int(row["output_tokens"] or 0),
                cost_usd=float(row["cost_usd"]) if row["cost_usd"] is not None else None,
                cost_calls=int(row["cost_calls"] or 0),
                uncosted_input_tokens=int(row["uncosted_input_tokens"] or 0),
                uncosted_output_tokens=int(row["uncosted_output_tokens"] or 0),
                latency_count=latency_count,
                below_edges=tuple(int(row.get(f"below_{i:02d}") or 0) for i in range(len(EDGES_MS)))
                if latency_count
                else (0,) * len(EDGES_MS),
            )

    def undated_counts(self, conn: Connection, tomorrow: date) -> dict[str, int]:
        """Rows that belong to no day we can count: NULL or unparseable timestamps, or in the future."""
        _table, e = self.calls(conn)
        day = utc_day(e.timestamp)
        future = sa.and_(day.is_not(None), e.timestamp >= self._bound(tomorrow))
        query = sa.select(
            sa.func.sum(sa.case((e.timestamp.is_(None), 1), else_=0)).label("null_timestamp"),
            sa.func.sum(sa.case((sa.and_(e.timestamp.is_not(None), day.is_(None)), 1), else_=0)).label(
                "unparseable_timestamp"
            ),
            sa.func.sum(sa.case((future, 1), else_=0)).label("future_timestamp"),
        ).where(sa.or_(e.timestamp.is_(None), day.is_(None), e.timestamp >= self._bound(tomorrow)), *e.conditions)
        row = conn.execute(query).mappings().one()
        return {reason: int(count) for reason, count in row.items() if count}

    def touched_days(self, conn: Connection, since: str | None) -> tuple[list[date], str | None]:
        """Days with rows ingested at or after `since`, and the newest ingested_at (ISO text)."""
        _table, e = self.calls(conn)
        if e.ingested_at is None:
            raise SourceError(f"source {self.name!r}: calls.columns.ingested_at is not mapped")
        conditions = [*e.conditions]
        if since is not None:
            conditions.append(e.ingested_at >= _bind_like(e.ingested_at, since))
        day = utc_day(e.timestamp)
        days = conn.execute(sa.select(day).where(*conditions).group_by(day)).scalars().all()
        newest = conn.execute(sa.select(sa.func.max(e.ingested_at)).where(*conditions)).scalar()
        return sorted(d for d in (_as_date(v) for v in days) if d is not None), _as_text(newest)

    # -- examples -----------------------------------------------------------------------------

    def examples_table(self, conn: Connection) -> sa.Table:
        if self._examples is None:
            settings = self.source.examples
            if settings is None:
                raise SourceError(f"source {self.name!r} has no `examples:` section")
            self._examples = reflect_table(conn, settings.table, settings.schema_, self.name, "examples.table")
        return self._examples

    def _example_columns(self, conn: Connection) -> dict[str, ColumnElement]:
        settings = self.source.examples
        assert settings is not None
        table = self.examples_table(conn)
        return {
            role: column_for(table, name, f"examples.columns.{role}", self.name)
            for role, name in settings.columns.items()
        }

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
        query = sa.select(*(c.label(role) for role, c in columns.items()), key.label("_key")).where(key.is_not(None))
        if cursor is not None:
            cursor_key = _bind_like(columns.get("updated_at", columns["created_at"]), cursor[0])
            cursor_id = _bind_like(ident, cursor[1])
            query = query.where(sa.or_(key > cursor_key, sa.and_(key == cursor_key, ident > cursor_id)))
        rows = conn.execute(query.order_by(key, ident).limit(limit)).mappings().all()
        return [dict(row) for row in rows]

    def examples_without_timestamp(self, conn: Connection) -> int:
        columns = self._example_columns(conn)
        key = self._example_key(columns)
        return int(conn.execute(sa.select(sa.func.count()).where(key.is_(None))).scalar() or 0)

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
    prepare_engine(engine, source.query_timeout)
    return engine


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
