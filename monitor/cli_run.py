"""`ftready run` (the daemon) and `ftready status` (is it healthy? exit code 1 when not)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from click.core import ParameterSource
from rich.markup import escape
from rich.table import Table

from monitor import logs
from monitor.cli import app, config_option, json_option, open_store, out
from monitor.health import Health, age_text, health_to_json, read_health
from monitor.settings import load_settings
from monitor.store import utcnow


@app.command()
@config_option
@click.pass_context
def run(ctx: click.Context, config: Path | None) -> None:
    """Run the daemon: sync → evaluate → alerts every schedule.sync_every, Slack delivery every
    minute, the weekly report, daily housekeeping. Several replicas on one store elect one leader.

    Stops cleanly on SIGTERM or Ctrl-C (the running job finishes, the lease is released). Logs at
    INFO unless --log-level says otherwise; --log-format json writes JSON lines.
    """
    from monitor.daemon import serve  # APScheduler and the report code: only the daemon needs them

    parent = ctx.parent
    if parent is not None and parent.get_parameter_source("log_level") is ParameterSource.DEFAULT:
        logs.configure(parent.params["log_format"], "INFO")  # a daemon says what it does by default
    settings = load_settings(config)
    store = open_store(settings)
    try:
        serve(settings, store)
    finally:
        store.dispose()


@app.command()
@config_option
@json_option
def status(config: Path | None, as_json: bool) -> int:
    """The daemon's health: leader, each job's last and next run, data freshness, the outbox.

    Exit code 1 when unhealthy (no live leader, stale data, a failing job), so it can serve as a
    container health check.
    """
    settings = load_settings(config)
    store = open_store(settings)
    try:
        health = read_health(settings, store, now=utcnow())
    finally:
        store.dispose()
    if as_json:
        click.echo(json.dumps(health_to_json(health), indent=2))
    else:
        print_health(health, ZoneInfo(settings.schedule.timezone))
    return 0 if health.healthy else 1


def print_health(health: Health, tz: ZoneInfo) -> None:
    now = health.checked_at
    verdict = "[green]healthy[/]" if health.healthy else "[bold red]UNHEALTHY[/]"
    out.print(f"ftready status: {verdict}  ·  store {escape(health.store)}  ·  {_when(now, now, tz)}")
    leader = health.leader
    if leader is None:
        out.print("leader: [red]none[/]")
    elif leader.alive(now):
        out.print(
            f"leader: {escape(leader.holder)} since {_when(leader.acquired_at, now, tz)}, "
            f"lease renewed until {_when(leader.expires_at, now, tz)}"
        )
    else:
        out.print(f"leader: [red]lease of {escape(leader.holder)} expired[/] {_when(leader.expires_at, now, tz)}")

    jobs = Table(title="jobs", title_justify="left")
    for column in ("job", "last run", "result", "next run", "error"):
        jobs.add_column(column)
    for job in health.jobs:
        if job.last_status == "running":
            result = "[yellow]running[/]"
        elif job.failing:
            result = f"[red]failed ×{job.consecutive_failures}[/]"
        else:
            result = "[green]ok[/]" if job.last_status == "ok" else "never ran"
        jobs.add_row(
            job.job,
            _when(job.last_started_at, now, tz),
            result,
            _when(job.next_run_at, now, tz),
            escape(job.last_error or ""),
        )
    out.print(jobs)

    sources = Table(title=f"data freshness (stale after {age_text(health.stale_after)})", title_justify="left")
    for column in ("source", "last successful sync", "last attempt", "failures in a row", "error"):
        sources.add_column(column)
    for source in health.sources:
        success = _when(source.last_success_at, now, tz)
        sources.add_row(
            escape(source.source),
            f"[red]{success}[/]" if source.stale else success,
            _when(source.last_attempt_at, now, tz),
            str(source.consecutive_failures),
            escape(source.last_error or ""),
        )
    out.print(sources)

    counts = health.outbox.counts
    oldest = health.outbox.oldest_pending_at
    out.print(
        f"outbox: {counts.get('pending', 0)} pending, {counts.get('sending', 0)} sending, "
        f"{counts.get('sent', 0)} sent, {counts.get('dead', 0)} dead"
        + (f"; oldest waiting since {_when(oldest, now, tz)}" if oldest else "")
    )
    for problem in health.problems:
        out.print(f"[red]✗[/] {escape(problem)}")
    for warning in health.warnings:
        out.print(f"[yellow]![/] {escape(warning)}")


def _when(moment: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """`2026-11-28 13:00 CET (in 57 min)` in the schedule's zone; `-` when unknown."""
    if moment is None:
        return "-"
    local = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    if moment == now:
        return local
    relative = f"in {age_text(moment - now)}" if moment > now else f"{age_text(now - moment)} ago"
    return f"{local} ({relative})"
