"""The configuration contract (DESIGN.md, "Configuration"): a validated, typed model of ftready.yaml.

Loading does three things in order: parse YAML, interpolate `${VAR}` / `${VAR:-default}` from the
environment (a missing variable is an error naming it and the key it appears under), then validate
strictly (an unknown key is an error naming its path, e.g. `sources[0].calls.colums`).
Secrets (URLs with passwords, Slack tokens) are `SecretStr`: they never show in `repr` or errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.errors import ConfigError
from monitor.pricing import PriceEntry

DEFAULT_CONFIG_PATH = Path("config/ftready.yaml")
DEFAULT_STORE_URL = "sqlite:///.ftready/state.db"

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: Any) -> timedelta:
    """`30s`, `15m`, `1h`, `7d`, `2w` (or a number of seconds) → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{value!r} is not a duration; use a positive number with a unit: 30s, 15m, 1h, 7d, 2w")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ***, safe for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: mask anything that looks like user:pass@
        return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _sqlalchemy_url(value: SecretStr | None) -> SecretStr | None:
    """A URL SQLAlchemy can parse (the driver is checked when connecting). The message never
    repeats the value: it may hold a password."""
    if value is not None:
        try:
            make_url(value.get_secret_value())
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a SQLAlchemy URL; expected e.g. postgresql+psycopg://user:${PASSWORD}@host/db or sqlite:///path.db"
            ) from None
    return value


class StoreSettings(_Strict):
    url: SecretStr = SecretStr(DEFAULT_STORE_URL)

    _valid_url = field_validator("url")(_sqlalchemy_url)


FilterOp = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null"]


class FilterSpec(_Strict):
    """A structured filter: the value is always a bound parameter, the column a quoted identifier."""

    column: str
    op: FilterOp = "="
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> FilterSpec:
        if self.op in ("in", "not in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value, e.g. value: [a, b]")
        if self.op in ("is null", "is not null") and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        if self.op not in ("in", "not in", "is null", "is not null") and (
            self.value is None or isinstance(self.value, (list, dict))
        ):
            raise ValueError(f"op {self.op!r} needs a single value")
        return self


CALL_ROLES = (
    "id", "timestamp", "workload", "model", "input_tokens", "output_tokens", "latency_ms",
    "status", "cost_usd", "prompt_version", "environment", "operation", "ingested_at",
)  # fmt: skip
EXAMPLE_ROLES = (
    "id", "workload", "created_at", "updated_at", "label", "failure_mode", "provenance",
    "label_source", "call_id", "input_text", "output_text",
)  # fmt: skip
PROVENANCE_CLASSES = ("production_log", "relabeled_by_human", "relabeled_by_model", "upload", "synthetic", "unknown")
Preset = Literal["native", "otel_genai", "langfuse", "helicone"]
ExamplePreset = Literal["native", "langfuse", "helicone"]

# Roles a preset reads besides the contract's own (connectors/presets.py; README "Sources: presets and files").
PRESET_CALL_ROLES: dict[str, tuple[str, ...]] = {
    "native": (),
    "otel_genai": ("start_time", "end_time", "span_name", "status_code", "error_type", "attributes"),
    "langfuse": ("start_time", "end_time", "type", "level", "trace_id", "usage"),
    "helicone": (),
}
PRESET_EXAMPLE_ROLES: dict[str, tuple[str, ...]] = {
    "native": (),
    "langfuse": ("trace_id", "observation_id", "value", "string_value", "data_type"),
    "helicone": ("scores", "rating"),
}
# What a label preset implies unless the config says otherwise (only keys the config leaves out are filled).
EXAMPLE_PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "langfuse": {
        "provenance": {
            "production_log": ["ANNOTATION", "API"],
            "relabeled_by_model": ["EVAL"],
            "relabeled_by_human": ["CORRECTION"],
        },
        "trusted_label_sources": ["ANNOTATION", "CORRECTION"],
        "failure_labels": ["fail", "false", "incorrect", "bad", "no"],
    },
    "helicone": {
        "provenance": {"production_log": ["helicone_feedback"]},
        "trusted_label_sources": ["helicone_feedback"],
        "failure_labels": ["fail"],
    },
}


class JsonKey(_Strict):
    """A value read from a JSON/map column, e.g. the workload from `metadata->>'feature'`."""

    column: str
    key: str


class CallsSettings(_Strict):
    table: str
    schema_: str | None = Field(default=None, alias="schema")
    preset: Preset = "native"
    columns: dict[str, str] = {}
    filters: list[FilterSpec] = []
    workload_key: JsonKey | None = None  # the workload from a JSON column instead of `columns.workload`
    workload_constant: str | None = None  # every call of this source belongs to this workload
    error_values: list[str] = ["error"]  # status values that count as errors (case-insensitive)
    llm_operations: list[str] = ["chat", "text_completion", "generate_content"]
    traces_table: str | None = None  # langfuse: the traces table whose name is the workload (default `traces`)

    @field_validator("columns")
    @classmethod
    def _known_roles(cls, columns: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        preset = info.data.get("preset", "native")
        _check_roles(columns, CALL_ROLES + PRESET_CALL_ROLES.get(preset, ()), preset)
        return columns

    @model_validator(mode="after")
    def _traces_table_is_langfuse(self) -> CallsSettings:
        if self.traces_table is not None and self.preset != "langfuse":
            raise ValueError(f"traces_table is read only by preset langfuse, not {self.preset!r}")
        return self


class ExamplesSettings(_Strict):
    table: str
    schema_: str | None = Field(default=None, alias="schema")
    preset: ExamplePreset = "native"  # langfuse: a scores table; helicone: feedback on the request log
    columns: dict[str, str] = {}
    failure_labels: list[str] = ["fail"]
    provenance: dict[str, list[str]] = {}
    trusted_label_sources: list[str] = ["human"]
    page_size: int = Field(default=5000, ge=100, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("preset"), str):
            return {**EXAMPLE_PRESET_DEFAULTS.get(data["preset"], {}), **data}
        return data

    @field_validator("columns")
    @classmethod
    def _known_roles(cls, columns: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        preset = info.data.get("preset", "native")
        _check_roles(columns, EXAMPLE_ROLES + PRESET_EXAMPLE_ROLES.get(preset, ()), preset)
        missing = [r for r in ("id", "workload", "created_at", "label") if r not in columns]
        if preset == "native" and missing:
            raise ValueError(f"missing required column mapping(s): {', '.join(missing)}")
        return columns

    @field_validator("provenance")
    @classmethod
    def _known_classes(cls, mapping: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(mapping) - set(PROVENANCE_CLASSES))
        if unknown:
            raise ValueError(f"unknown provenance class(es) {unknown}; expected some of {list(PROVENANCE_CLASSES)}")
        return mapping


def _check_roles(columns: Mapping[str, str], allowed: tuple[str, ...], preset: str = "native") -> None:
    unknown = sorted(set(columns) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown column role(s) {unknown} for preset {preset!r}; expected some of {list(allowed)}"
        )


MEMORY_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
"""The units DuckDB takes in a memory size, in bytes."""
_MEMORY_SIZE = re.compile(rf"(\d+(?:\.\d+)?)\s*({'|'.join(MEMORY_UNITS)})")


def memory_bytes(size: str) -> float:
    """A memory size as `duckdb_memory_limit` takes it (digits and a unit, e.g. 128MB), in bytes."""
    number, unit = _MEMORY_SIZE.fullmatch(size.strip()).groups()  # type: ignore[union-attr]
    return float(number) * MEMORY_UNITS[unit]


class SourceSettings(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    url: SecretStr | None = None
    # a glob of Parquet/CSV/JSON-lines files read through DuckDB as the calls/examples table, or
    # {table name: glob} when a preset reads several tables (e.g. Langfuse observations, traces, scores)
    path: str | dict[str, str] | None = None
    calls: CallsSettings | None = None
    examples: ExamplesSettings | None = None
    backfill_days: int = Field(default=400, ge=1, le=3660)
    lookback_days: int = Field(default=3, ge=0, le=366)
    chunk: Literal["month", "week", "day"] = "month"
    query_timeout: Duration | None = None
    # chunk queries a backfill keeps running in the warehouse at once (default: see Warehouse.query_concurrency)
    concurrent_queries: int | None = Field(default=None, ge=1, le=8)
    # DuckDB runs inside ftready: the memory limit of its connections (see `duckdb_memory`)
    duckdb_memory_limit: str | None = None

    _valid_url = field_validator("url")(_sqlalchemy_url)

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _MEMORY_SIZE.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a size; expected e.g. 32MB or 1GB")
        return value.strip()

    @field_validator("path", mode="before")
    @classmethod
    def _glob_or_globs(cls, value: Any) -> Any:
        # one message instead of one per member of the union (`path.str: …`, `path.dict[str,str]: …`)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return value
        raise ValueError("expected a file glob (text) or a mapping of table name to file glob")

    @model_validator(mode="after")
    def _one_location(self) -> SourceSettings:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of `url` (a SQLAlchemy URL) or `path` (a file glob)")
        if self.calls is None and self.examples is None:
            raise ValueError("a source needs `calls`, `examples` or both")
        if (self.concurrent_queries or 1) > 1 and self.runs_on_duckdb:
            raise ValueError(
                "concurrent_queries: DuckDB runs one query at a time over every core, inside ftready, and the "
                "sync empties its cache between queries; leave concurrent_queries unset (or 1) on DuckDB and file sources"
            )
        return self

    @property
    def runs_on_duckdb(self) -> bool:
        """DuckDB runs this source's queries: a DuckDB database or `path:` files."""
        return self.path is not None or (
            self.url is not None and make_url(self.url.get_secret_value()).get_backend_name() == "duckdb"
        )

    @property
    def duckdb_memory(self) -> str | None:
        """The memory limit for DuckDB connections: `duckdb_memory_limit`, else 128MB for a DuckDB
        database (whose buffer cache would otherwise grow with the table to 80 % of RAM) and
        DuckDB's own default for `path:` files, whose CSV and JSON readers need 32 MB buffers per
        thread. The limit bounds what one query may hold: a query returning 60,000 groups needed more
        than 32MB and less than 64MB (bench/RESULTS.md); a query that needs more fails with an error
        that names the setting. On a DuckDB database each query starts under a smaller working limit
        and gets this one only if it needs it (`connectors.warehouse.Warehouse._working_limit`)."""
        if self.duckdb_memory_limit is not None:
            return self.duckdb_memory_limit
        return "128MB" if self.url is not None else None

    @property
    def display_location(self) -> str:
        if self.url is not None:
            return mask_url(self.url.get_secret_value())
        return ", ".join(self.path.values()) if isinstance(self.path, dict) else str(self.path)


class WorkloadSettings(_Strict):
    domain: Literal["general", "specialized"] = "general"
    strict_format: bool = False
    latency_slo_ms: float | None = Field(default=None, gt=0)
    current_model: str | None = None
    candidate_model: str | None = None
    owners: list[str] = []
    slack_channel: str | None = None
    thresholds: dict[str, Any] = {}

    @field_validator("domain", mode="before")
    @classmethod
    def _british_spelling(cls, value: Any) -> Any:
        return "specialized" if value == "specialised" else value


class SlackSettings(_Strict):
    token: SecretStr | None = None
    webhook_url: SecretStr | None = None
    default_channel: str = "#llm-readiness"
    base_url: str | None = None  # Slack API base URL; tests point it at a local server

    @field_validator("token", "webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value


class AlertsSettings(_Strict):
    slack: SlackSettings = SlackSettings()
    pending_evaluations: int = Field(default=2, ge=1, le=100)
    repeat_interval: Duration = timedelta(days=7)
    send_resolved: bool = True


class HousekeepingSettings(_Strict):
    """The daemon's daily clean-up (`ftready run`): when it runs and how long history is kept."""

    at: str = "03:30"  # daily, in schedule.timezone
    keep_evaluations: Duration = timedelta(days=180)  # each workload's latest evaluation is always kept
    keep_sent_notifications: Duration = timedelta(days=30)  # dead-lettered ones are never deleted

    @field_validator("at")
    @classmethod
    def _daily_time(cls, value: str) -> str:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f"{value!r} is not a time of day; use 24h HH:MM, e.g. '03:30'")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("keep_evaluations")
    @classmethod
    def _keeps_report_baseline(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=14):  # the report compares with the evaluation of a week before
            raise ValueError("keep at least 14d of evaluations (the weekly report compares with last week)")
        return value

    @field_validator("keep_sent_notifications")
    @classmethod
    def _keeps_digest_dedup(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=7):  # a week's digest row is how a re-run knows it was sent
            raise ValueError("keep at least 7d of sent notifications (they stop a weekly digest going out twice)")
        return value

    @property
    def at_parts(self) -> tuple[int, int]:
        hour, minute = self.at.split(":")
        return int(hour), int(minute)


class ScheduleSettings(_Strict):
    timezone: str = "UTC"
    sync_every: Duration = timedelta(hours=1)
    weekly_report: str = "mon 08:00"
    lease_ttl: Duration = timedelta(seconds=60)  # a dead daemon's replica takes over after this
    housekeeping: HousekeepingSettings = HousekeepingSettings()

    @field_validator("lease_ttl")
    @classmethod
    def _sane_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=10) <= value <= timedelta(hours=1):
            raise ValueError("lease_ttl must be between 10s and 1h")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC or Europe/Berlin") from None
        return value

    @field_validator("weekly_report")
    @classmethod
    def _day_and_time(cls, value: str) -> str:
        match = re.fullmatch(r"\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*", value)
        if not match or match.group(1).lower() not in _WEEKDAYS or int(match.group(2)) > 23 or int(match.group(3)) > 59:
            raise ValueError(f"{value!r} is not a weekly time; use a day name and a 24h time, e.g. 'mon 08:00'")
        return f"{match.group(1).lower()} {int(match.group(2)):02d}:{match.group(3)}"

    @property
    def weekly_report_parts(self) -> tuple[str, int, int]:
        day, clock = self.weekly_report.split()
        hour, minute = clock.split(":")
        return day, int(hour), int(minute)


class ReportsSettings(_Strict):
    dir: str = "reports"
    base_url: str | None = None
    excerpts: bool = True


class Settings(_Strict):
    store: StoreSettings = StoreSettings()
    sources: list[SourceSettings] = Field(min_length=1)
    workloads: dict[str, WorkloadSettings] = {}
    rules: str = "default"
    pricing: list[PriceEntry] = []
    alerts: AlertsSettings = AlertsSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    reports: ReportsSettings = ReportsSettings()

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceSettings]) -> list[SourceSettings]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:  # reported at `sources`, not at the top level
            raise ValueError(f"source names must be unique; repeated: {duplicates}")
        return sources

    @property
    def store_url(self) -> str:
        return self.store.url.get_secret_value()

    def workload(self, name: str) -> WorkloadSettings:
        return self.workloads.get(name, WorkloadSettings())

    def source(self, name: str) -> SourceSettings:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"no source named {name!r}; configured: {[s.name for s in self.sources]}")


def config_path(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(explicit or env.get("FTREADY_CONFIG") or DEFAULT_CONFIG_PATH)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate a config file. Raises ConfigError with an actionable message."""
    env = os.environ if env is None else env
    file = config_path(path, env)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file} not found; copy config/example.yaml there, pass --config PATH or set FTREADY_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{file}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping with at least `sources:`")
    return settings_from_dict(raw, env=env, origin=str(file))


def settings_from_dict(
    raw: dict[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    origin: str = "config",
) -> Settings:
    """Validate an already-parsed config mapping (also used by tests and `ftready demo`)."""
    env = os.environ if env is None else env
    data = _interpolate(raw, env, origin, path="")
    if env.get("FTREADY_STORE_URL"):
        data = {**data, "store": {**(data.get("store") or {}), "url": env["FTREADY_STORE_URL"]}}
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, origin)) from None


def _interpolate(node: Any, env: Mapping[str, str], origin: str, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, origin, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, origin, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{origin}: {path}: environment variable {name} is not set; export it or use ${{{name}:-default}}"
        )

    whole = _ENV_REF.fullmatch(node.strip())
    if whole and whole.group(2) == "":  # `${VAR:-}` means "optional": unset becomes null
        return env.get(whole.group(1)) or None
    return _ENV_REF.sub(substitute, node)


def _describe_validation_error(exc: ValidationError, origin: str) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        location = _format_loc(error["loc"])
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against config/example.yaml)"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{location or '(top level)'}: {message}")
    head = f"{origin}: invalid configuration"
    return head + ":\n  " + "\n  ".join(lines) if len(lines) > 1 else f"{head}: {lines[0]}"


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[")):
            continue
        else:
            name = "schema" if part == "schema_" else str(part)
            out += f".{name}" if out else name
    return out
