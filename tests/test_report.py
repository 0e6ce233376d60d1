"""The weekly HTML report: content, safety, the JSON snapshot, the archive, atomic files and the digest."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import html5lib
import pytest
import sqlalchemy as sa

from monitor import store as tables
from monitor.model import EvaluationRun
from monitor.settings import Settings, settings_from_dict
from monitor.store import Store
from reports import charts
from reports.archive import archive_entries
from reports.build import workload_anchor
from reports.digest import digest_payload, slack_escape
from reports.files import write_atomic
from reports.publish import DIGEST_KIND, enqueue_digest, write_weekly_report
from reports.render import fmt_num, fmt_usd
from reports.weeks import IsoWeek
from tests.report_data import HOSTILE_FAILURE, HOSTILE_NAME, many_run, sample_run

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)  # Monday of 2026-W49
BASE_URL = "https://reports.example.com/ftready"


def make_settings(tmp_path: Path, **reports: Any) -> Settings:
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "sources": [
                {
                    "name": "warehouse",
                    "url": "sqlite:///warehouse.db",
                    "calls": {"table": "llm_calls"},
                    "examples": {
                        "table": "labels",
                        "columns": {"id": "id", "workload": "w", "created_at": "c", "label": "l"},
                    },
                }
            ],
            "alerts": {"slack": {"default_channel": "#llm-readiness"}},
            "reports": {"dir": str(tmp_path / "reports"), **reports},
        },
        env={},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings.store_url)


def parse(html: str) -> Any:
    """Strict html5lib: any parse error fails the test."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(html)


def svgs(element: Any, css_class: str) -> list[Any]:
    """Inline SVG roots (html5lib puts them in the SVG namespace) with a given class."""
    return [e for e in element.iter() if str(e.tag).endswith("}svg") and e.get("class") == css_class]


def text_of(element: Any) -> str:
    return " ".join("".join(element.itertext()).split())


# -- content -------------------------------------------------------------------------------------


def test_report_contains_every_workload_verdict_and_criterion(settings: Settings, store: Store) -> None:
    run = sample_run(NOW)
    files = write_weekly_report(settings, store, run, now=NOW)
    assert files.week == "2026-W49"
    assert files.html.name == "2026-W49.html" and files.json.name == "2026-W49.json"
    doc = parse(files.html.read_text(encoding="utf-8"))
    sections = {s.get("data-workload"): s for s in doc.iter("section") if s.get("data-workload") is not None}
    assert set(sections) == {v.workload for v in run.verdicts}
    for verdict in run.verdicts:
        section = sections[verdict.workload]
        assert section.get("id") == workload_anchor(verdict.workload)
        assert verdict.workload in text_of(section.find("div/h3"))
        badges = [b.get("data-verdict") for b in section.iter("span") if b.get("data-verdict")]
        assert badges[0] == verdict.level.value
        items = {li.get("data-criterion"): li for li in section.iter("li") if li.get("data-criterion")}
        assert list(items) == [c.id for c in verdict.criteria]
        for criterion in verdict.criteria:
            assert items[criterion.id].get("data-status") == criterion.status.value
            assert " ".join(criterion.message.split()) in text_of(items[criterion.id])
        for blocker in verdict.blockers:
            assert " ".join(blocker.split()) in text_of(section)
    rows = [tr.get("data-workload") for tr in doc.iter("tr") if tr.get("data-workload") is not None]
    assert rows[:2] == ["claims-extraction", "contract-review"]  # ready first, largest savings first
    assert set(rows) == set(sections)
    whole = text_of(doc)
    for heading in ("Portfolio", "What changed since last week", "Data quality", "How to read this"):
        assert heading in whole
    assert "1,000 or more" in whole and "500,000 calls/month" in whole and "fewer than 500" in whole


def test_every_section_of_the_issue_is_rendered(settings: Settings, store: Store) -> None:
    html = write_weekly_report(settings, store, sample_run(NOW), now=NOW).html.read_text(encoding="utf-8")
    claims = parse(html).find(f".//section[@id='{workload_anchor('claims-extraction')}']")
    text = text_of(claims)
    assert len(svgs(claims, "chart")) == 2  # monthly calls + cumulative examples
    assert len(svgs(claims, "spark")) == 3  # one sparkline per failure pattern
    for expected in (
        "json_schema_violation",
        "↑ rising",
        "Fine-tune",
        "Fix the prompt",
        "p95",
        "SLO (p95)",
        "1,720 ms",
        "1,500 ms",
        "Savings / month",
        "$18,250",
        "monthly savings =",
        "Next step",
        "threshold",
        "1,000 gate",
        "500 floor",
    ):
        assert expected in text, expected
    assert "claim_id" in text  # a redacted excerpt
    assert "[email]" in text
    assert "progress" in html and 'class="meter"' in html


def test_excerpts_are_left_out_when_turned_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, excerpts=False)
    html = write_weekly_report(settings, Store(settings.store_url), sample_run(NOW), now=NOW).html.read_text("utf-8")
    assert "claim_id" not in html
    assert "excerpts are turned off" in html


def test_html_is_self_contained_with_no_external_urls(tmp_path: Path) -> None:
    for base_url in (None, BASE_URL):
        settings = make_settings(tmp_path / str(bool(base_url)), base_url=base_url)
        files = write_weekly_report(settings, Store(settings.store_url), sample_run(NOW), now=NOW)
        for path in (files.html, files.index, files.latest):
            assert path is not None
            html = path.read_text(encoding="utf-8")
            doc = parse(html)
            assert not [
                e for e in doc.iter() if e.tag in ("script", "link", "iframe", "img", "object", "embed", "base")
            ]
            for element in doc.iter():
                for name, value in element.attrib.items():
                    assert not name.lower().startswith("on"), (element.tag, name)
                    if name.split("}")[-1] in ("src", "href") or name.endswith("href"):
                        assert _internal(value) or (base_url and value.startswith(base_url + "/")), value
            styles = " ".join([e.text or "" for e in doc.iter("style")] + [e.get("style", "") for e in doc.iter()])
            assert "@import" not in styles
            assert not re.findall(r"url\((?!#)", styles)
        if base_url:
            assert f'href="{BASE_URL}/2026-W49.html"' in files.html.read_text("utf-8")


def _internal(value: str) -> bool:
    return value.startswith("#") or bool(re.fullmatch(r"[\w.-]+\.html(#[\w%.~-]*)?", value))


def test_hostile_names_and_failure_texts_are_escaped(settings: Settings, store: Store) -> None:
    files = write_weekly_report(settings, store, sample_run(NOW), now=NOW)
    for path in (files.html, files.latest):
        assert path is not None
        html = path.read_text(encoding="utf-8")
        doc = parse(html)
        assert not list(doc.iter("script")) and not list(doc.iter("img"))
        assert not any(k.lower() == "onerror" for e in doc.iter() for k in e.attrib)
        assert HOSTILE_NAME in text_of(doc)  # shown as text, exactly
        assert " ".join(HOSTILE_FAILURE.split()) in text_of(doc)
        assert "<script>alert" not in html and "<img src=x" not in html and "<!channel>" not in html
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    payload = json.dumps(digest_payload(files.view, workloads={HOSTILE_NAME}, link=None, upload=None))
    assert "<!channel>" not in payload and "&lt;!channel&gt;" in payload


def test_hostile_base_url_is_not_linked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, base_url='javascript:alert(1)//"><b>')
    files = write_weekly_report(settings, Store(settings.store_url), sample_run(NOW), now=NOW)
    html = files.html.read_text("utf-8")
    assert "javascript:" not in html and files.view.report_url is None


# -- the JSON snapshot ---------------------------------------------------------------------------


def test_json_snapshot_matches_the_html_figures(settings: Settings, store: Store) -> None:
    files = write_weekly_report(settings, store, sample_run(NOW), now=NOW)
    data = json.loads(files.json.read_text(encoding="utf-8"))
    doc = parse(files.html.read_text(encoding="utf-8"))
    assert data["schema"] == "ftready.report/1" and data["week"] == "2026-W49"
    fields = {e.get("data-field"): text_of(e) for e in doc.iter() if e.get("data-field")}  # summary fields are unique
    totals = data["totals"]
    for level in ("ready", "approaching", "prompt_engineering"):
        assert fields[f"count-{level}"] == str(totals[level])
    assert fields["savings-total"] == fmt_usd(Decimal(str(totals["monthly_savings_usd"])))
    assert fields["changes-total"] == str(totals["changes"])
    assert fields["week"] == data["week"]
    rows = {tr.get("data-workload"): tr for tr in doc.iter("tr") if tr.get("data-workload") is not None}
    assert [w["name"] for w in data["workloads"]] == list(rows)
    for workload in data["workloads"]:
        cells = {e.get("data-field"): text_of(e) for e in rows[workload["name"]].iter() if e.get("data-field")}
        assert cells["monthly_calls"] == fmt_num(workload["monthly_calls"])
        assert cells["trusted_real"] == fmt_num(workload["trusted_real"])
        assert cells["recurring_patterns"] == str(workload["recurring_patterns"])
        savings = workload["monthly_savings_usd"]
        assert cells["monthly_savings_usd"] == (
            fmt_usd(Decimal(str(savings))) if savings is not None else cells["monthly_savings_usd"]
        )
        if savings is None:
            assert cells["monthly_savings_usd"] in ("unknown", "—")
        section = doc.find(f".//section[@id='{workload['anchor']}']")
        for criterion in workload["criteria"]:
            item = section.find(f".//li[@data-criterion='{criterion['id']}']")
            assert item.get("data-status") == criterion["status"]
            assert criterion["value_text"] in text_of(item)
    assert data["workloads"][0]["calls_chart"]["threshold"] == 500_000
    assert len(data["workloads"][0]["calls_chart"]["months"]) == 12


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        settings = make_settings(tmp_path / name)
        files = write_weekly_report(settings, Store(settings.store_url), sample_run(NOW), now=NOW)
        outputs.append((files.html.read_bytes(), files.json.read_bytes()))
    assert outputs[0] == outputs[1]


# -- what changed since last week ----------------------------------------------------------------


def _store_evaluation(store: Store, at: datetime, rows: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
    with store.transaction() as conn:
        for workload, (verdict, criteria) in rows.items():
            conn.execute(
                tables.evaluations.insert().values(
                    evaluated_at=at, workload=workload, verdict=verdict, criteria=criteria, blockers=[], metrics={}
                )
            )


def test_changes_since_last_week_come_from_the_evaluation_history(settings: Settings, store: Store) -> None:
    run = sample_run(NOW)
    criteria = {v.workload: [c.as_dict() for c in v.criteria] for v in run.verdicts}
    old = {
        "claims-extraction": (
            "approaching",
            [
                {**c, "status": "not_met", "value": 480_000} if c["id"] == "monthly_calls" else c
                for c in criteria["claims-extraction"]
            ],
        ),
        "contract-review": ("ready", criteria["contract-review"]),
        "support-triage": ("approaching", criteria["support-triage"]),
        "retired-bot": ("prompt_engineering", []),
    }
    _store_evaluation(store, NOW - timedelta(days=60), {"ancient-bot": ("ready", [])})  # an older run: not compared
    _store_evaluation(store, NOW - timedelta(days=8), old)
    _store_evaluation(store, NOW - timedelta(days=1), {"claims-extraction": ("prompt_engineering", [])})  # too recent
    files = write_weekly_report(settings, store, run, now=NOW)
    changes = {(c.workload, c.kind): c.text for c in files.view.changes.items}
    assert changes[("claims-extraction", "verdict_up")] == "Approaching → Ready to fine-tune."
    assert changes[("claims-extraction", "crossed")] == "Monthly call volume: now met (782,800; was 480,000)."
    assert ("retired-bot", "gone") in changes and not [c for c in changes if c[0] == "ancient-bot"]
    assert ("new-onboarding-bot", "new") in changes and ("search-summaries", "new") in changes
    assert ("contract-review", "verdict_up") not in changes and ("support-triage", "verdict_up") not in changes
    assert files.view.changes.week_old
    claims = next(w for w in files.view.workloads if w.name == "claims-extraction")
    assert claims.change == "up" and claims.previous_level == "approaching"
    html = files.html.read_text("utf-8")
    assert "▲ from Approaching" in html and "retired-bot" in html
    assert files.view.totals.changes == len(files.view.changes.items)


def test_young_history_compares_with_the_oldest_evaluation(settings: Settings, store: Store) -> None:
    _store_evaluation(store, NOW - timedelta(days=2), {"claims-extraction": ("approaching", [])})
    _store_evaluation(store, NOW - timedelta(days=1), {"claims-extraction": ("prompt_engineering", [])})
    _store_evaluation(store, NOW, {"claims-extraction": ("prompt_engineering", [])})  # the run itself, saved
    files = write_weekly_report(settings, store, sample_run(NOW), now=NOW)
    assert not files.view.changes.week_old
    assert "oldest stored evaluation" in files.view.changes.note
    assert next(w for w in files.view.workloads if w.name == "claims-extraction").previous_level == "approaching"


def test_no_history_says_so(settings: Settings, store: Store) -> None:
    files = write_weekly_report(settings, store, sample_run(NOW), now=NOW)
    assert files.view.changes.items == () and files.view.changes.baseline_at is None
    assert "No earlier evaluation" in files.html.read_text("utf-8")
    assert all(w.change is None for w in files.view.workloads)


# -- data quality --------------------------------------------------------------------------------


def test_data_quality_section(settings: Settings, store: Store) -> None:
    with store.transaction() as conn:
        store.save_watermark(conn, "warehouse", "calls", last_success_at=NOW - timedelta(minutes=30))
        store.save_watermark(
            conn,
            "warehouse",
            "examples",
            last_success_at=NOW - timedelta(days=3),
            consecutive_failures=2,
            last_error="timeout reading labels for ops@example.com",
        )
        store.save_watermark(conn, "old-source", "calls", last_success_at=NOW - timedelta(days=40))
        conn.execute(
            tables.quarantine.insert(),
            [
                {"source": "warehouse", "kind": "calls", "day": None, "reason": "negative_tokens", "rows": 7},
                {"source": "warehouse", "kind": "calls", "day": NOW.date(), "reason": "negative_tokens", "rows": 5},
                {"source": "warehouse", "kind": "examples", "day": None, "reason": "null_timestamp", "rows": 3},
            ],
        )
        conn.execute(
            tables.quarantined_examples.insert(),
            [{"source": "warehouse", "id": f"x{i}", "reason": "no_label"} for i in range(4)],
        )
        for i in range(3):
            conn.execute(
                tables.outbox.insert().values(
                    created_at=NOW - timedelta(hours=i),
                    channel="#gone",
                    kind="alert",
                    payload={},
                    status="dead" if i < 2 else "pending",
                    attempts=1,
                    last_error="channel_not_found",
                )
            )
    files = write_weekly_report(settings, store, sample_run(NOW), now=NOW)
    quality = files.view.data_quality
    states = {(s.source, s.kind): s.state for s in quality.syncs}
    assert states == {
        ("warehouse", "calls"): "ok",
        ("warehouse", "examples"): "failing",
        ("old-source", "calls"): "stale",
    }
    reasons = {(q.kind, q.reason): q.rows for q in quality.quarantine}
    assert reasons == {("calls", "negative_tokens"): 12, ("examples", "null_timestamp"): 3, ("examples", "no_label"): 4}
    assert quality.quarantine_total == 19
    assert [u.model for u in quality.unpriced] == ["acme-llm-7b"] and quality.unpriced[0].workloads == (
        "search-summaries",
    )
    assert quality.dead_letters_total == 2 and quality.dead_letters[0].error == "channel_not_found"
    text = text_of(parse(files.html.read_text("utf-8")).find(".//body"))
    for expected in (
        "negative_tokens",
        "no_label",
        "acme-llm-7b",
        "channel_not_found",
        "Failing (2 attempts in a row)",
        "Stale",
        "#gone",
    ):
        assert expected in text, expected
    assert "ops@example.com" not in text and "[email]" in text  # sync errors are redacted too


# -- files and archive ---------------------------------------------------------------------------


def test_archive_of_several_weeks(settings: Settings, store: Store) -> None:
    run = sample_run(NOW)
    directory = Path(settings.reports.dir)
    order = ["2026-W47", "2026-W45", "2026-W49", "2026-W48"]  # out of order, as a catch-up or a rerun would be
    for number, week in enumerate(order):
        write_weekly_report(settings, store, run, now=NOW + timedelta(minutes=number), week=week)
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"{w}.{ext}" for w in order for ext in ("html", "json")] + ["index.html", "latest.html"]
    )
    doc = parse((directory / "index.html").read_text("utf-8"))
    listed = [tr.get("data-week") for tr in doc.iter("tr") if tr.get("data-week")]
    assert listed == ["2026-W49", "2026-W48", "2026-W47", "2026-W45"]
    links = [a.get("href") for a in doc.iter("a")]
    assert [f"{w}.html" for w in listed] == [h for h in links if h != "latest.html"]
    assert "2 ready" in text_of(doc) and "23 Nov – 29 Nov 2026" in text_of(doc)
    # latest.html is the newest week, even though W48 was written last
    assert (directory / "latest.html").read_bytes() == (directory / "2026-W49.html").read_bytes()
    with store.read() as conn:
        rows = conn.execute(sa.select(tables.report_runs.c.week, tables.report_runs.c.path)).all()
    assert sorted(w for w, _ in rows) == sorted(order)
    assert all(Path(p).name == f"{w}.html" and Path(p).is_absolute() for w, p in rows)
    # rerunning a week replaces its row and files
    again = write_weekly_report(settings, store, run, now=NOW + timedelta(hours=1), week="2026-W48")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.report_runs)).scalar() == 4
    assert again.latest is None
    assert archive_entries(directory)[1].generated_at == NOW + timedelta(hours=1)


def test_index_lists_a_week_whose_snapshot_is_missing(tmp_path: Path) -> None:
    (tmp_path / "2026-W40.html").write_text("<!DOCTYPE html><title>x</title>")
    (tmp_path / "notes.html").write_text("x")
    entries = archive_entries(tmp_path)
    assert [e.week for e in entries] == ["2026-W40"] and entries[0].workloads is None


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "2026-W49.html"
    write_atomic(target, "old report")
    assert oct(target.stat().st_mode & 0o777) == "0o644"

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_atomic(target, "new report")
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["2026-W49.html"]  # the temporary file is gone


def test_no_temporary_files_are_left(settings: Settings, store: Store) -> None:
    write_weekly_report(settings, store, sample_run(NOW), now=NOW)
    assert not [p for p in Path(settings.reports.dir).iterdir() if p.name.startswith(".")]


def test_fifty_workloads_render_quickly(settings: Settings, store: Store) -> None:
    run = many_run(NOW, 50)
    started = time.perf_counter()
    files = write_weekly_report(settings, store, run, now=NOW)
    elapsed = time.perf_counter() - started
    doc = parse(files.html.read_text("utf-8"))
    sections = [s for s in doc.iter("section") if s.get("data-workload")]
    assert len(sections) == 50
    assert len({s.get("id") for s in sections}) == 50
    expected_charts = sum(
        bool(w.examples_chart.points) + any(m.calls for m in w.calls_chart.months) for w in files.view.workloads
    )
    assert len(svgs(doc, "chart")) == expected_charts > 80
    assert elapsed < 60, f"50 workloads took {elapsed:.1f} s"


def test_week_defaults_to_the_schedule_time_zone(tmp_path: Path) -> None:
    late_sunday_utc = datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)  # Monday 00:30 in Berlin
    settings = settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path}/s.db"},
            "sources": [{"name": "w", "url": "sqlite:///x.db", "calls": {"table": "t"}}],
            "schedule": {"timezone": "Europe/Berlin"},
            "reports": {"dir": str(tmp_path / "reports")},
        },
        env={},
    )
    files = write_weekly_report(settings, Store(settings.store_url), sample_run(late_sunday_utc), now=late_sunday_utc)
    assert files.week == "2026-W49"
    assert "CET" in files.html.read_text("utf-8")


def test_iso_weeks() -> None:
    week = IsoWeek.parse("2026-W48")
    assert (str(week), week.start.isoformat(), week.end.isoformat()) == ("2026-W48", "2026-11-23", "2026-11-29")
    assert str(IsoWeek.parse("2026w5")) == "2026-W05"
    assert str(IsoWeek.parse("2027-W01").previous()) == "2026-W53"
    assert IsoWeek.of(datetime(2027, 1, 1, tzinfo=timezone.utc)) == IsoWeek(2026, 53)
    for bad in ("2026-48", "W48", "2025-W53", "2026-W00", "../../etc"):
        with pytest.raises(ValueError):
            IsoWeek.parse(bad)


# -- charts --------------------------------------------------------------------------------------


def test_charts_are_clean_inline_svg(settings: Settings, store: Store) -> None:
    view = write_weekly_report(settings, store, sample_run(NOW), now=NOW).view
    renderer = charts.ChartRenderer()
    svg = renderer.calls(view.workloads[0].calls_chart, salt="x")
    head = svg.split(">", 1)[0]
    assert head.startswith('<svg class="chart"') and "viewBox" in head and "width=" not in head  # sized by CSS
    for absent in ("<?xml", "DOCTYPE", "<metadata", "<style", "matplotlib.org", "font-face", "<image", 'id="figure_1"'):
        assert absent not in svg, absent
    assert renderer.calls(view.workloads[0].calls_chart, salt="x") == svg  # deterministic
    assert renderer.calls(view.workloads[0].calls_chart, salt="y") != svg  # ids differ between charts
    assert "500k threshold" in svg and "crosses" not in svg
    support = next(w for w in view.workloads if w.name == "support-triage")
    assert "crosses ~Feb ’27" in renderer.calls(support.calls_chart, salt="z")
    assert "1,000 gate" in renderer.examples(view.workloads[0].examples_chart, salt="e")
    spark = charts.sparkline((0, 2, 5))
    assert spark.count("<rect") == 3 and "0, 2, 5" in spark


# -- the Slack digest ----------------------------------------------------------------------------


def _outbox(store: Store) -> list[Any]:
    with store.read() as conn:
        return conn.execute(sa.select(tables.outbox).order_by(tables.outbox.c.id)).mappings().all()


def test_digest_with_a_base_url_links_the_report(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, base_url=BASE_URL + "/")
    store = Store(settings.store_url)
    run = sample_run(NOW)
    files = write_weekly_report(settings, store, run, now=NOW)
    ids = enqueue_digest(settings, store, run, files, now=NOW)
    rows = _outbox(store)
    assert [r["id"] for r in rows] == ids
    assert {r["channel"] for r in rows} == {"#llm-readiness", "#claims-ml"}
    assert all(r["kind"] == DIGEST_KIND and r["status"] == "pending" for r in rows)
    main = next(r["payload"] for r in rows if r["channel"] == "#llm-readiness")
    assert main["upload"] is None
    buttons = [e for b in main["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"] == f"{BASE_URL}/2026-W49.html"
    assert main["text"] == "Fine-tuning readiness 2026-W49: 2 ready, 1 approaching, 3 stay with prompts."
    text = json.dumps(main["blocks"])
    assert "*2* ready to fine-tune" in text and "claims-extraction: $18,250/month" in text
    team = next(r["payload"] for r in rows if r["channel"] == "#claims-ml")
    assert "support-triage" not in json.dumps(team) and "claims-extraction" in json.dumps(team)
    # once per channel and week
    assert enqueue_digest(settings, store, run, files, now=NOW + timedelta(minutes=5)) == []
    assert len(_outbox(store)) == 2


def test_digest_without_a_base_url_uploads_the_html(settings: Settings, store: Store) -> None:
    run = sample_run(NOW)
    files = write_weekly_report(settings, store, run, now=NOW)
    enqueue_digest(settings, store, run, files, now=NOW)
    payload = _outbox(store)[0]["payload"]
    assert payload["upload"] == {
        "path": str(files.html.resolve()),
        "filename": "ftready-2026-W49.html",
        "title": "Fine-tuning readiness 2026-W49",
    }
    assert not [b for b in payload["blocks"] if b["type"] == "actions"]


def test_digest_lists_changes_and_escapes_everything(settings: Settings, store: Store) -> None:
    run = sample_run(NOW)
    _store_evaluation(store, NOW - timedelta(days=7), {v.workload: ("prompt_engineering", []) for v in run.verdicts})
    files = write_weekly_report(settings, store, run, now=NOW)
    payload = digest_payload(files.view, link=None, upload=None)
    text = json.dumps(payload, ensure_ascii=False)
    assert "Changes since last week" in text and "▲ claims-extraction" in text
    hostile = digest_payload(files.view, workloads={HOSTILE_NAME}, link=None, upload=None)
    sections = [b["text"]["text"] for b in hostile["blocks"] if b["type"] == "section"]
    assert any(f"• {slack_escape(HOSTILE_NAME)}: $120/month" in s for s in sections)
    for raw in ("<!channel>", "<script>", "<img"):
        assert raw not in text and raw not in json.dumps(hostile)
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert slack_escape("a & <b> <!here>") == "a &amp; &lt;b&gt; &lt;!here&gt;"


def test_an_empty_portfolio_still_renders(settings: Settings, store: Store) -> None:
    files = write_weekly_report(settings, store, EvaluationRun(NOW, (), {}, {}), now=NOW)
    text = text_of(parse(files.html.read_text("utf-8")))
    assert "No workloads evaluated yet" in text and "No workload is ready to fine-tune yet." in text
    assert json.loads(files.json.read_text("utf-8"))["totals"]["workloads"] == 0


def test_store_facts_on_postgresql(tmp_path: Path, postgres_store_url: str) -> None:
    """The store reads (watermarks, quarantine, dead letters, the baseline run) on a team store."""
    settings = make_settings(tmp_path)
    store = Store(postgres_store_url)
    run = sample_run(NOW)
    with store.transaction() as conn:
        store.save_watermark(conn, "warehouse", "calls", last_success_at=NOW - timedelta(minutes=5))
        conn.execute(tables.quarantine.insert().values(source="warehouse", kind="calls", day=None, reason="bad", rows=4))
        conn.execute(tables.quarantined_examples.insert().values(source="warehouse", id="e1", reason="no_label"))
        conn.execute(
            tables.outbox.insert().values(
                created_at=NOW, channel="#x", kind="alert", payload={}, status="dead", attempts=1, last_error="invalid_auth"
            )
        )
    criteria = [c.as_dict() for c in run.verdicts[0].criteria]
    _store_evaluation(store, NOW - timedelta(days=7), {run.verdicts[0].workload: ("approaching", criteria)})
    try:
        files = write_weekly_report(settings, store, run, now=NOW)
        enqueue_digest(settings, store, run, files, now=NOW)
        assert enqueue_digest(settings, store, run, files, now=NOW) == []
    finally:
        store.dispose()
    quality = files.view.data_quality
    assert {(q.kind, q.reason, q.rows) for q in quality.quarantine} == {("calls", "bad", 4), ("examples", "no_label", 1)}
    assert quality.dead_letters_total == 1 and quality.syncs[0].state == "ok"
    assert files.view.changes.week_old and files.view.workloads[0].change == "up"
