"""Sync against real warehouses: rollups equal an independent oracle, idempotent, crash-safe."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitor.cli import main
from monitor.errors import SourceError
from monitor.settings import settings_from_dict
from tests.conftest import NOW
from tests.factories import make_calls, native_source, oracle_rollups, store_rollups, sync_store, write_table

N = 3000


def _settings(source: dict, store_url: str):
    return settings_from_dict({"store": {"url": store_url}, "sources": [source]}, env={})


def _sqlite_warehouse(tmp_path: Path, calls: pd.DataFrame) -> str:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", calls, text_timestamps=True)
    return url


def _sync(source: dict, store_url: str, **kwargs):
    return sync_store(_settings(source, store_url), now=kwargs.pop("now", NOW), **kwargs)


def _assert_matches_oracle(store_url: str, calls: pd.DataFrame) -> None:
    got = store_rollups(store_url)
    expected = oracle_rollups(calls)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_sqlite_rollups_equal_pandas_oracle(tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    [result] = _sync(native_source(url), store_url)
    assert result.mode == "backfill"
    _assert_matches_oracle(store_url, calls)


def test_rollup_counts_equal_sql_count_oracle(tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    with sqlite3.connect(tmp_path / "wh.db") as conn:
        expected = conn.execute(
            "SELECT feature, date(created_at), count(*) FROM llm_calls WHERE environment = 'production' "
            "AND operation IN ('chat', 'text_completion', 'generate_content') GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        got = conn.execute("SELECT workload, day, sum(calls) FROM call_rollups GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    assert got == expected


def test_duckdb_rollups_equal_oracle(tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "llm_calls", calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    _assert_matches_oracle(store_url, calls)


@pytest.mark.parametrize("limit", [None, "1GB"])
def test_duckdb_runs_under_the_source_memory_limit(tmp_path: Path, limit: str | None) -> None:
    """DuckDB runs inside ftready: every connection carries `duckdb_memory_limit` (128MB unless set)."""
    from connectors.warehouse import Warehouse

    calls = make_calls(N, NOW)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "llm_calls", calls)
    source = native_source(url, **({"duckdb_memory_limit": limit} if limit else {}))
    warehouse = Warehouse(_settings(source, "sqlite://").sources[0])
    try:
        with warehouse.connect() as conn:
            shown = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
    finally:
        warehouse.close()
    assert shown.replace(" ", "").removesuffix("iB") == {None: "122.0M", "1GB": "953.6M"}[limit]
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(source, store_url)
    _assert_matches_oracle(store_url, calls)


def _duckdb_calls(url: str, rows: int, *, workloads: int, seconds: int) -> None:
    """A DuckDB call table: `rows` production calls over `workloads` workloads, one every few
    seconds from 2026-08-01 (`seconds`: the span they cycle through)."""
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE llm_calls AS SELECT 'c' || range AS call_id, "
            f"TIMESTAMP '2026-08-01' + to_seconds(range % {seconds}) AS created_at, 'w' || (range % {workloads}) AS feature, "
            "'m' || (range % 3) AS model, hash(range) % 3000 AS prompt_tokens, hash(range + 1) % 800 AS completion_tokens, "
            "(hash(range + 2) % 90000) / 10.0 AS latency_ms, 'ok' AS status, 0.001 AS cost, 'v1' AS prompt_version, "
            f"'production' AS environment, 'chat' AS operation, TIMESTAMP '2026-08-01' + to_seconds(range % {seconds}) AS loaded_at "
            f"FROM range({rows})"
        )


def _duckdb_limit(conn: sa.Connection) -> str:
    return conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar().replace(" ", "")


def test_duckdb_cache_is_emptied_after_each_chunk_and_queries_run_under_a_working_limit(tmp_path: Path) -> None:
    """A sync reads each block once: the blocks a chunk query read do not stay cached, and queries run
    under a working limit well below the configured 128MB, so that DuckDB does not cache them."""
    from connectors.warehouse import Warehouse

    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    _duckdb_calls(url, 3_000_000, workloads=7, seconds=8_000_000)
    warehouse = Warehouse(_settings(native_source(url), "sqlite://").sources[0])
    cached = "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
    try:
        with warehouse.connect() as conn:
            conn.exec_driver_sql("SELECT max(COLUMNS(*)) FROM llm_calls").all()  # every block read once
            assert conn.exec_driver_sql(cached).scalar() > 16 * 2**20
            assert sum(r.calls for r in warehouse.rollups(conn, NOW.date() - timedelta(days=200), NOW.date())) == 3_000_000
            assert conn.exec_driver_sql(cached).scalar() <= 8 * 2**20
            threads = conn.exec_driver_sql("SELECT current_setting('threads')").scalar()
            working = max(16, 4 * threads) * 10**6 / 2**20  # 16MB, or 4MB per thread; DuckDB shows it in MiB
            assert _duckdb_limit(conn) == f"{int(working * 10) / 10:.1f}MiB"
            assert warehouse.newest_ingested(conn) is not None
            assert conn.exec_driver_sql(cached).scalar() <= 8 * 2**20
    finally:
        warehouse.close()


def test_duckdb_query_that_outgrows_the_working_limit_runs_under_the_configured_one(tmp_path: Path) -> None:
    """A month of 72,000 groups needs more than the working limit: the query runs again under
    `duckdb_memory_limit`, which later queries keep; with that limit set as low, the sync fails."""
    from connectors.warehouse import Warehouse

    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    _duckdb_calls(url, 240_000, workloads=8_000, seconds=10 * 86_400)  # 8,000 workloads on each of 10 days
    warehouse = Warehouse(_settings(native_source(url), "sqlite://").sources[0])
    try:
        with warehouse.connect() as conn:
            rows = warehouse.rollups(conn, NOW.date().replace(month=8, day=1), NOW.date().replace(month=9, day=1))
            assert _duckdb_limit(conn) == "122.0MiB"
            groups = "SELECT count(*) FROM (SELECT DISTINCT feature, model, CAST(created_at AS DATE) FROM llm_calls)"
            assert len(rows) == conn.exec_driver_sql(groups).scalar() == 72_000
    finally:
        warehouse.close()
    assert sum(r.calls for r in rows) == 240_000
    with pytest.raises(SourceError, match=r"duckdb_memory_limit: 16MB\): Out of Memory Error"):
        _sync(native_source(url, duckdb_memory_limit="16MB"), f"sqlite:///{tmp_path / 'state.db'}")
    [result] = _sync(native_source(url), f"sqlite:///{tmp_path / 'state.db'}")
    assert result.calls == 240_000


def test_duckdb_out_of_memory_names_the_setting_to_raise(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "llm_calls", make_calls(N, NOW))
    with pytest.raises(SourceError) as raised:
        _sync(native_source(url, duckdb_memory_limit="4MB"), f"sqlite:///{tmp_path / 'state.db'}")
    assert "DuckDB needed more than its memory limit (duckdb_memory_limit: 4MB)" in str(raised.value)
    assert str(raised.value).endswith("raise duckdb_memory_limit")


HOSTILE = ["it's", "back\\slash", "$1", "x'; DROP TABLE llm_calls; --", "<!channel>"]


def test_duckdb_pages_hostile_ids_and_texts(tmp_path: Path) -> None:
    """On DuckDB the statements' values are written into their SQL (`connectors.dialects.execute`):
    quotes, backslashes and `$1` in the keyset cursor must come back exactly, page after page."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "llm_calls", make_calls(300, NOW))
    ids = [f"{HOSTILE[i % len(HOSTILE)]}{i}" for i in range(250)]
    created = pd.Timestamp(NOW.replace(tzinfo=None)) - pd.Timedelta(days=1)  # one timestamp: ids order the pages
    labels = pd.DataFrame(
        {
            "id": ids, "feature": "it's \\ $1", "created_at": created, "updated_at": created, "verdict": "fail",
            "failure_mode": "O'Brien's \\n format", "source": "production", "labeled_by": "human",
            "prompt": ids, "output": ids,
        }
    )  # fmt: skip
    write_table(url, "llm_labels", labels)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    [result] = _sync(native_source(url, labels="llm_labels"), store_url)  # pages of 100: the cursor holds hostile ids
    assert result.examples_upserted == len(ids)
    with sa.create_engine(store_url).connect() as conn:
        stored = conn.execute(sa.text("SELECT id, workload, failure_mode FROM examples")).all()
    assert sorted(r.id for r in stored) == sorted(ids)
    assert {(r.workload, r.failure_mode) for r in stored} == {("it's \\ $1", "O'Brien's \\n format")}
    with sa.create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM llm_calls").scalar() == 300


def test_postgres_rollups_equal_oracle(postgres_schema: tuple[str, str], tmp_path: Path) -> None:
    url, schema = postgres_schema
    calls = make_calls(N, NOW)
    write_table(url, "llm_calls", calls, schema=schema)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url, f"{schema}.llm_calls"), store_url)
    _assert_matches_oracle(store_url, calls)


def test_postgres_timestamptz_days_are_utc(postgres_schema: tuple[str, str], tmp_path: Path) -> None:
    url, schema = postgres_schema
    calls = make_calls(500, NOW)
    aware = calls.assign(
        created_at=calls.created_at.dt.tz_localize("UTC").dt.tz_convert("America/New_York"),
        loaded_at=calls.loaded_at.dt.tz_localize("UTC"),
    )
    write_table(url, "llm_calls", aware, schema=schema)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url, f"{schema}.llm_calls"), store_url)
    _assert_matches_oracle(store_url, calls)


def test_mariadb_rollups_equal_oracle(mysql_database: str, tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    write_table(mysql_database, "llm_calls", calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(mysql_database), store_url)
    _assert_matches_oracle(store_url, calls)


def test_postgres_state_store(postgres_store_url: str, tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    _sync(native_source(url), postgres_store_url)
    _sync(native_source(url), postgres_store_url)
    _assert_matches_oracle(postgres_store_url, calls)


def test_sync_twice_is_idempotent(tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    first = store_rollups(store_url)
    [again] = _sync(native_source(url), store_url)
    assert again.mode == "ingested"
    pd.testing.assert_frame_equal(store_rollups(store_url), first)


def test_lookback_mode_counts_late_rows(tmp_path: Path) -> None:
    """Without ingested_at, rows that arrive late for a day inside lookback are counted."""
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    source = native_source(url)
    del source["calls"]["columns"]["ingested_at"]
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(source, store_url)
    late = make_calls(200, NOW, days=2, seed=9, start_id=10**6)
    write_table(url, "llm_calls", pd.concat([calls, late]), text_timestamps=True)
    [result] = _sync(source, store_url, now=NOW + timedelta(hours=1))
    assert result.mode == "lookback"
    _assert_matches_oracle(store_url, pd.concat([calls, late]))


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_ingested_at_mode_recomputes_exactly_touched_days(tmp_path: Path, backend: str) -> None:
    calls = make_calls(N, NOW)
    text_timestamps = backend == "sqlite"
    url = _sqlite_warehouse(tmp_path, calls) if text_timestamps else f"duckdb:///{tmp_path / 'wh.duckdb'}"
    if not text_timestamps:
        write_table(url, "llm_calls", calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    late = make_calls(100, NOW, days=60, seed=5, start_id=10**6)  # late rows for old days
    late["loaded_at"] = pd.Timestamp(NOW.replace(tzinfo=None)) + pd.Timedelta(minutes=30)
    write_table(url, "llm_calls", pd.concat([calls, late]), text_timestamps=text_timestamps)
    [result] = _sync(native_source(url), store_url, now=NOW + timedelta(hours=1))
    assert result.mode == "ingested"
    assert result.days <= late.created_at.dt.date.nunique() + 2
    _assert_matches_oracle(store_url, pd.concat([calls, late]))


def test_crash_between_chunks_leaves_store_unchanged_and_next_sync_converges(tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    before = store_rollups(store_url)
    more = make_calls(300, NOW, days=90, seed=3, start_id=10**6)
    more["loaded_at"] = pd.Timestamp(NOW.replace(tzinfo=None)) + pd.Timedelta(minutes=5)
    write_table(url, "llm_calls", pd.concat([calls, more]), text_timestamps=True)

    seen = []

    def crash(point: str) -> None:
        seen.append(point)
        if point == "chunk_done" and seen.count("chunk_done") == 2:
            raise RuntimeError("injected crash")

    with pytest.raises(SourceError, match="injected crash"):
        _sync(native_source(url), store_url, now=NOW + timedelta(hours=1), checkpoint=crash)
    pd.testing.assert_frame_equal(store_rollups(store_url), before)
    _sync(native_source(url), store_url, now=NOW + timedelta(hours=1))
    _assert_matches_oracle(store_url, pd.concat([calls, more]))


def test_full_sync_equals_incremental_history(tmp_path: Path) -> None:
    calls = make_calls(N, NOW)
    url = _sqlite_warehouse(tmp_path, calls)
    incremental = f"sqlite:///{tmp_path / 'a.db'}"
    _sync(native_source(url), incremental)
    _sync(native_source(url), incremental, now=NOW + timedelta(hours=2))
    fresh = f"sqlite:///{tmp_path / 'b.db'}"
    _sync(native_source(url), fresh, now=NOW + timedelta(hours=2), full=True)
    pd.testing.assert_frame_equal(store_rollups(incremental), store_rollups(fresh))


def test_bad_rows_are_quarantined_by_reason_not_counted(tmp_path: Path) -> None:
    calls = make_calls(500, NOW)
    calls["environment"] = "production"
    calls["operation"] = "chat"
    bad = calls.head(6).copy()
    bad["call_id"] = [f"bad{i}" for i in range(6)]
    bad.loc[bad.index[0], "feature"] = None
    bad.loc[bad.index[1], "prompt_tokens"] = -5
    bad.loc[bad.index[2], "latency_ms"] = -1.0
    frame = pd.concat([calls, bad])
    frame["created_at"] = frame.created_at.dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.iloc[-3, frame.columns.get_loc("created_at")] = "not-a-date"
    frame.iloc[-2, frame.columns.get_loc("created_at")] = (NOW + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    frame.iloc[-1, frame.columns.get_loc("created_at")] = None
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", frame)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    [result] = _sync(native_source(url), store_url)
    assert result.quarantined == {
        "null_workload": 1, "negative_tokens": 1, "negative_latency": 1,
        "unparseable_timestamp": 1, "future_timestamp": 1, "null_timestamp": 1,
    }  # fmt: skip
    assert result.calls == 500
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT reason, sum(rows) FROM quarantine GROUP BY reason")).all())
    assert stored == result.quarantined
    [again] = _sync(native_source(url), store_url, now=NOW + timedelta(hours=1))
    with engine.connect() as conn:
        stored_again = dict(conn.execute(sa.text("SELECT reason, sum(rows) FROM quarantine GROUP BY reason")).all())
    assert stored_again == stored  # recounted, not added up


@pytest.mark.parametrize(
    "table,column",
    [
        ('calls"; DROP TABLE llm_calls; --', 'latency ms; "x"'),
        ("my table", "o'clock"),
    ],
)
def test_hostile_identifiers_are_quoted(tmp_path: Path, table: str, column: str) -> None:
    calls = make_calls(400, NOW).rename(columns={"latency_ms": column})
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, table, calls, text_timestamps=True)
    source = native_source(url, table)
    source["calls"]["columns"]["latency_ms"] = column
    source["calls"]["filters"] = [{"column": "environment", "op": "=", "value": "production' OR '1'='1"}]
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    [result] = _sync(source, store_url)
    assert result.calls == 0  # the hostile filter value is a value, not SQL
    source["calls"]["filters"] = [{"column": "environment", "op": "in", "value": ["production"]}]
    _sync(source, store_url, full=True)
    _assert_matches_oracle(store_url, calls.rename(columns={column: "latency_ms"}))
    with sqlite3.connect(tmp_path / "wh.db") as conn:
        assert conn.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"').fetchone()[0] == 400


def test_unreachable_warehouse_is_a_source_error_with_masked_password(tmp_path: Path) -> None:
    source = native_source("postgresql+psycopg://app:s3cret-pw@127.0.0.1:1/nowhere")
    with pytest.raises(SourceError) as info:
        _sync(source, f"sqlite:///{tmp_path / 'state.db'}")
    assert "s3cret-pw" not in str(info.value)
    assert "***" in str(info.value)


def test_check_names_a_missing_column_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls = make_calls(50, NOW).drop(columns=["latency_ms"])
    url = _sqlite_warehouse(tmp_path, calls)
    config = tmp_path / "ftready.yaml"
    config.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [native_source(url)]}))
    assert main(["check", "--config", str(config)]) == 1
    output = capsys.readouterr().out
    assert "calls.columns.latency_ms" in output and "no column 'latency_ms'" in output


def test_check_passes_on_a_good_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _sqlite_warehouse(tmp_path, make_calls(50, NOW))
    config = tmp_path / "ftready.yaml"
    config.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [native_source(url)]}))
    assert main(["check", "--config", str(config)]) == 0
    assert "all mapped columns found" in capsys.readouterr().out


def test_sync_cli_json_reports_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _sqlite_warehouse(tmp_path, make_calls(300, NOW))
    config = tmp_path / "ftready.yaml"
    config.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [native_source(url)]}))
    assert main(["sync", "--json", "--config", str(config)]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["source"] == "wh" and result["mode"] == "backfill" and result["calls"] > 0


def test_touched_days_orders_mixed_ingested_values_in_the_database(tmp_path: Path) -> None:
    """A SQLite column can hold text on one row and a blob on another, which Python cannot order:
    the newest ingested_at then comes from the database's own MAX, as a malformed row must not
    stop the sync."""
    from connectors.warehouse import Warehouse

    url = _sqlite_warehouse(tmp_path, make_calls(20, NOW))
    with sqlite3.connect(tmp_path / "wh.db") as raw:
        raw.execute("UPDATE llm_calls SET loaded_at = X'ff' WHERE rowid = 1")
    warehouse = Warehouse(_settings(native_source(url), "sqlite://").sources[0])
    try:
        with warehouse.connect() as conn:
            days, newest = warehouse.touched_days(conn, "2000-01-01 00:00:00")
    finally:
        warehouse.close()
    assert len(days) > 1 and newest is not None
