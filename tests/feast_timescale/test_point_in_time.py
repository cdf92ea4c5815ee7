"""get_historical_features through the TimescaleDB plugin against an independent pandas oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from psycopg import sql

from feast_timescale import write_arrow_table
from tests.conftest import FeastTestStore

pytestmark = pytest.mark.services

SENSOR_30 = "ku-mwq/pond-1/depth-30cm"
SENSOR_60 = "ku-mwq/pond-1/depth-60cm"
READING_FEATURES = ["water_temp_c", "ph", "turbidity_ntu"]
READINGS_TTL = timedelta(hours=1)
T0 = datetime(2021, 3, 1, 12, 0, tzinfo=UTC)


def reading_rows(sensor_id: str, stamps: list[datetime], temps: list[float], available: list[datetime] | None = None) -> pd.DataFrame:
    site, pond, _ = sensor_id.split("/")
    return pd.DataFrame(
        {
            "site_id": site,
            "pond_id": pond,
            "sensor_id": sensor_id,
            "event_timestamp": pd.to_datetime(stamps, utc=True),
            "available_at": pd.to_datetime(available or stamps, utc=True),
            "water_temp_c": temps,
            "ph": np.nan,
            "turbidity_ntu": np.nan,
            "dissolved_oxygen_mg_l": np.nan,
            "ammonia_mg_l": np.nan,
            "nitrate_mg_l": np.nan,
            "source": "test",
        }
    )


def write_readings(env: FeastTestStore, frame: pd.DataFrame) -> int:
    with env.connect() as conn:
        return write_arrow_table(conn, "water_readings", pa.Table.from_pandas(frame, preserve_index=False))


def historical(env: FeastTestStore, entity_df: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    return env.store.get_historical_features(entity_df=entity_df, features=features).to_df()


def load_ku_mwq(data_dir: Path) -> pd.DataFrame:
    """Parse the KU-MWQ files independently of the project's loader (local time taken as UTC+6)."""
    frames = []
    for depth, sensor in (("30cm", SENSOR_30), ("60cm", SENSOR_60)):
        raw = pd.read_csv(data_dir / "ku_mwq_fish_pond_depths" / f"sensor_data_{depth}.csv")
        stamps = pd.to_datetime(raw["Date"]).dt.tz_localize("Asia/Dhaka").dt.tz_convert("UTC")
        frame = reading_rows(sensor, list(stamps), list(raw["Temperature"].astype(float)))
        frame["turbidity_ntu"] = raw["Turbidity"].astype(float)
        frame["ph"] = raw["pH"].astype(float) if "pH" in raw else np.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).drop_duplicates(["sensor_id", "event_timestamp"])


def oracle(readings: pd.DataFrame, entity_df: pd.DataFrame, ttl: timedelta) -> pd.DataFrame:
    """Backward as-of join by sensor, respecting the TTL and the available_at cut-off."""
    left = entity_df.reset_index(names="row").sort_values("event_timestamp")
    right = readings.sort_values("event_timestamp").rename(columns={"event_timestamp": "feature_ts"})
    joined = pd.merge_asof(
        left, right[["sensor_id", "feature_ts", *READING_FEATURES]],
        left_on="event_timestamp", right_on="feature_ts", by="sensor_id",
        direction="backward", tolerance=pd.Timedelta(ttl),
    )
    return joined.sort_values("row").set_index("row")


def test_matches_merge_asof_oracle_on_real_data(feast_store: FeastTestStore, data_dir: Path) -> None:
    readings = load_ku_mwq(data_dir)
    assert write_readings(feast_store, readings) == len(readings)
    rng = np.random.default_rng(20260104)
    rows = 3000
    low, high = readings["event_timestamp"].min(), readings["event_timestamp"].max() + pd.Timedelta(hours=2)
    offsets = rng.integers(0, int((high - low).total_seconds()), rows)
    entity_df = pd.DataFrame(
        {
            "sensor_id": rng.choice([SENSOR_30, SENSOR_60, "ku-mwq/pond-1/unknown"], rows, p=[0.45, 0.45, 0.1]),
            "event_timestamp": low + pd.to_timedelta(offsets, unit="s"),
        }
    )
    # Some entity rows fall exactly on reading times: ties must include the reading.
    exact = readings.sample(200, random_state=3)
    entity_df.loc[: len(exact) - 1, "sensor_id"] = exact["sensor_id"].to_numpy()
    entity_df.loc[: len(exact) - 1, "event_timestamp"] = exact["event_timestamp"].to_numpy()

    result = historical(feast_store, entity_df, [f"sensor_readings:{name}" for name in READING_FEATURES])
    expected = oracle(readings, entity_df, READINGS_TTL)

    assert len(result) == rows
    assert list(result["sensor_id"]) == list(entity_df["sensor_id"])
    for name in READING_FEATURES:
        got = result[name].to_numpy(dtype=float)
        want = expected[name].to_numpy(dtype=float)
        mismatches = ~((got == want) | (np.isnan(got) & np.isnan(want)))
        assert mismatches.sum() == 0, f"{name}: {mismatches.sum()} mismatches, first rows {np.flatnonzero(mismatches)[:5]}"
    assert result["water_temp_c"].notna().sum() > rows // 2


def test_ttl_edge_is_inclusive(feast_store: FeastTestStore) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0], [21.5]))
    entity_df = pd.DataFrame(
        {
            "sensor_id": [SENSOR_30] * 3,
            "event_timestamp": [T0 + READINGS_TTL, T0 + READINGS_TTL + timedelta(microseconds=1), T0 - timedelta(microseconds=1)],
        }
    )

    result = historical(feast_store, entity_df, ["sensor_readings:water_temp_c"])

    assert result["water_temp_c"].iloc[0] == 21.5
    assert np.isnan(result["water_temp_c"].iloc[1])
    assert np.isnan(result["water_temp_c"].iloc[2])


def test_value_is_hidden_until_available(feast_store: FeastTestStore) -> None:
    # The second reading was measured at T0+1min but only written (a late batch) at T0+30min.
    write_readings(feast_store, reading_rows(SENSOR_30, [T0], [20.0]))
    write_readings(
        feast_store,
        reading_rows(SENSOR_30, [T0 + timedelta(minutes=1)], [25.0], available=[T0 + timedelta(minutes=30)]),
    )
    entity_df = pd.DataFrame(
        {"sensor_id": [SENSOR_30] * 2, "event_timestamp": [T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)]}
    )

    result = historical(feast_store, entity_df, ["sensor_readings:water_temp_c"])

    assert list(result["water_temp_c"]) == [20.0, 25.0]


def test_one_output_row_per_entity_row_in_order(feast_store: FeastTestStore) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, 21.0]))
    stamps = [T0 + timedelta(minutes=2), T0, T0 + timedelta(minutes=2), T0 + timedelta(seconds=30), T0]
    entity_df = pd.DataFrame(
        {"sensor_id": [SENSOR_30] * 5, "event_timestamp": stamps, "label": [1, 2, 3, 4, 5]},
        index=[10, 3, 10, 7, 3],
    )

    result = historical(feast_store, entity_df, ["sensor_readings:water_temp_c"])

    assert list(result["label"]) == [1, 2, 3, 4, 5]
    assert list(result["water_temp_c"]) == [21.0, 20.0, 21.0, 20.0, 20.0]


def test_naive_entity_timestamps_are_utc(feast_store: FeastTestStore) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0, T0 + timedelta(hours=5)], [20.0, 30.0]))
    aware = pd.DataFrame({"sensor_id": [SENSOR_30], "event_timestamp": [T0 + timedelta(minutes=5)]})
    naive = aware.assign(event_timestamp=aware["event_timestamp"].dt.tz_localize(None))
    other_zone = aware.assign(event_timestamp=aware["event_timestamp"].dt.tz_convert("Asia/Dhaka"))

    results = [historical(feast_store, frame, ["sensor_readings:water_temp_c"]) for frame in (aware, naive, other_zone)]

    assert [result["water_temp_c"].iloc[0] for result in results] == [20.0, 20.0, 20.0]


def test_result_ignores_client_and_server_zones(feast_store: FeastTestStore, monkeypatch: pytest.MonkeyPatch) -> None:
    write_readings(feast_store, reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, 21.0]))
    entity_df = pd.DataFrame({"sensor_id": [SENSOR_30] * 2, "event_timestamp": [T0, T0 + timedelta(seconds=59)]})
    baseline = historical(feast_store, entity_df, ["sensor_readings:water_temp_c"])

    monkeypatch.setenv("PGTZ", "America/Los_Angeles")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    with feast_store.connect() as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET timezone TO 'Pacific/Auckland'").format(
                sql.Identifier(feast_store.settings.postgres.database)
            )
        )
    shifted = historical(feast_store, entity_df, ["sensor_readings:water_temp_c"])

    pd.testing.assert_frame_equal(baseline, shifted)


def test_features_from_several_views_in_one_request(feast_store: FeastTestStore) -> None:
    from aquafs.migrations import refresh_aggregates

    readings = reading_rows(SENSOR_30, [T0 + timedelta(minutes=m) for m in range(0, 60, 5)], [20.0 + m for m in range(12)])
    write_readings(feast_store, readings)
    with feast_store.connect() as conn:
        refresh_aggregates(conn)
    entity_df = pd.DataFrame(
        {
            "sensor_id": [SENSOR_30, SENSOR_30],
            "site_id": ["ku-mwq", "ku-mwq"],
            "pond_id": ["pond-1", "pond-1"],
            "event_timestamp": [T0 + timedelta(minutes=59), T0 + timedelta(minutes=61)],
        }
    )

    result = historical(
        feast_store, entity_df,
        ["sensor_readings:water_temp_c", "pond_stats_1h:water_temp_c_mean", "pond_stats_1h:reading_count"],
    )

    assert list(result["water_temp_c"]) == [31.0, 31.0]
    # The 12:00-13:00 bucket closes at 13:00, so only the second row may see it.
    assert np.isnan(result["water_temp_c_mean"].iloc[0])
    assert result["water_temp_c_mean"].iloc[1] == pytest.approx(25.5)
    assert result["reading_count"].iloc[1] == 12


def test_offline_write_is_idempotent(feast_store: FeastTestStore) -> None:
    frame = reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, np.nan])
    frame["ph"] = [7.1, 7.2]

    assert write_readings(feast_store, frame) == 2
    assert write_readings(feast_store, frame) == 0
    with feast_store.connect() as conn:
        stored = conn.execute("SELECT water_temp_c, ph FROM water_readings ORDER BY event_timestamp").fetchall()
    assert stored == [(20.0, 7.1), (None, 7.2)]
