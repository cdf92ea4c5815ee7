"""On-demand view helpers: output columns, values and agreement with the stored features."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from conftest import make_readings

from transforms import (
    compute_features,
    oxygen_saturation_mg_l,
    projected_oxygen_features,
    reading_age_features,
    request_time_features,
)
from transforms.on_demand import PROJECTED_OXYGEN_OUTPUTS, READING_AGE_OUTPUTS, REQUEST_TIME_OUTPUTS


def test_request_time_features_equal_reading_time_features() -> None:
    stored = compute_features(make_readings([0, 6 * 60 + 30, 20 * 60], ph=[7.0, 7.0, 7.0]))
    requests = pd.DataFrame({"request_time": stored["event_timestamp"]})

    result = request_time_features(requests)

    assert list(result.columns) == list(REQUEST_TIME_OUTPUTS)
    for name in ("hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos"):
        np.testing.assert_allclose(result[f"request_{name}"], stored[name], rtol=1e-12, atol=1e-12)
    assert result["request_is_daytime_utc_flag"].tolist() == stored["is_daytime_utc_flag"].tolist()


def test_naive_request_time_is_read_as_utc() -> None:
    aware = request_time_features(pd.DataFrame({"request_time": [datetime(2024, 3, 1, 7, tzinfo=UTC)]}))
    naive = request_time_features(pd.DataFrame({"request_time": [datetime(2024, 3, 1, 7)]}))
    pd.testing.assert_frame_equal(aware, naive)


def test_reading_age_in_hours() -> None:
    frame = pd.DataFrame({
        "request_time": [datetime(2024, 3, 1, 3, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)],
        "event_epoch_s": [1709251200.0, math.nan],
    })
    result = reading_age_features(frame)
    assert list(result.columns) == list(READING_AGE_OUTPUTS)
    assert result["hours_since_reading_h"].iloc[0] == pytest.approx(3.0)
    assert math.isnan(result["hours_since_reading_h"].iloc[1])


def test_projected_oxygen_uses_requested_temperature() -> None:
    frame = pd.DataFrame({"requested_water_temp_c": [20.0, 30.0], "dissolved_oxygen_mg_l": [9.0924, None]})
    result = projected_oxygen_features(frame)
    assert list(result.columns) == list(PROJECTED_OXYGEN_OUTPUTS)
    assert result["projected_oxygen_saturation_mg_l"].iloc[1] == pytest.approx(oxygen_saturation_mg_l(30.0))
    assert result["projected_dissolved_oxygen_saturation_pct"].iloc[0] == pytest.approx(100.0, abs=0.01)
    assert math.isnan(result["projected_dissolved_oxygen_saturation_pct"].iloc[1])


def test_projected_oxygen_without_oxygen_column_gives_nan_percent() -> None:
    result = projected_oxygen_features(pd.DataFrame({"requested_water_temp_c": [25.0]}))
    assert result["projected_oxygen_saturation_mg_l"].iloc[0] == pytest.approx(8.263, abs=1e-3)
    assert math.isnan(result["projected_dissolved_oxygen_saturation_pct"].iloc[0])


def test_numeric_request_time_is_epoch_seconds() -> None:
    from datetime import UTC, datetime

    from transforms.on_demand import request_time_features

    stamp = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    as_number = request_time_features(pd.DataFrame({"request_time": [int(stamp.timestamp())]}))
    as_datetime = request_time_features(pd.DataFrame({"request_time": [stamp]}))

    pd.testing.assert_frame_equal(as_number, as_datetime)
    assert as_number["request_is_daytime_utc_flag"].iloc[0] == 1.0
