"""A crash harness for `ftready sync`: real processes, killed with SIGKILL at chosen points.

Starting a Python process that imports ftready takes seconds on a small machine, and the crash
test needs forty syncs. So the harness is a zygote: one process (`python -m tests.crash_harness`)
imports the CLI once and then, for each request it reads on stdin (one JSON object per line),
forks a child that runs `monitor.cli.main(["sync", "--config", PATH])`, exactly what the `ftready`
console script runs. The zygote waits for the child and answers with one JSON line on stdout.

A request may ask the child to SIGKILL itself (no clean-up of any kind runs, as in a power cut
or the OOM killer) at one point:

- `{"at": "checkpoint", "n": N}`: the Nth call of the sync's `checkpoint` hook (chunk_start,
  chunk_done, examples_page_start, examples_page_done, before_commit: all inside the store
  transaction);
- `{"at": "statement", "n": N}`: just before the Nth SQL statement sent to the state store;
- `{"at": "commit", "n": N}`: in the Nth COMMIT on the state store, before the database commits;
- `{"at": "after_commit", "n": N}`: at the first store statement after the Nth COMMIT.

Without a kill the child runs to the end and reports what it saw: the checkpoint names in order,
the number of store statements, and the statement count at each COMMIT, from which a test picks
its kill points. The checkpoint is installed by wrapping `monitor.sync.sync_all` (its `checkpoint`
argument is the production code's only test hook) and the clock by passing `now`; statements and
commits are observed with SQLAlchemy engine events. Nothing here is read by production code.

Request: {"config": path, "store": path of the SQLite store file, "now": ISO time, "kill": {...}
or null, "log": path for the child's stdout and stderr, "report": path for the child's report}.
Answer: {"signal": 9 or null, "exit_code": int or null, "point": "where it was killed" or null,
"checkpoints": [...], "statements": int, "commits": [...]} (the last three without a kill).
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parent.parent
ANSWER_TIMEOUT_S = 120.0  # one sync of the small test warehouse takes well under a second


class Harness:
    """The test side: starts the zygote and sends it requests."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def sync(
        self, *, config: Path, store: Path, now: datetime, log: Path, kill: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        report = log.with_suffix(".report.json")
        request = {
            "config": str(config), "store": str(store), "now": now.isoformat(), "kill": kill,
            "log": str(log), "report": str(report),
        }  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], ANSWER_TIMEOUT_S)
        if not ready:
            raise TimeoutError(f"the crash harness did not answer within {ANSWER_TIMEOUT_S:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the crash harness exited with {self.process.wait(timeout=10)}")
        return json.loads(line)


@contextmanager
def harness() -> Iterator[Harness]:
    """A running zygote, stopped (stdin closed, then waited for) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_harness"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield Harness(process)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the zygote and its children ---------------------------------------------------------------


def serve() -> None:
    """Read requests on stdin, run each in a forked child, answer on stdout."""
    import monitor.cli  # noqa: F401 - imported once here, inherited by every child
    import monitor.sync  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        report = Path(request["report"])
        report.write_text("{}", encoding="utf-8")
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        answer: dict[str, Any] = {
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "point": None,
        }
        answer.update(json.loads(report.read_text(encoding="utf-8") or "{}"))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def _child(request: dict[str, Any]) -> NoReturn:
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = _run_sync(request)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    except BaseException as exc:  # noqa: BLE001 - a child must never return into the zygote's loop
        os.write(2, f"crash harness child failed: {exc!r}\n".encode())
        os._exit(70)


def _run_sync(request: dict[str, Any]) -> int:
    import sqlalchemy as sa

    import monitor.cli
    import monitor.sync

    kill = request.get("kill") or {}
    report = os.open(request["report"], os.O_WRONLY | os.O_TRUNC)
    store = str(Path(request["store"]).resolve())
    seen: dict[str, Any] = {"checkpoints": [], "statements": 0, "commits": []}
    armed = {"after_commit": False}

    def die(point: str) -> NoReturn:
        os.write(report, json.dumps({"point": point}).encode())
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")  # pragma: no cover

    def checkpoint(point: str) -> None:
        seen["checkpoints"].append(point)
        if kill.get("at") == "checkpoint" and len(seen["checkpoints"]) == kill["n"]:
            die(f"checkpoint {kill['n']}: {point}")

    def is_store(conn: sa.Connection) -> bool:
        database = conn.engine.url.database
        return database is not None and str(Path(database).resolve()) == store

    def on_statement(conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if not is_store(conn):
            return
        seen["statements"] += 1
        words = " ".join(statement.split()[:3])
        if armed["after_commit"]:
            die(f"after commit {kill['n']}: statement {seen['statements']}: {words}")
        if kill.get("at") == "statement" and seen["statements"] == kill["n"]:
            die(f"statement {kill['n']}: {words}")

    def on_commit(conn: sa.Connection) -> None:
        if not is_store(conn):
            return
        seen["commits"].append(seen["statements"])
        if kill.get("n") == len(seen["commits"]):
            if kill.get("at") == "commit":
                die(f"commit {kill['n']} after statement {seen['statements']}")
            if kill.get("at") == "after_commit":
                armed["after_commit"] = True

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", on_statement)
    sa.event.listen(sa.engine.Engine, "commit", on_commit)
    now = datetime.fromisoformat(request["now"])
    monitor.sync.sync_all = functools.partial(monitor.sync.sync_all, now=now, checkpoint=checkpoint)  # type: ignore[assignment]
    code = monitor.cli.main(["sync", "--config", request["config"]])
    os.write(report, json.dumps(seen).encode())
    return code


if __name__ == "__main__":
    serve()
