"""Table-driven tests of ingestion.validation.validate_reading: one case per reason code."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aquafs.errors import InvalidReadingError
from ingestion.validation import REASONS, Reading, validate_reading

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "site_id": "ku-mwq",
        "pond_id": "pond-1",
        "sensor_id": "ku-mwq/pond-1/depth-30cm",
        "event_timestamp": datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        "water_temp_c": 21.5,
        "ph": 7.4,
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not _DROP}


_DROP = object()

REJECTED_CASES = [
    ("missing site_id", _record(site_id=_DROP), "missing_field"),
    ("null sensor_id", _record(sensor_id=None), "missing_field"),
    ("missing event_timestamp", _record(event_timestamp=_DROP), "missing_field"),
    ("numeric site_id", _record(site_id=7), "wrong_type"),
    ("bool measurement", _record(ph=True), "wrong_type"),
    ("numeric string", _record(water_temp_c="21.5"), "wrong_type"),
    ("epoch timestamp", _record(event_timestamp=1714560000), "wrong_type"),
    ("NaN", _record(ph=math.nan), "not_finite"),
    ("infinity", _record(water_temp_c=math.inf), "not_finite"),
    ("pH above 14", _record(ph=15.45166), "out_of_range"),
    ("negative turbidity", _record(turbidity_ntu=-95), "out_of_range"),
    ("ammonia above 100", _record(ammonia_mg_l=12151.86328), "out_of_range"),
    ("oxygen above 25", _record(dissolved_oxygen_mg_l=33.9), "out_of_range"),
    ("temperature -127", _record(water_temp_c=-127), "sensor_fault"),
    ("nitrate 4095", _record(nitrate_mg_l=4095), "sensor_fault"),
    ("garbage timestamp", _record(event_timestamp="5/12/2021 noon"), "timestamp_unparseable"),
    ("naive datetime", _record(event_timestamp=datetime(2024, 5, 1, 11, 0)), "timestamp_naive"),
    ("naive text", _record(event_timestamp="2024-05-01T11:00:00"), "timestamp_naive"),
    ("ten minutes ahead", _record(event_timestamp=NOW + timedelta(minutes=10)), "timestamp_in_future"),
    ("uppercase site", _record(site_id="KU-MWQ", sensor_id="KU-MWQ/pond-1/depth-30cm"), "unknown_entity"),
    ("sensor of other pond", _record(sensor_id="ku-mwq/pond-2/depth-30cm"), "unknown_entity"),
    ("sensor without position", _record(sensor_id="ku-mwq/pond-1"), "unknown_entity"),
    ("no measurement", _record(water_temp_c=None, ph=None), "no_measurement"),
]


@pytest.mark.parametrize(
    ("record", "reason"), [case[1:] for case in REJECTED_CASES], ids=[c[0] for c in REJECTED_CASES]
)
def test_invalid_reading_rejected_with_reason(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidReadingError) as caught:
        validate_reading(record, now=NOW)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_reason_table_covers_every_code() -> None:
    assert {case[2] for case in REJECTED_CASES} == REASONS


def test_first_failing_field_decides_reason() -> None:
    record = _record(water_temp_c=-127, ph=15.45166)
    with pytest.raises(InvalidReadingError) as caught:
        validate_reading(record, now=NOW)
    assert caught.value.reason == "sensor_fault"


def test_valid_reading_normalised() -> None:
    record = _record(
        event_timestamp="2024-05-01T17:00:00+06:00",
        water_temp_c=20,
        ph=None,
        turbidity_ntu=197,
        source="file.csv",
        unknown_extra_key="ignored",
    )
    reading = validate_reading(record, now=NOW)
    assert reading == Reading(
        site_id="ku-mwq",
        pond_id="pond-1",
        sensor_id="ku-mwq/pond-1/depth-30cm",
        event_timestamp=datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        water_temp_c=20.0,
        turbidity_ntu=197.0,
        source="file.csv",
    )
    assert isinstance(reading.water_temp_c, float)
    assert reading.event_timestamp.tzinfo is UTC


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("water_temp_c", -5.0),
        ("water_temp_c", 45),
        ("ph", 0),
        ("ph", 14),
        ("dissolved_oxygen_mg_l", 0),
        ("ammonia_mg_l", 100),
    ],
)
def test_range_limits_inclusive(field: str, value: float) -> None:
    reading = validate_reading(_record(**{field: value}), now=NOW)
    assert getattr(reading, field) == value


def test_small_clock_skew_accepted() -> None:
    ahead = NOW + timedelta(minutes=4)
    reading = validate_reading(
        _record(event_timestamp=ahead.astimezone(timezone(timedelta(hours=1)))), now=NOW
    )
    assert reading.event_timestamp == ahead


def test_naive_now_is_caller_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_reading(_record(), now=datetime(2024, 5, 1))
