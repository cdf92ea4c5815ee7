"""Stream engine: out-of-order input, key validation and bounded per-sensor state."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_TIME, SENSOR_ID, make_readings

import transforms.batch
import transforms.stream
from aquafs.errors import InvalidReadingError
from transforms import FEATURE_NAMES, OutOfOrderReadingError, StreamFeatureEngine, compute_features
from transforms.parameters import RETENTION_NS


def reading(minutes: float, value: float, sensor_id: str = SENSOR_ID) -> dict[str, object]:
    return {"sensor_id": sensor_id, "event_timestamp": BASE_TIME + timedelta(minutes=minutes), "water_temp_c": value}


def test_update_returns_every_catalogue_feature() -> None:
    features = StreamFeatureEngine().update(reading(0, 25.0))
    assert list(features) == list(FEATURE_NAMES)
    assert features["water_temp_mean_1h_c"] == 25.0


@pytest.mark.parametrize(("minutes", "reason"), [(5, "out_of_order"), (10, "duplicate_timestamp")])
def test_older_or_equal_reading_is_rejected(minutes: float, reason: str) -> None:
    engine = StreamFeatureEngine()
    engine.update(reading(0, 20.0))
    engine.update(reading(10, 21.0))
    with pytest.raises(OutOfOrderReadingError) as caught:
        engine.update(reading(minutes, 99.0))
    assert caught.value.reason == reason
    assert caught.value.sensor_id == SENSOR_ID


def test_rejected_reading_leaves_state_unchanged() -> None:
    engine = StreamFeatureEngine()
    engine.update(reading(0, 20.0))
    engine.update(reading(10, 21.0))
    with pytest.raises(OutOfOrderReadingError):
        engine.update(reading(5, 99.0))
    after_rejection = engine.update(reading(20, 22.0))

    clean = StreamFeatureEngine()
    for minutes, value in [(0, 20.0), (10, 21.0), (20, 22.0)]:
        expected = clean.update(reading(minutes, value))
    assert after_rejection == pytest.approx(expected, nan_ok=True)
    assert engine.state_size(SENSOR_ID) == 3


def test_sensors_have_independent_order() -> None:
    engine = StreamFeatureEngine()
    engine.update(reading(10, 20.0, sensor_id="a"))
    features = engine.update(reading(0, 20.0, sensor_id="b"))
    assert features["readings_count_24h"] == 1


def test_naive_timestamp_is_invalid() -> None:
    naive = {"sensor_id": SENSOR_ID, "event_timestamp": datetime(2024, 3, 1), "ph": 7.0}
    with pytest.raises(InvalidReadingError) as caught:
        StreamFeatureEngine().update(naive)
    assert caught.value.reason == "naive_timestamp"


def test_missing_sensor_id_is_invalid() -> None:
    with pytest.raises(InvalidReadingError) as caught:
        StreamFeatureEngine().update({"event_timestamp": BASE_TIME, "ph": 7.0})
    assert caught.value.reason == "missing_key"


def test_state_keeps_only_retention_horizon() -> None:
    engine = StreamFeatureEngine()
    for i in range(3 * 24 * 60):  # three days, one reading per minute
        engine.update(reading(float(i), 20.0))
    horizon_readings = RETENTION_NS // (60 * 10**9) + 1
    assert engine.state_size(SENSOR_ID) == horizon_readings
    assert engine.buffer_capacity(SENSOR_ID) <= 4 * horizon_readings


def test_state_respects_reading_cap_like_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms.stream, "MAX_HISTORY_READINGS", 50)
    monkeypatch.setattr(transforms.batch, "MAX_HISTORY_READINGS", 50)
    minutes = [i * 0.1 for i in range(300)]
    values = list(np.sin(np.arange(300) / 7.0) + 20.0)
    frame = make_readings(minutes, water_temp_c=values)

    engine = StreamFeatureEngine()
    streamed = pd.DataFrame([engine.update(row) for row in frame.to_dict("records")])
    batch = compute_features(frame)

    assert engine.state_size(SENSOR_ID) == 50
    assert engine.buffer_capacity(SENSOR_ID) == 256  # the initial allocation never grew
    assert batch["readings_count_1h"].max() == 50
    np.testing.assert_allclose(batch[list(FEATURE_NAMES)].to_numpy(), streamed.to_numpy(), rtol=1e-9, equal_nan=True)


def test_forget_drops_sensor_state() -> None:
    engine = StreamFeatureEngine()
    engine.update(reading(0, 20.0))
    engine.forget(SENSOR_ID)
    assert engine.state_size(SENSOR_ID) == 0
    assert engine.sensor_ids == []
