"""`ftready report`: write the weekly HTML readiness report for a week, and optionally queue its digest.

The report code itself lives in `reports.publish` (`write_weekly_report`, `enqueue_digest`); the
daemon and `ftready demo` call it directly. Those names are also importable from here, lazily, so
loading the CLI does not load matplotlib.
"""

from __future__ import annotations

import json
import webbrowser
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.markup import escape

from monitor.cli import app, config_option, err, json_option, open_store, out
from monitor.settings import Settings, load_settings
from monitor.store import utcnow
from reports.weeks import IsoWeek


def __getattr__(name: str) -> Any:
    if name in ("ReportFiles", "enqueue_digest", "write_weekly_report"):
        from reports import publish

        return getattr(publish, name)
    raise AttributeError(f"module 'monitor.cli_report' has no attribute {name!r}")


def _parse_week(ctx: click.Context, param: click.Parameter, value: str | None) -> IsoWeek | None:
    if value is None:
        return None
    try:
        return IsoWeek.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def report_time(settings: Settings, week: IsoWeek | None, now: datetime) -> datetime:
    """The moment a week's report describes: now for the current week; for a past week, its
    scheduled report time (`schedule.weekly_report`), as the daemon would have produced it."""
    tz = ZoneInfo(settings.schedule.timezone)
    current = IsoWeek.of(now, tz)
    if week is None or week == current:
        return now
    if week > current:
        raise click.BadParameter(f"{week} has not started yet (this week is {current})", param_hint="'--week'")
    day, hour, minute = settings.schedule.weekly_report_parts
    return week.at(day, hour, minute, tz)


@app.command()
@config_option
@click.option("--week", metavar="YYYY-Www", callback=_parse_week, help="ISO week (default: this week), e.g. 2026-W48.")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Directory for the report files (default: reports.dir from the config).",
)  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the report in the default browser.")
@click.option("--digest", is_flag=True, help="Also queue this week's Slack digest in the outbox (once per channel).")
@json_option
def report(
    config: Path | None, week: IsoWeek | None, out_dir: Path | None, open_browser: bool, digest: bool, as_json: bool
) -> None:
    """Write the weekly readiness report (HTML + JSON), latest.html and the archive index.

    The workloads are evaluated from the state store as of the week's report time (run
    `ftready sync` first for fresh data); this evaluation is not stored, so it never affects alerts.
    """
    from monitor.evaluate import evaluate_store
    from reports.publish import enqueue_digest, write_weekly_report

    settings = load_settings(config)
    store = open_store(settings)
    try:
        now = utcnow()
        as_of = report_time(settings, week, now)
        run = evaluate_store(settings, store, now=as_of, save=False)
        target = week or IsoWeek.of(now, ZoneInfo(settings.schedule.timezone))
        files = write_weekly_report(settings, store, run, now=now, week=target, out_dir=out_dir)
        queued = enqueue_digest(settings, store, run, files, now=now) if digest else []
    finally:
        store.dispose()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "week": files.week,
                    "html": str(files.html.resolve()),
                    "json": str(files.json.resolve()),
                    "latest": str(files.latest.resolve()) if files.latest else None,
                    "index": str(files.index.resolve()),
                    "digest_outbox_ids": queued,
                },
                indent=2,
            )
        )
    else:
        totals = files.view.totals
        out.print(
            f"report {files.week}: {totals.ready} ready, {totals.approaching} approaching, "
            f"{totals.prompt_engineering} stay with prompts"
        )
        out.print(escape(str(files.html.resolve())))
        if digest:
            out.print(
                f"digest queued for {len(queued)} channel(s)" if queued else "digest already queued for this week"
            )
    if open_browser and not webbrowser.open(files.html.resolve().as_uri()):
        err.print("could not open a browser; open the file above")
