"""`ftready evaluate` / `explain` through the CLI, on a small demo warehouse synced into a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from monitor.demo import build_demo_warehouse, demo_config
from tests.conftest import NOW

CRITERION_KEYS = {"id", "status", "value", "threshold", "message"}
METRIC_KEYS = {
    "calls_last_month", "calls_trailing_30d", "trusted_real_examples", "synthetic_share", "recurring_patterns",
    "p95_latency_ms", "monthly_cost_usd", "projected_savings_usd",
}  # fmt: skip


@pytest.fixture(scope="module")
def demo_config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    info = build_demo_warehouse(directory / "warehouse.db", now=NOW, scale=0.02)
    config = demo_config(info, store_url=f"sqlite:///{directory / 'state.db'}", reports_dir=str(directory / "reports"))
    path = directory / "ftready.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["sync", "--config", str(path)]) == 0
    return path


def test_evaluate_json_matches_the_schema(demo_config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["evaluate", "--json", "--config", str(demo_config_file)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) >= {"evaluated_at", "workloads"}
    names = {w["workload"] for w in document["workloads"]}
    assert {"claims-extraction", "marketing-copy", "clinical-notes", "search-rerank", "email-drafts", "faq-bot"} <= names
    for workload in document["workloads"]:
        assert workload["verdict"] in ("prompt_engineering", "approaching", "ready")
        assert isinstance(workload["blockers"], list)
        assert workload["criteria"] and all(set(c) >= CRITERION_KEYS for c in workload["criteria"])
        assert {c["status"] for c in workload["criteria"]} <= {"met", "not_met", "warn", "no_data"}
        assert set(workload["metrics"]) >= METRIC_KEYS
        for pattern in workload["metrics"]["recurring_patterns"]:
            assert set(pattern) >= {"key", "cases", "weeks_seen", "trend", "remedy"}


def test_explain_prints_every_criterion_and_the_cost(demo_config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["explain", "claims-extraction", "--config", str(demo_config_file)]) == 0
    text = capsys.readouterr().out
    for criterion in ("trusted_real_examples", "recurring_failures_measured", "synthetic_share", "monthly_calls",
                      "specialized_domain", "strict_format", "latency_slo", "prompt_stability"):  # fmt: skip
        assert criterion in text
    assert "Cost arithmetic" in text


def test_explain_unknown_workload_exits_2(demo_config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "no-such-workload", "--config", str(demo_config_file)]) == 2
    assert "known workloads: claims-extraction" in capsys.readouterr().err


def test_evaluations_are_stored_as_history(demo_config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["evaluate", "--json", "--config", str(demo_config_file)]) == 0
    first = {w["workload"]: w["verdict"] for w in json.loads(capsys.readouterr().out)["workloads"]}
    assert main(["evaluate", "--json", "--config", str(demo_config_file)]) == 0
    second = json.loads(capsys.readouterr().out)["workloads"]
    assert {w["workload"]: w["previous_verdict"] for w in second} == first
