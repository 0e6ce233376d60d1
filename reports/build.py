"""Assembly: an EvaluationRun plus the store facts in, a `ReportView` out. Pure (no I/O, no clock).

Order of the report: the decision first (portfolio and changes), then the evidence per workload,
then the health of the data behind it, then how to read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from monitor.model import (
    CostEstimate,
    CriterionResult,
    EvaluationRun,
    FailurePattern,
    Verdict,
    VerdictLevel,
    WorkloadMetrics,
)
from monitor.redact import excerpt
from monitor.settings import Settings
from reports.facts import Baseline, StoreFacts, SyncRecord
from reports.view import (
    Bar,
    CallsChart,
    Change,
    ChangesView,
    CriterionView,
    DataQualityView,
    ExamplesChart,
    LatencyView,
    MonthPoint,
    PatternView,
    QuarantineView,
    ReportView,
    RuleLine,
    SyncView,
    Totals,
    UnpricedView,
    WorkloadView,
)
from reports.weeks import IsoWeek
from rules.criteria import CRITERIA
from rules.pack import RulePack
from rules.text import count, join_words, percent, plural

LEVEL_LABELS = {
    "ready": "Ready to fine-tune",
    "approaching": "Approaching",
    "prompt_engineering": "Stay with prompts",
}
STATUS_LABELS = {"met": "Met", "warn": "Close", "not_met": "Not met", "no_data": "No data"}
ROLE_LABELS = {"gate": "Data gate", "trigger": "Trigger", "guard": "Guard", "info": "Advisory"}
REMEDY_LABELS = {
    "fine-tune": "Fine-tune",
    "retrieval": "Add retrieval",
    "prompt": "Fix the prompt",
    "investigate": "Investigate",
}
CRITERION_LABELS = {
    "trusted_real_examples": "Trusted real examples",
    "recurring_failures_measured": "Recurring failures measured",
    "synthetic_share": "Synthetic share",
    "monthly_calls": "Monthly call volume",
    "specialized_domain": "Specialised domain",
    "strict_format": "Strict format or tone",
    "latency_slo": "Latency vs SLO",
    "prompt_stability": "Prompt stability",
    "prompt_engineering_floor": "Prompt-engineering floor",
    "production_age": "Time in production",
}
# How a criterion's value and threshold read; criteria not listed are shown generically.
_UNITS = {
    "trusted_real_examples": "count",
    "monthly_calls": "count",
    "prompt_engineering_floor": "count",
    "synthetic_share": "share",
    "latency_slo": "ms",
    "prompt_stability": "versions",
    "production_age": "days",
    "recurring_failures_measured": "patterns",
    "strict_format": "patterns",
}
_BARRED_UNITS = {"count", "share", "ms", "versions", "days"}
MONTHS_SHOWN = 12
PROJECTION_MONTHS_MAX = 6  # how far past the current month the projected line is drawn
STALE_AFTER_SYNCS = 3  # a source is stale after this many missed sync intervals
MAX_EXCERPT = 200  # characters per excerpt; at most MAX_EXCERPTS per pattern
MAX_EXCERPTS = 2


def assemble_report(
    run: EvaluationRun,
    facts: StoreFacts,
    *,
    settings: Settings,
    pack: RulePack,
    week: IsoWeek,
    generated_at: datetime,
) -> ReportView:
    verdicts = sorted(run.verdicts, key=_portfolio_order(run))
    anchors = {v.workload: workload_anchor(v.workload) for v in verdicts}
    workloads = tuple(
        _workload(v, run.metrics.get(v.workload), facts.baseline, anchors[v.workload], pack, settings.reports.excerpts)
        for v in verdicts
    )
    changes = _changes(verdicts, facts.baseline, anchors)
    base_url = _base_url(settings.reports.base_url)
    return ReportView(
        week=str(week),
        week_start=week.start,
        week_end=week.end,
        previous_week=str(week.previous()),
        generated_at=generated_at,
        evaluated_at=run.evaluated_at,
        timezone=settings.schedule.timezone,
        totals=_totals(workloads, len(changes.items)),
        workloads=workloads,
        changes=changes,
        data_quality=_data_quality(run, facts, settings, now=generated_at),
        rules=_rule_lines(pack),
        excerpts=settings.reports.excerpts,
        report_url=f"{base_url}/{week}.html" if base_url else None,
        index_url=f"{base_url}/index.html" if base_url else None,
    )


# -- portfolio -----------------------------------------------------------------------------------


def _portfolio_order(run: EvaluationRun) -> Any:
    """Ready first, then approaching, then prompt engineering; within a level the largest savings,
    then the most calls, then the name."""

    def key(verdict: Verdict) -> tuple[int, Decimal, int, str]:
        metrics = run.metrics.get(verdict.workload)
        savings = metrics.cost.monthly_savings_usd if metrics and metrics.cost else None
        calls = _monthly_calls(verdict, metrics) or 0
        return (-verdict.level.rank, -(savings or Decimal(0)), -calls, verdict.workload)

    return key


def _totals(workloads: tuple[WorkloadView, ...], changes: int) -> Totals:
    by_level = {level.value: 0 for level in VerdictLevel}
    for w in workloads:
        by_level[w.level] += 1
    savings = [
        (w.level, w.monthly_savings_usd) for w in workloads if w.monthly_savings_usd and w.monthly_savings_usd > 0
    ]
    return Totals(
        workloads=len(workloads),
        ready=by_level["ready"],
        approaching=by_level["approaching"],
        prompt_engineering=by_level["prompt_engineering"],
        monthly_calls=sum(w.monthly_calls or 0 for w in workloads),
        trusted_real=sum(w.trusted_real for w in workloads),
        recurring_patterns=sum(w.recurring_patterns for w in workloads),
        monthly_savings_usd=sum((amount for _, amount in savings), Decimal(0)),
        ready_savings_usd=sum((amount for level, amount in savings if level == "ready"), Decimal(0)),
        changes=changes,
    )


def workload_anchor(name: str) -> str:
    """The section id of a workload, stable across weeks, so `latest.html#workload-claims` keeps
    working: the name percent-encoded (only letters, digits, `_.-~` and `%XX`; safe in an id and a URL)."""
    return "workload-" + quote(name, safe="")


def _base_url(url: str | None) -> str | None:
    """Only an http(s) base URL becomes a link (never `javascript:` or a relative path)."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url.strip()):
        return url.strip().rstrip("/")
    return None


# -- one workload --------------------------------------------------------------------------------


def _workload(
    verdict: Verdict,
    metrics: WorkloadMetrics | None,
    baseline: Baseline | None,
    anchor: str,
    pack: RulePack,
    excerpts: bool,
) -> WorkloadView:
    level = verdict.level.value
    previous = baseline.levels.get(verdict.workload) if baseline else None
    change = None
    if baseline is not None:
        if previous is None:
            change = "new"
        elif previous in LEVEL_LABELS and previous != level:
            change = "up" if VerdictLevel(previous).rank < verdict.level.rank else "down"
    criteria = tuple(_criterion(c) for c in verdict.criteria)
    cost = metrics.cost if metrics else None
    examples = metrics.examples if metrics else None
    return WorkloadView(
        anchor=anchor,
        name=verdict.workload,
        level=level,
        level_label=LEVEL_LABELS[level],
        previous_level=previous,
        change=change,
        summary=verdict.summary,
        next_step=_next_step(verdict, metrics),
        blockers=verdict.blockers,
        monthly_calls=_monthly_calls(verdict, metrics),
        calls_last_month=metrics.calls_last_month if metrics else None,
        calls_trailing_30d=metrics.calls_trailing_30d if metrics else None,
        trusted_real=examples.trusted_real if examples else 0,
        synthetic=examples.synthetic if examples else 0,
        labels_total=examples.total if examples else 0,
        recurring_patterns=len(metrics.recurring_patterns) if metrics else 0,
        monthly_savings_usd=cost.monthly_savings_usd if cost else None,
        savings_note=_savings_note(cost),
        criteria=criteria,
        patterns=tuple(_pattern(p, excerpts) for p in _ranked_patterns(metrics)),
        calls_chart=_calls_chart(verdict, metrics),
        examples_chart=_examples_chart(verdict, metrics, pack),
        latency=_latency(verdict, metrics),
        cost=cost,
        domain=metrics.profile.domain if metrics else "general",
        strict_format=metrics.profile.strict_format if metrics else False,
        owners=metrics.profile.owners if metrics else (),
        slack_channel=metrics.profile.slack_channel if metrics else None,
        models=metrics.models if metrics else (),
        error_rate_30d=metrics.error_rate_30d if metrics else None,
        first_seen=metrics.first_seen if metrics else None,
        last_seen=metrics.last_seen if metrics else None,
    )


def _monthly_calls(verdict: Verdict, metrics: WorkloadMetrics | None) -> int | None:
    """The volume the rule judged (the larger of last month and the trailing 30 days)."""
    criterion = verdict.criterion("monthly_calls")
    if criterion is not None and isinstance(criterion.value, int):
        return criterion.value
    if metrics is None:
        return None
    known = [v for v in (metrics.calls_last_month, metrics.calls_trailing_30d) if v is not None]
    return max(known) if known else None


def _next_step(verdict: Verdict, metrics: WorkloadMetrics | None) -> str:
    if verdict.level is VerdictLevel.READY:
        recurring = sorted(metrics.recurring_patterns, key=lambda p: -p.cases) if metrics else []
        targets = join_words([f"“{_short(p.key, 50)}”" for p in recurring[:3]])
        candidate = metrics.profile.candidate_model if metrics else None
        step = "Fine-tune on the failing patterns"
        step += f" ({targets})" if targets else ""
        step += f" with {candidate} as the candidate model" if candidate else ""
        return step + ", then compare it against the current model on held-out production examples."
    if verdict.level is VerdictLevel.APPROACHING:
        return "Keep shipping and labelling production failures; fine-tuning becomes worth it once the blockers below clear."
    return "Keep improving the prompt: ship it, measure failures in production and label them."


def _savings_note(cost: CostEstimate | None) -> str:
    if cost is None:
        return "no calls in the last 30 days"
    if cost.monthly_savings_usd is not None:
        return ""
    if cost.unpriced_models:
        return f"unknown: {join_words(list(cost.unpriced_models))} not in the price table"
    if cost.candidate_model is None:
        return "no candidate model configured"
    return "unknown"


def _criterion(result: CriterionResult) -> CriterionView:
    unit = _UNITS.get(result.id, "generic")
    status = result.status.value
    return CriterionView(
        id=result.id,
        label=CRITERION_LABELS.get(result.id) or _label(result.id),
        role=result.role,
        role_label=ROLE_LABELS.get(result.role, result.role),
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        value=result.value,
        threshold=result.threshold,
        value_text=format_value(result.value, unit),
        threshold_text=_threshold_text(result.threshold, unit),
        message=result.message,
        bar=_bar(result.value, result.threshold, status) if unit in _BARRED_UNITS else None,
    )


def _threshold_text(threshold: Any, unit: str) -> str:
    """How the threshold reads after the value: "/ 1,000", "/ max 50%", "/ SLO 1,500 ms", "(need 1+)"."""
    if threshold is None:
        return "/ no SLO declared" if unit == "ms" else ""
    if not isinstance(threshold, (int, float, Decimal)) or isinstance(threshold, bool):
        return ""  # a declared property (e.g. the domain): the sentence says what is expected
    text = format_value(threshold, unit)
    if unit in ("share", "versions"):
        return f"/ max {text}"
    if unit == "ms":
        return f"/ SLO {text}"
    if unit == "patterns":
        return f"(need {count(int(threshold))}+)"
    return f"/ {text}"


def _label(criterion_id: str) -> str:
    known = CRITERIA.get(criterion_id)
    text = known.label if known else criterion_id.replace("_", " ")
    return text[:1].upper() + text[1:]


def format_value(value: Any, unit: str) -> str:
    """A criterion value as a person reads it; `no data` for an unknown value."""
    if value is None:
        return "no data"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        if unit == "share":
            return percent(float(value))
        if unit == "ms":
            return f"{float(value):,.0f} ms"
        if unit == "days":
            return plural(int(value), "day")
        if unit == "versions":
            return plural(int(value), "version")
        if unit == "patterns":
            return plural(int(value), "pattern")
        if isinstance(value, int) or float(value).is_integer():
            return count(int(value))
        return f"{float(value):,.2f}"
    return str(value)


def _bar(value: Any, threshold: Any, tone: str) -> Bar | None:
    numeric = (int, float, Decimal)
    if not isinstance(value, numeric) or not isinstance(threshold, numeric) or isinstance(value, bool):
        return None
    value, threshold = float(value), float(threshold)
    scale = max(value, threshold)
    if scale <= 0 or value < 0:
        return None
    return Bar(fill_pct=round(100 * value / scale, 1), mark_pct=round(100 * threshold / scale, 1), tone=tone)


def _ranked_patterns(metrics: WorkloadMetrics | None) -> list[FailurePattern]:
    """Recurring patterns first, then by cases."""
    if metrics is None:
        return []
    return sorted(metrics.patterns, key=lambda p: (not p.recurring, -p.cases, p.key))


def _pattern(pattern: FailurePattern, excerpts: bool) -> PatternView:
    shown = (
        tuple(e for e in (excerpt(x, MAX_EXCERPT) for x in pattern.excerpts[:MAX_EXCERPTS]) if e) if excerpts else ()
    )
    return PatternView(
        key=pattern.key,
        source=pattern.source,
        category=pattern.category,
        remedy=pattern.remedy,
        remedy_label=REMEDY_LABELS.get(pattern.remedy, pattern.remedy),
        trend=pattern.trend,
        cases=pattern.cases,
        weeks_seen=pattern.weeks_seen,
        window_weeks=pattern.window_weeks,
        weekly_counts=tuple(pattern.weekly_counts),
        share=pattern.share,
        first_seen=pattern.first_seen,
        last_seen=pattern.last_seen,
        recurring=pattern.recurring,
        excerpts=shown,
    )


def _calls_chart(verdict: Verdict, metrics: WorkloadMetrics | None) -> CallsChart:
    criterion = verdict.criterion("monthly_calls")
    threshold = criterion.threshold if criterion and isinstance(criterion.threshold, int) else None
    if metrics is None:
        return CallsChart((), threshold, (), None, "No calls synced yet.")
    current = _month_start(metrics.as_of.date())
    months_list = [_add_months(current, k - MONTHS_SHOWN + 1) for k in range(MONTHS_SHOWN)]
    stats = {m.month: m for m in metrics.months}
    points = tuple(
        MonthPoint(key, stats[key].calls, stats[key].partial) if key in stats else MonthPoint(key, None, False)
        for key in (m.strftime("%Y-%m") for m in months_list)
    )
    projection, text = _projection(metrics, points, threshold)
    crossing = metrics.projection.crossing_month if metrics.projection else None
    return CallsChart(points, threshold, projection, crossing, text)


def _projection(
    metrics: WorkloadMetrics, points: tuple[MonthPoint, ...], threshold: int | None
) -> tuple[tuple[tuple[str, float], ...], str]:
    """The projected line (from the last complete month) and a sentence about it.

    With a crossing month the line joins the last complete month to the threshold at the crossing
    (drawn at most PROJECTION_MONTHS_MAX months ahead); otherwise it follows the slope for 3 months.
    """
    projection = metrics.projection
    if projection is None or threshold is None:
        return (), "No projection: no call volume to project."
    if projection.already_crossed:
        return (), f"Already at or above the {count(threshold)} calls/month threshold on the recent trend."
    if projection.basis == "insufficient data":
        return (), "Not enough history to project the trend yet (needs 3 complete months or 4 weeks)."
    complete = [p for p in points if p.calls is not None and not p.partial]
    if complete:
        start_month, start_calls = complete[-1].month, float(complete[-1].calls or 0)
    else:
        start_month, start_calls = points[-1].month, float(metrics.calls_trailing_30d or 0)
    start = date.fromisoformat(f"{start_month}-01")
    horizon = _add_months(_month_start(metrics.as_of.date()), PROJECTION_MONTHS_MAX)
    slope = projection.slope_per_month
    trend = f"{'+' if slope >= 0 else '−'}{count(round(abs(slope)))} calls/month over the last {projection.basis}"
    if start_calls >= threshold:
        line = [(_add_months(start, k).strftime("%Y-%m"), max(start_calls + slope * k, 0.0)) for k in range(0, 4)]
        return tuple(line), f"Already above {count(threshold)} calls/month ({trend})."
    if projection.crossing_month:
        crossing = date.fromisoformat(f"{projection.crossing_month}-01")
        span = max(_months_between(start, crossing), 1)
        shown = min(span, _months_between(start, horizon))
        line = [
            (_add_months(start, k).strftime("%Y-%m"), start_calls + (threshold - start_calls) * k / span)
            for k in range(0, shown + 1)
        ]
        when = projection.crossing_date.strftime("%d %b %Y") if projection.crossing_date else projection.crossing_month
        return tuple(line), f"On the trend ({trend}) it crosses {count(threshold)} calls/month around {when}."
    line = [(_add_months(start, k).strftime("%Y-%m"), max(start_calls + slope * k, 0.0)) for k in range(0, 4)]
    if slope <= 0:
        return tuple(line), f"Flat or falling ({trend}): not on course to reach {count(threshold)} calls/month."
    return tuple(line), f"Growing ({trend}), but not on course to reach {count(threshold)} calls/month within 3 years."


def _examples_chart(verdict: Verdict, metrics: WorkloadMetrics | None, pack: RulePack) -> ExamplesChart:
    gate = verdict.criterion("trusted_real_examples")
    floor = verdict.criterion("prompt_engineering_floor")
    return ExamplesChart(
        points=tuple(metrics.examples_by_month[-MONTHS_SHOWN:]) if metrics else (),
        floor=floor.threshold if floor and isinstance(floor.threshold, int) else pack.prompt_engineering_below,
        gate=gate.threshold if gate and isinstance(gate.threshold, int) else pack.trusted_real_examples,
    )


def _latency(verdict: Verdict, metrics: WorkloadMetrics | None) -> LatencyView:
    criterion = verdict.criterion("latency_slo")
    p50 = metrics.p50_latency_ms if metrics else None
    p95 = metrics.p95_latency_ms if metrics else None
    p99 = metrics.p99_latency_ms if metrics else None
    slo = metrics.profile.latency_slo_ms if metrics else None
    scale = max([v for v in (p50, p95, slo) if v is not None] or [0.0]) * 1.1

    def position(value: float | None) -> float | None:
        return round(100 * value / scale, 1) if value is not None and scale > 0 else None

    return LatencyView(
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        slo_ms=slo,
        status=criterion.status.value if criterion else "no_data",
        text=criterion.message if criterion else "Latency is not evaluated.",
        p50_pct=position(p50),
        p95_pct=position(p95),
        slo_pct=position(slo),
    )


# -- what changed --------------------------------------------------------------------------------


def _changes(verdicts: list[Verdict], baseline: Baseline | None, anchors: Mapping[str, str]) -> ChangesView:
    if baseline is None:
        return ChangesView(
            None, False, "No earlier evaluation is stored yet: changes show from the next report on.", ()
        )
    items: list[Change] = []
    for verdict in verdicts:
        name, anchor = verdict.workload, anchors[verdict.workload]
        before = baseline.levels.get(name)
        now = verdict.level.value
        if before is None:
            items.append(Change(name, anchor, "new", f"First evaluated: {LEVEL_LABELS[now]}."))
            continue
        if before != now and before in LEVEL_LABELS:
            kind = "verdict_up" if VerdictLevel(before).rank < verdict.level.rank else "verdict_down"
            items.append(Change(name, anchor, kind, f"{LEVEL_LABELS[before]} → {LEVEL_LABELS[now]}."))
        snapshots = baseline.criteria.get(name, {})
        for criterion in verdict.criteria:
            old = snapshots.get(criterion.id)
            if old is None or old.status == criterion.status.value:
                continue
            text = _criterion_change(criterion, old.status, old.value)
            if text:
                items.append(Change(name, anchor, text[0], text[1]))
    current = {v.workload for v in verdicts}
    items.extend(
        Change(name, None, "gone", "No longer reported (no data in this evaluation).")
        for name in sorted(set(baseline.levels) - current)
    )
    since = baseline.evaluated_at.strftime("%Y-%m-%d %H:%M UTC")
    note = (
        f"Compared with the evaluation of {since}."
        if baseline.week_old
        else f"Compared with the oldest stored evaluation ({since}); history is younger than a week."
    )
    return ChangesView(baseline.evaluated_at, baseline.week_old, note, tuple(items))


def _criterion_change(criterion: CriterionResult, old_status: str, old_value: Any) -> tuple[str, str] | None:
    """A threshold crossing in words, e.g. ("crossed", "Monthly call volume: now met (612,000; was 480,000)")."""
    unit = _UNITS.get(criterion.id, "generic")
    label = CRITERION_LABELS.get(criterion.id) or _label(criterion.id)
    now_text = format_value(criterion.value, unit)
    was = f"; was {format_value(old_value, unit)}" if old_value is not None and old_value != criterion.value else ""
    status = criterion.status.value
    if status == "met":
        return "crossed", f"{label}: now met ({now_text}{was})."
    if old_status == "met":
        return "fell_back", f"{label}: no longer met ({now_text}{was})."
    if status == "warn" and old_status in ("not_met", "no_data"):
        return "nearing", f"{label}: now close to the threshold ({now_text}{was})."
    return None


# -- data quality --------------------------------------------------------------------------------


def _data_quality(run: EvaluationRun, facts: StoreFacts, settings: Settings, *, now: datetime) -> DataQualityView:
    stale_after = STALE_AFTER_SYNCS * settings.schedule.sync_every
    syncs = tuple(_sync(record, now, stale_after) for record in facts.syncs)
    unpriced: dict[str, set[str]] = {}
    for name, metrics in run.metrics.items():
        for model in metrics.cost.unpriced_models if metrics.cost else ():
            unpriced.setdefault(model, set()).add(name)
    quarantine = tuple(QuarantineView(q.source, q.kind, q.reason, q.rows) for q in facts.quarantine)
    quarantine_total = sum(q.rows for q in quarantine)
    issues = [f"{s.source} ({s.kind}): {s.state_label.lower()}." for s in syncs if s.state != "ok"]
    if quarantine_total:
        issues.append(f"{count(quarantine_total)} rows quarantined (bad rows kept out of the numbers, not dropped).")
    if unpriced:
        issues.append(f"{plural(len(unpriced), 'model')} without a price: their cost is unknown, never zero.")
    if facts.dead_letters_total:
        issues.append(
            f"{plural(facts.dead_letters_total, 'notification')} dead-lettered: Slack refused them permanently."
        )
    return DataQualityView(
        syncs=syncs,
        quarantine=quarantine,
        quarantine_total=quarantine_total,
        unpriced=tuple(UnpricedView(model, tuple(sorted(names))) for model, names in sorted(unpriced.items())),
        dead_letters=tuple(facts.dead_letters),
        dead_letters_total=facts.dead_letters_total,
        issues=tuple(issues),
    )


def _sync(record: SyncRecord, now: datetime, stale_after: timedelta) -> SyncView:
    if record.consecutive_failures > 0:
        state, label = "failing", f"Failing ({plural(record.consecutive_failures, 'attempt')} in a row)"
    elif record.last_success_at is None:
        state, label = "never", "Never synced"
    elif now - record.last_success_at > stale_after:
        state, label = "stale", f"Stale (last success {_age(now - record.last_success_at)} ago)"
    else:
        state, label = "ok", "OK"
    if not record.configured:
        label += " · no longer configured"
    return SyncView(
        source=record.source,
        kind=record.kind,
        configured=record.configured,
        state=state,
        state_label=label,
        last_success_at=record.last_success_at,
        last_attempt_at=record.last_attempt_at,
        consecutive_failures=record.consecutive_failures,
        last_error=record.last_error,
    )


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return plural(int(hours), "hour") if hours < 48 else plural(int(hours // 24), "day")


# -- how to read this ----------------------------------------------------------------------------


def _rule_lines(pack: RulePack) -> tuple[RuleLine, ...]:
    rec = pack.recurring
    return (
        RuleLine("Trusted real examples for the data gate", f"{count(pack.trusted_real_examples)} or more"),
        RuleLine(
            "Below this, prompt engineering is the right tool", f"fewer than {count(pack.prompt_engineering_below)}"
        ),
        RuleLine("Monthly call volume that makes distilling pay", f"{count(pack.monthly_calls)} calls/month"),
        RuleLine(
            "A failure pattern recurs when",
            f"seen in {rec.min_weeks} of the last {rec.window_weeks} weeks with {count(rec.min_cases)}+ cases",
        ),
        RuleLine("Synthetic share of labels, at most", percent(pack.max_synthetic_share)),
        RuleLine("Prompt versions in 30 days, at most", str(pack.max_prompt_versions_30d)),
        RuleLine("“Close” (warn) from", f"{percent(pack.warn_fraction)} of a threshold"),
        RuleLine("Production age that usually surfaces failures (advisory)", plural(pack.production_age_days, "day")),
    )


# -- calendar ------------------------------------------------------------------------------------


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
