"""Hand-computed values of the window, trend, lag, anomaly, time and domain features (batch path)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_readings

from transforms import compute_features


def last_row(**kwargs: object) -> dict[str, float]:
    minutes = kwargs.pop("minutes")
    return compute_features(make_readings(minutes, **kwargs)).iloc[-1].to_dict()  # type: ignore[arg-type]


def test_window_excludes_reading_exactly_at_left_edge() -> None:
    row = last_row(minutes=[0, 15], water_temp_c=[10.0, 20.0])
    assert row["readings_count_15m"] == 1
    assert row["water_temp_count_15m"] == 1
    assert row["water_temp_mean_15m_c"] == 20.0
    assert row["water_temp_count_1h"] == 2


def test_window_includes_reading_just_inside_left_edge() -> None:
    row = last_row(minutes=[0.01, 15], water_temp_c=[10.0, 20.0])
    assert row["water_temp_count_15m"] == 2
    assert row["water_temp_mean_15m_c"] == 15.0


def test_one_hour_window_edge_and_current_reading() -> None:
    row = last_row(minutes=[0, 30, 60], water_temp_c=[1.0, 2.0, 3.0])
    assert row["water_temp_count_1h"] == 2
    assert row["water_temp_min_1h_c"] == 2.0
    assert row["water_temp_max_1h_c"] == 3.0


def test_rolling_statistics_match_hand_values() -> None:
    row = last_row(minutes=[0, 5, 10], water_temp_c=[20.0, 22.0, 24.0])
    assert row["water_temp_mean_15m_c"] == pytest.approx(22.0)
    assert row["water_temp_std_15m_c"] == pytest.approx(2.0)
    assert row["water_temp_median_1h_c"] == pytest.approx(22.0)
    assert row["water_temp_p10_1h_c"] == pytest.approx(20.4)
    assert row["water_temp_p90_1h_c"] == pytest.approx(23.6)
    assert row["water_temp_slope_1h_c_per_h"] == pytest.approx(24.0)


def test_quantiles_equal_numpy_linear_percentiles() -> None:
    values = [3.0, 1.5, 9.0, 4.25, 7.0, 2.0, 8.5]
    row = last_row(minutes=list(range(len(values))), ph=values)
    assert row["ph_p10_1h"] == pytest.approx(np.percentile(values, 10))
    assert row["ph_median_1h"] == pytest.approx(np.percentile(values, 50))
    assert row["ph_p90_1h"] == pytest.approx(np.percentile(values, 90))


def test_first_reading_has_values_but_no_spread_or_history() -> None:
    row = last_row(minutes=[0], water_temp_c=[25.0])
    assert row["water_temp_mean_24h_c"] == 25.0
    assert row["water_temp_count_24h"] == 1
    assert math.isnan(row["water_temp_std_24h_c"])
    assert math.isnan(row["water_temp_slope_1h_c_per_h"])
    assert math.isnan(row["water_temp_prev_c"])
    assert math.isnan(row["water_temp_diff_prev_c"])
    assert math.isnan(row["gap_since_prev_s"])
    assert math.isnan(row["water_temp_zscore_24h"])
    assert row["water_temp_ewma_hl1h_c"] == 25.0
    assert row["water_temp_flat_line_flag"] == 0.0


def test_unmeasured_parameter_gives_nan_stats_and_zero_count() -> None:
    row = last_row(minutes=[0, 1], water_temp_c=[25.0, 25.5])
    assert row["ph_count_1h"] == 0
    assert row["ph_missing_frac_1h"] == 1.0
    assert math.isnan(row["ph_mean_1h"])
    assert math.isnan(row["ph_median_24h"])


def test_missing_fraction_counts_readings_without_the_value() -> None:
    row = last_row(minutes=[0, 1, 2, 3], ph=[7.0, None, None, 7.2])
    assert row["ph_count_1h"] == 2
    assert row["ph_missing_frac_1h"] == 0.5


def test_gap_shrinks_window_counts() -> None:
    row = last_row(minutes=[0, 1, 121], water_temp_c=[20.0, 21.0, 22.0])
    assert row["water_temp_count_1h"] == 1
    assert row["water_temp_count_6h"] == 3
    assert row["gap_since_prev_s"] == 120 * 60


def test_difference_and_rate_use_previous_reading() -> None:
    row = last_row(minutes=[0, 30], water_temp_c=[20.0, 21.0])
    assert row["water_temp_diff_prev_c"] == pytest.approx(1.0)
    assert row["water_temp_rate_c_per_h"] == pytest.approx(2.0)
    assert row["water_temp_prev_c"] == 20.0


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ([0, 60], 10.0),  # exactly t - 1 h counts as "at or before"
        ([6, 75], 10.0),  # 9 min before the target: inside the 10 min tolerance
        ([0, 75], math.nan),  # 15 min before the target: outside the tolerance
        ([61, 120], math.nan),  # only reading is after the target
    ],
)
def test_lag_one_hour_tolerance(minutes: list[float], expected: float) -> None:
    row = last_row(minutes=minutes, water_temp_c=[10.0, 11.0])
    if math.isnan(expected):
        assert math.isnan(row["water_temp_lag_1h_c"])
    else:
        assert row["water_temp_lag_1h_c"] == expected


def test_ewma_halves_the_gap_after_one_half_life() -> None:
    frame = compute_features(make_readings([0, 60, 90], water_temp_c=[0.0, 10.0, None]))
    assert frame["water_temp_ewma_hl1h_c"].tolist() == pytest.approx([0.0, 5.0, 5.0])


def test_ewma_is_nan_when_last_value_is_stale() -> None:
    frame = compute_features(make_readings([0, 24 * 60 + 1], water_temp_c=[20.0, None]))
    assert math.isnan(frame["water_temp_ewma_hl1h_c"].iloc[-1])


def test_zscore_against_trailing_day() -> None:
    row = last_row(minutes=[0, 1, 2, 3], turbidity_ntu=[10.0, 10.0, 10.0, 14.0])
    assert row["turbidity_zscore_24h"] == pytest.approx(1.5)
    assert math.isnan(row["turbidity_robust_zscore_24h"])  # MAD is 0
    assert math.isnan(row["turbidity_spike_flag"])


def test_robust_zscore_flags_spike() -> None:
    row = last_row(minutes=[0, 1, 2, 3, 4], turbidity_ntu=[10.0, 11.0, 12.0, 13.0, 100.0])
    assert row["turbidity_robust_zscore_24h"] == pytest.approx(88.0 / 1.4826)
    assert row["turbidity_spike_flag"] == 1.0


def test_flat_zscore_is_nan_not_huge() -> None:
    row = last_row(minutes=[0, 1, 2], ph=[7.1, 7.1, 7.1])
    assert row["ph_std_24h"] == 0.0
    assert math.isnan(row["ph_zscore_24h"])


@pytest.mark.parametrize(("readings", "expected"), [(10, 0.0), (11, 1.0)])
def test_flat_line_needs_ten_readings_over_thirty_minutes(readings: int, expected: float) -> None:
    minutes = [3.0 * i for i in range(readings)]  # 10 readings span 27 min, 11 span 30 min
    row = last_row(minutes=minutes, ph=[7.0] * readings)
    assert row["ph_flat_line_flag"] == expected


def test_flat_line_run_is_broken_by_missing_value() -> None:
    values: list[float | None] = [7.0] * 20
    values[15] = None
    row = last_row(minutes=[3.0 * i for i in range(20)], ph=values)
    assert row["ph_flat_line_flag"] == 0.0


@pytest.mark.parametrize(("temperature", "expected"), [(40.0, 1.0), (11.9, 1.0), (30.0, 0.0), (None, math.nan)])
def test_out_of_range_flag_uses_tolerable_limits(temperature: float | None, expected: float) -> None:
    row = last_row(minutes=[0], water_temp_c=[temperature], ph=[7.0])
    assert row["water_temp_out_of_range_flag"] == pytest.approx(expected, nan_ok=True)


def test_time_features_of_known_instant() -> None:
    row = last_row(minutes=[6 * 60], ph=[7.0])  # Friday 2024-03-01 06:00 UTC
    assert row["hour_of_day_sin"] == pytest.approx(1.0)
    assert row["hour_of_day_cos"] == pytest.approx(0.0, abs=1e-12)
    assert row["day_of_week_sin"] == pytest.approx(math.sin(2 * math.pi * 4 / 7))
    assert row["day_of_year_sin"] == pytest.approx(math.sin(2 * math.pi * 60 / 366))
    assert row["month_of_year"] == 3
    assert row["season_northern"] == 1
    assert row["is_daytime_utc_flag"] == 1.0
    assert row["event_epoch_s"] == 1709272800.0


def test_domain_features_match_published_tables() -> None:
    row = last_row(minutes=[0], water_temp_c=[20.0], dissolved_oxygen_mg_l=[4.546], ph=[8.0], ammonia_mg_l=[1.0])
    assert row["oxygen_saturation_mg_l"] == pytest.approx(9.092, abs=1e-3)  # APHA table, 20 °C
    assert row["dissolved_oxygen_saturation_pct"] == pytest.approx(50.0, abs=0.01)
    assert row["dissolved_oxygen_deficit_mg_l"] == pytest.approx(4.546, abs=1e-3)
    assert row["unionized_ammonia_fraction"] == pytest.approx(0.0382, abs=5e-4)  # Emerson et al., 20 °C pH 8
    assert row["unionized_ammonia_mg_l"] == pytest.approx(row["unionized_ammonia_fraction"])
    assert row["ph_x_water_temp_c"] == pytest.approx(160.0)
