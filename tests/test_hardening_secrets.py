"""Secrets never show: a run with known secrets (warehouse and store passwords, a Slack bot token)
through the CLI (check, sync, evaluate --json, alerts --json, alerts --test, report, status) at
--log-level DEBUG, and through the daemon's jobs, then every byte printed, logged, written to the
report directory or kept as an error in the store is searched for them.

The warehouse is PostgreSQL read through a role that has only USAGE and SELECT (what SECURITY.md
recommends) and a password; the store is PostgreSQL through a role with a password. The test
server trusts 127.0.0.1 (pg_hba `trust`), so the passwords are not checked, but they are in every
URL ftready handles. A second source with the same password points at a closed port, so errors
that name the source's URL are produced too; the Slack token is not the one the fake Slack accepts,
so delivery and `alerts --test` fail with invalid_auth and print their errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
import yaml
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from monitor import logs
from monitor.cli import main
from monitor.daemon import Daemon
from monitor.settings import load_settings
from monitor.slack import WebhookNotifier, retry_handlers
from monitor.store import Store
from tests.conftest import NOW, POSTGRES_URL
from tests.daemon_support import FakeClock
from tests.factories import make_calls, native_source, write_table
from tests.slack_server import FakeSlack, slack_server  # noqa: F401

needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="FTREADY_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)")


@dataclass(frozen=True)
class Secrets:
    warehouse_password: str
    store_password: str
    slack_token: str
    warehouse_url: str
    down_url: str
    store_url: str

    def forms(self) -> list[str]:
        """Each secret as typed and as it appears percent-encoded inside a URL."""
        raw = [self.warehouse_password, self.store_password, self.slack_token]
        return sorted({*raw, *(quote(s, safe="") for s in raw)})


@pytest.fixture
def secrets() -> Iterator[Secrets]:
    """A warehouse schema readable by a read-only role with a password, and a store schema owned by
    another role with a password; both roles and schemas are dropped afterwards."""
    assert POSTGRES_URL
    tag = uuid.uuid4().hex[:10]
    reader, owner = f"ft_ro_{tag}", f"ft_store_{tag}"
    warehouse_schema, store_schema = f"ft_wh_{tag}", f"ft_st_{tag}"
    pw_reader, pw_owner = f"h#nter2-{tag}", f"St0re/pw@{tag}"  # characters a URL must encode
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{warehouse_schema}"'))
    write_table(POSTGRES_URL, "llm_calls", make_calls(800, NOW, days=60), schema=warehouse_schema)
    with admin.begin() as conn:
        for role, password in ((reader, pw_reader), (owner, pw_owner)):  # DDL takes no parameters; no quotes inside
            conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        conn.execute(sa.text(f"ALTER ROLE {reader} SET default_transaction_read_only = on"))  # as SECURITY.md says
        conn.execute(sa.text(f'GRANT USAGE ON SCHEMA "{warehouse_schema}" TO {reader}'))
        conn.execute(sa.text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{warehouse_schema}" TO {reader}'))
        conn.execute(sa.text(f'CREATE SCHEMA "{store_schema}" AUTHORIZATION {owner}'))
    base = sa.engine.make_url(POSTGRES_URL)
    warehouse = base.set(username=reader, password=pw_reader)
    store = base.set(username=owner, password=pw_owner).update_query_dict({"options": f"-csearch_path={store_schema}"})
    try:
        yield Secrets(
            warehouse_password=pw_reader,
            store_password=pw_owner,
            slack_token=f"xoxb-1234-5678-{tag}SecretSlackToken",
            warehouse_url=warehouse.render_as_string(hide_password=False),
            down_url=warehouse.set(port=1).render_as_string(hide_password=False),
            store_url=store.render_as_string(hide_password=False),
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{warehouse_schema}" CASCADE'))
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{store_schema}" CASCADE'))
            for role in (reader, owner):
                conn.execute(sa.text(f"DROP OWNED BY {role}"))
                conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


@needs_postgres
def test_no_secret_in_any_output_log_report_or_stored_error(
    secrets: Secrets,
    slack_server: FakeSlack,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    parsed = sa.engine.make_url(secrets.warehouse_url)
    config = {
        "sources": [
            native_source("${WAREHOUSE_URL}", f"{_warehouse_schema(secrets)}.llm_calls") | {"name": "warehouse"},
            native_source("${DOWN_URL}") | {"name": "down", "query_timeout": "5s"},
        ],
        "workloads": {"claims": {"owners": ["<@U024BE7LH>"]}},
        "alerts": {
            "pending_evaluations": 1,
            "slack": {"token": "${SLACK_BOT_TOKEN}", "base_url": slack_server.api_url},
        },
        "reports": {"dir": str(tmp_path / "reports")},
    }
    path = tmp_path / "ftready.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("WAREHOUSE_URL", secrets.warehouse_url)
    monkeypatch.setenv("DOWN_URL", secrets.down_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", secrets.slack_token)
    monkeypatch.setenv("FTREADY_STORE_URL", secrets.store_url)
    assert parsed.password == secrets.warehouse_password  # the URL really carries the password

    seen: list[str] = []
    debug = ["--log-level", "DEBUG"]
    commands = [
        (debug + ["check", "--config", str(path)], 1),  # the down source fails the check
        (debug + ["sync", "--config", str(path)], 1),  # the down source fails, the other syncs
        (["--log-format", "json", *debug, "sync", "--config", str(path)], 1),
    ]
    for argv, code in commands:
        assert main(argv) == code, argv
        seen.append(_output(capfd))

    # the daemon's jobs: a third failed sync raises the sync-failing alert; Slack refuses the token
    logs.configure("text", "DEBUG")
    settings = load_settings(path)
    store = Store(settings.store_url)
    try:
        daemon = Daemon(settings, store, holder="A", clock=FakeClock(NOW + timedelta(hours=1)))
        assert daemon.tick().leader
        assert daemon.run_job("sync").status == "failed"
        assert daemon.run_job("outbox").status == "ok"
        stored_errors = _stored_errors(store)
    finally:
        store.dispose()
    seen.append(_output(capfd))
    assert any("invalid_auth" in e for e in stored_errors)  # the dead letters say why
    assert any("warehouse is reachable" in e for e in stored_errors)  # and the sync why

    commands = [
        (debug + ["evaluate", "--json", "--config", str(path)], 0),
        (debug + ["alerts", "--json", "--config", str(path)], 0),
        (debug + ["alerts", "--test", "--config", str(path)], 1),  # invalid_auth, printed
        (debug + ["report", "--json", "--config", str(path)], 0),
        (debug + ["status", "--json", "--config", str(path)], 1),  # unhealthy: a failing source
        (debug + ["status", "--config", str(path)], 1),
        (debug + ["explain", "claims", "--config", str(path)], 0),
    ]
    for argv, code in commands:
        assert main(argv) == code, argv
        seen.append(_output(capfd))

    files = sorted((tmp_path / "reports").iterdir())
    assert any(f.suffix == ".html" for f in files)
    written = [f.read_text(encoding="utf-8") for f in files]
    everything = "\n".join([*seen, *written, *stored_errors])
    for secret in secrets.forms():
        assert secret not in everything, f"a secret leaked: {secret[:6]}…"
    assert "***" in everything  # URLs were shown, masked
    assert "invalid_auth" in everything and "sync_failing" in everything


def test_a_slack_webhook_url_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """An incoming webhook's URL is its secret: Slack unreachable, every error about it is shown,
    stored and listed without it."""
    hook_secret = "T0SECRET/B0SECRET/aSecretWebhookPath42"
    webhook = f"http://127.0.0.1:1/services/{hook_secret}"
    warehouse = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(warehouse, "llm_calls", make_calls(200, NOW, days=20), text_timestamps=True)
    config = {
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": [native_source(warehouse)],
        "alerts": {"slack": {"webhook_url": "${SLACK_WEBHOOK_URL}"}},
        "reports": {"dir": str(tmp_path / "reports")},
    }
    path = tmp_path / "ftready.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook)
    debug = ["--log-level", "DEBUG"]
    seen = []
    for argv, code in (
        (debug + ["sync", "--config", str(path)], 0),
        (debug + ["report", "--digest", "--config", str(path)], 0),  # queues the weekly digest
        (debug + ["alerts", "--test", "--json", "--config", str(path)], 1),  # Slack unreachable
    ):
        assert main(argv) == code, argv
        seen.append(_output(capfd))
    logs.configure("text", "DEBUG")
    settings = load_settings(path)
    store = Store(settings.store_url)
    try:
        notifier = WebhookNotifier(webhook, handlers=retry_handlers(interval=FixedValueRetryIntervalCalculator(0)))
        daemon = Daemon(settings, store, holder="A", clock=FakeClock(NOW), notifier=notifier)
        assert daemon.tick().leader
        assert daemon.run_job("outbox").status == "ok"  # a transient error: retried later
        stored_errors = _stored_errors(store)
    finally:
        store.dispose()
    seen.append(_output(capfd))
    for argv in (["alerts", "--json", "--config", str(path)], ["status", "--json", "--config", str(path)]):
        main(debug + argv)
        seen.append(_output(capfd))
    everything = "\n".join([*seen, *stored_errors])
    assert "cannot reach Slack" in everything  # the errors were shown and stored
    for secret in (hook_secret, quote(hook_secret, safe=""), "aSecretWebhookPath42"):
        assert secret not in everything


def _warehouse_schema(secrets: Secrets) -> str:
    tag = sa.engine.make_url(secrets.warehouse_url).username.removeprefix("ft_ro_")  # type: ignore[union-attr]
    return f"ft_wh_{tag}"


def _output(capfd: pytest.CaptureFixture[str]) -> str:
    captured = capfd.readouterr()
    return captured.out + captured.err


def _stored_errors(store: Store) -> list[str]:
    """Every error text the store keeps (sync errors, job errors, Slack errors)."""
    with store.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT last_error FROM watermarks UNION ALL SELECT last_error FROM job_runs "
                "UNION ALL SELECT last_error FROM outbox"
            )
        )
        return [r[0] for r in rows if r[0]]
