"""History loader on the real bundled data: exact counts, idempotence, parsed timestamps."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from aquafs.migrations import apply_migrations
from aquafs.settings import PostgresSettings, Settings
from ingestion.loader import LoadResult, load_history
from ingestion.sources import iter_dataset_rows

pytestmark = pytest.mark.services

# Data lines per file (headers excluded), as stated in each dataset's SOURCE.md.
LINES_PER_FILE = {
    "ku_mwq_fish_pond_depths/sensor_data_30cm.csv": 9623,
    "ku_mwq_fish_pond_depths/sensor_data_60cm.csv": 9623,
    "sensor_aquaponics_fish_ponds/IoTPond11.csv": 3165,
    "sensor_aquaponics_fish_ponds/IoTPond12.csv": 3590,
}
# Part B rows (date without time): 2,538 in pond 11 and 3,564 in pond 12 (SOURCE.md).
DATE_ONLY_ROWS = 2538 + 3564
# Part A rows of pond 11 with ammonia > 100, oxygen > 25 or nitrate > 1000 (the first failing field).
OUT_OF_RANGE_ROWS = 510


class LoadedDatabase:
    def __init__(
        self, database: PostgresSettings, first: LoadResult, second: LoadResult, rejected_after_first: int
    ):
        self.database = database
        self.first = first
        self.second = second
        self.rejected_after_first = rejected_after_first

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database.conninfo()) as conn:
            return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def loaded(settings: Settings, data_dir: Path) -> Iterator[LoadedDatabase]:
    """One migrated database, loaded twice with the real data; shared by this module's read-only tests."""
    name = f"aquafs_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = settings.postgres.model_copy(update={"database": name})
    try:
        apply_migrations(database)
        first = load_history(database, data_dir)
        with psycopg.connect(database.conninfo()) as conn:
            rejected_after_first = conn.execute("SELECT count(*) FROM rejected_readings").fetchone()[0]  # type: ignore[index]
        second = load_history(database, data_dir)
        yield LoadedDatabase(database, first, second, rejected_after_first)
    finally:
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_first_load_accounts_for_every_line(loaded: LoadedDatabase) -> None:
    result = loaded.first
    assert dict(result.lines_per_file) == LINES_PER_FILE
    assert result.rows_read == sum(LINES_PER_FILE.values())
    assert result.rows_loaded + result.rows_rejected == result.rows_read
    assert result.rows_already_present == 0
    assert dict(result.rejected_by_reason) == {
        "out_of_range": OUT_OF_RANGE_ROWS,
        "timestamp_without_time": DATE_ONLY_ROWS,
    }
    assert result.rows_loaded == 2 * 9623 + (627 - OUT_OF_RANGE_ROWS) + 26
    assert result.rejections_recorded == result.rows_rejected


def test_tables_hold_the_reported_counts(loaded: LoadedDatabase) -> None:
    per_sensor = dict(loaded.query("SELECT sensor_id, count(*) FROM water_readings GROUP BY 1"))
    assert per_sensor == {
        "ku-mwq/pond-1/depth-30cm": 9623,
        "ku-mwq/pond-1/depth-60cm": 9623,
        "udanor-aquaponics/pond-11/node-1": 627 - OUT_OF_RANGE_ROWS,
        "udanor-aquaponics/pond-12/node-1": 26,
    }
    assert loaded.query("SELECT count(*) FROM rejected_readings") == [(loaded.first.rows_rejected,)]


def test_second_load_adds_nothing(loaded: LoadedDatabase) -> None:
    second = loaded.second
    assert second.rows_read == loaded.first.rows_read
    assert second.rows_loaded == 0
    assert second.rows_already_present == loaded.first.rows_loaded
    assert second.rejected_by_reason == loaded.first.rejected_by_reason
    assert second.rejections_recorded == 0
    assert loaded.query("SELECT count(*) FROM rejected_readings") == [(loaded.rejected_after_first,)]


def test_audit_row_per_load(loaded: LoadedDatabase) -> None:
    rows = loaded.query(
        "SELECT batch_id, job, rows_read, rows_written, rows_rejected, rows_duplicate "
        "FROM ingestion_audit ORDER BY started_at"
    )
    first, second = loaded.first, loaded.second
    assert rows == [
        (first.batch_id, "history_load", first.rows_read, first.rows_loaded, first.rows_rejected, 0),
        (second.batch_id, "history_load", second.rows_read, 0, second.rows_rejected, first.rows_loaded),
    ]


@pytest.mark.parametrize(
    ("sensor_id", "expected"),
    [
        # Line 258 of both KU-MWQ files: 2020-01-15 20:22:56 local (UTC+6), out of order in the file.
        ("ku-mwq/pond-1/depth-30cm", (18.63, 8.08, 196.0, None)),
        ("ku-mwq/pond-1/depth-60cm", (21.96, None, 134.0, None)),
    ],
)
def test_out_of_order_ku_mwq_row(loaded: LoadedDatabase, sensor_id: str, expected: tuple) -> None:
    rows = loaded.query(
        "SELECT water_temp_c, ph, turbidity_ntu, dissolved_oxygen_mg_l, available_at, source FROM water_readings "
        "WHERE sensor_id = %s AND event_timestamp = %s",
        (sensor_id, datetime(2020, 1, 15, 14, 22, 56, tzinfo=UTC)),
    )
    assert len(rows) == 1
    assert rows[0][:4] == expected
    assert rows[0][4] == datetime(2020, 1, 15, 14, 22, 56, tzinfo=UTC)
    assert rows[0][5].startswith("ku_mwq_fish_pond_depths/")


def test_cet_row_is_utc_plus_one(loaded: LoadedDatabase) -> None:
    # IoTPond12.csv line 2: "2021-06-25 15:14:09 CET,1,27,100,0,6.05951,0.00013,90,...".
    rows = loaded.query(
        "SELECT water_temp_c, turbidity_ntu, dissolved_oxygen_mg_l, ph, ammonia_mg_l, nitrate_mg_l "
        "FROM water_readings WHERE sensor_id = 'udanor-aquaponics/pond-12/node-1' AND event_timestamp = %s",
        (datetime(2021, 6, 25, 14, 14, 9, tzinfo=UTC),),
    )
    assert rows == [(27.0, 100.0, 0.0, 6.05951, 0.00013, 90.0)]


def test_date_only_row_kept_with_payload(loaded: LoadedDatabase) -> None:
    rows = loaded.query(
        "SELECT reason, payload FROM rejected_readings WHERE source_position = %s",
        ("sensor_aquaponics_fish_ponds/IoTPond11.csv:1975",),
    )
    # The row whose AMMONIA cell is empty; it is rejected for its timestamp before any value check.
    assert rows == [
        ("timestamp_without_time", b"7/11/2021,1974,25.5625,100,0,7.23977,,640,50,41.95786,625.8857")
    ]


def test_out_of_range_row_names_field(loaded: LoadedDatabase) -> None:
    rows = loaded.query(
        "SELECT reason, detail FROM rejected_readings WHERE source_position = %s",
        ("sensor_aquaponics_fish_ponds/IoTPond11.csv:2",),
    )
    assert len(rows) == 1
    assert rows[0][0] == "out_of_range"
    assert rows[0][1].startswith("ammonia_mg_l = 12151.86328")


def test_aggregates_refreshed_after_load(loaded: LoadedDatabase) -> None:
    stats = loaded.query("SELECT sum(reading_count) FROM pond_stats_1h")
    assert stats == [(loaded.first.rows_loaded,)]


def test_duplicate_line_in_input_rejected(
    fresh_database: PostgresSettings, data_dir: Path, tmp_path: Path
) -> None:
    copy_dir = tmp_path / "data"
    shutil.copytree(data_dir, copy_dir)
    ku_file = copy_dir / "ku_mwq_fish_pond_depths" / "sensor_data_30cm.csv"
    with ku_file.open("ab") as handle:
        handle.write(b"2020-01-15 16:00:35,19.5,7.0,200\n")  # same time as line 2, other values
    apply_migrations(fresh_database)

    result = load_history(fresh_database, copy_dir, refresh=False)

    assert result.rejected_by_reason["duplicate"] == 1
    with psycopg.connect(fresh_database.conninfo()) as conn:
        kept = conn.execute(
            "SELECT water_temp_c FROM water_readings WHERE sensor_id = 'ku-mwq/pond-1/depth-30cm' "
            "AND event_timestamp = '2020-01-15 10:00:35+00'"
        ).fetchall()
        rejected = conn.execute(
            "SELECT source_position FROM rejected_readings WHERE reason = 'duplicate'"
        ).fetchall()
    assert kept == [(20.99,)]
    assert rejected == [("ku_mwq_fish_pond_depths/sensor_data_30cm.csv:9625",)]


def test_parsed_times_ignore_client_time_zone(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def parse() -> list[datetime | None]:
        return [row.record["event_timestamp"] if row.record else None for row in iter_dataset_rows(data_dir)]

    reference = parse()
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        shifted = parse()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert shifted == reference
    assert reference[0] == datetime(2020, 1, 15, 10, 0, 35, tzinfo=UTC)


def test_load_ignores_client_time_zone(
    loaded: LoadedDatabase, fresh_database: PostgresSettings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_migrations(fresh_database)
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    time.tzset()
    try:
        load_history(fresh_database, data_dir, refresh=False)
    finally:
        monkeypatch.undo()
        time.tzset()

    query = "SELECT md5(string_agg(sensor_id || '@' || event_timestamp::text, ',' ORDER BY 1)) FROM water_readings"
    with psycopg.connect(fresh_database.conninfo()) as conn:
        fingerprint = conn.execute(query).fetchone()
    assert fingerprint == tuple(loaded.query(query)[0])
