"""`ftready report [--week] [--out] [--open] [--digest] [--json]`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from monitor import cli_report, evaluate
from monitor import store as tables
from monitor.cli import main
from monitor.model import EvaluationRun
from monitor.store import Store
from tests.report_data import sample_run

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)  # Saturday of 2026-W48


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "ftready.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                "sources": [{"name": "warehouse", "url": "sqlite:///warehouse.db", "calls": {"table": "llm_calls"}}],
                "reports": {"dir": str(tmp_path / "reports")},
            }
        )
    )
    return path


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replaces the evaluator (tested on its own) with the sample portfolio; records each call."""
    calls: list[dict[str, Any]] = []

    def fake_evaluate(settings: Any, store: Any, *, now: datetime | None = None, save: bool = True) -> EvaluationRun:
        calls.append({"now": now, "save": save})
        return sample_run(now or NOW)

    monkeypatch.setattr(evaluate, "evaluate_store", fake_evaluate)
    monkeypatch.setattr(cli_report, "utcnow", lambda: NOW)
    return calls


def test_report_writes_this_weeks_files(
    config: Path, tmp_path: Path, evaluations: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--config", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["week"] == "2026-W48"
    assert result["html"] == str((tmp_path / "reports" / "2026-W48.html").resolve())
    for key in ("html", "json", "latest", "index"):
        assert Path(result[key]).is_file()
    assert result["digest_outbox_ids"] == []
    assert evaluations == [{"now": NOW, "save": False}]  # a report never stores an evaluation


def test_past_week_is_evaluated_at_its_scheduled_time(
    config: Path, tmp_path: Path, evaluations: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "elsewhere"
    assert main(["report", "-c", str(config), "--week", "2026-W46", "--out", str(out)]) == 0
    assert evaluations[0]["now"] == datetime(2026, 11, 9, 8, 0, tzinfo=timezone.utc)  # mon 08:00 of W46
    assert (out / "2026-W46.html").is_file() and (out / "index.html").is_file()
    printed = capsys.readouterr().out
    assert "report 2026-W46: 2 ready, 1 approaching, 3 stay with prompts" in printed
    assert str((out / "2026-W46.html").resolve()) in printed.replace("\n", "")


@pytest.mark.parametrize("week", ["2027-W10", "banana", "2026-W99"])
def test_bad_weeks_are_usage_errors(config: Path, week: str, evaluations: list[dict[str, Any]]) -> None:
    assert main(["report", "-c", str(config), "--week", week]) == 2
    assert evaluations == []


def test_open_and_digest(
    config: Path, tmp_path: Path, evaluations: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(cli_report.webbrowser, "open", lambda url: opened.append(url) or True)
    assert main(["report", "-c", str(config), "--open", "--digest"]) == 0
    assert opened == [(tmp_path / "reports" / "2026-W48.html").resolve().as_uri()]
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    with store.read() as conn:
        channels = (
            conn.execute(sa.select(tables.outbox.c.channel).where(tables.outbox.c.kind == "report_digest"))
            .scalars()
            .all()
        )
    assert sorted(channels) == ["#claims-ml", "#llm-readiness"]
    assert main(["report", "-c", str(config), "--digest"]) == 0  # the same week again: not queued twice
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.outbox)).scalar() == 2


def test_entry_points_are_importable_from_the_cli_module() -> None:
    from reports.publish import enqueue_digest, write_weekly_report

    assert cli_report.write_weekly_report is write_weekly_report
    assert cli_report.enqueue_digest is enqueue_digest


def test_report_dir_that_is_a_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An OS-level failure (reports.dir is a file) exits 1 with one message, no traceback."""
    from monitor.cli import main

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    config = tmp_path / "ftready.yaml"
    config.write_text(
        "store: {url: 'sqlite:///" + str(tmp_path / "state.db") + "'}\n"
        "sources: [{name: s, url: 'sqlite:///" + str(tmp_path / "wh.db") + "', calls: {table: t}}]\n"
        "reports: {dir: '" + str(blocker / "reports") + "'}\n"
    )
    assert main(["report", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "error:" in captured.err and "Traceback" not in captured.err
