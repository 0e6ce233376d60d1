"""The state store: SQLAlchemy Core tables on SQLite (default) or PostgreSQL.

It holds only derived data: daily call rollups, labeled examples (hash + redacted excerpt, never
raw text), sync watermarks, quarantine counts, evaluations, alert state, the outbox, leases and job
runs. Tables are created on first use; `schema_version` lets later versions migrate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from monitor.errors import StoreError, first_line
from monitor.histogram import BUCKET_COLUMNS
from monitor.settings import mask_url

SCHEMA_VERSION = 3  # 2: call_rollups_monthly; 3: ix_call_rollups_source_day


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores UTC as a naive timestamp (portable), returns tz-aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _rollup_value_columns() -> list[sa.Column[Any]]:
    """The summable columns of a rollup (daily or monthly)."""
    return [
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Numeric(20, 8), nullable=True),  # sum of costs the source provided
        sa.Column("cost_calls", sa.BigInteger, nullable=False),  # calls whose cost the source provided
        sa.Column("uncosted_input_tokens", sa.BigInteger, nullable=False),  # tokens of calls without one
        sa.Column("uncosted_output_tokens", sa.BigInteger, nullable=False),
        sa.Column("latency_count", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in BUCKET_COLUMNS),
    ]


metadata = sa.MetaData()

schema_version = sa.Table(
    "ftready_schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated_at", UTCDateTime, nullable=False),
)

call_rollups = sa.Table(
    "call_rollups",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("workload", sa.String(255), primary_key=True),
    sa.Column("model", sa.String(255), primary_key=True),
    sa.Column("prompt_version", sa.String(255), primary_key=True),  # "" when not mapped
    sa.Column("day", sa.Date, primary_key=True),
    *_rollup_value_columns(),
)
sa.Index("ix_call_rollups_day", call_rollups.c.day)  # an evaluation's days, across sources
# A sync's days of one source. Without it SQLite answers `source = ? AND day >= ? AND day < ?` from
# the primary key's `source` prefix, reading every row of the source: each chunk's DELETE took
# 18 to 25 ms on a 55,000-row store instead of 3 ms, and grew with the store (bench/RESULTS.md).
ix_call_rollups_source_day = sa.Index("ix_call_rollups_source_day", call_rollups.c.source, call_rollups.c.day)

ROLLUP_VALUES: tuple[str, ...] = tuple(c.name for c in _rollup_value_columns())

call_rollups_monthly = sa.Table(
    "call_rollups_monthly",  # call_rollups summed per month over prompt versions; kept by monitor.monthly
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("workload", sa.String(255), primary_key=True),
    sa.Column("model", sa.String(255), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM
    sa.Column("first_day", sa.Date, nullable=False),  # oldest and newest day with calls in the month
    sa.Column("last_day", sa.Date, nullable=False),
    *_rollup_value_columns(),
)

examples = sa.Table(
    "examples",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("workload", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Column("label", sa.String(255), nullable=True),
    sa.Column("is_failure", sa.Boolean, nullable=False),
    sa.Column("failure_mode", sa.String(500), nullable=True),
    sa.Column("provenance", sa.String(32), nullable=False),  # one of settings.PROVENANCE_CLASSES
    sa.Column("label_source", sa.String(255), nullable=True),
    sa.Column("human_labeled", sa.Boolean, nullable=False),  # label_source is in the trusted list
    sa.Column("input_hash", sa.String(64), nullable=True),  # sha256 of the normalised input
    sa.Column("excerpt", sa.Text, nullable=True),  # redacted; NULL when excerpts are off
    sa.Column("call_id", sa.String(255), nullable=True),
)
sa.Index("ix_examples_workload", examples.c.workload)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # calls | examples
    sa.Column("first_day", sa.Date, nullable=True),  # oldest day the rollups cover
    sa.Column("last_day", sa.Date, nullable=True),  # newest day recomputed
    sa.Column("ingested_at", sa.String(64), nullable=True),  # max ingested_at seen (ISO text)
    sa.Column("cursor_ts", sa.String(64), nullable=True),  # examples keyset: last (timestamp, id)
    sa.Column("cursor_id", sa.String(255), nullable=True),
    sa.Column("last_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_success_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("day", sa.Date, nullable=True),  # NULL for rows that have no usable day
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
)
sa.Index("ix_quarantine_source_day", quarantine.c.source, quarantine.c.kind, quarantine.c.day)

quarantined_examples = sa.Table(
    "quarantined_examples",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("reason", sa.String(64), nullable=False),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("evaluated_at", UTCDateTime, nullable=False, index=True),
    sa.Column("workload", sa.String(255), nullable=False, index=True),
    sa.Column("verdict", sa.String(32), nullable=False),
    sa.Column("criteria", sa.JSON, nullable=False),
    sa.Column("blockers", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
)

alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("fingerprint", sa.String(128), primary_key=True),
    sa.Column("workload", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # normal | pending | firing | resolved
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("pending_count", sa.Integer, nullable=False, default=0),
    sa.Column("payload", sa.JSON, nullable=True),
    sa.Column("since", UTCDateTime, nullable=True),
    sa.Column("last_notified_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("channel", sa.String(255), nullable=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # pending | sending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("last_started_at", UTCDateTime, nullable=True),
    sa.Column("last_finished_at", UTCDateTime, nullable=True),
    sa.Column("last_status", sa.String(16), nullable=True),  # ok | failed | running
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("next_run_at", UTCDateTime, nullable=True),
)

report_runs = sa.Table(
    "report_runs",
    metadata,
    sa.Column("week", sa.String(16), primary_key=True),  # ISO week, e.g. 2026-W48
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("generated_at", UTCDateTime, nullable=False),
)


class year_month(sa.sql.expression.FunctionElement[str]):  # noqa: N801 - reads like SQL
    """`YYYY-MM` of a date column, compiled for the store's dialect."""

    type = sa.String()
    name = "year_month"
    inherit_cache = True


@compiles(year_month)
def _year_month_default(element: year_month, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


@compiles(year_month, "sqlite")
def _year_month_sqlite(element: year_month, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


class Store:
    """A handle on the state store. `transaction()` gives one atomic unit of work."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or _create_engine(url)
        self._ensure_schema()

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"state store {self.display_url}: {first_line(exc)}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"state store {self.display_url}: {first_line(exc)}") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def _ensure_schema(self) -> None:
        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn)
                current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
                if current is None:
                    conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, migrated_at=utcnow()))
                elif current < SCHEMA_VERSION:
                    _migrate(conn, current)
                elif current > SCHEMA_VERSION:
                    raise StoreError(
                        f"state store {self.display_url} has schema version {current}, newer than this "
                        f"ftready ({SCHEMA_VERSION}); upgrade ftready"
                    )
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open the state store {self.display_url}: {first_line(exc)}; "
                "check store.url (or FTREADY_STORE_URL)"
            ) from exc

    # -- watermarks -----------------------------------------------------------------------------

    def watermark(self, conn: Connection, source: str, kind: str) -> dict[str, Any] | None:
        row = conn.execute(
            sa.select(watermarks).where(watermarks.c.source == source, watermarks.c.kind == kind)
        ).mappings().first()
        return dict(row) if row else None

    def save_watermark(self, conn: Connection, source: str, kind: str, **values: Any) -> None:
        if self.watermark(conn, source, kind) is None:
            conn.execute(watermarks.insert().values(source=source, kind=kind, **{"consecutive_failures": 0, **values}))
        else:
            conn.execute(
                watermarks.update()
                .where(watermarks.c.source == source, watermarks.c.kind == kind)
                .values(**values)
            )


def _migrate(conn: Connection, current: int) -> None:
    """Bring a store written by an older ftready up to SCHEMA_VERSION (new tables exist already)."""
    from monitor.monthly import rebuild_all  # here: monitor.monthly builds on this module's tables

    if current < 2:
        rebuild_all(conn)
    if current < 3:  # create_all makes the indexes of new tables only
        ix_call_rollups_source_day.create(conn, checkfirst=True)
    conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, migrated_at=utcnow()))


def insert_many(
    conn: Connection,
    table: sa.Table,
    rows: list[dict[str, Any]] | list[tuple[Any, ...]],
    columns: tuple[str, ...] | None = None,
) -> None:
    """INSERT rows at the driver's speed: dicts with the same keys, or tuples of the `columns` in order.

    `conn.execute(table.insert(), rows)` rebuilds every row's parameters through the compiler,
    which costs more than the database's own work for tens of thousands of wide rollup rows
    (bench/RESULTS.md). Here the statement is compiled once for the connection's dialect, the
    column types' bind processors run only where a type has one, and the rows go to the driver's
    executemany as tuples (positional paramstyles) or dicts (named ones). Tuples whose columns are
    in the statement's order and need no bind processor (SQLite: all but dates and decimals) are
    passed on as they are.
    """
    if not rows:
        return
    if columns is None:
        keys = tuple(rows[0])
        getter = itemgetter(*keys)
        rows = [getter(row) for row in rows] if len(keys) > 1 else [(getter(row),) for row in rows]
    else:
        keys = columns
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(keys))
    name_of = {bind.key: name for bind, name in compiled.bind_names.items()}
    if compiled.positional:
        key_of = {name: key for key, name in name_of.items()}
        order = [keys.index(key_of[name]) for name in compiled.positiontup or []]
        if order != list(range(len(keys))):
            rows = [tuple([row[i] for i in order]) for row in rows]
            keys = tuple(keys[i] for i in order)
    converters = [
        (i, processor)
        for i, key in enumerate(keys)
        if (processor := table.c[key].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)) is not None
    ]

    def converted(row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i, processor in converters:
            out[i] = processor(out[i])
        return tuple(out)

    params: list[Any] = [converted(row) for row in rows] if converters else rows
    if not compiled.positional:
        names = [name_of[key] for key in keys]
        params = [dict(zip(names, row)) for row in params]
    conn.exec_driver_sql(str(compiled), params)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store.url {mask_url(url)!r} is not a SQLAlchemy URL, e.g. sqlite:///.ftready/state.db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (ImportError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"no driver for store.url {mask_url(url)}: {exc}; install the extra, e.g. pip install 'ftready[postgres]'"
        ) from None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA temp_store=MEMORY")  # evaluation's GROUP BY sorts in memory, not in temp files
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
    cursor.close()
