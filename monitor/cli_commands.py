"""Imports every module that adds commands to the `ftready` CLI (each registers on `monitor.cli.app`)."""

from __future__ import annotations

from monitor import cli_evaluate  # noqa: F401
from monitor import cli_demo  # noqa: F401
from monitor import cli_alerts  # noqa: F401
from monitor import cli_report  # noqa: F401
from monitor import cli_inspect  # noqa: F401
from monitor import cli_run  # noqa: F401
