"""Training on the real KU-MWQ history through the training feature service."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quality.checkpoints import DataQualityError
from tests.training.conftest import PreparedStore
from training.dataset import LabelSpec, feature_frame, label_events
from training.train import time_split, train_model

pytestmark = pytest.mark.services

KU_SENSORS = ["ku-mwq/pond-1/depth-30cm", "ku-mwq/pond-1/depth-60cm"]


def test_labels_are_readings_one_horizon_later(prepared_store: PreparedStore) -> None:
    spec = LabelSpec()
    with prepared_store.connect() as conn:
        events = label_events(conn, spec, KU_SENSORS)
        stored = conn.execute(
            "SELECT water_temp_c FROM water_readings WHERE sensor_id = %s AND event_timestamp = %s",
            (events["sensor_id"].iloc[100], events["label_timestamp"].iloc[100].to_pydatetime()),
        ).fetchone()

    wait = events["label_timestamp"] - events["event_timestamp"]
    assert len(events) > 3000
    assert wait.min() >= spec.horizon
    assert wait.max() <= spec.horizon + spec.tolerance
    assert stored is not None
    assert stored[0] == events["label"].iloc[100]
    assert not events.duplicated(["sensor_id", "event_timestamp"]).any()


def test_time_split_has_no_leakage(prepared_store: PreparedStore) -> None:
    spec = LabelSpec()
    with prepared_store.connect() as conn:
        events = label_events(conn, spec, KU_SENSORS)

    is_train, is_test, cutoff = time_split(events, spec, 0.7)

    assert events.loc[is_train, "label_timestamp"].max() < events.loc[is_test, "event_timestamp"].min()
    assert events.loc[is_test, "event_timestamp"].min() - cutoff >= spec.horizon
    assert not (is_train & is_test).any()


def test_features_come_from_the_service_as_of_each_row(prepared_store: PreparedStore) -> None:
    with prepared_store.connect() as conn:
        events = label_events(conn, LabelSpec(), KU_SENSORS).iloc[::40].reset_index(drop=True)

    frame = feature_frame(prepared_store.store, events)

    assert list(frame["event_timestamp"]) == list(events["event_timestamp"])
    assert {"water_temp_c", "water_temp_mean_1h_c", "health_score", "water_temp_c_mean", "request_hour_of_day_sin"} <= set(
        frame.columns
    )
    assert not any("__" in column for column in frame.columns)
    # The reading served at t is the newest one at or before t, never the label's.
    assert frame["water_temp_c"].notna().mean() > 0.95


def test_training_on_real_data_saves_model(prepared_store: PreparedStore, tmp_path: Path) -> None:
    with prepared_store.connect() as conn:
        result = train_model(prepared_store.store, conn, models_dir=tmp_path, max_iter=60)

    metadata = json.loads(result.metadata_path.read_text())
    metrics = metadata["metrics"]
    assert result.model_path.is_file()
    assert metadata["feature_service"] == "water_quality_training_v1"
    assert "sensor_readings:water_temp_c" in metadata["feature_refs"]
    assert "event_epoch_s" not in metadata["feature_columns"]
    assert metadata["sensors"] == KU_SENSORS
    assert pd.Timestamp(metadata["train_range"][1]) < pd.Timestamp(metadata["test_range"][0])
    for name in ("model", "persistence", "seasonal_naive_24h"):
        assert metrics[name]["rows"] > 500
        assert np.isfinite(metrics[name]["mae"])
    # The learned change beats carrying the current value forward on the held-out days.
    assert metrics["model"]["mae"] < metrics["persistence"]["mae"]


def test_training_stops_on_bad_data(prepared_store: PreparedStore, tmp_path: Path) -> None:
    with prepared_store.connect() as conn:
        events = label_events(conn, LabelSpec(), KU_SENSORS)
    events.loc[10, "label"] = np.nan
    events = pd.concat([events, events.iloc[[20, 21]]], ignore_index=True)
    events.loc[30, "label_timestamp"] = events.loc[30, "event_timestamp"] - timedelta(minutes=1)

    with prepared_store.connect() as conn, pytest.raises(DataQualityError) as raised:
        train_model(prepared_store.store, conn, models_dir=tmp_path, events=events, max_iter=10)

    expectations = {failure.expectation for failure in raised.value.failures}
    assert expectations == {
        "expect_column_values_to_not_be_null",
        "expect_compound_columns_to_be_unique",
        "expect_column_pair_values_a_to_be_greater_than_b",
    }
    assert "on 'label'" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_training_stops_on_too_little_data(prepared_store: PreparedStore, tmp_path: Path) -> None:
    with prepared_store.connect() as conn:
        events = label_events(conn, LabelSpec(), KU_SENSORS).iloc[:60]

    with prepared_store.connect() as conn, pytest.raises(DataQualityError, match="expect_table_row_count_to_be_between"):
        train_model(prepared_store.store, conn, models_dir=tmp_path, events=events, max_iter=10)
