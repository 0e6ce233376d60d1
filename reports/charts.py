"""Charts as inline SVG strings: matplotlib for the two charts per workload, hand-written SVG for sparklines.

- No pyplot: figures are `matplotlib.figure.Figure` objects rendered by the SVG backend, so no GUI
  backend is ever loaded and nothing global is left behind.
- Deterministic: no date in the metadata and a fixed `svg.hashsalt` per chart, so the same data gives
  the same bytes, and ids (clip paths) differ between the charts of one page.
- Fast: a 50-workload report draws 100 charts. Building a Figure and Axes costs more than drawing into
  them, so one `ChartRenderer` reuses a single figure (not thread-safe: make one per report), and
  the matplotlib axis machinery is off. Text is the other cost (matplotlib measures every label on
  every save), so labels are plain SVG `<text>` placed with the axes' own transforms after the
  marks are drawn: no embedded or external font, and the page's CSS sets the family.
- Only numbers and month names reach the charts, never workload names or failure texts (and the
  labels are XML-escaped anyway).
- matplotlib is imported when the first `ChartRenderer` is made, so the commands and jobs that draw
  no chart (sync, evaluate, alerts) neither load it nor carry its memory.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from reports.view import CallsChart, ExamplesChart

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.transforms import Transform

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
BASELINE = "#9ca3af"
BAR = "#4263eb"
THRESHOLD = "#d9480f"
TRUSTED = "#2b8a3e"
SYNTHETIC = "#868e96"
FLOOR = "#e8590c"

_DPI = 72  # the SVG backend's unit is the point: at 72 dpi display coordinates are SVG coordinates
_FIGSIZE = (5.4, 2.5)  # inches; 389 × 180 pt, about 1:1 on a phone
_AXES_RECT = (0.105, 0.15, 0.875, 0.80)  # left, bottom, width, height


@dataclass(frozen=True)
class _Label:
    """A text label anchored in some coordinate system of the axes, resolved when the chart is saved."""

    x: float
    y: float
    text: str
    coords: str  # data | xaxis (x data, y axes fraction) | yaxis (x axes fraction, y data)
    anchor: str  # start | middle | end
    valign: str  # top | center | bottom
    color: str
    size: float = 8.0
    bold: bool = False
    dx: float = 0.0  # offset in points
    dy: float = 0.0


class ChartRenderer:
    """Draws the report's charts into one reused figure; see the module docstring."""

    def __init__(self) -> None:
        from matplotlib.figure import Figure  # here, not at import: `ftready sync` never loads matplotlib

        self._figure = Figure(figsize=_FIGSIZE, dpi=_DPI)
        self._axes = self._figure.add_axes(_AXES_RECT)
        self._axes.set_axis_off()
        self._labels: list[_Label] = []

    def calls(self, chart: CallsChart, *, salt: str) -> str:
        """Monthly calls (bars; the partial current month paler), the threshold line and the projection."""
        from matplotlib.collections import PolyCollection

        ax = self._reset()
        months = [p.month for p in chart.months]
        slots = months + [m for m, _ in chart.projection if m not in months]
        x = {m: i for i, m in enumerate(slots)}
        values = [p.calls or 0 for p in chart.months]
        ticks = _nice_ticks(max([*values, *(v for _, v in chart.projection), chart.threshold or 0, 1]) * 1.12)
        self._frame(ax, slots, ticks, compact=True)
        full = [(x[p.month], p.calls) for p in chart.months if p.calls and not p.partial]
        part = [(x[p.month], p.calls) for p in chart.months if p.calls and p.partial]
        for bars, alpha in ((full, 1.0), (part, 0.4)):
            if bars:
                ax.add_collection(
                    PolyCollection(
                        [_bar(i, v) for i, v in bars], facecolors=BAR, edgecolors="none", alpha=alpha, zorder=2
                    ),
                    autolim=False,
                )
        if chart.threshold:
            self._hline(ax, chart.threshold, f"{_compact(chart.threshold)} threshold", THRESHOLD, (5, 3), slots)
        if chart.projection:
            xs = [x[m] for m, _ in chart.projection]
            ys = [v for _, v in chart.projection]
            ax.plot(xs, ys, color=INK, lw=1.6, ls=(0, (3, 2)), zorder=4)
            ax.plot(xs[-1:], ys[-1:], color=INK, ls="none", marker="o", ms=5, mfc="white", mec=INK, mew=1.4, zorder=5)
            if chart.crossing_month and chart.projection[-1][0] == chart.crossing_month:
                label = f"crosses ~{_month_label(chart.crossing_month, year=True)}"
                self._labels.append(_Label(xs[-1], ys[-1], label, "data", "end", "bottom", INK, dx=-4, dy=6))
        ax.set_ylim(0, ticks[-1])
        return self._svg(salt, "Monthly calls over the last 12 months, with the threshold and the projected trend")

    def examples(self, chart: ExamplesChart, *, salt: str) -> str:
        """Cumulative trusted real vs synthetic examples, with the floor and the data gate lines."""
        ax = self._reset()
        slots = [m for m, _, _ in chart.points]
        xs = list(range(len(slots)))
        trusted = [t for _, t, _ in chart.points]
        synthetic = [s for _, _, s in chart.points]
        ticks = _nice_ticks(max([*trusted, *synthetic, chart.gate, 1]) * 1.15)
        self._frame(ax, slots, ticks, compact=False)
        self._hline(ax, chart.floor, f"{chart.floor:,} floor", FLOOR, (1, 2), slots)
        self._hline(ax, chart.gate, f"{chart.gate:,} gate", TRUSTED, (5, 3), slots)
        ax.fill_between(xs, trusted, color=TRUSTED, alpha=0.10, lw=0, zorder=2)
        ax.plot(xs, synthetic, color=SYNTHETIC, lw=1.6, ls=(0, (4, 2)), marker="o", ms=3, zorder=3)
        ax.plot(xs, trusted, color=TRUSTED, lw=2.2, marker="o", ms=3.5, zorder=4)
        ax.set_ylim(0, ticks[-1])
        return self._svg(
            salt, "Cumulative trusted real and synthetic examples by month, with the floor and the data gate"
        )

    # -- drawing helpers -----------------------------------------------------------------------

    def _reset(self) -> Axes:
        ax = self._axes
        for artist in [*ax.collections, *ax.lines, *ax.texts, *ax.patches]:
            artist.remove()
        self._labels = []
        return ax

    def _frame(self, ax: Axes, slots: Sequence[str], ticks: Sequence[float], *, compact: bool) -> None:
        """Gridlines with value labels on the left and month labels below."""
        n = max(len(slots), 1)
        ax.set_xlim(-0.6, n - 0.4)
        ax.hlines(ticks[1:], -0.6, n - 0.4, colors=GRID, linewidths=0.8, zorder=1)
        ax.hlines([0], -0.6, n - 0.4, colors=BASELINE, linewidths=0.8, zorder=1)
        for tick in ticks:
            text = _compact(tick) if compact else f"{tick:,.0f}"
            self._labels.append(_Label(0, tick, text, "yaxis", "end", "center", MUTED, dx=-5))
        step = 1 if n <= 13 else 2
        shown = [i for i in range(len(slots)) if not (n - 1 - i) % step]  # always label the newest month
        for i in shown:
            month = slots[i]
            # the year on January, and on the first label unless the next label is a January
            year = month.endswith("-01") or (i == shown[0] and int(month[5:]) <= 12 - step)
            self._labels.append(
                _Label(i, 0, _month_label(month, year=year), "xaxis", "middle", "top", MUTED, 7.5, dy=-5)
            )

    def _hline(
        self, ax: Axes, y: float, label: str, color: str, dashes: tuple[float, float], slots: Sequence[str]
    ) -> None:
        ax.hlines([y], -0.6, max(len(slots), 1) - 0.4, colors=color, linewidths=1.3, linestyles=(0, dashes), zorder=3)
        self._labels.append(_Label(-0.45, y, label, "data", "start", "bottom", color, 7.5, bold=True, dy=2))

    def _svg(self, salt: str, label: str) -> str:
        import matplotlib as mpl

        buffer = io.StringIO()
        with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"ftready:{salt}"}):
            self._figure.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="none")
        svg = _clean_svg(buffer.getvalue(), label)
        return svg.removesuffix("</svg>") + self._text_layer() + "</svg>"

    def _text_layer(self) -> str:
        """The labels as SVG text, positioned with the axes' transforms (valid once the limits are set)."""
        ax = self._axes
        transforms: dict[str, Transform] = {
            "data": ax.transData, "xaxis": ax.get_xaxis_transform(), "yaxis": ax.get_yaxis_transform(),
        }  # fmt: skip
        height = self._figure.get_figheight() * _DPI
        shift = {"top": 0.75, "center": 0.35, "bottom": 0.0}
        parts = []
        for item in self._labels:
            px, py = transforms[item.coords].transform((item.x, item.y))
            x = px + item.dx
            y = height - py - item.dy + shift[item.valign] * item.size
            weight = ' font-weight="bold"' if item.bold else ""
            parts.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{item.anchor}" fill="{item.color}" '
                f'font-size="{item.size}"{weight}>{escape(item.text)}</text>'
            )
        return '<g font-family="sans-serif">' + "".join(parts) + "</g>\n"


def sparkline(counts: Sequence[int], *, width: int = 88, height: int = 22) -> str:
    """Weekly cases as tiny bars (oldest → newest, the latest week darker). Numbers only."""
    n = max(len(counts), 1)
    slot = width / n
    peak = max([*counts, 1])
    rects = []
    for i, value in enumerate(counts):
        h = max(1.0, (height - 2) * value / peak) if value else 1.0
        tone = "#9ca3af" if not value else ("#c92a2a" if i == n - 1 else "#e8590c")
        x, w = i * slot + 1, max(slot - 2, 1)
        rects.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{tone}"/>')
    label = "cases per week, oldest to newest: " + ", ".join(str(int(c)) for c in counts)
    return (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{label}"><title>{label}</title>{"".join(rects)}</svg>'
    )


def _bar(i: int, value: float) -> list[tuple[float, float]]:
    return [(i - 0.34, 0), (i - 0.34, value), (i + 0.34, value), (i + 0.34, 0)]


def _nice_ticks(top: float, target: int = 4) -> list[float]:
    """0 and 3–5 round steps covering `top` (1, 2, 2.5, 5 × 10^k)."""
    raw = top / target
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1:
        step = 1
    return [step * k for k in range(int(math.ceil(top / step)) + 1)]


def _compact(value: float) -> str:
    """1_250_000 → "1.25M", 500_000 → "500k"."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            return f"{value / size:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}"


def _month_label(month: str, *, year: bool) -> str:
    first = date.fromisoformat(f"{month}-01")
    return first.strftime("%b ’%y") if year else first.strftime("%b")


_DROP = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<metadata>.*?</metadata>|<style[^>]*>.*?</style>", re.S)
_GROUP_ID = re.compile(r'\s+id="[A-Za-z][A-Za-z0-9]*_\d+"')  # figure_1, patch_3, line2d_2: never referenced
_SIZE = re.compile(r'\s+(?:width|height)="[\d.]+pt"')


def _clean_svg(svg: str, label: str) -> str:
    """Inline-ready SVG: no XML prolog, metadata or global <style>, no duplicate group ids, sized by CSS."""
    svg = _DROP.sub("", svg)
    svg = _GROUP_ID.sub("", svg)
    head, rest = svg.split(">", 1)
    head = _SIZE.sub("", head).replace("<svg", f'<svg class="chart" role="img" aria-label="{label}"', 1)
    body = re.sub(r"\n\s*", "\n", rest.strip())
    return (head.strip() + ">" + body).replace("<defs>\n</defs>\n", "")
