"""Shared fixtures: real warehouses (SQLite, DuckDB, PostgreSQL, MariaDB) and a fixed clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)

POSTGRES_URL = os.environ.get("FTREADY_TEST_POSTGRES_URL")
MYSQL_URL = os.environ.get("FTREADY_TEST_MYSQL_URL")

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="FTREADY_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)"
)
needs_mysql = pytest.mark.skipif(not MYSQL_URL, reason="FTREADY_TEST_MYSQL_URL is not set (CI sets it; see .ci/run)")


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema, dropped afterwards: (url, schema)."""
    if not POSTGRES_URL:
        pytest.skip("FTREADY_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)")
    schema = f"ft_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB/MySQL database, dropped afterwards: its URL."""
    if not MYSQL_URL:
        pytest.skip("FTREADY_TEST_MYSQL_URL is not set (CI sets it; see .ci/run)")
    name = f"ft_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(MYSQL_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    url = sa.engine.make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        engine.dispose()


@pytest.fixture
def postgres_store_url(postgres_schema: tuple[str, str]) -> str:
    """A PostgreSQL URL whose search_path is a fresh schema: a state store of its own."""
    url, schema = postgres_schema
    return sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
