"""What the report reads from the state store besides the evaluation itself.

Data quality (sync watermarks, quarantine counts, dead-lettered notifications) and the evaluation
a week earlier, the baseline for "what changed since last week". Plain records out; the assembly
in `reports.build` decides what they mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor import store as tables
from monitor.redact import excerpt
from monitor.settings import Settings
from monitor.store import Store

BASELINE_AGE = timedelta(days=7)
MAX_DEAD_LETTERS = 50


@dataclass(frozen=True)
class SyncRecord:
    source: str
    kind: str  # calls | examples
    configured: bool
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    consecutive_failures: int
    last_error: str | None


@dataclass(frozen=True)
class QuarantineCount:
    source: str
    kind: str
    reason: str
    rows: int


@dataclass(frozen=True)
class DeadLetter:
    id: int
    created_at: datetime
    kind: str
    channel: str | None
    error: str | None


@dataclass(frozen=True)
class CriterionSnapshot:
    status: str
    value: Any


@dataclass(frozen=True)
class Baseline:
    """Each workload's stored evaluation at the baseline time."""

    evaluated_at: datetime  # the oldest of the rows used
    levels: Mapping[str, str]  # workload → verdict level value
    criteria: Mapping[str, Mapping[str, CriterionSnapshot]]  # workload → criterion id → snapshot
    week_old: bool  # False: the history is younger than a week and this is its oldest evaluation


@dataclass(frozen=True)
class StoreFacts:
    syncs: tuple[SyncRecord, ...]
    quarantine: tuple[QuarantineCount, ...]
    dead_letters: tuple[DeadLetter, ...]  # newest first, at most MAX_DEAD_LETTERS
    dead_letters_total: int
    baseline: Baseline | None


def read_store_facts(settings: Settings, store: Store, *, evaluated_at: datetime) -> StoreFacts:
    """One consistent read of everything the report needs from the store besides the run."""
    with store.read() as conn:
        dead, dead_total = _dead_letters(conn)
        return StoreFacts(
            syncs=_syncs(conn, settings),
            quarantine=_quarantine(conn),
            dead_letters=dead,
            dead_letters_total=dead_total,
            baseline=_baseline(conn, evaluated_at),
        )


def _syncs(conn: Connection, settings: Settings) -> tuple[SyncRecord, ...]:
    marks = {(r["source"], r["kind"]): dict(r) for r in conn.execute(sa.select(tables.watermarks)).mappings()}
    expected = [
        (source.name, kind)
        for source in settings.sources
        for kind, part in (("calls", source.calls), ("examples", source.examples))
        if part is not None
    ]
    keys = expected + sorted(set(marks) - set(expected))  # also rows of sources no longer configured
    records = []
    for key in keys:
        mark = marks.get(key, {})
        error = mark.get("last_error")
        records.append(
            SyncRecord(
                source=key[0],
                kind=key[1],
                configured=key in expected,
                last_success_at=mark.get("last_success_at"),
                last_attempt_at=mark.get("last_attempt_at"),
                consecutive_failures=int(mark.get("consecutive_failures") or 0),
                last_error=excerpt(error, 300) if error else None,
            )
        )
    return tuple(records)


def _quarantine(conn: Connection) -> tuple[QuarantineCount, ...]:
    q, qe = tables.quarantine, tables.quarantined_examples
    counts: dict[tuple[str, str, str], int] = {}
    rows = conn.execute(
        sa.select(q.c.source, q.c.kind, q.c.reason, sa.func.sum(q.c.rows)).group_by(q.c.source, q.c.kind, q.c.reason)
    )
    examples = conn.execute(  # the examples quarantined one by one (the quarantine table counts the rest)
        sa.select(qe.c.source, qe.c.reason, sa.func.count()).group_by(qe.c.source, qe.c.reason)
    )
    examples_rows = [(source, "examples", reason, n) for source, reason, n in examples]
    for source, kind, reason, n in [*rows, *examples_rows]:
        if n:
            counts[(source, kind, reason)] = counts.get((source, kind, reason), 0) + int(n)
    return tuple(QuarantineCount(s, k, r, n) for (s, k, r), n in sorted(counts.items()))


def _dead_letters(conn: Connection) -> tuple[tuple[DeadLetter, ...], int]:
    o = tables.outbox
    total = conn.execute(sa.select(sa.func.count()).select_from(o).where(o.c.status == "dead")).scalar_one()
    rows = conn.execute(
        sa.select(o.c.id, o.c.created_at, o.c.kind, o.c.channel, o.c.last_error)
        .where(o.c.status == "dead")
        .order_by(o.c.created_at.desc(), o.c.id.desc())
        .limit(MAX_DEAD_LETTERS)
    )
    letters = tuple(
        DeadLetter(int(r.id), r.created_at, r.kind, r.channel, excerpt(r.last_error, 300) if r.last_error else None)
        for r in rows
    )
    return letters, int(total)


def _baseline(conn: Connection, evaluated_at: datetime) -> Baseline | None:
    """The stored evaluation run closest to a week before `evaluated_at`: the latest one at least a
    week old or, when the history is younger, the oldest one before it (so a new deployment still
    shows what moved). A run's rows share one `evaluated_at`, so taking a whole run means a workload
    that stopped being evaluated months ago is not reported as gone every week."""
    e = tables.evaluations
    at = conn.execute(
        sa.select(sa.func.max(e.c.evaluated_at)).where(e.c.evaluated_at <= evaluated_at - BASELINE_AGE)
    ).scalar()
    week_old = at is not None
    if at is None:
        at = conn.execute(sa.select(sa.func.min(e.c.evaluated_at)).where(e.c.evaluated_at < evaluated_at)).scalar()
    if at is None:
        return None
    rows = conn.execute(
        sa.select(e.c.workload, e.c.verdict, e.c.criteria).where(e.c.evaluated_at == at).order_by(e.c.id)
    ).all()  # ordered by id: should a workload appear twice, its later row wins below
    return Baseline(
        evaluated_at=at,
        levels={r.workload: r.verdict for r in rows},
        criteria={r.workload: _criteria_snapshot(r.criteria) for r in rows},
        week_old=week_old,
    )


def _criteria_snapshot(stored: Any) -> dict[str, CriterionSnapshot]:
    """Stored criteria are a list of `CriterionResult.as_dict()`; tolerate a mapping by id too."""
    items: Iterable[Any]
    if isinstance(stored, Mapping):
        items = ({"id": key, **value} for key, value in stored.items() if isinstance(value, Mapping))
    elif isinstance(stored, list):
        items = stored
    else:
        return {}
    return {
        str(item["id"]): CriterionSnapshot(str(item.get("status")), item.get("value"))
        for item in items
        if isinstance(item, Mapping) and "id" in item
    }
