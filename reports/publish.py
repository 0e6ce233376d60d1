"""Producing the weekly report: the one entry point `ftready report`, `ftready demo` and the daemon call.

Files of one week, in this order, each written atomically: `YYYY-Www.json` with `YYYY-Www.html`
(both written before either replaces its old version), then `latest.html` (only when this is the
newest week in the directory) with `index.html`; then the week's `report_runs` row. Re-running a
week replaces its files and row. A full disk (or no permission) is a ReportError and leaves no row.
"""

from __future__ import annotations

import errno
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from monitor import store as tables
from monitor.errors import ReportError
from monitor.model import EvaluationRun
from monitor.outbox import enqueue
from monitor.settings import Settings
from monitor.store import Store
from reports.archive import archive_entries, render_index
from reports.build import assemble_report
from reports.digest import digest_payload
from reports.facts import read_store_facts
from reports.files import write_all_atomic
from reports.render import render_report, report_json
from reports.view import ReportView
from reports.weeks import IsoWeek
from rules.pack import RulePack, load_rule_pack

DIGEST_KIND = "report_digest"
# a full disk or quota, a file too large, a read-only file system, no permission: the operator's to fix
_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


@dataclass(frozen=True)
class ReportFiles:
    week: str
    html: Path
    json: Path
    latest: Path | None  # None when a newer week's report already owns latest.html
    index: Path
    generated_at: datetime
    view: ReportView


def write_weekly_report(
    settings: Settings,
    store: Store,
    run: EvaluationRun,
    *,
    now: datetime,
    week: IsoWeek | str | None = None,
    out_dir: str | Path | None = None,
    pack: RulePack | None = None,
) -> ReportFiles:
    """Write the week's report (default: the week of `now` in the schedule's time zone) and its archive.

    `pack` is the rule pack the run was evaluated with, for "how to read this" (default: the one
    `settings.rules` names).
    """
    now = now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    tz = ZoneInfo(settings.schedule.timezone)
    target = IsoWeek.parse(week) if isinstance(week, str) else week or IsoWeek.of(now, tz)
    directory = Path(out_dir if out_dir is not None else settings.reports.dir).expanduser()
    facts = read_store_facts(settings, store, evaluated_at=run.evaluated_at)
    view = assemble_report(
        run, facts, settings=settings, pack=pack or load_rule_pack(settings.rules), week=target, generated_at=now
    )
    html = render_report(view)
    html_path, json_path = directory / f"{target}.html", directory / f"{target}.json"
    index = directory / "index.html"
    snapshot = json.dumps(report_json(view), indent=1, ensure_ascii=False) + "\n"
    try:
        # the week's two files together, then the archive pages: each set is written in full
        # before it replaces anything, so a full disk leaves the old files whole
        write_all_atomic({json_path: snapshot, html_path: html})
        entries = archive_entries(directory)
        latest = directory / "latest.html" if entries and entries[0].week == str(target) else None
        pages = {index: render_index(entries, generated_at=now, timezone=settings.schedule.timezone)}
        write_all_atomic({latest: html, **pages} if latest is not None else pages)
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            raise
        raise ReportError(
            f"cannot write the weekly report {target} in {directory}: {exc.strerror or exc}; the files "
            "already there are unchanged or replaced whole. Free some space or fix the permissions, then run it again"
        ) from exc
    _record_run(store, str(target), html_path, now)
    return ReportFiles(str(target), html_path, json_path, latest, index, now, view)


def enqueue_digest(
    settings: Settings, store: Store, run: EvaluationRun, files: ReportFiles, *, now: datetime
) -> list[int]:
    """Queue one digest per channel in the outbox; returns the new outbox ids.

    The default alerts channel gets the whole portfolio; a channel that workloads declare
    (`workloads.<name>.slack_channel`) gets a digest of those workloads. With `reports.base_url` the
    digest links the report; otherwise the notifier uploads the HTML file (files_upload_v2).
    A channel that already has this week's digest queued (or sent) is skipped.
    """
    view = files.view
    default = settings.alerts.slack.default_channel
    routes: dict[str, set[str] | None] = {default: None}
    for name, metrics in run.metrics.items():
        channel = metrics.profile.slack_channel or settings.workload(name).slack_channel
        if channel and channel != default:
            routes.setdefault(channel, set()).add(name)  # type: ignore[union-attr]
    link = view.report_url
    upload = None if link else {
        "path": str(files.html.resolve()),
        "filename": f"ftready-{files.week}.html",
        "title": f"Fine-tuning readiness {files.week}",
    }  # fmt: skip
    ids = []
    with store.transaction() as conn:
        for channel, names in routes.items():
            fingerprint = f"digest:{files.week}:{hashlib.sha256(channel.encode()).hexdigest()[:16]}"
            exists = conn.execute(
                sa.select(tables.outbox.c.id).where(
                    tables.outbox.c.kind == DIGEST_KIND, tables.outbox.c.fingerprint == fingerprint
                )
            ).first()
            if exists:
                continue
            payload = digest_payload(view, workloads=names, link=link, upload=upload)
            ids.append(
                enqueue(conn, kind=DIGEST_KIND, channel=channel, payload=payload, now=now, fingerprint=fingerprint)
            )
    return ids


def _record_run(store: Store, week: str, path: Path, now: datetime) -> None:
    runs = tables.report_runs
    values = {"path": str(path.resolve()), "generated_at": now}
    with store.transaction() as conn:
        updated = conn.execute(runs.update().where(runs.c.week == week).values(**values)).rowcount
        if not updated:
            conn.execute(runs.insert().values(week=week, **values))
