"""Sync: warehouse → state store, exact and idempotent.

Each sync of a source runs in ONE store transaction: the whole days it recomputes are deleted and
re-inserted from fresh pushdown rollups, the labeled examples pulled since the keyset cursor are
upserted, and the watermarks move, all or nothing. Running it twice, or again after a crash at any
point, therefore leaves exactly the rollups of a fresh full recompute.

Which days are recomputed:
- first run (or `full=True`): every day of the last `backfill_days`, month by month;
- `ingested_at` mapped: exactly the days of rows ingested at or after the last watermark;
- otherwise: from `lookback_days` before the last synced day up to today.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time as clock
import unicodedata
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connectors.warehouse import RollupRow, Warehouse
from monitor import monthly
from monitor import store as tables
from monitor.errors import FtreadyError, SourceError
from monitor.gc_pause import gc_paused
from monitor.histogram import BUCKET_COLUMNS
from monitor.redact import excerpt as redacted_excerpt
from monitor.settings import ExamplesSettings, Settings, SourceSettings, PROVENANCE_CLASSES
from monitor.store import Store, utcnow

Checkpoint = Callable[[str], None]
"""Called at each point a sync could be interrupted (tests inject crashes here)."""

ChunkProgress = Callable[[str, int, int, str], None]
"""(source, chunk number, chunk count, description) after each chunk."""

MAX_NAME = 255
_REAL_TRUSTED = ("production_log", "relabeled_by_human")


@dataclass
class SyncResult:
    source: str
    mode: str  # backfill | full | ingested | lookback | examples-only
    days: int = 0
    first_day: date | None = None
    last_day: date | None = None
    rollup_rows: int = 0
    calls: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    examples_upserted: int = 0
    examples_quarantined: int = 0
    seconds: float = 0.0


def sync_all(
    settings: Settings,
    store: Store,
    *,
    now: datetime | None = None,
    full: bool = False,
    progress: ChunkProgress | None = None,
    checkpoint: Checkpoint | None = None,
) -> list[SyncResult]:
    """Sync every source; a failing source is recorded and raised after the others ran."""
    results: list[SyncResult] = []
    failures: list[str] = []
    for source in settings.sources:
        try:
            results.append(
                sync_source(
                    source, store, now=now, full=full, progress=progress, checkpoint=checkpoint,
                    excerpts=settings.reports.excerpts,
                )
            )  # fmt: skip
        except FtreadyError as exc:
            failures.append(str(exc))
    if failures:
        raise SourceError("; ".join(failures))
    return results


def sync_source(
    source: SourceSettings,
    store: Store,
    *,
    now: datetime | None = None,
    full: bool = False,
    progress: ChunkProgress | None = None,
    checkpoint: Checkpoint | None = None,
    excerpts: bool = True,
    warehouse: Warehouse | None = None,
) -> SyncResult:
    now = (now or utcnow()).astimezone(timezone.utc)
    started = clock.perf_counter()
    checkpoint = checkpoint or (lambda _point: None)
    owned = warehouse is None
    warehouse = warehouse or Warehouse(source)
    try:
        with store.transaction() as conn, warehouse.connect() as wconn:
            result = SyncResult(source=source.name, mode="examples-only")
            if source.calls is not None:
                _sync_calls(source, warehouse, wconn, conn, store, now, full, progress, checkpoint, result)
            if source.examples is not None:
                _sync_examples(source, source.examples, warehouse, wconn, conn, store, now, full, excerpts, checkpoint, result)
            checkpoint("before_commit")
        _record_outcome(store, source.name, now, error=None)
    except Exception as exc:
        message = str(exc) if isinstance(exc, FtreadyError) else f"source {source.name!r}: {type(exc).__name__}: {exc}"
        _record_outcome(store, source.name, now, error=message)
        if isinstance(exc, FtreadyError):
            raise
        raise SourceError(message) from exc
    finally:
        if owned:
            warehouse.close()
    result.seconds = clock.perf_counter() - started
    return result


# -- calls ---------------------------------------------------------------------------------------


def _sync_calls(
    source: SourceSettings,
    warehouse: Warehouse,
    wconn: Connection,
    conn: Connection,
    store: Store,
    now: datetime,
    full: bool,
    progress: ChunkProgress | None,
    checkpoint: Checkpoint,
    result: SyncResult,
) -> None:
    today = now.date()
    tomorrow = today + timedelta(days=1)
    mark = store.watermark(conn, source.name, "calls")
    first_day = (mark or {}).get("first_day")
    new_ingested = (mark or {}).get("ingested_at")
    if full or mark is None or first_day is None:
        result.mode = "full" if full and mark is not None else "backfill"
        first_day = today - timedelta(days=source.backfill_days - 1)
        conn.execute(tables.call_rollups.delete().where(tables.call_rollups.c.source == source.name))
        monthly.delete_source(conn, source.name)
        conn.execute(
            tables.quarantine.delete().where(tables.quarantine.c.source == source.name, tables.quarantine.c.kind == "calls")
        )
        days = _day_span(first_day, tomorrow)
        if warehouse.has_ingested_at:
            new_ingested = warehouse.newest_ingested(wconn)
    elif warehouse.has_ingested_at and mark.get("ingested_at"):
        result.mode = "ingested"
        touched, newest = warehouse.touched_days(wconn, mark["ingested_at"])
        days = [d for d in touched if first_day <= d <= today]
        new_ingested = newest or mark["ingested_at"]
    else:
        result.mode = "lookback"
        last_day = mark.get("last_day") or first_day
        days = _day_span(max(first_day, last_day - timedelta(days=source.lookback_days)), tomorrow)

    chunks = _spread(_chunks(days, source.chunk), warehouse.query_concurrency)
    completed = _months_completed(chunks)
    warehouse.calls(wconn)  # the table is reflected once, before the helper threads query it
    with closing(_prefetched(warehouse, chunks, wconn)) as fetched:
        for number, ((start, end), rows) in enumerate(zip(chunks, fetched), start=1):
            checkpoint("chunk_start")
            _replace_days(conn, source.name, start, end, rows, result)
            monthly.refresh_months(conn, source.name, completed[number - 1])  # while the next chunk's query runs
            checkpoint("chunk_done")
            if progress is not None:
                progress(source.name, number, len(chunks), f"{start:%Y-%m-%d} → {end - timedelta(days=1):%Y-%m-%d}")

    _replace_undated(conn, source.name, warehouse.undated_counts(wconn, tomorrow), result)
    result.days = len(days)
    result.first_day, result.last_day = (days[0], days[-1]) if days else (None, None)
    store.save_watermark(conn, source.name, "calls", first_day=first_day, last_day=today, ingested_at=new_ingested)


def _months_completed(chunks: list[tuple[date, date]]) -> list[list[date]]:
    """Per chunk: the months (first days) that no later chunk touches, to be summed after it."""
    last_chunk: dict[date, int] = {}
    for index, (start, end) in enumerate(chunks):
        month = start.replace(day=1)
        while month < end:
            last_chunk[month] = index
            month = monthly.month_bounds(month)[1]
    completed: list[list[date]] = [[] for _ in chunks]
    for month, index in sorted(last_chunk.items()):
        completed[index].append(month)
    return completed


def _prefetched(
    warehouse: Warehouse, chunks: list[tuple[date, date]], wconn: Connection
) -> Generator[list[RollupRow], None, None]:
    """Each chunk's rollups in order, with the next chunks' queries already running in the warehouse
    while the caller writes this one: `Warehouse.query_concurrency` queries at once, each on a
    warehouse connection of its own, from helper threads. The first is the sync's own connection
    `wconn`, which the caller leaves alone until this generator is closed; more are opened as needed.

    Overlapping the writes with the queries makes a backfill take about the warehouse's own time
    instead of that time plus ours; running two month queries at once keeps two cores of a
    PostgreSQL or MySQL server busy where each query is planned on one (bench/RESULTS.md). A chunk's
    result is a few thousand groups, so holding the next ones costs little memory. If a query fails,
    its error is raised once the queries already running have returned (each is bounded by the
    source's `query_timeout`)."""
    if not chunks:
        return
    idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()  # connections between two fetches
    idle.put(wconn)
    opened: list[AbstractContextManager[Connection]] = []
    lock = threading.Lock()

    def fetch(start: date, end: date) -> list[RollupRow]:
        try:
            conn = idle.get_nowait()
        except queue.Empty:
            context = warehouse.connect()
            conn = context.__enter__()
            with lock:
                opened.append(context)
        try:
            return warehouse.rollups(conn, start, end)
        finally:
            idle.put(conn)

    ahead = min(warehouse.query_concurrency, len(chunks))
    pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="ftready-sync")
    try:
        pending = deque(pool.submit(fetch, *chunk) for chunk in chunks[:ahead])
        for following in chunks[ahead:]:
            rows = pending.popleft().result()
            pending.append(pool.submit(fetch, *following))
            yield rows
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # the connections are closed once no query runs
        for context in opened:
            context.__exit__(None, None, None)


def _spread(runs: Iterable[tuple[date, date]], parts: int) -> list[tuple[date, date]]:
    """The runs of days as chunks, the longest split in two at a day until there are `parts` of them
    (or every one is a day), so that an incremental sync's few days also run as `parts` queries at
    once. A day's groups do not depend on the other days: splitting changes which query counts a
    day, not what it counts."""
    chunks = list(runs)
    while 0 < len(chunks) < parts:
        longest = max(range(len(chunks)), key=lambda i: (chunks[i][1] - chunks[i][0]).days)
        start, end = chunks[longest]
        if (end - start).days < 2:
            break
        middle = start + timedelta(days=(end - start).days // 2)
        chunks[longest : longest + 1] = [(start, middle), (middle, end)]
    return chunks


def _day_span(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _chunks(days: list[date], unit: str) -> Iterator[tuple[date, date]]:
    """Consecutive runs of days, split at month/week boundaries: [start, end) ranges."""
    run_start: date | None = None
    previous: date | None = None
    for day in days:
        boundary = previous is not None and (
            day != previous + timedelta(days=1)
            or (unit == "month" and day.day == 1)
            or (unit == "week" and day.weekday() == 0)
            or unit == "day"
        )
        if run_start is None:
            run_start = day
        elif boundary:
            yield run_start, previous + timedelta(days=1)  # type: ignore[operator]
            run_start = day
        previous = day
    if run_start is not None and previous is not None:
        yield run_start, previous + timedelta(days=1)


@gc_paused()
def _replace_days(
    conn: Connection, source: str, start: date, end: date, rows: Iterable[RollupRow], result: SyncResult
) -> None:
    """Replace the chunk's days by its rows, with the cyclic garbage collector paused (see `monitor.gc_pause`)."""
    rollups: dict[tuple[str, str, str, str, date], tuple[Any, ...]] = {}  # store key → values, in column order
    bad: dict[tuple[date | None, str], int] = defaultdict(int)
    for row in rows:
        reason = row.reason or _workload_problem(row.workload)
        if reason is not None or row.day is None:
            bad[(row.day, reason or "unparseable_timestamp")] += row.calls
            continue
        key = (
            source, _storable(str(row.workload)), _storable(row.model[:MAX_NAME]),
            _storable(row.prompt_version[:MAX_NAME]), row.day,
        )  # fmt: skip
        values = _rollup_values(row)
        if rollups.setdefault(key, values) is not values:
            # two warehouse groups that map to one store key (e.g. 1 and '1'): add them up
            rollups[key] = tuple(map(_add, rollups[key], values))
    conn.execute(
        tables.call_rollups.delete().where(
            tables.call_rollups.c.source == source, tables.call_rollups.c.day >= start, tables.call_rollups.c.day < end
        )
    )
    conn.execute(
        tables.quarantine.delete().where(
            tables.quarantine.c.source == source,
            tables.quarantine.c.kind == "calls",
            tables.quarantine.c.day >= start,
            tables.quarantine.c.day < end,
        )
    )
    if rollups:
        tables.insert_many(
            conn, tables.call_rollups, [key + values for key, values in rollups.items()], _ROLLUP_COLUMNS
        )
    if bad:
        conn.execute(
            tables.quarantine.insert(),
            [{"source": source, "kind": "calls", "day": d, "reason": r, "rows": n} for (d, r), n in bad.items()],
        )
    result.rollup_rows += len(rollups)
    result.calls += sum(values[0] for values in rollups.values())  # calls is the first value
    for (_day, reason), count in bad.items():
        result.quarantined[reason] = result.quarantined.get(reason, 0) + count


def _workload_problem(workload: Any) -> str | None:
    if workload is None or str(workload).strip() == "":
        return "null_workload"
    if len(str(workload)) > MAX_NAME:
        return "workload_too_long"
    return None


_MEASURES = slice(RollupRow._fields.index("calls"), RollupRow._fields.index("buckets"))
"""`RollupRow.calls` to `latency_count`: named and ordered as the store's first value columns."""
_ROLLUP_COLUMNS = (
    "source", "workload", "model", "prompt_version", "day", *RollupRow._fields[_MEASURES], *BUCKET_COLUMNS,
)  # fmt: skip


def _rollup_values(row: RollupRow) -> tuple[Any, ...]:
    """A group's store values in column order (`_ROLLUP_COLUMNS` after the key): one tuple, no
    per-group dict, as a backfill writes tens of thousands of groups."""
    return (*row[_MEASURES], *row.buckets)


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return a + b


def _replace_undated(conn: Connection, source: str, counts: dict[str, int], result: SyncResult) -> None:
    conn.execute(
        tables.quarantine.delete().where(
            tables.quarantine.c.source == source, tables.quarantine.c.kind == "calls", tables.quarantine.c.day.is_(None)
        )
    )
    if counts:
        conn.execute(
            tables.quarantine.insert(),
            [{"source": source, "kind": "calls", "day": None, "reason": r, "rows": n} for r, n in counts.items()],
        )
    for reason, count in counts.items():
        result.quarantined[reason] = result.quarantined.get(reason, 0) + count


# -- examples ------------------------------------------------------------------------------------


def _sync_examples(
    source: SourceSettings,
    settings: ExamplesSettings,
    warehouse: Warehouse,
    wconn: Connection,
    conn: Connection,
    store: Store,
    now: datetime,
    full: bool,
    excerpts: bool,
    checkpoint: Checkpoint,
    result: SyncResult,
) -> None:
    mark = store.watermark(conn, source.name, "examples")
    cursor: tuple[str, str] | None = None
    if full or mark is None:
        conn.execute(tables.examples.delete().where(tables.examples.c.source == source.name))
        conn.execute(tables.quarantined_examples.delete().where(tables.quarantined_examples.c.source == source.name))
    elif mark.get("cursor_ts") is not None:
        cursor = (mark["cursor_ts"], mark["cursor_id"])
    classify = ExampleClassifier(settings, now=now, excerpts=excerpts)
    while True:
        checkpoint("examples_page_start")
        page = warehouse.examples_page(wconn, cursor, settings.page_size)
        if not page:
            break
        good, bad = classify.page(source.name, page)
        _upsert(conn, tables.examples, source.name, good)
        _upsert(conn, tables.quarantined_examples, source.name, bad)
        ids = [r["id"] for r in good]
        if ids:  # an example that was bad and is now fixed leaves quarantine, and vice versa
            _delete_ids(conn, tables.quarantined_examples, source.name, ids)
        if bad:
            _delete_ids(conn, tables.examples, source.name, [r["id"] for r in bad])
        result.examples_upserted += len(good)
        result.examples_quarantined += len(bad)
        last = page[-1]
        cursor = (_cursor_text(last["_key"]), _storable(str(last["id"])))
        checkpoint("examples_page_done")
        if len(page) < settings.page_size:
            break
    missing_ts = warehouse.examples_without_timestamp(wconn)
    conn.execute(
        tables.quarantine.delete().where(tables.quarantine.c.source == source.name, tables.quarantine.c.kind == "examples")
    )
    if missing_ts:
        conn.execute(
            tables.quarantine.insert().values(
                source=source.name, kind="examples", day=None, reason="null_timestamp", rows=missing_ts
            )
        )
    values = {"last_day": now.date()}
    if cursor is not None:
        values |= {"cursor_ts": cursor[0], "cursor_id": cursor[1]}
    store.save_watermark(conn, source.name, "examples", **values)


def _upsert(conn: Connection, table: sa.Table, source: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    _delete_ids(conn, table, source, [r["id"] for r in rows])
    conn.execute(table.insert(), [{"source": source, **r} for r in rows])


def _delete_ids(conn: Connection, table: sa.Table, source: str, ids: list[str]) -> None:
    for start in range(0, len(ids), 500):
        conn.execute(table.delete().where(table.c.source == source, table.c.id.in_(ids[start : start + 500])))


def _cursor_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


class ExampleClassifier:
    """Turns warehouse label rows into store rows: provenance class, human flag, hash, excerpt."""

    def __init__(self, settings: ExamplesSettings, *, now: datetime, excerpts: bool) -> None:
        self.settings = settings
        self.now = now
        self.excerpts = excerpts
        self.failure_labels = {v.lower() for v in settings.failure_labels}
        self.trusted_sources = {v.lower() for v in settings.trusted_label_sources}
        self.provenance = {
            value.lower(): cls for cls, values in settings.provenance.items() for value in values
        }

    def page(self, source: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        good: dict[str, dict[str, Any]] = {}
        bad: dict[str, dict[str, Any]] = {}
        for row in rows:  # within a page the last row of an id wins, as in the upsert
            ident = _example_id(row)
            good.pop(ident, None)
            bad.pop(ident, None)
            record, reason = self.classify(ident, row)
            if reason is None:
                good[ident] = record
            else:
                bad[ident] = {"id": ident, "reason": reason}
        return list(good.values()), list(bad.values())

    def classify(self, ident: str, row: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        workload = row.get("workload")
        if _workload_problem(workload):
            return {}, _workload_problem(workload)
        created = parse_timestamp(row.get("created_at"))
        if created is None:
            return {}, "unparseable_timestamp"
        if created > self.now + timedelta(days=1):
            return {}, "future_timestamp"
        if created.year < 1970:
            return {}, "implausible_timestamp"
        label = _text(row.get("label"))
        provenance_value = _text(row.get("provenance"))
        provenance = self.provenance.get((provenance_value or "").lower())
        if provenance is None:
            provenance = provenance_value if provenance_value in PROVENANCE_CLASSES else "unknown"
        label_source = _text(row.get("label_source"))
        failure_mode = _text(row.get("failure_mode"))
        text = _text(row.get("output_text")) or _text(row.get("input_text"))
        return {
            "id": ident,
            "workload": _storable(str(workload)),
            "created_at": created,
            "updated_at": parse_timestamp(row.get("updated_at")),
            "label": label[:MAX_NAME] if label else None,
            "is_failure": (label or "").lower() in self.failure_labels,
            # free text like the excerpt: stored redacted and on one line, never raw
            "failure_mode": redacted_excerpt(failure_mode, 500) if failure_mode else None,
            "provenance": provenance,
            "label_source": label_source[:MAX_NAME] if label_source else None,
            "human_labeled": (label_source or "").lower() in self.trusted_sources,
            "input_hash": input_hash(_text(row.get("input_text"))),
            "excerpt": redacted_excerpt(text) if self.excerpts else None,
            "call_id": (_text(row.get("call_id")) or "")[:MAX_NAME] or None,
        }, None


def is_trusted_real(provenance: str, human_labeled: bool) -> bool:
    return provenance in _REAL_TRUSTED and human_labeled


def _example_id(row: dict[str, Any]) -> str:
    value = row.get("id")
    if value is None:
        digest = hashlib.sha256(repr(sorted((k, str(v)) for k, v in row.items())).encode()).hexdigest()[:32]
        return f"null-id:{digest}"
    return _storable(str(value)[:MAX_NAME])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = _storable(str(value))
    return text if text.strip() else None


def _storable(text: str) -> str:
    """Text the store can hold: PostgreSQL refuses NUL in text (one such byte would fail every sync
    of the source), so NUL becomes U+FFFD, as bytes that are not UTF-8 do."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def input_hash(text: str | None) -> str | None:
    """sha256 of the normalised input (NFKC, case-folded, whitespace collapsed)."""
    if text is None:
        return None
    normalised = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(normalised.encode("utf-8", "replace")).hexdigest()


def parse_timestamp(value: Any) -> datetime | None:
    """A UTC datetime from a driver value or ISO-8601 text; None when it is not a timestamp."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _record_outcome(store: Store, source: str, now: datetime, *, error: str | None) -> None:
    """Outside the sync transaction: when each source last succeeded or failed, and why."""
    with store.transaction() as conn:
        for kind in ("calls", "examples"):
            mark = store.watermark(conn, source, kind)
            if mark is None and error is None:
                continue
            failures = 0 if error is None else int((mark or {}).get("consecutive_failures") or 0) + 1
            values: dict[str, Any] = {"last_attempt_at": now, "last_error": error, "consecutive_failures": failures}
            if error is None:
                values["last_success_at"] = now
            store.save_watermark(conn, source, kind, **values)
