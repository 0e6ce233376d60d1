"""Slack: Block Kit messages that fit every limit whatever the data, and the two notifiers.

Messages are built with slack-sdk's block models from `Notification`s (pure functions, data in,
`SlackMessage` out) when the alert is enqueued; the outbox stores the serialised payload and a
notifier posts it later:

- `SlackNotifier`: a bot token and `WebClient` (threads, `conversations.join`, `files_upload_v2`);
- `WebhookNotifier`: an incoming webhook (`WebhookClient`); it posts to the webhook's own
  channel, cannot thread (overflow goes out as follow-up messages) and cannot upload files.

Safety: every piece of data (workload names, failure texts, criterion sentences, model names) goes
through `escape`, which turns `&`, `<`, `>` into entities, so nothing in the data can become a
`<!channel>` ping, a `<@U…>` mention or a forged `<http://…|link>`; text objects are `verbatim`
so Slack does not auto-link it either. Mentions come only from the configured `owners`, and only
in the `<@U…>` / `<!subteam^S…>` forms.

Limits (Slack's, counted in UTF-16 code units to be safe with emoji): at most 50 blocks; a
section's text ≤ 3,000 and ≤ 10 fields of ≤ 2,000 each; a header's plain text ≤ 150; a button's
text ≤ 75 and URL ≤ 3,000. Text that does not fit is cut with "…" (never inside an entity) and
the full text goes to thread replies, or the reader is pointed at the report.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import URLError
from urllib.parse import quote

from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from monitor.model import CriterionStatus, FailurePattern, Verdict, WorkloadMetrics
from monitor.outbox import DeliveryError
from monitor.settings import Settings
from rules.criteria import CRITERIA

if TYPE_CHECKING:
    from monitor.alerts import Notification

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000  # Slack truncates longer `text`
FALLBACK_TEXT = 3000  # what we put in `text`: a notification line, not the whole message

DIGEST_AFTER = 5  # more alerts than this for one channel in one evaluation → one digest message
DIGEST_ITEMS = 40  # alert lines in the digest message itself; the rest go to the thread
MAX_PATTERNS = 5  # recurring patterns listed in a message
MAX_THREAD_REPLIES = 5
REPLY_BLOCKS = 45

ELLIPSIS = "…"
SEVERITY_EMOJI = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}
EVENT_EMOJI = {"resolved": "✅", "reminder": "🔁", "deescalated": "📉"}
VERDICT_EMOJI = {"ready": "🚀", "approaching": "📈", "prompt_engineering": "✏️"}
STATUS_EMOJI = {"met": "✅", "warn": "🟡", "not_met": "▫️", "no_data": "❔"}

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_BROADCAST = re.compile(r"@(?=channel|here|everyone)", re.IGNORECASE)
_SAFE_URL = re.compile(r"https?://[^\s<>|]+")
_MENTION = re.compile(r"<@[UW][A-Z0-9]{2,30}>|<!subteam\^[A-Z0-9]{2,30}(?:\|@?[\w.-]{1,80})?>")


# --- text: escaping and limits ------------------------------------------------------------


def escape(text: Any) -> str:
    """Data text made safe for Slack: `&`, `<`, `>` as entities (no pings, no forged links).

    Control characters and lone surrogates are dropped (Slack rejects them), and a word joiner
    after `@` in `@channel`/`@here`/`@everyone` keeps even a client that auto-links those quiet.
    """
    text = _UNSAFE.sub("", str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@\u2060", text)


def slack_len(text: str) -> int:
    """Length as Slack counts it, conservatively: UTF-16 code units (an emoji can count 2)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def _fits(text: str, limit: int) -> bool:
    # slack_len >= len, and <= 2 × len: most texts are decided without encoding them
    if len(text) > limit:
        return False
    return len(text) * 2 <= limit or slack_len(text) <= limit


def _cut(text: str, units: int) -> str:
    """The longest prefix within `units` that does not end inside an `&…;` entity."""
    if units <= 0:
        return ""
    end = min(len(text), units)
    over = slack_len(text[:end]) - units
    while over > 0:
        end -= over
        over = slack_len(text[:end]) - units
    amp = text.rfind("&", max(0, end - 4), end)
    if amp != -1 and ";" not in text[amp:end]:
        end = amp
    return text[:end]


def clip(text: str, limit: int, *, marker: str = ELLIPSIS) -> str:
    """Escaped `text` within `limit`, cut with `marker` ("…") when it is longer."""
    if _fits(text, limit):
        return text
    return _cut(text, limit - slack_len(marker)).rstrip() + marker


def split_text(text: str, limit: int) -> Iterator[str]:
    """Escaped `text` in chunks within `limit`, preferring to break at line ends."""
    start = 0
    while start < len(text):
        rest = text[start : start + limit]  # a chunk is never longer than `limit` characters
        if start + limit >= len(text) and _fits(rest, limit):
            yield rest
            return
        head = _cut(rest, limit)
        newline = head.rfind("\n")
        if newline > len(head) // 2:
            head = head[: newline + 1]
        if not head:  # pragma: no cover - limit below an entity's length
            head = rest[:1]
        yield head
        start += len(head)


def validate_message(message: Mapping[str, Any]) -> list[str]:
    """Every Slack limit `message` ({"text", "blocks"}) breaks; [] when it is valid."""
    problems: list[str] = []
    text = message.get("text")
    if not text and not message.get("blocks"):
        problems.append("a message needs text or blocks")
    if text is not None and slack_len(str(text)) > MAX_MESSAGE_TEXT:
        problems.append(f"text is {slack_len(str(text))} characters (max {MAX_MESSAGE_TEXT})")
    blocks = message.get("blocks") or []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks (max {MAX_BLOCKS})")
    for i, block in enumerate(blocks):
        problems.extend(f"blocks[{i}] ({block.get('type')}): {p}" for p in _block_problems(block))
    return problems


def _block_problems(block: Mapping[str, Any]) -> Iterable[str]:
    def over(obj: Any, limit: int, what: str) -> Iterable[str]:
        value = obj.get("text", "") if isinstance(obj, Mapping) else obj
        if value is not None and slack_len(str(value)) > limit:
            yield f"{what} is {slack_len(str(value))} characters (max {limit})"

    if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
        yield f"block_id longer than {MAX_BLOCK_ID}"
    kind = block.get("type")
    if kind == "header":
        text = block.get("text") or {}
        if text.get("type") != "plain_text":
            yield "header text must be plain_text"
        yield from over(text, MAX_HEADER_TEXT, "header text")
    elif kind == "section":
        if not block.get("text") and not block.get("fields"):
            yield "section needs text or fields"
        if block.get("text"):
            yield from over(block["text"], MAX_SECTION_TEXT, "section text")
        fields = block.get("fields") or []
        if len(fields) > MAX_FIELDS:
            yield f"{len(fields)} fields (max {MAX_FIELDS})"
        for j, item in enumerate(fields):
            yield from over(item, MAX_FIELD_TEXT, f"field {j}")
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
            yield f"{len(elements)} context elements (1 to {MAX_CONTEXT_ELEMENTS})"
        for j, element in enumerate(elements):
            yield from over(element, MAX_CONTEXT_TEXT, f"context element {j}")
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
            yield f"{len(elements)} actions elements (1 to {MAX_ACTIONS_ELEMENTS})"
        for j, element in enumerate(elements):
            yield from over(element.get("text") or {}, MAX_BUTTON_TEXT, f"button {j} text")
            yield from over(element.get("url") or "", MAX_URL, f"button {j} url")


# --- messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackMessage:
    text: str  # fallback text (notifications, screen readers), escaped
    blocks: list[dict[str, Any]]
    thread_replies: list[dict[str, Any]] = field(default_factory=list)

    def payload(self, **extra: Any) -> dict[str, Any]:
        """The outbox payload (see monitor/outbox.py for the contract)."""
        return {"text": self.text, "blocks": self.blocks, "thread_replies": self.thread_replies, **extra}


@dataclass(frozen=True)
class OutboxMessage:
    kind: str  # "alert" | "alert_digest"
    channel: str
    fingerprint: str
    payload: dict[str, Any]


class _Builder:
    """Collects blocks within the limits; what does not fit goes to `overflow` for the thread."""

    def __init__(self, *, threads: bool, report_url: str | None) -> None:
        self.blocks: list[Block] = []
        self.overflow: list[str] = []  # escaped mrkdwn, shown in thread replies
        self.threads = threads
        self.report_url = report_url

    @property
    def note(self) -> str:
        if self.threads:
            return " _(continued in the thread)_"
        if self.report_url:
            return f" _(full text in the <{self.report_url}|report>)_"
        return ""

    def header(self, text: str) -> None:
        self.blocks.append(HeaderBlock(text=PlainTextObject(text=clip(escape(text), MAX_HEADER_TEXT), emoji=True)))

    def section(self, text: str, *, full: str | None = None, spill: bool = False) -> None:
        """A section of escaped mrkdwn `text`, cut to fit.

        With `spill`, when `text` had to be cut or is a shortened form of `full`, the whole of it
        goes to the thread (or the reader is pointed at the report).
        """
        full = text if full is None else full
        cut = full != text or slack_len(text) > MAX_SECTION_TEXT
        note = ""
        if cut and spill:
            self.overflow.append(full)
            note = self.note
        self.blocks.append(SectionBlock(text=_mrkdwn(clip(text, MAX_SECTION_TEXT - slack_len(note)) + note)))

    def fields(self, items: Sequence[str]) -> None:
        for start in range(0, len(items), MAX_FIELDS):
            chunk = [_mrkdwn(clip(item, MAX_FIELD_TEXT)) for item in items[start : start + MAX_FIELDS]]
            self.blocks.append(SectionBlock(fields=chunk))

    def context(self, *texts: str) -> None:
        elements = [_mrkdwn(clip(t, MAX_CONTEXT_TEXT)) for t in texts if t][:MAX_CONTEXT_ELEMENTS]
        if elements:
            self.blocks.append(ContextBlock(elements=elements))

    def button(self, label: str) -> None:
        if self.report_url and len(self.report_url) <= MAX_URL:
            text = PlainTextObject(text=clip(escape(label), MAX_BUTTON_TEXT))
            button = ButtonElement(text=text, url=self.report_url, action_id="open_report")
            self.blocks.append(ActionsBlock(elements=[button]))

    def message(self, fallback: str, *, reply_label: str) -> SlackMessage:
        blocks = [b.to_dict() for b in self.blocks]  # to_dict() runs slack-sdk's own validators
        if len(blocks) > MAX_BLOCKS:  # e.g. a rule pack with hundreds of criteria: the rest continues
            kept, dropped = blocks[: MAX_BLOCKS - 1], blocks[MAX_BLOCKS - 1 :]
            self.overflow.extend(text for block in dropped for text in _block_texts(block))
            note = _mrkdwn(f"{ELLIPSIS} {len(dropped)} more parts not shown here.{self.note}")
            blocks = [*kept, SectionBlock(text=note).to_dict()]
        replies = _thread_replies(self.overflow, reply_label, self.report_url) if self.threads else []
        return SlackMessage(text=clip(fallback, FALLBACK_TEXT), blocks=blocks, thread_replies=replies)


def _block_texts(block: Mapping[str, Any]) -> list[str]:
    texts = [block["text"]["text"]] if isinstance(block.get("text"), Mapping) else []
    texts += [f["text"] for f in block.get("fields") or []]
    texts += [e["text"] for e in block.get("elements") or [] if e.get("type") == "mrkdwn"]
    return texts


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _thread_replies(overflow: Sequence[str], label: str, report_url: str | None) -> list[dict[str, Any]]:
    """Overflow text as thread replies of ≤ REPLY_BLOCKS sections, at most MAX_THREAD_REPLIES;
    what does not fit even there is counted and the reader pointed at the report."""
    capacity = MAX_THREAD_REPLIES * REPLY_BLOCKS
    sections: list[str] = []
    total = sum(len(t) for t in overflow)
    used = 0
    for chunk in (c for text in overflow for c in split_text(text, MAX_SECTION_TEXT)):
        if len(sections) == capacity - 1:
            where = f"see the <{report_url}|report>" if report_url and len(report_url) < 1000 else "see the report"
            sections.append(f"{ELLIPSIS} {total - used:,} more characters not shown; {where}.")
            break
        sections.append(chunk)
        used += len(chunk)
    replies = []
    for start in range(0, len(sections), REPLY_BLOCKS):
        blocks = [SectionBlock(text=_mrkdwn(s)).to_dict() for s in sections[start : start + REPLY_BLOCKS]]
        number = start // REPLY_BLOCKS + 1
        replies.append({"text": clip(f"{label} (continued, {number})", FALLBACK_TEXT), "blocks": blocks})
    return replies


def report_url(settings: Settings, workload: str | None = None) -> str | None:
    """The report link for a workload (`reports.base_url`), or None when no base URL is set."""
    base = settings.reports.base_url
    if not base or not _SAFE_URL.fullmatch(base):
        return None  # a URL that could break out of `<url|label>` is never used
    url = base.rstrip("/") + "/latest.html"
    if workload:
        url += "#workload-" + quote(workload, safe="")
    return url if len(url) <= MAX_URL else (base if len(base) <= MAX_URL else None)


def build_alert_message(notification: Notification, settings: Settings) -> SlackMessage:
    """One alert as a Block Kit message: what changed, the evidence, owners, a report button."""
    n = notification
    builder = _Builder(threads=_threads(settings), report_url=report_url(settings, n.workload or None))
    name = n.workload or "ftready"
    builder.header(f"{_emoji(n)} {name}: {n.title}")
    lead = f"*{_event_label(n)}* · {n.severity.value}"
    builder.section(f"{lead}\n{escape(n.detail)}", spill=True)
    if n.kind.value == "verdict_changed" and n.verdict is not None:
        _verdict_blocks(builder, n.verdict, n.metrics)
    elif n.verdict is not None and n.kind.value in ("threshold_crossed", "projected_crossing"):
        criterion = n.verdict.criterion(n.subject)
        if criterion is not None:
            builder.fields([_criterion_field(criterion.id, criterion.status, criterion.value, criterion.threshold)])
    owners = _owners(settings, n.workload) if n.event.value in ("firing", "escalated") else ""
    builder.context(f"Owners: {owners}" if owners else "")
    builder.button("Open report")
    builder.context(f"ftready · {n.kind.value} · `{n.fingerprint}` · {n.at:%Y-%m-%d %H:%M} UTC")
    return builder.message(escape(f"{name}: {n.title}"), reply_label=escape(f"{name}: {n.title}"))


def build_digest(notifications: Sequence[Notification], settings: Settings, channel: str) -> SlackMessage:
    """Several alerts for one channel as one message (one line each; the rest in the thread)."""
    builder = _Builder(threads=_threads(settings), report_url=report_url(settings))
    count = len(notifications)
    worst = min((n.severity.value for n in notifications), key=["critical", "warning", "info"].index)
    builder.header(f"{SEVERITY_EMOJI[worst]} ftready: {count} alerts")
    by_severity: dict[str, int] = {}
    for n in notifications:
        by_severity[n.severity.value] = by_severity.get(n.severity.value, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in by_severity.items())
    builder.section(f"{count} alerts for {escape(channel)} at {notifications[0].at:%Y-%m-%d %H:%M} UTC ({summary}).")
    lines = [
        f"{_emoji(n)} *{escape(n.workload or 'ftready')}*: {escape(n.title)} _({_event_label(n)})_\n{escape(n.detail)}"
        for n in notifications
    ]
    for line in lines[:DIGEST_ITEMS]:
        builder.section(clip(line, 600) if slack_len(line) > 600 else line)
    full = [line for line in lines if slack_len(line) > 600] + lines[DIGEST_ITEMS:]
    if full:
        builder.overflow.extend(full)
        if len(lines) > DIGEST_ITEMS:
            builder.section(f"{ELLIPSIS} and {len(lines) - DIGEST_ITEMS} more alerts.{builder.note}")
    mentions = " ".join(dict.fromkeys(
        _owners(settings, n.workload) for n in notifications if n.workload and n.event.value in ("firing", "escalated")
    ))  # fmt: skip
    builder.context(f"Owners: {mentions.strip()}" if mentions.strip() else "")
    builder.button("Open report")
    builder.context(f"ftready · digest of {count} alerts")
    fallback = f"ftready: {count} alerts for {channel}"
    return builder.message(escape(fallback), reply_label=escape(fallback))


def build_test_message(channel: str, settings: Settings, *, now: datetime) -> SlackMessage:
    builder = _Builder(threads=False, report_url=report_url(settings))
    builder.header("🧪 ftready test message")
    builder.section(
        f"ftready alerts for this channel ({escape(channel)}) will look like this. "
        f"Sent by `ftready alerts --test` at {now:%Y-%m-%d %H:%M} UTC."
    )
    builder.button("Open report")
    return builder.message(escape(f"ftready test message for {channel}"), reply_label="test")


def outbox_messages(notifications: Sequence[Notification], settings: Settings) -> list[OutboxMessage]:
    """One message per alert, or one digest per channel that has more than DIGEST_AFTER alerts."""
    by_channel: dict[str, list[Notification]] = {}
    for n in notifications:
        by_channel.setdefault(n.channel, []).append(n)
    messages: list[OutboxMessage] = []
    for channel, group in by_channel.items():
        if len(group) > DIGEST_AFTER:
            fingerprints = [n.fingerprint for n in group]
            message = build_digest(group, settings, channel)
            digest_id = "digest:" + _short_hash("|".join(fingerprints) + group[0].at.isoformat())
            payload = message.payload(alerts=fingerprints)
            messages.append(OutboxMessage("alert_digest", channel, digest_id, payload))
        else:
            for n in group:
                payload = build_alert_message(n, settings).payload(alerts=[n.fingerprint], event=n.event.value)
                messages.append(OutboxMessage("alert", channel, n.fingerprint, payload))
    return messages


def _verdict_blocks(builder: _Builder, verdict: Verdict, metrics: WorkloadMetrics | None) -> None:
    builder.fields([_criterion_field(c.id, c.status, c.value, c.threshold) for c in verdict.criteria])
    if verdict.blockers:
        text = "*Blockers*\n" + "\n".join(f"• {escape(b)}" for b in verdict.blockers)
        builder.section(text, spill=True)
    cost = metrics.cost if metrics else None
    if cost is not None and cost.monthly_savings_usd is not None:
        parts = [
            f"*Projected savings*: {_usd(cost.monthly_savings_usd)}/month",
            f"{escape(cost.current_model or 'current model')} at {_usd(cost.current_monthly_cost_usd)}/month → "
            f"{escape(cost.candidate_model or 'fine-tuned model')} at {_usd(cost.candidate_monthly_cost_usd)}/month",
        ]
        if cost.training_cost_usd is not None:
            payback = f", payback in {_months(cost.payback_months)}" if cost.payback_months is not None else ""
            parts.append(f"one-off training {_usd(cost.training_cost_usd)}{payback}")
        builder.section("\n".join(parts), spill=True)
    patterns = sorted(metrics.recurring_patterns if metrics else (), key=lambda p: -p.cases)
    if patterns:
        title = "*Recurring failure patterns*\n"
        shown = "\n".join(_pattern_line(p, full=False) for p in patterns[:MAX_PATTERNS])
        if len(patterns) > MAX_PATTERNS:
            shown += f"\n{ELLIPSIS} and {len(patterns) - MAX_PATTERNS} more"
        full = "\n".join(_pattern_line(p, full=True) for p in patterns)
        builder.section(title + shown, full=title + full, spill=True)


def _pattern_line(pattern: FailurePattern, *, full: bool) -> str:
    key = escape(pattern.key)
    excerpt = escape(pattern.excerpts[0]) if pattern.excerpts else ""
    if not full:
        key, excerpt = clip(key, 200), clip(excerpt, 280)
    line = (
        f"• `{key}`: {pattern.cases:,} cases in {pattern.weeks_seen} of {pattern.window_weeks} weeks, "
        f"{pattern.trend} → {escape(pattern.remedy)}"
    )
    return line + (f"\n    _e.g._ {excerpt}" if excerpt else "")


def _criterion_field(criterion_id: str, status: CriterionStatus, value: Any, threshold: Any) -> str:
    criterion = CRITERIA.get(criterion_id)
    label = criterion.label if criterion else criterion_id.replace("_", " ")
    shown = f"{_value(criterion_id, value)} / {_value(criterion_id, threshold, missing='not set')}"
    return f"{STATUS_EMOJI.get(status.value, '')} *{escape(label)}*\n{escape(shown)}"


def _value(criterion_id: str, value: Any, *, missing: str = "no data") -> str:
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if criterion_id == "synthetic_share" and isinstance(value, (int, float)):
        return f"{value * 100:.0f}%"
    if criterion_id == "latency_slo" and isinstance(value, (int, float)):
        return f"{value:,.0f} ms"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (float, Decimal)):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    return str(value)


def _months(value: Decimal) -> str:
    if value < 1:
        return f"{max(1, round(value * 30))} days"
    return f"{value:.1f} months"


def _usd(value: Decimal | None) -> str:
    return "unpriced" if value is None else f"${value:,.0f}"


def _owners(settings: Settings, workload: str) -> str:
    """Configured owners: real mentions (`<@U…>`, `<!subteam^…>`) kept, anything else escaped."""
    owners = settings.workload(workload).owners if workload else []
    return " ".join(o if _MENTION.fullmatch(o) else escape(o) for o in owners)


def _emoji(n: Notification) -> str:
    if n.event.value in EVENT_EMOJI:
        return EVENT_EMOJI[n.event.value]
    if n.kind.value == "verdict_changed":
        return VERDICT_EMOJI.get(n.level, "ℹ️")
    return SEVERITY_EMOJI[n.severity.value]


def _event_label(n: Notification) -> str:
    if n.kind.value == "verdict_changed":
        old, new = n.previous_level.replace("_", " "), n.level.replace("_", " ")
        return f"verdict {old} → {new}" if n.event.value != "reminder" else f"reminder: verdict still {new}"
    return {
        "firing": "firing",
        "escalated": f"{n.previous_level} → {n.level}",
        "deescalated": f"{n.previous_level} → {n.level}",
        "resolved": "resolved",
        "reminder": "reminder: still firing",
    }[n.event.value]


def _threads(settings: Settings) -> bool:
    return settings.alerts.slack.token is not None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- notifiers -------------------------------------------------------------------------------

# Errors that will not go away by retrying: dead-letter them (after one join for not_in_channel).
PERMANENT_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "channel_not_found", "is_archived", "channel_is_archived", "not_in_channel",
    "invalid_blocks", "invalid_blocks_format", "invalid_attachments", "msg_too_long", "msg_blocks_too_long",
    "no_text", "too_many_attachments", "invalid_arguments", "invalid_arg_name", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel", "ekm_access_denied",
    "team_access_not_granted", "posting_to_general_channel_denied", "invalid_payload", "invalid_token",
    "no_service", "no_service_id", "no_team", "action_prohibited", "user_not_found", "invalid_thread_ts",
    "thread_not_found", "method_not_supported_for_channel_type", "not_allowed_token_type",
})  # fmt: skip
TRANSIENT_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
    "team_added_to_org", "ratelimited_by_slack",
})  # fmt: skip
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class InlineRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's rate-limit handler, retrying in-process only when Slack asks for a short wait.

    A longer Retry-After is not slept through: the request fails with the 429, and the outbox
    schedules the row's next attempt at Retry-After (so a deliverer never blocks for minutes).
    `sleep` is injectable for tests.
    """

    def __init__(self, max_retry_count: int = 1, *, max_wait: float = 5.0, sleep: Callable[[float], None] = time.sleep):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self.sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after(response.headers if response else {})
        return (wait if wait is not None else 1.0) <= self.max_wait

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response.headers if response else {})
        state.next_attempt_requested = True
        self.sleep(wait if wait is not None else 1.0)
        state.increment_current_attempt()


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a Retry-After header (any case; a value or a list of values)."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            value = value[0] if isinstance(value, (list, tuple)) and value else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def retry_handlers(
    *,
    connection_retries: int = 2,
    interval: RetryIntervalCalculator | None = None,
    max_inline_wait: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RetryHandler]:
    """Connection-error retries (with backoff) and short rate-limit waits, for both clients."""
    return [
        ConnectionErrorRetryHandler(
            max_retry_count=connection_retries, interval_calculator=interval or BackoffRetryIntervalCalculator(0.5)
        ),
        InlineRateLimitRetryHandler(max_retry_count=2, max_wait=max_inline_wait, sleep=sleep),
    ]


def _network_error(exc: BaseException) -> DeliveryError:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return DeliveryError(f"Slack did not answer in time: {exc}", permanent=False, code="timeout")
    return DeliveryError(f"cannot reach Slack: {exc}", permanent=False, code="connection_error")


def _api_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error") or "")
    # a non-JSON body (a proxy's 502 page) gives slack-sdk's own sentence here, not a code
    code = error if re.fullmatch(r"[a-z_]{2,80}", error) else f"http_{status}"
    messages = (data.get("response_metadata") or {}).get("messages") or []
    detail = (": " + "; ".join(str(m) for m in messages[:3])) if messages else ""
    if status == 429 or code in ("ratelimited", "rate_limited"):
        wait = retry_after(getattr(response, "headers", {}) or {})
        return _rate_limited(wait)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return DeliveryError(f"Slack error {code}{detail}", permanent=False, code=code)
    return DeliveryError(f"Slack error {code}{detail}", permanent=True, code=code)


def _rate_limited(wait: float | None) -> DeliveryError:
    message = f"rate limited by Slack (Retry-After {wait})"
    return DeliveryError(message, permanent=False, code="ratelimited", retry_after=wait)


def _check_payload(payload: Mapping[str, Any]) -> None:
    """Refuse, before any request, a payload Slack would reject (a bug upstream: dead-letter it)."""
    parts = [payload, *(payload.get("thread_replies") or [])]
    problems = [p for part in parts for p in validate_message(part)]
    if problems:
        message = "message breaks Slack limits: " + "; ".join(problems[:5])
        raise DeliveryError(message, permanent=True, code="invalid_blocks")


class SlackNotifier:
    """Posts outbox payloads with a bot token (`chat.postMessage`, threads, `files_upload_v2`)."""

    name = "slack"

    def __init__(
        self,
        token: str,
        *,
        default_channel: str,
        base_url: str | None = None,
        timeout: float = 15,
        handlers: list[RetryHandler] | None = None,
    ) -> None:
        self.default_channel = default_channel
        api = (base_url or WebClient.BASE_URL).rstrip("/") + "/"
        handlers = handlers if handlers is not None else retry_handlers()
        # slack-sdk types `timeout` as int; urllib takes the float as is
        self.client = WebClient(
            token=token, base_url=api, timeout=timeout, retry_handlers=handlers  # type: ignore[arg-type]
        )
        self._ids: dict[str, str] = {}

    def deliver(
        self,
        channel: str | None,
        payload: Mapping[str, Any],
        progress: dict[str, Any],
        checkpoint: Callable[[dict[str, Any]], None],
    ) -> None:
        """Post the message, then its thread replies, then its upload; resumes from `progress`."""
        _check_payload(payload)
        target = channel or self.default_channel
        replies = list(payload.get("thread_replies") or [])
        upload = payload.get("upload")
        try:
            if "ts" not in progress:
                response = self._post(target, payload.get("text") or "", payload.get("blocks"))
                progress = {"channel_id": response["channel"], "ts": response["ts"], "replies": 0}
                if replies or upload:
                    checkpoint(progress)
            for i in range(int(progress.get("replies", 0)), len(replies)):
                reply = replies[i]
                text, blocks = reply.get("text") or "", reply.get("blocks")
                self._post(progress["channel_id"], text, blocks, thread_ts=progress["ts"])
                progress = {**progress, "replies": i + 1}
                checkpoint(progress)
            if upload and not progress.get("uploaded"):
                self._upload(progress["channel_id"], upload, thread_ts=progress["ts"])
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except SlackRequestError as exc:  # the file upload URL answered with an error
            raise DeliveryError(f"Slack file upload failed: {exc}", permanent=False, code="upload_failed") from None
        except SlackClientError as exc:
            raise DeliveryError(f"Slack client error: {exc}", permanent=True, code="client_error") from None
        except (URLError, HTTPException, OSError) as exc:
            raise _network_error(exc) from None

    def _post(self, channel: str, text: str, blocks: Any, *, thread_ts: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            return self.client.chat_postMessage(**kwargs)
        except SlackApiError as exc:
            if _api_error(exc).code != "not_in_channel":
                raise
            self._join(channel)
            return self.client.chat_postMessage(**kwargs)  # once: a second not_in_channel is dead-lettered

    def _join(self, channel: str) -> None:
        """One `conversations.join` attempt (public channels; needs channels:join)."""
        channel_id = self._channel_id(channel)
        advice = f"invite the bot to {channel} (/invite @your-bot) or grant it channels:join"
        if channel_id is None:
            raise DeliveryError(f"not_in_channel: the bot is not in {channel} and cannot find it to join; {advice}",
                                permanent=True, code="not_in_channel")  # fmt: skip
        try:
            self.client.conversations_join(channel=channel_id)
        except SlackApiError as exc:
            code = _api_error(exc).code
            raise DeliveryError(f"not_in_channel: joining {channel} failed ({code}); {advice}",
                                permanent=True, code="not_in_channel") from None  # fmt: skip
        log.info("joined Slack channel %s", channel)

    def _channel_id(self, channel: str) -> str | None:
        if _CHANNEL_ID.match(channel):
            return channel
        name = channel.lstrip("#")
        if name in self._ids:
            return self._ids[name]
        try:
            for page in self.client.conversations_list(types="public_channel", exclude_archived=True, limit=1000):
                for item in page.get("channels", []):
                    self._ids[item.get("name", "")] = item.get("id", "")
                if name in self._ids:
                    break
        except SlackApiError as exc:
            log.warning("cannot list Slack channels to find %s: %s", channel, _api_error(exc).code)
        return self._ids.get(name)

    def _upload(self, channel_id: str, upload: Mapping[str, Any], *, thread_ts: str | None) -> None:
        path = Path(str(upload.get("path", "")))
        if not path.is_file():
            log.warning("outbox upload %s is missing; the message was sent without it", path)
            return
        self.client.files_upload_v2(
            channel=channel_id,
            file=str(path),
            filename=str(upload.get("filename") or path.name),
            title=str(upload.get("title") or path.name),
            thread_ts=thread_ts,
        )


class WebhookNotifier:
    """Posts outbox payloads to an incoming webhook (its own channel; no threads or uploads)."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 15, handlers: list[RetryHandler] | None = None) -> None:
        self.client = WebhookClient(
            url=url, timeout=timeout, retry_handlers=handlers if handlers is not None else retry_handlers()
        )  # type: ignore[arg-type]

    def deliver(
        self,
        channel: str | None,
        payload: Mapping[str, Any],
        progress: dict[str, Any],
        checkpoint: Callable[[dict[str, Any]], None],
    ) -> None:
        """The message then each thread reply as a follow-up message; resumes from `progress`."""
        _check_payload(payload)
        parts = [payload, *(payload.get("thread_replies") or [])]
        if payload.get("upload"):
            log.warning("an incoming webhook cannot upload files; configure alerts.slack.token to attach them")
        for i in range(int(progress.get("parts", 0)), len(parts)):
            body = {"text": parts[i].get("text") or "", "blocks": parts[i].get("blocks") or [],
                    "unfurl_links": False, "unfurl_media": False}  # fmt: skip
            try:
                response = self.client.send_dict(body)
            except (URLError, HTTPException, OSError) as exc:
                raise _network_error(exc) from None
            if not (response.status_code == 200):
                raise _webhook_error(response.status_code, response.body or "", response.headers)
            progress = {**progress, "parts": i + 1}
            if i + 1 < len(parts):
                checkpoint(progress)


def _webhook_error(status: int, body: str, headers: Mapping[str, Any]) -> DeliveryError:
    text = (body or "").strip()
    code = text if status < 500 and re.fullmatch(r"[a-z_]{2,60}", text) else f"http_{status}"
    if status == 429:
        wait = retry_after(headers)
        return _rate_limited(wait)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return DeliveryError(f"Slack webhook error {code}", permanent=False, code=code)
    return DeliveryError(f"Slack webhook error {code}", permanent=True, code=code)


def notifier_from_settings(settings: Settings, **options: Any) -> SlackNotifier | WebhookNotifier | None:
    """The configured Slack notifier (bot token first, then webhook), or None without Slack settings."""
    slack = settings.alerts.slack
    if slack.token is not None:
        return SlackNotifier(
            slack.token.get_secret_value(), default_channel=slack.default_channel, base_url=slack.base_url, **options
        )
    if slack.webhook_url is not None:
        return WebhookNotifier(slack.webhook_url.get_secret_value(), **options)
    return None
