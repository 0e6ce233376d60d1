"""A backfill keeps several chunk queries running in the warehouse at once (`concurrent_queries`),
writes their rows in chunk order, and on PostgreSQL its sessions plan the GROUP BY as a hash aggregate."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from connectors.warehouse import RollupRow, Warehouse
from monitor.cli import main
from monitor.errors import SourceError
from monitor.settings import settings_from_dict
from monitor.store import Store
from monitor.sync import sync_source
from tests.conftest import NOW
from tests.factories import make_calls, native_source, oracle_rollups, store_rollups, write_table


class ObservedWarehouse(Warehouse):
    """The real warehouse, recording how many chunk queries run at once. The first `meet` queries
    wait for each other at a barrier: it breaks (and the sync fails) unless they run together."""

    def __init__(self, *args: object, meet: int = 1, fail_on: date | None = None) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.barrier = threading.Barrier(meet, timeout=20) if meet > 1 else None
        self.fail_on = fail_on
        self.running = 0
        self.most_at_once = 0
        self.started: list[date] = []
        self.lock = threading.Lock()

    def rollups(self, conn, start: date, end: date) -> list[RollupRow]:  # type: ignore[no-untyped-def]
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.started.append(start)
            first_ones = len(self.started) <= (self.barrier.parties if self.barrier else 0)
        try:
            if first_ones and self.barrier is not None:
                self.barrier.wait()
            if start == self.fail_on:
                raise SourceError(f"source 'wh': injected failure in the chunk from {start}")
            return super().rollups(conn, start, end)
        finally:
            with self.lock:
                self.running -= 1


def _setup(tmp_path: Path, **extra: object):
    calls = make_calls(3000, NOW, days=150)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", calls, text_timestamps=True)
    settings = settings_from_dict(
        {"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [native_source(url, **extra)]}, env={}
    )
    return calls, settings


@pytest.mark.parametrize("concurrent", [1, 2, 3])
def test_chunk_queries_run_together_and_the_rows_equal_the_oracle(tmp_path: Path, concurrent: int) -> None:
    calls, settings = _setup(tmp_path, concurrent_queries=concurrent)
    warehouse = ObservedWarehouse(settings.sources[0], meet=concurrent)
    store = Store(settings.store_url)
    try:
        result = sync_source(settings.sources[0], store, now=NOW, warehouse=warehouse)
        assert warehouse.engine.pool.checkedout() == 0  # every helper connection went back
    finally:
        store.dispose()
        warehouse.close()
    assert result.mode == "backfill"
    assert warehouse.most_at_once == concurrent
    assert len(set(warehouse.started)) == 14  # 400 days: 14 months, each queried once
    pd.testing.assert_frame_equal(store_rollups(settings.store_url), oracle_rollups(calls), check_dtype=False)


@pytest.mark.parametrize("mode", ["ingested", "lookback"])
def test_an_incremental_syncs_few_days_also_run_as_two_queries_at_once(tmp_path: Path, mode: str) -> None:
    """Three recent days recomputed (one chunk of the month) are split across the two queries."""
    calls, settings = _setup(tmp_path)
    source = settings.sources[0]
    if mode == "lookback":
        source = source.model_copy(update={"calls": source.calls.model_copy(update={"columns": {
            k: v for k, v in source.calls.columns.items() if k != "ingested_at"}})})  # fmt: skip
    store = Store(settings.store_url)
    try:
        sync_source(source, store, now=NOW)
        late = make_calls(300, NOW, days=2, seed=9, start_id=10**6)
        late["loaded_at"] = pd.Timestamp(NOW.replace(tzinfo=None)) + pd.Timedelta(minutes=5)
        write_table(source.url.get_secret_value(), "llm_calls", pd.concat([calls, late]), text_timestamps=True)
        warehouse = ObservedWarehouse(source, meet=2)
        try:
            result = sync_source(source, store, now=NOW + pd.Timedelta(hours=1), warehouse=warehouse)
        finally:
            warehouse.close()
    finally:
        store.dispose()
    assert result.mode == mode and result.days >= 2
    assert warehouse.most_at_once == 2 and len(warehouse.started) == 2
    pd.testing.assert_frame_equal(
        store_rollups(settings.store_url), oracle_rollups(pd.concat([calls, late])), check_dtype=False
    )


def test_a_failing_chunk_query_fails_the_sync_and_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """A month's query fails while the next month's is already running: the sync raises the
    warehouse's error, every connection is returned, and the store holds the previous sync's rows,
    not half a backfill."""
    calls, settings = _setup(tmp_path, concurrent_queries=2)
    source = settings.sources[0]
    store = Store(settings.store_url)
    try:
        sync_source(source, store, now=NOW)
        before = store_rollups(settings.store_url)
        months = sorted({d.replace(day=1) for d in pd.to_datetime(calls.created_at).dt.date})
        warehouse = ObservedWarehouse(source, fail_on=months[-4])
        try:
            with pytest.raises(SourceError, match="injected failure in the chunk from"):
                sync_source(source, store, now=NOW, full=True, warehouse=warehouse)
            assert warehouse.engine.pool.checkedout() == 0
        finally:
            warehouse.close()
    finally:
        store.dispose()
    pd.testing.assert_frame_equal(store_rollups(settings.store_url), before)


def test_the_default_is_one_query_on_duckdb_and_two_elsewhere(tmp_path: Path) -> None:
    def concurrency(url: str, **extra: object) -> int:
        settings = settings_from_dict({"sources": [native_source(url, **extra)]}, env={})
        warehouse = Warehouse(settings.sources[0])
        try:
            return warehouse.query_concurrency
        finally:
            warehouse.close()

    assert concurrency(f"duckdb:///{tmp_path / 'wh.duckdb'}") == 1  # DuckDB spreads one query over every core
    assert concurrency(f"sqlite:///{tmp_path / 'wh.db'}") == 2
    assert concurrency("postgresql+psycopg://ro@warehouse.internal/db") == 2
    assert concurrency(f"sqlite:///{tmp_path / 'wh.db'}", concurrent_queries=3) == 3
    assert concurrency(f"duckdb:///{tmp_path / 'wh.duckdb'}", concurrent_queries=1) == 1


def test_postgres_sessions_plan_the_rollups_as_a_hash_aggregate(postgres_schema: tuple[str, str]) -> None:
    """Without sorting every row of a chunk by its text keys first (see `connectors.dialects._HASH_AGGREGATION`)."""
    url, schema = postgres_schema
    write_table(url, "llm_calls", make_calls(500, NOW), schema=schema)
    settings = settings_from_dict({"sources": [native_source(url, f"{schema}.llm_calls")]}, env={})
    warehouse = Warehouse(settings.sources[0])
    try:
        with warehouse.connect() as conn:
            shown = {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("enable_sort", "work_mem", "jit")}
            query = warehouse.rollup_query(conn, date(2026, 1, 1), date(2026, 12, 1))
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    finally:
        warehouse.close()
    assert shown == {"enable_sort": "off", "work_mem": "64MB", "jit": "off"}
    assert "HashAggregate" in plan and "Sort" not in plan


def test_concurrent_queries_on_duckdb_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DuckDB's memory limit is one for all its connections: a second query would run out of memory
    when the sync empties the cache after the first (found in the benchmark), so settings refuse it."""
    source = native_source(f"duckdb:///{tmp_path / 'wh.duckdb'}", concurrent_queries=2)
    config = tmp_path / "ftready.yaml"
    config.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [source]}))
    assert main(["check", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1, captured.err
    assert "sources[0]" in captured.err and "leave concurrent_queries unset (or 1) on DuckDB" in captured.err
