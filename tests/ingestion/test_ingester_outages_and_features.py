"""The ingester through a PostgreSQL outage, and its streamed features against the batch backfill.

Both tests run against the shared local stack. The outage is confined to the test's throwaway
database (it stops accepting connections), so the server itself and other tests keep running.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from feast import FeatureStore
from feast.repo_config import load_repo_config
from psycopg import sql

from aquafs.backfill import backfill_features
from aquafs.feast_store import FEATURE_REPO, apply_repo, export_feast_environment
from aquafs.migrations import apply_migrations
from aquafs.settings import PostgresSettings, Settings
from ingestion.history import history_messages
from ingestion.ingester import Ingester
from ingestion.producer import to_outgoing
from ingestion.schema import ReadingMessage
from tests.ingestion.test_ingester import (
    _committed,
    _expected,
    _ingester,
    _newest,
    _offline_rows,
    _online,
    _produce,
    _rejections,
    _synthetic,
    _wait_until,
)
from transforms.catalog import FEATURE_NAMES

pytestmark = pytest.mark.services

# A registry cache that expires within the outage makes the ingester's registry reads hit the
# unavailable database too, as they would in a long outage with the 60 s TTL of feature_store.yaml.
REGISTRY_CACHE_TTL_SECONDS = 1
OUTAGE_SECONDS = 5.0
FEATURE_RELATIVE_TOLERANCE = 1e-9


# -------------------------------------------------------------------------------------------------
# PostgreSQL outage


def _store_with_registry_ttl(settings: Settings, project: str, cache_ttl_seconds: int) -> FeatureStore:
    """Open the feature repo like ``open_store`` does, with a shorter registry cache TTL."""
    export_feast_environment(settings)
    config = load_repo_config(FEATURE_REPO, FEATURE_REPO / "feature_store.yaml")
    registry = dict(config.registry_config) | {"cache_ttl_seconds": cache_ttl_seconds}
    config = config.model_copy(update={"project": project, "registry_config": registry})
    return FeatureStore(repo_path=str(FEATURE_REPO), config=config)


@contextmanager
def _database_refusing_connections(admin: PostgresSettings, database: str) -> Iterator[list[bool]]:
    """Make ``database`` reject new connections and end the open ones, until the block exits.

    Yields the results of ``pg_terminate_backend`` for every connection that was open. The
    project role may end its own sessions, so this needs no superuser.
    """
    name = sql.Identifier(database)
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
        try:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
            yield [terminated for (terminated,) in rows]
        finally:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))


def _accepts_connections(postgres: PostgresSettings) -> bool:
    try:
        with psycopg.connect(postgres.conninfo(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _with_probe_fault(message: ReadingMessage) -> ReadingMessage:
    # -127 °C is the disconnected-probe code that validation rejects as a sensor fault.
    return dataclasses.replace(message, measurements={**message.measurements, "water_temp_c": -127.0})


def _write_retries(ingester: Ingester) -> float:
    return ingester.metrics.retries.labels("store_write")._value.get()


def test_postgres_outage_blocks_commit_until_recovery(
    settings: Settings,
    database_factory: Callable[[], PostgresSettings],
    unique_name: Callable[[str], str],
) -> None:
    database = database_factory()
    apply_migrations(database)
    local = settings.model_copy(update={"postgres": database})
    store = _store_with_registry_ttl(local, unique_name("test"), REGISTRY_CACHE_TTL_SECONDS)
    apply_repo(store)
    topic, group = unique_name("ingest_pg_outage"), unique_name("group")
    messages = _synthetic(150, seed=31)
    before, during, late = messages[:40], messages[40:100], messages[100:]
    # Faulty readings also arrive during the outage; their rejected_readings rows must appear after it.
    late = [_with_probe_fault(m) if i % 10 == 0 else m for i, m in enumerate(late)]
    valid, invalid = _expected([*before, *during, *late], datetime.now(UTC))
    assert invalid == 5

    _produce(settings, topic, (to_outgoing(m) for m in before))
    ingester = _ingester(local, store, topic, group, batch_size=50, idle_exit_seconds=None)
    thread = threading.Thread(target=ingester.run, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: sum(_committed(settings, group).values()) == len(before), "the first commit")
        committed_before = _committed(settings, group)

        with _database_refusing_connections(settings.postgres, database.database) as terminated:
            assert all(terminated), f"could not end every session of {database.database}: {terminated}"
            assert not _accepts_connections(database)
            outage_started = time.monotonic()
            _produce(settings, topic, (to_outgoing(m) for m in during))
            _wait_until(lambda: _write_retries(ingester) >= 3, "three write retries during the outage")
            _produce(settings, topic, (to_outgoing(m) for m in late))
            while time.monotonic() - outage_started < OUTAGE_SECONDS:
                assert _committed(settings, group) == committed_before
                assert thread.is_alive(), "the ingester stopped during the outage"
                time.sleep(0.5)
            assert _committed(settings, group) == committed_before

        total = len(before) + len(during) + len(late)
        _wait_until(lambda: sum(_committed(settings, group).values()) == total, "catch-up after recovery")
    finally:
        ingester.request_stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(_offline_rows(database)) == len(valid)
    assert len(_rejections(database)) == invalid
    assert _online(store, {m.sensor_id for m in valid}) == _newest(valid)


# -------------------------------------------------------------------------------------------------
# Streamed features equal the batch backfill


def _ku_mwq_slice(data_dir: Path, count: int = 600) -> list[ReadingMessage]:
    """The first ``count`` KU-MWQ readings of both depth sensors, in event-time order."""
    return [m for m in history_messages(data_dir) if m.site_id == "ku-mwq"][:count]


def _feature_frame(postgres: PostgresSettings) -> pd.DataFrame:
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in ("sensor_id", "event_timestamp", *FEATURE_NAMES))
    query = sql.SQL("SELECT {} FROM sensor_features ORDER BY sensor_id, event_timestamp").format(columns)
    with psycopg.connect(postgres.conninfo()) as conn:
        rows = conn.execute(query).fetchall()
    frame = pd.DataFrame(rows, columns=["sensor_id", "event_timestamp", *FEATURE_NAMES])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def _copy_readings(source: PostgresSettings, target: PostgresSettings) -> int:
    """Copy every ``water_readings`` row from ``source`` to ``target`` and return the target's row count."""
    read = "COPY (SELECT * FROM water_readings) TO STDOUT (FORMAT binary)"
    write = "COPY water_readings FROM STDIN (FORMAT binary)"
    with psycopg.connect(source.conninfo()) as src, psycopg.connect(target.conninfo()) as dst:
        with src.cursor().copy(read) as out, dst.cursor().copy(write) as into:
            for block in out:
                into.write(block)
        row = dst.execute("SELECT count(*) FROM water_readings").fetchone()
    assert row is not None
    return int(row[0])


def _same_value(streamed: object, batch: object) -> bool:
    streamed_nan = streamed is None or math.isnan(streamed)  # type: ignore[arg-type]
    batch_nan = batch is None or math.isnan(batch)  # type: ignore[arg-type]
    if streamed_nan or batch_nan:
        return streamed_nan and batch_nan
    return math.isclose(streamed, batch, rel_tol=FEATURE_RELATIVE_TOLERANCE, abs_tol=0.0)  # type: ignore[arg-type]


def test_streamed_features_equal_batch_backfill(
    settings: Settings,
    feast_store,
    database_factory: Callable[[], PostgresSettings],
    data_dir: Path,
    unique_name: Callable[[str], str],
) -> None:
    messages = _ku_mwq_slice(data_dir)
    assert {m.sensor_id for m in messages} == {"ku-mwq/pond-1/depth-30cm", "ku-mwq/pond-1/depth-60cm"}
    valid, invalid = _expected(messages, datetime.now(UTC))
    assert invalid == 0
    topic, group = unique_name("ingest_features"), unique_name("group")
    _produce(settings, topic, (to_outgoing(m) for m in messages))

    ingester = _ingester(feast_store.settings, feast_store.store, topic, group, batch_size=100)
    assert ingester.run() == 0
    assert sum(_committed(settings, group).values()) == len(messages)

    streamed = _feature_frame(feast_store.settings.postgres)
    batch_database = database_factory()
    apply_migrations(batch_database)
    assert _copy_readings(feast_store.settings.postgres, batch_database) == len(valid)
    with psycopg.connect(batch_database.conninfo()) as conn:
        assert backfill_features(conn) == len(valid)
    batch = _feature_frame(batch_database)

    # The slice is in event-time order per sensor, so no reading is late and every one has features.
    assert len(batch) == len(messages)
    assert len(streamed) == len(messages)
    assert batch[list(FEATURE_NAMES)].notna().to_numpy().any()
    assert streamed[["sensor_id", "event_timestamp"]].equals(batch[["sensor_id", "event_timestamp"]])
    mismatches = [
        (row, name, streamed.at[row, name], batch.at[row, name])
        for name in FEATURE_NAMES
        for row in range(len(batch))
        if not _same_value(streamed.at[row, name], batch.at[row, name])
    ]
    assert not mismatches, f"{len(mismatches)} streamed values differ from the backfill, first: {mismatches[:5]}"
