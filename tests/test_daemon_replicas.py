"""Two daemons on one PostgreSQL store, driven by one fake clock over hours of schedule.

Each replica has its own Store (its own connection pool, as two processes would) and its own
copy of the real triggers; a small event loop advances the clock to the next due heartbeat or
job of either replica and runs it, the way the scheduler would (coalescing missed runs). The
script: A leads; the warehouse goes down long enough to raise "sync failing"; A is paused past
its lease (B takes over) and wakes up as a stale ex-leader; later B dies and A takes over again.
Every alert, reminder and digest must reach Slack exactly once, and only the leader may act.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import pairwise
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.daemon import HOUSEKEEPING, OUTBOX, REPORT, SYNC, Daemon, job_triggers
from monitor.settings import Settings
from monitor.store import Store, outbox
from tests.conftest import needs_postgres
from tests.daemon_support import (
    DemoWarehouse,
    FakeClock,
    RecordingNotifier,
    build_small_demo,
    demo_settings,
    warehouse_down,
)

pytestmark = needs_postgres

START = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # a Monday; the weekly report is due at 08:00
JOB_ORDER = (SYNC, REPORT, HOUSEKEEPING, OUTBOX)


def at(hh_mm: str) -> datetime:
    hour, minute = hh_mm.split(":")
    return START.replace(hour=int(hour), minute=int(minute))


@dataclass
class Replica:
    daemon: Daemon
    triggers: dict[str, Any]
    heartbeat: timedelta
    next_tick: datetime
    next_run: dict[str, datetime]
    asleep_until: datetime | None = None  # paused (GC, suspended VM); far future = dead
    ticks: list[tuple[datetime, bool]] = field(default_factory=list)  # (when, leader after the tick)
    acted: list[tuple[datetime, str, str]] = field(default_factory=list)  # (when, job, ok|failed)
    skipped: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.daemon.holder

    def next_event(self) -> datetime:
        due = min(self.next_tick, *self.next_run.values())
        return max(due, self.asleep_until) if self.asleep_until else due

    def act(self, now: datetime) -> None:
        """Whatever is due at `now`: the heartbeat, then jobs (each missed job runs once)."""
        if self.asleep_until and now < self.asleep_until:
            return
        if self.next_tick <= now:
            tick = self.daemon.tick()
            self.ticks.append((now, tick.leader))
            for job in tick.catch_up:  # the Service schedules these to run at once, in order
                self._run(job, now)
            self.next_tick = now + self.heartbeat
        for job in JOB_ORDER:
            if self.next_run[job] <= now:
                self._run(job, now)
                fire = self.next_run[job]
                while fire <= now:  # coalesce, as the scheduler does
                    fire = self.triggers[job].get_next_fire_time(fire, now)
                self.next_run[job] = fire

    def _run(self, job: str, now: datetime) -> None:
        result = self.daemon.run_job(job, wait=job != OUTBOX)
        if result.status == "skipped":
            self.skipped.append((now, job))
        else:
            self.acted.append((now, job, result.status))


def replica(settings: Settings, holder: str, clock: FakeClock) -> Replica:
    daemon = Daemon(settings, Store(settings.store_url), holder=holder, clock=clock, notifier=RecordingNotifier())
    triggers = job_triggers(settings, now=clock.now)
    return Replica(
        daemon=daemon,
        triggers=triggers,
        heartbeat=settings.schedule.lease_ttl / 6,
        next_tick=clock.now,
        next_run={job: trigger.get_next_fire_time(None, clock.now) for job, trigger in triggers.items()},
    )


def simulate(
    clock: FakeClock, replicas: list[Replica], script: dict[datetime, Callable[[], None]], end: datetime
) -> None:
    pending = sorted(script.items())
    while True:
        now = min([r.next_event() for r in replicas] + [t for t, _ in pending[:1]])
        if now > end:
            return
        clock.set(now)
        while pending and pending[0][0] <= now:
            pending.pop(0)[1]()
        for r in replicas:
            r.act(now)


@pytest.fixture
def demo(tmp_path: Path) -> DemoWarehouse:
    return build_small_demo(tmp_path / "demo", now=START)


@pytest.fixture
def fast_store_url(postgres_store_url: str) -> str:
    """The test's schema, with commits that do not wait for the disk (a test store, thrown away)."""
    url = sa.engine.make_url(postgres_store_url)
    options = f"{url.query['options']} -csynchronous_commit=off"
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.fixture
def replicas(demo: DemoWarehouse, fast_store_url: str, tmp_path: Path) -> Iterator[tuple[FakeClock, Replica, Replica]]:
    random.seed(6)  # the sync jitter
    settings = demo_settings(
        demo, store_url=fast_store_url, reports_dir=tmp_path / "reports", sync_every="30m", lease_ttl="5m"
    )
    settings = settings.model_copy(
        update={"alerts": settings.alerts.model_copy(update={"repeat_interval": timedelta(hours=2)})}
    )
    clock = FakeClock(START)
    a, b = replica(settings, "A", clock), replica(settings, "B", clock)
    yield clock, a, b
    for r in (a, b):
        r.daemon.store.dispose()


def test_two_daemons_send_every_alert_once_through_pause_outage_and_death(
    replicas: tuple[FakeClock, Replica, Replica], demo: DemoWarehouse
) -> None:
    clock, a, b = replicas
    ttl = a.daemon.settings.schedule.lease_ttl
    repeat = a.daemon.settings.alerts.repeat_interval
    outage = ExitStack()
    forever = START + timedelta(days=365)

    def pause_a() -> None:
        a.asleep_until = at("09:20")

    def kill_b() -> None:
        b.asleep_until = forever

    script = {
        at("07:10"): lambda: outage.enter_context(warehouse_down(demo)),
        at("08:05"): pause_a,
        at("08:50"): outage.close,
        at("10:15"): kill_b,
    }
    with outage:
        simulate(clock, [a, b], script, end=at("10:50"))

    # --- leadership: exactly one daemon acted at any time, and takeovers were prompt --------------
    timeline = sorted([(t, "A", job) for t, job, _ in a.acted] + [(t, "B", job) for t, job, _ in b.acted])
    blocks = [holder for i, (_, holder, _) in enumerate(timeline) if i == 0 or timeline[i - 1][1] != holder]
    assert blocks == ["A", "B", "A"], timeline
    a_last_renewal = max(t for t, leader in a.ticks if leader and t < at("08:05"))
    b_first = min(t for t, leader in b.ticks if leader)
    assert a_last_renewal + ttl <= b_first <= a_last_renewal + ttl + b.heartbeat
    b_last_renewal = max(t for t, leader in b.ticks if leader)
    a_back = min(t for t, leader in a.ticks if leader and t > at("09:20"))
    assert b_last_renewal + ttl <= a_back <= b_last_renewal + ttl + a.heartbeat
    # A woke up at 09:20 as a stale ex-leader: its overdue jobs were all refused, it did nothing
    assert [job for t, job in a.skipped if t == at("09:20")] == [SYNC, OUTBOX]
    assert not [t for t, _, _ in a.acted if at("08:05") <= t < a_back]
    assert b.skipped and all(t < b_first for t, _ in b.skipped)  # B stood by until it took over
    assert Counter(job for _, _, job in timeline)[REPORT] == 1

    # --- every queued notification went out exactly once ---------------------------------------
    with a.daemon.store.read() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings()]
    assert rows and all(r["status"] == "sent" and r["attempts"] == 1 for r in rows)
    delivered = a.daemon.notifier.sent + b.daemon.notifier.sent  # type: ignore[attr-defined]
    assert sorted(p["text"] for _, p in delivered) == sorted(r["payload"]["text"] for r in rows)

    # --- and each alert was raised once; reminders only after repeat_interval --------------------
    history: dict[str, list[tuple[datetime, str]]] = defaultdict(list)  # fingerprint → (queued at, event)
    for row in rows:
        for fingerprint in row["payload"].get("alerts", []):
            history[fingerprint].append((row["created_at"], row["payload"].get("event", "in a digest")))
    assert history, "the scaled-down rule pack raises readiness alerts"
    events = Counter((fingerprint, event) for fingerprint, items in history.items() for _, event in items)
    for fingerprint, items in history.items():
        assert events[(fingerprint, "firing")] <= 1, items
        times = [t for t, _ in items]
        assert len(times) == len(set(times)), items  # never twice for one evaluation
        for (earlier, _), (later, event) in pairwise(items):
            if event == "reminder":
                assert later - earlier >= repeat, items
    readiness = [fp for fp in history if not fp.startswith(("sync_failing:", "data_stale:", "quarantine_spike:"))]
    assert all(events[(fp, "reminder")] >= 1 for fp in readiness)  # 4 h 50 min with a 2 h repeat interval
    failing = [fp for fp in history if fp.startswith("sync_failing:")]
    assert len(failing) == 1
    assert events[(failing[0], "firing")] == 1 and events[(failing[0], "resolved")] == 1
    digests = [r["fingerprint"] for r in rows if r["kind"] == "report_digest"]
    assert digests and len(digests) == len(set(digests))  # one per channel for the week
