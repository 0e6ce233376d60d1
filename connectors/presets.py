"""Column-mapping presets: how each role of the call-log contract is read from a source table.

A preset turns a reflected table plus the `calls:` settings into `CallExprs`, the SQLAlchemy
expressions the pushdown query aggregates. `native` reads one column per role; other presets
(OpenTelemetry GenAI spans, Langfuse, Helicone) derive roles from their own schemas. Every key in
`columns:` overrides the preset's default for that role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from connectors.dialects import json_text
from connectors.tables import column_for
from monitor.errors import ConfigError
from monitor.settings import CallsSettings, FilterSpec


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


PRESETS: dict[str, PresetBuilder] = {"native": native}


def call_exprs(table: sa.Table, settings: CallsSettings, source: str) -> CallExprs:
    return PRESETS[settings.preset](table, settings, source)
