"""Streaming feature computation: one reading in, the same features as the batch path out.

Per-sensor state is a buffer of the sensor's retained history (event times and parameter
values) plus the EWMA state. The buffer keeps readings with event time >= newest - 24.5 h and
never more than ``MAX_HISTORY_READINGS`` of them, so its size is bounded whatever the input.

Readings must arrive in event-time order per sensor. An older or equal timestamp raises
:class:`OutOfOrderReadingError` and leaves the state unchanged. The ingester can then store the
raw reading without streaming features, and the next batch backfill computes them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from aquafs.errors import InvalidReadingError, TerminalError
from transforms.catalog import FEATURE_NAMES
from transforms.kernel import FEATURE_COUNT, advance_ewma, compute_row, new_ewma_state
from transforms.parameters import CORE_PARAMETER_COUNT, MAX_HISTORY_READINGS, PARAMETER_COLUMNS, RETENTION_NS

logger = logging.getLogger(__name__)

_INITIAL_CAPACITY = 256


class OutOfOrderReadingError(TerminalError):
    """A reading is not newer than the newest one already folded into its sensor's state.

    ``reason`` is ``"out_of_order"`` (older) or ``"duplicate_timestamp"`` (equal).
    """

    def __init__(
        self,
        reason: Literal["out_of_order", "duplicate_timestamp"],
        sensor_id: str,
        event_timestamp: pd.Timestamp,
        newest_timestamp: pd.Timestamp,
    ) -> None:
        message = (
            f"{reason}: reading of sensor {sensor_id!r} at {event_timestamp.isoformat()} is not newer than "
            f"the newest reading {newest_timestamp.isoformat()}; store it raw and leave its features to "
            "the batch backfill"
        )
        super().__init__(message)
        self.reason = reason
        self.sensor_id = sensor_id
        self.event_timestamp = event_timestamp
        self.newest_timestamp = newest_timestamp


@dataclass
class SensorState:
    """Retained history and EWMA state of one sensor."""

    times_ns: np.ndarray = field(default_factory=lambda: np.empty(_INITIAL_CAPACITY, dtype=np.int64))
    values: np.ndarray = field(
        default_factory=lambda: np.empty((_INITIAL_CAPACITY, len(PARAMETER_COLUMNS)), dtype=np.float64)
    )
    start: int = 0
    """Index of the oldest retained reading in the buffers."""
    stop: int = 0
    """One past the newest retained reading."""
    ewma: np.ndarray = field(default_factory=lambda: new_ewma_state()[0])
    ewma_observed_ns: np.ndarray = field(default_factory=lambda: new_ewma_state()[1])

    @property
    def size(self) -> int:
        """Number of retained readings."""
        return self.stop - self.start

    @property
    def newest_ns(self) -> int | None:
        """Event time of the newest reading, or None before the first one."""
        return int(self.times_ns[self.stop - 1]) if self.stop > self.start else None

    def append(self, time_ns: int, values: np.ndarray) -> None:
        """Add a reading, then drop readings older than the retention horizon or beyond the cap."""
        if self.stop == len(self.times_ns):
            self._make_room()
        self.times_ns[self.stop] = time_ns
        self.values[self.stop] = values
        self.stop += 1

        horizon_ns = time_ns - RETENTION_NS
        self.start += int(np.searchsorted(self.times_ns[self.start : self.stop], horizon_ns, side="left"))
        self.start = max(self.start, self.stop - MAX_HISTORY_READINGS)

    def _make_room(self) -> None:
        live = self.size
        capacity = len(self.times_ns)
        if live * 2 > capacity and capacity < 2 * MAX_HISTORY_READINGS:
            capacity = min(capacity * 2, 2 * MAX_HISTORY_READINGS)
        times_ns = np.empty(capacity, dtype=np.int64)
        values = np.empty((capacity, self.values.shape[1]), dtype=np.float64)
        times_ns[:live] = self.times_ns[self.start : self.stop]
        values[:live] = self.values[self.start : self.stop]
        self.times_ns, self.values = times_ns, values
        self.start, self.stop = 0, live


class StreamFeatureEngine:
    """Compute catalogue features per reading with bounded per-sensor state.

    Example:
        >>> from datetime import UTC, datetime
        >>> engine = StreamFeatureEngine()
        >>> at = datetime(2024, 3, 1, 12, tzinfo=UTC)
        >>> features = engine.update({"sensor_id": "s1", "event_timestamp": at, "water_temp_c": 26.5})
        >>> features["water_temp_mean_1h_c"]
        26.5
    """

    def __init__(self) -> None:
        self._sensors: dict[str, SensorState] = {}

    def update(self, reading: Mapping[str, Any]) -> dict[str, float]:
        """Fold one reading into its sensor's state and return its features.

        Args:
            reading: ``sensor_id``, ``event_timestamp`` (timezone-aware datetime or pandas
                Timestamp) and any parameter columns; absent keys and None count as NaN.

        Returns:
            ``FEATURE_NAMES`` -> float, equal to the batch row of the same reading.

        Raises:
            InvalidReadingError: ``sensor_id`` or ``event_timestamp`` is missing or the
                timestamp is naive (reasons ``missing_key``, ``naive_timestamp``).
            OutOfOrderReadingError: the reading is not newer than the sensor's newest reading;
                the state is unchanged.
        """
        sensor_id, timestamp = _keys_or_raise(reading)
        time_ns = int(timestamp.value)
        state = self._sensors.get(sensor_id)
        if state is None:
            state = self._sensors[sensor_id] = SensorState()

        newest_ns = state.newest_ns
        if newest_ns is not None and time_ns <= newest_ns:
            reason: Literal["out_of_order", "duplicate_timestamp"] = (
                "duplicate_timestamp" if time_ns == newest_ns else "out_of_order"
            )
            raise OutOfOrderReadingError(reason, sensor_id, timestamp, pd.Timestamp(newest_ns, tz="UTC"))

        values = np.array([_as_float(reading.get(column)) for column in PARAMETER_COLUMNS], dtype=np.float64)
        state.append(time_ns, values)
        reported = advance_ewma(state.ewma, state.ewma_observed_ns, values[:CORE_PARAMETER_COUNT], time_ns)
        out = np.empty(FEATURE_COUNT)
        compute_row(state.times_ns[state.start : state.stop], state.values[state.start : state.stop], reported, out)
        logger.debug("computed features of sensor %s at %s", sensor_id, timestamp)
        return dict(zip(FEATURE_NAMES, out.tolist(), strict=True))

    def state_size(self, sensor_id: str) -> int:
        """Return how many readings of a sensor the engine retains (0 for an unknown sensor)."""
        state = self._sensors.get(sensor_id)
        return 0 if state is None else state.size

    def buffer_capacity(self, sensor_id: str) -> int:
        """Return the allocated buffer length of a sensor, in readings (0 for an unknown sensor)."""
        state = self._sensors.get(sensor_id)
        return 0 if state is None else len(state.times_ns)

    def forget(self, sensor_id: str) -> None:
        """Drop a sensor's state, e.g. after it is decommissioned; unknown ids are ignored."""
        self._sensors.pop(sensor_id, None)

    @property
    def sensor_ids(self) -> list[str]:
        """Sensors with state, in first-seen order."""
        return list(self._sensors)


def _keys_or_raise(reading: Mapping[str, Any]) -> tuple[str, pd.Timestamp]:
    sensor_id = reading.get("sensor_id")
    raw_timestamp = reading.get("event_timestamp")
    if not sensor_id or raw_timestamp is None:
        raise InvalidReadingError("missing_key", f"a reading needs sensor_id and event_timestamp, got keys {sorted(reading)}")
    if not isinstance(raw_timestamp, datetime):
        detail = f"event_timestamp of sensor {sensor_id!r} must be a datetime, got {type(raw_timestamp).__name__}"
        raise InvalidReadingError("invalid_timestamp", detail)
    timestamp = pd.Timestamp(raw_timestamp)
    if timestamp.tzinfo is None:
        detail = f"event_timestamp {timestamp.isoformat()} of sensor {sensor_id!r} has no time zone; send UTC"
        raise InvalidReadingError("naive_timestamp", detail)
    return str(sensor_id), timestamp.tz_convert("UTC")


def _as_float(value: Any) -> float:
    if value is None:
        return math.nan
    return float(value)
