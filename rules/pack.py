"""The rule pack: the thresholds the criteria compare a workload's metrics against.

The default pack ships as package data (`rules/default.yaml`) and is the only place the default
numbers live: the models below deliberately declare no defaults of their own. A user pack
(`rules: path.yaml` in the config) may be partial and is merged key by key over the default;
per-workload `thresholds:` are merged over the result with `RulePack.with_overrides`.

Every validation problem becomes a `ConfigError` whose message names the key path, so an operator
can fix the file without reading a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from monitor.errors import ConfigError

DEFAULT_SPEC = "default"


def _show(value: Any) -> str:
    """How an offending value is quoted back in an error message."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):  # as YAML spells it
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return str(value)


def _positive_int(value: Any) -> int:
    # bool is an int subclass, and YAML turns `yes` into True: reject it explicitly.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise PydanticCustomError(
        "positive_int", "must be a positive integer, got {got}", {"got": _show(value)}
    )


def _fraction(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise PydanticCustomError(
        "fraction", "must be a number between 0 and 1, got {got}", {"got": _show(value)}
    )


Count = Annotated[int, PlainValidator(_positive_int)]
Fraction = Annotated[float, PlainValidator(_fraction)]


class _PackModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecurringRule(_PackModel):
    """When a failure pattern counts as recurring.

    monitor/patterns.py computes `FailurePattern.recurring` with these numbers; the caller passes
    them from the pack in force for the workload (rules are not imported by the metrics layer).
    """

    min_weeks: Count
    window_weeks: Count
    min_cases: Count

    @model_validator(mode="after")
    def _weeks_fit_in_window(self) -> RecurringRule:
        if self.min_weeks > self.window_weeks:
            raise PydanticCustomError(
                "min_weeks_over_window",
                "must not exceed window_weeks ({window}), got {got}",
                {"window": self.window_weeks, "got": self.min_weeks, "at": "min_weeks"},
            )
        return self


class RulePack(_PackModel):
    """Validated, immutable thresholds; see `load_rule_pack` and `with_overrides`."""

    monthly_calls: Count
    trusted_real_examples: Count
    prompt_engineering_below: Count
    max_synthetic_share: Fraction
    warn_fraction: Fraction
    recurring: RecurringRule
    max_prompt_versions_30d: Count
    production_age_days: Count
    training_epochs: Count

    @model_validator(mode="after")
    def _floor_below_gate(self) -> RulePack:
        # A floor above the gate would call a workload both "stay with prompts" and "ready".
        if self.prompt_engineering_below > self.trusted_real_examples:
            raise PydanticCustomError(
                "floor_over_gate",
                "must not exceed trusted_real_examples ({gate}), got {got}",
                {
                    "gate": self.trusted_real_examples,
                    "got": self.prompt_engineering_below,
                    "at": "prompt_engineering_below",
                },
            )
        return self

    def with_overrides(
        self, overrides: Mapping[str, Any] | None, *, where: str = "thresholds"
    ) -> RulePack:
        """This pack with `overrides` (pack keys, possibly partial or nested) merged over it.

        `where` is the config path the overrides came from, used in error messages, e.g.
        "workloads.support-triage.thresholds".
        """
        if not overrides:
            return self
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                f"{where}: must be a mapping of rule-pack keys to values, got {_show(overrides)}"
            )

        def describe(key: str, problem: str) -> str:
            return f"{where}.{key}: {problem}" if key else f"{where}: {problem}"

        return _validate(_merge(self.model_dump(), overrides), describe)


def load_rule_pack(spec: str | Path = DEFAULT_SPEC) -> RulePack:
    """The rule pack named by `spec`: "default" (package data) or the path of a YAML pack.

    A user pack may set only some keys; the others come from the default pack. A relative path
    is relative to the working directory (the caller resolves it against the config file).
    """
    if isinstance(spec, str) and spec == DEFAULT_SPEC:
        return _default_pack()
    path = Path(spec).expanduser()
    data = _read_pack_file(path)

    def describe(key: str, problem: str) -> str:
        return f"rules: {key}: {problem} (in {path})" if key else f"rules: {problem} (in {path})"

    return _validate(_merge(_default_pack().model_dump(), data), describe)


@functools.cache
def _default_pack() -> RulePack:
    text = resources.files("rules").joinpath("default.yaml").read_text(encoding="utf-8")

    def describe(key: str, problem: str) -> str:
        return f"rules: {key}: {problem} (in the built-in default pack)"

    return _validate(yaml.safe_load(text), describe)


def _read_pack_file(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"rules: rule pack not found: {path} (use 'default' or the path of a YAML rule pack)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"rules: cannot read rule pack {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"rules: invalid YAML in {path}{where}: {problem}") from None
    if data is None:  # an empty file is a pack that changes nothing
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"rules: a rule pack must be a mapping of keys to values, got {_show(data)} (in {path})"
        )
    return data


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`: nested mappings merge by key, anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _validate(data: Any, describe: Callable[[str, str], str]) -> RulePack:
    try:
        return RulePack.model_validate(data)
    except ValidationError as exc:
        lines = [describe(*_explain(error)) for error in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _explain(error: Mapping[str, Any]) -> tuple[str, str]:
    """(dotted key path, problem in words) for one pydantic error."""
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if "at" in ctx:  # a cross-field check names the key it blames
        loc += (ctx["at"],)
    key = ".".join(str(part) for part in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        problem = f"unknown key; expected one of {', '.join(_keys_at(loc[:-1]))}"
    elif kind in ("model_type", "dict_type"):
        problem = (
            f"must be a mapping with keys {', '.join(_keys_at(loc))}, got {_show(error['input'])}"
        )
    elif kind == "missing":
        problem = "required key is missing"
    else:
        problem = error["msg"]
    return key, problem


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the (sub-)model at `loc` accepts."""
    model: type[BaseModel] = RulePack
    for part in loc:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    return list(model.model_fields)
