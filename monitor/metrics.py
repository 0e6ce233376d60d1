"""Per-workload metrics from store frames: pure functions, pandas in, dataclasses out.

Inputs are the frames `monitor.evaluate` reads from the store:
- rollups: one row per (workload, model, prompt_version, day) with the `call_rollups` columns,
  passed through `annotate` (month and price columns);
- examples: one row per labeled example with the `examples` columns.

Choices worth knowing:
- "last month" is the last complete calendar month (UTC) before `as_of`; the trailing window is the
  30 days ending on `as_of`'s day, inclusive.
- A month is `partial` when synced data does not cover all of it (the current month, or the month
  the backfill started in).
- Failure patterns are mined from failures observed in production: provenance production_log,
  relabeled_by_human or relabeled_by_model. Synthetic, uploaded and unknown examples never count.
- The training-token estimate is trusted examples × the workload's mean tokens per call
  (input + output) over the trailing 30 days: example rows carry no token counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from monitor.histogram import BUCKET_COLUMNS, EDGES_MS, percentile
from monitor.model import (
    CostEstimate,
    ExampleStats,
    FailurePattern,
    MonthStats,
    Projection,
    WorkloadMetrics,
    WorkloadProfile,
)
from monitor.patterns import PatternParams, find_patterns_by_workload
from monitor.pricing import PriceEntry, PriceTable, estimate_savings

REAL = ("production_log", "relabeled_by_human")
PRODUCTION_FAILURE_SOURCES = ("production_log", "relabeled_by_human", "relabeled_by_model")
TRAILING_DAYS = 30


@dataclass(frozen=True)
class MetricParams:
    """The parts of the rule pack and config that metrics need (no import of rules/)."""

    monthly_calls_threshold: int
    patterns: PatternParams
    training_epochs: int = 3


@dataclass(frozen=True)
class CallSummary:
    """What one workload's metrics need from its daily rollups besides the monthly stats.

    `call_summaries` computes it for every workload in one vectorised pass: per workload, pandas
    costs a fixed overhead per operation, which dominated an evaluation of hundreds of workloads.
    """

    trailing_rows: bool  # any rollup row in the trailing window (the cost estimate needs one)
    calls_30d: int
    errors_30d: int
    input_tokens_30d: int
    output_tokens_30d: int
    cost_calls_30d: int  # calls whose cost the source provided
    buckets_30d: tuple[int, ...]
    models_30d: tuple[str, ...]  # by calls, most first; ties by model name
    prompt_versions_30d: int | None  # None when prompt_version is not mapped
    provided_cost_30d: tuple[Decimal, bool] | None  # `_priced_cost` of the window, when trailing_rows
    first_seen: date | None  # first day with calls
    last_seen: date | None
    weekly_calls: tuple[float, ...]  # see `_weekly_calls`


NO_CALLS = CallSummary(False, 0, 0, 0, 0, 0, (0,) * len(BUCKET_COLUMNS), (), None, None, None, None, ())


def compute_workload_metrics(
    workload: str,
    calls: CallSummary,
    patterns: tuple[FailurePattern, ...],
    *,
    example_summary: tuple[ExampleStats, tuple[tuple[str, int, int], ...]],
    months: tuple[MonthStats, ...],
    profile: WorkloadProfile,
    params: MetricParams,
    prices: PriceLookup,
    as_of: datetime,
    coverage_start: date | None,
) -> WorkloadMetrics:
    """Everything the rules need about one workload. `calls` is its entry of `call_summaries` (or
    `NO_CALLS`), `example_summary` its entry of `example_stats` (or `NO_EXAMPLES`) and `months` its
    entry of `monthly_stats` and `patterns` its entry of `failure_patterns`, all computed for all
    workloads at once."""
    today = as_of.date()
    stats, by_month = example_summary
    has_coverage = coverage_start is not None and coverage_start <= today
    last_month = _previous_month(today)
    calls_last_month = None
    if has_coverage and coverage_start is not None and coverage_start < _month_end(last_month):
        calls_last_month = next((m.calls for m in months if m.month == last_month.strftime("%Y-%m")), 0)
    calls_30d = calls.calls_30d if has_coverage else None
    return WorkloadMetrics(
        workload=workload,
        as_of=as_of,
        months=months,
        calls_last_month=calls_last_month,
        calls_trailing_30d=calls_30d,
        p50_latency_ms=percentile(calls.buckets_30d, 0.50),
        p95_latency_ms=percentile(calls.buckets_30d, 0.95),
        p99_latency_ms=percentile(calls.buckets_30d, 0.99),
        error_rate_30d=(calls.errors_30d / calls_30d) if calls_30d else None,
        first_seen=calls.first_seen,
        last_seen=calls.last_seen,
        examples=stats,
        patterns=patterns,
        prompt_versions_30d=calls.prompt_versions_30d,
        projection=project_crossing(months, params.monthly_calls_threshold, calls.weekly_calls, as_of=as_of),
        cost=workload_cost(calls, examples_trusted=stats.trusted_real, profile=profile, params=params, prices=prices, today=today),
        profile=profile,
        models=calls.models_30d,
        examples_by_month=by_month,
    )


# -- calls ---------------------------------------------------------------------------------------


def monthly_stats(
    rollups: pd.DataFrame, prices: PriceLookup, *, as_of: datetime, coverage_start: date | None
) -> dict[str, tuple[MonthStats, ...]]:
    """Calendar months with data, per workload (one vectorised pass over every workload)."""
    if rollups.empty:
        return {}
    costs = _priced_cost(rollups, prices, by=["workload", "month"])
    columns = ["calls", "errors", "input_tokens", "output_tokens", *BUCKET_COLUMNS]
    sums = rollups.groupby(["workload", "month"], sort=True)[columns].sum()
    values_by_row = sums.to_numpy()
    p50, p95, p99 = (_percentiles(values_by_row[:, 4:], q) for q in (0.50, 0.95, 0.99))
    out: dict[str, list[MonthStats]] = {}
    for row, ((workload, month), values) in enumerate(zip(sums.index, values_by_row, strict=True)):
        first = date.fromisoformat(f"{month}-01")
        partial = (coverage_start is not None and coverage_start > first) or _month_end(first) > as_of.date()
        cost, complete = costs.get((workload, month), (Decimal(0), True))
        out.setdefault(str(workload), []).append(
            MonthStats(
                month=str(month),
                calls=int(values[0]),
                errors=int(values[1]),
                input_tokens=int(values[2]),
                output_tokens=int(values[3]),
                cost_usd=cost if complete else None,
                p50_latency_ms=p50[row],
                p95_latency_ms=p95[row],
                p99_latency_ms=p99[row],
                partial=partial,
            )
        )
    return {workload: tuple(months) for workload, months in out.items()}


def _percentiles(buckets: np.ndarray, q: float) -> list[float | None]:
    """`histogram.percentile` of each row of a bucket matrix (integer counts below 2**53).

    The bucket holding the rank is found for all rows at once; the interpolation inside it is the
    same float arithmetic as `percentile`, so the values are identical. Walked per row in Python,
    the buckets cost half of `monthly_stats` for 200 workloads with 2 years of rollups.
    """
    counts = np.asarray(buckets, dtype="int64").reshape(len(buckets), len(BUCKET_COLUMNS))
    cumulative = counts.cumsum(axis=1)
    ranks = q * cumulative[:, -1].astype(float)
    index = ((counts > 0) & (cumulative >= ranks[:, None])).argmax(axis=1)
    rows = np.arange(len(counts))
    out: list[float | None] = []
    found = zip(ranks.tolist(), index.tolist(), counts[rows, index].tolist(), cumulative[rows, index].tolist(), strict=True)
    for rank, i, count, through in found:
        if count <= 0:  # an empty histogram: no bucket holds the rank
            out.append(None)
            continue
        fraction = (rank - float(through - count)) / count
        if i == 0:
            out.append(EDGES_MS[0] * fraction)
        elif i >= len(EDGES_MS):
            out.append(float(EDGES_MS[-1]))
        else:
            low, high = float(EDGES_MS[i - 1]), float(EDGES_MS[i])
            out.append(low * (high / low) ** fraction)
    return out


class PriceLookup:
    """Memoised (model, day) → price entry, shared by every workload of one evaluation.

    A month whose first and last day resolve to the same entry resolves to it on every day in
    between (the eligible entries only grow with the day), so it costs two lookups, not thirty.
    `entries` numbers the distinct results; `annotate` stores those numbers on the rollups.
    """

    _MIXED = object()

    def __init__(self, table: PriceTable) -> None:
        self.table = table
        self.entries: list[PriceEntry | None] = []
        self._positions: dict[int, int] = {}
        self._months: dict[tuple[str, int, int], object] = {}

    def entry(self, model: str, day: date) -> PriceEntry | None:
        month_key = (model, day.year, day.month)
        if month_key not in self._months:
            first = day.replace(day=1)
            start, end = self.table.lookup(model, first), self.table.lookup(model, _month_end(first))
            self._months[month_key] = start if start == end else self._MIXED
        resolved = self._months[month_key]
        return self.table.lookup(model, day) if resolved is self._MIXED else resolved  # type: ignore[return-value]

    def changes_within(self, model: str, first: date) -> bool:
        """Whether `model`'s price changes inside the month starting at `first`."""
        self.entry(model, first)
        return self._months[(model, first.year, first.month)] is self._MIXED

    def position(self, model: str, day: date) -> int:
        entry = self.entry(model, day)
        if id(entry) not in self._positions:
            self._positions[id(entry)] = len(self.entries)
            self.entries.append(entry)
        return self._positions[id(entry)]


def annotate(rollups: pd.DataFrame, prices: PriceLookup) -> pd.DataFrame:
    """Rollups with `month` ("YYYY-MM") and `price` (a position in `prices.entries`) added: the
    columns every metric here expects, computed once per distinct day and (model, day)."""
    if rollups.empty:
        return rollups.assign(month=pd.Series(dtype=object), price=pd.Series(dtype="int64"))
    months = {day: f"{day.year:04d}-{day.month:02d}" for day in rollups["day"].unique()}
    codes, pairs = pd.factorize(pd.MultiIndex.from_arrays([rollups["model"], rollups["day"]]))
    positions = np.array([prices.position(model, day) for model, day in pairs], dtype="int64")
    return rollups.assign(month=rollups["day"].map(months), price=positions[codes])


def _priced_cost(frame: pd.DataFrame, prices: PriceLookup, *, by: list[str]) -> dict[Any, tuple[Decimal, bool]]:
    """Per group of `by`: provided cost plus uncosted tokens at each (model, day)'s price;
    complete=False when some tokens belong to an unpriced model (the cost is then unknown, not lower)."""
    result: dict[Any, tuple[Decimal, bool]] = {}
    provided = frame.groupby(by)["cost_usd"].sum(min_count=1)
    for key, value in provided.items():
        result[key] = (Decimal(str(value)) if pd.notna(value) else Decimal(0), True)
    need = frame[(frame["uncosted_input_tokens"] > 0) | (frame["uncosted_output_tokens"] > 0)]
    tokens = need.groupby([*by, "price"])[["uncosted_input_tokens", "uncosted_output_tokens"]].sum()
    for index, (input_tokens, output_tokens) in zip(tokens.index, tokens.to_numpy(), strict=True):
        key, position = (index[:-1] if len(by) > 1 else index[0]), index[-1]
        total, complete = result.get(key, (Decimal(0), True))
        entry = prices.entries[position]
        if entry is None:
            result[key] = (total, False)
            continue
        cost = (
            Decimal(int(input_tokens)) * entry.input_per_mtok + Decimal(int(output_tokens)) * entry.output_per_mtok
        ) / Decimal(1_000_000)
        result[key] = (total + cost, complete)
    return result


def call_summaries(rollups: pd.DataFrame, prices: PriceLookup, *, as_of: datetime) -> dict[str, CallSummary]:
    """Per workload: trailing-window totals, models, prompt versions and cost, first and last day
    with calls, and the weekly series (one pass over every workload's annotated rollups).

    The trailing window is the `TRAILING_DAYS` days ending on `as_of`'s day, inclusive.
    """
    if rollups.empty:
        return {}
    today = as_of.date()
    ordinals = rollups["day"].map({d: d.toordinal() for d in rollups["day"].unique()}).to_numpy(dtype="int64")
    trailing = rollups[ordinals > (today - timedelta(days=TRAILING_DAYS)).toordinal()]
    totals = ["calls", "errors", "input_tokens", "output_tokens", "cost_calls", *BUCKET_COLUMNS]
    grouped = trailing.groupby("workload", sort=True)[totals].sum()
    sums = {str(w): v for w, v in zip(grouped.index, grouped.to_numpy(), strict=True)}
    models = _models_by_calls(trailing)
    versions = _prompt_versions(trailing)
    costs = _priced_cost(trailing, prices, by=["workload"]) if not trailing.empty else {}
    active = rollups[rollups["calls"].to_numpy() > 0]
    last_day = active["last_day"] if "last_day" in active else active["day"]
    first_seen = active.groupby("workload")["day"].min().to_dict()
    last_seen = last_day.groupby(active["workload"]).max().to_dict()
    weekly = _weekly_calls(rollups, ordinals, today)
    out: dict[str, CallSummary] = {}
    for workload in rollups["workload"].unique():
        name = str(workload)
        values = sums.get(name)
        if values is None:
            out[name] = replace(
                NO_CALLS, first_seen=first_seen.get(workload), last_seen=last_seen.get(workload), weekly_calls=weekly[name]
            )
            continue
        out[name] = CallSummary(
            trailing_rows=True,
            calls_30d=int(values[0]),
            errors_30d=int(values[1]),
            input_tokens_30d=int(values[2]),
            output_tokens_30d=int(values[3]),
            cost_calls_30d=int(values[4]),
            buckets_30d=tuple(int(v) for v in values[5:]),
            models_30d=models[name],
            prompt_versions_30d=versions.get(name) or None,
            provided_cost_30d=costs[workload],
            first_seen=first_seen.get(workload),
            last_seen=last_seen.get(workload),
            weekly_calls=weekly[name],
        )
    return out


def _models_by_calls(trailing: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Models per workload, most calls first; ties keep model-name order."""
    if trailing.empty:
        return {}
    sums = trailing.groupby(["workload", "model"], sort=True)["calls"].sum().reset_index()
    ordered = sums.sort_values(["workload", "calls"], ascending=[True, False], kind="stable")
    return {str(w): tuple(str(m) for m in group) for w, group in ordered.groupby("workload", sort=False)["model"]}


def _prompt_versions(trailing: pd.DataFrame) -> dict[str, int]:
    """Distinct mapped (non-empty) prompt versions per workload."""
    mapped = trailing[trailing["prompt_version"].map(bool).astype(bool)]
    distinct = mapped.drop_duplicates(["workload", "prompt_version"])
    return {str(w): int(n) for w, n in distinct.groupby("workload").size().items()}


def project_crossing(
    months: tuple[MonthStats, ...], threshold: int, weekly: Sequence[float], *, as_of: datetime
) -> Projection | None:
    """Least-squares trend of monthly calls over the last 3 complete months (`weekly`, the
    workload's `CallSummary.weekly_calls`, when it is younger), and when it reaches `threshold`."""
    complete = [m for m in months if not m.partial]
    last_complete = complete[-3:]
    if len(last_complete) == 3:
        series = np.array([m.calls for m in last_complete], dtype=float)
        slope, intercept = np.polyfit(np.arange(3), series, 1)
        basis, latest_month = "3 complete months", date.fromisoformat(f"{last_complete[-1].month}-01")
        latest_level = intercept + slope * 2
    else:
        if len(weekly) < 4:
            return Projection(0.0, "insufficient data", None, None)
        per_week, intercept = np.polyfit(np.arange(len(weekly)), weekly, 1)
        factor = 365.25 / 12 / 7
        slope = per_week * factor
        latest_level = (intercept + per_week * (len(weekly) - 1)) * factor
        basis, latest_month = "8 weeks", _previous_month(as_of.date())
    if latest_level >= threshold:
        return Projection(float(slope), basis, None, None, already_crossed=True)
    if slope <= 0:
        return Projection(float(slope), basis, None, None)
    months_ahead = (threshold - latest_level) / slope
    if months_ahead > 36:
        return Projection(float(slope), basis, None, None)
    whole = int(np.ceil(months_ahead))
    crossing_month = _add_months(latest_month, whole)
    fraction = months_ahead - (whole - 1)
    crossing_date = crossing_month + timedelta(days=min(int(fraction * 30), 27))
    return Projection(float(slope), basis, crossing_month.strftime("%Y-%m"), crossing_date)


def _weekly_calls(rollups: pd.DataFrame, ordinals: np.ndarray, today: date) -> dict[str, tuple[float, ...]]:
    """Per workload, calls in each of the last 8 complete 7-day weeks ending yesterday (oldest
    first); weeks that start before the workload's first rollup day are left out. `ordinals` are
    the rows' days as `date.toordinal()`."""
    start = today.toordinal() - 7 * 8
    week = (ordinals - start) // 7
    inside = (ordinals >= start) & (week < 8)
    recent = pd.DataFrame(
        {"workload": rollups["workload"].to_numpy()[inside], "week": week[inside], "calls": rollups["calls"].to_numpy()[inside]}
    )
    sums = recent.groupby(["workload", "week"])["calls"].sum().to_dict()
    first = pd.Series(ordinals).groupby(rollups["workload"].to_numpy()).min()
    out: dict[str, tuple[float, ...]] = {}
    for workload, first_day in first.items():
        weeks = range(max(0, -((int(first_day) - start) // -7)), 8)  # the first week starting on or after first_day
        out[str(workload)] = tuple(float(sums.get((workload, k), 0)) for k in weeks)
    return out


def workload_cost(
    calls: CallSummary,
    *,
    examples_trusted: int,
    profile: WorkloadProfile,
    params: MetricParams,
    prices: PriceLookup,
    today: date,
) -> CostEstimate | None:
    if not calls.trailing_rows:
        return None
    current = profile.current_model or (calls.models_30d[0] if calls.models_30d else None)
    provided = None
    if calls.cost_calls_30d > 0 and calls.provided_cost_30d is not None:
        total, complete = calls.provided_cost_30d
        provided = total if complete else None
    tokens = calls.input_tokens_30d + calls.output_tokens_30d
    tokens_per_call = tokens / calls.calls_30d if calls.calls_30d else 0
    return estimate_savings(
        current,
        profile.candidate_model,
        calls.input_tokens_30d,
        calls.output_tokens_30d,
        int(round(examples_trusted * tokens_per_call)),
        params.training_epochs,
        today,
        prices.table,
        provided_monthly_cost=provided,
    )


# -- examples ------------------------------------------------------------------------------------


NO_EXAMPLES: tuple[ExampleStats, tuple[tuple[str, int, int], ...]] = (ExampleStats(0, 0, 0, 0, 0, 0, 0, 0), ())


def example_stats(examples: pd.DataFrame) -> dict[str, tuple[ExampleStats, tuple[tuple[str, int, int], ...]]]:
    """Per workload: counts by provenance and trust, with duplicates and conflicting labels
    removed, and the cumulative trusted/synthetic counts by month (one pass over all workloads).

    Trusted real = real provenance, a human label, unique by normalised input hash within the
    workload, and not contradicted (same input labelled both pass and fail by trusted labellers).
    Workloads and inputs are numbered once (`pd.factorize`) and everything after works on those
    numbers: grouping the strings again at each step cost most of an evaluation's example work.
    """
    if examples.empty:
        return {}
    w, workloads = pd.factorize(examples["workload"])
    created = pd.to_datetime(examples["created_at"], utc=True)
    month = (created.dt.year * 12 + created.dt.month - 1).to_numpy(dtype="int64")
    provenance = examples["provenance"]
    real = provenance.isin(REAL).to_numpy()
    candidate = np.flatnonzero(real & examples["human_labeled"].astype(bool).to_numpy() & examples["label"].notna().to_numpy())
    hashes = examples["input_hash"].to_numpy(dtype=object, na_value=None)[candidate]
    ids = examples["id"].to_numpy(dtype=object)[candidate]
    keys = [h if h is not None else f"id:{i}" for h, i in zip(hashes, ids)]
    key_codes, key_names = pd.factorize(np.array(keys, dtype=object))
    stride = max(len(key_names), 1)  # (workload, input) as one number: workload * stride + input
    cand = pd.DataFrame(
        {
            "w": w[candidate],
            "pair": w[candidate].astype("int64") * stride + key_codes,
            "failure": examples["is_failure"].astype(bool).to_numpy()[candidate],
            "ts": created.dt.tz_localize(None).to_numpy()[candidate],
            "month": month[candidate],
        }
    )
    outcome = cand.groupby("pair")["failure"].agg(["min", "max"])
    conflicting = outcome.index[outcome["min"] != outcome["max"]].to_numpy()
    unique = cand.sort_values("ts", kind="stable").drop_duplicates("pair")
    trusted = unique[~np.isin(unique["pair"].to_numpy(), conflicting)]
    synthetic = (provenance == "synthetic").to_numpy()
    n = len(workloads)

    def count(codes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=n).astype("int64")

    total, real_n, candidates = count(w), count(w, real.astype("int64")), count(w[candidate])
    unique_n, trusted_n = count(unique["w"].to_numpy()), count(trusted["w"].to_numpy())
    synthetic_n, unknown_n = count(w[synthetic]), count(w[(provenance == "unknown").to_numpy()])
    conflicts = count(conflicting // stride)
    failures = count(trusted["w"].to_numpy(), trusted["failure"].to_numpy(dtype="int64"))
    by_month = _cumulative_by_month(trusted["w"].to_numpy(), trusted["month"].to_numpy(), w[synthetic], month[synthetic])
    return {
        str(workloads[i]): (
            ExampleStats(
                total=int(total[i]),
                trusted_real=int(trusted_n[i]),
                real_untrusted=int(real_n[i] - candidates[i]),
                synthetic=int(synthetic_n[i]),
                unknown=int(unknown_n[i]),
                duplicates_removed=int(candidates[i] - unique_n[i]),
                conflicts=int(conflicts[i]),
                failures=int(failures[i]),
            ),
            by_month.get(i, ()),
        )
        for i in range(n)
    }


def _cumulative_by_month(
    trusted_w: np.ndarray, trusted_month: np.ndarray, synthetic_w: np.ndarray, synthetic_month: np.ndarray
) -> dict[int, tuple[tuple[str, int, int], ...]]:
    """Per workload number: (YYYY-MM, trusted so far, synthetic so far) for each month with either."""
    monthly = pd.DataFrame(
        {
            "trusted": pd.Series(1, index=pd.MultiIndex.from_arrays([trusted_w, trusted_month])).groupby(level=[0, 1]).size(),
            "synthetic": pd.Series(1, index=pd.MultiIndex.from_arrays([synthetic_w, synthetic_month])).groupby(level=[0, 1]).size(),
        }
    ).fillna(0).astype("int64").sort_index()
    cumulative = monthly.groupby(level=0).cumsum()
    out: dict[int, list[tuple[str, int, int]]] = {}
    for (workload, code), (t_total, s_total) in zip(cumulative.index, cumulative.to_numpy(), strict=True):
        out.setdefault(int(workload), []).append((f"{code // 12:04d}-{code % 12 + 1:02d}", int(t_total), int(s_total)))
    return {workload: tuple(rows) for workload, rows in out.items()}


def production_failures(examples: pd.DataFrame) -> pd.DataFrame:
    """Failures observed in production: the only examples patterns are mined from."""
    return examples[examples["is_failure"].astype(bool) & examples["provenance"].isin(PRODUCTION_FAILURE_SOURCES)]


def failure_patterns(
    failures: pd.DataFrame, *, as_of: datetime, params_of: Callable[[str], PatternParams]
) -> dict[str, tuple[FailurePattern, ...]]:
    """The patterns of every workload, from `production_failures` of the examples."""
    frame = pd.DataFrame(
        {
            "workload": failures["workload"],
            "created_at": failures["created_at"],
            "failure_mode": failures["failure_mode"],
            "text": failures["excerpt"],
        }
    )
    return find_patterns_by_workload(frame, as_of, params_of)


# -- calendar ------------------------------------------------------------------------------------


def _previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def _month_end(first: date) -> date:
    """The last day of the month starting at `first`."""
    return _add_months(first, 1) - timedelta(days=1)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
