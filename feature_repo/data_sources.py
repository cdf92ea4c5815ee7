"""Data sources: tables of the offline store and the push sources the ingester writes to.

Every table source names ``available_at`` as its created-timestamp column: the offline store uses
it as a cut-off, so a training row at time T never sees a value that became readable after T.
"""

from entities import OWNER
from feast import Field, PushSource, RequestSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)
from feast.types import Float64, UnixTimestamp

water_readings_source = PostgreSQLSource(
    name="water_readings_source",
    table="water_readings",
    timestamp_field="event_timestamp",
    created_timestamp_column="available_at",
    description="Validated raw readings, one row per logger record (wide: one column per parameter).",
    owner=OWNER,
    tags={"layer": "raw"},
)

water_readings_push = PushSource(
    name="water_readings_push",
    batch_source=water_readings_source,
    description="Live readings pushed by the Kafka ingester to Redis and the offline store.",
    owner=OWNER,
    tags={"layer": "raw", "writer": "ingestion.ingester"},
)


def _pond_stats_query(view: str, bucket: str) -> str:
    # A bucket's statistics are complete only when the bucket ends, so the row's event time is the
    # bucket end: a point-in-time join at T never sees a bucket that was still open at T.
    return (
        f"SELECT *, bucket + INTERVAL '{bucket}' AS event_timestamp FROM {view}"
    )


pond_stats_15m_source = PostgreSQLSource(
    name="pond_stats_15m_source",
    query=_pond_stats_query("pond_stats_15m", "15 minutes"),
    timestamp_field="event_timestamp",
    description="Per-pond mean, min, max and standard deviation per parameter in 15-minute buckets.",
    owner=OWNER,
    tags={"layer": "aggregate", "window": "15m"},
)

pond_stats_1h_source = PostgreSQLSource(
    name="pond_stats_1h_source",
    query=_pond_stats_query("pond_stats_1h", "1 hour"),
    timestamp_field="event_timestamp",
    description="Per-pond mean, min, max and standard deviation per parameter in 1-hour buckets.",
    owner=OWNER,
    tags={"layer": "aggregate", "window": "1h"},
)


sensor_features_source = PostgreSQLSource(
    name="sensor_features_source",
    table="sensor_features",
    timestamp_field="event_timestamp",
    created_timestamp_column="available_at",
    description="Engineered features per reading (transforms.catalog), from the backfill and the ingester.",
    owner=OWNER,
    tags={"layer": "feature"},
)

sensor_features_push = PushSource(
    name="sensor_features_push",
    batch_source=sensor_features_source,
    description="Streamed engineered features pushed by the Kafka ingester.",
    owner=OWNER,
    tags={"layer": "feature", "writer": "ingestion.ingester"},
)

request_context = RequestSource(
    name="request_context",
    schema=[
        Field(name="request_time", dtype=UnixTimestamp, description="When the prediction is requested (UTC)."),
        Field(name="requested_water_temp_c", dtype=Float64, description="A water temperature to project to, °C."),
    ],
    description="Values the caller sends with an online request or puts in the entity frame.",
    owner=OWNER,
    tags={"layer": "request"},
)
