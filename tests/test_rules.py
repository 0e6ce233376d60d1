"""Criteria and verdict composition, on hand-built WorkloadMetrics fixtures."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ConfigError
from monitor.model import (
    CostEstimate,
    CriterionStatus,
    ExampleStats,
    FailurePattern,
    VerdictLevel,
    WorkloadMetrics,
    WorkloadProfile,
)
from rules import CRITERIA, evaluate, evaluate_all, evaluate_criteria, load_rule_pack
from rules import criteria as c
from rules.evaluator import NO_TRIGGER

MET = CriterionStatus.MET
NOT_MET = CriterionStatus.NOT_MET
WARN = CriterionStatus.WARN
NO_DATA = CriterionStatus.NO_DATA

AS_OF = datetime(2026, 11, 15, 9, 30, tzinfo=timezone.utc)
PACK = load_rule_pack()

# Words that would make missing data read like a measured shortfall.
BELOW_WORDS = ("below", "under ", "only ", "fewer", "more)")


def examples(
    trusted: int = 0,
    synthetic: int = 0,
    untrusted: int = 0,
    unknown: int = 0,
    failures: int = 0,
) -> ExampleStats:
    return ExampleStats(
        total=trusted + synthetic + untrusted + unknown,
        trusted_real=trusted,
        real_untrusted=untrusted,
        synthetic=synthetic,
        unknown=unknown,
        duplicates_removed=0,
        conflicts=0,
        failures=failures,
    )


def pattern(
    key: str = "json_schema_violation",
    *,
    category: str = "format",
    recurring: bool = True,
    cases: int = 48,
    weeks_seen: int = 5,
) -> FailurePattern:
    return FailurePattern(
        key=key,
        source="label",
        cases=cases,
        weeks_seen=weeks_seen,
        window_weeks=8,
        weekly_counts=(0, 0, 0, 12, 9, 10, 8, 9),
        first_seen=date(2026, 9, 20),
        last_seen=date(2026, 11, 12),
        trend="rising",
        share=0.4,
        recurring=recurring,
        remedy="fine-tune" if category in ("format", "tone") else "retrieval",
        category=category,
    )


def make_metrics(profile: WorkloadProfile | None = None, **fields: Any) -> WorkloadMetrics:
    """A workload with no data at all; `fields` set WorkloadMetrics attributes."""
    base = WorkloadMetrics(
        workload="support-triage",
        as_of=AS_OF,
        months=(),
        calls_last_month=None,
        calls_trailing_30d=None,
        p50_latency_ms=None,
        p95_latency_ms=None,
        p99_latency_ms=None,
        error_rate_30d=None,
        first_seen=None,
        last_seen=None,
        examples=examples(),
        patterns=(),
        prompt_versions_30d=None,
        projection=None,
        cost=None,
        profile=profile or WorkloadProfile(),
    )
    return replace(base, **fields)


def ready_metrics(profile: WorkloadProfile | None = None, **fields: Any) -> WorkloadMetrics:
    """A workload that is ready: data gate met and the volume trigger met, stable prompt."""
    defaults: dict[str, Any] = {
        "calls_last_month": 612_340,
        "calls_trailing_30d": 598_000,
        "p95_latency_ms": 900.0,
        "first_seen": date(2026, 6, 1),
        "last_seen": date(2026, 11, 14),
        "examples": examples(trusted=1_240, synthetic=100, failures=230),
        "patterns": (pattern(), pattern("stale_policy", category="knowledge", recurring=False)),
        "prompt_versions_30d": 2,
    }
    return make_metrics(profile, **{**defaults, **fields})


def no_trigger(**fields: Any) -> WorkloadMetrics:
    """Ready data, but nothing that makes fine-tuning pay off."""
    return ready_metrics(calls_last_month=40_000, calls_trailing_30d=38_000, **fields)


# --- criteria at, just below and just above their thresholds --------------------------------


@pytest.mark.parametrize(
    ("calls", "status"),
    [
        (500_001, MET),
        (500_000, MET),
        (499_999, WARN),
        (400_000, WARN),  # exactly warn_fraction × threshold
        (399_999, NOT_MET),
        (0, NOT_MET),
    ],
)
def test_monthly_calls_thresholds(calls: int, status: CriterionStatus) -> None:
    result = c.monthly_calls(make_metrics(calls_last_month=calls), PACK)
    assert (result.status, result.value, result.threshold) == (status, calls, 500_000)
    assert result.role == "trigger"


def test_monthly_calls_message_names_month_and_threshold() -> None:
    metrics = make_metrics(calls_last_month=612_340, calls_trailing_30d=600_000)
    result = c.monthly_calls(metrics, PACK)
    assert result.message == (
        "612,340 calls in the last complete month (2026-10), above the 500,000 threshold: "
        "distilling into a cheaper fine-tuned model pays off."
    )


def test_monthly_calls_uses_the_larger_of_month_and_trailing_30_days() -> None:
    metrics = make_metrics(calls_last_month=450_000, calls_trailing_30d=510_000)
    result = c.monthly_calls(metrics, PACK)
    assert (result.status, result.value) == (MET, 510_000)
    assert "trailing 30 days (more than the 450,000 in 2026-10)" in result.message


def test_monthly_calls_with_only_trailing_data() -> None:
    result = c.monthly_calls(make_metrics(calls_trailing_30d=420_000), PACK)
    assert (result.status, result.value) == (WARN, 420_000)
    assert "no complete month of data yet" in result.message
    assert "84% of the 500,000 threshold" in result.message


def test_monthly_calls_no_data() -> None:
    result = c.monthly_calls(make_metrics(), PACK)
    assert (result.status, result.value, result.threshold) == (NO_DATA, None, 500_000)


@pytest.mark.parametrize(
    ("trusted", "status"),
    [(1_001, MET), (1_000, MET), (999, WARN), (800, WARN), (799, NOT_MET), (0, NOT_MET)],
)
def test_trusted_real_examples_thresholds(trusted: int, status: CriterionStatus) -> None:
    metrics = make_metrics(examples=examples(trusted=trusted, untrusted=5))
    result = c.trusted_real_examples(metrics, PACK)
    assert (result.status, result.value, result.threshold, result.role) == (
        status,
        trusted,
        1_000,
        "gate",
    )


def test_trusted_real_examples_message_counts_what_is_missing_and_why() -> None:
    metrics = make_metrics(examples=examples(trusted=612, synthetic=4_000, unknown=12))
    assert c.trusted_real_examples(metrics, PACK).message == (
        "Only 612 trusted real examples; 1,000 needed (388 more). "
        "Not counted: 4,000 synthetic, 12 of unknown provenance."
    )


def test_trusted_real_examples_no_labels_is_no_data() -> None:
    result = c.trusted_real_examples(make_metrics(), PACK)
    assert (result.status, result.value) == (NO_DATA, None)


@pytest.mark.parametrize(("trusted", "status"), [(501, MET), (500, MET), (499, NOT_MET)])
def test_prompt_engineering_floor(trusted: int, status: CriterionStatus) -> None:
    result = c.prompt_engineering_floor(make_metrics(examples=examples(trusted=trusted)), PACK)
    assert (result.status, result.value, result.threshold, result.role) == (
        status,
        trusted,
        500,
        "info",
    )
    if status is NOT_MET:
        assert "stay with prompt engineering" in result.message


def test_prompt_engineering_floor_no_data() -> None:
    assert c.prompt_engineering_floor(make_metrics(), PACK).status is NO_DATA


@pytest.mark.parametrize(
    ("synthetic", "status"),
    [(2_499, MET), (2_500, MET), (2_501, NOT_MET), (0, MET)],
)
def test_synthetic_share_cap(synthetic: int, status: CriterionStatus) -> None:
    metrics = make_metrics(examples=examples(trusted=5_000 - synthetic, synthetic=synthetic))
    result = c.synthetic_share(metrics, PACK)
    assert (result.status, result.threshold, result.role) == (status, 0.5, "gate")
    assert result.value == pytest.approx(synthetic / 5_000)


def test_synthetic_share_just_over_the_cap_never_prints_as_the_cap() -> None:
    metrics = make_metrics(examples=examples(trusted=2_499, synthetic=2_501))
    assert "50.02% of labels" in c.synthetic_share(metrics, PACK).message


def test_synthetic_share_no_labels() -> None:
    result = c.synthetic_share(make_metrics(), PACK)
    assert (result.status, result.value) == (NO_DATA, None)


@pytest.mark.parametrize(
    ("flags", "status", "value"),
    [((), NOT_MET, 0), ((False, False), NOT_MET, 0), ((True,), MET, 1), ((True, True), MET, 2)],
)
def test_recurring_failures_measured(
    flags: tuple[bool, ...], status: CriterionStatus, value: int
) -> None:
    patterns = tuple(pattern(f"p{i}", recurring=flag) for i, flag in enumerate(flags))
    metrics = make_metrics(examples=examples(trusted=900, failures=60), patterns=patterns)
    result = c.recurring_failures_measured(metrics, PACK)
    assert (result.status, result.value, result.threshold, result.role) == (
        status,
        value,
        1,
        "gate",
    )


def test_recurring_failures_messages() -> None:
    met = c.recurring_failures_measured(ready_metrics(), PACK)
    assert met.message == (
        "1 recurring failure pattern measured in production: "
        "'json_schema_violation' (48 cases in 5 of 8 weeks, rising)."
    )
    none_recurring = make_metrics(
        examples=examples(trusted=900), patterns=(pattern(recurring=False),)
    )
    message = c.recurring_failures_measured(none_recurring, PACK).message
    assert "1 failure pattern seen, none recurring" in message
    assert "at least 3 of the last 8 weeks with 20+ cases" in message


def test_recurring_failures_without_any_labels_is_no_data() -> None:
    result = c.recurring_failures_measured(make_metrics(), PACK)
    assert (result.status, result.value) == (NO_DATA, None)


def test_specialized_domain() -> None:
    specialised = make_metrics(WorkloadProfile(domain="specialized"))
    assert c.specialized_domain(specialised, PACK).status is MET
    result = c.specialized_domain(make_metrics(), PACK)
    assert (result.status, result.value, result.threshold) == (NOT_MET, "general", "specialized")


@pytest.mark.parametrize(
    ("strict", "patterns", "status", "value"),
    [
        (True, (pattern(category="format"),), MET, 1),
        (True, (pattern(category="tone"), pattern("x", category="format")), MET, 2),
        (True, (pattern(category="knowledge"),), WARN, 0),
        (True, (pattern(category="format", recurring=False),), WARN, 0),
        (True, (), WARN, 0),
        (False, (pattern(category="format"),), NOT_MET, 1),
        (False, (), NOT_MET, 0),
    ],
)
def test_strict_format(
    strict: bool, patterns: tuple[FailurePattern, ...], status: CriterionStatus, value: int
) -> None:
    metrics = make_metrics(WorkloadProfile(strict_format=strict), patterns=patterns)
    result = c.strict_format(metrics, PACK)
    assert (result.status, result.value, result.threshold, result.role) == (
        status,
        value,
        1,
        "trigger",
    )


def test_strict_format_hints_when_format_failures_recur_without_the_flag() -> None:
    metrics = make_metrics(patterns=(pattern(category="format"),))
    assert "declare strict_format: true" in c.strict_format(metrics, PACK).message


@pytest.mark.parametrize(
    ("p95", "status"),
    [(1_501.0, MET), (1_500.0, WARN), (1_200.0, WARN), (1_199.0, NOT_MET)],
)
def test_latency_slo(p95: float, status: CriterionStatus) -> None:
    metrics = make_metrics(WorkloadProfile(latency_slo_ms=1_500), p95_latency_ms=p95)
    result = c.latency_slo(metrics, PACK)
    assert (result.status, result.value, result.threshold) == (status, p95, 1_500)


def test_latency_slo_message() -> None:
    metrics = make_metrics(WorkloadProfile(latency_slo_ms=1_500), p95_latency_ms=2_340.4)
    assert c.latency_slo(metrics, PACK).message.startswith(
        "p95 latency is 2,340 ms, over the 1,500 ms SLO: a hard constraint that prompting "
        "cannot fix"
    )


def test_latency_slo_no_data_without_slo_or_latency() -> None:
    no_slo = c.latency_slo(make_metrics(p95_latency_ms=5_000.0), PACK)
    assert no_slo.status is NO_DATA
    assert "No latency SLO declared" in no_slo.message
    no_latency = c.latency_slo(make_metrics(WorkloadProfile(latency_slo_ms=1_500)), PACK)
    assert (no_latency.status, no_latency.value) == (NO_DATA, None)


@pytest.mark.parametrize(("versions", "status"), [(2, MET), (3, MET), (4, NOT_MET)])
def test_prompt_stability(versions: int, status: CriterionStatus) -> None:
    result = c.prompt_stability(make_metrics(prompt_versions_30d=versions), PACK)
    assert (result.status, result.value, result.threshold, result.role) == (
        status,
        versions,
        3,
        "guard",
    )


def test_prompt_stability_not_tracked_is_no_data() -> None:
    assert c.prompt_stability(make_metrics(), PACK).status is NO_DATA


@pytest.mark.parametrize(("days", "status"), [(91, MET), (90, MET), (89, NOT_MET)])
def test_production_age(days: int, status: CriterionStatus) -> None:
    metrics = make_metrics(first_seen=AS_OF.date() - timedelta(days=days))
    result = c.production_age(metrics, PACK)
    assert (result.status, result.value, result.threshold, result.role) == (
        status,
        days,
        90,
        "info",
    )


def test_production_age_no_data() -> None:
    assert c.production_age(make_metrics(), PACK).status is NO_DATA


# --- the registry ---------------------------------------------------------------------------


def test_registry_roles_and_order() -> None:
    assert {cid: crit.role for cid, crit in CRITERIA.items()} == {
        "trusted_real_examples": "gate",
        "recurring_failures_measured": "gate",
        "synthetic_share": "gate",
        "monthly_calls": "trigger",
        "specialized_domain": "trigger",
        "strict_format": "trigger",
        "latency_slo": "trigger",
        "prompt_stability": "guard",
        "prompt_engineering_floor": "info",
        "production_age": "info",
    }
    ids = [r.id for r in evaluate_criteria(ready_metrics(), PACK)]
    assert ids == list(CRITERIA)


def test_no_data_never_reads_as_below_threshold() -> None:
    results = evaluate_criteria(make_metrics(WorkloadProfile(latency_slo_ms=1_000)), PACK)
    no_data = [r for r in results if r.status is NO_DATA]
    assert {r.id for r in no_data} >= {
        "trusted_real_examples",
        "monthly_calls",
        "synthetic_share",
        "recurring_failures_measured",
        "latency_slo",
        "prompt_stability",
        "production_age",
        "prompt_engineering_floor",
    }
    for result in no_data:
        assert not any(word in result.message.lower() for word in BELOW_WORDS), result


# --- verdict composition --------------------------------------------------------------------


def test_ready_workload() -> None:
    verdict = evaluate(ready_metrics(), PACK)
    assert verdict.level is VerdictLevel.READY
    assert verdict.blockers == ()
    assert verdict.workload == "support-triage"
    assert [r.id for r in verdict.criteria] == list(CRITERIA)
    assert verdict.summary == (
        "Ready to fine-tune: 1,240 trusted real examples and 1 recurring failure pattern "
        "measured, triggered by monthly volume."
    )


def test_ready_summary_mentions_savings() -> None:
    cost = CostEstimate(
        current_model="gpt-4",
        candidate_model="ft:gpt-3.5-turbo",
        monthly_input_tokens=1,
        monthly_output_tokens=1,
        current_monthly_cost_usd=Decimal("20571.43"),
        candidate_monthly_cost_usd=Decimal("2571.43"),
        monthly_savings_usd=Decimal("18000.00"),
        training_tokens=1,
        epochs=3,
        training_cost_usd=Decimal("24.00"),
        payback_months=Decimal("0.01"),
    )
    verdict = evaluate(ready_metrics(cost=cost), PACK)
    assert verdict.summary.endswith("with projected savings of $18,000/month.")


@pytest.mark.parametrize(
    ("profile", "fields"),
    [
        (WorkloadProfile(domain="specialized"), {}),
        (WorkloadProfile(strict_format=True), {}),
        (WorkloadProfile(latency_slo_ms=800), {"p95_latency_ms": 950.0}),
    ],
)
def test_any_single_trigger_makes_ready(profile: WorkloadProfile, fields: dict[str, Any]) -> None:
    verdict = evaluate(no_trigger(profile=profile, **fields), PACK)
    assert verdict.level is VerdictLevel.READY, verdict.blockers


def test_data_gate_without_trigger_is_not_ready() -> None:
    verdict = evaluate(no_trigger(), PACK)
    assert verdict.level is VerdictLevel.APPROACHING  # the data gate is met: the push is there
    assert verdict.blockers == (NO_TRIGGER,)
    assert verdict.summary == (
        "Approaching fine-tuning territory; still missing: a fine-tuning trigger."
    )


def test_partial_data_gate_without_trigger_stays_prompt_engineering() -> None:
    verdict = evaluate(no_trigger(examples=examples(trusted=600, failures=40)), PACK)
    assert verdict.level is VerdictLevel.PROMPT_ENGINEERING
    assert verdict.blockers == (
        "Only 600 trusted real examples; 1,000 needed (400 more).",
        NO_TRIGGER,
    )
    assert verdict.summary == (
        "Stay with prompt engineering for now; missing: trusted real examples "
        "and a fine-tuning trigger."
    )


def test_data_gate_within_warn_without_trigger_is_approaching() -> None:
    verdict = evaluate(no_trigger(examples=examples(trusted=850, failures=40)), PACK)
    assert verdict.level is VerdictLevel.APPROACHING


def test_trigger_without_data_gate_is_approaching() -> None:
    metrics = ready_metrics(examples=examples(trusted=612, failures=30), patterns=())
    verdict = evaluate(metrics, PACK)
    assert verdict.level is VerdictLevel.APPROACHING
    assert verdict.blockers[0] == "Only 612 trusted real examples; 1,000 needed (388 more)."
    assert verdict.blockers[1].startswith("No recurring failure pattern measured in production yet")
    assert NO_TRIGGER not in verdict.blockers


def test_trigger_in_warn_band_with_partial_gate_is_approaching() -> None:
    metrics = ready_metrics(calls_last_month=450_000, calls_trailing_30d=430_000, patterns=())
    verdict = evaluate(metrics, PACK)
    assert verdict.level is VerdictLevel.APPROACHING
    assert NO_TRIGGER in verdict.blockers


def test_recurring_failures_alone_count_as_partial_gate() -> None:
    metrics = ready_metrics(examples=examples(trusted=120, failures=60))
    assert evaluate(metrics, PACK).level is VerdictLevel.APPROACHING


def test_trigger_without_any_data_gate_stays_prompt_engineering() -> None:
    metrics = ready_metrics(examples=examples(trusted=120, failures=10), patterns=())
    verdict = evaluate(metrics, PACK)
    assert verdict.level is VerdictLevel.PROMPT_ENGINEERING
    assert verdict.summary == (
        "Stay with prompt engineering: only 120 trusted real examples (floor 500); "
        "ship, collect real failures and label them."
    )


def test_synthetic_heavy_workload_is_not_ready() -> None:
    metrics = ready_metrics(examples=examples(trusted=1_200, synthetic=3_800, failures=200))
    assert metrics.examples.total == 5_000
    verdict = evaluate(metrics, PACK)
    assert verdict.level is not VerdictLevel.READY
    assert verdict.level is VerdictLevel.APPROACHING
    assert verdict.blockers == (
        "Synthetic examples are 76% of labels (3,800 of 5,000; cap 50%); "
        "synthetic data never counts toward the data gate.",
    )
    assert "synthetic share" in verdict.summary


def test_churning_prompt_blocks_ready() -> None:
    verdict = evaluate(ready_metrics(prompt_versions_30d=6), PACK)
    assert verdict.level is VerdictLevel.APPROACHING
    assert verdict.blockers == (
        "Prompt went through 6 versions in 30 days (max 3): "
        "stabilise the prompt before fine-tuning.",
    )
    assert verdict.summary == "Approaching fine-tuning territory; still missing: a stable prompt."


def test_untracked_prompt_versions_do_not_block_ready() -> None:
    assert evaluate(ready_metrics(prompt_versions_30d=None), PACK).level is VerdictLevel.READY


def test_advisory_production_age_does_not_block_ready() -> None:
    verdict = evaluate(ready_metrics(first_seen=AS_OF.date() - timedelta(days=30)), PACK)
    assert verdict.level is VerdictLevel.READY
    production_age = verdict.criterion("production_age")
    assert production_age is not None and production_age.status is NOT_MET


def test_workload_without_data_never_reads_below() -> None:
    verdict = evaluate(make_metrics(), PACK)
    assert verdict.level is VerdictLevel.PROMPT_ENGINEERING
    assert verdict.summary == (
        "Stay with prompt engineering: no labeled examples yet; "
        "ship, collect real failures and label them."
    )
    assert len(verdict.blockers) == 3  # labels, failure modes, trigger; no synthetic-share echo
    for blocker in verdict.blockers:
        assert not any(word in blocker.lower() for word in BELOW_WORDS), blocker


def test_verdict_criteria_are_json_serialisable() -> None:
    verdict = evaluate(ready_metrics(), PACK)
    rows = json.loads(json.dumps([r.as_dict() for r in verdict.criteria]))
    assert rows[0] == {
        "id": "trusted_real_examples",
        "status": "met",
        "value": 1_240,
        "threshold": 1_000,
        "message": "1,240 trusted real examples, meeting the 1,000 needed: "
        "enough production data to fine-tune on.",
    }


# --- per-workload overrides -----------------------------------------------------------------


def test_per_workload_thresholds_are_applied() -> None:
    volume = {"calls_last_month": 350_000, "calls_trailing_30d": 340_000}
    assert evaluate(ready_metrics(**volume), PACK).level is VerdictLevel.APPROACHING
    overridden = ready_metrics(WorkloadProfile(thresholds={"monthly_calls": 300_000}), **volume)
    verdict = evaluate(overridden, PACK)
    assert verdict.level is VerdictLevel.READY
    monthly = verdict.criterion("monthly_calls")
    assert monthly is not None
    assert (monthly.status, monthly.threshold) == (MET, 300_000)


def test_per_workload_nested_override() -> None:
    metrics = no_trigger(
        profile=WorkloadProfile(thresholds={"trusted_real_examples": 2_000, "warn_fraction": 0.5})
    )
    verdict = evaluate(metrics, PACK)
    trusted = verdict.criterion("trusted_real_examples")
    assert trusted is not None
    assert (trusted.status, trusted.threshold) == (WARN, 2_000)


def test_invalid_per_workload_threshold_names_the_key() -> None:
    metrics = ready_metrics(WorkloadProfile(thresholds={"monthly_cals": 300_000}))
    with pytest.raises(ConfigError) as raised:
        evaluate(metrics, PACK)
    assert str(raised.value).startswith(
        "workloads.support-triage.thresholds.monthly_cals: unknown key; expected one of "
        "monthly_calls, trusted_real_examples,"
    )


def test_evaluate_all_keeps_order() -> None:
    workloads = [
        replace(ready_metrics(), workload="a"),
        replace(make_metrics(), workload="b"),
        replace(no_trigger(), workload="c"),
    ]
    verdicts = evaluate_all(workloads, PACK)
    assert [(v.workload, v.level) for v in verdicts] == [
        ("a", VerdictLevel.READY),
        ("b", VerdictLevel.PROMPT_ENGINEERING),
        ("c", VerdictLevel.APPROACHING),
    ]


def test_rules_never_import_connectors() -> None:
    package = Path(c.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "connectors" for n in names), source
