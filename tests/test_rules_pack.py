"""Rule-pack loading, merging, validation messages and per-workload overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.errors import ConfigError
from rules import RulePack, load_rule_pack

ALL_KEYS = (
    "monthly_calls, trusted_real_examples, prompt_engineering_below, max_synthetic_share, "
    "warn_fraction, recurring, max_prompt_versions_30d, production_age_days, training_epochs"
)


def write_pack(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(spec: str | Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_rule_pack(spec)
    assert raised.value.exit_code == 2
    return str(raised.value)


def test_default_pack_has_the_design_thresholds() -> None:
    pack = load_rule_pack()
    assert pack.model_dump() == {
        "monthly_calls": 500_000,
        "trusted_real_examples": 1_000,
        "prompt_engineering_below": 500,
        "max_synthetic_share": 0.5,
        "warn_fraction": 0.8,
        "recurring": {"min_weeks": 3, "window_weeks": 8, "min_cases": 20},
        "max_prompt_versions_30d": 3,
        "production_age_days": 90,
        "training_epochs": 3,
    }
    assert load_rule_pack("default") == pack


def test_partial_user_pack_is_merged_over_the_default(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "monthly_calls: 200000\nrecurring:\n  min_cases: 10\n")
    pack = load_rule_pack(path)
    assert pack.monthly_calls == 200_000
    assert pack.recurring.model_dump() == {"min_weeks": 3, "window_weeks": 8, "min_cases": 10}
    assert pack.trusted_real_examples == 1_000
    assert load_rule_pack(str(path)) == pack


def test_empty_user_pack_is_the_default(tmp_path: Path) -> None:
    assert load_rule_pack(write_pack(tmp_path, "# nothing changed\n")) == load_rule_pack()


def test_fractions_accept_integer_bounds(tmp_path: Path) -> None:
    pack = load_rule_pack(write_pack(tmp_path, "max_synthetic_share: 0\nwarn_fraction: 1\n"))
    assert (pack.max_synthetic_share, pack.warn_fraction) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("recurring: {min_weeks: -1}", "recurring.min_weeks: must be a positive integer, got -1"),
        ("monthly_calls: 0", "monthly_calls: must be a positive integer, got 0"),
        ("monthly_calls: 1.5", "monthly_calls: must be a positive integer, got 1.5"),
        ("monthly_calls: yes", "monthly_calls: must be a positive integer, got true"),
        ("monthly_calls: '500000'", "monthly_calls: must be a positive integer, got '500000'"),
        ("training_epochs:", "training_epochs: must be a positive integer, got an empty value"),
        ("warn_fraction: 1.5", "warn_fraction: must be a number between 0 and 1, got 1.5"),
        (
            "max_synthetic_share: -0.1",
            "max_synthetic_share: must be a number between 0 and 1, got -0.1",
        ),
        (
            "max_synthetic_share: half",
            "max_synthetic_share: must be a number between 0 and 1, got 'half'",
        ),
        (
            "recurring: 3",
            "recurring: must be a mapping with keys min_weeks, window_weeks, min_cases, got 3",
        ),
        (
            "recurring: {min_weeks: 9}",
            "recurring.min_weeks: must not exceed window_weeks (8), got 9",
        ),
        (
            "prompt_engineering_below: 2000",
            "prompt_engineering_below: must not exceed trusted_real_examples (1000), got 2000",
        ),
        ("monthly_cals: 1", f"monthly_cals: unknown key; expected one of {ALL_KEYS}"),
        (
            "recurring: {min_case: 5}",
            "recurring.min_case: unknown key; expected one of min_weeks, window_weeks, min_cases",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = write_pack(tmp_path, text + "\n")
    assert config_error(path) == f"rules: {problem} (in {path})"


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "monthly_calls: -5\nwarn_fraction: 2\nbogus: 1\n")
    lines = config_error(path).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("rules: ") and line.endswith(f"(in {path})") for line in lines)


def test_missing_file(tmp_path: Path) -> None:
    message = config_error(tmp_path / "nope.yaml")
    assert message.startswith(f"rules: rule pack not found: {tmp_path / 'nope.yaml'}")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "monthly_calls: 5\nrecurring: {min_weeks: 3\n")
    message = config_error(path)
    assert message.startswith(f"rules: invalid YAML in {path} at line ")


def test_pack_must_be_a_mapping(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "- monthly_calls\n")
    assert config_error(path) == (
        f"rules: a rule pack must be a mapping of keys to values, got a list (in {path})"
    )


def test_pack_is_immutable() -> None:
    with pytest.raises(ValidationError):
        load_rule_pack().monthly_calls = 1  # type: ignore[misc]


# --- per-workload overrides -----------------------------------------------------------------


def test_overrides_merge_over_the_pack() -> None:
    pack = load_rule_pack()
    overridden = pack.with_overrides({"monthly_calls": 300_000, "recurring": {"min_cases": 5}})
    assert overridden.monthly_calls == 300_000
    assert overridden.recurring.model_dump() == {"min_weeks": 3, "window_weeks": 8, "min_cases": 5}
    assert pack.monthly_calls == 500_000  # the original is untouched


def test_empty_overrides_return_the_same_pack() -> None:
    pack = load_rule_pack()
    assert pack.with_overrides({}) is pack


def test_override_unknown_key_names_the_config_path() -> None:
    with pytest.raises(ConfigError) as raised:
        load_rule_pack().with_overrides(
            {"monthly_cals": 300_000}, where="workloads.support-triage.thresholds"
        )
    assert str(raised.value) == (
        "workloads.support-triage.thresholds.monthly_cals: unknown key; "
        f"expected one of {ALL_KEYS}"
    )


def test_override_bad_value_names_the_config_path() -> None:
    with pytest.raises(ConfigError) as raised:
        load_rule_pack().with_overrides(
            {"recurring": {"min_cases": 0}}, where="workloads.a.thresholds"
        )
    assert str(raised.value) == (
        "workloads.a.thresholds.recurring.min_cases: must be a positive integer, got 0"
    )


def test_overrides_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError) as raised:
        not_a_mapping: Any = [1, 2]
        load_rule_pack().with_overrides(not_a_mapping, where="workloads.a.thresholds")
    assert str(raised.value) == (
        "workloads.a.thresholds: must be a mapping of rule-pack keys to values, got a list"
    )


def test_override_on_a_user_pack_keeps_the_user_values(tmp_path: Path) -> None:
    pack = load_rule_pack(write_pack(tmp_path, "trusted_real_examples: 2000\n"))
    overridden = pack.with_overrides({"monthly_calls": 1_000})
    assert (overridden.trusted_real_examples, overridden.monthly_calls) == (2_000, 1_000)
    assert isinstance(overridden, RulePack)
