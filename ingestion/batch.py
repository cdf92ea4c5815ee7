"""Turn one polled batch of Kafka records into rows to write, features and rejections.

Everything here is in memory and does no I/O, so the ingester can retry the writes that follow
without recomputing features (which would feed the same reading to a feature stream twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pandas as pd
from kafka.structs import TopicPartition

from aquafs.errors import InvalidReadingError
from ingestion.dead_letter import Rejection
from ingestion.schema import MEASUREMENT_FIELDS, decode_message
from ingestion.validation import validate_reading
from quality.checkpoints import check_readings_batch
from quality.runner import FailedExpectation, QualityRunner
from transforms.stream import OutOfOrderReadingError

logger = logging.getLogger(__name__)

KEY_COLUMNS = ("site_id", "pond_id", "sensor_id", "event_timestamp")
READING_COLUMNS = (*KEY_COLUMNS, "available_at", *MEASUREMENT_FIELDS, "source")

# Reason for a message that made validate_reading fail with something other than
# InvalidReadingError: a defect in validation, but the message must not stop the ingester.
REASON_VALIDATION_FAILED = "validation_failed"
# Reason for a valid message whose reading failed an expectation of the water_readings_raw suite.
REASON_QUALITY_CHECK = "quality_check"


class FeatureStream(Protocol):
    """Streaming feature computation with bounded per-sensor state (see ``transforms``)."""

    def update(self, reading: Any) -> Mapping[str, Any]:
        """Add one reading and return the feature values at its event time."""
        ...


@dataclass
class PartitionState:
    """In-memory state of one partition: its feature stream and the offset it expects next."""

    stream: FeatureStream | None
    next_offset: int


@dataclass
class BatchResult:
    """Outcome of one batch: valid rows (deduplicated), features, rejections and offsets."""

    consumed: int = 0
    readings: list[dict[str, Any]] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    """Valid readings not newer than their sensor's newest streamed one: stored without features."""
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    batch_failures: list[FailedExpectation] = field(default_factory=list)
    """Failed batch-level expectations of the quality check; they reject no message."""
    quality_seconds: float = 0.0
    """Wall time of the quality check (0 when it is off)."""

    def readings_frame(self, available_at: datetime) -> pd.DataFrame:
        """Return the readings as the ``water_readings_push`` frame."""
        frame = pd.DataFrame(self.readings, columns=[c for c in READING_COLUMNS if c != "available_at"])
        frame["available_at"] = pd.Timestamp(available_at)
        return _utc_timestamps(frame[list(READING_COLUMNS)])

    def features_frame(self, available_at: datetime) -> pd.DataFrame | None:
        """Return the streamed features as the ``sensor_features_push`` frame, or None without any."""
        if not self.features:
            return None
        frame = pd.DataFrame(self.features)
        frame["available_at"] = pd.Timestamp(available_at)
        return _utc_timestamps(frame)


@dataclass
class _Pending:
    """A valid, not duplicated reading waiting for the quality check and its features."""

    record: Any
    row: dict[str, Any]
    state: PartitionState


def process_records(
    polled: Mapping[TopicPartition, Sequence[Any]],
    *,
    partitions: dict[TopicPartition, PartitionState],
    feature_stream_factory: Callable[[], FeatureStream] | None,
    received_at: datetime,
    quality_runner: QualityRunner | None = None,
    quality_checks: bool = True,
) -> BatchResult:
    """Decode, validate, quality-check and compute features for every record.

    Each message is decoded and validated (:func:`validate_reading`), then the batch's valid
    readings go through the ``water_readings_raw`` suite together (:func:`check_readings_batch`,
    skipped when ``quality_checks`` is False): a failing reading is rejected as
    ``quality_check``, before any feature stream sees it. Features follow, in offset order per
    partition.

    ``partitions`` is updated in place. A partition whose next record is not at the offset its
    state expects (a re-delivery after a failed commit, or state older than the last commit) gets
    a fresh feature stream, so no reading is counted twice in a window.
    """
    result = BatchResult()
    seen: set[tuple[str, datetime]] = set()
    pending: list[_Pending] = []
    for partition in sorted(polled):
        records = polled[partition]
        if not records:
            continue
        state = partitions.get(partition)
        if state is None or state.next_offset != records[0].offset:
            if state is not None:
                logger.info(
                    "%s[%d] resumes at offset %d, not %d; restarting its feature state",
                    partition.topic, partition.partition, records[0].offset, state.next_offset,
                )
            stream = feature_stream_factory() if feature_stream_factory is not None else None
            state = PartitionState(stream=stream, next_offset=records[0].offset)
            partitions[partition] = state

        for record in records:
            result.consumed += 1
            row = _validate_one(record, result, seen, received_at)
            if row is not None:
                pending.append(_Pending(record, row, state))
        state.next_offset = records[-1].offset + 1
        result.next_offsets[partition] = state.next_offset

    if quality_checks and pending:
        pending = _check_quality(pending, result, received_at, quality_runner)
    for item in pending:
        result.readings.append(item.row)
        _add_features(item.row, item.state, result)
    return result


def _validate_one(
    record: Any, result: BatchResult, seen: set[tuple[str, datetime]], received_at: datetime
) -> dict[str, Any] | None:
    """Return the record's reading row, or None after recording a rejection or a duplicate."""
    try:
        message = decode_message(record.value, headers=record.headers or ())
        # The stored source is the topic, as the data contract defines; the producer's own source
        # field stays in the message for audit.
        reading = validate_reading(message.to_record() | {"source": record.topic}, now=received_at)
    except InvalidReadingError as error:
        result.rejections.append(_rejection(record, error.reason, error.detail, received_at))
        return None
    except Exception as error:  # one bad message must not stop the ingester
        logger.error(
            "validation raised %s on %s[%d]@%d; dead-lettering the message",
            type(error).__name__, record.topic, record.partition, record.offset, exc_info=True,
        )
        result.rejections.append(_rejection(record, REASON_VALIDATION_FAILED, repr(error), received_at))
        return None

    row = _reading_row(reading)
    key = (row["sensor_id"], row["event_timestamp"])
    if key in seen:
        # Same sensor and event time twice in one batch: the stores would keep one anyway, and a
        # feature stream must not see the reading twice.
        result.duplicates += 1
        return None
    seen.add(key)
    return row


def _check_quality(
    pending: list[_Pending], result: BatchResult, received_at: datetime, runner: QualityRunner | None
) -> list[_Pending]:
    """Run the batch's valid readings through ``water_readings_raw``; return those that passed."""
    started = time.perf_counter()
    frame = pd.DataFrame([item.row for item in pending], columns=[c for c in READING_COLUMNS if c != "available_at"])
    frame = frame.drop(columns="source")
    # Stored rows get available_at when they are written. The suite only checks that the column
    # exists, so the event time is used in its place.
    frame.insert(4, "available_at", frame["event_timestamp"])
    frame["batch_position"] = range(len(frame))
    check = check_readings_batch(_utc_timestamps(frame), now=received_at, runner=runner)
    result.batch_failures = check.batch_failures

    failed: dict[int, list[tuple[str, str]]] = {}
    for failure in check.failures.itertuples(index=False):
        failed.setdefault(int(failure.batch_position), []).append(
            (str(failure.expectation), f"{failure.expectation} on {failure.column}: {failure.reason}")
        )
    passed: list[_Pending] = []
    for position, item in enumerate(pending):
        found = failed.get(position)
        if found is None:
            passed.append(item)
            continue
        expectations = ",".join(sorted({expectation for expectation, _ in found}))
        detail = "; ".join(text for _, text in found)
        result.rejections.append(
            _rejection(item.record, REASON_QUALITY_CHECK, detail, received_at, expectation=expectations)
        )
    result.quality_seconds = time.perf_counter() - started
    return passed


def _add_features(row: dict[str, Any], state: PartitionState, result: BatchResult) -> None:
    if state.stream is None:
        return
    try:
        features = state.stream.update(row)
    except OutOfOrderReadingError as error:
        # Late or out-of-order: the raw reading is stored; its features are left to the batch
        # backfill because the stream only moves forward per sensor.
        logger.debug("no streamed features for %s: %s", row["sensor_id"], error)
        result.late += 1
        return
    except Exception:  # a feature defect must not drop the reading itself
        logger.error(
            "feature stream failed on sensor %s at %s; writing the reading without features",
            row["sensor_id"], row["event_timestamp"], exc_info=True,
        )
        return
    result.features.append({column: row[column] for column in KEY_COLUMNS} | dict(features))


def _reading_row(reading: Any) -> dict[str, Any]:
    if isinstance(reading, Mapping):
        return {column: reading.get(column) for column in READING_COLUMNS if column != "available_at"}
    return {column: getattr(reading, column) for column in READING_COLUMNS if column != "available_at"}


def _rejection(
    record: Any, reason: str, detail: str, received_at: datetime, *, expectation: str | None = None
) -> Rejection:
    return Rejection(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        payload=record.value,
        headers=list(record.headers or ()),
        reason=reason,
        detail=detail,
        received_at=received_at,
        expectation=expectation,
    )


def _utc_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("event_timestamp", "available_at"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
