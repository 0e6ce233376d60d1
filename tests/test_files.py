"""File sources: Parquet, CSV and JSON-lines files read through DuckDB give the same rollups and
labels as the same data in a table, with the same presets."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from monitor.errors import ConfigError, SourceError
from monitor.settings import settings_from_dict
from tests.conftest import NOW
from tests.factories import make_calls, native_source, oracle_rollups, store_rollups, sync_store
from tests.test_presets import assert_rollups, stored_examples, sync
from tests.test_presets_factories import helicone_requests, langfuse_tables, make_truth, otel_spans, stored_rollups, write_frame

FORMATS = ["parquet", "csv", "jsonl"]


def write_files(frame: pd.DataFrame, path: Path, fmt: str, *, json_columns: tuple[str, ...] = (), maps: tuple[str, ...] = ()) -> None:
    """The frame as an export would write it: JSON-lines with nested objects, CSV and Parquet with
    JSON text (or, for `maps`, Parquet MAP columns as ClickHouse exports them)."""
    data = frame.copy()
    if fmt == "jsonl":
        records = data.astype(object).where(data.notna(), None).to_dict("records")
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, default=lambda v: v.isoformat(sep=" ", timespec="milliseconds")) + "\n")
        return
    for column in (c for c in json_columns if c in data.columns):
        data[column] = [json.dumps(v) if isinstance(v, dict) else None for v in data[column]]
    if fmt == "csv":
        data.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S.%f")
        return
    con = duckdb.connect()
    con.register("frame", data)
    select = "*"
    if maps:
        select = "* REPLACE (" + ", ".join(f"CAST(CAST({m} AS JSON) AS MAP(VARCHAR, VARCHAR)) AS {m}" for m in maps) + ")"
    con.execute(f"COPY (SELECT {select} FROM frame) TO '{path}' (FORMAT parquet)")
    con.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_otel_files_equal_the_table_and_the_oracle(fmt: str, tmp_path: Path) -> None:
    truth = make_truth(300, NOW, seed=21)
    spans = otel_spans(truth, layout="json")
    write_files(spans, tmp_path / f"spans.{fmt}", fmt, json_columns=("attributes",))
    calls = {"table": "spans", "preset": "otel_genai", "columns": {"workload": "gen_ai.agent.name"}}
    [result], store_url = sync({"path": str(tmp_path / f"*.{fmt}"), "calls": calls}, tmp_path)
    assert result.calls == 300
    assert_rollups(store_url, truth)

    table_dir = tmp_path / "table"
    table_dir.mkdir()
    url = f"duckdb:///{table_dir / 'wh.duckdb'}"
    write_frame(url, "spans", spans, json_columns=("attributes",))
    _, table_store = sync({"url": url, "calls": calls}, table_dir)
    pd.testing.assert_frame_equal(stored_rollups(store_url), stored_rollups(table_store))


@pytest.mark.parametrize("fmt", FORMATS)
def test_helicone_files_with_map_columns(fmt: str, tmp_path: Path) -> None:
    truth = make_truth(500, NOW, seed=22)
    write_files(helicone_requests(truth), tmp_path / f"requests.{fmt}", fmt, json_columns=("properties", "scores"),
                maps=("properties",) if fmt == "parquet" else ())  # fmt: skip
    source = {
        "path": str(tmp_path / f"requests.{fmt}"),
        "calls": {"table": "request_response_rmt", "preset": "helicone", "workload_key": {"column": "properties", "key": "feature"}},
        "examples": {"table": "request_response_rmt", "preset": "helicone"},
    }
    [result], store_url = sync(source, tmp_path)
    assert result.calls == 500
    assert_rollups(store_url, truth)
    assert len(stored_examples(store_url)) == int((truth.id.astype(int) % 7 == 0).sum())


def test_langfuse_export_as_several_files(tmp_path: Path) -> None:
    """`path:` as a mapping: one view per table, so the trace-name lookup and the scores work."""
    truth = make_truth(400, NOW, seed=23)
    tables = langfuse_tables(truth)
    paths = {}
    for name, fmt in (("observations", "parquet"), ("traces", "jsonl"), ("scores", "csv")):
        folder = tmp_path / name
        folder.mkdir()
        frame = tables[name].drop(columns=["expected_label", "expected_failure", "workload"], errors="ignore")
        for part, chunk in enumerate((frame.iloc[::2], frame.iloc[1::2])):  # two files per table
            write_files(chunk, folder / f"part-{part}.{fmt}", fmt, json_columns=("usage_details", "cost_details", "metadata"))
        paths[name] = str(folder / f"*.{fmt}")
    source = {"path": paths, "calls": {"table": "observations", "preset": "langfuse"},
              "examples": {"table": "scores", "preset": "langfuse"}}  # fmt: skip
    [result], store_url = sync(source, tmp_path)
    assert result.calls == 400
    assert_rollups(store_url, truth)
    examples = stored_examples(store_url).set_index("id")
    expected = tables["scores"].set_index("id")
    assert examples.workload.to_dict() == expected.workload.to_dict()
    assert examples.label.to_dict() == expected.expected_label.to_dict()


def test_native_csv_gz_directory_and_schema_qualified_view(tmp_path: Path) -> None:
    calls = make_calls(300, NOW, seed=4, days=60)
    folder = tmp_path / "calls"
    folder.mkdir()
    for part, chunk in enumerate((calls.iloc[:100], calls.iloc[100:])):
        with gzip.open(folder / f"part-{part}.csv.gz", "wt", encoding="utf-8") as out:
            chunk.to_csv(out, index=False)
    source = native_source("unused", "analytics.llm_calls")
    del source["url"]
    source["path"] = str(folder)  # a directory is read whole
    source["backfill_days"] = 70
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    sync_store(settings_from_dict({"store": {"url": store_url}, "sources": [source]}, env={}), now=NOW)
    pd.testing.assert_frame_equal(store_rollups(store_url), oracle_rollups(calls), check_dtype=False)


def test_jsonl_text_timestamps_with_t_separator_are_timestamps(tmp_path: Path) -> None:
    truth = make_truth(200, NOW, seed=24)
    spans = otel_spans(truth, layout="json")
    with (tmp_path / "spans.jsonl").open("w") as out:
        for row in spans.to_dict("records"):
            row["start_time"] = row["start_time"].isoformat(timespec="milliseconds")  # 2026-11-01T10:00:01.500
            row["end_time"] = row["end_time"].isoformat(timespec="milliseconds")
            out.write(json.dumps(row) + "\n")
    calls = {"table": "spans", "preset": "otel_genai", "columns": {"workload": "gen_ai.agent.name"}}
    _, store_url = sync({"path": str(tmp_path / "spans.jsonl"), "calls": calls}, tmp_path)
    assert_rollups(store_url, truth)


# -- bad inputs -----------------------------------------------------------------------------------------


def _file_source(path: Any, **calls: Any) -> dict[str, Any]:
    return {"path": path, "calls": {"table": "t", "preset": "native", "workload_constant": "w",
                                    "columns": {"timestamp": "ts", "model": "model"}, **calls}}  # fmt: skip


def test_glob_matching_nothing_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="matches no files"):
        sync(_file_source(str(tmp_path / "nope-*.parquet")), tmp_path)


def test_unknown_file_format_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "calls.xlsx").write_text("x")
    with pytest.raises(SourceError, match="cannot tell the file format"):
        sync(_file_source(str(tmp_path / "calls.*")), tmp_path)


def test_mixed_formats_under_one_glob_are_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("ts,model\n2026-11-01 10:00:00,m\n")
    (tmp_path / "b.jsonl").write_text('{"ts": "2026-11-01 10:00:00", "model": "m"}\n')
    with pytest.raises(SourceError, match="cannot tell the file format"):
        sync(_file_source(str(tmp_path / "*")), tmp_path)


def test_corrupt_parquet_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "calls.parquet").write_text("ts,model\n2026-11-01 10:00:00,m\n")
    with pytest.raises(SourceError, match="cannot read .*read_parquet"):
        sync(_file_source(str(tmp_path / "calls.parquet")), tmp_path)


def test_mapping_without_the_examples_table_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "calls.csv").write_text("ts,model\n2026-11-01 10:00:00,m\n")
    source = _file_source({"t": str(tmp_path / "calls.csv")})
    source["examples"] = {"table": "labels", "columns": {"id": "id", "workload": "w", "created_at": "c", "label": "l"}}
    with pytest.raises(SourceError, match="'labels'.*does not exist"):
        sync(source, tmp_path)


def test_a_source_takes_url_or_path_not_both() -> None:
    with pytest.raises(ConfigError, match="exactly one of `url`"):
        settings_from_dict({"sources": [{**_file_source("x.csv"), "name": "s", "url": "sqlite://"}]}, env={})


def test_file_source_rollups_on_csv_with_one_row(tmp_path: Path) -> None:
    (tmp_path / "calls.csv").write_text("ts,model\n2026-11-20 10:00:00,gpt-4o\n")
    [result], store_url = sync(_file_source(str(tmp_path / "calls.csv")), tmp_path)
    assert result.calls == 1
    assert stored_rollups(store_url).calls.tolist() == [1]


def test_file_source_queries_run_under_the_configured_duckdb_memory_limit(tmp_path: Path) -> None:
    """Files get no smaller working limit (CSV and JSON readers need 32 MB buffers per thread): every
    query runs under `duckdb_memory_limit` itself, Parquet too, and the sync equals the oracle."""
    from connectors.warehouse import Warehouse

    calls = make_calls(300, NOW, seed=5, days=60)
    write_files(calls, tmp_path / "calls.parquet", "parquet")
    source = native_source("unused", duckdb_memory_limit="1GB", backfill_days=70)
    del source["url"]
    source["path"] = str(tmp_path / "calls.parquet")
    settings = settings_from_dict({"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [source]}, env={})
    warehouse = Warehouse(settings.sources[0])
    try:
        with warehouse.connect() as conn:
            assert sum(r.calls for r in warehouse.rollups(conn, NOW.date().replace(day=1), NOW.date())) > 0
            assert conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar().replace(" ", "") == "953.6MiB"
    finally:
        warehouse.close()
    sync_store(settings, now=NOW)
    pd.testing.assert_frame_equal(store_rollups(settings.store_url), oracle_rollups(calls), check_dtype=False)
