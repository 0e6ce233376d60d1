"""`ftready inspect`: describe a table and propose how to read it.

Only the table's definition is read (column names and types), never its rows. The preset is chosen
by the column names each tool writes (OTel `gen_ai.*` attributes and span fields, Langfuse's
observation and score columns, Helicone's request log); a table that fits none gets the native
preset with each role matched to a column by common names. The proposal is then compiled with the
preset it names, so a snippet that would not work says why instead of failing at the first sync.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connectors.dialects import prepare_engine
from connectors.presets import call_exprs, example_exprs
from connectors.tables import reflect_table, split_table_name
from monitor.errors import ConfigError, FtreadyError, SourceError, first_line
from monitor.settings import CallsSettings, ExamplesSettings, SourceSettings, mask_url

# Column names that mark each tool's tables (a share of them present is the preset's score).
CALL_SIGNATURES: dict[str, frozenset[str]] = {
    "otel_genai": frozenset({
        "span_id", "trace_id", "parent_span_id", "name", "span_name", "start_time", "end_time", "status_code",
        "attributes", "span_attributes", "SpanId", "SpanName", "StatusCode", "SpanAttributes",
    }),
    "langfuse": frozenset({
        "trace_id", "type", "parent_observation_id", "start_time", "end_time", "level", "status_message",
        "provided_model_name", "internal_model_id", "model_parameters", "usage_details", "cost_details",
        "total_cost", "completion_start_time", "prompt_name", "calculated_total_cost", "internal_model",
    }),
    "helicone": frozenset({
        "request_id", "response_id", "request_created_at", "response_created_at", "latency", "status",
        "prompt_tokens", "completion_tokens", "properties", "provider", "time_to_first_token",
        "organization_id", "target_url", "cost", "scores",
    }),
}  # fmt: skip
LABEL_SIGNATURES: dict[str, frozenset[str]] = {
    "langfuse": frozenset({"source", "data_type", "string_value", "value", "observation_id", "trace_id",
                           "author_user_id", "config_id", "timestamp", "name"}),
    "helicone": frozenset({"rating", "feedback_id", "feedback_created_at", "request_id", "response_id"}),
}  # fmt: skip
MIN_SCORE = 0.35
# Native roles → column names commonly used for them, most specific first.
NATIVE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("call_id", "request_id", "id", "uuid", "event_id"),
    "timestamp": ("created_at", "timestamp", "event_time", "request_time", "started_at", "start_time", "ts", "time"),
    "workload": ("workload", "feature", "use_case", "usecase", "task", "application", "app", "endpoint"),
    "model": ("model", "model_name", "llm_model", "model_id"),
    "input_tokens": ("input_tokens", "prompt_tokens", "tokens_in", "input_token_count"),
    "output_tokens": ("output_tokens", "completion_tokens", "tokens_out", "output_token_count"),
    "latency_ms": ("latency_ms", "duration_ms", "latency", "elapsed_ms", "response_time_ms"),
    "status": ("status", "outcome", "state", "result"),
    "cost_usd": ("cost_usd", "cost", "total_cost", "price_usd"),
    "prompt_version": ("prompt_version", "prompt_id", "template_version"),
    "environment": ("environment", "env"),
    "operation": ("operation", "operation_name"),
    "ingested_at": ("ingested_at", "loaded_at", "_loaded_at", "inserted_at", "_ingested_at"),
}
WORKLOAD_PLACEHOLDER = "<property naming the workload>"


@dataclass
class Proposal:
    """What `inspect` found and proposes; `section` is the `calls:` or `examples:` mapping to paste."""

    location: str
    table: str
    columns: list[tuple[str, str]]
    kind: str  # calls | examples
    preset: str
    scores: dict[str, float]
    section: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def snippet(self) -> str:
        text = yaml.safe_dump({"sources": [self.source]}, sort_keys=False, default_flow_style=False, width=100)
        if "url" in self.source:
            text = text.replace("'${WAREHOUSE_URL}'", "${WAREHOUSE_URL}")
            text = f"# export WAREHOUSE_URL='{self.location}'  (password masked)\n" + text
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "location": self.location, "table": self.table, "kind": self.kind, "preset": self.preset,
            "scores": self.scores, "columns": [{"name": n, "type": t} for n, t in self.columns],
            "mapping": self.section, "notes": self.notes, "snippet": self.snippet,
        }  # fmt: skip


def is_file_location(location: str) -> bool:
    """A path or glob rather than a SQLAlchemy URL (`duckdb:///x.duckdb` is a URL; `s3://b/*.parquet` a path)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+_.-]*://", location) is None:
        return True
    scheme = location.split("://", 1)[0].lower()
    return scheme in ("s3", "gs", "gcs", "az", "abfss", "http", "https", "file")


def default_view_name(location: str) -> str:
    """`exports/observations/*.parquet` → observations; `spans.jsonl.gz` → spans."""
    path = Path(location.rstrip("/"))
    stem = path.parent.name if any(ch in path.name for ch in "*?[") else path.name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem).strip("_")
    return name or "calls"


def inspect_location(location: str, table: str | None, name: str = "warehouse") -> Proposal:
    """Reflect `table` at a URL or file glob and propose a source entry for it."""
    if is_file_location(location):
        table = table or default_view_name(location)
        source = SourceSettings(name=name, path=location, calls=CallsSettings(table=table))
        from connectors.files import create_file_engine

        engine = create_file_engine(source)
        shown = location
    else:
        if not table:
            raise ConfigError("inspect: give the TABLE to inspect after the URL, e.g. ftready inspect URL analytics.llm_calls")
        engine = _url_engine(location)
        shown = mask_url(location)
    prepare_engine(engine, None)
    try:
        with engine.connect() as conn:
            reflected = reflect_table(conn, table, None, name, "TABLE")
            traces_present = _table_exists(conn, _sibling(table, "traces"), name)
            proposal = propose(reflected, table, shown, name, traces_present=traces_present)
    except FtreadyError:
        raise
    except Exception as exc:  # driver errors: unreachable server, bad credentials
        raise SourceError(f"inspect {shown}: {first_line(exc)}") from None
    finally:
        engine.dispose()
    if is_file_location(location):
        proposal.source = {"name": name, "path": location, proposal.kind: proposal.section}
    else:
        proposal.source = {"name": name, "url": "${WAREHOUSE_URL}", proposal.kind: proposal.section}
    return proposal


def propose(table: sa.Table, name: str, location: str, source: str, *, traces_present: bool = False) -> Proposal:
    """The proposal for a reflected table (no database access: reusable on any `sa.Table`)."""
    names = set(table.c.keys())
    columns = [(str(c.name), _type_name(c.type)) for c in table.c]
    call_scores = {preset: _score(names, marks) for preset, marks in CALL_SIGNATURES.items()}
    if any(n.startswith("gen_ai.") for n in names):
        call_scores["otel_genai"] = max(call_scores["otel_genai"], 0.9)
    label_scores = {preset: _score(names, marks) for preset, marks in LABEL_SIGNATURES.items()}
    best_call = max(call_scores, key=lambda p: call_scores[p])
    best_label = max(label_scores, key=lambda p: label_scores[p])
    scores = {**call_scores, **{f"{p} labels": s for p, s in label_scores.items()}}
    notes: list[str] = []
    if label_scores[best_label] > call_scores[best_call] and label_scores[best_label] >= MIN_SCORE:
        section = _label_section(best_label, name, notes)
        proposal = Proposal(location, name, columns, "examples", best_label, scores, section, notes)
        _check_labels(table, proposal, source)
        return proposal
    preset = best_call if call_scores[best_call] >= MIN_SCORE else "native"
    section: dict[str, Any] = {"table": name, "preset": preset}
    if preset == "otel_genai":
        _otel_section(table, section, notes)
    elif preset == "langfuse":
        _langfuse_section(table, section, notes, traces_present)
    elif preset == "helicone":
        section["workload_key"] = {"column": "properties" if "properties" in names else "<JSON column>", "key": WORKLOAD_PLACEHOLDER}
        notes.append("set workload_key.key to the Helicone property (Helicone-Property-<name> header) that names the workload")
    else:
        _native_section(table, section, notes)
    proposal = Proposal(location, name, columns, "calls", preset, scores, section, notes)
    _check_calls(table, proposal, source)
    return proposal


def _otel_section(table: sa.Table, section: dict[str, Any], notes: list[str]) -> None:
    names = set(table.c.keys())
    flattened = any(n.startswith("gen_ai.") for n in names)
    if "gen_ai.agent.name" in names:
        section["columns"] = {"workload": "gen_ai.agent.name"}
    elif not flattened and any(n in names for n in ("attributes", "span_attributes", "SpanAttributes")):
        section["columns"] = {"workload": "gen_ai.agent.name"}
        notes.append("the workload is read from the gen_ai.agent.name attribute; name another attribute in "
                     "columns.workload, or drop it to use the span name")  # fmt: skip
    else:
        notes.append("no gen_ai.agent.name: the workload is the span name; map columns.workload to a better attribute")
    notes.append("only chat, text_completion and generate_content spans are counted; agent and tool spans are skipped")


def _langfuse_section(table: sa.Table, section: dict[str, Any], notes: list[str], traces_present: bool) -> None:
    if traces_present:
        notes.append("the workload is the trace name, looked up in the traces table beside this one")
        return
    section["workload_key"] = {"column": "metadata", "key": "<metadata key naming the workload>"}
    notes.append("no traces table beside this one: set workload_key to a metadata key, or traces_table to where the traces are")


def _native_section(table: sa.Table, section: dict[str, Any], notes: list[str]) -> None:
    names = {n.lower(): str(n) for n in table.c.keys()}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for role, synonyms in NATIVE_SYNONYMS.items():
        found = next((names[s] for s in synonyms if s in names and names[s] not in taken), None)
        if found is None and role == "timestamp":
            found = next((str(c.name) for c in table.c if isinstance(c.type, (sa.DateTime, sa.Date)) and c.name not in taken), None)
        if found is not None:
            mapping[role] = found
            taken.add(found)
    section["columns"] = mapping
    for role in ("timestamp", "model", "workload"):
        if role not in mapping:
            hint = " (or set workload_constant / workload_key)" if role == "workload" else ""
            notes.append(f"no column looks like the {role}: map columns.{role}{hint}")
    notes.append("no preset matched these column names; check each proposed column")


def _label_section(preset: str, name: str, notes: list[str]) -> dict[str, Any]:
    if preset == "langfuse":
        notes.append("scores are labels: ANNOTATION = human label, EVAL = model label, CORRECTION = human relabel; "
                     "the workload comes from the scored call, so keep the observations table as this source's calls")  # fmt: skip
    else:
        notes.append("feedback ratings are labels (true = pass); the workload comes from the rated request")
    return {"table": name, "preset": preset}


def _check_calls(table: sa.Table, proposal: Proposal, source: str) -> None:
    section = {k: v for k, v in proposal.section.items() if not _placeholder(v)}
    if "workload_key" in proposal.section and "workload_key" not in section:
        section["workload_constant"] = "checked-without-workload"  # the user fills the key in
    try:
        call_exprs(table, CallsSettings.model_validate(section), source)
    except (FtreadyError, ValueError) as exc:
        proposal.notes.append(f"as proposed the mapping does not work yet: {exc}")


def _check_labels(table: sa.Table, proposal: Proposal, source: str) -> None:
    """Compile the label roles; the workload is left out, as it comes from the calls of the source."""
    section = {**proposal.section, "columns": {"workload": next(iter(table.c.keys()))}}
    try:
        example_exprs(table, ExamplesSettings.model_validate(section), source, None)
    except (FtreadyError, ValueError) as exc:
        proposal.notes.append(f"as proposed the mapping does not work yet: {exc}")


def _placeholder(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(v, str) and v.startswith("<") for v in value.values())


def _score(names: set[str], marks: frozenset[str]) -> float:
    return round(len(names & marks) / len(marks), 2)


def _type_name(kind: sa.types.TypeEngine) -> str:
    try:
        return str(kind.compile())
    except Exception:  # a dialect-specific type without a generic name
        return type(kind).__name__.upper()


def _sibling(table: str, name: str) -> str:
    schema, _ = split_table_name(table, None)
    return f"{schema}.{name}" if schema else name


def _table_exists(conn: sa.Connection, table: str, source: str) -> bool:
    try:
        reflect_table(conn, table, None, source, "traces")
    except SourceError:
        return False
    return True


def _url_engine(url: str) -> Engine:
    try:
        return sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"inspect: {mask_url(url)!r} is not a usable SQLAlchemy URL: {first_line(exc)}") from None
    except ImportError as exc:
        raise ConfigError(f"inspect: the driver for {mask_url(url)} is not installed ({exc})") from None
