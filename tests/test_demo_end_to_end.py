"""`ftready demo` at its default size, end to end: the workloads get the verdicts they were built for.

This is the slowest test of the suite (it builds and syncs several million calls); it is the one
that proves the framework on realistic data, so it runs in CI like every other test.
"""

from __future__ import annotations

import json
from pathlib import Path

import html5lib
import pytest

from monitor.cli import main

EXPECTED = {
    "claims-extraction": "ready",
    "clinical-notes": "approaching",
    "search-rerank": "approaching",
    "email-drafts": "approaching",
    "marketing-copy": "prompt_engineering",
    "faq-bot": "prompt_engineering",
}


def test_demo_prints_verdicts_alerts_and_report(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    output = capfd.readouterr().out
    for workload in EXPECTED:
        assert workload in output
    assert "alert(s)" in output
    report = Path(output.split("report:")[-1].strip().split()[0])
    assert report.exists() and report.suffix == ".html"
    html5lib.parse(report.read_text(encoding="utf-8"), namespaceHTMLElements=False)

    capfd.readouterr()
    config = tmp_path / "ftready.yaml"
    assert main(["evaluate", "--json", "--config", str(config)]) == 0
    verdicts = {w["workload"]: w["verdict"] for w in json.loads(capfd.readouterr().out)["workloads"]}
    assert verdicts == EXPECTED

    synthetic_heavy = next(
        w for w in json.loads(_evaluate(config, capfd))["workloads"] if w["workload"] == "marketing-copy"
    )
    assert any("ynthetic" in blocker for blocker in synthetic_heavy["blockers"])
    for workload in EXPECTED:
        assert main(["explain", workload, "--config", str(config)]) == 0


def _evaluate(config: Path, capfd: pytest.CaptureFixture[str]) -> str:
    assert main(["evaluate", "--json", "--config", str(config)]) == 0
    return capfd.readouterr().out
