"""`ftready status`: the health rules (pure), the JSON document, exit codes, and no secrets shown."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from monitor.cli import main
from monitor.daemon import OUTBOX, REPORT, SYNC, Daemon
from monitor.health import OutboxHealth, assess, health_to_json, secret_scrubber
from monitor.lease import LeaseInfo
from monitor.settings import Settings, settings_from_dict
from monitor.store import Store, job_runs, outbox, utcnow
from tests.conftest import NOW
from tests.daemon_support import RecordingNotifier, build_small_demo, demo_raw_config

SECRET = "hunter2-s3cr3t"
TOKEN = "xoxb-1234-abcdEFGHsecret"


def settings(**overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "sources": [
            {
                "name": "warehouse",
                "url": f"postgresql://ft:{SECRET}@db.internal:5432/analytics",
                "calls": {"table": "calls"},
            },
            {"name": "files", "path": "/data/*.parquet", "calls": {"table": "calls"}},
        ],
        "alerts": {"slack": {"token": TOKEN}},
        "schedule": {"sync_every": "1h"},
        **overrides,
    }
    return settings_from_dict(raw, env={}, origin="test")


def alive_leader(now: datetime = NOW) -> LeaseInfo:
    return LeaseInfo(
        "daemon", "host:1:abc", acquired_at=now - timedelta(hours=5), expires_at=now + timedelta(seconds=40)
    )


def fresh_marks(now: datetime = NOW) -> list[dict[str, Any]]:
    last = now - timedelta(minutes=20)
    return [
        {"source": s, "kind": k, "last_success_at": last, "last_attempt_at": last, "consecutive_failures": 0,
         "last_error": None}
        for s in ("warehouse", "files") for k in ("calls", "examples")
    ]  # fmt: skip


def ok_runs(now: datetime = NOW) -> list[dict[str, Any]]:
    return [
        {"job": job, "last_started_at": now - timedelta(minutes=20), "last_finished_at": now - timedelta(minutes=19),
         "last_status": "ok", "last_error": None, "consecutive_failures": 0, "next_run_at": now + timedelta(minutes=40)}
        for job in (SYNC, OUTBOX, REPORT, "housekeeping")
    ]  # fmt: skip


EMPTY_OUTBOX = OutboxHealth({"pending": 0, "sending": 0, "sent": 12, "dead": 0}, None)


def healthy_inputs() -> dict[str, Any]:
    return {"leader": alive_leader(), "runs": ok_runs(), "marks": fresh_marks(), "outbox": EMPTY_OUTBOX, "now": NOW}


def test_all_good_is_healthy() -> None:
    health = assess(settings(), **healthy_inputs())
    assert health.healthy and health.problems == () and health.warnings == ()
    assert [j.job for j in health.jobs] == [SYNC, OUTBOX, REPORT, "housekeeping"]
    assert all(not s.stale for s in health.sources)


def test_no_leader_or_an_expired_lease_is_unhealthy() -> None:
    inputs = healthy_inputs()
    health = assess(settings(), **{**inputs, "leader": None})
    assert health.problems == ("no daemon holds the leader lease: `ftready run` is not running against this store",)
    expired = LeaseInfo("daemon", "host:1:abc", NOW - timedelta(hours=1), NOW - timedelta(minutes=3))
    health = assess(settings(), **{**inputs, "leader": expired})
    assert not health.healthy
    assert health.problems[0].startswith("the leader lease of host:1:abc expired 3 min ago")


def test_data_older_than_two_sync_intervals_is_stale() -> None:
    marks = fresh_marks()
    for mark in marks:
        if mark["source"] == "warehouse":
            mark["last_success_at"] = NOW - timedelta(hours=2, minutes=1)
    health = assess(settings(), **{**healthy_inputs(), "marks": marks})
    assert [s.source for s in health.sources if s.stale] == ["warehouse"]
    assert health.problems == (
        "data from source warehouse is stale: last successful sync 2 h 1 min ago "
        "(limit 2 h, twice schedule.sync_every)",
    )
    exactly_two = [{**m, "last_success_at": NOW - timedelta(hours=2)} for m in marks]
    assert assess(settings(), **{**healthy_inputs(), "marks": exactly_two}).healthy


def test_a_source_never_synced_is_stale() -> None:
    marks = [m for m in fresh_marks() if m["source"] != "files"]
    health = assess(settings(), **{**healthy_inputs(), "marks": marks})
    assert health.problems == ("source files has never synced successfully",)


def test_a_failing_job_is_unhealthy_even_while_it_retries() -> None:
    runs = ok_runs()
    runs[0] |= {
        "last_status": "failed",
        "consecutive_failures": 3,
        "last_error": "source 'warehouse': connection refused",
    }
    health = assess(settings(), **{**healthy_inputs(), "runs": runs})
    assert health.problems == ("job sync failed 3 times in a row: source 'warehouse': connection refused",)
    runs[0] |= {"last_status": "running"}  # the next attempt is running: still failing until it succeeds
    health = assess(settings(), **{**healthy_inputs(), "runs": runs})
    assert health.problems == (
        "job sync failed 3 times in a row (running again now): source 'warehouse': connection refused",
    )


def test_dead_letters_and_old_pending_notifications_are_warnings_not_problems() -> None:
    box = OutboxHealth({"pending": 3, "sending": 1, "sent": 5, "dead": 2}, NOW - timedelta(hours=2))
    health = assess(settings(), **{**healthy_inputs(), "outbox": box})
    assert health.healthy
    assert health.warnings == (
        "2 notification(s) dead-lettered: see `ftready alerts`, fix the cause, then `ftready alerts --requeue-dead`",
        "4 notification(s) waiting, the oldest for 2 h: is Slack reachable?",
    )


def test_secrets_are_scrubbed_from_every_error_shown() -> None:
    runs = ok_runs()
    runs[0] |= {
        "last_status": "failed",
        "consecutive_failures": 1,
        "last_error": f"connect postgresql://ft:{SECRET}@db failed",
    }
    runs[1] |= {"last_status": "failed", "consecutive_failures": 1, "last_error": f"invalid_auth for token {TOKEN}"}
    marks = fresh_marks()
    marks[0] |= {"consecutive_failures": 2, "last_error": f"password {SECRET} rejected for mysql://other:pw9@h/x"}
    health = assess(settings(), **{**healthy_inputs(), "runs": runs, "marks": marks})
    document = json.dumps(health_to_json(health))
    assert SECRET not in document and TOKEN not in document and "pw9" not in document
    assert "postgresql://ft:***@db" in document and "mysql://other:***@h/x" in document
    scrub = secret_scrubber(settings())
    assert scrub(f"token={TOKEN}") == "token=***"


def test_the_json_document() -> None:
    document = health_to_json(assess(settings(), **healthy_inputs(), store="postgresql://ft:***@db/state"))
    assert document["healthy"] is True
    assert document["leader"] == {
        "holder": "host:1:abc",
        "acquired_at": (NOW - timedelta(hours=5)).isoformat(),
        "expires_at": (NOW + timedelta(seconds=40)).isoformat(),
        "alive": True,
    }
    assert document["jobs"][0] == {
        "job": SYNC,
        "last_started_at": (NOW - timedelta(minutes=20)).isoformat(),
        "last_finished_at": (NOW - timedelta(minutes=19)).isoformat(),
        "last_status": "ok",
        "last_error": None,
        "consecutive_failures": 0,
        "next_run_at": (NOW + timedelta(minutes=40)).isoformat(),
        "failing": False,
    }
    assert document["sources"][0]["age_seconds"] == 1200
    assert document["stale_after_seconds"] == 7200
    assert document["outbox"] == {"pending": 0, "sending": 0, "sent": 12, "dead": 0, "oldest_pending_at": None}


# --- the command, against a store a daemon wrote -----------------------------------------------


@pytest.fixture(scope="module")
def demo_config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("status")
    demo = build_small_demo(directory / "demo", now=utcnow())
    raw = demo_raw_config(demo, store_url=f"sqlite:///{directory / 'state.db'}", reports_dir=directory / "reports")
    raw["alerts"]["slack"] = {"token": TOKEN, "default_channel": "#llm-readiness"}
    config = directory / "ftready.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    settings = settings_from_dict(raw, env={}, origin=str(config))
    daemon = Daemon(settings, Store(settings.store_url), holder="host:42:cafe", notifier=RecordingNotifier())
    daemon.tick()  # the real clock: `ftready status` reads the lease against it
    assert daemon.run_job(SYNC).status == "ok"
    assert daemon.run_job(OUTBOX).status == "ok"
    daemon.tick()  # renewed: alive for the lease TTL (60 s) from here
    daemon.store.dispose()
    return config


def run_status(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["status", "--config", str(config), *args])
    return code, capsys.readouterr().out


def test_status_of_a_running_healthy_daemon(demo_config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_status(demo_config_file, capsys, "--json")
    document = json.loads(text)
    assert (code, document["healthy"], document["problems"]) == (0, True, [])
    assert document["leader"]["holder"] == "host:42:cafe" and document["leader"]["alive"]
    jobs = {j["job"]: j for j in document["jobs"]}
    assert jobs[SYNC]["last_status"] == "ok" and jobs[OUTBOX]["last_status"] == "ok"
    assert jobs[REPORT]["last_status"] is None  # not yet due: not a problem
    assert document["sources"][0]["stale"] is False
    assert document["outbox"]["sent"] > 0
    assert TOKEN not in text


def test_status_exit_code_and_text_when_a_job_fails(demo_config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = yaml.safe_load(demo_config_file.read_text())
    store = Store(raw["store"]["url"])
    try:
        with store.transaction() as conn:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.job == OUTBOX)
                .values(last_status="failed", consecutive_failures=2, last_error=f"invalid_auth: token {TOKEN} revoked")
            )
        code, text = run_status(demo_config_file, capsys)
    finally:
        with store.transaction() as conn:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.job == OUTBOX)
                .values(last_status="ok", consecutive_failures=0, last_error=None)
            )
        store.dispose()
    assert code == 1
    assert "UNHEALTHY" in text and "job outbox failed 2 times in a row" in text
    assert TOKEN not in text and "token *** revoked" in text
    assert "host:42:cafe" in text and "demo" in text


def test_status_without_a_daemon_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ftready.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": [{"name": "wh", "url": f"postgresql://u:{SECRET}@nowhere/db", "calls": {"table": "t"}}],
    }))  # fmt: skip
    code, text = run_status(config, capsys, "--json")
    document = json.loads(text)
    assert code == 1
    assert document["leader"] is None
    assert document["problems"] == [
        "no daemon holds the leader lease: `ftready run` is not running against this store",
        "source wh has never synced successfully",
    ]
    assert SECRET not in text
    with Store(f"sqlite:///{tmp_path / 'state.db'}").read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0
