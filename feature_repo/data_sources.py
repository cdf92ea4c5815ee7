"""Data sources: tables of the offline store and the push sources the ingester writes to.

Every table source names ``available_at`` as its created-timestamp column: the offline store uses
it as a cut-off, so a training row at time T never sees a value that became readable after T.
"""

from entities import OWNER
from feast import PushSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)

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
