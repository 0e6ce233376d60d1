"""One measured case in a fresh process, so its peak memory is its own:
`python -m bench.worker '{"case": "sync", ...}'` prints one line `RESULT {json}` with the case's
figures plus `peak_rss_mb`, the process's high-water resident set size (VmHWM)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

RESULT_PREFIX = "RESULT "


def peak_rss_mb() -> float:
    """VmHWM from /proc (Linux); elsewhere ru_maxrss (KiB on Linux, bytes on macOS)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    from bench.cases import CASES

    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    result = CASES[spec["case"]](spec)
    result["peak_rss_mb"] = peak_rss_mb()
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
