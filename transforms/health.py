"""Water-quality health score: the single definition used by Python and mirrored in SQL.

Each parameter present (not NaN) has an ideal range [ideal_lo, ideal_hi] inside a tolerable
range [tol_lo, tol_hi]. Its sub-score is 1 inside the ideal range and 0 outside the tolerable
range. In between it falls linearly from 1 at the ideal edge to 0 at the tolerable edge. The score is
``100 * sum(w * s) / sum(w)`` over the present parameters, NaN when none is present.

The limits are for warm-water pond fish. Each row names the guidance it follows: C. E. Boyd's
pond water-quality manual, FAO guidance and the Texas Parks and Wildlife (TPWD) hatchery
monitoring page. NOTE: the numbers are project choices within that guidance, not values quoted
from one table, so a species-specific deployment should review them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class HealthLimit:
    """Ideal and tolerable range of one parameter, its weight in the score and the source."""

    column: str
    ideal_lo: float
    ideal_hi: float
    tol_lo: float
    tol_hi: float
    weight: float
    source: str

    def __post_init__(self) -> None:
        if not self.tol_lo <= self.ideal_lo <= self.ideal_hi <= self.tol_hi:
            message = (
                f"health limits of {self.column!r} are not nested: expected "
                f"tol_lo <= ideal_lo <= ideal_hi <= tol_hi, got {self.tol_lo}, {self.ideal_lo}, "
                f"{self.ideal_hi}, {self.tol_hi}"
            )
            raise ValueError(message)


_BOYD = "C. E. Boyd, Water Quality for Pond Aquaculture (Auburn University, 1998)"
_FAO = "FAO pond and aquaponics water-quality guidance"

HEALTH_LIMITS: tuple[HealthLimit, ...] = (
    HealthLimit("water_temp_c", 24.0, 30.0, 12.0, 36.0, 2.0, _BOYD + ", temperature (warm-water species)"),
    HealthLimit("ph", 6.5, 8.5, 5.0, 10.0, 2.0, _BOYD + ", pH; TPWD hatchery monitoring: pH 6.5-9.0"),
    HealthLimit(
        "dissolved_oxygen_mg_l", 5.0, 12.0, 2.0, 20.0, 3.0,
        _BOYD + ", dissolved oxygen; TPWD hatchery monitoring: above 5 mg/L for good growth",
    ),
    HealthLimit("ammonia_mg_l", 0.0, 0.5, 0.0, 3.0, 2.0, _BOYD + ", total ammonia nitrogen"),
    HealthLimit("nitrate_mg_l", 0.0, 50.0, 0.0, 200.0, 1.0, _FAO + ", nitrate"),
    HealthLimit("turbidity_ntu", 0.0, 80.0, 0.0, 400.0, 1.0, _BOYD + ", suspended solids and turbidity"),
)
"""The limits table as data, so the SQL side and the docs can be checked against it."""

HEALTH_LIMITS_BY_COLUMN: dict[str, HealthLimit] = {limit.column: limit for limit in HEALTH_LIMITS}


def health_subscore(value: float, limit: HealthLimit) -> float:
    """Score one parameter value in [0, 1]; NaN when the value is NaN or None."""
    if value is None or math.isnan(value):
        return math.nan
    if value < limit.tol_lo or value > limit.tol_hi:
        return 0.0
    if limit.ideal_lo <= value <= limit.ideal_hi:
        return 1.0
    if value < limit.ideal_lo:
        # tol_lo < ideal_lo here, otherwise the value would be outside the tolerable range.
        return (value - limit.tol_lo) / (limit.ideal_lo - limit.tol_lo)
    return (limit.tol_hi - value) / (limit.tol_hi - limit.ideal_hi)


def health_score(values: Mapping[str, float | None]) -> float:
    """Compute the 0-100 health score of one reading from its parameter columns.

    Args:
        values: parameter column -> value; missing keys, None and NaN count as not present.

    Returns:
        The weighted mean sub-score times 100, or NaN when no parameter is present.
    """
    weighted_sum = 0.0
    weight_sum = 0.0
    for limit in HEALTH_LIMITS:
        raw = values.get(limit.column)
        subscore = health_subscore(math.nan if raw is None else float(raw), limit)
        if not math.isnan(subscore):
            weighted_sum += limit.weight * subscore
            weight_sum += limit.weight
    if weight_sum == 0.0:
        return math.nan
    return 100.0 * weighted_sum / weight_sum


def health_subscores_frame(readings: pd.DataFrame) -> pd.DataFrame:
    """Compute the sub-score of every limited parameter for each row, vectorised.

    Columns absent from ``readings`` give all-NaN sub-scores. Output columns are the parameter
    columns of ``HEALTH_LIMITS``.
    """
    result = {}
    for limit in HEALTH_LIMITS:
        if limit.column in readings:
            values = pd.to_numeric(readings[limit.column], errors="coerce").to_numpy(dtype=float)
        else:
            values = np.full(len(readings), np.nan)
        result[limit.column] = _subscore_array(values, limit)
    return pd.DataFrame(result, index=readings.index)


def health_score_frame(readings: pd.DataFrame) -> pd.Series:
    """Compute the 0-100 health score of each row, vectorised; equal to :func:`health_score`."""
    subscores = health_subscores_frame(readings)
    weights = np.array([limit.weight for limit in HEALTH_LIMITS])
    values = subscores.to_numpy()
    present = ~np.isnan(values)
    weighted_sum = np.where(present, values * weights, 0.0).sum(axis=1)
    weight_sum = np.where(present, weights, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(weight_sum > 0, 100.0 * weighted_sum / weight_sum, np.nan)
    return pd.Series(score, index=readings.index, name="health_score")


def _subscore_array(values: np.ndarray, limit: HealthLimit) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        rising = (values - limit.tol_lo) / (limit.ideal_lo - limit.tol_lo)
        falling = (limit.tol_hi - values) / (limit.tol_hi - limit.ideal_hi)
    result = np.where(values < limit.ideal_lo, rising, np.where(values > limit.ideal_hi, falling, 1.0))
    result = np.where((values < limit.tol_lo) | (values > limit.tol_hi), 0.0, result)
    return np.where(np.isnan(values), np.nan, result)
