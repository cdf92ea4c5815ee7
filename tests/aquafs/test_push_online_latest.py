"""push_to_both_stores writes only the newest row per entity online; Redis must end as before."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from aquafs.feast_store import push_to_both_stores
from tests.conftest import FeastTestStore
from tests.feast_timescale.test_point_in_time import SENSOR_30, SENSOR_60, T0, reading_rows

pytestmark = pytest.mark.services


def online_temperature(env: FeastTestStore, sensor_id: str) -> float | None:
    response = env.store.get_online_features(["sensor_readings:water_temp_c"], [{"sensor_id": sensor_id}])
    return response.to_dict()["water_temp_c"][0]


def offline_count(env: FeastTestStore) -> int:
    with env.connect() as conn:
        return conn.execute("SELECT count(*) FROM water_readings").fetchone()[0]


def test_unordered_frame_serves_newest_per_sensor(feast_store: FeastTestStore) -> None:
    minutes = [timedelta(minutes=offset) for offset in (0, 4, 2)]
    frame = pd.concat([
        reading_rows(SENSOR_30, [T0 + offset for offset in minutes], [20.0, 24.0, 22.0]),
        reading_rows(SENSOR_60, [T0 + offset for offset in reversed(minutes)], [12.0, 14.0, 10.0]),
    ])

    written = push_to_both_stores(feast_store.store, "water_readings_push", frame)

    assert written == 6
    assert offline_count(feast_store) == 6
    assert online_temperature(feast_store, SENSOR_30) == 24.0
    assert online_temperature(feast_store, SENSOR_60) == 14.0


def test_equal_event_times_keep_first_row_online(feast_store: FeastTestStore) -> None:
    frame = reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)], [20.0, 21.0, 29.0])

    push_to_both_stores(feast_store.store, "water_readings_push", frame)

    # OnlineWriter skips a row not newer than one it already wrote, so the first of equal times stays.
    assert online_temperature(feast_store, SENSOR_30) == 21.0
