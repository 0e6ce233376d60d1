"""Test data in the real layouts of OpenTelemetry GenAI spans, Langfuse and Helicone, plus oracles.

Every generator starts from a ground-truth frame of LLM calls (`make_truth`) and writes it the way
the tool does, adding the rows a preset must NOT count (agent, tool and HTTP spans; Langfuse SPAN and
EVENT observations). The oracles group the ground truth in pandas, never the tool's table, so
they are independent of the SQL under test. (No tests in this module: it only holds factories.)
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from monitor.histogram import BUCKET_COLUMNS, EDGES_MS

WORKLOADS = ["support-triage", "claims-intake", "contract-review"]
MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini", "claude-3-5-sonnet-20241022"]


def make_truth(n: int, now: datetime, *, days: int = 60, seed: int = 7) -> pd.DataFrame:
    """n LLM calls over the last `days` days (naive UTC, millisecond timestamps)."""
    rng = np.random.default_rng(seed)
    base = now.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    start = pd.to_datetime([base - timedelta(milliseconds=int(ms)) for ms in rng.integers(3_600_000, days * 86_400_000, n)])
    latency = rng.integers(20, 9000, n)
    latency = np.where(np.isin(latency, EDGES_MS), latency + 1, latency)  # never on an edge: exact buckets
    return pd.DataFrame(
        {
            "id": [f"{i:08d}" for i in range(n)],
            "start": start,
            "latency_ms": latency,
            "workload": rng.choice(WORKLOADS, n),
            "model": rng.choice(MODELS, n),
            "input_tokens": rng.integers(10, 4000, n),
            "output_tokens": rng.integers(1, 900, n),
            "error": rng.random(n) < 0.12,
            "cost_nano": np.where(rng.random(n) < 0.8, rng.integers(1_000, 50_000_000, n), 0),
            "variant": rng.integers(0, 4, n),  # which spelling of the data a tool row uses
        }
    )


def oracle(truth: pd.DataFrame) -> pd.DataFrame:
    """Expected rollups: calls, errors, tokens and latency buckets per workload, model and UTC day."""
    frame = truth.assign(day=truth.start.dt.date, bucket=np.searchsorted(EDGES_MS, truth.latency_ms, side="right"))
    grouped = frame.groupby(["workload", "model", "day"])
    out = grouped.agg(
        calls=("id", "size"),
        errors=("error", "sum"),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
    )
    buckets = frame.pivot_table(index=["workload", "model", "day"], columns="bucket", values="id", aggfunc="size", fill_value=0)
    for index, column in enumerate(BUCKET_COLUMNS):
        out[column] = buckets[index] if index in buckets.columns else 0
    return out.reset_index().sort_values(["workload", "model", "day"]).reset_index(drop=True).astype(
        {c: "int64" for c in ("calls", "errors", "input_tokens", "output_tokens", *BUCKET_COLUMNS)}
    )


def stored_rollups(store_url: str) -> pd.DataFrame:
    engine = sa.create_engine(store_url)
    columns = ", ".join(f"sum({c}) AS {c}" for c in ("calls", "errors", "input_tokens", "output_tokens", *BUCKET_COLUMNS))
    with engine.connect() as conn:  # summed over prompt versions, which the oracle does not know
        frame = pd.read_sql(
            sa.text(
                f"SELECT workload, model, day, {columns} FROM call_rollups "
                "GROUP BY workload, model, day ORDER BY workload, model, day"
            ),
            conn,
        )
    engine.dispose()
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame.astype({c: "int64" for c in frame.columns if c not in ("workload", "model", "day")})


# -- OpenTelemetry GenAI spans ------------------------------------------------------------------------


def otel_spans(truth: pd.DataFrame, *, layout: str) -> pd.DataFrame:
    """Spans as an OTel exporter flattens them: `flat` = one column per attribute named as the
    attribute; `json` = an `attributes` JSON object. Variant 1 uses the deprecated token names,
    variant 2 has no response model; errors alternate between span status and `error.type`.
    Agent, tool, embeddings and HTTP spans are added around the LLM calls."""
    rows: list[dict[str, Any]] = []
    for call in truth.itertuples():
        trace = uuid.uuid5(uuid.NAMESPACE_OID, call.id).hex
        end = call.start + pd.Timedelta(milliseconds=int(call.latency_ms))
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat" if call.variant != 3 else "text_completion",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": call.model.split("-2024")[0] if call.variant != 2 else call.model,
            "gen_ai.agent.name": call.workload,
        }
        if call.variant != 2:
            attributes["gen_ai.response.model"] = call.model
        if call.variant == 1:
            attributes |= {"gen_ai.usage.prompt_tokens": int(call.input_tokens), "gen_ai.usage.completion_tokens": int(call.output_tokens)}
        else:
            attributes |= {"gen_ai.usage.input_tokens": int(call.input_tokens), "gen_ai.usage.output_tokens": int(call.output_tokens)}
        status = "UNSET"
        if call.error:
            if int(call.id) % 2:
                status = "ERROR"
            else:
                attributes["error.type"] = "rate_limit_exceeded"
        rows.append(_span(call.id, trace, f"chat {call.model}", call.start, end, status, attributes))
        agent = {  # the agent span wrapping the call repeats its usage: counting it would double
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": call.workload,
            "gen_ai.request.model": call.model,
            "gen_ai.usage.input_tokens": int(call.input_tokens),
            "gen_ai.usage.output_tokens": int(call.output_tokens),
        }
        rows.append(_span(f"a{call.id}", trace, f"invoke_agent {call.workload}", call.start - pd.Timedelta(milliseconds=5), end, "OK", agent))
        if call.variant == 0:
            tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.agent.name": call.workload}
            rows.append(_span(f"t{call.id}", trace, "execute_tool search", end, end + pd.Timedelta(milliseconds=40), "OK", tool))
            rows.append(_span(f"h{call.id}", trace, "POST /v1/chat/completions", call.start, end, "OK", {"http.request.method": "POST"}))
            embed = {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 12}
            rows.append(_span(f"e{call.id}", trace, "embeddings text-embedding-3-small", call.start, end, "OK", embed))
    frame = pd.DataFrame(rows)
    if layout == "json":
        return frame[["span_id", "trace_id", "name", "start_time", "end_time", "status_code", "attributes"]]
    flat = pd.json_normalize(frame["attributes"].tolist(), sep="\u0000")  # keep dotted keys whole
    flat.columns = [c.replace("\u0000", ".") for c in flat.columns]
    for column in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"):
        flat[column] = (flat[column] if column in flat else pd.Series(pd.NA, index=flat.index)).astype("Int64")
    return pd.concat([frame.drop(columns=["attributes"]), flat], axis=1)


def _span(span_id: str, trace: str, name: str, start: Any, end: Any, status: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"span_id": span_id, "trace_id": trace, "name": name, "start_time": start, "end_time": end,
            "status_code": status, "attributes": attributes}  # fmt: skip


# -- Langfuse ---------------------------------------------------------------------------------------


def langfuse_tables(truth: pd.DataFrame, *, layout: str = "v3") -> dict[str, pd.DataFrame]:
    """observations, traces and scores as Langfuse stores them. `v3` = the ClickHouse schema
    (provided_model_name, usage_details/cost_details maps, environment); `v2` = the PostgreSQL
    schema (model, prompt_tokens/completion_tokens, calculated_total_cost). Each trace has a SPAN and
    an EVENT besides its GENERATION; some traces appear twice (ReplacingMergeTree versions)."""
    observations: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    for call in truth.itertuples():
        trace_id = f"tr-{call.id}"
        end = call.start + pd.Timedelta(milliseconds=int(call.latency_ms))
        cost = call.cost_nano / 1e9 if call.cost_nano else None
        generation: dict[str, Any] = {
            "id": f"obs-{call.id}", "trace_id": trace_id, "project_id": "proj-1", "type": "GENERATION",
            "parent_observation_id": f"span-{call.id}", "start_time": call.start, "end_time": end,
            "name": "llm-call", "level": "ERROR" if call.error else "DEFAULT",
            "status_message": "rate limited" if call.error else None,
            "input": json.dumps([{"role": "user", "content": f"question {call.id}"}]),
            "output": json.dumps({"role": "assistant", "content": "answer"}),
            "completion_start_time": call.start + pd.Timedelta(milliseconds=10),
            "prompt_name": "triage", "created_at": call.start, "updated_at": end,
        }  # fmt: skip
        if layout == "v3":
            generation |= {
                "provided_model_name": call.model,
                "internal_model_id": "cm-" + call.model,
                "usage_details": {"input": int(call.input_tokens), "output": int(call.output_tokens),
                                  "total": int(call.input_tokens + call.output_tokens)},
                "cost_details": {"total": cost} if cost else {},
                "total_cost": cost,
                "metadata": {"feature": call.workload},
                "environment": "production",
                "prompt_version": 1 + int(call.variant % 2),
                "event_ts": end, "is_deleted": 0,
            }  # fmt: skip
        else:
            generation |= {
                "model": call.model, "internal_model": call.model,
                "prompt_tokens": int(call.input_tokens), "completion_tokens": int(call.output_tokens),
                "total_tokens": int(call.input_tokens + call.output_tokens),
                "total_cost": float("nan"), "calculated_total_cost": cost,
                "metadata": {"feature": call.workload},
            }  # fmt: skip
        observations.append(generation)
        for kind, suffix in (("SPAN", "span"), ("EVENT", "event")):
            observations.append({**generation, "id": f"{suffix}-{call.id}", "type": kind, "level": "DEFAULT",
                                 "parent_observation_id": None, "name": f"{suffix}-step"})  # fmt: skip
        trace = {"id": trace_id, "timestamp": call.start, "name": call.workload, "user_id": "u1", "project_id": "proj-1",
                 "environment": "production", "session_id": None, "input": generation["input"],
                 "created_at": call.start, "updated_at": end}  # fmt: skip
        traces.append(trace)
        if call.variant == 0:
            traces.append({**trace, "updated_at": end + pd.Timedelta(seconds=1)})  # a second version
    observation_frame = pd.DataFrame(observations)
    if layout == "v2":
        for kind in ("SPAN", "EVENT"):
            mask = observation_frame.type == kind
            observation_frame.loc[mask, ["prompt_tokens", "completion_tokens", "total_tokens"]] = 0
    return {"observations": observation_frame, "traces": pd.DataFrame(traces), "scores": langfuse_scores(truth)}


SCORE_PLAN = (  # (source, data_type, how many) per workload, cycling through the calls
    ("ANNOTATION", "BOOLEAN", 4), ("ANNOTATION", "CATEGORICAL", 3), ("EVAL", "NUMERIC", 5),
    ("API", "NUMERIC", 2), ("ANNOTATION", "CORRECTION", 2),
)  # fmt: skip


def langfuse_scores(truth: pd.DataFrame) -> pd.DataFrame:
    """Scores on generations (observation-level) and on traces (trace-level), with known counts."""
    rows = []
    number = 0
    for workload in WORKLOADS:
        calls = itertools.cycle(list(truth[truth.workload == workload].sort_values("id").itertuples()))
        for source, data_type, count in SCORE_PLAN:
            for _ in range(count):
                call = next(calls)
                number += 1
                failing = number % 3 == 0
                value: float | None = {"BOOLEAN": 0.0 if failing else 1.0, "NUMERIC": 0.2 if failing else 0.9}.get(data_type)
                string_value = {"BOOLEAN": "False" if failing else "True", "CATEGORICAL": "incorrect" if failing else "correct",
                                "CORRECTION": None}.get(data_type)  # fmt: skip
                rows.append({
                    "id": f"score-{number:04d}", "timestamp": call.start + pd.Timedelta(hours=1), "project_id": "proj-1",
                    "environment": "production", "trace_id": f"tr-{call.id}",
                    "observation_id": f"obs-{call.id}" if number % 2 else None,
                    "name": "correction" if data_type == "CORRECTION" else ("format" if data_type == "BOOLEAN" else "accuracy"),
                    "value": value, "source": source, "comment": None, "author_user_id": "u-9" if source == "ANNOTATION" else None,
                    "config_id": None, "data_type": data_type, "string_value": string_value,
                    "long_string_value": "the corrected answer" if data_type == "CORRECTION" else None,
                    "created_at": call.start + pd.Timedelta(hours=1), "updated_at": call.start + pd.Timedelta(hours=1),
                    "expected_label": string_value if data_type == "CATEGORICAL" else (
                        "fail" if failing or data_type == "CORRECTION" else "pass"),
                    "expected_failure": failing or data_type == "CORRECTION", "workload": workload,
                })  # fmt: skip
    return pd.DataFrame(rows)


# -- Helicone ---------------------------------------------------------------------------------------


def helicone_requests(truth: pd.DataFrame) -> pd.DataFrame:
    """request_response_rmt: HTTP status, cost as integer USD × 1e9 (0 = unpriced), properties and
    scores maps; every 7th request carries user feedback in `scores`."""
    rng = np.random.default_rng(3)
    statuses = np.where(truth.error, rng.choice([400, 429, 500, 503], len(truth)), 200)
    rows = []
    for call, status in zip(truth.itertuples(), statuses, strict=True):
        feedback = {"helicone-score-feedback": int(call.variant != 3)} if int(call.id) % 7 == 0 else {}
        rows.append({
            "response_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "r" + call.id)),
            "response_created_at": call.start + pd.Timedelta(milliseconds=int(call.latency_ms)),
            "latency": int(call.latency_ms), "status": int(status),
            "completion_tokens": int(call.output_tokens), "prompt_tokens": int(call.input_tokens),
            "prompt_cache_write_tokens": 0, "prompt_cache_read_tokens": 0,
            "model": call.model, "request_id": str(uuid.uuid5(uuid.NAMESPACE_URL, call.id)),
            "request_created_at": call.start, "user_id": "user-1",
            "organization_id": "83635a30-5ba6-41a8-8cc6-fb7df941b24a", "threat": False, "time_to_first_token": 50,
            "provider": "OPENAI", "target_url": "https://api.openai.com/v1/chat/completions", "country_code": "DE",
            "cache_enabled": False, "properties": {"feature": call.workload, "env": "prod"}, "scores": feedback,
            "request_body": json.dumps({"messages": [{"role": "user", "content": f"ticket {call.id}"}]}),
            "response_body": json.dumps({"choices": [{"message": {"content": "ok"}}]}),
            "updated_at": call.start + pd.Timedelta(milliseconds=int(call.latency_ms)), "cost": int(call.cost_nano),
            "prompt_id": None, "prompt_version": None,
        })  # fmt: skip
    return pd.DataFrame(rows)


# -- writing tables ---------------------------------------------------------------------------------


def write_frame(url: str, table: str, frame: pd.DataFrame, *, schema: str | None = None, json_columns: tuple[str, ...] = ()) -> None:
    """Write a frame as the tool would store it: JSON columns as JSONB on PostgreSQL and JSON text
    elsewhere, timestamps as ISO text on SQLite (what SQLite applications write)."""
    engine = sa.create_engine(url)
    data = frame.copy()
    dtype: dict[str, Any] = {}
    backend = engine.dialect.name
    for column in data.columns:
        if column in json_columns:
            if backend == "postgresql":
                dtype[column] = postgresql.JSONB
                data[column] = [v if isinstance(v, dict) else None for v in data[column]]
            else:
                data[column] = [json.dumps(v) if isinstance(v, dict) else None for v in data[column]]
                dtype[column] = sa.Text
        elif pd.api.types.is_datetime64_any_dtype(data[column]):
            if backend == "sqlite":
                data[column] = data[column].dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
            elif backend in ("mysql", "mariadb"):
                dtype[column] = mysql.DATETIME(fsp=3)
        elif data[column].dtype == object:
            dtype[column] = sa.Text if backend != "mysql" else sa.String(500)
    if backend == "duckdb":  # duckdb-engine inserts row by row; DuckDB reads the frame itself much faster
        engine.dispose()
        import duckdb

        con = duckdb.connect(url.removeprefix("duckdb:///"))
        con.register("frame", data)
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM frame')
        con.close()
        return
    with engine.begin() as conn:
        data.to_sql(table, conn, schema=schema, index=False, if_exists="replace", dtype=dtype, chunksize=2000)
    engine.dispose()
