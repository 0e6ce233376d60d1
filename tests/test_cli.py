"""What the `ftready` command loads before it does anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from tests.conftest import NOW
from tests.factories import make_calls, native_source, write_table


def test_commands_that_draw_no_chart_do_not_load_matplotlib() -> None:
    """`ftready sync` and the daemon's sync jobs start without matplotlib (time and memory)."""
    code = "import sys, monitor.cli, monitor.sync, monitor.evaluate; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_sync_on_duckdb_loads_neither_pandas_nor_the_report_and_slack_code(tmp_path: Path) -> None:
    """`ftready sync` imports the command modules it does not run only when asked (see
    `CommandsByModule`), and DuckDB gets its values inside the SQL (`connectors.dialects.execute`),
    so a sync process never loads pandas, numpy, Jinja2, slack-sdk or matplotlib."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "llm_calls", make_calls(200, NOW))
    config = tmp_path / "ftready.yaml"
    store = f"sqlite:///{tmp_path / 'state.db'}"
    config.write_text(yaml.safe_dump({"store": {"url": store}, "sources": [native_source(url, backfill_days=150)]}))
    code = (
        "import sys; from monitor.cli import main; code = main(['sync', '--json', '--config', sys.argv[1]]); "
        "print([m for m in ('pandas', 'numpy', 'jinja2', 'slack_sdk', 'matplotlib') if m in sys.modules]); "
        "sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    *synced, loaded = done.stdout.strip().splitlines()
    assert json.loads("\n".join(synced))[0]["calls"] > 0
    assert loaded == "[]"


def test_help_lists_every_command_from_every_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == {"alerts", "check", "demo", "evaluate", "explain", "inspect", "report", "run", "status", "sync"}
