"""Kafka message schema of sensor readings: encoding for the producer, decoding for the ingester.

A message is one UTF-8 JSON object that follows ``ingestion/schemas/reading.v<N>.json``. Its version
travels twice: in the ``schema_version`` field and in the ``schema-version`` Kafka header, so a
consumer can reject a version it does not know before parsing the body. The key is the sensor id,
which keeps one sensor's readings in one partition and therefore in order.

Decoding checks only the envelope (size, JSON, version, JSON Schema, timestamp form). Value ranges
and plausibility are the job of :func:`ingestion.validation.validate_reading`.

Example::

    payload = encode_message(message)
    producer.send(topic, key=message_key(message), value=payload, headers=message_headers())
    ...
    decoded = decode_message(record.value, headers=record.headers)  # raises InvalidReadingError
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema

from aquafs.errors import InvalidReadingError
from ingestion.validation import (
    MEASUREMENT_FIELDS,
    REASON_MISSING_FIELD,
    REASON_NOT_FINITE,
    REASON_TIMESTAMP_NAIVE,
    REASON_TIMESTAMP_UNPARSEABLE,
    REASON_WRONG_TYPE,
)

__all__ = [
    "CONTENT_TYPE",
    "CURRENT_SCHEMA_VERSION",
    "HEADER_CONTENT_TYPE",
    "HEADER_SCHEMA_VERSION",
    "MAX_MESSAGE_BYTES",
    "MEASUREMENT_FIELDS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "ReadingMessage",
    "decode_message",
    "encode_message",
    "message_headers",
    "message_key",
    "schema_document",
]

CURRENT_SCHEMA_VERSION: Final = 1
SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})
HEADER_SCHEMA_VERSION: Final = "schema-version"
HEADER_CONTENT_TYPE: Final = "content-type"
CONTENT_TYPE: Final = "application/json"

# A reading is well under 1 KiB; anything this large is a bug or abuse, and rejecting it early keeps
# one message from holding a batch's memory.
MAX_MESSAGE_BYTES: Final = 64 * 1024

# Stable reason codes of the decoding stage. Where a check overlaps one of validate_reading's, the
# code is validate_reading's own constant, so the loader and the ingester report one fault one way.
REASON_PAYLOAD_TOO_LARGE: Final = "payload_too_large"
REASON_INVALID_JSON: Final = "invalid_json"
REASON_UNKNOWN_SCHEMA_VERSION: Final = "unknown_schema_version"
REASON_SCHEMA_VIOLATION: Final = "schema_violation"
REASON_NON_FINITE_NUMBER: Final = REASON_NOT_FINITE
REASON_NAIVE_TIMESTAMP: Final = REASON_TIMESTAMP_NAIVE
REASON_INVALID_TIMESTAMP: Final = REASON_TIMESTAMP_UNPARSEABLE

# JSON Schema keywords whose failure has a more specific reason than schema_violation.
_SCHEMA_REASONS: Final = {"type": REASON_WRONG_TYPE, "required": REASON_MISSING_FIELD}

_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

# RFC 3339 date-time: the date and time separated by T (or a space, which RFC 3339 allows), then
# an optional fraction and a mandatory offset.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$"
)

Headers = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class ReadingMessage:
    """One decoded reading message; ``event_time`` is timezone-aware."""

    site_id: str
    pond_id: str
    sensor_id: str
    event_time: datetime
    measurements: Mapping[str, float | None]
    source: str | None = None
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema_version: int = CURRENT_SCHEMA_VERSION

    def to_record(self) -> dict[str, Any]:
        """Return the flat record that ``validate_reading`` takes: keys and measurement columns."""
        record: dict[str, Any] = {
            "site_id": self.site_id,
            "pond_id": self.pond_id,
            "sensor_id": self.sensor_id,
            "event_timestamp": self.event_time,
            "source": self.source,
        }
        for name in MEASUREMENT_FIELDS:
            record[name] = self.measurements.get(name)
        return record

    def to_document(self) -> dict[str, Any]:
        """Return the JSON object of this message, with ``event_time`` in RFC 3339 form."""
        document: dict[str, Any] = {
            "schema_version": self.schema_version,
            "message_id": self.message_id,
            "site_id": self.site_id,
            "pond_id": self.pond_id,
            "sensor_id": self.sensor_id,
            "event_time": self.event_time.isoformat(),
            "measurements": {name: self.measurements.get(name) for name in MEASUREMENT_FIELDS},
        }
        if self.source is not None:
            document["source"] = self.source
        return document


def encode_message(message: ReadingMessage) -> bytes:
    """Serialise a message to compact UTF-8 JSON.

    Raises:
        ValueError: the event time is naive or a measurement is NaN or infinite; JSON has no
            spelling for those, and the producer must not emit them by accident.
    """
    if message.event_time.tzinfo is None or message.event_time.utcoffset() is None:
        raise ValueError(f"event_time of sensor {message.sensor_id!r} is naive; attach a time zone")
    return json.dumps(message.to_document(), allow_nan=False, separators=(",", ":")).encode("utf-8")


def message_key(message: ReadingMessage) -> bytes:
    """Return the Kafka key: the sensor id, so one sensor's readings share a partition."""
    return message.sensor_id.encode("utf-8")


def message_headers(schema_version: int = CURRENT_SCHEMA_VERSION) -> list[tuple[str, bytes]]:
    """Return the Kafka headers that every reading message carries."""
    return [
        (HEADER_SCHEMA_VERSION, str(schema_version).encode("ascii")),
        (HEADER_CONTENT_TYPE, CONTENT_TYPE.encode("ascii")),
    ]


def decode_message(payload: bytes | None, *, headers: Headers = ()) -> ReadingMessage:
    """Decode and check one message body against its schema version.

    Checks run in this order, and the first failure decides the reason: size, header version,
    UTF-8 and JSON syntax, NaN/Infinity tokens, body version, JSON Schema, event-time form.

    Raises:
        InvalidReadingError: with reason ``payload_too_large``, ``unknown_schema_version``,
            ``invalid_json``, ``not_finite``, ``wrong_type``, ``missing_field``,
            ``schema_violation`` (any other JSON Schema failure), ``timestamp_naive`` or
            ``timestamp_unparseable``; ``detail`` says what was found.
    """
    if payload is None:
        raise InvalidReadingError(REASON_INVALID_JSON, "message has no value (tombstone)")
    if len(payload) > MAX_MESSAGE_BYTES:
        detail = f"message is {len(payload)} bytes; the limit is {MAX_MESSAGE_BYTES}"
        raise InvalidReadingError(REASON_PAYLOAD_TOO_LARGE, detail)

    header_version = _header_version(headers)
    if header_version is not None and header_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise InvalidReadingError(REASON_UNKNOWN_SCHEMA_VERSION, _unknown_version_detail(header_version))

    document = _parse_json(payload)
    if not isinstance(document, dict):
        detail = f"expected a JSON object, got {type(document).__name__}"
        raise InvalidReadingError(REASON_SCHEMA_VIOLATION, detail)

    body_version = document.get("schema_version")
    if isinstance(body_version, bool) or not isinstance(body_version, int):
        detail = f"schema_version must be an integer, got {body_version!r}"
        raise InvalidReadingError(REASON_SCHEMA_VIOLATION, detail)
    if body_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise InvalidReadingError(REASON_UNKNOWN_SCHEMA_VERSION, _unknown_version_detail(body_version))
    if header_version is not None and header_version != body_version:
        detail = f"header {HEADER_SCHEMA_VERSION} is {header_version} but schema_version is {body_version}"
        raise InvalidReadingError(REASON_SCHEMA_VIOLATION, detail)

    _check_against_schema(document, body_version)
    event_time = _parse_event_time(document["event_time"])
    measurements = document["measurements"]
    return ReadingMessage(
        site_id=document["site_id"],
        pond_id=document["pond_id"],
        sensor_id=document["sensor_id"],
        event_time=event_time,
        measurements={name: _as_float(measurements.get(name)) for name in MEASUREMENT_FIELDS},
        source=document.get("source"),
        message_id=document["message_id"],
        schema_version=body_version,
    )


@cache
def schema_document(version: int) -> dict[str, Any]:
    """Load ``schemas/reading.v<version>.json``."""
    path = _SCHEMA_DIR / f"reading.v{version}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator(version: int) -> jsonschema.protocols.Validator:
    document = schema_document(version)
    validator_class = jsonschema.validators.validator_for(document)
    validator_class.check_schema(document)
    return validator_class(document)


def _check_against_schema(document: dict[str, Any], version: int) -> None:
    errors = sorted(_validator(version).iter_errors(document), key=lambda error: list(error.path))
    if not errors:
        return
    # Report every violation, each with its JSON path, so one rejection explains the whole message.
    parts = [f"{error.json_path}: {error.message}" for error in errors[:5]]
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    reason = _SCHEMA_REASONS.get(errors[0].validator, REASON_SCHEMA_VIOLATION)
    raise InvalidReadingError(reason, "; ".join(parts))


def _parse_json(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidReadingError(REASON_INVALID_JSON, f"body is not UTF-8: {error}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except _NonFiniteNumberError as error:
        detail = f"JSON contains the token {error.token}; use null for a missing value"
        raise InvalidReadingError(REASON_NON_FINITE_NUMBER, detail) from None
    except json.JSONDecodeError as error:
        raise InvalidReadingError(REASON_INVALID_JSON, f"invalid JSON: {error}") from None
    except RecursionError:
        raise InvalidReadingError(REASON_INVALID_JSON, "JSON nesting is too deep") from None


class _NonFiniteNumberError(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _reject_constant(token: str) -> float:
    # json.loads accepts NaN, Infinity and -Infinity, which are not JSON; treat them as a defect.
    raise _NonFiniteNumberError(token)


def _parse_event_time(text: str) -> datetime:
    match = _RFC3339.match(text)
    if match is None:
        raise InvalidReadingError(REASON_INVALID_TIMESTAMP, f"event_time {text!r} is not an RFC 3339 date-time")
    if match.group("offset") is None:
        detail = f"event_time {text!r} has no UTC offset; append Z or +hh:mm"
        raise InvalidReadingError(REASON_NAIVE_TIMESTAMP, detail)
    try:
        return datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError as error:
        raise InvalidReadingError(REASON_INVALID_TIMESTAMP, f"event_time {text!r}: {error}") from None


def _header_version(headers: Headers) -> int | None:
    for name, value in headers or ():
        if name != HEADER_SCHEMA_VERSION:
            continue
        text = (value or b"").decode("ascii", errors="replace").strip()
        if not text.isdigit():
            detail = f"header {HEADER_SCHEMA_VERSION} is {text!r}, expected an integer"
            raise InvalidReadingError(REASON_UNKNOWN_SCHEMA_VERSION, detail)
        return int(text)
    return None


def _unknown_version_detail(version: int) -> str:
    supported = ", ".join(str(item) for item in sorted(SUPPORTED_SCHEMA_VERSIONS))
    return f"schema version {version} is not supported by this ingester (supported: {supported})"


def _as_float(value: float | int | None) -> float | None:
    if value is None:
        return None
    # The schema admits 1e999 (parsed as inf) and integers beyond float range; the stores cannot.
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidReadingError(REASON_NON_FINITE_NUMBER, f"measurement value {value!r} is not finite")
    return number
