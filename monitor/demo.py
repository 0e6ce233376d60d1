"""The demo warehouse: a deterministic, realistic SQLite warehouse in the `native` layout.

`build_demo_warehouse` writes two tables, `llm_calls` (one row per LLM call, several million at
scale 1.0) and `llm_labels` (labelled examples), for six workloads whose profiles exercise every
part of the readiness framework; `demo_config` is the configuration that reads them.

Everything is drawn from numpy Generators seeded by `seed` (and `now`, `scale`), so the same
arguments give byte-identical tables. Call rows are generated per chunk of days, vectorised, on a
worker thread that stages them in an in-memory SQLite database; the main thread copies each staged
chunk into the file while the next one is generated (SQLite releases the GIL while it works).
"""

from __future__ import annotations

import copy
import json
import math
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

DAY = 86_400
HOUR = 3_600
HISTORY_DAYS = 390  # the oldest call is at most this many days before `now` (13 months)
WINDOW_WEEKS = 8  # recurring failures are planted in each of the last 8 weeks
CHUNK_ROWS = 250_000  # call rows generated and staged per chunk (a few days at the busiest)
STAGE_BATCH = 800  # rows per multi-row INSERT statement when staging
BAD_ROW_RATE = 1e-4  # per quarantine reason: 5 reasons → 0.05 % of call rows
BAD_ROW_REASONS = ("null_workload", "negative_tokens", "negative_latency", "unparseable_timestamp", "future_timestamp")

TRUSTED = (("production", "human"), ("production", "annotation"), ("human_fix", "human"), ("human_fix", "annotation"))
JUDGE = "gpt-4o-judge"

_BUSINESS_HOURS = (1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 8, 9, 9, 9, 8, 7, 5, 4, 3, 2, 1)  # UTC, EU + US office
_ALL_DAY_HOURS = (3, 2, 2, 2, 2, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 4, 4)  # consumer-facing

CALLS_DDL = """
CREATE TABLE llm_calls (
    call_id TEXT PRIMARY KEY,
    created_at TEXT,
    feature TEXT,
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms REAL,
    status TEXT,
    cost REAL,
    prompt_version TEXT,
    environment TEXT,
    operation TEXT,
    loaded_at TEXT
)"""
LABELS_DDL = """
CREATE TABLE llm_labels (
    id TEXT PRIMARY KEY,
    feature TEXT,
    created_at TEXT,
    updated_at TEXT,
    verdict TEXT,
    failure_mode TEXT,
    source TEXT,
    labeled_by TEXT,
    call_id TEXT,
    prompt TEXT,
    output TEXT
)"""


@dataclass(frozen=True)
class DemoInfo:
    path: Path
    calls_rows: int
    label_rows: int
    workloads: dict[str, dict[str, Any]]  # the `workloads:` config section
    expected_verdicts: dict[str, str]  # the verdict each workload's profile was built for
    bad_rows: dict[str, int] = field(default_factory=dict)  # call rows planted for quarantine, by reason


@dataclass(frozen=True)
class _Model:
    name: str
    share: float
    latency_median_ms: float
    latency_sigma: float
    usd_per_m_input: float = 0.0  # used only for the cost a gateway reports (`cost_share`)
    usd_per_m_output: float = 0.0


@dataclass(frozen=True)
class _LabelPlan:
    days: int  # labelling started this many days before `now`
    segments: tuple[tuple[str, str, int], ...]  # (source, labeled_by, rows at scale 1.0)
    fail_rate: float  # share of failures among labels outside the planted recurring ones
    modes: tuple[tuple[str | None, float], ...]  # failure_mode (None: free text in `output` only), weight
    recurring: tuple[tuple[str | None, float], ...] = ()  # (mode, mean cases per week) in the last 8 weeks
    recent_fail_rate: float | None = None  # fail_rate in the last 8 weeks, when it differs


@dataclass(frozen=True)
class _Workload:
    name: str
    profile: dict[str, Any]
    expected_verdict: str
    monthly_calls: tuple[int, ...]  # thousands of calls per calendar month, oldest → the current month
    launch_day: int  # day of the first month the workload went live
    weekend_factor: float
    hours: tuple[int, ...]
    models: tuple[_Model, ...]
    prompt_tokens: tuple[float, float]  # lognormal (median, sigma)
    completion_tokens: tuple[float, float]
    error_rate: float
    versions: tuple[tuple[int, str], ...]  # (live from this many days before now, prompt_version)
    labels: _LabelPlan
    staging_versions: tuple[tuple[int, str], ...] = ()
    staging_share: float = 0.0
    agent_share: float = 0.0  # 'invoke_agent' wrapper spans that must not be counted
    cost_share: float = 0.0  # calls whose cost the gateway reports


def _profile(
    domain: str, strict: bool, slo: int, current: str, candidate: str, owners: list[str], channel: str
) -> dict[str, Any]:
    return {
        "domain": domain,
        "strict_format": strict,
        "latency_slo_ms": slo,
        "current_model": current,
        "candidate_model": candidate,
        "owners": owners,
        "slack_channel": channel,
    }


WORKLOADS: tuple[_Workload, ...] = (
    # Well past 500K calls/month, 1,500 trusted real examples, format failures every week: ready.
    _Workload(
        name="claims-extraction",
        profile=_profile(
            "general", True, 2500, "gpt-4o", "ft:gpt-4o-mini", ["<@U024BE7LH>", "<@U05R8KQ2M1P>"], "#claims-ml"
        ),
        expected_verdict="ready",
        monthly_calls=(150, 230, 310, 390, 470, 550, 620, 640, 655, 670, 680),
        launch_day=10,
        weekend_factor=0.45,
        hours=_BUSINESS_HOURS,
        models=(_Model("gpt-4o", 0.97, 560, 0.32), _Model("gpt-4o-mini", 0.03, 380, 0.30)),
        prompt_tokens=(1900, 0.35),
        completion_tokens=(210, 0.30),
        error_rate=0.012,
        versions=((10_000, "v3"), (18, "v4")),
        staging_versions=((10_000, "v4"), (9, "v5-rc")),
        staging_share=0.02,
        labels=_LabelPlan(
            days=175,
            segments=(
                ("production", "human", 900),
                ("production", "annotation", 350),
                ("human_fix", "human", 250),
                ("production", JUDGE, 500),
                ("model_relabel", JUDGE, 150),
                ("upload", "human", 100),
                ("synthetic", JUDGE, 200),
                ("generated", JUDGE, 100),
            ),
            fail_rate=0.07,
            modes=(("invalid_json", 0.35), ("missing_field", 0.30), ("hallucinated_policy", 0.15), (None, 0.20)),
            recurring=(("invalid_json", 13), ("missing_field", 7), (None, 3)),
        ),
    ),
    # 5,000 labels, 80 % synthetic, 400 trusted real, 60K calls/month: prompt engineering.
    _Workload(
        name="marketing-copy",
        profile=_profile("general", False, 3000, "gpt-4o", "ft:gpt-4o-mini", ["<@U03HX7N4E2K>"], "#growth-marketing"),
        expected_verdict="prompt_engineering",
        monthly_calls=(48, 55, 58, 60, 61, 59, 62, 60, 61),
        launch_day=12,
        weekend_factor=0.5,
        hours=_BUSINESS_HOURS,
        models=(
            _Model("gpt-4o", 0.8, 650, 0.30, 2.50, 10.00),
            _Model("claude-3-5-sonnet-20241022", 0.2, 720, 0.28, 3.00, 15.00),
        ),
        prompt_tokens=(520, 0.40),
        completion_tokens=(380, 0.35),
        error_rate=0.008,
        versions=((10_000, "v7"), (52, "v8")),
        staging_versions=((10_000, "v8"), (20, "v9-rc")),
        staging_share=0.03,
        cost_share=0.10,
        labels=_LabelPlan(
            days=200,
            segments=(
                ("synthetic", JUDGE, 2400),
                ("generated", JUDGE, 1600),
                ("production", "human", 300),
                ("human_fix", "annotation", 100),
                ("production", JUDGE, 500),
                ("upload", "human", 100),
            ),
            fail_rate=0.12,
            modes=(("wrong_tone", 0.4), ("ignored_instruction", 0.4), (None, 0.2)),
            recurring=(("ignored_instruction", 2.5),),
        ),
    ),
    # Specialised domain (a trigger), 700 trusted real examples, recurring knowledge failures: approaching.
    _Workload(
        name="clinical-notes",
        profile=_profile("specialized", False, 2000, "gpt-4o", "ft:gpt-4o-mini", ["<@U06B2ZT9JQ4>"], "#clinical-ai"),
        expected_verdict="approaching",
        monthly_calls=(30, 34, 37, 39, 40, 41, 40, 42, 41, 40),
        launch_day=3,
        weekend_factor=0.35,
        hours=_BUSINESS_HOURS,
        models=(_Model("gpt-4o", 1.0, 600, 0.30),),
        prompt_tokens=(2600, 0.40),
        completion_tokens=(450, 0.35),
        error_rate=0.006,
        versions=((10_000, "v2"),),
        labels=_LabelPlan(
            days=240,
            segments=(
                ("production", "human", 450),
                ("production", "annotation", 150),
                ("human_fix", "human", 100),
                ("production", JUDGE, 150),
                ("synthetic", JUDGE, 100),
            ),
            fail_rate=0.08,
            modes=(("hallucinated_policy", 0.45), ("missing_field", 0.25), (None, 0.30)),
            recurring=(("hallucinated_policy", 6), (None, 1.5)),
        ),
    ),
    # Growing to ~86 % of the volume threshold, 1,100 trusted real, no recurring failures: approaching.
    _Workload(
        name="search-rerank",
        profile=_profile("general", False, 1200, "gpt-4o", "ft:gpt-4o-mini", ["<@U04K9MPL3CD>"], "#search-relevance"),
        expected_verdict="approaching",
        monthly_calls=(150, 220, 300, 360, 430, 455),
        launch_day=1,
        weekend_factor=0.8,
        hours=_ALL_DAY_HOURS,
        models=(_Model("gpt-4o", 1.0, 380, 0.32),),
        prompt_tokens=(1400, 0.25),
        completion_tokens=(45, 0.30),
        error_rate=0.005,
        versions=((10_000, "v5"), (11, "v6")),
        labels=_LabelPlan(
            days=150,
            segments=(
                ("production", "annotation", 700),
                ("production", "human", 300),
                ("human_fix", "human", 100),
                ("production", JUDGE, 250),
                ("synthetic", JUDGE, 150),
            ),
            fail_rate=0.05,
            recent_fail_rate=0.012,
            modes=(
                ("irrelevant_result", 0.40),
                ("wrong_order", 0.25),
                ("invalid_json", 0.10),
                ("missing_field", 0.05),
                (None, 0.20),
            ),
        ),
    ),
    # Data gate and a latency trigger met, but six prompt versions in 30 days: approaching.
    _Workload(
        name="email-drafts",
        profile=_profile(
            "general", False, 900, "gpt-4.1", "ft:gpt-4.1-mini", ["<@U07F3WQ8ZN2>", "<@U02T6YH5RAV>"], "#support-email"
        ),
        expected_verdict="approaching",
        monthly_calls=(55, 62, 68, 72, 76, 79, 80, 81, 80, 82),
        launch_day=20,
        weekend_factor=0.4,
        hours=_BUSINESS_HOURS,
        models=(_Model("gpt-4.1", 1.0, 820, 0.32),),
        prompt_tokens=(850, 0.35),
        completion_tokens=(260, 0.35),
        error_rate=0.015,
        versions=(
            (10_000, "v1"),
            (210, "v2"),
            (120, "v3"),
            (45, "v4"),
            (24, "v5"),
            (19, "v6"),
            (13, "v7"),
            (8, "v8"),
            (3, "v9"),
        ),
        staging_versions=((10_000, "v2"), (27, "v6-rc")),
        staging_share=0.02,
        agent_share=0.004,
        labels=_LabelPlan(
            days=230,
            segments=(
                ("production", "human", 700),
                ("production", "annotation", 300),
                ("human_fix", "human", 200),
                ("production", JUDGE, 200),
                ("synthetic", JUDGE, 100),
            ),
            fail_rate=0.09,
            modes=(("wrong_tone", 0.5), ("ignored_instruction", 0.3), (None, 0.2)),
            recurring=(("wrong_tone", 7),),
        ),
    ),
    # Small general workload, a few labels: prompt engineering.
    _Workload(
        name="faq-bot",
        profile=_profile("general", False, 1500, "gpt-4o-mini", "ft:gpt-4o-mini", ["<@U08M1NV4XQ7>"], "#help-center"),
        expected_verdict="prompt_engineering",
        monthly_calls=(12, 13, 14, 14, 15, 15, 16, 15, 14, 15, 16, 15, 15),
        launch_day=1,
        weekend_factor=0.85,
        hours=_ALL_DAY_HOURS,
        models=(_Model("gpt-4o-mini", 1.0, 420, 0.30),),
        prompt_tokens=(640, 0.30),
        completion_tokens=(140, 0.40),
        error_rate=0.025,
        versions=((10_000, "v1"), (90, "v2")),
        agent_share=0.004,
        labels=_LabelPlan(
            days=120,
            segments=(("production", "human", 40), ("production", JUDGE, 25), ("synthetic", JUDGE, 15)),
            fail_rate=0.15,
            modes=(("hallucinated_policy", 0.4), ("ignored_instruction", 0.3), (None, 0.3)),
        ),
    ),
)

_MODELS = tuple(sorted({m.name for w in WORKLOADS for m in w.models}))
_VERSIONS = tuple(sorted({v for w in WORKLOADS for _, v in (*w.versions, *w.staging_versions)}))
_ENVIRONMENTS = ("production", "staging")
_OPERATIONS = ("chat", "invoke_agent")
_STATUSES = ("ok", "error")
_CODE_BITS = (len(WORKLOADS) * len(_MODELS) * len(_VERSIONS) * 8 - 1).bit_length()  # see _decode


def build_demo_warehouse(path: Path, *, now: datetime, scale: float = 1.0, seed: int = 7) -> DemoInfo:
    """Write a fresh demo warehouse at `path` (an existing file is replaced) and describe it."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if not scale > 0:
        raise ValueError("scale must be positive")
    now_ts = int(now.astimezone(timezone.utc).timestamp())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".building")
    partial.unlink(missing_ok=True)

    grid = _day_grid(now_ts)
    counts = np.stack([_daily_counts(w, i, grid, scale, seed) for i, w in enumerate(WORKLOADS)])
    incidents = _incident_days(counts, seed)

    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        for pragma in ("page_size=16384", "journal_mode=OFF", "synchronous=OFF", "cache_size=-65536"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(CALLS_DDL)
        # rows arrive in created_at order, so maintaining the indexes while inserting costs little
        conn.execute("CREATE INDEX ix_llm_calls_created_at ON llm_calls (created_at)")
        conn.execute("CREATE INDEX ix_llm_calls_loaded_at ON llm_calls (loaded_at)")
        conn.execute("ATTACH ':memory:' AS stage")
        calls_rows, bad_rows = _write_calls(conn, grid, counts, incidents, now_ts, seed)
        conn.execute("DETACH stage")
        label_rows = _write_labels(conn, _plan_labels(now_ts, grid, counts, scale, seed), seed)
        conn.close()
        os.replace(partial, path)
    except BaseException:
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    return DemoInfo(
        path=path,
        calls_rows=calls_rows,
        label_rows=label_rows,
        workloads={w.name: copy.deepcopy(w.profile) for w in WORKLOADS},
        expected_verdicts={w.name: w.expected_verdict for w in WORKLOADS},
        bad_rows=bad_rows,
    )


def demo_config(info: DemoInfo, *, store_url: str, reports_dir: str) -> dict[str, Any]:
    """The configuration (DESIGN.md's contract) that reads the demo warehouse described by `info`."""
    return {
        "store": {"url": store_url},
        "sources": [
            {
                "name": "demo",
                "url": f"sqlite:///{Path(info.path).resolve()}",
                "calls": {
                    "table": "llm_calls",
                    "preset": "native",
                    "columns": {
                        "id": "call_id",
                        "timestamp": "created_at",
                        "workload": "feature",
                        "model": "model",
                        "input_tokens": "prompt_tokens",
                        "output_tokens": "completion_tokens",
                        "latency_ms": "latency_ms",
                        "status": "status",
                        "cost_usd": "cost",
                        "prompt_version": "prompt_version",
                        "operation": "operation",
                        "ingested_at": "loaded_at",
                    },
                    "filters": [{"column": "environment", "op": "=", "value": "production"}],
                },
                "examples": {
                    "table": "llm_labels",
                    "columns": {
                        "id": "id",
                        "workload": "feature",
                        "created_at": "created_at",
                        "updated_at": "updated_at",
                        "label": "verdict",
                        "failure_mode": "failure_mode",
                        "provenance": "source",
                        "label_source": "labeled_by",
                        "call_id": "call_id",
                        "input_text": "prompt",
                        "output_text": "output",
                    },
                    "failure_labels": ["fail"],
                    "provenance": {
                        "production_log": ["production"],
                        "relabeled_by_human": ["human_fix"],
                        "relabeled_by_model": ["model_relabel"],
                        "upload": ["upload"],
                        "synthetic": ["synthetic", "generated"],
                    },
                    "trusted_label_sources": ["human", "annotation"],
                },
            }
        ],
        "workloads": copy.deepcopy(info.workloads),
        "rules": "default",
        "pricing": [],
        "alerts": {
            "slack": {"token": None, "default_channel": "#llm-readiness"},
            "pending_evaluations": 1,
            "repeat_interval": "7d",
            "send_resolved": True,
        },
        "schedule": {"timezone": "UTC", "sync_every": "1h", "weekly_report": "mon 08:00"},
        "reports": {"dir": reports_dir, "base_url": None, "excerpts": True},
    }


# ---------------------------------------------------------------------------------------------
# Call volume: expected calls per workload per day, drawn once for the whole history.


@dataclass(frozen=True)
class _Grid:
    days: np.ndarray  # datetime64[D], HISTORY_DAYS days before today → today
    day_starts: np.ndarray  # int64 epoch seconds of each day's midnight UTC


def _day_grid(now_ts: int) -> _Grid:
    today = np.datetime64(now_ts // DAY, "D")
    days = np.arange(today - HISTORY_DAYS, today + 1, dtype="datetime64[D]")
    return _Grid(days=days, day_starts=days.astype(np.int64) * DAY)


def _weekday_weight(days: np.ndarray, weekend_factor: float) -> np.ndarray:
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    return np.where(weekday >= 5, weekend_factor, 1.0)


def _daily_counts(w: _Workload, index: int, grid: _Grid, scale: float, seed: int) -> np.ndarray:
    """Calls per day: each calendar month's target spread over its days (weekends quieter), Poisson noise."""
    rng = np.random.default_rng([seed, 1, index])
    months = grid.days.astype("datetime64[M]")
    back = (months[-1] - months).astype(np.int64)  # 0 = the current month
    slot = len(w.monthly_calls) - 1 - back
    first_month = months[-1] - (len(w.monthly_calls) - 1)
    launch = first_month.astype("datetime64[D]") + (w.launch_day - 1)
    active = (slot >= 0) & (grid.days >= launch)
    target = np.asarray(w.monthly_calls, dtype=float)[np.clip(slot, 0, None)] * 1000.0
    # normalise by the weight of the whole calendar month, so a month's calls sum to its target
    full = np.arange(months[0].astype("datetime64[D]"), (months[-1] + 1).astype("datetime64[D]"), dtype="datetime64[D]")
    full_months = full.astype("datetime64[M]")
    month_weight = np.bincount(
        (full_months - months[0]).astype(np.int64), weights=_weekday_weight(full, w.weekend_factor)
    )[(months - months[0]).astype(np.int64)]
    noise = rng.lognormal(0.0, 0.05, len(grid.days))
    expected = target * _weekday_weight(grid.days, w.weekend_factor) / month_weight * noise * scale
    return np.where(active, rng.poisson(np.where(active, expected, 0.0)), 0).astype(np.int64)


def _incident_days(counts: np.ndarray, seed: int) -> np.ndarray:
    """One provider-incident day per workload, somewhere in its history (workloads × days)."""
    rng = np.random.default_rng([seed, 4])
    out = np.zeros(counts.shape, dtype=bool)
    for index, row in enumerate(counts):
        active = np.flatnonzero(row)
        if len(active):
            out[index, rng.choice(active)] = True
    return out


def _chunks(counts: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive day ranges [start, stop) of about CHUNK_ROWS calls each."""
    per_day = counts.sum(axis=0)
    out: list[tuple[int, int]] = []
    start, acc = 0, 0
    for day, n in enumerate(per_day.tolist()):
        acc += n
        if acc >= CHUNK_ROWS:
            out.append((start, day + 1))
            start, acc = day + 1, 0
    if start < len(per_day):
        out.append((start, len(per_day)))
    return out


# ---------------------------------------------------------------------------------------------
# Call rows: generated per chunk on a worker thread, staged in memory, copied into the file.


@dataclass(frozen=True)
class _ChunkJob:
    index: int
    day_starts: np.ndarray
    counts: np.ndarray  # workloads × days of this chunk
    incidents: np.ndarray  # workloads × days: a provider incident (error rate × 6)


@dataclass(frozen=True)
class _ChunkResult:
    rows: int
    database: bytes  # serialized SQLite database holding the table `calls`
    bad_rows: dict[str, int]


def _write_calls(
    conn: sqlite3.Connection, grid: _Grid, counts: np.ndarray, incidents: np.ndarray, now_ts: int, seed: int
) -> tuple[int, dict[str, int]]:
    """Generate and insert every call row; returns the number of rows and the bad rows by reason."""
    jobs = [
        _ChunkJob(index, grid.day_starts[a:b], counts[:, a:b], incidents[:, a:b])
        for index, (a, b) in enumerate(_chunks(counts))
    ]
    rows, bad = 0, dict.fromkeys(BAD_ROW_REASONS, 0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[_ChunkResult] = pool.submit(_build_chunk, jobs[0], 0, now_ts, seed)
        for index in range(len(jobs)):
            result = pending.result()
            if index + 1 < len(jobs):  # generate the next chunk while SQLite copies this one
                pending = pool.submit(_build_chunk, jobs[index + 1], rows + result.rows, now_ts, seed)
            conn.deserialize(result.database, name="stage")
            conn.execute("BEGIN")
            conn.execute("INSERT INTO main.llm_calls SELECT * FROM stage.calls")
            conn.execute("COMMIT")
            rows += result.rows
            for reason, n in result.bad_rows.items():
                bad[reason] += n
    return rows, bad


def _build_chunk(job: _ChunkJob, offset: int, now_ts: int, seed: int) -> _ChunkResult:
    """One chunk of call rows, staged; `offset` is the number of call rows before it (the next id)."""
    rng = np.random.default_rng([seed, 2, job.index])
    parts = [_workload_calls(w, i, job, rng, now_ts) for i, w in enumerate(WORKLOADS)]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = (cols["ts"] <= now_ts) & (cols["loaded"] <= now_ts)  # not happened yet, or not loaded yet
    order = np.argsort(cols["ts"][keep], kind="stable")
    cols = {k: v[keep][order] for k, v in cols.items()}
    n = len(cols["ts"])

    clean = np.flatnonzero(cols["clean"])
    targets = [math.ceil((offset + n) * BAD_ROW_RATE) - math.ceil(offset * BAD_ROW_RATE) for _ in BAD_ROW_REASONS]
    picked = rng.choice(clean, size=min(sum(targets), len(clean)), replace=False)
    bad = dict(zip(BAD_ROW_REASONS, np.split(picked, np.cumsum(targets)[:-1]), strict=True))
    future = now_ts + rng.integers(2 * HOUR, 20 * DAY, len(bad["future_timestamp"]))

    patches: list[tuple[str, list[tuple[Any, ...]]]] = [
        ("feature = NULL", [(i + 1,) for i in bad["null_workload"].tolist()]),
        ("prompt_tokens = -prompt_tokens", [(i + 1,) for i in bad["negative_tokens"].tolist()]),
        ("latency_ms = -latency_ms", [(i + 1,) for i in bad["negative_latency"].tolist()]),
        ("created_at = 'not-a-date'", [(i + 1,) for i in bad["unparseable_timestamp"].tolist()]),
        (
            "created_at = ?",
            [(_timestamp(t), i + 1) for t, i in zip(future.tolist(), bad["future_timestamp"].tolist(), strict=True)],
        ),
        ("cost = ?", [(c, i + 1) for i, c in zip(*_provided_costs(cols), strict=True)]),
    ]
    database = _stage(cols, offset, patches)
    return _ChunkResult(n, database, {reason: len(rows) for reason, rows in bad.items()})


def _provided_costs(cols: dict[str, np.ndarray]) -> tuple[list[int], list[float]]:
    rows = np.flatnonzero(cols["cost"] >= 0)
    return rows.tolist(), np.round(cols["cost"][rows], 8).tolist()


def _workload_calls(
    w: _Workload, index: int, job: _ChunkJob, rng: np.random.Generator, now_ts: int
) -> dict[str, np.ndarray]:
    counts = job.counts[index]
    n = int(counts.sum())
    hours = np.asarray(w.hours, dtype=float)
    hour = np.searchsorted(np.cumsum(hours / hours.sum()), rng.random(n), side="right").clip(0, 23)
    ts = np.repeat(job.day_starts, counts) + hour * HOUR + rng.integers(0, HOUR, n)

    shares = np.array([m.share for m in w.models])
    model = rng.choice(len(w.models), size=n, p=shares / shares.sum())
    median = np.array([m.latency_median_ms for m in w.models])[model]
    sigma = np.array([m.latency_sigma for m in w.models])[model]
    latency = median * np.exp(sigma * rng.standard_normal(n))

    error_rate = np.repeat(np.where(job.incidents[index], w.error_rate * 6, w.error_rate), counts)
    error = rng.random(n) < error_rate
    timeout = error & (rng.random(n) < 0.3)
    latency = np.where(error, 180 * np.exp(0.5 * rng.standard_normal(n)), latency)
    latency = np.where(timeout, 30_000 + rng.random(n) * 500, latency)

    pt = np.clip(w.prompt_tokens[0] * np.exp(w.prompt_tokens[1] * rng.standard_normal(n)), 1, 100_000).astype(np.int64)
    ct = np.clip(w.completion_tokens[0] * np.exp(w.completion_tokens[1] * rng.standard_normal(n)), 1, 16_000).astype(
        np.int64
    )
    ct[error] = 0

    staging = rng.random(n) < w.staging_share
    agent = ~staging & (rng.random(n) < w.agent_share)
    pt[agent] *= 3  # a wrapper span carries the sum of the calls it wraps
    ct[agent] *= 2
    latency[agent] *= 2.6

    version = _version_at(w.versions, ts, now_ts)
    if w.staging_versions:
        version = np.where(staging, _version_at(w.staging_versions, ts, now_ts), version)

    cost = np.full(n, -1.0)
    if w.cost_share:
        priced = ~staging & (rng.random(n) < w.cost_share)
        usd_in = np.array([m.usd_per_m_input for m in w.models])[model]
        usd_out = np.array([m.usd_per_m_output for m in w.models])[model]
        cost[priced] = ((pt * usd_in + ct * usd_out) / 1e6)[priced]

    delay = np.clip(720 * np.exp(0.9 * rng.standard_normal(n)), 45, 8 * HOUR)
    late = rng.random(n) < 0.002
    delay[late] = rng.uniform(8 * HOUR, 40 * HOUR, int(late.sum()))

    code = (
        (((index * len(_MODELS) + _model_codes(w)[model]) * len(_VERSIONS) + version) * 2 + staging) * 2 + agent
    ) * 2 + error
    return {
        "ts": ts,
        "code": code.astype(np.int64),
        "pt": pt,
        "ct": ct,
        "lat10": np.rint(latency * 10).astype(np.int64),
        "cost": cost,
        "loaded": ts + delay.astype(np.int64),
        "clean": ~staging & ~agent,  # production LLM calls: bad rows are drawn from these
    }


def _model_codes(w: _Workload) -> np.ndarray:
    return np.array([_MODELS.index(m.name) for m in w.models], dtype=np.int64)


def _version_at(schedule: tuple[tuple[int, str], ...], ts: np.ndarray, now_ts: int) -> np.ndarray:
    live_from = np.array([now_ts - days * DAY for days, _ in schedule], dtype=np.int64)
    codes = np.array([_VERSIONS.index(v) for _, v in schedule], dtype=np.int64)
    return codes[np.clip(np.searchsorted(live_from, ts, side="right") - 1, 0, None)]


def _stage(cols: dict[str, np.ndarray], offset: int, patches: list[tuple[str, list[tuple[Any, ...]]]]) -> bytes:
    """The chunk as a serialized SQLite database holding the table `calls` in the final layout.

    Rows travel as three packed integers each (the cheapest way through the sqlite3 module) and are
    decoded by SQLite; the few irregular values (bad rows, provided costs) are patched by row.
    """
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute(CALLS_DDL.replace("llm_calls", "calls").replace(" PRIMARY KEY", ""))
        db.execute(
            "CREATE TEMP TABLE dim"
            " (code INTEGER PRIMARY KEY, feature, model, prompt_version, environment, operation, status)"
        )
        db.execute("CREATE TEMP TABLE raw (a INTEGER, b INTEGER, c INTEGER)")
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO dim VALUES (?, ?, ?, ?, ?, ?, ?)", [_decode(c) for c in np.unique(cols["code"]).tolist()]
        )
        packed = np.column_stack(
            [
                cols["ts"] << _CODE_BITS | cols["code"],
                cols["pt"] << 20 | cols["ct"],
                cols["lat10"] << 18 | (cols["loaded"] - cols["ts"]),
            ]
        )
        for sql, batch in _batches("INSERT INTO raw VALUES ", packed):
            db.execute(sql, batch)
        ts, code_mask = f"(r.a >> {_CODE_BITS})", (1 << _CODE_BITS) - 1
        db.execute(
            f"INSERT INTO calls SELECT printf('call_%010d', ? + r.rowid - 1), datetime({ts}, 'unixepoch'),"
            " d.feature, d.model, r.b >> 20, r.b & 1048575, (r.c >> 18) / 10.0, d.status, NULL,"
            f" d.prompt_version, d.environment, d.operation, datetime({ts} + (r.c & 262143), 'unixepoch')"
            f" FROM raw AS r JOIN dim AS d ON d.code = r.a & {code_mask} ORDER BY r.rowid",
            (offset,),
        )
        for assignment, rows in patches:
            db.executemany(f"UPDATE calls SET {assignment} WHERE rowid = ?", rows)
        db.execute("COMMIT")
        return db.serialize()
    finally:
        db.close()


def _batches(prefix: str, matrix: np.ndarray) -> Iterator[tuple[str, list[int]]]:
    """Multi-row INSERT statements over the rows of an integer matrix (far fewer round trips)."""
    width = matrix.shape[1]
    row = "(" + ",".join("?" * width) + ")"
    full_sql = prefix + ",".join([row] * STAGE_BATCH)
    flat = matrix.ravel().tolist()
    step = STAGE_BATCH * width
    for start in range(0, len(flat), step):
        batch = flat[start : start + step]
        yield (full_sql if len(batch) == step else prefix + ",".join([row] * (len(batch) // width))), batch


def _decode(code: int) -> tuple[Any, ...]:
    """A row of the `dim` table: the strings packed into a call's combination code."""
    rest, error = divmod(code, 2)
    rest, agent = divmod(rest, 2)
    rest, staging = divmod(rest, 2)
    rest, version = divmod(rest, len(_VERSIONS))
    workload, model = divmod(rest, len(_MODELS))
    return (
        code,
        WORKLOADS[workload].name,
        _MODELS[model],
        _VERSIONS[version],
        _ENVIRONMENTS[staging],
        _OPERATIONS[agent],
        _STATUSES[error],
    )


# ---------------------------------------------------------------------------------------------
# Labelled examples: provenance mix, planted recurring failures, duplicates and conflicts.


@dataclass(frozen=True)
class _Label:
    workload: int
    created: int
    updated: int
    verdict: str
    failure_mode: str | None
    source: str
    labeled_by: str
    call_time: int | None  # when the labelled call happened; None when no call exists (synthetic, upload)
    prompt: str
    output: str


def _plan_labels(now_ts: int, grid: _Grid, counts: np.ndarray, scale: float, seed: int) -> list[_Label]:
    rng = np.random.default_rng([seed, 3])
    text = _Text(rng)
    out: list[_Label] = []
    for index, w in enumerate(WORKLOADS):
        plan = w.labels
        active = np.flatnonzero(counts[index])
        if not len(active):
            continue
        first_call = int(grid.day_starts[active[0]])
        start = max(now_ts - plan.days * DAY, first_call + 7 * DAY)
        window_start = now_ts - WINDOW_WEEKS * 7 * DAY
        recurring = [
            (int(t), mode)
            for mode, per_week in plan.recurring
            for week in range(WINDOW_WEEKS)
            for t in rng.integers(
                now_ts - (week + 1) * 7 * DAY, now_ts - week * 7 * DAY - 600, rng.poisson(per_week * scale)
            )
        ]
        labels: list[_Label] = []
        carve = next(i for i, (source, by, _) in enumerate(plan.segments) if (source, by) in TRUSTED)
        batches = rng.integers(start, now_ts - DAY, 6)
        for segment, (source, by, n) in enumerate(plan.segments):
            rows = max(1, round(n * scale))
            planted = recurring if segment == carve else []
            synthetic = source in ("synthetic", "generated")
            for created, mode in planted:
                labels.append(_label(text, index, source, by, created, "fail", mode, now_ts))
            for _ in range(max(0, rows - len(planted))):
                if synthetic:
                    created = int(rng.choice(batches)) + int(rng.integers(0, 2 * HOUR))
                else:
                    created = int(rng.integers(start, now_ts - 600))
                rate = (
                    plan.recent_fail_rate
                    if plan.recent_fail_rate is not None and created >= window_start
                    else plan.fail_rate
                )
                if rng.random() < rate:
                    labels.append(_label(text, index, source, by, created, "fail", _mode(rng, plan), now_ts))
                else:
                    labels.append(_label(text, index, source, by, created, "pass", None, now_ts))
        out.extend(labels)
        out.extend(_repeats(rng, text, labels, plan, now_ts))
    return out


def _mode(rng: np.random.Generator, plan: _LabelPlan) -> str | None:
    weights = np.array([weight for _, weight in plan.modes])
    return plan.modes[int(rng.choice(len(plan.modes), p=weights / weights.sum()))][0]


def _label(
    text: _Text,
    workload: int,
    source: str,
    by: str,
    created: int,
    verdict: str,
    mode: str | None,
    now_ts: int,
) -> _Label:
    rng = text.rng
    updated = created + {
        "production": int(rng.integers(0, 30 * 60)),
        "human_fix": int(rng.integers(DAY, 6 * DAY)),
        "model_relabel": int(rng.integers(HOUR, 2 * DAY)),
    }.get(source, 0)
    call_time = None
    if source in ("production", "human_fix", "model_relabel"):
        lag = float(np.clip(3 * HOUR * np.exp(rng.standard_normal()), 600, 3 * DAY))
        call_time = created - int(lag)
    prompt, output = _WRITERS[WORKLOADS[workload].name](text, created, verdict, mode)
    return _Label(workload, created, min(updated, now_ts), verdict, mode, source, by, call_time, prompt, output)


def _repeats(
    rng: np.random.Generator, text: _Text, labels: list[_Label], plan: _LabelPlan, now_ts: int
) -> list[_Label]:
    """Exact and normalised duplicates, conflicting trusted labels of one input, repeated synthetic rows."""
    trusted = [lab for lab in labels if (lab.source, lab.labeled_by) in TRUSTED]
    synthetic = [lab for lab in labels if lab.source in ("synthetic", "generated")]
    n_exact, n_normalised, n_conflict = (round(len(trusted) * share) for share in (0.02, 0.01, 0.005))
    picks = rng.choice(len(trusted), size=min(len(trusted), n_exact + n_normalised + n_conflict), replace=False)
    out: list[_Label] = []
    for k, pick in enumerate(picks.tolist()):
        base = trusted[pick]
        source, by = TRUSTED[int(rng.integers(len(TRUSTED)))]
        created = int(rng.integers(base.created, now_ts - 599))
        twin = _label(text, base.workload, source, by, created, base.verdict, base.failure_mode, now_ts)
        if k < n_exact:
            out.append(_with(twin, prompt=base.prompt, output=base.output))
        elif k < n_exact + n_normalised:
            out.append(_with(twin, prompt=_renormalised(rng, base.prompt), output=base.output))
        else:
            flipped = "pass" if base.verdict == "fail" else "fail"
            mode = None if flipped == "pass" else next(m for m, _ in plan.modes if m is not None)
            out.append(_with(twin, prompt=base.prompt, output=base.output, verdict=flipped, failure_mode=mode))
    for pick in rng.choice(len(synthetic), size=round(len(synthetic) * 0.03), replace=False).tolist():
        base = synthetic[pick]
        created = base.created + int(rng.integers(1, HOUR))  # the generator emitted the same example again
        out.append(_with(base, created=created, updated=min(now_ts, created + HOUR)))
    return out


def _with(label: _Label, **changes: Any) -> _Label:
    values = {**label.__dict__, **changes}
    values["updated"] = max(values["updated"], values["created"])
    return _Label(**values)


def _renormalised(rng: np.random.Generator, prompt: str) -> str:
    """The same input as a normaliser sees it: different case or whitespace."""
    variant = int(rng.integers(3))
    if variant == 0:
        return "  " + prompt + "\n"
    if variant == 1:
        return prompt.replace(" ", "  ", 3)
    return prompt.lower()


def _write_labels(conn: sqlite3.Connection, labels: list[_Label], seed: int) -> int:
    """Insert the labels; each one from production points at the latest clean call of its workload before it."""
    rng = np.random.default_rng([seed, 5])
    ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in labels]
    conn.execute(LABELS_DDL)
    conn.execute("BEGIN")
    conn.execute("CREATE TEMP TABLE pending (id TEXT, feature TEXT, call_time TEXT)")
    conn.executemany(
        "INSERT INTO pending VALUES (?, ?, ?)",
        [
            (ids[i], WORKLOADS[label.workload].name, _timestamp(label.call_time))
            for i, label in enumerate(labels)
            if label.call_time is not None
        ],
    )
    calls = dict(
        conn.execute(
            "SELECT p.id, (SELECT c.call_id FROM llm_calls AS c"
            "  WHERE c.created_at <= p.call_time AND c.feature = p.feature AND c.environment = 'production'"
            "  AND c.operation = 'chat' AND c.prompt_tokens >= 0 AND c.latency_ms >= 0"
            "  ORDER BY c.created_at DESC LIMIT 1) FROM pending AS p"
        )
    )
    order = sorted(range(len(labels)), key=lambda i: (labels[i].created, ids[i]))
    conn.executemany(
        "INSERT INTO llm_labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                ids[i],
                WORKLOADS[labels[i].workload].name,
                _timestamp(labels[i].created),
                _timestamp(labels[i].updated),
                labels[i].verdict,
                labels[i].failure_mode,
                labels[i].source,
                labels[i].labeled_by,
                calls.get(ids[i]),
                labels[i].prompt,
                labels[i].output,
            )
            for i in order
        ),
    )
    conn.execute("DROP TABLE pending")
    conn.execute("CREATE INDEX ix_llm_labels_updated_at ON llm_labels (updated_at)")
    conn.execute("COMMIT")
    return len(labels)


def _timestamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------------------------
# Text of the labelled examples: plausible inputs and outputs, with fake contact details to redact.


class _Text:
    FIRST = (
        "Maria",
        "James",
        "Aisha",
        "Chen",
        "Olivia",
        "Mateo",
        "Priya",
        "Lukas",
        "Fatima",
        "Noah",
        "Sofia",
        "Kenji",
        "Amara",
        "Liam",
        "Elena",
        "Tariq",
        "Hannah",
        "Diego",
        "Ingrid",
        "Kwame",
    )
    LAST = (
        "Garcia",
        "Okafor",
        "Nguyen",
        "Schmidt",
        "Rossi",
        "Kowalski",
        "Haddad",
        "Murphy",
        "Tanaka",
        "Silva",
        "Johansson",
        "Patel",
        "Dubois",
        "Mensah",
        "Novak",
        "Fischer",
        "Ahmed",
        "Lopez",
        "Kim",
        "Byrne",
    )

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, options: tuple[str, ...]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def num(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def person(self) -> tuple[str, str]:
        return self.pick(self.FIRST), self.pick(self.LAST)

    def email(self, first: str, last: str) -> str:
        return f"{first.lower()}.{last.lower()}{self.num(1, 99)}@example.com"

    def phone(self) -> str:
        return f"+1 ({self.num(201, 989)}) 555-01{self.num(0, 100):02d}"

    def day(self, ts: int, days_before: int = 0) -> str:
        return _timestamp(ts - days_before * DAY)[:10]


Writer = Callable[[_Text, int, str, str | None], tuple[str, str]]


def _claims(t: _Text, ts: int, verdict: str, mode: str | None) -> tuple[str, str]:
    first, last = t.person()
    claim, policy = f"CLM-{t.num(10_000_000, 99_999_999)}", f"POL-{t.num(100_000, 999_999)}"
    model = t.pick(
        ("Toyota Camry", "Honda Civic", "Ford F-150", "Tesla Model 3", "Subaru Outback", "Kia Sorento", "BMW 330i")
    )
    vehicle = f"{t.num(2008, 2026)} {model}"
    incident = t.pick(
        (
            "rear-end collision",
            "hail damage",
            "side-swipe in a parking lot",
            "cracked windshield",
            "flood damage",
            "catalytic converter theft",
            "deer strike",
            "fallen tree branch",
        )
    )
    city = t.pick(("Denver", "Columbus", "Tampa", "Sacramento", "Raleigh", "Omaha", "Spokane", "Albany"))
    day = t.day(ts, t.num(1, 20))
    amount = t.num(300_00, 18_000_00) / 100
    prompt = (
        "Extract the claim as JSON with keys claim_id, claimant, policy_number, incident_date, vehicle, estimate_usd."
        f"\n\nAdjuster note: Claim {claim} reported by {first} {last}. {vehicle}, {incident} near {city} on {day}. "
        f"Estimated repair ${amount:,.2f}. Policy {policy}."
    )
    if t.chance(0.3):
        prompt += f" Claimant contact: {t.email(first, last)}, {t.phone()}."
    record: dict[str, Any] = {
        "claim_id": claim,
        "claimant": f"{first} {last}",
        "policy_number": policy,
        "incident_date": day,
        "vehicle": vehicle,
        "estimate_usd": amount,
    }
    if verdict == "pass":
        return prompt, json.dumps(record)
    if mode == "invalid_json":
        broken = t.pick(("truncated", "quotes", "fence"))
        if broken == "truncated":
            return prompt, json.dumps(record)[: -t.num(2, 12)]
        if broken == "quotes":
            return prompt, json.dumps(record).replace('"', "'")
        return prompt, "```json\n" + json.dumps(record, indent=2) + "\n```\nLet me know if you need anything else!"
    if mode == "missing_field":
        del record[t.pick(("policy_number", "incident_date", "estimate_usd"))]
        return prompt, json.dumps(record)
    if mode == "hallucinated_policy":
        return prompt, json.dumps(
            {**record, "policy_number": f"POL-{t.num(100_000, 999_999)}", "coverage": "comprehensive"}
        )
    if t.chance(0.5):
        return prompt, f'Schema check failed for {claim}: $.estimate_usd expected number, got "{amount:,.2f} USD"'
    return (
        prompt,
        f'Schema check failed for {claim}: $.incident_date expected YYYY-MM-DD, got "{day[5:7]}/{day[8:]}/{day[:4]}"',
    )


def _marketing(t: _Text, ts: int, verdict: str, mode: str | None) -> tuple[str, str]:
    product = t.pick(
        (
            "Aurora smart thermostat",
            "Pulse running shoes",
            "Nimbus travel backpack",
            "Fjord cold brew",
            "Lumen desk lamp",
            "Harbor meal kits",
            "Quill note-taking app",
            "Summit trail jacket",
        )
    )
    features = (
        "a 30-day free trial",
        "free shipping",
        "recycled materials",
        "a two-year warranty",
        "same-day delivery",
        "offline mode",
        "a 20% launch discount",
        "carbon-neutral production",
    )
    first_feature, second_feature = t.pick(features), t.pick(features)
    tone = t.pick(("warm", "playful", "confident", "understated", "professional"))
    channel = t.pick(("LinkedIn post", "Instagram caption", "newsletter intro", "landing page hero", "App Store blurb"))
    audience = t.pick(
        ("first-time buyers", "busy parents", "remote teams", "outdoor enthusiasts", "small business owners")
    )
    limit = t.pick(("40", "60", "80", "120"))
    prompt = (
        f"Write a {tone} {channel} announcing the {product} for {audience}. Mention {first_feature} and "
        f"{second_feature}. Keep it under {limit} words. "
        f"Campaign {t.pick(('SPRING', 'Q3', 'LAUNCH', 'BF'))}-{t.num(100, 999)}."
    )
    brand = product.split()[0].lower()
    blurb = (
        f"Meet the {product}: {first_feature} and {second_feature}, made for {audience}. "
        f"{t.pick(('Try it today.', 'Order now.', 'See what is new.', 'Find yours.'))}"
    )
    if t.chance(0.2):
        blurb += f" Questions? Write to hello@{brand}.example.com or call {t.phone()}."
    if verdict == "pass":
        return prompt, blurb
    if mode == "wrong_tone":
        return (
            prompt,
            f"OMG!!! The {product.upper()} IS HERE!!! {first_feature.upper()}!!! Don't miss out, seriously!!!",
        )
    if mode == "ignored_instruction":
        return prompt, (blurb + " ") * t.num(4, 8)
    return prompt, f"Copy has {t.num(int(limit) + 15, int(limit) * 3)} words; the brief allows {limit}"


def _clinical(t: _Text, ts: int, verdict: str, mode: str | None) -> tuple[str, str]:
    first, last = t.person()
    age, sex = t.num(19, 92), t.pick(("female", "male"))
    complaint = t.pick(
        (
            "chest tightness on exertion",
            "poorly controlled type 2 diabetes",
            "persistent cough",
            "lower back pain",
            "follow-up after knee replacement",
            "new-onset atrial fibrillation",
            "recurrent migraines",
            "elevated blood pressure",
        )
    )
    med, dose = (
        t.pick(("metformin", "lisinopril", "atorvastatin", "apixaban", "sumatriptan", "amlodipine")),
        t.pick(("5", "10", "20", "500")),
    )
    plan = t.pick(
        (
            "repeat HbA1c in 3 months",
            "refer to cardiology",
            "start physiotherapy twice weekly",
            "ambulatory BP monitoring for 24 hours",
            "chest X-ray if symptoms persist",
        )
    )
    systolic, diastolic, heart_rate = t.num(104, 172), t.num(62, 104), t.num(52, 118)
    prompt = (
        "Summarise this visit note for the discharge letter.\n\n"
        f"Patient {first[0]}. {last}, {age}-year-old {sex}, seen {t.day(ts, t.num(0, 5))} for {complaint}. "
        f"BP {systolic}/{diastolic}, HR {heart_rate}. Current medication: {med} {dose} mg daily. Plan: {plan}."
    )
    if t.chance(0.35):
        prompt += f" Patient callback number {t.phone()}."
    summary = (
        f"{first[0]}. {last} ({age}, {sex}) was seen for {complaint}. BP {systolic}/{diastolic}, HR {heart_rate}. "
        f"Continue {med} {dose} mg daily. Next step: {plan}."
    )
    if verdict == "pass":
        return prompt, summary
    if mode == "hallucinated_policy":
        return prompt, summary + f" Per payer policy CP-{t.num(1000, 9999)}, no prior authorization is required."
    if mode == "missing_field":
        return prompt, f"{first[0]}. {last} ({age}, {sex}) was seen for {complaint}. Next step: {plan}."
    return prompt, f"Summary states {med} {int(dose) * 2} mg but the note says {dose} mg"


def _search(t: _Text, ts: int, verdict: str, mode: str | None) -> tuple[str, str]:
    query = t.pick(
        (
            "waterproof hiking boots wide fit",
            "how to reset router password",
            "quarterly tax deadline freelancers",
            "vegan protein powder without soy",
            "replace iphone battery cost",
            "best budget 4k monitor",
            "kids bike 20 inch lightweight",
            "cancel gym membership letter",
            "noise cancelling earbuds running",
            "sourdough starter not rising",
        )
    )
    docs = [f"doc_{t.num(10_000, 99_999)}" for _ in range(20)]
    prompt = (
        f'Query: "{query}" (session {t.num(100_000, 999_999)})\n'
        f"Rank the {len(docs)} candidate passages by relevance and return the ids of the top 5 as a JSON list.\n"
        f"Candidates: {', '.join(docs)}"
    )
    if verdict == "pass" or mode in ("irrelevant_result", "wrong_order"):
        return prompt, json.dumps(docs[:5] if verdict == "pass" else docs[-5:])
    if mode == "invalid_json":
        return prompt, "The most relevant passages are " + ", ".join(docs[:5]) + "."
    if mode == "missing_field":
        return prompt, json.dumps(docs[:3])
    return prompt, f'Top result {docs[-1]} does not mention "{query.split()[0]}"'


def _email(t: _Text, ts: int, verdict: str, mode: str | None) -> tuple[str, str]:
    first, last = t.person()
    order = t.num(100_000, 999_999)
    issue = t.pick(
        (
            f"I was charged twice for order #{order}.",
            f"Order #{order} never arrived.",
            "Please cancel my subscription before it renews.",
            f"The blender in order #{order} arrived cracked.",
            "I cannot log in since I reset my password.",
            "Can I get an invoice with our VAT number?",
        )
    )
    if t.chance(0.12):
        issue += " The charge was on card 4111 1111 1111 1111."
    if t.chance(0.25):
        issue += f" Call me at {t.phone()}."
    agent, tone = t.pick(("Sam", "Jordan", "Alex", "Robin", "Taylor")), t.pick(("friendly", "formal", "apologetic"))
    prompt = (
        f"Draft a reply to this customer email. Tone: {tone}. Sign as {agent} from Brightcart Support.\n\n"
        f"From: {first} {last} <{t.email(first, last)}>\n{issue}"
    )
    resolution = t.pick(
        (
            "I have issued a full refund; it will show within 5-7 business days.",
            "A replacement ships today and you will get tracking by email.",
            "I have sent a password reset link that is valid for 24 hours.",
            "Your subscription is cancelled and you will not be charged again.",
        )
    )
    reply = (
        f"Hi {first},\n\nThank you for reaching out, and I am sorry for the trouble. {resolution} "
        f"If anything else comes up, reply here or call us at {t.phone()}."
        f"\n\nBest regards,\n{agent}\nBrightcart Support"
    )
    if verdict == "pass":
        return prompt, reply
    if mode == "wrong_tone":
        return prompt, f"Hey {first}!! Yeah, that happens sometimes, no biggie lol. {resolution} Cheers!!"
    if mode == "ignored_instruction":
        return prompt, "Dear customer, we have received your request and will get back to you."
    return prompt, f"Reply promises a refund within {t.num(1, 4)} days; policy says 5-7 business days"


def _faq(t: _Text, ts: int, verdict: str, mode: str | None) -> tuple[str, str]:
    question = t.pick(
        (
            "How do I change my billing address?",
            "What is your refund policy?",
            "Can I pause my plan?",
            "Do you ship to Canada?",
            "How do I export my data?",
            "Why was my card declined?",
        )
    )
    if t.chance(0.15):
        key = "".join(t.pick(tuple("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")) for _ in range(32))
        question += f" My API key sk-proj-{key} stopped working too."
    prompt = (
        f"Answer the customer's question from the help centre articles. Ticket {t.num(10_000, 99_999)}.\nQ: {question}"
    )
    answer = t.pick(
        (
            "You can change it under Settings > Billing.",
            "Refunds are available within 30 days of purchase.",
            "Yes, you can pause your plan for up to 3 months.",
            "Yes, we ship to Canada in 5-8 days.",
            "Go to Settings > Privacy > Export to download a ZIP.",
        )
    )
    if verdict == "pass":
        return prompt, answer
    if mode == "hallucinated_policy":
        return prompt, "Refunds are available within 90 days, no questions asked, including for annual plans."
    if mode == "ignored_instruction":
        return prompt, "I am not sure. Please contact support."
    return prompt, f"Answer links to /help/articles/{t.num(1000, 9999)} which does not exist"


_WRITERS: dict[str, Writer] = {
    "claims-extraction": _claims,
    "marketing-copy": _marketing,
    "clinical-notes": _clinical,
    "search-rerank": _search,
    "email-drafts": _email,
    "faq-bot": _faq,
}
