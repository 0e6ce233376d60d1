"""`ftready evaluate` and `ftready explain WORKLOAD`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.cli import app, config_option, json_option, open_store, out
from monitor.errors import ConfigError
from monitor.evaluate import evaluate_store, run_to_json
from monitor.model import CriterionStatus, EvaluationRun, VerdictLevel
from monitor.settings import load_settings

VERDICT_STYLE = {
    VerdictLevel.READY: "bold green",
    VerdictLevel.APPROACHING: "bold yellow",
    VerdictLevel.PROMPT_ENGINEERING: "cyan",
}
STATUS_MARK = {
    CriterionStatus.MET: "[green]✓ met[/]",
    CriterionStatus.WARN: "[yellow]~ warn[/]",
    CriterionStatus.NOT_MET: "[red]✗ not met[/]",
    CriterionStatus.NO_DATA: "[dim]? no data[/]",
}


@app.command(name="evaluate")
@config_option
@json_option
def evaluate_command(config: Path | None, as_json: bool) -> None:
    """Evaluate every workload against the rule pack and store the result."""
    settings = load_settings(config)
    run = evaluate_store(settings, open_store(settings))
    if as_json:
        click.echo(json.dumps(run_to_json(run), indent=2))
    else:
        print_verdicts(run, out)


def print_verdicts(run: EvaluationRun, console: Console) -> None:
    table = Table(title=f"readiness at {run.evaluated_at:%Y-%m-%d %H:%M} UTC")
    for name, justify in (
        ("workload", "left"), ("verdict", "left"), ("calls last month", "right"), ("calls 30d", "right"),
        ("trusted real", "right"), ("recurring patterns", "right"), ("savings/month", "right"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for verdict in run.verdicts:
        m = run.metrics[verdict.workload]
        savings = m.cost.monthly_savings_usd if m.cost else None
        table.add_row(
            escape(verdict.workload),
            f"[{VERDICT_STYLE[verdict.level]}]{verdict.level.value}[/]",
            _count(m.calls_last_month),
            _count(m.calls_trailing_30d),
            f"{m.examples.trusted_real:,}",
            str(len(m.recurring_patterns)),
            _usd(savings),
        )
    console.print(table)


@app.command()
@config_option
@click.argument("workload")
def explain(config: Path | None, workload: str) -> None:
    """Every criterion of one workload with value, threshold and reason, and the cost arithmetic."""
    settings = load_settings(config)
    run = evaluate_store(settings, open_store(settings), save=False)
    verdict = run.verdict(workload)
    if verdict is None:
        known = ", ".join(v.workload for v in run.verdicts) or "none yet (run `ftready sync`)"
        raise ConfigError(f"no workload named {workload!r}; known workloads: {known}")
    m = run.metrics[workload]
    out.print(f"[bold]{escape(workload)}[/]: [{VERDICT_STYLE[verdict.level]}]{verdict.level.value}[/]")
    out.print(escape(verdict.summary))
    table = Table(show_lines=False)
    for name in ("criterion", "status", "value", "threshold", "why"):
        table.add_column(name, overflow="fold")
    for c in verdict.criteria:
        table.add_row(c.id, STATUS_MARK[c.status], escape(_show(c.value)), escape(_show(c.threshold)), escape(c.message))
    out.print(table)
    if verdict.blockers:
        out.print("[bold]Blockers[/]")
        for blocker in verdict.blockers:
            out.print(f"  • {escape(blocker)}")
    if m.cost is not None:
        out.print("[bold]Cost arithmetic[/] (trailing 30 days)")
        for note in m.cost.notes:
            out.print(f"  {escape(note)}")


def _count(value: int | None) -> str:
    return "no data" if value is None else f"{value:,}"


def _usd(value: Decimal | None) -> str:
    if value is None:
        return "—"
    whole = round(value)
    return f"-${-whole:,}" if whole < 0 else f"${whole:,}"


def _show(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3g}" if value < 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
