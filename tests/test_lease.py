"""The leader lease on SQLite and PostgreSQL: acquire, renew, expiry, takeover, release, races."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.lease import DAEMON_LEASE, Lease, LeaseInfo, new_holder_id
from monitor.store import Store

TTL = timedelta(seconds=60)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_store_url")
    store = Store(url)
    yield store
    store.dispose()


def test_the_first_daemon_acquires_a_free_lease(store: Store, now: datetime) -> None:
    lease = Lease(store, "A", ttl=TTL)
    assert lease.current() is None
    assert lease.acquire(now)
    assert lease.current() == LeaseInfo(DAEMON_LEASE, "A", acquired_at=now, expires_at=now + TTL)


def test_a_second_daemon_waits_while_the_lease_is_alive(store: Store, now: datetime) -> None:
    a, b = Lease(store, "A", ttl=TTL), Lease(store, "B", ttl=TTL)
    assert a.acquire(now)
    assert not b.acquire(now)
    assert not b.acquire(now + TTL - timedelta(seconds=1))
    assert not b.renew(now)  # renewing is only for the holder
    assert a.current().holder == "A"  # type: ignore[union-attr]


def test_renewing_extends_the_expiry_and_keeps_acquired_at(store: Store, now: datetime) -> None:
    a, b = Lease(store, "A", ttl=TTL), Lease(store, "B", ttl=TTL)
    assert a.acquire(now)
    later = now + timedelta(seconds=50)
    assert a.renew(later)
    assert a.acquire(later + timedelta(seconds=10))  # acquire by the holder renews too
    info = a.current()
    assert info is not None
    assert info.acquired_at == now
    assert info.expires_at == later + timedelta(seconds=10) + TTL
    # an alive, renewed lease cannot be taken: 100 s after A first took it, it is still A's
    assert not b.acquire(now + timedelta(seconds=100))


def test_an_expired_lease_is_taken_over(store: Store, now: datetime) -> None:
    a, b = Lease(store, "A", ttl=TTL), Lease(store, "B", ttl=TTL)
    assert a.acquire(now)
    expired = now + TTL
    assert b.acquire(expired)  # expires_at <= now: free
    info = b.current()
    assert info == LeaseInfo(DAEMON_LEASE, "B", acquired_at=expired, expires_at=expired + TTL)


def test_the_old_holder_cannot_renew_after_a_takeover(store: Store, now: datetime) -> None:
    """A daemon paused past its lease (GC, suspended VM) must not act when it wakes up."""
    a, b = Lease(store, "A", ttl=TTL), Lease(store, "B", ttl=TTL)
    assert a.acquire(now)
    assert b.acquire(now + timedelta(minutes=5))
    assert not a.renew(now + timedelta(minutes=5, seconds=1))
    assert not a.acquire(now + timedelta(minutes=5, seconds=1))
    assert b.current().holder == "B"  # type: ignore[union-attr]


def test_the_holder_of_an_expired_lease_nobody_took_keeps_it(store: Store, now: datetime) -> None:
    a = Lease(store, "A", ttl=TTL)
    assert a.acquire(now)
    assert a.renew(now + timedelta(minutes=10))  # nobody else acted in between: still the only one
    assert a.current().acquired_at == now  # type: ignore[union-attr]


def test_release_frees_the_lease_at_once(store: Store, now: datetime) -> None:
    a, b = Lease(store, "A", ttl=TTL), Lease(store, "B", ttl=TTL)
    assert a.acquire(now)
    assert not b.release()  # not B's to release
    assert a.release()
    assert a.current() is None
    assert not a.renew(now)
    assert b.acquire(now + timedelta(seconds=1))
    assert not a.release()


def test_leases_are_independent_by_name(store: Store, now: datetime) -> None:
    assert Lease(store, "A", ttl=TTL).acquire(now)
    assert Lease(store, "B", name="other", ttl=TTL).acquire(now)


def test_exactly_one_of_many_racing_daemons_gets_a_free_lease(store: Store, now: datetime) -> None:
    """Eight daemons start at once (first insert) and later race for the expired lease (CAS update)."""
    holders = [f"D{i}" for i in range(8)]

    def race(at: datetime) -> list[str]:
        barrier = threading.Barrier(len(holders))
        winners: list[str] = []

        def contend(holder: str) -> None:
            lease = Lease(store, holder, ttl=TTL)
            barrier.wait()
            if lease.acquire(at):
                winners.append(holder)

        threads = [threading.Thread(target=contend, args=(h,)) for h in holders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return winners

    first = race(now)
    assert len(first) == 1
    second = race(now + TTL / 2)  # alive: only its holder gets it (a renewal)
    assert second == first
    third = race(now + TTL * 2)  # expired: up for grabs, and exactly one gets it
    assert len(third) == 1
    holders.remove(third[0])
    fourth = race(now + TTL * 4)  # without the holder, exactly one takes the expired lease over
    assert len(fourth) == 1 and fourth[0] != third[0]


def test_holder_ids_are_unique_and_readable() -> None:
    a, b = new_holder_id(), new_holder_id()
    assert a != b
    host, pid, _ = a.split(":")
    assert host and pid.isdigit()


def test_a_lease_needs_a_positive_ttl(store: Store) -> None:
    with pytest.raises(ValueError, match="positive"):
        Lease(store, "A", ttl=timedelta(0))
