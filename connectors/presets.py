"""Column-mapping presets: how each role of the call-log contract is read from a source table.

A preset turns a reflected table plus the `calls:` settings into `CallExprs`, the SQLAlchemy
expressions the pushdown query aggregates. `native` reads one column per role; other presets
(OpenTelemetry GenAI spans, Langfuse, Helicone) derive roles from their own schemas. Every key in
`columns:` overrides the preset's default for that role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from connectors.dialects import epoch_ms_between, json_member, json_text
from connectors.tables import column_for, split_table_name
from monitor.errors import ConfigError
from monitor.settings import EXAMPLE_ROLES, CallsSettings, ExamplesSettings, FilterSpec


@dataclass(frozen=True)
class CallExprs:
    """SQL expressions for the roles of a call-log row, plus the conditions every query applies."""

    timestamp: ColumnElement
    workload: ColumnElement
    model: ColumnElement
    input_tokens: ColumnElement | None
    output_tokens: ColumnElement | None
    latency_ms: ColumnElement | None
    is_error: ColumnElement | None
    cost_usd: ColumnElement | None
    prompt_version: ColumnElement | None
    ingested_at: ColumnElement | None
    conditions: tuple[ColumnElement, ...]


PresetBuilder = Callable[[sa.Table, CallsSettings, str], CallExprs]


def native(table: sa.Table, settings: CallsSettings, source: str) -> CallExprs:
    """One column per role, named by `columns:` (a role left out defaults to its own name when present)."""

    def role(name: str, required: bool = False) -> ColumnElement | None:
        mapped = settings.columns.get(name)
        if mapped is None and name not in table.c and not required:
            return None
        return column_for(table, mapped or name, f"calls.columns.{name}", source)

    status = role("status")
    operation = role("operation")
    conditions = [*filter_conditions(table, settings.filters, source)]
    if operation is not None:
        conditions.append(sa.or_(operation.is_(None), operation.in_(settings.llm_operations)))
    return CallExprs(
        timestamp=role("timestamp", required=True),  # type: ignore[arg-type]
        workload=workload_expr(table, settings, source, role("workload")),
        model=role("model", required=True),  # type: ignore[arg-type]
        input_tokens=role("input_tokens"),
        output_tokens=role("output_tokens"),
        latency_ms=role("latency_ms"),
        is_error=error_condition(status, settings.error_values),
        cost_usd=role("cost_usd"),
        prompt_version=role("prompt_version"),
        ingested_at=role("ingested_at"),
        conditions=tuple(conditions),
    )


def workload_expr(
    table: sa.Table, settings: CallsSettings, source: str, column: ColumnElement | None
) -> ColumnElement:
    """The workload: a constant, a JSON key, or a column (in that order of precedence)."""
    if settings.workload_constant is not None:
        return sa.literal(settings.workload_constant, sa.String)
    if settings.workload_key is not None:
        json_column = column_for(table, settings.workload_key.column, "calls.workload_key.column", source)
        return json_text(json_column, settings.workload_key.key)
    if column is None:
        raise ConfigError(
            f"source {source!r}: calls: no workload: map `columns.workload`, set "
            "`workload_key: {column, key}` or `workload_constant`"
        )
    return column


def error_condition(status: ColumnElement | None, error_values: list[str]) -> ColumnElement | None:
    if status is None:
        return None
    return sa.func.lower(sa.cast(status, sa.String)).in_([v.lower() for v in error_values])


def filter_conditions(table: sa.Table, filters: list[FilterSpec], source: str) -> list[ColumnElement]:
    """Structured filters → conditions with bound parameters on quoted columns."""
    out: list[ColumnElement] = []
    for index, spec in enumerate(filters):
        column = column_for(table, spec.column, f"calls.filters[{index}].column", source)
        match spec.op:
            case "=":
                out.append(column == spec.value)
            case "!=":
                out.append(column != spec.value)
            case "<":
                out.append(column < spec.value)
            case "<=":
                out.append(column <= spec.value)
            case ">":
                out.append(column > spec.value)
            case ">=":
                out.append(column >= spec.value)
            case "in":
                out.append(column.in_(spec.value))
            case "not in":
                out.append(column.not_in(spec.value))
            case "is null":
                out.append(column.is_(None))
            case "is not null":
                out.append(column.is_not(None))
    return out


# -- shared pieces of the presets ------------------------------------------------------------------


def _present(table: sa.Table, *names: str) -> ColumnElement | None:
    """The first of `names` that is a column of the table."""
    return next((table.c[n] for n in names if n in table.c), None)


def _mapped(table: sa.Table, settings: CallsSettings | ExamplesSettings, role: str, source: str, section: str) -> ColumnElement | None:
    """The column `columns.<role>` names, if the config names one (an unknown name is an error)."""
    name = settings.columns.get(role)
    return column_for(table, name, f"{section}.columns.{role}", source) if name else None


def _first(*exprs: ColumnElement | None) -> ColumnElement | None:
    """The first expression given (SQL expressions have no truth value, so `a or b` cannot say this)."""
    return next((e for e in exprs if e is not None), None)


def _coalesce(exprs: list[ColumnElement]) -> ColumnElement | None:
    if not exprs:
        return None
    return exprs[0] if len(exprs) == 1 else sa.func.coalesce(*exprs)


def _as_int(expr: ColumnElement) -> ColumnElement:
    return sa.cast(expr, sa.BigInteger)


def json_key(column: ColumnElement, key: str) -> ColumnElement:
    """A key of a JSON/map column. Exported maps (OTel attributes, ClickHouse Map columns) keep dotted
    keys whole (`{"gen_ai.agent.name": ...}`); a nested object is tried as the fallback."""
    if "." not in key:
        return json_text(column, key)
    return sa.func.coalesce(json_member(column, key), json_text(column, key))


def preset_workload(
    table: sa.Table, settings: CallsSettings, source: str, column: ColumnElement | None, default: ColumnElement | None
) -> ColumnElement:
    """The workload: a constant, a JSON key, the mapped column, else the preset's default."""
    if settings.workload_constant is not None:
        return sa.literal(settings.workload_constant, sa.String)
    if settings.workload_key is not None:
        json_column = column_for(table, settings.workload_key.column, "calls.workload_key.column", source)
        return json_key(json_column, settings.workload_key.key)
    if column is not None:
        return column
    if default is not None:
        return default
    raise ConfigError(
        f"source {source!r}: calls (preset {settings.preset}): no workload: set `workload_key: {{column, key}}` "
        "(e.g. a properties or metadata key), map `columns.workload` or set `workload_constant`"
    )


# -- OpenTelemetry GenAI spans -----------------------------------------------------------------------

OTEL_SPAN_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("span_id", "SpanId", "spanId"),
    "start_time": ("start_time", "StartTime", "start_timestamp", "Timestamp", "timestamp"),
    "end_time": ("end_time", "EndTime", "end_timestamp"),
    "span_name": ("name", "span_name", "SpanName"),
    "status_code": ("status_code", "StatusCode", "status.code", "otel.status_code"),
    "attributes": ("attributes", "span_attributes", "SpanAttributes"),
}
# Attribute names of the GenAI semantic conventions; the deprecated names are read as fallbacks.
OTEL_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "model": ("gen_ai.response.model", "gen_ai.request.model"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "operation": ("gen_ai.operation.name",),
    "error_type": ("error.type",),
}
OTEL_ERROR_STATUSES = ("ERROR", "STATUS_CODE_ERROR", "2")


class _OtelSpans:
    """Reads a role from a flattened span table (one column per attribute, named as the attribute)
    or from a JSON attributes column, whichever holds it: a column of that name wins."""

    def __init__(self, table: sa.Table, settings: CallsSettings, source: str) -> None:
        self.table, self.settings, self.source = table, settings, source
        self.attributes = self.span("attributes")

    def span(self, role: str) -> ColumnElement | None:
        return _first(
            _mapped(self.table, self.settings, role, self.source, "calls"),
            _present(self.table, *OTEL_SPAN_COLUMNS[role]),
        )

    def named(self, name: str, role: str) -> ColumnElement:
        """A configured name: a column, else an attribute of the JSON attributes column."""
        if name in self.table.c:
            return self.table.c[name]
        if self.attributes is not None:
            return json_member(self.attributes, name)
        return column_for(self.table, name, f"calls.columns.{role}", self.source)

    def attribute(self, name: str) -> ColumnElement | None:
        if name in self.table.c:
            return self.table.c[name]
        return json_member(self.attributes, name) if self.attributes is not None else None

    def role(self, role: str, cast: bool = False) -> ColumnElement | None:
        mapped = self.settings.columns.get(role)
        found = [self.named(mapped, role)] if mapped else [
            a for a in (self.attribute(n) for n in OTEL_ATTRIBUTES.get(role, ())) if a is not None
        ]
        return _coalesce([_as_int(e) for e in found] if cast else found)


def otel_genai(table: sa.Table, settings: CallsSettings, source: str) -> CallExprs:
    """OpenTelemetry GenAI spans; only LLM operations are counted, so agent and tool spans are skipped."""
    spans = _OtelSpans(table, settings, source)
    start = spans.span("start_time")
    timestamp = _first(_mapped(table, settings, "timestamp", source, "calls"), start)
    if timestamp is None:
        raise ConfigError(
            f"source {source!r}: calls (preset otel_genai): table {table.name!r} has no span start time "
            f"(looked for {', '.join(OTEL_SPAN_COLUMNS['start_time'])}); map `columns.start_time`"
        )
    model = spans.role("model")
    if model is None:
        raise ConfigError(
            f"source {source!r}: calls (preset otel_genai): table {table.name!r} has neither a "
            "gen_ai.response.model / gen_ai.request.model column nor a JSON attributes column; "
            "map `columns.model` or `columns.attributes`"
        )
    end = spans.span("end_time")
    latency = _mapped(table, settings, "latency_ms", source, "calls")
    if latency is None and start is not None and end is not None:
        latency = epoch_ms_between(start, end)

    failures: list[ColumnElement] = []
    status = _first(_mapped(table, settings, "status", source, "calls"), spans.span("status_code"))
    if status is not None:
        values = sorted({*OTEL_ERROR_STATUSES, *(v.upper() for v in settings.error_values)})
        failures.append(sa.func.upper(sa.cast(status, sa.String)).in_(values))
    error_type = spans.role("error_type")
    if error_type is not None:
        failures.append(sa.and_(error_type.is_not(None), sa.cast(error_type, sa.String) != ""))

    operation = spans.role("operation")
    conditions = [*filter_conditions(table, settings.filters, source)]
    if operation is not None:
        # Spans without an operation name (older instrumentations) count only when they name a model.
        conditions.append(
            sa.or_(operation.in_(settings.llm_operations), sa.and_(operation.is_(None), model.is_not(None)))
        )
    else:
        conditions.append(model.is_not(None))
    workload_column = spans.named(settings.columns["workload"], "workload") if "workload" in settings.columns else None
    return CallExprs(
        timestamp=timestamp,
        workload=preset_workload(table, settings, source, workload_column, spans.span("span_name")),
        model=model,
        input_tokens=spans.role("input_tokens", cast=True),
        output_tokens=spans.role("output_tokens", cast=True),
        latency_ms=latency,
        is_error=sa.or_(*failures) if failures else None,
        cost_usd=_mapped(table, settings, "cost_usd", source, "calls"),
        prompt_version=_mapped(table, settings, "prompt_version", source, "calls"),
        ingested_at=_mapped(table, settings, "ingested_at", source, "calls"),
        conditions=tuple(conditions),
    )


# -- Langfuse observations ---------------------------------------------------------------------------


def langfuse_traces(table: sa.Table | sa.Alias, settings: CallsSettings | None) -> sa.TableClause:
    """The traces table beside the observations (`traces_table`, default `traces`), as a quoted name.
    Only `id` and `name` are read, so it is not reflected."""
    name = (settings.traces_table if settings is not None else None) or "traces"
    schema, bare = split_table_name(name, None)
    if schema is None:
        schema = getattr(table, "schema", None) or getattr(getattr(table, "element", None), "schema", None)
    return sa.table(bare, sa.column("id"), sa.column("name"), schema=schema)


def trace_name(traces: sa.TableClause, trace_id: ColumnElement) -> ColumnElement:
    """The trace's name, looked up in SQL per row. `max` because an export of Langfuse's
    ReplacingMergeTree tables can hold several versions of one trace."""
    return sa.select(sa.func.max(traces.c.name)).where(traces.c.id == trace_id).scalar_subquery()


def langfuse(table: sa.Table, settings: CallsSettings, source: str) -> CallExprs:
    """Langfuse observations (v2 PostgreSQL or v3 ClickHouse layout): GENERATION rows are calls."""

    def role(name: str, *defaults: str) -> ColumnElement | None:
        return _first(_mapped(table, settings, name, source, "calls"), _present(table, *defaults))

    start = role("start_time", "start_time")
    if start is None:
        start = column_for(table, "start_time", "calls.columns.start_time", source)
    end = role("end_time", "end_time")
    usage = role("usage", "usage_details")

    def tokens(name: str, key: str, *columns: str) -> ColumnElement | None:
        mapped = _mapped(table, settings, name, source, "calls")
        if mapped is not None:
            return mapped
        found = ([json_text(usage, key)] if usage is not None else []) + [table.c[c] for c in columns if c in table.c]
        return _coalesce([_as_int(e) for e in found])

    model = _first(
        _mapped(table, settings, "model", source, "calls"),
        _coalesce([table.c[c] for c in ("provided_model_name", "model") if c in table.c]),
    )
    if model is None:
        model = column_for(table, "provided_model_name", "calls.columns.model", source)
    latency = _mapped(table, settings, "latency_ms", source, "calls")
    if latency is None and end is not None:
        latency = epoch_ms_between(start, end)
    status = _mapped(table, settings, "status", source, "calls")
    level = role("level", "level")
    if status is not None:
        is_error = error_condition(status, settings.error_values)
    else:
        is_error = sa.func.upper(level) == "ERROR" if level is not None else None
    cost = _first(
        _mapped(table, settings, "cost_usd", source, "calls"),
        _coalesce([sa.cast(table.c[c], sa.Float) for c in ("total_cost", "calculated_total_cost") if c in table.c]),
    )
    prompt_version = _mapped(table, settings, "prompt_version", source, "calls")
    if prompt_version is None and "prompt_version" in table.c:
        prompt_version = sa.cast(table.c["prompt_version"], sa.String)

    conditions = [*filter_conditions(table, settings.filters, source)]
    observation_type = role("type", "type")
    if observation_type is not None:
        conditions.append(sa.func.upper(observation_type) == "GENERATION")
    default_workload = None
    if settings.workload_key is None and "workload" not in settings.columns and settings.workload_constant is None:
        trace_id = role("trace_id", "trace_id")
        if trace_id is None:
            trace_id = column_for(table, "trace_id", "calls.columns.trace_id", source)
        default_workload = trace_name(langfuse_traces(table, settings), trace_id)
    return CallExprs(
        timestamp=_first(_mapped(table, settings, "timestamp", source, "calls"), start),
        workload=preset_workload(
            table, settings, source, _mapped(table, settings, "workload", source, "calls"), default_workload
        ),
        model=model,
        input_tokens=tokens("input_tokens", "input", "input_usage_units", "prompt_tokens"),
        output_tokens=tokens("output_tokens", "output", "output_usage_units", "completion_tokens"),
        latency_ms=latency,
        is_error=is_error,
        cost_usd=cost,
        prompt_version=prompt_version,
        ingested_at=_mapped(table, settings, "ingested_at", source, "calls"),
        conditions=tuple(conditions),
    )


# -- Helicone request log ----------------------------------------------------------------------------

HELICONE_COST_MULTIPLIER = 1_000_000_000  # Helicone stores cost as integer USD × 1e9


def helicone(table: sa.Table, settings: CallsSettings, source: str) -> CallExprs:
    """Helicone's request log (request_response_rmt or its export)."""

    def role(name: str, default: str, required: bool = False) -> ColumnElement | None:
        mapped = _mapped(table, settings, name, source, "calls")
        if mapped is not None or default in table.c or not required:
            return mapped if mapped is not None else _present(table, default)
        return column_for(table, default, f"calls.columns.{name}", source)

    status = role("status", "status")
    cost = _mapped(table, settings, "cost_usd", source, "calls")
    if cost is None and "cost" in table.c:
        raw = table.c["cost"]
        # 0 is Helicone's "not priced": leave it to the price table instead of costing the call at $0.
        cost = sa.case((raw > 0, raw / sa.literal(float(HELICONE_COST_MULTIPLIER), sa.Float)), else_=sa.null())
    prompt_version = _mapped(table, settings, "prompt_version", source, "calls")
    if prompt_version is None and "prompt_version" in table.c:
        prompt_version = sa.cast(table.c["prompt_version"], sa.String)
    return CallExprs(
        timestamp=role("timestamp", "request_created_at", required=True),  # type: ignore[arg-type]
        workload=preset_workload(table, settings, source, _mapped(table, settings, "workload", source, "calls"), None),
        model=role("model", "model", required=True),  # type: ignore[arg-type]
        input_tokens=role("input_tokens", "prompt_tokens"),
        output_tokens=role("output_tokens", "completion_tokens"),
        latency_ms=role("latency_ms", "latency"),
        is_error=sa.cast(status, sa.Integer) >= 400 if status is not None else None,
        cost_usd=cost,
        prompt_version=prompt_version,
        ingested_at=_mapped(table, settings, "ingested_at", source, "calls"),
        conditions=tuple(filter_conditions(table, settings.filters, source)),
    )


PRESETS: dict[str, PresetBuilder] = {"native": native, "otel_genai": otel_genai, "langfuse": langfuse, "helicone": helicone}


def call_exprs(table: sa.Table, settings: CallsSettings, source: str) -> CallExprs:
    return PRESETS[settings.preset](table, settings, source)


# -- labeled examples --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleExprs:
    """SQL expressions for the roles of a labeled-example row, and the conditions that select label rows."""

    columns: dict[str, ColumnElement]
    conditions: tuple[ColumnElement, ...] = ()


@dataclass(frozen=True)
class CallsContext:
    """The source's calls table, for label presets that take a label's workload or input from its call."""

    table: sa.Table
    settings: CallsSettings

    def lookup(self, source: str, pick: Callable[[sa.Alias, CallExprs], ColumnElement], match: Callable[[sa.Alias], list[ColumnElement]]) -> ColumnElement:
        """`(SELECT max(pick) FROM calls WHERE match AND <the calls conditions>)`, correlated per label row.
        The calls table is aliased so a label table that IS the calls table cannot shadow it."""
        calls = self.table.alias("ftready_call")
        exprs = call_exprs(calls, self.settings, source)  # type: ignore[arg-type]
        return sa.select(sa.func.max(pick(calls, exprs))).where(*match(calls), *exprs.conditions).scalar_subquery()


ExampleBuilder = Callable[[sa.Table, ExamplesSettings, str, "CallsContext | None"], ExampleExprs]


def native_examples(table: sa.Table, settings: ExamplesSettings, source: str, _calls: CallsContext | None) -> ExampleExprs:
    return ExampleExprs(
        {role: column_for(table, name, f"examples.columns.{role}", source) for role, name in settings.columns.items()}
    )


def _with_overrides(table: sa.Table, settings: ExamplesSettings, source: str, columns: dict[str, ColumnElement | None]) -> dict[str, ColumnElement]:
    """The preset's expressions, with every contract role the config maps replaced by that column."""
    for role, name in settings.columns.items():
        if role in EXAMPLE_ROLES:
            columns[role] = column_for(table, name, f"examples.columns.{role}", source)
    return {role: expr for role, expr in columns.items() if expr is not None}


def langfuse_examples(table: sa.Table, settings: ExamplesSettings, source: str, calls: CallsContext | None) -> ExampleExprs:
    """Langfuse scores as labels. ANNOTATION scores are human labels of production calls, EVAL scores
    are model labels, CORRECTION scores (by source or data type) are human relabels. BOOLEAN scores read
    0 as fail; NUMERIC scores fail below 0.5 (Langfuse's 0-1 evaluator scale); CATEGORICAL scores are
    their category. The workload is the labeled call's (or trace's) workload, looked up in SQL."""

    def col(role: str, *defaults: str) -> ColumnElement | None:
        return _first(_mapped(table, settings, role, source, "examples"), _present(table, *defaults))

    def required(role: str, *defaults: str) -> ColumnElement:
        found = col(role, *defaults)
        return found if found is not None else column_for(table, defaults[0], f"examples.columns.{role}", source)

    trace_id, observation_id = col("trace_id", "trace_id"), col("observation_id", "observation_id")
    value, string_value, data_type = col("value", "value"), col("string_value", "string_value"), col("data_type", "data_type")
    score_source = required("provenance", "source")
    corrected = [sa.func.upper(c) == "CORRECTION" for c in (data_type, score_source) if c is not None]
    is_correction = sa.or_(*corrected)
    origin = sa.case((is_correction, "CORRECTION"), else_=sa.func.upper(score_source))

    numeric_rule = sa.case((value < 0.5, "fail"), else_="pass") if value is not None else sa.null()
    boolean_rule = sa.case((value == 0, "fail"), else_="pass") if value is not None else sa.null()
    whens: list[tuple[ColumnElement, Any]] = [(is_correction, "fail")]
    if data_type is not None:
        whens += [
            (sa.and_(sa.func.upper(data_type) == "BOOLEAN", value.is_not(None) if value is not None else sa.false()), boolean_rule),
            (sa.and_(sa.func.upper(data_type) == "NUMERIC", value.is_not(None) if value is not None else sa.false()), numeric_rule),
        ]
    label = sa.case(*whens, else_=string_value if string_value is not None else numeric_rule)

    call_id = _coalesce([c for c in (observation_id, trace_id) if c is not None])
    workload: ColumnElement | None = None
    input_text: ColumnElement | None = None
    if trace_id is not None:
        if calls is None or calls.settings.preset != "langfuse" or _trace_named(calls.settings):
            workload = trace_name(langfuse_traces(table, calls.settings if calls else None), trace_id)
        if calls is not None:

            def match(call: sa.Alias) -> list[ColumnElement]:
                same = [call.c[c] == trace_id for c in ("trace_id",) if c in call.c]
                if observation_id is not None and "id" in call.c:
                    same.append(sa.or_(observation_id.is_(None), call.c["id"] == observation_id))
                return same

            if workload is None:
                workload = calls.lookup(source, lambda _call, exprs: exprs.workload, match)
            if "input" in calls.table.c:
                input_text = calls.lookup(source, lambda call, _exprs: sa.cast(call.c["input"], sa.Text), match)
    return ExampleExprs(
        _with_overrides(table, settings, source, {
            "id": sa.cast(required("id", "id"), sa.String),
            "workload": workload,
            "created_at": required("created_at", "timestamp", "created_at"),
            "updated_at": col("updated_at", "updated_at"),
            "label": label,
            "failure_mode": col("failure_mode", "name"),
            "provenance": origin,
            "label_source": origin,
            "call_id": sa.cast(call_id, sa.String) if call_id is not None else None,
            "input_text": input_text,
            "output_text": col("output_text", "long_string_value"),
        })  # fmt: skip
    )


def _trace_named(settings: CallsSettings) -> bool:
    """Whether a langfuse calls section takes its workload from the trace name (its default)."""
    return settings.workload_key is None and settings.workload_constant is None and "workload" not in settings.columns


HELICONE_FEEDBACK_KEY = "helicone-score-feedback"


def helicone_examples(table: sa.Table, settings: ExamplesSettings, source: str, calls: CallsContext | None) -> ExampleExprs:
    """Helicone user feedback as labels: the `helicone-score-feedback` entry of the request log's
    `scores` map (1 = pass, 0 = fail), or a `feedback` table with a boolean `rating`. Every label is
    production traffic rated by a person; provenance and label_source are `helicone_feedback`."""

    def col(role: str, *defaults: str) -> ColumnElement | None:
        return _first(_mapped(table, settings, role, source, "examples"), _present(table, *defaults))

    def required(role: str, *defaults: str) -> ColumnElement:
        found = col(role, *defaults)
        return found if found is not None else column_for(table, defaults[0], f"examples.columns.{role}", source)

    rating = col("rating", "rating")
    origin = sa.literal("helicone_feedback", sa.String)
    if rating is not None:  # a feedback table: one row per rating, joined to its request by id
        flag = sa.cast(rating, sa.Integer)
        request_id = col("call_id", "request_id", "response_id")
        workload = input_text = None
        if calls is not None and request_id is not None:
            key = request_id.name if request_id.name in calls.table.c else "request_id"

            def match(call: sa.Alias) -> list[ColumnElement]:
                return [sa.cast(call.c[key], sa.String) == sa.cast(request_id, sa.String)]

            workload = calls.lookup(source, lambda _call, exprs: exprs.workload, match)
            if "request_body" in calls.table.c:
                input_text = calls.lookup(source, lambda call, _exprs: call.c["request_body"], match)
        columns: dict[str, ColumnElement | None] = {
            "id": sa.cast(required("id", "feedback_id", "id"), sa.String),
            "workload": workload,
            "created_at": required("created_at", "feedback_created_at", "created_at"),
            "label": sa.case((flag == 1, "pass"), (flag == 0, "fail"), else_=sa.null()),
            "call_id": sa.cast(request_id, sa.String) if request_id is not None else None,
            "input_text": input_text,
        }
        conditions: tuple[ColumnElement, ...] = (rating.is_not(None),)
    else:  # the request log itself: rows that carry a feedback score
        feedback = sa.func.lower(sa.cast(json_member(required("scores", "scores"), HELICONE_FEEDBACK_KEY), sa.String))
        request_id = required("id", "request_id")
        workload = None
        if calls is not None and calls.settings.preset == "helicone":
            if calls.table.name == table.name and calls.table.schema == table.schema:
                workload = call_exprs(table, calls.settings, source).workload
            else:
                workload = calls.lookup(
                    source,
                    lambda _call, exprs: exprs.workload,
                    lambda call: [sa.cast(call.c["request_id"], sa.String) == sa.cast(request_id, sa.String)],
                )
        columns = {
            "id": sa.cast(request_id, sa.String),
            "workload": workload,
            "created_at": required("created_at", "request_created_at"),
            "updated_at": col("updated_at", "updated_at"),
            "label": sa.case((feedback.in_(["1", "true"]), "pass"), (feedback.in_(["0", "false"]), "fail"), else_=feedback),
            "call_id": sa.cast(request_id, sa.String),
            "input_text": col("input_text", "request_body"),
            "output_text": col("output_text", "response_body"),
        }
        conditions = (feedback.is_not(None),)
    columns |= {"provenance": origin, "label_source": origin}
    return ExampleExprs(_with_overrides(table, settings, source, columns), conditions)


EXAMPLE_PRESETS: dict[str, ExampleBuilder] = {
    "native": native_examples,
    "langfuse": langfuse_examples,
    "helicone": helicone_examples,
}


def example_exprs(table: sa.Table, settings: ExamplesSettings, source: str, calls: CallsContext | None) -> ExampleExprs:
    exprs = EXAMPLE_PRESETS[settings.preset](table, settings, source, calls)
    missing = [role for role in ("id", "workload", "created_at", "label") if role not in exprs.columns]
    if missing:
        raise ConfigError(
            f"source {source!r}: examples (preset {settings.preset}): cannot derive {', '.join(missing)}; "
            + ", ".join(f"map `columns.{role}`" for role in missing)
            + (" or add the `calls:` section the labels belong to" if "workload" in missing else "")
        )
    return exprs
