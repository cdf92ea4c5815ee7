"""The lean Redis paths against Feast's own: same reads, same hashes, never back in time."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from redis import Redis

from aquafs.redis_online import (
    OnlineReader,
    OnlineWriter,
    _encode_timestamp,
    _timestamp_micros,
    _value_encoder,
)
from tests.conftest import FeastTestStore
from tests.feast_timescale.test_point_in_time import SENSOR_30, SENSOR_60, T0

SENSOR_OTHER_POND = "ku-mwq/pond-2/depth-30cm"
UNKNOWN_SENSOR = "nowhere/pond-0/none"
ROLLING_VIEW = "sensor_rolling_features"


# -------------------------------------------------------------------------------------------------
# Value encoding, no services


@pytest.mark.parametrize(
    ("value_type", "values"),
    [
        (ValueType.DOUBLE, [0.0, -0.0, 1.5, -273.15, 1e300, 5e-324, math.inf, -math.inf, math.nan, None, 7]),
        (ValueType.STRING, ["", "ku-mwq", "pond-ü", "x" * 300, None]),
        (ValueType.INT64, [0, 1, -1, 127, 128, 2**62, -(2**63), 2**63 - 1, None]),
        (ValueType.INT32, [0, 1, -1, 2**31 - 1, -(2**31)]),
        (ValueType.BOOL, [True, False, None]),
        (ValueType.FLOAT, [0.5, None]),
    ],
)
def test_value_encoder_matches_feast(value_type: ValueType, values: list[object]) -> None:
    encode = _value_encoder(value_type)
    for value in values:
        expected = python_values_to_proto_values([value], value_type)[0].SerializeToString()
        assert encode(value) == expected, value


@pytest.mark.parametrize("micros", [0, 1, 999_999, 1_000_000, 1_614_600_000_123_456, 4_102_444_800_000_000])
def test_timestamp_encoding_matches_protobuf(micros: int) -> None:
    stamp = Timestamp(seconds=micros // 1_000_000, nanos=micros % 1_000_000 * 1000)

    assert _encode_timestamp(micros) == stamp.SerializeToString()
    assert _timestamp_micros(stamp.SerializeToString()) == micros


# -------------------------------------------------------------------------------------------------
# Against Redis


@pytest.fixture
def redis_client(feast_store: FeastTestStore) -> Iterator[Redis]:
    client = OnlineWriter(feast_store.store).client
    yield client
    project = feast_store.store.project.encode()
    stale = [key for key in client.scan_iter(count=1000) if key.endswith(project)]
    if stale:
        client.delete(*stale)


def readings_frame(sensors: list[str], start: pd.Timestamp, temps: list[float | None]) -> pd.DataFrame:
    rows = []
    for index, sensor in enumerate(sensors):
        site, pond, _ = sensor.split("/")
        rows.append(
            {
                "site_id": site,
                "pond_id": pond,
                "sensor_id": sensor,
                "event_timestamp": start + timedelta(seconds=37 * index, microseconds=123_457),
                "available_at": start,
                "water_temp_c": temps[index],
                "ph": 7.0 + index / 10,
                "turbidity_ntu": np.nan,
                "dissolved_oxygen_mg_l": 6.25,
                "ammonia_mg_l": None,
                "nitrate_mg_l": 0.0,
            }
        )
    return pd.DataFrame(rows)


def rolling_frame(store_view: object, sensors: list[str], start: pd.Timestamp) -> pd.DataFrame:
    names = [field.name for field in store_view.features]  # type: ignore[attr-defined]
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({name: rng.normal(5, 2, len(sensors)) for name in names})
    frame.iloc[0, :5] = np.nan  # some missing features for the first sensor
    frame.insert(0, "sensor_id", sensors)
    frame["event_timestamp"] = start
    frame["available_at"] = start
    return frame


def pond_frame(store_view: object, ponds: list[tuple[str, str]], start: pd.Timestamp) -> pd.DataFrame:
    frame = pd.DataFrame({"site_id": [site for site, _ in ponds], "pond_id": [pond for _, pond in ponds]})
    for field in store_view.features:  # type: ignore[attr-defined]
        if field.name == "reading_count":
            frame[field.name] = pd.array([120 + i for i in range(len(ponds) - 1)] + [None], dtype="Int64")
        else:
            frame[field.name] = np.linspace(1.0, 2.0, len(ponds))
    frame["event_timestamp"] = start
    frame["available_at"] = start
    return frame


def fill_three_views(env: FeastTestStore) -> None:
    store = env.store
    start = pd.Timestamp(T0)
    store.write_to_online_store(
        "sensor_readings", readings_frame([SENSOR_30, SENSOR_60], start, [21.5, None]), allow_registry_cache=True
    )
    rolling = store.get_feature_view(ROLLING_VIEW)
    store.write_to_online_store(ROLLING_VIEW, rolling_frame(rolling, [SENSOR_30, SENSOR_OTHER_POND], start))
    pond_view = store.get_feature_view("pond_stats_1h")
    store.write_to_online_store("pond_stats_1h", pond_frame(pond_view, [("ku-mwq", "pond-1"), ("ku-mwq", "pond-2")], start))


def entity_rows() -> list[dict[str, str]]:
    rows = []
    for sensor in (SENSOR_30, SENSOR_60, SENSOR_OTHER_POND, UNKNOWN_SENSOR, SENSOR_30):
        site, pond, _ = sensor.split("/")
        rows.append({"sensor_id": sensor, "site_id": site, "pond_id": pond})
    return rows


def feature_refs(env: FeastTestStore) -> list[str]:
    rolling = [field.name for field in env.store.get_feature_view(ROLLING_VIEW).features][:20]
    pond = [field.name for field in env.store.get_feature_view("pond_stats_1h").features]
    return (
        [f"sensor_readings:{name}" for name in ("water_temp_c", "ph", "turbidity_ntu", "ammonia_mg_l", "nitrate_mg_l")]
        + [f"{ROLLING_VIEW}:{name}" for name in rolling]
        + [f"pond_stats_1h:{name}" for name in pond]
    )


@pytest.mark.services
@pytest.mark.parametrize("full_feature_names", [True, False])
def test_reader_returns_what_feast_returns(
    feast_store: FeastTestStore, redis_client: Redis, full_feature_names: bool
) -> None:
    fill_three_views(feast_store)
    refs = feature_refs(feast_store)
    rows = entity_rows()

    expected = feast_store.store.get_online_features(
        features=refs, entity_rows=rows, full_feature_names=full_feature_names
    ).to_dict(include_event_timestamps=True)
    actual = OnlineReader(feast_store.store, refs, full_feature_names=full_feature_names, client=redis_client).read(rows)

    assert sorted(actual) == sorted(expected)
    for column, values in expected.items():
        assert actual[column] == values, column


@pytest.mark.services
def test_reader_misses_are_none_and_zero(feast_store: FeastTestStore, redis_client: Redis) -> None:
    fill_three_views(feast_store)
    rows = entity_rows()

    result = OnlineReader(feast_store.store, feature_refs(feast_store), client=redis_client).read(rows)

    assert result["water_temp_c"][1] is None  # stored as null
    assert result["turbidity_ntu"][0] is None  # NaN written as null
    assert result["water_temp_c"][3] is None  # unknown sensor
    assert result["water_temp_c__ts"][3] == 0
    assert result["water_temp_c__ts"][0] == int(T0.timestamp())
    assert result["reading_count"][0] == 120
    assert result["reading_count"][2] is None  # pond-2 written with a null count


@pytest.mark.services
def test_reader_reads_feature_service_without_on_demand_views(feast_store: FeastTestStore, redis_client: Redis) -> None:
    from feast import FeatureService

    fill_three_views(feast_store)
    views = [feast_store.store.get_feature_view(name) for name in ("sensor_readings", ROLLING_VIEW, "pond_stats_1h")]
    service = FeatureService(name="lean_test", features=views)
    feast_store.store.apply([service])
    rows = entity_rows()

    expected = feast_store.store.get_online_features(features=service, entity_rows=rows).to_dict(
        include_event_timestamps=True
    )
    actual = OnlineReader(feast_store.store, service, client=redis_client).read(rows)

    assert actual == expected


@pytest.mark.services
def test_reader_rejects_on_demand_views(feast_store: FeastTestStore) -> None:
    from aquafs.errors import ConfigError

    service = feast_store.store.get_feature_service("water_quality_inference_v1")

    with pytest.raises(ConfigError, match="on-demand"):
        OnlineReader(feast_store.store, service)


def hashes(client: Redis, project: str) -> dict[bytes, dict[bytes, bytes]]:
    suffix = project.encode()
    return {key: client.hgetall(key) for key in client.scan_iter(count=1000) if key.endswith(suffix)}


def writer_frames(env: FeastTestStore) -> list[tuple[str, pd.DataFrame]]:
    start = pd.Timestamp(T0)
    sensors = [SENSOR_30, SENSOR_60, SENSOR_OTHER_POND]
    # A batch with one sensor twice, the older row last, and a row older than the first batch.
    readings = readings_frame(sensors, start, [20.0, None, 18.5])
    repeat = readings_frame([SENSOR_30, SENSOR_30, SENSOR_60], start + timedelta(minutes=5), [23.0, 22.0, 19.0])
    repeat.loc[1, "event_timestamp"] = start + timedelta(minutes=2)
    older = readings_frame([SENSOR_60], start - timedelta(minutes=30), [5.0])
    rolling = rolling_frame(env.store.get_feature_view(ROLLING_VIEW), sensors, start)
    ponds = pond_frame(env.store.get_feature_view("pond_stats_1h"), [("ku-mwq", "pond-1"), ("udanor", "pond-11")], start)
    return [
        ("sensor_readings", readings),
        ("sensor_readings", repeat),
        ("sensor_readings", older),
        (ROLLING_VIEW, rolling),
        ("pond_stats_1h", ponds),
    ]


@pytest.mark.services
def test_writer_stores_the_same_hashes_as_feast(feast_store: FeastTestStore, redis_client: Redis) -> None:
    project = feast_store.store.project
    frames = writer_frames(feast_store)
    for view_name, frame in frames:
        feast_store.store.write_to_online_store(view_name, frame)
    expected = hashes(redis_client, project)
    redis_client.delete(*expected)

    writer = OnlineWriter(feast_store.store, client=redis_client)
    for view_name, frame in frames:
        writer.write(view_name, frame)
    actual = hashes(redis_client, project)

    assert len(expected) == 5  # three sensors and two ponds
    assert sorted(actual) == sorted(expected)
    for key, fields in expected.items():
        assert actual[key] == fields, key


@pytest.mark.services
def test_writer_never_goes_back_in_time(feast_store: FeastTestStore, redis_client: Redis) -> None:
    writer = OnlineWriter(feast_store.store, client=redis_client)
    start = pd.Timestamp(T0)
    reader = OnlineReader(feast_store.store, ["sensor_readings:water_temp_c"], client=redis_client)

    first = writer.write("sensor_readings", readings_frame([SENSOR_30], start + timedelta(minutes=5), [24.0]))
    older = writer.write("sensor_readings", readings_frame([SENSOR_30], start, [19.0]))
    same = writer.write("sensor_readings", readings_frame([SENSOR_30], start + timedelta(minutes=5), [25.0]))

    assert (first, older, same) == (1, 0, 0)
    assert reader.read([{"sensor_id": SENSOR_30}])["water_temp_c"] == [24.0]


@pytest.mark.services
def test_writer_keeps_newest_row_within_batch(feast_store: FeastTestStore, redis_client: Redis) -> None:
    writer = OnlineWriter(feast_store.store, client=redis_client)
    start = pd.Timestamp(T0)
    batch = readings_frame([SENSOR_30, SENSOR_30, SENSOR_30], start, [20.0, 21.0, 22.0])
    batch["event_timestamp"] = [start + timedelta(minutes=minute) for minute in (1, 9, 4)]

    written = writer.write("sensor_readings", batch)

    result = OnlineReader(feast_store.store, ["sensor_readings:water_temp_c"], client=redis_client).read(
        [{"sensor_id": SENSOR_30}]
    )
    assert written == 2
    assert result["water_temp_c"] == [21.0]
    assert result["water_temp_c__ts"] == [int((start + timedelta(minutes=9)).timestamp())]


@pytest.mark.services
def test_writer_skips_frame_with_only_null_features(feast_store: FeastTestStore, redis_client: Redis) -> None:
    frame = readings_frame([SENSOR_30], pd.Timestamp(T0), [None])
    for column in ("ph", "dissolved_oxygen_mg_l", "nitrate_mg_l", "site_id", "pond_id"):
        frame[column] = None

    written = OnlineWriter(feast_store.store, client=redis_client).write("sensor_readings", frame)

    assert written == 0
    assert hashes(redis_client, feast_store.store.project) == {}


def test_value_proto_of_null_is_empty() -> None:
    # The writer stores nulls as empty bytes because that is what Feast's empty message encodes to.
    assert ValueProto().SerializeToString() == b""
