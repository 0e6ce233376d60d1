"""`ftready alerts`: alert states and the outbox; `--test` sends a test message per channel."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from monitor.alerts import StoredAlert, list_alert_states
from monitor.cli import app, config_option, err, json_option, open_store, out
from monitor.console import ConsoleNotifier
from monitor.outbox import DeliveryError, outbox_summary, requeue_dead
from monitor.settings import Settings, load_settings
from monitor.slack import build_test_message, notifier_from_settings
from monitor.store import utcnow


@app.command()
@config_option
@json_option
@click.option("--test", "send_test", is_flag=True, help="Send one test message to each configured channel.")
@click.option(
    "--requeue-dead", "requeue", is_flag=True, help="Queue dead-lettered notifications again (after fixing the cause)."
)
def alerts(config: Path | None, as_json: bool, send_test: bool, requeue: bool) -> int:
    """List alert states and the notification outbox (pending, sent, dead)."""
    settings = load_settings(config)
    if send_test:
        return _send_tests(settings, as_json)
    store = open_store(settings)
    try:
        if requeue:
            count = requeue_dead(store, now=utcnow())
            if not as_json:
                out.print(f"{count} dead-lettered notification(s) queued again; they go out on the next delivery.")
        with store.read() as conn:
            states = list_alert_states(conn)
            summary = outbox_summary(conn)
    finally:
        store.dispose()
    if as_json:
        out.print_json(json.dumps({
            "alerts": [_state_dict(a) for a in states],
            "outbox": {
                "counts": summary.counts,
                "oldest_pending_at": _iso(summary.oldest_pending_at),
                "pending": [_jsonable_row(r) for r in summary.pending],
                "dead": [_jsonable_row(r) for r in summary.dead],
            },
        }))  # fmt: skip
        return 0
    _print_states(states)
    _print_outbox(summary.counts, summary.pending, summary.dead)
    return 0


def configured_channels(settings: Settings) -> list[str]:
    """The default channel and every workload's `slack_channel`, each once, in config order."""
    channels = [settings.alerts.slack.default_channel]
    channels += [w.slack_channel for w in settings.workloads.values() if w.slack_channel]
    return list(dict.fromkeys(channels))


def _send_tests(settings: Settings, as_json: bool) -> int:
    now = utcnow()
    notifier = notifier_from_settings(settings)
    if notifier is None:
        if not as_json:
            err.print("No alerts.slack.token or webhook_url configured: printing the test messages instead (dry run).")
        notifier_used: Any = ConsoleNotifier(err if as_json else out)
        channels = configured_channels(settings)
    elif notifier.name == "webhook":
        notifier_used = notifier
        channels = ["(the incoming webhook's channel)"]
    else:
        notifier_used = notifier
        channels = configured_channels(settings)
    results = []
    for channel in channels:
        payload = build_test_message(channel, settings, now=now).payload()
        target = None if notifier_used.name == "webhook" else channel
        try:
            notifier_used.deliver(target, payload, {}, lambda _progress: None)
            results.append({"channel": channel, "ok": True, "error": None})
        except DeliveryError as exc:
            results.append({"channel": channel, "ok": False, "error": f"{exc.code}: {exc}"})
    if as_json:
        out.print_json(json.dumps({"notifier": notifier_used.name, "results": results}))
    else:
        for r in results:
            if r["ok"]:
                out.print(f"[green]✓[/] {escape(r['channel'])}: test message sent ({notifier_used.name})")
            else:
                out.print(f"[red]✗[/] {escape(r['channel'])}: {escape(r['error'])}")
    return 0 if all(r["ok"] for r in results) else 1


_KIND_LABELS = {
    "verdict_changed": "verdict",
    "threshold_crossed": "threshold",
    "projected_crossing": "projection",
    "sync_failing": "sync failing",
    "data_stale": "stale data",
    "quarantine_spike": "quarantine spike",
}


def _print_states(states: list[StoredAlert]) -> None:
    if not states:
        out.print("No alert states yet (alerts are created by evaluations).")
        return
    table = Table(title="alerts", title_justify="left")
    for column in ("workload / source", "alert", "state", "since", "now"):
        table.add_column(column, overflow="fold", no_wrap=column == "since")
    style = {"firing": "bold red", "pending": "yellow", "resolved": "green", "normal": "dim"}
    for a in states:
        label = _KIND_LABELS.get(a.kind.value, a.kind.value)
        state = a.state.value + (f": {a.level_name}" if a.level else "")
        if a.pending_count and a.candidate is not None:
            state += f" (→ {a.kind.levels[a.candidate]}, {a.pending_count} seen)"
        table.add_row(
            escape(a.workload or a.subject),
            escape(f"{label} {a.subject}" if a.subject and a.workload else label),
            f"[{style[a.state.value]}]{escape(state)}[/]",
            _short_time(a.since),
            escape(a.title),
        )
    out.print(table)


def _print_outbox(counts: dict[str, int], pending: list[dict[str, Any]], dead: list[dict[str, Any]]) -> None:
    out.print("outbox: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    rows = [("pending", r) for r in pending] + [("dead", r) for r in dead]
    if not rows:
        return
    table = Table(title_justify="left")
    for column in ("id", "status", "kind", "channel", "tries", "next attempt", "last error"):
        table.add_column(column, overflow="fold")
    for label, r in rows:
        table.add_row(
            str(r["id"]),
            "[red]dead[/]" if label == "dead" else escape(str(r["status"])),
            escape(r["kind"]),
            escape(r["channel"] or "(default)"),
            str(r["attempts"]),
            _short_time(r["next_attempt_at"]) if label == "pending" else "",
            escape(r["last_error"] or ""),
        )
    out.print(table)


def _state_dict(a: StoredAlert) -> dict[str, Any]:
    row = a.to_row()
    return {
        "fingerprint": a.fingerprint,
        "workload": a.workload,
        "kind": a.kind.value,
        "subject": a.subject,
        "state": a.state.value,
        "level": a.level_name,
        "severity": row["severity"],
        "pending_count": a.pending_count,
        "since": _iso(a.since),
        "last_notified_at": _iso(a.last_notified_at),
        "updated_at": _iso(a.updated_at),
        "title": a.title,
        "detail": a.detail,
        "value": row["payload"]["value"],
        "threshold": row["payload"]["threshold"],
    }


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _short_time(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"
