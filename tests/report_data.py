"""Evaluation runs for the report tests, built from the domain dataclasses and the real rule evaluator."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from monitor.model import (
    CostEstimate,
    EvaluationRun,
    ExampleStats,
    FailurePattern,
    MonthStats,
    Projection,
    VerdictLevel,
    WorkloadMetrics,
    WorkloadProfile,
)
from rules import evaluate, load_rule_pack

HOSTILE_NAME = '"><img src=x onerror=alert(1)><script>alert(2)</script><!channel>'
HOSTILE_FAILURE = "<script>alert('pattern')</script> & <!here> \"><img onerror=alert(3)>"


def _months(as_of: datetime, calls: list[int]) -> tuple[MonthStats, ...]:
    """`calls` oldest → newest, the last being the current (partial) month."""
    first = as_of.date().replace(day=1)
    out = []
    for back, n in enumerate(reversed(calls)):
        index = first.year * 12 + first.month - 1 - back
        month = f"{index // 12:04d}-{index % 12 + 1:02d}"
        out.append(
            MonthStats(
                month, n, n // 50, n * 900, n * 250, Decimal(n) * Decimal("0.004"), 640.0, 1400.0, 2100.0, back == 0
            )
        )
    return tuple(reversed(out))


def _pattern(
    key: str,
    as_of: datetime,
    counts: tuple[int, ...],
    *,
    category: str,
    remedy: str,
    trend: str,
    excerpts: tuple[str, ...] = (),
) -> FailurePattern:
    cases = sum(counts)
    weeks = sum(1 for c in counts if c)
    return FailurePattern(
        key=key,
        source="label",
        cases=cases,
        weeks_seen=weeks,
        window_weeks=len(counts),
        weekly_counts=counts,
        first_seen=as_of.date() - timedelta(days=7 * len(counts)),
        last_seen=as_of.date() - timedelta(days=2),
        trend=trend,
        share=0.4,
        recurring=weeks >= 3 and cases >= 20,
        remedy=remedy,
        category=category,
        excerpts=excerpts,
    )


def workload(
    name: str,
    as_of: datetime,
    *,
    calls: list[int],
    trusted: int,
    synthetic: int = 0,
    patterns: tuple[FailurePattern, ...] = (),
    p95: float | None = 1400.0,
    slo: float | None = None,
    domain: str = "general",
    strict: bool = False,
    current: str | None = "gpt-4o",
    candidate: str | None = "ft:gpt-4o-mini",
    savings: Decimal | None = None,
    unpriced: tuple[str, ...] = (),
    crossing: str | None = None,
    slope: float = 20_000.0,
    prompt_versions: int | None = 2,
    channel: str | None = None,
) -> WorkloadMetrics:
    months = _months(as_of, calls)
    total = trusted + synthetic + 40
    by_month = []
    for k, m in enumerate(months[-6:]):
        by_month.append((m.month, trusted * (k + 1) // 6, synthetic * (k + 1) // 6))
    current_cost = (savings * 8 / 7) if savings is not None else None
    cost = CostEstimate(
        current_model=current,
        candidate_model=candidate,
        monthly_input_tokens=calls[-2] * 900,
        monthly_output_tokens=calls[-2] * 250,
        current_monthly_cost_usd=current_cost,
        candidate_monthly_cost_usd=(current_cost / 8) if current_cost is not None else None,
        monthly_savings_usd=savings,
        training_tokens=trusted * 1150,
        epochs=3,
        training_cost_usd=Decimal(trusted * 1150 * 3) * Decimal("25") / Decimal(1_000_000)
        if savings is not None
        else None,
        payback_months=Decimal("0.04") if savings is not None else None,
        unpriced_models=unpriced,
        notes=(
            (
                f"current: {calls[-2]:,} calls × 1,150 tokens at the {current} price",
                f"monthly savings = ${current_cost:,.2f} − ${current_cost / 8:,.2f} = ${savings:,.2f}",
            )
            if savings is not None and current_cost is not None
            else tuple(f"{m} is not in the price table: its cost is unknown (not zero)" for m in unpriced)
        ),
    )
    return WorkloadMetrics(
        workload=name,
        as_of=as_of,
        months=months,
        calls_last_month=calls[-2],
        calls_trailing_30d=int(calls[-2] * 1.03),
        p50_latency_ms=(p95 * 0.45) if p95 else None,
        p95_latency_ms=p95,
        p99_latency_ms=(p95 * 1.4) if p95 else None,
        error_rate_30d=0.012,
        first_seen=as_of.date() - timedelta(days=30 * len(calls)),
        last_seen=as_of.date(),
        examples=ExampleStats(total, trusted, 30, synthetic, 10, 12, 3, trusted // 5),
        patterns=patterns,
        prompt_versions_30d=prompt_versions,
        projection=Projection(
            slope, "3 complete months", crossing, date.fromisoformat(f"{crossing}-14") if crossing else None
        ),
        cost=cost,
        profile=WorkloadProfile(
            domain=domain,
            strict_format=strict,
            latency_slo_ms=slo,
            current_model=current,
            candidate_model=candidate,
            owners=("<@U024BE7LH>",),
            slack_channel=channel,
        ),
        models=(current,) if current else (),
        examples_by_month=tuple(by_month),
    )


def sample_metrics(as_of: datetime) -> list[WorkloadMetrics]:
    """A realistic portfolio: ready, approaching and prompt-engineering workloads, one hostile name."""
    fmt = _pattern(
        "json_schema_violation",
        as_of,
        (4, 6, 0, 9, 11, 14, 12, 18),
        category="format",
        remedy="fine-tune",
        trend="rising",
        excerpts=(
            'Output missing required field "claim_id"; customer [email] asked about policy…',
            "Returned prose instead of JSON for [phone] callback request",
        ),
    )
    tone = _pattern(
        "tone_too_casual", as_of, (3, 2, 4, 3, 5, 2, 4, 3), category="tone", remedy="fine-tune", trend="flat"
    )
    knowledge = _pattern(
        "missing_policy_knowledge",
        as_of,
        (0, 1, 3, 2, 5, 4, 6, 7),
        category="knowledge",
        remedy="retrieval",
        trend="rising",
    )
    instr = _pattern(
        "ignored_length_limit",
        as_of,
        (2, 0, 0, 1, 0, 0, 1, 0),
        category="instruction",
        remedy="prompt",
        trend="falling",
    )
    hostile = _pattern(
        HOSTILE_FAILURE,
        as_of,
        (5, 4, 6, 3, 5, 4, 6, 5),
        category="other",
        remedy="investigate",
        trend="flat",
        excerpts=(HOSTILE_FAILURE,),
    )
    return [
        workload(
            "claims-extraction",
            as_of,
            calls=[
                210_000,
                260_000,
                330_000,
                380_000,
                420_000,
                470_000,
                520_000,
                590_000,
                640_000,
                700_000,
                760_000,
                310_000,
            ],
            trusted=2_340,
            synthetic=800,
            patterns=(fmt, tone, instr),
            strict=True,
            domain="specialized",
            slo=1500,
            p95=1_720.0,
            savings=Decimal("18250.40"),
            channel="#claims-ml",
        ),
        workload(
            "support-triage",
            as_of,
            calls=[
                90_000,
                120_000,
                150_000,
                180_000,
                220_000,
                260_000,
                300_000,
                330_000,
                360_000,
                390_000,
                420_000,
                190_000,
            ],
            trusted=860,
            synthetic=300,
            patterns=(knowledge, fmt),
            slo=2000,
            p95=1_250.0,
            savings=Decimal("6400"),
            crossing="2027-02",
        ),
        workload(
            "contract-review",
            as_of,
            calls=[0, 0, 0, 0, 5_000, 9_000, 14_000, 20_000, 26_000, 31_000, 35_000, 16_000],
            trusted=1_150,
            synthetic=200,
            patterns=(fmt,),
            domain="specialized",
            savings=Decimal("920.5"),
            current="claude-3-5-sonnet",
            candidate="ft:gpt-4o-mini",
        ),
        workload(
            "search-summaries",
            as_of,
            calls=[40_000, 42_000, 41_000, 44_000, 43_000, 45_000, 44_000, 46_000, 45_000, 47_000, 46_000, 20_000],
            trusted=120,
            synthetic=2_400,
            patterns=(instr,),
            current="acme-llm-7b",
            candidate=None,
            unpriced=("acme-llm-7b",),
            slope=500.0,
            prompt_versions=6,
        ),
        workload(
            HOSTILE_NAME,
            as_of,
            calls=[1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000, 10_000, 11_000, 5_000],
            trusted=530,
            synthetic=40,
            patterns=(hostile,),
            savings=Decimal("120"),
            slope=1000.0,
        ),
        workload(
            "new-onboarding-bot",
            as_of,
            calls=[0] * 10 + [12_000, 9_000],
            trusted=0,
            synthetic=0,
            p95=None,
            savings=None,
            current=None,
            candidate=None,
        ),
    ]


def run_of(
    metrics: list[WorkloadMetrics], as_of: datetime, previous: dict[str, VerdictLevel] | None = None
) -> EvaluationRun:
    pack = load_rule_pack()
    verdicts = tuple(evaluate(m, pack) for m in metrics)
    return EvaluationRun(as_of, verdicts, {m.workload: m for m in metrics}, previous or {})


def sample_run(as_of: datetime) -> EvaluationRun:
    return run_of(sample_metrics(as_of), as_of)


def many_run(as_of: datetime, n: int) -> EvaluationRun:
    """`n` workloads cycling through the sample shapes, each with a distinct name."""
    base = sample_metrics(as_of)
    metrics = []
    for i in range(n):
        m = base[i % len(base)]
        metrics.append(WorkloadMetrics(**{**m.__dict__, "workload": f"{m.workload}-{i:02d}"}))
    return run_of(metrics, as_of)
