"""The leader lease: one row in `leases` decides which of several daemons on one store acts.

The row says who holds the lease (`holder`), since when and until when (`expires_at`). Every
change is a compare-and-set UPDATE whose WHERE clause re-checks the condition it relies on, so of
two daemons racing for the same row exactly one sees rowcount 1:

- renew:    `... SET expires_at = now + ttl WHERE name = :name AND holder = :me`
- take over: `... SET holder = :me, ... WHERE name = :name AND expires_at <= :now`
- release:  `DELETE ... WHERE name = :name AND holder = :me`

The first daemon inserts the row (a concurrent insert loses on the primary key). On PostgreSQL
the second UPDATE waits for the first's row lock and then re-evaluates its WHERE clause against the
committed row (READ COMMITTED); on SQLite writers are serialised. Renewing does not look at
`expires_at`: if nobody took an expired lease over, its holder is still the only one that acts.

Times come from the caller's clock (`now`), so hosts sharing a store must keep their clocks in sync
(NTP); a skew of a few seconds against a 60 s TTL is harmless.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from monitor.store import Store, leases

DAEMON_LEASE = "daemon"
DEFAULT_TTL = timedelta(seconds=60)


@dataclass(frozen=True)
class LeaseInfo:
    """One `leases` row."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def alive(self, now: datetime) -> bool:
        return self.expires_at > now


def new_holder_id() -> str:
    """`host:pid:random`: unique per daemon process, readable in `ftready status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One daemon's handle on a named lease. Every method is one short store transaction."""

    def __init__(self, store: Store, holder: str, *, name: str = DAEMON_LEASE, ttl: timedelta = DEFAULT_TTL) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the lease TTL must be positive")
        self.store = store
        self.holder = holder
        self.name = name
        self.ttl = ttl

    def acquire(self, now: datetime) -> bool:
        """Renew the lease if we hold it, else take it if it is free or expired. True when held."""
        if self.renew(now):
            return True
        with self.store.transaction() as conn:
            taken = conn.execute(
                leases.update()
                .where(leases.c.name == self.name, leases.c.expires_at <= now)
                .values(holder=self.holder, acquired_at=now, expires_at=now + self.ttl)
            ).rowcount
            if taken == 1:
                return True
            if conn.execute(sa.select(leases.c.name).where(leases.c.name == self.name)).first() is not None:
                return False  # someone else holds it and it has not expired
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    leases.insert().values(
                        name=self.name, holder=self.holder, acquired_at=now, expires_at=now + self.ttl
                    )
                )
        except IntegrityError:  # another daemon inserted the row first
            return False
        return True

    def renew(self, now: datetime) -> bool:
        """Extend our lease; False when another daemon has taken it over (or it was released)."""
        with self.store.transaction() as conn:
            renewed = conn.execute(
                leases.update()
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=now + self.ttl)
            ).rowcount
        return renewed == 1

    def release(self) -> bool:
        """Give the lease up so a replica takes over at its next attempt; False when it was not ours."""
        with self.store.transaction() as conn:
            deleted = conn.execute(
                leases.delete().where(leases.c.name == self.name, leases.c.holder == self.holder)
            ).rowcount
        return deleted == 1

    def current(self) -> LeaseInfo | None:
        with self.store.read() as conn:
            return read_lease(conn, self.name)


def read_lease(conn: Connection, name: str = DAEMON_LEASE) -> LeaseInfo | None:
    row = conn.execute(sa.select(leases).where(leases.c.name == name)).mappings().first()
    if row is None:
        return None
    return LeaseInfo(
        name=row["name"], holder=row["holder"], acquired_at=row["acquired_at"], expires_at=row["expires_at"]
    )
