"""Plain-PostgreSQL variant: monthly partitions, the default partition, retention, aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from aquafs.migrations import refresh_aggregates, schema_flavour
from aquafs.settings import PostgresSettings
from tests.sql.conftest import InsertReading

pytestmark = pytest.mark.services

SENSOR = "ku-mwq/pond-1/depth-30cm"
OTHER_SENSOR = "ku-mwq/pond-1/depth-60cm"


def _partition_of(conn: psycopg.Connection, sensor_id: str, event_timestamp: datetime) -> str:
    row = conn.execute(
        "SELECT tableoid::regclass::text FROM water_readings WHERE sensor_id = %s AND event_timestamp = %s",
        (sensor_id, event_timestamp),
    ).fetchone()
    assert row is not None, f"reading of {sensor_id} at {event_timestamp} not found"
    return str(row[0])


def _partitions(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """
        SELECT child.relname FROM pg_inherits
        JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
        WHERE pg_inherits.inhparent = 'water_readings'::regclass ORDER BY 1
        """
    ).fetchall()
    return [name for (name,) in rows]


def test_schema_uses_postgres_variant(conn: psycopg.Connection) -> None:
    assert schema_flavour(conn) == "postgres"


def test_ensure_partitions_creates_months_ahead(conn: psycopg.Connection) -> None:
    created = conn.execute(
        "SELECT aqua_ensure_partitions(%s, %s)",
        (datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)),
    ).fetchone()
    repeated = conn.execute(
        "SELECT aqua_ensure_partitions(%s, %s)",
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 31, tzinfo=UTC)),
    ).fetchone()

    assert created == (3,)
    assert repeated == (0,)
    assert _partitions(conn) == [
        "water_readings_default",
        "water_readings_p202401",
        "water_readings_p202402",
        "water_readings_p202403",
    ]


def test_rows_land_in_their_month(conn: psycopg.Connection, insert_reading: InsertReading) -> None:
    conn.execute("SELECT aqua_ensure_partitions('2024-01-01 00:00+00', '2024-02-29 00:00+00')")
    # 23:30 on 31 January at UTC-5 is 04:30 on 1 February in UTC, and months follow UTC.
    late_january_local = datetime(2024, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    insert_reading(SENSOR, datetime(2024, 1, 1, 0, 0, tzinfo=UTC), water_temp_c=20.0)
    insert_reading(SENSOR, late_january_local, water_temp_c=21.0)

    assert _partition_of(conn, SENSOR, datetime(2024, 1, 1, 0, 0, tzinfo=UTC)) == "water_readings_p202401"
    assert _partition_of(conn, SENSOR, late_january_local) == "water_readings_p202402"


def test_default_partition_catches_rows_without_month(
    conn: psycopg.Connection, insert_reading: InsertReading
) -> None:
    far_future = datetime(2099, 5, 17, 8, 0, tzinfo=UTC)
    far_past = datetime(1990, 2, 1, 8, 0, tzinfo=UTC)
    insert_reading(SENSOR, far_future, ph=7.0)
    insert_reading(SENSOR, far_past, ph=7.1)

    assert _partition_of(conn, SENSOR, far_future) == "water_readings_default"
    assert _partition_of(conn, SENSOR, far_past) == "water_readings_default"


def test_new_partition_takes_rows_from_default(
    conn: psycopg.Connection, insert_reading: InsertReading
) -> None:
    stranded = datetime(2099, 5, 17, 8, 0, tzinfo=UTC)
    insert_reading(SENSOR, stranded, ph=7.0, turbidity_ntu=140.0)

    created = conn.execute("SELECT aqua_ensure_partitions(%s, %s)", (stranded, stranded)).fetchone()

    assert created == (1,)
    assert _partition_of(conn, SENSOR, stranded) == "water_readings_p209905"
    row = conn.execute(
        "SELECT ph, turbidity_ntu FROM water_readings WHERE sensor_id = %s", (SENSOR,)
    ).fetchone()
    assert row == (7.0, 140.0)


def test_duplicate_reading_ignored_on_conflict(
    conn: psycopg.Connection, insert_reading: InsertReading
) -> None:
    moment = datetime(2024, 1, 5, tzinfo=UTC)
    insert_reading(SENSOR, moment, ph=7.0)
    result = conn.execute(
        """
        INSERT INTO water_readings (site_id, pond_id, sensor_id, event_timestamp, available_at, ph, source)
        VALUES ('ku-mwq', 'pond-1', %s, %s, %s, 9.0, 'test')
        ON CONFLICT (sensor_id, event_timestamp) DO NOTHING
        """,
        (SENSOR, moment, moment),
    )
    assert result.rowcount == 0
    assert conn.execute("SELECT ph FROM water_readings").fetchall() == [(7.0,)]


def test_drop_partitions_older_than(conn: psycopg.Connection, insert_reading: InsertReading) -> None:
    old = datetime(2001, 3, 10, tzinfo=UTC)
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    conn.execute("SELECT aqua_ensure_partitions(%s, %s)", (old, old))
    conn.execute("SELECT aqua_ensure_partitions(%s, %s)", (recent, recent))
    insert_reading(SENSOR, old, ph=7.0)
    insert_reading(SENSOR, recent, ph=7.2)
    insert_reading(SENSOR, datetime(1990, 1, 1, tzinfo=UTC), ph=7.4)  # default partition

    dropped = conn.execute("SELECT aqua_drop_partitions_older_than(INTERVAL '10 years')").fetchone()

    assert dropped == (1,)
    assert "water_readings_p200103" not in _partitions(conn)
    assert conn.execute("SELECT ph FROM water_readings").fetchall() == [(7.2,)]


def test_aggregates_match_group_by(conn: psycopg.Connection, insert_reading: InsertReading) -> None:
    conn.execute("SELECT aqua_ensure_partitions('2024-01-01 00:00+00', '2024-01-31 00:00+00')")
    start = datetime(2024, 1, 10, 9, 50, tzinfo=UTC)
    for minute in range(0, 95, 7):
        moment = start + timedelta(minutes=minute)
        insert_reading(SENSOR, moment, water_temp_c=20 + minute / 10, ph=7 + (minute % 3) / 10)
        insert_reading(OTHER_SENSOR, moment + timedelta(seconds=30), water_temp_c=22 - minute / 20)
    insert_reading("udanor-aquaponics/pond-11/node-1", start, water_temp_c=26.0, nitrate_mg_l=300.0)

    refresh_aggregates(conn)

    for view, seconds in (("pond_stats_15m", 900), ("pond_stats_1h", 3600)):
        expected = conn.execute(
            """
            SELECT site_id, pond_id,
                   to_timestamp(floor(extract(epoch FROM event_timestamp) / %(s)s) * %(s)s) AS bucket,
                   count(*), avg(water_temp_c), min(water_temp_c), max(water_temp_c), stddev_samp(water_temp_c),
                   avg(ph), min(ph), max(ph), stddev_samp(ph), avg(nitrate_mg_l)
            FROM water_readings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """,
            {"s": seconds},
        ).fetchall()
        actual = conn.execute(
            psycopg.sql.SQL(
                """
                SELECT site_id, pond_id, bucket, reading_count,
                       water_temp_c_mean, water_temp_c_min, water_temp_c_max, water_temp_c_stddev,
                       ph_mean, ph_min, ph_max, ph_stddev, nitrate_mg_l_mean
                FROM {} ORDER BY 1, 2, 3
                """
            ).format(psycopg.sql.Identifier(view))
        ).fetchall()
        assert len(actual) == len(expected), view
        for actual_row, expected_row in zip(actual, expected, strict=True):
            assert actual_row[:4] == expected_row[:4], view
            assert actual_row[4:] == pytest.approx(expected_row[4:], nan_ok=True), view


def test_refresh_inside_transaction_on_postgres(
    migrated_database: PostgresSettings, insert_reading: InsertReading
) -> None:
    insert_reading(SENSOR, datetime(2024, 1, 10, 9, 50, tzinfo=UTC), ph=7.0)
    with psycopg.connect(migrated_database.conninfo()) as tx_conn:
        refresh_aggregates(tx_conn)
        rows = tx_conn.execute("SELECT reading_count FROM pond_stats_1h").fetchall()
    assert rows == [(1,)]
