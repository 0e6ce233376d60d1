"""The readiness criteria: small pure functions `(metrics, pack) -> CriterionResult`.

Each criterion is registered, in display order, with a role that tells the evaluator how it
composes into a verdict:

- "gate": the data gate (trusted real examples, recurring failures measured, synthetic share);
- "trigger": a reason fine-tuning pays off (volume, specialised domain, strict format, latency SLO);
- "guard": must not be not_met for a workload to be ready (prompt stability);
- "info": advisory evidence that never decides the verdict.

A criterion returns `no_data` when the metric is unknown, and its sentence then says so: missing
data never reads as a value below the threshold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from monitor.model import CriterionResult, CriterionStatus, FailurePattern, WorkloadMetrics
from rules.pack import RulePack
from rules.text import count, percent, percent_of, plural

Role = Literal["gate", "trigger", "guard", "info"]
Check = Callable[[WorkloadMetrics, RulePack], CriterionResult]

MET = CriterionStatus.MET
NOT_MET = CriterionStatus.NOT_MET
WARN = CriterionStatus.WARN
NO_DATA = CriterionStatus.NO_DATA

# Failure-pattern categories (set by monitor/patterns.py) that fine-tuning fixes better than
# prompting does.
FORMAT_CATEGORIES = frozenset({"format", "tone"})


@dataclass(frozen=True)
class Criterion:
    """A registered criterion: its id, how it composes into a verdict, and the check itself."""

    id: str
    role: Role
    label: str  # short noun phrase for summaries, e.g. "monthly volume"
    check: Check


class _Outcome(NamedTuple):
    status: CriterionStatus
    value: Any
    threshold: Any
    message: str


_registry: dict[str, Criterion] = {}
CRITERIA: Mapping[str, Criterion] = MappingProxyType(_registry)
"""Every criterion by id, in evaluation and display order."""


def _criterion(
    criterion_id: str, role: Role, label: str
) -> Callable[[Callable[[WorkloadMetrics, RulePack], _Outcome]], Check]:
    """Register a criterion; the decorated name becomes a `Check` returning a CriterionResult."""

    def register(func: Callable[[WorkloadMetrics, RulePack], _Outcome]) -> Check:
        @functools.wraps(func, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
        def check(metrics: WorkloadMetrics, pack: RulePack) -> CriterionResult:
            outcome = func(metrics, pack)
            return CriterionResult(
                id=criterion_id,
                status=outcome.status,
                value=outcome.value,
                threshold=outcome.threshold,
                message=outcome.message,
                role=role,
            )

        _registry[criterion_id] = Criterion(criterion_id, role, label, check)
        return check

    return register


def evaluate_criteria(metrics: WorkloadMetrics, pack: RulePack) -> tuple[CriterionResult, ...]:
    """Every criterion's result, in registry order (per-workload overrides are not applied)."""
    return tuple(c.check(metrics, pack) for c in CRITERIA.values())


# --- data gate ------------------------------------------------------------------------------


@_criterion("trusted_real_examples", role="gate", label="trusted real examples")
def trusted_real_examples(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Met at `trusted_real_examples`, warn from `warn_fraction` of it."""
    examples = metrics.examples
    need = pack.trusted_real_examples
    if examples.total == 0:
        return _Outcome(
            NO_DATA,
            None,
            need,
            "No labeled examples yet: label production outputs (confirmed by a human) "
            "to build the data gate.",
        )
    have = examples.trusted_real
    if have >= need:
        return _Outcome(
            MET,
            have,
            need,
            f"{count(have)} trusted real examples, meeting the {count(need)} needed: "
            "enough production data to fine-tune on.",
        )
    status = WARN if have >= pack.warn_fraction * need else NOT_MET
    return _Outcome(
        status,
        have,
        need,
        f"Only {count(have)} trusted real examples; {count(need)} needed "
        f"({count(need - have)} more).{_uncounted_labels(metrics)}",
    )


@_criterion("recurring_failures_measured", role="gate", label="recurring failure patterns")
def recurring_failures_measured(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Met with at least one recurring failure pattern (as flagged by monitor/patterns.py)."""
    recurring = metrics.recurring_patterns
    if recurring:
        return _Outcome(
            MET,
            len(recurring),
            1,
            f"{plural(len(recurring), 'recurring failure pattern')} measured in production: "
            f"{_describe_patterns(recurring)}.",
        )
    if not metrics.patterns and metrics.examples.total == 0:
        return _Outcome(
            NO_DATA,
            None,
            1,
            "No labeled failures yet, so the failure modes are not measured in production; "
            "never fine-tune before they are.",
        )
    rule = pack.recurring
    definition = (
        f"a pattern recurs when seen in at least {rule.min_weeks} of the last "
        f"{rule.window_weeks} weeks with {count(rule.min_cases)}+ cases"
    )
    seen = (
        f"{plural(len(metrics.patterns), 'failure pattern')} seen, none recurring"
        if metrics.patterns
        else "no failure pattern in the labeled data"
    )
    return _Outcome(
        NOT_MET,
        0,
        1,
        f"No recurring failure pattern measured in production yet ({seen}; {definition}): "
        "never fine-tune before the failure modes are measured.",
    )


@_criterion("synthetic_share", role="gate", label="synthetic share under the cap")
def synthetic_share(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Met while synthetic examples are at most `max_synthetic_share` of all labels."""
    examples = metrics.examples
    cap = pack.max_synthetic_share
    share = examples.synthetic_share
    if share is None:
        return _Outcome(NO_DATA, None, cap, "No labels yet, so the synthetic share is unknown.")
    if share <= cap:
        return _Outcome(
            MET,
            share,
            cap,
            f"Synthetic examples are {percent(share, distinct_from=cap)} of labels "
            f"({count(examples.synthetic)} of {count(examples.total)}; cap {percent(cap)}); "
            "they are never counted as trusted.",
        )
    return _Outcome(
        NOT_MET,
        share,
        cap,
        f"Synthetic examples are {percent(share, distinct_from=cap)} of labels "
        f"({count(examples.synthetic)} of {count(examples.total)}; cap {percent(cap)}); "
        "synthetic data never counts toward the data gate.",
    )


# --- triggers -------------------------------------------------------------------------------


@_criterion("monthly_calls", role="trigger", label="monthly volume")
def monthly_calls(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Volume = the larger of the last complete calendar month and the trailing 30 days.

    Taking the larger lets a workload that grew this month trigger without waiting for the month
    to close, while a quiet last few weeks does not hide a big complete month.
    """
    last, trailing = metrics.calls_last_month, metrics.calls_trailing_30d
    threshold = pack.monthly_calls
    month = _last_complete_month(metrics.as_of.date())
    if last is not None and (trailing is None or last >= trailing):
        value, basis = last, f"in the last complete month ({month})"
    elif trailing is not None:
        value = trailing
        basis = (
            "in the trailing 30 days (no complete month of data yet)"
            if last is None
            else f"in the trailing 30 days (more than the {count(last)} in {month})"
        )
    else:
        return _Outcome(
            NO_DATA,
            None,
            threshold,
            "No call volume synced yet, so monthly volume cannot be judged.",
        )
    if value >= threshold:
        position = "above" if value > threshold else "at"
        return _Outcome(
            MET,
            value,
            threshold,
            f"{plural(value, 'call')} {basis}, {position} the {count(threshold)} threshold: "
            "distilling into a cheaper fine-tuned model pays off.",
        )
    if value >= pack.warn_fraction * threshold:
        return _Outcome(
            WARN,
            value,
            threshold,
            f"{plural(value, 'call')} {basis}, {percent_of(value, threshold)} of the "
            f"{count(threshold)} threshold: approaching the volume where distilling pays off.",
        )
    return _Outcome(
        NOT_MET,
        value,
        threshold,
        f"{plural(value, 'call')} {basis}, below the {count(threshold)} threshold: "
        "volume alone does not justify fine-tuning.",
    )


@_criterion("specialized_domain", role="trigger", label="specialised domain")
def specialized_domain(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    domain = metrics.profile.domain
    if domain == "specialized":
        return _Outcome(
            MET,
            domain,
            "specialized",
            "Declared a specialised domain: fine-tuning carries domain vocabulary and "
            "conventions that prompts struggle to.",
        )
    return _Outcome(
        NOT_MET,
        domain,
        "specialized",
        f"Declared domain is {domain!r}, not specialised: prompts usually cover it, "
        "so the domain alone is no reason to fine-tune.",
    )


@_criterion("strict_format", role="trigger", label="strict format")
def strict_format(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Met when strict format/tone is required AND a recurring format or tone failure is measured.

    The value is the number of recurring format/tone failure patterns; the requirement alone only
    warns, because a prompt may already deliver the format.
    """
    failures = [p for p in metrics.recurring_patterns if p.category in FORMAT_CATEGORIES]
    if not metrics.profile.strict_format:
        hint = (
            f", although {_patterns_are_measured(failures)}: "
            "declare strict_format: true if consistency is required"
            if failures
            else ""
        )
        return _Outcome(
            NOT_MET,
            len(failures),
            1,
            f"No strict format or tone requirement declared for this workload{hint}.",
        )
    if failures:
        return _Outcome(
            MET,
            len(failures),
            1,
            f"Strict format or tone is required and {_patterns_are_measured(failures)}: "
            f"{_describe_patterns(failures)}; fine-tuning enforces the consistency that prompts "
            "keep missing.",
        )
    return _Outcome(
        WARN,
        0,
        1,
        "Strict format or tone is required, but no recurring format or tone failure is "
        "measured yet: the prompt may still be enough.",
    )


@_criterion("latency_slo", role="trigger", label="latency SLO")
def latency_slo(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Met when the trailing-30-day p95 is over the declared SLO (prompting cannot fix that)."""
    slo = metrics.profile.latency_slo_ms
    p95 = metrics.p95_latency_ms
    if slo is None:
        return _Outcome(
            NO_DATA,
            p95,
            None,
            "No latency SLO declared, so latency is not a fine-tuning trigger.",
        )
    if p95 is None:
        return _Outcome(
            NO_DATA,
            None,
            slo,
            f"No latency measured in the last 30 days, so the {_ms(slo)} SLO cannot be checked.",
        )
    if p95 > slo:
        return _Outcome(
            MET,
            p95,
            slo,
            f"p95 latency is {_ms(p95)}, over the {_ms(slo)} SLO: a hard constraint that "
            "prompting cannot fix; a smaller fine-tuned model can meet it.",
        )
    if p95 >= pack.warn_fraction * slo:
        return _Outcome(
            WARN,
            p95,
            slo,
            f"p95 latency is {_ms(p95)}, {percent_of(p95, slo)} of the {_ms(slo)} SLO: "
            "close to the hard constraint.",
        )
    return _Outcome(
        NOT_MET,
        p95,
        slo,
        f"p95 latency is {_ms(p95)}, within the {_ms(slo)} SLO: latency is no reason to fine-tune.",
    )


# --- guard ----------------------------------------------------------------------------------


@_criterion("prompt_stability", role="guard", label="a stable prompt")
def prompt_stability(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    versions = metrics.prompt_versions_30d
    cap = pack.max_prompt_versions_30d
    if versions is None:
        return _Outcome(
            NO_DATA,
            None,
            cap,
            "Prompt versions are not tracked (no prompt_version column mapped), "
            "so prompt stability is unknown.",
        )
    if versions <= cap:
        return _Outcome(
            MET,
            versions,
            cap,
            f"{plural(versions, 'prompt version')} in the last 30 days (max {cap}): "
            "the prompt is stable enough to fine-tune against.",
        )
    return _Outcome(
        NOT_MET,
        versions,
        cap,
        f"Prompt went through {versions} versions in 30 days (max {cap}): "
        "stabilise the prompt before fine-tuning.",
    )


# --- advisory -------------------------------------------------------------------------------


@_criterion("prompt_engineering_floor", role="info", label="prompt-engineering floor")
def prompt_engineering_floor(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Not met under `prompt_engineering_below` trusted real examples: keep prompting."""
    floor = pack.prompt_engineering_below
    if metrics.examples.total == 0:
        return _Outcome(
            NO_DATA,
            None,
            floor,
            "No labeled examples yet: start with prompt engineering, ship, "
            "and collect real failures to label.",
        )
    have = metrics.examples.trusted_real
    if have >= floor:
        return _Outcome(
            MET,
            have,
            floor,
            f"{count(have)} trusted real examples, past the {count(floor)} floor "
            "where prompt engineering alone is the right tool.",
        )
    return _Outcome(
        NOT_MET,
        have,
        floor,
        f"Only {count(have)} trusted real examples, under the {count(floor)} floor: "
        "stay with prompt engineering, ship, and collect real failures.",
    )


@_criterion("production_age", role="info", label="production age")
def production_age(metrics: WorkloadMetrics, pack: RulePack) -> _Outcome:
    """Advisory: days between the first call and the evaluation date."""
    need = pack.production_age_days
    first = metrics.first_seen
    if first is None:
        return _Outcome(NO_DATA, None, need, "No calls seen yet, so production age is unknown.")
    days = (metrics.as_of.date() - first).days
    if days >= need:
        return _Outcome(
            MET,
            days,
            need,
            f"In production for {plural(days, 'day')} (since {first.isoformat()}), "
            f"at least the {need} days that usually surface the real failure modes.",
        )
    return _Outcome(
        NOT_MET,
        days,
        need,
        f"In production for {plural(days, 'day')} (since {first.isoformat()}); "
        f"{need} days usually surface the real failure modes (advisory, "
        f"{plural(need - days, 'day')} to go).",
    )


# --- helpers --------------------------------------------------------------------------------


def _last_complete_month(as_of: date) -> str:
    return (as_of.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _patterns_are_measured(patterns: Sequence[FailurePattern]) -> str:
    """E.g. "2 recurring format or tone failure patterns are measured"."""
    verb = "is" if len(patterns) == 1 else "are"
    return f"{plural(len(patterns), 'recurring format or tone failure pattern')} {verb} measured"


def _describe_patterns(patterns: Sequence[FailurePattern]) -> str:
    """The three largest patterns, e.g. "'json_schema' (48 cases in 5 of 8 weeks, rising)"."""
    ranked = sorted(patterns, key=lambda p: p.cases, reverse=True)
    shown = [
        f"'{_shorten(p.key)}' ({plural(p.cases, 'case')} in {p.weeks_seen} of "
        f"{p.window_weeks} weeks, {p.trend})"
        for p in ranked[:3]
    ]
    if len(ranked) > 3:
        shown.append(f"{len(ranked) - 3} more")
    return ", ".join(shown)


def _shorten(key: str, limit: int = 60) -> str:
    """Mined templates can be long; keep sentences readable."""
    return key if len(key) <= limit else key[: limit - 1] + "…"


def _uncounted_labels(metrics: WorkloadMetrics) -> str:
    """Why existing labels do not count, e.g. " Not counted: 4,000 synthetic, 12 unknown."."""
    examples = metrics.examples
    parts = [
        f"{count(n)} {what}"
        for n, what in (
            (examples.synthetic, "synthetic"),
            (examples.real_untrusted, "real but not confirmed by a human"),
            (examples.unknown, "of unknown provenance"),
        )
        if n
    ]
    return f" Not counted: {', '.join(parts)}." if parts else ""
