"""Presets against real databases: OTel GenAI spans, Langfuse and Helicone tables in their own
column names and types give exactly the rollups and labeled examples of an independent oracle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.errors import ConfigError, SourceError
from monitor.settings import settings_from_dict
from tests.conftest import MYSQL_URL, NOW, POSTGRES_URL
from tests.factories import sync_store
from tests.test_presets_factories import (
    helicone_requests,
    langfuse_tables,
    make_truth,
    oracle,
    otel_spans,
    stored_rollups,
    write_frame,
)

N = 500
Warehouse = tuple[str, Callable[[str], str]]  # (url, table name → the name to put in the config)


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    yield from _warehouse(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mysql"])
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    yield from _warehouse(request.param, request, tmp_path)


def _warehouse(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'wh.db'}", lambda name: name
    elif kind == "duckdb":
        yield f"duckdb:///{tmp_path / 'wh.duckdb'}", lambda name: name
    elif kind == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("FTREADY_TEST_POSTGRES_URL is not set")
        url, schema = request.getfixturevalue("postgres_schema")
        yield url, lambda name: f"{schema}.{name}"
    else:
        if not MYSQL_URL:
            pytest.skip("FTREADY_TEST_MYSQL_URL is not set")
        yield request.getfixturevalue("mysql_database"), lambda name: name


def _write(wh: Warehouse, table: str, frame: pd.DataFrame, json_columns: tuple[str, ...] = ()) -> None:
    url, name = wh
    schema, _, bare = name(table).rpartition(".")
    write_frame(url, bare, frame, schema=schema or None, json_columns=json_columns)


def sync(source: dict[str, Any], tmp_path: Path) -> tuple[list[Any], str]:
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    # 70 days hold all generated data: fewer monthly chunks than the 400-day default, so the tests stay fast
    source = {"name": "src", "backfill_days": 70, **source}
    return sync_store(settings_from_dict({"store": {"url": store_url}, "sources": [source]}, env={}), now=NOW), store_url


def stored_examples(store_url: str) -> pd.DataFrame:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM examples ORDER BY id"), conn)
    engine.dispose()
    return frame


def assert_rollups(store_url: str, truth: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(stored_rollups(store_url), oracle(truth), check_dtype=False)


# -- OpenTelemetry GenAI ------------------------------------------------------------------------------


def test_otel_flattened_spans_equal_oracle(warehouse: Warehouse, tmp_path: Path) -> None:
    truth = make_truth(N, NOW)
    spans = otel_spans(truth, layout="flat")
    _write(warehouse, "otel_spans", spans)
    source = {"url": warehouse[0], "calls": {"table": warehouse[1]("otel_spans"), "preset": "otel_genai",
                                              "columns": {"workload": "gen_ai.agent.name"}}}  # fmt: skip
    [result], store_url = sync(source, tmp_path)
    assert len(spans) > 2 * N  # agent, tool, embeddings and HTTP spans are in the table...
    assert result.calls == N  # ...and are not counted
    assert_rollups(store_url, truth)


def test_otel_json_attributes_equal_oracle(any_warehouse: Warehouse, tmp_path: Path) -> None:
    truth = make_truth(N, NOW, seed=11)
    _write(any_warehouse, "spans", otel_spans(truth, layout="json"), json_columns=("attributes",))
    source = {"url": any_warehouse[0], "calls": {"table": any_warehouse[1]("spans"), "preset": "otel_genai",
                                                  "workload_key": {"column": "attributes", "key": "gen_ai.agent.name"}}}  # fmt: skip
    [result], store_url = sync(source, tmp_path)
    assert result.calls == N
    assert_rollups(store_url, truth)


def test_otel_columns_workload_names_an_attribute_of_the_json_column(tmp_path: Path) -> None:
    truth = make_truth(300, NOW)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "spans", otel_spans(truth, layout="json"), json_columns=("attributes",))
    source = {"url": url, "calls": {"table": "spans", "preset": "otel_genai", "columns": {"workload": "gen_ai.agent.name"}}}
    _, store_url = sync(source, tmp_path)
    assert_rollups(store_url, truth)


def test_otel_deprecated_token_attributes_are_read(tmp_path: Path) -> None:
    """A table from an older instrumentation: only prompt/completion token columns exist."""
    truth = make_truth(200, NOW).assign(variant=1)
    spans = otel_spans(truth, layout="flat").drop(columns=["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"])
    spans = spans[spans["gen_ai.operation.name"] != "invoke_agent"]  # agent spans carry the new names
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_frame(url, "spans", spans)
    source = {"url": url, "calls": {"table": "spans", "preset": "otel_genai", "columns": {"workload": "gen_ai.agent.name"}}}
    _, store_url = sync(source, tmp_path)
    assert_rollups(store_url, truth)


def test_otel_workload_defaults_to_span_name(tmp_path: Path) -> None:
    truth = make_truth(150, NOW)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "spans", otel_spans(truth, layout="json"), json_columns=("attributes",))
    [result], store_url = sync({"url": url, "calls": {"table": "spans", "preset": "otel_genai"}}, tmp_path)
    assert result.calls == 150
    got = stored_rollups(store_url).groupby("workload").calls.sum().to_dict()
    assert got == truth.groupby("model").size().rename(lambda m: f"chat {m}").to_dict()


def test_otel_overrides_take_any_column(tmp_path: Path) -> None:
    truth = make_truth(120, NOW).assign(variant=0)
    spans = otel_spans(truth, layout="flat").rename(columns={"start_time": "began", "gen_ai.response.model": "served_model"})
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "spans", spans)
    source = {"url": url, "calls": {"table": "spans", "preset": "otel_genai", "columns": {
        "workload": "gen_ai.agent.name", "start_time": "began", "model": "served_model"}}}  # fmt: skip
    [result], store_url = sync(source, tmp_path)
    assert result.calls == 120
    assert set(stored_rollups(store_url).model) == set(truth.model)


def test_otel_table_without_span_times_is_a_config_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "spans", pd.DataFrame({"name": ["x"], "attributes": ['{"gen_ai.request.model": "m"}']}))
    with pytest.raises(SourceError, match="no span start time.*columns.start_time"):
        sync({"url": url, "calls": {"table": "spans", "preset": "otel_genai"}}, tmp_path)


def test_otel_table_without_model_is_a_config_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "spans", pd.DataFrame({"name": ["x"], "start_time": ["2026-11-01 10:00:00"]}))
    with pytest.raises(SourceError, match="gen_ai.response.model.*columns.model"):
        sync({"url": url, "calls": {"table": "spans", "preset": "otel_genai"}}, tmp_path)


# -- Langfuse ---------------------------------------------------------------------------------------

LANGFUSE_JSON = ("usage_details", "cost_details", "metadata")


def _langfuse(wh: Warehouse, truth: pd.DataFrame, layout: str = "v3") -> dict[str, pd.DataFrame]:
    tables = langfuse_tables(truth, layout=layout)
    _write(wh, "observations", tables["observations"], json_columns=LANGFUSE_JSON)
    _write(wh, "traces", tables["traces"])
    _write(wh, "scores", tables["scores"].drop(columns=["expected_label", "expected_failure", "workload"]))
    return tables


def test_langfuse_v3_rollups_and_scores_equal_oracle(warehouse: Warehouse, tmp_path: Path) -> None:
    truth = make_truth(N, NOW, seed=5)
    tables = _langfuse(warehouse, truth)
    source = {
        "url": warehouse[0],
        "calls": {"table": warehouse[1]("observations"), "preset": "langfuse"},
        "examples": {"table": warehouse[1]("scores"), "preset": "langfuse"},
    }
    [result], store_url = sync(source, tmp_path)
    assert result.calls == N  # SPAN and EVENT observations, duplicate trace versions: not counted
    assert_rollups(store_url, truth)
    _assert_langfuse_examples(store_url, tables["scores"])


def test_langfuse_v2_postgres_layout(warehouse: Warehouse, tmp_path: Path) -> None:
    truth = make_truth(400, NOW, seed=6)
    _langfuse(warehouse, truth, layout="v2")
    source = {"url": warehouse[0], "calls": {"table": warehouse[1]("observations"), "preset": "langfuse"}}
    _, store_url = sync(source, tmp_path)
    assert_rollups(store_url, truth)


def _assert_langfuse_examples(store_url: str, scores: pd.DataFrame) -> None:
    got = stored_examples(store_url).set_index("id")
    expected = scores.set_index("id")
    assert len(got) == len(expected)
    assert (got.workload == expected.workload).all()
    assert (got.label == expected.expected_label).all()
    provenance = expected.source.where(expected.data_type != "CORRECTION", "CORRECTION").map(
        {"ANNOTATION": "production_log", "API": "production_log", "EVAL": "relabeled_by_model", "CORRECTION": "relabeled_by_human"}
    )
    assert (got.provenance == provenance).all()
    human = expected.source.eq("ANNOTATION") | expected.data_type.eq("CORRECTION")
    assert (got.human_labeled.astype(bool) == human).all()
    assert got.input_hash.notna().all()  # the labeled call's input, looked up in SQL
    assert (got.is_failure.astype(bool) == expected.expected_failure).all()


def test_langfuse_workload_from_metadata_key(tmp_path: Path) -> None:
    truth = make_truth(300, NOW, seed=8)
    wh: Warehouse = (f"sqlite:///{tmp_path / 'wh.db'}", lambda name: name)
    tables = _langfuse(wh, truth)
    source = {
        "url": wh[0],
        "calls": {"table": "observations", "preset": "langfuse", "workload_key": {"column": "metadata", "key": "feature"},
                  "filters": [{"column": "environment", "op": "=", "value": "production"}]},
        "examples": {"table": "scores", "preset": "langfuse"},
    }  # fmt: skip
    _, store_url = sync(source, tmp_path)
    assert_rollups(store_url, truth)
    _assert_langfuse_examples(store_url, tables["scores"])


def test_langfuse_missing_traces_table_is_a_source_error(tmp_path: Path) -> None:
    truth = make_truth(300, NOW)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "observations", langfuse_tables(truth)["observations"], json_columns=LANGFUSE_JSON)
    source = {"url": url, "calls": {"table": "observations", "preset": "langfuse", "traces_table": "lf_traces"}}
    with pytest.raises(SourceError, match="lf_traces"):
        sync(source, tmp_path)


# -- Helicone ---------------------------------------------------------------------------------------


def test_helicone_rollups_cost_and_feedback_equal_oracle(any_warehouse: Warehouse, tmp_path: Path) -> None:
    truth = make_truth(N, NOW, seed=9)
    requests = helicone_requests(truth)
    _write(any_warehouse, "request_response_rmt", requests, json_columns=("properties", "scores"))
    table = any_warehouse[1]("request_response_rmt")
    source = {
        "url": any_warehouse[0],
        "calls": {"table": table, "preset": "helicone", "workload_key": {"column": "properties", "key": "feature"}},
        "examples": {"table": table, "preset": "helicone"},
    }
    [result], store_url = sync(source, tmp_path)
    assert result.calls == N
    assert_rollups(store_url, truth)

    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        cost = pd.read_sql(sa.text("SELECT workload, sum(cost_usd) AS cost, sum(cost_calls) AS n FROM call_rollups GROUP BY workload"), conn)
    engine.dispose()
    priced = truth[truth.cost_nano > 0]
    expected = priced.groupby("workload").agg(cost=("cost_nano", lambda s: s.sum() / 1e9), n=("id", "size"))
    got = cost.set_index("workload")
    assert got.n.astype(int).to_dict() == expected.n.to_dict()  # 0 = unpriced: left to the price table
    for workload, row in expected.iterrows():
        assert got.loc[workload, "cost"] == pytest.approx(row.cost, rel=1e-9)  # USD, not USD × 1e9

    examples = stored_examples(store_url)
    rated = truth[truth.id.astype(int) % 7 == 0]
    assert len(examples) == len(rated)
    assert examples.groupby("workload").size().to_dict() == rated.groupby("workload").size().to_dict()
    assert sorted(examples.label) == sorted(rated.variant.map(lambda v: "fail" if v == 3 else "pass"))
    assert set(examples.provenance) == {"production_log"} and examples.human_labeled.astype(bool).all()


def test_helicone_feedback_table_labels_join_their_request(tmp_path: Path) -> None:
    truth = make_truth(210, NOW, seed=4)
    requests = helicone_requests(truth)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "request_response_rmt", requests, json_columns=("properties", "scores"))
    feedback = pd.DataFrame({
        "feedback_id": [f"fb{i}" for i in range(30)], "rating": [i % 4 != 0 for i in range(30)],
        "feedback_created_at": requests.request_created_at[:30] + pd.Timedelta(minutes=5),
        "request_id": requests.request_id[:30], "response_id": requests.response_id[:30],
    })  # fmt: skip
    write_frame(url, "feedback", feedback)
    source = {
        "url": url,
        "calls": {"table": "request_response_rmt", "preset": "helicone", "workload_key": {"column": "properties", "key": "feature"}},
        "examples": {"table": "feedback", "preset": "helicone"},
    }
    _, store_url = sync(source, tmp_path)
    examples = stored_examples(store_url).set_index("id")
    assert len(examples) == 30
    expected = pd.DataFrame({"label": ["fail" if i % 4 == 0 else "pass" for i in range(30)],
                             "workload": truth.workload[:30].tolist()}, index=[f"fb{i}" for i in range(30)])  # fmt: skip
    assert examples.label.to_dict() == expected.label.to_dict()
    assert examples.workload.to_dict() == expected.workload.to_dict()
    assert examples.input_hash.notna().all()


def test_helicone_without_workload_names_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "request_response_rmt", helicone_requests(make_truth(10, NOW)), json_columns=("properties", "scores"))
    with pytest.raises(SourceError, match=r"workload_key: \{column, key\}"):
        sync({"url": url, "calls": {"table": "request_response_rmt", "preset": "helicone"}}, tmp_path)


def test_examples_preset_without_calls_section_needs_a_workload(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "request_response_rmt", helicone_requests(make_truth(10, NOW)), json_columns=("properties", "scores"))
    with pytest.raises(SourceError, match="cannot derive workload.*columns.workload"):
        sync({"url": url, "examples": {"table": "request_response_rmt", "preset": "helicone"}}, tmp_path)


def test_preset_override_of_a_missing_column_names_the_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_frame(url, "request_response_rmt", helicone_requests(make_truth(10, NOW)), json_columns=("properties", "scores"))
    source = {"url": url, "calls": {"table": "request_response_rmt", "preset": "helicone", "workload_constant": "w",
                                    "columns": {"model": "modle"}}}  # fmt: skip
    with pytest.raises(SourceError, match="calls.columns.model.*did you mean 'model'"):
        sync(source, tmp_path)


# -- settings ---------------------------------------------------------------------------------------


def _settings(calls: dict[str, Any] | None = None, examples: dict[str, Any] | None = None) -> Any:
    source: dict[str, Any] = {"name": "s", "url": "sqlite://"}
    if calls is not None:
        source["calls"] = calls
    if examples is not None:
        source["examples"] = examples
    return settings_from_dict({"sources": [source]}, env={})


@pytest.mark.parametrize(
    "preset,role",
    [("otel_genai", "start_time"), ("otel_genai", "attributes"), ("otel_genai", "span_name"),
     ("langfuse", "level"), ("langfuse", "type"), ("langfuse", "usage")],
)  # fmt: skip
def test_preset_roles_are_accepted_for_their_preset(preset: str, role: str) -> None:
    settings = _settings({"table": "t", "preset": preset, "columns": {role: "c"}})
    assert settings.sources[0].calls.columns == {role: "c"}


@pytest.mark.parametrize("preset,role", [("native", "start_time"), ("helicone", "level"), ("langfuse", "attributes")])
def test_preset_roles_are_rejected_for_other_presets(preset: str, role: str) -> None:
    with pytest.raises(ConfigError, match=rf"sources\[0\]\.calls\.columns: unknown column role\(s\) \['{role}'\] for preset '{preset}'"):
        _settings({"table": "t", "preset": preset, "columns": {role: "c"}})


def test_unknown_preset_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.calls\.preset"):
        _settings({"table": "t", "preset": "phoenix"})


def test_traces_table_is_only_for_langfuse() -> None:
    assert _settings({"table": "o", "preset": "langfuse", "traces_table": "lf.traces"}).sources[0].calls.traces_table == "lf.traces"
    with pytest.raises(ConfigError, match="traces_table is read only by preset langfuse"):
        _settings({"table": "o", "preset": "helicone", "traces_table": "t"})


def test_example_presets_fill_defaults_the_config_leaves_out() -> None:
    examples = _settings(examples={"table": "scores", "preset": "langfuse"}).sources[0].examples
    assert examples.provenance["relabeled_by_model"] == ["EVAL"]
    assert examples.trusted_label_sources == ["ANNOTATION", "CORRECTION"]
    custom = _settings(examples={"table": "scores", "preset": "langfuse", "trusted_label_sources": ["ANNOTATION"]})
    assert custom.sources[0].examples.trusted_label_sources == ["ANNOTATION"]


def test_example_preset_roles_are_checked() -> None:
    assert _settings(examples={"table": "s", "preset": "langfuse", "columns": {"observation_id": "obs"}})
    with pytest.raises(ConfigError, match=r"sources\[0\]\.examples\.columns: unknown column role\(s\) \['rating'\]"):
        _settings(examples={"table": "s", "preset": "langfuse", "columns": {"rating": "r"}})
    with pytest.raises(ConfigError, match="missing required column mapping"):
        _settings(examples={"table": "s", "columns": {"id": "id"}})
