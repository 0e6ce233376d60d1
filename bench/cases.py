"""The measured cases. Each runs in a fresh child process (`bench.worker`) and returns a dict with
at least `seconds`, the wall time of the measured work alone (imports, reflection of the bench
fixtures and store creation excluded unless ftready itself does them inside the call), and
`cpu_seconds`, the CPU time of this process (all its threads) over the same span: ftready's own
work on PostgreSQL, ftready plus the embedded engine on DuckDB.

- `bare`: the limit: exactly the query `Warehouse.rollup_query` compiles, over the backfill's day
  range, every row fetched.
- `sync`: `sync_all` into a fresh SQLite state store (backfill), or into a copy of a backfilled one
  a day later (incremental).
- `naive`: `pd.read_sql("SELECT * ...")`, then the same filters and groups in pandas.
- `evaluate`, `report`: `evaluate_store` and `write_weekly_report` over a store made by
  `build_rollup_store`.

Heavy imports (pandas, ftready's modules) happen inside the cases, so one case's imports never
count toward another's peak memory.
"""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.data import BACKFILL_DAYS, NOW, BenchTable, source_config

LLM_OPERATIONS = ("chat", "text_completion", "generate_content")
FAILURE_MODES = ("wrong_format", "tone", "missing_knowledge", "instruction_miss", "hallucination", "truncated")


def backfill_range(now: datetime = NOW) -> tuple[date, date]:
    """[first day, tomorrow): the days a first sync with `backfill_days` recomputes."""
    today = now.date()
    return today - timedelta(days=BACKFILL_DAYS - 1), today + timedelta(days=1)


def _table(spec: dict[str, Any]) -> BenchTable:
    return BenchTable(spec["backend"], spec["url"], spec["rows"])


def bare(spec: dict[str, Any]) -> dict[str, Any]:
    from connectors.dialects import execute
    from connectors.warehouse import Warehouse
    from monitor.settings import settings_from_dict

    settings = settings_from_dict({"sources": [source_config(_table(spec))]}, env={})
    warehouse = Warehouse(settings.sources[0])
    start, end = backfill_range()
    try:
        with warehouse.connect() as conn:
            query = warehouse.rollup_query(conn, start, end)
            started, cpu = time.perf_counter(), time.process_time()
            rows = execute(conn, query).mappings().all()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        warehouse.close()
    counted = [r for r in rows if r["reason"] is None and r["workload"] is not None and r["day"] is not None]
    return {"seconds": seconds, "cpu_seconds": cpu, "groups": len(rows), "calls": sum(int(r["calls"]) for r in counted)}


def sync(spec: dict[str, Any]) -> dict[str, Any]:
    import monitor.cli  # noqa: F401  (what `ftready sync` has loaded before it syncs)
    import sqlalchemy as sa

    from monitor.settings import settings_from_dict
    from monitor.store import Store
    from monitor.sync import sync_all

    # The driver is imported before the clock starts, as `bare` and `naive` create their engines
    # before theirs and as the daemon has, syncing in one long-lived process. (A one-off
    # `ftready sync` imports it too: ~0.2 s for DuckDB, which the measured call would otherwise hold.)
    sa.create_engine(spec["url"]).dispose()
    source = source_config(_table(spec), ingested_at=spec.get("ingested_at", True))
    settings = settings_from_dict({"store": {"url": f"sqlite:///{spec['store']}"}, "sources": [source]}, env={})
    store = Store(settings.store_url)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        [result] = sync_all(settings, store, now=datetime.fromisoformat(spec["now"]))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        store.dispose()
    return {
        "seconds": seconds, "cpu_seconds": cpu, "mode": result.mode, "days": result.days,
        "rollup_rows": result.rollup_rows, "calls": result.calls, "store_bytes": Path(spec["store"]).stat().st_size,
    }  # fmt: skip


def naive(spec: dict[str, Any]) -> dict[str, Any]:
    """What a notebook does: every row into a DataFrame, then filter and group in pandas."""
    import pandas as pd
    import sqlalchemy as sa

    table = _table(spec)
    engine = sa.create_engine(table.url)
    started, cpu = time.perf_counter(), time.process_time()
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text(f"SELECT * FROM {table.qualified}"), conn)
    calls = frame[(frame["environment"] == "production") & frame["operation"].isin(LLM_OPERATIONS)]
    calls = calls.assign(day=calls["created_at"].dt.floor("D"), is_error=calls["status"] == "error")
    grouped = calls.groupby(["feature", "model", "prompt_version", "day"])
    result = grouped.agg(
        calls=("call_id", "size"),
        errors=("is_error", "sum"),
        input_tokens=("prompt_tokens", "sum"),
        output_tokens=("completion_tokens", "sum"),
        cost_usd=("cost", "sum"),
        cost_calls=("cost", "count"),
    )
    result["p50_latency_ms"] = grouped["latency_ms"].quantile(0.5)
    result["p95_latency_ms"] = grouped["latency_ms"].quantile(0.95)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu, "groups": len(result), "calls": int(result["calls"].sum())}


def _store_settings(store: str, workloads: int) -> Any:
    from monitor.settings import settings_from_dict

    configured = {
        workload_name(w): {
            "latency_slo_ms": 1500, "current_model": "gpt-4o", "candidate_model": "gpt-4o-mini",
            "domain": "specialized" if w % 8 == 0 else "general", "strict_format": w % 6 == 0,
        }  # fmt: skip
        for w in range(0, workloads, 4)
    }
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{store}"},
            "sources": [{"name": "bench", "url": "sqlite:///unused.db", "calls": {"table": "calls"}}],
            "workloads": configured,
        },
        env={},
    )


def evaluate(spec: dict[str, Any]) -> dict[str, Any]:
    from monitor.evaluate import evaluate_store
    from monitor.store import Store

    settings = _store_settings(spec["store"], spec["workloads"])
    store = Store(settings.store_url)
    try:
        started = time.perf_counter()
        run = evaluate_store(settings, store, now=NOW)
        seconds = time.perf_counter() - started
    finally:
        store.dispose()
    return {"seconds": seconds, "workloads": len(run.verdicts)}


def report(spec: dict[str, Any]) -> dict[str, Any]:
    from monitor.evaluate import evaluate_store
    from monitor.store import Store
    from reports import write_weekly_report

    settings = _store_settings(spec["store"], spec["workloads"])
    store = Store(settings.store_url)
    try:
        run = evaluate_store(settings, store, now=NOW)
        started = time.perf_counter()
        files = write_weekly_report(settings, store, run, now=NOW, out_dir=spec["out_dir"])
        seconds = time.perf_counter() - started
    finally:
        store.dispose()
    return {
        "seconds": seconds, "workloads": len(run.verdicts), "html_bytes": files.html.stat().st_size,
        "json_bytes": files.json.stat().st_size,
    }  # fmt: skip


CASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "bare": bare, "sync": sync, "naive": naive, "evaluate": evaluate, "report": report,
}  # fmt: skip


# -- a state store with years of rollups, for evaluate and report --------------------------------


def workload_name(index: int) -> str:
    return f"workload-{index:03d}"


def build_rollup_store(path: Path, *, workloads: int, days: int, seed: int = 7) -> dict[str, int]:
    """A SQLite state store as `days` days of syncs would leave it: rollups per workload, model,
    prompt version and day (volume skewed over workloads, growing over time), labeled examples,
    and the calls watermark. Returns the row counts."""
    from monitor.histogram import BUCKET_COLUMNS, EDGES_MS
    from monitor.monthly import rebuild_all
    from monitor.store import Store, call_rollups, examples

    store = Store(f"sqlite:///{path}")  # creates the schema
    rng = random.Random(seed)
    first = NOW.date() - timedelta(days=days - 1)
    models = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "claude-3-5-sonnet", "gemini-1.5-flash")
    rollup_rows: list[tuple[Any, ...]] = []
    example_rows: list[tuple[Any, ...]] = []
    for w in range(workloads):
        name = workload_name(w)
        peak = 40_000 / (1 + w) ** 1.1 + 20  # calls per day at the end of the span
        share = _latency_shares(EDGES_MS, median_ms=400 + 37 * (w % 40))
        used = [models[(w + k) % len(models)] for k in range(1 + w % 3)]
        period = 30 + (w * 13) % 120
        for offset in range(days):
            day = first + timedelta(days=offset)
            volume = peak * (0.25 + 0.75 * offset / days)
            for k, model in enumerate(used):
                calls = max(1, int(volume * (0.6 if k == 0 else 0.4 / (len(used) - 1)) * rng.uniform(0.8, 1.2)))
                buckets = [int(calls * s) for s in share]
                buckets[buckets.index(max(buckets))] += calls - sum(buckets)
                tokens_in, tokens_out = calls * rng.randint(300, 1500), calls * rng.randint(50, 400)
                rollup_rows.append(
                    ("bench", name, model, f"v{1 + offset // period}", day, calls, calls // 50, tokens_in, tokens_out,
                     None, 0, tokens_in, tokens_out, calls, *buckets)
                )  # fmt: skip
        for i in range(int(3000 / (1 + w / 10))):
            created = datetime.combine(first, datetime.min.time()) + timedelta(seconds=rng.randrange(days * 86400))
            failure = rng.random() < 0.15
            provenance = rng.choices(
                ("production_log", "relabeled_by_human", "synthetic", "unknown"), (70, 10, 15, 5)
            )[0]
            human = rng.random() < 0.8
            text = f"{name} input {rng.randrange(10**6)}"
            example_rows.append(
                (
                    "bench", f"{name}-{i}", name, created, None, "fail" if failure else "pass", failure,
                    rng.choice(FAILURE_MODES) if failure else None, provenance, "human" if human else "model",
                    human, hashlib.sha256(text.encode()).hexdigest(), text, None,
                )
            )  # fmt: skip
    rollup_columns = [c.name for c in call_rollups.c]
    assert rollup_columns[-len(BUCKET_COLUMNS) :] == list(BUCKET_COLUMNS)
    example_columns = [c.name for c in examples.c]
    with sqlite3.connect(path) as conn:
        conn.executemany(_insert_sql("call_rollups", rollup_columns), [_sqlite_row(r) for r in rollup_rows])
        conn.executemany(_insert_sql("examples", example_columns), [_sqlite_row(r) for r in example_rows])
        conn.execute(
            "INSERT INTO watermarks (source, kind, first_day, last_day, consecutive_failures) VALUES (?, ?, ?, ?, 0)",
            ("bench", "calls", first.isoformat(), NOW.date().isoformat()),
        )
    with store.transaction() as conn:  # what the syncs would have kept alongside the daily rows
        rebuild_all(conn)
    store.dispose()
    return {"rollup_rows": len(rollup_rows), "examples": len(example_rows)}


def _insert_sql(table: str, columns: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Dates and datetimes as SQLAlchemy's SQLite types store them (ISO text)."""
    return tuple(
        v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v.isoformat() if isinstance(v, date) else v
        for v in row
    )


def _latency_shares(edges: tuple[int, ...], *, median_ms: float, sigma: float = 0.6) -> list[float]:
    """The share of a log-normal latency in each histogram bucket (the last is the overflow)."""
    cdf = [0.5 * (1 + math.erf(math.log(edge / median_ms) / (sigma * math.sqrt(2)))) for edge in edges]
    shares, previous = [], 0.0
    for value in cdf:
        shares.append(value - previous)
        previous = value
    shares.append(1 - previous)
    return shares
