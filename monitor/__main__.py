"""`python -m monitor` runs the ftready CLI."""

from __future__ import annotations

import sys

from monitor.cli import main

sys.exit(main())
