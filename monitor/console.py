"""The console notifier: without Slack settings, alerts are printed readably (a dry run).

`ConsoleNotifier` is what `deliver_outbox` uses when neither `alerts.slack.token` nor
`alerts.slack.webhook_url` is set: it renders the stored Block Kit payload as text, so the
console shows exactly what Slack would. `print_alerts` prints `Notification`s directly (as
`ftready demo` does right after an evaluation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    from monitor.alerts import Notification

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")
_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def unslack(text: str) -> str:
    """Slack mrkdwn → plain text: `<url|label>` → `label (url)`, entities decoded."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_blocks(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The text of Block Kit blocks, one entry per line group."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(unslack(block["text"]["text"]))
        elif kind == "section":
            if block.get("text"):
                lines.append(unslack(block["text"]["text"]))
            fields = [unslack(f["text"]).replace("\n", ": ", 1) for f in block.get("fields") or []]
            lines.extend(f"  {f}" for f in fields)
        elif kind == "context":
            lines.append(" · ".join(unslack(e.get("text", "")) for e in block.get("elements") or []))
        elif kind == "actions":
            for element in block.get("elements") or []:
                label = unslack((element.get("text") or {}).get("text", ""))
                lines.append(f"[{label}] {element.get('url', '')}".rstrip())
        elif kind == "divider":
            lines.append("─" * 20)
    return lines


def render_payload(payload: Mapping[str, Any]) -> str:
    """An outbox payload (message, thread replies, upload) as readable text."""
    lines = render_blocks(payload.get("blocks") or []) or [unslack(payload.get("text") or "")]
    for reply in payload.get("thread_replies") or []:
        body = render_blocks(reply.get("blocks") or []) or [unslack(reply.get("text") or "")]
        lines.extend("  ↳ " + line.replace("\n", "\n    ") for line in body)
    upload = payload.get("upload")
    if upload:
        lines.append(f"📎 {upload.get('title') or upload.get('filename')}: {upload.get('path')}")
    return "\n".join(lines)


class ConsoleNotifier:
    """Prints each outbox payload instead of posting it (dry run; the row is then marked sent)."""

    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def deliver(
        self,
        channel: str | None,
        payload: Mapping[str, Any],
        progress: dict[str, Any],
        checkpoint: Callable[[dict[str, Any]], None],
    ) -> None:
        title = f"Slack (dry run) → {channel or 'default channel'}"
        panel = Panel(rich_escape(render_payload(payload)), title=rich_escape(title), title_align="left")
        self.console.print(panel, soft_wrap=False)  # wrap inside the panel even on a soft-wrapping console


def print_alerts(notifications: Sequence[Notification], console: Console) -> None:
    """The alerts of one evaluation as a table: severity, workload, what happened, channel."""
    if not notifications:
        console.print("No alerts: nothing changed.")
        return
    table = Table(title=f"{len(notifications)} alert(s)", title_justify="left")
    for column in ("severity", "workload", "alert", "event", "channel"):
        table.add_column(column, overflow="fold")
    for n in notifications:
        style = _STYLE.get(n.severity.value, "")
        table.add_row(
            f"[{style}]{n.severity.value}[/]" if style else n.severity.value,
            rich_escape(n.workload or "(operations)"),
            rich_escape(_short(f"{n.title}. {n.detail}", 400)),
            n.event.value,
            rich_escape(n.channel),
        )
    console.print(table)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
