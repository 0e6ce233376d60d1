"""Alerts: transitions only, deduplicated, written to the durable outbox.

Every alert is identified by a fingerprint of (workload, kind, subject) and has one row in
`alert_states`. Each evaluation observes a *level* for it (0 = normal; e.g. for a threshold
1 = warn, 2 = crossed) and `step` moves the stored state:

    normal ──observed > 0──▶ pending ──same level `pending` times in a row──▶ firing
    firing ──observed 0, `pending` times in a row──▶ resolved (notice when send_resolved)
    firing ──still firing after repeat_interval──▶ reminder

Flapping is damped twice: a new level must be observed on `pending` consecutive evaluations
before anyone is told, and a value that has reached a level keeps it until it falls more than
`HYSTERESIS` below that level's boundary (so 499,000 vs a 500,000 threshold does not resolve).
Operational alerts (sync failing, stale data, quarantine spike) already describe a persistent
condition, so they fire on the first evaluation that sees it.

The state change and its outbox rows are written in ONE transaction (`process_evaluation`):
after a crash either both exist or neither does, and the deliverer sends what is pending.
Everything except `process_evaluation` and the two small loaders is pure.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.errors import ConfigError
from monitor.model import CriterionStatus, EvaluationRun, Verdict, VerdictLevel, WorkloadMetrics, jsonable
from monitor.settings import Settings
from monitor.store import Store, alert_states, quarantine, utcnow, watermarks
from rules.criteria import CRITERIA
from rules.pack import load_rule_pack

log = logging.getLogger(__name__)

HYSTERESIS = 0.05  # a reached level holds until the value is this fraction below its boundary
PROJECTION_HORIZON_DAYS = 30
SYNC_FAILURES_ALERT = 3  # consecutive failed syncs of a source before alerting
STALE_SYNC_INTERVALS = 2  # no successful sync for more than this many `schedule.sync_every`
QUARANTINE_SPIKE_MIN_ROWS = 100  # rows quarantined in the last 2 days before it can be a spike
QUARANTINE_SPIKE_FACTOR = 3.0  # … and at least this many times the 2-day average of the 14 days before
THRESHOLD_CRITERIA = ("monthly_calls", "trusted_real_examples")


class AlertKind(str, Enum):
    VERDICT_CHANGED = "verdict_changed"
    THRESHOLD_CROSSED = "threshold_crossed"  # subject: criterion id; levels warn < crossed
    PROJECTED_CROSSING = "projected_crossing"  # subject: criterion id
    SYNC_FAILING = "sync_failing"  # subject: source name
    DATA_STALE = "data_stale"  # subject: source name
    QUARANTINE_SPIKE = "quarantine_spike"  # subject: source name

    @property
    def operational(self) -> bool:
        return self in (AlertKind.SYNC_FAILING, AlertKind.DATA_STALE, AlertKind.QUARANTINE_SPIKE)

    @property
    def levels(self) -> tuple[str, ...]:
        """Level names, index = level; index 0 is the normal (not alerting) level."""
        if self is AlertKind.VERDICT_CHANGED:
            return tuple(level.value for level in sorted(VerdictLevel, key=lambda v: v.rank))
        if self is AlertKind.THRESHOLD_CROSSED:
            return ("normal", "warn", "crossed")
        return ("normal", "firing")


class AlertState(str, Enum):
    NORMAL = "normal"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Event(str, Enum):
    FIRING = "firing"  # from normal to a level
    ESCALATED = "escalated"  # to a higher level
    DEESCALATED = "deescalated"  # to a lower level that is not normal
    RESOLVED = "resolved"  # back to normal
    REMINDER = "reminder"  # still firing after repeat_interval


_SEVERITY: dict[AlertKind, tuple[Severity, ...]] = {  # by level; index 0 (normal) is unused
    AlertKind.VERDICT_CHANGED: (Severity.INFO, Severity.INFO, Severity.WARNING),
    AlertKind.THRESHOLD_CROSSED: (Severity.INFO, Severity.INFO, Severity.WARNING),
    AlertKind.PROJECTED_CROSSING: (Severity.INFO, Severity.INFO),
    AlertKind.SYNC_FAILING: (Severity.INFO, Severity.CRITICAL),
    AlertKind.DATA_STALE: (Severity.INFO, Severity.WARNING),
    AlertKind.QUARANTINE_SPIKE: (Severity.INFO, Severity.WARNING),
}


def fingerprint(workload: str, kind: AlertKind, subject: str = "") -> str:
    """Stable id of one alert: the same (workload, kind, subject) always gives the same value."""
    digest = hashlib.sha256(f"{workload}\x1f{kind.value}\x1f{subject}".encode()).hexdigest()
    return f"{kind.value}:{digest[:32]}"


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw for one alert.

    `hold` is the highest level the value still supports with hysteresis (>= level): an alert at
    a higher level than observed falls only to `hold`. `silent` resolves without a notice (e.g. a projected
    crossing that stopped being a projection because the threshold was actually crossed).
    """

    workload: str  # "" for operational alerts, which belong to a source
    kind: AlertKind
    subject: str
    level: int
    hold: int
    title: str  # what is true now, one line, plain (unescaped) text
    detail: str  # sentences with the evidence, plain text
    value: Any = None
    threshold: Any = None
    silent: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.workload, self.kind, self.subject)


@dataclass(frozen=True)
class StoredAlert:
    """One `alert_states` row; `level` is the level last notified (0 = normal)."""

    fingerprint: str
    workload: str
    kind: AlertKind
    subject: str
    state: AlertState
    level: int
    candidate: int | None  # a level observed but not yet confirmed
    pending_count: int  # consecutive evaluations that observed `candidate`
    since: datetime | None  # when the current state began
    last_notified_at: datetime | None
    updated_at: datetime
    evaluated_at: datetime | None  # the evaluation this state reflects (re-processing it is a no-op)
    title: str = ""
    detail: str = ""
    value: Any = None
    threshold: Any = None

    @property
    def level_name(self) -> str:
        return self.kind.levels[self.level]

    @property
    def severity(self) -> Severity | None:
        return _SEVERITY[self.kind][self.level] if self.level else None

    def to_row(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "workload": self.workload,
            "kind": self.kind.value,
            "state": self.state.value,
            "severity": self.severity.value if self.severity else None,
            "pending_count": self.pending_count,
            "payload": {
                "subject": self.subject,
                "level": self.level_name,
                "candidate": None if self.candidate is None else self.kind.levels[self.candidate],
                "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
                "title": self.title,
                "detail": self.detail,
                "value": jsonable(self.value),
                "threshold": jsonable(self.threshold),
            },
            "since": self.since,
            "last_notified_at": self.last_notified_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredAlert:
        kind = AlertKind(row["kind"])
        payload = dict(row["payload"] or {})
        levels = kind.levels
        candidate = payload.get("candidate")
        evaluated = payload.get("evaluated_at")
        return cls(
            fingerprint=row["fingerprint"],
            workload=row["workload"],
            kind=kind,
            subject=payload.get("subject", ""),
            state=AlertState(row["state"]),
            level=levels.index(payload["level"]) if payload.get("level") in levels else 0,
            candidate=levels.index(candidate) if candidate in levels else None,
            pending_count=int(row["pending_count"] or 0),
            since=row["since"],
            last_notified_at=row["last_notified_at"],
            updated_at=row["updated_at"],
            evaluated_at=datetime.fromisoformat(evaluated) if evaluated else None,
            title=payload.get("title", ""),
            detail=payload.get("detail", ""),
            value=payload.get("value"),
            threshold=payload.get("threshold"),
        )


@dataclass(frozen=True)
class Policy:
    pending_evaluations: int
    repeat_interval: timedelta
    send_resolved: bool


@dataclass(frozen=True)
class Notification:
    """One thing to tell people: an alert's transition or reminder, routed to a channel.

    Text fields are plain (unescaped); the Slack builder escapes them. `verdict` and `metrics`
    are the workload's evaluation, for the message's evidence (None for operational alerts).
    """

    fingerprint: str
    workload: str
    kind: AlertKind
    subject: str
    event: Event
    level: str
    previous_level: str
    severity: Severity
    title: str
    detail: str
    channel: str
    at: datetime
    value: Any = None
    threshold: Any = None
    verdict: Verdict | None = field(default=None, compare=False, repr=False)
    metrics: WorkloadMetrics | None = field(default=None, compare=False, repr=False)


# --- the state machine (pure) -----------------------------------------------------------------


def step(
    previous: StoredAlert | None,
    observation: Observation | None,
    policy: Policy,
    *,
    now: datetime,
    evaluated_at: datetime,
    key: tuple[str, AlertKind, str] | None = None,
    prior_level: int | None = None,
) -> tuple[StoredAlert | None, Event | None]:
    """The next state of one alert and the event to notify (None: nothing to say).

    `observation` None means the condition is not present (level 0). `prior_level` is the level
    seen by the evaluation before this one when no state exists yet (from the evaluation history),
    so it counts toward `pending_evaluations`. Returns (None, None) when there is nothing to store.
    """
    if previous is not None and previous.evaluated_at is not None and previous.evaluated_at >= evaluated_at:
        return previous, None  # this evaluation was already processed
    observed = observation.level if observation else 0
    notified = previous.level if previous else 0
    if observation is not None and observed < notified:
        observed = max(observed, min(notified, observation.hold))  # hysteresis: fall only as far as the value did
    if previous is None:
        if observed == 0 or observation is None:  # nothing observed, nothing to remember
            return None, None
        workload, kind, subject = key or (observation.workload, observation.kind, observation.subject)
        previous = StoredAlert(
            fingerprint=fingerprint(workload, kind, subject),
            workload=workload,
            kind=kind,
            subject=subject,
            state=AlertState.NORMAL,
            level=0,
            candidate=prior_level if prior_level else None,
            pending_count=1 if prior_level else 0,
            since=now,
            last_notified_at=None,
            updated_at=now,
            evaluated_at=None,
        )
    facts: dict[str, Any] = {"updated_at": now, "evaluated_at": evaluated_at}
    if observation is not None:
        facts |= {
            "title": observation.title,
            "detail": observation.detail,
            "value": observation.value,
            "threshold": observation.threshold,
        }

    if observed == notified:
        state = AlertState.FIRING if notified else _quiet_state(previous)
        event = None
        last = previous.last_notified_at
        if notified and last is not None and now - last >= policy.repeat_interval:
            event = Event.REMINDER
            facts["last_notified_at"] = now
        changed_state = state is not previous.state
        return replace(
            previous, state=state, candidate=None, pending_count=0,
            since=now if changed_state else previous.since, **facts,
        ), event  # fmt: skip

    count = previous.pending_count + 1 if previous.candidate == observed else 1
    needed = 1 if previous.kind.operational else policy.pending_evaluations
    if count < needed:
        state = AlertState.FIRING if notified else AlertState.PENDING
        return replace(
            previous, state=state, candidate=observed, pending_count=count,
            since=now if state is not previous.state else previous.since, **facts,
        ), None  # fmt: skip

    if observed == 0:
        event = Event.RESOLVED
    elif notified == 0:
        event = Event.FIRING
    else:
        event = Event.ESCALATED if observed > notified else Event.DEESCALATED
    silent = observation is not None and observation.silent and observed < notified
    if observed < notified and not (policy.send_resolved or previous.kind is AlertKind.VERDICT_CHANGED):
        silent = True  # verdict changes down are news ("back down"); other recoveries are opt-in
    if silent:
        event = None
    new = replace(
        previous,
        state=AlertState.FIRING if observed else AlertState.RESOLVED,
        level=observed,
        candidate=None,
        pending_count=0,
        since=now,
        last_notified_at=now if event is not None else previous.last_notified_at,
        **facts,
    )
    return new, event


def _quiet_state(previous: StoredAlert) -> AlertState:
    """Where an alert at level 0 rests: resolved once it has fired, else normal."""
    return AlertState.RESOLVED if previous.last_notified_at is not None else AlertState.NORMAL


# --- observations (pure) --------------------------------------------------------------------


def readiness_observations(
    run: EvaluationRun,
    *,
    now: datetime,
    warn_fraction: Mapping[str, float] | None = None,
) -> list[Observation]:
    """Verdict, threshold and projection observations for every workload in `run`.

    `warn_fraction` by workload (default 0.8) places the warn boundary for hysteresis; the level
    itself comes from the criterion status the rules computed.
    """
    observations: list[Observation] = []
    for verdict in run.verdicts:
        metrics = run.metrics.get(verdict.workload)
        fraction = (warn_fraction or {}).get(verdict.workload, 0.8)
        observations.append(_verdict_observation(verdict))
        for criterion_id in THRESHOLD_CRITERIA:
            observation = _threshold_observation(verdict, criterion_id, fraction)
            if observation is not None:
                observations.append(observation)
        projected = _projection_observation(verdict, metrics, now)
        if projected is not None:
            observations.append(projected)
    return observations


_VERDICT_TITLES = {
    VerdictLevel.READY: "ready to fine-tune",
    VerdictLevel.APPROACHING: "approaching fine-tuning territory",
    VerdictLevel.PROMPT_ENGINEERING: "stay with prompt engineering",
}


def _verdict_observation(verdict: Verdict) -> Observation:
    level = verdict.level.rank
    return Observation(
        workload=verdict.workload,
        kind=AlertKind.VERDICT_CHANGED,
        subject="",
        level=level,
        hold=level,
        title=_VERDICT_TITLES[verdict.level],
        detail=verdict.summary,
        value=verdict.level.value,
    )


def _threshold_observation(verdict: Verdict, criterion_id: str, warn_fraction: float) -> Observation | None:
    criterion = verdict.criterion(criterion_id)
    if criterion is None:
        return None
    level = {CriterionStatus.MET: 2, CriterionStatus.WARN: 1}.get(criterion.status, 0)
    value, threshold = criterion.value, criterion.threshold
    hold = level
    if _is_number(value) and _is_number(threshold) and threshold > 0:
        keep = 1 - HYSTERESIS
        if value >= threshold * keep:
            hold = 2
        elif value >= threshold * warn_fraction * keep:
            hold = max(hold, 1)
    label = _criterion_label(criterion_id)
    unit = " calls/month" if criterion_id == "monthly_calls" else ""
    if level == 2:
        title = f"{label} crossed the {_number(threshold)}{unit} threshold"
    elif level == 1:
        known = _is_number(value) and _is_number(threshold) and threshold
        share = f"{int(value * 100 // threshold)}% of " if known else ""
        title = f"{label} at {share}the {_number(threshold)}{unit} threshold"
    else:
        title = f"{label} below the warn level of the {_number(threshold)}{unit} threshold"
    return Observation(
        workload=verdict.workload,
        kind=AlertKind.THRESHOLD_CROSSED,
        subject=criterion_id,
        level=level,
        hold=hold,
        title=title,
        detail=criterion.message,
        value=value,
        threshold=threshold,
    )


def _projection_observation(verdict: Verdict, metrics: WorkloadMetrics | None, now: datetime) -> Observation | None:
    calls = verdict.criterion("monthly_calls")
    projection = metrics.projection if metrics else None
    if calls is None or projection is None:
        return None
    crossed = calls.status is CriterionStatus.MET or projection.already_crossed
    days = (projection.crossing_date - now.date()).days if projection.crossing_date else None
    within = days is not None and 0 <= days <= PROJECTION_HORIZON_DAYS
    holds = days is not None and 0 <= days <= PROJECTION_HORIZON_DAYS * (1 + HYSTERESIS * 4)
    level = 1 if within and not crossed else 0
    threshold = calls.threshold
    when = projection.crossing_date.isoformat() if projection.crossing_date else "no date"
    if level:
        title = f"monthly volume projected to cross {_number(threshold)} calls/month by {when}"
        detail = (
            f"On the trend of the last {projection.basis} (+{projection.slope_per_month:,.0f} calls/month), "
            f"monthly volume crosses the {_number(threshold)} threshold around {when}, "
            f"within {days} days. {calls.message}"
        )
    else:
        title = (
            f"monthly volume no longer projected to cross {_number(threshold)} calls/month "
            f"within {PROJECTION_HORIZON_DAYS} days"
        )
        detail = calls.message
    return Observation(
        workload=verdict.workload,
        kind=AlertKind.PROJECTED_CROSSING,
        subject="monthly_calls",
        level=level,
        hold=1 if holds and not crossed else level,
        title=title,
        detail=detail,
        value=when if projection.crossing_date else None,
        threshold=threshold,
        silent=crossed,  # the threshold alert says it now
    )


def operational_observations(
    settings: Settings,
    marks: Sequence[Mapping[str, Any]],
    quarantined: Mapping[str, Mapping[date, int]],
    *,
    now: datetime,
) -> list[Observation]:
    """Sync-failing, stale-data and quarantine-spike observations for every configured source.

    `marks` are `watermarks` rows; `quarantined` is rows quarantined per source per day (UTC).
    """
    observations: list[Observation] = []
    for source in (s.name for s in settings.sources):
        rows = [m for m in marks if m["source"] == source]
        if rows:
            observations.append(_sync_failing(source, rows))
            stale = _data_stale(source, rows, settings.schedule.sync_every, now)
            if stale is not None:
                observations.append(stale)
        observations.append(_quarantine_spike(source, quarantined.get(source, {}), now.date()))
    return observations


def _sync_failing(source: str, rows: Sequence[Mapping[str, Any]]) -> Observation:
    worst = max(rows, key=lambda r: int(r.get("consecutive_failures") or 0))
    failures = int(worst.get("consecutive_failures") or 0)
    level = 1 if failures >= SYNC_FAILURES_ALERT else 0
    error = worst.get("last_error") or "no error recorded"
    return Observation(
        workload="",
        kind=AlertKind.SYNC_FAILING,
        subject=source,
        level=level,
        hold=1 if failures else 0,  # once firing, only a successful sync resolves it
        title=f"sync of source {source} failed {failures} times in a row"
        if failures
        else f"sync of source {source} succeeds again",
        detail=f"Last error: {error}" if failures else "The last sync succeeded.",
        value=failures,
        threshold=SYNC_FAILURES_ALERT,
    )


def _data_stale(
    source: str, rows: Sequence[Mapping[str, Any]], sync_every: timedelta, now: datetime
) -> Observation | None:
    successes = [r["last_success_at"] for r in rows if r.get("last_success_at") is not None]
    if not successes:
        return None  # never synced successfully: the sync-failing alert covers it
    last = max(successes)
    age = now - last
    limit = STALE_SYNC_INTERVALS * sync_every
    level = 1 if age > limit else 0
    return Observation(
        workload="",
        kind=AlertKind.DATA_STALE,
        subject=source,
        level=level,
        hold=level,
        title=f"data from source {source} is stale: last successful sync {_ago(age)} ago"
        if level
        else f"data from source {source} is fresh again",
        detail=(
            f"The last successful sync of {source} was at {last:%Y-%m-%d %H:%M} UTC, more than "
            f"{STALE_SYNC_INTERVALS} sync intervals ({_ago(limit)}) ago; verdicts use old data."
            if level
            else f"The last successful sync of {source} was at {last:%Y-%m-%d %H:%M} UTC."
        ),
        value=age.total_seconds(),
        threshold=limit.total_seconds(),
    )


def _quarantine_spike(source: str, per_day: Mapping[date, int], today: date) -> Observation:
    recent = sum(n for d, n in per_day.items() if today - timedelta(days=1) <= d <= today)
    before = sum(n for d, n in per_day.items() if today - timedelta(days=15) <= d < today - timedelta(days=1))
    baseline = before / 7  # the 14 days before, per 2 days
    limit = max(QUARANTINE_SPIKE_MIN_ROWS, QUARANTINE_SPIKE_FACTOR * baseline)
    level = 1 if recent >= limit else 0
    return Observation(
        workload="",
        kind=AlertKind.QUARANTINE_SPIKE,
        subject=source,
        level=level,
        hold=level,
        title=f"quarantine spike in source {source}: {recent:,} rows in 2 days"
        if level
        else f"quarantined rows in source {source} are back to normal",
        detail=(
            f"{recent:,} rows from {source} were quarantined in the last 2 days, against an average of "
            f"{baseline:,.0f} per 2 days over the 14 days before; see the data-quality section of the report."
        ),
        value=recent,
        threshold=round(limit),
    )


# --- routing ----------------------------------------------------------------------------------


def channel_for(settings: Settings, workload: str) -> str:
    """The workload's `slack_channel`, else `alerts.slack.default_channel` (operational alerts too)."""
    if workload:
        channel = settings.workload(workload).slack_channel
        if channel:
            return channel
    return settings.alerts.slack.default_channel


# --- I/O edge ---------------------------------------------------------------------------------


def process_evaluation(
    settings: Settings,
    store: Store,
    run: EvaluationRun,
    *,
    now: datetime | None = None,
) -> list[Notification]:
    """Step every alert for `run` and enqueue the notifications, in ONE store transaction.

    Returns the notifications enqueued (more than 5 for one channel go out as one digest).
    Processing the same evaluation twice changes nothing the second time.
    """
    from monitor import outbox, slack  # slack builds the messages; outbox stores them

    now = now or utcnow()
    policy = Policy(
        pending_evaluations=settings.alerts.pending_evaluations,
        repeat_interval=settings.alerts.repeat_interval,
        send_resolved=settings.alerts.send_resolved,
    )
    fractions = _warn_fractions(settings, [v.workload for v in run.verdicts])
    with store.transaction() as conn:
        stored = {
            row["fingerprint"]: StoredAlert.from_row(row)
            for row in conn.execute(sa.select(alert_states).with_for_update()).mappings()
        }
        observations = readiness_observations(run, now=now, warn_fraction=fractions)
        marks, quarantined = load_watermarks(conn), load_quarantine(conn, now.date())
        observations += operational_observations(settings, marks, quarantined, now=now)
        notifications = _step_all(settings, run, stored, observations, policy, now=now)
        for changed in notifications.states:
            if changed.fingerprint in stored:
                where = alert_states.c.fingerprint == changed.fingerprint
                conn.execute(alert_states.update().where(where).values(changed.to_row()))
            else:
                conn.execute(alert_states.insert().values(changed.to_row()))
        for message in slack.outbox_messages(notifications.notifications, settings):
            outbox.enqueue(
                conn, kind=message.kind, channel=message.channel, payload=message.payload,
                now=now, fingerprint=message.fingerprint,
            )  # fmt: skip
    for n in notifications.notifications:
        log.info("alert %s %s: %s", n.event.value, n.fingerprint, n.title, extra={"workload": n.workload})
    return notifications.notifications


@dataclass(frozen=True)
class _Stepped:
    states: list[StoredAlert]  # rows to write
    notifications: list[Notification]


def _step_all(
    settings: Settings,
    run: EvaluationRun,
    stored: Mapping[str, StoredAlert],
    observations: Iterable[Observation],
    policy: Policy,
    *,
    now: datetime,
) -> _Stepped:
    by_fingerprint = {o.fingerprint: o for o in observations}
    workloads = {v.workload for v in run.verdicts}
    sources = {s.name for s in settings.sources}
    keys: dict[str, tuple[str, AlertKind, str]] = {
        fp: (o.workload, o.kind, o.subject) for fp, o in by_fingerprint.items()
    }
    for fp, alert in stored.items():
        # An alert nobody observed this time is cleared only when its subject was evaluated
        # (a workload or source that vanished from the data keeps its last state).
        if fp not in keys and ((alert.workload in workloads) or (alert.kind.operational and alert.subject in sources)):
            keys[fp] = (alert.workload, alert.kind, alert.subject)
    states: list[StoredAlert] = []
    notifications: list[Notification] = []
    for fp, key in keys.items():
        previous = stored.get(fp)
        observation = by_fingerprint.get(fp)
        prior = None
        if previous is None and key[1] is AlertKind.VERDICT_CHANGED and key[0] in run.previous:
            prior = run.previous[key[0]].rank
            prior = prior if observation is not None and prior == observation.level else None
        new, event = step(
            previous, observation, policy, now=now, evaluated_at=run.evaluated_at, key=key, prior_level=prior
        )
        if new is None or new == previous:
            continue
        states.append(new)
        if event is None:
            continue
        workload, kind, subject = key
        old_level = previous.level if previous else 0
        notifications.append(
            Notification(
                fingerprint=fp,
                workload=workload,
                kind=kind,
                subject=subject,
                event=event,
                level=new.level_name,
                previous_level=kind.levels[old_level],
                severity=new.severity or Severity.INFO,
                title=_event_title(kind, event, new, old_level),
                detail=new.detail,
                channel=channel_for(settings, workload),
                at=now,
                value=new.value,
                threshold=new.threshold,
                verdict=run.verdict(workload) if workload else None,
                metrics=run.metrics.get(workload) if workload else None,
            )
        )
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    notifications.sort(key=lambda n: (n.channel, order[n.severity], n.workload, n.kind.value, n.subject))
    return _Stepped(states, notifications)


def _event_title(kind: AlertKind, event: Event, state: StoredAlert, old_level: int) -> str:
    if kind is AlertKind.VERDICT_CHANGED:
        old = kind.levels[old_level].replace("_", " ")
        if event is Event.REMINDER:
            return f"still {state.title}"
        if event in (Event.DEESCALATED, Event.RESOLVED):
            return f"back down from {old}: {state.title}"
        return state.title
    if event is Event.REMINDER:
        return f"still firing: {state.title}"
    return state.title


def load_watermarks(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(watermarks)).mappings()]


def load_quarantine(conn: Connection, today: date) -> dict[str, dict[date, int]]:
    """Rows quarantined per source per day over the last 16 days (enough for the spike baseline)."""
    since = today - timedelta(days=15)
    query = (
        sa.select(quarantine.c.source, quarantine.c.day, sa.func.sum(quarantine.c.rows))
        .where(quarantine.c.day.is_not(None), quarantine.c.day >= since)
        .group_by(quarantine.c.source, quarantine.c.day)
    )
    result: dict[str, dict[date, int]] = {}
    for source, day, rows in conn.execute(query):
        result.setdefault(source, {})[day] = int(rows or 0)
    return result


def list_alert_states(conn: Connection) -> list[StoredAlert]:
    """Every stored alert, firing first (for `ftready alerts` and the report)."""
    rows = [StoredAlert.from_row(r) for r in conn.execute(sa.select(alert_states)).mappings()]
    rank = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2, AlertState.NORMAL: 3}
    return sorted(rows, key=lambda a: (rank[a.state], a.workload, a.kind.value, a.subject))


def _warn_fractions(settings: Settings, workloads: Sequence[str]) -> dict[str, float]:
    """Each workload's warn_fraction (for hysteresis only; 0.8 when the pack cannot be read,
    in which case the evaluation that produced the run has already reported why)."""
    try:
        pack = load_rule_pack(settings.rules)
        return {w: float(pack.with_overrides(settings.workload(w).thresholds).warn_fraction) for w in workloads}
    except ConfigError:
        return {}


def _criterion_label(criterion_id: str) -> str:
    criterion = CRITERIA.get(criterion_id)
    return criterion.label if criterion else criterion_id.replace("_", " ")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (float, Decimal)):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    return str(value)


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"


