"""Compose criteria results into a verdict per workload.

- ready: every data-gate criterion met (trusted real examples, recurring failures measured,
  synthetic share under the cap), at least one trigger met, and no guard not_met (prompt churn).
- approaching: not ready, something is pushing (a trigger met or warn, or every data-gate
  criterion met or warn), and the data gate is partly met (trusted real examples at or past
  `prompt_engineering_below`, or a recurring failure pattern measured).
- prompt_engineering: everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.model import CriterionResult, CriterionStatus, Verdict, VerdictLevel, WorkloadMetrics
from rules.criteria import CRITERIA, evaluate_criteria
from rules.pack import RulePack
from rules.text import count, join_words, plural

MET = CriterionStatus.MET
NOT_MET = CriterionStatus.NOT_MET
WARN = CriterionStatus.WARN
NO_DATA = CriterionStatus.NO_DATA

NO_TRIGGER = "No fine-tuning trigger: volume, specialised domain, strict format or latency SLO."


def evaluate(metrics: WorkloadMetrics, pack: RulePack) -> Verdict:
    """The verdict for one workload, with the workload's `thresholds:` applied over `pack`.

    Raises ConfigError when those per-workload thresholds are invalid.
    """
    pack = pack.with_overrides(
        metrics.profile.thresholds, where=f"workloads.{metrics.workload}.thresholds"
    )
    results = evaluate_criteria(metrics, pack)
    by_id = {r.id: r for r in results}
    gate = [r for r in results if r.role == "gate"]
    triggers = [r for r in results if r.role == "trigger"]
    fired = [r for r in triggers if r.status is MET]
    churning = [r for r in results if r.role == "guard" and r.status is NOT_MET]

    if all(r.status is MET for r in gate) and fired and not churning:
        level = VerdictLevel.READY
    else:
        pushing = any(r.status in (MET, WARN) for r in triggers) or all(
            r.status in (MET, WARN) for r in gate
        )
        partly = (
            by_id["prompt_engineering_floor"].status is MET
            or by_id["recurring_failures_measured"].status is MET
        )
        level = VerdictLevel.APPROACHING if pushing and partly else VerdictLevel.PROMPT_ENGINEERING

    blockers = _blockers(gate, fired, churning) if level is not VerdictLevel.READY else []
    return Verdict(
        workload=metrics.workload,
        level=level,
        criteria=results,
        blockers=tuple(b.message for b in blockers),
        summary=_summary(level, metrics, by_id, fired, blockers),
    )


def evaluate_all(metrics_list: Iterable[WorkloadMetrics], pack: RulePack) -> list[Verdict]:
    """One verdict per workload, in input order."""
    return [evaluate(metrics, pack) for metrics in metrics_list]


@dataclass(frozen=True)
class _Blocker:
    """A reason the workload is not ready: the sentence shown, and a short label for the summary."""

    message: str
    label: str


def _blockers(
    gate: list[CriterionResult], fired: list[CriterionResult], churning: list[CriterionResult]
) -> list[_Blocker]:
    blockers = [
        _Blocker(r.message, CRITERIA[r.id].label)
        for r in gate
        # A synthetic share is unknown only when there are no labels at all, which the
        # trusted-examples blocker already says.
        if r.status is not MET and not (r.id == "synthetic_share" and r.status is NO_DATA)
    ]
    if not fired:
        blockers.append(_Blocker(NO_TRIGGER, "a fine-tuning trigger"))
    blockers.extend(_Blocker(r.message, CRITERIA[r.id].label) for r in churning)
    return blockers


def _summary(
    level: VerdictLevel,
    metrics: WorkloadMetrics,
    by_id: dict[str, CriterionResult],
    fired: list[CriterionResult],
    blockers: list[_Blocker],
) -> str:
    missing = join_words([b.label for b in blockers])
    if level is VerdictLevel.READY:
        sentence = (
            f"Ready to fine-tune: {count(metrics.examples.trusted_real)} trusted real examples and "
            f"{plural(len(metrics.recurring_patterns), 'recurring failure pattern')} measured, "
            f"triggered by {join_words([CRITERIA[r.id].label for r in fired])}"
        )
        savings = metrics.cost.monthly_savings_usd if metrics.cost else None
        if savings is not None and savings > 0:
            sentence += f", with projected savings of ${savings:,.0f}/month"
        return sentence + "."
    if level is VerdictLevel.APPROACHING:
        return f"Approaching fine-tuning territory; still missing: {missing}."
    floor = by_id["prompt_engineering_floor"]
    if floor.status is NO_DATA:
        return (
            "Stay with prompt engineering: no labeled examples yet; "
            "ship, collect real failures and label them."
        )
    if floor.status is NOT_MET:
        return (
            f"Stay with prompt engineering: only {count(floor.value)} trusted real examples "
            f"(floor {count(floor.threshold)}); ship, collect real failures and label them."
        )
    return f"Stay with prompt engineering for now; missing: {missing}."
