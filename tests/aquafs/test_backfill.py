"""Backfill of sensor_features: batch transforms over stored readings, idempotent."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from aquafs.backfill import backfill_features
from tests.conftest import FeastTestStore
from tests.feast_timescale.test_point_in_time import SENSOR_30, SENSOR_60, T0, reading_rows, write_readings

pytestmark = pytest.mark.services


def test_backfill_writes_one_row_per_reading_once(feast_store: FeastTestStore) -> None:
    stamps = [T0 + timedelta(minutes=minute) for minute in range(90)]
    write_readings(feast_store, reading_rows(SENSOR_30, stamps, list(np.linspace(20, 22, 90))))
    write_readings(feast_store, reading_rows(SENSOR_60, stamps[:30], [19.0] * 30))

    with feast_store.connect() as conn:
        first = backfill_features(conn)
        second = backfill_features(conn)
        stored = conn.execute(
            "SELECT count(*), count(water_temp_mean_1h_c) FROM sensor_features WHERE sensor_id = %s", (SENSOR_30,)
        ).fetchone()

    assert first == 120
    assert second == 0
    assert stored == (90, 90)


def test_backfill_completes_a_sensor_with_new_readings(feast_store: FeastTestStore) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, 21.0]))
    with feast_store.connect() as conn:
        backfill_features(conn)
    write_readings(feast_store, reading_rows(SENSOR_30, [T0 + timedelta(minutes=2)], [22.0]))

    with feast_store.connect() as conn:
        added = backfill_features(conn)
        mean = conn.execute(
            "SELECT water_temp_mean_15m_c FROM sensor_features WHERE event_timestamp = %s", (T0 + timedelta(minutes=2),)
        ).fetchone()

    assert added == 1
    assert mean == (21.0,)
