"""Fixtures of the schema tests: a migrated throwaway database and a way to insert readings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import psycopg
import pytest
from psycopg import sql

from aquafs.migrations import apply_migrations
from aquafs.settings import PostgresSettings, Settings

InsertReading = Callable[..., None]


@pytest.fixture
def migrated_database(fresh_database: PostgresSettings) -> PostgresSettings:
    apply_migrations(fresh_database)
    return fresh_database


@pytest.fixture
def conn(migrated_database: PostgresSettings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated_database.conninfo(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def insert_reading(conn: psycopg.Connection) -> InsertReading:
    """Insert one reading; measurements are keyword arguments named after the columns."""

    def insert(sensor_id: str, event_timestamp: datetime, **measurements: float | None) -> None:
        site_id, pond_id, _ = sensor_id.split("/")
        columns = [
            "site_id",
            "pond_id",
            "sensor_id",
            "event_timestamp",
            "available_at",
            "source",
            *measurements,
        ]
        values = [
            site_id,
            pond_id,
            sensor_id,
            event_timestamp,
            event_timestamp,
            "test",
            *measurements.values(),
        ]
        conn.execute(
            psycopg.sql.SQL("INSERT INTO water_readings ({}) VALUES ({})").format(
                psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(name) for name in columns),
                psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(values)),
            ),
            values,
        )

    return insert


@pytest.fixture(scope="module")
def read_only_conn(settings: Settings) -> Iterator[psycopg.Connection]:
    """A migrated database shared by one module's tests that only read (functions, catalog)."""
    name = f"aquafs_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = settings.postgres.model_copy(update={"database": name})
    try:
        apply_migrations(database)
        with psycopg.connect(database.conninfo(), autocommit=True) as connection:
            yield connection
    finally:
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
