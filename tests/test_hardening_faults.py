"""Fault injection: each fault gives a clear error (printed by the CLI, logged by the daemon), the
right operational signal (the sync-failing alert after 3 failed syncs in a row; `status` warnings
and problems), and no lost or duplicated data (the store keeps what it had, the next good run
converges to a fresh recompute; Slack messages go out once; the old report files stay whole).

Faults: the warehouse unreachable, a wrong password (MariaDB checks it; the test PostgreSQL trusts
127.0.0.1, so there a role that does not exist stands in), a table dropped and a column renamed in
the middle of a sync and between syncs, a statement timeout (`query_timeout`; PostgreSQL and
MariaDB), Slack unreachable for an hour of simulated daemon runs, and a full disk when the weekly
report is written.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from monitor.alerts import SYNC_FAILURES_ALERT
from monitor.cli import main
from monitor.daemon import Daemon
from monitor.errors import SourceError
from monitor.health import read_health
from monitor.outbox import backoff
from monitor.settings import Settings, settings_from_dict
from monitor.slack import SlackNotifier, retry_handlers
from monitor.store import Store, alert_states, outbox, report_runs
from monitor.sync import sync_all
from tests.conftest import MYSQL_URL, NOW, POSTGRES_URL, needs_mysql, needs_postgres
from tests.daemon_support import FakeClock
from tests.factories import make_calls, native_source, sync_store, write_table
from tests.slack_server import TOKEN, FakeSlack, slack_server  # noqa: F401

COMPARED = ("call_rollups", "call_rollups_monthly", "quarantine", "examples")
PACK = {"monthly_calls": 100, "trusted_real_examples": 5, "prompt_engineering_below": 2,
        "recurring": {"min_weeks": 1, "window_weeks": 8, "min_cases": 2}}  # fmt: skip


def labels(n: int) -> pd.DataFrame:
    base = pd.Timestamp(NOW.replace(tzinfo=None)) - pd.Timedelta(hours=2)
    created = [base - pd.Timedelta(hours=7 * i) for i in range(n)]
    return pd.DataFrame({
        "id": [f"l{i}" for i in range(n)], "feature": ["claims", "search"] * (n // 2), "created_at": created,
        "updated_at": created, "verdict": ["pass", "fail", "fail", "pass"] * (n // 4), "failure_mode": "format",
        "source": "production", "labeled_by": "human", "prompt": [f"input {i}" for i in range(n)],
        "output": [f"output {i}" for i in range(n)],
    })  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SQLite warehouse (60 days of calls, 80 labels); tests work on copies of it."""
    path = tmp_path_factory.mktemp("faults") / "warehouse.db"
    write_table(f"sqlite:///{path}", "llm_calls", make_calls(1200, NOW, days=60), text_timestamps=True)
    write_table(f"sqlite:///{path}", "llm_labels", labels(80), text_timestamps=True)
    return path


@pytest.fixture
def warehouse(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.db"
    shutil.copy(pristine, copy)
    return copy


def make_settings(url: str, tmp_path: Path, *, store: str = "state.db", **source: Any) -> Settings:
    pack = tmp_path / "pack.yaml"
    pack.write_text(yaml.safe_dump(PACK), encoding="utf-8")
    config = {
        "store": {"url": f"sqlite:///{tmp_path / store}"},
        "sources": [native_source(url, labels="llm_labels", backfill_days=70, **source)],
        "rules": str(pack),
        "alerts": {"pending_evaluations": 1},
        "reports": {"dir": str(tmp_path / "reports")},
    }
    return settings_from_dict(config, env={})


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(settings.store_url)
    try:
        with engine.connect() as conn:
            return {t: sorted(conn.execute(sa.text(f"SELECT * FROM {t}")).all(), key=repr) for t in COMPARED}
    finally:
        engine.dispose()


def fresh(url: str, tmp_path: Path, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The compared tables of a fresh full recompute of `url` at `now`."""
    settings = make_settings(url, tmp_path, store=f"fresh-{uuid.uuid4().hex[:6]}.db")
    sync(settings, now)
    return snapshot(settings)


def sync(settings: Settings, now: datetime, checkpoint: Callable[[str], None] | None = None) -> None:
    sync_store(settings, now=now, checkpoint=checkpoint)


def write_config(settings_dict: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(settings_dict, sort_keys=False), encoding="utf-8")
    return path


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- the warehouse unreachable --------------------------------------------------------------------


def test_an_unreachable_warehouse_alerts_after_three_failed_syncs_keeps_the_data_and_recovers(
    warehouse: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    up = make_settings(f"sqlite:///{warehouse}", tmp_path)
    down = make_settings("postgresql+psycopg://reader:pw-unreachable@127.0.0.1:1/analytics", tmp_path)
    clock = FakeClock(NOW)
    store = Store(up.store_url)
    try:
        daemon = Daemon(up, store, holder="A", clock=clock, notifier=_Unused())
        assert daemon.tick().leader
        assert daemon.run_job("sync").status == "ok"
        synced = snapshot(up)

        outage = Daemon(down, store, holder="A", clock=clock, notifier=_Unused())
        caplog.set_level(logging.ERROR, logger="monitor.daemon")
        for attempt in range(1, SYNC_FAILURES_ALERT + 1):
            clock.advance(timedelta(hours=1))
            assert outage.run_job("sync").status == "failed"
            assert snapshot(up) == synced  # nothing lost, nothing half-written
            firing = _alert(store, "sync_failing")
            assert (firing is not None and firing["state"] == "firing") == (attempt == SYNC_FAILURES_ALERT)
        logged = [r.getMessage() for r in caplog.records if r.name == "monitor.daemon" and r.levelno >= logging.ERROR]
        assert len(logged) == SYNC_FAILURES_ALERT
        assert all("job sync failed: source 'wh' (postgresql+psycopg://reader:***@127.0.0.1:1/analytics)" in m
                   and "check that the warehouse is reachable" in m for m in logged)  # fmt: skip
        assert not any("pw-unreachable" in m for m in logged)
        assert _outbox_texts(store, "sync of source wh failed 3 times in a row")  # queued once
        assert len(_outbox_texts(store, "failed 3 times")) == 1

        clock.advance(timedelta(hours=1))
        recovered = Daemon(up, store, holder="A", clock=clock, notifier=_Unused())
        assert recovered.run_job("sync").status == "ok"
        assert snapshot(up) == fresh(f"sqlite:///{warehouse}", tmp_path, clock.now)
        assert _alert(store, "sync_failing")["state"] in ("resolved", "normal")
        assert _outbox_texts(store, "sync of source wh succeeds again")
    finally:
        store.dispose()


class _Unused:
    """A notifier for tests that only queue notifications."""

    name = "unused"

    def deliver(self, *_args: Any) -> None:
        raise AssertionError("nothing is delivered in this test")


def _alert(store: Store, kind: str) -> dict[str, Any] | None:
    with store.read() as conn:
        row = conn.execute(sa.select(alert_states).where(alert_states.c.kind == kind)).mappings().first()
    return dict(row) if row else None


def _outbox_texts(store: Store, needle: str) -> list[str]:
    with store.read() as conn:
        texts = [str(p) for p in conn.execute(sa.select(outbox.c.payload)).scalars()]
    return [t for t in texts if needle in t]


# --- wrong credentials ---------------------------------------------------------------------------------


@needs_mysql
def test_a_wrong_password_is_a_one_line_error_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert MYSQL_URL
    user, right = f"ft_pw_{uuid.uuid4().hex[:8]}", "Right-pw-1"
    admin = sa.create_engine(MYSQL_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{right}'"))
    try:
        wrong = sa.engine.make_url(MYSQL_URL).set(username=user, password="Wrong-pw-2").render_as_string(False)
        config = write_config(
            {"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "sources": [native_source(wrong)]},
            tmp_path / "ftready.yaml",
        )
        for command in ("sync", "check"):
            assert main([command, "--config", str(config)]) == 1
            captured = capsys.readouterr()
            text = captured.out + captured.err
            if command == "sync":
                assert len(error_lines(text)) == 1, text
            text = " ".join(text.split())  # `check` output wraps at the console width
            assert "Access denied for user" in text and f"{user}:***@" in text
            assert "Wrong-pw-2" not in text and "Right-pw-1" not in text and "Traceback" not in text
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


@needs_postgres
def test_an_unknown_postgresql_role_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pg_hba trusts 127.0.0.1 on the test server, so a wrong password would pass: a missing role is
    the credential error this server can produce."""
    assert POSTGRES_URL
    url = sa.engine.make_url(POSTGRES_URL).set(username="ft_nobody", password="Nobody-pw-3")
    config = write_config(
        {"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
         "sources": [native_source(url.render_as_string(hide_password=False))]},
        tmp_path / "ftready.yaml",
    )  # fmt: skip
    assert main(["sync", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert 'role "ft_nobody" does not exist' in err and "ft_nobody:***@" in err and "Nobody-pw-3" not in err
    assert len(error_lines(err)) == 1


# --- the warehouse changes under a sync --------------------------------------------------------------


@pytest.mark.parametrize(
    "change,undo,message",
    [
        ("DROP TABLE llm_calls", None, "no such table: llm_calls"),
        ("ALTER TABLE llm_calls RENAME COLUMN latency_ms TO latency", "ALTER TABLE llm_calls RENAME COLUMN latency TO latency_ms",
         "no such column: llm_calls.latency_ms"),
    ],
    ids=["table-dropped", "column-renamed"],
)  # fmt: skip
def test_a_table_dropped_or_a_column_renamed_mid_sync_rolls_back_then_converges(
    warehouse: Path, pristine: Path, tmp_path: Path, change: str, undo: str | None, message: str
) -> None:
    settings = make_settings(f"sqlite:///{warehouse}", tmp_path, chunk="week")
    sync(settings, NOW)
    before = snapshot(settings)
    later = NOW + timedelta(hours=1)
    done: list[str] = []

    def change_the_warehouse(point: str) -> None:
        if point == "chunk_done" and not done:  # after the first chunk is written into the transaction
            with closing(sqlite3.connect(warehouse)) as conn:
                conn.execute(change)
                conn.commit()
            done.append(point)

    full = make_settings(f"sqlite:///{warehouse}", tmp_path, chunk="week")
    with pytest.raises(SourceError) as info:
        store = Store(full.store_url)
        try:
            sync_all(full, store, now=later, full=True, checkpoint=change_the_warehouse)
        finally:
            store.dispose()
    assert done and message in str(info.value) and "renamed or dropped while syncing?" in str(info.value)
    assert snapshot(settings) == before  # the whole sync rolled back

    if undo is None:  # the table comes back (restored from a backup)
        shutil.copy(pristine, warehouse)
    else:
        with closing(sqlite3.connect(warehouse)) as conn:
            conn.execute(undo)
            conn.commit()
    sync(settings, later)
    assert snapshot(settings) == fresh(f"sqlite:///{warehouse}", tmp_path, later)


def test_a_column_renamed_between_syncs_names_the_key_and_suggests_the_new_name(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(f"sqlite:///{warehouse}", tmp_path)
    sync(settings, NOW)
    before = snapshot(settings)
    with closing(sqlite3.connect(warehouse)) as conn:
        conn.execute("ALTER TABLE llm_calls RENAME COLUMN latency_ms TO latency_millis")
        conn.commit()
    config = write_config(
        {"store": {"url": settings.store_url},
         "sources": [native_source(f"sqlite:///{warehouse}", labels="llm_labels", backfill_days=70)]},
        tmp_path / "ftready.yaml",
    )  # fmt: skip
    assert main(["sync", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "calls.columns.latency_ms: table 'llm_calls' has no column 'latency_ms'; did you mean 'latency_millis'?" in err
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    assert snapshot(settings) == before


# --- statement timeout ----------------------------------------------------------------------------------


SLOW_VIEWS = {
    "postgresql": "CREATE VIEW {schema}slow_calls AS SELECT c.* FROM {schema}llm_calls c CROSS JOIN (SELECT pg_sleep(3)) s",
    "mariadb": "CREATE VIEW {schema}slow_calls AS SELECT c.* FROM {schema}llm_calls c CROSS JOIN (SELECT SLEEP(3) AS s) z",
}


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_statement_timeout_is_named_with_its_setting(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "postgresql":
        url, schema = request.getfixturevalue("postgres_schema")
        prefix = f'"{schema}".'
    else:
        url, schema, prefix = request.getfixturevalue("mysql_database"), None, ""
    write_table(url, "llm_calls", make_calls(300, NOW, days=20), schema=schema)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(SLOW_VIEWS[backend].format(schema=prefix)))
    engine.dispose()
    table = f"{schema}.slow_calls" if schema else "slow_calls"
    config = write_config(
        {"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
         "sources": [native_source(url, table, query_timeout="1s", backfill_days=30)]},
        tmp_path / "ftready.yaml",
    )  # fmt: skip
    assert main(["sync", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "a query ran longer than the statement timeout (query_timeout: 1s)" in err, err
    assert "raise query_timeout" in err and len(error_lines(err)) == 1
    with closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        assert conn.execute("SELECT count(*) FROM call_rollups").fetchone()[0] == 0
        failures = conn.execute("SELECT consecutive_failures, last_error FROM watermarks").fetchall()
    assert failures and all(n == 1 and "statement timeout" in e for n, e in failures)


# --- Slack down for an hour ------------------------------------------------------------------------


def _notifier(base_url: str) -> SlackNotifier:
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0), sleep=lambda _s: None)
    return SlackNotifier(TOKEN, default_channel="#llm-readiness", base_url=base_url, handlers=handlers, timeout=5)


def test_slack_down_for_an_hour_delays_every_message_and_then_sends_each_once(
    warehouse: Path,
    tmp_path: Path,
    slack_server: FakeSlack,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(f"sqlite:///{warehouse}", tmp_path)
    clock = FakeClock(NOW)
    store = Store(settings.store_url)
    try:
        daemon = Daemon(settings, store, holder="A", clock=clock, notifier=_notifier("http://127.0.0.1:1/api/"))
        assert daemon.tick().leader
        assert daemon.run_job("sync").status == "ok"
        queued = _rows(store)
        assert queued and all(r["status"] == "pending" for r in queued)

        caplog.set_level(logging.WARNING, logger="monitor.outbox")
        for minute in range(1, 61):  # the daemon delivers every minute and syncs every hour
            clock.advance(timedelta(minutes=1))
            assert daemon.run_job("outbox").status == "ok"
            if minute == 60:
                assert daemon.run_job("sync").status == "ok"  # the same state: nothing queued again
        rows = _rows(store)
        assert [r["id"] for r in rows] == [r["id"] for r in queued]  # nothing lost, nothing added
        assert all(r["status"] == "pending" for r in rows)
        first = rows[0]  # each run stops at the first transient error: the others wait their turn
        assert first["last_error"].startswith("connection_error: cannot reach Slack")
        assert 5 <= first["attempts"] <= 8  # backoff (30 s, 1 min, 2 min, …), not 60 attempts
        assert first["next_attempt_at"] - clock.now <= backoff(first["attempts"])
        warnings = [r.getMessage() for r in caplog.records if r.name == "monitor.outbox"]
        assert len(warnings) == first["attempts"]
        assert all("cannot reach Slack" in w and "next attempt in" in w for w in warnings)
        health = read_health(settings, store, now=clock.advance(timedelta(minutes=1)))
        assert any("waiting, the oldest for" in w and "is Slack reachable?" in w for w in health.warnings)

        daemon.notifier = _notifier(slack_server.api_url)  # Slack is back
        for _ in range(6):
            clock.advance(timedelta(hours=1))
            daemon.run_job("outbox")
        rows = _rows(store)
        assert all(r["status"] == "sent" for r in rows)
        top_level = [c for c in slack_server.posted() if "thread_ts" not in c.body]
        assert len(top_level) == len(rows)  # each message once
        assert sorted(c.body["text"] for c in top_level) == sorted(r["payload"]["text"] for r in rows)
        clock.advance(timedelta(days=1))
        assert daemon.run_job("outbox").detail == ""  # nothing left, nothing sent twice
    finally:
        store.dispose()


def _rows(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings()]


# --- disk full while writing the weekly report -------------------------------------------------------


def full_disk(monkeypatch: pytest.MonkeyPatch, directory: Path, *, fail_from_write: int) -> list[str]:
    """From the Nth file written in `directory` on, writing stops halfway with ENOSPC."""
    real_fdopen = os.fdopen
    written: list[str] = []

    class Full:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *_exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self) -> None:
            self.handle.flush()

        def fileno(self) -> int:
            return int(self.handle.fileno())

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if not path.startswith(str(directory)):
            return handle
        written.append(path)
        return Full(handle) if len(written) >= fail_from_write else handle

    monkeypatch.setattr("reports.files.os.fdopen", fdopen)
    return written


@pytest.mark.parametrize("fail_from_write", [1, 2, 3], ids=["week-json", "week-html", "archive-pages"])
def test_a_full_disk_fails_the_report_cleanly_and_keeps_the_old_files_whole(
    warehouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    fail_from_write: int,
) -> None:
    settings = make_settings(f"sqlite:///{warehouse}", tmp_path)
    sync(settings, NOW)
    config = write_config(
        {"store": {"url": settings.store_url},
         "sources": [native_source(f"sqlite:///{warehouse}", labels="llm_labels", backfill_days=70)],
         "reports": {"dir": str(tmp_path / "reports")}},
        tmp_path / "ftready.yaml",
    )  # fmt: skip
    assert main(["report", "--config", str(config)]) == 0
    capsys.readouterr()
    reports = tmp_path / "reports"
    old = {p.name: p.read_bytes() for p in reports.iterdir()}
    assert {p for p in old if p.endswith(".html")} >= {"latest.html", "index.html"}
    with closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        generated = conn.execute("SELECT week, generated_at FROM report_runs").fetchall()

    written = full_disk(monkeypatch, reports, fail_from_write=fail_from_write)
    assert main(["report", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "cannot write the weekly report" in err and "No space left on device" in err
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    assert written  # the fault was hit
    now = {p.name: p.read_bytes() for p in reports.iterdir()}
    assert set(now) == set(old)  # no temporary file left behind
    week = next(name for name in old if name[0].isdigit() and name.endswith(".html"))
    pair = {week, week.replace(".html", ".json")}
    archive = set(old) - pair
    assert {n: now[n] for n in archive} == {n: old[n] for n in archive}  # latest and index whole
    if fail_from_write <= 2:  # the week's JSON and HTML are written together: both old
        assert {n: now[n] for n in pair} == {n: old[n] for n in pair}
    with closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        assert conn.execute("SELECT week, generated_at FROM report_runs").fetchall() == generated

    # the daemon's weekly report job fails the same way: logged, and `status` says so
    store = Store(settings.store_url)
    try:
        daemon = Daemon(settings, store, holder="A", clock=FakeClock(NOW), notifier=_Unused())
        assert daemon.tick().leader
        logging.getLogger().addHandler(caplog.handler)  # `main` configured logging: capture it again
        caplog.set_level(logging.ERROR, logger="monitor.daemon")
        assert daemon.run_job("weekly_report").status == "failed"
        assert any("job weekly_report failed: cannot write the weekly report" in r.getMessage() for r in caplog.records)
        health = read_health(settings, store, now=NOW)
        assert not health.healthy and any("weekly_report" in p for p in health.problems)
        monkeypatch.undo()  # space is freed
        assert daemon.run_job("weekly_report").status == "ok"
        with store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(report_runs)).scalar_one() == 1
    finally:
        store.dispose()
