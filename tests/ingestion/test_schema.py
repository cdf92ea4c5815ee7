"""Message codec: round trip, headers and every decode rejection, without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from aquafs.errors import InvalidReadingError
from ingestion.schema import (
    HEADER_SCHEMA_VERSION,
    MAX_MESSAGE_BYTES,
    ReadingMessage,
    decode_message,
    encode_message,
    message_headers,
    message_key,
)
from ingestion.synthetic import FaultRates, SyntheticConfig, synthetic_messages


def _message(**changes: object) -> ReadingMessage:
    fields: dict[str, object] = {
        "site_id": "ku-mwq",
        "pond_id": "pond-1",
        "sensor_id": "ku-mwq/pond-1/depth-30cm",
        "event_time": datetime(2020, 1, 15, 16, 0, 35, tzinfo=timezone(timedelta(hours=6))),
        "measurements": {"water_temp_c": 20.99, "ph": 7.81, "turbidity_ntu": 197.0},
        "source": "test",
        "message_id": "m-1",
    }
    fields.update(changes)
    return ReadingMessage(**fields)  # type: ignore[arg-type]


def _document(**changes: object) -> dict[str, object]:
    document = _message().to_document()
    document.update(changes)
    return document


def _encode(document: object) -> bytes:
    return json.dumps(document).encode()


def test_round_trip_keeps_every_field() -> None:
    message = _message()
    decoded = decode_message(encode_message(message), headers=message_headers())
    assert decoded.sensor_id == message.sensor_id
    assert decoded.event_time == message.event_time
    assert decoded.event_time.utcoffset() == timedelta(hours=6)
    assert decoded.measurements["water_temp_c"] == 20.99
    assert decoded.measurements["dissolved_oxygen_mg_l"] is None
    assert decoded.message_id == "m-1"
    assert decoded.source == "test"


def test_key_is_sensor_id_and_header_carries_version() -> None:
    assert message_key(_message()) == b"ku-mwq/pond-1/depth-30cm"
    assert (HEADER_SCHEMA_VERSION, b"1") in message_headers()


def test_encode_rejects_naive_time_and_nan() -> None:
    with pytest.raises(ValueError, match="naive"):
        encode_message(_message(event_time=datetime(2020, 1, 1)))
    with pytest.raises(ValueError):
        encode_message(_message(measurements={"ph": float("nan")}))


BAD_MEASUREMENTS = {"water_temp_c": 20.0}


@pytest.mark.parametrize(
    ("payload", "headers", "reason"),
    [
        (b"{not json", (), "invalid_json"),
        (b"\xff\xfe", (), "invalid_json"),
        (None, (), "invalid_json"),
        (b"[1, 2]", (), "schema_violation"),
        (_encode(_document()).replace(b"20.99", b"NaN"), (), "not_finite"),
        (_encode(_document()).replace(b"20.99", b"-Infinity"), (), "not_finite"),
        (_encode(_document()).replace(b"20.99", b"1e999"), (), "not_finite"),
        (_encode(_document(measurements={"water_temp_c": "20.9"})), (), "wrong_type"),
        (_encode(_document(site_id=7)), (), "wrong_type"),
        (_encode({k: v for k, v in _document().items() if k != "sensor_id"}), (), "missing_field"),
        (_encode(_document(schema_version=2)), (), "unknown_schema_version"),
        (_encode(_document()), [(HEADER_SCHEMA_VERSION, b"2")], "unknown_schema_version"),
        (_encode(_document()), [(HEADER_SCHEMA_VERSION, b"x")], "unknown_schema_version"),
        (_encode(_document(measurements={"water_temp_f": 70.0})), (), "schema_violation"),
        (_encode(_document(measurements={})), (), "schema_violation"),
        (_encode(_document(event_time="2020-01-15T16:00:35")), (), "timestamp_naive"),
        (_encode(_document(event_time="15/01/2020 16:00")), (), "timestamp_unparseable"),
        (_encode(_document(event_time="2020-13-45T16:00:35Z")), (), "timestamp_unparseable"),
        (_encode(_document(source="x" * (MAX_MESSAGE_BYTES + 1))), (), "payload_too_large"),
    ],
    ids=[
        "bad-json", "not-utf8", "tombstone", "array", "nan", "infinity", "overflow", "string-number",
        "int-site", "missing-sensor", "body-v2", "header-v2", "header-garbage", "fahrenheit-field",
        "no-measurements", "naive-time", "day-first-time", "impossible-date", "too-large",
    ],
)
def test_decode_rejects_with_reason(payload: bytes | None, headers: list[tuple[str, bytes]], reason: str) -> None:
    with pytest.raises(InvalidReadingError) as caught:
        decode_message(payload, headers=headers)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_decode_accepts_z_suffix_and_converts_ints() -> None:
    document = _document(event_time="2024-05-01T10:00:00Z", measurements={"turbidity_ntu": 197})
    decoded = decode_message(_encode(document))
    assert decoded.event_time == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert decoded.measurements["turbidity_ntu"] == 197.0
    assert isinstance(decoded.measurements["turbidity_ntu"], float)


def test_synthetic_faults_decode_to_expected_reasons() -> None:
    faults = FaultRates(malformed=0.2, wrong_type=0.2, nan=0.2)
    reasons: set[str] = set()
    valid = 0
    for message in synthetic_messages(SyntheticConfig(count=300, seed=7, faults=faults)):
        try:
            decode_message(message.value, headers=message.headers)
            valid += 1
        except InvalidReadingError as error:
            reasons.add(error.reason)
    assert reasons == {"invalid_json", "wrong_type", "not_finite"}
    assert 60 < valid < 180
