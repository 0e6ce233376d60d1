"""A real `ftready run` subprocess stops cleanly on SIGTERM and SIGINT, in the middle of a job.

The only tests of the daemon that take real time: a few seconds each, bounded.
"""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from monitor.store import Store, evaluations, job_runs, leases
from tests.daemon_support import build_small_demo, demo_raw_config

START_TIMEOUT = 60  # seconds until the daemon has started its first job (imports, demo sync)
STOP_WITHIN = 20  # seconds from the signal to the exit: the running sync cycle finishes first


def read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def wait_for(lines: queue.Queue[str], seen: list[dict[str, Any]], message: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line.startswith("{"):
            record = json.loads(line)
            seen.append(record)
            if message in record["message"]:
                return
    pytest.fail(f"no log line with {message!r} within {timeout} s; saw {[r['message'] for r in seen]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_daemon_after_the_running_job(tmp_path: Path, signum: signal.Signals) -> None:
    demo = build_small_demo(tmp_path / "demo", now=datetime.now(timezone.utc))
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "ftready.yaml"
    config.write_text(yaml.safe_dump(demo_raw_config(demo, store_url=store_url, reports_dir=tmp_path / "reports")))
    ftready = [sys.executable, "-c", "import sys; from monitor.cli import main; sys.exit(main())"]
    command = [*ftready, "--log-format", "json", "--log-level", "DEBUG", "run", "--config", str(config)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    seen: list[dict[str, Any]] = []
    try:
        wait_for(lines, seen, "job sync started", START_TIMEOUT)  # the catch-up sync of a fresh store
        process.send_signal(signum)
        signalled = time.monotonic()
        returncode = process.wait(timeout=STOP_WITHIN)
        stopped_in = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    while not lines.empty():
        line = lines.get()
        if line.startswith("{"):
            seen.append(json.loads(line))

    assert returncode == 0
    assert stopped_in < STOP_WITHIN
    messages = [r["message"] for r in seen]
    received = next(i for i, m in enumerate(messages) if m.startswith(f"received {signal.Signals(signum).name}"))
    finished = next(i for i, m in enumerate(messages) if m.startswith("job sync ok"))
    assert received < finished  # the running job finished after the signal …
    assert not any(m.startswith("job weekly_report ok") for m in messages)  # … and nothing new started
    assert any("released the leader lease" in m for m in messages)
    assert messages[-1].endswith("stopped")
    assert not [r for r in seen if r["level"] in ("error", "critical")]

    # No half-written state: the store is intact, the cycle complete, nothing left running or held.
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = Store(store_url)
    try:
        with store.read() as conn:
            assert conn.execute(sa.select(leases)).all() == []
            runs = {r.job: r for r in conn.execute(sa.select(job_runs))}
            stamps = conn.execute(
                sa.select(evaluations.c.evaluated_at, sa.func.count()).group_by(evaluations.c.evaluated_at)
            ).all()
    finally:
        store.dispose()
    assert runs["sync"].last_status == "ok"
    assert all(r.last_status != "running" for r in runs.values())
    assert len(stamps) == 1 and stamps[0][1] == len(demo.info.workloads)  # one whole evaluation
