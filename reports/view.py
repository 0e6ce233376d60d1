"""The report's view model: exactly what the HTML shows, and what the JSON snapshot serialises.

Built by `reports.build.assemble_report` (pure), rendered by `reports.render`. Numbers stay numbers
(Decimal for money) so the JSON is machine-readable; the templates format them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from monitor.model import CostEstimate
from reports.facts import DeadLetter


@dataclass(frozen=True)
class Bar:
    """A progress bar: the value and the threshold on one scale (0–100, the larger of the two is 100)."""

    fill_pct: float
    mark_pct: float
    tone: str  # a criterion status: met | warn | not_met | no_data


@dataclass(frozen=True)
class CriterionView:
    id: str
    label: str
    role: str  # gate | trigger | guard | info
    role_label: str
    status: str  # met | not_met | warn | no_data
    status_label: str
    value: Any
    threshold: Any
    value_text: str
    threshold_text: str
    message: str
    bar: Bar | None


@dataclass(frozen=True)
class PatternView:
    key: str
    source: str  # label | template
    category: str
    remedy: str
    remedy_label: str
    trend: str  # rising | flat | falling
    cases: int
    weeks_seen: int
    window_weeks: int
    weekly_counts: tuple[int, ...]
    share: float
    first_seen: date
    last_seen: date
    recurring: bool
    excerpts: tuple[str, ...]


@dataclass(frozen=True)
class MonthPoint:
    month: str  # "2026-10"
    calls: int | None  # None: no data synced for that month
    partial: bool


@dataclass(frozen=True)
class CallsChart:
    """Twelve calendar months ending with the evaluation's month, the threshold, and the trend."""

    months: tuple[MonthPoint, ...]
    threshold: int | None
    projection: tuple[tuple[str, float], ...]  # (month, calls) points of the projected line, may extend past `months`
    crossing_month: str | None
    projection_text: str


@dataclass(frozen=True)
class ExamplesChart:
    """Cumulative trusted real and synthetic examples per month (the last 12 months with labels)."""

    points: tuple[tuple[str, int, int], ...]  # (month, cumulative trusted real, cumulative synthetic)
    floor: int  # prompt_engineering_below
    gate: int  # trusted_real_examples


@dataclass(frozen=True)
class LatencyView:
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    slo_ms: float | None
    status: str  # the latency_slo criterion's status
    text: str
    p50_pct: float | None  # positions on a shared 0–100 scale
    p95_pct: float | None
    slo_pct: float | None


@dataclass(frozen=True)
class WorkloadView:
    anchor: str  # HTML id: "workload-" + the percent-encoded name (see build.workload_anchor)
    name: str
    level: str  # prompt_engineering | approaching | ready
    level_label: str
    previous_level: str | None  # at the baseline (a week ago); None when not evaluated then
    change: str | None  # up | down | new | None
    summary: str
    next_step: str
    blockers: tuple[str, ...]
    monthly_calls: int | None  # the value the monthly_calls criterion judged
    calls_last_month: int | None
    calls_trailing_30d: int | None
    trusted_real: int
    synthetic: int
    labels_total: int
    recurring_patterns: int
    monthly_savings_usd: Decimal | None
    savings_note: str  # why savings are unknown, when they are
    criteria: tuple[CriterionView, ...]
    patterns: tuple[PatternView, ...]
    calls_chart: CallsChart
    examples_chart: ExamplesChart
    latency: LatencyView
    cost: CostEstimate | None
    domain: str
    strict_format: bool
    owners: tuple[str, ...]
    slack_channel: str | None
    models: tuple[str, ...]
    error_rate_30d: float | None
    first_seen: date | None
    last_seen: date | None

    def criterion(self, criterion_id: str) -> CriterionView | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


@dataclass(frozen=True)
class Change:
    workload: str
    anchor: str | None  # None for a workload that is no longer reported
    kind: str  # verdict_up | verdict_down | new | gone | crossed | nearing | fell_back
    text: str


@dataclass(frozen=True)
class ChangesView:
    baseline_at: datetime | None
    week_old: bool
    note: str
    items: tuple[Change, ...]


@dataclass(frozen=True)
class SyncView:
    source: str
    kind: str
    configured: bool
    state: str  # ok | stale | failing | never
    state_label: str
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    consecutive_failures: int
    last_error: str | None


@dataclass(frozen=True)
class QuarantineView:
    source: str
    kind: str
    reason: str
    rows: int


@dataclass(frozen=True)
class UnpricedView:
    model: str
    workloads: tuple[str, ...]


@dataclass(frozen=True)
class DataQualityView:
    syncs: tuple[SyncView, ...]
    quarantine: tuple[QuarantineView, ...]
    quarantine_total: int
    unpriced: tuple[UnpricedView, ...]
    dead_letters: tuple[DeadLetter, ...]
    dead_letters_total: int
    issues: tuple[str, ...]  # one plain sentence per problem; empty when all is well


@dataclass(frozen=True)
class RuleLine:
    """One threshold of the rule pack, as "how to read this" cites it."""

    label: str
    value: str


@dataclass(frozen=True)
class Totals:
    workloads: int
    ready: int
    approaching: int
    prompt_engineering: int
    monthly_calls: int
    trusted_real: int
    recurring_patterns: int
    monthly_savings_usd: Decimal  # over workloads whose savings are known and positive
    ready_savings_usd: Decimal  # the same, over ready workloads only
    changes: int


@dataclass(frozen=True)
class ReportView:
    week: str  # "2026-W48"
    week_start: date
    week_end: date
    previous_week: str
    generated_at: datetime
    evaluated_at: datetime
    timezone: str
    totals: Totals
    workloads: tuple[WorkloadView, ...]  # ready first, then approaching, then prompt engineering
    changes: ChangesView
    data_quality: DataQualityView
    rules: tuple[RuleLine, ...]
    excerpts: bool
    report_url: str | None  # the permanent link when reports.base_url is set
    index_url: str | None
