"""`ftready alerts`: list alert states and the outbox, `--json`, `--test`, `--requeue-dead`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.alerts import process_evaluation
from monitor.cli import main
from monitor.outbox import deliver_outbox
from monitor.settings import load_settings
from monitor.store import Store
from tests.slack_server import TOKEN, FakeSlack, Reply, slack_server  # noqa: F401
from tests.test_alerts import NOW, READY, make_run
from tests.test_slack import fast_notifier


def write_config(tmp_path: Path, slack: dict[str, Any] | None) -> Path:
    config = {
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": [{"name": "wh", "url": "sqlite:///:memory:", "calls": {"table": "llm_calls"}}],
        "workloads": {"claims": {"slack_channel": "#claims"}},
        "alerts": {"pending_evaluations": 1, "slack": slack or {}},
    }
    path = tmp_path / "ftready.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def bot(slack: FakeSlack) -> dict[str, str]:
    return {"token": TOKEN, "base_url": slack.api_url, "default_channel": "#llm-readiness"}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FTREADY_STORE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def test_alerts_lists_states_and_outbox(
    tmp_path: Path, slack_server: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, bot(slack_server))
    settings = load_settings(path, env={})
    store = Store(settings.store_url)
    process_evaluation(settings, store, make_run({"claims": READY, "search": READY}), now=NOW)
    slack_server.script("chat.postMessage", Reply(200, {"ok": False, "error": "channel_not_found"}))
    deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    store.dispose()

    assert main(["alerts", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert "verdict" in text and "firing: ready" in text and "threshold monthly_calls" in text and "claims" in text
    assert "1 dead" in text and "channel_not_found" in text

    assert main(["alerts", "--config", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {a["workload"] for a in data["alerts"]} == {"claims", "search"}
    assert all(a["state"] == "firing" for a in data["alerts"])
    assert data["outbox"]["counts"]["dead"] == 1
    assert data["outbox"]["dead"][0]["last_error"].startswith("channel_not_found")

    assert main(["alerts", "--config", str(path), "--requeue-dead", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outbox"]["counts"]["dead"] == 0


def test_alerts_test_sends_one_message_per_configured_channel(
    tmp_path: Path, slack_server: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, bot(slack_server))
    assert main(["alerts", "--config", str(path), "--test"]) == 0
    assert [c.body["channel"] for c in slack_server.posted()] == ["#llm-readiness", "#claims"]
    assert "✓ #claims" in capsys.readouterr().out


def test_alerts_test_reports_a_failing_channel(
    tmp_path: Path, slack_server: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    slack_server.channels.pop("claims")
    path = write_config(tmp_path, bot(slack_server))
    assert main(["alerts", "--config", str(path), "--test", "--json"]) == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert [(r["channel"], r["ok"]) for r in results] == [("#llm-readiness", True), ("#claims", False)]
    assert results[1]["error"].startswith("channel_not_found")


def test_alerts_test_without_slack_prints_a_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, None)
    assert main(["alerts", "--config", str(path), "--test"]) == 0
    captured = capsys.readouterr()
    assert "dry run" in captured.err and "ftready test message" in captured.out


def test_alerts_with_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, None)
    assert main(["alerts", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "No alert states yet" in out and "0 pending" in out


def test_alerts_test_with_a_webhook_sends_one_message(tmp_path: Path, slack_server: FakeSlack) -> None:
    path = write_config(tmp_path, {"webhook_url": slack_server.webhook_url})
    assert main(["alerts", "--config", str(path), "--test"]) == 0
    (call,) = slack_server.posted()
    assert call.method == "webhook" and "ftready test message" in call.body["text"]
