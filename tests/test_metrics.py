"""Metrics: pure functions over store frames, checked against hand-computed values."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from monitor.histogram import BUCKET_COLUMNS, EDGES_MS, percentile
from monitor.metrics import PriceLookup, annotate, example_stats, monthly_stats, project_crossing, prompt_versions
from monitor.model import MonthStats
from monitor.pricing import PriceTable

AS_OF = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)


def _rollup(day: date, calls: int, *, model: str = "gpt-4o", version: str = "v1", latency_bucket: int = 10) -> dict:
    row = {
        "workload": "w", "model": model, "prompt_version": version, "day": day, "calls": calls, "errors": 0,
        "input_tokens": calls * 1000, "output_tokens": calls * 100, "cost_usd": float("nan"), "cost_calls": 0,
        "uncosted_input_tokens": calls * 1000, "uncosted_output_tokens": calls * 100, "latency_count": calls,
    }  # fmt: skip
    row.update({name: (calls if i == latency_bucket else 0) for i, name in enumerate(BUCKET_COLUMNS)})
    return row


def _month(month: str, calls: int, partial: bool = False) -> MonthStats:
    return MonthStats(month, calls, 0, 0, 0, None, None, None, None, partial)


def test_projection_on_a_known_linear_series() -> None:
    months = (_month("2026-08", 300_000), _month("2026-09", 350_000), _month("2026-10", 400_000), _month("2026-11", 1, True))
    projection = project_crossing(months, 500_000, pd.DataFrame(), as_of=AS_OF)
    assert projection is not None
    assert projection.basis == "3 complete months"
    assert projection.slope_per_month == pytest.approx(50_000)
    assert projection.crossing_month == "2026-12"  # 400k + 2 × 50k = 500k two months after October


def test_projection_flat_or_falling_is_not_on_trend() -> None:
    months = (_month("2026-08", 300_000), _month("2026-09", 290_000), _month("2026-10", 280_000))
    projection = project_crossing(months, 500_000, pd.DataFrame(), as_of=AS_OF)
    assert projection is not None and projection.crossing_month is None and not projection.already_crossed


def test_projection_already_crossed() -> None:
    months = (_month("2026-08", 600_000), _month("2026-09", 620_000), _month("2026-10", 640_000))
    assert project_crossing(months, 500_000, pd.DataFrame(), as_of=AS_OF).already_crossed  # type: ignore[union-attr]


def test_young_workload_projects_from_weeks() -> None:
    start = AS_OF.date() - timedelta(days=56)
    rows = [_rollup(start + timedelta(days=d), 1000 + 20 * d) for d in range(56)]
    projection = project_crossing((), 500_000, pd.DataFrame(rows), as_of=AS_OF)
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


def test_prompt_versions_counts_distinct_and_none_when_unmapped() -> None:
    frame = pd.DataFrame([_rollup(date(2026, 11, 1), 5, version=v) for v in ("v1", "v2", "v2", "v3")])
    assert prompt_versions(frame) == 3
    assert prompt_versions(pd.DataFrame([_rollup(date(2026, 11, 1), 5, version="")])) is None


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
    stats, by_month = example_stats(pd.DataFrame(rows))
    assert stats.total == 12
    assert stats.trusted_real == 4  # 1, 2, same, 7
    assert stats.duplicates_removed == 2  # "same" and "clash" each lose one row
    assert stats.conflicts == 1
    assert stats.real_untrusted == 2  # 8 and 12
    assert stats.synthetic == 2 and stats.unknown == 1
    assert stats.synthetic_share == pytest.approx(2 / 12)
    assert by_month == (("2026-10", 4, 2),)
