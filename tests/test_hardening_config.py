"""Broken configurations: each one makes `ftready check` (and `sync`, `evaluate`) exit 2 with ONE
line that names the key path and says what is expected, never a traceback, never a secret.

Each case changes one key of a valid config (`BASE`, which `check` accepts) and lists what the
error line must contain.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from tests.conftest import NOW
from tests.factories import make_calls, write_table

SECRET = "pw-never-shown-42"
BASE: dict[str, Any] = {
    "store": {"url": "sqlite:///{tmp}/state.db"},
    "sources": [
        {
            "name": "wh",
            "url": "${WAREHOUSE_URL}",
            "calls": {
                "table": "llm_calls",
                "columns": {"id": "call_id", "timestamp": "created_at", "workload": "feature", "model": "model"},
                "filters": [{"column": "environment", "op": "=", "value": "production"}],
            },
            "examples": {
                "table": "llm_calls",
                "columns": {"id": "call_id", "workload": "feature", "created_at": "created_at", "label": "status"},
            },
        }
    ],
    "workloads": {"support": {"latency_slo_ms": 1500, "thresholds": {"monthly_calls": 1000}}},
    "alerts": {"slack": {"token": "xoxb-" + SECRET, "default_channel": "#llm-readiness"}},
    "schedule": {"timezone": "UTC", "sync_every": "1h"},
    "reports": {"dir": "{tmp}/reports"},
}
DELETE = object()

# (id, key path to change, new value (DELETE removes the key), what the one error line must contain)
CASES: list[tuple[str, str, Any, list[str]]] = [
    ("unknown-top-level-key", "storage", {}, ["storage: unknown key"]),
    ("misspelled-nested-key", "sources.0.calls.colums", {}, ["sources[0].calls.colums: unknown key"]),
    ("no-sources", "sources", [], ["sources: List should have at least 1 item"]),
    ("sources-missing", "sources", DELETE, ["sources: required key is missing"]),
    ("source-name-with-spaces", "sources.0.name", "my source", ["sources[0].name: String should match pattern"]),
    ("url-and-path", "sources.0.path", "/data/*.parquet", ["sources[0]: give exactly one of `url`"]),
    ("path-not-text", "sources.0.path", 42, ["sources[0].path: expected a file glob (text) or a mapping"]),
    ("url-not-a-url", "sources.0.url", "not a url at all", ["sources[0].url: not a SQLAlchemy URL; expected e.g."]),
    ("store-url-not-a-url", "store.url", "::::", ["store.url: not a SQLAlchemy URL"]),
    ("unknown-preset", "sources.0.calls.preset", "datadog", ["sources[0].calls.preset: Input should be 'native'"]),
    ("unknown-column-role", "sources.0.calls.columns.latency", "lat", ["sources[0].calls.columns: unknown column role(s) ['latency']"]),
    ("filter-operator", "sources.0.calls.filters.0.op", "like", ["sources[0].calls.filters[0].op: Input should be '='"]),
    ("filter-in-needs-a-list", "sources.0.calls.filters.0", {"column": "environment", "op": "in", "value": "prod"},
     ["sources[0].calls.filters[0]: op 'in' needs a list value"]),
    ("backfill-days-zero", "sources.0.backfill_days", 0, ["sources[0].backfill_days: Input should be greater than or equal to 1"]),
    ("chunk-year", "sources.0.chunk", "year", ["sources[0].chunk: Input should be 'month', 'week' or 'day'"]),
    ("query-timeout-words", "sources.0.query_timeout", "10 minutes", ["sources[0].query_timeout: '10 minutes' is not a duration"]),
    ("concurrent-queries-zero", "sources.0.concurrent_queries", 0, ["sources[0].concurrent_queries: Input should be greater than or equal to 1"]),
    ("concurrent-queries-many", "sources.0.concurrent_queries", 64, ["sources[0].concurrent_queries: Input should be less than or equal to 8"]),
    ("duckdb-memory-words", "sources.0.duckdb_memory_limit", "a lot", ["sources[0].duckdb_memory_limit: 'a lot' is not a size; expected e.g. 32MB"]),
    ("duckdb-memory-injection", "sources.0.duckdb_memory_limit", "1GB'; DROP TABLE x; --", ["sources[0].duckdb_memory_limit: \"1GB'; DROP TABLE x; --\" is not a size"]),
    ("examples-label-unmapped", "sources.0.examples.columns.label", DELETE,
     ["sources[0].examples.columns: missing required column mapping(s): label"]),
    ("page-size-tiny", "sources.0.examples.page_size", 5, ["sources[0].examples.page_size: Input should be greater than or equal to 100"]),
    ("unknown-provenance-class", "sources.0.examples.provenance", {"prod": ["x"]},
     ["sources[0].examples.provenance: unknown provenance class(es) ['prod']"]),
    ("duplicate-source-names", "sources.1", "copy of sources.0", ["sources: source names must be unique; repeated: ['wh']"]),
    ("workload-domain", "workloads.support.domain", "medical", ["workloads.support.domain: Input should be 'general' or 'specialized'"]),
    ("latency-slo-negative", "workloads.support.latency_slo_ms", -5, ["workloads.support.latency_slo_ms: Input should be greater than 0"]),
    ("threshold-misspelled", "workloads.support.thresholds.monthly_callz", 5,
     ["workloads.support.thresholds.monthly_callz: unknown key; expected one of"]),
    ("threshold-negative", "workloads.support.thresholds.monthly_calls", -5,
     ["workloads.support.thresholds.monthly_calls: must be a positive integer, got -5"]),
    ("rule-pack-missing", "rules", "/nonexistent/pack.yaml", ["rules: rule pack not found: /nonexistent/pack.yaml"]),
    ("pending-evaluations-zero", "alerts.pending_evaluations", 0, ["alerts.pending_evaluations: Input should be greater than or equal to 1"]),
    ("repeat-interval-words", "alerts.repeat_interval", "weekly", ["alerts.repeat_interval: 'weekly' is not a duration"]),
    ("slack-unknown-key", "alerts.slack.channel", "#x", ["alerts.slack.channel: unknown key"]),
    ("unknown-time-zone", "schedule.timezone", "Mars/Olympus", ["schedule.timezone: unknown time zone 'Mars/Olympus'"]),
    ("weekly-report-time", "schedule.weekly_report", "someday", ["schedule.weekly_report: 'someday' is not a weekly time"]),
    ("sync-every-zero", "schedule.sync_every", "0h", ["schedule.sync_every: '0h' is not a duration"]),
    ("lease-ttl-too-short", "schedule.lease_ttl", "5s", ["schedule.lease_ttl: lease_ttl must be between 10s and 1h"]),
    ("housekeeping-time", "schedule.housekeeping", {"at": "25:00"}, ["schedule.housekeeping.at: '25:00' is not a time of day"]),
    ("excerpts-not-boolean", "reports.excerpts", "no way", ["reports.excerpts: Input should be a valid boolean"]),
]  # fmt: skip


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[last]
    elif value == "copy of sources.0":
        node.append(copy.deepcopy(node[0]))
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    text = yaml.safe_dump(config, sort_keys=False).replace("{tmp}", str(tmp_path))
    path = tmp_path / "ftready.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def warehouse_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny warehouse, so that `check` passes on the valid BASE config; its URL in the environment."""
    write_table(f"sqlite:///{tmp_path / 'wh.db'}", "llm_calls", make_calls(20, NOW), text_timestamps=True)
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'wh.db'}")
    return tmp_path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and "Traceback" not in captured.err and SECRET not in captured.err
    return lines[0]


def test_the_base_config_is_valid(warehouse_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(_write(warehouse_env, copy.deepcopy(BASE)))]) == 0, capsys.readouterr()


@pytest.mark.parametrize("key,value,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_broken_config_exits_2_with_one_line_naming_the_key(
    warehouse_env: Path, capsys: pytest.CaptureFixture[str], key: str, value: Any, expected: list[str]
) -> None:
    config = copy.deepcopy(BASE)
    _set(config, key, value)
    assert main(["check", "--config", str(_write(warehouse_env, config))]) == 2
    line = _one_error_line(capsys)
    for part in expected:
        assert part in line, line


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("command", ["sync", "evaluate", "report", "status", "alerts"])
def test_every_command_refuses_a_broken_config_the_same_way(
    warehouse_env: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    config = copy.deepcopy(BASE)
    _set(config, "sources.0.calls.preset", "datadog")
    assert main([command, "--config", str(_write(warehouse_env, config))]) == 2
    assert "sources[0].calls.preset: Input should be 'native'" in _one_error_line(capsys)


def test_a_missing_environment_variable_is_named_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    assert main(["check", "--config", str(_write(tmp_path, copy.deepcopy(BASE)))]) == 2
    line = _one_error_line(capsys)
    assert "sources[0].url: environment variable WAREHOUSE_URL is not set" in line


@pytest.mark.parametrize(
    "text,expected",
    [
        ("sources: [\n", "not valid YAML at line 2, column 1: expected the node content"),
        ("sources:\n  - name: a\n\tbad: tab\n", "not valid YAML at line 3, column 1"),
        ("- just\n- a list\n", "the top level must be a mapping with at least `sources:`"),
        ("", "the top level must be a mapping"),
    ],
    ids=["unclosed-bracket", "tab-indent", "list-at-top", "empty-file"],
)
def test_a_file_that_is_not_a_config_mapping_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "ftready.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 2
    assert expected in _one_error_line(capsys)
