"""The weekly readiness report: assembly, charts, Jinja2 templates, the archive index and the Slack digest.

Entry points (imported lazily, so `import reports` does not load matplotlib):
`write_weekly_report`, `enqueue_digest` and `ReportFiles` from `reports.publish`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReportFiles", "enqueue_digest", "write_weekly_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from reports import publish

        return getattr(publish, name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
