"""Rendering at the edge: the view model to HTML (Jinja2, autoescaped) and to the JSON snapshot.

Everything from the data reaches the page through autoescaped expressions; the only markup marked
safe is the SVG the chart code produces from numbers (see `reports.charts`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from reports.charts import ChartRenderer, sparkline
from reports.view import ReportView

JSON_SCHEMA = "ftready.report/1"
LEVEL_NAMES = {"ready": "Ready to fine-tune", "approaching": "Approaching", "prompt_engineering": "Stay with prompts"}


def render_report(view: ReportView, *, charts: ChartRenderer | None = None) -> str:
    charts = charts or ChartRenderer()
    svgs: dict[str, dict[str, Markup | None]] = {}
    sparks: dict[str, list[Markup]] = {}
    for w in view.workloads:
        has_calls = any(p.calls for p in w.calls_chart.months)
        has_examples = bool(w.examples_chart.points)
        svgs[w.anchor] = {
            "calls": Markup(charts.calls(w.calls_chart, salt=f"calls:{w.anchor}")) if has_calls else None,
            "examples": Markup(charts.examples(w.examples_chart, salt=f"examples:{w.anchor}"))
            if has_examples
            else None,
        }
        sparks[w.anchor] = [Markup(sparkline(p.weekly_counts)) for p in w.patterns]
    template = environment().get_template("report.html")
    return template.render(r=view, charts=svgs, sparks=sparks, tz=ZoneInfo(view.timezone))


def render_template(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def report_json(view: ReportView) -> dict[str, Any]:
    """The snapshot: the same figures as the HTML, as plain JSON types (money as numbers in USD)."""
    return {"schema": JSON_SCHEMA, **jsonable(dataclasses.asdict(view))}


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


# -- the Jinja environment and its filters -------------------------------------------------------


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt_num, usd=fmt_usd, ms=fmt_ms, pct=fmt_pct, months=fmt_months, level=fmt_level, dt=fmt_dt, day=fmt_day
    )
    return env


def fmt_num(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def fmt_usd(value: Decimal | float | None) -> str:
    """$12,345 for amounts of $100 or more, $12.34 below; a minus sign for negative savings."""
    if value is None:
        return "—"
    amount = Decimal(str(value))
    sign = "−" if amount < 0 else ""
    amount = abs(amount)
    return f"{sign}${amount:,.0f}" if amount >= 100 else f"{sign}${amount:,.2f}"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_months(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    months = Decimal(str(value))
    if months < Decimal("0.1"):
        return "under 3 days"
    return f"{months:.1f} month{'' if months == 1 else 's'}"


def fmt_level(value: str | None) -> str:
    return LEVEL_NAMES.get(value or "", value or "—")


@pass_context
def fmt_dt(context: Context, value: datetime | None) -> str:
    """A timestamp in the schedule's time zone: "Mon 30 Nov 2026, 08:00 UTC"."""
    if value is None:
        return "—"
    local = value.astimezone(context.get("tz") or ZoneInfo("UTC"))
    return local.strftime("%a %d %b %Y, %H:%M ") + (local.tzname() or "")


def fmt_day(value: date | None, year: bool = False) -> str:
    if value is None:
        return "—"
    return value.strftime("%d %b %Y" if year else "%d %b").lstrip("0")
