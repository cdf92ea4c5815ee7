"""Great Expectations checkpoints in the history loader and the Kafka ingester.

The reading used throughout passes ``validate_reading`` but fails the ``water_readings_raw`` suite.
Its event time lies in 2000: validation checks only the future bound, and the suite rejects times
before 2019 as a reset logger clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from kafka.structs import TopicPartition

from aquafs.settings import PostgresSettings, Settings
from ingestion.batch import REASON_QUALITY_CHECK, process_records
from ingestion.dead_letter import HEADER_EXPECTATION, HEADER_REASON
from ingestion.ingester import build_parser
from ingestion.loader import load_history
from ingestion.producer import to_outgoing
from ingestion.schema import ReadingMessage, encode_message, message_headers
from ingestion.validation import validate_reading
from tests.ingestion.test_ingester import (
    _ingester,
    _offline_rows,
    _produce,
    _read_topic,
    _rejections,
    _synthetic,
)

CLOCK_RESET_TIME = datetime(2000, 1, 1, 0, 5, 10, tzinfo=UTC)
BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"

# Headers of the real KU-MWQ and aquaponics CSV files; the KU lines are the first real ones, the pond
# lines are made up within the plausible ranges.
KU_HEADER = "Date,Temperature,pH,Turbidity\n"
KU_LINES = "2020-01-15 16:00:35,20.99,7.81,197\n2020-01-15 16:01:33,20.99,7.81,197\n2020-01-15 16:02:31,20.98,7.8,197\n"
POND_HEADER = (
    "created_at,entry_id,TEMPERATURE,TURBIDITY,DISOLVED OXYGEN,pH,AMMONIA,NITRATE,Population,Lenght,Weight\n"
)
POND_LINES = (
    "2021-06-25 15:16:07 CET,7,27.0625,100,8.5,7.9,0.5,250,50,14.12,33.8\n"
    "2021-06-25 15:17:07 CET,8,27.125,100,8.4,7.9,0.5,251,50,14.12,33.8\n"
)


def _write_data_dir(root: Path, *, extra_30cm: str = "", extra_60cm: str = "") -> Path:
    ku = root / "ku_mwq_fish_pond_depths"
    ponds = root / "sensor_aquaponics_fish_ponds"
    ku.mkdir(parents=True)
    ponds.mkdir(parents=True)
    (ku / "sensor_data_30cm.csv").write_text(KU_HEADER + KU_LINES + extra_30cm)
    (ku / "sensor_data_60cm.csv").write_text(KU_HEADER + KU_LINES + extra_60cm)
    (ponds / "IoTPond11.csv").write_text(POND_HEADER + POND_LINES)
    (ponds / "IoTPond12.csv").write_text(POND_HEADER + POND_LINES)
    return root


def _query(database: PostgresSettings, statement: str) -> list[tuple]:
    with psycopg.connect(database.conninfo()) as conn:
        return conn.execute(statement).fetchall()  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------------
# Loader


@pytest.mark.services
def test_loader_rejects_reset_clock_line_as_quality_check(fresh_database: PostgresSettings, tmp_path: Path) -> None:
    from aquafs.migrations import apply_migrations

    data_dir = _write_data_dir(tmp_path / "data", extra_30cm="2000-01-01 06:05:10,20.5,7.5,200\n")
    apply_migrations(fresh_database)

    result = load_history(fresh_database, data_dir, refresh=False)

    assert dict(result.rejected_by_reason) == {REASON_QUALITY_CHECK: 1}
    assert result.rows_loaded == 2 * 3 + 2 * 2
    rejected = _query(fresh_database, "SELECT source_position, reason, detail FROM rejected_readings")
    assert len(rejected) == 1
    position, reason, detail = rejected[0]
    assert position == "ku_mwq_fish_pond_depths/sensor_data_30cm.csv:5"
    assert reason == REASON_QUALITY_CHECK
    assert detail.startswith(f"{BETWEEN} on event_timestamp: event_timestamp=")
    stored = _query(fresh_database, "SELECT count(*) FROM water_readings WHERE event_timestamp < '2019-01-01'")
    assert stored == [(0,)]


@pytest.mark.services
def test_loader_without_quality_checks_loads_that_line(fresh_database: PostgresSettings, tmp_path: Path) -> None:
    from aquafs.migrations import apply_migrations

    data_dir = _write_data_dir(tmp_path / "data", extra_30cm="2000-01-01 06:05:10,20.5,7.5,200\n")
    apply_migrations(fresh_database)

    result = load_history(fresh_database, data_dir, refresh=False, quality_checks=False)

    assert dict(result.rejected_by_reason) == {}
    assert result.rows_loaded == 2 * 3 + 2 * 2 + 1


@pytest.mark.services
def test_loader_reports_batch_level_failure(
    fresh_database: PostgresSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aquafs.migrations import apply_migrations

    # One of four valid readings of the 60 cm file without temperature: 25 %, above the 5 % limit.
    data_dir = _write_data_dir(tmp_path / "data", extra_60cm="2020-01-15 16:03:29,,7.8,197\n")
    apply_migrations(fresh_database)

    with caplog.at_level(logging.WARNING, logger="ingestion.loader"):
        result = load_history(fresh_database, data_dir, refresh=False)

    source = "ku_mwq_fish_pond_depths/sensor_data_60cm.csv"
    assert list(result.batch_quality_failures) == [source]
    assert result.batch_quality_failures[source][0].startswith(f"{NOT_NULL} on 'water_temp_c'")
    assert dict(result.rejected_by_reason) == {}
    assert result.rows_loaded == 2 * 3 + 1 + 2 * 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "ingestion.loader" and r.levelno == logging.WARNING]
    assert any(source in message and NOT_NULL in message for message in warnings)


# -------------------------------------------------------------------------------------------------
# Batch processing (no services)


@dataclass
class _Record:
    """The fields of a kafka-python ConsumerRecord that the batch step reads."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=message_headers)


def _message(sensor: str, event_time: datetime, measurements: dict[str, float], tag: str) -> ReadingMessage:
    site, pond, _ = sensor.split("/")
    return ReadingMessage(
        site_id=site, pond_id=pond, sensor_id=sensor, event_time=event_time, measurements=measurements, message_id=tag
    )


def _records(messages: list[ReadingMessage]) -> dict[TopicPartition, list[_Record]]:
    records = [_Record("readings", 0, offset, encode_message(message)) for offset, message in enumerate(messages)]
    return {TopicPartition("readings", 0): records}


def _good_messages(now: datetime, count: int) -> list[ReadingMessage]:
    return [
        _message("site-a/pond-1/probe-1", now - timedelta(minutes=count - i), {"water_temp_c": 20.0, "ph": 7.0}, f"g{i}")
        for i in range(count)
    ]


def test_reset_clock_reading_passes_validate_reading() -> None:
    message = _message("site-a/pond-1/probe-1", CLOCK_RESET_TIME, {"water_temp_c": 20.0}, "reset")

    reading = validate_reading(message.to_record(), now=datetime.now(UTC))

    assert reading.event_timestamp == CLOCK_RESET_TIME


@pytest.mark.parametrize("quality_checks", [True, False])
def test_batch_quality_check_rejects_reset_clock(quality_checks: bool) -> None:
    now = datetime.now(UTC)
    messages = _good_messages(now, 4)
    messages.insert(2, _message("site-a/pond-1/probe-2", CLOCK_RESET_TIME, {"water_temp_c": 20.0}, "reset"))

    result = process_records(
        _records(messages), partitions={}, feature_stream_factory=None, received_at=now, quality_checks=quality_checks
    )

    if not quality_checks:
        assert result.rejections == []
        assert len(result.readings) == 5
        return
    assert [row["sensor_id"] for row in result.readings] == ["site-a/pond-1/probe-1"] * 4
    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert rejection.offset == 2
    assert rejection.reason == REASON_QUALITY_CHECK
    assert rejection.expectation == BETWEEN
    assert rejection.detail.startswith(f"{BETWEEN} on event_timestamp: ")
    assert result.batch_failures == []
    assert result.quality_seconds > 0


def test_batch_level_failure_rejects_no_message() -> None:
    now = datetime.now(UTC)
    messages = _good_messages(now, 3)
    messages.append(_message("site-a/pond-1/probe-1", now, {"ph": 7.0}, "no-temperature"))

    result = process_records(_records(messages), partitions={}, feature_stream_factory=None, received_at=now)

    assert result.rejections == []
    assert len(result.readings) == 4
    assert [failure.expectation for failure in result.batch_failures] == [NOT_NULL]
    assert result.batch_failures[0].column == "water_temp_c"


def test_no_quality_checks_option(settings: Settings) -> None:
    assert build_parser(settings).parse_args([]).no_quality_checks is False
    assert build_parser(settings).parse_args(["--no-quality-checks"]).no_quality_checks is True


# -------------------------------------------------------------------------------------------------
# Ingester against the broker, PostgreSQL and Redis


@pytest.mark.services
def test_ingester_dead_letters_quality_failure(
    settings: Settings, feast_store, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("ingest_quality")
    good = _synthetic(20, seed=7)
    reset = _message("test-site/pond-1/probe-1", CLOCK_RESET_TIME, {"water_temp_c": 21.0}, "reset")
    outgoing = [to_outgoing(message) for message in good]
    outgoing.insert(10, to_outgoing(reset))
    _produce(settings, topic, outgoing)

    ingester = _ingester(feast_store.settings, feast_store.store, topic, unique_name("group"))
    assert ingester.run() == 0

    dead_letters = _read_topic(settings, f"{topic}.dlq", expected=1)
    assert len(dead_letters) == 1
    headers = dict(dead_letters[0].headers)
    assert headers[HEADER_REASON] == REASON_QUALITY_CHECK.encode()
    assert headers[HEADER_EXPECTATION] == BETWEEN.encode()
    rejected = _rejections(feast_store.settings.postgres)
    assert [(reason, payload) for _, reason, payload in rejected] == [(REASON_QUALITY_CHECK, dead_letters[0].value)]
    rows = _offline_rows(feast_store.settings.postgres)
    assert len(rows) == len(good)
    assert all(event_timestamp > CLOCK_RESET_TIME for _, event_timestamp, _ in rows)
    assert ingester.metrics.dead_lettered.labels(topic, REASON_QUALITY_CHECK)._value.get() == 1
