"""Domain objects shared by metrics, rules, alerts and reports.

Everything here is plain data (frozen dataclasses): metrics produce them, rules read
them, alerts and reports render them. No I/O and no behaviour beyond small helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


class VerdictLevel(str, Enum):
    PROMPT_ENGINEERING = "prompt_engineering"
    APPROACHING = "approaching"
    READY = "ready"

    @property
    def rank(self) -> int:
        return {"prompt_engineering": 0, "approaching": 1, "ready": 2}[self.value]


class CriterionStatus(str, Enum):
    MET = "met"
    NOT_MET = "not_met"
    WARN = "warn"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class MonthStats:
    """One calendar month (UTC) of one workload, all models merged."""

    month: str  # "2026-10"
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None  # None when some calls are unpriced and no cost was provided
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    partial: bool  # the month is not fully covered by synced data (current month, or data starts mid-month)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


@dataclass(frozen=True)
class Projection:
    """Least-squares trend of monthly calls; when a threshold is crossed on that trend."""

    slope_per_month: float
    basis: str  # "3 complete months" | "8 weeks" | "insufficient data"
    crossing_month: str | None  # "2027-02", None when not on the current trend
    crossing_date: date | None
    already_crossed: bool = False


@dataclass(frozen=True)
class ExampleStats:
    total: int
    trusted_real: int
    real_untrusted: int
    synthetic: int
    unknown: int
    duplicates_removed: int
    conflicts: int
    failures: int  # trusted real examples labelled as failures

    @property
    def synthetic_share(self) -> float | None:
        return self.synthetic / self.total if self.total else None


@dataclass(frozen=True)
class FailurePattern:
    key: str  # failure_mode category, or a mined template
    source: str  # "label" | "template"
    cases: int  # cases within the window
    weeks_seen: int
    window_weeks: int
    weekly_counts: tuple[int, ...]  # oldest → newest, len == window_weeks
    first_seen: date
    last_seen: date
    trend: str  # "rising" | "flat" | "falling"
    share: float  # of the workload's failures in the window
    recurring: bool
    remedy: str  # "fine-tune" | "retrieval" | "prompt" | "investigate"
    category: str  # "format" | "tone" | "knowledge" | "instruction" | "other"
    excerpts: tuple[str, ...] = ()  # redacted, at most 3


@dataclass(frozen=True)
class CostEstimate:
    current_model: str | None
    candidate_model: str | None
    monthly_input_tokens: int
    monthly_output_tokens: int
    current_monthly_cost_usd: Decimal | None
    candidate_monthly_cost_usd: Decimal | None
    monthly_savings_usd: Decimal | None
    training_tokens: int
    epochs: int
    training_cost_usd: Decimal | None
    payback_months: Decimal | None
    unpriced_models: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # human-readable arithmetic lines


@dataclass(frozen=True)
class WorkloadProfile:
    """Operator-declared facts about a workload (from config `workloads:`)."""

    domain: str = "general"  # general | specialized
    strict_format: bool = False
    latency_slo_ms: float | None = None
    current_model: str | None = None
    candidate_model: str | None = None
    owners: tuple[str, ...] = ()
    slack_channel: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadMetrics:
    """Everything the rules need about one workload at one evaluation time."""

    workload: str
    as_of: datetime
    months: tuple[MonthStats, ...]  # oldest → newest, calendar months with data
    calls_last_month: int | None  # last complete calendar month; None = no data
    calls_trailing_30d: int | None
    p50_latency_ms: float | None  # trailing 30 days
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    error_rate_30d: float | None
    first_seen: date | None  # first day with calls
    last_seen: date | None
    examples: ExampleStats
    patterns: tuple[FailurePattern, ...]
    prompt_versions_30d: int | None  # None when prompt_version is not mapped
    projection: Projection | None
    cost: CostEstimate | None
    profile: WorkloadProfile
    models: tuple[str, ...] = ()
    # (month "YYYY-MM", cumulative trusted real examples, cumulative synthetic examples) oldest → newest
    examples_by_month: tuple[tuple[str, int, int], ...] = ()

    @property
    def recurring_patterns(self) -> tuple[FailurePattern, ...]:
        return tuple(p for p in self.patterns if p.recurring)


@dataclass(frozen=True)
class CriterionResult:
    id: str
    status: CriterionStatus
    value: Any
    threshold: Any
    message: str
    role: str = "info"  # "gate" (data gate) | "trigger" | "guard" | "info"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "value": jsonable(self.value),
            "threshold": jsonable(self.threshold),
            "message": self.message,
        }


@dataclass(frozen=True)
class Verdict:
    workload: str
    level: VerdictLevel
    criteria: tuple[CriterionResult, ...]
    blockers: tuple[str, ...]
    summary: str

    def criterion(self, criterion_id: str) -> CriterionResult | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


@dataclass(frozen=True)
class EvaluationRun:
    """One evaluation of every workload: what alerts and reports consume."""

    evaluated_at: datetime
    verdicts: tuple[Verdict, ...]
    metrics: dict[str, WorkloadMetrics]  # by workload
    previous: dict[str, VerdictLevel]  # each workload's verdict in the previous stored evaluation

    def verdict(self, workload: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.workload == workload), None)


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
