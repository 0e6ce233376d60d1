"""What the `ftready` command loads before it does anything."""

from __future__ import annotations

import subprocess
import sys


def test_commands_that_draw_no_chart_do_not_load_matplotlib() -> None:
    """`ftready sync` and the daemon's sync jobs start without matplotlib (time and memory)."""
    code = "import sys, monitor.cli, monitor.sync, monitor.evaluate; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
