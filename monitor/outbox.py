"""The durable outbox: a notification is a row written in the same transaction as the state
change that caused it, and delivered later by a separate step (`deliver_outbox`).

Payload contract (JSON):
    {"text": str,                      # fallback text, already escaped for Slack
     "blocks": [dict, ...],            # Block Kit blocks (slack_sdk models, serialised)
     "thread_replies": [{"text": str, "blocks": [dict, ...]}, ...],   # optional overflow
     "upload": {"path": str, "filename": str, "title": str} | None}    # optional file upload
Other keys are kept and ignored by delivery (alerts add "alerts": [fingerprint, ...] and "event").
The deliverer owns the key "delivery": how far a multi-part delivery got (the message's channel
id and ts, replies posted, upload done), so a retry resumes instead of posting twice.

Row life cycle (`status`):

    pending ──claim (compare-and-set)──▶ sending ──▶ sent
       ▲                                   │
       └──── transient error: attempts+1, next_attempt_at = now + backoff or Retry-After
                                           └──▶ dead   (permanent error, kept with last_error)

A claim is `UPDATE … SET status='sending' WHERE id=:id AND status='pending' AND …`: of two
deliverers racing for a row exactly one gets rowcount 1, so a row is posted at most once per
claim. A 'sending' row whose claim is older than `claim_timeout` (its deliverer died) can be
claimed again; the only window for a duplicate is a crash between Slack accepting a message and
the 'sent' commit.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.settings import Settings
from monitor.store import Store, outbox, utcnow

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
STATUSES = ("pending", "sending", "sent", "dead")
MAX_UNEXPECTED_ATTEMPTS = 5  # an unclassified error is dead-lettered after this many attempts


def enqueue(
    conn: Connection,
    *,
    kind: str,
    channel: str | None,
    payload: dict[str, Any],
    now: datetime,
    fingerprint: str | None = None,
) -> int:
    """Add a pending notification inside the caller's transaction; returns its id."""
    result = conn.execute(
        outbox.insert().values(
            created_at=now,
            channel=channel,
            kind=kind,
            fingerprint=fingerprint,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


class DeliveryError(Exception):
    """A notifier could not deliver. `permanent` errors are dead-lettered, others retried later."""

    def __init__(self, message: str, *, permanent: bool, code: str = "error", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after


class Notifier(Protocol):
    """Delivers one outbox payload. Raises DeliveryError; calls `checkpoint(progress)` after each
    part of a multi-part message so a retry resumes from `progress` instead of re-posting."""

    name: str

    def deliver(
        self,
        channel: str | None,
        payload: Mapping[str, Any],
        progress: dict[str, Any],
        checkpoint: Callable[[dict[str, Any]], None],
    ) -> None: ...


@dataclass
class DeliveryReport:
    worker_id: str
    notifier: str
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)  # transient failure, rescheduled
    dead: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    stopped_early: bool = False  # a transient error stopped the run; the rest waits for the next one

    @property
    def attempted(self) -> int:
        return len(self.sent) + len(self.retried) + len(self.dead)


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: 30 s, 1 min, 2 min, … capped at 1 h."""
    doublings = min(max(0, attempts - 1), 20)  # 2**20 × 30 s is far past the cap; never overflows
    return min(BACKOFF_BASE * (2**doublings), BACKOFF_MAX)


def default_notifier(settings: Settings) -> Notifier:
    """Slack when a bot token or webhook is configured, else the console (dry run)."""
    from monitor.console import ConsoleNotifier
    from monitor.slack import notifier_from_settings

    return notifier_from_settings(settings) or ConsoleNotifier()


def deliver_outbox(
    settings: Settings,
    store: Store,
    *,
    now: datetime | None = None,
    notifier: Notifier | None = None,
    worker_id: str | None = None,
    limit: int = 200,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
) -> DeliveryReport:
    """Deliver due rows in id order, one claim at a time, until none is due or `limit` is reached.

    A transient error reschedules the row (backoff, or Retry-After when Slack gave one) and stops
    the run: Slack is down or rate-limiting us, and hammering it helps nobody. Permanent errors
    dead-letter the row (logged once, here) and the run goes on with the next row.
    """
    now = now or utcnow()
    notifier = notifier or default_notifier(settings)
    worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    report = DeliveryReport(worker_id=worker_id, notifier=getattr(notifier, "name", type(notifier).__name__))
    while report.attempted < limit:
        row = claim_next(store, worker_id=worker_id, now=now, claim_timeout=claim_timeout)
        if row is None:
            break
        row_id = int(row["id"])
        payload = dict(row["payload"] or {})
        progress = dict(payload.get("delivery") or {})

        def checkpoint(state: dict[str, Any], row_id: int = row_id, payload: dict[str, Any] = payload) -> None:
            _save_progress(store, row_id, worker_id, {**payload, "delivery": state})

        try:
            _attempt(notifier, row, payload, progress, checkpoint)
        except DeliveryError as exc:
            report.errors[row_id] = f"{exc.code}: {exc}"
            if exc.permanent:
                _finish(store, row_id, worker_id, status="dead", last_error=f"{exc.code}: {exc}")
                report.dead.append(row_id)
                log.error("outbox %s (%s to %s) dead-lettered: %s", row_id, row["kind"], row["channel"], exc)
                continue
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else backoff(int(row["attempts"]))
            _finish(
                store, row_id, worker_id, status="pending", last_error=f"{exc.code}: {exc}", next_attempt_at=now + delay
            )
            report.retried.append(row_id)
            report.stopped_early = True
            log.warning("outbox %s: %s; next attempt in %s", row_id, exc, delay)
            break
        _finish(store, row_id, worker_id, status="sent", sent_at=now, last_error=None)
        report.sent.append(row_id)
    return report


def _attempt(
    notifier: Notifier,
    row: Mapping[str, Any],
    payload: dict[str, Any],
    progress: dict[str, Any],
    checkpoint: Callable[[dict[str, Any]], None],
) -> None:
    """One delivery; any exception comes out as a DeliveryError.

    An error nobody classified (a bug, an exception type no notifier expected) is retried a few
    times and then dead-lettered, so it can neither be lost nor block the outbox forever.
    """
    try:
        notifier.deliver(row["channel"], payload, progress, checkpoint)
    except DeliveryError:
        raise
    except Exception as exc:
        name = getattr(notifier, "name", type(notifier).__name__)
        log.exception("outbox %s: unexpected error from the %s notifier", row["id"], name)
        permanent = int(row["attempts"]) >= MAX_UNEXPECTED_ATTEMPTS
        raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=permanent, code="unexpected_error") from exc


def claim_next(
    store: Store, *, worker_id: str, now: datetime, claim_timeout: timedelta = CLAIM_TIMEOUT
) -> dict[str, Any] | None:
    """Atomically claim the oldest due row for `worker_id`; None when nothing is due.

    Candidates are read without locks; each claim is a compare-and-set UPDATE that re-checks the
    row is still claimable, committed on its own, so a concurrent deliverer sees it at once.
    """
    stale = now - claim_timeout
    claimable = sa.or_(
        sa.and_(
            outbox.c.status == "pending", sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now)
        ),
        sa.and_(outbox.c.status == "sending", sa.or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < stale)),
    )
    while True:
        with store.read() as conn:
            query = sa.select(outbox.c.id).where(claimable).order_by(outbox.c.id).limit(20)
            candidates = [r[0] for r in conn.execute(query)]
        if not candidates:
            return None
        for row_id in candidates:
            with store.transaction() as conn:
                claimed = conn.execute(
                    outbox.update()
                    .where(outbox.c.id == row_id, claimable)
                    .values(status="sending", claimed_by=worker_id, claimed_at=now, attempts=outbox.c.attempts + 1)
                ).rowcount
                if claimed == 1:
                    return dict(conn.execute(sa.select(outbox).where(outbox.c.id == row_id)).mappings().one())


def _mine(row_id: int, worker_id: str) -> sa.ColumnElement[bool]:
    """Only the holder of the claim may finish a row (a reclaimed row belongs to someone else)."""
    return sa.and_(outbox.c.id == row_id, outbox.c.status == "sending", outbox.c.claimed_by == worker_id)


def _finish(store: Store, row_id: int, worker_id: str, **values: Any) -> None:
    with store.transaction() as conn:
        done = conn.execute(outbox.update().where(_mine(row_id, worker_id)).values(**values)).rowcount
    if done != 1:
        log.warning("outbox %s was reclaimed by another deliverer before %s finished it", row_id, worker_id)


def _save_progress(store: Store, row_id: int, worker_id: str, payload: dict[str, Any]) -> None:
    with store.transaction() as conn:
        conn.execute(outbox.update().where(_mine(row_id, worker_id)).values(payload=payload))


# --- inspection and repair (CLI, `ftready status`, the report) --------------------------------


@dataclass(frozen=True)
class OutboxSummary:
    counts: dict[str, int]  # by status, every status present
    oldest_pending_at: datetime | None
    dead: list[dict[str, Any]]  # id, created_at, channel, kind, attempts, last_error; newest first
    pending: list[dict[str, Any]]  # id, created_at, channel, kind, attempts, next_attempt_at, last_error


def outbox_summary(conn: Connection, *, limit: int = 50) -> OutboxSummary:
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)):
        counts[status] = int(n)
    oldest = conn.execute(
        sa.select(sa.func.min(outbox.c.created_at)).where(outbox.c.status.in_(("pending", "sending")))
    ).scalar()
    columns = [outbox.c.id, outbox.c.created_at, outbox.c.channel, outbox.c.kind, outbox.c.fingerprint,
               outbox.c.attempts, outbox.c.next_attempt_at, outbox.c.last_error, outbox.c.status]  # fmt: skip
    dead = conn.execute(sa.select(*columns).where(outbox.c.status == "dead").order_by(outbox.c.id.desc()).limit(limit))
    pending = conn.execute(
        sa.select(*columns).where(outbox.c.status.in_(("pending", "sending"))).order_by(outbox.c.id).limit(limit)
    )
    return OutboxSummary(
        counts=counts,
        oldest_pending_at=oldest,
        dead=[dict(r) for r in dead.mappings()],
        pending=[dict(r) for r in pending.mappings()],
    )


def requeue_dead(store: Store, *, now: datetime, ids: list[int] | None = None) -> int:
    """Put dead rows (all, or `ids`) back to pending, e.g. after fixing the channel or token."""
    where = outbox.c.status == "dead"
    if ids:
        where = sa.and_(where, outbox.c.id.in_(ids))
    with store.transaction() as conn:
        return int(
            conn.execute(
                outbox.update()
                .where(where)
                .values(status="pending", next_attempt_at=now, claimed_by=None, claimed_at=None)
            ).rowcount
        )
