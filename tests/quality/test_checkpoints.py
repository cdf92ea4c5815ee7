"""Great Expectations suites: known-bad rows are caught, good rows and real data pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aquafs.backfill import feature_rows, write_feature_rows
from aquafs.errors import TerminalError
from feast_timescale import write_arrow_table
from quality.checkpoints import (
    DataQualityError,
    check_training_set_or_raise,
    run_store_checkpoints,
    validate_readings_batch,
)
from tests.conftest import FeastTestStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SENSOR = "ku-mwq/pond-1/depth-30cm"


def readings(count: int) -> pd.DataFrame:
    stamps = [NOW - timedelta(minutes=count - i) for i in range(count)]
    return pd.DataFrame(
        {
            "site_id": "ku-mwq",
            "pond_id": "pond-1",
            "sensor_id": SENSOR,
            "event_timestamp": pd.to_datetime(stamps, utc=True),
            "available_at": pd.to_datetime(stamps, utc=True),
            "water_temp_c": np.linspace(19.0, 21.0, count),
            "ph": 7.5,
            "turbidity_ntu": 200.0,
            "dissolved_oxygen_mg_l": np.nan,
            "ammonia_mg_l": np.nan,
            "nitrate_mg_l": np.nan,
        }
    )


def test_good_batch_passes_whole() -> None:
    batch = readings(20)

    good, failures = validate_readings_batch(batch, now=NOW)

    assert len(good) == 20
    assert failures.empty


def test_bad_rows_are_split_off_with_reason() -> None:
    batch = readings(10)
    batch.index = range(100, 110)
    batch.loc[101, "ph"] = 14.7
    batch.loc[103, "event_timestamp"] = NOW + timedelta(hours=2)
    batch.loc[105, "event_timestamp"] = batch.loc[104, "event_timestamp"]
    batch.loc[107, "sensor_id"] = "KU MWQ 30cm"

    good, failures = validate_readings_batch(batch, now=NOW)

    assert sorted(set(batch.index) - set(good.index)) == [101, 103, 105, 107]
    by_column = failures.groupby("column")["expectation"].apply(set).to_dict()
    assert by_column["ph"] == {"expect_column_values_to_be_between"}
    assert by_column["event_timestamp"] == {"expect_column_values_to_be_between"}
    assert by_column["sensor_id, event_timestamp"] == {"expect_compound_columns_to_be_unique"}
    assert "expect_column_values_to_match_regex" in by_column["sensor_id"]
    assert failures.loc[failures["column"] == "ph", "reason"].iloc[0].startswith("ph=14.7")


def test_first_of_repeated_key_is_kept() -> None:
    batch = pd.concat([readings(3), readings(3).iloc[[2]]], ignore_index=True)

    good, failures = validate_readings_batch(batch, now=NOW)

    assert list(good.index) == [0, 1, 2]
    assert list(failures["expectation"]) == ["expect_compound_columns_to_be_unique"]


def test_missing_column_fails_every_row() -> None:
    batch = readings(4).drop(columns="ph")

    good, failures = validate_readings_batch(batch, now=NOW)

    assert good.empty
    assert "expect_column_to_exist" in set(failures["expectation"])
    assert set(failures.loc[failures["expectation"] == "expect_column_to_exist", "column"]) == {"ph"}


def labelled(count: int) -> pd.DataFrame:
    frame = readings(count)
    frame["label"] = frame["water_temp_c"] + 0.5
    frame["label_timestamp"] = frame["event_timestamp"] + timedelta(hours=1)
    return frame


def test_training_check_passes_sound_split() -> None:
    frame = labelled(400)
    is_train = frame["event_timestamp"] < frame["event_timestamp"].iloc[200]
    # Drop the rows whose labels would overlap the test period.
    frame = frame[~(is_train & (frame["label_timestamp"] >= frame["event_timestamp"].iloc[200]))]
    is_train = frame["event_timestamp"] < frame["event_timestamp"].iloc[-200]

    check_training_set_or_raise(frame, is_train)


def test_training_check_lists_every_failure() -> None:
    frame = labelled(400)
    frame.loc[5, "label"] = np.nan
    frame.loc[6, "event_timestamp"] = frame.loc[7, "event_timestamp"]
    is_train = pd.Series(np.arange(400) < 300)

    with pytest.raises(DataQualityError) as raised:
        check_training_set_or_raise(frame, is_train)

    message = str(raised.value)
    assert isinstance(raised.value, TerminalError)
    assert "expect_column_values_to_not_be_null on 'label'" in message
    assert "expect_compound_columns_to_be_unique" in message
    # Labels of the last train rows fall after the first test feature time: leakage.
    assert "test_min_event_timestamp > train_max_label_timestamp" in message


@pytest.mark.services
def test_store_checkpoints_render_data_docs(feast_store: FeastTestStore, tmp_path: Path) -> None:
    batch = readings(90)
    with feast_store.connect() as conn:
        write_arrow_table(conn, "water_readings", pa.Table.from_pandas(batch.assign(source="test"), preserve_index=False))
        rows = feature_rows(batch)
        rows.loc[3, "health_score"] = 140.0
        write_feature_rows(conn, rows)
        reports = run_store_checkpoints(conn, data_docs_dir=tmp_path, now=NOW)

    by_suite = {report.suite_name: report for report in reports}
    assert by_suite["water_readings_raw"].success
    assert by_suite["sensor_time_features"].success
    assert not by_suite["sensor_health_features"].success
    assert [failure.column for failure in by_suite["sensor_health_features"].failures] == ["health_score"]
    assert (tmp_path / "index.html").is_file()
