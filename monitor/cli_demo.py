"""`ftready demo`: the whole product on an embedded SQLite warehouse, end to end.

Builds the demo warehouse into `.ftready/demo/` (rebuilt when missing, from an earlier day, or with
`--rebuild`), writes a config for it, then runs the main job: sync, evaluate, alerts (console, or
Slack when SLACK_BOT_TOKEN is set) and the weekly HTML report, and prints where the report is.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timezone
from pathlib import Path

import click
import yaml

from monitor.alerts import process_evaluation
from monitor.cli import app, err, out, run_sync
from monitor.console import print_alerts
from monitor.outbox import deliver_outbox
from monitor.cli_evaluate import print_verdicts
from monitor.demo import build_demo_warehouse, demo_config
from monitor.evaluate import evaluate_store
from monitor.settings import Settings, settings_from_dict
from monitor.store import Store
from reports import write_weekly_report

DEMO_DIR = Path(".ftready/demo")


@app.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=DEMO_DIR, show_default=True)
@click.option("--scale", type=click.FloatRange(0.001, 10), default=1.0, show_default=True, help="Call volume multiplier.")
@click.option("--rebuild", is_flag=True, help="Rebuild the demo warehouse even if today's exists.")
def demo(directory: Path, scale: float, rebuild: bool) -> None:
    """Build the demo warehouse and run sync → evaluate → alerts → report on it."""
    directory.mkdir(parents=True, exist_ok=True)
    warehouse = directory / "warehouse.db"
    state = directory / "state.db"
    config_file = directory / "ftready.yaml"
    now = datetime.now(timezone.utc)
    if rebuild or not _fresh(warehouse, scale, directory, today=now.date()):
        started = time.perf_counter()
        with err.status("building the demo warehouse…"):
            info = build_demo_warehouse(warehouse, now=now, scale=scale)
        for stale in (state, Path(f"{state}-wal"), Path(f"{state}-shm")):
            stale.unlink(missing_ok=True)
        config = demo_config(info, store_url=f"sqlite:///{state.resolve()}", reports_dir=str((directory / "reports").resolve()))
        config["alerts"]["slack"]["token"] = "${SLACK_BOT_TOKEN:-}"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        (directory / "scale").write_text(str(scale))
        out.print(
            f"demo warehouse: {info.calls_rows:,} calls and {info.label_rows:,} labels in {warehouse} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    settings = load_demo_settings(config_file)
    store = Store(settings.store_url)
    try:
        run_sync(settings, store)
        run = evaluate_store(settings, store)
        print_verdicts(run, out)
        print_alerts(process_evaluation(settings, store, run), out)
        if slack_configured(settings):
            report = deliver_outbox(settings, store)
            out.print(f"Slack: {len(report.sent)} message(s) sent, {len(report.retried)} to retry, {len(report.dead)} failed")
        else:
            out.print("(set SLACK_BOT_TOKEN to post these alerts to Slack; they wait in the outbox until then)")
        files = write_weekly_report(settings, store, run, now=run.evaluated_at)
    finally:
        store.dispose()
    out.print(f"config: {config_file}  ·  try: .venv/bin/ftready explain <workload> --config {config_file}")
    out.print(f"[bold]report:[/] {files.html.resolve()}")


def load_demo_settings(config_file: Path) -> Settings:
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    return settings_from_dict(raw, env=os.environ, origin=str(config_file))


def slack_configured(settings: Settings) -> bool:
    return settings.alerts.slack.token is not None or settings.alerts.slack.webhook_url is not None


def _fresh(warehouse: Path, scale: float, directory: Path, *, today: date) -> bool:
    """Demo data is relative to the day it was built: reuse it only on the same day and scale."""
    if not warehouse.exists() or not (directory / "ftready.yaml").exists():
        return False
    built = datetime.fromtimestamp(warehouse.stat().st_mtime, timezone.utc).date()
    scale_file = directory / "scale"
    same_scale = scale_file.exists() and scale_file.read_text().strip() == str(scale)
    return built == today and same_scale
