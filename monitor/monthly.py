"""Monthly call rollups: `call_rollups` summed per source, workload, model and month.

An evaluation reads the last weeks day by day and everything older by month; summing two years of
daily rows at every evaluation cost more than the rest of it (bench/RESULTS.md). The sync keeps
this table in step inside the same store transaction that rewrites the daily rows: each month it
touched is summed again from `call_rollups`, so the two tables never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store import ROLLUP_VALUES, call_rollups, call_rollups_monthly, year_month


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(day: date) -> tuple[date, date]:
    """[first day of `day`'s month, first day of the next month)."""
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def refresh_months(conn: Connection, source: str, days: Iterable[date]) -> None:
    """Sum again, from the daily rows, every month of `source` that holds one of `days`."""
    months = sorted({month_bounds(day) for day in days})
    if not months:
        return
    m = call_rollups_monthly
    conn.execute(m.delete().where(m.c.source == source, m.c.month.in_([month_key(first) for first, _ in months])))
    t = call_rollups
    for first, end in months:
        # one source's month: its source and month are constants, not GROUP BY keys (SQLite sorted
        # 4,300 rows on a strftime of each for a month of the benchmark's store: 20 ms against 12)
        where = (t.c.source == source, days_within(first, end))
        _insert_sums(conn, sa.literal(source), sa.literal(month_key(first)), where, (t.c.workload, t.c.model))


def rebuild_all(conn: Connection) -> None:
    """The whole table again from `call_rollups` (a store upgraded from schema version 1)."""
    conn.execute(call_rollups_monthly.delete())
    t = call_rollups
    month = year_month(t.c.day)
    _insert_sums(conn, t.c.source, month, (), (t.c.source, t.c.workload, t.c.model, month))


def delete_source(conn: Connection, source: str) -> None:
    conn.execute(call_rollups_monthly.delete().where(call_rollups_monthly.c.source == source))


def days_within(first: date, end: date) -> sa.ColumnElement[bool]:
    """Daily rollup rows of days in [first, end)."""
    return sa.and_(call_rollups.c.day >= first, call_rollups.c.day < end)


def _insert_sums(
    conn: Connection,
    source: sa.ColumnElement[str],
    month: sa.ColumnElement[str],
    where: tuple[sa.ColumnElement[bool], ...],
    group_by: tuple[sa.ColumnElement[Any], ...],
) -> None:
    t = call_rollups
    sums = sa.select(
        source, t.c.workload, t.c.model, month, sa.func.min(t.c.day), sa.func.max(t.c.day),
        *(sa.func.sum(t.c[name]) for name in ROLLUP_VALUES),
    ).where(*where).group_by(*group_by)  # fmt: skip
    columns = ["source", "workload", "model", "month", "first_day", "last_day", *ROLLUP_VALUES]
    conn.execute(call_rollups_monthly.insert().from_select(columns, sums))
