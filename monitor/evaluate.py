"""Evaluate every workload: read the store, compute metrics, apply the rule pack, keep history.

Workloads are the union of those found in call rollups, in labeled examples and in the config's
`workloads:` section (a configured workload with no data is evaluated and reads "no data").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from monitor import store as tables
from monitor.metrics import (
    NO_CALLS,
    NO_EXAMPLES,
    MetricParams,
    PriceLookup,
    annotate,
    call_summaries,
    compute_workload_metrics,
    example_stats,
    failure_patterns,
    monthly_stats,
    production_failures,
)
from monitor.monthly import days_within, month_bounds, month_key
from monitor.model import EvaluationRun, VerdictLevel, WorkloadMetrics, WorkloadProfile
from monitor.patterns import PatternParams
from monitor.pricing import PriceTable
from monitor.settings import Settings, WorkloadSettings
from monitor.store import Store, utcnow, year_month
from rules import RulePack, evaluate, load_rule_pack

RECENT_DAYS = 70  # daily rows kept for the trailing 30 days and the 8-week projection

_EXAMPLE_COLUMNS = (
    "id", "workload", "created_at", "label", "is_failure", "failure_mode", "provenance",
    "human_labeled", "input_hash", "excerpt",
)  # fmt: skip


def evaluate_store(settings: Settings, store: Store, *, now: datetime | None = None, save: bool = True) -> EvaluationRun:
    """One evaluation of every workload; stored in `evaluations` when `save`."""
    now = (now or utcnow()).astimezone(timezone.utc)
    pack = load_rule_pack(settings.rules)
    packs = {name: pack.with_overrides(w.thresholds, where=f"workloads.{name}.thresholds") for name, w in settings.workloads.items()}
    prices = PriceLookup(PriceTable.load(settings.pricing))
    with store.read() as conn:  # an evaluation as of a past time sees only what existed then
        rollups = annotate(read_rollups(conn, until=now, prices=prices), prices)
        examples = read_examples(conn, until=now)
        coverage_start = conn.execute(
            sa.select(sa.func.min(tables.watermarks.c.first_day)).where(tables.watermarks.c.kind == "calls")
        ).scalar()
        previous = previous_verdicts(conn, before=now)
    names = sorted({*rollups["workload"].unique(), *examples["workload"].unique(), *settings.workloads})
    params = {name: metric_params(workload_pack) for name, workload_pack in packs.items()}
    default_params = metric_params(pack)
    patterns = failure_patterns(
        production_failures(examples), as_of=now, params_of=lambda name: params.get(name, default_params).patterns
    )
    example_summaries = example_stats(examples)
    months = monthly_stats(rollups, prices, as_of=now, coverage_start=coverage_start)
    calls = call_summaries(rollups, prices, as_of=now)
    metrics: dict[str, WorkloadMetrics] = {}
    verdicts = []
    for name in names:
        metrics[name] = compute_workload_metrics(
            name,
            calls.get(name, NO_CALLS),
            patterns.get(name, ()),
            example_summary=example_summaries.get(name, NO_EXAMPLES),
            months=months.get(name, ()),
            profile=profile_of(settings.workload(name)),
            params=params.get(name, default_params),
            prices=prices,
            as_of=now,
            coverage_start=coverage_start,
        )
        verdicts.append(evaluate(metrics[name], pack))
    run = EvaluationRun(evaluated_at=now, verdicts=tuple(verdicts), metrics=metrics, previous=previous)
    if save:
        save_run(store, run)
    return run


def metric_params(pack: RulePack) -> MetricParams:
    return MetricParams(
        monthly_calls_threshold=pack.monthly_calls,
        patterns=PatternParams(
            min_weeks=pack.recurring.min_weeks,
            window_weeks=pack.recurring.window_weeks,
            min_cases=pack.recurring.min_cases,
        ),
        training_epochs=pack.training_epochs,
    )


def profile_of(settings: WorkloadSettings) -> WorkloadProfile:
    return WorkloadProfile(
        domain=settings.domain,
        strict_format=settings.strict_format,
        latency_slo_ms=settings.latency_slo_ms,
        current_model=settings.current_model,
        candidate_model=settings.candidate_model,
        owners=tuple(settings.owners),
        slack_channel=settings.slack_channel,
        thresholds=dict(settings.thresholds),
    )


def read_rollups(conn: sa.Connection, *, until: datetime, prices: PriceLookup) -> pd.DataFrame:
    """Rollups up to `until`'s day, summed over sources (several may feed one workload).

    The last RECENT_DAYS stay daily (trailing window, weekly projection, prompt versions); older
    days come summed per workload, model, month and price period, so what is read grows with
    months, not days, and every row still has one price. Whole months come from
    `call_rollups_monthly`; the month the recent window starts in, and a (model, month) whose
    price changes inside the month, are summed from the daily rows per price period (the span
    between two price start days). `day` is then the group's first day and `last_day` its last.
    """
    t = tables.call_rollups
    keys = ["workload", "model", "prompt_version", "day"]
    values = [v for v in tables.ROLLUP_VALUES if v != "latency_count"]  # no metric reads latency_count
    numeric = [name for name in values if name != "cost_usd"]
    recent_start = until.date() - timedelta(days=RECENT_DAYS)
    window = (t.c.day >= recent_start, t.c.day <= until.date())
    sources = conn.execute(sa.select(sa.func.count(sa.distinct(t.c.source))).where(*window)).scalar()
    if sources == 1:  # rows are unique per key already: a plain read costs about half the GROUP BY
        recent = sa.select(*(_raw(t.c[k], k) for k in keys), _raw(t.c.day, "last_day"), *(_raw(t.c[v], v) for v in values))
        recent = recent.where(*window).order_by(*(t.c[k] for k in keys))  # the GROUP BY's order: same float sums
    else:
        recent = sa.select(
            *(_raw(t.c[k], k) for k in keys), _raw(t.c.day, "last_day"), *(_raw(sa.func.sum(t.c[v]), v) for v in values)
        ).where(*window).group_by(*(t.c[k] for k in keys))
    whole_before = recent_start.replace(day=1)  # months before this one are read whole
    m = tables.call_rollups_monthly
    by_month = sa.select(
        m.c.workload, m.c.model, sa.literal_column("''").label("prompt_version"), _raw(sa.func.min(m.c.first_day), "day"),
        _raw(sa.func.max(m.c.last_day), "last_day"), *(_raw(sa.func.sum(m.c[v]), v) for v in values), m.c.month,
    ).where(m.c.month < month_key(whole_before)).group_by(m.c.workload, m.c.model, m.c.month)  # fmt: skip
    months = _read_frame(conn, by_month, numeric)
    pairs = months[["model", "month"]].drop_duplicates().itertuples(index=False)
    mixed = [(model, month) for model, month in pairs if prices.changes_within(model, _as_date(f"{month}-01"))]
    if mixed:
        months = months[~pd.MultiIndex.from_frame(months[["model", "month"]]).isin(mixed)]
    partial = [sa.and_(t.c.model == model, days_within(*month_bounds(_as_date(f"{month}-01")))) for model, month in mixed]
    partial.append(days_within(whole_before, recent_start))
    starts = [d for d in prices.table.start_dates() if d < recent_start]
    period = sa.case(*((t.c.day >= start, i) for i, start in reversed(list(enumerate(starts, 1)))), else_=0) if starts else None
    by_day = sa.select(
        t.c.workload, t.c.model, sa.literal_column("''").label("prompt_version"), _raw(sa.func.min(t.c.day), "day"),
        _raw(sa.func.max(t.c.day), "last_day"), *(_raw(sa.func.sum(t.c[v]), v) for v in values),
    ).where(sa.or_(*partial)).group_by(t.c.workload, t.c.model, year_month(t.c.day), *([period] if period is not None else []))  # fmt: skip
    read = [_read_frame(conn, recent, numeric), months.drop(columns="month"), _read_frame(conn, by_day, numeric)]
    frames = [frame for frame in read if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=[*keys, "last_day", *values])
    frame = pd.concat(frames, ignore_index=True)
    frame["cost_usd"] = pd.to_numeric(frame["cost_usd"], errors="coerce")
    for column in ("day", "last_day"):
        frame[column] = frame[column].map({d: _as_date(d) for d in frame[column].unique()})
    return frame


def _raw(column: sa.ColumnElement[Any], name: str) -> sa.Label[Any]:
    """The column as the driver returns it: days (ISO text on SQLite) and costs (float) are
    converted per column afterwards, not per value by their column types."""
    if name in ("day", "last_day"):
        return sa.type_coerce(column, sa.String).label(name)
    if name == "cost_usd":
        return sa.type_coerce(column, sa.Float).label(name)
    return column.label(name)


def _read_frame(conn: sa.Connection, query: sa.Select[Any], numeric: list[str]) -> pd.DataFrame:
    """The query's rows as a frame, `numeric` columns as int64 (a NULL sum as 0).

    Built column by column: inferring each column's type from a list of rows took pandas about
    0.25 s for 200 workloads with 2 years of rollups. The rows are the driver's own tuples, taken
    from the cursor: every column is selected as the driver returns it (`_raw`), so SQLAlchemy's
    per-row objects would only add time (~1 µs per row; ~0.2 s per evaluation of 200 workloads).
    """
    result = conn.execute(query)
    names = list(result.keys())
    rows = result.cursor.fetchall()
    result.close()
    columns = list(zip(*rows)) or [()] * len(names)
    frame = {
        name: _int64(values) if name in numeric else np.array(values, dtype=object)
        for name, values in zip(names, columns, strict=True)
    }
    return pd.DataFrame(frame, columns=names)


def _int64(values: tuple[Any, ...]) -> np.ndarray:
    """Sums as int64, a NULL sum (a group without values) as 0. Straight from the driver's ints (or
    PostgreSQL's Decimals) unless there is a NULL: through an object array, `isna` and `astype`, an
    evaluation of 200 workloads took about 50 ms more (bench/RESULTS.md)."""
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except TypeError:
        return np.fromiter((0 if value is None else value for value in values), dtype=np.int64, count=len(values))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def read_examples(conn: sa.Connection, *, until: datetime) -> pd.DataFrame:
    """Every labeled example up to `until`, `created_at` as UTC timestamps.

    Timestamps and booleans are converted per column after the read, not per value by the
    column types: for ~100,000 examples that was a third of the read.
    """
    t = tables.examples
    raw = {
        "created_at": sa.type_coerce(t.c.created_at, sa.String),
        "is_failure": sa.type_coerce(t.c.is_failure, sa.Integer),
        "human_labeled": sa.type_coerce(t.c.human_labeled, sa.Integer),
    }
    columns = [  # excerpts are only mined from failures: the rest stay in the store
        sa.case((t.c.is_failure, t.c.excerpt), else_=sa.null()).label(name)
        if name == "excerpt"
        else raw[name].label(name) if name in raw else t.c[name]
        for name in _EXAMPLE_COLUMNS
    ]
    frame = _read_frame(conn, sa.select(*columns).where(t.c.created_at <= until), numeric=[])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    frame["is_failure"] = frame["is_failure"].astype(bool)
    frame["human_labeled"] = frame["human_labeled"].astype(bool)
    return frame


def previous_verdicts(conn: sa.Connection, *, before: datetime) -> dict[str, VerdictLevel]:
    t = tables.evaluations
    latest = (
        sa.select(t.c.workload, sa.func.max(t.c.id).label("id")).where(t.c.evaluated_at < before).group_by(t.c.workload)
    ).subquery()
    rows = conn.execute(sa.select(t.c.workload, t.c.verdict).join(latest, t.c.id == latest.c.id)).all()
    return {workload: VerdictLevel(verdict) for workload, verdict in rows}


def save_run(store: Store, run: EvaluationRun) -> None:
    payload = run_to_json(run)["workloads"]
    with store.transaction() as conn:
        conn.execute(
            tables.evaluations.insert(),
            [
                {
                    "evaluated_at": run.evaluated_at,
                    "workload": item["workload"],
                    "verdict": item["verdict"],
                    "criteria": item["criteria"],
                    "blockers": item["blockers"],
                    "metrics": item["metrics"],
                }
                for item in payload
            ],
        )


def run_to_json(run: EvaluationRun) -> dict[str, Any]:
    """The `ftready evaluate --json` document."""
    return {
        "evaluated_at": run.evaluated_at.isoformat(),
        "workloads": [
            {
                "workload": v.workload,
                "verdict": v.level.value,
                "previous_verdict": run.previous[v.workload].value if v.workload in run.previous else None,
                "summary": v.summary,
                "blockers": list(v.blockers),
                "criteria": [c.as_dict() for c in v.criteria],
                "metrics": metrics_to_json(run.metrics[v.workload]),
            }
            for v in run.verdicts
        ],
    }


def metrics_to_json(m: WorkloadMetrics) -> dict[str, Any]:
    cost = m.cost
    return {
        "calls_last_month": m.calls_last_month,
        "calls_trailing_30d": m.calls_trailing_30d,
        "trusted_real_examples": m.examples.trusted_real,
        "examples_total": m.examples.total,
        "synthetic_examples": m.examples.synthetic,
        "synthetic_share": m.examples.synthetic_share,
        "duplicates_removed": m.examples.duplicates_removed,
        "conflicts": m.examples.conflicts,
        "recurring_patterns": [
            {"key": p.key, "cases": p.cases, "weeks_seen": p.weeks_seen, "trend": p.trend, "remedy": p.remedy}
            for p in m.recurring_patterns
        ],
        "p50_latency_ms": _round(m.p50_latency_ms),
        "p95_latency_ms": _round(m.p95_latency_ms),
        "p99_latency_ms": _round(m.p99_latency_ms),
        "error_rate_30d": m.error_rate_30d,
        "prompt_versions_30d": m.prompt_versions_30d,
        "monthly_cost_usd": _money(cost.current_monthly_cost_usd) if cost else None,
        "candidate_monthly_cost_usd": _money(cost.candidate_monthly_cost_usd) if cost else None,
        "projected_savings_usd": _money(cost.monthly_savings_usd) if cost else None,
        "training_cost_usd": _money(cost.training_cost_usd) if cost else None,
        "payback_months": float(cost.payback_months) if cost and cost.payback_months is not None else None,
        "unpriced_models": list(cost.unpriced_models) if cost else [],
        "projection": {
            "basis": m.projection.basis,
            "slope_per_month": round(m.projection.slope_per_month, 1),
            "crossing_month": m.projection.crossing_month,
            "crossing_date": m.projection.crossing_date.isoformat() if m.projection.crossing_date else None,
            "already_crossed": m.projection.already_crossed,
        }
        if m.projection
        else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _money(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)

