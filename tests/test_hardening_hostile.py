"""The hostile input corpus (tests/data/hostile/corpus.jsonl) through sync, evaluate, alert and report.

Every case is a source of its own in one SQLite warehouse: a small, healthy workload (28 calls,
4 trusted passes, 6 recurring failures) plus the hostile value in the field the case attacks (a
table or column name or filter value in the config, or a column of one call or label row). The
whole pipeline runs once for all cases (sync → evaluate → alerts → weekly report and digest →
delivery to the local fake Slack through the real slack-sdk), then each case checks its own
outcome: nothing crashed, nothing was injected into the report HTML or the Slack payloads, the
hostile row was counted or quarantined as the case says (never silently dropped), and what must be
redacted never shows. tests/data/hostile/README.md documents the format and which rows are bad.

The numeric and timestamp cases marked `postgres` run again against PostgreSQL, whose float
columns hold real NaN and Infinity (SQLite turns NaN into NULL; the corpus stores the text 'NaN' there).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import html5lib
import pytest
import sqlalchemy as sa
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from monitor.alerts import process_evaluation
from monitor.evaluate import evaluate_store
from monitor.outbox import deliver_outbox
from monitor.settings import Settings, settings_from_dict
from monitor.slack import SlackNotifier, escape, retry_handlers
from monitor.store import Store
from monitor.sync import sync_all
from reports.publish import ReportFiles, enqueue_digest, write_weekly_report
from tests.conftest import NOW, POSTGRES_URL
from tests.slack_server import TOKEN, FakeSlack, _session_server

CORPUS = Path(__file__).parent / "data" / "hostile" / "corpus.jsonl"
BASE_URL = "https://reports.example.com/ftready/"
OWNER = "<@U024BE7LH>"  # a configured owner: the only mention a message may carry
PACK = {  # small thresholds: every healthy case workload is "ready", so every one raises alerts
    "monthly_calls": 10,
    "trusted_real_examples": 2,
    "prompt_engineering_below": 1,
    "recurring": {"min_weeks": 1, "window_weeks": 8, "min_cases": 1},
}
CALL_COLUMNS = (
    "call_id", "created_at", "feature", "model", "prompt_tokens", "completion_tokens", "latency_ms", "status",
    "cost", "prompt_version", "environment", "operation", "loaded_at",
)  # fmt: skip
CALL_TYPES = ("TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "INTEGER", "REAL", "TEXT", "REAL", "TEXT", "TEXT", "TEXT", "TEXT")
# the corpus names contract roles (`calls.input_tokens`); these tables use other column names
CALL_ROLE_COLUMN = {"id": "call_id", "timestamp": "created_at", "workload": "feature", "input_tokens": "prompt_tokens",
                    "output_tokens": "completion_tokens", "cost_usd": "cost"}  # fmt: skip
EXAMPLE_ROLE_COLUMN = {"workload": "feature", "label": "verdict", "provenance": "source", "label_source": "labeled_by",
                       "input_text": "prompt", "output_text": "output"}  # fmt: skip
LABEL_COLUMNS = (
    "id", "feature", "created_at", "updated_at", "verdict", "failure_mode", "source", "labeled_by", "prompt", "output"
)  # fmt: skip
BASE_CALLS = 28
BASE_EXAMPLES = 10
FORBIDDEN_ELEMENTS = {
    "script", "img", "iframe", "frame", "frameset", "object", "embed", "applet", "link", "base", "form", "input",
    "button", "textarea", "select", "video", "audio", "source", "marquee",
}  # fmt: skip
OWN_PAGE = re.compile(r"(?:index|latest|\d{4}-W\d{2})\.html(?:#[\w%.~-]*)?")  # the archive's own files
LINK_ATTRIBUTES = ("href", "src", "{http://www.w3.org/1999/xlink}href", "action", "formaction")


def load_corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


CASES = load_corpus()


def decode(value: Any, *, backend: str = "sqlite") -> Any:
    """A corpus value as the warehouse stores it (see README.md: $repeat, $hex, $float)."""
    if not isinstance(value, dict):
        return value
    if "$repeat" in value:
        return value["$repeat"] * value["times"]
    if "$hex" in value:
        return bytes.fromhex(value["$hex"])
    if "$float" in value:
        number = float(value["$float"])
        # SQLite stores a NaN parameter as NULL: the text 'NaN' (what a CSV import leaves) is its NaN
        return "NaN" if backend == "sqlite" and number != number else number
    raise ValueError(f"unknown value encoding {value}")


def as_text(value: Any) -> Any:
    """A text as ftready stores it: invalid UTF-8 decoded lossily, NUL (which PostgreSQL refuses) as U+FFFD."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text.replace("\x00", "\ufffd") if isinstance(text, str) else text


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Layout:
    """Where one case lives in the warehouse and what its config says."""

    index: int
    case: dict[str, Any]
    calls_table: str
    labels_table: str
    latency_column: str
    environment: str  # the filter value
    workload: str  # the workload of the case's healthy rows (decoded)

    @property
    def attacks(self) -> str:
        return self.case["attacks"]

    @property
    def channel(self) -> str:
        return f"#h{self.index}"


def layout(index: int, case: dict[str, Any]) -> Layout:
    attacks, value = case["attacks"], case["value"]
    counted_workload = attacks == "calls.workload" and not case["expect"].get("quarantined")
    return Layout(
        index=index,
        case=case,
        calls_table=value if attacks == "config.calls.table" else f"calls_{index}",
        labels_table=value if attacks == "config.examples.table" else f"labels_{index}",
        latency_column=value if attacks == "config.calls.columns.latency_ms" else "latency_ms",
        environment=value if attacks == "config.calls.filters.value" else "production",
        workload=as_text(decode(value)) if counted_workload else f"wl-{case['id']}",
    )


def healthy_calls(lay: Layout, workload: Any) -> list[dict[str, Any]]:
    rows = []
    for day in range(1, BASE_CALLS + 1):
        at = NOW - timedelta(days=day, hours=-1)
        rows.append({
            "call_id": f"{lay.case['id']}-c{day}", "created_at": _ts(at), "feature": workload, "model": "gpt-4o",
            "prompt_tokens": 100, "completion_tokens": 40, "latency_ms": 200.0 + day * 10,
            "status": "error" if day % 7 == 0 else "ok", "cost": 0.002, "prompt_version": "v1",
            "environment": lay.environment, "operation": "chat", "loaded_at": _ts(at + timedelta(minutes=1)),
        })  # fmt: skip
    return rows


def healthy_labels(lay: Layout, workload: Any) -> list[dict[str, Any]]:
    rows = []
    for k, days in enumerate((2, 5, 9, 13)):
        at = _ts(NOW - timedelta(days=days))
        rows.append({
            "id": f"{lay.case['id']}-p{k}", "feature": workload, "created_at": at, "updated_at": at, "verdict": "pass",
            "failure_mode": None, "source": "production", "labeled_by": "human", "prompt": f"question {k}",
            "output": f"fine answer {k}",
        })  # fmt: skip
    for k in range(6):
        at = _ts(NOW - timedelta(days=3 + 5 * k))
        rows.append({
            "id": f"{lay.case['id']}-f{k}", "feature": workload, "created_at": at, "updated_at": at, "verdict": "fail",
            "failure_mode": "format error", "source": "production", "labeled_by": "human",
            "prompt": f"failing question {k}", "output": f"the reply was not valid JSON ({k})",
        })  # fmt: skip
    return rows


def hostile_rows(lay: Layout, healthy: list[dict[str, Any]], table: str, *, backend: str) -> list[dict[str, Any]]:
    """The case's hostile row(s) for `table` (calls or examples): a healthy row with the attacked
    column replaced; none when the case attacks another table or the config."""
    attacked, _, role = lay.attacks.partition(".")
    if attacked != table:
        return []
    column = (CALL_ROLE_COLUMN if table == "calls" else EXAMPLE_ROLE_COLUMN).get(role, role)
    value = decode(lay.case["value"], backend=backend)
    rows = []
    for n in range(lay.case.get("rows", 1)):
        row = dict(healthy[1])
        if table == "calls":
            row |= {"call_id": f"{lay.case['id']}-hostile{n}"}
            row[column] = value
            if n:  # a second row differs in everything but the attacked column
                row |= {"model": "gpt-4o-mini", "completion_tokens": 7}
        else:
            at = _ts(NOW - timedelta(hours=2 - n))
            row |= {"id": f"{lay.case['id']}-hostile{n}", "created_at": at, "updated_at": at, "verdict": "fail",
                    "failure_mode": "format error", "output": None, "prompt": f"hostile input {n}"}  # fmt: skip
            row[column] = value
            if column == "created_at":
                row["updated_at"] = value
            if n == 0 and lay.case.get("rows", 1) > 1:  # the older version of a duplicate: superseded
                row |= {"verdict": "pass", "output": "older version"}
        rows.append(row)
    return rows


def write_case(conn: sqlite3.Connection, lay: Layout) -> None:
    calls = healthy_calls(lay, lay.workload)
    labels = healthy_labels(lay, lay.workload)
    calls += hostile_rows(lay, calls, "calls", backend="sqlite")
    labels += hostile_rows(lay, labels, "examples", backend="sqlite")
    if lay.attacks == "config.calls.filters.value":  # decoys a pasted-in value would let through
        calls += [dict(calls[0], call_id=f"decoy{i}", environment=env) for i, env in enumerate(("production", "staging"))]
    _create(conn, lay.calls_table, [lay.latency_column if c == "latency_ms" else c for c in CALL_COLUMNS], CALL_TYPES)
    _insert(conn, lay.calls_table, [lay.latency_column if c == "latency_ms" else c for c in CALL_COLUMNS],
            [[r[c] for c in CALL_COLUMNS] for r in calls])  # fmt: skip
    _create(conn, lay.labels_table, LABEL_COLUMNS, ("TEXT",) * len(LABEL_COLUMNS))
    _insert(conn, lay.labels_table, LABEL_COLUMNS, [[r[c] for c in LABEL_COLUMNS] for r in labels])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create(conn: sqlite3.Connection, table: str, columns: list[str] | tuple[str, ...], types: tuple[str, ...]) -> None:
    conn.execute(f"CREATE TABLE {_quote(table)} ({', '.join(f'{_quote(c)} {t}' for c, t in zip(columns, types))})")


def _insert(conn: sqlite3.Connection, table: str, columns: list[str] | tuple[str, ...], rows: list[list[Any]]) -> None:
    for row in rows:  # bytes become TEXT that is not valid UTF-8, as a careless loader leaves it
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, bytes) else "?" for v in row)
        conn.execute(f"INSERT INTO {_quote(table)} ({', '.join(map(_quote, columns))}) VALUES ({marks})", row)


def source_config(lay: Layout, url: str) -> dict[str, Any]:
    return {
        "name": lay.case["id"],
        "url": url,
        "backfill_days": 60,
        "calls": {
            "table": lay.calls_table,
            "columns": {
                "id": "call_id", "timestamp": "created_at", "workload": "feature", "model": "model",
                "input_tokens": "prompt_tokens", "output_tokens": "completion_tokens", "latency_ms": lay.latency_column,
                "status": "status", "cost_usd": "cost", "prompt_version": "prompt_version", "operation": "operation",
                "ingested_at": "loaded_at",
            },  # fmt: skip
            "filters": [{"column": "environment", "op": "=", "value": lay.environment}],
        },
        "examples": {
            "table": lay.labels_table,
            "columns": {
                "id": "id", "workload": "feature", "created_at": "created_at", "updated_at": "updated_at",
                "label": "verdict", "failure_mode": "failure_mode", "provenance": "source", "label_source": "labeled_by",
                "input_text": "prompt", "output_text": "output",
            },  # fmt: skip
            "provenance": {"production_log": ["production"], "synthetic": ["synthetic"]},
            "trusted_label_sources": ["human"],
            "page_size": 100,
        },
    }


def corpus_settings(layouts: list[Layout], url: str, root: Path, store_url: str, slack: FakeSlack) -> Settings:
    pack = root / "pack.yaml"
    pack.write_text(json.dumps(PACK), encoding="utf-8")
    workloads: dict[str, Any] = {lay.workload: {"slack_channel": lay.channel} for lay in layouts}
    workloads["<!channel> urgent @here"]["owners"] = [OWNER, "<!channel>", "@here"]
    slack_config = {"token": TOKEN, "base_url": slack.api_url, "default_channel": "#llm-readiness"}
    return settings_from_dict(
        {
            "store": {"url": store_url},
            "sources": [source_config(lay, url) for lay in layouts],
            "workloads": workloads,
            "rules": str(pack),
            "alerts": {"pending_evaluations": 1, "slack": slack_config},
            "reports": {"dir": str(root / "reports"), "base_url": BASE_URL},
        },
        env={},
    )


@dataclass(frozen=True)
class Outcome:
    layouts: dict[str, Layout]
    warehouse: Path
    store: sa.Engine
    files: ReportFiles
    html: str
    report_text: str  # the text a reader of the HTML sees
    report_json: str
    tree: ElementTree.Element
    index_tree: ElementTree.Element
    slack_strings: list[str]  # every string of every message Slack accepted
    by_channel: dict[str, list[str]]  # the same, per channel
    sections: dict[str, str]  # the text of each workload's section of the report
    slack: FakeSlack


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        try:  # blocks may travel as a JSON string (form-encoded requests)
            parsed = json.loads(value) if value[:1] in "[{" else None
        except ValueError:
            parsed = None
        if parsed is None:
            yield value
        else:
            yield from strings(parsed)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def parse_html(html: str) -> ElementTree.Element:
    return html5lib.parse(html, namespaceHTMLElements=False)


def fast_notifier(slack: FakeSlack) -> SlackNotifier:
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0), sleep=lambda _s: None)
    return SlackNotifier(TOKEN, default_channel="#llm-readiness", base_url=slack.api_url, handlers=handlers, timeout=5)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The corpus run's state store: PostgreSQL when available (it refuses NUL in text, the
    stricter store), else SQLite."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('hostile-store') / 'state.db'}"
        return
    schema = f"ft_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, store_url: str) -> Iterator[Outcome]:
    root = tmp_path_factory.mktemp("hostile")
    warehouse = root / "warehouse.db"
    layouts = [layout(i, case) for i, case in enumerate(CASES)]
    with closing(sqlite3.connect(warehouse)) as conn:
        for lay in layouts:
            write_case(conn, lay)
        conn.commit()
    server = _session_server(request.config)
    server.clear()
    slack = FakeSlack(server)
    for lay in layouts:
        slack.channels[lay.channel.lstrip("#")] = f"C{lay.index:09d}"
    settings = corpus_settings(layouts, f"sqlite:///{warehouse}", root, store_url, slack)
    store = Store(settings.store_url)
    try:
        results = sync_all(settings, store, now=NOW)  # raises if any source failed
        assert [r.source for r in results] == [lay.case["id"] for lay in layouts]
        run = evaluate_store(settings, store, now=NOW)
        assert process_evaluation(settings, store, run, now=NOW)
        files = write_weekly_report(settings, store, run, now=NOW)
        assert enqueue_digest(settings, store, run, files, now=NOW)
        notifier = fast_notifier(slack)
        while deliver_outbox(settings, store, now=NOW, notifier=notifier).attempted:
            pass
    finally:
        store.dispose()
    html = files.html.read_text(encoding="utf-8")
    tree = parse_html(html)
    posted = [s for call in slack.calls if call.ok for s in strings(call.body)]
    by_channel: dict[str, list[str]] = {}
    for call in slack.posted():
        by_channel.setdefault(str(call.body.get("channel")), []).extend(strings(call.body))
    sections = {e.attrib["data-workload"]: "".join(e.itertext()) for e in tree.iter("section") if "data-workload" in e.attrib}
    engine = sa.create_engine(store_url)
    yield Outcome(
        layouts={lay.case["id"]: lay for lay in layouts},
        warehouse=warehouse,
        store=engine,
        files=files,
        html=html,
        report_text="".join(tree.itertext()),
        report_json=files.json.read_text(encoding="utf-8"),
        tree=tree,
        index_tree=parse_html(files.index.read_text(encoding="utf-8")),
        slack_strings=posted,
        by_channel=by_channel,
        sections=sections,
        slack=slack,
    )
    engine.dispose()
    server.clear()


def store_counts(store: sa.Engine, source: str) -> tuple[int, int, dict[str, int]]:
    """(calls counted, examples kept, quarantine by "kind.reason") of one source."""
    where = {"source": source}
    with store.connect() as conn:
        calls = conn.execute(sa.text("SELECT coalesce(sum(calls), 0) FROM call_rollups WHERE source = :source"), where)
        examples = conn.execute(sa.text("SELECT count(*) FROM examples WHERE source = :source"), where)
        totals = (int(calls.scalar_one()), int(examples.scalar_one()))
        quarantine = {
            f"{kind}.{reason}": int(rows)
            for kind, reason, rows in conn.execute(
                sa.text("SELECT kind, reason, sum(rows) FROM quarantine WHERE source = :source GROUP BY kind, reason"),
                where,
            )
        }
        for reason, rows in conn.execute(
            sa.text("SELECT reason, count(*) FROM quarantined_examples WHERE source = :source GROUP BY reason"), where
        ):
            quarantine[f"examples.{reason}"] = quarantine.get(f"examples.{reason}", 0) + int(rows)
    return (*totals, quarantine)


def stored_texts(store: sa.Engine, source: str) -> list[str]:
    """The excerpts and failure modes the store holds for one source."""
    with store.connect() as conn:
        rows = conn.execute(sa.text("SELECT excerpt, failure_mode FROM examples WHERE source = :s"), {"s": source})
        return [text for row in rows for text in row if text]


# --- the corpus itself ------------------------------------------------------------------------


def test_the_corpus_covers_what_the_issue_lists() -> None:
    assert len(CASES) >= 30
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert {"id", "attacks", "value", "threat", "expect"} <= set(case), case["id"]
        assert set(case["expect"]) <= {"counted", "quarantined", "shown", "shown_as", "slack_shown", "absent", "placeholder"}
    text = CORPUS.read_text(encoding="utf-8")
    for needle in ("config.calls.table", "config.calls.columns", "config.calls.filters.value", "<script>", '" on',
                   "<!channel>", "<@u", "<http://evil", "$hex", "nan", "inf", "-1", "9223372036854775807",
                   "1900-", "2200-", "duplicate", "10485760"):  # fmt: skip
        assert needle in text, needle


# --- the whole run ------------------------------------------------------------------------------


def test_the_report_html_has_no_injected_elements_attributes_or_links(outcome: Outcome) -> None:
    for tree in (outcome.tree, outcome.index_tree):
        for element in tree.iter():
            tag = str(element.tag).rsplit("}", 1)[-1].lower()
            assert tag not in FORBIDDEN_ELEMENTS, ElementTree.tostring(element)[:200]
            for name, value in element.attrib.items():
                assert not name.rsplit("}", 1)[-1].lower().startswith("on"), (tag, name, value)
                if name in LINK_ATTRIBUTES:
                    assert value.startswith(("#", BASE_URL)) or OWN_PAGE.fullmatch(value), (tag, name, value)
    styles = [e for e in outcome.tree.iter("style")]
    assert len(styles) == 1  # the report's own stylesheet; none injected
    assert "INJ" not in "".join(str(e.tag) + "".join(e.attrib) for e in outcome.tree.iter())
    json.loads(outcome.report_json)  # the snapshot is valid JSON


def test_slack_payloads_are_escaped_and_within_limits(outcome: Outcome) -> None:
    assert outcome.slack.limit_problems == []
    assert outcome.slack_strings
    for text in outcome.slack_strings:
        rest = text.replace(OWNER, "").replace(f"<{BASE_URL.rstrip('/')}/", "")
        assert "<" not in rest and ">" not in rest, text[:300]
        assert not any(f"@{word}" in text.lower() for word in ("channel", "here", "everyone")), text[:300]
    assert any(OWNER in text for text in outcome.slack_strings)  # a configured owner is still mentioned


def test_every_case_raised_alerts_in_its_own_channel(outcome: Outcome) -> None:
    posted = {call.body.get("channel") for call in outcome.slack.posted()}
    assert {lay.channel for lay in outcome.layouts.values()} <= posted


def test_sql_in_names_did_not_touch_the_warehouse(outcome: Outcome) -> None:
    with closing(sqlite3.connect(outcome.warehouse)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counts = {t: conn.execute(f"SELECT count(*) FROM {_quote(t)}").fetchone()[0] for t in tables}
    for lay in outcome.layouts.values():
        assert {lay.calls_table, lay.labels_table} <= tables
        assert counts[lay.labels_table] >= BASE_EXAMPLES


# --- each case -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_hostile_case(outcome: Outcome, case: dict[str, Any]) -> None:
    lay = outcome.layouts[case["id"]]
    expect = case["expect"]
    calls, examples, quarantine = store_counts(outcome.store, case["id"])
    assert quarantine == expect.get("quarantined", {}), "every bad row is counted in quarantine, by reason"
    extra = expect.get("counted", 0)
    in_examples = lay.attacks.startswith(("examples.", "config.examples."))
    assert calls == BASE_CALLS + (0 if in_examples else extra)
    assert examples == BASE_EXAMPLES + (extra if in_examples else 0)

    value = as_text(decode(case["value"]))
    if expect.get("shown") or "shown_as" in expect:
        assert expect.get("shown_as", value) in outcome.report_text  # escaped, so shown as typed
    channel = outcome.by_channel.get(lay.channel, [])
    if expect.get("slack_shown"):
        assert any(escape(value) in text for text in channel)
    for secret in expect.get("absent", []):
        assert secret not in outcome.html and secret not in outcome.report_json
        assert not any(secret in text for text in outcome.slack_strings)
        assert not any(secret in text for text in stored_texts(outcome.store, case["id"]))
    if "placeholder" in expect:  # in this workload's own section and Slack channel
        assert expect["placeholder"] in outcome.sections[lay.workload]
        assert any(escape(expect["placeholder"]) in text for text in channel)


def test_a_10mb_text_gives_short_excerpts_everywhere(outcome: Outcome) -> None:
    with outcome.store.connect() as conn:
        longest = conn.execute(sa.text("SELECT max(length(excerpt)), max(length(failure_mode)) FROM examples")).one()
    assert longest[0] <= 280 and longest[1] <= 500
    assert len(outcome.html) < 2_000_000  # 53 workloads with charts; no 10 MB text inside
    assert max(len(text) for text in outcome.slack_strings) <= 40_000


# --- PostgreSQL: real NaN and Infinity in float columns ---------------------------------------------


POSTGRES_CASES = [c for c in CASES if c.get("postgres")]


@pytest.mark.parametrize("case", POSTGRES_CASES, ids=[c["id"] for c in POSTGRES_CASES])
def test_numeric_and_timestamp_cases_on_postgresql(pg_outcome: sa.Engine, case: dict[str, Any]) -> None:
    calls, examples, quarantine = store_counts(pg_outcome, case["id"])
    assert quarantine == case["expect"].get("quarantined", {})
    assert (calls, examples) == (BASE_CALLS + case["expect"].get("counted", 0), BASE_EXAMPLES)


@pytest.fixture(scope="module")
def pg_outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """The `postgres` cases in a PostgreSQL warehouse whose tokens, latency and cost are float8
    (real NaN and Infinity), synced and evaluated once; the state store (SQLite) of that run."""
    if not POSTGRES_URL:
        pytest.skip("FTREADY_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)")
    schema = f"ft_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    pg_types = {"INTEGER": "DOUBLE PRECISION", "REAL": "DOUBLE PRECISION", "TEXT": "TEXT"}
    timestamps = {"created_at", "loaded_at", "updated_at"}
    layouts = [layout(CASES.index(case), case) for case in POSTGRES_CASES]
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            for lay in layouts:
                calls = healthy_calls(lay, lay.workload)
                calls += hostile_rows(lay, calls, "calls", backend="postgresql")
                for table, columns, types, rows in (
                    (lay.calls_table, CALL_COLUMNS, CALL_TYPES, calls),
                    (lay.labels_table, LABEL_COLUMNS, ("TEXT",) * len(LABEL_COLUMNS), healthy_labels(lay, lay.workload)),
                ):
                    ddl = ", ".join(
                        f'"{c}" {"TIMESTAMP" if c in timestamps else pg_types[t]}' for c, t in zip(columns, types)
                    )
                    conn.execute(sa.text(f'CREATE TABLE "{schema}"."{table}" ({ddl})'))
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join(f":{c}" for c in columns)
                    conn.execute(sa.text(f'INSERT INTO "{schema}"."{table}" ({names}) VALUES ({marks})'), rows)
        url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        store_url = f"sqlite:///{tmp_path_factory.mktemp('hostile-pg') / 'state.db'}"
        settings = settings_from_dict(
            {"store": {"url": store_url},
             "sources": [source_config(lay, url.render_as_string(hide_password=False)) for lay in layouts]},
            env={},
        )  # fmt: skip
        store = Store(store_url)
        try:
            sync_all(settings, store, now=NOW)
            evaluate_store(settings, store, now=NOW)  # no NaN or Infinity reaches the metrics
        finally:
            store.dispose()
        counts = sa.create_engine(store_url)
        yield counts
        counts.dispose()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
