"""The benchmark environment: a throwaway database, a unique Feast project, synthetic readings."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import redis
from feast import FeatureStore
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import (
    PostgreSQLOfflineStore,
    PostgreSQLOfflineStoreConfig,
)
from psycopg import sql

from aquafs.errors import ConfigError
from aquafs.feast_store import FEATURE_REPO, apply_repo, open_store
from aquafs.migrations import apply_migrations
from aquafs.settings import Settings
from feast_timescale.offline_store import connect, write_arrow_table
from transforms.catalog import FEATURES

logger = logging.getLogger(__name__)

READING_COLUMNS = ["water_temp_c", "ph", "turbidity_ntu", "dissolved_oxygen_mg_l", "ammonia_mg_l", "nitrate_mg_l"]
ROLLING_FEATURES = [spec.name for spec in FEATURES if spec.family == "rolling"]
ROLLING_VIEW = "sensor_rolling_features"
# The rolling features that the historical cases request and that the synthetic rows fill.
HISTORICAL_ROLLING_FEATURES = ROLLING_FEATURES[:10]
READINGS_VIEW = "sensor_readings"
SITE_ID = "bench-site"
SENSORS_PER_POND = 4


@dataclass
class BenchEnvironment:
    """A migrated throwaway database with the feature repo applied under a unique project."""

    settings: Settings
    store: FeatureStore
    stock_store: FeatureStore
    redis_client: redis.Redis
    day_start: datetime

    @property
    def project(self) -> str:
        return self.store.project

    def connect(self) -> psycopg.Connection:
        return connect(self.store.config)


@contextlib.contextmanager
def bench_environment(settings: Settings) -> Iterator[BenchEnvironment]:
    """Create the database and project, yield the environment, then drop both.

    The main ``aquafs`` database is never written: everything goes to ``aquafs_bench_<hex>``, which
    is dropped on exit together with the Redis keys of the unique project.
    """
    name = f"aquafs_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    logger.info("created database %s", name)
    client = redis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
    project = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        database = settings.postgres.model_copy(update={"database": name})
        apply_migrations(database)
        local = settings.model_copy(update={"postgres": database})
        store = open_store(local, project=project)
        apply_repo(store)
        day_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        environment = BenchEnvironment(
            settings=local,
            store=store,
            stock_store=_stock_store(store),
            redis_client=client,
            day_start=day_start,
        )
        with environment.connect() as conn:
            # Monthly partitions around every range the benchmarks write, so no row lands in the
            # default partition.
            conn.execute(
                "SELECT aqua_ensure_partitions(%s, %s)",
                (day_start - timedelta(days=62), datetime.now(UTC) + timedelta(days=31)),
            )
            conn.commit()
        yield environment
    finally:
        deleted = _delete_project_keys(client, project)
        logger.info("deleted %d Redis keys of project %s", deleted, project)
        client.close()
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        logger.info("dropped database %s", name)


def _stock_store(store: FeatureStore) -> FeatureStore:
    """Return a store on the same registry and tables whose offline store is Feast's own PostgreSQL one."""
    plugin = store.config.offline_store
    stock_config = PostgreSQLOfflineStoreConfig(
        type="postgres",
        host=plugin.host,
        port=plugin.port,
        database=plugin.database,
        db_schema=plugin.db_schema,
        user=plugin.user,
        password=plugin.password,
        sslmode=plugin.sslmode,
    )
    # RepoConfig keeps the parsed offline config in the private ``_offline_store``, which
    # model_copy carries over, so both the field and the cache must be replaced.
    config = store.config.model_copy(update={"offline_config": stock_config})
    config._offline_store = stock_config
    stock = FeatureStore(repo_path=str(FEATURE_REPO), config=config)
    offline_store = stock._get_provider().offline_store  # type: ignore[attr-defined]
    if type(offline_store) is not PostgreSQLOfflineStore:
        message = f"the reference store uses {type(offline_store).__name__}, expected PostgreSQLOfflineStore"
        raise ConfigError(message)
    return stock


def _delete_project_keys(client: redis.Redis, project: str) -> int:
    # Feast's Redis keys end with the project name, so only this run's keys match.
    suffix = project.encode()
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=b"*" + suffix, count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


# -------------------------------------------------------------------------------------------------
# Synthetic data


def sensor_ids(count: int, prefix: str = SITE_ID) -> list[str]:
    """Return ``count`` sensor ids of the form ``site/pond-N/probe-M``, four probes per pond."""
    return [f"{prefix}/pond-{index // SENSORS_PER_POND}/probe-{index % SENSORS_PER_POND}" for index in range(count)]


def synthetic_readings(
    sensors: list[str], start: datetime, minutes: int, *, seed: int = 7, source: str = "benchmark"
) -> pd.DataFrame:
    """Build one reading per sensor per minute, with diurnal temperature and oxygen cycles.

    ``available_at`` equals ``event_timestamp``, as for the history loader, so a point-in-time join
    and a plain as-of join must return the same rows.
    """
    rng = np.random.default_rng(seed)
    count = len(sensors) * minutes
    sensor_column = np.repeat(np.array(sensors, dtype=object), minutes)
    offsets = np.tile(np.arange(minutes, dtype=np.int64), len(sensors))
    stamps = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="min")
    hours = (stamps.hour + stamps.minute / 60).to_numpy()
    daily = np.sin((hours - 9) / 24 * 2 * np.pi)
    ponds = np.array([sensor.split("/")[1] for sensor in sensors], dtype=object)
    frame = pd.DataFrame(
        {
            "site_id": np.full(count, sensors[0].split("/")[0], dtype=object),
            "pond_id": np.repeat(ponds, minutes),
            "sensor_id": sensor_column,
            "event_timestamp": stamps,
            "available_at": stamps,
            "water_temp_c": 27 + 1.5 * daily + rng.normal(0, 0.2, count),
            "ph": 7.3 + 0.25 * daily + rng.normal(0, 0.05, count),
            "turbidity_ntu": rng.lognormal(2.3, 0.3, count),
            "dissolved_oxygen_mg_l": 6.5 + 1.8 * daily + rng.normal(0, 0.3, count),
            "ammonia_mg_l": rng.gamma(2.0, 0.08, count),
            "nitrate_mg_l": rng.uniform(5, 20, count),
            "source": np.full(count, source, dtype=object),
        }
    )
    return frame


def synthetic_rolling_features(readings: pd.DataFrame, feature_names: list[str], *, seed: int = 11) -> pd.DataFrame:
    """Build ``sensor_features`` rows for the readings, filling only ``feature_names`` (others stay NULL)."""
    rng = np.random.default_rng(seed)
    frame = readings[["site_id", "pond_id", "sensor_id", "event_timestamp", "available_at"]].copy()
    for name in feature_names:
        frame[name] = rng.normal(10, 3, len(frame))
    return frame


def load_table(environment: BenchEnvironment, table: str, frame: pd.DataFrame) -> int:
    """Write ``frame`` into ``table`` with the plugin's COPY writer; return how many rows were new."""
    with environment.connect() as conn:
        written = write_arrow_table(conn, table, pa.Table.from_pandas(frame, preserve_index=False))
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        conn.commit()
    return written
