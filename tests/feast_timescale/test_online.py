"""Online store behaviour: materialize, push to both stores, no regression, TTL freshness."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from feast.data_source import PushMode

from aquafs.feast_store import push_to_both_stores
from aquafs.online import read_fresh_features
from tests.conftest import FeastTestStore
from tests.feast_timescale.test_point_in_time import SENSOR_30, SENSOR_60, T0, reading_rows, write_readings

pytestmark = pytest.mark.services


def online_temperature(env: FeastTestStore, sensor_id: str) -> float | None:
    response = env.store.get_online_features(["sensor_readings:water_temp_c"], [{"sensor_id": sensor_id}])
    return response.to_dict()["water_temp_c"][0]


def offline_count(env: FeastTestStore) -> int:
    with env.connect() as conn:
        return conn.execute("SELECT count(*) FROM water_readings").fetchone()[0]


def test_materialize_serves_latest_offline_value(feast_store: FeastTestStore) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, 21.0]))
    write_readings(feast_store, reading_rows(SENSOR_60, [T0 + timedelta(minutes=2), T0], [19.0, 18.0]))

    feast_store.store.materialize(T0 - timedelta(hours=1), T0 + timedelta(hours=1), ["sensor_readings"])

    assert online_temperature(feast_store, SENSOR_30) == 21.0
    assert online_temperature(feast_store, SENSOR_60) == 19.0


def test_stock_push_lands_in_both_stores_once(feast_store: FeastTestStore) -> None:
    frame = reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, 22.5])

    feast_store.store.push("water_readings_push", frame, to=PushMode.ONLINE_AND_OFFLINE)
    feast_store.store.push("water_readings_push", frame, to=PushMode.ONLINE_AND_OFFLINE)

    assert offline_count(feast_store) == 2
    assert online_temperature(feast_store, SENSOR_30) == 22.5


def test_older_push_never_overwrites_newer_online_value(feast_store: FeastTestStore) -> None:
    push_to_both_stores(feast_store.store, "water_readings_push", reading_rows(SENSOR_30, [T0 + timedelta(minutes=5)], [24.0]))

    written = push_to_both_stores(feast_store.store, "water_readings_push", reading_rows(SENSOR_30, [T0], [19.0]))

    assert written == 1
    assert offline_count(feast_store) == 2
    assert online_temperature(feast_store, SENSOR_30) == 24.0


def test_late_reading_after_materialization_reaches_online(feast_store: FeastTestStore) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0], [20.0]))
    feast_store.store.materialize(T0 - timedelta(hours=1), T0 + timedelta(hours=1), ["sensor_readings"])
    # Measured after the last reading but before the materialization's end, and arriving late.
    late = reading_rows(SENSOR_30, [T0 + timedelta(minutes=3)], [23.0], available=[T0 + timedelta(hours=3)])

    push_to_both_stores(feast_store.store, "water_readings_push", late)

    assert online_temperature(feast_store, SENSOR_30) == 23.0


def test_stale_value_is_blanked(feast_store: FeastTestStore) -> None:
    push_to_both_stores(feast_store.store, "water_readings_push", reading_rows(SENSOR_30, [T0], [20.0]))
    rows = [{"sensor_id": SENSOR_30}]

    fresh = read_fresh_features(feast_store.store, ["sensor_readings:water_temp_c"], rows, now=T0 + timedelta(minutes=59))
    stale = read_fresh_features(feast_store.store, ["sensor_readings:water_temp_c"], rows, now=T0 + timedelta(minutes=61))

    assert fresh["water_temp_c"].iloc[0] == 20.0
    assert fresh["sensor_readings__age_seconds"].iloc[0] == 59 * 60
    assert pd.isna(stale["water_temp_c"].iloc[0])
    assert stale["sensor_readings__age_seconds"].iloc[0] == 61 * 60
