"""Block Kit messages within every Slack limit whatever the data, escaping, routing, and the
notifiers against a local fake Slack with the real slack-sdk clients (no mocks of the client)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from monitor.alerts import AlertKind, Event, Notification, Severity, fingerprint, process_evaluation
from monitor.console import ConsoleNotifier, print_alerts, render_payload, unslack
from monitor.model import CostEstimate, CriterionResult, CriterionStatus
from monitor.outbox import DeliveryError, deliver_outbox, enqueue
from monitor.slack import (
    MAX_BLOCKS,
    SlackNotifier,
    WebhookNotifier,
    build_alert_message,
    build_digest,
    clip,
    escape,
    outbox_messages,
    retry_handlers,
    slack_len,
    split_text,
    validate_message,
)
from monitor.store import Store
from tests.slack_server import TOKEN, FakeSlack, Reply, block_kit_problems, slack_server  # noqa: F401
from tests.test_alerts import NOW, READY, make_run, make_settings, metrics, outbox_rows, pattern

HOSTILE = "<!channel> <script>alert(1)</script> & <@U999> <http://evil.example|click> @here"
HUGE = "x" * 50_000


def fast_notifier(slack: FakeSlack, **kwargs: Any) -> SlackNotifier:
    """The real WebClient against the fake Slack, without real sleeps between retries."""
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0), sleep=kwargs.pop("sleep", lambda s: None))
    return SlackNotifier(
        TOKEN, default_channel="#llm-readiness", base_url=slack.api_url, handlers=handlers, timeout=5, **kwargs
    )


def slack_settings(slack: FakeSlack, **extra: Any) -> Any:
    slack_config = {"token": TOKEN, "base_url": slack.api_url, "default_channel": "#llm-readiness"}
    alerts = {"pending_evaluations": 1, "slack": slack_config}
    return make_settings(alerts, **extra)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'state.db'}")


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def assert_safe(body: Any) -> None:
    """No data text can ping, mention or link: only escaped forms reach Slack."""
    for text in strings(body):
        for forbidden in ("<!channel>", "<script", "<@U999>", "<http://evil", "@here", "<!here>"):
            assert forbidden not in text, (forbidden, text[:200])


def hostile_run(at: Any = NOW) -> Any:
    patterns = tuple(pattern(f"{HOSTILE} {i} {HUGE}", cases=100 - i, excerpt=HOSTILE + HUGE) for i in range(12))
    cost = CostEstimate(
        current_model=HOSTILE, candidate_model=HOSTILE + HUGE, monthly_input_tokens=10**9, monthly_output_tokens=10**8,
        current_monthly_cost_usd=Decimal("24000"), candidate_monthly_cost_usd=Decimal("3000"),
        monthly_savings_usd=Decimal("21000"), training_tokens=10**7, epochs=3, training_cost_usd=Decimal("240"),
        payback_months=Decimal("0.01"),
    )  # fmt: skip
    m = metrics(HOSTILE, calls=600_000, trusted=1_200, patterns=patterns, cost=cost, as_of=at)
    run = make_run({HOSTILE: m}, at=at)
    verdict = run.verdicts[0]
    long_verdict = replace(verdict, blockers=tuple(f"{HOSTILE} {HUGE}" for _ in range(3)), summary=HOSTILE + HUGE)
    return replace(run, verdicts=(long_verdict,))


# --- text helpers --------------------------------------------------------------------------


def test_escape_neutralises_mentions_and_links() -> None:
    assert escape("<!channel> & <b>") == "&lt;!channel&gt; &amp; &lt;b&gt;"
    assert "@here" not in escape("hi @here and @channel") and "@everyone" not in escape("@everyone")
    assert escape("a\x00b\ud800c") == "abc"


def test_clip_never_cuts_inside_an_entity_and_counts_utf16() -> None:
    for n in range(2990, 3010):
        clipped = clip(escape("&" * n), 3000)
        assert slack_len(clipped) <= 3000
        assert clipped.replace("&amp;", "").rstrip("…") == ""
    assert slack_len("🚀") == 2
    assert slack_len(clip("🚀" * 2000, 3000)) <= 3000


def test_split_text_chunks_fit_and_keep_everything() -> None:
    text = escape(HOSTILE * 500)
    chunks = list(split_text(text, 3000))
    assert "".join(chunks) == text
    assert all(slack_len(c) <= 3000 for c in chunks)


# --- messages whatever the data ------------------------------------------------------------


def test_hostile_workload_and_50k_failure_texts_give_valid_escaped_messages(slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server, workloads={HOSTILE: {"owners": ["<@U024BE7LH>", "<!channel>", "@here"]}},
                              reports={"base_url": "https://reports.example.com/ftready"})  # fmt: skip
    run = hostile_run()
    verdict = run.verdicts[0]
    notifications = [
        Notification(
            fingerprint=fingerprint(HOSTILE, kind, subject), workload=HOSTILE, kind=kind, subject=subject,
            event=event, level=level,
            previous_level="prompt_engineering" if kind is AlertKind.VERDICT_CHANGED else "normal",
            severity=Severity.WARNING, title=HOSTILE + HUGE, detail=HOSTILE + HUGE, channel="#llm-readiness", at=NOW,
            verdict=verdict, metrics=run.metrics[HOSTILE],
        )  # fmt: skip
        for kind, subject, event, level in [
            (AlertKind.VERDICT_CHANGED, "", Event.FIRING, "ready"),
            (AlertKind.THRESHOLD_CROSSED, "monthly_calls", Event.ESCALATED, "crossed"),
            (AlertKind.PROJECTED_CROSSING, "monthly_calls", Event.RESOLVED, "normal"),
            (AlertKind.SYNC_FAILING, "wh", Event.REMINDER, "firing"),
        ]
    ]
    for n in notifications:
        message = build_alert_message(n, settings)
        payload = message.payload()
        for part in [payload, *payload["thread_replies"]]:
            assert validate_message(part) == [] and block_kit_problems(part) == []
        assert_safe({k: v for k, v in payload.items()})
        assert payload["thread_replies"], "the cut text must continue in the thread"
    first = build_alert_message(notifications[0], settings).payload()
    rendered = json.dumps(first)
    assert "&lt;!channel&gt;" in rendered and "&lt;script&gt;" in rendered
    assert "<@U024BE7LH>" in rendered  # the configured owner is a real mention
    assert '"type": "header"' in rendered and '"url": "https://reports.example.com/ftready/latest.html#workload-' in rendered
    header = first["blocks"][0]["text"]["text"]
    assert slack_len(header) <= 150 and header.endswith("…")
    # every character of the long text is somewhere in the thread
    thread_text = "".join(b["text"]["text"] for r in first["thread_replies"] for b in r["blocks"])
    assert thread_text.count("x") >= 50_000


def test_hostile_alerts_end_to_end_posted_json_within_limits(store: Store, slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server, reports={"base_url": "https://reports.example.com/"})
    run = hostile_run()
    notifications = process_evaluation(settings, store, run, now=NOW)
    assert notifications
    report = deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    assert report.dead == [] and report.retried == [] and len(report.sent) == len(outbox_rows(store))
    posts = slack_server.calls_to("chat.postMessage")
    assert posts and all(c.ok for c in posts)
    assert slack_server.limit_problems == []
    for call in posts:
        assert block_kit_problems(call.body) == []
        assert_safe(call.body)
    replies = [c for c in posts if c.body.get("thread_ts")]
    assert replies, "overflow went to thread replies"
    assert {c.body["channel"] for c in replies} == {"C0DEFAULT1"}


def test_digest_of_many_hostile_alerts_fits(slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server)
    notifications = [
        Notification(
            fingerprint=f"f{i}", workload=f"{HOSTILE}{i}{HUGE}", kind=AlertKind.THRESHOLD_CROSSED,
            subject="monthly_calls",
            event=Event.FIRING, level="crossed", previous_level="normal", severity=Severity.WARNING,
            title=HOSTILE + HUGE, detail=HOSTILE + HUGE, channel="#llm-readiness", at=NOW,
        )  # fmt: skip
        for i in range(120)
    ]
    messages = outbox_messages(notifications, settings)
    assert len(messages) == 1 and messages[0].kind == "alert_digest"
    payload = messages[0].payload
    assert len(payload["blocks"]) <= MAX_BLOCKS
    for part in [payload, *payload["thread_replies"]]:
        assert block_kit_problems(part) == []
    assert_safe(payload)
    assert "and 80 more alerts" in json.dumps(payload)


def test_more_than_ten_criteria_split_into_field_sections(slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server)
    run = make_run({"w": READY})
    many = tuple(
        CriterionResult(id=f"c{i}", status=CriterionStatus.MET, value=HUGE, threshold=1, message=HUGE)
        for i in range(25)
    )
    verdict = replace(run.verdicts[0], criteria=many)
    n = Notification(
        fingerprint="f", workload="w", kind=AlertKind.VERDICT_CHANGED, subject="", event=Event.FIRING, level="ready",
        previous_level="approaching", severity=Severity.WARNING, title="ready", detail="d", channel="#c", at=NOW,
        verdict=verdict, metrics=run.metrics["w"],
    )  # fmt: skip
    payload = build_alert_message(n, settings).payload()
    field_sections = [b for b in payload["blocks"] if b["type"] == "section" and b.get("fields")]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 5]
    assert block_kit_problems(payload) == []
    # hundreds of criteria still make one valid message; what does not fit continues in the thread
    huge = replace(n, verdict=replace(verdict, criteria=many * 24))
    payload = build_alert_message(huge, settings).payload()
    assert len(payload["blocks"]) == MAX_BLOCKS and "more parts not shown here" in json.dumps(payload["blocks"][-1])
    for part in [payload, *payload["thread_replies"]]:
        assert block_kit_problems(part) == []


def test_report_button_only_with_a_safe_base_url(slack_server: FakeSlack) -> None:
    run = make_run({"w": READY})
    n = Notification(
        fingerprint="f", workload="w", kind=AlertKind.VERDICT_CHANGED, subject="", event=Event.FIRING, level="ready",
        previous_level="approaching", severity=Severity.WARNING, title="ready", detail="d", channel="#c", at=NOW,
        verdict=run.verdicts[0], metrics=run.metrics["w"],
    )  # fmt: skip
    plain = build_alert_message(n, slack_settings(slack_server)).payload()
    assert not [b for b in plain["blocks"] if b["type"] == "actions"]
    evil_settings = slack_settings(slack_server, reports={"base_url": "https://x.example|<!channel>"})
    evil = build_alert_message(n, evil_settings).payload()
    assert not [b for b in evil["blocks"] if b["type"] == "actions"]
    good = build_alert_message(n, slack_settings(slack_server, reports={"base_url": "https://r.example/ft"})).payload()
    (actions,) = [b for b in good["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == "https://r.example/ft/latest.html#workload-w"
    assert good["text"] == "w: ready"


def test_verdict_message_has_criteria_blockers_savings_and_patterns(slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server, workloads={"w": {"owners": ["<@U024BE7LH>"]}})
    cost = CostEstimate(
        current_model="gpt-4o", candidate_model="ft:gpt-4o-mini", monthly_input_tokens=1, monthly_output_tokens=1,
        current_monthly_cost_usd=Decimal("24000"), candidate_monthly_cost_usd=Decimal("6000"),
        monthly_savings_usd=Decimal("18000"), training_tokens=1, epochs=3, training_cost_usd=Decimal("500"),
        payback_months=Decimal("0.03"),
    )  # fmt: skip
    run = make_run({"w": {"calls": 450_000, "trusted": 600, "recurring": True, "cost": cost}})
    n = Notification(
        fingerprint="f", workload="w", kind=AlertKind.VERDICT_CHANGED, subject="", event=Event.FIRING,
        level="approaching", previous_level="prompt_engineering", severity=Severity.INFO, title="approaching",
        detail=run.verdicts[0].summary, channel="#c", at=NOW, verdict=run.verdicts[0], metrics=run.metrics["w"],
    )  # fmt: skip
    text = render_payload(build_alert_message(n, settings).payload())
    assert "*trusted real examples*: 600 / 1,000" in text
    assert "*monthly volume*: 450,000 / 500,000" in text
    assert "*Blockers*" in text and "*Projected savings*: $18,000/month" in text
    assert "json_format" in text and "Owners: <@U024BE7LH>" in text


# --- notifiers -----------------------------------------------------------------------------


def test_not_in_channel_joins_once_then_posts(store: Store, slack_server: FakeSlack) -> None:
    slack_server.members = set()
    settings = slack_settings(slack_server)
    with store.transaction() as conn:
        enqueue(conn, kind="alert", channel="#support-ml", payload={"text": "hi", "blocks": []}, now=NOW)
    report = deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    assert report.sent == [1]
    assert [c.body.get("channel") for c in slack_server.calls_to("conversations.join")] == ["C0SUPPORT1"]
    assert [c.ok for c in slack_server.calls_to("chat.postMessage")] == [False, True]


def test_not_in_channel_after_the_join_is_dead_lettered(store: Store, slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server)
    slack_server.script("chat.postMessage", *[_error("not_in_channel")] * 2)
    with store.transaction() as conn:
        enqueue(conn, kind="alert", channel="#support-ml", payload={"text": "hi", "blocks": []}, now=NOW)
    report = deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    assert report.dead == [1]
    row = outbox_rows(store)[0]
    assert row["status"] == "dead" and row["last_error"].startswith("not_in_channel")
    assert len(slack_server.calls_to("conversations.join")) == 1


def test_join_failure_is_dead_lettered_with_advice(store: Store, slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server)
    slack_server.script("chat.postMessage", _error("not_in_channel"))
    slack_server.script("conversations.join", _error("missing_scope"))
    with store.transaction() as conn:
        enqueue(conn, kind="alert", channel="#support-ml", payload={"text": "hi", "blocks": []}, now=NOW)
    report = deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    assert report.dead == [1] and "/invite" in outbox_rows(store)[0]["last_error"]


def test_weekly_digest_with_thread_replies_and_file_upload(
    store: Store, slack_server: FakeSlack, tmp_path: Path
) -> None:
    report_file = tmp_path / "2026-W48.html"
    report_file.write_text("<html>report</html>")
    settings = slack_settings(slack_server)
    payload = {
        "text": "Weekly readiness report",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Weekly readiness report"}}],
        "thread_replies": [{"text": "details 1", "blocks": []}, {"text": "details 2", "blocks": []}],
        "upload": {"path": str(report_file), "filename": "2026-W48.html", "title": "Readiness 2026-W48"},
    }
    with store.transaction() as conn:
        enqueue(conn, kind="weekly_digest", channel=None, payload=payload, now=NOW, fingerprint="weekly:2026-W48")
    report = deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    assert report.sent == [1]
    posts = slack_server.calls_to("chat.postMessage")
    assert [p.body["channel"] for p in posts] == ["#llm-readiness", "C0DEFAULT1", "C0DEFAULT1"]
    assert posts[1].body["thread_ts"] == posts[2].body["thread_ts"] == "1700000000.000001"
    assert len(slack_server.calls_to("upload")) == 1
    (complete,) = slack_server.calls_to("files.completeUploadExternal")
    assert complete.body["channel_id"] == "C0DEFAULT1" and complete.body["thread_ts"] == "1700000000.000001"


def test_a_failed_reply_resumes_without_reposting_the_message(store: Store, slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server)
    replies = [{"text": "r1", "blocks": []}, {"text": "r2", "blocks": []}]
    payload = {"text": "main", "blocks": [], "thread_replies": replies}
    with store.transaction() as conn:
        enqueue(conn, kind="weekly_digest", channel=None, payload=payload, now=NOW)
    slack_server.script("chat.postMessage", Reply(), Reply(), Reply(503, {"ok": False, "error": "service_unavailable"}))
    first = deliver_outbox(settings, store, now=NOW, notifier=fast_notifier(slack_server))
    assert first.retried == [1]
    second = deliver_outbox(settings, store, now=NOW + timedelta(hours=1), notifier=fast_notifier(slack_server))
    assert second.sent == [1]
    texts = [c.body["text"] for c in slack_server.calls_to("chat.postMessage") if c.ok]
    assert texts == ["main", "r1", "r2"]


def test_webhook_notifier_posts_message_and_followups(store: Store, slack_server: FakeSlack) -> None:
    settings = make_settings({"pending_evaluations": 1, "slack": {"webhook_url": slack_server.webhook_url}})
    process_evaluation(settings, store, hostile_run(), now=NOW)
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0), sleep=lambda s: None)
    notifier = WebhookNotifier(slack_server.webhook_url, handlers=handlers)
    report = deliver_outbox(settings, store, now=NOW, notifier=notifier)
    assert report.sent and not report.dead
    posts = slack_server.calls_to("webhook")
    assert posts and all(c.ok for c in posts) and slack_server.limit_problems == []
    for call in posts:
        assert_safe(call.body)
    # without a bot token there is no thread: the cut text points nowhere it cannot go
    assert all("thread" not in s for c in posts for s in strings(c.body))


def test_webhook_permanent_and_transient_errors(slack_server: FakeSlack) -> None:
    handlers = retry_handlers(interval=FixedValueRetryIntervalCalculator(0), sleep=lambda s: None)
    notifier = WebhookNotifier(slack_server.webhook_url, handlers=handlers)
    slack_server.script(
        "webhook", Reply(404, "channel_not_found"), Reply(500, "oops"), Reply(429, "", {"Retry-After": "60"})
    )
    errors = []
    for _ in range(3):
        with pytest.raises(DeliveryError) as caught:
            notifier.deliver(None, {"text": "t", "blocks": []}, {}, lambda p: None)
        errors.append((caught.value.code, caught.value.permanent, caught.value.retry_after))
    assert errors == [("channel_not_found", True, None), ("http_500", False, None), ("ratelimited", False, 60.0)]


def test_invalid_payload_is_refused_before_any_request(slack_server: FakeSlack) -> None:
    payload = {"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]}
    with pytest.raises(DeliveryError) as caught:
        fast_notifier(slack_server).deliver("#c", payload, {}, lambda p: None)
    assert caught.value.permanent and caught.value.code == "invalid_blocks"
    assert slack_server.calls == []


# --- console -------------------------------------------------------------------------------


def test_console_notifier_and_print_alerts_are_readable(store: Store) -> None:
    settings = make_settings({"pending_evaluations": 1})  # no Slack settings: dry run
    notifications = process_evaluation(settings, store, make_run({"<b>w</b>": READY}), now=NOW)
    console = Console(record=True, width=200, highlight=False)
    print_alerts(notifications, console)
    report = deliver_outbox(settings, store, now=NOW, notifier=ConsoleNotifier(console))
    assert report.notifier == "console" and len(report.sent) == len(outbox_rows(store))
    text = console.export_text()
    assert "<b>w</b>: ready to fine-tune" in text  # unescaped for people, printed literally
    assert "&lt;" not in text and "Slack (dry run) → #llm-readiness" in text


def test_default_notifier_without_slack_settings_is_the_console(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings({"pending_evaluations": 1})
    process_evaluation(settings, store, make_run({"w": READY}), now=NOW)
    report = deliver_outbox(settings, store, now=NOW)
    assert report.notifier == "console" and report.sent
    assert "ready to fine-tune" in capsys.readouterr().out


def test_unslack_links_and_entities() -> None:
    assert unslack("see the <https://r.example/|report> &lt;b&gt; &amp;") == "see the report (https://r.example/) <b> &"


def _error(code: str) -> Any:
    return Reply(200, {"ok": False, "error": code})


def test_digest_builder_direct(slack_server: FakeSlack) -> None:
    settings = slack_settings(slack_server)
    n = Notification(
        fingerprint="f", workload="", kind=AlertKind.SYNC_FAILING, subject="wh", event=Event.FIRING, level="firing",
        previous_level="normal", severity=Severity.CRITICAL, title="sync failing", detail="boom", channel="#c", at=NOW,
    )  # fmt: skip
    message = build_digest([n] * 6, settings, "#c")
    assert message.blocks[0]["text"]["text"].startswith("🚨 ftready: 6 alerts")
    assert block_kit_problems(message.payload()) == []
