"""Metrics: pure functions over store frames, checked against hand-computed values."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from monitor.histogram import BUCKET_COLUMNS, EDGES_MS, percentile
from monitor.metrics import (
    NO_CALLS,
    PriceLookup,
    _percentiles,
    _priced_cost,
    annotate,
    call_summaries,
    example_stats,
    monthly_stats,
    project_crossing,
)
from monitor.model import MonthStats
from monitor.pricing import PriceTable

AS_OF = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)


def _rollup(
    day: date, calls: int, *, model: str = "gpt-4o", version: str = "v1", latency_bucket: int = 10, workload: str = "w"
) -> dict:
    row = {
        "workload": workload, "model": model, "prompt_version": version, "day": day, "calls": calls, "errors": 0,
        "input_tokens": calls * 1000, "output_tokens": calls * 100, "cost_usd": float("nan"), "cost_calls": 0,
        "uncosted_input_tokens": calls * 1000, "uncosted_output_tokens": calls * 100, "latency_count": calls,
    }  # fmt: skip
    row.update({name: (calls if i == latency_bucket else 0) for i, name in enumerate(BUCKET_COLUMNS)})
    return row


def _month(month: str, calls: int, partial: bool = False) -> MonthStats:
    return MonthStats(month, calls, 0, 0, 0, None, None, None, None, partial)


def test_projection_on_a_known_linear_series() -> None:
    months = (_month("2026-08", 300_000), _month("2026-09", 350_000), _month("2026-10", 400_000), _month("2026-11", 1, True))
    projection = project_crossing(months, 500_000, (), as_of=AS_OF)
    assert projection is not None
    assert projection.basis == "3 complete months"
    assert projection.slope_per_month == pytest.approx(50_000)
    assert projection.crossing_month == "2026-12"  # 400k + 2 × 50k = 500k two months after October


def test_projection_flat_or_falling_is_not_on_trend() -> None:
    months = (_month("2026-08", 300_000), _month("2026-09", 290_000), _month("2026-10", 280_000))
    projection = project_crossing(months, 500_000, (), as_of=AS_OF)
    assert projection is not None and projection.crossing_month is None and not projection.already_crossed


def test_projection_already_crossed() -> None:
    months = (_month("2026-08", 600_000), _month("2026-09", 620_000), _month("2026-10", 640_000))
    assert project_crossing(months, 500_000, (), as_of=AS_OF).already_crossed  # type: ignore[union-attr]


def test_young_workload_projects_from_weeks() -> None:
    start = AS_OF.date() - timedelta(days=56)
    rows = [_rollup(start + timedelta(days=d), 1000 + 20 * d) for d in range(56)]
    frame = annotate(pd.DataFrame(rows), prices := PriceLookup(PriceTable.load()))
    projection = project_crossing((), 500_000, call_summaries(frame, prices, as_of=AS_OF)["w"].weekly_calls, as_of=AS_OF)
    assert projection is not None and projection.basis == "8 weeks"
    assert projection.slope_per_month > 0


def test_monthly_stats_partial_flags_and_latency() -> None:
    days = [date(2026, 9, 15), date(2026, 10, 3), date(2026, 11, 2)]
    frame = pd.DataFrame([_rollup(d, 100) for d in days])
    months = monthly_stats(annotate(frame, prices := PriceLookup(PriceTable.load())), prices, as_of=AS_OF, coverage_start=date(2026, 9, 10))["w"]
    assert [(m.month, m.partial) for m in months] == [("2026-09", True), ("2026-10", False), ("2026-11", True)]
    assert EDGES_MS[9] <= months[1].p50_latency_ms < EDGES_MS[10]
    assert months[1].cost_usd is not None and months[1].cost_usd > 0


def test_unpriced_model_leaves_the_cost_unknown() -> None:
    frame = pd.DataFrame([_rollup(date(2026, 10, 3), 100, model="in-house-llm-7b")])
    [month] = monthly_stats(annotate(frame, prices := PriceLookup(PriceTable.load())), prices, as_of=AS_OF, coverage_start=date(2026, 1, 1))["w"]
    assert month.cost_usd is None


def test_percentile_interpolates_within_bucket() -> None:
    buckets = [0] * len(BUCKET_COLUMNS)
    buckets[11] = 100  # [1000, 1500)
    assert 1000 <= percentile(buckets, 0.5) < 1500  # type: ignore[operator]
    assert percentile([0] * len(BUCKET_COLUMNS), 0.5) is None


def test_vectorised_percentiles_equal_the_histogram_percentile() -> None:
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 1000, size=(300, len(BUCKET_COLUMNS))) * (rng.random((300, len(BUCKET_COLUMNS))) < 0.3)
    rows[0], rows[1, :] = 0, 0  # empty histograms
    rows[1, -1] = 5  # only the overflow bucket
    rows[2, :], rows[2, 0] = 0, 9  # only the first bucket
    for q in (0.0, 0.5, 0.95, 0.99, 1.0):
        assert _percentiles(rows, q) == [percentile(list(row), q) for row in rows]
    assert _percentiles(np.zeros((0, len(BUCKET_COLUMNS))), 0.5) == []


def test_prompt_versions_counts_distinct_and_none_when_unmapped() -> None:
    prices = PriceLookup(PriceTable.load())
    frame = pd.DataFrame([_rollup(date(2026, 11, 1), 5, version=v) for v in ("v1", "v2", "v2", "v3")])
    assert call_summaries(annotate(frame, prices), prices, as_of=AS_OF)["w"].prompt_versions_30d == 3
    unmapped = pd.DataFrame([_rollup(date(2026, 11, 1), 5, version="")])
    assert call_summaries(annotate(unmapped, prices), prices, as_of=AS_OF)["w"].prompt_versions_30d is None


def test_call_summaries_equal_the_per_workload_computation() -> None:
    """The one-pass summaries match each workload's rows computed on their own."""
    today = AS_OF.date()
    rows = [
        _rollup(today - timedelta(days=d), 100 + d, model=m, version=f"v{d % 3}", workload=w, latency_bucket=d % 24)
        for w in ("a", "b")
        for m in ("gpt-4o", "gpt-4o-mini", "in-house-llm-7b")
        for d in range(0, 75, 4 if m == "gpt-4o" else 5)
    ]
    rows += [_rollup(today - timedelta(days=d), 50, workload="c") for d in (40, 60)]  # no calls in the window
    rows += [_rollup(today - timedelta(days=1), 0, workload="c")]  # a row without calls is not activity
    rows += [_rollup(today - timedelta(days=45), 9, workload="e")]  # no row in the window
    rows += [_rollup(today - timedelta(days=d), 7, workload="d", version="") for d in (2, 3)]  # young, unmapped
    rows[0].update(cost_usd=1.25, cost_calls=rows[0]["calls"], uncosted_input_tokens=0, uncosted_output_tokens=0)
    frame = annotate(pd.DataFrame(rows), prices := PriceLookup(PriceTable.load()))
    summaries = call_summaries(frame, prices, as_of=AS_OF)
    assert set(summaries) == {"a", "b", "c", "d", "e"}
    for name, own in frame.groupby("workload"):
        summary = summaries[str(name)]
        trailing = own[own["day"] > today - timedelta(days=30)]
        active = own[own["calls"] > 0]
        assert summary.calls_30d == trailing["calls"].sum() and summary.errors_30d == trailing["errors"].sum()
        assert (summary.input_tokens_30d, summary.output_tokens_30d) == (trailing["input_tokens"].sum(), trailing["output_tokens"].sum())
        assert summary.buckets_30d == tuple(trailing[list(BUCKET_COLUMNS)].sum()) or trailing.empty
        by_model = trailing.groupby("model")["calls"].sum().sort_values(ascending=False, kind="stable")
        assert summary.models_30d == tuple(by_model.index)
        assert summary.prompt_versions_30d == (len({v for v in trailing["prompt_version"] if v}) or None)
        assert summary.first_seen == (min(active["day"]) if len(active) else None)
        assert summary.last_seen == (max(active["day"]) if len(active) else None)
        assert summary.trailing_rows == (not trailing.empty)
        if not trailing.empty:
            assert summary.provided_cost_30d == next(iter(_priced_cost(trailing, prices, by=["workload"]).values()))
    assert summaries["a"].provided_cost_30d is not None and summaries["a"].provided_cost_30d[0] >= Decimal("1.25")
    assert summaries["a"].provided_cost_30d[1] is False  # in-house-llm-7b is unpriced: the cost is unknown
    assert summaries["c"].calls_30d == 0 and summaries["c"].last_seen == today - timedelta(days=40)
    assert not summaries["e"].trailing_rows and summaries["e"].models_30d == () and summaries["e"].provided_cost_30d is None
    assert summaries["d"].prompt_versions_30d is None and summaries["d"].weekly_calls == ()
    assert len(summaries["a"].weekly_calls) == 8 and summaries["a"].weekly_calls[-1] == sum(
        r["calls"] for r in rows if r["workload"] == "a" and 1 <= (today - r["day"]).days <= 7
    )
    assert NO_CALLS.buckets_30d == (0,) * len(BUCKET_COLUMNS)


def _example(ident: str, *, provenance: str = "production_log", human: bool = True, label: str | None = "pass",
             failure: bool = False, text_hash: str | None = None, created: str = "2026-10-01") -> dict:  # fmt: skip
    return {
        "id": ident, "workload": "w", "created_at": pd.Timestamp(created, tz="UTC"), "label": label,
        "is_failure": failure, "failure_mode": None, "provenance": provenance, "human_labeled": human,
        "input_hash": text_hash if text_hash is not None else f"h-{ident}", "excerpt": None,
    }  # fmt: skip


def test_example_counts_dedup_and_conflicts() -> None:
    rows = [
        _example("1"), _example("2"),
        _example("3", text_hash="same"), _example("4", text_hash="same"),  # duplicate: counts once
        _example("5", text_hash="clash"), _example("6", text_hash="clash", label="fail", failure=True),  # conflict
        _example("7", provenance="relabeled_by_human"),
        _example("8", human=False),  # real but labelled by a model
        _example("9", provenance="synthetic"), _example("10", provenance="synthetic"),
        _example("11", provenance="unknown"),
        _example("12", label=None),  # real, human, but no label
    ]  # fmt: skip
    stats, by_month = example_stats(pd.DataFrame(rows))["w"]
    assert stats.total == 12
    assert stats.trusted_real == 4  # 1, 2, same, 7
    assert stats.duplicates_removed == 2  # "same" and "clash" each lose one row
    assert stats.conflicts == 1
    assert stats.real_untrusted == 2  # 8 and 12
    assert stats.synthetic == 2 and stats.unknown == 1
    assert stats.synthetic_share == pytest.approx(2 / 12)
    assert by_month == (("2026-10", 4, 2),)


def test_example_stats_keep_workloads_apart() -> None:
    """The same input in two workloads is a duplicate in neither; a conflict in one is not in the other."""
    rows = [
        {**_example("a1", text_hash="same"), "workload": "a"},
        {**_example("b1", text_hash="same"), "workload": "b"},
        {**_example("b2", text_hash="same", label="fail", failure=True), "workload": "b"},
        {**_example("b3", provenance="synthetic", created="2026-09-05"), "workload": "b"},
    ]
    stats = example_stats(pd.DataFrame(rows))
    assert stats["a"][0].trusted_real == 1 and stats["a"][0].conflicts == 0
    assert stats["b"][0].trusted_real == 0 and stats["b"][0].conflicts == 1 and stats["b"][0].synthetic == 1
    assert stats["b"][1] == (("2026-09", 0, 1),)  # b's only trusted candidates conflict
