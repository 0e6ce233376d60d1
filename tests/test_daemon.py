"""The daemon's triggers, catch-up, job runner and scheduler wiring, driven by a fake clock.

No test here waits for real time: triggers are asked for their next fire times, jobs are run
directly with `Daemon.run_job`, and the one real BlockingScheduler is stopped before it starts.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

import monitor.daemon as daemon_module
from monitor.daemon import (
    CATCH_UP_STAGGER,
    HOUSEKEEPING,
    INTERRUPTED,
    JOB_DEFAULTS,
    OUTBOX,
    REPORT,
    SYNC,
    Daemon,
    Service,
    WallClockCronTrigger,
    job_triggers,
    sync_jitter,
)
from monitor.errors import ConfigError
from monitor.lease import Lease
from monitor.settings import Settings, settings_from_dict
from monitor.store import Store, evaluations, job_runs, outbox, report_runs, watermarks
from monitor.sync import sync_all
from tests.conftest import NOW
from tests.daemon_support import (
    DemoWarehouse,
    FakeClock,
    RecordingNotifier,
    build_small_demo,
    demo_settings,
    warehouse_down,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def schedule_settings(**schedule: Any) -> Settings:
    raw = {"sources": [{"name": "wh", "url": "sqlite:///unused.db", "calls": {"table": "calls"}}], "schedule": schedule}
    return settings_from_dict(raw, env={}, origin="test")


def fire_times(trigger: Any, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `start`, as the scheduler asks for them."""
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        times.append(fire)
        previous = now = fire
    return times


# --- triggers --------------------------------------------------------------------------------


def test_the_weekly_report_stays_at_8_local_across_the_october_dst_change() -> None:
    settings = schedule_settings(timezone="Europe/Berlin", weekly_report="mon 08:00")
    trigger = job_triggers(settings, now=NOW)[REPORT]
    start = datetime(2026, 10, 13, 12, 0, tzinfo=UTC)  # a Tuesday, CEST (UTC+2)
    fires = fire_times(trigger, start, 3)
    assert [f.astimezone(UTC) for f in fires] == [
        datetime(2026, 10, 19, 6, 0, tzinfo=UTC),  # 08:00 CEST
        datetime(2026, 10, 26, 7, 0, tzinfo=UTC),  # 08:00 CET: clocks went back on Sunday the 25th
        datetime(2026, 11, 2, 7, 0, tzinfo=UTC),
    ]
    assert all(f.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 08:00" for f in fires)
    assert fires[1].astimezone(UTC) - fires[0].astimezone(UTC) == timedelta(days=7, hours=1)


def test_the_weekly_report_stays_at_8_local_across_the_march_dst_change() -> None:
    settings = schedule_settings(timezone="Europe/Berlin", weekly_report="monday 8:00")
    fires = fire_times(job_triggers(settings, now=NOW)[REPORT], datetime(2026, 3, 24, tzinfo=UTC), 2)
    assert [f.astimezone(UTC) for f in fires] == [
        datetime(2026, 3, 30, 6, 0, tzinfo=UTC),  # 08:00 CEST, after the switch on the 29th
        datetime(2026, 4, 6, 6, 0, tzinfo=UTC),
    ]


def test_a_wall_clock_time_that_occurs_twice_fires_once() -> None:
    """Sunday 02:30 happens twice in Berlin on 2026-10-25; APScheduler's CronTrigger fires at both."""
    settings = schedule_settings(timezone="Europe/Berlin", weekly_report="sun 02:30")
    fires = fire_times(job_triggers(settings, now=NOW)[REPORT], datetime(2026, 10, 20, tzinfo=UTC), 3)
    assert [f.astimezone(BERLIN).date().isoformat() for f in fires] == ["2026-10-25", "2026-11-01", "2026-11-08"]
    daily = WallClockCronTrigger(hour=2, minute=30, timezone=BERLIN)
    days = [f.astimezone(BERLIN).date().day for f in fire_times(daily, datetime(2026, 10, 23, tzinfo=UTC), 4)]
    assert days == [23, 24, 25, 26]


def test_the_report_trigger_uses_day_names() -> None:
    trigger = job_triggers(schedule_settings(weekly_report="fri 17:45"), now=NOW)[REPORT]
    assert "day_of_week='fri'" in repr(trigger)
    fire = trigger.get_next_fire_time(None, NOW)  # NOW is Saturday 2026-11-28
    assert fire == datetime(2026, 12, 4, 17, 45, tzinfo=ZoneInfo("UTC"))


def test_interval_jobs_start_one_interval_after_now_and_the_sync_has_jitter() -> None:
    triggers = job_triggers(schedule_settings(sync_every="1h"), now=NOW)
    sync = triggers[SYNC]
    assert isinstance(sync, IntervalTrigger)
    assert sync.interval == timedelta(hours=1)
    assert sync.jitter == 300  # a tenth of the interval, capped at 5 min
    for _ in range(20):
        first = sync.get_next_fire_time(None, NOW)
        assert NOW + timedelta(hours=1) <= first <= NOW + timedelta(hours=1, minutes=5)
    assert triggers[OUTBOX].get_next_fire_time(None, NOW) == NOW + timedelta(minutes=1)
    assert triggers[OUTBOX].interval == timedelta(minutes=1)
    assert sync_jitter(timedelta(minutes=10)) == 60
    assert sync_jitter(timedelta(seconds=5)) == 0


def test_housekeeping_runs_daily_at_its_local_time() -> None:
    settings = schedule_settings(timezone="America/New_York", housekeeping={"at": "04:15"})
    fires = fire_times(job_triggers(settings, now=NOW)[HOUSEKEEPING], datetime(2026, 10, 31, tzinfo=UTC), 3)
    local = [f.astimezone(ZoneInfo("America/New_York")) for f in fires]
    assert [f.strftime("%m-%d %H:%M") for f in local] == ["10-31 04:15", "11-01 04:15", "11-02 04:15"]
    utc = [f.astimezone(UTC) for f in fires]
    assert utc[2] - utc[1] == timedelta(hours=24)
    assert utc[1] - utc[0] == timedelta(hours=25)  # US clocks went back on Nov 1


# --- fixtures for the job runner -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoWarehouse:
    return build_small_demo(tmp_path_factory.mktemp("demo"), now=NOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture(scope="module")
def synced_state(demo: DemoWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state store after its first (backfill) sync at NOW: tests copy it instead of re-syncing."""
    path = tmp_path_factory.mktemp("synced") / "state.db"
    settings = demo_settings(demo, store_url=f"sqlite:///{path}", reports_dir=path.parent)
    store = Store(settings.store_url)
    sync_all(settings, store, now=NOW)
    store.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def settings(demo: DemoWarehouse, tmp_path: Path) -> Settings:
    """An empty state store: nothing synced yet."""
    return demo_settings(demo, store_url=f"sqlite:///{tmp_path / 'state.db'}", reports_dir=tmp_path / "reports")


@pytest.fixture
def synced_settings(settings: Settings, synced_state: Path, tmp_path: Path) -> Settings:
    """A state store synced at NOW (the warehouse's first backfill is done, no evaluation yet)."""
    shutil.copy(synced_state, tmp_path / "state.db")
    return settings


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.store_url)
    yield store
    store.dispose()


@pytest.fixture
def daemon(settings: Settings, store: Store, clock: FakeClock) -> Daemon:
    return Daemon(settings, store, holder="A", clock=clock, notifier=RecordingNotifier())


@pytest.fixture
def synced(synced_settings: Settings, clock: FakeClock) -> Iterator[Daemon]:
    """A daemon (holder A) on a store whose first sync is done."""
    store = Store(synced_settings.store_url)
    yield Daemon(synced_settings, store, holder="A", clock=clock, notifier=RecordingNotifier())
    store.dispose()


def job_run(store: Store, job: str) -> dict[str, Any] | None:
    with store.read() as conn:
        row = conn.execute(sa.select(job_runs).where(job_runs.c.job == job)).mappings().first()
    return dict(row) if row else None


def count(store: Store, table: sa.Table, *where: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


# --- catch-up ----------------------------------------------------------------------------------


def test_a_fresh_store_catches_up_the_sync_then_the_missing_report(daemon: Daemon, clock: FakeClock) -> None:
    tick = daemon.tick()  # NOW is Saturday: this week's Monday 08:00 report is overdue
    assert tick.leader and tick.became_leader
    assert tick.catch_up == (SYNC, REPORT)
    assert daemon.tick() == daemon_module.Tick(leader=True)  # no second catch-up while leading


def test_no_catch_up_when_the_sync_is_recent_and_the_report_was_written(daemon: Daemon, store: Store) -> None:
    with store.transaction() as conn:
        store.save_watermark(conn, "demo", "calls", last_attempt_at=NOW - timedelta(minutes=59))
        store.save_watermark(conn, "demo", "examples", last_attempt_at=NOW - timedelta(hours=3))
        conn.execute(
            report_runs.insert().values(
                week="2026-W48", path="r.html", generated_at=datetime(2026, 11, 23, 8, 1, tzinfo=UTC)
            )
        )
    assert daemon.catch_up(NOW) == ()
    assert daemon.catch_up(NOW + timedelta(minutes=1)) == (SYNC,)  # one interval since the last attempt


def test_a_report_generated_before_its_scheduled_time_does_not_count(daemon: Daemon, store: Store) -> None:
    with store.transaction() as conn:  # e.g. `ftready report` run by hand on Monday morning
        conn.execute(
            report_runs.insert().values(
                week="2026-W48", path="r.html", generated_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
            )
        )
    assert daemon.report_missing(NOW)
    assert not daemon.report_missing(datetime(2026, 11, 23, 7, 59, tzinfo=UTC))  # not due yet


def test_catch_up_of_the_report_uses_the_schedule_zone(demo: DemoWarehouse, tmp_path: Path) -> None:
    settings = demo_settings(
        demo, store_url=f"sqlite:///{tmp_path / 's.db'}", reports_dir=tmp_path, timezone="Europe/Berlin"
    )
    daemon = Daemon(settings, Store(settings.store_url), holder="A", clock=FakeClock(NOW), notifier=RecordingNotifier())
    monday = datetime(2026, 10, 26, tzinfo=UTC)  # the first Monday after the October change
    assert daemon.report_due_at(monday + timedelta(hours=12)) == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    assert not daemon.report_missing(datetime(2026, 10, 26, 6, 59, tzinfo=UTC))
    assert daemon.report_missing(datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin: the new week, whose report is not due yet
    assert not daemon.report_missing(datetime(2026, 11, 1, 23, 30, tzinfo=UTC))


def test_a_source_never_synced_makes_the_sync_overdue(demo: DemoWarehouse, tmp_path: Path) -> None:
    raw_settings = demo_settings(demo, store_url=f"sqlite:///{tmp_path / 's.db'}", reports_dir=tmp_path)
    second = raw_settings.sources[0].model_copy(update={"name": "second"})
    settings = raw_settings.model_copy(update={"sources": [raw_settings.sources[0], second]})
    store = Store(settings.store_url)
    with store.transaction() as conn:
        store.save_watermark(conn, "demo", "calls", last_attempt_at=NOW)
    daemon = Daemon(settings, store, holder="A", clock=FakeClock(NOW), notifier=RecordingNotifier())
    assert daemon.sync_overdue(NOW)


def test_a_new_leader_marks_runs_its_predecessor_left_running_as_interrupted(daemon: Daemon, store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(
            job_runs.insert().values(
                job=SYNC, last_started_at=NOW - timedelta(minutes=3), last_status="running", consecutive_failures=0
            )
        )
    daemon.tick()
    row = job_run(store, SYNC)
    assert row is not None
    assert (row["last_status"], row["last_error"], row["consecutive_failures"]) == ("failed", INTERRUPTED, 1)


# --- the job runner ----------------------------------------------------------------------------


def test_the_sync_cycle_syncs_evaluates_alerts_and_records_its_run(
    daemon: Daemon, store: Store, clock: FakeClock
) -> None:
    daemon.tick()
    daemon.next_run_time = lambda job: NOW + timedelta(hours=1)
    result = daemon.run_job(SYNC)
    assert result.status == "ok", result.detail
    assert "1 source(s) synced" in result.detail and "alert(s) queued" in result.detail
    assert count(store, evaluations, evaluations.c.evaluated_at == NOW) == 6
    assert count(store, outbox, outbox.c.status == "pending") > 0  # the first evaluation raises alerts
    row = job_run(store, SYNC)
    assert row == {
        "job": SYNC,
        "last_started_at": NOW,
        "last_finished_at": NOW,
        "last_status": "ok",
        "last_error": None,
        "consecutive_failures": 0,
        "next_run_at": NOW + timedelta(hours=1),
    }


def test_a_follower_does_nothing(daemon: Daemon, settings: Settings, store: Store, clock: FakeClock) -> None:
    daemon.tick()
    follower = Daemon(settings, store, holder="B", clock=clock, notifier=RecordingNotifier())
    assert not follower.tick().leader
    for job in (SYNC, OUTBOX, REPORT, HOUSEKEEPING):
        assert follower.run_job(job).status == "skipped"
    assert job_run(store, SYNC) is None
    assert count(store, evaluations) == 0


def test_a_failing_warehouse_fails_the_sync_once_per_run_and_not_the_other_jobs(
    synced: Daemon, demo: DemoWarehouse, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, store = synced, synced.store
    daemon.tick()
    assert daemon.run_job(SYNC).status == "ok"
    with warehouse_down(demo):
        for failures in (1, 2, 3):
            clock.advance(timedelta(hours=1))
            daemon.tick()
            caplog.clear()
            with caplog.at_level(logging.INFO):
                result = daemon.run_job(SYNC)
            assert result.status == "failed"
            assert "source 'demo'" in result.detail or "demo" in result.detail
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and errors[0].job == SYNC  # type: ignore[attr-defined]
            assert "failed" in errors[0].getMessage() and "on the data already in the store" in errors[0].getMessage()
            row = job_run(store, SYNC)
            assert row is not None and row["last_status"] == "failed" and row["consecutive_failures"] == failures
            # the evaluation still ran on the data the store has
            assert count(store, evaluations, evaluations.c.evaluated_at == clock.now) == 6
        # the other jobs are unaffected
        assert daemon.run_job(OUTBOX).status == "ok"
        assert daemon.run_job(REPORT).status == "ok"
        assert daemon.run_job(HOUSEKEEPING).status == "ok"
        with store.read() as conn:
            mark = conn.execute(sa.select(watermarks).where(watermarks.c.kind == "calls")).mappings().one()
        assert mark["consecutive_failures"] == 3 and mark["last_success_at"] == NOW
        with store.read() as conn:
            kinds = [r.kind for r in conn.execute(sa.select(outbox.c.kind, outbox.c.fingerprint))]
            fingerprints = [r[0] for r in conn.execute(sa.select(outbox.c.fingerprint))]
        assert any(fp and fp.startswith("sync_failing:") for fp in fingerprints), kinds  # raised after 3 failures
    clock.advance(timedelta(hours=1))
    daemon.tick()
    assert daemon.run_job(SYNC).status == "ok"
    row = job_run(store, SYNC)
    assert row is not None and (row["last_status"], row["consecutive_failures"], row["last_error"]) == ("ok", 0, None)


def test_an_unexpected_error_is_recorded_and_does_not_escape(
    demo: DemoWarehouse, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings = demo_settings(demo, store_url=f"sqlite:///{tmp_path / 's.db'}", reports_dir=blocker / "reports")
    store = Store(settings.store_url)
    daemon = Daemon(settings, store, holder="A", clock=clock, notifier=RecordingNotifier())
    daemon.tick()
    with caplog.at_level(logging.ERROR):
        result = daemon.run_job(REPORT)
    assert result.status == "failed"
    assert result.detail.startswith(("NotADirectoryError", "FileExistsError"))
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    row = job_run(store, REPORT)
    assert row is not None and row["last_status"] == "failed" and row["last_error"] == result.detail
    assert daemon.run_job(OUTBOX).status == "ok"


def test_the_weekly_report_job_writes_the_report_and_queues_its_digest_once(synced: Daemon, settings: Settings) -> None:
    daemon, store = synced, synced.store
    daemon.tick()
    result = daemon.run_job(REPORT)
    assert result.status == "ok", result.detail
    assert (Path(settings.reports.dir) / "2026-W48.html").exists()
    digests = count(store, outbox, outbox.c.kind == "report_digest")
    assert digests >= 1
    assert not daemon.report_missing(NOW)
    assert daemon.run_job(REPORT).status == "ok"  # re-running the week replaces files, never re-queues
    assert count(store, outbox, outbox.c.kind == "report_digest") == digests


def test_the_outbox_job_delivers_what_the_cycle_queued(synced: Daemon) -> None:
    daemon, store = synced, synced.store
    daemon.tick()
    daemon.run_job(SYNC)
    pending = count(store, outbox, outbox.c.status == "pending")
    result = daemon.run_job(OUTBOX)
    assert result.detail == f"{pending} sent, 0 to retry, 0 dead-lettered"
    assert len(daemon.notifier.sent) == pending  # type: ignore[attr-defined]
    assert daemon.run_job(OUTBOX).detail == ""  # nothing due: logged at DEBUG only


def test_housekeeping_applies_retention_but_keeps_the_latest_verdict_and_dead_letters(
    daemon: Daemon, store: Store
) -> None:
    old = NOW - timedelta(days=200)
    with store.transaction() as conn:
        rows = [("a", old), ("a", NOW - timedelta(days=1)), ("gone", old), ("gone", old + timedelta(days=1))]
        for workload, at in rows:
            conn.execute(
                evaluations.insert().values(
                    evaluated_at=at,
                    workload=workload,
                    verdict="prompt_engineering",
                    criteria=[],
                    blockers=[],
                    metrics={},
                )
            )
        for status, sent_at in (
            ("sent", NOW - timedelta(days=40)),
            ("sent", NOW - timedelta(days=2)),
            ("dead", None),
            ("pending", None),
        ):
            conn.execute(
                outbox.insert().values(
                    created_at=NOW - timedelta(days=60),
                    kind="alert",
                    payload={},
                    status=status,
                    attempts=1,
                    sent_at=sent_at,
                )
            )
    daemon.tick()
    result = daemon.run_job(HOUSEKEEPING)
    assert result.detail == "deleted 2 evaluation(s) and 1 sent notification(s) past retention"
    with store.read() as conn:
        left = sorted(
            (r.workload, r.evaluated_at)
            for r in conn.execute(sa.select(evaluations.c.workload, evaluations.c.evaluated_at))
        )
        statuses = sorted(r[0] for r in conn.execute(sa.select(outbox.c.status)))
    assert left == [("a", NOW - timedelta(days=1)), ("gone", old + timedelta(days=1))]  # "gone": its latest stays
    assert statuses == ["dead", "pending", "sent"]


def test_a_daemon_that_lost_the_lease_mid_cycle_does_not_alert(
    synced: Daemon, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, store = synced, synced.store
    """Paused past its lease between evaluating and alerting: the new leader acts, it does not."""
    daemon.tick()
    real_evaluate = daemon_module.evaluate_store

    def evaluate_then_pause(*args: Any, **kwargs: Any) -> Any:
        run = real_evaluate(*args, **kwargs)
        clock.advance(timedelta(minutes=5))
        assert Lease(store, "B", ttl=settings.schedule.lease_ttl).acquire(clock.now)
        return run

    monkeypatch.setattr(daemon_module, "evaluate_store", evaluate_then_pause)
    result = daemon.run_job(SYNC)
    assert result.status == "failed" and "took the leader lease over" in result.detail
    assert count(store, outbox) == 0
    assert count(store, evaluations) == 6  # its evaluation is stored history, harmless


def test_a_stale_daemon_never_overwrites_the_new_leaders_record(daemon: Daemon, store: Store) -> None:
    daemon.tick()
    with store.transaction() as conn:  # the new leader started its own run of the job meanwhile
        conn.execute(
            job_runs.insert().values(
                job=OUTBOX, last_started_at=NOW + timedelta(minutes=1), last_status="running", consecutive_failures=0
            )
        )
    daemon._record_finish(OUTBOX, NOW, daemon_module.JobResult(OUTBOX, "failed", "late"))
    row = job_run(store, OUTBOX)
    assert row is not None and row["last_status"] == "running"


def test_jobs_run_one_at_a_time_and_delivery_skips_instead_of_waiting(
    synced: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = synced
    daemon.tick()
    inside, release = threading.Event(), threading.Event()
    real_evaluate = daemon_module.evaluate_store

    def slow_evaluate(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert release.wait(30)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(daemon_module, "evaluate_store", slow_evaluate)
    worker = threading.Thread(target=daemon.run_job, args=(SYNC,))
    worker.start()
    try:
        assert inside.wait(30)
        assert daemon.run_job(OUTBOX, wait=False).detail == "another job is running"
    finally:
        release.set()
        worker.join(30)
    assert daemon.run_job(OUTBOX, wait=False).status == "ok"


def test_nothing_starts_once_the_daemon_is_stopping(daemon: Daemon, store: Store) -> None:
    daemon.tick()
    daemon.stopping = True
    assert daemon.run_job(SYNC).detail == "the daemon is stopping"
    assert job_run(store, SYNC) is None


def test_the_lease_heartbeat_survives_a_store_outage(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor.errors import StoreError

    assert daemon.tick().leader

    def down(_now: datetime) -> bool:
        raise StoreError("state store sqlite:///x: database is locked")

    monkeypatch.setattr(daemon.lease, "acquire", down)
    with caplog.at_level(logging.WARNING):
        assert daemon.tick().leader  # unknown: keep the role, jobs still check the lease themselves
        assert daemon.tick().leader
    assert len(caplog.records) == 1  # logged once per outage
    monkeypatch.undo()
    assert daemon.tick().leader


# --- the scheduler -----------------------------------------------------------------------------


def test_the_service_schedules_every_job_with_explicit_defaults(daemon: Daemon, store: Store) -> None:
    """A fresh store: the first tick takes the lease and catches up; stopped before it starts, the
    scheduler still adds its jobs (with the job defaults applied), shuts down and releases the lease."""
    assert JOB_DEFAULTS == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    service = Service(daemon)
    assert isinstance(service.scheduler, BlockingScheduler)
    service.stop()  # e.g. SIGTERM during start-up
    service.run()  # returns: no job ran, no wait
    jobs = service.jobs
    assert set(jobs) == {SYNC, OUTBOX, REPORT, HOUSEKEEPING}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.kwargs == {"wait": job.id != OUTBOX}
    assert jobs[SYNC].misfire_grace_time == 3600
    assert jobs[REPORT].misfire_grace_time is None  # however late, this week's report is due
    assert isinstance(jobs[REPORT].trigger, WallClockCronTrigger)
    assert jobs[SYNC].next_run_time == NOW  # caught up at once …
    assert jobs[REPORT].next_run_time == NOW + CATCH_UP_STAGGER  # … and the report after the sync
    assert not service.scheduler.running
    assert Lease(store, "B").current() is None  # released
    assert job_run(store, SYNC) is None  # nothing ran


def test_the_listener_logs_misses_and_errors_with_the_job_name(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(daemon)
    with caplog.at_level(logging.WARNING):
        service._on_job_event(JobExecutionEvent(EVENT_JOB_MISSED, SYNC, "default", NOW))
        service._on_job_event(
            JobExecutionEvent(EVENT_JOB_ERROR, OUTBOX, "default", NOW, exception=RuntimeError("boom"))
        )
    logged = [(r.levelname, r.job) for r in caplog.records]  # type: ignore[attr-defined]
    assert logged == [("WARNING", SYNC), ("ERROR", OUTBOX)]
    assert "missed its run" in caplog.records[0].getMessage()
    assert "RuntimeError: boom" in caplog.records[1].getMessage()


# --- the daemon's settings -----------------------------------------------------------------------


def test_daemon_settings_have_defaults_and_are_validated() -> None:
    schedule = schedule_settings().schedule
    assert schedule.lease_ttl == timedelta(seconds=60)
    assert (schedule.housekeeping.at, schedule.housekeeping.at_parts) == ("03:30", (3, 30))
    assert schedule.housekeeping.keep_evaluations == timedelta(days=180)
    assert schedule.housekeeping.keep_sent_notifications == timedelta(days=30)
    assert schedule_settings(housekeeping={"at": "4:05"}).schedule.housekeeping.at == "04:05"
    bad = {
        "lease_ttl": ({"lease_ttl": "5s"}, "between 10s and 1h"),
        "at": ({"housekeeping": {"at": "25:00"}}, "not a time of day"),
        "evaluations": ({"housekeeping": {"keep_evaluations": "7d"}}, "at least 14d"),
        "sent": ({"housekeeping": {"keep_sent_notifications": "2d"}}, "at least 7d"),
        "unknown": ({"housekeeping": {"keep_alerts": "30d"}}, "unknown key"),
    }
    for schedule_values, message in bad.values():
        with pytest.raises(ConfigError, match=message):
            schedule_settings(**schedule_values)
