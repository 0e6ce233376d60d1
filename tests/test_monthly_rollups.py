"""The monthly rollups the sync keeps beside the daily ones: always the daily rows summed by month,
after every kind of sync, after an upgrade from a store without them, and read by an evaluation
exactly as the daily rows would be (price changes inside a month included)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.evaluate import RECENT_DAYS, evaluate_store, metrics_to_json, read_rollups
from monitor.metrics import PriceLookup, annotate
from monitor.pricing import PriceEntry, PriceTable
from monitor.settings import settings_from_dict
from monitor.store import ROLLUP_VALUES, SCHEMA_VERSION, Store
from tests.conftest import NOW
from tests.factories import make_calls, native_source, sync_store, write_table

SUMMED = ["calls", "errors", "input_tokens", "output_tokens", "cost_calls", "lat_b00", "lat_b12", "lat_b23"]


def _sync(source: dict, store_url: str, *, now: datetime = NOW, full: bool = False) -> None:
    sync_store(settings_from_dict({"store": {"url": store_url}, "sources": [source]}, env={}), now=now, full=full)


def _monthly_vs_daily(store_url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        daily = pd.read_sql(sa.text(f"SELECT source, workload, model, day, {', '.join(SUMMED)} FROM call_rollups"), conn)
        monthly = pd.read_sql(
            sa.text(f"SELECT source, workload, model, month, first_day, last_day, {', '.join(SUMMED)} FROM call_rollups_monthly"),
            conn,
        )
    engine.dispose()
    daily["day"] = pd.to_datetime(daily["day"]).dt.date
    daily["month"] = daily["day"].map(lambda d: f"{d:%Y-%m}")
    keys = ["source", "workload", "model", "month"]
    expected = daily.groupby(keys).agg(
        first_day=("day", "min"), last_day=("day", "max"), **{c: (c, "sum") for c in SUMMED}
    ).reset_index()
    monthly["first_day"] = pd.to_datetime(monthly["first_day"]).dt.date
    monthly["last_day"] = pd.to_datetime(monthly["last_day"]).dt.date
    order = lambda f: f.sort_values(keys).reset_index(drop=True).astype({c: "int64" for c in SUMMED})  # noqa: E731
    return order(monthly[expected.columns]), order(expected)


def _assert_consistent(store_url: str) -> None:
    got, expected = _monthly_vs_daily(store_url)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("chunk", ["month", "week", "day"])
def test_every_kind_of_sync_keeps_monthly_rollups_equal_to_the_daily_ones(tmp_path: Path, chunk: str) -> None:
    """Months are summed once their last chunk is written, whether a chunk is a month, a week
    that straddles two months, or a day."""
    calls = make_calls(4000, NOW, days=150)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", calls, text_timestamps=True)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url, chunk=chunk), store_url)
    _assert_consistent(store_url)

    # late rows for old days (ingested now), then a lookback-only source, then a full resync
    late = make_calls(300, NOW - timedelta(days=90), days=40, seed=5, start_id=10_000)
    late["loaded_at"] = NOW.replace(tzinfo=None) + timedelta(hours=1)
    write_table(url, "llm_calls", pd.concat([calls, late]), text_timestamps=True)
    _sync(native_source(url, chunk=chunk), store_url, now=NOW + timedelta(days=1))
    _assert_consistent(store_url)
    without_ingested = native_source(url, chunk=chunk)
    del without_ingested["calls"]["columns"]["ingested_at"]
    _sync(without_ingested, store_url, now=NOW + timedelta(days=2))
    _assert_consistent(store_url)
    _sync(native_source(url, chunk=chunk), store_url, now=NOW + timedelta(days=2), full=True)
    _assert_consistent(store_url)


def test_monthly_rollups_on_a_postgresql_store(tmp_path: Path, postgres_store_url: str) -> None:
    """Consistent on a team store too, where sums come back as Decimals: its evaluation equals
    the same data's on a SQLite store."""
    calls = make_calls(2000, NOW, days=100)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", calls, text_timestamps=True)
    _sync(native_source(url), postgres_store_url)
    _assert_consistent(postgres_store_url)
    sqlite_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), sqlite_url)
    evaluated = []
    for store_url in (postgres_store_url, sqlite_url):
        store = Store(store_url)
        try:
            settings = settings_from_dict({"store": {"url": store_url}, "sources": [native_source(url)]}, env={})
            run = evaluate_store(settings, store, now=NOW, save=False)
        finally:
            store.dispose()
        evaluated.append({name: metrics_to_json(m) for name, m in run.metrics.items()})
    assert len(evaluated[0]) > 1 and evaluated[0] == evaluated[1]


def _synced_sqlite_store(tmp_path: Path) -> tuple[str, str]:
    """A SQLite warehouse of 100 days of calls and a store synced from it: (warehouse URL, store URL)."""
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", make_calls(2000, NOW, days=100), text_timestamps=True)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    return url, store_url


def test_a_store_from_schema_version_1_gets_its_monthly_rollups(tmp_path: Path) -> None:
    _, store_url = _synced_sqlite_store(tmp_path)
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # what ftready before the monthly table left behind
        conn.execute(sa.text("DROP TABLE call_rollups_monthly"))
        conn.execute(sa.text("DELETE FROM ftready_schema_version"))
        conn.execute(sa.text("INSERT INTO ftready_schema_version VALUES (1, '2026-11-01 00:00:00')"))
    Store(store_url).dispose()
    _assert_consistent(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(version) FROM ftready_schema_version")).scalar() == SCHEMA_VERSION == 3
    engine.dispose()


def test_a_store_from_schema_version_2_gets_the_source_day_index(tmp_path: Path) -> None:
    """Without it a sync's DELETE of a source's days reads every row of the source (SQLite picks the primary key)."""
    url, store_url = _synced_sqlite_store(tmp_path)
    engine = sa.create_engine(store_url)
    delete = "DELETE FROM call_rollups WHERE source = 'wh' AND day >= '2026-11-01' AND day < '2026-11-08'"
    with engine.begin() as conn:  # what ftready at schema version 2 left behind
        conn.execute(sa.text("DROP INDEX ix_call_rollups_source_day"))
        conn.execute(sa.text("UPDATE ftready_schema_version SET version = 2"))
        assert "(source=?)" in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {delete}")).all()[0][-1]
    engine.dispose()  # its connection keeps the statement prepared with the old plan
    Store(store_url).dispose()
    with engine.connect() as conn:
        plan = conn.execute(sa.text(f"EXPLAIN QUERY PLAN {delete}")).all()[0][-1]
        assert "ix_call_rollups_source_day (source=? AND day>? AND day<?)" in plan
        assert conn.execute(sa.text("SELECT max(version) FROM ftready_schema_version")).scalar() == 3
    engine.dispose()
    _sync(native_source(url), store_url, now=NOW + timedelta(hours=1))
    _assert_consistent(store_url)


def _priced_sums(rollups: pd.DataFrame, prices: PriceLookup) -> pd.DataFrame:
    """Sums per workload, model, month and price entry (positions differ between lookups)."""
    entries = [None if e is None else f"{e.model} from {e.start_date}" for e in prices.entries]
    named = rollups.assign(price=rollups["price"].map(lambda i: entries[i] or "unpriced"))
    return named.groupby(["workload", "model", "month", "price"])[["calls", "input_tokens", "cost_calls"]].sum().sort_index()


@pytest.mark.parametrize("change_day", [date(2026, 6, 15), date(2026, 7, 1)])
def test_evaluation_reads_old_months_as_the_daily_rows_summed_per_price(tmp_path: Path, change_day: date) -> None:
    """A price change inside an old month splits that model's month; other models read it whole."""
    calls = make_calls(6000, NOW, days=240)
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_table(url, "llm_calls", calls, text_timestamps=True)
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    _sync(native_source(url), store_url)
    table = PriceTable.load([PriceEntry(model="gpt-4o", start_date=change_day, input_per_mtok="1.00", output_per_mtok="4.00")])
    assert change_day < (NOW - timedelta(days=RECENT_DAYS)).date().replace(day=1)  # an old, whole month

    store = Store(store_url)
    prices, daily_prices = PriceLookup(table), PriceLookup(table)
    with store.read() as conn:
        read = annotate(read_rollups(conn, until=NOW, prices=prices), prices)
        everything = pd.read_sql(sa.select(sa.column("workload"), sa.column("model"), sa.column("day"),
                                           *(sa.column(v) for v in ROLLUP_VALUES)).select_from(sa.table("call_rollups")), conn)
    store.dispose()
    everything["day"] = pd.to_datetime(everything["day"]).dt.date
    daily = annotate(everything, daily_prices)
    assert len(read) < len(daily) / 2  # months, not days
    split = read[(read["model"] == "gpt-4o") & (read["month"] == f"{change_day:%Y-%m}")]
    assert split["price"].nunique() == (2 if change_day.day != 1 else 1)
    got, expected = _priced_sums(read, prices), _priced_sums(daily, daily_prices)
    pd.testing.assert_frame_equal(got.astype("int64"), expected.astype("int64"))
