"""Helpers for the daemon, lease and status tests: a fake clock, a recording notifier, a small
demo warehouse with a config whose rule pack is scaled down so that its workloads raise alerts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.demo import DemoInfo, build_demo_warehouse, demo_config
from monitor.settings import Settings, settings_from_dict

# The demo at scale 0.01 has a few thousand calls a month per workload: thresholds to match, so
# that the first evaluation fires verdict and threshold alerts.
SMALL_PACK = {
    "monthly_calls": 3000,
    "trusted_real_examples": 10,
    "prompt_engineering_below": 5,
    "recurring": {"min_weeks": 2, "window_weeks": 8, "min_cases": 2},
}


class FakeClock:
    """An injectable clock: `clock()` is the current fake time, `advance()` moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def set(self, moment: datetime) -> datetime:
        assert moment >= self.now, "a clock does not go back"
        self.now = moment
        return self.now


@dataclass
class RecordingNotifier:
    """Delivers by remembering (channel, payload); optionally fails like Slack being down."""

    name: str = "recording"
    sent: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)

    def deliver(
        self,
        channel: str | None,
        payload: Mapping[str, Any],
        progress: dict[str, Any],
        checkpoint: Callable[[dict[str, Any]], None],
    ) -> None:
        self.sent.append((channel, dict(payload)))


@dataclass(frozen=True)
class DemoWarehouse:
    info: DemoInfo
    pack: Path

    @property
    def path(self) -> Path:
        return Path(self.info.path)


def build_small_demo(directory: Path, *, now: datetime) -> DemoWarehouse:
    """The demo warehouse at 1% volume (about 90,000 calls; seconds to build) and a small rule pack."""
    directory.mkdir(parents=True, exist_ok=True)
    info = build_demo_warehouse(directory / "warehouse.db", now=now, scale=0.01)
    pack = directory / "pack.yaml"
    pack.write_text(yaml.safe_dump(SMALL_PACK), encoding="utf-8")
    return DemoWarehouse(info, pack)


def demo_raw_config(demo: DemoWarehouse, *, store_url: str, reports_dir: Path, **schedule: Any) -> dict[str, Any]:
    config = demo_config(demo.info, store_url=store_url, reports_dir=str(reports_dir))
    config["rules"] = str(demo.pack)
    config["schedule"] = {**config["schedule"], **schedule}
    return config


def demo_settings(demo: DemoWarehouse, *, store_url: str, reports_dir: Path, **schedule: Any) -> Settings:
    raw = demo_raw_config(demo, store_url=store_url, reports_dir=reports_dir, **schedule)
    return settings_from_dict(raw, env={}, origin="test config")


@contextmanager
def warehouse_down(demo: DemoWarehouse) -> Iterator[None]:
    """The warehouse file is gone (what a sync sees when the database is unreachable); restored after."""
    hidden = demo.path.with_name(demo.path.name + ".away")
    os.replace(demo.path, hidden)
    try:
        yield
    finally:
        os.replace(hidden, demo.path)  # also replaces an empty file a connection may have created
