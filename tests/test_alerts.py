"""The alert state machine and process_evaluation: transitions only, pending, hysteresis,
reminders, resolved notices, operational alerts, digest grouping, one transaction.

The helpers at the top (`metrics`, `make_run`, `make_settings`, …) are shared with
test_slack.py and test_outbox.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor import alerts as alerts_module
from monitor import outbox as outbox_module
from monitor.alerts import (
    AlertKind,
    AlertState,
    Event,
    Observation,
    Policy,
    Severity,
    StoredAlert,
    fingerprint,
    list_alert_states,
    process_evaluation,
    step,
)
from monitor.model import (
    CostEstimate,
    EvaluationRun,
    ExampleStats,
    FailurePattern,
    Projection,
    VerdictLevel,
    WorkloadMetrics,
    WorkloadProfile,
)
from monitor.settings import Settings, settings_from_dict
from monitor.store import Store, alert_states, outbox, quarantine, watermarks
from rules.evaluator import evaluate
from rules.pack import load_rule_pack

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
PACK = load_rule_pack()

# Inputs that give each verdict level with the default rule pack.
PROMPT_ENGINEERING = {"calls": 1_000, "trusted": 100}
APPROACHING = {"calls": 450_000, "trusted": 600}  # calls at 90% (warn), floor met
READY = {"calls": 600_000, "trusted": 1_200, "recurring": True}


# --- shared helpers ------------------------------------------------------------------------


def pattern(key: str = "json_format", *, cases: int = 40, excerpt: str = "missing closing brace") -> FailurePattern:
    return FailurePattern(
        key=key, source="label", cases=cases, weeks_seen=5, window_weeks=8,
        weekly_counts=(0, 2, 5, 6, 0, 9, 8, 10), first_seen=date(2026, 10, 1), last_seen=date(2026, 11, 25),
        trend="rising", share=0.4, recurring=True, remedy="fine-tune", category="format", excerpts=(excerpt,),
    )  # fmt: skip


def metrics(
    workload: str,
    *,
    calls: int = 1_000,
    trusted: int = 100,
    recurring: bool = False,
    patterns: tuple[FailurePattern, ...] | None = None,
    projection: Projection | None = None,
    cost: CostEstimate | None = None,
    owners: tuple[str, ...] = (),
    as_of: datetime = NOW,
) -> WorkloadMetrics:
    if patterns is None:
        patterns = (pattern(),) if recurring else ()
    return WorkloadMetrics(
        workload=workload, as_of=as_of, months=(), calls_last_month=calls, calls_trailing_30d=calls,
        p50_latency_ms=300.0, p95_latency_ms=900.0, p99_latency_ms=1500.0, error_rate_30d=0.01,
        first_seen=date(2026, 5, 1), last_seen=as_of.date(),
        examples=ExampleStats(total=trusted + 10, trusted_real=trusted, real_untrusted=10, synthetic=0, unknown=0,
                              duplicates_removed=0, conflicts=0, failures=trusted // 5),
        patterns=patterns, prompt_versions_30d=2, projection=projection, cost=cost,
        profile=WorkloadProfile(owners=owners),
    )  # fmt: skip


def make_run(
    workloads: dict[str, dict[str, Any] | WorkloadMetrics],
    *,
    at: datetime = NOW,
    previous: dict[str, VerdictLevel] | None = None,
) -> EvaluationRun:
    """An evaluation of `workloads` (name → metrics or keyword arguments of `metrics`) by the real rules."""
    by_name = {
        name: spec if isinstance(spec, WorkloadMetrics) else metrics(name, as_of=at, **spec)
        for name, spec in workloads.items()
    }
    verdicts = tuple(evaluate(m, PACK) for m in by_name.values())
    return EvaluationRun(evaluated_at=at, verdicts=verdicts, metrics=by_name, previous=previous or {})


def make_settings(
    alerts: dict[str, Any] | None = None, workloads: dict[str, Any] | None = None, **extra: Any
) -> Settings:
    raw: dict[str, Any] = {
        "sources": [{"name": "wh", "url": "sqlite:///:memory:", "calls": {"table": "llm_calls"}}],
        "alerts": {"slack": {"default_channel": "#llm-readiness"}, **(alerts or {})},
        "workloads": workloads or {},
        **extra,
    }
    return settings_from_dict(raw, env={})


def outbox_rows(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings()]


def states(store: Store) -> dict[tuple[str, str, str], StoredAlert]:
    with store.read() as conn:
        return {(a.workload, a.kind.value, a.subject): a for a in list_alert_states(conn)}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'state.db'}")


def _at(days: float) -> datetime:
    return NOW + timedelta(days=days)


def calls(n: int) -> dict[str, int]:
    """A workload with `n` monthly calls and too few examples for anything else to change."""
    return {"calls": n, "trusted": 100}


def evaluate_at(settings: Settings, store: Store, day: float, workloads: dict[str, Any]) -> list[Any]:
    """process_evaluation of `workloads` evaluated `day` days after NOW."""
    return process_evaluation(settings, store, make_run(workloads, at=_at(day)), now=_at(day))


def _kinds(notifications: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(n.workload, n.kind.value, n.subject, n.event.value) for n in notifications]


# --- the pure state machine ----------------------------------------------------------------

POLICY = Policy(pending_evaluations=2, repeat_interval=timedelta(days=7), send_resolved=True)


def _obs(level: int, hold: int | None = None, kind: AlertKind = AlertKind.THRESHOLD_CROSSED) -> Observation:
    return Observation("w", kind, "monthly_calls", level, level if hold is None else hold, "t", "d")


def _run_steps(levels: list[int], policy: Policy = POLICY, holds: list[int] | None = None) -> list[Event | None]:
    state, events = None, []
    for i, level in enumerate(levels):
        at = _at(i)
        obs = _obs(level, holds[i] if holds else None) if level or holds else None
        state, event = step(state, obs, policy, now=at, evaluated_at=at)
        events.append(event)
    return events


def test_step_fires_after_pending_evaluations_then_stays_quiet() -> None:
    assert _run_steps([2, 2, 2, 2]) == [None, Event.FIRING, None, None]


def test_step_alternating_levels_never_fire() -> None:
    assert _run_steps([2, 0, 2, 0, 2, 0, 2]) == [None] * 7


def test_step_hysteresis_holds_a_level_while_the_value_stays_close() -> None:
    # fired at crossed, then the value hovers just under the threshold (status warn, hold crossed)
    events = _run_steps([2, 2, 1, 1, 1, 1], holds=[2, 2, 2, 2, 2, 2])
    assert events == [None, Event.FIRING, None, None, None, None]


def test_step_hysteresis_falls_only_as_far_as_the_value() -> None:
    # crossed, then well under the threshold but still near the warn boundary: down to warn, not normal
    events = _run_steps([2, 2, 0, 0], holds=[2, 2, 1, 1])
    assert events == [None, Event.FIRING, None, Event.DEESCALATED]


def test_step_escalation_deescalation_and_resolution() -> None:
    events = _run_steps([1, 1, 2, 2, 1, 1, 0, 0])
    assert events == [None, Event.FIRING, None, Event.ESCALATED, None, Event.DEESCALATED, None, Event.RESOLVED]


def test_step_reminder_only_after_repeat_interval() -> None:
    policy = Policy(pending_evaluations=1, repeat_interval=timedelta(days=3), send_resolved=True)
    events = _run_steps([1, 1, 1, 1, 1, 1, 1], policy)
    assert events == [Event.FIRING, None, None, Event.REMINDER, None, None, Event.REMINDER]


def test_step_send_resolved_false_resolves_silently() -> None:
    policy = Policy(pending_evaluations=1, repeat_interval=timedelta(days=7), send_resolved=False)
    state, event = step(None, _obs(1), policy, now=NOW, evaluated_at=NOW)
    assert event is Event.FIRING
    state, event = step(state, None, policy, now=_at(1), evaluated_at=_at(1))
    assert event is None and state is not None and state.state is AlertState.RESOLVED


def test_step_same_evaluation_twice_is_a_no_op() -> None:
    state, _ = step(None, _obs(2), POLICY, now=NOW, evaluated_at=NOW)
    again, event = step(state, _obs(2), POLICY, now=_at(1), evaluated_at=NOW)
    assert again == state and event is None


def test_step_prior_level_from_history_counts_toward_pending() -> None:
    state, event = step(None, _obs(2, kind=AlertKind.VERDICT_CHANGED), POLICY, now=NOW, evaluated_at=NOW, prior_level=2)
    assert event is Event.FIRING and state is not None and state.state is AlertState.FIRING


def test_fingerprint_is_stable_and_distinct() -> None:
    a = fingerprint("w", AlertKind.THRESHOLD_CROSSED, "monthly_calls")
    assert a == fingerprint("w", AlertKind.THRESHOLD_CROSSED, "monthly_calls")
    assert a != fingerprint("w", AlertKind.THRESHOLD_CROSSED, "trusted_real_examples")
    assert a != fingerprint("w2", AlertKind.THRESHOLD_CROSSED, "monthly_calls")
    assert len(fingerprint("x" * 255, AlertKind.QUARANTINE_SPIKE, "y" * 64)) <= 128


# --- process_evaluation --------------------------------------------------------------------


def test_transition_gives_exactly_one_message_and_same_state_gives_none(store: Store) -> None:
    settings = make_settings()
    for day in (0, 1):  # settle: approaching, calls at the warn level
        process_evaluation(settings, store, make_run({"w": APPROACHING}, at=_at(day)), now=_at(day))
    settled = len(outbox_rows(store))
    assert settled == 2  # verdict approaching + monthly_calls warn

    crossed = {"calls": 520_000, "trusted": 600}  # calls cross; the verdict stays approaching
    assert process_evaluation(settings, store, make_run({"w": crossed}, at=_at(2)), now=_at(2)) == []  # pending
    notifications = process_evaluation(settings, store, make_run({"w": crossed}, at=_at(3)), now=_at(3))
    assert _kinds(notifications) == [("w", "threshold_crossed", "monthly_calls", "escalated")]
    assert notifications[0].severity is Severity.WARNING
    rows = outbox_rows(store)
    assert len(rows) == settled + 1
    assert rows[-1]["fingerprint"] == fingerprint("w", AlertKind.THRESHOLD_CROSSED, "monthly_calls")
    assert rows[-1]["status"] == "pending" and rows[-1]["channel"] == "#llm-readiness"

    assert process_evaluation(settings, store, make_run({"w": crossed}, at=_at(4)), now=_at(4)) == []
    assert len(outbox_rows(store)) == settled + 1


def test_warn_level_is_its_own_lower_severity_alert(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    warn = process_evaluation(settings, store, make_run({"w": {"calls": 420_000, "trusted": 100}}), now=NOW)
    assert [(n.subject, n.level, n.severity) for n in warn] == [("monthly_calls", "warn", Severity.INFO)]
    crossed = evaluate_at(settings, store, 1, {"w": calls(510_000)})
    assert [(n.subject, n.level, n.previous_level, n.severity) for n in crossed] == [
        ("monthly_calls", "crossed", "warn", Severity.WARNING)
    ]


def test_flapping_input_does_not_flap(store: Store) -> None:
    settings = make_settings({"repeat_interval": "30d"})
    for day in (0, 1):
        evaluate_at(settings, store, day, {"w": calls(510_000)})
    fired = len(outbox_rows(store))
    assert fired == 1  # monthly_calls crossed
    # hovering at the threshold: inside the hysteresis band, and alternating far outside it
    hovering = [499_000, 501_000, 480_000, 500_000, 490_000, 300_000, 600_000, 300_000, 600_000]
    for day, n in enumerate(hovering, 2):
        evaluate_at(settings, store, day, {"w": calls(n)})
    assert len(outbox_rows(store)) == fired
    assert states(store)[("w", "threshold_crossed", "monthly_calls")].state is AlertState.FIRING


def test_repeat_only_after_the_interval(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1, "repeat_interval": "7d"})
    spec = {"calls": 510_000, "trusted": 100}
    assert len(process_evaluation(settings, store, make_run({"w": spec}), now=NOW)) == 1
    for day in (1, 3, 6):
        assert process_evaluation(settings, store, make_run({"w": spec}, at=_at(day)), now=_at(day)) == []
    reminder = process_evaluation(settings, store, make_run({"w": spec}, at=_at(7)), now=_at(7))
    assert [(n.event, n.title.startswith("still")) for n in reminder] == [(Event.REMINDER, True)]
    assert process_evaluation(settings, store, make_run({"w": spec}, at=_at(8)), now=_at(8)) == []
    assert len(outbox_rows(store)) == 2


def test_resolved_notice_when_send_resolved(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    process_evaluation(settings, store, make_run({"w": {"calls": 510_000, "trusted": 100}}), now=NOW)
    resolved = evaluate_at(settings, store, 1, {"w": calls(100_000)})
    assert _kinds(resolved) == [("w", "threshold_crossed", "monthly_calls", "resolved")]
    assert states(store)[("w", "threshold_crossed", "monthly_calls")].state is AlertState.RESOLVED
    # and it can fire again later
    again = evaluate_at(settings, store, 2, {"w": calls(510_000)})
    assert _kinds(again) == [("w", "threshold_crossed", "monthly_calls", "firing")]


def test_no_resolved_notice_without_send_resolved_but_verdict_changes_still_notify(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1, "send_resolved": False})
    process_evaluation(settings, store, make_run({"w": READY}), now=NOW)
    down = process_evaluation(settings, store, make_run({"w": PROMPT_ENGINEERING}, at=_at(1)), now=_at(1))
    assert _kinds(down) == [("w", "verdict_changed", "", "resolved")]
    assert down[0].title.startswith("back down from ready")


def test_verdict_changes_up_and_down(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    seen = []
    for day, spec in enumerate([PROMPT_ENGINEERING, APPROACHING, READY, APPROACHING]):
        notifications = process_evaluation(settings, store, make_run({"w": spec}, at=_at(day)), now=_at(day))
        verdicts = [n for n in notifications if n.kind is AlertKind.VERDICT_CHANGED]
        seen.append([(n.event.value, n.previous_level, n.level) for n in verdicts])
    assert seen == [
        [],
        [("firing", "prompt_engineering", "approaching")],
        [("escalated", "approaching", "ready")],
        [("deescalated", "ready", "approaching")],
    ]


def test_previous_verdict_from_history_counts_toward_pending(store: Store) -> None:
    settings = make_settings()  # pending_evaluations 2
    run = make_run({"w": READY}, previous={"w": VerdictLevel.READY})
    notifications = process_evaluation(settings, store, run, now=NOW)
    assert ("w", "verdict_changed", "", "firing") in _kinds(notifications)


def test_processing_the_same_evaluation_twice_changes_nothing(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    run = make_run({"w": READY})
    assert process_evaluation(settings, store, run, now=NOW)
    before = (outbox_rows(store), states(store))
    assert process_evaluation(settings, store, run, now=_at(1)) == []
    assert (outbox_rows(store), states(store)) == before


def test_projected_crossing_within_30_days(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    basis = "3 complete months"
    soon = Projection(slope_per_month=40_000, basis=basis, crossing_month="2026-12", crossing_date=date(2026, 12, 20))
    late = Projection(slope_per_month=4_000, basis=basis, crossing_month="2027-09", crossing_date=date(2027, 9, 1))
    workloads = {"soon": {"calls": 300_000, "projection": soon}, "late": {"calls": 300_000, "projection": late}}
    notifications = process_evaluation(settings, store, make_run(workloads), now=NOW)
    assert _kinds(notifications) == [("soon", "projected_crossing", "monthly_calls", "firing")]
    assert "2026-12-20" in notifications[0].title
    # once the threshold is actually crossed the projection resolves silently; the threshold alert speaks
    crossed = process_evaluation(
        settings, store, make_run({"soon": {"calls": 510_000, "projection": soon}}, at=_at(1)), now=_at(1)
    )
    assert _kinds(crossed) == [("soon", "threshold_crossed", "monthly_calls", "firing")]
    assert states(store)[("soon", "projected_crossing", "monthly_calls")].state is AlertState.RESOLVED


def test_routing_to_the_workload_channel_else_the_default(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1}, workloads={"a": {"slack_channel": "#support-ml"}})
    notifications = process_evaluation(settings, store, make_run({"a": READY, "b": READY}), now=NOW)
    assert {n.workload: n.channel for n in notifications} == {"a": "#support-ml", "b": "#llm-readiness"}
    assert {r["channel"] for r in outbox_rows(store)} == {"#support-ml", "#llm-readiness"}


def test_more_than_five_alerts_for_one_channel_become_one_digest(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1}, workloads={"solo": {"slack_channel": "#support-ml"}})
    workloads = {f"w{i}": calls(510_000) for i in range(6)} | {"solo": calls(510_000)}
    notifications = process_evaluation(settings, store, make_run(workloads), now=NOW)
    assert len(notifications) == 7
    rows = outbox_rows(store)
    assert [(r["kind"], r["channel"]) for r in rows] == [("alert_digest", "#llm-readiness"), ("alert", "#support-ml")]
    assert len(rows[0]["payload"]["alerts"]) == 6


def test_exactly_five_alerts_stay_separate_messages(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    workloads = {f"w{i}": {"calls": 510_000, "trusted": 100} for i in range(5)}
    process_evaluation(settings, store, make_run(workloads), now=NOW)
    assert [r["kind"] for r in outbox_rows(store)] == ["alert"] * 5


def test_workload_missing_from_the_run_keeps_its_state(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})
    process_evaluation(settings, store, make_run({"w": READY, "other": PROMPT_ENGINEERING}), now=NOW)
    assert process_evaluation(settings, store, make_run({"other": PROMPT_ENGINEERING}, at=_at(1)), now=_at(1)) == []
    assert states(store)[("w", "verdict_changed", "")].state is AlertState.FIRING


# --- operational alerts --------------------------------------------------------------------


def _watermark(store: Store, **values: Any) -> None:
    with store.transaction() as conn:
        conn.execute(sa.delete(watermarks))
        for kind in ("calls", "examples"):
            conn.execute(watermarks.insert().values(source="wh", kind=kind, **{"consecutive_failures": 0, **values}))


def test_sync_failing_n_times_in_a_row(store: Store) -> None:
    settings = make_settings()
    for failures, day in ((1, 0), (2, 1)):
        last_success = _at(day) - timedelta(minutes=30)
        _watermark(store, consecutive_failures=failures, last_success_at=last_success, last_error="timeout")
        assert process_evaluation(settings, store, make_run({}, at=_at(day)), now=_at(day)) == []
    last_success = _at(2) - timedelta(minutes=30)
    _watermark(store, consecutive_failures=3, last_success_at=last_success, last_error="connection refused")
    fired = process_evaluation(settings, store, make_run({}, at=_at(2)), now=_at(2))
    assert _kinds(fired) == [("", "sync_failing", "wh", "firing")]
    assert fired[0].severity is Severity.CRITICAL and "connection refused" in fired[0].detail
    assert fired[0].channel == "#llm-readiness"
    _watermark(store, consecutive_failures=0, last_success_at=_at(3))
    assert _kinds(process_evaluation(settings, store, make_run({}, at=_at(3)), now=_at(3))) == [
        ("", "sync_failing", "wh", "resolved")
    ]


def test_data_stale_after_two_sync_intervals(store: Store) -> None:
    settings = make_settings(schedule={"sync_every": "1h"})
    _watermark(store, last_success_at=NOW - timedelta(minutes=110))
    assert process_evaluation(settings, store, make_run({}), now=NOW) == []
    later = NOW + timedelta(minutes=20)  # 130 minutes since the last success
    stale = process_evaluation(settings, store, make_run({}, at=later), now=later)
    assert _kinds(stale) == [("", "data_stale", "wh", "firing")]
    assert "stale" in stale[0].title


def test_quarantine_spike(store: Store) -> None:
    settings = make_settings()
    with store.transaction() as conn:
        for back in range(2, 16):  # a steady 20 rows a day
            day = NOW.date() - timedelta(days=back)
            conn.execute(quarantine.insert().values(source="wh", kind="calls", day=day, reason="bad_tokens", rows=20))
    assert process_evaluation(settings, store, make_run({}), now=NOW) == []
    with store.transaction() as conn:
        today = NOW.date()
        conn.execute(quarantine.insert().values(source="wh", kind="calls", day=today, reason="bad_tokens", rows=500))
    spike = process_evaluation(settings, store, make_run({}, at=_at(0.1)), now=_at(0.1))
    assert _kinds(spike) == [("", "quarantine_spike", "wh", "firing")]
    assert "500" in spike[0].title


# --- one transaction -----------------------------------------------------------------------


def test_crash_inside_the_transaction_leaves_no_state_and_no_row(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings({"pending_evaluations": 1})

    def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("killed between the state change and the outbox row")

    monkeypatch.setattr(outbox_module, "enqueue", crash)
    with pytest.raises(RuntimeError):
        process_evaluation(settings, store, make_run({"w": READY}), now=NOW)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alert_states)).scalar() == 0
    assert outbox_rows(store) == []
    monkeypatch.undo()
    # the next run sees the transition again, and writes both
    assert process_evaluation(settings, store, make_run({"w": READY}, at=_at(1)), now=_at(1))
    assert outbox_rows(store)


def test_alert_state_survives_a_store_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    settings = make_settings()
    process_evaluation(settings, Store(url), make_run({"w": {"calls": 510_000, "trusted": 100}}), now=NOW)
    fired = evaluate_at(settings, Store(url), 1, {"w": calls(510_000)})
    assert len(fired) == 1


def test_stored_alert_round_trips_through_its_row() -> None:
    alert = StoredAlert(
        fingerprint="f", workload="w", kind=AlertKind.THRESHOLD_CROSSED, subject="monthly_calls",
        state=AlertState.FIRING, level=2, candidate=1, pending_count=1, since=NOW, last_notified_at=NOW,
        updated_at=NOW, evaluated_at=NOW, title="t", detail="d", value=Decimal("1.5"), threshold=500_000,
    )  # fmt: skip
    row = alert.to_row()
    assert row["severity"] == "warning"
    assert (row["payload"]["level"], row["payload"]["candidate"]) == ("crossed", "warn")
    back = StoredAlert.from_row(row)
    assert back.level == 2 and back.candidate == 1 and back.value == 1.5


def test_module_constants_are_sane() -> None:
    assert alerts_module.SYNC_FAILURES_ALERT >= 2 and alerts_module.STALE_SYNC_INTERVALS == 2
