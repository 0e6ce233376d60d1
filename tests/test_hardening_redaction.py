"""Redaction end to end: a label row holding personal data or a secret reaches the report HTML, the
report JSON and the Slack payload only as a placeholder; `reports.excerpts: false` stores and shows
no excerpt at all. (The hostile corpus checks each kind again, one workload and channel per kind.)
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.alerts import process_evaluation
from monitor.evaluate import evaluate_store
from monitor.settings import settings_from_dict
from monitor.slack import escape
from monitor.store import Store, outbox
from monitor.sync import sync_all
from reports.publish import enqueue_digest, write_weekly_report
from tests.conftest import NOW
from tests.factories import native_source, write_table

# (kind, the value in a failure text, the placeholder that must replace it)
KINDS = [
    ("email", "jane.doe+llm@example.com", "[email]"),
    ("phone", "+44 20 7946 0958", "[phone]"),
    ("card", "5555 5555 5555 4444", "[card]"),  # a Luhn-valid Mastercard test number
    ("api-key", "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2", "[secret]"),
    ("bearer", "Bearer abcDEF123ghiJKL456mnoPQR789", "Bearer [secret]"),
    ("ipv4", "198.51.100.23", "[ip]"),
]
PACK = {"monthly_calls": 10, "trusted_real_examples": 2, "prompt_engineering_below": 1,
        "recurring": {"min_weeks": 1, "window_weeks": 8, "min_cases": 1}}  # fmt: skip


def _warehouse(path: Path) -> str:
    """One workload: a month of calls, trusted passes, and per kind a failure pattern whose newest
    text holds that kind (each pattern's first excerpt is what Slack shows)."""
    url = f"sqlite:///{path}"
    base = pd.Timestamp(NOW.replace(tzinfo=None))
    calls = pd.DataFrame({
        "call_id": [f"c{d}" for d in range(30)], "created_at": [base - pd.Timedelta(days=d, hours=1) for d in range(30)],
        "feature": "support", "model": "gpt-4o", "prompt_tokens": 100, "completion_tokens": 30, "latency_ms": 300.0,
        "status": "ok", "cost": 0.001, "prompt_version": "v1", "environment": "production", "operation": "chat",
        "loaded_at": [base - pd.Timedelta(days=d) for d in range(30)],
    })  # fmt: skip
    rows: list[dict[str, Any]] = [
        {"id": f"p{k}", "verdict": "pass", "failure_mode": None, "output": f"fine {k}", "days": 2 + k} for k in range(3)
    ]
    for kind, value, _ in KINDS:
        rows += [
            {"id": f"{kind}-old", "verdict": "fail", "failure_mode": f"leak {kind}", "output": "older", "days": 9},
            {"id": f"{kind}-new", "verdict": "fail", "failure_mode": f"leak {kind}", "output": f"reply sent {value} ok",
             "days": 1},
        ]  # fmt: skip
    labels = pd.DataFrame(rows)
    labels["created_at"] = [base - pd.Timedelta(days=d) for d in labels.pop("days")]
    labels = labels.assign(
        feature="support", updated_at=labels["created_at"], source="production", labeled_by="human",
        prompt=[f"input {i}" for i in range(len(labels))],
    )  # fmt: skip
    write_table(url, "llm_calls", calls, text_timestamps=True)
    write_table(url, "llm_labels", labels, text_timestamps=True)
    return url


@pytest.mark.parametrize("excerpts", [True, False], ids=["excerpts-on", "excerpts-off"])
def test_excerpts_are_redacted_or_off_in_store_report_and_slack(tmp_path: Path, excerpts: bool) -> None:
    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps(PACK), encoding="utf-8")
    settings = settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "sources": [native_source(_warehouse(tmp_path / "wh.db"), labels="llm_labels")],
            "rules": str(pack),
            # a bot token: messages thread what does not fit (six patterns, five shown); nothing is sent here
            "alerts": {"pending_evaluations": 1, "slack": {"token": "xoxb-not-used"}},
            "reports": {"dir": str(tmp_path / "reports"), "excerpts": excerpts},
        },
        env={},
    )
    store = Store(settings.store_url)
    try:
        sync_all(settings, store, now=NOW)
        with store.read() as conn:
            stored = [r[0] for r in conn.execute(sa.text("SELECT excerpt FROM examples"))]
        run = evaluate_store(settings, store, now=NOW)
        assert process_evaluation(settings, store, run, now=NOW)
        files = write_weekly_report(settings, store, run, now=NOW + timedelta(minutes=1))
        enqueue_digest(settings, store, run, files, now=NOW)
        with store.read() as conn:
            payloads = [json.dumps(r[0], ensure_ascii=False) for r in conn.execute(sa.select(outbox.c.payload))]
    finally:
        store.dispose()
    html = files.html.read_text(encoding="utf-8")
    snapshot = files.json.read_text(encoding="utf-8")
    slack = "\n".join(payloads)
    everything = "\n".join([html, snapshot, slack, *(e or "" for e in stored)])
    for _kind, value, _placeholder in KINDS:
        assert value.split()[-1] not in everything  # the value (a bearer token's token) never shows
    if excerpts:
        for kind, _value, placeholder in KINDS:
            assert any(placeholder in e for e in stored if e), kind
            assert f"reply sent {placeholder} ok" in html, kind
            assert f"reply sent {escape(placeholder)} ok" in slack, kind
    else:
        assert stored and all(e is None for e in stored)  # none stored
        assert 'class="excerpts"' not in html and "reports.excerpts: false" in html  # none shown, and why
        assert "reply sent" not in everything and "_e.g._" not in slack
