"""Water-quality parameters, window and lag settings shared by every feature path.

The values here define the features: changing one changes the catalogue, the generated
``docs/FEATURES.md`` and ``sql/020_sensor_features.sql``, so regenerate both after an edit.
"""

from __future__ import annotations

from dataclasses import dataclass

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE


@dataclass(frozen=True)
class Parameter:
    """A measured water-quality parameter of the wide reading contract."""

    column: str
    """Column name in ``water_readings`` and in the reading messages."""
    base: str
    """Feature-name stem without the unit, e.g. ``water_temp``."""
    unit: str
    """Unit suffix of derived feature names (``c``, ``ntu``, ``mg_l``), empty for pH."""
    unit_label: str
    """Human-readable unit for the docs."""


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("water_temp_c", "water_temp", "c", "°C"),
    Parameter("ph", "ph", "", "pH"),
    Parameter("turbidity_ntu", "turbidity", "ntu", "NTU"),
    Parameter("dissolved_oxygen_mg_l", "dissolved_oxygen", "mg_l", "mg/L"),
    Parameter("ammonia_mg_l", "ammonia", "mg_l", "mg/L"),
    Parameter("nitrate_mg_l", "nitrate", "mg_l", "mg/L"),
)
"""All six parameters, in the column order of the value arrays that the kernel receives."""

PARAMETER_COLUMNS: tuple[str, ...] = tuple(p.column for p in PARAMETERS)

CORE_PARAMETER_COUNT = 4
"""The first four parameters get rolling, trend, lag and anomaly features. Ammonia and nitrate
are sampled too rarely by the known sensors for those, so they only get domain, range and
health features."""

CORE_PARAMETERS: tuple[Parameter, ...] = PARAMETERS[:CORE_PARAMETER_COUNT]

WINDOWS_NS: dict[str, int] = {
    "15m": 15 * NS_PER_MINUTE,
    "1h": NS_PER_HOUR,
    "6h": 6 * NS_PER_HOUR,
    "24h": 24 * NS_PER_HOUR,
}
"""Trailing time windows over (t - w, t]: a reading exactly at t - w is outside, the current
reading at t is inside."""

QUANTILE_WINDOWS: tuple[str, ...] = ("1h", "24h")
"""Windows that also get median, p10 and p90 (sorting every window would double the cost)."""

MISSING_FRACTION_WINDOWS: tuple[str, ...] = ("1h", "24h")

SLOPE_WINDOW = "1h"
ANOMALY_WINDOW = "24h"

LAGS_NS: dict[str, tuple[int, int]] = {
    "15m": (15 * NS_PER_MINUTE, 5 * NS_PER_MINUTE),
    "1h": (NS_PER_HOUR, 10 * NS_PER_MINUTE),
    "24h": (24 * NS_PER_HOUR, 30 * NS_PER_MINUTE),
}
"""Lag label -> (offset, tolerance). The lag value is the last reading at or before t - offset,
provided it is not older than t - offset - tolerance."""

RETENTION_NS = max(
    max(WINDOWS_NS.values()),
    max(offset + tolerance for offset, tolerance in LAGS_NS.values()),
)
"""History a feature row may look at: readings with event time >= t - RETENTION_NS (24.5 h)."""

MAX_HISTORY_READINGS = 20_000
"""Hard cap on the readings per sensor that any feature uses, in batch and in stream alike.
20,000 readings in 24.5 h is one reading every 4.4 s; a faster sensor's windows cover only its
latest 20,000 readings."""

EWMA_HALF_LIFE_NS = NS_PER_HOUR
"""Half-life of the time-aware EWMA: a reading one hour old has half the weight of a new one."""

EWMA_STALE_AFTER_NS = 24 * NS_PER_HOUR
"""The EWMA is reported as NaN when the parameter's last observation is older than this."""

FLAT_LINE_MIN_READINGS = 10
FLAT_LINE_MIN_SPAN_NS = 30 * NS_PER_MINUTE

SPIKE_ROBUST_Z_THRESHOLD = 3.5
"""Iglewicz and Hoaglin's cut-off for the modified z-score."""

MAD_TO_SIGMA = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""
