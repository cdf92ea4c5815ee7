"""aqua_health_score and aqua_reading_anomalies on known inputs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.sql.conftest import InsertReading

pytestmark = pytest.mark.services

SENSOR = "ku-mwq/pond-1/depth-30cm"
NAN = float("nan")

# (water_temp_c, ph, dissolved_oxygen_mg_l, ammonia_mg_l, nitrate_mg_l, turbidity_ntu) -> score
HEALTH_CASES = [
    ("all ideal", (27, 7.5, 8, 0.1, 10, 20), 100.0),
    ("nothing measured", (None, None, None, None, None, None), None),
    ("only NaN", (NAN, None, None, None, None, None), None),
    ("temp at ideal edge", (24, None, None, None, None, None), 100.0),
    ("temp halfway below", (18, None, None, None, None, None), 50.0),
    ("temp halfway above", (33, None, None, None, None, None), 50.0),
    ("temp at tolerable edge", (12, None, None, None, None, None), 0.0),
    ("temp beyond tolerable", (40, None, None, None, None, None), 0.0),
    ("ph halfway above", (None, 9.25, None, None, None, None), 50.0),
    ("oxygen halfway below", (None, None, 3.5, None, None, None), 50.0),
    ("ammonia zero ideal", (None, None, None, 0, None, None), 100.0),
    ("ammonia halfway", (None, None, None, 1.75, None, None), 50.0),
    ("nitrate halfway", (None, None, None, None, 125, None), 50.0),
    ("turbidity halfway", (None, None, None, None, None, 240), 50.0),
    # temp 18 -> 0.5 (weight 2), oxygen 20 -> 0 (weight 3): 100 * 1 / 5.
    ("weights", (18, None, 20, None, None, None), 20.0),
    # KU-MWQ last 30 cm row: temp 21.31 -> 0.7758 (w2), pH 7.51 -> 1 (w2), turbidity 212 -> 0.5875 (w1).
    ("ku-mwq row", (21.31, 7.51, None, None, None, 212), 100 * (2 * 9.31 / 12 + 2 + 188 / 320) / 5),
    ("NaN ignored", (27, NAN, None, None, None, None), 100.0),
]


@pytest.mark.parametrize(
    ("values", "expected"), [c[1:] for c in HEALTH_CASES], ids=[c[0] for c in HEALTH_CASES]
)
def test_health_score_known_values(
    read_only_conn: psycopg.Connection, values: tuple, expected: float | None
) -> None:
    row = read_only_conn.execute(
        "SELECT aqua_health_score(%s::float8, %s::float8, %s::float8, %s::float8, %s::float8, %s::float8)",
        values,
    ).fetchone()
    assert row is not None
    if expected is None:
        assert row[0] is None
    else:
        assert row[0] == pytest.approx(expected, abs=1e-9)


def test_health_score_is_immutable(read_only_conn: psycopg.Connection) -> None:
    volatility = read_only_conn.execute(
        "SELECT provolatile FROM pg_proc WHERE proname = 'aqua_health_score'"
    ).fetchone()
    assert volatility == ("i",)


def _minute_series(insert_reading: InsertReading, values: list[float]) -> list[datetime]:
    start = datetime(2024, 1, 10, 8, 0, tzinfo=UTC)
    moments = [start + timedelta(minutes=index) for index in range(len(values))]
    for moment, value in zip(moments, values, strict=True):
        insert_reading(SENSOR, moment, water_temp_c=value)
    return moments


def test_anomalies_report_only_spike(conn: psycopg.Connection, insert_reading: InsertReading) -> None:
    values = [20.0 + 0.1 * (index % 3) for index in range(120)]
    values[80] = 30.0
    moments = _minute_series(insert_reading, values)

    rows = conn.execute(
        "SELECT event_timestamp, value, window_median, window_mad, robust_z, window_readings "
        "FROM aqua_reading_anomalies(%s, 'water_temp_c', INTERVAL '1 hour', 3.5)",
        (SENSOR,),
    ).fetchall()

    assert [row[0] for row in rows] == [moments[80]]
    _, value, median, mad, robust_z, count = rows[0]
    assert value == 30.0
    assert median == pytest.approx(20.1)
    assert mad == pytest.approx(0.1)
    assert robust_z == pytest.approx((30.0 - 20.1) / (1.4826 * 0.1))
    assert count == 60


def test_anomalies_flat_line_then_step_is_infinite(
    conn: psycopg.Connection, insert_reading: InsertReading
) -> None:
    values = [21.0] * 30 + [21.5]
    moments = _minute_series(insert_reading, values)

    rows = conn.execute(
        "SELECT event_timestamp, robust_z FROM aqua_reading_anomalies(%s, 'water_temp_c', INTERVAL '1 hour', 3.5)",
        (SENSOR,),
    ).fetchall()

    assert rows == [(moments[-1], math.inf)]


def test_anomalies_need_min_readings(conn: psycopg.Connection, insert_reading: InsertReading) -> None:
    _minute_series(insert_reading, [20.0] * 5 + [30.0])
    rows = conn.execute(
        "SELECT * FROM aqua_reading_anomalies(%s, 'water_temp_c', INTERVAL '1 hour', 3.5)", (SENSOR,)
    ).fetchall()
    assert rows == []


@pytest.mark.parametrize("parameter", ["water_temp_c; DROP TABLE water_readings", "source", "", None])
def test_anomalies_reject_unknown_parameter(
    read_only_conn: psycopg.Connection, parameter: str | None
) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown parameter"):
        read_only_conn.execute(
            "SELECT * FROM aqua_reading_anomalies(%s, %s, INTERVAL '1 hour', 3.5)", (SENSOR, parameter)
        )
    assert read_only_conn.execute("SELECT to_regclass('water_readings')").fetchone() == ("water_readings",)


def test_health_view_uses_latest_reading(conn: psycopg.Connection, insert_reading: InsertReading) -> None:
    conn.execute("SELECT aqua_ensure_partitions('2024-01-01 00:00+00', '2024-01-31 00:00+00')")
    insert_reading(SENSOR, datetime(2024, 1, 10, 8, 0, tzinfo=UTC), water_temp_c=40.0)
    insert_reading(SENSOR, datetime(2024, 1, 10, 8, 1, tzinfo=UTC), water_temp_c=27.0)

    rows = conn.execute(
        "SELECT site_id, pond_id, sensor_id, water_temp_c, health_score FROM pond_health_latest"
    ).fetchall()

    assert rows == [("ku-mwq", "pond-1", SENSOR, 27.0, 100.0)]
