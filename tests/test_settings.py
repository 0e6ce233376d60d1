"""Configuration: the contract validates strictly and errors name the key path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from monitor.errors import ConfigError
from monitor.settings import load_settings, parse_duration, settings_from_dict

EXAMPLE = Path(__file__).parent.parent / "config" / "example.yaml"
ENV = {"WAREHOUSE_URL": "postgresql+psycopg://reader:hunter2@db.internal/analytics"}


def _example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_config_is_valid() -> None:
    settings = load_settings(EXAMPLE, env=ENV)
    assert settings.sources[0].calls is not None
    assert settings.schedule.sync_every == timedelta(hours=1)
    assert settings.alerts.repeat_interval == timedelta(days=7)
    assert settings.workload("support-triage").latency_slo_ms == 1500
    assert settings.workload("unconfigured").domain == "general"


def test_unknown_key_names_its_path() -> None:
    raw = _example()
    raw["sources"][0]["calls"]["colums"] = raw["sources"][0]["calls"].pop("columns")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.calls\.colums: unknown key"):
        settings_from_dict(raw, env=ENV)


def test_missing_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.url: environment variable WAREHOUSE_URL is not set"):
        load_settings(EXAMPLE, env={})


def test_optional_variable_may_be_unset() -> None:
    settings = load_settings(EXAMPLE, env=ENV)
    assert settings.alerts.slack.token is None


@pytest.mark.parametrize("value", ["1 hour", "0h", "-5m", "7x", ""])
def test_bad_duration(value: str) -> None:
    raw = _example()
    raw["schedule"]["sync_every"] = value
    with pytest.raises(ConfigError, match=r"schedule\.sync_every: .*duration"):
        settings_from_dict(raw, env=ENV)


@pytest.mark.parametrize("text,expected", [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2w", 1209600)])
def test_durations(text: str, expected: int) -> None:
    assert parse_duration(text).total_seconds() == expected


def test_secrets_never_in_repr_or_errors() -> None:
    raw = _example()
    raw["alerts"]["slack"]["token"] = "xoxb-secret-token"
    raw["sources"][0]["calls"]["table"] = 42  # make validation fail somewhere else
    raw["sources"][0]["calls"]["filters"] = [{"column": "x", "op": "in", "value": "notalist"}]
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw, env=ENV)
    assert "hunter2" not in str(info.value) and "xoxb-secret-token" not in str(info.value)
    assert "sources[0].calls.filters[0]" in str(info.value)
    del raw["sources"][0]["calls"]["filters"]
    raw["sources"][0]["calls"]["table"] = "t"
    settings = settings_from_dict(raw, env=ENV)
    assert "hunter2" not in repr(settings) and "xoxb-secret-token" not in repr(settings)
    assert settings.sources[0].display_location == "postgresql+psycopg://reader:***@db.internal/analytics"


def test_store_url_from_environment() -> None:
    settings = load_settings(EXAMPLE, env={**ENV, "FTREADY_STORE_URL": "sqlite:///elsewhere.db"})
    assert settings.store_url == "sqlite:///elsewhere.db"


def test_unknown_column_role_and_provenance_class() -> None:
    raw = _example()
    raw["sources"][0]["calls"]["columns"]["latency"] = "x"
    raw["sources"][0]["examples"]["provenance"]["made_up"] = ["x"]
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw, env=ENV)
    assert "sources[0].calls.columns: unknown column role(s) ['latency']" in str(info.value)
    assert "sources[0].examples.provenance: unknown provenance class(es) ['made_up']" in str(info.value)


def test_bad_weekly_report_and_timezone() -> None:
    raw = _example()
    raw["schedule"] = {"timezone": "Mars/Olympus", "weekly_report": "someday 25:00"}
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw, env=ENV)
    assert "schedule.timezone: unknown time zone" in str(info.value)
    assert "schedule.weekly_report:" in str(info.value)


def test_cli_exits_2_on_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("sources:\n  - name: x\n    url: sqlite://\n    calls: {table: t, colums: {}}\n")
    assert main(["check", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert "sources[0].calls.colums: unknown key" in captured.err
    assert "Traceback" not in captured.err


def test_cli_exits_2_on_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_exits_2_on_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
