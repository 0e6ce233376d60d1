"""Crash consistency: `ftready sync` killed with SIGKILL at 20 points, then run again, leaves exactly
the store of a fresh full recompute (call_rollups and their monthly sums, quarantine, examples, quarantined_examples).

Two phases share one small SQLite warehouse (two versions of it):
- backfill: an empty store, the first sync of version 1 is killed, the next one must converge;
- incremental: a store synced from version 1; version 2 adds late calls for old days, new and
  relabeled examples, a bad label and a fixed one; the sync of version 2 is killed, the next one
  must converge.
Each kill point is named relative to what a sync without a kill did (the Nth checkpoint of a
kind, a fraction of the store statements inside the sync transaction, its COMMIT, the first
statement after it), so the points stay meaningful when the sync's statements change. After the
kill the store must still be what it was before the killed sync (or, for the kill after COMMIT,
already the result): the transaction is all or nothing.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from monitor.settings import settings_from_dict
from tests.conftest import NOW
from tests.crash_harness import Harness, harness
from tests.factories import make_calls, native_source, sync_store, write_table

COMPARED = ("call_rollups", "call_rollups_monthly", "quarantine", "examples", "quarantined_examples")
SIGKILL = 9
LATER = NOW + timedelta(hours=1)  # when the incremental phase syncs version 2


def make_labels(n: int, *, seed: int, start_id: int = 0) -> pd.DataFrame:
    """Labels created over the 90 days before NOW minus an hour, updated minutes after creation."""
    rng = np.random.default_rng(seed)
    base = pd.Timestamp(NOW.replace(tzinfo=None)) - pd.Timedelta(hours=1)
    created = base - pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s")
    verdict = rng.choice(["pass", "fail"], n)
    return pd.DataFrame(
        {
            "id": [f"l{start_id + i}" for i in range(n)],
            "feature": rng.choice(["support-triage", "claims", "search"], n),
            "created_at": created,
            "updated_at": created + pd.to_timedelta(rng.integers(0, 600, n), unit="s"),
            "verdict": verdict,
            "failure_mode": np.where(verdict == "fail", rng.choice(["format", "tone", "hallucination"], n), None),
            "source": rng.choice(["production", "production", "human_fix", "synthetic"], n),
            "labeled_by": rng.choice(["human", "human", "model"], n),
            "prompt": [f"question {i % 97} from user{i}@example.com" for i in range(n)],
            "output": [f"answer {i} call +1 415 555 {1000 + i % 9000}" for i in range(n)],
        }
    )


def bad_calls(now: datetime) -> pd.DataFrame:
    """Rows every sync must quarantine by reason, never count."""
    rows = make_calls(6, now, days=20, seed=99, start_id=900_000).assign(environment="production", operation="chat")
    rows["feature"] = rows["feature"].astype(object)
    rows.loc[rows.index[0], "feature"] = None
    rows.loc[rows.index[1], "prompt_tokens"] = -3
    rows.loc[rows.index[2], "latency_ms"] = -1.0
    rows.loc[rows.index[3], "created_at"] = pd.Timestamp(now.replace(tzinfo=None)) + pd.Timedelta(days=40)
    rows.loc[rows.index[4], "created_at"] = pd.Timestamp("1900-01-01")
    rows.loc[rows.index[5], "prompt_tokens"] = 10**12
    return rows


@dataclass(frozen=True)
class Phase:
    name: str
    warehouse: Path  # the version of the warehouse this phase's killed sync reads
    now: datetime
    initial: Path | None  # the store before the killed sync (None: empty)
    reference: dict[str, list[tuple[Any, ...]]]  # a fresh full recompute of `warehouse` at `now`
    before: dict[str, list[tuple[Any, ...]]]  # the compared tables before the killed sync
    dry_run: dict[str, Any]  # what a sync without a kill saw


@dataclass(frozen=True)
class World:
    root: Path
    harness: Harness
    phases: dict[str, Phase]


def snapshot(store: Path) -> dict[str, list[tuple[Any, ...]]]:
    if not store.exists():
        return {table: [] for table in COMPARED}
    with closing(sqlite3.connect(store)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr) if table in tables else []
            for table in COMPARED
        }


def write_config(directory: Path, warehouse: Path) -> tuple[Path, Path]:
    store = directory / "state.db"
    source = native_source(f"sqlite:///{warehouse}", labels="llm_labels", backfill_days=150)
    config = {"store": {"url": f"sqlite:///{store}"}, "sources": [source]}
    path = directory / "ftready.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path, store


def fresh_recompute(directory: Path, warehouse: Path, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    directory.mkdir()
    config, store_path = write_config(directory, warehouse)
    sync_store(settings_from_dict(yaml.safe_load(config.read_text(encoding="utf-8")), env={}), now=now)
    return snapshot(store_path)


def build_warehouses(root: Path) -> tuple[Path, Path]:
    calls = pd.concat([make_calls(1500, NOW, days=120, seed=11), bad_calls(NOW)])
    labels = make_labels(430, seed=12)
    labels.loc[labels.index[7], "feature"] = None  # a bad label, fixed in version 2
    labels.loc[labels.index[8], "created_at"] = pd.Timestamp("1900-01-01")  # implausible, stays
    v1 = root / "wh1.db"
    write_table(f"sqlite:///{v1}", "llm_calls", calls, text_timestamps=True)
    write_table(f"sqlite:///{v1}", "llm_labels", labels, text_timestamps=True)

    late = make_calls(250, NOW, days=100, seed=13, start_id=500_000)  # late rows for old days
    late["loaded_at"] = pd.Timestamp(NOW.replace(tzinfo=None)) + pd.Timedelta(minutes=30)
    edited = labels.copy()
    touched = edited.index[::4][:100]  # relabeled after version 1 was synced
    edited.loc[touched, "verdict"] = np.where(edited.loc[touched, "verdict"] == "pass", "fail", "pass")
    edited.loc[touched, "updated_at"] = pd.Timestamp(NOW.replace(tzinfo=None)) + pd.Timedelta(minutes=10)
    edited.loc[edited.index[7], ["feature", "updated_at"]] = ["claims", pd.Timestamp(NOW.replace(tzinfo=None))]
    new = make_labels(90, seed=14, start_id=10_000)
    new["updated_at"] = pd.Timestamp(NOW.replace(tzinfo=None)) + pd.Timedelta(minutes=20)
    new.loc[new.index[0], "feature"] = None
    v2 = root / "wh2.db"
    write_table(f"sqlite:///{v2}", "llm_calls", pd.concat([calls, late]), text_timestamps=True)
    write_table(f"sqlite:///{v2}", "llm_labels", pd.concat([edited, new]), text_timestamps=True)
    return v1, v2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("crash")
    v1, v2 = build_warehouses(root)
    baseline = root / "baseline"
    baseline.mkdir()
    with harness() as h:
        phases = {}
        for name, warehouse, now, initial in (
            ("backfill", v1, NOW, None),
            ("incremental", v2, LATER, baseline / "state.db"),
        ):
            if initial is not None:  # the incremental phase starts from version 1, synced
                config, store = write_config(baseline, v1)
                assert h.sync(config=config, store=store, now=NOW, log=baseline / "sync.log")["exit_code"] == 0
            dry = root / f"dry-{name}"
            dry.mkdir()
            config, store = write_config(dry, warehouse)
            if initial is not None:
                copy_store(initial, store)
            before = snapshot(store)
            seen = h.sync(config=config, store=store, now=now, log=dry / "sync.log")
            assert seen["exit_code"] == 0, (dry / "sync.log").read_text()
            reference = fresh_recompute(root / f"fresh-{name}", warehouse, now)
            assert snapshot(store) == reference  # sanity: without a kill, incremental == fresh
            phases[name] = Phase(name, warehouse, now, initial, reference, before, seen)
        yield World(root, h, phases)


def copy_store(source: Path, target: Path) -> None:
    for file in source.parent.glob(source.name + "*"):
        shutil.copy2(file, target.parent / file.name.replace(source.name, target.name))


# (phase, kind, which): checkpoints by (name, occurrence or -1 for the last), statements by the
# fraction of the sync transaction's statements, commit/after_commit by the sync's COMMIT.
KILL_POINTS = [
    ("backfill", "checkpoint", ("chunk_start", 1)),
    ("backfill", "checkpoint", ("chunk_done", 2)),
    ("backfill", "checkpoint", ("chunk_done", -1)),
    ("backfill", "checkpoint", ("examples_page_start", 1)),
    ("backfill", "checkpoint", ("examples_page_done", 2)),
    ("backfill", "checkpoint", ("before_commit", 1)),
    ("backfill", "statement", 0.3),
    ("backfill", "statement", 0.8),
    ("backfill", "commit", None),
    ("backfill", "after_commit", None),
    ("incremental", "checkpoint", ("chunk_start", 1)),
    ("incremental", "checkpoint", ("chunk_done", 1)),
    ("incremental", "checkpoint", ("examples_page_start", 1)),
    ("incremental", "checkpoint", ("examples_page_done", 1)),
    ("incremental", "checkpoint", ("examples_page_start", -1)),
    ("incremental", "checkpoint", ("before_commit", 1)),
    ("incremental", "statement", 0.2),
    ("incremental", "statement", 0.6),
    ("incremental", "commit", None),
    ("incremental", "after_commit", None),
]
SYNC_COMMIT = 2  # the first COMMIT creates or checks the schema; the second is the sync's


def resolve(phase: Phase, kind: str, which: Any) -> tuple[dict[str, Any], str]:
    """The harness's kill request and the start of the point it must report."""
    if kind == "checkpoint":
        name, occurrence = which
        positions = [i + 1 for i, point in enumerate(phase.dry_run["checkpoints"]) if point == name]
        assert positions, f"the {phase.name} sync never reached checkpoint {name}"
        n = positions[occurrence - 1] if occurrence > 0 else positions[-1]
        return {"at": "checkpoint", "n": n}, f"checkpoint {n}: {name}"
    commits = phase.dry_run["commits"]
    assert len(commits) > SYNC_COMMIT, f"expected the schema, sync and outcome commits, saw {commits}"
    if kind == "statement":
        first, last = commits[SYNC_COMMIT - 2] + 1, commits[SYNC_COMMIT - 1]
        n = first + int(which * (last - first))
        return {"at": "statement", "n": n}, f"statement {n}:"
    return {"at": kind, "n": SYNC_COMMIT}, "commit" if kind == "commit" else "after commit"


@pytest.mark.parametrize(
    "phase_name,kind,which",
    KILL_POINTS,
    ids=[f"{p}-{k}-{w if not isinstance(w, tuple) else f'{w[0]}{w[1]}'}" for p, k, w in KILL_POINTS],
)
def test_sigkill_then_sync_again_equals_a_fresh_recompute(world: World, phase_name: str, kind: str, which: Any) -> None:
    phase = world.phases[phase_name]
    kill, expected_point = resolve(phase, kind, which)
    case = world.root / f"case-{phase_name}-{kind}-{kill['n']}"
    case.mkdir()
    config, store = write_config(case, phase.warehouse)
    if phase.initial is not None:
        copy_store(phase.initial, store)

    killed = world.harness.sync(config=config, store=store, now=phase.now, log=case / "killed.log", kill=kill)
    assert killed["signal"] == SIGKILL, (case / "killed.log").read_text()
    assert killed["point"].startswith(expected_point), killed["point"]
    after_kill = snapshot(store)
    if kind == "after_commit":
        assert after_kill == phase.reference  # the sync had committed: it is complete
    else:
        assert after_kill == phase.before  # nothing of the killed transaction is visible

    again = world.harness.sync(config=config, store=store, now=phase.now, log=case / "again.log")
    assert again["exit_code"] == 0, (case / "again.log").read_text()
    assert snapshot(store) == phase.reference


def test_the_kill_points_cover_chunks_the_transaction_and_example_paging(world: World) -> None:
    """The 20 points are distinct and land where the issue asks: between chunks, inside the store
    transaction and during example paging, in a first sync and in an incremental one."""
    resolved = {(p, str(resolve(world.phases[p], k, w)[0])) for p, k, w in KILL_POINTS}
    assert len(resolved) == len(KILL_POINTS) == 20
    for phase in world.phases.values():
        assert phase.dry_run["checkpoints"].count("chunk_done") >= 2
        assert phase.dry_run["checkpoints"].count("examples_page_done") >= 2
        assert phase.before != phase.reference  # the killed sync had something to change
