"""A tiny run of the benchmark code (`python -m bench`), so the bench cannot rot. Not a benchmark."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.__main__ import main, parse_size
from bench.data import NATIVE_COLUMNS as BENCH_COLUMNS
from bench.data import BenchTable, duckdb_url, ensure_table, table_name
from tests.conftest import POSTGRES_URL
from tests.factories import NATIVE_COLUMNS


def test_bench_mapping_is_the_tests_native_mapping() -> None:
    assert BENCH_COLUMNS == NATIVE_COLUMNS


def test_sizes_and_table_names() -> None:
    assert [parse_size(s) for s in ("1m", "10M", "20k", "1500")] == [1_000_000, 10_000_000, 20_000, 1500]
    assert [table_name(n) for n in (1_000_000, 10_000_000, 20_000, 1500)] == [
        "calls_1m", "calls_10m", "calls_20k", "calls_1500",
    ]  # fmt: skip


def _run(tmp_path: Path, *args: str) -> str:
    output = tmp_path / "RESULTS.md"
    common = ["--sizes", "3000", "--runs", "1", "--data-dir", str(tmp_path / "data"), "--output", str(output)]
    assert main([*common, *args]) == 0
    return output.read_text(encoding="utf-8")


def test_bench_smoke_duckdb(tmp_path: Path) -> None:
    """Incremental syncs (after an unmeasured backfill) and the report (which evaluates first).

    B2 appends its rows to a copy of the DuckDB file: rows deleted from a DuckDB table stay in its
    row groups, which raised the next run's backfill memory, so the built file must stay as it was."""
    database = tmp_path / "data" / "warehouse.duckdb"
    ensure_table(BenchTable("duckdb", duckdb_url(database.parent), 3000))
    built = hashlib.sha256(database.read_bytes()).hexdigest()
    text = _run(tmp_path, "--backends", "duckdb", "--cases", "b2,b4", "--eval-days", "60", "--report-workloads", "3")
    assert "### B2 incremental sync" in text and "| ingested |" in text and "| lookback |" in text
    assert "### B4 weekly report" in text or "- report:" in text
    assert "## Machine" in text and "## Versions" in text
    assert hashlib.sha256(database.read_bytes()).hexdigest() == built
    assert sorted(p.name for p in database.parent.iterdir()) == ["warehouse.duckdb"]


@pytest.mark.skipif(not POSTGRES_URL, reason="FTREADY_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)")
def test_bench_smoke_postgres(tmp_path: Path) -> None:
    """Full sync against the bare GROUP BY and naive pandas: all three count the same calls."""
    assert POSTGRES_URL is not None
    text = _run(tmp_path, "--backends", "postgresql", "--postgres-url", POSTGRES_URL, "--cases", "b1")
    assert "### B1 full sync" in text and "### Targets" in text
    checks = [line for line in text.splitlines() if line.startswith("| postgresql | 3,000 | ")]
    assert any(line.endswith("| yes |") for line in checks)
