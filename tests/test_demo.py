"""The demo warehouse: structure, determinism, and the profiles each workload was built to have."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from monitor import demo
from monitor.demo import DemoInfo, build_demo_warehouse, demo_config

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=timezone.utc)
SCALE = 0.02
PRODUCTION = "environment = 'production' AND operation = 'chat' AND feature = ?"
TRUSTED_SQL = "source IN ('production', 'human_fix') AND labeled_by IN ('human', 'annotation')"
WORKLOADS = ("claims-extraction", "marketing-copy", "clinical-notes", "search-rerank", "email-drafts", "faq-bot")


def ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    return build_demo_warehouse(tmp_path_factory.mktemp("demo") / "warehouse.db", now=NOW, scale=SCALE)


@pytest.fixture
def db(built: DemoInfo) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{built.path}?mode=ro", uri=True)
    yield conn
    conn.close()


def checksum(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table, key in (("llm_calls", "call_id"), ("llm_labels", "id")):
            digest = hashlib.sha256()
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {key}"):
                digest.update(repr(row).encode())
            out[table] = digest.hexdigest()
        return out
    finally:
        conn.close()


def test_tables_columns_and_indexes(built: DemoInfo, db: sqlite3.Connection) -> None:
    calls = [(r[1], r[2], r[5]) for r in db.execute("PRAGMA table_info(llm_calls)")]
    assert calls == [
        ("call_id", "TEXT", 1),
        ("created_at", "TEXT", 0),
        ("feature", "TEXT", 0),
        ("model", "TEXT", 0),
        ("prompt_tokens", "INTEGER", 0),
        ("completion_tokens", "INTEGER", 0),
        ("latency_ms", "REAL", 0),
        ("status", "TEXT", 0),
        ("cost", "REAL", 0),
        ("prompt_version", "TEXT", 0),
        ("environment", "TEXT", 0),
        ("operation", "TEXT", 0),
        ("loaded_at", "TEXT", 0),
    ]
    labels = [(r[1], r[2], r[5]) for r in db.execute("PRAGMA table_info(llm_labels)")]
    assert labels == [
        ("id", "TEXT", 1),
        ("feature", "TEXT", 0),
        ("created_at", "TEXT", 0),
        ("updated_at", "TEXT", 0),
        ("verdict", "TEXT", 0),
        ("failure_mode", "TEXT", 0),
        ("source", "TEXT", 0),
        ("labeled_by", "TEXT", 0),
        ("call_id", "TEXT", 0),
        ("prompt", "TEXT", 0),
        ("output", "TEXT", 0),
    ]
    indexed = {
        (table, db.execute(f"PRAGMA index_info('{name}')").fetchone()[2])
        for table in ("llm_calls", "llm_labels")
        for _, name, *_ in db.execute(f"PRAGMA index_list({table})")
    }
    assert {("llm_calls", "created_at"), ("llm_calls", "loaded_at"), ("llm_labels", "updated_at")} <= indexed
    assert db.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == built.calls_rows
    assert db.execute("SELECT count(*) FROM llm_labels").fetchone()[0] == built.label_rows
    assert (
        db.execute("SELECT count(*) FROM llm_calls WHERE created_at NOT GLOB '????-??-?? ??:??:??'").fetchone()[0]
        == (built.bad_rows["unparseable_timestamp"])
    )
    assert (
        db.execute("SELECT count(*) FROM llm_calls WHERE loaded_at NOT GLOB '????-??-?? ??:??:??'").fetchone()[0] == 0
    )
    assert {r[0] for r in db.execute("SELECT DISTINCT status FROM llm_calls")} == {"ok", "error"}
    assert {r[0] for r in db.execute("SELECT DISTINCT verdict FROM llm_labels")} == {"pass", "fail"}


def test_same_seed_same_tables_and_an_existing_file_is_replaced(built: DemoInfo, tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    path.write_text("not a database")
    again = build_demo_warehouse(path, now=NOW, scale=SCALE)
    assert (again.calls_rows, again.label_rows, again.bad_rows) == (built.calls_rows, built.label_rows, built.bad_rows)
    assert checksum(path) == checksum(built.path)
    assert list(tmp_path.iterdir()) == [path]  # no partial file left behind
    other = build_demo_warehouse(tmp_path / "other.db", now=NOW, scale=SCALE, seed=8)
    assert checksum(other.path)["llm_calls"] != checksum(built.path)["llm_calls"]


def test_nothing_after_now_and_at_most_13_months_back(built: DemoInfo, db: sqlite3.Connection) -> None:
    now = ts(NOW)
    assert db.execute("SELECT count(*) FROM llm_calls WHERE loaded_at > ?", (now,)).fetchone()[0] == 0
    future = db.execute("SELECT count(*) FROM llm_calls WHERE created_at > ? AND created_at != 'not-a-date'", (now,))
    assert future.fetchone()[0] == built.bad_rows["future_timestamp"]  # only the rows planted for quarantine
    oldest = db.execute("SELECT min(created_at) FROM llm_calls").fetchone()[0]
    assert oldest >= ts(NOW - timedelta(days=396))
    late = db.execute(
        "SELECT count(*) FROM llm_labels WHERE created_at > ? OR updated_at > ? OR updated_at < created_at", (now, now)
    )
    assert late.fetchone()[0] == 0
    lag = db.execute(
        "SELECT min(julianday(loaded_at) - julianday(created_at)), max(julianday(loaded_at) - julianday(created_at))"
        " FROM llm_calls WHERE created_at <= ?",
        (now,),
    ).fetchone()
    assert lag[0] > 0 and lag[1] < 2  # ingested minutes to hours (a few rows a day or so) after the event


def test_bad_rows_for_quarantine_are_present_but_rare(built: DemoInfo, db: sqlite3.Connection) -> None:
    found = db.execute(
        "SELECT sum(feature IS NULL), sum(prompt_tokens < 0), sum(latency_ms < 0), sum(created_at = 'not-a-date'),"
        " sum(created_at > ? AND created_at != 'not-a-date') FROM llm_calls",
        (ts(NOW),),
    ).fetchone()
    assert dict(zip(demo.BAD_ROW_REASONS, found, strict=True)) == built.bad_rows
    assert all(n >= 1 for n in found)
    assert 0.0001 <= sum(found) / built.calls_rows <= 0.001


def test_rows_the_filters_must_exclude(db: sqlite3.Connection) -> None:
    staging = dict(db.execute("SELECT feature, count(*) FROM llm_calls WHERE environment = 'staging' GROUP BY 1"))
    assert set(staging) == {"claims-extraction", "marketing-copy", "email-drafts"}
    agents = db.execute(
        "SELECT count(*), sum(feature IS NULL) FROM llm_calls WHERE operation = 'invoke_agent'"
    ).fetchone()
    assert agents[0] > 0
    assert {r[0] for r in db.execute("SELECT DISTINCT environment FROM llm_calls")} == {"production", "staging"}
    costed = dict(
        db.execute("SELECT feature, avg(cost IS NOT NULL) FROM llm_calls WHERE environment = 'production' GROUP BY 1")
    )
    assert 0.08 < costed.pop("marketing-copy") < 0.12
    assert not any(share for feature, share in costed.items() if feature is not None)
    assert db.execute("SELECT min(cost) > 0 FROM llm_calls WHERE cost IS NOT NULL").fetchone()[0] == 1


def calls_between(db: sqlite3.Connection, workload: str, start: datetime, end: datetime) -> int:
    sql = f"SELECT count(*) FROM llm_calls WHERE {PRODUCTION} AND created_at >= ? AND created_at < ?"
    return db.execute(sql, (workload, ts(start), ts(end))).fetchone()[0]


@pytest.mark.parametrize(
    "now",
    [NOW, datetime(2027, 3, 1, 0, 30, tzinfo=timezone.utc), datetime(2027, 1, 31, 23, 0, tzinfo=timezone.utc)],
    ids=["mid-month", "month-start", "month-end"],
)
def test_monthly_volumes_scaled_up_match_the_profiles(tmp_path: Path, now: datetime) -> None:
    """Calls at a small scale, divided by the scale, land where each verdict needs them."""
    info = build_demo_warehouse(tmp_path / "w.db", now=now, scale=SCALE)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    conn = sqlite3.connect(info.path)
    try:
        monthly = {w: calls_between(conn, w, last_month, this_month) / SCALE for w in WORKLOADS}
        trailing = {
            w: calls_between(conn, w, now - timedelta(days=30), now + timedelta(seconds=1)) / SCALE for w in WORKLOADS
        }
    finally:
        conn.close()
    for volume in (monthly, trailing):
        assert 600_000 < volume["claims-extraction"] < 720_000  # well past 500K
        assert 405_000 < volume["search-rerank"] < 480_000  # within 80 % of 500K, below it
        assert 70_000 < volume["email-drafts"] < 90_000
        assert 50_000 < volume["marketing-copy"] < 70_000
        assert 33_000 < volume["clinical-notes"] < 47_000
        assert 11_000 < volume["faq-bot"] < 20_000


def test_search_rerank_grows_toward_the_threshold(db: sqlite3.Connection) -> None:
    months = db.execute(
        f"SELECT substr(created_at, 1, 7), count(*) FROM llm_calls WHERE {PRODUCTION} AND created_at < '2026-11'"
        " GROUP BY 1",
        ("search-rerank",),
    ).fetchall()
    volumes = [n / SCALE for _, n in months]
    assert len(volumes) == 5 and volumes == sorted(volumes)
    assert volumes[0] < 200_000 and 400_000 < volumes[-1] < 500_000


def test_prompt_versions_in_the_last_30_days(db: sqlite3.Connection) -> None:
    sql = f"SELECT count(DISTINCT prompt_version) FROM llm_calls WHERE {PRODUCTION} AND created_at BETWEEN ? AND ?"
    versions = {w: db.execute(sql, (w, ts(NOW - timedelta(days=30)), ts(NOW))).fetchone()[0] for w in WORKLOADS}
    assert versions.pop("email-drafts") >= 6  # churning: blocks ready
    assert all(1 <= n <= 3 for n in versions.values()), versions


def test_latency_against_each_slo(built: DemoInfo, db: sqlite3.Connection) -> None:
    sql = f"SELECT latency_ms FROM llm_calls WHERE {PRODUCTION} AND created_at >= ? AND latency_ms >= 0"
    for workload in WORKLOADS:
        latency = np.array([r[0] for r in db.execute(sql, (workload, ts(NOW - timedelta(days=30))))])
        p95, slo = np.percentile(latency, 95), built.workloads[workload]["latency_slo_ms"]
        if workload == "email-drafts":
            assert 1_250 < p95 < 1_600 and p95 > slo
        else:
            assert 550 < p95 < 1_200 and p95 < slo * 0.85, workload
    errors = dict(
        db.execute("SELECT feature, avg(status = 'error') FROM llm_calls WHERE feature IS NOT NULL GROUP BY 1")
    )
    assert all(0.004 < rate < 0.035 for rate in errors.values()), errors


def test_label_provenance_mix_per_workload(db: sqlite3.Connection) -> None:
    total: dict[str, int] = defaultdict(int)
    synthetic: dict[str, int] = defaultdict(int)
    trusted: dict[str, int] = defaultdict(int)
    sources: dict[str, set[str]] = defaultdict(set)
    for feature, source, labeled_by, n in db.execute(
        "SELECT feature, source, labeled_by, count(*) FROM llm_labels GROUP BY 1, 2, 3"
    ):
        total[feature] += n
        synthetic[feature] += n * (source in ("synthetic", "generated"))
        trusted[feature] += n * (source in ("production", "human_fix") and labeled_by in ("human", "annotation"))
        sources[feature].add(source)
    assert set(total) == set(WORKLOADS)
    assert synthetic["marketing-copy"] / total["marketing-copy"] > 0.75
    for workload in ("claims-extraction", "clinical-notes", "search-rerank", "email-drafts"):
        assert synthetic[workload] / total[workload] < 0.25, workload
    assert sources["claims-extraction"] == {
        "production",
        "human_fix",
        "model_relabel",
        "upload",
        "synthetic",
        "generated",
    }
    assert trusted["claims-extraction"] > trusted["email-drafts"] > trusted["search-rerank"] > trusted["clinical-notes"]
    assert trusted["clinical-notes"] > trusted["marketing-copy"] > trusted["faq-bot"] > 0
    labeled_by = {r[0] for r in db.execute("SELECT DISTINCT labeled_by FROM llm_labels")}
    assert labeled_by == {"human", "annotation", "gpt-4o-judge"}


def test_labels_have_free_text_failures_and_contact_details(db: sqlite3.Connection) -> None:
    free_text = db.execute(
        "SELECT count(*) FROM llm_labels WHERE verdict = 'fail' AND failure_mode IS NULL"
    ).fetchone()[0]
    assert free_text > 0
    assert (
        db.execute("SELECT count(*) FROM llm_labels WHERE verdict = 'pass' AND failure_mode IS NOT NULL").fetchone()[0]
        == 0
    )
    texts = " ".join(p + " " + o for p, o in db.execute("SELECT prompt, output FROM llm_labels"))
    assert re.search(r"[\w.]+@[\w.]+\.com", texts) and re.search(r"\(\d{3}\) 555-01\d\d", texts)


def test_production_labels_point_at_earlier_calls_of_their_workload(db: sqlite3.Connection) -> None:
    linked = db.execute(
        "SELECT l.source, l.call_id IS NOT NULL,"
        " c.call_id IS NOT NULL AND c.feature = l.feature AND c.created_at <= l.created_at"
        " FROM llm_labels AS l LEFT JOIN llm_calls AS c ON c.call_id = l.call_id"
    ).fetchall()
    for source, has_call, call_matches in linked:
        assert has_call == (source in ("production", "human_fix", "model_relabel"))
        assert call_matches == has_call


def test_labels_at_full_scale_meet_each_profile() -> None:
    """The labels of a scale-1.0 build (planned without generating its millions of calls)."""
    now_ts = int(NOW.timestamp())
    grid = demo._day_grid(now_ts)
    counts = np.stack([demo._daily_counts(w, i, grid, 1.0, 7) for i, w in enumerate(demo.WORKLOADS)])
    labels = demo._plan_labels(now_ts, grid, counts, 1.0, 7)
    names = [w.name for w in demo.WORKLOADS]
    trusted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    exact: dict[str, set[str]] = defaultdict(set)
    weekly: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0] * 8)
    synthetic: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    trusted_rows: dict[str, int] = defaultdict(int)
    for label in labels:
        workload = names[label.workload]
        total[workload] += 1
        synthetic[workload] += label.source in ("synthetic", "generated")
        if (label.source, label.labeled_by) not in demo.TRUSTED:
            continue
        trusted_rows[workload] += 1
        exact[workload].add(label.prompt)
        trusted[workload][" ".join(label.prompt.lower().split())].add(label.verdict)
        week = (now_ts - label.created) // (7 * 86_400)
        if label.verdict == "fail" and week < 8:
            weekly[(workload, label.failure_mode)][7 - week] += 1
    real = {w: sum(len(v) == 1 for v in trusted[w].values()) for w in names}
    for workload in ("claims-extraction", "search-rerank", "email-drafts"):
        unique = len(exact[workload])
        assert trusted_rows[workload] > unique > len(trusted[workload])  # exact, then normalised duplicates
        assert any(len(v) == 2 for v in trusted[workload].values())  # one input labelled both pass and fail
    assert 1_400 <= real["claims-extraction"] <= 1_600
    assert 350 <= real["marketing-copy"] < 500 and synthetic["marketing-copy"] / total["marketing-copy"] > 0.75
    assert total["marketing-copy"] > 4_500
    assert 600 <= real["clinical-notes"] < 800
    assert 1_050 <= real["search-rerank"] < 1_200
    assert 1_100 <= real["email-drafts"] < 1_300
    assert real["faq-bot"] < 100

    def recurring(workload: str) -> set[str | None]:
        return {key for (w, key), c in weekly.items() if w == workload and sum(c) >= 20 and sum(map(bool, c)) >= 3}

    assert {"invalid_json", "missing_field"} <= recurring("claims-extraction")
    assert all(weekly[("claims-extraction", "invalid_json")])  # every one of the 8 weeks
    assert "hallucinated_policy" in recurring("clinical-notes")
    assert "wrong_tone" in recurring("email-drafts")
    search_failures = sum(sum(c) for (w, _), c in weekly.items() if w == "search-rerank")
    assert recurring("search-rerank") == set() and search_failures < 20


def test_profiles_and_expected_verdicts(built: DemoInfo) -> None:
    assert list(built.workloads) == list(WORKLOADS)
    for profile in built.workloads.values():
        assert set(profile) == {
            "domain",
            "strict_format",
            "latency_slo_ms",
            "current_model",
            "candidate_model",
            "owners",
            "slack_channel",
        }
        assert all(re.fullmatch(r"<@U[0-9A-Z]{8,11}>", owner) for owner in profile["owners"])
    assert built.workloads["claims-extraction"]["strict_format"] is True
    assert built.workloads["clinical-notes"]["domain"] == "specialized"
    assert built.expected_verdicts == {
        "claims-extraction": "ready",
        "marketing-copy": "prompt_engineering",
        "clinical-notes": "approaching",
        "search-rerank": "approaching",
        "email-drafts": "approaching",
        "faq-bot": "prompt_engineering",
    }


def test_demo_config_follows_the_contract(built: DemoInfo) -> None:
    config = demo_config(built, store_url="sqlite:///state.db", reports_dir="out/reports")
    assert set(config) == {"store", "sources", "workloads", "rules", "pricing", "alerts", "schedule", "reports"}
    source = config["sources"][0]
    assert source["name"] == "demo" and source["url"] == f"sqlite:///{built.path.resolve()}"
    assert source["calls"]["table"] == "llm_calls" and source["calls"]["preset"] == "native"
    assert source["calls"]["filters"] == [{"column": "environment", "op": "=", "value": "production"}]
    conn = sqlite3.connect(built.path)
    try:
        for table, section in (("llm_calls", "calls"), ("llm_labels", "examples")):
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert set(source[section]["columns"].values()) <= columns
    finally:
        conn.close()
    assert source["examples"]["provenance"]["synthetic"] == ["synthetic", "generated"]
    assert source["examples"]["trusted_label_sources"] == ["human", "annotation"]
    assert config["workloads"] == built.workloads and config["workloads"] is not built.workloads
    assert config["alerts"]["pending_evaluations"] == 1 and config["alerts"]["slack"]["token"] is None
    assert config["reports"] == {"dir": "out/reports", "base_url": None, "excerpts": True}
    from monitor.settings import settings_from_dict

    settings = settings_from_dict(config, env={})
    assert settings.sources[0].calls is not None and settings.sources[0].calls.columns["ingested_at"] == "loaded_at"


def test_now_must_be_timezone_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_demo_warehouse(tmp_path / "w.db", now=datetime(2026, 11, 18))
