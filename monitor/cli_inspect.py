"""`ftready inspect LOCATION [TABLE]`: a table's columns and a proposed source entry to paste."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from monitor.cli import app, err, json_option, out


@app.command()
@click.argument("location")
@click.argument("table", required=False)
@click.option("--name", default="warehouse", show_default=True, help="Source name to put in the snippet.")
@json_option
def inspect(location: str, table: str | None, name: str, as_json: bool) -> None:
    """Describe TABLE at LOCATION and propose a preset and column mapping.

    LOCATION is a SQLAlchemy URL or a file path/glob of Parquet, CSV or JSON-lines files (TABLE
    then names the view and defaults to the file or folder name). Only the table definition is read.
    """
    from connectors.inspect import inspect_location

    proposal = inspect_location(location, table, name)
    if as_json:
        out.print_json(json.dumps(proposal.as_dict()))
        return
    listing = Table(title=f"{escape(proposal.table)} ({escape(proposal.location)})")
    listing.add_column("column")
    listing.add_column("type")
    for column, kind in proposal.columns:
        listing.add_row(escape(column), escape(kind))
    out.print(listing)
    ranked = ", ".join(f"{p} {s:.0%}" for p, s in sorted(proposal.scores.items(), key=lambda i: -i[1]))
    label = "labels" if proposal.kind == "examples" else "calls"
    out.print(f"proposed: [bold]{escape(proposal.preset)}[/] preset for {label} (column-name match: {escape(ranked)})")
    for note in proposal.notes:
        err.print(f"note: {escape(note)}")
    out.print()
    out.print(escape(proposal.snippet), end="")
