"""The daemon behind `ftready run`: scheduled jobs, a leader lease, catch-up and a graceful stop.

Three layers, so that each is tested without waiting:

- `job_triggers(settings, now=...)`: when each job fires, as APScheduler 3 triggers.
- `Daemon`: the job runner. `tick()` acquires or renews the leader lease (and, on becoming the
  leader, catches up); `run_job(name)` runs one job if this daemon holds the lease, records it in
  `job_runs` and never raises. Every time comes from its injectable `clock`.
- `Service`: the Daemon under a `BlockingScheduler` (in-memory job store: the jobs come from the
  config at start, the state that matters lives in our store), a lease heartbeat thread, and the
  SIGTERM/SIGINT handling of `serve()`.

Decisions worth knowing:

- Every daemon on a store runs the same schedule; a job does something only in the daemon holding
  the lease. Each job renews the lease (a compare-and-set) before it starts and again before the
  step that notifies people, so a daemon that was paused past its lease does not act on stale
  leadership. Beyond that, alert processing ignores an evaluation older than the state it would
  change, and a week's digest is queued once per channel.
- The lease is renewed by a heartbeat thread (every TTL/6), not by a scheduler job: it keeps
  being renewed while the scheduler shuts down and waits for a running job to finish.
- Jobs that read and write the store's data (the sync cycle, the report, housekeeping) run one at
  a time: the report never reads a half-finished cycle, and a SQLite store never sees two of our
  writers. Delivery skips its minute instead of queueing behind a long sync.
- A job's failure is recorded and logged once, with its cause, and never escapes: the scheduler
  keeps running. A failed sync still evaluates and alerts on the data the store has, so the
  operational alerts (sync failing, stale data) fire from the failures `sync_all` recorded.
- The sync interval has a jitter of up to a tenth of it (at most 5 min), so that many daemons on
  one warehouse do not all query it at the top of the hour.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Connection

from monitor.alerts import process_evaluation
from monitor.errors import FtreadyError, SourceError
from monitor.evaluate import evaluate_store
from monitor.health import JOB_NAMES, secret_scrubber
from monitor.lease import Lease, new_holder_id
from monitor.outbox import Notifier, default_notifier, deliver_outbox
from monitor.settings import Settings
from monitor.store import Store, evaluations, job_runs, outbox, report_runs, utcnow, watermarks
from monitor.sync import sync_all
from reports.publish import enqueue_digest, write_weekly_report
from reports.weeks import IsoWeek

log = logging.getLogger(__name__)

SYNC, OUTBOX, REPORT, HOUSEKEEPING = JOB_NAMES
OUTBOX_EVERY = timedelta(minutes=1)
MAX_SYNC_JITTER = timedelta(minutes=5)
CATCH_UP_STAGGER = timedelta(seconds=1)  # catch-up jobs start in order: the sync before the report
JOB_DEFAULTS: dict[str, Any] = {
    "coalesce": True,  # a run missed several times runs once
    "max_instances": 1,
    "misfire_grace_time": 3600,  # late by up to an hour (busy, suspended) still runs
}
INTERRUPTED = "interrupted: the daemon running it stopped before it finished"


class WallClockCronTrigger(CronTrigger):
    """A CronTrigger that fires once at a wall-clock time that occurs twice.

    When clocks fall back (Europe/Berlin, last Sunday of October, 03:00 → 02:00), APScheduler 3's
    CronTrigger fires at 02:30 CEST and again at 02:30 CET. The schedule means the wall-clock
    time, once: the second occurrence is skipped.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        if (
            fire is not None
            and previous_fire_time is not None
            and _wall(fire, self.timezone) == _wall(previous_fire_time, self.timezone)
        ):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def _wall(moment: datetime, tz: Any) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def sync_jitter(sync_every: timedelta) -> int:
    """Seconds of random delay added to each sync: a tenth of the interval, at most 5 min."""
    return int(min(sync_every / 10, MAX_SYNC_JITTER).total_seconds())


def job_triggers(settings: Settings, *, now: datetime) -> dict[str, BaseTrigger]:
    """When each job fires. Interval jobs first fire one interval after `now` (catch-up decides
    whether anything runs at once); the weekly report and housekeeping are wall-clock times in
    `schedule.timezone`, so they stay at 08:00 local across daylight-saving changes.

    APScheduler 3 computes each interval run from the previous (jittered) one, so syncs drift
    later by half the jitter on average: at most 5 min an hour, well inside the 2 × sync_every
    after which data counts as stale."""
    schedule = settings.schedule
    tz = ZoneInfo(schedule.timezone)
    day, hour, minute = schedule.weekly_report_parts
    housekeeping_hour, housekeeping_minute = schedule.housekeeping.at_parts
    return {
        SYNC: IntervalTrigger(
            seconds=int(schedule.sync_every.total_seconds()),
            start_date=now + schedule.sync_every,
            timezone=tz,
            jitter=sync_jitter(schedule.sync_every) or None,
        ),
        OUTBOX: IntervalTrigger(seconds=int(OUTBOX_EVERY.total_seconds()), start_date=now + OUTBOX_EVERY, timezone=tz),
        REPORT: WallClockCronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=tz),
        HOUSEKEEPING: WallClockCronTrigger(hour=housekeeping_hour, minute=housekeeping_minute, timezone=tz),
    }


@dataclass(frozen=True)
class JobResult:
    """What one `run_job` did. `detail` is the job's summary when ok ("" when there was nothing to
    do), the cause when failed, and why when skipped."""

    job: str
    status: str  # ok | failed | skipped (not the leader, stopping, or another job is running)
    detail: str = ""


@dataclass(frozen=True)
class Tick:
    """The outcome of one lease heartbeat."""

    leader: bool
    became_leader: bool = False
    catch_up: tuple[str, ...] = ()  # jobs to run now, in order (only when became_leader)


class LeaseLost(FtreadyError):
    """Another daemon took the leader lease over while this one was running a job."""


class Daemon:
    """Runs the jobs of one daemon process against the store, if and while it holds the lease."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.holder = holder or new_holder_id()
        self.clock = clock
        self.notifier = notifier or default_notifier(settings)
        self.lease = Lease(store, self.holder, ttl=settings.schedule.lease_ttl)
        self.stopping = False  # set by the Service on stop: jobs that have not started are skipped
        # the next run of a job, for `job_runs.next_run_at`; the Service plugs its scheduler in
        self.next_run_time: Callable[[str], datetime | None] = lambda _job: None
        self._jobs: dict[str, Callable[[datetime], str]] = {
            SYNC: self.sync_cycle,
            OUTBOX: self.deliver,
            REPORT: self.weekly_report,
            HOUSEKEEPING: self.housekeeping,
        }
        self._scrub = secret_scrubber(settings)
        self._busy = threading.Lock()
        self._role = "starting"  # starting | leader | follower: logged on change only
        self._store_trouble = False

    # -- the lease --------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """As of the last heartbeat; jobs do not rely on it, they renew the lease themselves."""
        return self._role == "leader"

    def tick(self) -> Tick:
        """Acquire or renew the leader lease. On becoming the leader, repair and decide the catch-up."""
        now = self.clock()
        try:
            held = self.lease.acquire(now)
            catch_up = self._take_over(now) if held and not self.is_leader else ()
            current = None if held or self._role == "follower" else self.lease.current()  # for the log line
            other = current.holder if current else None
        except Exception as exc:  # the heartbeat must survive a store outage; the role is unknown: keep it
            if not self._store_trouble:
                log.warning("cannot renew or take the leader lease: %s", self.describe_error(exc))
                self._store_trouble = True
            return Tick(leader=self.is_leader)
        if self._store_trouble:
            log.info("the leader lease works again")
            self._store_trouble = False
        previous, self._role = self._role, "leader" if held else "follower"
        if held and previous != "leader":
            log.info("%s is the leader; catching up: %s", self.holder, ", ".join(catch_up) or "nothing to catch up")
        elif not held and previous == "leader":
            log.warning("%s lost the leader lease to %s and waits", self.holder, other)
        elif not held and previous == "starting":
            log.info("%s waits: %s holds the leader lease", self.holder, other)
        return Tick(leader=held, became_leader=held and previous != "leader", catch_up=catch_up)

    def _take_over(self, now: datetime) -> tuple[str, ...]:
        with self.store.transaction() as conn:
            interrupted = conn.execute(
                job_runs.update()
                .where(job_runs.c.last_status == "running")
                .values(
                    last_status="failed",
                    last_finished_at=now,
                    last_error=INTERRUPTED,
                    consecutive_failures=job_runs.c.consecutive_failures + 1,
                )
            ).rowcount
        if interrupted:
            log.warning("%d job run(s) left 'running' by a previous leader marked as interrupted", interrupted)
        return self.catch_up(now)

    def release(self) -> None:
        """Give the lease up (on a clean stop) so a replica takes over at its next heartbeat."""
        try:
            released = self.lease.release()
        except Exception as exc:
            log.warning("could not release the leader lease (it expires by itself): %s", self.describe_error(exc))
            return
        if released:
            log.info("%s released the leader lease", self.holder)
        self._role = "follower"

    # -- catch-up ---------------------------------------------------------------------------------

    def catch_up(self, now: datetime) -> tuple[str, ...]:
        """Jobs a new leader runs at once: the sync when the last one is older than one interval,
        then this week's report when its time has passed and it was not produced since."""
        due = []
        if self.sync_overdue(now):
            due.append(SYNC)
        if self.report_missing(now):
            due.append(REPORT)
        return tuple(due)

    def sync_overdue(self, now: datetime) -> bool:
        """True when a configured source's last sync attempt is older than `sync_every` (or never)."""
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(watermarks.c.source, sa.func.max(watermarks.c.last_attempt_at)).group_by(watermarks.c.source)
            ).all()
        last = {source: at for source, at in rows}
        every = self.settings.schedule.sync_every
        return any(last.get(s.name) is None or now - last[s.name] >= every for s in self.settings.sources)

    def report_missing(self, now: datetime) -> bool:
        """True when this week's report time has passed and no report was generated since then."""
        due = self.report_due_at(now)
        if now < due:
            return False
        week = str(IsoWeek.of(now, ZoneInfo(self.settings.schedule.timezone)))
        with self.store.read() as conn:
            generated = conn.execute(sa.select(report_runs.c.generated_at).where(report_runs.c.week == week)).scalar()
        return generated is None or generated < due

    def report_due_at(self, now: datetime) -> datetime:
        """This week's (the week of `now` in the schedule's zone) scheduled report time."""
        tz = ZoneInfo(self.settings.schedule.timezone)
        day, hour, minute = self.settings.schedule.weekly_report_parts
        return IsoWeek.of(now, tz).at(day, hour, minute, tz)

    # -- running a job ----------------------------------------------------------------------------

    def run_job(self, name: str, *, wait: bool = True) -> JobResult:
        """Run job `name` now if this daemon holds the lease; record and log its outcome. Never raises.

        `wait=False` skips the run when another job is running instead of waiting for it.
        """
        job = self._jobs[name]
        if self.stopping:
            return JobResult(name, "skipped", "the daemon is stopping")
        if not self._busy.acquire(blocking=wait):
            log.debug("job %s skipped: another job is running", name, extra={"job": name})
            return JobResult(name, "skipped", "another job is running")
        try:
            return self._run(name, job)
        finally:
            self._busy.release()

    def _run(self, name: str, job: Callable[[datetime], str]) -> JobResult:
        extra = {"job": name}
        started = self.clock()
        try:
            if self.stopping:
                return JobResult(name, "skipped", "the daemon is stopping")
            if not self.lease.renew(started):
                return JobResult(name, "skipped", "not the leader")
            with self.store.transaction() as conn:
                _upsert_run(conn, name, last_started_at=started, last_status="running")
        except Exception as exc:
            message = self.describe_error(exc)
            log.error("job %s could not start: %s", name, message, extra=extra)
            return JobResult(name, "failed", message)
        log.debug("job %s started", name, extra=extra)
        try:
            outcome = JobResult(name, "ok", job(started))
            # an empty detail means there was nothing to do (delivery, every minute): not worth INFO
            log.log(
                logging.INFO if outcome.detail else logging.DEBUG,
                "job %s ok: %s",
                name,
                outcome.detail or "nothing to do",
                extra=extra,
            )
        except LeaseLost as exc:
            outcome = JobResult(name, "failed", str(exc))
            log.warning("job %s stopped: %s", name, exc, extra=extra)
        except Exception as exc:
            outcome = JobResult(name, "failed", self.describe_error(exc))
            log.error("job %s failed: %s", name, outcome.detail, extra=extra)
            if not isinstance(exc, FtreadyError):  # a bug, not an outage: the traceback helps (DEBUG only)
                log.debug("job %s traceback", name, exc_info=True, extra=extra)
        try:
            self._record_finish(name, started, outcome)
        except Exception as exc:
            log.error("job %s: could not record its result: %s", name, self.describe_error(exc), extra=extra)
        return outcome

    def _record_finish(self, name: str, started: datetime, outcome: JobResult) -> None:
        values: dict[str, Any] = {
            "last_finished_at": self.clock(),
            "last_status": outcome.status,
            "next_run_at": self.next_run_time(name),
        }
        if outcome.status == "ok":
            values |= {"last_error": None, "consecutive_failures": 0}
        else:
            values |= {"last_error": outcome.detail, "consecutive_failures": job_runs.c.consecutive_failures + 1}
        with self.store.transaction() as conn:
            # only our own run: a daemon that lost the lease never overwrites the new leader's record
            conn.execute(
                job_runs.update().where(job_runs.c.job == name, job_runs.c.last_started_at == started).values(**values)
            )

    def record_next_runs(self, next_runs: Mapping[str, datetime | None]) -> None:
        """Write each job's next run time to `job_runs` (the leader does, when it takes over)."""
        with self.store.transaction() as conn:
            for name, at in next_runs.items():
                _upsert_run(conn, name, next_run_at=at)

    def _check_lease(self) -> None:
        if not self.lease.renew(self.clock()):
            raise LeaseLost("another daemon took the leader lease over during this run; it carries on")

    def describe_error(self, exc: BaseException) -> str:
        text = str(exc) if isinstance(exc, FtreadyError) else f"{type(exc).__name__}: {exc}"
        return self._scrub(text)[:2000]

    # -- the jobs ---------------------------------------------------------------------------------

    def sync_cycle(self, now: datetime) -> str:
        """sync → evaluate → alerts. A failed sync still evaluates and alerts on the store's data."""
        sync_error: SourceError | None = None
        try:
            results = sync_all(self.settings, self.store, now=now)
        except SourceError as exc:
            results, sync_error = [], exc
        run = evaluate_store(self.settings, self.store, now=now)
        self._check_lease()
        notifications = process_evaluation(self.settings, self.store, run, now=now)
        done = f"{len(run.verdicts)} workload(s) evaluated, {len(notifications)} alert(s) queued"
        if sync_error is not None:
            raise SourceError(f"{sync_error} ({done} on the data already in the store)")
        return f"{len(results)} source(s) synced, {sum(r.calls for r in results):,} calls in recomputed days; {done}"

    def deliver(self, now: datetime) -> str:
        """Deliver due outbox rows (Slack, or the console when Slack is not configured)."""
        report = deliver_outbox(self.settings, self.store, now=now, notifier=self.notifier, worker_id=self.holder)
        if not report.attempted:
            return ""
        return f"{len(report.sent)} sent, {len(report.retried)} to retry, {len(report.dead)} dead-lettered"

    def weekly_report(self, now: datetime) -> str:
        """This week's report (the week of `now` in the schedule's zone) and its Slack digest."""
        week = IsoWeek.of(now, ZoneInfo(self.settings.schedule.timezone))
        run = evaluate_store(self.settings, self.store, now=now, save=False)
        files = write_weekly_report(self.settings, self.store, run, now=now, week=week)
        self._check_lease()
        queued = enqueue_digest(self.settings, self.store, run, files, now=now)
        return f"report {files.week} written to {files.html}; digest queued for {len(queued)} channel(s)"

    def housekeeping(self, now: datetime) -> str:
        """Delete evaluations and sent notifications past their retention (dead letters stay)."""
        keep = self.settings.schedule.housekeeping
        latest = sa.select(sa.func.max(evaluations.c.id)).group_by(evaluations.c.workload)
        with self.store.transaction() as conn:
            old_evaluations = conn.execute(
                evaluations.delete().where(
                    evaluations.c.evaluated_at < now - keep.keep_evaluations,
                    evaluations.c.id.not_in(latest),  # each workload's latest verdict is what alerts compare with
                )
            ).rowcount
            sent = conn.execute(
                outbox.delete().where(outbox.c.status == "sent", outbox.c.sent_at < now - keep.keep_sent_notifications)
            ).rowcount
        return f"deleted {old_evaluations} evaluation(s) and {sent} sent notification(s) past retention"


def _upsert_run(conn: Connection, name: str, **values: Any) -> None:
    if conn.execute(job_runs.update().where(job_runs.c.job == name).values(**values)).rowcount == 0:
        conn.execute(job_runs.insert().values(job=name, consecutive_failures=0, **values))


class Service:
    """A Daemon under a BlockingScheduler, with a lease heartbeat thread and a graceful stop."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        schedule = daemon.settings.schedule
        self.heartbeat_every = schedule.lease_ttl / 6
        self.scheduler = BlockingScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=len(JOB_NAMES))},
            job_defaults=JOB_DEFAULTS,
            timezone=ZoneInfo(schedule.timezone),
        )
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        # Our listener logs misses and errors once, with the job's name; APScheduler's own lines would repeat them.
        logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
        self.jobs: dict[str, Job] = {}  # by name, once scheduled
        self._stop = threading.Event()  # stop requested
        self._quit_heartbeat = threading.Event()  # set once running jobs have finished
        self._stopper: threading.Thread | None = None
        self._stopper_once = threading.Lock()
        daemon.next_run_time = self._next_run_time

    def run(self) -> None:
        """Run until `stop()`: catch up, schedule, heartbeat; then finish running jobs and release the lease."""
        first = self.daemon.tick()
        self.schedule(now=self.daemon.clock(), catch_up=first.catch_up)
        heartbeat = threading.Thread(target=self._heartbeat, name="ftready-lease", daemon=True)
        heartbeat.start()
        try:
            self.scheduler.start()  # blocks until stop() shuts it down
        finally:
            if self._stopper is not None:
                self._stopper.join()  # running jobs have finished once shutdown(wait=True) returns
            self._quit_heartbeat.set()
            heartbeat.join()
            self.daemon.release()

    def schedule(self, *, now: datetime, catch_up: tuple[str, ...] = ()) -> None:
        """Add the jobs (before `scheduler.start()`); the `catch_up` jobs first run at `now`, in order."""
        for name, trigger in job_triggers(self.daemon.settings, now=now).items():
            options: dict[str, Any] = {}
            if name in catch_up:
                options["next_run_time"] = now + CATCH_UP_STAGGER * catch_up.index(name)
            if name == REPORT:
                options["misfire_grace_time"] = None  # however late, this week's report is still due
            self.jobs[name] = self.scheduler.add_job(
                self.daemon.run_job,
                trigger,
                args=[name],
                kwargs={"wait": name != OUTBOX},
                id=name,
                name=name,
                **options,
            )

    def stop(self) -> None:
        """Ask the service to stop: nothing new starts, running jobs finish. Safe in a signal handler."""
        self._stop.set()
        self.daemon.stopping = True
        if self.scheduler.running:
            self._shutdown_soon()  # else `_on_started` does it as soon as the scheduler runs

    def _shutdown_soon(self) -> None:
        # shutdown(wait=True) blocks until running jobs finish: never do that in a signal handler
        if self._stopper_once.acquire(blocking=False):
            self._stopper = threading.Thread(target=self._shutdown, name="ftready-stop", daemon=True)
            self._stopper.start()

    def _shutdown(self) -> None:
        try:
            self.scheduler.shutdown(wait=True)
        except SchedulerNotRunningError:
            pass

    def _heartbeat(self) -> None:
        while not self._quit_heartbeat.wait(self.heartbeat_every.total_seconds()):
            if self._stop.is_set() and not self.daemon.is_leader:
                continue  # stopping: keep renewing a lease we hold until our jobs finish, never take one
            tick = self.daemon.tick()
            if tick.became_leader and not self._stop.is_set():
                self._start_catch_up(tick.catch_up)

    def _start_catch_up(self, jobs: tuple[str, ...]) -> None:
        now = self.daemon.clock()
        try:
            for index, name in enumerate(jobs):
                self.scheduler.modify_job(name, next_run_time=now + CATCH_UP_STAGGER * index)
        except Exception as exc:  # the scheduler is shutting down
            log.debug("catch-up not scheduled: %s", exc)
        self._publish_next_runs()

    def _publish_next_runs(self) -> None:
        try:
            self.daemon.record_next_runs({name: job.next_run_time for name, job in self.jobs.items()})
        except Exception as exc:
            log.warning("could not record the next run times: %s", self.daemon.describe_error(exc))

    def _next_run_time(self, name: str) -> datetime | None:
        # Read from the Job object, without the scheduler's lock: shutdown(wait=True) holds that
        # lock while it waits for the very job that is asking.
        job = self.jobs.get(name)
        return job.next_run_time if job is not None else None

    def _on_started(self, _event: SchedulerEvent) -> None:
        if self._stop.is_set():
            self._shutdown_soon()
        elif self.daemon.is_leader:
            self._publish_next_runs()

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        extra = {"job": event.job_id}
        if event.code == EVENT_JOB_MISSED:
            log.warning(
                "job %s missed its run at %s (the daemon was busy or suspended); it runs at its next time",
                event.job_id, event.scheduled_run_time, extra=extra,
            )  # fmt: skip
        else:  # run_job never raises; this would be a bug in it
            log.error("job %s crashed: %s", event.job_id, self.daemon.describe_error(event.exception), extra=extra)


def serve(settings: Settings, store: Store) -> None:
    """`ftready run`: serve until SIGTERM or SIGINT, then stop gracefully (exit code 0)."""
    daemon = Daemon(settings, store)
    service = Service(daemon)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping once the running job finishes", signal.Signals(signum).name)
        service.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    schedule = settings.schedule
    log.info(
        "ftready daemon %s starting: store %s; sync every %s, weekly report %s %s, housekeeping %s, lease TTL %s",
        daemon.holder, store.display_url, schedule.sync_every, schedule.weekly_report, schedule.timezone,
        schedule.housekeeping.at, schedule.lease_ttl,
    )  # fmt: skip
    try:
        service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("ftready daemon %s stopped", daemon.holder)
