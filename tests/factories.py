"""Test data: generated call logs and labels in the native layout, written to any warehouse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from monitor.settings import Settings
from monitor.store import Store
from monitor.sync import SyncResult, sync_all

WORKLOADS = ["support-triage", "claims", "o'brien; DROP TABLE x", "search"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"]

NATIVE_COLUMNS = {
    "id": "call_id", "timestamp": "created_at", "workload": "feature", "model": "model",
    "input_tokens": "prompt_tokens", "output_tokens": "completion_tokens", "latency_ms": "latency_ms",
    "status": "status", "cost_usd": "cost", "prompt_version": "prompt_version", "operation": "operation",
    "ingested_at": "loaded_at",
}  # fmt: skip


def make_calls(n: int, now: datetime, *, days: int = 120, seed: int = 1, start_id: int = 0) -> pd.DataFrame:
    """n calls spread over the last `days` days before `now` (naive UTC timestamps)."""
    rng = np.random.default_rng(seed)
    base = now.astimezone(timezone.utc).replace(tzinfo=None)
    offsets = rng.integers(0, days * 86400, n)
    created = pd.to_datetime([base - timedelta(seconds=int(s)) for s in offsets])
    cost = rng.random(n) * 0.01
    frame = pd.DataFrame(
        {
            "call_id": [f"c{start_id + i}" for i in range(n)],
            "created_at": created,
            "feature": rng.choice(WORKLOADS, n),
            "model": rng.choice(MODELS, n),
            "prompt_tokens": rng.integers(10, 3000, n),
            "completion_tokens": rng.integers(1, 800, n),
            "latency_ms": np.round(rng.lognormal(6.5, 0.6, n), 1),
            "status": rng.choice(["ok", "ok", "ok", "error"], n),
            "cost": np.where(rng.random(n) < 0.3, cost, np.nan),
            "prompt_version": rng.choice(["v1", "v2"], n),
            "environment": rng.choice(["production", "production", "production", "staging"], n),
            "operation": rng.choice(["chat"] * 8 + ["invoke_agent", "text_completion"], n),
            "loaded_at": created + pd.to_timedelta(rng.integers(1, 600, n), unit="s"),
        }
    )
    return frame


def oracle_rollups(calls: pd.DataFrame) -> pd.DataFrame:
    """The expected rollups computed independently in pandas: production LLM calls per day."""
    valid = calls[
        (calls.environment == "production")
        & calls.operation.isin(["chat", "text_completion", "generate_content"])
        & calls.feature.notna()
        & (calls.prompt_tokens >= 0)
        & (calls.completion_tokens >= 0)
        & (calls.latency_ms >= 0)
    ]
    grouped = valid.assign(day=valid.created_at.dt.date).groupby(["feature", "model", "prompt_version", "day"])
    return (
        grouped.agg(
            calls=("call_id", "size"),
            errors=("status", lambda s: int((s == "error").sum())),
            input_tokens=("prompt_tokens", "sum"),
            output_tokens=("completion_tokens", "sum"),
        )
        .reset_index()
        .rename(columns={"feature": "workload"})
        .sort_values(["workload", "model", "prompt_version", "day"])
        .reset_index(drop=True)
    )


def write_table(url: str, table: str, frame: pd.DataFrame, *, schema: str | None = None, text_timestamps: bool = False) -> None:
    engine = sa.create_engine(url)
    data = frame.copy()
    if text_timestamps:
        for column in data.columns:
            if pd.api.types.is_datetime64_any_dtype(data[column]):
                data[column] = data[column].dt.strftime("%Y-%m-%d %H:%M:%S")
    dtype = {c: sa.String(255) for c in data.columns if data[c].dtype == object}
    with engine.begin() as conn:
        if engine.dialect.name == "duckdb":  # pandas' replace reflects through PostgreSQL catalogs DuckDB lacks
            conn.execute(sa.schema.DropTable(sa.Table(table, sa.MetaData(), schema=schema), if_exists=True))
        data.to_sql(table, conn, schema=schema, index=False, if_exists="replace", dtype=dtype, chunksize=5000)
    engine.dispose()


def native_source(url: str, table: str = "llm_calls", *, labels: str | None = None, **extra: object) -> dict:
    source: dict = {
        "name": "wh",
        "url": url,
        "calls": {
            "table": table,
            "columns": dict(NATIVE_COLUMNS),
            "filters": [{"column": "environment", "op": "=", "value": "production"}],
        },
        **extra,
    }
    if labels:
        source["examples"] = {
            "table": labels,
            "columns": {
                "id": "id", "workload": "feature", "created_at": "created_at", "updated_at": "updated_at",
                "label": "verdict", "failure_mode": "failure_mode", "provenance": "source",
                "label_source": "labeled_by", "input_text": "prompt", "output_text": "output",
            },  # fmt: skip
            "failure_labels": ["fail"],
            "provenance": {"production_log": ["production"], "relabeled_by_human": ["human_fix"], "synthetic": ["synthetic"]},
            "trusted_label_sources": ["human"],
            "page_size": 100,
        }
    return source


def store_rollups(store_url: str) -> pd.DataFrame:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        frame = pd.read_sql(
            sa.text(
                "SELECT workload, model, prompt_version, day, calls, errors, input_tokens, output_tokens "
                "FROM call_rollups ORDER BY workload, model, prompt_version, day"
            ),
            conn,
        )
    engine.dispose()
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    for column in ("calls", "errors", "input_tokens", "output_tokens"):
        frame[column] = frame[column].astype("int64")
    return frame.reset_index(drop=True)


def sync_store(settings: Settings, **options: Any) -> list[SyncResult]:
    """`sync_all` into the settings' store, opened for the sync and disposed after it."""
    store = Store(settings.store_url)
    try:
        return sync_all(settings, store, **options)
    finally:
        store.dispose()
