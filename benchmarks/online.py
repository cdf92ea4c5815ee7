"""Online-store cases: Feast reads and pushes against pipelined redis-py commands on the same keys."""

from __future__ import annotations

import gc
import logging
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
from feast.data_source import PushMode
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp

from aquafs.feast_store import push_to_both_stores
from aquafs.redis_online import OnlineReader, OnlineWriter
from benchmarks.environment import (
    READING_COLUMNS,
    READINGS_VIEW,
    ROLLING_FEATURES,
    ROLLING_VIEW,
    BenchEnvironment,
    sensor_ids,
    synthetic_readings,
)
from benchmarks.timing import latency_summary, rate_summary, time_calls

logger = logging.getLogger(__name__)

READINGS_PUSH_SOURCE = "water_readings_push"
# The string features of sensor_readings; the rest are doubles.
READING_STRING_FEATURES = ("site_id", "pond_id")


def redis_key(environment: BenchEnvironment, sensor_id: str) -> bytes:
    """Return Feast's Redis key of a sensor: serialized entity key followed by the project name."""
    entity_key = EntityKeyProto(join_keys=["sensor_id"], entity_values=[ValueProto(string_val=sensor_id)])
    return _redis_key(
        environment.project, entity_key, entity_key_serialization_version=environment.store.config.entity_key_serialization_version
    )


def field_keys(view: str, features: list[str]) -> list[bytes]:
    """Return the hash fields Feast reads for ``features`` of ``view``, timestamp field last."""
    return [_mmh3(f"{view}:{name}") for name in features] + [f"_ts:{view}".encode()]


# -------------------------------------------------------------------------------------------------
# Reads


def run_online_reads(environment: BenchEnvironment, calls: int) -> list[dict[str, Any]]:
    """Time get_online_features (with ``to_dict``), OnlineReader and the raw pipelined HMGET for three shapes."""
    sensors = sensor_ids(100, prefix="bench-online")
    now = pd.Timestamp.now(tz="UTC").floor("s")
    rng = np.random.default_rng(3)
    values = {name: rng.normal(10, 3, len(sensors)) for name in ROLLING_FEATURES}
    rows = pd.DataFrame({"sensor_id": sensors, "event_timestamp": now, "available_at": now, **values})
    environment.store.write_to_online_store(ROLLING_VIEW, rows)

    results = []
    for entity_count, feature_count in ((1, 10), (1, 30), (100, 30)):
        features = ROLLING_FEATURES[:feature_count]
        refs = [f"{ROLLING_VIEW}:{name}" for name in features]
        entity_rows = [{"sensor_id": sensor} for sensor in sensors[:entity_count]]
        chosen = sensors[:entity_count]

        def feast_read(refs: list[str] = refs, entity_rows: list[dict[str, str]] = entity_rows) -> dict[str, Any]:
            return environment.store.get_online_features(features=refs, entity_rows=entity_rows).to_dict()

        def raw_read(chosen: list[str] = chosen, features: list[str] = features) -> list[Any]:
            fields = field_keys(ROLLING_VIEW, features)
            with environment.redis_client.pipeline(transaction=False) as pipe:
                for sensor in chosen:
                    pipe.hmget(redis_key(environment, sensor), fields)
                return pipe.execute()

        lean_reader = OnlineReader(environment.store, refs, client=environment.redis_client)

        def lean_read(entity_rows: list[dict[str, str]] = entity_rows, reader: OnlineReader = lean_reader) -> dict[str, Any]:
            return reader.read(entity_rows)

        missing = _count_missing(feast_read(), raw_read(), features)
        missing += _count_missing(lean_read(), [], features)
        feast = latency_summary(time_calls(feast_read, calls, warmup=20))
        raw = latency_summary(time_calls(raw_read, calls, warmup=20))
        lean = latency_summary(time_calls(lean_read, calls, warmup=20))
        # Full collections of the large Feast heap cause the p99 outliers. gc.freeze() moves every
        # object alive now out of the collector's reach, as a serving process could after start-up.
        gc.collect()
        gc.freeze()
        try:
            feast_frozen = latency_summary(time_calls(feast_read, calls, warmup=20))
        finally:
            gc.unfreeze()
        results.append(
            {
                "case": f"{entity_count} entity x {feature_count} features",
                "entities": entity_count,
                "features": feature_count,
                "feast": feast,
                "raw_hmget": raw,
                "feast_gc_frozen": feast_frozen,
                "lean_reader": lean,
                "lean_p99_ratio": lean["p99_ms"] / raw["p99_ms"],
                "lean_p50_ratio": lean["p50_ms"] / raw["p50_ms"],
                "p99_ratio_gc_frozen": feast_frozen["p99_ms"] / raw["p99_ms"],
                "p99_ratio": feast["p99_ms"] / raw["p99_ms"],
                "p50_ratio": feast["p50_ms"] / raw["p50_ms"],
                "missing_values": missing,
            }
        )
    return results


def _count_missing(feast_values: dict[str, Any], raw_values: list[Any], features: list[str]) -> int:
    # Both paths must have found every value; a benchmark over empty hashes would measure nothing.
    missing = sum(value is None for name in features for value in feast_values[name])
    missing += sum(value is None for reply in raw_values for value in reply)
    return missing


# -------------------------------------------------------------------------------------------------
# Writes


class _Clock:
    """Hands out distinct minutes, so no write is skipped as older than what Redis already holds."""

    def __init__(self, start: datetime) -> None:
        self.next_start = start

    def take(self, minutes: int) -> datetime:
        start = self.next_start
        self.next_start = start + timedelta(minutes=minutes)
        return start


def run_online_writes(environment: BenchEnvironment, plan: dict[int, int]) -> list[dict[str, Any]]:
    """Time rows/s of four writers for each ``batch size -> runs`` entry of ``plan``.

    Every batch contains one reading per sensor at a new minute: Feast's push, ``push_to_both_stores``
    (offline COPY, then online), a raw pipeline of one HSET per row with Feast's serialization, and
    ``OnlineWriter`` alone (stored-timestamp read, then HSET).
    """
    clock = _Clock(environment.day_start - timedelta(days=40))
    lean_writer = OnlineWriter(environment.store, client=environment.redis_client)
    results = []
    for batch_size, runs in plan.items():
        sensors = sensor_ids(batch_size, prefix="bench-push")

        def next_batch(sensors: list[str] = sensors) -> pd.DataFrame:
            return synthetic_readings(sensors, clock.take(1), 1, source="benchmark-push")

        writers = {
            "feast_push_online": lambda frame: environment.store.push(
                READINGS_PUSH_SOURCE, frame, to=PushMode.ONLINE
            ),
            "push_to_both_stores": lambda frame: push_to_both_stores(
                environment.store, READINGS_PUSH_SOURCE, frame
            ),
            "raw_pipelined_hset": lambda frame: raw_hset(environment, frame),
            "lean_writer": lambda frame: lean_writer.write(READINGS_VIEW, frame),
        }
        entry: dict[str, Any] = {"case": f"batch of {batch_size}", "batch_size": batch_size}
        for name, writer in writers.items():
            frames = [next_batch() for _ in range(runs + 1)]
            writer(frames[0])  # warm-up
            durations = []
            for frame in frames[1:]:
                durations.append(_timed(writer, frame))
            entry[name] = rate_summary(batch_size, durations)
        raw_rate = entry["raw_pipelined_hset"]["median_rows_per_s"]
        entry["push_share_of_raw"] = entry["feast_push_online"]["median_rows_per_s"] / raw_rate
        entry["both_share_of_raw"] = entry["push_to_both_stores"]["median_rows_per_s"] / raw_rate
        entry["lean_share_of_raw"] = entry["lean_writer"]["median_rows_per_s"] / raw_rate
        results.append(entry)
    return results


def _timed(writer: Any, frame: pd.DataFrame) -> float:
    started = perf_counter()
    writer(frame)
    return perf_counter() - started


def raw_hset(environment: BenchEnvironment, frame: pd.DataFrame) -> None:
    """Write ``frame`` to the sensor_readings hashes with one pipelined HSET per row.

    Keys, fields and protobuf values are built as Feast builds them, but without Feast's read of
    the stored timestamps before writing.
    """
    ts_field = f"_ts:{READINGS_VIEW}".encode()
    features = [*READING_STRING_FEATURES, *READING_COLUMNS]
    fields = field_keys(READINGS_VIEW, features)[:-1]
    columns = [frame[name].tolist() for name in features]
    stamps = frame["event_timestamp"].tolist()
    with environment.redis_client.pipeline(transaction=False) as pipe:
        for row, sensor in enumerate(frame["sensor_id"].tolist()):
            stamp = Timestamp()
            stamp.FromDatetime(stamps[row].to_pydatetime())
            mapping: dict[bytes, bytes] = {ts_field: stamp.SerializeToString()}
            for index, field in enumerate(fields):
                value = columns[index][row]
                if index < len(READING_STRING_FEATURES):
                    proto = ValueProto(string_val=value)
                else:
                    proto = ValueProto(double_val=value)
                mapping[field] = proto.SerializeToString()
            pipe.hset(redis_key(environment, sensor), mapping=mapping)
        pipe.execute()
