"""The weekly Slack digest: a short summary of the report, as an outbox payload (see monitor/outbox.py).

Every piece of data is escaped (`&`, `<`, `>`) before it reaches Slack mrkdwn, so a workload named
`<!channel>` can never ping a channel or forge a link.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from monitor.slack import escape
from reports.render import fmt_usd
from reports.view import ReportView, WorkloadView

MAX_LINES = 8
MAX_NAME = 80
MAX_SECTION = 2900  # Slack allows 3,000 characters per section text
LEVEL_NAMES = {"ready": "Ready to fine-tune", "approaching": "Approaching", "prompt_engineering": "Stay with prompts"}


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities, exactly as alerts escape them (monitor.slack):
    also characters Slack rejects are dropped and `@channel`/`@here`/`@everyone` are defused."""
    return escape(text)


def digest_payload(
    view: ReportView,
    *,
    workloads: Collection[str] | None = None,
    link: str | None = None,
    upload: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The digest for one channel: the whole portfolio, or only `workloads` (a team's channel)."""
    chosen = [w for w in view.workloads if workloads is None or w.name in workloads]
    counts = {level: sum(1 for w in chosen if w.level == level) for level in LEVEL_NAMES}
    tally = " · ".join(f"*{counts[level]}* {LEVEL_NAMES[level].lower()}" for level in LEVEL_NAMES)
    scope = (
        "" if workloads is None else f" (the {len(chosen)} workload{'' if len(chosen) == 1 else 's'} of this channel)"
    )
    blocks: list[Block] = [
        HeaderBlock(text=f"Fine-tuning readiness · {view.week}"),
        SectionBlock(text=_mrkdwn(f"{tally}{scope}")),
    ]
    if workloads is not None and chosen:
        lines = _limit([f"• {_name(w.name)}: {LEVEL_NAMES[w.level]}{_moved(w)}" for w in chosen])
        blocks.append(SectionBlock(text=_mrkdwn(_section("*Workloads*", lines))))
    changes = _change_lines(view, {w.name for w in chosen})
    if changes:
        blocks.append(SectionBlock(text=_mrkdwn(_section("*Changes since last week*", changes))))
    savings = _savings_lines(chosen)
    if savings:
        blocks.append(SectionBlock(text=_mrkdwn(_section("*Top projected savings*", savings))))
    issues = view.data_quality.issues
    if issues:
        note = f":warning: {len(issues)} data-quality issue{'' if len(issues) == 1 else 's'}: {slack_escape(issues[0])}"
        blocks.append(ContextBlock(elements=[_mrkdwn(_clip(note, MAX_SECTION))]))
    if link:
        blocks.append(
            ActionsBlock(elements=[ButtonElement(text="Open the report", url=link, action_id="ftready_open_report")])
        )
    text = (
        f"Fine-tuning readiness {view.week}: {counts['ready']} ready, {counts['approaching']} approaching, "
        f"{counts['prompt_engineering']} stay with prompts."
    )
    return {"text": text, "blocks": [b.to_dict() for b in blocks], "upload": upload}


def _mrkdwn(text: str) -> MarkdownTextObject:
    """Verbatim: Slack does not turn names like `example.com` into links."""
    return MarkdownTextObject(text=text, verbatim=True)


def _moved(workload: WorkloadView) -> str:
    if workload.change in ("up", "down") and workload.previous_level:
        arrow = "▲" if workload.change == "up" else "▼"
        return f" ({arrow} from {LEVEL_NAMES.get(workload.previous_level, workload.previous_level)})"
    return " (new)" if workload.change == "new" else ""


def _change_lines(view: ReportView, names: Collection[str]) -> list[str]:
    """Verdict changes and new workloads first (they matter most), then a count of other crossings."""
    items = [c for c in view.changes.items if c.workload in names]
    verdicts = [c for c in items if c.kind in ("verdict_up", "verdict_down", "new", "gone")]
    order = {"verdict_up": 0, "verdict_down": 1, "new": 2, "gone": 3}
    lines = [
        f"{'▲' if c.kind == 'verdict_up' else '▼' if c.kind == 'verdict_down' else '•'} "
        f"{_name(c.workload)}: {slack_escape(c.text)}"
        for c in sorted(verdicts, key=lambda c: order[c.kind])
    ]
    lines = _limit(lines)
    crossings = [c for c in items if c.kind in ("crossed", "fell_back", "nearing")]
    if crossings:
        lines.append(f"{len(crossings)} threshold change{'' if len(crossings) == 1 else 's'} in the report")
    return lines


def _savings_lines(workloads: Sequence[WorkloadView]) -> list[str]:
    ranked = sorted(
        (w for w in workloads if w.monthly_savings_usd is not None and w.monthly_savings_usd > 0),
        key=lambda w: w.monthly_savings_usd or 0,
        reverse=True,
    )
    return [f"• {_name(w.name)}: {fmt_usd(w.monthly_savings_usd)}/month ({LEVEL_NAMES[w.level]})" for w in ranked[:3]]


def _name(name: str) -> str:
    return slack_escape(name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…")


def _limit(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return [*lines[:MAX_LINES], f"… and {len(lines) - MAX_LINES} more"]


def _section(title: str, lines: list[str]) -> str:
    return _clip("\n".join([title, *lines]), MAX_SECTION)


def _clip(text: str, limit: int) -> str:
    """Cut at a line end when possible; never in the middle of an `&amp;`-style entity."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut[: cut.rfind("&")] if "&" in cut[-6:] else cut
    return cut + "\n…"
