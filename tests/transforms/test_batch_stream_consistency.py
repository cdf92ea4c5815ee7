"""Batch and stream produce equal features for every row of real sensor data.

KU-MWQ ``Date`` values are local logger times without a zone. The tests read them as UTC, which
changes only the calendar features, and equally in both paths. IoTPond Part A rows
carry `` CET`` and are read as UTC+1; Part B rows have no time of day and are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms import FEATURE_NAMES, OutOfOrderReadingError, StreamFeatureEngine, compute_features

KU_ROWS = slice(1800, 4300)  # 2,500 consecutive rows; includes the 60.8 min gap of 2020-01-17


def load_ku(data_dir: Path, depth: str) -> pd.DataFrame:
    raw = pd.read_csv(data_dir / "ku_mwq_fish_pond_depths" / f"sensor_data_{depth}.csv")
    return pd.DataFrame({
        "site_id": "ku-mwq",
        "pond_id": "pond-1",
        "sensor_id": f"ku-mwq/pond-1/depth-{depth}",
        "event_timestamp": pd.to_datetime(raw["Date"]).dt.tz_localize("UTC"),
        "water_temp_c": raw["Temperature"],
        "ph": raw.get("pH", np.nan),
        "turbidity_ntu": raw["Turbidity"],
    })


def load_iot_part_a(data_dir: Path, pond: int) -> pd.DataFrame:
    raw = pd.read_csv(data_dir / "sensor_aquaponics_fish_ponds" / f"IoTPond{pond}.csv")
    part_a = raw[raw["created_at"].str.endswith(" CET")]
    local = pd.to_datetime(part_a["created_at"].str.removesuffix(" CET"), format="%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({
        "site_id": "udanor-aquaponics",
        "pond_id": f"pond-{pond}",
        "sensor_id": f"udanor-aquaponics/pond-{pond}/node-1",
        "event_timestamp": (local - pd.Timedelta(hours=1)).dt.tz_localize("UTC"),
        "water_temp_c": part_a["TEMPERATURE"],
        "ph": part_a["pH"],
        "turbidity_ntu": part_a["TURBIDITY"],
        "dissolved_oxygen_mg_l": part_a["DISOLVED OXYGEN"],
        "ammonia_mg_l": pd.to_numeric(part_a["AMMONIA"], errors="coerce"),
        "nitrate_mg_l": part_a["NITRATE"],
    })


@pytest.fixture(scope="module")
def real_readings(data_dir: Path) -> pd.DataFrame:
    ku = [load_ku(data_dir, depth).sort_values("event_timestamp").iloc[KU_ROWS] for depth in ("30cm", "60cm")]
    iot = [load_iot_part_a(data_dir, pond) for pond in (11, 12)]
    return pd.concat([*ku, *iot], ignore_index=True)


@pytest.fixture(scope="module")
def batch_features(real_readings: pd.DataFrame) -> pd.DataFrame:
    return compute_features(real_readings)


def stream_in_time_order(readings: pd.DataFrame) -> pd.DataFrame:
    ordered = readings.sort_values(["sensor_id", "event_timestamp"], kind="mergesort")
    engine = StreamFeatureEngine()
    rows = [engine.update(record) for record in ordered.to_dict("records")]
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))


def test_batch_equals_stream_on_real_data(real_readings: pd.DataFrame, batch_features: pd.DataFrame) -> None:
    batch = batch_features
    streamed = stream_in_time_order(real_readings)

    assert len(batch) == len(streamed) == len(real_readings)
    assert batch.groupby("sensor_id").size().min() >= 26
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(
            batch[name].to_numpy(), streamed[name].to_numpy(), rtol=1e-9, atol=0.0, equal_nan=True, err_msg=name
        )


def test_real_data_exercises_every_feature_but_one(batch_features: pd.DataFrame) -> None:
    never_set = [name for name in FEATURE_NAMES if batch_features[name].isna().all()]
    # Only the IoTPond nodes measure oxygen, and none of their readings has one 24 h earlier.
    assert never_set == ["dissolved_oxygen_lag_24h_mg_l"]


def test_stream_rejects_ku_out_of_order_row(data_dir: Path) -> None:
    readings = load_ku(data_dir, "30cm").iloc[:3000]  # file order, as a logger would send it
    engine = StreamFeatureEngine()
    reasons = []
    for record in readings.to_dict("records"):
        try:
            engine.update(record)
        except OutOfOrderReadingError as error:
            reasons.append(error.reason)
    assert reasons == ["out_of_order"]  # the second one is after row 3000
