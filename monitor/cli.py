"""The `ftready` command line.

Exit codes: 0 ok, 1 runtime failure (warehouse down, unhealthy status), 2 bad config or usage.
Expected failures print one actionable message, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor import logs
from monitor.errors import FtreadyError
from monitor.settings import Settings, load_settings
from monitor.store import Store

out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True)

config_option = click.option(
    "--config", "-c", "config", type=click.Path(path_type=Path), default=None,
    help="Config file (default: $FTREADY_CONFIG or config/ftready.yaml).",
)  # fmt: skip
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


class CommandsByModule(click.Group):
    """A group whose commands in other modules are imported only when used (or listed by --help).

    `ftready sync` then loads SQLAlchemy and the warehouse driver, not pandas, Jinja2 and
    slack-sdk, which the evaluate, report and alert commands need: about half a second and 60 MB
    less for every sync and status check. Importing a module registers its commands on `app`.
    """

    modules = {
        "alerts": "monitor.cli_alerts",
        "demo": "monitor.cli_demo",
        "evaluate": "monitor.cli_evaluate",
        "explain": "monitor.cli_evaluate",
        "inspect": "monitor.cli_inspect",
        "report": "monitor.cli_report",
        "run": "monitor.cli_run",
        "status": "monitor.cli_run",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.modules})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.modules:
            importlib.import_module(self.modules[cmd_name])
        return super().get_command(ctx, cmd_name)


@click.group(name="ftready", cls=CommandsByModule, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", help="Log lines as text or JSON.")
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False), default="WARNING"
)
def app(log_format: str, log_level: str) -> None:
    """Tells you, per LLM workload, when to stop tuning prompts and fine-tune."""
    logs.configure(log_format, log_level.upper())


def open_store(settings: Settings) -> Store:
    return Store(settings.store_url)


def sync_progress() -> tuple[Progress | None, Any]:
    """A rich progress bar on a terminal; nothing when output is piped."""
    if not err.is_terminal:
        return None, None
    progress = Progress(
        TextColumn("[bold]{task.fields[source]}[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def advance(source: str, number: int, total: int, description: str) -> None:
        if source not in tasks:
            tasks[source] = progress.add_task(description, total=total, source=source)
        progress.update(tasks[source], completed=number, description=description)

    return progress, advance


def run_sync(settings: Settings, store: Store, *, full: bool = False) -> list[Any]:
    from monitor.sync import sync_all

    progress, advance = sync_progress()
    if progress is None:
        return sync_all(settings, store, full=full)
    with progress:
        return sync_all(settings, store, full=full, progress=advance)


@app.command()
@config_option
@click.option("--full", is_flag=True, help="Recompute everything from the backfill horizon.")
@json_option
def sync(config: Path | None, full: bool, as_json: bool) -> None:
    """Pull rollups and labeled examples from every source into the state store."""
    settings = load_settings(config)
    store = open_store(settings)
    results = run_sync(settings, store, full=full)
    if as_json:
        out.print_json(json.dumps([_sync_dict(r) for r in results]))
        return
    table = Table(title="sync")
    for name in ("source", "mode", "days", "calls", "rollup rows", "examples", "quarantined", "seconds"):
        table.add_column(name, justify="left" if name in ("source", "mode") else "right")
    for r in results:
        table.add_row(
            r.source, r.mode, str(r.days), f"{r.calls:,}", f"{r.rollup_rows:,}", f"{r.examples_upserted:,}",
            f"{sum(r.quarantined.values()) + r.examples_quarantined:,}", f"{r.seconds:.1f}",
        )  # fmt: skip
    out.print(table)


def _sync_dict(result: Any) -> dict[str, Any]:
    return {
        "source": result.source,
        "mode": result.mode,
        "days": result.days,
        "first_day": result.first_day.isoformat() if result.first_day else None,
        "last_day": result.last_day.isoformat() if result.last_day else None,
        "calls": result.calls,
        "rollup_rows": result.rollup_rows,
        "quarantined": result.quarantined,
        "examples_upserted": result.examples_upserted,
        "examples_quarantined": result.examples_quarantined,
        "seconds": round(result.seconds, 3),
    }


@app.command()
@config_option
@json_option
def check(config: Path | None, as_json: bool) -> int:
    """Validate the config, connect to each source and verify every mapped table and column."""
    from connectors.warehouse import Warehouse

    settings = load_settings(config)
    check_rules(settings)
    report: list[dict[str, Any]] = []
    for source in settings.sources:
        try:
            warehouse = Warehouse(source)
            try:
                problems = warehouse.check()
            finally:
                warehouse.close()
        except FtreadyError as exc:
            problems = [str(exc)]
        report.append({"source": source.name, "location": source.display_location, "problems": problems})
    store_problem = None
    try:
        open_store(settings).dispose()
    except FtreadyError as exc:
        store_problem = str(exc)
    ok = not store_problem and all(not r["problems"] for r in report)
    if as_json:
        out.print_json(json.dumps({"ok": ok, "sources": report, "store": store_problem}))
    else:
        for r in report:
            if r["problems"]:
                out.print(f"[red]✗[/] source {escape(r['source'])} ({escape(r['location'])}):")
                for problem in r["problems"]:
                    out.print("   ", escape(problem))
            else:
                out.print(f"[green]✓[/] source {escape(r['source'])} ({escape(r['location'])}): all mapped columns found")
        out.print(f"[red]✗[/] store: {escape(store_problem)}" if store_problem else "[green]✓[/] store: ok")
    return 0 if ok else 1


def check_rules(settings: Settings) -> None:
    """The rule pack and every workload's `thresholds:` are valid (else a ConfigError naming the key):
    `check` must catch what `evaluate` would refuse."""
    from rules import load_rule_pack

    pack = load_rule_pack(settings.rules)
    for name, workload in settings.workloads.items():
        pack.with_overrides(workload.thresholds, where=f"workloads.{name}.thresholds")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = app.main(args=list(argv) if argv is not None else None, prog_name="ftready", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except FtreadyError as exc:
        err.print("[bold red]error:[/]", escape(str(exc)))
        return exc.exit_code
    except OSError as exc:  # the machine, not ftready: a path that is not a directory, no permission…
        where = f" ({exc.filename})" if exc.filename else ""
        err.print("[bold red]error:[/]", escape(f"{exc.strerror or exc}{where}; check the path and its permissions"))
        return 1
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0
