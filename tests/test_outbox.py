"""The durable outbox: claim, deliver, retry with backoff across runs, dead-letter; never lost,
never sent twice. Real slack-sdk clients against the local fake Slack."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from monitor.alerts import process_evaluation
from monitor.outbox import (
    DeliveryReport,
    backoff,
    claim_next,
    deliver_outbox,
    enqueue,
    outbox_summary,
    requeue_dead,
)
from monitor.slack import SlackNotifier, retry_handlers
from monitor.store import Store, outbox
from tests.slack_server import (  # noqa: F401
    TOKEN,
    FakeSlack,
    Reply,
    silent_server,
    slack_server,
)
from tests.test_alerts import NOW, READY, make_run, make_settings, outbox_rows
from tests.test_slack import fast_notifier, slack_settings


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'state.db'}")


def _enqueue(store: Store, n: int = 1, *, channel: str | None = "#llm-readiness", kind: str = "alert") -> list[int]:
    with store.transaction() as conn:
        return [
            enqueue(
                conn, kind=kind, channel=channel, payload={"text": f"message {i}", "blocks": []},
                now=NOW, fingerprint=f"f{i}",
            )  # fmt: skip
            for i in range(n)
        ]


def _row(store: Store, row_id: int = 1) -> dict[str, Any]:
    with store.read() as conn:
        return dict(conn.execute(sa.select(outbox).where(outbox.c.id == row_id)).mappings().one())


def _deliver(store: Store, slack: FakeSlack, at: Any, **kwargs: Any) -> DeliveryReport:
    return deliver_outbox(slack_settings(slack), store, now=at, notifier=fast_notifier(slack, **kwargs))


def test_server_error_three_times_then_ok_is_delivered_once(store: Store, slack_server: FakeSlack) -> None:
    _enqueue(store)
    slack_server.script("chat.postMessage", *[Reply(500, "Internal Server Error")] * 3)
    at = NOW
    for attempt in (1, 2, 3):
        report = _deliver(store, slack_server, at)
        assert report.retried == [1] and report.stopped_early
        row = _row(store)
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        assert row["last_error"].startswith("http_500") and row["next_attempt_at"] == at + backoff(attempt)
        early = row["next_attempt_at"] - timedelta(seconds=1)
        assert _deliver(store, slack_server, early).attempted == 0  # not due yet
        at = row["next_attempt_at"]
    report = _deliver(store, slack_server, at)
    assert report.sent == [1]
    assert _deliver(store, slack_server, at + timedelta(days=1)).attempted == 0
    assert len(slack_server.calls_to("chat.postMessage")) == 4
    assert [c.body["text"] for c in slack_server.posted()] == ["message 0"]
    row = _row(store)
    assert (row["status"], row["attempts"], row["last_error"], row["sent_at"]) == ("sent", 4, None, at)


def test_rate_limit_retry_after_is_honoured_across_runs(store: Store, slack_server: FakeSlack) -> None:
    _enqueue(store)
    slack_server.script("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}))
    sleeps: list[float] = []
    report = _deliver(store, slack_server, NOW, sleep=sleeps.append)
    assert report.retried == [1] and sleeps == []  # too long to wait in-process: scheduled instead
    row = _row(store)
    assert row["next_attempt_at"] == NOW + timedelta(seconds=30) and row["last_error"].startswith("ratelimited")
    assert _deliver(store, slack_server, NOW + timedelta(seconds=29)).attempted == 0
    assert _deliver(store, slack_server, NOW + timedelta(seconds=30)).sent == [1]
    assert len(slack_server.posted()) == 1


def test_short_retry_after_is_waited_in_process(store: Store, slack_server: FakeSlack) -> None:
    _enqueue(store)
    slack_server.script("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))
    sleeps: list[float] = []
    report = _deliver(store, slack_server, NOW, sleep=sleeps.append)
    assert report.sent == [1] and sleeps == [1.0]  # slack-sdk's RateLimitErrorRetryHandler path
    assert [c.status for c in slack_server.calls_to("chat.postMessage")] == [429, 200]


def test_timeout_is_retried_later(store: Store, silent_server: str) -> None:
    _enqueue(store)
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0), sleep=lambda s: None)
    notifier = SlackNotifier(TOKEN, default_channel="#c", base_url=silent_server, timeout=0.3, handlers=handlers)
    report = deliver_outbox(make_settings(), store, now=NOW, notifier=notifier)
    assert report.retried == [1]
    row = _row(store)
    assert row["status"] == "pending" and row["last_error"].startswith("timeout")
    assert row["next_attempt_at"] == NOW + backoff(1)


def test_connection_refused_is_retried_later(store: Store) -> None:
    with socket_closed_port() as url:
        _enqueue(store)
        handlers = retry_handlers(connection_retries=2, interval=FixedValueRetryIntervalCalculator(0))
        notifier = SlackNotifier(TOKEN, default_channel="#c", base_url=url, timeout=2, handlers=handlers)
        report = deliver_outbox(make_settings(), store, now=NOW, notifier=notifier)
    assert report.retried == [1] and _row(store)["last_error"].startswith("connection_error")


def test_channel_not_found_is_dead_lettered_and_not_retried(
    store: Store, slack_server: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    _enqueue(store, channel="#no-such-channel")
    _enqueue(store, channel="#llm-readiness")
    report = _deliver(store, slack_server, NOW)
    assert report.dead == [1] and report.sent == [2]  # a dead row does not block the next one
    row = _row(store, 1)
    assert row["status"] == "dead" and row["last_error"].startswith("channel_not_found")
    assert sum("dead-lettered" in r.message for r in caplog.records) == 1
    for days in (1, 2, 30):
        assert _deliver(store, slack_server, NOW + timedelta(days=days)).attempted == 0
    assert len(slack_server.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize("error", ["invalid_auth", "invalid_blocks", "channel_not_found", "is_archived"])
def test_permanent_errors_are_dead_lettered(store: Store, slack_server: FakeSlack, error: str) -> None:
    _enqueue(store)
    slack_server.script("chat.postMessage", Reply(200, {"ok": False, "error": error}))
    assert _deliver(store, slack_server, NOW).dead == [1]
    assert _row(store)["last_error"].startswith(error)


def test_wrong_token_is_invalid_auth(store: Store, slack_server: FakeSlack) -> None:
    _enqueue(store)
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0))
    notifier = SlackNotifier("xoxb-wrong", default_channel="#c", base_url=slack_server.api_url, handlers=handlers)
    assert deliver_outbox(make_settings(), store, now=NOW, notifier=notifier).dead == [1]
    assert _row(store)["last_error"].startswith("invalid_auth")
    assert TOKEN not in _row(store)["last_error"] and "xoxb-wrong" not in _row(store)["last_error"]


def test_crash_between_state_change_and_delivery_is_delivered_next_run_once(
    store: Store, slack_server: FakeSlack
) -> None:
    settings = slack_settings(slack_server)
    notifications = process_evaluation(settings, store, make_run({"w": READY}), now=NOW)
    expected = len(outbox_rows(store))
    assert notifications and expected == len(notifications)
    # the process dies here: the state changed and the rows are in the outbox, nothing was sent
    assert slack_server.calls == []
    later = NOW + timedelta(hours=1)
    assert process_evaluation(settings, store, make_run({"w": READY}, at=later), now=later) == []  # no duplicate rows
    report = _deliver(store, slack_server, later)
    assert len(report.sent) == expected
    assert _deliver(store, slack_server, later + timedelta(hours=1)).attempted == 0
    assert len(slack_server.posted()) == expected


def test_a_deliverer_that_died_mid_send_is_reclaimed_after_the_timeout(store: Store, slack_server: FakeSlack) -> None:
    _enqueue(store)
    claimed = claim_next(store, worker_id="dead-worker", now=NOW)
    assert claimed is not None and claimed["status"] == "sending"
    assert _deliver(store, slack_server, NOW + timedelta(minutes=5)).attempted == 0  # claim still fresh
    report = deliver_outbox(
        slack_settings(slack_server), store, now=NOW + timedelta(minutes=11), notifier=fast_notifier(slack_server),
        claim_timeout=timedelta(minutes=10),
    )  # fmt: skip
    assert report.sent == [1]
    row = _row(store)
    assert row["claimed_by"] == report.worker_id and row["attempts"] == 2
    assert len(slack_server.posted()) == 1


def _two_deliverers(url: str, slack: FakeSlack, rows: int = 40) -> None:
    setup = Store(url)
    ids = _enqueue(setup, rows)
    setup.dispose()
    barrier = threading.Barrier(2)
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def run(name: str) -> None:
        store = Store(url)
        try:
            barrier.wait()
            reports.append(
                deliver_outbox(slack_settings(slack), store, now=NOW, notifier=fast_notifier(slack), worker_id=name)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=run, args=(f"worker-{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    sent = [row_id for r in reports for row_id in r.sent]
    assert sorted(sent) == ids  # every row sent, by exactly one deliverer
    texts = [c.body["text"] for c in slack.posted()]
    assert sorted(texts) == sorted(f"message {i}" for i in range(rows))  # one message per row
    check = Store(url)
    with check.read() as conn:
        statuses = {r[0] for r in conn.execute(sa.select(outbox.c.status))}
    check.dispose()
    assert statuses == {"sent"}


def test_two_deliverers_at_once_on_postgresql_send_each_row_once(
    postgres_store_url: str, slack_server: FakeSlack
) -> None:
    _two_deliverers(postgres_store_url, slack_server)


def test_two_deliverers_at_once_on_sqlite_send_each_row_once(tmp_path: Path, slack_server: FakeSlack) -> None:
    _two_deliverers(f"sqlite:///{tmp_path / 'state.db'}", slack_server)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(50) == timedelta(hours=1)


def test_summary_and_requeue_of_dead_letters(store: Store, slack_server: FakeSlack) -> None:
    _enqueue(store, 3)
    slack_server.script("chat.postMessage", Reply(200, {"ok": False, "error": "channel_not_found"}))
    _deliver(store, slack_server, NOW)
    with store.read() as conn:
        summary = outbox_summary(conn)
    assert summary.counts == {"pending": 0, "sending": 0, "sent": 2, "dead": 1}
    assert summary.dead[0]["id"] == 1 and summary.dead[0]["last_error"].startswith("channel_not_found")
    assert requeue_dead(store, now=NOW + timedelta(hours=1)) == 1
    assert _deliver(store, slack_server, NOW + timedelta(hours=1)).sent == [1]


class socket_closed_port:
    """An http:// URL on a port nothing listens on (connection refused)."""

    def __enter__(self) -> str:
        import socket

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        return f"http://127.0.0.1:{port}/api/"

    def __exit__(self, *exc: object) -> None:
        return None


def test_racing_claims_on_one_row_have_one_winner(postgres_store_url: str) -> None:
    stores = [Store(postgres_store_url), Store(postgres_store_url)]
    try:
        for round_ in range(15):
            (row_id,) = _enqueue(stores[0])
            barrier = threading.Barrier(2)
            won: list[int] = []

            def claim(i: int) -> None:
                barrier.wait()
                row = claim_next(stores[i], worker_id=f"w{i}", now=NOW)
                if row is not None:
                    won.append(i)

            threads = [threading.Thread(target=claim, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert len(won) == 1, f"round {round_}: {won}"
            assert _row(stores[0], row_id)["claimed_by"] == f"w{won[0]}"
    finally:
        for s in stores:
            s.dispose()


class _Broken:
    name = "broken"

    def deliver(self, channel: Any, payload: Any, progress: Any, checkpoint: Any) -> None:
        raise KeyError("a bug")


def test_an_unexpected_notifier_error_is_retried_then_dead_lettered(store: Store) -> None:
    _enqueue(store)
    at = NOW
    for attempt in range(1, 5):  # attempts 1-4 are retried, the 5th is the last
        report = deliver_outbox(make_settings(), store, now=at, notifier=_Broken())
        assert report.retried == [1], attempt
        at = _row(store)["next_attempt_at"]
    assert deliver_outbox(make_settings(), store, now=at, notifier=_Broken()).dead == [1]
    assert _row(store)["attempts"] == 5
    assert _row(store)["last_error"].startswith("unexpected_error: KeyError")
