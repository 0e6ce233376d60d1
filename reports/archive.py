"""The archive: which weekly reports a directory holds, and its index.html.

The directory is the source of truth (a report copied in by hand, or one whose store row was lost,
still gets listed); each entry's figures come from the week's JSON snapshot next to its HTML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reports.render import render_template
from reports.weeks import IsoWeek

_REPORT_FILE = re.compile(r"^(\d{4}-W\d{2})\.html$")


@dataclass(frozen=True)
class ArchiveEntry:
    week: str
    href: str  # relative: the index sits next to the reports
    week_start: date
    week_end: date
    generated_at: datetime | None  # None when the JSON snapshot is missing or unreadable
    workloads: int | None
    ready: int | None
    approaching: int | None
    prompt_engineering: int | None
    monthly_savings_usd: float | None
    changes: int | None


def archive_entries(directory: Path) -> list[ArchiveEntry]:
    """Every `YYYY-Www.html` in `directory`, newest week first."""
    weeks = []
    for path in directory.glob("*.html") if directory.is_dir() else ():
        match = _REPORT_FILE.match(path.name)
        if match:
            try:
                weeks.append(IsoWeek.parse(match.group(1)))
            except ValueError:
                continue
    return [_entry(directory, week) for week in sorted(weeks, reverse=True)]


def render_index(entries: list[ArchiveEntry], *, generated_at: datetime, timezone: str) -> str:
    return render_template("index.html", entries=entries, generated_at=generated_at, tz=ZoneInfo(timezone))


def _entry(directory: Path, week: IsoWeek) -> ArchiveEntry:
    snapshot = _read_json(directory / f"{week}.json")
    totals: dict[str, Any] = snapshot.get("totals") or {}

    def number(key: str) -> Any:
        value = totals.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    generated = snapshot.get("generated_at")
    try:
        generated_at = datetime.fromisoformat(generated) if isinstance(generated, str) else None
    except ValueError:
        generated_at = None
    return ArchiveEntry(
        week=str(week),
        href=f"{week}.html",
        week_start=week.start,
        week_end=week.end,
        generated_at=generated_at,
        workloads=number("workloads"),
        ready=number("ready"),
        approaching=number("approaching"),
        prompt_engineering=number("prompt_engineering"),
        monthly_savings_usd=number("monthly_savings_usd"),
        changes=number("changes"),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
