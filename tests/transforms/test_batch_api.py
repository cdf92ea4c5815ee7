"""Batch API contract: input checks, ordering, several sensors and the output columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_readings

from aquafs.errors import TerminalError
from transforms import FEATURE_NAMES, KEY_COLUMNS, DuplicateReadingsError, compute_features


def test_output_has_keys_then_catalogue_features() -> None:
    result = compute_features(make_readings([0, 1], ph=[7.0, 7.1]))
    assert list(result.columns) == [*KEY_COLUMNS, *FEATURE_NAMES]
    assert all(result[name].dtype == np.float64 for name in FEATURE_NAMES)


def test_duplicate_sensor_timestamp_raises() -> None:
    readings = make_readings([0, 1, 1], ph=[7.0, 7.1, 7.2])
    with pytest.raises(DuplicateReadingsError, match="share a \\(sensor_id, event_timestamp\\)"):
        compute_features(readings)


def test_same_timestamp_on_two_sensors_is_allowed() -> None:
    readings = pd.concat([make_readings([0], sensor_id="a", ph=[7.0]), make_readings([0], sensor_id="b", ph=[7.5])])
    assert len(compute_features(readings)) == 2


def test_naive_timestamps_raise() -> None:
    readings = make_readings([0], ph=[7.0])
    readings["event_timestamp"] = readings["event_timestamp"].dt.tz_localize(None)
    with pytest.raises(TerminalError, match="timezone-aware"):
        compute_features(readings)


def test_missing_key_column_raises() -> None:
    with pytest.raises(TerminalError, match="sensor_id"):
        compute_features(make_readings([0], ph=[7.0]).drop(columns=["sensor_id"]))


def test_unordered_interleaved_input_equals_per_sensor_runs() -> None:
    a = make_readings([0, 3, 7, 12], sensor_id="a", water_temp_c=[20.0, 21.0, 19.5, 22.0])
    b = make_readings([1, 2, 9], sensor_id="b", water_temp_c=[30.0, 31.0, 29.0], ph=[7.0, None, 7.4])
    shuffled = pd.concat([a, b]).sample(frac=1.0, random_state=3)

    combined = compute_features(shuffled)
    separate = pd.concat([compute_features(a), compute_features(b)], ignore_index=True)

    assert combined["sensor_id"].tolist() == ["a"] * 4 + ["b"] * 3
    assert combined["event_timestamp"].is_monotonic_increasing is False  # sorted per sensor, not globally
    pd.testing.assert_frame_equal(combined, separate)


def test_non_utc_timestamps_are_converted_to_utc() -> None:
    readings = make_readings([0], ph=[7.0])
    readings["event_timestamp"] = readings["event_timestamp"].dt.tz_convert("Europe/Paris")
    result = compute_features(readings)
    assert str(result["event_timestamp"].dt.tz) == "UTC"
    assert result["event_epoch_s"].iloc[0] == 1709251200.0
