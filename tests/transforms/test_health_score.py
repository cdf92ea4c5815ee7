"""Health score: sub-score ramps, weighting, missing parameters and the limits table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from transforms import (
    HEALTH_LIMITS,
    HEALTH_LIMITS_BY_COLUMN,
    health_score,
    health_score_frame,
    health_subscore,
)

# (column, ideal_lo, ideal_hi, tol_lo, tol_hi, weight): the agreed table the SQL side mirrors.
EXPECTED_LIMITS = [
    ("water_temp_c", 24, 30, 12, 36, 2),
    ("ph", 6.5, 8.5, 5.0, 10.0, 2),
    ("dissolved_oxygen_mg_l", 5, 12, 2, 20, 3),
    ("ammonia_mg_l", 0, 0.5, 0, 3, 2),
    ("nitrate_mg_l", 0, 50, 0, 200, 1),
    ("turbidity_ntu", 0, 80, 0, 400, 1),
]


def test_limits_table_matches_agreed_values() -> None:
    actual = sorted((lim.column, lim.ideal_lo, lim.ideal_hi, lim.tol_lo, lim.tol_hi, lim.weight) for lim in HEALTH_LIMITS)
    assert actual == sorted(EXPECTED_LIMITS)


def test_every_limit_names_a_source() -> None:
    assert all(limit.source for limit in HEALTH_LIMITS)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("water_temp_c", 27.0, 1.0),
        ("water_temp_c", 24.0, 1.0),  # ideal edge
        ("water_temp_c", 18.0, 0.5),  # halfway between 12 and 24
        ("water_temp_c", 33.0, 0.5),  # halfway between 30 and 36
        ("water_temp_c", 12.0, 0.0),  # tolerable edge
        ("water_temp_c", 40.0, 0.0),
        ("water_temp_c", -5.0, 0.0),
        ("dissolved_oxygen_mg_l", 3.5, 0.5),
        ("dissolved_oxygen_mg_l", 16.0, 0.5),
        ("ammonia_mg_l", 0.0, 1.0),
        ("ammonia_mg_l", 1.75, 0.5),
        ("ammonia_mg_l", -0.1, 0.0),  # below tol_lo == ideal_lo: outside the tolerable range
        ("turbidity_ntu", 240.0, 0.5),
        ("ph", 9.25, 0.5),
    ],
)
def test_subscore_ramps(column: str, value: float, expected: float) -> None:
    assert health_subscore(value, HEALTH_LIMITS_BY_COLUMN[column]) == pytest.approx(expected)


def test_subscore_is_nan_for_missing_value() -> None:
    assert math.isnan(health_subscore(math.nan, HEALTH_LIMITS_BY_COLUMN["ph"]))


def test_score_weights_present_parameters_only() -> None:
    # temperature 1.0 (w 2), oxygen 0.5 (w 3) -> 100 * (2 + 1.5) / 5
    score = health_score({"water_temp_c": 27.0, "dissolved_oxygen_mg_l": 3.5, "ph": None})
    assert score == pytest.approx(70.0)


def test_score_is_nan_when_nothing_present() -> None:
    assert math.isnan(health_score({"ph": math.nan}))


def test_score_is_100_when_everything_ideal() -> None:
    values = {"water_temp_c": 27, "ph": 7.5, "dissolved_oxygen_mg_l": 8, "ammonia_mg_l": 0.1,
              "nitrate_mg_l": 10, "turbidity_ntu": 20}
    assert health_score(values) == pytest.approx(100.0)


def test_frame_score_equals_scalar_score() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "water_temp_c": rng.uniform(5, 40, 200),
        "ph": rng.uniform(4, 11, 200),
        "dissolved_oxygen_mg_l": np.where(rng.random(200) < 0.3, np.nan, rng.uniform(0, 25, 200)),
        "turbidity_ntu": rng.uniform(0, 500, 200),
    })
    frame.loc[5, ["water_temp_c", "ph", "dissolved_oxygen_mg_l", "turbidity_ntu"]] = np.nan
    vectorised = health_score_frame(frame).to_numpy()
    scalar = np.array([health_score(row) for row in frame.to_dict("records")])
    np.testing.assert_allclose(vectorised, scalar, rtol=1e-12, equal_nan=True)
    assert math.isnan(vectorised[5])
