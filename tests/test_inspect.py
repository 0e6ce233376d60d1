"""`ftready inspect`: the right preset for each tool's table, a snippet that works as pasted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from monitor.cli import main
from tests.conftest import NOW, POSTGRES_URL
from tests.factories import make_calls
from tests.test_files import write_files
from tests.test_presets import assert_rollups, sync
from tests.test_presets_factories import helicone_requests, langfuse_tables, make_truth, otel_spans, write_frame

LANGFUSE_JSON = ("usage_details", "cost_details", "metadata")


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return make_truth(120, NOW, seed=31)


def _inspect_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _tables(url: str, truth: pd.DataFrame, schema: str | None = None) -> None:
    langfuse = langfuse_tables(truth)
    write_frame(url, "otel_spans", otel_spans(truth, layout="json"), schema=schema, json_columns=("attributes",))
    write_frame(url, "flat_spans", otel_spans(truth, layout="flat"), schema=schema)
    write_frame(url, "observations", langfuse["observations"], schema=schema, json_columns=LANGFUSE_JSON)
    write_frame(url, "traces", langfuse["traces"], schema=schema)
    write_frame(url, "scores", langfuse["scores"].drop(columns=["expected_label", "expected_failure", "workload"]), schema=schema)
    write_frame(url, "request_response_rmt", helicone_requests(truth), schema=schema, json_columns=("properties", "scores"))
    write_frame(url, "llm_calls", make_calls(50, NOW), schema=schema)


EXPECTED = [
    ("otel_spans", "calls", "otel_genai"),
    ("flat_spans", "calls", "otel_genai"),
    ("observations", "calls", "langfuse"),
    ("scores", "examples", "langfuse"),
    ("request_response_rmt", "calls", "helicone"),
    ("llm_calls", "calls", "native"),
]


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_inspect_proposes_the_right_preset(kind: str, truth: pd.DataFrame, tmp_path: Path, request: pytest.FixtureRequest,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'wh.db'}"
    elif kind == "duckdb":
        url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("FTREADY_TEST_POSTGRES_URL is not set")
        url, schema = request.getfixturevalue("postgres_schema")
    _tables(url, truth, schema)
    for table, section, preset in EXPECTED:
        name = f"{schema}.{table}" if schema else table
        found = _inspect_json(capsys, url, name)
        assert (found["kind"], found["preset"]) == (section, preset), table
        assert not [n for n in found["notes"] if "does not work" in n], (table, found["notes"])
        config = yaml.safe_load(found["snippet"])
        assert config["sources"][0][section]["table"] == name
    native = _inspect_json(capsys, url, f"{schema}.llm_calls" if schema else "llm_calls")["mapping"]["columns"]
    assert native == {"id": "call_id", "timestamp": "created_at", "workload": "feature", "model": "model",
                      "input_tokens": "prompt_tokens", "output_tokens": "completion_tokens", "latency_ms": "latency_ms",
                      "status": "status", "cost_usd": "cost", "prompt_version": "prompt_version",
                      "environment": "environment", "operation": "operation", "ingested_at": "loaded_at"}  # fmt: skip


def test_pasted_snippet_syncs_to_the_oracle(truth: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    _tables(url, truth)
    for table in ("flat_spans", "observations"):  # a trace-name workload: nothing to fill in
        source = yaml.safe_load(_inspect_json(capsys, url, table)["snippet"])["sources"][0]
        source["url"] = url
        _, store_url = sync(source, tmp_path / table)
        assert_rollups(store_url, truth)
    helicone = yaml.safe_load(_inspect_json(capsys, url, "request_response_rmt")["snippet"])["sources"][0]
    helicone["url"] = url
    helicone["calls"]["workload_key"]["key"] = "feature"  # the one line a user fills in
    _, store_url = sync(helicone, tmp_path / "helicone")
    assert_rollups(store_url, truth)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_inspect_reads_a_file_glob(fmt: str, truth: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "otel_spans"
    folder.mkdir()
    write_files(otel_spans(truth, layout="json"), folder / f"part-0.{fmt}", fmt, json_columns=("attributes",))
    glob = str(folder / f"*.{fmt}")
    found = _inspect_json(capsys, glob)
    assert (found["table"], found["preset"]) == ("otel_spans", "otel_genai")
    source = yaml.safe_load(found["snippet"])["sources"][0]
    assert source["path"] == glob
    _, store_url = sync(source, tmp_path)
    assert_rollups(store_url, truth)


def test_inspect_text_output_and_masked_password(truth: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    _tables(url, truth)
    assert main(["inspect", url, "request_response_rmt", "--name", "helicone-prod"]) == 0
    captured = capsys.readouterr()
    assert "helicone preset" in captured.out and "name: helicone-prod" in captured.out
    assert "workload_key.key" in captured.err  # what is left to fill in
    assert main(["inspect", "postgresql+psycopg://app:s3cret@127.0.0.1:1/db", "t"]) == 1
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out + captured.err and "***" in captured.err


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["sqlite:///{tmp}/wh.db"], 2, "give the TABLE"),
        (["nosuch+driver://x", "t"], 2, "not a usable SQLAlchemy URL"),
        (["sqlite:///{tmp}/wh.db", "missing_table"], 1, "does not exist"),
        (["duckdb:///{tmp}/wh.duckdb", "missing_table"], 1, "table 'missing_table' (from TABLE) does not exist"),
        (["duckdb:///{tmp}/wh.duckdb", "nosuch.t"], 1, "table 'nosuch.t' (from TABLE) does not exist"),
        (["{tmp}/none-*.parquet"], 1, "matches no files"),
    ],
)
def test_inspect_bad_input_exits_with_a_message(args: list[str], code: int, message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    write_frame(f"sqlite:///{tmp_path / 'wh.db'}", "t", pd.DataFrame({"a": [1]}))
    write_frame(f"duckdb:///{tmp_path / 'wh.duckdb'}", "t", pd.DataFrame({"a": [1]}))
    assert main(["inspect", *(a.format(tmp=tmp_path) for a in args)]) == code
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
