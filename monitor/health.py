"""What `ftready status` reports: the leader, each job's last and next run, data freshness per
source, the outbox, and whether all of that is healthy (exit code 1 when not, for health checks).

`read_health` reads the store; `assess` is pure (rows in, verdict out) so every rule is tested
without a daemon. Error texts come from the store (sync errors, Slack errors, job errors) and pass
through `secret_scrubber` before they are shown: nothing here prints a password or token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.lease import DAEMON_LEASE, LeaseInfo, read_lease
from monitor.outbox import outbox_summary
from monitor.settings import Settings
from monitor.store import Store, job_runs, watermarks

JOB_NAMES = ("sync", "outbox", "weekly_report", "housekeeping")  # the daemon's jobs, in display order
STALE_INTERVALS = 2  # data is stale when the last successful sync is older than this many sync_every
PENDING_WARN_AFTER = timedelta(hours=1)  # a notification pending longer than this is worth a warning
_USERINFO = re.compile(r"(//[^:/@\s]+):[^@/\s]+@")  # user:password@ in any URL-like text


def secret_scrubber(settings: Settings) -> Callable[[str], str]:
    """A function that removes every secret the config holds (and any `user:password@`) from a text."""
    secrets: set[str] = set()
    urls = [settings.store_url] + [s.url.get_secret_value() for s in settings.sources if s.url is not None]
    for url in urls:
        try:
            password = make_url(url).password
        except ArgumentError:
            password = None
        if password:
            secrets.add(str(password))
    slack = settings.alerts.slack
    for secret in (slack.token, slack.webhook_url):
        if secret is not None and secret.get_secret_value():
            secrets.add(secret.get_secret_value())
    ordered = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)  # longest first

    def scrub(text: str) -> str:
        text = _USERINFO.sub(r"\1:***@", text)
        for secret in ordered:
            text = text.replace(secret, "***")
        return text

    return scrub


@dataclass(frozen=True)
class JobHealth:
    job: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None  # ok | failed | running | None (never ran)
    last_error: str | None
    consecutive_failures: int
    next_run_at: datetime | None

    @property
    def failing(self) -> bool:
        """Its last finished run failed (still true while a retry is running: no flapping health)."""
        return self.consecutive_failures > 0


@dataclass(frozen=True)
class SourceHealth:
    source: str
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    stale: bool


@dataclass(frozen=True)
class OutboxHealth:
    counts: Mapping[str, int]  # pending, sending, sent, dead
    oldest_pending_at: datetime | None


@dataclass(frozen=True)
class Health:
    checked_at: datetime
    store: str  # masked URL
    leader: LeaseInfo | None
    jobs: tuple[JobHealth, ...]
    sources: tuple[SourceHealth, ...]
    outbox: OutboxHealth
    stale_after: timedelta
    problems: tuple[str, ...]  # any problem makes the status unhealthy (exit code 1)
    warnings: tuple[str, ...]  # worth a look, but a restart would not fix them

    @property
    def healthy(self) -> bool:
        return not self.problems


def read_health(settings: Settings, store: Store, *, now: datetime) -> Health:
    with store.read() as conn:
        leader = read_lease(conn, DAEMON_LEASE)
        runs = [dict(r) for r in conn.execute(sa.select(job_runs)).mappings()]
        marks = [dict(r) for r in conn.execute(sa.select(watermarks)).mappings()]
        summary = outbox_summary(conn, limit=1)
    return assess(
        settings,
        leader=leader,
        runs=runs,
        marks=marks,
        outbox=OutboxHealth(summary.counts, summary.oldest_pending_at),
        now=now,
        store=store.display_url,
    )


def assess(
    settings: Settings,
    *,
    leader: LeaseInfo | None,
    runs: Sequence[Mapping[str, Any]],
    marks: Sequence[Mapping[str, Any]],
    outbox: OutboxHealth,
    now: datetime,
    store: str = "",
) -> Health:
    """Turn store rows (`job_runs`, `watermarks`, the lease, outbox counts) into a Health."""
    scrub = secret_scrubber(settings)
    stale_after = STALE_INTERVALS * settings.schedule.sync_every
    problems: list[str] = []
    warnings: list[str] = []

    if leader is None:
        problems.append("no daemon holds the leader lease: `ftready run` is not running against this store")
    elif not leader.alive(now):
        problems.append(
            f"the leader lease of {leader.holder} expired {age_text(now - leader.expires_at)} ago: "
            "its daemon stopped or hangs, and no replica has taken over"
        )

    by_job = {str(r["job"]): r for r in runs}
    jobs = tuple(_job(name, by_job.get(name), scrub) for name in (*JOB_NAMES, *sorted(set(by_job) - set(JOB_NAMES))))
    for job in jobs:
        if job.failing:
            times = f"{job.consecutive_failures} times in a row" if job.consecutive_failures > 1 else "on its last run"
            again = " (running again now)" if job.last_status == "running" else ""
            problems.append(f"job {job.job} failed {times}{again}: {job.last_error or 'no error recorded'}")

    sources = []
    for name in (s.name for s in settings.sources):
        rows = [m for m in marks if m["source"] == name]
        source = _source(name, rows, stale_after, now, scrub)
        sources.append(source)
        if source.stale:
            if source.last_success_at is None:
                problems.append(f"source {name} has never synced successfully")
            else:
                problems.append(
                    f"data from source {name} is stale: last successful sync {age_text(now - source.last_success_at)} "
                    f"ago (limit {age_text(stale_after)}, twice schedule.sync_every)"
                )

    dead = int(outbox.counts.get("dead", 0))
    if dead:
        warnings.append(
            f"{dead} notification(s) dead-lettered: see `ftready alerts`, fix the cause, "
            "then `ftready alerts --requeue-dead`"
        )
    if outbox.oldest_pending_at is not None and now - outbox.oldest_pending_at > PENDING_WARN_AFTER:
        pending = int(outbox.counts.get("pending", 0)) + int(outbox.counts.get("sending", 0))
        oldest = age_text(now - outbox.oldest_pending_at)
        warnings.append(f"{pending} notification(s) waiting, the oldest for {oldest}: is Slack reachable?")

    return Health(
        checked_at=now,
        store=store,
        leader=leader,
        jobs=jobs,
        sources=tuple(sources),
        outbox=outbox,
        stale_after=stale_after,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


def _job(name: str, row: Mapping[str, Any] | None, scrub: Callable[[str], str]) -> JobHealth:
    if row is None:
        return JobHealth(name, None, None, None, None, 0, None)
    error = row.get("last_error")
    return JobHealth(
        job=name,
        last_started_at=row.get("last_started_at"),
        last_finished_at=row.get("last_finished_at"),
        last_status=row.get("last_status"),
        last_error=scrub(error) if error else None,
        consecutive_failures=int(row.get("consecutive_failures") or 0),
        next_run_at=row.get("next_run_at"),
    )


def _source(
    name: str, rows: Sequence[Mapping[str, Any]], stale_after: timedelta, now: datetime, scrub: Callable[[str], str]
) -> SourceHealth:
    successes = [r["last_success_at"] for r in rows if r.get("last_success_at") is not None]
    attempts = [r["last_attempt_at"] for r in rows if r.get("last_attempt_at") is not None]
    worst = max(rows, key=lambda r: int(r.get("consecutive_failures") or 0), default=None)
    error = worst.get("last_error") if worst else None
    last_success = max(successes, default=None)
    return SourceHealth(
        source=name,
        last_success_at=last_success,
        last_attempt_at=max(attempts, default=None),
        consecutive_failures=int(worst.get("consecutive_failures") or 0) if worst else 0,
        last_error=scrub(error) if error else None,
        stale=last_success is None or now - last_success > stale_after,
    )


def health_to_json(health: Health) -> dict[str, Any]:
    """The `ftready status --json` document (times in UTC, ISO 8601)."""
    leader = health.leader
    return {
        "healthy": health.healthy,
        "checked_at": _iso(health.checked_at),
        "store": health.store,
        "problems": list(health.problems),
        "warnings": list(health.warnings),
        "leader": {
            "holder": leader.holder,
            "acquired_at": _iso(leader.acquired_at),
            "expires_at": _iso(leader.expires_at),
            "alive": leader.alive(health.checked_at),
        }
        if leader
        else None,
        "jobs": [
            {
                "job": j.job,
                "last_started_at": _iso(j.last_started_at),
                "last_finished_at": _iso(j.last_finished_at),
                "last_status": j.last_status,
                "last_error": j.last_error,
                "consecutive_failures": j.consecutive_failures,
                "next_run_at": _iso(j.next_run_at),
                "failing": j.failing,
            }
            for j in health.jobs
        ],
        "sources": [
            {
                "source": s.source,
                "last_success_at": _iso(s.last_success_at),
                "last_attempt_at": _iso(s.last_attempt_at),
                "age_seconds": round((health.checked_at - s.last_success_at).total_seconds())
                if s.last_success_at
                else None,
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
                "stale": s.stale,
            }
            for s in health.sources
        ],
        "stale_after_seconds": round(health.stale_after.total_seconds()),
        "outbox": {
            **{k: int(v) for k, v in health.outbox.counts.items()},
            "oldest_pending_at": _iso(health.outbox.oldest_pending_at),
        },
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def age_text(delta: timedelta) -> str:
    """A short human duration: 45 s, 12 min, 3 h 5 min, 2 days."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"
